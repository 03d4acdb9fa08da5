"""`nuchal demo` step: a few seconds of live streaming from virtual devices on the bumble stack."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from nuchal.demo_context import DemoContext
from warehouse import open_warehouse


def demo_step(ctx: DemoContext) -> list[str]:
    """Stream 3 virtual IMUs through the real gateway into the demo warehouse for ~4 s (wall)."""
    from ingest.ble_sim.device import FleetSpec
    from ingest.ble_sim.fleet import run_fleet
    from ingest.gateway import GatewayConfig

    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp)
        config = GatewayConfig(ctx.home, capture_dir=capture, merge_interval_s=1.0)
        run = asyncio.run(run_fleet(config, FleetSpec(3, seed=ctx.seed, keep_truth=False), 4.0))
    with open_warehouse(ctx.home.warehouse) as wh:
        rows = (
            wh.cursor()
            .execute(
                "SELECT device_id, samples_stored, battery_pct, gaps FROM gateway_devices ORDER BY device_id"
            )
            .fetchall()
        )
    lines = [
        f"gateway: {run.report.notifications} BLE notifications from {len(run.devices)} virtual devices "
        f"(bumble stack), {run.report.durable} fsynced, {run.report.samples_merged} samples merged"
    ]
    lines += [f"  {d}: {n} samples stored, battery {b} %, gaps {g}" for d, n, b, g in rows]
    return lines

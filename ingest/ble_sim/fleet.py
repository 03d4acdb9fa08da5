"""Run a fleet of virtual IMUs and a gateway against them (tests, demo, bench, `--simulate`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ingest.ble_sim.backend import BumbleBackend
from ingest.ble_sim.device import FaultPlan, FleetSpec, VirtualImu
from ingest.ble_sim.radio import VirtualRadio
from ingest.gateway.gateway import DeviceAssignment, Gateway, GatewayConfig, GatewayReport
from ingest.packets import PLACEMENT_CODES


@dataclass
class FleetRun:
    """The devices and the gateway report of one simulated run."""

    devices: list[VirtualImu]
    report: GatewayReport
    radio: VirtualRadio


def assignments_for(devices: list[VirtualImu]) -> tuple[DeviceAssignment, ...]:
    return tuple(
        DeviceAssignment(
            d.address, d.profile.serial, f"SIM-{i + 1:03d}", PLACEMENT_CODES[d.profile.placement_code]
        )
        for i, d in enumerate(devices)
    )


async def run_fleet(
    config: GatewayConfig,
    spec: FleetSpec,
    duration_s: float,
    *,
    epoch_start_s: float | None = None,
    during: Callable[[Gateway, list[VirtualImu]], Coroutine[Any, Any, None]] | None = None,
    faults: dict[int, FaultPlan] | None = None,
) -> FleetRun:
    """Start ``spec.n`` virtual devices and stream them through a real gateway for ``duration_s``."""
    radio = VirtualRadio(epoch_start_s)
    backend = BumbleBackend.on(radio)
    await radio.power_on()
    devices = [
        VirtualImu(radio, p, (faults or {}).get(i, spec.faults)) for i, p in enumerate(spec.profiles())
    ]
    for d in devices:
        await d.start()
    if not config.assignments:
        from dataclasses import replace

        config = replace(config, assignments=assignments_for(devices))
    gw = Gateway(config, backend.client, backend.scanner, clock=radio.now_s)
    extra = asyncio.create_task(during(gw, devices)) if during else None
    try:
        report = await gw.run(duration_s)
    finally:
        if extra is not None:
            extra.cancel()
        for d in devices:
            await d.stop()
    return FleetRun(devices, report, radio)

"""`nuchal gateway`: stream nuchal IMUs over BLE into the warehouse; `nuchal gateway status`.

``--simulate N`` runs N virtual devices on the bumble stack in this process (no radio needed);
without it the gateway uses the platform's Bluetooth adapter through bleak.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from pathlib import Path

from ingest.gateway import DeviceAssignment, Gateway, GatewayConfig
from nuchal.home import Home


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gateway",
        help="stream BLE IMUs into the warehouse (spool + merge); `gateway status`",
        description="Discover nuchal IMUs (service UUID, or --devices), stream them into the spool "
        "(fsynced every second) and merge into the warehouse when the writer lock is free. "
        "Stops on --duration, SIGINT or SIGTERM; on a clean exit everything received is in imu_samples.",
    )
    p.add_argument("action", nargs="?", choices=["run", "status"], default="run")
    p.add_argument(
        "--simulate", type=int, metavar="N", help="run N virtual devices (bumble) instead of a radio"
    )
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--capture", type=Path, metavar="DIR", help="also write .blelog captures to DIR")
    p.add_argument(
        "--devices",
        type=Path,
        metavar="FILE",
        help='JSON list of {"address", "device_id", "subject_id", "placement"}; only these are streamed',
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated devices")
    p.add_argument("--json", action="store_true", help="status as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    home = Home.resolve(args.home).ensure()
    if args.action == "status":
        return _status(home, args.json)
    assignments: tuple[DeviceAssignment, ...] = ()
    if args.devices:
        rows = json.loads(args.devices.read_text())
        assignments = tuple(
            DeviceAssignment(**{k: str(r[k]) for k in ("address", "device_id", "subject_id", "placement")})
            for r in rows
        )
    config = GatewayConfig(home, assignments, discover_unassigned=not assignments, capture_dir=args.capture)
    report = asyncio.run(_run(config, args.simulate, args.duration, args.seed))
    print(
        f"gateway: {report.notifications} notifications received, {report.durable} durable, "
        f"{report.samples_merged} samples merged into {home.warehouse}"
    )
    return 0


async def _run(config: GatewayConfig, simulate: int | None, duration_s: float | None, seed: int):  # type: ignore[no-untyped-def]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if not simulate:
        return await Gateway(config).run(duration_s, stop)
    from ingest.ble_sim.backend import BumbleBackend
    from ingest.ble_sim.device import FleetSpec, VirtualImu
    from ingest.ble_sim.fleet import assignments_for
    from ingest.ble_sim.radio import VirtualRadio

    radio = VirtualRadio()
    backend = BumbleBackend.on(radio)
    await radio.power_on()
    devices = [VirtualImu(radio, p) for p in FleetSpec(simulate, seed=seed, keep_truth=False).profiles()]
    for d in devices:
        await d.start()
    if not config.assignments:
        from dataclasses import replace

        config = replace(config, assignments=assignments_for(devices))
    try:
        return await Gateway(config, backend.client, backend.scanner, clock=radio.now_s).run(duration_s, stop)
    finally:
        for d in devices:
            await d.stop()


def _status(home: Home, as_json: bool) -> int:
    from ingest.gateway.status import live_status, stored_devices

    live: dict[str, object] = live_status(home.spool)
    stored: list[dict[str, object]] = []
    if home.warehouse.exists():
        from warehouse import open_warehouse

        with open_warehouse(home.warehouse, lock_timeout_s=10.0) as wh:
            stored = stored_devices(wh)
    out = {"live": live, "devices": stored}
    if as_json:
        print(json.dumps(out, default=str))
        return 0
    age = time.time() - float(live.get("written_at", 0) or 0)  # type: ignore[arg-type]
    print(
        f"gateway run {live.get('run_id', '-')} (status written {age:.0f} s ago)"
        if live
        else "no gateway has run"
    )
    live_devices: list[dict[str, object]] = live.get("devices", []) or []  # type: ignore[assignment]
    for d in live_devices:
        print(
            f"  {d['device_id'] or d['address']:14s} connected={d['connected']!s:5s} "
            f"last sample {d['last_sample_age_s']} s ago, {d['rate_hz']} Hz, battery {d['battery_pct']} %, "
            f"disconnections {d['disconnections']}"
        )
    for s in stored:
        print(
            f"  stored {s['device_id']:14s} samples={s['samples_stored']} last={s['last_sample_at']} "
            f"gaps={s['gaps']} battery={s['battery_pct']} disconnections={s['disconnections']}"
        )
    return 0

"""Per-device gateway status: what the running gateway last wrote, and what the warehouse holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from warehouse import Warehouse

STORED_COLUMNS = (
    "device_id",
    "subject_id",
    "address",
    "last_sample_at",
    "samples_stored",
    "rejected",
    "gaps",
    "battery_pct",
    "disconnections",
)


def live_status(spool: Path) -> dict[str, Any]:
    """The status file the gateway rewrites while it runs (connected, last sample age, rate)."""
    path = spool / "gateway-status.json"
    if not path.exists():
        return {}
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def stored_devices(wh: Warehouse) -> list[dict[str, Any]]:
    """One row per device from the `gateway_devices` view: samples, gaps, battery, disconnections."""
    rows = (
        wh.cursor()
        .execute(f"SELECT {', '.join(STORED_COLUMNS)} FROM gateway_devices ORDER BY device_id")
        .fetchall()
    )
    return [
        {
            c: (str(v) if c == "last_sample_at" and v is not None else v)
            for c, v in zip(STORED_COLUMNS, row, strict=True)
        }
        for row in rows
    ]


def device_status(spool: Path, wh: Warehouse) -> dict[str, Any]:
    return {"live": live_status(spool), "devices": stored_devices(wh)}

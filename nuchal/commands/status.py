"""`nuchal status [--json]`: counts per public view and the latest model metrics."""

from __future__ import annotations

import argparse
import json
from typing import Any

from nuchal.home import Home
from warehouse import PUBLIC_VIEWS, Warehouse, open_warehouse
from warehouse.migrations import schema_version


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status",
        help="counts per public view and latest model metrics",
        description="Counts per public view of the warehouse, the quarantine by reason, "
        "and the latest model metrics. Works on an empty home.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def collect_status(home: Home, wh: Warehouse) -> dict[str, Any]:
    cur = wh.cursor()
    status: dict[str, Any] = {
        "home": str(home.root),
        "warehouse": str(home.warehouse),
        "schema_version": schema_version(cur),
        "counts": {view: wh.count(view) for view in PUBLIC_VIEWS},
    }
    row = cur.execute(
        "SELECT count(DISTINCT subject_id), count(DISTINCT (subject_id, diary_date)) FROM diary"
    ).fetchone()
    status["diary_participants"], status["diary_days"] = (int(row[0]), int(row[1])) if row else (0, 0)
    status["quarantine_by_reason"] = {
        r[0]: int(r[1])
        for r in cur.execute(
            "SELECT split_part(reason, ':', 1) AS kind, count(*)"
            " FROM quarantine GROUP BY kind ORDER BY count(*) DESC"
        ).fetchall()
    }
    try:
        from models.registry import latest_metrics
    except ImportError:
        status["models"] = None
    else:
        status["models"] = latest_metrics(home)
    try:
        from ingest.gateway.status import device_status
    except ImportError:
        pass
    else:
        status["gateway"] = device_status(home.spool, wh)
    return status


def run(args: argparse.Namespace) -> int:
    home = Home.resolve(args.home).ensure()
    with open_warehouse(home.warehouse) as wh:
        status = collect_status(home, wh)
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    print(f"warehouse {status['warehouse']} (schema {status['schema_version']})")
    for view, n in status["counts"].items():
        print(f"  {view:26s} {n:>14,d}")
    if status["quarantine_by_reason"]:
        print("quarantine by reason:")
        for reason, n in status["quarantine_by_reason"].items():
            print(f"  {n:6d}  {reason}")
    gateway = status.get("gateway") or {}
    live = {d.get("device_id") or d.get("address"): d for d in (gateway.get("live") or {}).get("devices", [])}
    if gateway.get("devices"):
        print("devices (gateway):")
        for d in gateway["devices"]:
            now = live.get(d["device_id"], {})
            print(
                f"  {d['device_id']:14s} connected={now.get('connected', '-')!s:5s} last sample {d['last_sample_at']}"
                f" ({now.get('last_sample_age_s', '-')} s ago), rate {now.get('rate_hz', '-')} Hz,"
                f" gaps {d['gaps']}, battery {d['battery_pct']} %, disconnections {d['disconnections']}"
            )
    if status.get("models"):
        print("models:")
        print(json.dumps(status["models"], indent=2, default=str))
    return 0

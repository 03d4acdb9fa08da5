"""`nuchal features`: compute missing or changed participant-day features (issue 4)."""

from __future__ import annotations

import argparse
import datetime as dt

from nuchal.home import Home


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "features",
        help="compute posture/ROM/movement/diary features per participant-day (incremental)",
        description="Compute participant_day_features for participant-days that are missing or whose "
        "inputs changed since the last run. Safe to re-run: unchanged days are skipped.",
    )
    p.add_argument("--since", type=dt.date.fromisoformat, help="only local days on or after DAY (YYYY-MM-DD)")
    p.add_argument("--subject", action="append", help="only this participant (repeatable)")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from features.pipeline import compute_features
    from warehouse import open_warehouse

    home = Home.resolve(args.home).ensure()
    days = (args.since, dt.date.max) if args.since else None
    with open_warehouse(home.warehouse) as wh:
        n = compute_features(wh, subjects=args.subject, days=days, progress=True)
        total = wh.count("participant_day_features")
    print(f"features: {n} participant-days (re)computed; {total} in participant_day_features")
    return 0

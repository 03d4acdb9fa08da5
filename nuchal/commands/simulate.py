"""`nuchal simulate`: write a seeded simulated cohort in the contract-2 formats, plus truth/."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

EPILOG = """\
what it writes into OUT:
  baseline.csv, diary.csv                 one row per participant / participant-day (REDCap style)
  imu/<subject>_<YYYYMMDD>.csv + .json    IMU recordings (ISO-with-offset or epoch timestamps)
  ble/<subject>_<YYYYMMDD>.blelog         BLE captures (drift, latency, lost packets, reboots)
  truth/                                  what really happened; the pipeline never reads it
a few deliberately bad rows are included; truth/expected_quarantine.csv lists them.

examples:
  nuchal simulate --out cohort/                                     6 participants, 84 days
  nuchal simulate --participants 200 --hours-per-day 0 --out big/   diary-only, fast
  nuchal simulate --participants 6 --days 84 --hours-per-day 0.25 --rate-hz 25 --imu-every-nth-day 4 --out demo/

size: a 16 h wear day at 50 Hz is 2.9 M samples (~230 MB of CSV); keep hours small for tests.
the generative model and every parameter are described in docs/simulator.md.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="write a simulated cohort (contract-2 files + truth/)",
        description="Write a seeded, realistic simulated CGH cohort: baseline and diary CSVs, IMU CSVs, "
        ".blelog captures and a truth/ folder for evaluation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--participants", type=int, default=6, help="number of participants (default 6)")
    p.add_argument(
        "--days",
        type=int,
        default=84,
        help="days after treatment_start; 28 baseline days come first (default 84)",
    )
    p.add_argument(
        "--hours-per-day",
        type=float,
        default=16.0,
        help="IMU hours per wear day, 0 = diary only (default 16)",
    )
    p.add_argument("--rate-hz", type=int, default=50, help="IMU sample rate (default 50)")
    p.add_argument(
        "--seed", type=int, default=0, help="master seed; same seed -> identical files (default 0)"
    )
    p.add_argument("--imu-every-nth-day", type=int, default=7, help="a wear day every n-th day (default 7)")
    p.add_argument(
        "--ble-fraction",
        type=float,
        default=0.25,
        help="share of wear days written as .blelog (default 0.25)",
    )
    p.add_argument(
        "--ble-samples-per-packet",
        type=int,
        default=0,
        help="samples per notification, 1..19; 0 mixes 1 and 19 (default 0)",
    )
    p.add_argument("--no-bad-rows", action="store_true", help="write no deliberate bad rows/packets")
    p.add_argument(
        "--start-date",
        type=dt.date.fromisoformat,
        default=dt.date(2026, 2, 16),
        help="first possible baseline day, YYYY-MM-DD (default 2026-02-16; spans the 2026 DST changes)",
    )
    p.add_argument(
        "--out", required=True, type=Path, help="output folder (a previous cohort there is replaced)"
    )
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from simulator import SimulationParams, write_cohort

    params = SimulationParams(
        participants=args.participants,
        days=args.days,
        hours_per_day=args.hours_per_day,
        rate_hz=args.rate_hz,
        seed=args.seed,
        imu_every_nth_day=args.imu_every_nth_day,
        ble_fraction=args.ble_fraction,
        ble_samples_per_packet=args.ble_samples_per_packet,
        bad_rows=not args.no_bad_rows,
        start_date=args.start_date,
    )
    summary = write_cohort(args.out, params, progress=True)
    print(f"simulated cohort written to {args.out.resolve()}")
    for line in summary.lines():
        print("  " + line)
    print(f"  import it with: nuchal import {args.out}")
    return 0

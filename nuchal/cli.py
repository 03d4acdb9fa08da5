"""`nuchal`: the one entry point. Every pipeline step runs here without Airflow.

Each sub-command lives in its own module under ``nuchal/commands`` and exposes
``register(subparsers)``; this module only wires them together and sets up logging.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from nuchal import __version__

# Order here is the order of `nuchal --help`: the pipeline from data to care.
COMMAND_MODULES = (
    "nuchal.commands.demo",
    "nuchal.commands.simulate",
    "nuchal.commands.import_files",
    "nuchal.commands.gateway",
    "nuchal.commands.features",
    "nuchal.commands.models",
    "nuchal.commands.status",
    "nuchal.commands.query",
    "nuchal.commands.airflow",
)

EPILOG = """\
typical session:
  nuchal demo                          simulate a small cohort and run the whole pipeline
  nuchal simulate --out cohort/        write a simulated cohort in the contract-2 file formats
  nuchal import cohort/baseline.csv cohort/diary.csv cohort/imu cohort/ble
                                       import baseline, diary, IMU CSVs and .blelog captures
  nuchal status --json                 counts per public view and latest model metrics
  nuchal query "FROM participant_day_features LIMIT 5"

data lives in --home DIR, else $NUCHAL_HOME, else ./nuchal-data (warehouse.duckdb, spool/,
models/, reports/). Query the warehouse directly with DuckDB: the views participants,
imu_samples, stream_gaps, diary, quarantine, participant_day_features, predictions and alerts
are a stable interface.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nuchal",
        description="IMU and headache-diary pipeline for cervicogenic headache cohorts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--home", help="data folder (default: $NUCHAL_HOME or ./nuchal-data)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("--version", action="version", version=f"nuchal {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from nuchal.errors import report_errors

    with report_errors() as outcome:
        rc = args.func(args)
        outcome.code = int(rc or 0)
    return outcome.code


if __name__ == "__main__":
    sys.exit(main())

"""`nuchal import PATH...`: load cohort files (SPEC contract 2) into the warehouse."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ingest.importer import ImportReport, import_paths
from nuchal.home import Home
from warehouse import open_warehouse

HELP = """\
Import files or folders (recursively) in the four cohort formats:
  *.csv with record_id, age, ..., treatment_start   baseline, one row per participant
  *.csv with record_id, diary_date, headache, ...   headache diary, one row per participant-day
  *.csv with timestamp, ax..gz + <stem>.json        IMU recording with its sidecar
  *.blelog                                          BLE capture (JSON Lines)
Baselines load first. Bad rows are quarantined with file, row and column (see the `quarantine`
view); good rows beside them are kept. Importing the same files again changes nothing.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="import cohort files into the warehouse",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def format_report(report: ImportReport) -> list[str]:
    lines = []
    for kind, t in report.kinds.items():
        if t.files:
            lines.append(
                f"{kind:9s} {t.files:5d} files ({t.unchanged} unchanged, {t.rejected} rejected)  "
                f"{t.rows_ok:>12,d} rows ok, {t.rows_new:>12,d} new, {t.rows_bad:,d} quarantined"
            )
    if report.unrecognised:
        lines.append(f"skipped {len(report.unrecognised)} files that are not a cohort format:")
        lines.extend(f"  {p}" for p in report.unrecognised[:10])
        if len(report.unrecognised) > 10:
            lines.append(f"  ... and {len(report.unrecognised) - 10} more")
    return lines


def run(args: argparse.Namespace) -> int:
    home = Home.resolve(args.home).ensure()
    with open_warehouse(home.warehouse) as wh:
        report = import_paths(wh, args.paths, progress=not args.no_progress and sys.stderr.isatty())
    for line in format_report(report):
        print(line)
    for err in report.errors:
        print(f"rejected: {err}", file=sys.stderr)
    print(f"warehouse: {home.warehouse}")
    return 0

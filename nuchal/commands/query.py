"""`nuchal query SQL`: run one read-only SQL query on the warehouse and print the result."""

from __future__ import annotations

import argparse

import duckdb

from nuchal.errors import NuchalError
from nuchal.home import Home
from warehouse import open_warehouse

HELP = """\
Run one SQL query on the warehouse, read-only, and print the result as a table. The public
views are participants, imu_samples, stream_gaps, diary, quarantine, participant_day_features,
predictions and alerts. Examples:
  nuchal query "FROM participant_day_features LIMIT 5"
  nuchal query "SELECT reason, count(*) FROM quarantine GROUP BY ALL"
  nuchal query --csv "FROM predictions" > predictions.csv
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "query",
        help="run a read-only SQL query on the warehouse",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sql", help="the query (DuckDB SQL)")
    p.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    p.add_argument("--max-rows", type=int, default=40, help="rows shown in table mode (default 40)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    home = Home.resolve(args.home)
    with open_warehouse(home.warehouse, read_only=True) as wh:
        try:
            rel = wh.cursor().sql(args.sql)
        except duckdb.Error as e:
            raise NuchalError(f"query failed: {e}") from e
        if rel is None:
            return 0
        if args.csv:
            print(rel.df().to_csv(index=False), end="")
        else:
            rel.show(max_rows=args.max_rows)
    return 0

"""`nuchal demo`: the whole pipeline on a small simulated cohort, in about a minute.

Simulates a cohort in the contract-2 file formats, imports it through the real import path, then
runs each package's demo step (live BLE stream from virtual devices, features, models) and prints
where everything is. Running it again reuses the same seeded cohort and changes nothing.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from pathlib import Path

from ingest.importer import import_paths
from nuchal.commands.import_files import format_report
from nuchal.commands.status import collect_status
from nuchal.demo_context import DemoContext
from nuchal.home import Home
from warehouse import open_warehouse

log = logging.getLogger(__name__)

# The pipeline after import, in order; each module offers demo_step(ctx) -> list[str].
DEMO_STEPS = ("ingest.gateway.demo", "features.demo", "models.demo")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="simulate a small cohort and run the whole pipeline on it",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--participants", type=int, default=40, help="simulated participants (default 40)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.set_defaults(func=run)


def simulate_demo_cohort(out: Path, participants: int, seed: int) -> list[str]:
    from simulator import SimulationParams, write_cohort

    params = SimulationParams(
        participants=participants,
        days=84,
        hours_per_day=0.25,
        rate_hz=25,
        seed=seed,
        imu_every_nth_day=14,
        ble_fraction=0.2,
        ble_samples_per_packet=19,
    )
    summary = write_cohort(out, params)
    return summary.lines()


def run(args: argparse.Namespace) -> int:
    home = Home.resolve(args.home).ensure()
    cohort = home.root / "demo-cohort"
    t0 = time.perf_counter()
    print(f"nuchal demo: home {home.root}")
    for line in simulate_demo_cohort(cohort, args.participants, args.seed):
        print(line)
    inputs = [
        p
        for p in (cohort / "baseline.csv", cohort / "diary.csv", cohort / "imu", cohort / "ble")
        if p.exists()
    ]
    with open_warehouse(home.warehouse) as wh:
        report = import_paths(wh, inputs, progress=sys.stderr.isatty())
    for line in format_report(report):
        print(line)
    ctx = DemoContext(home=home, cohort_dir=cohort, seed=args.seed)
    for module_name in DEMO_STEPS:
        step = importlib.import_module(module_name)
        t_step = time.perf_counter()
        for line in step.demo_step(ctx):
            print(line)
        log.info("%s took %.1f s", module_name, time.perf_counter() - t_step)
    with open_warehouse(home.warehouse) as wh:
        status = collect_status(home, wh)
    print("\nwarehouse views:")
    for view, n in status["counts"].items():
        print(f"  {view:26s} {n:>12,d}")
    print(f"\ndone in {time.perf_counter() - t0:.0f} s. Results:")
    print(f"  warehouse  {home.warehouse}")
    print(f"  query      nuchal --home {home.root} query 'FROM participant_day_features LIMIT 5'")
    print(f"  reports    {home.reports}")
    print(f"  models     {home.models}")
    print(f"  cohort     {cohort}   (truth/ holds the simulator's ground truth)")
    print(f"  status     nuchal --home {home.root} status --json")
    return 0

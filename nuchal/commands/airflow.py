"""`nuchal airflow-standalone`: run the nuchal DAGs in a local Airflow (``make airflow``).

Airflow's home goes inside the nuchal data folder (``<home>/airflow``) and its DAG folder points
at this checkout's ``dags/``, so a fresh clone needs nothing but ``make airflow``. Before handing
over to ``airflow standalone`` it migrates the metadata DB and creates the one-slot warehouse pool
the DAGs queue on: a task in a pool that does not exist is never scheduled.

Airflow is an optional extra (``pip install -e '.[airflow]'``); this module imports none of it.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from nuchal.errors import NuchalError
from nuchal.home import Home

log = logging.getLogger(__name__)

# Keep in step with dags/nuchal_common.py (WAREHOUSE_POOL, WAREHOUSE_POOL_SLOTS).
WAREHOUSE_POOL = "nuchal_warehouse"
WAREHOUSE_POOL_SLOTS = 1
DEFAULT_DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


@dataclass(frozen=True)
class StandalonePlan:
    """The environment and the commands that start Airflow for one nuchal home."""

    env: dict[str, str]
    setup: tuple[tuple[str, ...], ...]
    run: tuple[str, ...]


def plan_standalone(home: Home, dags_folder: Path, airflow_bin: str) -> StandalonePlan:
    """Build (without running anything) what ``airflow-standalone`` will execute."""
    airflow_home = home.root / "airflow"
    env = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # The tasks find the same warehouse as the CLI: the home is passed down, not guessed.
        "NUCHAL_HOME": str(home.root),
    }
    setup = (
        (airflow_bin, "db", "migrate"),
        (
            airflow_bin,
            "pools",
            "set",
            WAREHOUSE_POOL,
            str(WAREHOUSE_POOL_SLOTS),
            "DuckDB has one writer: nuchal tasks that open the warehouse queue here",
        ),
    )
    return StandalonePlan(env=env, setup=setup, run=(airflow_bin, "standalone"))


def _airflow_bin() -> str:
    beside_python = Path(sys.executable).with_name("airflow")
    found = str(beside_python) if beside_python.exists() else shutil.which("airflow")
    if not found:
        raise NuchalError(
            "Airflow is not installed here; install the extra with: pip install -e '.[airflow]'"
        )
    return found


def handler(args: argparse.Namespace) -> int:
    home = Home.resolve(args.home).ensure()
    dags_folder = Path(args.dags_folder).resolve() if args.dags_folder else DEFAULT_DAGS_FOLDER
    if not (dags_folder / "nuchal_daily.py").exists():
        raise NuchalError(
            f"{dags_folder} holds no nuchal DAGs; pass --dags-folder pointing at the repo's dags/"
        )
    plan = plan_standalone(home, dags_folder, "airflow" if args.dry_run else _airflow_bin())
    if args.dry_run:
        for key, value in sorted(plan.env.items()):
            print(f"{key}={value}")
        for cmd in (*plan.setup, plan.run):
            print(" ".join(cmd))
        return 0
    # `airflow standalone` starts its components as `airflow ...` from PATH: put ours first.
    path = os.pathsep.join([str(Path(plan.run[0]).parent), os.environ.get("PATH", "")])
    env = {**os.environ, **plan.env, "PATH": path}
    Path(plan.env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    for cmd in plan.setup:
        print(f"nuchal: {' '.join(cmd[:4])}", flush=True)
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            raise NuchalError(f"`{' '.join(cmd[:4])}` failed (exit {done.returncode}); see its output above")
    print(
        f"nuchal: starting Airflow with AIRFLOW_HOME={plan.env['AIRFLOW_HOME']} and DAGs from {dags_folder};\n"
        f"        the UI is on http://localhost:8080, the admin password is in "
        f"{plan.env['AIRFLOW_HOME']}/simple_auth_manager_passwords.json.generated",
        flush=True,
    )
    os.execvpe(plan.run[0], list(plan.run), env)  # Airflow owns the terminal from here (Ctrl-C stops it)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "airflow-standalone",
        help="run the nuchal DAGs in a local Airflow (AIRFLOW_HOME=<home>/airflow)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dags-folder", help="DAG folder (default: this checkout's dags/)")
    p.add_argument("--dry-run", action="store_true", help="print the environment and commands, run nothing")
    p.set_defaults(func=handler)

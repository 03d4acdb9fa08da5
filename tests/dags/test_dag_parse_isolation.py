"""Parsing the DAG files does no work: no warehouse, no DuckDB, no heavy libraries.

The DAG processor re-imports every file every 30 s or so; work at import time would run that
often and, worse, take DuckDB's writer lock away from the gateway. The check runs in a fresh
interpreter so nothing imported by other tests hides an import the DAG files make.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = r"""
import json, sys
from pathlib import Path

import duckdb
import warehouse.db

opened = []

def _refuse(*args, **kwargs):
    opened.append(repr(args))
    raise RuntimeError("a DAG file opened the warehouse while being parsed")

duckdb.connect = _refuse
warehouse.db.open_warehouse = _refuse
warehouse.open_warehouse = _refuse
before = set(sys.modules)

from airflow.dag_processing.dagbag import BundleDagBag

dags = Path(sys.argv[1])
bag = BundleDagBag(dag_folder=dags, bundle_path=dags, bundle_name="dags-folder")
heavy = ("pandas", "sklearn", "numba", "scipy", "pyarrow", "features", "models", "ingest", "simulator",
         "nuchal.pipeline")
print(json.dumps({
    "errors": {str(k): v for k, v in bag.import_errors.items()},
    "dag_ids": sorted(bag.dag_ids),
    "opened": opened,
    "heavy_imported": sorted(m for m in heavy if m in sys.modules and m not in before),
}))
"""


def test_importing_the_dag_files_opens_no_warehouse_and_loads_no_heavy_library(
    tmp_path: Path, dags_folder: Path
) -> None:
    home = tmp_path / "nuchal-home"
    env = {
        **os.environ,
        "NUCHAL_HOME": str(home),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow' / 'airflow.db'}",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(dags_folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert {"nuchal_ingest", "nuchal_daily", "nuchal_retrain"} <= set(result["dag_ids"])
    assert result["opened"] == []
    assert result["heavy_imported"] == []
    assert not home.exists(), "parsing created the nuchal home folder"

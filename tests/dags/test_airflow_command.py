"""`nuchal airflow-standalone` puts Airflow inside the nuchal home and points it at dags/."""

from __future__ import annotations

from pathlib import Path

from nuchal.commands.airflow import WAREHOUSE_POOL, WAREHOUSE_POOL_SLOTS, plan_standalone
from nuchal.home import Home


def test_plan_puts_airflow_home_in_the_data_folder_and_creates_the_writer_pool(
    tmp_path: Path, dags_folder: Path
) -> None:
    home = Home(tmp_path / "data")
    plan = plan_standalone(home, dags_folder, "/venv/bin/airflow")
    assert plan.env["AIRFLOW_HOME"] == str(tmp_path / "data" / "airflow")
    assert plan.env["AIRFLOW__CORE__DAGS_FOLDER"] == str(dags_folder)
    assert plan.env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert plan.env["NUCHAL_HOME"] == str(tmp_path / "data")
    assert plan.setup[0] == ("/venv/bin/airflow", "db", "migrate")
    assert plan.setup[1][:5] == (
        "/venv/bin/airflow",
        "pools",
        "set",
        WAREHOUSE_POOL,
        str(WAREHOUSE_POOL_SLOTS),
    )
    assert plan.run == ("/venv/bin/airflow", "standalone")


def test_the_command_and_the_dags_agree_on_the_pool(dagbag: object) -> None:
    import nuchal_common

    assert (nuchal_common.WAREHOUSE_POOL, nuchal_common.WAREHOUSE_POOL_SLOTS) == (
        WAREHOUSE_POOL,
        WAREHOUSE_POOL_SLOTS,
    )

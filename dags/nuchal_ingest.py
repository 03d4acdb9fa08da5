"""nuchal_ingest: every 15 minutes, land what the gateway and the inbox received into the warehouse.

Thin wiring only: the work is in :mod:`nuchal.pipeline`, imported inside the tasks so that parsing
this file touches neither the warehouse nor the heavy libraries.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import CronTriggerTimetable, Param, dag, task
from nuchal_common import DIARY, IMU, default_args, home_param, home_root


@dag(
    dag_id="nuchal_ingest",
    description="Merge the BLE gateway's spool and import new cohort files from the inbox.",
    schedule=CronTriggerTimetable("*/15 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,  # each run takes everything landed so far: missed runs need no replay
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    default_args=default_args(execution_timeout=timedelta(minutes=12)),
    params={
        "home": home_param(),
        "inbox": Param(None, type=["null", "string"], description="inbox folder (default: <home>/inbox)"),
    },
    tags=["nuchal"],
    doc_md=__doc__,
)
def nuchal_ingest() -> None:
    @task(pool="default_pool")  # touches no warehouse: no need to queue for the writer slot
    def resolve_home(params: dict[str, Any] | None = None) -> str:
        return home_root(params)

    @task(outlets=[IMU, DIARY])
    def import_inbox(home: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        from nuchal import pipeline

        return pipeline.import_inbox(home, (params or {}).get("inbox")).as_xcom()

    @task(outlets=[IMU])
    def merge_gateway_spool(home: str) -> dict[str, Any]:
        from nuchal import pipeline

        return pipeline.merge_gateway_spool(home).as_xcom()

    home = resolve_home()
    # Independent on purpose: a spool that cannot be merged must not hold back the inbox (the
    # pool runs them one after the other anyway). Both key samples by (device, time), so a
    # capture file repeating notifications the gateway already landed adds nothing twice.
    merge_gateway_spool(home)
    import_inbox(home)


nuchal_ingest()

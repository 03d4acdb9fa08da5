"""nuchal_daily: everything that belongs to one participant-local day, for the whole cohort.

The logical date names the day (``CronDataIntervalTimetable`` at midnight UTC: the run for day D
starts once D is over). Features are mapped over the participants who have data on D, so one
participant's bad recording fails one mapped task, not the cohort's day. Backfill re-runs exactly
the asked days: ``airflow backfill create --dag-id nuchal_daily --from-date D1 --to-date D3
--reprocess-behavior completed``. Every step upserts its partition, so a re-run lands the same rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task
from nuchal_common import FEATURES, PREDICTIONS, default_args, home_param, home_root


@dag(
    dag_id="nuchal_daily",
    description="Participant-day features, predictions and alerts for one day (the logical date).",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,  # past days are recomputed on request, with a backfill of exactly those days
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=6),
    default_args=default_args(execution_timeout=timedelta(minutes=30)),
    params={"home": home_param()},
    tags=["nuchal"],
    doc_md=__doc__,
)
def nuchal_daily() -> None:
    @task(pool="default_pool")  # reads no warehouse: no need to queue for the writer slot
    def partition(
        logical_date: datetime | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, str]:
        """The run's partition keys: the home folder and the day named by the logical date."""
        from nuchal import pipeline

        assert logical_date is not None
        return {"home": home_root(params), "day": pipeline.as_day(logical_date).isoformat()}

    @task
    def participants(keys: dict[str, str]) -> list[str]:
        from nuchal import pipeline

        return pipeline.subjects_for_day(keys["home"], keys["day"])

    @task(outlets=[FEATURES], map_index_template="{{ subject_id }}")
    def features(keys: dict[str, str], subject_id: str) -> dict[str, Any]:
        from nuchal import pipeline

        get_current_context()["subject_id"] = subject_id  # type: ignore[typeddict-unknown-key]
        return pipeline.day_features(keys["home"], keys["day"], subject_id).as_xcom()

    @task(outlets=[PREDICTIONS], trigger_rule="all_done")
    def predictions(keys: dict[str, str]) -> dict[str, Any]:
        # all_done: one participant's failed features must not withhold the others' predictions;
        # that participant's rows are simply absent until the failed task is cleared and re-run.
        from nuchal import pipeline

        return pipeline.predict_day(keys["home"], keys["day"]).as_xcom()

    keys = partition()
    day_features = features.partial(keys=keys).expand(subject_id=participants(keys))
    day_features >> predictions(keys)


nuchal_daily()

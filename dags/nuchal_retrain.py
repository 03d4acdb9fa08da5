"""nuchal_retrain: weekly (or on demand) train a candidate model, evaluate it, promote it if it wins.

The data cut-off is the day before the logical date, so a re-run of the same run trains on the same
days. Promotion compares the candidate with the promoted model on the same held-out participants
(the rule is the models package's, see docs/models.md); the loser's model card is kept either way.
Trigger on demand from the UI or with ``airflow dags trigger nuchal_retrain``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import CronTriggerTimetable, dag, task
from nuchal_common import MODEL, default_args, home_param, home_root


@dag(
    dag_id="nuchal_retrain",
    description="Train, evaluate and (by the documented rule) promote the flare-up and responder models.",
    schedule=CronTriggerTimetable("0 5 * * 1", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,  # a model trained on last week's data is of no use once this week's exists
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    default_args=default_args(execution_timeout=timedelta(hours=2)),
    params={"home": home_param()},
    tags=["nuchal"],
    doc_md=__doc__,
)
def nuchal_retrain() -> None:
    @task(pool="default_pool")  # reads no warehouse: no need to queue for the writer slot
    def partition(
        logical_date: datetime | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, str]:
        """The run's keys: the home folder and the last day of data the models may see."""
        from nuchal import pipeline

        assert logical_date is not None
        as_of = pipeline.as_day(logical_date) - timedelta(days=1)
        return {"home": home_root(params), "as_of": as_of.isoformat()}

    @task
    def train(keys: dict[str, str]) -> dict[str, str]:
        from nuchal import pipeline

        return pipeline.train_candidates(keys["home"], keys["as_of"])

    @task
    def evaluate(keys: dict[str, str], candidates: dict[str, str]) -> list[dict[str, Any]]:
        from nuchal import pipeline

        return [d.as_xcom() for d in pipeline.evaluate_candidates(keys["home"], keys["as_of"], candidates)]

    @task(outlets=[MODEL])
    def promote(keys: dict[str, str], decisions: list[dict[str, Any]]) -> list[str]:
        from nuchal import pipeline

        return pipeline.promote_decided(keys["home"], decisions)

    keys = partition()
    promote(keys, evaluate(keys, train(keys)))


nuchal_retrain()

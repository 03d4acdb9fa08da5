"""The DAG files load, and their shape keeps the promises of docs/airflow.md."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

DAG_IDS = {"nuchal_ingest", "nuchal_daily", "nuchal_retrain"}


def test_dagbag_has_no_import_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) >= DAG_IDS


def _dag(dagbag: Any, dag_id: str) -> Any:
    dag = dagbag.get_dag(dag_id)
    assert dag is not None, f"{dag_id} missing from the DagBag"
    return dag


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_every_task_retries_with_backoff_times_out_and_mails_staff(dagbag: Any, dag_id: str) -> None:
    from nuchal_common import notify_staff

    for task in _dag(dagbag, dag_id).tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff > 1, task.task_id
        assert task.max_retry_delay is not None and task.max_retry_delay <= timedelta(hours=1)
        assert task.execution_timeout is not None and task.execution_timeout <= timedelta(hours=3), (
            task.task_id
        )
        callbacks = task.on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert notify_staff in callbacks, task.task_id


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_warehouse_tasks_share_the_one_writer_slot(dagbag: Any, dag_id: str) -> None:
    from nuchal_common import WAREHOUSE_POOL

    free = {"resolve_home", "partition"}  # these compute keys and never open the warehouse
    for task in _dag(dagbag, dag_id).tasks:
        expected = "default_pool" if task.task_id in free else WAREHOUSE_POOL
        assert task.pool == expected, task.task_id


def test_ingest_runs_every_quarter_hour_without_catchup(dagbag: Any) -> None:
    dag = _dag(dagbag, "nuchal_ingest")
    assert dag.timetable.expression == "*/15 * * * *"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert {o.name for t in dag.tasks for o in t.outlets} >= {"nuchal_imu"}


def test_daily_maps_features_over_participants_of_the_logical_day(dagbag: Any) -> None:
    dag = _dag(dagbag, "nuchal_daily")
    assert dag.timetable.expression == "0 0 * * *"
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"  # logical date == the day
    features = dag.get_task("features")
    assert features.is_mapped
    assert {t.task_id for t in features.upstream_list} == {"partition", "participants"}
    assert "nuchal_participant_day_features" in {o.name for o in features.outlets}
    predictions = dag.get_task("predictions")
    assert "features" in predictions.upstream_task_ids
    assert predictions.trigger_rule == "all_done"  # one participant's failure withholds no one else's
    assert "nuchal_predictions" in {o.name for o in predictions.outlets}


def test_retrain_is_weekly_and_publishes_the_model(dagbag: Any) -> None:
    dag = _dag(dagbag, "nuchal_retrain")
    assert dag.timetable.expression.split()[-1] in {"1", "MON", "mon"}  # one day of the week
    assert dag.catchup is False
    assert "nuchal_promoted_model" in {o.name for t in dag.tasks for o in t.outlets}

"""A task that fails for good mails study staff through a real SMTP server on loopback."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest


def test_failed_partition_mails_staff_naming_dag_task_day_and_error(
    dagbag: Any, smtp: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # A warehouse file that is not a DuckDB database: the first task that opens it fails.
    (home / "warehouse.duckdb").write_bytes(b"this is not a duckdb file" * 100)
    monkeypatch.setenv("NUCHAL_HOME", str(home))

    dag = dagbag.get_dag("nuchal_daily")
    for task in dag.tasks:  # the retry policy is tested in test_dag_structure; here fail at once
        monkeypatch.setattr(task, "retries", 0)
    run = dag.test(logical_date=dt.datetime(2026, 3, 4, tzinfo=dt.UTC))

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert states["partition"] == "success" and states["participants"] == "failed"
    assert states["features"] == "upstream_failed"
    # predictions runs after failed upstream tasks by design (trigger rule all_done) and fails
    # here too, on the same broken file: one mail per failed task.
    subjects = sorted(str(m.message["Subject"]) for m in smtp.messages)
    assert subjects == [
        "[nuchal] nuchal_daily.participants failed for 2026-03-04",
        "[nuchal] nuchal_daily.predictions failed for 2026-03-04",
    ]
    mail = next(m for m in smtp.messages if "participants" in str(m.message["Subject"]))
    assert mail.rcpt_to == ["study-staff@localhost"]
    body = mail.message.get_body(("html",))
    assert body is not None
    text = body.get_content()
    assert "cannot open warehouse" in text and str(home / "warehouse.duckdb") in text
    assert "airflow tasks clear nuchal_daily -t participants -s 2026-03-04 -e 2026-03-04 --downstream" in text

"""`nuchal_ingest` with `dag.test()`: the inbox lands once, a second run adds nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def test_ingest_imports_the_inbox_once_and_merges_an_empty_spool(
    dagbag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simulator
    from nuchal.home import Home
    from warehouse import open_warehouse

    home = Home(tmp_path / "home").ensure()
    params = simulator.SimulationParams(participants=2, days=1, hours_per_day=0.1, rate_hz=10, seed=2)
    summary = simulator.write_cohort(home.inbox / "cohort-a", params)
    monkeypatch.setenv("NUCHAL_HOME", str(home.root))
    dag = dagbag.get_dag("nuchal_ingest")

    def run_and_count() -> tuple[int, ...]:
        run = dag.test(logical_date=dt.datetime(2026, 3, 1, 12, 15, tzinfo=dt.UTC))
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert run.state == "success", states
        assert set(states) == {"resolve_home", "merge_gateway_spool", "import_inbox"}
        with open_warehouse(home.warehouse) as wh:
            return tuple(wh.count(v) for v in ("participants", "diary", "imu_samples", "quarantine"))

    counts = run_and_count()
    assert counts[0] == 2 and counts[1] > 0
    # The simulator's deliberate bad rows are quarantined, the rest land.
    assert 0 < counts[2] <= summary.imu_samples and counts[3] > 0
    assert run_and_count() == counts

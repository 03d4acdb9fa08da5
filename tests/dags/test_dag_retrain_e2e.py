"""`nuchal_retrain` with `dag.test()`: promotion by the held-out rule, then daily predictions use it."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def diary_cohort_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 participants, 12 weeks of treatment, diary only (no IMU): enough labels, cheap to build."""
    import simulator
    from ingest.importer import import_paths
    from warehouse import open_warehouse

    root = tmp_path_factory.mktemp("diary-cohort")
    params = simulator.SimulationParams(participants=30, days=84, hours_per_day=0, seed=5, bad_rows=False)
    simulator.write_cohort(root / "files", params)
    with open_warehouse(root / "warehouse.duckdb") as wh:
        import_paths(wh, [root / "files"])
    return root / "warehouse.duckdb"


def _run(dagbag: Any, dag_id: str, logical_date: dt.datetime) -> Any:
    run = dagbag.get_dag(dag_id).test(logical_date=logical_date)
    failed = [(ti.task_id, ti.map_index) for ti in run.get_task_instances() if ti.state != "success"]
    assert run.state == "success", f"failed tasks: {failed}"
    return run


def test_retrain_promotes_only_a_candidate_that_beats_the_promoted_model(
    dagbag: Any, diary_cohort_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models import registry
    from nuchal.home import Home

    home = Home(tmp_path / "home").ensure()
    shutil.copyfile(diary_cohort_db, home.warehouse)
    monkeypatch.setenv("NUCHAL_HOME", str(home.root))
    monday = dt.datetime(2026, 7, 6, 5, tzinfo=dt.UTC)

    _run(dagbag, "nuchal_retrain", monday)
    decisions = json.loads((home.reports / "retrain" / "2026-07-05.json").read_text())
    first = registry.promoted_versions(home)
    # Against chance, a useful flare model wins; a model is promoted exactly when its decision says so.
    assert {d["target"] for d in decisions if d["promote"]} == set(first)
    assert "flare_1d" in first
    assert all(d["heldout_participants"] >= 3 for d in decisions)

    # Same data, same seed: the new candidates score exactly as the promoted ones, so nothing moves.
    _run(dagbag, "nuchal_retrain", monday)
    again = json.loads((home.reports / "retrain" / "2026-07-05.json").read_text())
    assert not any(d["promote"] for d in again)
    assert registry.promoted_versions(home) == first
    assert len(registry.list_models(home)) == 2 * len(decisions)  # every candidate kept, with its card
    assert all((home.models / r.version / "card.md").exists() for r in registry.list_models(home))

    # The daily run now predicts with the promoted flare models.
    day = dt.date(2026, 5, 4)
    _run(dagbag, "nuchal_daily", dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC))
    from warehouse import open_warehouse

    with open_warehouse(home.warehouse) as wh:
        rows = (
            wh.cursor()
            .execute(
                "SELECT target, model_version, count(*) FROM predictions WHERE day = ? GROUP BY ALL ORDER BY 1",
                [day],
            )
            .fetchall()
        )
    assert {(t, v) for t, v, _ in rows} >= {("flare_1d", first["flare_1d"])}
    assert all(n > 0 for _, _, n in rows)

"""The real path: simulator -> import -> models, with the oracle from the simulator's truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.data import load_cohort
from models.evaluation import evaluate_target
from models.matrix import build_matrix
from models.truth import oracle_from_simulator
from warehouse import open_warehouse


@pytest.mark.slow
def test_flare_model_beats_baseline_and_approaches_the_oracle(tmp_path: Path) -> None:
    import simulator
    from ingest.importer import import_paths

    cohort_dir = tmp_path / "cohort"
    simulator.write_cohort(
        cohort_dir,
        simulator.SimulationParams(participants=40, days=84, hours_per_day=0, seed=21, bad_rows=False),
    )
    with open_warehouse(tmp_path / "wh.duckdb") as wh:
        import_paths(wh, [cohort_dir / "baseline.csv", cohort_dir / "diary.csv"])
        cohort = load_cohort(wh)
    oracle = oracle_from_simulator(cohort_dir)
    assert not cohort.has_sensor_data
    ev = evaluate_target(
        build_matrix(cohort, "flare_1d"), ("logreg", "baseline"), oracle=oracle["flare_1d"], n_boot=100
    )
    model, base = ev.result("logreg"), ev.result("baseline")
    assert ev.oracle is not None and ev.oracle.n_rows == model.grouped.n_rows
    assert model.grouped.auroc.value > base.grouped.auroc.value
    assert model.grouped.auroc.value > 0.65
    assert model.oracle_gap is not None and model.oracle_gap.value < 0.1

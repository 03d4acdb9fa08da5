"""The real path: simulator -> import -> models, with the oracle from the simulator's truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.data import load_cohort
from models.evaluation import evaluate_target
from models.matrix import build_matrix
from models.truth import oracle_from_simulator, with_true_latent_state
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

    # the perfect-sensor ceiling of the bench: the true latent state of exactly each row's day
    matrix = build_matrix(cohort, "flare_1d").labelled()
    informed = with_true_latent_state(matrix, cohort_dir)
    assert informed.feature_names[-2:] == ("true_posture_load", "true_rom_restriction")
    daily = simulator.load_truth(cohort_dir).daily.set_index(["subject_id", "day"])
    row = len(matrix) // 2
    key = (str(matrix.subject_id[row]), pd.Timestamp(matrix.day[row]))
    assert informed.X[row, -2] == daily.loc[key, "posture_load"]
    assert np.array_equal(informed.X[:, :-2], matrix.X, equal_nan=True)
    responder = with_true_latent_state(build_matrix(cohort, "responder"), cohort_dir)
    assert not np.isnan(responder.X[:, -2:]).any()

"""A diary-only cohort (no IMU at all) goes through train, evaluate, promote and predict via the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from models.testing import SyntheticCohort, write_diary_cohort
from nuchal.cli import main
from nuchal.home import Home
from warehouse import open_warehouse


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, diary_cohort: SyntheticCohort) -> Home:
    home = Home(tmp_path_factory.mktemp("home")).ensure()
    with open_warehouse(home.warehouse) as wh:
        write_diary_cohort(wh, diary_cohort.data)
    return home


def test_train_evaluate_promote_predict(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    h = ["--home", str(home.root)]
    assert main([*h, "train", "--folds", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("AUROC") == 3

    assert main([*h, "evaluate", "--folds", "3", "--bootstrap", "50", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["targets"]) == {"flare_1d", "flare_3d", "responder"}
    assert summary["sensor_features"] is False
    for target in summary["targets"].values():
        assert set(target["models"]) == {"logreg", "hgb", "baseline"}
    oof = pd.read_parquet(home.reports / "oof_predictions.parquet")
    assert {"subject_id", "day", "target", "probability", "fold"} <= set(oof.columns)
    for name in ("models_evaluation.md", "roc_flare_1d.png", "calibration_responder.png"):
        assert (home.reports / name).stat().st_size > 0

    # Without a promoted model, predict writes nothing (only promoted models feed alerts).
    assert main([*h, "predict", "--day", "2026-03-10"]) == 0
    assert "skipped" in capsys.readouterr().out
    assert main([*h, "models", "list", "--json"]) == 0
    versions = {m["target"]: m["version"] for m in json.loads(capsys.readouterr().out)}
    for version in versions.values():
        assert main([*h, "models", "promote", version]) == 0
    assert main([*h, "models", "show", versions["flare_1d"]]) == 0
    assert "Model card" in capsys.readouterr().out

    for _ in range(2):  # idempotent per day
        assert main([*h, "predict", "--day", "2026-03-10"]) == 0
    with open_warehouse(home.warehouse) as wh:
        rows = (
            wh.cursor()
            .execute(
                "SELECT target, model_version, count(*), count(DISTINCT subject_id), min(length(explanation))"
                " FROM predictions GROUP BY ALL ORDER BY target"
            )
            .fetchall()
        )
    assert [(r[0], r[1]) for r in rows] == sorted(versions.items())
    for _, _, n, subjects, shortest in rows:
        assert n == subjects == 20
        assert shortest > 10


def test_status_reports_latest_metrics(home: Home) -> None:
    from models.registry import latest_metrics

    metrics = latest_metrics(home)
    assert metrics is not None and set(metrics) == {"flare_1d", "flare_3d", "responder"}


def test_unknown_version_is_a_clear_error(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(home.root), "models", "promote", "nope"]) == 1
    assert "no model version 'nope'" in capsys.readouterr().err


def test_empty_home_trains_with_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(tmp_path), "train", "--target", "flare_1d"]) == 1
    assert "import" in capsys.readouterr().err


def test_empty_home_evaluate_and_predict_say_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--home", str(tmp_path), "evaluate"]) == 1
    assert main(["--home", str(tmp_path), "predict"]) == 1
    err = capsys.readouterr().err
    assert err.count("import") >= 2

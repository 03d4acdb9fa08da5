"""simulate -> import -> status on a tiny cohort, through the CLI, as a new user would."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from nuchal.cli import main
from simulator import SimulationParams, load_truth, write_cohort
from warehouse import open_warehouse


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    params = SimulationParams(
        participants=3,
        days=14,
        hours_per_day=0.05,
        rate_hz=25,
        seed=11,
        imu_every_nth_day=3,
        ble_fraction=0.4,
        ble_samples_per_packet=19,
    )
    write_cohort(out, params)
    return out


def _inputs(cohort: Path) -> list[str]:
    return [str(cohort / n) for n in ("baseline.csv", "diary.csv", "imu", "ble") if (cohort / n).exists()]


@pytest.mark.slow
def test_simulate_import_status_matches_truth(
    cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "import", *_inputs(cohort), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    truth = load_truth(cohort)
    counts = status["counts"]
    assert counts["participants"] == len(truth.participants)
    assert counts["imu_samples"] > 0
    assert counts["diary"] > 0
    # every deliberately bad row is quarantined, at the row the simulator wrote it, and nothing else is
    with open_warehouse(home / "warehouse.duckdb") as wh:
        got = wh.cursor().sql("SELECT source, location FROM quarantine").df()
    got["file"] = [str(Path(s).relative_to(cohort)) for s in got["source"]]
    expected = truth.expected_quarantine
    assert counts["quarantine"] == len(expected)
    assert sorted(zip(got["file"], got["location"], strict=True)) == sorted(
        zip(expected["file"], expected["location"], strict=True)
    )
    diary_rows = pd.read_csv(cohort / "diary.csv")
    assert counts["diary"] == len(diary_rows) - (expected["file"] == "diary.csv").sum()


@pytest.mark.slow
def test_importing_twice_changes_no_count(
    cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "import", *_inputs(cohort), "--no-progress"]) == 0
    capsys.readouterr()
    main(["--home", str(home), "status", "--json"])
    first = json.loads(capsys.readouterr().out)["counts"]
    assert main(["--home", str(home), "import", *_inputs(cohort), "--no-progress"]) == 0
    capsys.readouterr()
    main(["--home", str(home), "status", "--json"])
    assert json.loads(capsys.readouterr().out)["counts"] == first

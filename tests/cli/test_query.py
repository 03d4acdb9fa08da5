"""`nuchal query`: read-only SQL on the warehouse, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from nuchal.cli import main


def test_query_prints_csv_of_a_view(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "baseline.csv").write_text(
        "record_id,age,sex,headache_years,lightheadedness,treatment_start,therapist_id\nP1,40,F,3,0,2024-05-01,T1\n"
    )
    assert (
        main(["--home", str(tmp_path / "h"), "import", str(tmp_path / "baseline.csv"), "--no-progress"]) == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "--home",
                str(tmp_path / "h"),
                "query",
                "--csv",
                "SELECT subject_id, therapist_id FROM participants",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines() == ["subject_id,therapist_id", "P1,T1"]


def test_query_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(tmp_path / "none"), "query", "FROM diary"]) == 1
    assert "no warehouse at" in capsys.readouterr().err
    main(["--home", str(tmp_path / "h"), "status"])
    capsys.readouterr()
    assert main(["--home", str(tmp_path / "h"), "query", "SELEC 1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nuchal: error: query failed") and "Traceback" not in err

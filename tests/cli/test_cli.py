"""The `nuchal` command line: help, status on a new home, import, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nuchal.cli import main
from warehouse import PUBLIC_VIEWS

BASELINE = """\
record_id,age,sex,headache_years,lightheadedness,treatment_start,therapist_id
P001,34,F,5,0,2024-03-01,T1
"""
DIARY = """\
record_id,diary_date,headache,intensity,duration_h,medication
P001,2024-03-01,1,6,3.5,1
P001,2024-03-02,0,,0,0
P001,2024-03-02,0,,0,0
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nuchal.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_help_works(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as top:
        main(["--help"])
    assert top.value.code == 0
    out = capsys.readouterr().out
    assert "import" in out and "status" in out
    with pytest.raises(SystemExit) as sub:
        main(["import", "--help"])
    assert sub.value.code == 0
    out = capsys.readouterr().out
    assert "PATH" in out and "quarantine" in out


def test_status_json_on_an_empty_new_home(tmp_path: Path) -> None:
    home = tmp_path / "brand" / "new"
    proc = _run("--home", str(home), "status", "--json")
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["counts"] == {view: 0 for view in PUBLIC_VIEWS}
    assert (home / "warehouse.duckdb").exists()


def test_import_a_folder_then_status_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    (cohort / "baseline.csv").write_text(BASELINE)
    (cohort / "diary.csv").write_text(DIARY)
    home = tmp_path / "home"
    assert main(["--home", str(home), "import", "--no-progress", str(cohort)]) == 0
    assert main(["--home", str(home), "import", "--no-progress", str(cohort)]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "status", "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)["counts"]
    assert counts["participants"] == 1
    assert counts["diary"] == 2
    assert counts["quarantine"] == 1


def test_missing_path_is_exit_1_with_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "does-not-exist"
    rc = main(["--home", str(tmp_path / "home"), "import", "--no-progress", str(missing)])
    assert rc == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert str(missing) in err


def test_missing_path_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    proc = _run("--home", str(tmp_path / "home"), "import", "--no-progress", str(tmp_path / "nope"))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr

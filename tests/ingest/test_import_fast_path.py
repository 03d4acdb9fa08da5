"""The one-pass append of clean IMU CSVs and its fall-back to the careful, row-by-row path."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ingest.importer import import_paths
from warehouse import Warehouse, open_warehouse

BASELINE = "record_id,age,sex,headache_years,lightheadedness,treatment_start,therapist_id\nP1,40,F,3,0,2024-05-01,T1\n"
T0 = 1_714_550_400.0  # 2024-05-01T08:00:00Z


def imu_csv(
    path: Path, t0: float, n: int, *, blank_line_at: int | None = None, dup_at: int | None = None
) -> Path:
    lines = ["timestamp,ax,ay,az,gx,gy,gz"]
    for i in range(n):
        t = t0 + i * 0.02
        lines.append(f"{t:.3f},0.01,0.02,0.99,1.0,-1.0,0.5")
        if dup_at == i:
            lines.append(f"{t:.3f},0.01,0.02,0.99,1.0,-1.0,0.5")
        if blank_line_at == i:
            lines.append("")
    path.write_text("\n".join(lines) + "\n")
    path.with_suffix(".json").write_text(
        json.dumps({"subject_id": "P1", "device_id": "D1", "placement": "occiput", "sample_rate_hz": 50})
    )
    return path


@pytest.fixture
def wh(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "baseline.csv").write_text(BASELINE)
    with open_warehouse(tmp_path / "w.duckdb") as w:
        import_paths(w, [tmp_path / "baseline.csv"])
        yield w


def n_samples(wh: Warehouse) -> int:
    return int(wh.cursor().execute("SELECT count(*) FROM imu_samples").fetchall()[0][0])


def careful_runs(caplog: pytest.LogCaptureFixture) -> int:
    return sum("importing it row by row" in r.getMessage() for r in caplog.records)


def test_clean_file_is_appended_in_one_pass(
    tmp_path: Path, wh: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ingest.importer")
    report = import_paths(wh, [imu_csv(tmp_path / "a.csv", T0, 500)])
    assert report.kinds["imu_csv"].rows_new == 500
    assert n_samples(wh) == 500
    assert careful_runs(caplog) == 0


@pytest.mark.parametrize("defect", ["blank_line_at", "dup_at"])
def test_a_defect_rolls_back_and_imports_row_by_row(
    tmp_path: Path, wh: Warehouse, caplog: pytest.LogCaptureFixture, defect: str
) -> None:
    caplog.set_level(logging.INFO, logger="ingest.importer")
    report = import_paths(wh, [imu_csv(tmp_path / "a.csv", T0, 500, **{defect: 200})])
    assert careful_runs(caplog) == 1
    assert n_samples(wh) == 500  # nothing from the abandoned one-pass attempt is left behind
    expected_bad = 1 if defect == "dup_at" else 0
    assert report.kinds["imu_csv"].rows_bad == expected_bad


def test_overlap_with_stored_samples_goes_the_deduplicating_way(tmp_path: Path, wh: Warehouse) -> None:
    import_paths(wh, [imu_csv(tmp_path / "a.csv", T0, 500)])
    # a second file of the same device covering the last 100 samples of the first and 100 more
    report = import_paths(wh, [imu_csv(tmp_path / "b.csv", T0 + 400 * 0.02, 200)])
    assert report.kinds["imu_csv"].rows_new == 100
    assert n_samples(wh) == 600

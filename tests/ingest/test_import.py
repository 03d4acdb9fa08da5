"""File import (SPEC contract 2): exact quarantine rows, surviving good rows, idempotence, time zones."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from ingest.importer import import_paths
from warehouse import PUBLIC_VIEWS, Warehouse, open_warehouse

UTC = dt.UTC
BASELINE = """\
record_id,age,sex,headache_years,lightheadedness,treatment_start,therapist_id
P001,34,F,5,0,2024-03-01,T1
P002,51,M,12,1,2024-03-04,T2
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def sidecar(csv: Path, **fields: object) -> None:
    meta: dict[str, object] = {
        "subject_id": "P001",
        "device_id": "D1",
        "placement": "occiput",
        "sample_rate_hz": 1,
    }
    meta.update(fields)
    write(csv.with_suffix(".json"), json.dumps(meta))


def counts(wh: Warehouse) -> dict[str, int]:
    return {v: wh.count(v) for v in PUBLIC_VIEWS}


def quarantine(wh: Warehouse, source: Path | None = None) -> set[tuple[str, str]]:
    cur = wh.cursor()
    if source is None:
        rows = cur.execute("SELECT location, reason FROM quarantine").fetchall()
    else:
        rows = cur.execute(
            "SELECT location, reason FROM quarantine WHERE source = ?", [str(source)]
        ).fetchall()
    return {(str(a), str(b)) for a, b in rows}


def utc_times(wh: Warehouse, device_id: str) -> list[dt.datetime]:
    rows = (
        wh.cursor()
        .execute("SELECT t_utc FROM imu_samples WHERE device_id = ? ORDER BY t_utc", [device_id])
        .fetchall()
    )
    return [r[0] for r in rows]


@pytest.fixture
def wh(tmp_path: Path):  # type: ignore[no-untyped-def]
    with open_warehouse(tmp_path / "home" / "warehouse.duckdb") as w:
        yield w


# --- IMU CSV -------------------------------------------------------------------------------------

BAD_IMU = """\
timestamp,ax,ay,az,gx,gy,gz
2024-03-31T01:59:58+01:00,0.01,0.02,0.99,1,2,3
2024-03-31T01:59:59+01:00,0.01,0.02,0.99,1,2,3
2024-03-31T03:00:00+02:00,0.01,0.02

2024-03-31T03:00:00+02:00,0.01,0.02,0.99,1,2,3
2024-03-31T03:00:01+02:00,0.01,abc,0.99,1,2,3
2024-03-31T03:00:02,0.01,0.02,0.99,1,2,3
2024-03-31T03:00:03+02:00,0.01,0.02,0.99,1,2,3
2024-03-31T03:00:03+02:00,0.01,0.02,0.99,1,2,3
2024-03-31T03:00:04+02:00,0.01,0.02,0.99,1,2,3,4
2024-03-31T03:00:05+02:00,0.01,0.02,,1,2,3
garbage,0.01,0.02,0.99,1,2,3
1711846806.5,0.01,0.02,0.99,1,2,3
2024-03-31T03:00:07+02:00,30,0.02,0.99,1,2,3
2024-03-31T03:00:08+02:00,0.01,0.02,0.99,5000,2,3
2024-03-31T03:00:09+02:00,0.01,0.02,0.99,1,2,3
"""


def test_imu_csv_bad_rows_are_quarantined_exactly_and_good_rows_survive(
    tmp_path: Path, wh: Warehouse
) -> None:
    base = write(tmp_path / "in" / "baseline.csv", BASELINE)
    csv = write(tmp_path / "in" / "imu" / "rec1.csv", BAD_IMU)
    sidecar(csv, timezone="Europe/Berlin")
    report = import_paths(wh, [base, csv])
    assert report.errors == []
    assert quarantine(wh, csv) == {
        ("row 4", "expected 7 columns, got 3"),
        ("row 7", "column ay: expected a number, got 'abc'"),
        (
            "row 8",
            "column timestamp: ISO 8601 time without UTC offset '2024-03-31T03:00:02'; add the offset (e.g. +01:00)",
        ),
        ("row 10", "column timestamp: repeats an earlier row's timestamp (duplicate row)"),
        ("row 11", "expected 7 columns, got 8"),
        ("row 12", "column az: missing value"),
        ("row 13", "column timestamp: expected ISO 8601 with UTC offset or epoch seconds, got 'garbage'"),
        ("row 15", "columns ax, ay, az: acceleration 30.0 g is impossible (> 20 g)"),
        ("row 16", "columns gx, gy, gz: angular rate 5000 deg/s is impossible (> 4000)"),
    }
    # The blank line (5) is no data and no error; rows 2, 3, 6, 9, 14 and 17 survive.
    assert utc_times(wh, "D1") == [
        dt.datetime(2024, 3, 31, 0, 59, 58, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 1, 0, 0, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 1, 0, 3, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 1, 0, 6, 500000, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 1, 0, 9, tzinfo=UTC),
    ]
    row = (
        wh.cursor()
        .execute(
            "SELECT DISTINCT subject_id, placement, acc_x_g, acc_z_g, gyro_x_dps, gyro_z_dps FROM imu_samples"
        )
        .fetchall()
    )
    assert len(row) == 1
    assert row[0][:2] == ("P001", "occiput")
    assert row[0][2:] == pytest.approx((0.01, 0.99, 1.0, 3.0), rel=1e-6)
    assert report.kinds["imu_csv"].rows_ok == 6 and report.kinds["imu_csv"].rows_bad == 9


def _imu_rows(t0_epoch_s: float, n: int, acc_z: float = 0.98) -> str:
    lines = ["timestamp,ax,ay,az,gx,gy,gz"]
    lines += [f"{t0_epoch_s + i * 0.02:.2f},0.05,-0.02,{acc_z},1.5,-0.5,0.25" for i in range(n)]
    return "\n".join(lines) + "\n"


def test_whole_file_rejects_are_quarantined_as_file_and_neighbours_import(
    tmp_path: Path, wh: Warehouse
) -> None:
    d = tmp_path / "in"
    write(d / "baseline.csv", BASELINE)
    good = write(d / "good.csv", _imu_rows(1_711_846_800.0, 50))
    sidecar(good, device_id="GOOD")
    ms2 = write(d / "ms2.csv", _imu_rows(1_711_846_800.0, 50, acc_z=9.81))
    sidecar(ms2, device_id="MS2")
    write(d / "nosidecar.csv", _imu_rows(1_711_846_800.0, 5))
    badplace = write(d / "badplace.csv", _imu_rows(1_711_846_800.0, 5))
    sidecar(badplace, device_id="BP", placement="forehead")
    unknown = write(d / "unknown.csv", _imu_rows(1_711_846_800.0, 5))
    sidecar(unknown, device_id="UNK", subject_id="P404")
    report = import_paths(wh, [d])
    assert len(report.errors) == 4
    assert quarantine(wh) == {
        (
            "file",
            "columns ax, ay, az look like m/s^2 (median |a| = 9.8); the IMU CSV format wants g: "
            "divide by 9.80665 and import again",
        ),
        (
            "file",
            "sidecar nosidecar.json is missing (needs subject_id, device_id, placement, sample_rate_hz)",
        ),
        (
            "file",
            f"{d / 'badplace.json'}: field placement: expected one of occiput, c7, neck, got 'forehead'",
        ),
        ("file", "subject_id 'P404' in unknown.json is not in any baseline CSV; import the baseline first"),
    }
    sources = {r[0] for r in wh.cursor().execute("SELECT source FROM quarantine").fetchall()}
    assert sources == {str(d / n) for n in ("ms2.csv", "nosidecar.csv", "badplace.csv", "unknown.csv")}
    assert "m/s^2" in next(e for e in report.errors if "ms2.csv" in e)
    # Nothing of a rejected file lands; the good recording beside them does, whole.
    assert wh.cursor().execute("SELECT DISTINCT device_id FROM imu_samples").fetchall() == [("GOOD",)]
    assert wh.count("imu_samples") == 50


def test_imu_csv_across_dst_changes_stores_correct_utc(tmp_path: Path, wh: Warehouse) -> None:
    """Europe/Berlin: 2024-03-31 02:00 CET -> 03:00 CEST and 2024-10-27 03:00 CEST -> 02:00 CET."""
    spring = [
        "2024-03-31T01:59:58.500+01:00",
        "2024-03-31T01:59:59.000+01:00",
        "2024-03-31T01:59:59.500+01:00",
        "2024-03-31T03:00:00.000+02:00",
        "2024-03-31T03:00:00.500+02:00",
    ]
    autumn = [  # local 02:xx happens twice: first in CEST, then in CET
        "2024-10-27T02:59:59.5+02:00",
        "2024-10-27T02:00:00.0+01:00",
        "2024-10-27T02:00:00.5+01:00",
    ]
    base = write(tmp_path / "baseline.csv", BASELINE)
    csv = write(
        tmp_path / "dst.csv",
        "timestamp,ax,ay,az,gx,gy,gz\n" + "".join(f"{t},0,0,1,0,0,0\n" for t in spring + autumn),
    )
    sidecar(csv, timezone="Europe/Berlin", sample_rate_hz=2)
    import_paths(wh, [base, csv])
    assert quarantine(wh) == set()
    assert utc_times(wh, "D1") == [
        dt.datetime(2024, 3, 31, 0, 59, 58, 500000, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 0, 59, 59, 500000, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 1, 0, 0, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 1, 0, 0, 500000, tzinfo=UTC),
        dt.datetime(2024, 10, 27, 0, 59, 59, 500000, tzinfo=UTC),
        dt.datetime(2024, 10, 27, 1, 0, 0, tzinfo=UTC),
        dt.datetime(2024, 10, 27, 1, 0, 0, 500000, tzinfo=UTC),
    ]


def test_float_epoch_and_z_suffix_timestamps(tmp_path: Path, wh: Warehouse) -> None:
    base = write(tmp_path / "baseline.csv", BASELINE)
    csv = write(
        tmp_path / "epoch.csv",
        "timestamp,ax,ay,az,gx,gy,gz,mx,my,mz\n"
        "1711846800.02,0,0,1,0,0,0,20,-5,40\n"
        "1711846800.04,0,0,1,0,0,0,21,-5,40\n"
        "1711846800.060000,0,0,1,0,0,0,22,-5,40\n"
        "2024-03-31T01:00:00.08Z,0,0,1,0,0,0,23,-5,40\n",
    )
    sidecar(csv, sample_rate_hz=50)
    import_paths(wh, [base, csv])
    assert quarantine(wh) == set()
    assert utc_times(wh, "D1") == [
        dt.datetime(2024, 3, 31, 1, 0, 0, 20000, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 1, 0, 0, 40000, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 1, 0, 0, 60000, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 1, 0, 0, 80000, tzinfo=UTC),
    ]
    mags = wh.cursor().execute("SELECT mag_x_ut FROM imu_samples ORDER BY t_utc").fetchall()
    assert [m[0] for m in mags] == [20.0, 21.0, 22.0, 23.0]


# --- diary and baseline --------------------------------------------------------------------------

DIARY = """\
record_id,diary_date,headache,intensity,duration_h,medication,mood
P001,2024-03-01,1,6,3.5,1,ok
P001,2024-03-02,0,,0,0,
P001,2024-02-30,0,,0,0,
P001,03/04/2024,0,,0,0,
P002,2024-03-02,1,7,4,1,bad
P002,2024-03-02,1,8,4,1,dup
P999,2024-03-02,1,8,4,1,
P002,2024-03-05,1,abc,4,1,
P002,2024-03-06,0,3,4,1,
P002,2024-03-07,1,,4,1,
P002,2024-03-08,1,5,25,1,
P002,2024-03-09,2,5,2,1,
"""

DIARY_BAD = {
    ("row 4", "column diary_date: expected a date YYYY-MM-DD, got '2024-02-30' (no such day)"),
    ("row 5", "column diary_date: expected a date YYYY-MM-DD, got '03/04/2024'"),
    ("row 7", "column diary_date: duplicate day 2024-03-02 for P002 (first at row 6)"),
    ("row 8", "column record_id: unknown participant 'P999' (not in any baseline CSV)"),
    ("row 9", "column intensity: expected a number 0-10, got 'abc'"),
    ("row 10", "column intensity: 3 on a day without headache (headache = 0)"),
    ("row 11", "column intensity: missing value (required on a headache day)"),
    ("row 12", "column duration_h: expected a number 0-24, got '25'"),
    ("row 13", "column headache: expected 0 or 1, got '2'"),
}


def test_diary_bad_rows_are_quarantined_exactly_and_good_rows_survive(tmp_path: Path, wh: Warehouse) -> None:
    base = write(tmp_path / "baseline.csv", BASELINE)
    diary = write(tmp_path / "diary.csv", DIARY)
    import_paths(wh, [base, diary])
    assert quarantine(wh, diary) == DIARY_BAD
    rows = (
        wh.cursor()
        .execute(
            "SELECT subject_id, diary_date, headache, intensity, duration_h, medication FROM diary ORDER BY 1, 2"
        )
        .fetchall()
    )
    assert rows == [
        ("P001", dt.date(2024, 3, 1), 1, 6, 3.5, 1),
        ("P001", dt.date(2024, 3, 2), 0, None, 0.0, 0),
        ("P002", dt.date(2024, 3, 2), 1, 7, 4.0, 1),
    ]


def test_extra_diary_columns_are_kept(tmp_path: Path, wh: Warehouse) -> None:
    base = write(tmp_path / "baseline.csv", BASELINE)
    diary = write(
        tmp_path / "diary.csv",
        "record_id,diary_date,headache,intensity,duration_h,medication,neck_pain,weather,sleep_h\n"
        "P001,2024-03-01,1,6,3.5,1,4,rain,6.5\n"
        "P001,2024-03-02,0,,0,0,,,\n",
    )
    import_paths(wh, [base, diary])
    assert quarantine(wh) == set()
    extra = wh.cursor().execute("SELECT diary_date, extra FROM store.diary ORDER BY 1").fetchall()
    assert json.loads(extra[0][1]) == {"weather": "rain", "sleep_h": "6.5"}
    assert wh.cursor().execute("SELECT neck_pain FROM diary ORDER BY diary_date").fetchall() == [
        (4,),
        (None,),
    ]


def test_diary_truncated_row_is_quarantined(tmp_path: Path, wh: Warehouse) -> None:
    """A row cut short after intensity has no duration_h and medication: not a complete diary day."""
    base = write(tmp_path / "baseline.csv", BASELINE)
    diary = write(
        tmp_path / "diary.csv",
        "record_id,diary_date,headache,intensity,duration_h,medication\n"
        "P001,2024-03-01,1,6,3.5,1\n"
        "P001,2024-03-03,1,4\n"
        "P001,2024-03-04,0,,0,0\n",
    )
    import_paths(wh, [base, diary])
    q = quarantine(wh, diary)
    assert {loc for loc, _ in q} == {"row 3"}, q
    assert wh.cursor().execute("SELECT diary_date FROM diary ORDER BY 1").fetchall() == [
        (dt.date(2024, 3, 1),),
        (dt.date(2024, 3, 4),),
    ]


def test_diary_row_with_an_extra_field_is_quarantined_not_the_whole_file(
    tmp_path: Path, wh: Warehouse
) -> None:
    base = write(tmp_path / "baseline.csv", BASELINE)
    diary = write(
        tmp_path / "diary.csv",
        "record_id,diary_date,headache,intensity,duration_h,medication\n"
        "P001,2024-03-01,1,6,3.5,1\n"
        "P001,2024-03-02,1,6,3.5,1,surplus\n"
        "P001,2024-03-03,0,,0,0\n",
    )
    import_paths(wh, [base, diary])
    q = quarantine(wh, diary)
    assert {loc for loc, _ in q} == {"row 3"}, q
    assert wh.count("diary") == 2


def test_baseline_bad_rows_are_quarantined_exactly(tmp_path: Path, wh: Warehouse) -> None:
    base = write(
        tmp_path / "baseline.csv",
        BASELINE + "P003,abc,F,5,0,2024-03-01,T1\n"
        "P004,40,F,5,0,2024-13-01,T1\n"
        "P001,34,F,5,0,2024-03-01,T1\n"
        "P005,40,F,5,2,2024-03-01,T1\n"
        ",40,F,5,0,2024-03-01,T1\n",
    )
    import_paths(wh, [base])
    assert quarantine(wh, base) == {
        ("row 4", "column age: expected a number 0-120, got 'abc'"),
        ("row 5", "column treatment_start: expected a date YYYY-MM-DD, got '2024-13-01' (no such day)"),
        ("row 6", "column record_id: duplicate participant 'P001' (first at row 2)"),
        ("row 7", "column lightheadedness: expected 0 or 1, got '2'"),
        ("row 8", "column record_id: missing value"),
    }
    assert wh.cursor().execute("SELECT subject_id FROM participants ORDER BY 1").fetchall() == [
        ("P001",),
        ("P002",),
    ]


# --- idempotence and rescue ----------------------------------------------------------------------


def _cohort(root: Path) -> Path:
    d = root / "cohort"
    write(d / "baseline.csv", BASELINE)
    write(d / "diary.csv", DIARY)
    csv = write(d / "imu" / "rec1.csv", BAD_IMU)
    sidecar(csv, timezone="Europe/Berlin")
    good = write(d / "imu" / "good.csv", _imu_rows(1_711_846_800.0, 100))
    sidecar(good, device_id="GOOD")
    ms2 = write(d / "imu" / "ms2.csv", _imu_rows(1_711_846_800.0, 10, acc_z=9.81))
    sidecar(ms2, device_id="MS2")
    write(d / "notes.txt", "not a cohort file\n")
    return d


def _snapshot(wh: Warehouse) -> tuple[dict[str, int], set[tuple[str, str]], list[tuple[object, ...]]]:
    samples = (
        wh.cursor().execute("SELECT device_id, t_utc, acc_x_g FROM imu_samples ORDER BY 1, 2").fetchall()
    )
    return counts(wh), quarantine(wh), samples


def test_importing_twice_changes_no_count(tmp_path: Path, wh: Warehouse) -> None:
    d = _cohort(tmp_path)
    import_paths(wh, [d])
    first = _snapshot(wh)
    assert first[0]["participants"] == 2 and first[0]["diary"] == 3 and first[0]["imu_samples"] == 106
    assert first[0]["quarantine"] == len(DIARY_BAD) + 9 + 1
    report = import_paths(wh, [d])
    assert _snapshot(wh) == first
    assert sum(k.rows_new for k in report.kinds.values() if k is not report.kinds["diary"]) == 0
    # A third time through a file path and a folder path that overlap changes nothing either.
    import_paths(wh, [d / "imu", d])
    assert _snapshot(wh) == first


def test_fixing_the_baseline_later_rescues_diary_and_imu_rows(tmp_path: Path, wh: Warehouse) -> None:
    d = _cohort(tmp_path)
    late = write(d / "imu" / "late.csv", _imu_rows(1_711_850_000.0, 20))
    sidecar(late, device_id="LATE", subject_id="P999")
    import_paths(wh, [d])
    assert ("row 8", "column record_id: unknown participant 'P999' (not in any baseline CSV)") in quarantine(
        wh, d / "diary.csv"
    )
    assert quarantine(wh, late) == {
        ("file", "subject_id 'P999' in late.json is not in any baseline CSV; import the baseline first")
    }
    before = counts(wh)
    write(
        d / "baseline_addendum.csv",
        "record_id,age,sex,headache_years,lightheadedness,treatment_start,therapist_id\n"
        "P999,29,F,3,0,2024-03-01,T1\n",
    )
    import_paths(wh, [d])
    assert quarantine(wh, late) == set()
    assert quarantine(wh, d / "diary.csv") == DIARY_BAD - {
        ("row 8", "column record_id: unknown participant 'P999' (not in any baseline CSV)")
    }
    after = counts(wh)
    assert after["participants"] == before["participants"] + 1
    assert after["diary"] == before["diary"] + 1
    assert after["imu_samples"] == before["imu_samples"] + 20
    assert after["quarantine"] == before["quarantine"] - 2
    assert wh.cursor().execute(
        "SELECT headache, intensity FROM diary WHERE subject_id = 'P999'"
    ).fetchall() == [(1, 8)]


def test_date_without_time_or_offset_is_not_taken_as_utc_midnight(tmp_path: Path, wh: Warehouse) -> None:
    """'2024-03-31' has no UTC offset (its '-31' is the day, not an offset of -31 h)."""
    base = write(tmp_path / "baseline.csv", BASELINE)
    csv = write(
        tmp_path / "dateonly.csv",
        "timestamp,ax,ay,az,gx,gy,gz\n2024-03-31,0,0,1,0,0,0\n2024-03-31T00:00:01+00:00,0,0,1,0,0,0\n",
    )
    sidecar(csv)
    import_paths(wh, [base, csv])
    q = quarantine(wh, csv)
    assert {loc for loc, _ in q} == {"row 2"}, q
    assert all(reason.startswith("column timestamp:") for _, reason in q)
    assert utc_times(wh, "D1") == [dt.datetime(2024, 3, 31, 0, 0, 1, tzinfo=UTC)]


def test_quoted_header_names_are_still_recognised(tmp_path: Path, wh: Warehouse) -> None:
    """RFC 4180 allows quoting any field; exporters (pyarrow, Excel) quote header names."""
    base = write(
        tmp_path / "baseline.csv",
        '"record_id","age","sex","headache_years","lightheadedness","treatment_start","therapist_id"\n'
        "P001,34,F,5,0,2024-03-01,T1\n",
    )
    csv = write(
        tmp_path / "quoted.csv", '"timestamp","ax","ay","az","gx","gy","gz"\n1711846800.0,0,0,1,0,0,0\n'
    )
    sidecar(csv)
    report = import_paths(wh, [base, csv])
    assert report.unrecognised == []
    assert wh.count("participants") == 1
    assert wh.count("imu_samples") == 1

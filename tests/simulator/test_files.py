"""Every written file keeps contract 2; the deliberate bad rows are exactly those in truth/."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ingest.packets import DeviceConfig, decode_packets
from simulator import CohortSummary, SimulationParams, load_truth, write_cohort

IMU_COLS = ["timestamp", "ax", "ay", "az", "gx", "gy", "gz"]


def _bad(out: Path) -> dict[str, set[int]]:
    q = load_truth(out).expected_quarantine
    res: dict[str, set[int]] = {}
    for f, loc in zip(q["file"], q["location"], strict=True):
        res.setdefault(f, set()).add(int(loc.split()[1]))
    return res


def test_baseline_and_diary_conform(small_cohort: tuple[Path, CohortSummary]) -> None:
    out, summary = small_cohort
    base = pd.read_csv(out / "baseline.csv", dtype=str)
    assert list(base.columns[:7]) == [
        "record_id",
        "age",
        "sex",
        "headache_years",
        "lightheadedness",
        "treatment_start",
        "therapist_id",
    ]
    assert set(base["lightheadedness"]) <= {"0", "1"}
    pd.to_datetime(base["treatment_start"], format="%Y-%m-%d")
    diary = pd.read_csv(out / "diary.csv", dtype=str, keep_default_na=False)
    bad = {n - 2 for n in _bad(out).get("diary.csv", set())}
    good = diary.drop(index=sorted(bad))
    assert len(good) == summary.diary_rows
    assert set(good["record_id"]) <= set(base["record_id"])
    pd.to_datetime(good["diary_date"], format="%Y-%m-%d")
    assert not good.duplicated(["record_id", "diary_date"]).any()
    assert set(good["headache"]) <= {"0", "1"}
    inten = good["intensity"]
    assert ((inten == "") == (good["headache"] == "0")).all()
    assert inten[inten != ""].astype(int).between(1, 10).all()
    assert good["duration_h"].astype(float).between(0, 24).all()
    assert set(good["medication"]) <= {"0", "1"}
    pd.to_datetime(good["entered_at"], format="ISO8601", utc=True)
    kinds = set(load_truth(out).expected_quarantine.query("file == 'diary.csv'")["kind"])
    assert kinds == {"range", "date", "duplicate", "unknown_subject"}


def test_imu_csvs_and_sidecars_conform(small_cohort: tuple[Path, CohortSummary]) -> None:
    out, _ = small_cohort
    bad = _bad(out)
    files = sorted((out / "imu").glob("*.csv"))
    assert files
    styles = set()
    for f in files:
        meta = json.loads(f.with_suffix(".json").read_text())
        assert {"subject_id", "device_id", "placement", "sample_rate_hz", "timezone"} <= meta.keys()
        assert meta["placement"] in {"occiput", "c7", "neck"}
        lines = f.read_text().splitlines()
        assert lines[0].split(",") == IMU_COLS
        bad_lines = bad.get(f"imu/{f.name}", set())
        seen_bad = set()
        for n, line in enumerate(lines[1:], start=2):
            parts = line.split(",")
            try:
                ok = len(parts) == 7 and all(np.isfinite(float(x)) for x in parts[1:])
            except ValueError:
                ok = False
            if not ok:
                seen_bad.add(n)
        assert seen_bad == bad_lines, f.name
        ts = lines[1].split(",")[0]
        styles.add("iso" if "T" in ts else "epoch")
        if "T" in ts:
            assert ts[-6] in "+-" and ts[-3] == ":"
    assert styles == {"iso", "epoch"}


def test_dst_recording_crosses_the_clock_change(small_cohort: tuple[Path, CohortSummary]) -> None:
    out, _ = small_cohort
    f = out / "imu" / "S001_20260329.csv"  # participant 1 lives in Europe/Berlin
    text = f.read_text()
    assert "+01:00," in text and "+02:00," in text
    stamps = pd.to_datetime(pd.read_csv(f, usecols=["timestamp"])["timestamp"], format="ISO8601", utc=True)
    assert (stamps.diff().dropna() > pd.Timedelta(0)).all()
    assert stamps.diff().dropna().max() < pd.Timedelta(seconds=0.1)


def test_blelogs_decode_with_the_ingest_codec(small_cohort: tuple[Path, CohortSummary]) -> None:
    out, _ = small_cohort
    bad = _bad(out)
    logs = sorted((out / "ble").glob("*.blelog"))
    assert logs
    for f in logs:
        lines = f.read_text().splitlines()
        head = json.loads(lines[0])
        assert {"device_id", "subject_id", "placement", "config"} <= head.keys()
        cfg = DeviceConfig.from_bytes(bytes.fromhex(head["config"]))
        recs = [json.loads(x) for x in lines[1:]]
        rx = np.array([r["rx"] for r in recs])
        assert (np.diff(rx) >= 0).all()
        dec = decode_packets([bytes.fromhex(r["data"]) for r in recs], cfg)
        assert {i + 2 for i, _ in dec.rejected} == bad.get(f"ble/{f.name}", set())
        assert np.allclose(np.median(np.linalg.norm(dec.acc_g, axis=1)), 1.0, atol=0.05)


def test_truth_is_complete(small_cohort: tuple[Path, CohortSummary], small_params: SimulationParams) -> None:
    SMALL = small_params
    out, summary = small_cohort
    t = load_truth(out)
    assert len(t.participants) == SMALL.participants
    assert len(t.daily) == SMALL.participants * SMALL.total_days
    worn_days = t.daily.dropna(subset=["wear_h"])
    assert len(worn_days) == summary.imu_files + summary.blelog_files == len(t.mounting)
    assert (worn_days["rom_rotation_left_deg"] > 20).all()
    ang = t.angles(t.mounting["stem"].iloc[0])
    assert list(ang.columns) == ["t_utc", "flexion_deg", "lateral_deg", "rotation_deg", "worn"]
    assert t.params == SMALL


def test_same_seed_identical_files(
    small_cohort: tuple[Path, CohortSummary], small_params: SimulationParams, tmp_path: Path
) -> None:
    out, _ = small_cohort
    write_cohort(tmp_path, small_params)

    def digest(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    assert digest(out) == digest(tmp_path)


def test_diary_only_cohort(tmp_path: Path) -> None:
    s = write_cohort(tmp_path, SimulationParams(participants=2, days=20, hours_per_day=0, seed=1))
    assert s.imu_files == s.blelog_files == 0
    assert not list((tmp_path / "imu").iterdir())
    assert (tmp_path / "diary.csv").exists()

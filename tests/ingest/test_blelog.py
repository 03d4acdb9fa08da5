"""`.blelog` replay end to end: several devices, drift, jitter, a drop, a reboot, bad lines."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from ingest_fakes import T0_UTC_S, Session, config, simulate_session, write_blelog

from ingest.importer import import_paths
from warehouse import PUBLIC_VIEWS, Warehouse, open_warehouse

BASELINE = """\
record_id,age,sex,headache_years,lightheadedness,treatment_start,therapist_id
P001,34,F,5,0,2024-03-01,T1
P002,51,M,12,1,2024-03-04,T2
"""
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass
class Capture:
    path: Path
    true_t_s: np.ndarray  # (N,) truth of every sample that was written validly
    acc_counts: np.ndarray  # (N, 3)
    gaps: list[tuple[float, float, int, str]]  # (true t_from, true t_to, missing, reason prefix)
    quarantined: dict[str, str]  # location -> reason prefix


def _lines(s: Session, skip: set[int]) -> list[tuple[float, bytes] | str]:
    return [(float(s.rx_s[p]), s.payloads[p]) for p in range(len(s.payloads)) if p not in skip]


def _device_a(root: Path) -> Capture:
    """50 Hz, 5 samples per packet, magnetometer, +35 ppm; a lost packet, a corrupted one, a
    garbage line, then a reboot after which ticks and seq restart at 0."""
    rng = np.random.default_rng(21)
    fs, per = 50, 5
    a = simulate_session(
        rng=rng,
        start_utc_s=T0_UTC_S,
        n_packets=1500,
        fs_hz=fs,
        per_packet=per,
        drift_ppm=35.0,
        tick0=987_654_321,
        seq0=65_000,
        with_mag=True,
    )
    off_s = 3.0
    b = simulate_session(
        rng=rng,
        start_utc_s=a.true_t_s[-1] + off_s,
        n_packets=900,
        fs_hz=fs,
        per_packet=per,
        drift_ppm=35.0,
        with_mag=True,
    )
    drop, corrupt = 400, 900
    lines = _lines(a, {drop})
    bad = a.payloads[corrupt][:-3]  # shorter than its header says
    i_corrupt = corrupt - 1  # index in `lines` (one packet before it was dropped)
    lines[i_corrupt] = (float(a.rx_s[corrupt]), bad)
    i_garbage = 1200
    lines.insert(i_garbage, '{"rx": 1711847000.0, "data": "zz-not-hex"}')
    lines += _lines(b, set())
    path = root / "devA.blelog"
    write_blelog(path, device_id="DEV-A", subject_id="P001", placement="occiput", cfg=config(fs), lines=lines)
    keep = np.ones(a.true_t_s.shape[0], dtype=bool)
    keep[a.sample_slice(drop)] = False
    keep[a.sample_slice(corrupt)] = False
    period = 1.0 / fs / (1 + 35e-6)
    return Capture(
        path,
        np.concatenate([a.true_t_s[keep], b.true_t_s]),
        np.concatenate([a.counts[keep, :3], b.counts[:, :3]]),
        [
            (a.true_t_s[drop * per - 1], a.true_t_s[(drop + 1) * per], per, "notifications lost or rejected"),
            (
                a.true_t_s[corrupt * per - 1],
                a.true_t_s[(corrupt + 1) * per],
                per,
                "notifications lost or rejected",
            ),
            (a.true_t_s[-1], b.true_t_s[0], round(off_s / period) - 1, "device reboot"),
        ],
        {
            f"line {i_corrupt + 2}": "packet rejected: shorter than its header says",
            f"line {i_garbage + 2}": "unreadable notification line:",
        },
    )


def _session_b() -> Session:
    rng = np.random.default_rng(22)
    return simulate_session(
        rng=rng, start_utc_s=T0_UTC_S + 10.0, n_packets=1800, fs_hz=100, per_packet=10, drift_ppm=-45.0
    )


def _device_b(root: Path, s: Session, parts: int = 1) -> list[Path]:
    """100 Hz, 10 samples per packet, no magnetometer, -45 ppm; written as ``parts`` captures."""
    lines = _lines(s, set())
    paths = []
    for k, chunk in enumerate(np.array_split(np.arange(len(lines)), parts)):
        path = root / f"devB_{k}.blelog"
        write_blelog(
            path,
            device_id="DEV-B",
            subject_id="P002",
            placement="c7",
            cfg=config(100, 2),
            lines=[lines[i] for i in chunk],
        )
        paths.append(path)
    return paths


def _samples(wh: Warehouse, device_id: str) -> tuple[np.ndarray, np.ndarray]:
    rows = (
        wh.cursor()
        .execute(
            "SELECT epoch_us(t_utc), acc_x_g, acc_y_g, acc_z_g FROM imu_samples WHERE device_id = ? ORDER BY t_utc",
            [device_id],
        )
        .fetchall()
    )
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    return arr[:, 0].astype(np.int64), arr[:, 1:]


def _counts(wh: Warehouse) -> dict[str, int]:
    return {v: wh.count(v) for v in PUBLIC_VIEWS}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("blelog")
    (root / "baseline.csv").write_text(BASELINE)
    cap_a = _device_a(root)
    s_b = _session_b()
    _device_b(root, s_b)
    with open_warehouse(root / "warehouse.duckdb") as wh:
        report = import_paths(wh, [root])
        yield wh, cap_a, s_b, report, root


def test_every_valid_sample_is_stored_exactly_once(imported) -> None:  # type: ignore[no-untyped-def]
    wh, cap_a, s_b, report, _ = imported
    assert report.errors == []
    for dev, truth_t, counts in [
        ("DEV-A", cap_a.true_t_s, cap_a.acc_counts),
        ("DEV-B", s_b.true_t_s, s_b.counts[:, :3]),
    ]:
        t_us, acc = _samples(wh, dev)
        assert t_us.shape[0] == truth_t.shape[0], (
            f"{dev}: stored {t_us.shape[0]} of {truth_t.shape[0]} samples"
        )
        # The same samples, each once (compared as sorted rows: timing is the next test's business).
        stored = acc[np.lexsort(acc.T[::-1])]
        sent = (counts / 4096.0)[np.lexsort((counts / 4096.0).T[::-1])]
        np.testing.assert_allclose(stored, sent, rtol=1e-6, atol=1e-7)
        assert np.unique(t_us).shape[0] == t_us.shape[0]


@pytest.mark.parametrize("device", ["DEV-A", "DEV-B"])
def test_sample_times_are_within_20_ms_of_truth(imported, device: str) -> None:  # type: ignore[no-untyped-def]
    wh, cap_a, s_b, *_ = imported
    truth = cap_a.true_t_s if device == "DEV-A" else s_b.true_t_s
    t_us, _ = _samples(wh, device)
    assert t_us.shape[0] == truth.shape[0]
    err = t_us / 1e6 - truth
    worst = np.abs(err).max() * 1e3
    print(f"{device}: max |error| {worst:.2f} ms, median {np.median(err) * 1e3:.2f} ms")
    late = np.flatnonzero(np.abs(err) >= 0.020)
    assert late.size == 0, (
        f"{device}: {late.size} samples off by >= 20 ms (worst {worst:.1f} ms) at "
        f"{(truth[late] - truth[0]).round(2).tolist()[:10]} s into the capture"
    )


def test_gaps_are_recorded_with_the_missing_samples(imported) -> None:  # type: ignore[no-untyped-def]
    wh, cap_a, *_ = imported
    rows = (
        wh.cursor()
        .execute(
            "SELECT epoch_us(t_from_utc), epoch_us(t_to_utc), missing_samples, reason FROM stream_gaps"
            " WHERE device_id = 'DEV-A' ORDER BY t_from_utc"
        )
        .fetchall()
    )
    assert len(rows) == len(cap_a.gaps), rows
    for (t_from, t_to, missing, reason), (want_from, want_to, want_missing, want_reason) in zip(
        rows, cap_a.gaps, strict=True
    ):
        # A reboot gap is measured between two clock fits: one sample either way is fair.
        slack = 1 if want_reason == "device reboot" else 0
        assert abs(missing - want_missing) <= slack, (reason, missing, want_missing)
        assert reason.startswith(want_reason), reason
        assert abs(t_from / 1e6 - want_from) < 0.020
        assert abs(t_to / 1e6 - want_to) < 0.020
    assert wh.cursor().execute("SELECT count(*) FROM stream_gaps WHERE device_id = 'DEV-B'").fetchone() == (
        0,
    )


def test_corrupted_packet_and_garbage_line_are_quarantined_by_line(imported) -> None:  # type: ignore[no-untyped-def]
    wh, cap_a, *_ = imported
    rows = (
        wh.cursor()
        .execute(
            "SELECT location, reason FROM quarantine WHERE source = ? ORDER BY location", [str(cap_a.path)]
        )
        .fetchall()
    )
    assert {loc for loc, _ in rows} == set(cap_a.quarantined)
    for loc, reason in rows:
        assert reason.startswith(cap_a.quarantined[loc]), (loc, reason)
    assert _counts(wh)["quarantine"] == 2


def test_replaying_twice_changes_nothing(imported) -> None:  # type: ignore[no-untyped-def]
    wh, _, _, _, root = imported
    before = _counts(wh)
    samples = {d: _samples(wh, d)[0] for d in ("DEV-A", "DEV-B")}
    import_paths(wh, [root])
    import_paths(wh, [root / "devA.blelog"])
    assert _counts(wh) == before
    for d, t in samples.items():
        np.testing.assert_array_equal(_samples(wh, d)[0], t)


def test_one_capture_or_split_in_two_stores_the_same_samples(tmp_path: Path) -> None:
    """The same notifications give the same samples however they were captured. Each capture
    re-estimates the device clock from what it holds, so times agree to the 20 ms timing
    tolerance, not to the microsecond (one capture replayed whole is exact: see gateway tests)."""
    s = _session_b()
    (tmp_path / "baseline.csv").write_text(BASELINE)
    whole_dir, split_dir = tmp_path / "whole", tmp_path / "split"
    whole_dir.mkdir()
    split_dir.mkdir()
    _device_b(whole_dir, s, parts=1)
    _device_b(split_dir, s, parts=2)
    results = []
    for d in (whole_dir, split_dir):
        with open_warehouse(tmp_path / f"{d.name}.duckdb") as wh:
            import_paths(wh, [tmp_path / "baseline.csv", d])
            results.append(_samples(wh, "DEV-B"))
    (t_whole, acc_whole), (t_split, acc_split) = results
    assert t_whole.shape == t_split.shape
    assert np.max(np.abs(t_split - t_whole)) < 20_000
    np.testing.assert_array_equal(acc_split, acc_whole)


def test_split_captures_after_the_whole_one_add_no_rows(tmp_path: Path) -> None:
    """The practical face of replay == live: a gateway capture and a re-sent copy in parts dedupe."""
    s = _session_b()
    (tmp_path / "baseline.csv").write_text(BASELINE)
    whole_dir, split_dir = tmp_path / "whole", tmp_path / "split"
    whole_dir.mkdir()
    split_dir.mkdir()
    _device_b(whole_dir, s, parts=1)
    _device_b(split_dir, s, parts=3)
    with open_warehouse(tmp_path / "w.duckdb") as wh:
        import_paths(wh, [tmp_path / "baseline.csv", whole_dir])
        before = _counts(wh)
        import_paths(wh, [split_dir])
        assert _counts(wh) == before

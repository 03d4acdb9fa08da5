"""The fused / single-pass kernels agree with the straightforward computations they replace."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.spatial.transform import Rotation

from features.allocator import keep_freed_memory
from features.angles import (
    _rolling_median,
    _rolling_median_where,
    _upsample_linear,
    bridged_yaw,
    drift_corrected_yaw,
)
from features.autocal import DEFAULT_AUTOCAL, correct_vertical, fit_offset
from features.calibration import _biweighted_scatter, _cross_moment
from features.kinematics import bin_kinematics
from features.order_stats import percentiles_linear
from features.orientation import orientation_bins, orientation_quaternions
from features.posture import FLEXION_THRESHOLDS_DEG, LOAD_THRESHOLD_DEG, NEUTRAL_DEG, posture_features
from features.rom import ROM_SIDES, RomParams, rom_features
from features.synthetic import synthesize
from simulator.imu import render_segment


def _bins(seconds: float = 300.0, fs: float = 50.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    t = np.arange(int(seconds * fs)) / fs
    s = synthesize(
        12 * np.sin(2 * np.pi * t / 40),
        5 * np.sin(2 * np.pi * t / 23),
        30 * np.sin(2 * np.pi * t / 17),
        fs,
        seed=2,
    )
    return s.t_s + 1000.0, s.acc_g, s.gyro_dps, orientation_bins(s.t_s, s.acc_g, s.gyro_dps, bin_s=0.25)


def test_bin_grid_origin_equals_shifted_times() -> None:
    t, acc, gyro, _ = _bins()
    shifted = orientation_bins(t - 1000.0, acc, gyro, bin_s=0.25)
    np.testing.assert_array_equal(orientation_bins(t, acc, gyro, bin_s=0.25, t_origin_s=1000.0), shifted)


def test_autocal_while_finishing_equals_correcting_the_finished_bins() -> None:
    seg = render_segment(np.random.default_rng(5), 3600.0, 50.0, nonwear=True)
    t, acc, gyro = seg.t_s + 500.0, seg.acc_g.astype(np.float32), seg.gyro_dps.astype(np.float32)
    ref = orientation_bins(t, acc, gyro, bin_s=0.25, t_origin_s=500.0)
    offset = fit_offset(ref)
    assert np.linalg.norm(offset) > 1e-3  # the simulator's accelerometer has an offset to fit
    correct_vertical(ref, offset)
    got = orientation_bins(t, acc, gyro, bin_s=0.25, t_origin_s=500.0, autocal=DEFAULT_AUTOCAL)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("hold_s", [0.25, 0.5, 0.75, 1.0])
def test_rom_envelopes_equal_the_rolling_minimum_of_scipy(hold_s: float) -> None:
    rng = np.random.default_rng(1)
    for n in (0, 1, 2, 7, 500):
        planes = [rng.normal(0, 40, n) for _ in range(3)]
        for p in planes:
            p[rng.random(n) < 0.05] = np.nan
        worn = rng.random(n) < 0.9
        got = rom_features(*planes, worn, 0.25, RomParams(hold_s=hold_s))
        hold = max(1, round(hold_s / 0.25))
        for name, plane, sign in ROM_SIDES:
            x = np.where(worn & np.isfinite(planes[plane]), sign * planes[plane], -180.0)
            top = float(minimum_filter1d(x, size=hold, mode="nearest").max()) if n else -180.0
            assert got[f"rom_{name}_deg"] == (top if top > 0 else None)


def _straight_bin_moments(t: np.ndarray, acc: np.ndarray, n_bins: int, t0: float) -> np.ndarray:
    """Columns 11-19 of the bins computed sample by sample with numpy (acc sums, squares, |a|)."""
    b = np.floor((t - t0) / 0.25).astype(np.int64)
    a = acc.astype(np.float64)
    out = np.zeros((n_bins, 9))
    cols = [a[:, 0], a[:, 1], a[:, 2], a[:, 0] ** 2, a[:, 1] ** 2, a[:, 2] ** 2]
    cols += [np.linalg.norm(a, axis=1), (a**2).sum(axis=1), np.ones(len(a))]
    for k, c in enumerate(cols):
        np.add.at(out[:, k], b, c)
    return out


def _mean_sample_matrices(q: np.ndarray, t: np.ndarray, n_bins: int, t0: float) -> np.ndarray:
    mats = Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix().reshape(-1, 9)
    b = np.floor((t - t0) / 0.25).astype(np.int64)
    mean = np.zeros((n_bins, 9))
    for k in range(9):
        np.add.at(mean[:, k], b, mats[:, k])
    return mean / np.maximum(np.bincount(b, minlength=n_bins), 1)[:, None]


def test_bin_moments_and_mean_rotation_match_the_samples() -> None:
    t, acc, gyro, bins = _bins(120.0)
    t0 = 1000.0
    np.testing.assert_allclose(
        bins[:, 11:20], _straight_bin_moments(t, acc, bins.shape[0], t0), rtol=1e-9, atol=1e-9
    )
    # the bin's rotation (from its summed quaternions) against the mean of its samples' matrices
    q = orientation_quaternions(acc, gyro, 50.0, t_s=t - t0)
    mean = _mean_sample_matrices(q, t, bins.shape[0], t0)
    assert np.abs(bins[:, 0:9] - mean).max() < 2e-3  # the two means agree to second order


def test_timestamps_that_go_back_are_merged_into_their_bins() -> None:
    t, acc, gyro, _ = _bins(60.0)
    # a re-sent stretch: samples 1000-1500 again after sample 2000 (their bins get a second visit)
    idx = np.r_[0:2000, 1000:1500, 2000 : len(t)]
    bins = orientation_bins(t[idx], acc[idx], gyro[idx], bin_s=0.25, t_origin_s=1000.0)
    ref = _straight_bin_moments(t[idx], acc[idx], bins.shape[0], 1000.0)
    np.testing.assert_allclose(bins[:, 11:20], ref, rtol=1e-9, atol=1e-9)
    q = orientation_quaternions(acc[idx], gyro[idx], 50.0, t_s=t[idx] - 1000.0)
    mean = _mean_sample_matrices(q, t[idx], bins.shape[0], 1000.0)
    assert np.abs(bins[:, 0:9] - mean).max() < 2e-3


def test_a_bin_revisited_after_a_full_turn_keeps_its_rotation() -> None:
    # a steady 90 deg/s turn about the vertical: after 4 s (360 deg) the filter's quaternion has
    # changed sign; then the first 13 samples are re-sent (their bins 0-1 get a second visit)
    fs = 50.0
    n = 400
    t = np.arange(n) / fs
    acc = np.tile([0.0, 0.0, 1.0], (n, 1))
    gyro = np.tile([0.0, 0.0, 90.0], (n, 1))
    idx = np.r_[0:200, 0:13, 200:n]
    bins = orientation_bins(t[idx], acc[idx], gyro[idx], bin_s=0.25)
    q = orientation_quaternions(acc[idx], gyro[idx], fs, t_s=t[idx])
    mean = _mean_sample_matrices(q, t[idx], bins.shape[0], 0.0)
    # bin 0 spans 0-22 deg of yaw on both visits (with the visits' sums cancelling: -170 deg)
    assert np.abs(bins[:, 0:9] - mean).max() < 0.02


def test_rolling_median_over_a_stretch_equals_the_whole_segment() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(5, 5000))
        y = np.cumsum(rng.normal(0, 1, n))
        where = np.zeros(n, dtype=bool)
        a = int(rng.integers(0, n))
        b = int(rng.integers(a, n)) + 1
        where[a:b] = rng.random(b - a) < 0.5
        if not where.any():
            continue
        window_s = float(rng.choice([5.0, 30.0, 120.0]))
        np.testing.assert_allclose(
            _rolling_median_where(y, where, 0.25, window_s),
            _rolling_median(y, 0.25, window_s)[where],
            rtol=0,
            atol=1e-12,
        )


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = np.concatenate([[False], mask, [False]])
    d = np.flatnonzero(m[1:] != m[:-1])
    return d[0::2], d[1::2]


def _drift_corrected_yaw_numpy(yaw: np.ndarray, idx: np.ndarray, bin_s: float) -> np.ndarray:
    """The numpy/scipy statement of the drift correction (defaults: still below 2 deg/s for >= 2 s,
    0.5 s trimmed, weights tapered over 6 s at both ends of a run, a 30-s moving average) that the
    compiled kernel replaces."""
    dt_s = np.diff(idx) * bin_s
    rate = np.diff(yaw) / dt_s
    s, e = _runs((np.abs(rate) < 2.0) & (dt_s <= 1.01 * bin_s))
    keep = (e - s) >= 8
    weight = np.zeros(rate.size)
    for a, b in zip(s[keep] + 2, e[keep] - 2, strict=True):
        pos = np.arange(1.0, b - a + 1.0)
        weight[a:b] = np.minimum(1.0, np.minimum(pos, pos[::-1]) / 24.0)
    num = uniform_filter1d(weight * rate, 120, mode="nearest")
    den = uniform_filter1d(weight, 120, mode="nearest")
    good = den > 0.05
    if not good.any():
        return yaw.copy()
    drift = np.divide(num, den, out=np.zeros_like(num), where=good)
    gap = np.flatnonzero(~good)
    drift[gap] = np.interp(gap, np.flatnonzero(good), drift[good])
    return yaw - np.concatenate([[0.0], np.cumsum(drift * dt_s)])


def test_drift_correction_kernel_equals_the_numpy_statement() -> None:
    rng = np.random.default_rng(1)
    for n in [2, 3, 5, 12, *rng.integers(10, 4000, 100).tolist()]:
        idx = np.cumsum(rng.choice([1, 1, 1, 1, 1, 1, 1, 2, 3], n)).astype(np.int64)
        rate = np.where(rng.random(n) < 0.02, rng.normal(0, 60, n), 0.0)
        yaw = np.cumsum((np.convolve(rate, np.ones(8))[:n] + rng.normal(0.3, 0.3, n)) * 0.25)
        np.testing.assert_allclose(
            drift_corrected_yaw(yaw, idx, 0.25), _drift_corrected_yaw_numpy(yaw, idx, 0.25), rtol=0, atol=1e-9
        )


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        line = next(ln for ln in f if ln.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024.0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt, /proc")
def test_freed_memory_is_kept_for_reuse() -> None:
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # idempotent
    # a 40-MB array, touched then freed, stays resident for the next one (by default glibc
    # unmaps it: the resident set drops by 38 MB)
    a = np.ones(5_000_000)
    before = _rss_mb()
    del a
    assert before - _rss_mb() < 5.0


def test_a_turn_lost_in_a_gap_is_bridged_from_the_rates_on_either_side() -> None:
    # a steady 40 deg/s turn; bins 10-13 are lost (1 s): the filter saw none of the turn there,
    # so the yaw after the gap is short by 4 steps x 10 deg
    idx = np.r_[0:10, 14:30].astype(np.int64)
    true_yaw = 10.0 * idx  # 40 deg/s at 0.25-s bins
    seen = np.where(idx >= 14, true_yaw - 40.0, true_yaw)
    yaw, var = bridged_yaw(seen, idx, 0.25)
    np.testing.assert_allclose(yaw, true_yaw, atol=1e-9)
    # the bridge's uncertainty, (step duration 1.25 s x the faster adjacent rate)^2, from the gap on
    np.testing.assert_allclose(var, np.where(idx >= 14, (1.25 * 40.0) ** 2, 0.0))
    # no gap: unchanged, no uncertainty
    y2, v2 = bridged_yaw(true_yaw[:10], idx[:10], 0.25)
    np.testing.assert_array_equal(y2, true_yaw[:10])
    assert not v2.any()


def test_posture_pass_equals_the_numpy_statement() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 7, 5000, 40000):
        flex = np.cumsum(rng.normal(0, 2, n)) % 90 - 20
        flex[rng.random(n) < 0.05] = np.nan
        # values exactly on every boundary (thresholds are strict, neutral is inclusive)
        edges = [NEUTRAL_DEG[0], NEUTRAL_DEG[1], LOAD_THRESHOLD_DEG, *FLEXION_THRESHOLDS_DEG]
        flex[rng.random(n) < 0.05] = rng.choice(edges)
        worn = rng.random(n) < 0.9
        got = posture_features(flex, np.zeros(n), np.zeros(n), worn, 0.25)
        f = flex[worn & np.isfinite(flex)]
        if f.size == 0:
            assert got == {}
            continue
        worn_s = f.size * 0.25
        for thr in FLEXION_THRESHOLDS_DEG:
            assert got[f"flexion_gt{thr}_min"] == pytest.approx(float((f > thr).sum()) * 0.25 / 60.0)
            assert got[f"flexion_gt{thr}_pct"] == pytest.approx(
                100.0 * float((f > thr).sum()) * 0.25 / worn_s
            )
        assert [got["flexion_p10_deg"], got["flexion_p50_deg"], got["flexion_p90_deg"]] == pytest.approx(
            np.percentile(f, [10, 50, 90]).tolist()
        )
        load = float(np.clip(f - LOAD_THRESHOLD_DEG, 0, None).sum()) * 0.25 / 3600.0
        assert got["flexion_load_deg_h"] == pytest.approx(load, rel=1e-12)
        neutral = 100.0 * float(((f >= NEUTRAL_DEG[0]) & (f <= NEUTRAL_DEG[1])).mean())
        assert got["neutral_pct"] == pytest.approx(neutral)


def test_calibration_kernels_equal_the_numpy_statements() -> None:
    rng = np.random.default_rng(4)
    w = rng.normal(0, 1, (5000, 3)) * [1.0, 0.6, 0.08]  # nods and side bends: a flat cloud of axes
    z = np.array([0.05, -0.02, 1.0]) / np.linalg.norm([0.05, -0.02, 1.0])
    sin_c = np.sin(np.radians(5.0))
    r = np.abs(w @ z) / (np.linalg.norm(w, axis=1) * sin_c)
    wt = np.where(r < 1.0, (1.0 - r * r) ** 2, 0.0)
    assert 0 < np.count_nonzero(wt) < w.shape[0]  # some steps are weighted out
    scatter, k = _biweighted_scatter(w, z, 1.0 / sin_c)
    np.testing.assert_allclose(scatter, (w * wt[:, None]).T @ w, rtol=1e-12)
    assert k == np.count_nonzero(wt)
    e1 = np.array([1.0, 0.0, 0.0])
    e2 = np.array([0.0, 1.0, 0.0])
    a, b = w @ e1, w @ e2
    energy = a * a + b * b
    ref = np.sum(energy * np.exp(4j * np.arctan2(b, a)))
    re, im, en = _cross_moment(w, e1, e2)
    np.testing.assert_allclose([re, im, en], [ref.real, ref.imag, energy.sum()], rtol=1e-10)


def test_regular_grid_upsampling_equals_np_interp() -> None:
    rng = np.random.default_rng(6)
    for _ in range(300):
        step = int(rng.integers(1, 30))
        n = int(rng.integers(1, 400))
        coarse = rng.normal(0, 50, len(range(0, n, step)))
        out = np.empty(n)
        _upsample_linear(coarse, step, n, out)
        np.testing.assert_array_equal(out, np.interp(np.arange(n), np.arange(0, n, step), coarse))


def test_percentiles_equal_numpy() -> None:
    rng = np.random.default_rng(8)
    for trial in range(500):
        n = int(rng.integers(1, 3000))
        x = rng.normal(0, 30, n)
        if trial % 3 == 0:
            x = np.round(x)  # ties
        q = [0.0, 100.0, 50.0, 10.0, 90.0, 99.0] if trial % 5 == 0 else list(rng.uniform(0, 100, 3))
        np.testing.assert_allclose(percentiles_linear(x, q), np.percentile(x, q), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="empty"):
        percentiles_linear(np.array([]), [50])


def test_kinematics_equal_the_numpy_statement() -> None:
    *_, bins = _bins()
    bins[100:104, 19] = 0.0  # a gap: those bins, and the step after it, have no kinematics
    got = bin_kinematics(bins, 0.25)
    r = bins[:, :9].reshape(-1, 3, 3)
    has = bins[:, 19] > 0
    up = r[:, 2] / np.linalg.norm(r[:, 2], axis=1, keepdims=True)
    rel = np.einsum("bji,bjk->bik", r[:-1], r[1:])  # R_{b-1}^T R_b
    cos = np.clip((np.trace(rel, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)
    rate = np.r_[np.nan, np.degrees(np.arccos(cos)) / 0.25]
    rate[~has | ~np.r_[False, has[:-1]]] = np.nan
    np.testing.assert_array_equal(got.present, has)
    np.testing.assert_allclose(got.up[has], up[has], rtol=0, atol=1e-12)
    assert np.isnan(got.up[~has]).all()
    np.testing.assert_allclose(got.rate_dps, rate, rtol=0, atol=1e-6, equal_nan=True)

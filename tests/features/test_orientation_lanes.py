"""The orientation filter as SIMD lanes over time chunks (features/_orientation_lanes.c) against
the scalar loop it reproduces (features.orientation._run)."""

from __future__ import annotations

import numpy as np
import pytest

from features import orientation as O  # noqa: N812
from features.synthetic import mounting_from_euler, synthesize
from simulator.imu import render_segment

pytestmark = pytest.mark.skipif(O._orientation_lanes is None, reason="extension not built (make install)")

BIN_S = 0.25


@pytest.fixture(autouse=True)
def _lanes_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    # the lanes are tested on every machine, also where orientation_bins would not pick them
    # (no AVX-512: the scalar loop is faster there)
    monkeypatch.setattr(O, "LANES_FASTER", True)


def _recording(hours: float, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # as the pipeline loads them: float32 samples, seconds since local midnight (start 07:00)
    s = render_segment(np.random.default_rng(seed), hours * 3600.0, 50.0, nonwear=True)
    return s.t_s + 7 * 3600.0, s.acc_g.astype(np.float32), s.gyro_dps.astype(np.float32)


def _bins(t: np.ndarray, acc: np.ndarray, gyro: np.ndarray, lanes: int) -> np.ndarray:
    lo = int(t.min() / BIN_S)
    n_bins = int(t.max() / BIN_S) + 1 - lo
    return O.orientation_bins(t, acc, gyro, bin_s=BIN_S, n_bins=n_bins, t_origin_s=lo * BIN_S, lanes=lanes)


def _one_chunk(t: np.ndarray, acc: np.ndarray, gyro: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The C kernel with one lane (no joins) and the scalar loop, from the same initial bias."""
    lo = int(t.min() / BIN_S)
    n_bins = int(t.max() / BIN_S) + 1 - lo
    pr = O._params_array(O.DEFAULT_FILTER, t)
    bias = O._warm_bias(t, acc, gyro, pr, 60.0, 3.0)
    ref = np.zeros((n_bins, O.N_COLS), order="F")
    O._run(t, acc, gyro, pr, lo * BIN_S, BIN_S, ref, np.empty((0, 4)), bias.copy())
    O._finish_bins(ref, 0.0, 0.0, 0.0, False)
    one = np.zeros((n_bins, O.N_COLS), order="F")
    ok, _ = O._run_lanes(t, acc, gyro, pr, lo * BIN_S, BIN_S, one, bias.copy(), 1)
    assert ok
    O._finish_bins(one, 0.0, 0.0, 0.0, False)
    return one, ref


def _assert_same_bins(a: np.ndarray, b: np.ndarray) -> None:
    # The same arithmetic in the same order, up to rounding: GCC contracts a * b + c into one
    # fused multiply-add where numba (fastmath) contracts and reassociates its own way, and the
    # heading integrates those differences: rotation entries within 5e-8 (3e-6 deg; measured up
    # to 1.2e-8 over 30 min, 7e-10 on the bench day). Sums of squared acceleration (14-18):
    # numba's fastmath squares float32 samples in float32 (2e-8 relative), C in float64.
    np.testing.assert_allclose(a[:, :9], b[:, :9], rtol=0, atol=5e-8)
    np.testing.assert_allclose(a[:, 9:14], b[:, 9:14], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a[:, 14:19], b[:, 14:19], rtol=1e-6)
    np.testing.assert_array_equal(a[:, 19], b[:, 19])


def _angles_deg(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per bin with data: the angle between the two bins' rotations, and between their
    inclinations (earth 'up' in sensor coordinates: the heading left out)."""
    m = (a[:, 19] > 0) & (b[:, 19] > 0)
    ra = a[m, :9].reshape(-1, 3, 3)
    rb = b[m, :9].reshape(-1, 3, 3)
    rel = np.einsum("nij,nkj->nik", ra, rb)
    total = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)))
    tilt = np.degrees(np.arccos(np.clip(np.einsum("ni,ni->n", ra[:, 2], rb[:, 2]), -1.0, 1.0)))
    return total, tilt


def test_one_chunk_equals_the_scalar_loop() -> None:
    t, acc, gyro = _recording(1.0)
    one, ref = _one_chunk(t, acc, gyro)
    _assert_same_bins(one, ref)


def test_one_chunk_equals_the_scalar_loop_with_gaps_and_time_going_back() -> None:
    t, acc, gyro = _recording(0.5, seed=7)
    keep = np.ones(t.size, bool)
    keep[20_000:20_040] = False  # 0.8-s gap: re-convergence
    keep[50_000:55_000] = False  # 100-s gap
    t, acc, gyro = t[keep], acc[keep], gyro[keep]
    t[60_000:60_300] -= 20.0  # a stretch sent again 20 s late: its bins are revisited
    one, ref = _one_chunk(t, acc, gyro)
    assert (np.diff(t) < 0).any()
    _assert_same_bins(one, ref)


def _lanes_run(
    t: np.ndarray, acc: np.ndarray, gyro: np.ndarray, n_lanes: int
) -> tuple[np.ndarray, bool, float]:
    lo = int(t.min() / BIN_S)
    n_bins = int(t.max() / BIN_S) + 1 - lo
    pr = O._params_array(O.DEFAULT_FILTER, t)
    bias = O._warm_bias(t, acc, gyro, pr, 60.0, 3.0)
    out = np.zeros((n_bins, O.N_COLS), order="F")
    ok, drift_dps = O._run_lanes(t, acc, gyro, pr, lo * BIN_S, BIN_S, out, bias, n_lanes)
    O._finish_bins(out, 0.0, 0.0, 0.0, False)
    return out, ok, drift_dps


def _joins(t: np.ndarray, n_lanes: int) -> np.ndarray:
    """First sample of each lane's own part after the first (as _run_lanes lays them out)."""
    dt = (t[-1] - t[0]) / (t.size - 1)
    pr = O._params_array(O.DEFAULT_FILTER, t)
    _, own, _, _ = O._lane_layout(t.size, n_lanes, round(O.LANE_WARMUP_S / dt), O._block_period(t, pr))
    return own[1:]


def _assert_close_to_scalar(lanes: np.ndarray, scalar: np.ndarray) -> None:
    """Lanes vs the scalar loop: a lane is the same filter started 15 min early from the
    recording's first gyro bias and the accelerometer's tilt. Tilt converges within seconds, so
    the inclination agrees to rounding once converged (0.001 deg measured); the heading is taken
    over from the lane before at the join, and what the lane's bias still differs from the scalar
    filter's (at most LANE_JOIN_DRIFT_MAX_DPS of heading rate at the join) turns it until the
    next rests: 0.13 deg at most over 3 h and 4 joins in the recording below. Bounds: 0.05 deg
    tilt, 0.5 deg rotation, the angular speed (bias difference) 0.01 deg/s."""
    total, tilt = _angles_deg(lanes, scalar)
    assert tilt.max() < 0.05
    assert total.max() < 0.5
    np.testing.assert_allclose(lanes[:, 9:11], scalar[:, 9:11], atol=0.01)
    np.testing.assert_allclose(lanes[:, 11:19], scalar[:, 11:19], rtol=1e-6)
    np.testing.assert_array_equal(lanes[:, 19], scalar[:, 19])


def test_lanes_agree_with_the_scalar_loop_over_hours() -> None:
    t, acc, gyro = _recording(3.0, seed=6)
    n_lanes = O.lane_count(t)
    assert n_lanes == 5
    lanes, ok, drift_dps = _lanes_run(t, acc, gyro, n_lanes)
    assert ok and drift_dps <= O.LANE_JOIN_DRIFT_MAX_DPS  # the lanes' result, not the fallback's
    _assert_close_to_scalar(lanes, _bins(t, acc, gyro, lanes=1))
    np.testing.assert_array_equal(_bins(t, acc, gyro, lanes=None), lanes)


def test_a_bin_straddling_a_join_gets_both_lanes_samples() -> None:
    t, acc, gyro = _recording(3.0, seed=6)
    t = t + 0.13  # the bin grid no longer starts at a sample: joins fall inside bins
    joins = _joins(t, 5)
    lo = int(t.min() / BIN_S)
    b = (t[joins] / BIN_S).astype(int) - lo
    assert ((t[joins - 1] / BIN_S).astype(int) - lo == b).all()  # the sample before is in the same bin
    lanes, ok, _ = _lanes_run(t, acc, gyro, 5)
    scalar = _bins(t, acc, gyro, lanes=1)
    assert ok
    np.testing.assert_array_equal(lanes[b, 19], scalar[b, 19])
    _assert_close_to_scalar(lanes[b], scalar[b])


def test_a_gap_at_a_join() -> None:
    t, acc, gyro = _recording(3.0, seed=6)
    # a 3-s gap (the filter re-converges after it) right at the second lane's first sample (the
    # layout depends on the number of samples and the span, wherever the gap is)
    span = t.copy()
    span[-1] += 3.0
    j = _joins(span, 5)[0]
    t[j:] += 3.0
    assert _joins(t, 5)[0] == j
    assert t[j] - t[j - 1] > 3.0
    lanes, ok, drift_dps = _lanes_run(t, acc, gyro, 5)
    assert ok and drift_dps <= O.LANE_JOIN_DRIFT_MAX_DPS
    _assert_close_to_scalar(lanes, _bins(t, acc, gyro, lanes=1))


def test_time_going_back_across_a_join_falls_back_to_the_scalar_loop() -> None:
    t, acc, gyro = _recording(3.0, seed=6)
    j = _joins(t, 5)[1]
    t[j : j + 100] -= 60.0  # 2 s re-sent a minute late, into the lane before's bins
    _, ok, _ = _lanes_run(t, acc, gyro, 5)
    assert not ok
    np.testing.assert_array_equal(_bins(t, acc, gyro, lanes=None), _bins(t, acc, gyro, lanes=1))


def test_time_going_back_inside_a_lane_stays_in_lanes() -> None:
    t, acc, gyro = _recording(3.0, seed=6)
    j = _joins(t, 5)[1] + 50_000  # 1000 s into a 1980-s part, after the next lane's warm-up began
    t[j : j + 100] -= 60.0
    lanes, ok, _ = _lanes_run(t, acc, gyro, 5)
    assert ok
    _assert_close_to_scalar(lanes, _bins(t, acc, gyro, lanes=1))


def test_a_short_recording_uses_the_scalar_loop() -> None:
    t, acc, gyro = _recording(0.9)
    assert O.lane_count(t) == 1
    np.testing.assert_array_equal(_bins(t, acc, gyro, lanes=None), _bins(t, acc, gyro, lanes=1))
    assert O.lane_count(_recording(1.1)[0]) == 2


@pytest.mark.parametrize("pitch_deg", [0.0, 60.0])
def test_a_lane_that_learnt_another_bias_than_the_lane_before_sends_the_recording_to_the_scalar_loop(
    pitch_deg: float,
) -> None:
    # 2.5 h of a slow circling tilt (the vertical moves at 1 deg/s all the time: never a rest) except one still
    # minute at 30 min, after the gyro's vertical bias stepped by 0.5 deg/s: the first lane
    # learns the new bias at that rest, the later lanes' warm-ups have no rest and keep the
    # recording's first bias
    fs = 50.0
    t = np.arange(int(2.5 * 3600 * fs)) / fs
    moving = np.clip((np.abs(t - 1830.0) - 30.0) / 10.0, 0.0, 1.0)  # still 1800-1860 s, 10-s ramps
    flex = moving * 10.0 * np.sin(2 * np.pi * t / 60.0)
    lat = moving * 10.0 * np.cos(2 * np.pi * t / 60.0)
    # the step is on the sensor's x axis; pitched 60 deg, only its component along the vertical
    # (the sensor's 'up', the mounting's third row) turns the heading
    mount = mounting_from_euler(0.0, pitch_deg, 0.0)
    s = synthesize(flex, lat, np.zeros_like(t), fs, mount=mount, seed=3)
    gyro = s.gyro_dps.copy()
    axis = 2 if pitch_deg == 0.0 else 0
    gyro[t >= 1500.0, axis] += 0.5
    t_s = s.t_s + 7 * 3600.0
    n_lanes = O.lane_count(t_s)
    assert n_lanes == 4
    _, ok, drift_dps = _lanes_run(t_s, s.acc_g, gyro, n_lanes)
    assert ok
    if pitch_deg == 0.0:
        np.testing.assert_allclose(drift_dps, 0.5, atol=0.05)
    else:
        # at most the step's vertical component (0.43 deg/s; the circling head's tilt lets the
        # integral action teach the later lanes part of it: 0.35 measured)
        assert 0.25 < drift_dps <= 0.5 * abs(mount[2, axis]) + 0.01
    np.testing.assert_array_equal(_bins(t_s, s.acc_g, gyro, lanes=None), _bins(t_s, s.acc_g, gyro, lanes=1))
    # the same recording without the step: what differs is the integral action's share of an
    # endlessly moving head, a tenth of the step
    _, ok, drift_dps = _lanes_run(t_s, s.acc_g, s.gyro_dps, n_lanes)
    assert ok and drift_dps < 0.05


@pytest.mark.parametrize("n_lanes", [1, 3])
def test_rows_never_stored_are_not_read(n_lanes: int) -> None:
    # orientation_bins zeroes only the count column: a stretch sent again later whose first bins
    # were never stored (a gap before it) must not merge with what the memory held
    t, acc, gyro = _recording(2.0, seed=8)
    keep = np.ones(t.size, bool)
    keep[200_000:200_600] = False  # 12 s never sent ...
    t, acc, gyro = t[keep], acc[keep], gyro[keep]
    t[250_000:250_300] -= (t[250_000] - t[199_990]) - 2.0  # ... until this 6-s stretch, 2 s into the gap
    assert (np.diff(t) < 0).any()
    lo = int(t.min() / BIN_S)
    n_bins = int(t.max() / BIN_S) + 1 - lo
    pr = O._params_array(O.DEFAULT_FILTER, t)
    bias = O._warm_bias(t, acc, gyro, pr, 60.0, 3.0)
    runs = []
    for fill in (0.0, np.nan):
        out = np.full((n_bins, O.N_COLS), fill, order="F")
        out[:, 19] = 0.0
        if n_lanes == 1:
            O._run(t, acc, gyro, pr, lo * BIN_S, BIN_S, out, np.empty((0, 4)), bias.copy())
        else:
            ok, _ = O._run_lanes(t, acc, gyro, pr, lo * BIN_S, BIN_S, out, bias.copy(), n_lanes)
            assert ok
        assert O._finish_bins(out, 0.0, 0.0, 0.0, False) > 0  # the gap's rest stays empty
        O._zero_empty_rows(out)  # as orientation_bins does
        runs.append(out)
    assert np.isfinite(runs[1]).all()
    np.testing.assert_array_equal(runs[1], runs[0])


@pytest.mark.parametrize("lanes", [None, 1])
def test_bins_without_samples_are_zero(monkeypatch: pytest.MonkeyPatch, lanes: int | None) -> None:
    # what the memory held is NaN here (np.empty may hand out zeros, which would hide it)
    monkeypatch.setattr(O, "_unzeroed_bins", lambda n: np.full((n, O.N_COLS), np.nan, order="F"))
    t, acc, gyro = _recording(1.5, seed=9)
    keep = np.ones(t.size, bool)
    keep[100_000:103_000] = False  # a minute without data
    bins = _bins(t[keep], acc[keep], gyro[keep], lanes=lanes)
    empty = bins[:, 19] == 0
    assert empty.sum() >= 235
    assert np.isfinite(bins).all()
    assert not bins[empty].any()


def _lane_layout_is_valid(n: int, n_lanes: int, warm_n: int, period: int) -> bool:
    """What run_lanes checks of a layout (it raises ValueError otherwise), and a warm-up of at
    least one sample before every later lane's own part (its join state is captured there)."""
    start, own, end, m = O._lane_layout(n, n_lanes, warm_n, period)
    lanes = len(start)
    return bool(
        m >= 1
        and (start >= 0).all()
        and (start + m <= n).all()
        and (own > start)[1:].all()
        and (end > own).all()
        and (end <= start + m).all()
        and (end[:-1] == own[1:]).all()
        and end[-1] == n
        and (start % period == 0).all()
        and (lanes == 1 or (own[1:] % period == 0).all())
    )


def test_every_lane_layout_is_one_run_lanes_accepts() -> None:
    # the lanes' own parts used to be rounded so that a middle lane could need a sample more
    # than the last lane runs (m): run_lanes then raised ValueError for about 1 in 10 recordings
    # at 10-12.5 Hz, and for some at 50 Hz with gaps (a longer mean interval, a shorter period)
    rng = np.random.default_rng(0)
    for _ in range(20_000):
        n = int(rng.integers(2, 400_000))
        n_lanes = int(rng.integers(2, O.MAX_LANES + 1))
        period = int(rng.choice([1, 5, 6, 12, 25, 50]))
        warm_n = int(rng.integers(0, 50_000))
        assert _lane_layout_is_valid(n, n_lanes, warm_n, period), (n, n_lanes, warm_n, period)


@pytest.mark.parametrize(
    ("t", "what"),
    [
        (7 * 3600.0 + np.arange(int(8008.16 * 12.5) + 1) / 12.5, "12.5 Hz, 2.2 h: four lanes"),
        (np.arange(100) * 60.0, "one sample a minute for 99 min: three lanes"),
    ],
)
def test_recordings_whose_lanes_did_not_fit_are_filtered(t: np.ndarray, what: str) -> None:
    acc = np.zeros((t.size, 3), np.float32)
    acc[:, 2] = 1.0
    gyro = np.zeros((t.size, 3), np.float32)
    assert O.lane_count(t) > 1, what
    lo = int(t[0] / BIN_S)
    got = O.orientation_bins(t, acc, gyro, bin_s=BIN_S, t_origin_s=lo * BIN_S)  # raised ValueError
    np.testing.assert_array_equal(got[:, 19], _bins(t, acc, gyro, lanes=1)[:, 19])


def test_more_lanes_than_a_short_recording_holds() -> None:
    t, acc, gyro = _recording(0.2)
    # 12 min with an explicit lanes=2: the layout's joins lay beyond the last sample (IndexError)
    np.testing.assert_array_equal(_bins(t, acc, gyro, lanes=2)[:, 19], _bins(t, acc, gyro, lanes=1)[:, 19])


def test_a_lane_without_warm_up_joins_with_its_initial_state() -> None:
    # run_lanes accepts a lane whose own part starts at its first sample (own == start); its
    # state at the join is then its initial one (q from the tilt, the initial bias), which it
    # used to leave uninitialised (valgrind: stitch and max_join_drift_dps read it)
    assert O._orientation_lanes is not None
    n, j = 2000, 1000
    t = np.arange(n) / 32.0  # dt exact whatever the span (the lanes' span and the reference's differ)
    acc = np.zeros((n, 3))
    acc[:, 2] = 1.0
    gyro = np.zeros((n, 3))
    pr = O._params_array(O.DEFAULT_FILTER, t)
    b0 = np.array([0.0, 0.0, 0.02])  # rad/s about the vertical; the rest teaches lane 0 zero

    def lanes(own1: int, start1: int, g: np.ndarray) -> tuple[bool, float]:
        out = np.zeros((int(t[-1] / BIN_S) + 1, O.N_COLS), order="F")
        return O._orientation_lanes.run_lanes(
            t, acc, g, False, pr, 0.0, BIN_S, out.T, out.shape[0], b0.copy(),
            np.array([0, start1], np.int64), np.array([0, own1], np.int64), np.array([own1, n], np.int64),
            np.array([int(t[own1] / BIN_S), 0], np.int64), n - start1,
        )  # fmt: skip

    lanes(j, j - 500, np.tile([0.0, 0.0, 30.0], (n, 1)))  # another state left on the stack
    lane0_bias = b0.copy()
    O._run(t[:j], acc[:j], gyro[:j], pr, 0.0, BIN_S, np.zeros((0, O.N_COLS)), np.empty((0, 4)), lane0_bias)
    ok, drift_dps = lanes(j, j, gyro)
    assert ok
    assert drift_dps == pytest.approx(np.degrees(abs(b0[2] - lane0_bias[2])), rel=1e-6)


def test_one_chunk_aligns_the_hemisphere_of_a_revisited_bin() -> None:
    # a steady 90 deg/s turn about the vertical; samples 13-39 (bins 1-3) re-sent after 5 s:
    # the filter's quaternion there is in the other hemisphere than on the first visit (450 deg
    # on), so add_bin must turn the revisit's sum before adding it, as _flush_bin does (without
    # that the visits' sums cancel; no other test of the lanes has such a revisit)
    fs = 50.0
    n = 600
    idx = np.r_[0:250, 13:40, 250:n]
    t = (np.arange(n) / fs)[idx]
    acc = np.tile([0.0, 0.0, 1.0], (idx.size, 1))
    gyro = np.tile([0.0, 0.0, 90.0], (idx.size, 1))
    one, ref = _one_chunk(t, acc, gyro)
    assert ref[1:3, 19].min() > 20  # the bins re-sent hold both visits
    _assert_same_bins(one, ref)


def test_a_nan_timestamp_at_a_join_falls_back_to_the_scalar_loop() -> None:
    fs = 50.0
    n = int(2.5 * 3600 * fs)
    t = np.arange(n) / fs
    acc = np.zeros((n, 3), np.float32)
    acc[:, 2] = 1.0
    gyro = np.zeros((n, 3), np.float32)
    pr = O._params_array(O.DEFAULT_FILTER, t)
    _, own, _, _ = O._lane_layout(
        n, O.lane_count(t), round(O.LANE_WARMUP_S / (1 / fs)), O._block_period(t, pr)
    )
    t[own[1]] = np.nan  # raised "cannot convert float NaN to integer"
    np.testing.assert_array_equal(
        O.orientation_bins(t, acc, gyro, bin_s=BIN_S)[:, 19],
        O.orientation_bins(t, acc, gyro, bin_s=BIN_S, lanes=1)[:, 19],
    )


def test_a_nan_join_drift_is_never_hidden_by_a_later_join() -> None:
    # a NaN gyro sample in the first lane's own part makes its join drift NaN; with 3 lanes the
    # second join is finite and used to overwrite it, so the lanes' NaN bins were accepted
    t, acc, gyro = _recording(2.0, seed=8)
    gyro = gyro.copy()
    gyro[40_000] = np.nan
    _, _, drift_dps = _lanes_run(t, acc, gyro, 3)
    assert not drift_dps <= O.LANE_JOIN_DRIFT_MAX_DPS, drift_dps  # NaN: the scalar loop runs


@pytest.mark.parametrize("n", [0, 1, 2])
def test_explicit_lanes_on_a_few_samples_run_the_scalar_loop(n: int) -> None:
    t, acc, gyro = (a[:n] for a in _recording(1.1, seed=9))
    got = O.orientation_bins(t, acc, gyro, bin_s=BIN_S, n_bins=4, t_origin_s=7 * 3600.0, lanes=2)
    ref = O.orientation_bins(t, acc, gyro, bin_s=BIN_S, n_bins=4, t_origin_s=7 * 3600.0, lanes=1)
    np.testing.assert_array_equal(got, ref)  # raised IndexError / ValueError


def test_a_nan_last_timestamp_runs_the_scalar_loop() -> None:
    t, acc, gyro = _recording(1.1, seed=10)
    t = t.copy()
    t[-1] = np.nan
    assert O.lane_count(t) == 1
    lo = int(t[0] / BIN_S)
    kw = {"bin_s": BIN_S, "n_bins": int(t[-2] / BIN_S) + 1 - lo, "t_origin_s": lo * BIN_S}
    got = O.orientation_bins(t, acc, gyro, lanes=4, **kw)  # raised "cannot convert float NaN to integer"
    np.testing.assert_array_equal(got, O.orientation_bins(t, acc, gyro, lanes=1, **kw))


def test_run_lanes_rejects_buffers_of_the_wrong_type() -> None:
    t, acc, gyro = _recording(1.1, seed=11)
    pr = O._params_array(O.DEFAULT_FILTER, t)
    out = np.zeros((100, O.N_COLS))
    one = np.zeros(1, np.int64)
    args = [t, acc.astype(np.int64), gyro.astype(np.float64), False, pr, 0.0, BIN_S, out, 100, np.zeros(3)]
    with pytest.raises(TypeError, match="acc must hold 8-byte floats"):
        O._orientation_lanes.run_lanes(*args, one, one, one, one, 10)
    args[1] = acc.astype(np.float64)
    with pytest.raises(TypeError, match="start must hold 8-byte integers"):
        O._orientation_lanes.run_lanes(*args, np.zeros(2, np.int32), one, one, one, 10)

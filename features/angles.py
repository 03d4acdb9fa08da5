"""Clinical head angles from the fused orientation and the mounting calibration.

Conventions (SPEC contract 1): head frame x anterior, y left, z superior. Angles are the
aerospace z-y-x Euler angles of the head relative to an earth frame with z up:
``R_head = Rz(-rotation) @ Ry(flexion) @ Rx(lateral)``, so flexion (chin down) is +, extension -,
right lateral flexion +, right rotation +. Flexion and lateral flexion are referenced to gravity
and do not drift; rotation has no gravity reference: it is an excursion from the straight-ahead
heading of the donning's quiet neutral hold, carried on a drift-corrected heading and, as the
carried heading's error grows, blended toward the head's habitual heading of the surrounding
minutes (see :class:`RotationParams`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt
from scipy.ndimage import median_filter, uniform_filter1d

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class HeadAngles:
    """Per-bin head angles in degrees; NaN where the bin has no data.

    Attributes
    ----------
    flexion_deg, lateral_deg : (B,) float
        Flexion (+) / extension (-) and right (+) / left (-) lateral flexion versus gravity.
    rotation_deg : (B,) float
        Right (+) / left (-) rotation from the straight-ahead reference (see :class:`RotationParams`).
    """

    flexion_deg: F64
    lateral_deg: F64
    rotation_deg: F64


def up_in_sensor(bins: F64) -> F64:
    """(B, 3) unit 'up' vector in the sensor frame from the per-bin mean rotation (row 3 of R)."""
    up = bins[:, 6:9].copy()
    norm = np.linalg.norm(up, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return up / norm


@numba.njit(cache=True, error_model="numpy")
def _head_vectors(bins: np.ndarray, mount: np.ndarray, out: np.ndarray, present: np.ndarray) -> None:
    """(5, B) per bin, NaN without data: the unit 'up' in the head frame as (-x clipped to [-1, 1],
    y, z), then the horizontal part (x, y) of the head's forward axis in the earth frame.

    up in the head frame = M @ (R^T e_z) (R's third row); the head's forward axis in the earth
    frame = R @ (M^T e_x) = R @ M[0], whose horizontal direction is the yaw. The trigonometry is
    left to numpy, whose vectorised (SIMD) arcsin / arctan2 are ~20x faster than libm per bin.
    ``out`` (5, B) and ``present`` (B,) bool (bins with data) are allocated by the caller (numpy:
    huge pages for large arrays).
    """
    n = bins.shape[0]
    m0x, m0y, m0z = mount[0, 0], mount[0, 1], mount[0, 2]
    for b in range(n):
        for k in range(5):
            out[k, b] = np.nan  # every entry is written: ``out`` needs no fill pass
        present[b] = bins[b, 19] > 0.0
        if not present[b]:
            continue
        u0 = bins[b, 6]
        u1 = bins[b, 7]
        u2 = bins[b, 8]
        nu = math.sqrt(u0 * u0 + u1 * u1 + u2 * u2)
        if nu <= 0.0:
            continue
        inv = 1.0 / nu
        out[0, b] = min(1.0, max(-1.0, -(mount[0, 0] * u0 + mount[0, 1] * u1 + mount[0, 2] * u2) * inv))
        out[1, b] = (mount[1, 0] * u0 + mount[1, 1] * u1 + mount[1, 2] * u2) * inv
        out[2, b] = (mount[2, 0] * u0 + mount[2, 1] * u1 + mount[2, 2] * u2) * inv
        out[3, b] = bins[b, 0] * m0x + bins[b, 1] * m0y + bins[b, 2] * m0z
        out[4, b] = bins[b, 3] * m0x + bins[b, 4] * m0y + bins[b, 5] * m0z


@numba.njit(cache=True, error_model="numpy")
def _unwrap_deg(yaw_rad: np.ndarray, out: np.ndarray) -> None:
    """``out``: yaw (deg) unwrapped along the finite entries (as ``np.unwrap``); NaN stays NaN."""
    r2d = 180.0 / math.pi
    two_pi = 2.0 * math.pi
    prev = 0.0
    off = 0.0
    first = True
    for b in range(yaw_rad.shape[0]):
        y = yaw_rad[b]
        if math.isnan(y):
            out[b] = np.nan
            continue
        if not first:
            d = y - prev
            if d > math.pi:
                off -= two_pi
            elif d < -math.pi:
                off += two_pi
        first = False
        prev = y
        out[b] = (y + off) * r2d


def _euler(bins: F64, mount: F64) -> tuple[F64, F64, F64, npt.NDArray[np.bool_]]:
    """Flexion, lateral flexion (deg), forward-axis yaw (deg, unwrapped) per bin (NaN without data),
    and which bins have data."""
    n = bins.shape[0]
    v = np.empty((5, n))
    present = np.empty(n, dtype=np.bool_)
    _head_vectors(bins, mount, v, present)
    r2d = 180.0 / math.pi
    flex = np.arcsin(v[0])
    flex *= r2d
    lat = np.arctan2(v[1], v[2])
    lat *= r2d
    yaw = np.empty(n)
    _unwrap_deg(np.arctan2(v[4], v[3]), yaw)
    return flex, lat, yaw, present


@dataclass(frozen=True)
class RotationParams:
    """How the rotation excursion is referenced (see docs/features.md, "Rotation").

    Attributes
    ----------
    still_dps : float
        A 0.25-s step whose heading rate is below this counts as heading-still (head turns run at
        tens of deg/s; the residual vertical gyro bias and postural sway stay well below 2 deg/s).
    min_still_s, trim_s : float
        Heading-still runs shorter than ``min_still_s`` are ignored; ``trim_s`` is cut off both
        ends (the slow tails of a turn).
    still_ramp_s : float
        Within a still run (after trimming), a step's weight in the drift average rises linearly
        from 0 over the first ``still_ramp_s`` and falls to 0 over the last. A still head still
        sways (tenths of a degree at 0.02-0.4 Hz): with flat weights the sway's heading change
        across each run passes for drift in full, and the turns between runs are left out, so
        those changes do not cancel. Tapered weights make the weighted rate average blind to
        oscillations faster than the ramp, and runs too short to tell sway from drift weigh
        little (the drift there is interpolated from the longer holds around). Measured on six
        24-participant accuracy cohorts (seeds 11-16), rotation-envelope error RMS, flat ->
        6-s ramps: 0.99 / 1.22 / 1.19 / 1.09 / 1.42 / 1.91 -> 0.82 / 0.94 / 1.08 / 0.98 / 1.39 /
        1.79 deg. On exact simulated headings (the filter's bias learning off) it is not a gain in
        every recording: flat 1.7, tapered 1.8 deg RMS over eight one-hour recordings.
    drift_window_s : float
        Width of the moving average of the heading rate over still steps that estimates the
        heading drift rate (the filter's bias estimate changes at every rest, so it is short).
    gap_s : float
        A gap in the data longer than this breaks heading continuity (the head may turn unseen).
        Shorter gaps (lost BLE packets) are bridged: the filter loses the turn made during the
        gap, so the heading change across it is re-estimated as the gap's duration times the mean
        of the heading rates of the steps on either side (linear interpolation of the rate), and
        the gap adds (duration x the larger of those rates)^2 to the variance of the carried
        heading (see ``blend_time_s``). This replaced breaking continuity at any missing bin next
        to a turn faster than 20 deg/s (whose pieces fell back to the 2-min rolling median).
    anchor_min_s, anchor_rate_dps, anchor_search_s : float
        The anchor is the first quiet run (angular speed below ``anchor_rate_dps`` for at least
        ``anchor_min_s``) within ``anchor_search_s`` of the segment start: the quiet neutral hold
        the wear protocol asks for after donning (SPEC contract 1).
    anchor_flexion_deg, anchor_lateral_deg : float
        The hold only counts as neutral when its median flexion / lateral flexion is within these.
    habitual_window_s, habitual_smooth_s : float
        The head's habitual heading at a time: the rolling median of the drift-corrected heading
        over ``habitual_window_s`` (robust to head turns), averaged over ``habitual_smooth_s``
        (a median jumps between posture bouts held at different headings). Near the ends of a
        wear segment both windows shrink to the data there (the data mirrored at the end): they
        used to be padded with the last value, and a segment that ended in a turn pulled the
        straight-ahead toward it (11 deg of rotation-envelope error on a day of seed 15).
    blend_time_s, habitual_sd_deg : float
        Two estimates of straight ahead are combined by their variances: the anchor carried on
        the drift-corrected heading, whose error grows like a random walk (drift-rate
        misestimates, small heading slips at every movement: variance ``q * t`` after ``t``
        seconds), and the habitual heading, whose error (the head's habitual turn of the moment,
        ``habitual_sd_deg``) does not grow. The weight of the habitual heading is
        ``t / (t + blend_time_s)`` with ``blend_time_s = habitual_sd_deg**2 / q``; a bridged gap
        with uncertainty ``u`` deg adds ``blend_time_s * (u / habitual_sd_deg)**2`` to ``t``.
        Measured on three 24-participant accuracy cohorts (seeds 11, 12, 13), rotation envelope
        error max / RMS deg, days > 3 deg, before -> after (with the gap bridging): 5.0 / 1.24, 7
        -> 3.9 / 1.00, 3; 12.1 / 1.96, 12 -> 5.9 / 1.23, 4; 8.2 / 1.85, 14 -> 4.7 / 1.16, 3.
    trunk_window_s, trunk_tolerance_deg : float
        Where the rolling median heading over ``trunk_window_s`` departs from the anchor by more
        than ``trunk_tolerance_deg``, the trunk is taken to have turned (or the anchor was not a
        straight-ahead hold) and the short rolling median (``fallback_window_s``) is used instead.
    fallback_window_s : float
        Rolling median heading used without an anchor (data gaps, segments not starting with a
        donning) and after a trunk turn.
    """

    still_dps: float = 2.0
    min_still_s: float = 2.0
    trim_s: float = 0.5
    still_ramp_s: float = 6.0
    drift_window_s: float = 30.0
    gap_s: float = 1.0
    anchor_min_s: float = 3.0
    anchor_rate_dps: float = 3.0
    anchor_search_s: float = 180.0
    anchor_flexion_deg: float = 15.0
    anchor_lateral_deg: float = 10.0
    habitual_window_s: float = 600.0
    habitual_smooth_s: float = 600.0
    blend_time_s: float = 1800.0
    habitual_sd_deg: float = 3.0
    trunk_window_s: float = 300.0
    trunk_tolerance_deg: float = 15.0
    fallback_window_s: float = 120.0


DEFAULT_ROTATION = RotationParams()


def _runs(mask: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Start and end (exclusive) indices of the True runs of a boolean array."""
    m = np.concatenate([[False], mask, [False]])
    d = np.flatnonzero(m[1:] != m[:-1])
    return d[0::2].astype(np.int64), d[1::2].astype(np.int64)


def bridged_yaw(yaw_deg: F64, bin_idx: npt.NDArray[np.int64], bin_s: float) -> tuple[F64, F64]:
    """Yaw with the heading change across each missing-bin gap re-estimated, and its uncertainty.

    The filter loses the turn made during a gap; the change across it is replaced by the gap's
    duration times the mean of the heading rates of the contiguous steps on either side (0 where
    there is none). Returns the bridged yaw (deg) and, per bin, the summed variance (deg^2) of
    the bridges before it, each (duration x the larger adjacent rate)^2.

    Parameters
    ----------
    yaw_deg : (n,) float
        Unwrapped yaw at the bins ``bin_idx`` (n,) (increasing, no gap longer than the caller's
        ``gap_s``).
    bin_s : float
        Bin width (s).
    """
    steps = np.diff(bin_idx)
    gap = np.flatnonzero(steps > 1)
    if gap.size == 0:
        return yaw_deg, np.zeros(yaw_deg.size)
    dt_s = steps * bin_s
    rate_dps = np.where(steps == 1, np.diff(yaw_deg) / dt_s, 0.0)  # 0 for gaps: no rate known
    before_dps = rate_dps[np.maximum(gap - 1, 0)] * (gap > 0)
    after_dps = rate_dps[np.minimum(gap + 1, rate_dps.size - 1)] * (gap + 1 < rate_dps.size)
    shift = np.zeros(yaw_deg.size)
    shift[gap + 1] = dt_s[gap] * 0.5 * (before_dps + after_dps) - (yaw_deg[gap + 1] - yaw_deg[gap])
    var = np.zeros(yaw_deg.size)
    var[gap + 1] = (dt_s[gap] * np.maximum(np.abs(before_dps), np.abs(after_dps))) ** 2
    return yaw_deg + np.cumsum(shift), np.cumsum(var)


@numba.njit(cache=True, error_model="numpy")
def _drift_correct(
    yaw_deg: np.ndarray,
    bin_idx: np.ndarray,
    bin_s: float,
    still_dps: float,
    min_still: int,
    trim: int,
    ramp: float,
    win: int,
    out: np.ndarray,
) -> bool:
    """The passes of :func:`drift_corrected_yaw`; False when no window has enough still steps.

    Pass 1: heading rate per step and its heading-still runs (below ``still_dps``, contiguous,
    at least ``min_still`` steps, ``trim`` cut off both ends), each still step weighted by
    ``min(1, i / ramp, j / ramp)`` (``i``, ``j``: its position counted from the trimmed run's
    start and end, from 1; ``ramp`` in steps, 0 = flat weights). Pass 2: the weighted moving
    average of the rate over ``win`` steps (centred boxes, ``scipy.ndimage.uniform_filter1d``
    with mode='nearest', of weight x rate and of weight, from running sums). Pass 3: across
    windows whose weights sum to 5 % of ``win`` or less the drift rate is interpolated linearly
    (held at the ends); its integral is subtracted from the yaw.
    """
    n = yaw_deg.shape[0] - 1  # steps
    dt = np.empty(n)
    rate = np.empty(n)
    still = np.zeros(n)
    run = 0
    for k in range(n + 1):
        cand = False
        if k < n:
            dt[k] = (bin_idx[k + 1] - bin_idx[k]) * bin_s
            rate[k] = (yaw_deg[k + 1] - yaw_deg[k]) / dt[k]
            cand = abs(rate[k]) < still_dps and dt[k] <= 1.01 * bin_s
        if cand:
            run += 1
            continue
        if run >= min_still:
            a = k - run + trim
            b = k - trim
            for j in range(a, b):
                still[j] = min(1.0, (j - a + 1.0) / ramp, (b - j) / ramp) if ramp > 0.0 else 1.0
        run = 0
    # centred box of ``win`` steps: [k - win // 2, k + (win - 1) // 2], indices clamped (nearest)
    lo_off = win // 2
    hi_off = (win - 1) // 2
    num = 0.0
    den = 0.0
    for j in range(-lo_off, hi_off + 1):
        c = min(max(j, 0), n - 1)
        num += still[c] * rate[c]
        den += still[c]
    drift = np.empty(n)
    good = np.zeros(n, dtype=np.bool_)
    any_good = False
    for k in range(n):
        if den > 0.05 * win:
            drift[k] = num / den
            good[k] = True
            any_good = True
        c_out = min(max(k - lo_off, 0), n - 1)
        c_in = min(max(k + hi_off + 1, 0), n - 1)
        num += still[c_in] * rate[c_in] - still[c_out] * rate[c_out]
        den += still[c_in] - still[c_out]
    if not any_good:
        return False
    # interpolate across the windows without still steps, then integrate
    prev = -1
    k = 0
    while k < n:
        if good[k]:
            prev = k
            k += 1
            continue
        nxt = k
        while nxt < n and not good[nxt]:
            nxt += 1
        for j in range(k, nxt):
            if prev < 0:
                drift[j] = drift[nxt]
            elif nxt >= n:
                drift[j] = drift[prev]
            else:
                drift[j] = drift[prev] + (drift[nxt] - drift[prev]) * (j - prev) / (nxt - prev)
        k = nxt
    acc = 0.0
    out[0] = yaw_deg[0]
    for k in range(n):
        acc += drift[k] * dt[k]
        out[k + 1] = yaw_deg[k + 1] - acc
    return True


def drift_corrected_yaw(
    yaw_deg: F64, bin_idx: npt.NDArray[np.int64], bin_s: float, p: RotationParams = DEFAULT_ROTATION
) -> F64:
    """Yaw with the heading drift of the residual vertical gyro bias removed.

    While the head holds its heading (heading-still steps) any heading rate is drift; its moving
    average over still steps (``drift_window_s``; weights tapered at the ends of each still run,
    ``still_ramp_s``), interpolated across movements, is integrated and subtracted (a
    zero-velocity update for the heading). One compiled kernel
    (:func:`_drift_correct`).

    Parameters
    ----------
    yaw_deg : (n,) float
        Unwrapped yaw of the head's forward axis at the bins ``bin_idx`` (n,) (increasing).
    bin_s : float
        Bin width (s).
    """
    out = np.empty(yaw_deg.size)
    if yaw_deg.size < 2 or not _drift_correct(
        np.ascontiguousarray(yaw_deg, dtype=np.float64),
        np.ascontiguousarray(bin_idx, dtype=np.int64),
        float(bin_s),
        float(p.still_dps),
        round(p.min_still_s / bin_s),
        round(p.trim_s / bin_s),
        float(p.still_ramp_s / bin_s),
        max(1, round(p.drift_window_s / bin_s)),
        out,
    ):
        return np.array(yaw_deg, dtype=np.float64)
    return out


@numba.njit(cache=True, error_model="numpy")
def _upsample_linear(coarse: np.ndarray, step: int, n: int, out: np.ndarray) -> None:
    """``out[:n] = np.interp(np.arange(n), np.arange(0, n, step)[:m], coarse)`` (m = coarse.size)
    for a regular grid: interval by interval instead of a binary search per bin, with np.interp's
    formula (bitwise the same values) and its hold beyond the last grid point."""
    m = coarse.shape[0]
    i = 0
    for j in range(m - 1):
        c0 = coarse[j]
        slope = (coarse[j + 1] - c0) / step  # what np.interp computes for every bin of the interval
        out[i] = c0
        for r in range(1, min(step, n - i)):
            out[i + r] = slope * r + c0
        i += step
    while i < n:
        out[i] = coarse[m - 1]
        i += 1


def _rolling_median(
    y: F64, bin_s: float, window_s: float, grid_s: float = 1.0, smooth_s: float = 0.0, mode: str = "nearest"
) -> F64:
    """Centred rolling median, run on a ``grid_s`` grid (cheap) and interpolated back; with
    ``smooth_s``, averaged over that long on the grid first. ``mode``: how the grid is extended
    beyond the ends (scipy.ndimage): 'nearest' repeats the end value, 'reflect' mirrors the data,
    so the window near an end holds (twice) only the data there."""
    step = max(1, round(grid_s / bin_s))
    coarse = y[::step]
    win = max(3, round(window_s / (bin_s * step)) | 1)
    base_c = median_filter(coarse, size=win, mode=mode)
    if smooth_s > 0:
        base_c = uniform_filter1d(base_c, max(1, round(smooth_s / (bin_s * step))), mode=mode)
    out = np.empty(y.size)
    if y.size:
        _upsample_linear(np.ascontiguousarray(base_c, dtype=np.float64), step, y.size, out)
    return out


def _rolling_median_where(y: F64, where: npt.NDArray[np.bool_], bin_s: float, window_s: float) -> F64:
    """``_rolling_median(y, bin_s, window_s)[where]``, computed only over the stretch that spans
    ``where`` plus a window on either side (the same values: the grid stays aligned, and a median
    only sees half a window around it)."""
    step = max(1, round(1.0 / bin_s))
    pad = (max(3, round(window_s / (bin_s * step)) | 1) + 2) * step
    hit = np.flatnonzero(where)
    lo = max(0, (int(hit[0]) - pad) // step * step)
    hi = min(y.size, int(hit[-1]) + pad + 1)
    if hi < y.size:  # the stretch must end at a grid point of its own, as it would in y
        hi = lo + (hi - lo - 1) // step * step + 1
    return _rolling_median(y[lo:hi], bin_s, window_s)[hit - lo]


def _anchor_deg(
    yaw_deg: F64, speed_dps: F64, flex_deg: F64, lat_deg: F64, bin_s: float, p: RotationParams
) -> float | None:
    """Median yaw of the quiet neutral hold at the start of a segment, or None without one."""
    last = min(yaw_deg.size, int(p.anchor_search_s / bin_s))
    s, e = _runs(speed_dps[:last] < p.anchor_rate_dps)
    need = int(np.ceil(p.anchor_min_s / bin_s))
    long_runs = np.flatnonzero(e - s >= need)
    if long_runs.size == 0:
        return None
    sl = slice(int(s[long_runs[0]]) + 1, int(e[long_runs[0]]) - 1)  # skip the settling bins
    if (
        abs(np.median(flex_deg[sl])) > p.anchor_flexion_deg
        or abs(np.median(lat_deg[sl])) > p.anchor_lateral_deg
    ):
        return None
    return float(np.median(yaw_deg[sl]))


def head_angles(bins: F64, mount: F64, bin_s: float, params: RotationParams = DEFAULT_ROTATION) -> HeadAngles:
    """Head angles per bin of one wear segment (its first bin follows the donning, if any).

    Parameters
    ----------
    bins : (B, 20) float
        Output of :func:`features.orientation.orientation_bins`.
    mount : (3, 3) float
        Sensor-to-head rotation (``v_head = mount @ v_sensor``), rows = head axes in sensor frame.
    bin_s : float
        Bin width in seconds.
    params : RotationParams
        How rotation is referenced.
    """
    flex, lat, yaw, present = _euler(bins, np.ascontiguousarray(mount, dtype=np.float64))
    rot = np.full(bins.shape[0], np.nan)
    if not present.any():
        return HeadAngles(flexion_deg=flex, lateral_deg=lat, rotation_deg=rot)
    idx = np.flatnonzero(present)
    # heading continuity breaks at long gaps; shorter ones are bridged (bridged_yaw)
    cuts = np.flatnonzero(np.diff(idx) * bin_s > params.gap_s) + 1
    for piece, (a, b) in enumerate(zip(np.r_[0, cuts], np.r_[cuts, idx.size], strict=True)):
        ii = idx[a:b]
        yaw_b, bridge_var = bridged_yaw(yaw[ii], ii, bin_s)
        yaw_c = drift_corrected_yaw(yaw_b, ii, bin_s, params)
        # only the first piece follows the donning; after a data gap the heading is lost
        if piece == 0:
            head = ii[: int(params.anchor_search_s / bin_s)]  # the hold is searched for near the start
            anchor = _anchor_deg(yaw_c[: head.size], bins[head, 9], flex[head], lat[head], bin_s, params)
        else:
            anchor = None
        if anchor is None:
            ref = _rolling_median(yaw_c, bin_s, params.fallback_window_s)
            _put_rotation(yaw_c, ref, ii, rot)
            continue
        # reflect: at the piece's ends the window shrinks to the data there (see RotationParams)
        habitual = _rolling_median(
            yaw_c,
            bin_s,
            params.habitual_window_s,
            grid_s=5.0,
            smooth_s=params.habitual_smooth_s,
            mode="reflect",
        )
        # a detector only: a 5-s grid is plenty
        trunk = _rolling_median(yaw_c, bin_s, params.trunk_window_s, grid_s=5.0)
        turned = np.empty(ii.size, dtype=np.bool_)
        if _put_blended_rotation(yaw_c, habitual, trunk, bridge_var, ii, anchor, bin_s, params.blend_time_s,
                                 params.habitual_sd_deg, params.trunk_tolerance_deg, rot, turned):  # fmt: skip
            fallback = _rolling_median_where(yaw_c, turned, bin_s, params.fallback_window_s)
            rot[ii[turned]] = -(yaw_c[turned] - fallback)
    return HeadAngles(flexion_deg=flex, lateral_deg=lat, rotation_deg=rot)


@numba.njit(cache=True, error_model="numpy")
def _put_rotation(yaw_deg: np.ndarray, ref_deg: np.ndarray, bin_idx: np.ndarray, rot: np.ndarray) -> None:
    """``rot[bin_idx] = -(yaw - ref)``: a right rotation turns the forward axis clockwise
    (negative yaw)."""
    for k in range(bin_idx.shape[0]):
        rot[bin_idx[k]] = -(yaw_deg[k] - ref_deg[k])


@numba.njit(cache=True, error_model="numpy")
def _put_blended_rotation(
    yaw_deg: np.ndarray, habitual_deg: np.ndarray, trunk_deg: np.ndarray, bridge_var: np.ndarray,
    bin_idx: np.ndarray, anchor_deg: float, bin_s: float, blend_time_s: float, habitual_sd_deg: float,
    trunk_tolerance_deg: float, rot: np.ndarray, turned: np.ndarray,
) -> bool:  # fmt: skip
    """Rotation from the anchor blended toward the habitual heading, in one pass (see
    :class:`RotationParams`); returns whether any bin had the trunk turned.

    ``t`` = time the carried anchor has been drifting plus the bridges' variance in the same
    units; ``ref = anchor + t / (t + blend_time_s) * (habitual - anchor)``; ``rot[bin_idx] =
    -(yaw - ref)``. Where the trunk heading is more than ``trunk_tolerance_deg`` from the anchor
    (``turned``, an output) nothing is written: the caller fills those bins from the fallback
    rolling median.
    """
    var_s = blend_time_s / habitual_sd_deg**2  # seconds per deg^2 of bridge variance
    any_turned = False
    for k in range(bin_idx.shape[0]):
        tr = abs(trunk_deg[k] - anchor_deg) > trunk_tolerance_deg
        turned[k] = tr
        if tr:
            any_turned = True
            continue
        t = (bin_idx[k] - bin_idx[0]) * bin_s + var_s * bridge_var[k]
        ref = anchor_deg + t / (t + blend_time_s) * (habitual_deg[k] - anchor_deg)
        rot[bin_idx[k]] = -(yaw_deg[k] - ref)
    return any_turned

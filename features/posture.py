"""Posture load features from per-bin flexion (worn bins only).

Clinical background (SPEC): 20 deg of neck flexion is the best-supported risk cut-off
[Norasi 2021]; ISO 11226 accepts head inclination 0–25 deg, 25–85 deg only for a limited holding
time (8 min at 25 deg down to 1 min at 85 deg) and never beyond 85 deg; neutral is taken as
5 deg extension to 10 deg flexion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from features.order_stats import percentiles_linear
from features.wear import runs

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

FLEXION_THRESHOLDS_DEG = (15, 20, 30, 45)
LOAD_THRESHOLD_DEG = 20.0
NEUTRAL_DEG = (-5.0, 10.0)
ISO_MIN_DEG, ISO_MAX_DEG = 25.0, 85.0
ISO_HOLD_AT_MIN_MIN, ISO_HOLD_AT_MAX_MIN = 8.0, 1.0


@dataclass(frozen=True)
class PostureParams:
    """Configurable posture definitions."""

    static_bout_min: float = 10.0
    static_tolerance_deg: float = 2.0
    break_from_deg: float = 20.0
    break_hold_s: float = 60.0
    break_to_deg: float = 10.0
    break_min_s: float = 5.0


DEFAULT_POSTURE = PostureParams()


def iso11226_max_hold_min(angle_deg: F64) -> F64:
    """Acceptable holding time (min) for a head inclination; inf below 25 deg, 0 above 85 deg.

    Linear between 8 min at 25 deg and 1 min at 85 deg (the SPEC's reading of ISO 11226).
    """
    a = np.asarray(angle_deg, dtype=np.float64)
    frac = (a - ISO_MIN_DEG) / (ISO_MAX_DEG - ISO_MIN_DEG)
    hold = ISO_HOLD_AT_MIN_MIN + frac * (ISO_HOLD_AT_MAX_MIN - ISO_HOLD_AT_MIN_MIN)
    hold = np.where(a < ISO_MIN_DEG, np.inf, hold)
    return np.where(a > ISO_MAX_DEG, 0.0, hold)


@numba.njit(cache=True, error_model="numpy")
def _flexion_pass(
    flex_deg: np.ndarray, ok: np.ndarray, thresholds_deg: np.ndarray, load_deg: float, lo_deg: float, hi_deg: float,
    worn_flex: np.ndarray, above: np.ndarray,
) -> tuple[int, float, int]:  # fmt: skip
    """One pass over the bins: the worn flexion values packed into ``worn_flex`` (for the
    percentiles), the number of them above each threshold (``above``), the summed excess over
    ``load_deg`` and the number within [lo_deg, hi_deg]. Returns (worn count, excess sum,
    neutral count)."""
    m = 0
    load = 0.0
    neutral = 0
    for b in range(flex_deg.shape[0]):
        if not ok[b]:
            continue
        f = flex_deg[b]
        worn_flex[m] = f
        m += 1
        for k in range(thresholds_deg.shape[0]):
            if f > thresholds_deg[k]:
                above[k] += 1
        if f > load_deg:
            load += f - load_deg
        if lo_deg <= f <= hi_deg:
            neutral += 1
    return m, load, neutral


@numba.njit(cache=True)
def _static_bouts(x: np.ndarray, y: np.ndarray, z: np.ndarray, ok: np.ndarray, tol: float) -> np.ndarray:
    """Greedy static bouts: a bout lasts while every angle stays within ``tol`` of its start.

    Returns the bout lengths in samples (one entry per bout, any length).
    """
    n = x.shape[0]
    out = np.zeros(n, dtype=np.int64)
    k = 0
    i = 0
    while i < n:
        if not ok[i]:
            i += 1
            continue
        x0 = x[i]
        y0 = y[i]
        z0 = z[i]
        j = i + 1
        while j < n and ok[j] and abs(x[j] - x0) <= tol and abs(y[j] - y0) <= tol and abs(z[j] - z0) <= tol:
            j += 1
        out[k] = j - i
        k += 1
        i = j
    return out[:k]


@numba.njit(cache=True)
def _run_medians(x: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Median of ``x[starts[k]:ends[k]]`` for every run k (one call instead of one per run)."""
    out = np.empty(starts.shape[0])
    for k in range(starts.shape[0]):
        out[k] = np.median(x[starts[k] : ends[k]])
    return out


def posture_features(
    flex_deg: F64,
    lat_deg: F64,
    rot_deg: F64,
    worn: B,
    bin_s: float,
    params: PostureParams = DEFAULT_POSTURE,
) -> dict[str, float | None]:
    """Posture-load features of one participant-day.

    Parameters
    ----------
    flex_deg, lat_deg, rot_deg : (B,) float
        Per-bin flexion, lateral flexion and rotation excursion (deg); NaN where absent.
    worn : (B,) bool
        Worn (and present) bins.
    bin_s : float
        Bin width (s).
    """
    flex_deg = np.asarray(flex_deg, dtype=np.float64)
    ok = worn & np.isfinite(flex_deg)
    out: dict[str, float | None] = {}
    worn_flex = np.empty(flex_deg.size)
    above = np.zeros(len(FLEXION_THRESHOLDS_DEG), dtype=np.int64)
    m, load, neutral = _flexion_pass(
        flex_deg,
        ok,
        np.array(FLEXION_THRESHOLDS_DEG, dtype=np.float64),
        LOAD_THRESHOLD_DEG,
        *NEUTRAL_DEG,
        worn_flex,
        above,
    )
    worn_s = m * bin_s
    if worn_s <= 0:
        return out
    for thr, n_above in zip(FLEXION_THRESHOLDS_DEG, above.tolist(), strict=True):
        above_s = n_above * bin_s
        out[f"flexion_gt{thr}_min"] = above_s / 60.0
        out[f"flexion_gt{thr}_pct"] = 100.0 * above_s / worn_s
    p10, p50, p90 = percentiles_linear(worn_flex[:m], [10, 50, 90])
    out["flexion_p10_deg"] = float(p10)
    out["flexion_p50_deg"] = float(p50)
    out["flexion_p90_deg"] = float(p90)
    out["flexion_load_deg_h"] = load * bin_s / 3600.0
    out["neutral_pct"] = 100.0 * neutral / m
    # ISO 11226: each continuous hold above 25 deg is judged at its median inclination
    flex_all = np.where(ok, flex_deg, -np.inf)
    s, e = runs(flex_all > ISO_MIN_DEG)
    n_exceed = 0
    excess_min = 0.0
    # a hold shorter than the shortest limit (1 min at 85 deg) cannot exceed: skip those runs
    long_runs = (e - s) * bin_s / 60.0 > ISO_HOLD_AT_MAX_MIN
    s_long, e_long = s[long_runs], e[long_runs]
    limits = iso11226_max_hold_min(_run_medians(flex_deg, s_long, e_long))
    for a, b, limit in zip(s_long.tolist(), e_long.tolist(), limits.tolist(), strict=True):
        dur_min = (b - a) * bin_s / 60.0
        if dur_min > limit:
            n_exceed += 1
            excess_min += dur_min - limit
    out["iso11226_exceedances"] = float(n_exceed)
    out["iso11226_excess_min"] = excess_min
    # static bouts on a 1-s grid (a bin grid finer than the tolerance's time scale adds nothing)
    step = max(1, round(1.0 / bin_s))
    rot = np.where(np.isfinite(rot_deg), rot_deg, 0.0)
    lens = _static_bouts(
        flex_deg[::step], lat_deg[::step], rot[::step], ok[::step], params.static_tolerance_deg
    )
    lens_min = lens * step * bin_s / 60.0
    long = lens_min[lens_min >= params.static_bout_min]
    out["static_bouts_n"] = float(long.size)
    out["static_bout_longest_min"] = float(lens_min.max()) if lens_min.size else 0.0
    # posture breaks: leaving a sustained flexed posture (>= break_from for break_hold_s) to
    # near-neutral (<= break_to for break_min_s)
    s, e = runs(flex_all >= params.break_from_deg)
    sustained_ends = e[(e - s) * bin_s >= params.break_hold_s]
    low_s, low_e = runs(flex_all <= params.break_to_deg)
    low_s = low_s[(low_e - low_s) * bin_s >= params.break_min_s]
    breaks = 0
    if sustained_ends.size and low_s.size:
        # a break: the next qualifying low run starts before the head goes flexed again
        nxt = np.searchsorted(low_s, sustained_ends)
        starts_flexed = np.sort(s)
        for end, j in zip(sustained_ends, nxt, strict=True):
            if j < low_s.size:
                k = np.searchsorted(starts_flexed, end)
                next_flex = starts_flexed[k] if k < starts_flexed.size else np.iinfo(np.int64).max
                breaks += int(low_s[j] < next_flex)
    out["posture_breaks_per_h"] = breaks / (worn_s / 3600.0)
    return out

"""Non-wear, walking and movement flags from the per-bin signal moments.

Non-wear follows the spirit of GGIR / actipy: a device lying on a table is *still* — the
standard deviation of every acceleration axis stays near the sensor noise (GGIR: 13 mg) and the
gyroscope near zero — for far longer than a person holds their head motionless. We flag windows
of ``window_s`` seconds whose per-axis acceleration SD is below ``still_acc_sd_g`` on at least two
axes and whose mean rotation rate is below ``still_rate_dps``, then keep only runs of such windows
lasting at least ``min_nonwear_min`` minutes. The rotation test uses the fused orientation (the
angle turned from bin to bin), which is free of gyro bias: a head held "still" still sways by
tenths of a degree (breathing, balance), a device on a table does not move at all, so the
threshold can be strict and short non-wear bouts are caught too. Non-wear is a flag, never NaN: features are
computed on worn bins and report the hours they cover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class WearParams:
    """Thresholds of non-wear and walking detection (see module docstring)."""

    window_s: float = 10.0
    still_acc_sd_g: float = 0.013
    still_rate_dps: float = 0.1
    min_nonwear_min: float = 0.5
    walk_window_s: float = 2.0
    walk_acc_sd_min_g: float = 0.05
    walk_acc_sd_max_g: float = 0.8
    walk_gyro_max_dps: float = 60.0
    min_walk_s: float = 10.0


DEFAULT_WEAR = WearParams()


def runs(mask: B) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Start and end (exclusive) indices of the True runs of a boolean array."""
    m = np.concatenate([[False], mask, [False]])
    d = np.flatnonzero(m[1:] != m[:-1])
    return d[0::2].astype(np.int64), d[1::2].astype(np.int64)


@numba.njit(cache=True)
def _keep_long_runs(mask: np.ndarray, min_len: int) -> np.ndarray:
    """``mask`` with its True runs shorter than ``min_len`` cleared (one pass)."""
    n = mask.shape[0]
    out = np.zeros(n, dtype=np.bool_)
    i = 0
    while i < n:
        if not mask[i]:
            i += 1
            continue
        j = i
        while j < n and mask[j]:
            j += 1
        if j - i >= min_len:
            out[i:j] = True
        i = j
    return out


@numba.njit(cache=True, error_model="numpy")
def _still_windows(bins: np.ndarray, rate: np.ndarray, k: int, sd_max: float, rate_max: float) -> np.ndarray:
    """Per window of ``k`` bins: per-axis acceleration SD below ``sd_max`` on >= 2 axes, mean of
    the finite bin rates below ``rate_max`` and data present (one pass over the bins)."""
    n = bins.shape[0]
    nw = (n + k - 1) // k
    out = np.zeros(nw, dtype=np.bool_)
    for w in range(nw):
        sx = sy = sz = qx = qy = qz = cnt = rs = rn = 0.0
        for b in range(w * k, min(n, w * k + k)):
            sx += bins[b, 11]
            sy += bins[b, 12]
            sz += bins[b, 13]
            qx += bins[b, 14]
            qy += bins[b, 15]
            qz += bins[b, 16]
            cnt += bins[b, 19]
            r = rate[b]
            if math.isfinite(r):
                rs += r
                rn += 1.0
        if cnt <= 0.0 or rn <= 0.0 or not rs / rn < rate_max:
            continue
        mx = sx / cnt
        my = sy / cnt
        mz = sz / cnt
        n_still = 0
        for q, m in ((qx, mx), (qy, my), (qz, mz)):
            if math.sqrt(max(q / cnt - m * m, 0.0)) < sd_max:
                n_still += 1
        out[w] = n_still >= 2
    return out


@numba.njit(cache=True, error_model="numpy")
def _walk_windows(bins: np.ndarray, k: int, sd_min: float, sd_max: float, gyro_max: float) -> np.ndarray:
    """Per window of ``k`` bins: |a| SD within [sd_min, sd_max] and mean angular speed <= gyro_max."""
    n = bins.shape[0]
    nw = (n + k - 1) // k
    out = np.zeros(nw, dtype=np.bool_)
    for w in range(nw):
        s = q = cnt = g = 0.0
        for b in range(w * k, min(n, w * k + k)):
            s += bins[b, 17]
            q += bins[b, 18]
            cnt += bins[b, 19]
            g += bins[b, 9] * bins[b, 19]
        if cnt <= 0.0:
            continue
        m = s / cnt
        sd = math.sqrt(max(q / cnt - m * m, 0.0))
        out[w] = sd >= sd_min and sd <= sd_max and g / cnt <= gyro_max
    return out


def _expand(flags: B, k: int, n: int) -> B:
    return np.repeat(flags, k)[:n]


def bin_rates_dps(bins: F64, bin_s: float) -> F64:
    """(B,) angle turned between consecutive bins divided by ``bin_s`` (deg/s); NaN at gaps.

    Uses the mean rotation per bin: ``angle(R_{b-1}^T R_b) = arccos((trace - 1) / 2)``.
    """
    from features.kinematics import bin_kinematics

    return bin_kinematics(bins, bin_s).rate_dps


def nonwear_flags(
    bins: F64,
    bin_s: float,
    params: WearParams = DEFAULT_WEAR,
    *,
    rate_dps: F64 | None = None,
    present: B | None = None,
) -> B:
    """(B,) True where the device was present but not worn.

    Parameters
    ----------
    bins : (B, 20) float
        Output of :func:`features.orientation.orientation_bins`.
    rate_dps : (B,) float, optional
        :func:`bin_rates_dps` of ``bins`` if already computed.
    present : (B,) bool, optional
        ``bins[:, 19] > 0`` if already computed (e.g. ``BinKinematics.present``).
    """
    k = max(1, round(params.window_s / bin_s))
    n = bins.shape[0]
    rate = bin_rates_dps(bins, bin_s) if rate_dps is None else rate_dps
    present = bins[:, 19] > 0 if present is None else present
    still = _still_windows(
        bins,
        np.ascontiguousarray(rate),
        k,
        params.still_acc_sd_g,
        params.still_rate_dps,
    )
    min_windows = int(np.ceil(params.min_nonwear_min * 60.0 / (k * bin_s)))
    still = _keep_long_runs(still, min_windows)
    return _expand(still, k, n) & present


def refine_nonwear_edges(
    nonwear: B,
    bins: F64,
    bin_s: float,
    *,
    still_acc_g: float = 0.02,
    still_dps: float = 3.0,
    max_extend_s: float = 600.0,
    handling_s: float = 2.0,
) -> B:
    """Move non-wear edges from the window grid to the bin grid and add the handling time.

    Non-wear is found in ``window_s`` windows, so up to a window of the device lying still is left
    at each edge. Each run is extended (by at most ``max_extend_s``) through
    adjacent bins whose mean acceleration stays within ``still_acc_g`` of the lying device's and
    whose gyro magnitude stays below ``still_dps`` (raw signals: the fused orientation still
    creeps for a few seconds after a fast put-down while the tilt correction settles), then by
    ``handling_s`` on
    both sides: taking the device off or putting it on takes a moment, during which its
    orientation says nothing about the head.

    Parameters
    ----------
    nonwear : (B,) bool
        Non-wear flags from :func:`nonwear_flags`.
    bins : (B, 20) float
        Output of :func:`features.orientation.orientation_bins`.
    """
    out = nonwear.copy()
    n = out.size
    pad = round(handling_s / bin_s)
    reach = round(max_extend_s / bin_s)

    def acc_mean(sl: slice) -> F64:
        # only the bins around each run: a day-long (B, 3) temporary would cost more than the search
        return bins[sl, 11:14] / np.maximum(bins[sl, 19], 1.0)[:, None]

    s, e = runs(nonwear)
    for a, b in zip(s.tolist(), e.tolist(), strict=True):
        # still = the raw acceleration stays where the device lay and the gyro shows no turning
        # (empty bins, a short data gap, neither stop nor count)
        lo = max(0, a - reach)
        moving = (bins[lo:a, 19] > 0) & (
            (np.abs(acc_mean(slice(lo, a)) - acc_mean(slice(a, a + 1))).max(axis=1) > still_acc_g)
            | ~(bins[lo:a, 9] < still_dps)
        )
        before = np.flatnonzero(moving[::-1])
        a2 = a - (int(before[0]) if before.size else a - lo)
        hi = min(n, b + reach)
        moving = (bins[b:hi, 19] > 0) & (
            (np.abs(acc_mean(slice(b, hi)) - acc_mean(slice(b - 1, b))).max(axis=1) > still_acc_g)
            | ~(bins[b:hi, 9] < still_dps)
        )
        after = np.flatnonzero(moving)
        b2 = b + (int(after[0]) if after.size else hi - b)
        out[max(0, a2 - pad) : min(n, b2 + pad)] = True
    return out


def walking_flags(bins: F64, bin_s: float, params: WearParams = DEFAULT_WEAR) -> B:
    """(B,) True in bins that belong to a walking bout.

    Walking shakes the head vertically at the step rate (about 0.1–0.4 g at 1.5–2.5 Hz) while the
    head itself turns little; a window whose |a| SD lies in that band and whose mean angular speed
    stays moderate is a candidate, and bouts shorter than ``min_walk_s`` are dropped.
    """
    k = max(1, round(params.walk_window_s / bin_s))
    n = bins.shape[0]
    cand = _walk_windows(
        bins,
        k,
        params.walk_acc_sd_min_g,
        params.walk_acc_sd_max_g,
        params.walk_gyro_max_dps,
    )
    cand = _keep_long_runs(cand, int(np.ceil(params.min_walk_s / (k * bin_s))))
    return _expand(cand, k, n)

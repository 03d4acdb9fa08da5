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

from dataclasses import dataclass

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


def _window_sums(x: F64, k: int) -> F64:
    """Sum of consecutive non-overlapping groups of ``k`` rows (trailing partial group kept)."""
    n = x.shape[0]
    pad = (-n) % k
    if pad:
        x = np.concatenate([x, np.zeros((pad, *x.shape[1:]))])
    return x.reshape(-1, k, *x.shape[1:]).sum(axis=1)


def runs(mask: B) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Start and end (exclusive) indices of the True runs of a boolean array."""
    m = np.concatenate([[False], mask, [False]])
    d = np.flatnonzero(m[1:] != m[:-1])
    return d[0::2].astype(np.int64), d[1::2].astype(np.int64)


def _keep_long_runs(mask: B, min_len: int) -> B:
    out = np.zeros_like(mask)
    s, e = runs(mask)
    for a, b in zip(s, e, strict=True):
        if b - a >= min_len:
            out[a:b] = True
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
    bins: F64, bin_s: float, params: WearParams = DEFAULT_WEAR, *, rate_dps: F64 | None = None
) -> B:
    """(B,) True where the device was present but not worn.

    Parameters
    ----------
    bins : (B, 20) float
        Output of :func:`features.orientation.orientation_bins`.
    rate_dps : (B,) float, optional
        :func:`bin_rates_dps` of ``bins`` if already computed.
    """
    k = max(1, round(params.window_s / bin_s))
    n = bins.shape[0]
    s = _window_sums(bins[:, 11:20], k)  # ax ay az sums, squares, |a| sum, |a|^2 sum, count
    rate = bin_rates_dps(bins, bin_s) if rate_dps is None else rate_dps
    present = bins[:, 19] > 0
    rs = _window_sums(np.where(np.isfinite(rate), rate, 0.0), k)
    rn = _window_sums(np.isfinite(rate).astype(np.float64), k)
    cnt = s[:, 8]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s[:, 0:3] / cnt[:, None]
        var = s[:, 3:6] / cnt[:, None] - mean**2
        sd = np.sqrt(np.maximum(var, 0.0))
        rate_mean = rs / rn
    still = ((sd < params.still_acc_sd_g).sum(axis=1) >= 2) & (rate_mean < params.still_rate_dps) & (cnt > 0)
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
    present = bins[:, 19] > 0  # empty bins (a short data gap) neither stop nor count
    cnt = np.maximum(bins[:, 19], 1.0)
    acc_mean = bins[:, 11:14] / cnt[:, None]
    s, e = runs(nonwear)
    for a, b in zip(s.tolist(), e.tolist(), strict=True):
        # still = the raw acceleration stays where the device lay and the gyro shows no turning
        lo = max(0, a - reach)
        moving = present[lo:a] & (
            (np.abs(acc_mean[lo:a] - acc_mean[a]).max(axis=1) > still_acc_g) | ~(bins[lo:a, 9] < still_dps)
        )
        before = np.flatnonzero(moving[::-1])
        a2 = a - (int(before[0]) if before.size else a - lo)
        hi = min(n, b + reach)
        moving = present[b:hi] & (
            (np.abs(acc_mean[b:hi] - acc_mean[b - 1]).max(axis=1) > still_acc_g)
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
    s = _window_sums(bins[:, [17, 18, 19]], k)
    g = _window_sums(bins[:, 9:10] * bins[:, 19:20], k)[:, 0]
    cnt = s[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        m = s[:, 0] / cnt
        sd = np.sqrt(np.maximum(s[:, 1] / cnt - m * m, 0.0))
        gyro_mean = g / cnt
    cand = (
        (cnt > 0)
        & (sd >= params.walk_acc_sd_min_g)
        & (sd <= params.walk_acc_sd_max_g)
        & (gyro_mean <= params.walk_gyro_max_dps)
    )
    cand = _keep_long_runs(cand, int(np.ceil(params.min_walk_s / (k * bin_s))))
    return _expand(cand, k, n)

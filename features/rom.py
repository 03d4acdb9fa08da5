"""Daily cervical range-of-motion envelopes from movement excursions.

A person rarely uses their full range, but over a day they reach it now and then; the envelope
per plane and side is a robust high percentile of the peaks of their movement excursions (so a
single artefact does not set it). Normal active ROM for scale: flexion+extension about 127 deg,
lateral bending about 89 deg, rotation about 146 deg [Niewiadomski 2019]; in CGH the
flexion-rotation range toward the headache side drops to 25–28 deg from about 44 deg, and ROM
drops about 6 deg during a headache [Hall & Robinson 2004; Hall 2010].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt
from scipy.ndimage import minimum_filter1d
from scipy.signal import find_peaks

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

ROM_SIDES = (
    ("flexion", 0, 1.0),
    ("extension", 0, -1.0),
    ("lateral_right", 1, 1.0),
    ("lateral_left", 1, -1.0),
    ("rotation_right", 2, 1.0),
    ("rotation_left", 2, -1.0),
)


@dataclass(frozen=True)
class RomParams:
    """Peak detection and the robust percentile of the envelope.

    A peak counts with the angle it was *held* at for ``hold_s`` (a rolling minimum), so a
    single-bin spike cannot set the envelope; the envelope is the ``percentile`` of those held
    peaks — 100, the largest, because the full range is reached only a few times a day (a
    lower percentile of the peaks measures how far a person usually turns, not how far they can).
    """

    min_prominence_deg: float = 8.0
    percentile: float = 100.0
    min_peaks: int = 3
    hold_s: float = 0.5


DEFAULT_ROM = RomParams()


@numba.njit(cache=True, error_model="numpy")
def _held_extremes(angle_deg: np.ndarray, ok: np.ndarray, hold: int) -> tuple[float, float]:
    """Largest rolling minimum over ``hold`` bins of ``angle`` and of ``-angle`` (-180 where not ok).

    Same windows as ``scipy.ndimage.minimum_filter1d(x, hold, mode="nearest")`` (bins
    ``i - hold // 2 ... i - hold // 2 + hold - 1``, clipped at the ends: the repeated edge value
    adds nothing to a minimum); both sides of a plane in one pass without temporaries.
    """
    n = angle_deg.shape[0]
    top_pos = -np.inf
    top_neg = -np.inf
    half = hold // 2
    if hold == 2 and n >= 2:
        # the default (0.5 s of 0.25-s bins): windows {0}, {0, 1}, {1, 2}, ... as one branch-free
        # reduction the compiler vectorises (2x faster than the general loop). A gap bin enters
        # as -180 (minimum) / +180 (maximum); it differs from the general loop only where an
        # angle lies beyond +-180, i.e. for a top below -180, which is no envelope either way
        v = angle_deg[0]
        use = ok[0] and math.isfinite(v)
        top_pos = v if use else -180.0
        top_neg = -v if use else -180.0
        for i in range(1, n):
            a = angle_deg[i - 1]
            b = angle_deg[i]
            ua = ok[i - 1] and math.isfinite(a)
            ub = ok[i] and math.isfinite(b)
            top_pos = max(top_pos, min(a if ua else -180.0, b if ub else -180.0))
            top_neg = max(top_neg, -max(a if ua else 180.0, b if ub else 180.0))
        return top_pos, top_neg
    for i in range(n):
        lo = max(0, i - half)
        hi = min(n, i - half + hold)
        mn = np.inf
        mx = -np.inf
        gap = False
        for j in range(lo, hi):
            v = angle_deg[j]
            if not (ok[j] and math.isfinite(v)):
                gap = True
                break
            mn = min(mn, v)
            mx = max(mx, v)
        if gap:
            # a window with an unusable bin holds -180 on both sides
            mn = -180.0
            mx = 180.0
        top_pos = max(top_pos, mn)
        top_neg = max(top_neg, -mx)
    return top_pos, top_neg


def _held_max(angle_deg: F64, ok: B, sign: float, hold: int) -> float:
    """Largest rolling minimum over ``hold`` bins of ``sign * angle`` (-180 where not ok; -inf if empty)."""
    pos, neg = _held_extremes(np.asarray(angle_deg, np.float64), np.asarray(ok, np.bool_), hold)
    return pos if sign > 0 else neg


def envelope_deg(
    angle_deg: F64, ok: B, sign: float, bin_s: float, params: RomParams = DEFAULT_ROM
) -> float | None:
    """Envelope of one direction: high percentile of excursion peak angles (deg, positive).

    Parameters
    ----------
    angle_deg : (B,) float
        Per-bin angle of one plane (deg); ``sign`` = -1 selects the negative side.
    ok : (B,) bool
        Usable (worn, present) bins.
    bin_s : float
        Bin width (s).
    """
    hold = max(1, round(params.hold_s / bin_s))
    if params.percentile >= 100.0:
        # the largest held peak is the maximum of the held signal (its prominence is the whole
        # swing below it), so the peak search is not needed
        top = _held_max(angle_deg, ok, sign, hold)
        return top if top > 0 else None
    x = np.where(ok & np.isfinite(angle_deg), sign * angle_deg, np.nan)
    # gaps become low values so no peak spans them
    x = np.where(np.isfinite(x), x, -180.0)
    if hold > 1:
        x = minimum_filter1d(x, size=hold, mode="nearest")
    peaks, _ = find_peaks(x, prominence=params.min_prominence_deg)
    heights = x[peaks]
    heights = heights[heights > 0]
    if heights.size == 0:
        return None
    if heights.size < params.min_peaks:
        return float(heights.max())
    return float(np.percentile(heights, params.percentile))


def rom_features(
    flex_deg: F64, lat_deg: F64, rot_deg: F64, worn: B, bin_s: float, params: RomParams = DEFAULT_ROM
) -> dict[str, float | None]:
    """ROM envelopes per plane and side and totals per plane (deg)."""
    planes = (flex_deg, lat_deg, rot_deg)
    out: dict[str, float | None] = {}
    if params.percentile >= 100.0:
        # both sides of a plane in one pass (see envelope_deg)
        hold = max(1, round(params.hold_s / bin_s))
        ok = np.asarray(worn, np.bool_)
        for axis, plane in enumerate(planes):
            tops = _held_extremes(np.asarray(plane, np.float64), ok, hold)
            for name, ax, sign in ROM_SIDES:
                if ax == axis:
                    top = tops[0] if sign > 0 else tops[1]
                    out[f"rom_{name}_deg"] = top if top > 0 else None
    else:
        for name, axis, sign in ROM_SIDES:
            out[f"rom_{name}_deg"] = envelope_deg(planes[axis], worn, sign, bin_s, params)
    for total, a, b in (
        ("sagittal", "flexion", "extension"),
        ("lateral", "lateral_left", "lateral_right"),
        ("rotation", "rotation_left", "rotation_right"),
    ):
        va, vb = out[f"rom_{a}_deg"], out[f"rom_{b}_deg"]
        out[f"rom_{total}_total_deg"] = None if va is None or vb is None else va + vb
    return out

"""Per-bin head kinematics from the fused orientation bins, in one compiled pass.

Every later stage (non-wear, calibration, angles) needs the same few things per 0.25-s bin: the
'up' direction in sensor coordinates and the rotation from the previous bin. Computing them once
here, in a single loop, replaces several (B, 3, 3) einsums and temporaries per stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from features.autocal import rotation_of_bin

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BinKinematics:
    """Per-bin kinematics (B bins); NaN where a bin (or, for ``step``, its predecessor) has no data.

    Attributes
    ----------
    up : (B, 3) float
        Unit 'up' vector in sensor coordinates (third row of the mean sensor->earth rotation).
    step : (B, 3) float
        Small-angle rotation vector ``vee(R_{b-1}^T R_b)`` in the sensor frame: its direction is
        the mean rotation axis from the previous bin, its length the sine of the angle turned.
    rate_dps : (B,) float
        Angle turned from the previous bin divided by the bin width (bias-free angular speed).
    present : (B,) bool
        Bins with data (sample count > 0).
    """

    up: F64
    step: F64
    rate_dps: F64
    present: npt.NDArray[np.bool_]

    def slice(self, start: int, stop: int) -> BinKinematics:
        """The bins ``start:stop`` (views, no copies)."""
        return BinKinematics(
            self.up[start:stop], self.step[start:stop], self.rate_dps[start:stop], self.present[start:stop]
        )


@numba.njit(cache=True, error_model="numpy")
def _kinematics(
    bins: np.ndarray,
    up: np.ndarray,
    step: np.ndarray,
    cos: np.ndarray,
    present: np.ndarray,
) -> None:
    """Unit up, step vector and the cosine of the angle turned from the previous bin (NaN: no data).

    The previous bin's rotation is carried in registers, so every bin's nine entries are read
    once. (The accelerometer offset is already applied while the bins are finished:
    ``orientation_bins(autocal=...)``.) The arccos is left to numpy, whose vectorised (SIMD) arccos is ~20x faster
    than a libm call per bin. ``up``, ``step`` (B, 3), ``cos`` and ``present`` (B,) are outputs
    allocated by numpy (large numba allocations are not in huge pages: their first-touch page
    faults would cost more than the loop).
    """
    n = bins.shape[0]
    nan = np.nan
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = 0.0
    prev = False  # the previous bin had data (its rotation is in a0..a8)
    for b in range(n):
        # every entry is written (NaN where undefined): the outputs need no fill pass
        up[b, 0] = up[b, 1] = up[b, 2] = nan
        step[b, 0] = step[b, 1] = step[b, 2] = nan
        cos[b] = nan
        has = bins[b, 19] > 0.0
        present[b] = has
        if not has:
            prev = False
            continue
        q0, q1, q2, q3, q4, q5, q6, q7, q8 = rotation_of_bin(bins, b)
        m2 = q6 * q6 + q7 * q7 + q8 * q8
        if m2 > 0.0:
            inv = 1.0 / math.sqrt(m2)  # one division, not three
            up[b, 0] = q6 * inv
            up[b, 1] = q7 * inv
            up[b, 2] = q8 * inv
        if prev:
            # D = R_a^T R_b with R row-major: d_ij = sum_k A[k, i] B[k, j]
            d00 = a0 * q0 + a3 * q3 + a6 * q6
            d11 = a1 * q1 + a4 * q4 + a7 * q7
            d22 = a2 * q2 + a5 * q5 + a8 * q8
            d21 = a2 * q1 + a5 * q4 + a8 * q7
            d12 = a1 * q2 + a4 * q5 + a7 * q8
            d02 = a0 * q2 + a3 * q5 + a6 * q8
            d20 = a2 * q0 + a5 * q3 + a8 * q6
            d10 = a1 * q0 + a4 * q3 + a7 * q6
            d01 = a0 * q1 + a3 * q4 + a6 * q7
            step[b, 0] = 0.5 * (d21 - d12)
            step[b, 1] = 0.5 * (d02 - d20)
            step[b, 2] = 0.5 * (d10 - d01)
            cos[b] = min(1.0, max(-1.0, (d00 + d11 + d22 - 1.0) * 0.5))
        a0, a1, a2, a3, a4, a5, a6, a7, a8 = q0, q1, q2, q3, q4, q5, q6, q7, q8
        prev = True


def bin_kinematics(bins: F64, bin_s: float) -> BinKinematics:
    """Kinematics of every bin of :func:`features.orientation.orientation_bins` output (B, 20)."""
    n = bins.shape[0]
    up = np.empty((n, 3))
    step = np.empty((n, 3))
    cos = np.empty(n)
    present = np.empty(n, dtype=np.bool_)
    _kinematics(bins, up, step, cos, present)
    rate = np.arccos(cos)  # NaN stays NaN
    rate *= 180.0 / math.pi / float(bin_s)
    return BinKinematics(up=up, step=step, rate_dps=rate, present=present)

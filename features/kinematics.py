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

from features.autocal import correct_row

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
    """

    up: F64
    step: F64
    rate_dps: F64

    def slice(self, start: int, stop: int) -> BinKinematics:
        """The bins ``start:stop`` (views, no copies)."""
        return BinKinematics(self.up[start:stop], self.step[start:stop], self.rate_dps[start:stop])


@numba.njit(cache=True, fastmath=False, error_model="numpy")
def _kinematics(
    bins: np.ndarray, ox: float, oy: float, oz: float, correct: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit up, step vector and the cosine of the angle turned from the previous bin (NaN: no data).

    With ``correct``, each bin's rotation is first tilted by the accelerometer offset (ox, oy, oz)
    in place (:func:`features.autocal.correct_row`), in the same pass. The arccos is left to
    numpy, whose vectorised (SIMD) arccos is ~20x faster than a libm call per bin.
    """
    n = bins.shape[0]
    up = np.full((n, 3), np.nan)
    step = np.full((n, 3), np.nan)
    cos = np.full(n, np.nan)
    for b in range(n):
        if bins[b, 19] <= 0.0:
            continue
        if correct:
            correct_row(bins, b, ox, oy, oz)
        u0 = bins[b, 6]
        u1 = bins[b, 7]
        u2 = bins[b, 8]
        m = math.sqrt(u0 * u0 + u1 * u1 + u2 * u2)
        if m > 0.0:
            up[b, 0] = u0 / m
            up[b, 1] = u1 / m
            up[b, 2] = u2 / m
        if b == 0 or bins[b - 1, 19] <= 0.0:
            continue
        # D = R_a^T R_b with R row-major in columns 0..8: d_ij = sum_k A[k, i] B[k, j]
        a = bins[b - 1]
        q = bins[b]
        d00 = a[0] * q[0] + a[3] * q[3] + a[6] * q[6]
        d11 = a[1] * q[1] + a[4] * q[4] + a[7] * q[7]
        d22 = a[2] * q[2] + a[5] * q[5] + a[8] * q[8]
        d21 = a[2] * q[1] + a[5] * q[4] + a[8] * q[7]
        d12 = a[1] * q[2] + a[4] * q[5] + a[7] * q[8]
        d02 = a[0] * q[2] + a[3] * q[5] + a[6] * q[8]
        d20 = a[2] * q[0] + a[5] * q[3] + a[8] * q[6]
        d10 = a[1] * q[0] + a[4] * q[3] + a[7] * q[6]
        d01 = a[0] * q[1] + a[3] * q[4] + a[6] * q[7]
        step[b, 0] = 0.5 * (d21 - d12)
        step[b, 1] = 0.5 * (d02 - d20)
        step[b, 2] = 0.5 * (d10 - d01)
        cos[b] = min(1.0, max(-1.0, (d00 + d11 + d22 - 1.0) / 2.0))
    return up, step, cos


def bin_kinematics(bins: F64, bin_s: float, *, offset_g: F64 | None = None) -> BinKinematics:
    """Kinematics of every bin of :func:`features.orientation.orientation_bins` output (B, 20).

    ``offset_g`` (3,): first apply :func:`features.autocal.correct_vertical` with this
    accelerometer offset to ``bins`` (in place, which must then be C-contiguous), in the same pass.
    """
    correct = offset_g is not None and bool(np.any(offset_g))
    if correct and not bins.flags.c_contiguous:
        raise ValueError("bins must be C-contiguous to be corrected in place")
    o = np.zeros(3) if offset_g is None else np.asarray(offset_g, dtype=np.float64)
    up, step, cos = _kinematics(np.ascontiguousarray(bins), float(o[0]), float(o[1]), float(o[2]), correct)
    rate = np.arccos(cos)  # NaN stays NaN
    rate *= 180.0 / math.pi / float(bin_s)
    return BinKinematics(up=up, step=step, rate_dps=rate)

"""Accelerometer offset autocalibration from still periods, once per recording (GGIR spirit).

A MEMS accelerometer reads gravity plus a fixed zero-g offset of a few mg per axis (our simulator:
N(0, 5 mg); datasheets: +-20-80 mg before calibration). The orientation filter takes 'up' from the
accelerometer, so an offset ``o`` tilts the estimated vertical by about ``|o_perp|`` rad (5 mg ->
0.3 deg) — a *steady* flexion offset that is small against the RMSE target but moves whole reading
bouts held near 30 deg across the "minutes above 30 deg" line. The gyro-based functional vertical
of the mounting calibration does not see the offset, so it does not cancel.

Like GGIR's autocalibration (van Hees et al. 2014), we use the fact that a still sensor measures
exactly 1 g: in every still 0.25-s bin (low acceleration SD, low angular speed — worn or lying on
a table) ``|a - o| = s`` with ``s`` the gravity magnitude in sensor units, so
``|a|^2 = 2 a . o + (s^2 - |o|^2)`` is linear in ``(o, c)`` and one least-squares solve over the
still bins gives the offset. The intercept ``c`` absorbs an isotropic scale error instead of
letting it leak into ``o``; per-axis scale is *not* fitted, because head-worn data rarely spans
enough orientations to separate it from the offset (GGIR needs +-0.3 g on every axis for that).
Directions the still postures do not span are left uncorrected (a ridge term pulls them to zero)
rather than guessed.

The fit runs on the per-bin moments the filter already produces, after it; the correction is then
applied to each bin's vertical (see :func:`correct_vertical`): the filter converges to the
direction of the measured acceleration ``g_up + o``, so the true vertical is the direction of
``up - o``. No second pass of the filter is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AutocalParams:
    """Still-bin selection and the fit's safeguards.

    Attributes
    ----------
    still_acc_sd_g : float
        Largest per-axis acceleration SD within a bin for it to count as still.
    still_gyro_dps : float
        Largest mean angular speed of a still bin.
    magnitude_tol_g : float
        Still bins whose |a| is further than this from 1 g are left out (a free fall, a car's
        acceleration).
    min_bins : int
        Fewer still bins than this: no correction.
    ridge : float
        Regularisation (in units of 'still bins with a unit lever'): directions spanned by fewer
        still orientations than this are pulled towards no correction.
    res_max_g2 : float
        Second pass: still bins whose |a|^2 misses the first fit by more than this (g^2; about
        4 SD of a 0.25-s bin's noise) are left out.
    max_offset_g : float
        A fitted offset larger than this is not trusted (a miscalibrated device should be
        recalibrated, not silently corrected): no correction.
    """

    still_acc_sd_g: float = 0.01
    still_gyro_dps: float = 5.0
    magnitude_tol_g: float = 0.1
    min_bins: int = 200
    ridge: float = 20.0
    res_max_g2: float = 0.01
    max_offset_g: float = 0.1


DEFAULT_AUTOCAL = AutocalParams()


Sums = tuple[float, float, float, float, float, float, float, float, float, float, float, float, float, float]
_NO_SUMS: Sums = (0.0,) * 14


@numba.njit(cache=True, inline="always")
def _add_still(s: Sums, mx: float, my: float, mz: float, a2: float) -> Sums:
    """One still bin (mean acceleration, |a|^2) added to the normal-equation sums of the fit's rows
    ``x = (2a, 1)``, ``y = |a|^2``: the ten distinct x_i x_j, the four x_i y and the count (a
    tuple, so the sums stay in registers)."""
    x0 = 2.0 * mx
    x1 = 2.0 * my
    x2 = 2.0 * mz
    return (
        s[0] + x0 * x0, s[1] + x0 * x1, s[2] + x0 * x2, s[3] + x0, s[4] + x1 * x1, s[5] + x1 * x2,
        s[6] + x1, s[7] + x2 * x2, s[8] + x2, s[9] + x0 * a2, s[10] + x1 * a2, s[11] + x2 * a2,
        s[12] + a2, s[13] + 1.0,
    )  # fmt: skip


def _normal_matrix(s: Sums) -> tuple[F64, F64, int]:
    """X^T X (4, 4), X^T y (4,) and the count from :func:`_add_still`'s sums."""
    xtx = np.array(
        [
            [s[0], s[1], s[2], s[3]],
            [s[1], s[4], s[5], s[6]],
            [s[2], s[5], s[7], s[8]],
            [s[3], s[6], s[8], s[13]],
        ]
    )
    return xtx, np.array([s[9], s[10], s[11], s[12]]), int(s[13])


@numba.njit(cache=True, error_model="numpy")
def _still_moments(
    bins: np.ndarray, sd2_max: float, gyro_max: float, mag_tol: float, summed: bool, out: np.ndarray
) -> tuple[int, Sums]:
    """Mean acceleration (x, y, z) and its squared norm of the still bins into the first M rows of
    ``out`` (B, 4), and the normal-equation sums over all of them (the first fit), in one pass;
    returns M and the sums. ``summed``: column 9 holds the bin's summed angular speed, not yet its
    mean (the filter's bins before they are finished).

    Still: at least 3 samples, mean angular speed below ``gyro_max``, every axis' variance below
    ``sd2_max`` and ``| |a| - 1 |`` below ``mag_tol``.
    """
    n = 0
    sums = _NO_SUMS
    for b in range(bins.shape[0]):
        c = bins[b, 19]
        if c < 3.0 or bins[b, 9] >= (gyro_max * c if summed else gyro_max):
            continue
        ic = 1.0 / c  # one division per bin, not six
        mx = bins[b, 11] * ic
        my = bins[b, 12] * ic
        mz = bins[b, 13] * ic
        if (
            bins[b, 14] * ic - mx * mx >= sd2_max
            or bins[b, 15] * ic - my * my >= sd2_max
            or bins[b, 16] * ic - mz * mz >= sd2_max
        ):
            continue
        a2 = mx * mx + my * my + mz * mz
        if abs(np.sqrt(a2) - 1.0) >= mag_tol:
            continue
        out[n, 0] = mx
        out[n, 1] = my
        out[n, 2] = mz
        out[n, 3] = a2
        n += 1
        sums = _add_still(sums, mx, my, mz, a2)
    return n, sums


@numba.njit(cache=True, error_model="numpy")
def _normal_sums(still: np.ndarray, fit: np.ndarray, res_max: float) -> Sums:
    """:func:`_add_still`'s sums over the still bins (``_still_moments``) whose residual against
    ``fit`` (o, c) is at most ``res_max`` (the second fit)."""
    sums = _NO_SUMS
    for b in range(still.shape[0]):
        mx = still[b, 0]
        my = still[b, 1]
        mz = still[b, 2]
        a2 = still[b, 3]
        if abs(a2 - (2.0 * (mx * fit[0] + my * fit[1] + mz * fit[2]) + fit[3])) > res_max:
            continue
        sums = _add_still(sums, mx, my, mz, a2)
    return sums


def fit_offset(bins: F64, params: AutocalParams = DEFAULT_AUTOCAL, *, summed: bool = False) -> F64:
    """Accelerometer zero-g offset (g, (3,)) of one recording from its still bins; zeros if not fitted.

    Parameters
    ----------
    bins : (B, 20) float
        Output of :func:`features.orientation.orientation_bins` (acc sums, squares, count, gyro).
    summed : bool
        ``bins`` are the filter's sums before they are finished (column 9: summed angular speed;
        see ``orientation_bins(autocal=...)``).
    """
    reg = np.diag([params.ridge, params.ridge, params.ridge, 0.0])
    # one pass over the bins picks the still ones and sums fit 1 (all of them); fit 2 leaves out
    # the bins fit 1 does not explain (slow but accelerated movements that passed the stillness test)
    buf = np.empty((bins.shape[0], 4))  # numpy, not numba: huge pages for a large array
    m, sums = _still_moments(
        bins, params.still_acc_sd_g**2, params.still_gyro_dps, params.magnitude_tol_g, summed, buf
    )
    fit: F64 = np.zeros(4)
    for second in (False, True):
        if second:
            sums = _normal_sums(buf[:m], fit, params.res_max_g2)
        xtx, xty, n = _normal_matrix(sums)
        if n < params.min_bins:
            return np.zeros(3)
        fit = np.asarray(np.linalg.solve(xtx + reg, xty), dtype=np.float64)
    o = fit[:3]
    if not np.all(np.isfinite(o)) or float(np.linalg.norm(o)) > params.max_offset_g:
        return np.zeros(3)
    return np.asarray(o, dtype=np.float64)


@numba.njit(cache=True, inline="always")
def rotation_of_bin(
    bins: np.ndarray, b: int
) -> tuple[float, float, float, float, float, float, float, float, float]:
    """Bin ``b``'s mean rotation (columns 0..8, row-major) as 9 scalars.

    Scalars, not a row view: inside a compiled per-bin loop a view costs a reference count, i.e. a
    call, per bin.
    """
    return (
        bins[b, 0],
        bins[b, 1],
        bins[b, 2],
        bins[b, 3],
        bins[b, 4],
        bins[b, 5],
        bins[b, 6],
        bins[b, 7],
        bins[b, 8],
    )


@numba.njit(cache=True, error_model="numpy", inline="always")
def corrected_rotation(
    r0: float, r1: float, r2: float, r3: float, r4: float, r5: float, r6: float, r7: float, r8: float,
    ox: float, oy: float, oz: float,
) -> tuple[float, float, float, float, float, float, float, float, float]:  # fmt: skip
    """A bin's mean rotation (row-major) tilted in the earth frame so its vertical becomes the
    direction of up - o.

    In the earth frame the corrected vertical is ``e_z - R o`` (``R o``: the offset seen in the
    earth frame), reached by the small rotation about ``k = (-(R o)_y, (R o)_x, 0)`` (first order in
    the offset of a few mg: the neglected part is ~|o|^2, 1e-5 rad). ``C = exp([k]x)`` is built
    with the series of sin(t)/t and (1 - cos(t))/t^2, exact to rounding, so C stays orthonormal:
    the non-wear test reads bin-to-bin rotations of hundredths of a degree, which a merely
    first-order (non-orthonormal) C would swamp. No square roots or divisions per bin (the series'
    constant divisors are folded into reciprocals at compile time).
    """
    kx = -(r3 * ox + r4 * oy + r5 * oz)
    ky = r0 * ox + r1 * oy + r2 * oz
    t2 = kx * kx + ky * ky
    sa = 1.0 - t2 * (1.0 / 6.0) + t2 * t2 * (1.0 / 120.0)  # sin(t) / t
    sb = 0.5 - t2 * (1.0 / 24.0) + t2 * t2 * (1.0 / 720.0)  # (1 - cos(t)) / t^2
    c00 = 1.0 - sb * ky * ky
    c01 = sb * kx * ky
    c02 = sa * ky
    c11 = 1.0 - sb * kx * kx
    c12 = -sa * kx
    c20 = -sa * ky
    c21 = sa * kx
    c22 = 1.0 - sb * t2
    return (
        c00 * r0 + c01 * r3 + c02 * r6,
        c00 * r1 + c01 * r4 + c02 * r7,
        c00 * r2 + c01 * r5 + c02 * r8,
        c01 * r0 + c11 * r3 + c12 * r6,
        c01 * r1 + c11 * r4 + c12 * r7,
        c01 * r2 + c11 * r5 + c12 * r8,
        c20 * r0 + c21 * r3 + c22 * r6,
        c20 * r1 + c21 * r4 + c22 * r7,
        c20 * r2 + c21 * r5 + c22 * r8,
    )


@numba.njit(cache=True, error_model="numpy", inline="always")
def correct_row(bins: np.ndarray, b: int, ox: float, oy: float, oz: float) -> None:
    """:func:`corrected_rotation` of bin ``b``, written back in place."""
    r0, r1, r2, r3, r4, r5, r6, r7, r8 = rotation_of_bin(bins, b)
    r0, r1, r2, r3, r4, r5, r6, r7, r8 = corrected_rotation(r0, r1, r2, r3, r4, r5, r6, r7, r8, ox, oy, oz)
    bins[b, 0] = r0
    bins[b, 1] = r1
    bins[b, 2] = r2
    bins[b, 3] = r3
    bins[b, 4] = r4
    bins[b, 5] = r5
    bins[b, 6] = r6
    bins[b, 7] = r7
    bins[b, 8] = r8


@numba.njit(cache=True, error_model="numpy")
def _correct(bins: np.ndarray, ox: float, oy: float, oz: float) -> None:
    """:func:`correct_row` on every bin with data."""
    for b in range(bins.shape[0]):
        if bins[b, 19] > 0.0:
            correct_row(bins, b, ox, oy, oz)


def correct_vertical(bins: F64, offset_g: F64) -> None:
    """Apply an accelerometer offset (g, (3,)) to the fused bins in place.

    Each bin's mean sensor->earth rotation (columns 0-8 of ``bins``, (B, 20)) is tilted in the
    earth frame so that its vertical (row 3, 'up' in sensor coordinates) points along ``up - o``;
    the tilt varies slowly with posture, so bin-to-bin steps (movement, non-wear) are unchanged.
    """
    if not np.any(offset_g):
        return
    _correct(bins, float(offset_g[0]), float(offset_g[1]), float(offset_g[2]))

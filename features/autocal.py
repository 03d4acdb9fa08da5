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


@numba.njit(cache=True, error_model="numpy")
def _normal_equations(
    bins: np.ndarray, sd2_max: float, gyro_max: float, mag_tol: float, fit: np.ndarray, res_max: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """X^T X (4, 4), X^T y (4,) and count of the still bins, rows x = (2a, 1), y = |a|^2.

    Bins whose residual against ``fit`` (o, c) exceeds ``res_max`` are left out (second pass).
    One pass over the bins without temporaries: the fit costs ~1 ms per participant-day.
    """
    xtx = np.zeros((4, 4))
    xty = np.zeros(4)
    n = 0
    x = np.empty(4)
    for b in range(bins.shape[0]):
        c = bins[b, 19]
        if c < 3.0 or bins[b, 9] >= gyro_max:
            continue
        mx = bins[b, 11] / c
        my = bins[b, 12] / c
        mz = bins[b, 13] / c
        if (
            bins[b, 14] / c - mx * mx >= sd2_max
            or bins[b, 15] / c - my * my >= sd2_max
            or bins[b, 16] / c - mz * mz >= sd2_max
        ):
            continue
        a2 = mx * mx + my * my + mz * mz
        if abs(np.sqrt(a2) - 1.0) >= mag_tol:
            continue
        x[0] = 2.0 * mx
        x[1] = 2.0 * my
        x[2] = 2.0 * mz
        x[3] = 1.0
        if abs(a2 - (x[0] * fit[0] + x[1] * fit[1] + x[2] * fit[2] + fit[3])) > res_max:
            continue
        for i in range(4):
            xty[i] += x[i] * a2
            for j in range(4):
                xtx[i, j] += x[i] * x[j]
        n += 1
    return xtx, xty, n


def fit_offset(bins: F64, params: AutocalParams = DEFAULT_AUTOCAL) -> F64:
    """Accelerometer zero-g offset (g, (3,)) of one recording from its still bins; zeros if not fitted.

    Parameters
    ----------
    bins : (B, 20) float
        Output of :func:`features.orientation.orientation_bins` (acc sums, squares, count, gyro).
    """
    b = np.ascontiguousarray(bins)
    reg = np.diag([params.ridge, params.ridge, params.ridge, 0.0])
    fit = np.array([0.0, 0.0, 0.0, 1.0])
    # pass 1: all still bins; pass 2: without the bins pass 1 does not explain (slow but
    # accelerated movements that passed the stillness test), residual beyond res_max_g2
    for res_max in (np.inf, params.res_max_g2):
        xtx, xty, n = _normal_equations(
            b, params.still_acc_sd_g**2, params.still_gyro_dps, params.magnitude_tol_g, fit, res_max
        )
        if n < params.min_bins:
            return np.zeros(3)
        fit = np.linalg.solve(xtx + reg, xty)
    o = fit[:3]
    if not np.all(np.isfinite(o)) or float(np.linalg.norm(o)) > params.max_offset_g:
        return np.zeros(3)
    return np.asarray(o, dtype=np.float64)


@numba.njit(cache=True, error_model="numpy")
def _correct(bins: np.ndarray, ox: float, oy: float, oz: float) -> None:
    """Tilt each bin's mean rotation (earth frame) so its vertical becomes the direction of up - o."""
    for b in range(bins.shape[0]):
        if bins[b, 19] <= 0.0:
            continue
        r = bins[b]
        ux = r[6]
        uy = r[7]
        uz = r[8]
        nu = np.sqrt(ux * ux + uy * uy + uz * uz)
        if nu <= 0.0:
            continue
        # corrected up in the sensor frame, then in the earth frame: v = R u'
        cx = ux / nu - ox
        cy = uy / nu - oy
        cz = uz / nu - oz
        nc = np.sqrt(cx * cx + cy * cy + cz * cz)
        cx /= nc
        cy /= nc
        cz /= nc
        vx = r[0] * cx + r[1] * cy + r[2] * cz
        vy = r[3] * cx + r[4] * cy + r[5] * cz
        vz = r[6] * cx + r[7] * cy + r[8] * cz
        nv = np.sqrt(vx * vx + vy * vy + vz * vz)
        vx /= nv
        vy /= nv
        vz /= nv
        # earth-frame rotation C taking v onto e_z (Rodrigues about k = v x e_z); R' = C R
        kx = vy
        ky = -vx
        s2 = kx * kx + ky * ky
        if s2 < 1e-30:
            continue
        cth = vz
        f = (1.0 - cth) / s2
        c00 = cth + f * kx * kx
        c01 = f * kx * ky
        c02 = ky
        c10 = f * kx * ky
        c11 = cth + f * ky * ky
        c12 = -kx
        c20 = -ky
        c21 = kx
        c22 = cth
        for j in range(3):
            a0 = r[j]
            a1 = r[3 + j]
            a2 = r[6 + j]
            r[j] = c00 * a0 + c01 * a1 + c02 * a2
            r[3 + j] = c10 * a0 + c11 * a1 + c12 * a2
            r[6 + j] = c20 * a0 + c21 * a1 + c22 * a2


def correct_vertical(bins: F64, offset_g: F64) -> None:
    """Apply an accelerometer offset (g, (3,)) to the fused bins in place.

    Each bin's mean sensor->earth rotation (columns 0-8 of ``bins``, (B, 20)) is tilted in the
    earth frame so that its vertical (row 3, 'up' in sensor coordinates) points along ``up - o``;
    the tilt varies slowly with posture, so bin-to-bin steps (movement, non-wear) are unchanged.
    """
    if not np.any(offset_g):
        return
    _correct(bins, float(offset_g[0]), float(offset_g[1]), float(offset_g[2]))

"""Clinical head angles from the fused orientation and the mounting calibration.

Conventions (SPEC contract 1): head frame x anterior, y left, z superior. Angles are the
aerospace z-y-x Euler angles of the head relative to an earth frame with z up:
``R_head = Rz(-rotation) @ Ry(flexion) @ Rx(lateral)``, so flexion (chin down) is +, extension -,
right lateral flexion +, right rotation +. Flexion and lateral flexion are referenced to gravity
and do not drift; rotation has no gravity reference, so it is only reported as an *excursion*
from a short rolling median (the head's recent straight-ahead), which keeps gyro drift and the
body's own turning out of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt
from scipy.ndimage import median_filter

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class HeadAngles:
    """Per-bin head angles in degrees; NaN where the bin has no data.

    Attributes
    ----------
    flexion_deg, lateral_deg : (B,) float
        Flexion (+) / extension (-) and right (+) / left (-) lateral flexion versus gravity.
    rotation_deg : (B,) float
        Right (+) / left (-) rotation excursion from the rolling median heading.
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


def head_angles(bins: F64, mount: F64, bin_s: float, *, rotation_window_s: float = 120.0) -> HeadAngles:
    """Head angles per bin.

    Parameters
    ----------
    bins : (B, 20) float
        Output of :func:`features.orientation.orientation_bins`.
    mount : (3, 3) float
        Sensor-to-head rotation (``v_head = mount @ v_sensor``), rows = head axes in sensor frame.
    bin_s : float
        Bin width in seconds.
    rotation_window_s : float
        Width of the rolling median that defines 'straight ahead' for rotation excursions.
    """
    flex, lat, yaw, present = _euler(
        np.ascontiguousarray(bins), np.ascontiguousarray(mount, dtype=np.float64)
    )
    rot = np.full(bins.shape[0], np.nan)
    if present.any():
        idx = np.flatnonzero(present)
        yaw_u = yaw[idx]
        # the median runs on a ~1 s grid (cheap), then is interpolated back to the bins
        step = max(1, round(1.0 / bin_s))
        coarse = yaw_u[::step]
        win = max(3, round(rotation_window_s / (bin_s * step)) | 1)
        base_c = median_filter(coarse, size=win, mode="nearest")
        base = np.interp(np.arange(idx.size), np.arange(0, idx.size, step)[: base_c.size], base_c)
        rot[idx] = -(yaw_u - base)  # right rotation turns the forward axis clockwise (negative yaw)
    return HeadAngles(flexion_deg=flex, lateral_deg=lat, rotation_deg=rot)

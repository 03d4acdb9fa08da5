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

from dataclasses import dataclass

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
    present = bins[:, 19] > 0
    r = bins[:, :9].reshape(-1, 3, 3)
    # up in head frame = M @ (R_sensor^T ez) ; R_sensor^T ez is R's third row
    up_h = up_in_sensor(bins) @ mount.T
    flex = np.degrees(np.arcsin(np.clip(-up_h[:, 0], -1.0, 1.0)))
    lat = np.degrees(np.arctan2(up_h[:, 1], up_h[:, 2]))
    # head forward axis in the earth frame: R_sensor @ (M^T ex) = R_sensor @ mount[0]
    fwd = r @ mount[0]
    yaw = np.arctan2(fwd[:, 1], fwd[:, 0])
    rot = np.full(bins.shape[0], np.nan)
    if present.any():
        idx = np.flatnonzero(present)
        yaw_u = np.degrees(np.unwrap(yaw[idx]))
        # the median runs on a ~1 s grid (cheap), then is interpolated back to the bins
        step = max(1, round(1.0 / bin_s))
        coarse = yaw_u[::step]
        win = max(3, round(rotation_window_s / (bin_s * step)) | 1)
        base_c = median_filter(coarse, size=win, mode="nearest")
        base = np.interp(np.arange(idx.size), np.arange(0, idx.size, step)[: base_c.size], base_c)
        rot[idx] = -(yaw_u - base)  # right rotation turns the forward axis clockwise (negative yaw)
    flex[~present] = np.nan
    lat[~present] = np.nan
    return HeadAngles(flexion_deg=flex, lateral_deg=lat, rotation_deg=rot)

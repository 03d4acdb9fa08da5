"""Sensor-to-head mounting calibration estimated from the data itself.

The sensor is never mounted exactly aligned with the head axes, and it moves when the device is
taken off and put back on, so the mounting is estimated per *wear segment*:

* **Vertical** (head z axis in sensor coordinates): the mean gravity direction while walking —
  people walk with the head upright and gaze ahead, and gait accelerations average out over a
  bout. Without enough walking, the gravity direction of the densest cluster of quiet postures
  is used instead (weaker: it can carry a habitual flexion).
* **Heading** (head y axis, the flexion-extension axis): the principal axis of the head's
  angular motion perpendicular to the vertical — flexion-extension is the dominant neck movement
  in daily life. Its sign comes from the mean tilt: over a day the head spends far more time
  flexed (reading, phones, desks) than extended, so the forward axis points the way gravity
  leans on average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from features.angles import up_in_sensor
from features.errors import CalibrationError

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

MIN_WALK_S = 60.0
MIN_WORN_S = 300.0


@dataclass(frozen=True)
class Calibration:
    """A sensor-to-head rotation and how it was obtained.

    Attributes
    ----------
    mount : (3, 3) float
        Rows are the head axes (x anterior, y left, z up) in sensor coordinates, so
        ``v_head = mount @ v_sensor``.
    vertical_method : str
        ``walking`` or ``quiet_mode``.
    walking_s, worn_s : float
        Seconds of walking and of worn data the estimate used.
    """

    mount: F64
    vertical_method: str
    walking_s: float
    worn_s: float


def _unit(v: F64) -> F64:
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n < 1e-9:
        raise CalibrationError("degenerate direction while estimating the mounting")
    return v / n


def _quiet_mode(up: F64, gyro_dps: F64, ok: B) -> F64:
    """Gravity direction of the densest cluster of quiet postures (a 2-pass trimmed mean)."""
    quiet = ok & (gyro_dps < 10.0)
    if quiet.sum() < 10:
        quiet = ok
    u = up[quiet]
    center = _unit(np.median(u, axis=0))
    for radius_deg in (20.0, 10.0):
        near = u @ center > np.cos(np.radians(radius_deg))
        if near.sum() >= 10:
            center = _unit(u[near].mean(axis=0))
    return center


def estimate_mounting(bins: F64, worn: B, walking: B, bin_s: float) -> Calibration:
    """Estimate the mounting from one wear segment.

    Parameters
    ----------
    bins : (B, 20) float
        Per-bin fused orientation and moments (:func:`features.orientation.orientation_bins`).
    worn, walking : (B,) bool
        Worn bins and walking bins of this segment.
    bin_s : float
        Bin width in seconds.

    Raises
    ------
    CalibrationError
        With fewer than ``MIN_WORN_S`` seconds of worn data.
    """
    present = bins[:, 19] > 0
    ok = worn & present
    worn_s = float(ok.sum() * bin_s)
    if worn_s < MIN_WORN_S:
        raise CalibrationError(f"only {worn_s:.0f} s of worn data; need {MIN_WORN_S:.0f} s")
    cnt = bins[:, 19]
    # mean acceleration per bin = gravity + (zero-mean over a bout) gait acceleration
    acc_mean = bins[:, 11:14] / np.maximum(cnt, 1.0)[:, None]
    walk = walking & ok
    walking_s = float(walk.sum() * bin_s)
    up = up_in_sensor(bins)
    if walking_s >= MIN_WALK_S:
        z = _unit(acc_mean[walk].sum(axis=0))
        method = "walking"
    else:
        z = _quiet_mode(up, bins[:, 9], ok)
        method = "quiet_mode"
    # angular motion between consecutive bins, in sensor coordinates (small-angle vee of R_i^T R_j)
    r = bins[:, :9].reshape(-1, 3, 3)
    pair = ok[:-1] & ok[1:]
    ra = r[:-1][pair]
    rb = r[1:][pair]
    d = np.einsum("nki,nkj->nij", ra, rb)  # R_a^T R_b
    w = 0.5 * np.stack([d[:, 2, 1] - d[:, 1, 2], d[:, 0, 2] - d[:, 2, 0], d[:, 1, 0] - d[:, 0, 1]], axis=1)
    w_h = w - np.outer(w @ z, z)  # drop the rotation about the vertical
    big = np.linalg.norm(w_h, axis=1) > np.radians(1.0)
    # mean tilt: where gravity leans on average, relative to the vertical (forward = flexion side)
    tilt = up[ok].mean(axis=0)
    tilt_h = tilt - (tilt @ z) * z
    if big.sum() >= 20:
        cov = w_h[big].T @ w_h[big]
        _evals, evecs = np.linalg.eigh(cov)
        y = _unit(evecs[:, -1] - (evecs[:, -1] @ z) * z)
        # 'up' leans toward -x_head when flexed, so x_head points opposite to the mean tilt
        x = np.cross(y, z)
        if float(x @ tilt_h) > 0:
            y = -y
            x = -x
    else:
        x = _unit(-tilt_h)
        y = np.cross(z, x)
    mount = np.vstack([_unit(x), _unit(y), z])
    return Calibration(mount=mount, vertical_method=method, walking_s=walking_s, worn_s=worn_s)

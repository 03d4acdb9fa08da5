"""Sensor-to-head mounting calibration estimated from the data itself.

The sensor is never mounted exactly aligned with the head axes, and it moves when the device is
taken off and put back on, so the mounting is estimated per *wear segment*:

* **Vertical** (head z axis in sensor coordinates): the mean gravity direction of the quiet
  neutral hold that the wear protocol asks for right after putting the device on (the first
  >= 3 s still period of a segment that starts with a donning). Without one, the mean gravity
  direction while walking —
  people walk with the head upright and gaze ahead, and gait accelerations average out over a
  bout. Without enough walking, the gravity direction of the densest cluster of quiet postures
  is used instead (weaker: it can carry a habitual flexion).
* **Heading**: the protocol's first movement after the hold is a full flexion, whose tilt
  direction is forward. Without a hold, the head y axis (flexion-extension axis) is the principal axis of the head's
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
        ``quiet_hold``, ``walking`` or ``quiet_mode``.
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


USE_PROTOCOL_HEADING = False
HOLD_MIN_S = 3.0
HOLD_SEARCH_S = 180.0
HOLD_GYRO_DPS = 3.0


def _first_flexion_heading(bins: F64, ok: B, z: F64, after: int, bin_s: float) -> F64 | None:
    """Head x axis from the protocol's first movement after the hold (a full flexion).

    The first time the vertical tilts more than 15 deg away from the hold, the tilt direction
    at that movement's peak is forward ('up' leans toward -x when the chin goes down).
    """
    up = up_in_sensor(bins)
    last = min(bins.shape[0], after + int(60.0 / bin_s))
    seg = np.arange(after, last)
    seg = seg[ok[seg]]
    if seg.size == 0:
        return None
    tilt = np.degrees(np.arccos(np.clip(up[seg] @ z, -1.0, 1.0)))
    over = np.flatnonzero(tilt > 15.0)
    if over.size == 0:
        return None
    # follow the movement to its peak
    j = over[0]
    while j + 1 < tilt.size and tilt[j + 1] >= tilt[j]:
        j += 1
    u = up[seg[j]]
    return _unit(-(u - (u @ z) * z))


def _quiet_hold(bins: F64, ok: B, bin_s: float, after_nonwear: bool) -> tuple[F64, int] | None:
    """Mean acceleration direction of the first still run (>= HOLD_MIN_S) near the segment start.

    After non-wear the segment may begin with a few seconds of the device still lying on the
    table (non-wear is flagged in 10-s windows), so the hold is searched after the first
    movement (picking the device up).
    """
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return None
    first = idx[0]
    if after_nonwear:
        moving = np.flatnonzero(ok[first:] & (bins[first:, 9] > 10.0))
        if moving.size == 0 or moving[0] * bin_s > HOLD_SEARCH_S:
            return None
        first = first + int(moving[0])
    last = min(bins.shape[0], first + int(HOLD_SEARCH_S / bin_s))
    still = ok[first:last] & (bins[first:last, 9] < HOLD_GYRO_DPS)
    from features.wear import runs

    s, e = runs(still)
    need = int(np.ceil(HOLD_MIN_S / bin_s))
    for a, b in zip(s, e, strict=True):
        if b - a >= need:
            # skip the first and last bin of the hold (settling)
            sl = slice(first + a + 1, first + b - 1)
            return _unit(bins[sl, 11:14].sum(axis=0)), int(first + b)
    return None


def estimate_mounting(
    bins: F64,
    worn: B,
    walking: B,
    bin_s: float,
    *,
    starts_with_donning: bool = False,
    after_nonwear: bool = False,
) -> Calibration:
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
    hold = _quiet_hold(bins, ok, bin_s, after_nonwear) if starts_with_donning else None
    x_protocol = None
    if hold is not None:
        z = hold[0]
        method = "quiet_hold"
        x_protocol = _first_flexion_heading(bins, ok, z, hold[1], bin_s)
    elif walking_s >= MIN_WALK_S:
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
    if x_protocol is not None and USE_PROTOCOL_HEADING:
        x = x_protocol
        y = np.cross(z, x)
    elif big.sum() >= 20:
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

"""Sensor-to-head mounting calibration estimated from the data itself, per wear segment.

The sensor is never mounted exactly aligned with the head axes, and it moves when the device is
taken off and put back on, so the mounting is estimated for every *wear segment* (re-estimated
after each non-wear gap) from two functional facts that hold in free-living data:

* **Vertical** (head z axis in sensor coordinates) — *functional movement axes*: nodding
  (flexion/extension) turns the head about its medio-lateral axis and side bending about its
  antero-posterior axis, so the angular velocities of all movements that are not turns about the
  earth vertical lie in the head's x-y plane, and the head z axis is the normal of that plane (the
  eigenvector of the smallest eigenvalue of their covariance). Turns of the head (axial rotation)
  happen about the current vertical, which the fused orientation knows, so they are recognised and
  left out; steps that still mix in part of a turn leave the plane and are down-weighted by a
  robust (Tukey) refit. This is a functional calibration in the sense of de Vries et al. 2010 /
  Favre et al. 2009: it does not depend on how well a person holds "neutral" (a quiet hold is easily a few
  degrees off; in our simulator N(2, 2) deg of flexion). Fallbacks when a segment has too few
  movements: the mean gravity while walking (people walk with the head near upright, and gait
  accelerations average out over a bout), then the first quiet hold after donning (the wear
  protocol asks for one), then the densest cluster of quiet postures.
* **Heading** (head x axis) — *mean sustained tilt*: over a wear segment the head spends far more
  time flexed (reading, phones, desks) than extended or side-bent, and sustained side bending
  averages out left/right, so the mean horizontal lean of gravity (relative to the vertical above)
  points backwards along the head's x axis. Lateral errors scale with flexion x heading error, so
  this averaged estimate (which needs no protocol) is preferred to the axis of a single movement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from features.errors import CalibrationError
from features.kinematics import BinKinematics, bin_kinematics
from features.wear import runs

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

MIN_WALK_S = 60.0
MIN_WORN_S = 60.0
MOVE_MIN_DEG = 0.5  # per-bin rotation that counts as a movement (2 deg/s at 0.25-s bins)
TURN_COS = 0.3  # step axes within 72.5 deg of the vertical contain a turn (axial rotation): left out
AXES_MIN_MOVES = 20  # movement bins needed for the functional vertical
AXES_MAX_FLATNESS = 0.15  # smallest / middle eigenvalue: the movements must span a plane
AXES_MIN_SPREAD = 0.05  # middle / largest eigenvalue: both nodding and side bending must occur
HEADING_MIN_TILT_DEG = 3.0
STRONG_LEAN_DEG = 6.0  # a segment leaning less than this on average asks its neighbours
REFERENCE_MAX_DEG = 10.0
# robust refit of the plane: steps whose axis leaves it by more than this are mixed movements
# (a turn, or a nod with the head side-bent) and get no weight (Tukey biweight)
AXES_OUTLIER_DEG = 5.0
AXES_REFIT_N = 5
AXES_MIN_CROSS = 0.3  # |mean exp(4i phi)|: how clearly the movement axes form a cross  # the mean lean must be clear of noise to give a heading
HOLD_MIN_S = 3.0
HOLD_SEARCH_S = 180.0
HOLD_RATE_DPS = 3.0


@dataclass(frozen=True)
class Calibration:
    """A sensor-to-head rotation and how it was obtained.

    Attributes
    ----------
    mount : (3, 3) float
        Rows are the head axes (x anterior, y left, z up) in sensor coordinates, so
        ``v_head = mount @ v_sensor``.
    vertical_method : str
        ``movement_axes``, ``quiet_hold``, ``walking`` or ``quiet_mode``.
    heading_method : str
        ``movement_axes`` (the cross of nodding and side-bending axes, quadrant from the lean) or
        ``lean`` (the mean lean alone).
    lean_deg : float
        Mean lean of quiet worn time away from the vertical (deg): how clearly forward was seen.
    walking_s, worn_s : float
        Seconds of walking and of worn data in the segment.
    """

    mount: F64
    vertical_method: str
    heading_method: str
    lean_deg: float
    walking_s: float
    worn_s: float


def _unit(v: F64) -> F64:
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n < 1e-9:
        raise CalibrationError("degenerate direction while estimating the mounting")
    return v / n


@numba.njit(cache=True, error_model="numpy")
def _steps_kernel(
    step: np.ndarray,
    up: np.ndarray,
    ok: np.ndarray,
    min_norm: float,
    turn_cos: float,
    w: np.ndarray,
    u: np.ndarray,
) -> int:
    """Movement steps into the first K rows of ``w`` and their 'up' into ``u`` (both (B, 3)); returns K."""
    n = ok.shape[0]
    k = 0
    for b in range(1, n):
        if not (ok[b - 1] and ok[b]):
            continue
        wx = step[b, 0]
        wy = step[b, 1]
        wz = step[b, 2]
        norm = np.sqrt(wx * wx + wy * wy + wz * wz)
        if not norm > min_norm:
            continue
        if abs(wx * up[b - 1, 0] + wy * up[b - 1, 1] + wz * up[b - 1, 2]) >= turn_cos * norm:
            continue
        w[k, 0] = wx
        w[k, 1] = wy
        w[k, 2] = wz
        u[k, 0] = up[b - 1, 0]
        u[k, 1] = up[b - 1, 1]
        u[k, 2] = up[b - 1, 2]
        k += 1
    return k


@numba.njit(cache=True, error_model="numpy")
def _masked_mean(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(3,) mean of the rows of ``x`` (B, 3) where ``mask``: ``x[mask].mean(axis=0)`` in one pass
    without the (M, 3) copy (row by row, in the same order; NaN when the mask is empty)."""
    s0 = s1 = s2 = 0.0
    n = 0
    for b in range(x.shape[0]):
        if mask[b]:
            s0 += x[b, 0]
            s1 += x[b, 1]
            s2 += x[b, 2]
            n += 1
    out = np.empty(3)
    out[0] = s0 / n
    out[1] = s1 / n
    out[2] = s2 / n
    return out


def _movement_steps(kin: BinKinematics, ok: B) -> tuple[F64, F64]:
    """Steps (M, 3) between consecutive usable bins that are movements but not turns, and 'up' (M, 3).

    Turns about the earth vertical (axial rotation) have their axis (nearly) parallel to 'up'.
    One compiled pass (no (B, 3) temporaries).
    """
    n = ok.shape[0]
    w = np.empty((n, 3))  # numpy, not numba: huge pages for a large array
    u = np.empty((n, 3))
    k = _steps_kernel(
        np.ascontiguousarray(kin.step),
        np.ascontiguousarray(kin.up),
        np.ascontiguousarray(ok),
        float(np.sin(np.radians(MOVE_MIN_DEG))),
        TURN_COS,
        w,
        u,
    )
    return w[:k].copy(), u[:k].copy()


@numba.njit(cache=True, error_model="numpy")
def _biweighted_scatter(w: np.ndarray, z: np.ndarray, inv_sin_c: float) -> tuple[np.ndarray, int]:
    """``(w * wt[:, None]).T @ w`` (3, 3) with the Tukey biweights ``wt = (1 - r^2)^2`` (0 for
    ``r >= 1``) of ``r = |w . z| / (|w| sin c)``, and the count of non-zero weights, in one pass
    (the numpy statement took six passes and four (M,) temporaries per refit)."""
    s00 = s01 = s02 = s11 = s12 = s22 = 0.0
    k = 0
    for i in range(w.shape[0]):
        x = w[i, 0]
        y = w[i, 1]
        v = w[i, 2]
        r = abs(x * z[0] + y * z[1] + v * z[2]) * inv_sin_c / math.sqrt(x * x + y * y + v * v)
        if not r < 1.0:
            continue
        a = 1.0 - r * r
        wt = a * a
        if wt == 0.0:
            continue
        k += 1
        s00 += wt * x * x
        s01 += wt * x * y
        s02 += wt * x * v
        s11 += wt * y * y
        s12 += wt * y * v
        s22 += wt * v * v
    out = np.empty((3, 3))
    out[0, 0] = s00
    out[0, 1] = out[1, 0] = s01
    out[0, 2] = out[2, 0] = s02
    out[1, 1] = s11
    out[1, 2] = out[2, 1] = s12
    out[2, 2] = s22
    return out, k


def _movement_axes_vertical(w: F64, up_mean: F64) -> F64 | None:
    """Head z axis as the normal of the plane of nodding and side-bending axes; None if not determined.

    The plane is refitted with Tukey biweights on each step's angle out of it (see
    :data:`AXES_OUTLIER_DEG`): steps that mix a turn into a nod or side bend leave the plane, and
    while the head is flexed by ``theta`` the turn axis (the earth vertical) leans ``theta`` towards
    the head's -x, so unweighted they tilt the normal in the sagittal plane, i.e. bias flexion.
    """
    if w.shape[0] < AXES_MIN_MOVES:
        return None
    evals, evecs = np.linalg.eigh(w.T @ w)
    if evals[1] <= 0 or evals[0] / evals[1] > AXES_MAX_FLATNESS or evals[1] / evals[2] < AXES_MIN_SPREAD:
        return None  # not a plane, or only one axis (no side bending): the normal is not determined
    z = evecs[:, 0]
    w = np.ascontiguousarray(w, dtype=np.float64)
    inv_sin_c = 1.0 / float(np.sin(np.radians(AXES_OUTLIER_DEG)))
    for _ in range(AXES_REFIT_N):
        scatter, k = _biweighted_scatter(w, np.ascontiguousarray(z, dtype=np.float64), inv_sin_c)
        if k < AXES_MIN_MOVES:
            break
        z = np.linalg.eigh(scatter)[1][:, 0]
    return _unit(z if float(z @ up_mean) > 0 else -z)


@numba.njit(cache=True, error_model="numpy")
def _cross_moment(w: np.ndarray, e1: np.ndarray, e2: np.ndarray) -> tuple[float, float, float]:
    """``sum(energy * exp(4i phi))`` (real, imaginary) and ``sum(energy)`` of the steps ``w``
    projected on (e1, e2) as ``a + ib`` (``energy = a^2 + b^2``, ``phi = arg(a + ib)``), in one
    pass and without trigonometry: ``energy * exp(4i phi) = (a + ib)^4 / energy``."""
    re = im = en = 0.0
    for i in range(w.shape[0]):
        a = w[i, 0] * e1[0] + w[i, 1] * e1[1] + w[i, 2] * e1[2]
        b = w[i, 0] * e2[0] + w[i, 1] * e2[1] + w[i, 2] * e2[2]
        e = a * a + b * b
        if e <= 0.0:
            continue
        c2 = a * a - b * b  # (a + ib)^2 = c2 + i s2
        s2 = 2.0 * a * b
        re += (c2 * c2 - s2 * s2) / e
        im += 2.0 * c2 * s2 / e
        en += e
    return re, im, en


def _movement_axes_heading(w: F64, z: F64) -> F64 | None:
    """A head axis (x or y, unknown which or sign) from the orientation of the cross of movement axes.

    Nodding and side bending turn the head about two perpendicular horizontal axes, so the
    movement axes projected on the head's x-y plane form a cross; its orientation is the argument
    of the energy-weighted mean of ``exp(4i phi)`` divided by 4 (a quarter-turn ambiguity that does
    not depend on how much of each movement there was). None when the cross is not clear.
    """
    if w.shape[0] < AXES_MIN_MOVES:
        return None
    e1 = _unit(np.cross(z, [1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.cross(z, [0.0, 1.0, 0.0]))
    e2 = np.cross(z, e1)
    re, im, energy = _cross_moment(np.ascontiguousarray(w, dtype=np.float64), e1, e2)
    if not energy > 0.0:
        return None
    m = complex(re, im) / energy
    if abs(m) < AXES_MIN_CROSS:
        return None
    theta = np.angle(m) / 4.0
    return np.cos(theta) * e1 + np.sin(theta) * e2


def _quiet_hold(bins: F64, ok: B, rate_dps: F64, bin_s: float) -> F64 | None:
    """Mean gravity direction of the first still run (>= HOLD_MIN_S) after the segment's first movement."""
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return None
    moving = np.flatnonzero(ok[idx[0] :] & (rate_dps[idx[0] :] > 10.0))
    first = idx[0] + (int(moving[0]) if moving.size else 0)
    last = min(bins.shape[0], first + int(HOLD_SEARCH_S / bin_s))
    still = ok[first:last] & (rate_dps[first:last] < HOLD_RATE_DPS)
    s, e = runs(still)
    need = int(np.ceil(HOLD_MIN_S / bin_s))
    for a, b in zip(s.tolist(), e.tolist(), strict=True):
        if b - a >= need:
            sl = slice(first + a + 1, first + b - 1)  # skip the settling bins at both ends
            return _unit(bins[sl, 11:14].sum(axis=0))
    return None


def _quiet_mode(up: F64, rate_dps: F64, ok: B) -> F64:
    """Gravity direction of the densest cluster of quiet postures (a 2-pass trimmed mean)."""
    quiet = ok & (rate_dps < 10.0)
    if quiet.sum() < 10:
        quiet = ok
    u = up[quiet]
    center = _unit(np.median(u, axis=0))
    for radius_deg in (20.0, 10.0):
        near = u @ center > np.cos(np.radians(radius_deg))
        if near.sum() >= 10:
            center = _unit(u[near].mean(axis=0))
    return center


def estimate_mounting(
    bins: F64,
    worn: B,
    walking: B,
    bin_s: float,
    *,
    kin: BinKinematics | None = None,
    reference: Calibration | None = None,
) -> Calibration:
    """Estimate the mounting from one wear segment.

    Parameters
    ----------
    bins : (B, 20) float
        Per-bin fused orientation and moments (:func:`features.orientation.orientation_bins`).
    worn, walking : (B,) bool
        Worn bins and walking bins of this segment (False elsewhere).
    bin_s : float
        Bin width in seconds.
    kin : BinKinematics, optional
        :func:`features.kinematics.bin_kinematics` of ``bins`` if already computed.
    reference : Calibration, optional
        A well-determined calibration of another segment of the same recording; it decides which
        way round the device sits when this segment has too little flexed posture to tell.

    Raises
    ------
    CalibrationError
        With fewer than ``MIN_WORN_S`` seconds of worn data.
    """
    if kin is None:
        kin = bin_kinematics(bins, bin_s)
    ok = worn & kin.present
    worn_s = float(ok.sum() * bin_s)
    if worn_s < MIN_WORN_S:
        raise CalibrationError(f"only {worn_s:.0f} s of worn data; need {MIN_WORN_S:.0f} s")
    rate = np.where(np.isfinite(kin.rate_dps), kin.rate_dps, np.inf)
    up = kin.up
    w_moves, _ = _movement_steps(kin, ok)
    walk = walking & ok
    walking_s = float(walk.sum() * bin_s)
    # up is finite wherever a bin has data (ok implies data), so a plain mean is enough
    z = _movement_axes_vertical(w_moves, _masked_mean(up, ok))
    method = "movement_axes"
    if z is None and walking_s >= MIN_WALK_S:
        acc_sum = bins[walk, 11:14].sum(axis=0)  # gait accelerations average out over a bout
        z = _unit(acc_sum)
        method = "walking"
    if z is None:
        z = _quiet_hold(bins, ok, rate, bin_s)
        method = "quiet_hold"
    if z is None:
        z = _quiet_mode(up, rate, ok)
        method = "quiet_mode"
    # heading: the mean lean of gravity away from the vertical points to -x (flexion dominates)
    quiet = ok & (rate < 10.0)
    if quiet.sum() < 10:
        quiet = ok
    lean = _masked_mean(up, quiet)
    lean_h = lean - (lean @ z) * z
    if (
        reference is None
        and np.degrees(np.arcsin(min(1.0, float(np.linalg.norm(lean_h))))) < HEADING_MIN_TILT_DEG
    ):
        raise CalibrationError(
            "the head never leaned clearly forward in this wear segment; heading not determined"
        )
    lean_deg = float(np.degrees(np.arcsin(min(1.0, float(np.linalg.norm(lean_h))))))
    x = _unit(-lean_h)
    # too little flexed posture here to tell forward from sideways: a device re-worn with the
    # same vertical (within REFERENCE_MAX_DEG) is taken to sit the same way round
    if (
        reference is not None
        and lean_deg < STRONG_LEAN_DEG <= reference.lean_deg
        and float(reference.mount[2] @ z) > np.cos(np.radians(REFERENCE_MAX_DEG))
    ):
        x = _unit(reference.mount[0] - (reference.mount[0] @ z) * z)
    x_axes = _movement_axes_heading(w_moves, z)
    if x_axes is not None:
        # the cross of nodding / side-bending axes fixes x up to a quarter turn; the lean picks it
        cands = [x_axes, np.cross(z, x_axes), -x_axes, -np.cross(z, x_axes)]
        x = max(cands, key=lambda c: float(c @ x))
        heading_method = "movement_axes"
    else:
        heading_method = "lean"
    y = np.cross(z, x)
    mount = np.vstack([x, _unit(y), z])
    return Calibration(
        mount=mount,
        vertical_method=method,
        heading_method=heading_method,
        lean_deg=lean_deg,
        walking_s=walking_s,
        worn_s=worn_s,
    )

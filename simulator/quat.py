"""Vectorised unit-quaternion algebra, scalar first ``(w, x, y, z)``, arrays (N, 4).

scipy's Rotation costs about 1 us per element for Euler construction and composition; these few
numpy expressions do the same work 10-20x faster, which matters at millions of samples per day.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def about_axis(axis: int, angle_rad: FloatArray) -> FloatArray:
    """Rotations by ``angle_rad`` (N,) about the x (0), y (1) or z (2) axis -> (N, 4)."""
    q = np.zeros((angle_rad.shape[0], 4))
    q[:, 0] = np.cos(angle_rad / 2)
    q[:, axis + 1] = np.sin(angle_rad / 2)
    return q


def mul(a: FloatArray, b: FloatArray) -> FloatArray:
    """Hamilton product ``a ⊗ b`` (rotation b first, then a), broadcasting (N, 4) or (4,)."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b), -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def conj(q: FloatArray) -> FloatArray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def rotate(q: FloatArray, v: FloatArray) -> FloatArray:
    """Rotate vectors ``v`` (N, 3) by ``q`` (N, 4): ``q v q*``."""
    w = q[:, :1]
    u = q[:, 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def to_rotvec(q: FloatArray) -> FloatArray:
    """Rotation vectors (N, 3) in rad of unit quaternions (N, 4), shortest way round."""
    q = np.where(q[:, :1] < 0, -q, q)
    s = np.linalg.norm(q[:, 1:], axis=1)
    angle = 2.0 * np.arctan2(s, q[:, 0])
    scale = np.where(s > 1e-12, angle / np.where(s > 1e-12, s, 1.0), 2.0)
    return q[:, 1:] * scale[:, None]


def from_rotvec(v: FloatArray) -> FloatArray:
    angle = np.linalg.norm(v, axis=1)
    half = angle / 2
    k = np.where(angle > 1e-12, np.sin(half) / np.where(angle > 1e-12, angle, 1.0), 0.5)
    return np.column_stack([np.cos(half), v * k[:, None]])


def from_scipy_xyzw(q_xyzw: FloatArray) -> FloatArray:
    q = np.atleast_2d(q_xyzw)
    return np.column_stack([q[:, 3], q[:, :3]])

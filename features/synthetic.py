"""A small, exact IMU signal synthesiser for tests (a test double shipped with the package).

Given head angle trajectories it produces what a sensor mounted on the head would measure —
specific force and angular velocity in the *sensor* frame, with a mounting rotation, noise, gyro
bias and optional gait bounce — using the same angle conventions as :mod:`features.angles`.
The project's full cohort simulator lives in ``simulator``; this one only serves unit tests that
need known truth at the sample level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial.transform import Rotation

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SyntheticImu:
    """Sensor signals (N samples) and the truth they came from."""

    t_s: F64  # (N,) s
    acc_g: F64  # (N, 3) g, sensor frame
    gyro_dps: F64  # (N, 3) deg/s, sensor frame
    flexion_deg: F64  # (N,) truth
    lateral_deg: F64
    rotation_deg: F64
    mount: F64  # (3, 3) sensor->head


def head_rotation(flexion_deg: F64, lateral_deg: F64, rotation_deg: F64) -> Rotation:
    """Head-to-earth rotations ``Rz(-rotation) Ry(flexion) Rx(lateral)`` (see features.angles)."""
    ang = np.stack([-rotation_deg, flexion_deg, lateral_deg], axis=1)
    return Rotation.from_euler("ZYX", ang, degrees=True)


def mounting_from_euler(z_deg: float, y_deg: float, x_deg: float) -> F64:
    """A sensor-to-head rotation matrix from intrinsic z-y-x angles (deg)."""
    return Rotation.from_euler("ZYX", [z_deg, y_deg, x_deg], degrees=True).as_matrix()


def synthesize(
    flexion_deg: F64,
    lateral_deg: F64,
    rotation_deg: F64,
    fs_hz: float,
    *,
    mount: F64 | None = None,
    acc_noise_g: float = 0.003,
    gyro_noise_dps: float = 0.1,
    gyro_bias_dps: tuple[float, float, float] = (0.0, 0.0, 0.0),
    bounce_g: F64 | None = None,
    seed: int = 0,
) -> SyntheticImu:
    """Synthesise sensor signals from per-sample head angles.

    Parameters
    ----------
    flexion_deg, lateral_deg, rotation_deg : (N,) float
        Head angles per sample (degrees, clinical signs).
    fs_hz : float
        Sample rate.
    mount : (3, 3) float, optional
        Sensor-to-head rotation (``v_head = mount @ v_sensor``); identity by default.
    bounce_g : (N,) float, optional
        Vertical (earth z) linear acceleration in g, e.g. gait.
    """
    rng = np.random.default_rng(seed)
    n = flexion_deg.shape[0]
    m = np.eye(3) if mount is None else mount
    r_head = head_rotation(flexion_deg, lateral_deg, rotation_deg)
    r_sensor = r_head * Rotation.from_matrix(m)  # sensor->earth = head->earth @ sensor->head
    lin = np.zeros((n, 3))
    if bounce_g is not None:
        lin[:, 2] = bounce_g
    f_earth = lin + np.array([0.0, 0.0, 1.0])
    acc = r_sensor.inv().apply(f_earth)
    # instantaneous body angular velocity at each sample: central difference of orientations
    rel = r_sensor[:-1].inv() * r_sensor[1:]
    w = np.degrees(rel.as_rotvec()) * fs_hz  # mean rate over each step, sensor frame
    gyro = np.vstack([w[:1], 0.5 * (w[:-1] + w[1:]), w[-1:]])
    acc = acc + rng.normal(0.0, acc_noise_g, acc.shape)
    gyro = gyro + rng.normal(0.0, gyro_noise_dps, gyro.shape) + np.asarray(gyro_bias_dps)
    return SyntheticImu(
        t_s=np.arange(n) / fs_hz,
        acc_g=acc,
        gyro_dps=gyro,
        flexion_deg=flexion_deg,
        lateral_deg=lateral_deg,
        rotation_deg=rotation_deg,
        mount=m,
    )

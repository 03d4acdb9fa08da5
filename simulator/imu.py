"""Render head motion to accelerometer and gyroscope samples in a misaligned sensor frame.

Frames (contract 1): head frame x anterior, y left, z up in neutral upright posture. The head's
orientation in the world is ``R_wh = Rz(heading - rotation) · Ry(flexion) · Rx(lateral)``
(intrinsic z-y-x), which makes flexion +, right lateral flexion + and right rotation + exactly as
the contract signs them. The sensor sits on the head with a fixed mounting rotation ``M``
(sensor -> head: ``v_head = M v_sensor``), so the sensor's orientation is ``R_ws = R_wh · M``.

- Accelerometer (g): specific force ``R_ws^T ((0, 0, 1) + a_world / g)`` + offset + white noise.
- Gyroscope (deg/s): body-frame angular rate of the sensor, ``ω_k = log(R_k^T R_{k+1}) / Δt``, i.e.
  the mean rate over ``[t_k, t_{k+1}]``; so ``R_{k+1} = R_k · exp(ω_k Δt)`` reproduces the true
  orientation exactly (apart from bias and noise), plus a slowly varying bias and white noise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial.transform import Rotation

from simulator import quat
from simulator.motion import HEALTHY_ENVELOPE, TRANSITION_S, MotionPlan, RomEnvelope, plan_motion

FloatArray = npt.NDArray[np.float64]
G_MS2 = 9.80665
ACC_NOISE_G = 0.004
ACC_OFFSET_SD_G = 0.005
GYRO_NOISE_DPS = 0.08
GYRO_BIAS_SD_DPS = 0.5
GYRO_BIAS_WANDER_DPS = 0.15
WALK_VERTICAL_G = 0.3  # head bounce while walking (2-3 cm at 1.8-2 Hz)
WALK_FORWARD_G = 0.1
WALK_LATERAL_G = 0.05
CHUNK_SAMPLES = 200_000
# The mounting is never exact: a nominal tilt per placement plus a random rotation.
PLACEMENT_PITCH_DEG = {"occiput": 8.0, "c7": -12.0, "neck": 0.0}
MOUNTING_RANDOM_DEG = (3.0, 15.0)


def head_rotation(angles_deg: FloatArray, heading_deg: float = 0.0) -> Rotation:
    """Head orientation in the world from contract-1 angles (N, 3) flexion/lateral/rotation, deg."""
    a = np.atleast_2d(angles_deg)
    zyx = np.column_stack([heading_deg - a[:, 2], a[:, 0], a[:, 1]])
    return Rotation.from_euler("ZYX", zyx, degrees=True)


def draw_mounting(rng: np.random.Generator, placement: str) -> Rotation:
    """A sensor -> head mounting rotation: nominal placement tilt + random axis, 3-15 deg."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    rand = Rotation.from_rotvec(axis * np.deg2rad(rng.uniform(*MOUNTING_RANDOM_DEG)))
    return Rotation.from_euler("Y", PLACEMENT_PITCH_DEG.get(placement, 0.0), degrees=True) * rand


@dataclass(frozen=True)
class SensorModel:
    """Per-recording sensor imperfections (all drawn once per recording)."""

    mounting: Rotation
    heading_deg: float
    table: Rotation  # orientation of the sensor while it lies on a table
    acc_offset_g: FloatArray  # (3,)
    gyro_bias_dps: FloatArray  # (3,)
    bias_period_s: FloatArray  # (3,)
    bias_phase: FloatArray  # (3,)

    @classmethod
    def draw(cls, rng: np.random.Generator, placement: str, mounting: Rotation | None = None) -> SensorModel:
        return cls(
            mounting=draw_mounting(rng, placement) if mounting is None else mounting,
            heading_deg=float(rng.uniform(-180, 180)),
            table=Rotation.random(random_state=int(rng.integers(0, 2**31))),
            acc_offset_g=rng.normal(0, ACC_OFFSET_SD_G, 3),
            gyro_bias_dps=rng.normal(0, GYRO_BIAS_SD_DPS, 3),
            bias_period_s=rng.uniform(1200, 3600, 3),
            bias_phase=rng.uniform(0, 2 * np.pi, 3),
        )

    def gyro_bias(self, t_s: FloatArray) -> FloatArray:
        """Slowly varying gyro bias (N, 3), deg/s."""
        wander = GYRO_BIAS_WANDER_DPS * np.sin(
            2 * np.pi * t_s[:, None] / self.bias_period_s + self.bias_phase
        )
        return np.asarray(self.gyro_bias_dps + wander, dtype=np.float64)


def head_quat(angles_deg: FloatArray, heading_deg: float = 0.0) -> FloatArray:
    """Head orientation quaternions (N, 4) (w, x, y, z) from angles (N, 3); same as ``head_rotation``."""
    a = np.deg2rad(np.atleast_2d(angles_deg))
    qz = quat.about_axis(2, np.deg2rad(heading_deg) - a[:, 2])
    return quat.mul(quat.mul(qz, quat.about_axis(1, a[:, 0])), quat.about_axis(0, a[:, 1]))


def sensor_orientation(
    plan: MotionPlan, model: SensorModel, t_s: FloatArray
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Sensor orientation quaternions (N, 4) at ``t_s`` (N,), true head angles (N, 3) deg, worn (N,)."""
    ang = plan.angles_deg(t_s)
    q_m = quat.from_scipy_xyzw(model.mounting.as_quat())[0]
    q = quat.mul(head_quat(ang, model.heading_deg), q_m)
    worn = plan.worn(t_s)
    if not worn.all():
        q_table = quat.from_scipy_xyzw(model.table.as_quat())[0]
        for a, b in plan.nonwear:
            inside = (t_s >= a) & (t_s < b)
            if not inside.any():
                continue
            # Off: slerp from the head pose to the table and back, over TRANSITION_S at each end.
            tt = t_s[inside]
            first_half = (tt - a) <= (b - tt)
            edge = np.where(first_half, a, b)
            q_edge = quat.mul(head_quat(plan.angles_deg(edge), model.heading_deg), q_m)
            u = np.clip(np.where(first_half, tt - a, b - tt) / TRANSITION_S, 0, 1)
            s = u**3 * (10 - 15 * u + 6 * u**2)
            v = quat.to_rotvec(quat.mul(quat.conj(q_edge), q_table))
            q[inside] = quat.mul(q_edge, quat.from_rotvec(s[:, None] * v))
    return q, ang, worn


def specific_force_world(plan: MotionPlan, model: SensorModel, t_s: FloatArray) -> FloatArray:
    """Specific force (N, 3) in g in the world frame: gravity reaction + walking accelerations."""
    env, _, phase = plan.walking(t_s)
    h = np.deg2rad(model.heading_deg)
    fwd = WALK_FORWARD_G * env * np.sin(phase + 0.5)
    lat = WALK_LATERAL_G * env * np.sin(0.5 * phase)
    f = np.empty((t_s.shape[0], 3))
    f[:, 0] = fwd * np.cos(h) - lat * np.sin(h)
    f[:, 1] = fwd * np.sin(h) + lat * np.cos(h)
    f[:, 2] = 1.0 + WALK_VERTICAL_G * env * np.sin(phase)
    return f


@dataclass(frozen=True)
class RenderedChunk:
    """Samples of one chunk: times (N,) s, acc_g (N, 3), gyro_dps (N, 3), angles_deg (N, 3), worn (N,)."""

    t_s: FloatArray
    acc_g: FloatArray
    gyro_dps: FloatArray
    angles_deg: FloatArray
    worn: npt.NDArray[np.bool_]


def render_times(
    plan: MotionPlan, model: SensorModel, t_s: FloatArray, rng: np.random.Generator, *, noise: bool = True
) -> RenderedChunk:
    """Render samples at times ``t_s`` (N,), s from the recording start (any spacing, increasing)."""
    dt = np.diff(t_s)
    t_next = np.append(t_s[1:], t_s[-1] + (dt[-1] if len(dt) else 1e-2))
    q_all, ang_all, worn_all = sensor_orientation(plan, model, np.append(t_s, t_next[-1]))
    q_inv = quat.conj(q_all[:-1])
    step = quat.mul(q_inv, q_all[1:])
    gyro = np.rad2deg(quat.to_rotvec(step)) / (t_next - t_s)[:, None]
    acc = quat.rotate(q_inv, specific_force_world(plan, model, t_s))
    if noise:
        n = t_s.shape[0]
        acc = acc + model.acc_offset_g + ACC_NOISE_G * rng.standard_normal((n, 3))
        gyro = gyro + model.gyro_bias(t_s) + GYRO_NOISE_DPS * rng.standard_normal((n, 3))
    ang = np.where(worn_all[:-1, None], ang_all[:-1], np.nan)
    return RenderedChunk(t_s, acc, gyro, ang, worn_all[:-1])


def iter_render(
    plan: MotionPlan,
    model: SensorModel,
    n_samples: int,
    period_s: float,
    rng: np.random.Generator,
    *,
    first: int = 0,
    noise: bool = True,
) -> Iterator[RenderedChunk]:
    """Render samples ``first .. n_samples - 1`` at ``k * period_s`` in chunks (bounded memory)."""
    for a in range(first, n_samples, CHUNK_SAMPLES):
        k = np.arange(a, min(a + CHUNK_SAMPLES, n_samples), dtype=np.float64)
        yield render_times(plan, model, k * period_s, rng, noise=noise)


@dataclass(frozen=True)
class RenderedSegment:
    """A rendered time span.

    ``t_s`` (N,) s from the span start; ``acc_g`` (N, 3) g and ``gyro_dps`` (N, 3) deg/s in the sensor
    frame; ``angles_deg`` (N, 3) true flexion/lateral/rotation (NaN while not worn); ``worn`` (N,);
    ``mounting`` the sensor -> head rotation; ``plan`` the motion plan (evaluate it at any time).
    """

    t_s: FloatArray
    acc_g: FloatArray
    gyro_dps: FloatArray
    angles_deg: FloatArray
    worn: npt.NDArray[np.bool_]
    mounting: Rotation
    plan: MotionPlan


def render_segment(
    rng: np.random.Generator,
    duration_s: float,
    rate_hz: float,
    *,
    posture_load: float = 0.4,
    envelope: RomEnvelope = HEALTHY_ENVELOPE,
    placement: str = "occiput",
    mounting: Rotation | None = None,
    nonwear: bool = False,
    noise: bool = True,
    clock_scale: float = 1.0,
) -> RenderedSegment:
    """Simulate head motion for a time span and render it to IMU samples in the sensor frame.

    For a BLE virtual device or a test: everything is drawn from ``rng`` (seeded = reproducible).

    Parameters
    ----------
    rng : numpy Generator.
    duration_s : span length, s; ``round(duration_s * rate_hz)`` samples.
    rate_hz : nominal sample rate, Hz.
    posture_load : 0..1, how much of the time the head is flexed (reading/phone) and how deep.
    envelope : ROM envelope the head turns reach (default: healthy adult, SPEC totals).
    placement : ``occiput|c7|neck``; sets the nominal mounting tilt.
    mounting : sensor -> head rotation; drawn (3-15 deg off the nominal tilt) when None.
    nonwear : include periods with the device lying still on a table.
    noise : add accelerometer offset/noise and gyro bias/noise (False: the ideal signals).
    clock_scale : device clock rate / true rate (1 + drift); samples are taken at
        ``k / (rate_hz * clock_scale)`` true seconds, as a drifting device clock would.

    Returns
    -------
    RenderedSegment with ``t_s`` (N,), ``acc_g`` (N, 3) in g, ``gyro_dps`` (N, 3) in deg/s,
    ``angles_deg`` (N, 3) true head angles, ``worn`` (N,).
    """
    plan = plan_motion(rng, duration_s, posture_load, envelope, nonwear=nonwear)
    model = SensorModel.draw(rng, placement, mounting)
    n = round(duration_s * rate_hz)
    chunks = list(iter_render(plan, model, n, 1.0 / (rate_hz * clock_scale), rng, noise=noise))
    return RenderedSegment(
        t_s=np.concatenate([c.t_s for c in chunks]),
        acc_g=np.concatenate([c.acc_g for c in chunks]),
        gyro_dps=np.concatenate([c.gyro_dps for c in chunks]),
        angles_deg=np.concatenate([c.angles_deg for c in chunks]),
        worn=np.concatenate([c.worn for c in chunks]),
        mounting=model.mounting,
        plan=plan,
    )

"""Sign conventions and physical consistency of the IMU rendering."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from simulator import quat
from simulator.imu import head_quat, head_rotation, render_segment


def test_pure_flexion_20_deg_tilts_gravity_backward_in_head_frame() -> None:
    # Nose down by 20 deg: the upward specific force (1 g at rest) leans toward -x (posterior).
    f_head = head_rotation(np.array([[20.0, 0.0, 0.0]])).inv().apply([0.0, 0.0, 1.0])[0]
    np.testing.assert_allclose(f_head, [-np.sin(np.deg2rad(20)), 0.0, np.cos(np.deg2rad(20))], atol=1e-12)


def test_right_lateral_flexion_raises_left_axis_and_right_rotation_turns_nose_right() -> None:
    f_head = head_rotation(np.array([[0.0, 15.0, 0.0]])).inv().apply([0.0, 0.0, 1.0])[0]
    assert f_head[1] > 0.25  # left ear up: gravity reaction has a +y (left) component
    nose = head_rotation(np.array([[0.0, 0.0, 30.0]])).apply([1.0, 0.0, 0.0])[0]
    assert nose[1] < -0.4  # facing right = toward -y (y is left)


def test_quaternion_path_matches_scipy() -> None:
    a = np.random.default_rng(0).uniform(-60, 60, (50, 3))
    q = head_quat(a, 25.0)
    ref = quat.from_scipy_xyzw(head_rotation(a, 25.0).as_quat())
    np.testing.assert_allclose(np.abs(np.sum(q * ref, axis=1)), 1.0, atol=1e-12)


def test_integrating_noise_free_gyro_reproduces_orientation_and_accel_is_gravity_when_still() -> None:
    seg = render_segment(np.random.default_rng(3), 120.0, 50, noise=False, posture_load=0.6)
    dt = 1.0 / 50
    q = quat.mul(head_quat(seg.angles_deg[:1], 0.0), quat.from_scipy_xyzw(seg.mounting.as_quat())[0])
    # Heading is unknown to us; compare only what gravity sees: inclination of the sensor z axis.
    steps = quat.from_rotvec(np.deg2rad(seg.gyro_dps[:-1]) * dt)
    qs = [q[0]]
    for s in steps:
        qs.append(quat.mul(qs[-1], s))
    q_int = np.array(qs)
    f_int = quat.rotate(quat.conj(q_int), np.tile([0.0, 0.0, 1.0], (len(q_int), 1)))
    still = np.linalg.norm(seg.acc_g, axis=1)
    walking = np.abs(still - 1.0) > 1e-9
    np.testing.assert_allclose(f_int[~walking], seg.acc_g[~walking], atol=1e-6)


def test_mounting_is_misaligned_but_within_25_deg() -> None:
    for seed in range(20):
        seg = render_segment(np.random.default_rng(seed), 5.0, 25)
        deg = np.rad2deg(Rotation.from_matrix(seg.mounting.as_matrix()).magnitude())
        assert 1.0 < deg < 28.0

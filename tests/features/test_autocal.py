"""Accelerometer offset autocalibration: the fit recovers a known offset, the tilt is exact and orthonormal."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from features.autocal import correct_vertical, fit_offset

OFFSET_G = np.array([0.008, -0.005, 0.004])


def _still_bins(
    up: np.ndarray, offset_g: np.ndarray, rng: np.random.Generator, count: int = 12
) -> np.ndarray:
    """Bins (B, 20) of a still sensor whose 'up' (sensor frame) is ``up`` (B, 3), reading up + offset."""
    n = up.shape[0]
    noise_sd = 0.004
    mean = up + offset_g + rng.normal(0.0, noise_sd / np.sqrt(count), (n, 3))
    bins = np.zeros((n, 20))
    bins[:, 0:9] = np.eye(3).ravel()  # the fit reads only the acceleration moments and the gyro
    bins[:, 9] = 0.3  # deg/s: still
    bins[:, 11:14] = mean * count
    bins[:, 14:17] = (mean**2 + noise_sd**2) * count
    bins[:, 19] = count
    return bins


def test_fit_recovers_a_known_offset_from_varied_still_postures() -> None:
    rng = np.random.default_rng(5)
    up = rng.normal(size=(3000, 3))
    up /= np.linalg.norm(up, axis=1, keepdims=True)
    o = fit_offset(_still_bins(up, OFFSET_G, rng))
    assert np.abs(o - OFFSET_G).max() < 0.001, o


def test_fit_is_unaffected_by_an_isotropic_scale_error() -> None:
    rng = np.random.default_rng(6)
    up = rng.normal(size=(3000, 3))
    up /= np.linalg.norm(up, axis=1, keepdims=True)
    o = fit_offset(_still_bins(1.02 * up, OFFSET_G, rng))  # 2 % gain on every axis
    assert np.abs(o - OFFSET_G).max() < 0.0015, o


def test_no_correction_without_enough_still_bins() -> None:
    rng = np.random.default_rng(7)
    bins = _still_bins(np.tile([0.0, 0.0, 1.0], (50, 1)), OFFSET_G, rng)
    assert not fit_offset(bins).any()
    moving = _still_bins(np.tile([0.0, 0.0, 1.0], (5000, 1)), OFFSET_G, rng)
    moving[:, 9] = 40.0  # deg/s: the head is turning, not still
    assert not fit_offset(moving).any()


def test_tilt_points_the_vertical_along_up_minus_offset_and_stays_orthonormal() -> None:
    rots = Rotation.random(200, random_state=3).as_matrix()
    bins = np.zeros((200, 20))
    bins[:, 0:9] = rots.reshape(200, 9)
    bins[:, 19] = 12
    before = bins.copy()
    correct_vertical(bins, OFFSET_G)
    r = bins[:, 0:9].reshape(200, 3, 3)
    gram = np.einsum("bij,bkj->bik", r, r)
    assert np.abs(gram - np.eye(3)).max() < 1e-12  # still rotations (non-wear reads tiny bin-to-bin turns)
    want = before[:, 6:9] - OFFSET_G
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    err_deg = np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", r[:, 2, :], want), -1, 1)))
    assert err_deg.max() < 0.01, err_deg.max()

"""The fused / single-pass kernels agree with the straightforward computations they replace."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import minimum_filter1d

from features.autocal import correct_vertical
from features.kinematics import bin_kinematics
from features.orientation import orientation_bins
from features.rom import ROM_SIDES, RomParams, rom_features
from features.synthetic import synthesize


def _bins(seconds: float = 300.0, fs: float = 50.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    t = np.arange(int(seconds * fs)) / fs
    s = synthesize(
        12 * np.sin(2 * np.pi * t / 40),
        5 * np.sin(2 * np.pi * t / 23),
        30 * np.sin(2 * np.pi * t / 17),
        fs,
        seed=2,
    )
    return s.t_s + 1000.0, s.acc_g, s.gyro_dps, orientation_bins(s.t_s, s.acc_g, s.gyro_dps, bin_s=0.25)


def test_bin_grid_origin_equals_shifted_times() -> None:
    t, acc, gyro, _ = _bins()
    shifted = orientation_bins(t - 1000.0, acc, gyro, bin_s=0.25)
    np.testing.assert_array_equal(orientation_bins(t, acc, gyro, bin_s=0.25, t_origin_s=1000.0), shifted)


def test_kinematics_with_offset_equals_correct_then_kinematics() -> None:
    *_, bins = _bins()
    offset = np.array([0.01, -0.02, 0.005])
    ref_bins = bins.copy()
    correct_vertical(ref_bins, offset)
    ref = bin_kinematics(ref_bins, 0.25)
    fused_bins = bins.copy()
    got = bin_kinematics(fused_bins, 0.25, offset_g=offset)
    np.testing.assert_allclose(fused_bins, ref_bins, rtol=0, atol=1e-15)
    np.testing.assert_allclose(got.up, ref.up, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.rate_dps, ref.rate_dps, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(got.present, bins[:, 19] > 0)


@pytest.mark.parametrize("hold_s", [0.25, 0.5, 0.75, 1.0])
def test_rom_envelopes_equal_the_rolling_minimum_of_scipy(hold_s: float) -> None:
    rng = np.random.default_rng(1)
    for n in (0, 1, 2, 7, 500):
        planes = [rng.normal(0, 40, n) for _ in range(3)]
        for p in planes:
            p[rng.random(n) < 0.05] = np.nan
        worn = rng.random(n) < 0.9
        got = rom_features(*planes, worn, 0.25, RomParams(hold_s=hold_s))
        hold = max(1, round(hold_s / 0.25))
        for name, plane, sign in ROM_SIDES:
            x = np.where(worn & np.isfinite(planes[plane]), sign * planes[plane], -180.0)
            top = float(minimum_filter1d(x, size=hold, mode="nearest").max()) if n else -180.0
            assert got[f"rom_{name}_deg"] == (top if top > 0 else None)

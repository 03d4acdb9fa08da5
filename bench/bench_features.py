"""Issue 4 figures: speed of orientation + posture/ROM features, and BROAD inclination accuracy.

Speed: one synthetic participant-day (16 h at 50 Hz = 2.88 M samples) through orientation +
wear/calibration/angles + all IMU features (``features.day.process_day``), against imufusion's
per-sample Python loop (full day) and ahrs' Madgwick (measured on a 20-s slice and extrapolated
per sample — it is far too slow for the whole day). Accuracy: inclination RMSE over the movement
phases of all BROAD trials, ours vs imufusion, same data.
"""

from __future__ import annotations

import math
import resource
import time
from pathlib import Path

import numpy as np
import scipy.io as sio

from features.day import Recording, process_day
from features.orientation import FilterParams, orientation_quaternions

BROAD = Path("/work/shared/data/broad")


def _day(fs: float = 50.0, hours: float = 16.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = int(hours * 3600 * fs)
    t = np.arange(n) / fs
    # a plausible, cheap-to-make signal: slowly varying tilt plus noise, gyro consistent-ish
    flex = np.radians(15 + 10 * np.sin(2 * np.pi * t / 600))
    acc = np.stack([-np.sin(flex), np.zeros(n), np.cos(flex)], 1) + rng.normal(0, 0.004, (n, 3))
    gyro = rng.normal(0, 0.1, (n, 3))
    gyro[:, 1] += np.degrees(np.gradient(flex) * fs)
    return t + 7 * 3600, acc.astype(np.float32), gyro.astype(np.float32)


def _imufusion_loop(acc: np.ndarray, gyro: np.ndarray, fs: float = 50.0) -> np.ndarray:
    import imufusion

    ahrs = imufusion.Ahrs()
    st = imufusion.AhrsSettings()
    st.sample_rate = round(fs)
    st.gain = 0.5
    st.gyroscope_range = 2000
    st.acceleration_rejection = 10
    st.rejection_timeout = int(5 * fs)
    ahrs.set_settings(st)
    ahrs.set_sample_period(1.0 / fs)
    out = np.empty((acc.shape[0], 4))
    a = acc.astype(np.float64)
    g = gyro.astype(np.float64)
    for i in range(a.shape[0]):
        ahrs.update_no_magnetometer(g[i], a[i])
        out[i] = ahrs.get_quaternion()
    return out


def _up(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q.T
    return np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z], 1)


def _rmse_deg(u: np.ndarray, ref: np.ndarray, ok: np.ndarray) -> float:
    e = np.arccos(np.clip((u[ok] * ref[ok]).sum(1), -1, 1))
    return math.degrees(math.sqrt(float(np.mean(e**2))))


def run() -> dict[str, float]:
    t, acc, gyro = _day()
    n = t.size
    process_day([Recording(1, t[:5000], acc[:5000], gyro[:5000])], 86400.0)  # compile / warm up
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        process_day([Recording(1, t, acc, gyro)], 86400.0)
        best = min(best, time.perf_counter() - t0)
    ours_sps = n / best
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    t0 = time.perf_counter()
    _imufusion_loop(acc, gyro)
    imuf_sps = n / (time.perf_counter() - t0)
    from ahrs.filters import Madgwick

    m = 1000  # 20 s at 50 Hz
    t0 = time.perf_counter()
    Madgwick(
        gyr=np.radians(gyro[:m].astype(np.float64)), acc=acc[:m].astype(np.float64) * 9.81, frequency=50.0
    )
    ahrs_sps = m / (time.perf_counter() - t0)
    print(
        f"features {ours_sps:,.0f} samples/s; imufusion loop {imuf_sps:,.0f}; ahrs Madgwick {ahrs_sps:,.0f} (slice)"
    )

    ours_e, theirs_e = [], []
    for f in sorted(BROAD.glob("*.mat")):
        d = sio.loadmat(f, squeeze_me=True)
        fs = float(d["sampling_rate"])
        a = d["imu_acc"] / 9.81
        g = np.degrees(d["imu_gyr"])
        ok = d["movement"].astype(bool) & np.isfinite(d["opt_quat"]).all(1)
        ref = _up(d["opt_quat"])
        ours_e.append(
            _rmse_deg(
                _up(orientation_quaternions(a, g, fs, params=FilterParams(gyro_forward=False))), ref, ok
            )
        )
        theirs_e.append(_rmse_deg(_up(_imufusion_loop(a, g, fs)), ref, ok))
    return {
        "features_samples_per_s": ours_sps,
        "features_vs_imufusion_ratio": ours_sps / imuf_sps,
        "features_vs_ahrs_ratio": ours_sps / ahrs_sps,
        "features_peak_mem_mb": peak_mb,
        "broad_inclination_rmse_deg": float(np.mean(ours_e)),
        "broad_inclination_rmse_imufusion_deg": float(np.mean(theirs_e)),
    }

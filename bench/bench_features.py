"""Issue 4 figures: speed of orientation + all posture/ROM features, memory, and accuracy.

Speed: one realistic simulated participant-day (16 h at 50 Hz = 2.88 M samples; head turns,
flexed reading bouts, walking, non-wear on a table, misaligned sensor with noise and gyro bias;
``simulator.imu.render_segment``) through ``features.day.process_day`` (orientation, non-wear,
calibration, angles and every posture/ROM/movement feature), against, on the same data in the same
process and in interleaved rounds (best round each): imufusion's per-sample
``Ahrs.update_no_magnetometer`` loop from Python (timed on the day's first quarter) and ahrs'
``Madgwick.updateIMU`` per-sample loop (timed on a 200-s slice and extrapolated per sample — the
whole day would take minutes). Memory: peak RSS of a fresh process that loads the day and
processes it, with freed memory kept for reuse as the pipeline runs (``features.allocator``).
Accuracy: BROAD inclination (ours vs imufusion, same trials, movement phases), x-io's recording
against its reference algorithm (ours vs ahrs' Madgwick, ``features.xiocheck``) and the simulator
cohort of the accuracy tests (``features.simcheck``).
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io as sio

from features.allocator import keep_freed_memory
from features.day import BIN_S, Recording, process_day
from features.orientation import FilterParams, orientation_bins, orientation_quaternions, up_vectors

BROAD = Path("/work/shared/data/broad")
FS_HZ = 50.0
DAY_H = 16.0
ROUNDS = 3
AHRS_SLICE = 10_000  # 200 s at 50 Hz (about half a second of ahrs)


def _day() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from simulator.imu import render_segment

    seg = render_segment(np.random.default_rng(3), DAY_H * 3600.0, FS_HZ, nonwear=True)
    # as the pipeline loads them: float32 samples, seconds since local midnight (start 07:00)
    return seg.t_s + 7 * 3600.0, seg.acc_g.astype(np.float32), seg.gyro_dps.astype(np.float32)


def _imufusion_loop(acc: np.ndarray, gyro: np.ndarray, fs: float) -> np.ndarray:
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


def _ahrs_loop(acc: np.ndarray, gyro: np.ndarray, fs: float) -> np.ndarray:
    from ahrs.filters import Madgwick

    m = Madgwick(frequency=fs)
    q = np.array([1.0, 0.0, 0.0, 0.0])
    out = np.empty((acc.shape[0], 4))
    g = np.radians(gyro.astype(np.float64))
    a = acc.astype(np.float64) * 9.80665
    for i in range(a.shape[0]):
        q = m.updateIMU(q, gyr=g[i], acc=a[i])
        out[i] = q
    return out


_CHILD = """
import sys
import numpy as np
from features.allocator import keep_freed_memory
from features.day import Recording, process_day
keep_freed_memory()  # as the pipeline runs
d = np.load(sys.argv[1])
process_day([Recording(1, d["t"], d["acc"], d["gyro"])], 86400.0)
# VmHWM is this address space's peak; ru_maxrss would inherit the forking parent's peak on Linux
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0]
print(int(hwm.split()[1]) / 1024.0)
"""


def _peak_mem_mb(t: np.ndarray, acc: np.ndarray, gyro: np.ndarray) -> float:
    """Peak RSS (MB) of a fresh interpreter that imports features, loads the day and processes it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "day.npz")
        np.savez(path, t=t, acc=acc, gyro=gyro)
        res = subprocess.run(
            [sys.executable, "-c", _CHILD, path], capture_output=True, text=True, check=True, timeout=600
        )
    return float(res.stdout.strip().splitlines()[-1])


def _rmse_deg(u: np.ndarray, ref: np.ndarray, ok: np.ndarray) -> float:
    e = np.arccos(np.clip((u[ok] * ref[ok]).sum(1), -1, 1))
    return math.degrees(math.sqrt(float(np.mean(e**2))))


def _speed() -> dict[str, float]:
    # as features.pipeline.compute_features runs the days: freed memory is kept for the next
    # day's arrays (features.allocator; without it the day right after the competitors' loops
    # pays ~10 ms of page faults for fresh memory)
    kept = keep_freed_memory()
    t, acc, gyro = _day()
    n = t.size
    process_day([Recording(1, t[:50_000], acc[:50_000], gyro[:50_000])], 86400.0)  # compile / warm up
    # Rounds interleave the three approaches so a load spike on the shared machine hits all of
    # them alike; each figure is the best round.
    ours_s = orient_s = imuf_s = ahrs_s = math.inf
    m_imuf = n // 4
    t_rel = t - int(t[0] / BIN_S) * BIN_S
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        process_day([Recording(1, t, acc, gyro)], 86400.0)
        ours_s = min(ours_s, time.perf_counter() - t0)
        # the orientation filter alone (same work as the competitors: fusion, no features)
        t0 = time.perf_counter()
        orientation_bins(t_rel, acc, gyro, bin_s=BIN_S)
        orient_s = min(orient_s, time.perf_counter() - t0)
        t0 = time.perf_counter()
        _imufusion_loop(acc[:m_imuf], gyro[:m_imuf], FS_HZ)
        imuf_s = min(imuf_s, time.perf_counter() - t0)
        t0 = time.perf_counter()
        _ahrs_loop(acc[:AHRS_SLICE], gyro[:AHRS_SLICE], FS_HZ)
        ahrs_s = min(ahrs_s, time.perf_counter() - t0)
    ours_sps = n / ours_s
    orient_sps = n / orient_s
    imuf_sps = m_imuf / imuf_s
    ahrs_sps = AHRS_SLICE / ahrs_s
    peak_mb = _peak_mem_mb(t, acc, gyro)
    print(
        f"features: {ours_sps / 1e6:.1f} M samples/s end to end (one {DAY_H:.0f} h / {FS_HZ:.0f} Hz day, "
        f"{n / 1e6:.2f} M samples, best of {ROUNDS}: {ours_s * 1e3:.0f} ms; target >= 20 M/s)\n"
        f"  imufusion per-sample loop (timed on the day's first {m_imuf} samples, per sample): "
        f"{imuf_sps / 1e6:.3f} M/s -> ratio "
        f"{ours_sps / imuf_sps:.1f}x (target >= 50x)\n"
        f"  ahrs Madgwick.updateIMU per-sample loop (timed on {AHRS_SLICE} samples, extrapolated): "
        f"{ahrs_sps / 1e3:.1f} k/s -> ratio {ours_sps / ahrs_sps:.0f}x (target >= 1000x)\n"
        f"  orientation filter alone (same work as the competitors): {orient_sps / 1e6:.1f} M/s -> "
        f"{orient_sps / imuf_sps:.1f}x imufusion, {orient_sps / ahrs_sps:.0f}x ahrs\n"
        f"  peak RSS of a fresh process processing the day: {peak_mb:.0f} MB (target < 1024)\n"
        f"  freed memory kept for reuse, as the pipeline runs (features.allocator): {'yes' if kept else 'no (not glibc)'}"
    )
    return {
        "features_samples_per_s": ours_sps,
        "features_vs_imufusion_ratio": ours_sps / imuf_sps,
        "features_vs_ahrs_ratio": ours_sps / ahrs_sps,
        "features_peak_mem_mb": peak_mb,
        "features_orientation_samples_per_s": orient_sps,
        "features_orientation_vs_imufusion_ratio": orient_sps / imuf_sps,
    }


def _broad() -> dict[str, float]:
    ours_e, theirs_e = [], []
    for f in sorted(BROAD.glob("*.mat")):
        d = sio.loadmat(f, squeeze_me=True)
        fs = float(d["sampling_rate"])
        a = d["imu_acc"] / 9.81
        g = np.degrees(d["imu_gyr"])
        ok = d["movement"].astype(bool) & np.isfinite(d["opt_quat"]).all(1)
        ref = up_vectors(d["opt_quat"])
        q = orientation_quaternions(a, g, fs, params=FilterParams(gyro_forward=False))
        ours_e.append(_rmse_deg(up_vectors(q), ref, ok))
        theirs_e.append(_rmse_deg(up_vectors(_imufusion_loop(a, g, fs)), ref, ok))
    print(
        f"BROAD inclination RMSE (mean of {len(ours_e)} trials, movement phases): ours "
        f"{np.mean(ours_e):.2f} deg, imufusion {np.mean(theirs_e):.2f} deg"
    )
    return {
        "broad_inclination_rmse_deg": float(np.mean(ours_e)),
        "broad_inclination_rmse_imufusion_deg": float(np.mean(theirs_e)),
    }


def _xio() -> dict[str, float]:
    from features.xiocheck import xio_inclination

    res = xio_inclination()
    print(
        f"x-io recording ({res.seconds:.0f} s, no ground truth): inclination difference to its reference "
        f"algorithm (imufusion with magnetometer, x-io's settings): ours {res.ours_deg:.2f} deg, ahrs Madgwick "
        f"{res.madgwick_deg:.2f} deg (target: ours the same or smaller)"
    )
    return {"xio_inclination_diff_deg": res.ours_deg, "xio_inclination_diff_madgwick_deg": res.madgwick_deg}


def _sim() -> dict[str, float]:
    from features.simcheck import accuracy_params, simulate_and_evaluate

    with tempfile.TemporaryDirectory() as tmp:
        acc = simulate_and_evaluate(Path(tmp), accuracy_params())
    rom = np.abs(acc.rom_errors_deg())
    mount = max(s.total_deg for s in acc.segments)
    above30 = max(
        abs(d.above30_error_min) / max(d.above30_true_min, 1e-9) for d in acc.days if d.above30_true_min >= 5
    )
    # the issue: "over a whole simulated cohort ...: minutes above 30 deg within 5 %"
    above30_cohort = sum(d.above30_error_min for d in acc.days) / sum(d.above30_true_min for d in acc.days)
    wear = max(abs(d.wear_error_min) for d in acc.days)
    out = {
        "sim_flexion_rmse_deg": acc.flexion_rmse_deg,
        "sim_lateral_rmse_deg": acc.lateral_rmse_deg,
        "sim_rom_envelope_error_deg": float(np.nanmean(rom)),
        "sim_rom_envelope_max_error_deg": float(np.nanmax(rom)),
        "sim_rom_envelope_max_error_flexion_lateral_deg": float(np.nanmax(rom[:, :4])),
        "sim_mounting_max_error_deg": mount,
        "sim_above30_max_rel_error_pct": 100.0 * above30,
        "sim_above30_cohort_rel_error_pct": 100.0 * above30_cohort,
        "sim_wear_max_error_min": wear,
    }
    print(
        f"simulator cohort ({len(acc.days)} days, {len(acc.segments)} wear segments): flexion RMSE "
        f"{out['sim_flexion_rmse_deg']:.2f} deg, lateral {out['sim_lateral_rmse_deg']:.2f} (targets <= 2); ROM "
        f"envelope error mean {out['sim_rom_envelope_error_deg']:.2f}, max {out['sim_rom_envelope_max_error_deg']:.2f} "
        f"deg (flex/lat max {out['sim_rom_envelope_max_error_flexion_lateral_deg']:.2f}; target <= 3); mounting max "
        f"{mount:.2f} deg; minutes > 30 deg over the cohort {out['sim_above30_cohort_rel_error_pct']:+.2f} % (target "
        f"within 5 %), worst single day {out['sim_above30_max_rel_error_pct']:.1f} % on days with >= 5 min; wear max error {wear:.2f} min (target <= 10)"
    )
    return out


def run() -> dict[str, float]:
    return {**_speed(), **_broad(), **_xio(), **_sim()}

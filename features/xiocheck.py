"""Inclination on x-io's real recording against its reference algorithm (../shared/data/xio-fusion).

The recording (about 135 s at about 100 Hz: rests, tilts to 60 deg, a 7-s spin at 150-200 deg/s)
has no ground truth, only a reference algorithm: imufusion, x-io's own AHRS, run as x-io's
example runs it (gyroscope, accelerometer *and* magnetometer, gain 0.5, acceleration rejection
10 deg, magnetic rejection 20 deg, rejection timeout 5 s). Our 6-axis filter and the ``ahrs``
package's 6-axis Madgwick filter are compared with it by the RMS angle between their 'up'
vectors and the reference's (inclination: what flexion and lateral flexion depend on). The
first 2 s (both filters converging from their first sample) are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from features.orientation import FilterParams, orientation_quaternions, up_vectors

F64 = npt.NDArray[np.float64]

XIO_CSV = Path("/work/shared/data/xio-fusion/sensor_data.csv")  # beside the checkout, as BROAD
SETTLE_S = 2.0


@dataclass(frozen=True)
class XioInclination:
    """RMS inclination difference (deg) to the reference over one stretch of the recording."""

    seconds: float
    ours_deg: float
    madgwick_deg: float


def _reference(gyro_dps: F64, acc_g: F64, mag_ut: F64, fs_hz: float) -> F64:
    import imufusion

    ahrs = imufusion.Ahrs()
    st = imufusion.AhrsSettings()
    st.convention = imufusion.CONVENTION_NWU
    st.gain = 0.5
    st.gyroscope_range = 2000
    st.acceleration_rejection = 10
    st.magnetic_rejection = 20
    st.rejection_timeout = int(5 * fs_hz)
    st.sample_rate = round(fs_hz)
    ahrs.set_settings(st)
    ahrs.set_sample_period(1.0 / fs_hz)
    out = np.empty((gyro_dps.shape[0], 4))
    for i in range(gyro_dps.shape[0]):
        ahrs.update(gyro_dps[i], acc_g[i], mag_ut[i])
        out[i] = ahrs.get_quaternion()
    return out


def _madgwick(gyro_dps: F64, acc_g: F64, fs_hz: float) -> F64:
    from ahrs.filters import Madgwick

    m = Madgwick(frequency=fs_hz)
    q = np.array([1.0, 0.0, 0.0, 0.0])
    out = np.empty((gyro_dps.shape[0], 4))
    g = np.radians(gyro_dps)
    a = acc_g * 9.80665
    for i in range(g.shape[0]):
        q = m.updateIMU(q, gyr=g[i], acc=a[i])
        out[i] = q
    return out


def _rms_deg(u: F64, ref: F64, ok: npt.NDArray[np.bool_]) -> float:
    e = np.arccos(np.clip((u[ok] * ref[ok]).sum(1), -1.0, 1.0))
    return math.degrees(math.sqrt(float(np.mean(e**2))))


def xio_inclination(first_s: float | None = None, path: Path = XIO_CSV) -> XioInclination:
    """Compare on the first ``first_s`` seconds of the recording (None: all of it)."""
    d = np.genfromtxt(path, delimiter=",", skip_header=1, ndmin=2)
    if d.shape[1] != 10 or not np.isfinite(d).all():
        raise ValueError(
            f"{path}: expected x-io's 10 numeric columns (time, gyroscope xyz, accelerometer xyz, "
            f"magnetometer xyz) in every row, got {d.shape[1]} columns or blank/non-numeric values"
        )
    if first_s is not None:
        d = d[d[:, 0] - d[0, 0] < first_s]
    t = d[:, 0] - d[0, 0]
    if t.size < 2 or t[-1] <= SETTLE_S:
        raise ValueError(
            f"{path}: {t[-1] if t.size else 0:.1f} s of data; the comparison needs more than {SETTLE_S} s"
        )
    gyro, acc, mag = d[:, 1:4], d[:, 4:7], d[:, 7:10]
    fs = 1.0 / float(np.median(np.diff(t)))
    ref = up_vectors(_reference(gyro, acc, mag, fs))
    ok = t >= SETTLE_S
    # the recording's rate drives the step that ends at its timestamp, as imufusion integrates it
    ours = orientation_quaternions(acc, gyro, fs, t_s=t, params=FilterParams(gyro_forward=False))
    return XioInclination(
        seconds=float(t[-1]),
        ours_deg=_rms_deg(up_vectors(ours), ref, ok),
        madgwick_deg=_rms_deg(up_vectors(_madgwick(gyro, acc, fs)), ref, ok),
    )

"""Head orientation from accelerometer + gyroscope: a compiled Mahony-style filter.

The filter is recursive (each sample depends on the previous state) so numpy cannot vectorise
it; it is compiled with numba (``cache=True``, so the compile cost is paid once per machine).

Two entry points share the same compiled loop (:func:`_run`):

* :func:`orientation_quaternions` returns one quaternion per sample (used for validation against
  optical ground truth and against imufusion);
* :func:`orientation_bins` fuses and aggregates in the same pass into short time bins (default
  0.25 s) so a participant-day of 2.9 M samples leaves only ~230 k rows for the feature code.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from types import ModuleType

import numba
import numpy as np
import numpy.typing as npt

from features.autocal import AutocalParams, corrected_rotation, fit_offset

_orientation_lanes: ModuleType | None
try:
    from features import _orientation_lanes
except ImportError:  # a checkout whose extension was not built: the scalar loop (make install builds it)
    _orientation_lanes = None

logger = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

# SIMD lanes (features/_orientation_lanes.c): a recording of at least LANES_MIN_S is filtered as
# up to MAX_LANES chunks of at least LANE_MIN_S each, each chunk but the first started
# LANE_WARMUP_S early (its tilt and gravity estimate converge there; no bins are written).
MAX_LANES = 8
# The 8 lanes need AVX-512's 32 wide registers: compiled for AVX2 their state spills to the stack
# and they ran 3x slower than the scalar loop (docs/decisions.md), so without AVX-512 recordings
# go to the scalar loop (orientation_bins(lanes=...) still runs the lanes, as the tests do).
LANES_FASTER = bool(getattr(_orientation_lanes, "AVX512", 0))
LANES_MIN_S = 3600.0
LANE_MIN_S = 1800.0
LANE_WARMUP_S = 900.0
# A lane starts from the recording's first gyro bias; its vertical component is only learnt at
# rest, and unless the lane's warm-up rests taught it the bias the lane before had learnt by the
# join, the difference turns the lane's heading until its next rest. If two neighbouring lanes'
# biases give heading rates further apart than this at their join, the scalar loop runs instead.
# Measured on four 24-participant accuracy cohorts (seeds 11-14, 274 recordings): the difference
# has median 0.0001 and 90th percentile 0.006-0.011 deg/s, at most 0.105; 0.03 sends 4/4/1/1
# recordings to the scalar loop, and every accuracy figure (angle RMSE, the six ROM envelopes)
# was the same to 0.01 deg with no fallback at all (the rotation's drift correction absorbs a
# small heading rate), so this only guards against a lane that learnt no bias at all.
# (A first rule, "the lane's rests replaced 99 % of the initial bias", sent 22-33 % there.)
LANE_JOIN_DRIFT_MAX_DPS = 0.03

# Columns of the per-bin output of orientation_bins (the order is part of the kernel).
BIN_COLUMNS = (
    "r00", "r01", "r02", "r10", "r11", "r12", "r20", "r21", "r22",  # mean rotation sensor->earth
    "gyro_mean_dps", "gyro_max_dps",  # magnitude of bias-corrected angular velocity
    "ax_sum", "ay_sum", "az_sum", "ax_sq", "ay_sq", "az_sq",  # raw acceleration moments (g, g^2)
    "amag_sum", "amag_sq",  # moments of |acc| (g, g^2)
    "count",
)  # fmt: skip
N_BIN_COLUMNS = len(BIN_COLUMNS)
N_COLS = 20  # numba needs a literal-like global; checked against BIN_COLUMNS below
assert N_COLS == N_BIN_COLUMNS


@dataclass(frozen=True)
class FilterParams:
    """Tuning of the orientation filter.

    Attributes
    ----------
    kp : float
        Gain (1/s) turning the estimated vertical toward the filtered gravity.
    ki : float
        Fraction of each tilt correction fed into the gyro-bias estimate (integral action), so
        a constant horizontal bias leaves no standing tilt error while the head keeps moving.
    tau_acc_s : float
        Time constant of the earth-frame low-pass of the accelerometer: linear accelerations of
        the head (walking, nodding) average out over it, gravity does not.
    acc_tol_g : float
        Accelerometer gate: samples with ``| |a| - 1 g |`` above this (impacts, taps) are kept
        out of the gravity low-pass.
    rest_gyro_dps, rest_acc_g, rest_time_s, rest_bias_tau_s : float
        Rest detection: when the gyro stays within ``rest_gyro_dps`` of its low-pass and below it
        in magnitude, and the accelerometer within ``rest_acc_g``, for ``rest_time_s``, all three
        bias components (including the vertical one the accelerometer cannot observe) are pulled
        toward the measured rate with time constant ``rest_bias_tau_s``. A 'rest' of a worn
        sensor still contains the head's slow sway (tenths of a degree at 0.02-0.4 Hz, i.e. up to
        ~0.5 deg/s); the bias itself wanders over tens of minutes, so the time constant is 30 s,
        not a few seconds: with 3 s the bias absorbed the sway rate and the filter's tilt lagged
        it by ~0.2 deg for minutes (simulator flexion RMSE 0.44 -> 0.30 deg, with the long-rest rule).
    rest_long_s, rest_long_bias_tau_s : float
        A rest that has lasted ``rest_long_s`` without the gravity direction moving by
        ``rest_tilt_deg`` is not a swaying head (the device lies on a table, or the head is
        truly still): from then on the bias follows with the short time constant
        ``rest_long_bias_tau_s``, so a bias that shifted while the device was taken off is learnt
        within seconds (non-wear detection reads the fused rotation rate).
    rest_tilt_deg : float
        A rest also ends when the low-passed gravity direction moves more than this from where
        the rest began: slow posture drift is motion, not gyro bias.
    gyro_forward : bool
        True: the rate of sample ``i`` drives the step to ``i + 1`` (the sensor reports the mean
        rate of the interval that starts at its timestamp, as our simulator and many IMUs with
        internal integration do). False: it drives the step from ``i - 1``. At 50 Hz and 100 deg/s
        the wrong choice costs 2 deg during fast turns.
    gap_s : float
        A time step longer than this (or than 3 sample intervals, whichever is longer) is a gap:
        the head's turn during it is lost, so the filter re-converges quickly after it. Measured on
        the simulated accuracy cohorts (seeds 11-18): 1.0 s let a 0.8-s BLE packet loss during a
        side bend leave a 35-deg lateral error for seconds (a 19-deg ROM envelope error); 0.2 s
        fixed that and lowered flexion RMSE (seed 16: 0.68 -> 0.42 deg).
    init_s : float
        Duration of the fast-convergence phase at start and after gaps.
    warmup_s : float
        The gyro bias is first learnt over this many seconds at the start, then the whole
        recording is fused from that bias (see :func:`_warm_bias`).
    warmup_bias_tau_s : float
        The rest bias time constant of that warm-up pass. Short, unlike ``rest_bias_tau_s``: the
        recording starts with the donning's quiet hold (5-10 s), and a turn-on bias of a
        deg/s left half-learnt there becomes heading drift that the rotation reference has to
        undo. Measured on two 24-participant accuracy cohorts, 30 s -> 3 s: rotation envelope
        RMS 1.51 -> 1.24 and 2.05 -> 1.96 deg, flexion/extension envelope max 2.01 -> 1.04 deg.
    integral_max_dps : float
        No integral action over a correction period whose RMS angular speed exceeded this in any
        block: at a few hundred deg/s the gyro's scale-factor and axis errors (tenths of a
        percent) pass for bias, and the wrong bias then tilts the estimate for tens of seconds
        after the movement (x-io's recording, a 7-s spin at 150-200 deg/s: 1 deg off the
        accelerometer at rest 5 s later, 0.1 deg with the gate).
    quiet_dps, quiet_acc_g, quiet_tau_acc_s, quiet_kp : float
        Adaptive gain: a correction period in which every block's RMS angular speed stayed below
        ``quiet_dps`` and the accelerometer's variance below ``quiet_acc_g``^2 has no linear
        acceleration to filter out, so the gravity low-pass uses ``quiet_tau_acc_s`` and the
        correction ``quiet_kp`` instead of ``tau_acc_s`` and ``kp``: after a quick movement the
        tilt re-converges in about a second instead of about five. Measured: the inclination
        difference to x-io's reference output on its recording 0.49 -> 0.40 deg; simulator
        cohorts (seeds 11, 12, 13) flexion RMSE 0.33/0.32/0.35 -> 0.32/0.31/0.34 deg and lateral
        0.67/0.60/0.60 -> 0.66/0.60/0.59, with the lateral envelope's worst day 2.2/1.9/1.6 ->
        2.1/2.2/1.9 deg (quicker following lets more accelerometer noise into a held end range);
        BROAD unchanged (its evaluated phases are movement).
    update_s : float
        Period of rest detection and the gyro-bias update (the gyro is integrated every sample).
    correct_s : float
        Period of the gravity low-pass and tilt correction (a multiple of ``update_s``): their
        bandwidth (``kp`` = 0.6/s, ``tau_acc_s`` = 3 s) is far below 2 Hz, so running them at 2 Hz
        instead of 10 Hz changes nothing physically and saves a square root, a division and a
        quaternion renormalisation per 0.1 s (measured: +25 % filter throughput).
    """

    kp: float = 0.6
    ki: float = 0.02
    tau_acc_s: float = 3.0
    acc_tol_g: float = 4.0
    rest_gyro_dps: float = 2.0
    rest_acc_g: float = 0.03
    rest_time_s: float = 1.5
    rest_bias_tau_s: float = 30.0
    gap_s: float = 0.1
    init_s: float = 1.5
    rest_tilt_deg: float = 0.3
    gyro_forward: bool = True
    update_s: float = 0.1
    correct_s: float = 0.5
    warmup_s: float = 60.0
    rest_long_s: float = 5.0
    rest_long_bias_tau_s: float = 3.0
    warmup_bias_tau_s: float = 3.0
    integral_max_dps: float = 150.0
    quiet_dps: float = 10.0
    quiet_acc_g: float = 0.02
    quiet_tau_acc_s: float = 0.5
    quiet_kp: float = 1.2


DEFAULT_FILTER = FilterParams()


def _params_array(p: FilterParams, t_s: F64 | None = None) -> F64:
    pr = _raw_params_array(p)
    if t_s is not None:
        pr[8] = effective_gap_s(t_s, p.gap_s)
    return pr


def effective_gap_s(t_s: F64, gap_s: float) -> float:
    """The gap threshold for a recording: ``gap_s``, or 3 sample intervals at low sample rates.

    A gap loses whatever the head turned meanwhile (0.2 s at 100 deg/s is 20 deg), so the filter
    re-converges after any gap of more than a few samples; at 5 Hz a normal step is already 0.2 s.
    """
    dt = np.diff(np.asarray(t_s[:2001], dtype=np.float64))
    return max(gap_s, 3.0 * float(np.median(dt))) if dt.size else gap_s


def _raw_params_array(p: FilterParams) -> F64:
    return np.array(
        [
            p.kp,
            p.ki,
            p.acc_tol_g,
            p.tau_acc_s,
            p.rest_gyro_dps,
            p.rest_acc_g,
            p.rest_time_s,
            p.rest_bias_tau_s,
            p.gap_s,
            p.init_s,
            p.rest_tilt_deg,
            1.0 if p.gyro_forward else 0.0,
            p.update_s,
            p.correct_s,
            p.rest_long_s,
            p.rest_long_bias_tau_s,
            p.integral_max_dps,
            p.quiet_dps,
            p.quiet_acc_g,
            p.quiet_tau_acc_s,
            p.quiet_kp,
        ],
        dtype=np.float64,
    )


@numba.njit(cache=True, inline="always")
def _tilt_quat(ax: float, ay: float, az: float) -> tuple[float, float, float, float]:
    """Shortest rotation taking the measured 'up' (sensor frame) onto earth z (yaw = 0)."""
    n = math.sqrt(ax * ax + ay * ay + az * az)
    if n < 1e-9:
        return 1.0, 0.0, 0.0, 0.0
    ax /= n
    ay /= n
    az /= n
    w = 1.0 + az
    if w < 1e-9:
        return 0.0, 1.0, 0.0, 0.0
    m = math.sqrt(w * w + ay * ay + ax * ax)
    return w / m, ay / m, -ax / m, 0.0


@numba.njit(cache=True, inline="always")
def _gyro_step(
    qw: float, qx: float, qy: float, qz: float, hx: float, hy: float, hz: float, m: float
) -> tuple[float, float, float, float]:
    """``q (x) (1, h) * m``: one gyro integration step (h = half the rotation vector of the step)
    with the norm factor ``m``."""
    return (
        (qw - qx * hx - qy * hy - qz * hz) * m,
        (qx + qw * hx + qy * hz - qz * hy) * m,
        (qy + qw * hy - qx * hz + qz * hx) * m,
        (qz + qw * hz + qx * hy - qy * hx) * m,
    )


@numba.njit(cache=True, inline="always")
def _rotation(qw: float, qx: float, qy: float, qz: float, s: float) -> tuple[
    float, float, float, float, float, float, float, float, float
]:  # fmt: skip
    """Rotation matrix (row-major) of a quaternion of any non-zero norm, given ``s = 2 / |q|^2``
    (exactly, or from an approximation of 1 / |q|^2 when |q| is near 1)."""
    return (
        1.0 - s * (qy * qy + qz * qz),
        s * (qx * qy - qw * qz),
        s * (qx * qz + qw * qy),
        s * (qx * qy + qw * qz),
        1.0 - s * (qx * qx + qz * qz),
        s * (qy * qz - qw * qx),
        s * (qx * qz - qw * qy),
        s * (qy * qz + qw * qx),
        1.0 - s * (qx * qx + qy * qy),
    )


@numba.njit(cache=True, inline="always")
def _flush_bin(
    out: np.ndarray, b: int, last_b: int, n_bins: int,
    sqw: float, sqx: float, sqy: float, sqz: float, s9: float, s10: float, s11: float, s12: float,
    s13: float, s14: float, s15: float, s16: float, s17: float, s19: float,
) -> int:  # fmt: skip
    """Store a bin's register sums in its row (:func:`_finish_bins` turns them into means later).
    Returns the highest bin stored so far.

    Time increases, so a bin is normally stored once, without reading its row (reading the cold
    row would wait on memory once per bin). A bin at or below ``last_b`` (timestamps that went
    back) is added to its row, its quaternion sum turned into the same hemisphere first (q and -q
    are one rotation, and after a full turn the filter's quaternion has changed sign: the two
    visits' sums would cancel). Only stores happen here: the rotation, its division and the other
    arithmetic are left to the pass after the loop, which keeps the per-sample loop's registers
    free (measured: -8 ms per 16-h day).
    """
    if not (0 <= b < n_bins):
        return last_b
    if b <= last_b and out[b, 19] > 0.0:  # a row never stored holds only its zero count
        if sqw * out[b, 0] + sqx * out[b, 1] + sqy * out[b, 2] + sqz * out[b, 3] < 0.0:
            sqw = -sqw
            sqx = -sqx
            sqy = -sqy
            sqz = -sqz
        sqw += out[b, 0]
        sqx += out[b, 1]
        sqy += out[b, 2]
        sqz += out[b, 3]
        s9 += out[b, 9]
        s10 = max(out[b, 10], s10)
        s11 += out[b, 11]
        s12 += out[b, 12]
        s13 += out[b, 13]
        s14 += out[b, 14]
        s15 += out[b, 15]
        s16 += out[b, 16]
        s17 += out[b, 17]
        s19 += out[b, 19]
    # out[b, k], not a row view: a view costs a reference count (a call) per flush
    out[b, 0] = sqw
    out[b, 1] = sqx
    out[b, 2] = sqy
    out[b, 3] = sqz
    out[b, 9] = s9
    out[b, 10] = s10
    out[b, 11] = s11
    out[b, 12] = s12
    out[b, 13] = s13
    out[b, 14] = s14
    out[b, 15] = s15
    out[b, 16] = s16
    out[b, 17] = s17
    out[b, 19] = s19
    return max(b, last_b)


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def _finish_bins(out: np.ndarray, ox: float, oy: float, oz: float, correct: bool) -> int:
    """Sums -> bin values: the mean rotation from the summed quaternions (columns 0-3 -> 0-8),
    the mean angular speed, and the sum of |a|^2 (ax^2 + ay^2 + az^2).

    With ``correct``, each rotation is tilted for the accelerometer offset (ox, oy, oz) g on the
    way (:func:`features.autocal.corrected_rotation`): the nine columns are written once instead
    of being read and written again by a correcting pass (measured: -2.5 ms per 16-h day, a pass
    bound by memory traffic). Rows without samples are left as they are; returns their number.
    """
    empty = 0
    for b in range(out.shape[0]):
        c = out[b, 19]
        if c <= 0.0:
            empty += 1
            continue
        qw, qx, qy, qz = out[b, 0], out[b, 1], out[b, 2], out[b, 3]
        n2 = qw * qw + qx * qx + qy * qy + qz * qz  # > 0: the summed quaternions share a hemisphere
        r00, r01, r02, r10, r11, r12, r20, r21, r22 = _rotation(qw, qx, qy, qz, 2.0 / max(n2, 1e-300))
        if correct:
            r00, r01, r02, r10, r11, r12, r20, r21, r22 = corrected_rotation(
                r00, r01, r02, r10, r11, r12, r20, r21, r22, ox, oy, oz
            )
        out[b, 0] = r00
        out[b, 1] = r01
        out[b, 2] = r02
        out[b, 3] = r10
        out[b, 4] = r11
        out[b, 5] = r12
        out[b, 6] = r20
        out[b, 7] = r21
        out[b, 8] = r22
        out[b, 9] /= c
        out[b, 18] = out[b, 14] + out[b, 15] + out[b, 16]
    return empty


@numba.njit(cache=True, error_model="numpy")
def _zero_empty_rows(out: np.ndarray) -> None:
    """Zeros in every column of the rows without samples (count 0): ``orientation_bins`` zeroes
    only the count column up front, and the filter loops store only rows that get samples. A
    separate pass, run only when there are such rows: zeroing inside :func:`_finish_bins`' loop
    made that loop 3x slower."""
    for b in range(out.shape[0]):
        if out[b, 19] <= 0.0:
            for k in range(N_COLS):
                out[b, k] = 0.0


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def _run(
    t_s: np.ndarray,
    acc_g: np.ndarray,
    gyro_dps: np.ndarray,
    pr: np.ndarray,
    t_origin_s: float,
    bin_s: float,
    out: np.ndarray,
    quats: np.ndarray,
    bias: np.ndarray,
) -> None:
    """The filter loop (multi-rate). State lives in scalars so numba keeps it in registers.

    Every sample: gyro integration, its acceleration turned into the earth frame (``q a q*``),
    and sums for its block and its bin. Every ``update_s`` (a block of K samples): rest detection
    and the gyro-bias update from the block's gyro/acc mean and variance. Every ``correct_s``: the
    earth-frame gravity low-pass and the tilt correction. Their bandwidth (kp ~ 0.6/s) is far
    below the block rate (10 Hz), so updating them per block changes nothing physically but takes
    the long dependency chain of the correction out of the per-sample loop; the correction also
    uses only the blocks before the current one, so it never waits for the latest quaternion.

    A bin's mean rotation is the rotation of its summed (then normalised) quaternions rather than
    the mean of its samples' rotation matrices: the samples of a 0.25-s bin lie within degrees of
    each other, where the two agree to second order, and it saves the matrix per sample.
    Measured when these two changes were made, on a 16-h, 50-Hz day: 44 -> 38 ms, with the same
    accuracy (BROAD inclination 0.74 -> 0.75 deg; the simulator cohort's figures unchanged within
    0.01 deg, rotation within 0.03).

    ``out`` (n_bins, 20), with a zero count column (a row's other columns are read only once its
    count says it was stored), receives the bins' sums (sample i goes to bin
    ``floor((t_s[i] - t_origin_s) / bin_s)``), which :func:`_finish_bins` turns into bin values;
    ``quats`` ((N, 4) or (0, 4)) the quaternion of
    every sample if it has N rows. ``bias`` (3,) is the initial gyro bias (rad/s) and receives the
    final one. The caller allocates the arrays: numpy maps a large zeroed array in huge pages, a
    numba allocation in 4-KB pages, whose first-touch faults cost ~13 ms per participant-day.
    """
    n = t_s.shape[0]
    n_bins = out.shape[0]
    per_sample = quats.shape[0] == n
    if n == 0:
        return
    d2r = math.pi / 180.0
    kp = pr[0]
    ki = pr[1]
    acc_tol2 = (1.0 + pr[2]) ** 2
    tau_acc = pr[3]
    rest_g2 = (pr[4] * d2r) ** 2
    rest_a2 = pr[5] ** 2
    rest_time = pr[6]
    tau_bias = pr[7]
    gap_s = pr[8]
    init_s = pr[9]
    rest_tilt2 = (pr[10] * d2r) ** 2
    forward = pr[11] > 0.5
    dt = (t_s[n - 1] - t_s[0]) / max(n - 1, 1)
    if dt <= 0.0:
        dt = 0.02
    k_block = max(1, int(pr[12] / dt + 0.5))
    inv_k = 1.0 / k_block
    tb = k_block * dt
    # per-block constants; timestamp jitter is irrelevant to the dynamics
    a_lp = tb / (0.5 + tb)
    b_rest = tb / (tau_bias + tb)
    b_rest_long = tb / (pr[15] + tb)
    rest_long = pr[14]
    k_corr = max(1, int(pr[13] / tb + 0.5))
    tc = k_corr * tb
    b_acc = tc / (tau_acc + tc)
    b_init = tc / (0.05 + tc)
    kc = 0
    hdt = 0.5 * dt
    qw, qx, qy, qz = _tilt_quat(acc_g[0, 0], acc_g[0, 1], acc_g[0, 2])
    q0w = qw
    q0x = qx
    q0y = qy
    q0z = qz
    bx = bias[0]
    by = bias[1]
    bz = bias[2]
    lax = float(acc_g[0, 0])
    lay = float(acc_g[0, 1])
    laz = float(acc_g[0, 2])
    rax = lax
    ray = lay
    raz = laz
    gex = 0.0
    gey = 0.0
    gez = 1.0
    rest = 0.0
    init_left = init_s
    t_prev = t_s[0]
    # block sums: raw gyro (rad/s) and its square norm, raw acc and its square norm, earth-frame
    # acc; the earth-frame sums of the blocks since the last correction
    sgx = sgy = sgz = sgg = 0.0
    sax = say = saz = saa = 0.0
    eax = eay = eaz = ecnt = 0.0
    cex = cey = cez = ccnt = 0.0
    peak_r2 = peak_a2 = 0.0
    fast_r2 = (pr[16] * d2r) ** 2
    quiet_r2 = (pr[17] * d2r) ** 2
    quiet_a2 = pr[18] ** 2
    b_quiet = tc / (pr[19] + tc)
    kp_quiet = pr[20]
    kb = 0
    cur_b = -1
    last_b = -1
    sqw = sqx = sqy = sqz = s9 = s10 = 0.0
    s11 = s12 = s13 = s14 = s15 = s16 = s17 = s19 = 0.0
    inv_bin = 1.0 / bin_s
    for i in range(n):
        ti = t_s[i]
        if ti - t_prev > gap_s:
            init_left = init_s  # after a gap: re-converge fast, keep the bias
        t_prev = ti
        gx = gyro_dps[i, 0] * d2r
        gy = gyro_dps[i, 1] * d2r
        gz = gyro_dps[i, 2] * d2r
        ax = float(acc_g[i, 0])
        ay = float(acc_g[i, 1])
        az = float(acc_g[i, 2])
        ax2 = ax * ax
        ay2 = ay * ay
        az2 = az * az
        am2 = ax2 + ay2 + az2
        sgx += gx
        sgy += gy
        sgz += gz
        sgg += gx * gx + gy * gy + gz * gz
        sax += ax
        say += ay
        saz += az
        saa += am2
        # Gravity is taken from the accelerometer low-passed in the earth frame (after VQF): the
        # head's linear accelerations (walking, nodding) average out there over a few seconds,
        # gravity does not; impacts and taps (beyond acc_tol) stay out, except while converging.
        # Each sample is rotated with its own orientation: with one rotation per block instead,
        # linear accelerations that come with fast turns leave a first-order error (BROAD's fast
        # translation trial at 286 Hz: inclination RMSE 0.9 -> 3.6 deg).
        if am2 <= acc_tol2 or init_left > 0.0:
            # q a q*: t = 2 v x a, a + w t + v x t (v = (qx, qy, qz)), fewer operations than
            # building the rotation matrix
            tx = 2.0 * (qy * az - qz * ay)
            ty = 2.0 * (qz * ax - qx * az)
            tz = 2.0 * (qx * ay - qy * ax)
            eax += ax + qw * tx + qy * tz - qz * ty
            eay += ay + qw * ty + qz * tx - qx * tz
            eaz += az + qw * tz + qx * ty - qy * tx
            ecnt += 1.0
        wx = gx - bx
        wy = gy - by
        wz = gz - bz
        # half-step rotation: off the sample-to-sample dependency chain of q
        hx = hdt * wx
        hy = hdt * wy
        hz = hdt * wz
        # one Newton step of 1/sqrt around 1 of q's norm (the step keeps |q| within ~1e-4 of 1),
        # computed from q before the step, in parallel with it: the norm the step adds is taken out
        # one sample later, and no sqrt, division or the step's own norm sits on the dependency chain
        # (it also takes out what the correction's first-order normalisation leaves)
        m = 1.5 - 0.5 * (qw * qw + qx * qx + qy * qy + qz * qz)
        if not forward:
            # the rate sampled at t_i drives the step (t_{i-1}, t_i]
            qw, qx, qy, qz = _gyro_step(qw, qx, qy, qz, hx, hy, hz, m)
        if per_sample:
            # |q| is within ~(|w| dt / 2)^2 of 1 here (the step's norm is taken out a sample later):
            # normalised exactly, a unit quaternion per sample
            mq = 1.0 / math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
            quats[i, 0] = qw * mq
            quats[i, 1] = qx * mq
            quats[i, 2] = qy * mq
            quats[i, 3] = qz * mq
        b = int((ti - t_origin_s) * inv_bin)
        if b != cur_b:
            # registers -> memory once per bin, not a read-modify-write of a row per sample
            last_b = _flush_bin(
                out,
                cur_b,
                last_b,
                n_bins,
                sqw,
                sqx,
                sqy,
                sqz,
                s9,
                s10,
                s11,
                s12,
                s13,
                s14,
                s15,
                s16,
                s17,
                s19,
            )
            cur_b = b
            sqw = sqx = sqy = sqz = s9 = s10 = 0.0
            s11 = s12 = s13 = s14 = s15 = s16 = s17 = s19 = 0.0
        wd = math.sqrt(wx * wx + wy * wy + wz * wz) / d2r
        # the orientation at the sample's time (before the step it drives, or after the step it
        # ends): summed, a bin's mean quaternion (samples of a bin lie within degrees of each other)
        sqw += qw
        sqx += qx
        sqy += qy
        sqz += qz
        s9 += wd
        if wd > s10:
            s10 = wd
        s11 += ax
        s12 += ay
        s13 += az
        s14 += ax2
        s15 += ay2
        s16 += az2
        s17 += math.sqrt(am2)
        s19 += 1.0
        if forward:
            # the rate sampled at t_i drives the step [t_i, t_{i+1})
            qw, qx, qy, qz = _gyro_step(qw, qx, qy, qz, hx, hy, hz, m)
        kb += 1
        if kb < k_block:
            continue
        # ---- block update: rest / gyro bias, earth-frame acc; tilt correction every correct_s ----
        mgx = sgx * inv_k
        mgy = sgy * inv_k
        mgz = sgz * inv_k
        mg2 = mgx * mgx + mgy * mgy + mgz * mgz
        var_g = sgg * inv_k - mg2
        max_ = sax * inv_k
        may = say * inv_k
        maz = saz * inv_k
        var_a = saa * inv_k - (max_ * max_ + may * may + maz * maz)
        lax += a_lp * (max_ - lax)
        lay += a_lp * (may - lay)
        laz += a_lp * (maz - laz)
        rdx = lax - rax
        rdy = lay - ray
        rdz = laz - raz
        # rest -> full 3-axis gyro bias (the vertical axis is invisible to gravity); slow posture
        # drift (< 1 deg/s) passes the rate tests, so the low-passed gravity direction must also
        # stay within rest_tilt of where the rest began
        if (
            var_g < rest_g2
            and mg2 < 4.0 * rest_g2
            and var_a < rest_a2
            and rdx * rdx + rdy * rdy + rdz * rdz < rest_tilt2
        ):
            rest += tb
            if rest > rest_time:
                br = b_rest_long if rest > rest_long else b_rest
                bx += br * (mgx - bx)
                by += br * (mgy - by)
                bz += br * (mgz - bz)
        else:
            rest = 0.0
            rax = lax
            ray = lay
            raz = laz
        kc += 1
        if kc >= k_corr:
            # ---- correction (every correct_s): gravity low-pass, tilt correction ----
            # It uses the earth-frame sums of the blocks before this one, so the little it adds
            # to q's sample-to-sample dependency chain does not wait for the latest quaternion
            # (their data lags 0.1 s, far inside the correction's bandwidth, kp = 0.6/s).
            kc = 0
            # the largest block mean-square rate and acceleration variance of the blocks whose
            # earth-frame sums it uses (max, not a branch: a data-dependent branch per block cost
            # 2 ms per 16-h day)
            fast = peak_r2 > fast_r2  # fast turns: no integral action
            quiet = peak_r2 <= quiet_r2 and peak_a2 <= quiet_a2
            if init_left > 0.0:
                init_left -= tc
                beta = b_init
                kpe = min(10.0 * kp, 1.0 / tc)  # fast, but at most dead-beat per update
                integral = False
            elif quiet:
                # nothing moved: the accelerometer reads gravity alone, so it is followed faster;
                # no integral action (a rest teaches the bias directly, and integral action at
                # this gain destabilised the filter on the simulator cohort)
                beta = b_quiet
                kpe = kp_quiet
                integral = False
            else:
                beta = b_acc
                kpe = kp
                integral = True
            if ccnt > 0.0:
                inv_c = 1.0 / ccnt
                gex += beta * (cex * inv_c - gex)
                gey += beta * (cey * inv_c - gey)
                gez += beta * (cez * inv_c - gez)
            else:
                integral = False
            ln = math.sqrt(gex * gex + gey * gey + gez * gez) + 1e-12
            # small earth-frame rotation c turning the filtered gravity toward +z: c = kp tb (g x ez)
            cx = kpe * tc * gey / ln
            cy = -kpe * tc * gex / ln
            ngx = gex + cy * gez
            ngy = gey - cx * gez
            gez = gez + cx * gey - cy * gex
            gex = ngx
            gey = ngy
            if integral and not fast:
                # integral action: the correction the tilt keeps needing is horizontal gyro bias
                # (R^T c with R at this block's start: the same within the gain's precision)
                # q0 is within ~1e-3 of unit norm: 1/|q|^2 ~ 2 - |q|^2 (a Newton step), no division
                n2 = q0w * q0w + q0x * q0x + q0y * q0y + q0z * q0z
                p00, p01, p02, p10, p11, p12, _, _, _ = _rotation(q0w, q0x, q0y, q0z, 2.0 * (2.0 - n2))
                bx -= ki * (p00 * cx + p10 * cy)
                by -= ki * (p01 * cx + p11 * cy)
                bz -= ki * (p02 * cx + p12 * cy)
            # correction (earth frame, left-multiplied): dq = (1, cx/2, cy/2, 0), normalised to
            # first order (|c| <= kpe tc <= 1 rad, so the factor stays >= 0.875 and |dq| within 3 %
            # of 1); the per-sample Newton step takes the rest of q's norm out within samples
            dn = 1.0 - 0.125 * (cx * cx + cy * cy)
            hx = 0.5 * cx * dn
            hy = 0.5 * cy * dn
            pw = dn * qw - hx * qx - hy * qy
            px = dn * qx + hx * qw + hy * qz
            py = dn * qy + hy * qw - hx * qz
            pz = dn * qz + hx * qy - hy * qx
            qw = pw
            qx = px
            qy = py
            qz = pz
            # the block just finished was summed in the earth frame before this correction: turn
            # its sum with the same rotation (as the gravity estimate above), or at the dead-beat
            # gain of the fast phase it brings the corrected error back (a 4-deg overshoot 1 s
            # after a gap)
            nex = eax + cy * eaz
            ney = eay - cx * eaz
            eaz = eaz + cx * eay - cy * eax
            eax = nex
            eay = ney
            cex = cey = cez = ccnt = 0.0
            peak_r2 = peak_a2 = 0.0
        # this block's earth-frame sums and its movement join the next correction's
        peak_r2 = max(peak_r2, sgg * inv_k)
        peak_a2 = max(peak_a2, var_a)
        cex += eax
        cey += eay
        cez += eaz
        ccnt += ecnt
        eax = eay = eaz = ecnt = 0.0
        kb = 0
        sgx = sgy = sgz = sgg = 0.0
        sax = say = saz = saa = 0.0
        q0w = qw
        q0x = qx
        q0y = qy
        q0z = qz
    _flush_bin(
        out, cur_b, last_b, n_bins, sqw, sqx, sqy, sqz, s9, s10, s11, s12, s13, s14, s15, s16, s17, s19
    )
    bias[0] = bx
    bias[1] = by
    bias[2] = bz


def _warm_bias(
    t: F64, acc: np.ndarray, gyro: np.ndarray, pr: F64, warmup_s: float, warmup_bias_tau_s: float
) -> F64:
    """Gyro bias (rad/s, (3,)) learnt by running the filter once over the first ``warmup_s``.

    A recording usually starts with the device being put on and a quiet moment (the wear protocol's
    neutral hold); the bias converges there, so the movements right after it — the calibration
    routine, which reaches the full range — are fused with a converged bias instead of zero.
    """
    bias = np.zeros(3)
    if warmup_s > 0 and t.size:
        m = int(np.searchsorted(t, t[0] + warmup_s))
        if m > 1:
            pw = pr.copy()
            pw[7] = warmup_bias_tau_s  # the rest bias time constant of the warm-up pass
            _run(t[:m], acc[:m], gyro[:m], pw, 0.0, 1.0, np.zeros((0, N_COLS)), np.empty((0, 4)), bias)
    return bias


def _unzeroed_bins(n_bins: int) -> F64:
    """The (n_bins, 20) column-major bins array, not zeroed (see ``_orientation_bins``)."""
    return np.empty((n_bins, N_COLS), order="F")


_warned_no_lanes = False


def lane_count(t_s: F64) -> int:
    """Number of SIMD lanes :func:`orientation_bins` filters a recording with (1: the scalar loop)."""
    global _warned_no_lanes
    if t_s.size < 2:
        return 1
    span_s = float(t_s[-1] - t_s[0])
    if not span_s >= LANES_MIN_S:  # also a NaN first or last timestamp: the scalar loop copes
        return 1
    if _orientation_lanes is None:
        if not _warned_no_lanes:
            _warned_no_lanes = True
            logger.warning(
                "the compiled SIMD filter (features/_orientation_lanes.c) is not built, e.g. no C "
                "compiler at install time: the scalar filter runs instead, about 2x slower on a "
                "machine with AVX-512. Install gcc and run `make install` (or `pip install -e .`) "
                "again to build it."
            )
        return 1
    if not LANES_FASTER:
        if not _warned_no_lanes:
            _warned_no_lanes = True
            logger.info("no AVX-512 on this machine: the scalar orientation filter runs (it is faster here)")
        return 1
    return int(min(MAX_LANES, span_s // LANE_MIN_S))


def _lane_layout(
    n: int, n_lanes: int, warm_n: int, period: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Lane l filters samples ``[start[l], start[l] + m)`` and writes the bins of samples
    ``[own[l], end[l])``; ``end[l] = own[l + 1]``, the last lane ends at ``n``.

    Every lane runs ``m`` samples (the loop needs no masks for finished lanes): lanes whose part
    is shorter run on past their end without writing. Lane starts and the warm-up ``warm_n`` are
    multiples of ``period`` (samples per tilt correction), so each lane's blocks and corrections
    fall on the scalar loop's: once a lane's bias and tilt have converged its state is the scalar
    loop's up to the heading (measured to 1e-10). Out of phase, a lane is an equally valid but
    different filter whose heading wandered tens of degrees from the scalar loop's over hours.
    """
    # at least one period of warm-up: a later lane's state at its join is captured in it
    warm_n = max(1, -(-warm_n // period)) * period
    # every lane runs warm_n + part samples (lane 0: its first warm_n samples are its own), the
    # last one warm_n + what is left (at least part); part a multiple of the period, so every
    # lane fits into the m samples of the last (lanes of rounded-off parts did not always: a
    # middle lane needed up to n_lanes - 1 samples more than the last had, and run_lanes refused
    # the layout)
    part = period * ((n - warm_n) // (n_lanes * period))
    if n_lanes <= 1 or part < period:  # too short for lanes: one
        return np.zeros(1, np.int64), np.zeros(1, np.int64), np.full(1, n, np.int64), n
    own = np.array([0] + [warm_n + k * part for k in range(1, n_lanes)], dtype=np.int64)
    start = np.maximum(own - warm_n, 0)
    end = np.append(own[1:], np.int64(n))
    m = int(n - start[-1])
    return start, own, end, m


def _block_period(t: F64, pr: F64) -> int:
    """Samples per tilt correction, as :func:`_run` derives them from the recording's span."""
    n = t.shape[0]
    dt = (t[-1] - t[0]) / max(n - 1, 1)
    if dt <= 0.0:
        dt = 0.02
    k_block = max(1, int(pr[12] / dt + 0.5))
    return k_block * max(1, int(pr[13] / (k_block * dt) + 0.5))


def _recording_layout(
    t: F64, pr: F64, n_lanes: int, warm_s: float = LANE_WARMUP_S
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """:func:`_lane_layout` of a recording (finite first and last timestamps, >= 2 samples)."""
    n = t.shape[0]
    dt = (t[-1] - t[0]) / max(n - 1, 1)
    warm_n = round(warm_s / dt) if dt > 0 else 0
    return _lane_layout(n, n_lanes, warm_n, _block_period(t, pr))


def _run_lanes(
    t: F64, acc: np.ndarray, gyro: np.ndarray, pr: F64, t_origin_s: float, bin_s: float, out: F64,
    bias: F64, n_lanes: int, warm_s: float = LANE_WARMUP_S,
) -> tuple[bool, float]:  # fmt: skip
    """:func:`_run`'s bin sums (before :func:`_finish_bins`) from ``n_lanes`` SIMD lanes.

    Each lane starts (see :func:`_lane_layout`) from the recording's initial ``bias`` and the
    accelerometer's tilt in the fast-convergence phase, ``warm_s`` before the part whose bins it
    writes (its rests there teach it the bias at the normal rate: a faster rate absorbed the
    head's sway and was worse). Its heading is
    arbitrary (a 6-axis filter observes no heading), so after the loop each lane's quaternion sums
    are turned about earth z by the heading difference to the lane before at their join, and
    the bin straddling a join gets both lanes' samples. ``bias`` receives the last lane's bias.
    Returns ``(ok, join_drift_dps)``: ``ok`` False if a lane's bins left its range (timestamps went
    back across a join; ``out`` is then unusable); ``join_drift_dps`` the largest difference of the
    heading rates (deg/s) that two neighbouring lanes' gyro biases give at their join (see
    :data:`LANE_JOIN_DRIFT_MAX_DPS`).
    """
    assert _orientation_lanes is not None
    start, own, end, m = _recording_layout(t, pr, n_lanes, warm_s)
    inv_bin = 1.0 / bin_s
    # a numpy cast, not int(): a NaN timestamp at a join gives a bin no lane owns (the lanes
    # then report themselves out of range and the scalar loop runs), not an exception
    with np.errstate(invalid="ignore"):
        hi_bin = np.append(((t[own[1:]] - t_origin_s) * inv_bin).astype(np.int64), np.int64(0))
    f32 = acc.dtype == np.float32 and gyro.dtype == np.float32
    dtype = np.float32 if f32 else np.float64
    ok, join_drift_dps = _orientation_lanes.run_lanes(
        t,
        np.ascontiguousarray(acc, dtype=dtype),
        np.ascontiguousarray(gyro, dtype=dtype),
        f32,
        pr,
        float(t_origin_s),
        float(bin_s),
        out.T,  # column-major (n_bins, 20) = C-contiguous (20, n_bins)
        out.shape[0],
        bias,
        start,
        own,
        end,
        hi_bin,
        m,
    )
    return bool(ok), float(join_drift_dps)


def orientation_quaternions(
    acc_g: F64, gyro_dps: F64, fs_hz: float, *, t_s: F64 | None = None, params: FilterParams = DEFAULT_FILTER
) -> F64:
    """Estimate the sensor-to-earth orientation of every sample.

    Parameters
    ----------
    acc_g : (N, 3) float
        Accelerometer in g (specific force: reads +1 g along 'up' at rest).
    gyro_dps : (N, 3) float
        Gyroscope in deg/s.
    fs_hz : float
        Nominal sample rate (used when ``t_s`` is not given).
    t_s : (N,) float, optional
        Sample times in seconds (gaps longer than ``params.gap_s`` trigger re-convergence).

    Returns
    -------
    (N, 4) float
        Unit quaternions (w, x, y, z) rotating sensor-frame vectors into an earth frame whose z is
        up; the heading (yaw) is arbitrary and drifts slowly, as with any 6-axis filter.
    """
    acc = np.ascontiguousarray(acc_g, dtype=np.float64)
    gyro = np.ascontiguousarray(gyro_dps, dtype=np.float64)
    t = np.arange(acc.shape[0], dtype=np.float64) / fs_hz if t_s is None else np.asarray(t_s, np.float64)
    pr = _params_array(params, t)
    quats = np.empty((t.shape[0], 4))
    bias = _warm_bias(t, acc, gyro, pr, params.warmup_s, params.warmup_bias_tau_s)
    _run(t, acc, gyro, pr, 0.0, 1.0, np.zeros((0, N_COLS)), quats, bias)
    return quats


def up_vectors(quats: F64) -> F64:
    """(N, 3) earth 'up' in sensor coordinates (the third row of the rotation) from (N, 4)
    sensor->earth quaternions (w, x, y, z): the inclination, without the heading."""
    w, x, y, z = quats.T
    return np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z], 1)


def orientation_bins(
    t_s: F64,
    acc_g: npt.NDArray[np.floating],
    gyro_dps: npt.NDArray[np.floating],
    *,
    bin_s: float = 0.25,
    n_bins: int | None = None,
    t_origin_s: float = 0.0,
    params: FilterParams = DEFAULT_FILTER,
    autocal: AutocalParams | None = None,
    lanes: int | None = None,
) -> F64:
    """Fuse orientation and aggregate into fixed time bins in one compiled pass.

    Parameters
    ----------
    t_s : (N,) float
        Sample times in seconds (e.g. since local midnight); increasing.
    acc_g, gyro_dps : (N, 3) float32 or float64
        Accelerometer (g) and gyroscope (deg/s) in the sensor frame.
    bin_s : float
        Bin width in seconds; sample ``i`` goes to bin ``floor((t_s[i] - t_origin_s) / bin_s)``.
    n_bins : int, optional
        Number of bins (default: enough for the last sample).
    t_origin_s : float
        Start of the bin grid in the time base of ``t_s`` (saves the caller a shifted copy of
        ``t_s``).
    autocal : AutocalParams, optional
        Fit the accelerometer's zero-g offset from the recording's still bins
        (:func:`features.autocal.fit_offset`) and tilt every bin's vertical for it
        (:func:`features.autocal.correct_vertical`) while the bins are finished, in the same
        pass: the same values as correcting the returned bins afterwards.
    lanes : int, optional
        Number of SIMD lanes (time chunks filtered side by side, 1 = the scalar loop); default
        :func:`lane_count`. A recording whose timestamps go back across a chunk boundary, or whose
        chunks could not learn the gyro bias before their join, is filtered by the scalar loop.

    Returns
    -------
    (n_bins, 20) float
        Columns :data:`BIN_COLUMNS`: mean rotation matrix (row-major, sensor->earth), mean and max
        angular speed (deg/s), sums and sums of squares of acceleration (g) for non-wear and
        activity, and the sample count (0 = no data in the bin). Column-major (Fortran order):
        each column is contiguous, because the passes after the filter read a few columns of
        every bin (a row-major row is 160 bytes, so every pass streamed all 37 MB of a 16-h day;
        measured: the feature stages after the filter 40 -> 35 ms).
    """
    t = np.ascontiguousarray(t_s, dtype=np.float64)
    if n_bins is None:
        n_bins = int((t[-1] - t_origin_s) / bin_s) + 1 if t.size else 0
    acc = np.ascontiguousarray(acc_g)
    gyro = np.ascontiguousarray(gyro_dps)
    pr = _params_array(params, t)
    # Only the count is zeroed: the loops store every row that gets a sample (reading a row only
    # when its count says it was stored before) and _zero_empty_rows zeroes the rest; zeroing all
    # 37 MB of a 16-h day's bins cost 1 ms.
    bins = _unzeroed_bins(n_bins)
    bins[:, 19] = 0.0
    bias = _warm_bias(t, acc, gyro, pr, params.warmup_s, params.warmup_bias_tau_s)
    n_lanes = lane_count(t) if lanes is None else min(lanes, MAX_LANES)
    if n_lanes > 1 and (
        t.size < 2 or not np.isfinite(t[[0, -1]]).all() or _recording_layout(t, pr, n_lanes)[0].size < 2
    ):
        n_lanes = 1  # no finite span to lay lanes on, or too short for two: the scalar loop
    done = False
    if n_lanes > 1:
        ok, drift_dps = _run_lanes(t, acc, gyro, pr, float(t_origin_s), bin_s, bins, bias.copy(), n_lanes)
        done = ok and drift_dps <= LANE_JOIN_DRIFT_MAX_DPS
        if not done:
            logger.info(
                "orientation_bins: %s; filtering %d samples in one lane",
                "timestamps go back across a join"
                if not ok
                else f"two lanes' gyro biases differ by {drift_dps:.3f} deg/s of heading at their join",
                t.size,
            )
            bins[:] = 0.0
    if not done:
        _run(t, acc, gyro, pr, float(t_origin_s), bin_s, bins, np.empty((0, 4)), bias)
    o = np.zeros(3) if autocal is None else fit_offset(bins, autocal, summed=True)
    if _finish_bins(bins, float(o[0]), float(o[1]), float(o[2]), bool(np.any(o))):
        _zero_empty_rows(bins)
    return bins

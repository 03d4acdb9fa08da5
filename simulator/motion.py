"""Head motion over a wear day: a plan of postures and movements, evaluated at any times.

The plan is a list of keyframes (time, flexion, lateral, rotation) joined by minimum-jerk
transitions, plus walking bouts (head bob at the step frequency), non-wear intervals (device on a
table) and a small smooth sway everywhere. Angles follow contract 1: flexion +, right lateral
flexion +, right rotation +, in deg, relative to anatomical neutral. Constants: docs/simulator.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Healthy active ROM (SPEC, Niewiadomski 2019): flex+ext 127, lateral 89, rotation 146 deg totals.
HEALTHY_FLEXION_DEG = 58.0
HEALTHY_EXTENSION_DEG = 69.0
HEALTHY_LATERAL_DEG = 44.5
HEALTHY_ROTATION_DEG = 73.0
# Flexion-rotation test (SPEC, Hall & Robinson 2004): 44 deg healthy vs 25-28 toward the headache side.
FRT_DEFICIT_AT_FULL_RESTRICTION_DEG = 20.0
HEADACHE_ROM_DROP_DEG = 6.0  # SPEC, Hall 2010: ROM drops ~6 deg during a headache
CALIBRATION_HOLD_S = 10.0
TRANSITION_S = 2.0  # taking the device off or putting it on
SWAY_AMPLITUDES_DEG = (0.3, 0.2, 0.12)


@dataclass(frozen=True)
class RomEnvelope:
    """A day's reachable range per plane and side, deg (positive magnitudes)."""

    flexion: float
    extension: float
    lateral_left: float
    lateral_right: float
    rotation_left: float
    rotation_right: float

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items()}


def envelope_for_day(
    rom_restriction: float, headache: int, symptomatic_side: str, scale: float, day_factor: float
) -> RomEnvelope:
    """Daily ROM envelope from the latent restriction (0..1) and today's headache.

    The flexion-rotation deficit (up to 20 deg, +6 deg on a headache day) is taken off the
    rotation toward the symptomatic side in full: the test isolates C1-C2, which carries about
    half of all rotation, so its lost degrees are lost from active rotation too.
    """
    q, h = rom_restriction, float(headache)
    deficit = FRT_DEFICIT_AT_FULL_RESTRICTION_DEG * q + HEADACHE_ROM_DROP_DEG * h
    s = scale * day_factor
    rot_sym = HEALTHY_ROTATION_DEG * s - deficit
    rot_other = HEALTHY_ROTATION_DEG * s - 0.25 * deficit
    lat_sym = HEALTHY_LATERAL_DEG * s - 8.0 * q - 0.5 * HEADACHE_ROM_DROP_DEG * h
    lat_other = HEALTHY_LATERAL_DEG * s - 4.0 * q - 0.5 * HEADACHE_ROM_DROP_DEG * h
    left = symptomatic_side == "left"
    return RomEnvelope(
        flexion=HEALTHY_FLEXION_DEG * s - 8.0 * q - 0.5 * HEADACHE_ROM_DROP_DEG * h,
        extension=HEALTHY_EXTENSION_DEG * s - 10.0 * q - 0.5 * HEADACHE_ROM_DROP_DEG * h,
        lateral_left=lat_sym if left else lat_other,
        lateral_right=lat_other if left else lat_sym,
        rotation_left=rot_sym if left else rot_other,
        rotation_right=rot_other if left else rot_sym,
    )


HEALTHY_ENVELOPE = envelope_for_day(0.0, 0, "left", 1.0, 1.0)


@dataclass(frozen=True)
class MotionPlan:
    """Keyframes and intervals of one recording; times in s from the recording start.

    ``kf_t_s`` (K,), ``kf_deg`` (K, 3) flexion/lateral/rotation; ``walk`` (W, 3) rows of start, end,
    step frequency in Hz; ``nonwear`` (M, 2) rows of start, end; ``sway`` (3, 3, 2) per angle and
    component: frequency Hz and phase rad.
    """

    duration_s: float
    kf_t_s: FloatArray
    kf_deg: FloatArray
    walk: FloatArray
    nonwear: FloatArray
    sway: FloatArray

    def angles_deg(self, t_s: FloatArray) -> FloatArray:
        """True head angles (N, 3) deg at times ``t_s`` (N,) s; NaN-free, also during non-wear."""
        t = np.clip(t_s, self.kf_t_s[0], self.kf_t_s[-1])
        i = np.clip(np.searchsorted(self.kf_t_s, t, side="right") - 1, 0, len(self.kf_t_s) - 2)
        span = self.kf_t_s[i + 1] - self.kf_t_s[i]
        u = np.clip((t - self.kf_t_s[i]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
        s = u**3 * (10.0 - 15.0 * u + 6.0 * u**2)  # minimum jerk: zero velocity and acceleration at ends
        ang = self.kf_deg[i] + s[:, None] * (self.kf_deg[i + 1] - self.kf_deg[i])
        for axis in range(3):
            for c, amp in enumerate(SWAY_AMPLITUDES_DEG):
                f, ph = self.sway[axis, c]
                ang[:, axis] += amp * np.sin(2 * np.pi * f * t_s + ph)
        w_env, _, phase = self.walking(t_s)
        ang[:, 0] += 1.0 * w_env * np.sin(phase)  # the head nods with every step
        return ang

    def walking(self, t_s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(envelope 0..1, step frequency Hz, step phase rad) per sample; envelope 0 outside walks."""
        env = np.zeros_like(t_s)
        freq = np.zeros_like(t_s)
        phase = np.zeros_like(t_s)
        if len(self.walk) == 0:
            return env, freq, phase
        j = np.searchsorted(self.walk[:, 0], t_s, side="right") - 1
        ok = j >= 0
        jj = np.where(ok, j, 0)
        t0, t1, f = self.walk[jj, 0], self.walk[jj, 1], self.walk[jj, 2]
        inside = ok & (t_s >= t0) & (t_s < t1)
        ramp = np.clip(np.minimum(t_s - t0, t1 - t_s), 0.0, 1.0)  # 1-s ramps keep the signal smooth
        env = np.where(inside, ramp, 0.0)
        freq = np.where(inside, f, 0.0)
        phase = np.where(inside, 2 * np.pi * f * (t_s - t0), 0.0)
        return env, freq, phase

    def worn(self, t_s: FloatArray) -> npt.NDArray[np.bool_]:
        """True where the device is on the head (transitions off/on count as not worn)."""
        off = np.zeros(t_s.shape, dtype=bool)
        for a, b in self.nonwear:
            off |= (t_s >= a) & (t_s < b)
        return ~off

    @property
    def worn_s(self) -> float:
        return (
            float(self.duration_s - np.sum(self.nonwear[:, 1] - self.nonwear[:, 0]))
            if len(self.nonwear)
            else self.duration_s
        )


class _Builder:
    def __init__(self, t0: float, start: tuple[float, float, float]) -> None:
        self.t = [t0]
        self.a = [np.array(start, dtype=np.float64)]

    @property
    def now(self) -> float:
        return self.t[-1]

    def move(self, dt_s: float, target: FloatArray | tuple[float, float, float]) -> None:
        self.t.append(self.now + max(dt_s, 1e-3))
        self.a.append(np.asarray(target, dtype=np.float64))

    def hold(self, dt_s: float) -> None:
        self.move(dt_s, self.a[-1])


def _excursion(b: _Builder, rng: np.random.Generator, axis: int, target_deg: float, hold_s: float) -> None:
    base = b.a[-1].copy()
    peak = base.copy()
    peak[axis] = target_deg
    amp = abs(target_deg - base[axis])
    move_s = 0.4 + amp / float(rng.uniform(60.0, 120.0))  # head turns at 60-120 deg/s
    b.move(move_s, peak)
    b.hold(hold_s)
    b.move(move_s, base)


def _direction_targets(env: RomEnvelope) -> list[tuple[int, float]]:
    return [
        (0, env.flexion),
        (0, -env.extension),
        (1, env.lateral_right),
        (1, -env.lateral_left),
        (2, env.rotation_right),
        (2, -env.rotation_left),
    ]


def plan_motion(
    rng: np.random.Generator,
    duration_s: float,
    posture_load: float,
    envelope: RomEnvelope,
    *,
    nonwear: bool = True,
) -> MotionPlan:
    """Draw a wear day's motion plan.

    Parameters
    ----------
    duration_s : recording length, s.
    posture_load : latent posture load in [0, 1]: share of worn time in flexed bouts is
        0.2 + 0.5 * load and their depth 20 .. 20 + 25 * load deg (capped at 45 deg).
    envelope : the day's ROM envelope; a calibration routine after each donning reaches it exactly
        once per direction, other head turns reach 30-90 % of it (10 % of them the full range).
    nonwear : insert 1-2 periods with the device on a table (3-15 % of the recording).
    """
    nw: list[tuple[float, float]] = []
    if nonwear and duration_s >= 300:
        n = 1 + int(rng.random() < 0.4)
        total = duration_s * rng.uniform(0.03, 0.15)
        lengths = np.maximum(total * rng.dirichlet(np.ones(n)), 60.0)
        # Non-wear bouts sit in distinct slices of the day, never before the first calibration.
        edges = np.linspace(120.0, duration_s - 30.0, n + 1)
        for k in range(n):
            lo, hi = edges[k], edges[k + 1] - lengths[k]
            if hi > lo:
                a = float(rng.uniform(lo, hi))
                nw.append((a, a + float(lengths[k])))
    worn_periods: list[tuple[float, float]] = []
    cur = 0.0
    for a, b in nw:
        worn_periods.append((cur, a))
        cur = b
    worn_periods.append((cur, duration_s))

    bld = _Builder(0.0, (float(rng.normal(3, 2)), 0.0, 0.0))
    walks: list[tuple[float, float, float]] = []
    full_targets = _direction_targets(envelope)
    for p_i, (a, b) in enumerate(worn_periods):
        if bld.now < a:
            bld.move(a - bld.now, bld.a[-1])  # the head's pose is irrelevant while off; keep it still
        # Each donning: quiet neutral (the vertical reference), then one full movement per direction.
        bld.move(1.0, (float(rng.normal(2, 2)), 0.0, 0.0))
        bld.hold(CALIBRATION_HOLD_S if p_i == 0 else 5.0)
        for axis, target in full_targets:
            if bld.now + 6 > b:
                break
            _excursion(bld, rng, axis, target, float(rng.uniform(0.5, 1.0)))
            bld.hold(float(rng.uniform(0.5, 1.5)))
        while bld.now < b - 1.0:
            remaining = b - bld.now
            r = rng.random()
            if r < 0.2 + 0.5 * posture_load:
                dur = min(
                    float(np.clip(rng.lognormal(np.log(60 + 240 * posture_load), 0.8), 20, 1500)), remaining
                )
                depth = min(float(rng.uniform(20, 20 + 25 * posture_load)), 45.0, envelope.flexion - 3.0)
                bld.move(min(1.5, dur / 2), (depth, float(rng.normal(0, 2)), float(rng.normal(0, 5))))
                bld.hold(max(dur - 1.5, 0.5))
            elif r < 0.2 + 0.5 * posture_load + 0.1:
                dur = min(float(np.clip(rng.lognormal(np.log(120), 0.6), 20, 600)), remaining)
                t0 = bld.now
                bld.move(min(1.0, dur / 2), (float(rng.normal(8, 3)), 0.0, float(rng.normal(0, 4))))
                bld.hold(max(dur - 1.0, 0.5))
                walks.append((t0, bld.now, float(rng.uniform(1.8, 2.0))))
            else:
                dur = min(float(np.clip(rng.lognormal(np.log(60), 0.8), 10, 600)), remaining)
                end = bld.now + dur
                bld.move(
                    min(1.0, dur / 2),
                    (float(rng.normal(4, 3)), float(rng.normal(0, 1.5)), float(rng.normal(0, 4))),
                )
                while bld.now < end - 6.0:
                    bld.hold(min(float(rng.exponential(15.0)), end - bld.now - 5.0))
                    if bld.now >= end - 6.0:
                        break
                    axis, full = full_targets[int(rng.integers(0, 6))]
                    frac = 1.0 if rng.random() < 0.1 else float(rng.uniform(0.3, 0.9))
                    _excursion(bld, rng, axis, full * frac, float(rng.uniform(0.3, 1.5)))
                if bld.now < end:
                    bld.hold(end - bld.now)
    bld.hold(max(duration_s - bld.now, 0.0) + 1.0)
    sway = np.stack([rng.uniform(0.02, 0.4, size=(3, 3)), rng.uniform(0, 2 * np.pi, size=(3, 3))], axis=-1)
    return MotionPlan(
        duration_s=float(duration_s),
        kf_t_s=np.array(bld.t),
        kf_deg=np.array(bld.a),
        walk=np.array(walks, dtype=np.float64).reshape(-1, 3),
        nonwear=np.array(nw, dtype=np.float64).reshape(-1, 2),
        sway=sway,
    )

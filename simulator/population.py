"""Participants and their daily latent state, headaches and flare-up probabilities.

Every constant here is listed with its source in docs/simulator.md. Day ``d`` is 0-based from the
first baseline day; treatment starts on day 28 (SPEC: baseline = the 28 days before treatment_start).
Headache on day ``d`` depends on the latent state at the END of day ``d - 1`` (yesterday's neck load
and stiffness drive today's headache), so P(flare on d+1) given the state at the end of day d is
exact, and P(any flare in d+1..d+3) is a Monte-Carlo average over the unknown next states.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import expit, logit, ndtr

from simulator.params import BASELINE_DAYS, OUTCOME_FIRST_DAY, OUTCOME_LAST_DAY

FloatArray = npt.NDArray[np.float64]

# Headache frequency (SPEC: >= 1 headache/week; the seed population averaged 3.5 days/week).
MIN_HEADACHE_P = 1.0 / 7.0
HEADACHE_P_BETA = (5.0, 7.0)  # p = 1/7 + 6/7 * Beta -> ~3.5 days/week after the latent effects
SCREEN_MIN_BASELINE_HEADACHE_DAYS = 4  # trial entry >= 1/week, checked on the 28-day run-in
# Response (SPEC: ~75 % responders; absence of light-headedness OR ~5.5).
LIGHTHEADED_PREVALENCE = 0.30
RESPONDER_LOGIT_LIGHTHEADED = -0.35  # tuned: realised rate ~75 %, OR ~5.5
RESPONDER_LOG_OR_NO_LIGHTHEADED = float(np.log(10.0))  # realised OR is attenuated by diary noise
RESPONDER_LOGIT_ROM = 0.8  # more baseline restriction -> a clearer neck cause -> more response
REDUCTION_RESPONDER_BETA = (8.0, 3.0)  # mean 73 % fewer headache days
REDUCTION_NONRESPONDER_BETA = (1.5, 8.0)  # mean 16 %
PROGRESS_TAU_DAYS = 12.0  # 6 weeks of physiotherapy -> 97 % of the effect by day 42
# Latent posture load P in [0, 1] (time and depth of neck flexion).
POSTURE_MEAN_SD = 0.8
POSTURE_AR = 0.6
POSTURE_SD = 0.8
POSTURE_WEEKDAY = 0.4
POSTURE_WEEKEND = -0.6
POSTURE_TREATMENT = -0.3  # ergonomic advice during physiotherapy
# Latent ROM restriction Q in [0, 1]: 0 = healthy envelopes, 1 = flexion-rotation 44 -> 24 deg.
ROM_Q_BETA = (6.0, 1.5)  # mean 0.8 -> FRT ~28 deg on the symptomatic side (SPEC 25-28)
ROM_AR = 0.85
ROM_SD = 0.08
ROM_FROM_POSTURE = 0.15  # yesterday's flexion load stiffens today's neck
# Headache and intensity links (tuned for an oracle AUC of p_flare_1d in 0.70-0.80).
BETA_POSTURE = 1.5
BETA_ROM = 1.5
POSTURE_CENTER = 0.5
ROM_CENTER = 0.8
INTENSITY_MEAN = (5.0, 0.6)
INTENSITY_SD = 2.8
INTENSITY_POSTURE = 1.5
INTENSITY_ROM = 1.5
INTENSITY_TREATMENT = -1.0
FLARE_INTENSITY = 5  # SPEC: flare-up day = headache day with intensity >= 5
BURN_IN_DAYS = 20
N_REPLICATES = 200  # Monte-Carlo replicates for p_responder
N_FUTURES = 256  # Monte-Carlo futures for p_flare_3d


@dataclass(frozen=True)
class Participant:
    """Per-participant parameters (all of them end up in truth/participants.csv)."""

    index: int
    subject_id: str
    age: int
    sex: str
    headache_years: float
    lightheaded: int
    symptomatic_side: str
    timezone: str
    first_day: dt.date
    therapist_id: str
    headache_p: float
    intensity_mean: float
    type_probability: float
    reduction: float
    rom_q: float
    rom_improvement: float
    posture_mean: float
    compliance: float
    dropout_day: int  # first day without diary entries (>= total days: never drops out)
    placement: str
    device_id: str
    rom_scale: float


@dataclass(frozen=True)
class DailyPath:
    """Latent states and outcomes of one or more replicate paths, shape (R, D) (D days)."""

    posture_load: FloatArray
    rom_restriction: FloatArray
    progress: FloatArray  # (D,)
    p_headache: FloatArray  # P(headache on day d) given the state at the end of day d-1
    p_flare: FloatArray  # P(flare on day d) given the same
    headache: npt.NDArray[np.int64]
    intensity: npt.NDArray[np.int64]  # 0 on headache-free days
    posture_ar: FloatArray  # AR(1) state behind posture_load (logit scale)
    rom_ar: FloatArray  # AR(1) state behind rom_restriction


def draw_participant(
    rng: np.random.Generator, index: int, n_participants: int, timezones: tuple[str, ...], start_date: dt.date
) -> Participant:
    """Draw one participant's parameters (before the baseline screening)."""
    lightheaded = int(rng.random() < LIGHTHEADED_PREVALENCE)
    rom_q = float(rng.beta(*ROM_Q_BETA))
    logit_type = (
        RESPONDER_LOGIT_LIGHTHEADED
        + RESPONDER_LOG_OR_NO_LIGHTHEADED * (1 - lightheaded)
        + RESPONDER_LOGIT_ROM * (rom_q - 0.8)
    )
    type_probability = float(expit(logit_type))
    red, imp = draw_response(rng, type_probability, 1)
    tz = timezones[0] if index == 0 else str(rng.choice(list(timezones), p=_tz_weights(len(timezones))))
    n_therapists = max(2, int(np.ceil(n_participants / 8)))
    width = max(3, len(str(n_participants)))
    return Participant(
        index=index,
        subject_id=f"S{index + 1:0{width}d}",
        age=int(np.clip(rng.normal(44, 12), 18, 75)),
        sex="F" if rng.random() < 0.7 else "M",
        headache_years=round(float(rng.lognormal(np.log(10.0), 0.8)), 1),
        lightheaded=lightheaded,
        symptomatic_side=str(rng.choice(["left", "right"])),
        timezone=tz,
        first_day=start_date + dt.timedelta(days=int(rng.integers(0, 15))),
        therapist_id=f"T{int(rng.integers(1, n_therapists + 1)):02d}",
        headache_p=float(MIN_HEADACHE_P + (1 - MIN_HEADACHE_P) * rng.beta(*HEADACHE_P_BETA)),
        intensity_mean=float(rng.normal(*INTENSITY_MEAN)),
        type_probability=type_probability,
        reduction=float(red[0]),
        rom_q=rom_q,
        rom_improvement=float(imp[0]),
        posture_mean=float(rng.normal(0, POSTURE_MEAN_SD)),
        compliance=float(rng.beta(18, 2)),
        dropout_day=int(rng.integers(BASELINE_DAYS + 7, 200)) if rng.random() < 0.05 else 10_000,
        placement=str(rng.choice(["occiput", "c7", "neck"], p=[0.5, 0.3, 0.2])),
        device_id=f"NCH-{int(rng.integers(0, 16**4)):04X}",
        rom_scale=float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.15)),
    )


def _tz_weights(n: int) -> npt.NDArray[np.float64]:
    w = np.array([0.4, 0.3, 0.15, 0.15][:n] + [0.15] * max(0, n - 4))
    return np.asarray(w / w.sum(), dtype=np.float64)


def treatment_progress(n_days: int) -> FloatArray:
    """Treatment progress in [0, 1] per day: 0 in baseline, saturating over the 6 weeks of physio."""
    k = np.arange(n_days, dtype=np.float64) - BASELINE_DAYS
    return np.where(k < 0, 0.0, 1.0 - np.exp(-np.maximum(k, 0.0) / PROGRESS_TAU_DAYS))


def weekday_effect(first_day: dt.date, n_days: int) -> FloatArray:
    """Posture-load log-odds shift per day: screen work on weekdays, less on weekends."""
    wd = (first_day.weekday() + np.arange(n_days)) % 7
    return np.where(wd < 5, POSTURE_WEEKDAY, POSTURE_WEEKEND)


def _posture(p: Participant, wk: FloatArray, prog: FloatArray, z: FloatArray) -> FloatArray:
    return np.asarray(expit(p.posture_mean + wk + POSTURE_TREATMENT * prog + z), dtype=np.float64)


def _rom(
    p: Participant, improvement: FloatArray | float, prog: FloatArray, posture_prev: FloatArray, y: FloatArray
) -> FloatArray:
    qbar = p.rom_q * (1.0 - improvement * prog)
    return np.clip(qbar + ROM_FROM_POSTURE * (posture_prev - POSTURE_CENTER) + y, 0.0, 1.0)


def _headache_flare_p(
    p: Participant,
    reduction: FloatArray | float,
    posture_prev: FloatArray,
    rom_prev: FloatArray,
    prog: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(p_headache, p_flare, mean latent intensity) on a day given yesterday's state."""
    eta = (
        logit(p.headache_p)
        + BETA_POSTURE * (posture_prev - POSTURE_CENTER)
        + BETA_ROM * (rom_prev - ROM_CENTER)
    )
    p_h = expit(eta) * (1.0 - reduction * prog)
    mu_i = (
        p.intensity_mean
        + INTENSITY_POSTURE * (posture_prev - POSTURE_CENTER)
        + INTENSITY_ROM * (rom_prev - ROM_CENTER)
        + INTENSITY_TREATMENT * reduction * prog
    )
    p_int = ndtr((mu_i - (FLARE_INTENSITY - 0.5)) / INTENSITY_SD)
    return p_h, p_h * p_int, mu_i


@dataclass(frozen=True)
class StartState:
    """The AR states and yesterday's latent values that a continued simulation starts from, (R,)."""

    z: FloatArray
    y: FloatArray
    posture: FloatArray
    rom: FloatArray


def simulate_paths(
    rng: np.random.Generator,
    p: Participant,
    n_days: int,
    n_rep: int,
    *,
    first: int = 0,
    start: StartState | None = None,
    reduction: FloatArray | None = None,
    rom_improvement: FloatArray | None = None,
) -> DailyPath:
    """Simulate ``n_rep`` daily paths for days ``first .. first + n_days - 1``, vectorised over replicates.

    Without ``start`` the path begins from a burn-in (stationary state); with it, it continues a
    known state (used for the treatment-start responder oracle). ``reduction`` and
    ``rom_improvement`` (R,) override the participant's own values per replicate.
    """
    red = np.full(n_rep, p.reduction) if reduction is None else reduction
    imp = np.full(n_rep, p.rom_improvement) if rom_improvement is None else rom_improvement
    burn = BURN_IN_DAYS if start is None else 0
    total = n_days + burn
    prog_all = np.concatenate([np.zeros(burn), treatment_progress(first + n_days)[first:]])
    wk_all = np.concatenate([np.zeros(burn), weekday_effect(p.first_day, first + n_days)[first:]])
    eps_p = rng.standard_normal((n_rep, total))
    eps_q = rng.standard_normal((n_rep, total))
    sp = POSTURE_SD * np.sqrt(1 - POSTURE_AR**2)
    sq = ROM_SD * np.sqrt(1 - ROM_AR**2)
    z = np.empty((n_rep, total))
    y = np.empty((n_rep, total))
    if start is None:
        z[:, 0] = POSTURE_SD * eps_p[:, 0]
        y[:, 0] = ROM_SD * eps_q[:, 0]
    else:
        z[:, 0] = POSTURE_AR * start.z + sp * eps_p[:, 0]
        y[:, 0] = ROM_AR * start.y + sq * eps_q[:, 0]
    for d in range(1, total):  # loop over days only (<= a few hundred), vectorised over replicates
        z[:, d] = POSTURE_AR * z[:, d - 1] + sp * eps_p[:, d]
        y[:, d] = ROM_AR * y[:, d - 1] + sq * eps_q[:, d]
    posture = _posture(p, wk_all, prog_all, z)
    first_prev = posture[:, :1] if start is None else start.posture[:, None]
    posture_prev = np.concatenate([first_prev, posture[:, :-1]], axis=1)
    rom = _rom(p, imp[:, None], prog_all, posture_prev, y)
    first_rom = rom[:, :1] if start is None else start.rom[:, None]
    rom_prev = np.concatenate([first_rom, rom[:, :-1]], axis=1)
    p_h, p_f, mu_i = _headache_flare_p(p, red[:, None], posture_prev, rom_prev, prog_all)
    headache = (rng.random((n_rep, total)) < p_h).astype(np.int64)
    inten = np.clip(np.rint(mu_i + INTENSITY_SD * rng.standard_normal((n_rep, total))), 1, 10).astype(
        np.int64
    )
    inten = inten * headache
    s = slice(burn, None)
    return DailyPath(
        posture[:, s],
        rom[:, s],
        prog_all[s],
        p_h[:, s],
        p_f[:, s],
        headache[:, s],
        inten[:, s],
        z[:, s],
        y[:, s],
    )


def responder_outcome(headache: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Responder (1/0) per path from the complete headache diary, shape (R, D) -> (R,).

    Frequency = headache days per 28 days; baseline = days 0..27, outcome = days 43-84 after
    treatment_start (0-based 42..83, i.e. day indices 70..111). NaN if the path is too short.
    """
    lo, hi = BASELINE_DAYS + OUTCOME_FIRST_DAY, BASELINE_DAYS + OUTCOME_LAST_DAY + 1
    if headache.shape[1] < hi:
        return np.full(headache.shape[0], np.nan)
    base = headache[:, :BASELINE_DAYS].sum(axis=1) * 28.0 / BASELINE_DAYS
    out = headache[:, lo:hi].sum(axis=1) * 28.0 / (hi - lo)
    return (out <= 0.5 * base).astype(np.float64)


def passes_screening(headache: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Trial entry: at least 4 headache days in the 28-day run-in (>= 1/week)."""
    return np.asarray(headache[:, :BASELINE_DAYS].sum(axis=1) >= SCREEN_MIN_BASELINE_HEADACHE_DAYS)


def draw_response(rng: np.random.Generator, type_probability: float, n: int) -> tuple[FloatArray, FloatArray]:
    """Draw (reduction, rom_improvement) for ``n`` hypothetical participants of this response odds."""
    is_resp = rng.random(n) < type_probability
    red = np.where(
        is_resp, rng.beta(*REDUCTION_RESPONDER_BETA, size=n), rng.beta(*REDUCTION_NONRESPONDER_BETA, size=n)
    )
    imp = np.clip(0.7 * red + rng.normal(0, 0.1, size=n), 0, 0.9)
    return red, imp


def p_responder(rng: np.random.Generator, p: Participant, path: DailyPath) -> float:
    """P(responder) at treatment start: what an oracle knows then, Monte Carlo over the rest.

    Known at treatment start: the participant's parameters except how they will respond to
    physiotherapy (only the odds of response, from light-headedness and ROM restriction), the true
    baseline diary and the latent state at the end of the run-in. Unknown: the individual reduction
    and the diary of weeks 1-12.
    """
    last = BASELINE_DAYS - 1
    red, imp = draw_response(rng, p.type_probability, N_REPLICATES)
    ones = np.ones(N_REPLICATES)
    start = StartState(
        z=path.posture_ar[0, last] * ones,
        y=path.rom_ar[0, last] * ones,
        posture=path.posture_load[0, last] * ones,
        rom=path.rom_restriction[0, last] * ones,
    )
    n_after = OUTCOME_LAST_DAY + 1
    future = simulate_paths(
        rng, p, n_after, N_REPLICATES, first=BASELINE_DAYS, start=start, reduction=red, rom_improvement=imp
    )
    base = np.broadcast_to(path.headache[0, :BASELINE_DAYS], (N_REPLICATES, BASELINE_DAYS))
    return float(responder_outcome(np.concatenate([base, future.headache], axis=1)).mean())


def flare_probabilities(
    rng: np.random.Generator, p: Participant, path: DailyPath
) -> tuple[FloatArray, FloatArray]:
    """(p_flare_1d, p_flare_3d) per day d of a single path, given the state at the end of day d.

    The path must be 3 days longer than the days you need (its last 3 days get NaN-free but
    horizon-truncated values and should be dropped by the caller).
    """
    n = path.posture_load.shape[1]
    pos = path.posture_load[0]
    rom = path.rom_restriction[0]
    prog = treatment_progress(n + 3)
    wk = weekday_effect(p.first_day, n + 3)
    f1 = np.empty(n)
    f1[:] = _headache_flare_p(p, p.reduction, pos, rom, prog[1 : n + 1])[1]
    z_d = path.posture_ar[0]
    y_d = path.rom_ar[0]
    sp = POSTURE_SD * np.sqrt(1 - POSTURE_AR**2)
    sq = ROM_SD * np.sqrt(1 - ROM_AR**2)
    m = N_FUTURES
    z1 = POSTURE_AR * z_d + sp * rng.standard_normal((m, n))
    y1 = ROM_AR * y_d + sq * rng.standard_normal((m, n))
    z2 = POSTURE_AR * z1 + sp * rng.standard_normal((m, n))
    y2 = ROM_AR * y1 + sq * rng.standard_normal((m, n))
    idx = np.arange(n)
    pos1 = _posture(p, wk[idx + 1], prog[idx + 1], z1)
    rom1 = _rom(p, p.rom_improvement, prog[idx + 1], pos, y1)
    pos2 = _posture(p, wk[idx + 2], prog[idx + 2], z2)
    rom2 = _rom(p, p.rom_improvement, prog[idx + 2], pos1, y2)
    f2 = _headache_flare_p(p, p.reduction, pos1, rom1, prog[idx + 2])[1]
    f3 = _headache_flare_p(p, p.reduction, pos2, rom2, prog[idx + 3])[1]
    f_any = 1.0 - (1.0 - f1) * np.mean((1.0 - f2) * (1.0 - f3), axis=0)
    return f1, f_any

"""Feature matrices: one row per prediction, built only from what was known at prediction time.

``build_flare_matrix`` gives one row per participant-day ``d`` (prediction at the end of ``d`` for
``d+1`` and ``d+1..d+3``); ``build_responder_matrix`` gives one row per participant and treatment
week ``w`` (prediction at the end of day ``treatment_start - 1 + 7 w``; ``w = 0`` is "at treatment
start, from baseline data"). Every feature at ``d`` reads only ``grid.known[d]`` and sensor rows of
days ``<= d``; labels read the whole diary (they are what happened).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.data import CohortData
from models.grid import (
    DEFAULT_POLICY,
    AvailabilityPolicy,
    SubjectGrid,
    as_day,
    build_grids,
    masked_count,
    masked_mean,
    window_mask,
)
from models.targets import DEFAULT_OUTCOMES, FLARE_TARGETS, OutcomeDefinition, Target

FLARE_WINDOWS_D = (3, 7, 28)
RESPONDER_WEEKS = tuple(range(7))
ACTIVE_WINDOW_D = 14  # predictions only for participants with a diary entry known in the last 14 days  # predictions at treatment start and after each of weeks 1..6
_CAP_D = 60.0  # "days since" features saturate: two months without a headache is "long ago"


@dataclass(frozen=True)
class FeatureMatrix:
    """Design matrix with keys and (possibly missing) labels.

    Attributes
    ----------
    X : ndarray
        (n_rows, n_features) float64, NaN where a value is honestly unknown.
    y : ndarray
        (n_rows,) float64 labels 0/1, NaN where the outcome is not observed.
    subject_id : ndarray
        (n_rows,) str, participant of each row (the CV group).
    day : ndarray
        (n_rows,) datetime64[D], the prediction day (features use data to its end).
    feature_names : tuple[str, ...]
    target : Target
    """

    X: np.ndarray
    y: np.ndarray
    subject_id: np.ndarray
    day: np.ndarray
    feature_names: tuple[str, ...]
    target: Target

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def labelled(self) -> FeatureMatrix:
        """Only the rows whose outcome was observed."""
        return self.take(~np.isnan(self.y))

    def take(self, rows: np.ndarray) -> FeatureMatrix:
        return FeatureMatrix(
            X=self.X[rows],
            y=self.y[rows],
            subject_id=self.subject_id[rows],
            day=self.day[rows],
            feature_names=self.feature_names,
            target=self.target,
        )

    def frame(self) -> pd.DataFrame:
        """Keys, label and features as a DataFrame (for inspection and tests)."""
        out = pd.DataFrame(self.X, columns=list(self.feature_names))
        out.insert(0, "label", self.y)
        out.insert(0, "day", self.day)
        out.insert(0, "subject_id", self.subject_id)
        return out


def _participant_block(cohort: CohortData, subjects: Iterable[str]) -> dict[str, np.ndarray]:
    p = cohort.participants.set_index("subject_id")
    sex = p["sex"].astype("string").str.lower().str[:1]
    female = np.where(sex.isna(), np.nan, (sex == "f").astype(float))
    table = {
        "age_y": p["age"].to_numpy(dtype=float),
        "female": female,
        "headache_years": p["headache_years"].to_numpy(dtype=float),
        "lightheadedness": p["lightheadedness"].to_numpy(dtype=float),
    }
    pos = {s: i for i, s in enumerate(p.index)}
    rows = np.array([pos.get(s, -1) for s in subjects])
    return {
        k: np.where(rows >= 0, v[np.maximum(rows, 0)] if len(v) else np.nan, np.nan) for k, v in table.items()
    }


def _grids(cohort: CohortData, policy: AvailabilityPolicy, outcomes: OutcomeDefinition) -> list[SubjectGrid]:
    return build_grids(
        cohort.participants, cohort.diary, cohort.day_features, cohort.feature_columns, policy, outcomes
    )


# --------------------------------------------------------------------------------------- flare-up


def _flare_features(g: SubjectGrid, sensor_columns: list[str]) -> tuple[list[str], np.ndarray]:
    n = g.n_days
    d = np.arange(n)
    known = g.known
    diag = known[d, d]
    cols: dict[str, np.ndarray] = {}
    today = {k: np.where(diag, g.diary[k], np.nan) for k in g.diary}
    cols["diary_entered_today"] = diag.astype(float)
    cols["headache_today"] = today["headache"]
    cols["flare_today"] = today["flare"]
    cols["intensity_today"] = today["intensity_day"]
    cols["duration_h_today"] = today["duration_h"]
    cols["medication_today"] = today["medication"]
    cols["neck_pain_today"] = today["neck_pain"]
    cols["lightheaded_today"] = today["lightheaded"]
    prev = np.maximum(d - 1, 0)
    prev_known = known[d, prev] & (d > 0)
    cols["headache_yesterday"] = np.where(prev_known, g.diary["headache"][prev], np.nan)
    cols["intensity_yesterday"] = np.where(prev_known, g.diary["intensity_day"][prev], np.nan)
    for w in FLARE_WINDOWS_D:
        m = known & window_mask(n, w)
        cols[f"headache_frac_{w}d"] = masked_mean(m, g.diary["headache"])
        cols[f"flare_frac_{w}d"] = masked_mean(m, g.diary["flare"])
        cols[f"intensity_mean_{w}d"] = masked_mean(m, g.diary["intensity_day"])
        cols[f"medication_frac_{w}d"] = masked_mean(m, g.diary["medication"])
        cols[f"neck_pain_mean_{w}d"] = masked_mean(m, g.diary["neck_pain"])
        cols[f"diary_filled_{w}d"] = masked_count(m, g.diary["headache"]) / w
    # Exponentially weighted recent state (half-life 3 days): neck stiffness and posture load drift
    # slowly, so yesterday's neck pain says more than last week's.
    lag = (d[:, None] - d[None, :]).astype(float)
    ewm = known * np.where(lag >= 0, 0.5 ** (lag / 3.0), 0.0)
    for key in ("headache", "intensity_day", "neck_pain", "flare"):
        cols[f"{key}_ewm3d"] = masked_mean(ewm, g.diary[key])
    cols["headache_frac_all"] = masked_mean(known, g.diary["headache"])
    cols["flare_frac_all"] = masked_mean(known, g.diary["flare"])
    # Personal rates as shrunk log-odds: headache risk is multiplicative in a person's propensity,
    # and a few diary days should not claim certainty (add half a day to each side).
    for key in ("headache", "flare"):
        n_seen = masked_count(known, g.diary[key])
        n_yes = np.nan_to_num(cols[f"{key}_frac_all"]) * n_seen
        cols[f"{key}_logodds_all"] = np.log((n_yes + 0.5) / (n_seen - n_yes + 0.5))
    # How bad their headaches usually are (intensity on headache days only): a flare-up is a
    # headache that reaches 5/10, so severity is the other half of the risk.
    severity = np.where(g.diary["headache"] == 1, g.diary["intensity"], np.nan)
    cols["headache_severity_all"] = masked_mean(known, severity)
    cols["headache_severity_28d"] = masked_mean(known & window_mask(n, 28), severity)
    cols["days_since_headache"] = _days_since(known & (g.diary["headache"] == 1)[None, :])
    cols["days_since_flare"] = _days_since(known & (g.diary["flare"] == 1)[None, :])
    # Streak: days back to the last day that was not a known headache day.
    not_headache = ~(known & (g.diary["headache"] == 1)[None, :]) & (d[None, :] <= d[:, None])
    last_break = np.where(not_headache, d[None, :], -1).max(axis=1)
    cols["headache_streak_d"] = (d - last_break).astype(float)
    if g.treatment_start is not None:
        since = (d - g.treatment_start).astype(float)
        cols["days_since_treatment_start"] = since
        cols["in_treatment"] = (since >= 0).astype(float)
        # How much this participant has improved so far: recent rate against the run-in rate.
        run_in = known & (d[None, :] < g.treatment_start) & (d[None, :] >= g.treatment_start - 28)
        base_rate = masked_mean(run_in, g.diary["headache"])
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = cols["headache_frac_7d"] / base_rate
        cols["headache_7d_vs_run_in"] = np.where((since >= 0) & (base_rate > 0), ratio, np.nan)
    else:
        cols["days_since_treatment_start"] = np.full(n, np.nan)
        cols["in_treatment"] = np.full(n, np.nan)
        cols["headache_7d_vs_run_in"] = np.full(n, np.nan)
    # Weekday of today (screen work loads the neck today, the headache follows) and of tomorrow.
    today_wd = (g.date_of(d).astype("datetime64[D]").view("int64") + 3) % 7  # 0 = Monday
    cols["weekend_today"] = (today_wd >= 5).astype(float)
    tomorrow = (today_wd + 1) % 7
    cols["weekday_tomorrow"] = tomorrow.astype(float)
    cols["weekend_tomorrow"] = (tomorrow >= 5).astype(float)
    if sensor_columns:
        today_mask = g.has_sensor[:, None]
        mean7 = masked_mean(window_mask(n, 7) & g.has_sensor[None, :], g.sensor)
        mean28 = masked_mean(window_mask(n, 28) & g.has_sensor[None, :], g.sensor)
        for j, c in enumerate(sensor_columns):
            today_value = np.where(today_mask[:, 0], g.sensor[:, j], np.nan)
            cols[f"{c}_today"] = today_value
            cols[f"{c}_mean7d"] = mean7[:, j]
            # Against the person's own recent level (ROM drops ~6 deg during a headache).
            cols[f"{c}_vs28d"] = today_value - mean28[:, j]
        cols["sensor_days_7d"] = (window_mask(n, 7) & g.has_sensor[None, :]).sum(axis=1).astype(float)
    names = list(cols)
    return names, np.column_stack([cols[k] for k in names])


def _days_since(events: np.ndarray) -> np.ndarray:
    """(n, n) bool ``events[d, x]`` (x known at d) -> days since the latest event <= d, capped."""
    n = events.shape[0]
    d = np.arange(n)
    last = np.where(events & (d[None, :] <= d[:, None]), d[None, :], -1).max(axis=1)
    return np.where(last >= 0, np.minimum(d - last, _CAP_D), _CAP_D).astype(float)


def _flare_labels(g: SubjectGrid, target: Target) -> np.ndarray:
    flare = g.diary["flare"]
    n = g.n_days
    horizon = 1 if target == "flare_1d" else 3
    ahead = np.full((n, horizon), np.nan)
    for k in range(1, horizon + 1):
        ahead[: n - k, k - 1] = flare[k:]
    any_flare = np.nanmax(np.where(np.isnan(ahead), -1.0, ahead), axis=1)
    all_seen = ~np.isnan(ahead).any(axis=1)
    return np.where(any_flare == 1, 1.0, np.where(all_seen, 0.0, np.nan))


def build_flare_matrix(
    cohort: CohortData,
    target: Target = "flare_1d",
    *,
    days: Iterable[np.datetime64] | None = None,
    policy: AvailabilityPolicy = DEFAULT_POLICY,
    outcomes: OutcomeDefinition = DEFAULT_OUTCOMES,
) -> FeatureMatrix:
    """Rows for every participant-day from the first to the last diary entry (or only ``days``).

    Days before a participant's first diary entry are dropped: nothing is known about them yet. With
    ``days`` (prediction), participants without a diary entry known in the last 14 days are skipped.
    """
    if target not in FLARE_TARGETS:
        raise ValueError(f"not a flare-up target: {target!r}")
    sensor_columns = cohort.feature_columns
    wanted = None if days is None else {as_day(x) for x in days}
    names: list[str] = []
    blocks, labels, subjects, dates = [], [], [], []
    for g in _grids(cohort, policy, outcomes):
        names, X = _flare_features(g, sensor_columns)
        first_entry = int(np.argmax(g.has_entry))
        last_entry = int(np.nonzero(g.has_entry)[0].max())
        keep = np.arange(g.n_days)
        if wanted is None:
            keep = keep[(keep >= first_entry) & (keep <= last_entry)]
        else:
            on_day = np.isin(g.date_of(keep), np.array(sorted(wanted), dtype="datetime64[D]"))
            # Someone who has entered nothing for two weeks (dropped out, device returned) gets no
            # prediction: decided from what is known at d, like every feature.
            active = (g.known & window_mask(g.n_days, ACTIVE_WINDOW_D)).any(axis=1)
            keep = keep[on_day & (keep >= first_entry) & active]
        blocks.append(X[keep])
        labels.append(_flare_labels(g, target)[keep])
        subjects.append(np.full(len(keep), g.subject_id, dtype=object))
        dates.append(g.date_of(keep))
    return _assemble(cohort, names, blocks, labels, subjects, dates, target)


def _assemble(
    cohort: CohortData,
    names: list[str],
    blocks: list[np.ndarray],
    labels: list[np.ndarray],
    subjects: list[np.ndarray],
    dates: list[np.ndarray],
    target: Target,
) -> FeatureMatrix:
    if not blocks or not names:
        return FeatureMatrix(
            X=np.empty((0, 0)),
            y=np.empty(0),
            subject_id=np.empty(0, dtype=object),
            day=np.empty(0, dtype="datetime64[D]"),
            feature_names=(),
            target=target,
        )
    subject_id = np.concatenate(subjects)
    person = _participant_block(cohort, subject_id)
    X = np.column_stack([np.vstack(blocks)] + [person[k] for k in person])
    return FeatureMatrix(
        X=X.astype(float),
        y=np.concatenate(labels).astype(float),
        subject_id=subject_id,
        day=np.concatenate(dates).astype("datetime64[D]"),
        feature_names=(*names, *person),
        target=target,
    )


# -------------------------------------------------------------------------------------- responder


def responder_labels(g: SubjectGrid, outcomes: OutcomeDefinition = DEFAULT_OUTCOMES) -> float:
    """SPEC responder label from the whole diary: 1.0, 0.0 or NaN when not computable."""
    if g.treatment_start is None:
        return float("nan")
    ts = g.treatment_start
    base = _frequency_28d(g, ts - outcomes.baseline_days, ts - 1, outcomes)
    out = _frequency_28d(g, ts + outcomes.outcome_first_day - 1, ts + outcomes.outcome_last_day - 1, outcomes)
    if np.isnan(base) or np.isnan(out) or base <= 0:
        return float("nan")
    return float(out <= (1.0 - outcomes.responder_reduction) * base)


def _frequency_28d(g: SubjectGrid, first: int, last: int, outcomes: OutcomeDefinition) -> float:
    """Headache days per 28 days over grid days first..last, NaN below the 5/7 fill rule."""
    lo, hi = max(first, 0), min(last, g.n_days - 1)
    window = last - first + 1
    headache = g.diary["headache"][lo : hi + 1] if hi >= lo else np.empty(0)
    filled = int((~np.isnan(headache)).sum())
    if filled < outcomes.min_filled(window):
        return float("nan")
    return float(np.nansum(headache) / filled * 28.0)


def _responder_row(
    g: SubjectGrid, d: int, sensor_columns: list[str], outcomes: OutcomeDefinition
) -> dict[str, float]:
    assert g.treatment_start is not None
    ts = g.treatment_start
    n = g.n_days
    dd = min(max(d, 0), n - 1)
    known = g.known[dd] & (np.arange(n) <= d)
    base = np.zeros(n, dtype=bool)
    base[max(ts - outcomes.baseline_days, 0) : max(ts, 0)] = True
    treat = np.zeros(n, dtype=bool)
    treat[max(ts, 0) : max(d + 1, 0)] = True
    recent = np.zeros(n, dtype=bool)
    recent[max(d - 13, ts, 0) : max(d + 1, 0)] = True
    row: dict[str, float] = {"weeks_in_treatment": float(max(d - ts + 1, 0) // 7)}

    def rate(mask: np.ndarray, key: str) -> float:
        v = g.diary[key][mask & known]
        v = v[~np.isnan(v)]
        return float(v.mean()) if len(v) else float("nan")

    for name, mask in (("baseline", base), ("treatment", treat), ("recent14d", recent)):
        row[f"{name}_headache_per_28d"] = rate(mask, "headache") * 28.0
        row[f"{name}_flare_per_28d"] = rate(mask, "flare") * 28.0
        row[f"{name}_intensity_mean"] = rate(mask, "intensity_day")
    row["baseline_medication_frac"] = rate(base, "medication")
    row["baseline_neck_pain_mean"] = rate(base, "neck_pain")
    row["baseline_lightheaded_frac"] = rate(base, "lightheaded")
    row["baseline_duration_h_mean"] = rate(base, "duration_h")
    row["baseline_diary_filled_frac"] = float((base & known & g.has_entry).sum()) / outcomes.baseline_days
    b = row["baseline_headache_per_28d"]
    for name in ("treatment", "recent14d"):
        t = row[f"{name}_headache_per_28d"]
        row[f"{name}_vs_baseline_ratio"] = t / b if b and b > 0 and not np.isnan(t) else float("nan")
    for j, c in enumerate(sensor_columns):
        seen = g.has_sensor & (np.arange(n) <= d)
        for name, mask in (("baseline", base), ("treatment", treat)):
            v = g.sensor[mask & seen, j]
            v = v[~np.isnan(v)]
            row[f"{c}_{name}_mean"] = float(v.mean()) if len(v) else float("nan")
        row[f"{c}_change"] = row[f"{c}_treatment_mean"] - row[f"{c}_baseline_mean"]
    return row


def build_responder_matrix(
    cohort: CohortData,
    *,
    weeks: Iterable[int] = RESPONDER_WEEKS,
    at_day: np.datetime64 | None = None,
    policy: AvailabilityPolicy = DEFAULT_POLICY,
    outcomes: OutcomeDefinition = DEFAULT_OUTCOMES,
) -> FeatureMatrix:
    """Rows per participant and treatment week (or one row per participant at ``at_day``).

    Participants without a treatment start are skipped: the question "responder to treatment"
    has no time origin for them.
    """
    sensor_columns = cohort.feature_columns
    rows: list[dict[str, float]] = []
    labels, subjects, dates = [], [], []
    for g in _grids(cohort, policy, outcomes):
        if g.treatment_start is None:
            continue
        label = responder_labels(g, outcomes)
        if at_day is not None:
            points = [g.index_of(at_day)]
        else:
            points = [g.treatment_start - 1 + 7 * w for w in weeks]
        for d in points:
            rows.append(_responder_row(g, d, sensor_columns, outcomes))
            labels.append(label)
            subjects.append(g.subject_id)
            dates.append(g.date_of(np.array([d]))[0])
    if not rows:
        return _assemble(cohort, [], [], [], [], [], "responder")
    frame = pd.DataFrame(rows)
    names = list(frame.columns)
    return _assemble(
        cohort,
        names,
        [frame.to_numpy(dtype=float)],
        [np.array(labels, dtype=float)],
        [np.array(subjects, dtype=object)],
        [np.array(dates, dtype="datetime64[D]")],
        "responder",
    )


def build_matrix(cohort: CohortData, target: Target, **kwargs: object) -> FeatureMatrix:
    """Dispatch on ``target``: flare-up targets use daily rows, responder uses weekly rows."""
    if target == "responder":
        return build_responder_matrix(cohort, **kwargs)  # type: ignore[arg-type]
    return build_flare_matrix(cohort, target, **kwargs)  # type: ignore[arg-type]

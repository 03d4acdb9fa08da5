"""A participant's days on one integer grid, with *what was known when*.

Everything the models use is derived from the knowledge matrix ``known[d, x]``: True when the diary
row of day ``x`` had been entered by the end of day ``d``. Features at day ``d`` read only row ``d``
of it, which is what makes the matrices leakage-proof by construction (tests/models/test_leakage.py
checks it by rewriting the future and watching that nothing at ``d`` moves).

Availability rule (docs/models.md, "What is known at the end of day d"):
- a diary row for date ``x`` is known at ``d`` when ``x <= d`` and its ``entered_at`` falls before
  the participant's *local* midnight ending day ``d`` (days are local calendar dates; the time zone
  comes from the baseline CSV). Without a known time zone, "end of day d" is midnight UTC ending ``d``
  plus ``entry_grace_h``; with the default grace of 0 h a participant west of UTC who fills the diary
  late in the evening is counted as known one day later: conservative, never optimistic.
- a diary row without ``entered_at`` (old exports) is taken as entered on its own date.
- a participant-day feature row for day ``x`` is known at the end of day ``x``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.data import DIARY_VALUE_COLUMNS
from models.targets import DEFAULT_OUTCOMES, OutcomeDefinition

_DAY = np.timedelta64(1, "D")


def as_day(value: Any) -> Any:
    """A calendar date (str, date, Timestamp or datetime64) as ``numpy.datetime64[D]``."""
    return np.asarray(pd.Timestamp(value).date(), dtype="datetime64[D]")[()]


@dataclass(frozen=True)
class AvailabilityPolicy:
    """When a diary row counts as known (see module docstring).

    Attributes
    ----------
    entry_grace_h : float
        Hours after UTC midnight ending day ``d`` that a diary entry still counts as known at ``d``.
    """

    entry_grace_h: float = 0.0


DEFAULT_POLICY = AvailabilityPolicy()


@dataclass(frozen=True)
class SubjectGrid:
    """One participant on a day grid ``start + arange(n_days)``.

    Attributes
    ----------
    subject_id : str
    start : numpy.datetime64
        Calendar date of grid index 0.
    diary : dict[str, ndarray]
        (n_days,) float per diary column (NaN: no entry or blank); plus ``flare`` (0/1/NaN) and
        ``intensity_day`` (intensity, 0 on a headache-free day).
    has_entry : ndarray
        (n_days,) bool, a diary row exists for the day.
    known : ndarray
        (n_days, n_days) bool, ``known[d, x]``: diary row ``x`` known at the end of day ``d``.
    sensor : ndarray
        (n_days, n_sensor) float participant-day features (NaN when absent).
    has_sensor : ndarray
        (n_days,) bool, the sensor was worn that day (``wear_h > 0``, or a feature row exists when
        there is no ``wear_h`` column).
    treatment_start : int | None
        Grid index of treatment start, if known.
    """

    subject_id: str
    start: np.datetime64
    diary: dict[str, np.ndarray]
    has_entry: np.ndarray
    known: np.ndarray
    sensor: np.ndarray
    has_sensor: np.ndarray
    treatment_start: int | None

    @property
    def n_days(self) -> int:
        return int(self.has_entry.shape[0])

    def index_of(self, day: Any) -> int:
        return int((as_day(day) - self.start) // _DAY)

    def date_of(self, index: np.ndarray) -> np.ndarray:
        return self.start + index.astype("timedelta64[D]")


def build_grids(
    participants: pd.DataFrame,
    diary: pd.DataFrame,
    day_features: pd.DataFrame,
    sensor_columns: list[str],
    policy: AvailabilityPolicy = DEFAULT_POLICY,
    outcomes: OutcomeDefinition = DEFAULT_OUTCOMES,
) -> list[SubjectGrid]:
    """One :class:`SubjectGrid` per participant that has at least one diary row."""
    starts = dict(zip(participants["subject_id"], participants["treatment_start"], strict=True))
    zones = dict(
        zip(participants["subject_id"], participants.get("timezone", pd.Series(dtype=object)), strict=False)
    )
    feats_by_subject = {s: f for s, f in day_features.groupby("subject_id", sort=False)}
    grids = []
    for subject, rows in diary.groupby("subject_id", sort=True):
        grids.append(
            _grid(
                str(subject),
                rows,
                feats_by_subject.get(subject),
                sensor_columns,
                starts.get(subject),
                tz if isinstance(tz := zones.get(subject), str) and tz else None,
                policy,
                outcomes,
            )
        )
    return grids


def _days(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype="datetime64[D]")


def _grid(
    subject: str,
    rows: pd.DataFrame,
    feats: pd.DataFrame | None,
    sensor_columns: list[str],
    treatment_start: object,
    timezone: str | None,
    policy: AvailabilityPolicy,
    outcomes: OutcomeDefinition,
) -> SubjectGrid:
    diary_days = _days(rows["diary_date"])
    feat_days = _days(feats["day"]) if feats is not None else np.array([], dtype="datetime64[D]")
    first = min(diary_days.min(), feat_days.min()) if len(feat_days) else diary_days.min()
    last = max(diary_days.max(), feat_days.max()) if len(feat_days) else diary_days.max()
    ts: int | None = None
    if treatment_start is not None and not pd.isna(treatment_start):  # type: ignore[call-overload]
        ts_day = as_day(treatment_start)
        ts = int((ts_day - first) // _DAY)
        # The baseline window and the outcome window must exist on the grid even with no entries.
        first = min(first, ts_day - outcomes.baseline_days)
        ts = int((ts_day - first) // _DAY)
        last = max(last, ts_day + outcomes.outcome_last_day - 1)
    n = int((last - first) // _DAY) + 1
    idx = ((diary_days - first) // _DAY).astype(int)

    diary: dict[str, np.ndarray] = {}
    for col in DIARY_VALUE_COLUMNS:
        arr = np.full(n, np.nan)
        arr[idx] = rows[col].to_numpy(dtype=float)
        diary[col] = arr
    has_entry = np.zeros(n, dtype=bool)
    has_entry[idx] = True
    headache = diary["headache"]
    intensity_day = np.where(headache == 0, 0.0, diary["intensity"])
    diary["intensity_day"] = intensity_day
    flare = np.where(np.isnan(headache), np.nan, 0.0)
    flare[(headache == 1) & (diary["intensity"] >= outcomes.flare_min_intensity)] = 1.0
    flare[(headache == 1) & np.isnan(diary["intensity"])] = np.nan
    diary["flare"] = flare

    # Day index at which each row became known (inf: no row).
    avail = np.full(n, np.inf)
    avail[idx] = idx
    entered = rows["entered_at"]
    if entered.notna().any():
        if timezone:
            local = entered.dt.tz_convert(timezone)
        else:
            local = (entered - pd.Timedelta(hours=policy.entry_grace_h)).dt.tz_convert("UTC")
        entered_day = local.dt.tz_localize(None).dt.floor("D")
        entered_idx = ((_days(entered_day.fillna(pd.Timestamp("1970-01-01"))) - first) // _DAY).astype(float)
        entered_idx[entered.isna().to_numpy()] = -np.inf
        avail[idx] = np.maximum(idx, entered_idx)
    d = np.arange(n)
    known = (d[None, :] <= d[:, None]) & (avail[None, :] <= d[:, None])

    sensor = np.full((n, len(sensor_columns)), np.nan)
    has_sensor = np.zeros(n, dtype=bool)
    if feats is not None and len(feats):
        fidx = ((feat_days - first) // _DAY).astype(int)
        sensor[fidx] = feats.reindex(columns=sensor_columns).to_numpy(dtype=float)
        # The features view also has rows for diary-only days (wear_h = 0): not a sensor day.
        if "wear_h" in sensor_columns:
            has_sensor[fidx] = np.nan_to_num(sensor[fidx, sensor_columns.index("wear_h")]) > 0
        else:
            has_sensor[fidx] = True
    return SubjectGrid(
        subject_id=subject,
        start=as_day(first),
        diary=diary,
        has_entry=has_entry,
        known=known,
        sensor=sensor,
        has_sensor=has_sensor,
        treatment_start=ts,
    )


def window_mask(n_days: int, window_days: int) -> np.ndarray:
    """(n_days, n_days) bool, ``[d, x]`` True for ``d - window_days < x <= d``."""
    d = np.arange(n_days)
    diff = d[:, None] - d[None, :]
    return (diff >= 0) & (diff < window_days)


def masked_mean(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean of ``values`` (n,) or (n, k) over ``mask[d]`` (n, n), ignoring NaN; NaN where empty."""
    ok = ~np.isnan(values)
    filled = np.where(ok, values, 0.0)
    m = mask.astype(float)
    total = m @ filled
    count = m @ ok.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def masked_count(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Number of non-NaN ``values`` (n,) within ``mask[d]`` (n, n)."""
    return mask.astype(float) @ (~np.isnan(values)).astype(float)

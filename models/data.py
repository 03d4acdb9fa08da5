"""Read what the models need from the warehouse's public views (SPEC contract 3) into frames.

Only the public views are read, so the tables behind them may change freely. Every numeric column
of ``participant_day_features`` is picked up, so the matrices keep working as the features package
adds columns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import numpy as np
import pandas as pd

from warehouse import Warehouse

log = logging.getLogger(__name__)

DIARY_VALUE_COLUMNS = ("headache", "intensity", "duration_h", "medication", "neck_pain", "lightheaded")
_KEY_COLUMNS = {"subject_id", "day"}


@dataclass(frozen=True)
class CohortData:
    """One cohort as the models see it.

    Attributes
    ----------
    participants : DataFrame
        One row per participant: subject_id, age, sex, headache_years, lightheadedness,
        treatment_start (datetime64, may be NaT), therapist_id, timezone (IANA name or missing).
    diary : DataFrame
        One row per participant-day: subject_id, diary_date (datetime64), the values of
        ``DIARY_VALUE_COLUMNS`` (float, NaN when blank) and entered_at (UTC, may be NaT).
    day_features : DataFrame
        subject_id, day (datetime64) and only numeric feature columns (float); may have no rows.
    """

    participants: pd.DataFrame
    diary: pd.DataFrame
    day_features: pd.DataFrame

    @property
    def feature_columns(self) -> list[str]:
        """Numeric participant-day feature columns with at least one value, in a stable (sorted) order.

        Columns that are empty for the whole cohort (no sensors at all) are left out, so a diary-only
        cohort gets a lean diary-only matrix.
        """
        allowed = sensor_columns_allowed()
        return sorted(
            c
            for c in self.day_features.columns
            if c not in _KEY_COLUMNS and allowed(c) and self.day_features[c].notna().any()
        )

    @property
    def has_sensor_data(self) -> bool:
        return bool(len(self.day_features)) and bool(self.feature_columns)


# Diary-derived columns of the features view: they ignore when a diary row was entered, and some
# are outcome labels (responder, outcome frequency), so using them would leak the future. The
# models derive diary history themselves under the availability rule (grid.py).
_DIARY_VIEW_COLUMNS = frozenset(
    {
        "diary_entered",
        "headache_day",
        "flare_day",
        "headache_intensity",
        "medication",
        "neck_pain",
        "lightheaded",
        "diary_days_28d",
        "compliance_28d_pct",
        "headache_days_28d",
        "baseline_headache_days_28d",
        "outcome_headache_days_28d",
        "responder",
    }
)


def sensor_columns_allowed() -> Callable[[str], bool]:
    """Which ``participant_day_features`` columns the models may use: sensor-derived ones only.

    The features package documents each column's origin (``imu`` or ``view``); only ``imu`` columns
    are used, and any column the registry does not know is refused too (it might be derived from
    the diary or from later days). Without that registry a fixed list of diary columns is excluded.
    """
    try:
        from features.registry import FEATURES
    except ImportError:
        return lambda c: c not in _DIARY_VIEW_COLUMNS
    imu = frozenset(f.name for f in FEATURES if f.origin == "imu")
    return lambda c: c in imu and c not in _DIARY_VIEW_COLUMNS


def _frame(wh: Warehouse, sql: str, params: Sequence[object] | None = None) -> pd.DataFrame:
    return wh.cursor().execute(sql, params or []).df()


def load_cohort(wh: Warehouse, subjects: list[str] | None = None) -> CohortData:
    """Load participants, diary and participant-day features, optionally for some subjects only."""
    where = ""
    params: list[object] = []
    if subjects:
        where = " WHERE subject_id IN (SELECT unnest(?::VARCHAR[]))"
        params = [list(subjects)]
    participants = _frame(
        wh,
        "SELECT subject_id, age, sex, headache_years, lightheadedness, treatment_start, therapist_id"
        " FROM participants" + where + " ORDER BY subject_id",
        params,
    )
    diary_cols = _view_columns(wh, "diary")
    wanted = [c for c in DIARY_VALUE_COLUMNS if c in diary_cols]
    entered = "entered_at" if "entered_at" in diary_cols else "NULL::TIMESTAMPTZ AS entered_at"
    diary = _frame(
        wh,
        f"SELECT subject_id, diary_date, {', '.join(wanted)}, {entered} FROM diary"
        + where
        + " ORDER BY subject_id, diary_date",
        params,
    )
    features = _frame(
        wh, "SELECT * FROM participant_day_features" + where + " ORDER BY subject_id, day", params
    )
    participants["timezone"] = participants["subject_id"].map(_timezones(wh))
    return CohortData(
        participants=_clean_participants(participants),
        diary=_clean_diary(diary),
        day_features=_clean_features(features),
    )


def _timezones(wh: Warehouse) -> dict[str, str]:
    """IANA time zone per participant, when the baseline CSV gave one (kept in its extra columns).

    The public ``participants`` view has no time zone, but deciding whether a diary row was entered
    before the *local* end of a day needs one. It is read from the table behind the view and, if
    that table ever changes shape, the models fall back to UTC days (conservative, see grid.py).
    """
    try:
        rows = (
            wh.cursor()
            .execute(
                "SELECT subject_id, json_extract_string(extra, '$.timezone') FROM store.participants"
                " WHERE json_extract_string(extra, '$.timezone') IS NOT NULL"
            )
            .fetchall()
        )
    except duckdb.Error:
        log.debug("no participant time zones readable; diary availability uses UTC days", exc_info=True)
        return {}
    out = {}
    for subject, tz in rows:
        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("participant %s: unknown time zone %r; using UTC days for the diary", subject, tz)
            continue
        out[str(subject)] = str(tz)
    return out


def _view_columns(wh: Warehouse, view: str) -> set[str]:
    rows = (
        wh.cursor()
        .execute("SELECT column_name FROM information_schema.columns WHERE table_name = ?", [view])
        .fetchall()
    )
    return {str(r[0]) for r in rows}


def _to_day(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).astype("datetime64[s]").dt.normalize()


def _clean_participants(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["subject_id"] = out["subject_id"].astype(str)
    out["treatment_start"] = _to_day(out["treatment_start"])
    if "timezone" not in out:
        out["timezone"] = None
    out["timezone"] = out["timezone"].astype(object).where(out["timezone"].notna(), None)
    for col in ("age", "headache_years", "lightheadedness"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    return out


def _clean_diary(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["subject_id"] = out["subject_id"].astype(str)
    out["diary_date"] = _to_day(out["diary_date"])
    for col in DIARY_VALUE_COLUMNS:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float) if col in out else np.nan
    out["entered_at"] = pd.to_datetime(out["entered_at"], utc=True)
    return out


def _clean_features(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty and "subject_id" not in df:
        return pd.DataFrame({"subject_id": pd.Series(dtype=str), "day": pd.Series(dtype="datetime64[s]")})
    out = pd.DataFrame({"subject_id": df["subject_id"].astype(str), "day": _to_day(df["day"])})
    for col in df.columns:
        if col in _KEY_COLUMNS:
            continue
        series = df[col]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            out[col] = pd.to_numeric(series, errors="coerce").astype(float)
    dropped = [c for c in df.columns if c not in out.columns]
    if dropped:
        log.debug("participant_day_features: ignoring non-numeric columns %s", dropped)
    return out

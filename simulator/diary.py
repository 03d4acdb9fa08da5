"""Baseline and diary CSV rows (contract 2, REDCap-style) from the true daily path.

Compliance: each participant fills in a share of days (Beta(18, 2), mean 90 %), a little less on
flare days; 5 % drop out of the diary after treatment starts. Most entries are made the same
evening; some the next morning and a few days late (``entered_at``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from simulator.population import DailyPath, Participant

DIARY_COLUMNS = [
    "record_id",
    "diary_date",
    "headache",
    "intensity",
    "duration_h",
    "medication",
    "neck_pain",
    "lightheaded",
    "entered_at",
]


@dataclass(frozen=True)
class DiaryRows:
    """Diary rows of one participant (valid ones) and per-day 'was entered' flags (D,)."""

    rows: pd.DataFrame
    entered: np.ndarray


def _iso_local(ts: dt.datetime) -> str:
    return ts.isoformat(timespec="seconds")


def diary_rows(rng: np.random.Generator, p: Participant, path: DailyPath, n_days: int) -> DiaryRows:
    tz = ZoneInfo(p.timezone)
    h = path.headache[0, :n_days]
    inten = path.intensity[0, :n_days]
    q = path.rom_restriction[0, :n_days]
    flare = (h == 1) & (inten >= 5)
    fill_p = np.clip(p.compliance - 0.05 * flare, 0, 1)
    entered = rng.random(n_days) < fill_p
    entered[p.dropout_day :] = False
    records = []
    for d in np.flatnonzero(entered):
        day = p.first_day + dt.timedelta(days=int(d))
        r = rng.random()
        if r < 0.80:
            when = dt.datetime.combine(day, dt.time(19)) + dt.timedelta(minutes=float(rng.uniform(0, 270)))
        elif r < 0.92:
            when = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(7)) + dt.timedelta(
                minutes=float(rng.uniform(0, 300))
            )
        else:
            when = dt.datetime.combine(
                day + dt.timedelta(days=int(rng.integers(2, 8))), dt.time(18)
            ) + dt.timedelta(minutes=float(rng.uniform(0, 240)))
        hd = int(h[d])
        it = int(inten[d])
        dur = round(float(np.clip(rng.gamma(2.0, 1.5 + 0.4 * it), 0.5, 24.0)) * 2) / 2 if hd else 0.0
        med = int(hd == 1 and rng.random() < 1 / (1 + np.exp(-(it - 5.5))))
        neck = int(np.clip(np.rint(1.5 + 5.0 * q[d] + 1.5 * hd + rng.normal(0, 1.5)), 0, 10))
        lh = int(rng.random() < ((0.4 if hd else 0.1) if p.lightheaded else 0.02))
        records.append(
            (
                p.subject_id,
                day.isoformat(),
                hd,
                it if hd else None,
                dur,
                med,
                neck,
                lh,
                _iso_local(when.replace(tzinfo=tz)),
            )
        )
    df = pd.DataFrame.from_records(records, columns=DIARY_COLUMNS)
    df["intensity"] = df["intensity"].astype("Int64")
    return DiaryRows(df, entered)


def baseline_row(p: Participant) -> dict[str, object]:
    return {
        "record_id": p.subject_id,
        "age": p.age,
        "sex": p.sex,
        "headache_years": p.headache_years,
        "lightheadedness": p.lightheaded,
        "treatment_start": (p.first_day + dt.timedelta(days=28)).isoformat(),
        "therapist_id": p.therapist_id,
        "headache_side": p.symptomatic_side,
        "enrolled": p.first_day.isoformat(),
        "timezone": p.timezone,
    }


def bad_diary_rows(
    rng: np.random.Generator,
    diary: pd.DataFrame,
    participants: list[Participant],
    entered: dict[str, np.ndarray],
) -> list[tuple[dict[str, object], str]]:
    """Four realistic bad rows: intensity 11, an impossible date, a conflicting duplicate day and an
    unknown record_id. Each is an EXTRA row, so every true entry stays in the file and valid."""
    p = participants[0]
    free = np.flatnonzero(~entered[p.subject_id])
    free_day = p.first_day + dt.timedelta(days=int(free[0]) if len(free) else 0)
    template: dict[str, object] = {str(k): v for k, v in diary.iloc[0].to_dict().items()}
    bad: list[tuple[dict[str, object], str]] = []
    row = dict(template, diary_date=free_day.isoformat(), headache=1, intensity=11, duration_h=6.0)
    bad.append((row, "range"))
    row = dict(template, diary_date=f"{p.first_day.year}-02-30", headache=0, intensity=None, duration_h=0.0)
    bad.append((row, "date"))
    dup: dict[str, object] = {str(k): v for k, v in diary.iloc[min(5, len(diary) - 1)].to_dict().items()}
    dup["headache"] = 1 - int(str(dup["headache"]))
    dup["intensity"] = 4 if dup["headache"] else None
    dup["duration_h"] = 3.0 if dup["headache"] else 0.0
    bad.append((dup, "duplicate"))
    row = dict(template, record_id="S" + "0" * (len(p.subject_id) - 1))  # ids start at 1: never enrolled
    bad.append((row, "unknown_subject"))
    del rng  # positions are chosen by the caller
    return bad

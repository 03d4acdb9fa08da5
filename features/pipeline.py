"""Compute ``participant_day_features`` incrementally from the warehouse.

A participant-day is (re)computed when it is missing or its *input fingerprint* changed: for IMU
days the number of samples, their first/last time and the recordings' load times; diary-only days
get a row with ``wear_h = 0`` and null IMU features (their diary outcomes come from the view).
Each participant-day is written in one transaction, so a crash leaves whole days or none.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
from tqdm import tqdm

from features.allocator import keep_freed_memory
from features.day import BIN_S, DayResult, Recording, process_day
from features.registry import IMU_COLUMNS
from warehouse import Warehouse

log = logging.getLogger(__name__)

DIARY_ONLY = "diary-only"


@dataclass(frozen=True)
class DayKey:
    """A participant-day and the fingerprint of its inputs."""

    subject_id: str
    day: dt.date
    timezone: str
    fingerprint: str


def _candidates(wh: Warehouse) -> dict[tuple[str, dt.date], DayKey]:
    cur = wh.cursor()
    rows = cur.execute(
        """
        WITH rec AS (
            -- days are the participant's local dates: a recording without a zone of its own (a
            -- BLE capture is stored as 'UTC') takes the participant's baseline timezone
            SELECT r.recording_id, r.loaded_at,
                   CASE WHEN r.timezone = 'UTC'
                        THEN coalesce(json_extract_string(p.extra, '$.timezone'), 'UTC')
                        ELSE r.timezone END AS timezone
            FROM store.recordings r LEFT JOIN store.participants p ON p.subject_id = r.subject_id
        ),
        s AS (
            SELECT i.subject_id, i.recording_id, rec.timezone, rec.loaded_at, i.t_utc,
                   CAST(timezone(rec.timezone, i.t_utc) AS DATE) AS day
            FROM imu_samples i JOIN rec ON rec.recording_id = i.recording_id
        )
        SELECT subject_id, day, min(timezone), count(*), epoch_us(min(t_utc)), epoch_us(max(t_utc)),
               string_agg(DISTINCT CAST(recording_id AS VARCHAR), ',' ORDER BY CAST(recording_id AS VARCHAR)),
               epoch_us(max(loaded_at))
        FROM s GROUP BY subject_id, day
        """
    ).fetchall()
    out: dict[tuple[str, dt.date], DayKey] = {}
    for sid, day, tz, n, t0, t1, recs, loaded in rows:
        fp = f"imu:{n}:{t0}:{t1}:{recs}:{loaded}:{tz}"
        out[(sid, day)] = DayKey(sid, day, tz, fp)
    for sid, day in cur.execute("SELECT subject_id, diary_date FROM diary").fetchall():
        out.setdefault((sid, day), DayKey(sid, day, "UTC", DIARY_ONLY))
    return out


def _day_bounds_utc(day: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    z = ZoneInfo(tz)
    start = dt.datetime.combine(day, dt.time(0), tzinfo=z).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=z).astimezone(dt.UTC)
    return start, end


def _load_recordings(wh: Warehouse, key: DayKey) -> tuple[list[Recording], float]:
    start, end = _day_bounds_utc(key.day, key.timezone)
    day_len_s = (end - start).total_seconds()
    if key.fingerprint == DIARY_ONLY:
        return [], day_len_s
    cur = wh.cursor()
    data = cur.execute(
        """
        SELECT recording_id, epoch_us(t_utc) AS t_us, acc_x_g, acc_y_g, acc_z_g,
               gyro_x_dps, gyro_y_dps, gyro_z_dps
        FROM imu_samples
        WHERE subject_id = ? AND t_utc >= ? AND t_utc < ?
        ORDER BY recording_id, t_utc
        """,
        [key.subject_id, start, end],
    ).fetchnumpy()
    firsts = dict(
        cur.execute(
            """
            SELECT recording_id, epoch_us(min(t_utc)) FROM imu_samples
            WHERE subject_id = ? AND t_utc < ? GROUP BY recording_id
            """,
            [key.subject_id, end],
        ).fetchall()
    )
    rec_ids = np.asarray(data["recording_id"])
    t_s = (np.asarray(data["t_us"], dtype=np.int64) - int(start.timestamp() * 1e6)) / 1e6
    acc = np.stack([np.asarray(data[c], dtype=np.float32) for c in ("acc_x_g", "acc_y_g", "acc_z_g")], axis=1)
    gyro = np.stack(
        [np.asarray(data[c], dtype=np.float32) for c in ("gyro_x_dps", "gyro_y_dps", "gyro_z_dps")], axis=1
    )
    recs: list[Recording] = []
    if rec_ids.size:
        cuts = np.flatnonzero(np.diff(rec_ids)) + 1
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, rec_ids.size], strict=True):
            rid = int(rec_ids[a])
            starts_here = firsts.get(rid, 0) >= int(start.timestamp() * 1e6)
            recs.append(Recording(rid, t_s[a:b], acc[a:b], gyro[a:b], starts_here=starts_here))
    return recs, day_len_s


def _write(wh: Warehouse, key: DayKey, res: DayResult) -> None:
    cols = ", ".join(IMU_COLUMNS)
    marks = ", ".join("?" for _ in IMU_COLUMNS)
    vals = [res.values.get(c) for c in IMU_COLUMNS]
    start, _ = _day_bounds_utc(key.day, key.timezone)
    with wh.transaction() as cur:
        cur.execute(
            "DELETE FROM store.participant_day_features WHERE subject_id = ? AND day = ?",
            [key.subject_id, key.day],
        )
        cur.execute(
            f"INSERT INTO store.participant_day_features (subject_id, day, {cols}, input_fingerprint) "
            f"VALUES (?, ?, {marks}, ?)",
            [key.subject_id, key.day, *vals, key.fingerprint],
        )
        cur.execute(
            "DELETE FROM store.calibrations WHERE subject_id = ? AND day = ?", [key.subject_id, key.day]
        )
        for c in res.calibrations:
            seg_start = start + dt.timedelta(seconds=c.start_bin * BIN_S)
            seg_end = start + dt.timedelta(seconds=c.end_bin * BIN_S)
            m = c.calibration.mount.ravel().tolist()
            cur.execute(
                "INSERT OR REPLACE INTO store.calibrations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [c.recording_id, key.subject_id, key.day, seg_start, seg_end, c.calibration.vertical_method,
                 c.calibration.worn_s, *m],
            )  # fmt: skip


def pending_days(
    wh: Warehouse,
    *,
    subjects: Sequence[str] | None = None,
    days: tuple[dt.date, dt.date] | None = None,
) -> list[DayKey]:
    """Participant-days whose row is missing or whose inputs changed since it was computed."""
    cands = _candidates(wh)
    stored = dict(
        ((sid, day), fp)
        for sid, day, fp in wh.cursor()
        .execute("SELECT subject_id, day, input_fingerprint FROM store.participant_day_features")
        .fetchall()
    )
    wanted = set(subjects) if subjects else None
    out = []
    for k, key in sorted(cands.items()):
        if wanted is not None and key.subject_id not in wanted:
            continue
        if days is not None and not (days[0] <= key.day <= days[1]):
            continue
        if stored.get(k) != key.fingerprint:
            out.append(key)
    return out


def _drop_vanished(
    wh: Warehouse,
    *,
    subjects: Sequence[str] | None = None,
    days: tuple[dt.date, dt.date] | None = None,
) -> int:
    """Delete stored participant-days that no longer have any input (e.g. a day re-assigned after a
    recording's timezone became known); returns how many were deleted."""
    cands = _candidates(wh)
    wanted = set(subjects) if subjects else None
    gone = [
        (sid, day)
        for sid, day in wh.cursor()
        .execute("SELECT subject_id, day FROM store.participant_day_features")
        .fetchall()
        if (sid, day) not in cands
        and (wanted is None or sid in wanted)
        and (days is None or days[0] <= day <= days[1])
    ]
    for sid, day in gone:
        with wh.transaction() as cur:
            cur.execute(
                "DELETE FROM store.participant_day_features WHERE subject_id = ? AND day = ?", [sid, day]
            )
            cur.execute("DELETE FROM store.calibrations WHERE subject_id = ? AND day = ?", [sid, day])
    return len(gone)


def compute_features(
    wh: Warehouse,
    *,
    subjects: Sequence[str] | None = None,
    days: tuple[dt.date, dt.date] | None = None,
    progress: bool = False,
) -> int:
    """(Re)compute missing or changed participant-days; returns how many were written.

    From the first call on, this process keeps freed memory for reuse instead of returning it to
    the OS (:func:`features.allocator.keep_freed_memory`): each day's arrays then reuse the
    previous day's pages.

    Parameters
    ----------
    wh : Warehouse
        An open, writable warehouse.
    subjects : sequence of str, optional
        Only these participants.
    days : (first, last) dates, optional
        Only local days within this inclusive range.
    progress : bool
        Show a tqdm progress bar (on a TTY).
    """
    keep_freed_memory()  # the days' arrays reuse memory instead of faulting in fresh pages
    todo = pending_days(wh, subjects=subjects, days=days)
    _drop_vanished(wh, subjects=subjects, days=days)
    bar = tqdm(todo, desc="features", unit="day", disable=None if progress else True)
    for key in bar:
        recs, day_len_s = _load_recordings(wh, key)
        res = process_day(recs, day_len_s)
        _write(wh, key, res)
        log.debug("features %s %s: wear %.2f h", key.subject_id, key.day, res.values.get("wear_h") or 0.0)
    return len(todo)

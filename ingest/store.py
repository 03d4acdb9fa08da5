"""Writing ingested data into the warehouse: recordings, samples, gaps and quarantine.

Every loader (CSV import, `.blelog` replay, the live gateway's spool merge) ends here, so the
rules that make loads idempotent live in one place: samples are keyed by ``(device_id, t_utc)``
and inserted with an anti-join restricted to the batch's time range (DuckDB's zone maps make that
range scan cheap on time-ordered data); quarantine rows are keyed by ``(source, location, reason)``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from warehouse.db import registered

log = logging.getLogger(__name__)

PLACEMENTS = ("occiput", "c7", "neck")


@dataclass(frozen=True)
class RecordingMeta:
    """Who wore which device where, for one recording (file, capture or live session)."""

    source: str
    kind: str  # imu_csv | blelog | ble_live
    subject_id: str
    device_id: str
    placement: str
    sample_rate_hz: float
    timezone: str = "UTC"


@dataclass(frozen=True)
class QuarantineRow:
    """One rejected row or packet: where it was and why."""

    source: str
    location: str
    reason: str
    raw: str | None = None


def ensure_recording(cur: duckdb.DuckDBPyConnection, meta: RecordingMeta) -> int:
    """Return the recording id of ``meta.source``, registering it on first sight."""
    row = cur.execute("SELECT recording_id FROM store.recordings WHERE source = ?", [meta.source]).fetchone()
    if row is not None:
        return int(row[0])
    row = cur.execute(
        "INSERT INTO store.recordings (source, kind, subject_id, device_id, placement, sample_rate_hz, timezone)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING recording_id",
        [
            meta.source,
            meta.kind,
            meta.subject_id,
            meta.device_id,
            meta.placement,
            meta.sample_rate_hz,
            meta.timezone,
        ],
    ).fetchone()
    assert row is not None
    return int(row[0])


def store_samples(
    cur: duckdb.DuckDBPyConnection,
    recording_id: int,
    meta: RecordingMeta,
    t_utc_us: npt.NDArray[np.int64],
    acc_g: npt.NDArray[np.floating],
    gyro_dps: npt.NDArray[np.floating],
    mag_ut: npt.NDArray[np.floating] | None = None,
) -> int:
    """Insert samples that are not stored yet; returns how many were new.

    Parameters
    ----------
    t_utc_us : (N,) sample times, integer microseconds since the Unix epoch, UTC.
    acc_g : (N, 3) acceleration in g; gyro_dps : (N, 3) angular rate in deg/s;
    mag_ut : optional (N, 3) magnetic field in uT (NaN where absent).
    """
    n = int(t_utc_us.shape[0])
    if n == 0:
        return 0
    # Within one batch the first sample at a timestamp wins, like across batches.
    _, first = np.unique(t_utc_us, return_index=True)
    if first.shape[0] != n:
        first.sort()
        t_utc_us, acc_g, gyro_dps = t_utc_us[first], acc_g[first], gyro_dps[first]
        mag_ut = None if mag_ut is None else mag_ut[first]
    cols: dict[str, pa.Array] = {
        "t_utc": pa.array(t_utc_us.astype(np.int64), type=pa.timestamp("us", tz="UTC")),
    }
    for i, axis in enumerate("xyz"):
        cols[f"acc_{axis}_g"] = pa.array(acc_g[:, i].astype(np.float32))
    for i, axis in enumerate("xyz"):
        cols[f"gyro_{axis}_dps"] = pa.array(gyro_dps[:, i].astype(np.float32))
    for i, axis in enumerate("xyz"):
        values = None if mag_ut is None else mag_ut[:, i].astype(np.float32)
        cols[f"mag_{axis}_ut"] = (
            pa.nulls(len(t_utc_us), pa.float32())
            if values is None
            else pa.array(values, mask=np.isnan(values))
        )
    staged = pa.table(cols)
    t_lo = int(t_utc_us.min())
    t_hi = int(t_utc_us.max())
    with registered(cur, f"staged_samples_{id(staged)}", staged) as name:
        before = _count_range(cur, meta.device_id, t_lo, t_hi)
        cur.execute(
            f"""
            INSERT INTO store.imu_samples
            SELECT ?, ?, ?, ?, s.t_utc, s.acc_x_g, s.acc_y_g, s.acc_z_g,
                   s.gyro_x_dps, s.gyro_y_dps, s.gyro_z_dps, s.mag_x_ut, s.mag_y_ut, s.mag_z_ut
            FROM {name} s
            ANTI JOIN (
                SELECT t_utc FROM store.imu_samples
                WHERE device_id = ? AND t_utc BETWEEN make_timestamptz(?) AND make_timestamptz(?)
            ) e ON e.t_utc = s.t_utc
            """,
            [
                recording_id,
                meta.subject_id,
                meta.device_id,
                meta.placement,
                meta.device_id,
                t_lo,
                t_hi,
            ],
        )
        after = _count_range(cur, meta.device_id, t_lo, t_hi)
    return after - before


def _count_range(cur: duckdb.DuckDBPyConnection, device_id: str, t_lo_us: int, t_hi_us: int) -> int:
    row = cur.execute(
        "SELECT count(*) FROM store.imu_samples WHERE device_id = ?"
        " AND t_utc BETWEEN make_timestamptz(?) AND make_timestamptz(?)",
        [device_id, t_lo_us, t_hi_us],
    ).fetchall()
    return int(row[0][0]) if row else 0


def quarantine_rows(cur: duckdb.DuckDBPyConnection, rows: Iterable[QuarantineRow]) -> int:
    """Record rejected rows; a row already quarantined for the same reason is not repeated."""
    batch = [(r.source, r.location, r.reason, r.raw) for r in rows]
    if not batch:
        return 0
    cur.executemany(
        "INSERT INTO store.quarantine (source, location, reason, raw) VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        batch,
    )
    return len(batch)


def clear_quarantine(cur: duckdb.DuckDBPyConnection, source: str) -> None:
    """Forget what an earlier import of ``source`` rejected, before it is checked again."""
    cur.execute("DELETE FROM store.quarantine WHERE source = ?", [source])


def record_gap(
    cur: duckdb.DuckDBPyConnection,
    device_id: str,
    t_from_us: int,
    t_to_us: int,
    missing_samples: int,
    reason: str,
    source: str | None = None,
) -> None:
    """Record samples that are really lost (not merely late) between two stored samples."""
    cur.execute(
        "INSERT INTO store.stream_gaps (device_id, t_from_utc, t_to_utc, missing_samples, reason, source)"
        " VALUES (?, make_timestamptz(?), make_timestamptz(?), ?, ?, ?)"
        " ON CONFLICT (device_id, t_from_utc) DO UPDATE SET t_to_utc = excluded.t_to_utc,"
        " missing_samples = excluded.missing_samples, reason = excluded.reason",
        [device_id, t_from_us, t_to_us, missing_samples, reason, source],
    )

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
    device_tick: npt.NDArray[np.int64] | None = None,
) -> int:
    """Insert samples that are not stored yet; returns how many were new.

    Parameters
    ----------
    t_utc_us : (N,) sample times, integer microseconds since the Unix epoch, UTC.
    acc_g : (N, 3) acceleration in g; gyro_dps : (N, 3) angular rate in deg/s;
    mag_ut : optional (N, 3) magnetic field in uT (NaN where absent).
    device_tick : optional (N,) device clock tick of each sample (BLE data), see migration 0005.
    """
    n = int(t_utc_us.shape[0])
    if n == 0:
        return 0
    # Within one batch the first sample at a timestamp wins, like across batches.
    if not bool(np.all(np.diff(t_utc_us) > 0)):
        _, first = np.unique(t_utc_us, return_index=True)
        first.sort()
        t_utc_us, acc_g, gyro_dps = t_utc_us[first], acc_g[first], gyro_dps[first]
        mag_ut = None if mag_ut is None else mag_ut[first]
        device_tick = None if device_tick is None else device_tick[first]
    cols: dict[str, pa.Array] = {
        "t_utc": pa.array(t_utc_us.astype(np.int64), type=pa.timestamp("us", tz="UTC")),
    }
    for i, name in enumerate(("ax", "ay", "az")):
        cols[name] = pa.array(acc_g[:, i].astype(np.float32))
    for i, name in enumerate(("gx", "gy", "gz")):
        cols[name] = pa.array(gyro_dps[:, i].astype(np.float32))
    for i, name in enumerate(("mx", "my", "mz")):
        values = None if mag_ut is None else mag_ut[:, i].astype(np.float32)
        cols[name] = (
            pa.nulls(len(t_utc_us), pa.float32())
            if values is None
            else pa.array(values, mask=np.isnan(values))
        )
    cols["device_tick"] = (
        pa.nulls(len(t_utc_us), pa.int64()) if device_tick is None else pa.array(device_tick.astype(np.int64))
    )
    staged = pa.table(cols)
    with registered(cur, f"staged_samples_{id(staged)}", staged) as name:
        return insert_staged_samples(cur, name, recording_id, meta)


def has_samples_near(cur: duckdb.DuckDBPyConnection, device_id: str, t_lo: object, t_hi: object) -> bool:
    """Whether the device has any stored sample within 1 s of [t_lo, t_hi] (TIMESTAMPTZ values)."""
    row = cur.execute(
        "SELECT count(*) FROM (SELECT 1 FROM store.imu_samples WHERE device_id = ?"
        " AND t_utc BETWEEN ?::TIMESTAMPTZ - INTERVAL 1 SECOND AND ?::TIMESTAMPTZ + INTERVAL 1 SECOND LIMIT 1)",
        [device_id, t_lo, t_hi],
    ).fetchall()
    return bool(row[0][0])


def insert_staged_samples(
    cur: duckdb.DuckDBPyConnection, staged: str, recording_id: int, meta: RecordingMeta
) -> int:
    """Insert rows of relation ``staged`` (t_utc, ax..gz, mx..mz, device_tick; unique t_utc) that
    are not stored yet; returns how many were inserted.

    A staged sample is already stored if the device has a sample at the same instant, or (BLE)
    one with the same device tick less than a second away — the same sample, its UTC time
    estimated a few ms differently by another load. The anti-joins only read this device's rows
    near the stage's time range, which DuckDB finds through zone maps instead of a full scan.
    """
    bounds = cur.execute(f"SELECT min(t_utc), max(t_utc) FROM {staged}").fetchall()
    t_lo, t_hi = bounds[0]
    if t_lo is None:
        return 0
    columns = """recording_id, subject_id, device_id, placement, t_utc,
            acc_x_g, acc_y_g, acc_z_g, gyro_x_dps, gyro_y_dps, gyro_z_dps, mag_x_ut, mag_y_ut, mag_z_ut,
            device_tick"""
    if not has_samples_near(
        cur, meta.device_id, t_lo, t_hi
    ):  # nothing of this device near this time yet: a plain append
        inserted = cur.execute(
            f"INSERT INTO store.imu_samples ({columns})"
            f" SELECT ?, ?, ?, ?, t_utc, ax, ay, az, gx, gy, gz, mx, my, mz, device_tick FROM {staged}",
            [recording_id, meta.subject_id, meta.device_id, meta.placement],
        ).fetchall()
        return int(inserted[0][0]) if inserted else 0
    inserted = cur.execute(
        f"""
        WITH existing AS (
            SELECT t_utc, device_tick FROM store.imu_samples
            WHERE device_id = ? AND t_utc BETWEEN ?::TIMESTAMPTZ - INTERVAL 1 SECOND
                                          AND ?::TIMESTAMPTZ + INTERVAL 1 SECOND
        ),
        fresh AS (
            SELECT s.* FROM {staged} s ANTI JOIN existing e ON e.t_utc = s.t_utc
        ),
        fresh_ticks AS (
            SELECT f.* FROM fresh f
            ANTI JOIN existing e
              ON e.device_tick = f.device_tick
             AND abs(epoch_us(e.t_utc) - epoch_us(f.t_utc)) < 1000000
        )
        INSERT INTO store.imu_samples ({columns})
        SELECT ?, ?, ?, ?, t_utc, ax, ay, az, gx, gy, gz, mx, my, mz, device_tick FROM fresh_ticks
        """,
        [meta.device_id, t_lo, t_hi, recording_id, meta.subject_id, meta.device_id, meta.placement],
    ).fetchall()
    return int(inserted[0][0]) if inserted else 0


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

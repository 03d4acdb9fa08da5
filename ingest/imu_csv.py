"""Import of IMU CSV recordings with their JSON sidecar (SPEC contract 2).

DuckDB's own CSV reader does the heavy lifting (parallel, streaming): numeric columns are typed
``DOUBLE`` and every row that does not parse lands in DuckDB's reject table with its line number
and column, which we turn into quarantine rows. The surviving rows are staged in a temporary
table (DuckDB spills it to disk past its memory limit), checked once more for what a parser
cannot see (timestamps without offset, impossible values, repeated timestamps), and inserted
with the same de-duplicating anti-join as every other loader. ``row N`` is the file's line
number, the header being row 1.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import re
import threading
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from ingest.errors import FileFormatError
from ingest.packets import MAX_PLAUSIBLE_ACC_G, MAX_PLAUSIBLE_GYRO_DPS
from ingest.store import (
    PLACEMENTS,
    QuarantineRow,
    RecordingMeta,
    ensure_recording,
    has_samples_near,
    insert_staged_samples,
    quarantine_rows,
)

log = logging.getLogger(__name__)

REQUIRED = ("timestamp", "ax", "ay", "az", "gx", "gy", "gz")
OPTIONAL = ("mx", "my", "mz")
NUMERIC = ("ax", "ay", "az", "gx", "gy", "gz")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d")
_NULL_MARKER = "\x01"  # so that an empty field is a cast error with a line number, not a NULL
_names = itertools.count()
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Sidecar:
    """The `<stem>.json` beside an IMU CSV."""

    subject_id: str
    device_id: str
    placement: str
    sample_rate_hz: float
    timezone: str


def read_sidecar(csv_path: Path) -> Sidecar:
    path = csv_path.with_suffix(".json")
    if not path.exists():
        raise FileFormatError(
            f"{csv_path}: sidecar {path.name} is missing (needs subject_id, device_id, placement, sample_rate_hz)"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise FileFormatError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(raw, dict):
        raise FileFormatError(f"{path}: expected a JSON object")
    for key in ("subject_id", "device_id", "placement", "sample_rate_hz"):
        if raw.get(key) in (None, ""):
            raise FileFormatError(f"{path}: field {key} is missing")
    placement = str(raw["placement"])
    if placement not in PLACEMENTS:
        raise FileFormatError(
            f"{path}: field placement: expected one of {', '.join(PLACEMENTS)}, got {placement!r}"
        )
    try:
        rate = float(raw["sample_rate_hz"])
    except (TypeError, ValueError):
        rate = float("nan")
    if not (rate > 0 and np.isfinite(rate)):
        raise FileFormatError(
            f"{path}: field sample_rate_hz: expected a positive number, got {raw['sample_rate_hz']!r}"
        )
    tz = str(raw.get("timezone") or "UTC")
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
        raise FileFormatError(f"{path}: field timezone: {tz!r} is not an IANA time zone name") from e
    return Sidecar(str(raw["subject_id"]), str(raw["device_id"]), placement, rate, tz)


@dataclass
class CsvResult:
    rows_ok: int = 0
    rows_new: int = 0
    rows_bad: int = 0


def _header(path: Path) -> list[str]:
    with path.open("rb") as fh:
        line = fh.readline().decode("utf-8", errors="replace").strip().lstrip("\ufeff")
    return [c.strip().strip('"').strip() for c in line.split(",")]


def _reject_reason(error_type: str, column: str | None, csv_line: str, n_columns: int, col_idx: int) -> str:
    fields = csv_line.split(",")
    if error_type == "CAST" and column:
        value = fields[col_idx - 1] if 0 < col_idx <= len(fields) else ""
        if value.strip() == "":
            return f"column {column}: missing value"
        return f"column {column}: expected a number, got {value!r}"
    if error_type in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
        return f"expected {n_columns} columns, got {len(fields)}"
    return f"unreadable row ({error_type.lower()})"


def locate_lines(path: Path, needles: list[str]) -> dict[str, list[int]]:
    """Line numbers of the rows whose first field is each needle (only called for rejected rows)."""
    wanted = {n.encode(): n for n in needles}
    found: dict[str, list[int]] = {n: [] for n in needles}
    line_no = 1
    with path.open("rb") as fh:
        for raw in fh:
            first = raw.split(b",", 1)[0].strip()
            if first in wanted:
                found[wanted[first]].append(line_no)
            line_no += 1
    return found


def _track_progress(
    cur: duckdb.DuckDBPyConnection, size: int, on_bytes: Callable[[int], None]
) -> Callable[[], None]:
    """Poll DuckDB's query progress from a thread; returns a function that stops it."""
    stop = threading.Event()
    reported = [0]

    def poll() -> None:
        while not stop.wait(0.25):
            pct = cur.query_progress()
            if pct >= 0:
                done = int(size * min(pct, 100.0) / 100.0)
                if done > reported[0]:
                    on_bytes(done - reported[0])
                    reported[0] = done

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join()
        if size > reported[0]:
            on_bytes(size - reported[0])

    return finish


def import_imu_csv(
    cur: duckdb.DuckDBPyConnection,
    path: Path,
    known_subjects: set[str],
    on_bytes: Callable[[int], None] | None = None,
    *,
    careful: bool = False,
) -> CsvResult:
    """Import one IMU CSV; raises FileFormatError if the file as a whole cannot be used.

    A file that looks clean is appended in one pass straight from DuckDB's reader; if any row
    turns out bad (or the device already has data at that time) :class:`NeedsCarefulImportError` is raised
    so the caller rolls back and calls again with ``careful=True``: staged, checked row by row.
    """
    side = read_sidecar(path)
    if side.subject_id not in known_subjects:
        raise FileFormatError(
            f"{path}: subject_id {side.subject_id!r} in {path.with_suffix('.json').name} is not in any "
            "baseline CSV; import the baseline first"
        )
    source = str(path)
    columns = _header(path)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise FileFormatError(f"{path}: row 1: missing column(s) {', '.join(missing)}; header is {columns}")
    has_mag = all(c in columns for c in OPTIONAL)
    numeric = NUMERIC + (OPTIONAL if has_mag else ())
    types = {c: ("DOUBLE" if c in numeric else "VARCHAR") for c in columns}
    meta = RecordingMeta(
        source, "imu_csv", side.subject_id, side.device_id, side.placement, side.sample_rate_hz, side.timezone
    )
    recording_id = ensure_recording(cur, meta)

    k = next(_names)
    stg, rej, scan = f"imu_stage_{k}", f"imu_rejects_{k}", f"imu_scans_{k}"
    mag_sql = "mx, my, mz" if has_mag else "NULL::DOUBLE AS mx, NULL::DOUBLE AS my, NULL::DOUBLE AS mz"
    parsed = _PARSED_SQL.format(mag_sql=mag_sql, rej=rej, scan=scan)
    params = [MAX_PLAUSIBLE_ACC_G**2, MAX_PLAUSIBLE_GYRO_DPS**2, source, _NULL_MARKER, types]
    finish = _track_progress(cur, path.stat().st_size, on_bytes) if on_bytes else None
    try:
        if not careful:
            try:
                fast = _append_clean_file(cur, path, parsed, params, recording_id, meta)
            finally:
                for table in (rej, scan):
                    cur.execute(f"DROP TABLE IF EXISTS {table}")
            if fast is not None:
                return fast
        cur.execute(f"CREATE TEMP TABLE {stg} AS SELECT * EXCLUDE (acc2, gyro2) FROM ({parsed})", params)
    except duckdb.Error as e:
        raise FileFormatError(f"{path}: cannot be read as an IMU CSV: {e}") from e
    finally:
        if finish:
            finish()
    try:
        _check_units(cur, stg, path)
        bad = _parser_rejects(cur, rej, source, len(columns))
        bad += _semantic_rejects(cur, stg, path, source)
        ok_row = cur.execute(f"SELECT count(*) FROM {stg}").fetchall()
        result = CsvResult(rows_ok=int(ok_row[0][0]))
        result.rows_new = insert_staged_samples(cur, stg, recording_id, meta)
        quarantine_rows(cur, bad)
        result.rows_bad = len(bad)
        return result
    finally:
        for table in (stg, rej, scan):
            cur.execute(f"DROP TABLE IF EXISTS {table}")


# Every row of the file parsed and checked: the raw timestamp text is kept only for rows that
# will be rejected (to find their line), values are FLOAT like the warehouse.
_PARSED_SQL = """
SELECT CASE WHEN t_utc IS NULL OR acc2 > ? OR gyro2 > ? THEN ts END AS ts_raw, t_utc, acc2, gyro2,
       ax::FLOAT AS ax, ay::FLOAT AS ay, az::FLOAT AS az,
       gx::FLOAT AS gx, gy::FLOAT AS gy, gz::FLOAT AS gz,
       mx::FLOAT AS mx, my::FLOAT AS my, mz::FLOAT AS mz, NULL::BIGINT AS device_tick
FROM (
    SELECT "timestamp" AS ts,
           -- cheap character tests instead of a regex: this runs on every sample
           CASE WHEN length("timestamp") > 16 AND substr("timestamp", 11, 1) IN ('T', ' ')
                     AND (suffix("timestamp", 'Z') OR substr("timestamp", -6, 1) IN ('+', '-')
                          OR substr("timestamp", -5, 1) IN ('+', '-')
                          OR substr("timestamp", -3, 1) IN ('+', '-'))
                THEN TRY_CAST("timestamp" AS TIMESTAMPTZ)
                WHEN substr("timestamp", 5, 1) <> '-'
                THEN make_timestamptz(CAST(round(TRY_CAST("timestamp" AS DOUBLE) * 1e6) AS BIGINT))
           END AS t_utc,
           ax, ay, az, gx, gy, gz, {mag_sql},
           ax*ax + ay*ay + az*az AS acc2, gx*gx + gy*gy + gz*gz AS gyro2
    FROM read_csv(?, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"',
                  nullstr = ?, columns = ?, store_rejects = true,
                  rejects_table = '{rej}', rejects_scan = '{scan}')
)
"""


class NeedsCarefulImportError(Exception):
    """The one-pass append found something to check row by row; roll back and import carefully."""


def _time_span_us(path: Path) -> tuple[int, int] | None:
    """Times of the first and last data rows, if both parse (a cheap look at the file's ends)."""
    with path.open("rb") as fh:
        fh.readline()
        first = fh.readline()
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 4096))
        tail = fh.read().rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
    times = [
        _parse_time_us(line.split(b",", 1)[0].decode("utf-8", "replace").strip()) for line in (first, tail)
    ]
    if times[0] is None or times[1] is None:
        return None
    return min(times[0], times[1]), max(times[0], times[1])


def _count_data_lines(path: Path) -> int:
    newlines = 0
    last = b""
    with path.open("rb") as fh:
        while chunk := fh.read(16 << 20):
            newlines += chunk.count(b"\n")
            last = chunk
    return newlines - 1 + (0 if last.endswith(b"\n") else 1)


def _append_clean_file(
    cur: duckdb.DuckDBPyConnection,
    path: Path,
    parsed: str,
    params: list[object],
    recording_id: int,
    meta: RecordingMeta,
) -> CsvResult | None:
    """One pass from the reader into the warehouse for a file with nothing to reject.

    Returns None (nothing written) when the fast path does not apply, raises NeedsCarefulImportError when
    it wrote rows but found the file is not clean (the caller rolls the transaction back).
    """
    span = _time_span_us(path)
    if span is None:
        return None
    lo = dt.datetime.fromtimestamp(span[0] / 1e6, dt.UTC)
    hi = dt.datetime.fromtimestamp(span[1] / 1e6, dt.UTC)
    if has_samples_near(cur, meta.device_id, lo, hi):
        return None
    expected = _count_data_lines(path)
    inserted = cur.execute(
        f"""
        INSERT INTO store.imu_samples (recording_id, subject_id, device_id, placement, t_utc,
            acc_x_g, acc_y_g, acc_z_g, gyro_x_dps, gyro_y_dps, gyro_z_dps, mag_x_ut, mag_y_ut, mag_z_ut)
        SELECT ?, ?, ?, ?, t_utc, ax, ay, az, gx, gy, gz, mx, my, mz FROM ({parsed}) WHERE ts_raw IS NULL
        """,
        [recording_id, meta.subject_id, meta.device_id, meta.placement, *params],
    ).fetchall()[0][0]
    if inserted != expected:
        raise NeedsCarefulImportError(f"{path}: {expected - inserted} of {expected} rows need a closer look")
    t_min, t_max = cur.execute(
        "SELECT min(t_utc), max(t_utc) FROM store.imu_samples WHERE recording_id = ?", [recording_id]
    ).fetchall()[0]
    n, distinct = cur.execute(
        "SELECT count(*), count(DISTINCT t_utc) FROM store.imu_samples WHERE device_id = ?"
        " AND t_utc BETWEEN ?::TIMESTAMPTZ - INTERVAL 1 SECOND AND ?::TIMESTAMPTZ + INTERVAL 1 SECOND",
        [meta.device_id, t_min, t_max],
    ).fetchall()[0]
    if n != inserted or distinct != inserted:
        raise NeedsCarefulImportError(
            f"{path}: repeated timestamps, or samples of {meta.device_id} already stored"
        )
    _check_units(
        cur,
        f"(SELECT acc_x_g AS ax, acc_y_g AS ay, acc_z_g AS az FROM store.imu_samples WHERE recording_id = {int(recording_id)})",
        path,
    )
    return CsvResult(rows_ok=int(inserted), rows_new=int(inserted), rows_bad=0)


def _parser_rejects(
    cur: duckdb.DuckDBPyConnection, rej: str, source: str, n_columns: int
) -> list[QuarantineRow]:
    rows = cur.execute(
        f"SELECT line, arg_min(column_idx, column_idx), arg_min(column_name, column_idx),"
        f" arg_min(CAST(error_type AS VARCHAR), column_idx), any_value(csv_line)"
        f" FROM {rej} GROUP BY line ORDER BY line"
    ).fetchall()
    return [
        QuarantineRow(
            source, f"row {line}", _reject_reason(etype, col, text or "", n_columns, int(idx)), text
        )
        for line, idx, col, etype, text in rows
    ]


def _semantic_rejects(
    cur: duckdb.DuckDBPyConnection, stg: str, path: Path, source: str
) -> list[QuarantineRow]:
    """Rows that parsed but cannot be true; they are deleted from the stage and quarantined."""
    flagged, duplicates = cur.execute(
        f"SELECT count(ts_raw), count(t_utc) - count(DISTINCT t_utc) FROM {stg}"
    ).fetchall()[0]
    if not flagged and not duplicates:
        return []  # the common case costs one aggregate
    rows = cur.execute(
        f"""
        WITH checked AS (
            SELECT rowid AS rid, ts_raw, t_utc,
                   CASE
                     WHEN t_utc IS NULL THEN 'timestamp'
                     WHEN acc_norm > ? THEN 'acc'
                     WHEN gyro_norm > ? THEN 'gyro'
                     WHEN row_number() OVER (PARTITION BY t_utc ORDER BY rowid) > 1 THEN 'duplicate'
                   END AS problem,
                   acc_norm, gyro_norm
            FROM (SELECT rowid, *, sqrt(ax*ax + ay*ay + az*az) AS acc_norm,
                         sqrt(gx*gx + gy*gy + gz*gz) AS gyro_norm FROM {stg})
        )
        SELECT rid, ts_raw, epoch_us(t_utc), problem, acc_norm, gyro_norm
        FROM checked WHERE problem IS NOT NULL ORDER BY rid
        """,
        [MAX_PLAUSIBLE_ACC_G, MAX_PLAUSIBLE_GYRO_DPS],
    ).fetchall()
    by_text = locate_lines(path, sorted({str(r[1]).strip() for r in rows if r[1] is not None}))
    dup_times = {int(r[2]) for r in rows if r[3] == "duplicate"}
    by_time = locate_times(path, dup_times) if dup_times else {}
    used: dict[object, int] = {}
    out: list[QuarantineRow] = []
    for _rid, ts_raw, t_us, problem, acc_norm, gyro_norm in rows:
        if problem == "duplicate":
            # the first occurrence of a repeated timestamp is the row that was kept
            key: object = int(t_us)
            occ = by_time.get(int(t_us), [])
            i = used.get(key, 1)
            text = ""
        else:
            text = str(ts_raw).strip()
            key = text
            occ = by_text.get(text, [])
            i = used.get(key, 0)
        line = occ[i] if i < len(occ) else None
        used[key] = i + 1
        out.append(
            QuarantineRow(
                source,
                f"row {line}" if line else f"timestamp {text or t_us}",
                _semantic_reason(problem, text, acc_norm, gyro_norm),
                text or None,
            )
        )
    cur.execute(f"DELETE FROM {stg} WHERE rowid IN (SELECT unnest(?::BIGINT[]))", [[int(r[0]) for r in rows]])
    return out


def locate_times(path: Path, times_us: set[int]) -> dict[int, list[int]]:
    """Line numbers of rows whose timestamp is one of ``times_us`` (only for repeated timestamps)."""
    found: dict[int, list[int]] = {t: [] for t in times_us}
    with path.open("rb") as fh:
        fh.readline()
        for line_no, raw in enumerate(fh, start=2):
            t_us = _parse_time_us(raw.split(b",", 1)[0].decode("utf-8", errors="replace").strip())
            if t_us in found:
                found[t_us].append(line_no)
    return found


def _parse_time_us(text: str) -> int | None:
    try:
        return round(float(text) * 1e6)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is None:
        return None
    return (t - _EPOCH) // dt.timedelta(microseconds=1)


def _semantic_reason(problem: str, ts: str, acc_norm: float, gyro_norm: float) -> str:
    if problem == "timestamp":
        if not ts:
            return "column timestamp: missing value"
        if _ISO_DATE.match(ts):
            return f"column timestamp: ISO 8601 time without UTC offset {ts!r}; add the offset (e.g. +01:00)"
        return f"column timestamp: expected ISO 8601 with UTC offset or epoch seconds, got {ts!r}"
    if problem == "acc":
        return (
            f"columns ax, ay, az: acceleration {acc_norm:.1f} g is impossible (> {MAX_PLAUSIBLE_ACC_G:.0f} g)"
        )
    if problem == "gyro":
        return f"columns gx, gy, gz: angular rate {gyro_norm:.0f} deg/s is impossible (> {MAX_PLAUSIBLE_GYRO_DPS:.0f})"
    return "column timestamp: repeats an earlier row's timestamp (duplicate row)"


def _check_units(cur: duckdb.DuckDBPyConnection, stg: str, path: Path) -> None:
    """A file in m/s^2 passes every per-row check but is wrong by 9.8x: refuse it whole."""
    row = cur.execute(
        f"SELECT median(sqrt(ax*ax + ay*ay + az*az)) FROM (SELECT ax, ay, az FROM {stg} LIMIT 100000)"
    ).fetchall()
    med = row[0][0] if row else None
    if med is not None and 7.0 < med < 12.0:
        raise FileFormatError(
            f"{path}: columns ax, ay, az look like m/s^2 (median |a| = {med:.1f}); "
            "the IMU CSV format wants g: divide by 9.80665 and import again"
        )

"""Import of IMU CSV recordings with their JSON sidecar (SPEC contract 2).

The file is streamed in blocks (bounded memory whatever its size): pyarrow splits lines, DuckDB
parses and checks each block vectorised, good samples go to the warehouse and each bad row goes
to quarantine with its row number (the file's line number, header = row 1) and column.
"""

from __future__ import annotations

import json
import logging
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv

from ingest.errors import FileFormatError
from ingest.packets import MAX_PLAUSIBLE_ACC_G, MAX_PLAUSIBLE_GYRO_DPS
from ingest.store import (
    PLACEMENTS,
    QuarantineRow,
    RecordingMeta,
    ensure_recording,
    quarantine_rows,
    store_samples,
)
from warehouse.db import registered

log = logging.getLogger(__name__)

REQUIRED = ("timestamp", "ax", "ay", "az", "gx", "gy", "gz")
OPTIONAL = ("mx", "my", "mz")
NUMERIC = ("ax", "ay", "az", "gx", "gy", "gz")
BLOCK_BYTES = 16 << 20
_OFFSET = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)$")


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


_CHECK_SQL = """
SELECT _i,
       CASE WHEN TRY_CAST(timestamp AS DOUBLE) IS NOT NULL
            THEN CAST(round(TRY_CAST(timestamp AS DOUBLE) * 1e6) AS BIGINT)
            WHEN regexp_matches(trim(timestamp), '(Z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$')
            THEN epoch_us(TRY_CAST(trim(timestamp) AS TIMESTAMPTZ))
       END AS t_us,
       timestamp AS ts_raw,
       {casts}
FROM {name}
"""


def _row_number(kept_index: int, skipped_lines: npt.NDArray[np.int64]) -> int:
    """Line number of the kept row with 0-based index ``kept_index`` (header is line 1)."""
    line = kept_index + 2
    while True:
        shifted = kept_index + 2 + int(np.searchsorted(skipped_lines, line, side="right"))
        if shifted == line:
            return line
        line = shifted


def import_imu_csv(
    cur: duckdb.DuckDBPyConnection,
    path: Path,
    known_subjects: set[str],
    on_bytes: Callable[[int], None] | None = None,
) -> CsvResult:
    """Import one IMU CSV; raises FileFormatError if the file as a whole cannot be used."""
    side = read_sidecar(path)
    if side.subject_id not in known_subjects:
        raise FileFormatError(
            f"{path}: subject_id {side.subject_id!r} in {path.with_suffix('.json').name} is not in any baseline "
            "CSV; import the baseline first"
        )
    source = str(path)
    with path.open("rb") as fh:
        header = fh.readline().decode("utf-8", errors="replace").strip().lstrip("\ufeff")
    columns = [c.strip() for c in header.split(",")]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise FileFormatError(f"{path}: row 1: missing column(s) {', '.join(missing)}; header is {header!r}")
    has_mag = all(c in columns for c in OPTIONAL)
    numeric = NUMERIC + (OPTIONAL if has_mag else ())
    meta = RecordingMeta(
        source, "imu_csv", side.subject_id, side.device_id, side.placement, side.sample_rate_hz, side.timezone
    )
    recording_id = ensure_recording(cur, meta)

    skipped: list[tuple[int, str, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        if row.actual_columns > 1 or row.text.strip():
            skipped.append(
                (
                    row.number or -1,
                    f"expected {row.expected_columns} columns, got {row.actual_columns}",
                    row.text,
                )
            )
        else:
            skipped.append((row.number or -1, "", ""))  # a blank line: not data, but it counts as a line
        return "skip"

    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(
            block_size=BLOCK_BYTES, use_threads=False, column_names=columns, skip_rows=1
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in columns},
            include_columns=list(REQUIRED) + (list(OPTIONAL) if has_mag else []),
        ),
    )
    casts = ",\n       ".join(f"TRY_CAST({c} AS DOUBLE) AS {c}, {c} AS {c}_raw" for c in numeric)
    result = CsvResult()
    bad_rows: list[tuple[int, str, str]] = []  # (kept index, reason, raw)
    kept = 0
    last_t_us: int | None = None
    units_checked = False
    done_bytes = 0
    for batch in reader:
        n = batch.num_rows
        table = pa.Table.from_batches([batch]).append_column(
            "_i", pa.array(np.arange(kept, kept + n, dtype=np.int64))
        )
        with registered(cur, f"csv_block_{id(table)}", table) as name:
            out = cur.sql(_CHECK_SQL.format(casts=casts, name=name)).to_arrow_table()
        kept += n
        idx = out.column("_i").to_numpy()
        t_arr = out.column("t_us")
        t_valid = t_arr.is_valid().to_numpy(zero_copy_only=False)
        t_us = t_arr.fill_null(0).to_numpy()
        vals = np.column_stack([out.column(c).fill_null(np.nan).to_numpy() for c in numeric])
        reason = np.full(n, "", dtype=object)
        raw_ts = out.column("ts_raw").to_pylist()
        for j in np.flatnonzero(~t_valid):
            r = raw_ts[j]
            text = "" if r is None else str(r).strip()
            if not text:
                reason[j] = "column timestamp: missing value"
            elif not _OFFSET.search(text) and re.match(r"\d{4}-\d{2}-\d{2}[T ]\d", text):
                reason[j] = (
                    f"column timestamp: ISO 8601 time without UTC offset {r!r}; add the offset (e.g. +01:00)"
                )
            else:
                reason[j] = f"column timestamp: expected ISO 8601 with UTC offset or epoch seconds, got {r!r}"
        nan = np.isnan(vals)
        for k, c in enumerate(numeric):
            nan_rows = np.flatnonzero(nan[:, k] & (reason == ""))
            if nan_rows.size:
                raws = out.column(f"{c}_raw").take(pa.array(nan_rows)).to_pylist()
                for j, r in zip(nan_rows, raws, strict=True):
                    reason[j] = (
                        f"column {c}: missing value"
                        if r is None or not r.strip()
                        else f"column {c}: expected a number, got {r!r}"
                    )
        if not units_checked:
            ok_rows = reason == ""
            if ok_rows.any():
                units_checked = True
                med = float(np.median(np.linalg.norm(vals[ok_rows, 0:3], axis=1)))
                if 7.0 < med < 12.0:
                    raise FileFormatError(
                        f"{path}: columns ax, ay, az look like m/s^2 (median |a| = {med:.1f}); "
                        "the IMU CSV format wants g: divide by 9.80665 and import again"
                    )
        acc_norm = np.linalg.norm(np.nan_to_num(vals[:, 0:3]), axis=1)
        gyro_norm = np.linalg.norm(np.nan_to_num(vals[:, 3:6]), axis=1)
        for j in np.flatnonzero((acc_norm > MAX_PLAUSIBLE_ACC_G) & (reason == "")):
            reason[j] = (
                f"columns ax, ay, az: acceleration {acc_norm[j]:.1f} g is impossible (> {MAX_PLAUSIBLE_ACC_G:.0f} g)"
            )
        for j in np.flatnonzero((gyro_norm > MAX_PLAUSIBLE_GYRO_DPS) & (reason == "")):
            reason[j] = (
                f"columns gx, gy, gz: angular rate {gyro_norm[j]:.0f} deg/s is impossible (> {MAX_PLAUSIBLE_GYRO_DPS:.0f})"
            )
        # Time must move forward: a repeated or earlier timestamp is a duplicated or mangled row.
        good = reason == ""
        gi = np.flatnonzero(good)
        if gi.size:
            prev = np.concatenate(
                [[last_t_us if last_t_us is not None else np.iinfo(np.int64).min], t_us[gi][:-1]]
            )
            back = t_us[gi] <= prev
            for j in gi[back]:
                reason[j] = "column timestamp: not later than the previous row (duplicate or out of order)"
            good = reason == ""
            if good.any():
                last_t_us = int(t_us[good].max())
        bad_j = np.flatnonzero(~good)
        if bad_j.size:
            take = pa.array(bad_j)
            raw_cols = [out.column("ts_raw").take(take).to_pylist()] + [
                out.column(f"{c}_raw").take(take).to_pylist() for c in numeric
            ]
            for k, j in enumerate(bad_j):
                raw = ",".join("" if col[k] is None else str(col[k]) for col in raw_cols)
                bad_rows.append((int(idx[j]), str(reason[j]), raw))
        if good.any():
            g = np.flatnonzero(good)
            mag = vals[g, 6:9] if has_mag else None
            result.rows_new += store_samples(
                cur, recording_id, meta, t_us[g], vals[g, 0:3], vals[g, 3:6], mag
            )
            result.rows_ok += int(g.size)
        if on_bytes is not None:
            now = min(path.stat().st_size, done_bytes + batch.nbytes)
            on_bytes(max(0, now - done_bytes))
            done_bytes = now
    skipped_lines = np.array(sorted(n for n, _, _ in skipped if n > 0), dtype=np.int64)
    rows = [
        QuarantineRow(source, f"row {_row_number(i, skipped_lines)}", why, raw) for i, why, raw in bad_rows
    ] + [QuarantineRow(source, f"row {n}", why, text[:200]) for n, why, text in skipped if why]
    quarantine_rows(cur, rows)
    result.rows_bad = len(rows)
    if on_bytes is not None:
        on_bytes(max(0, path.stat().st_size - done_bytes))
    return result

"""Import of the REDCap-style flat CSVs: baseline (one row per participant) and diary (one row
per participant-day), SPEC contract 2.

Each row is checked field by field; a row with any bad field is quarantined whole (with every
problem in one message naming row and columns) and the other rows are kept. Extra columns are
kept in ``extra`` (JSON), never rejected.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ingest.errors import FileFormatError
from ingest.store import QuarantineRow, quarantine_rows
from warehouse.db import registered

log = logging.getLogger(__name__)

BASELINE_REQUIRED = (
    "record_id",
    "age",
    "sex",
    "headache_years",
    "lightheadedness",
    "treatment_start",
    "therapist_id",
)
DIARY_REQUIRED = ("record_id", "diary_date", "headache", "intensity", "duration_h", "medication")
DIARY_OPTIONAL = ("neck_pain", "lightheaded", "entered_at")
# The contract fields as the warehouse stores them (record_id becomes subject_id).
BASELINE_STORE_COLUMNS = ("subject_id", *BASELINE_REQUIRED[1:])
DIARY_STORE_COLUMNS = ("subject_id", *DIARY_REQUIRED[1:], *DIARY_OPTIONAL)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class FieldError(ValueError):
    """One field that does not hold what the format says."""


def _blank(v: str) -> bool:
    return v.strip() == ""


def parse_date(v: str) -> dt.date:
    if not _DATE.match(v.strip()):
        raise FieldError(f"expected a date YYYY-MM-DD, got {v!r}")
    try:
        return dt.date.fromisoformat(v.strip())
    except ValueError:
        raise FieldError(f"expected a date YYYY-MM-DD, got {v!r} (no such day)") from None


def parse_number(v: str, lo: float, hi: float, *, integer: bool = False) -> float:
    try:
        x = float(v)
    except ValueError:
        raise FieldError(f"expected a number {lo:g}-{hi:g}, got {v!r}") from None
    if not math.isfinite(x) or x < lo or x > hi:
        raise FieldError(f"expected a number {lo:g}-{hi:g}, got {v!r}")
    if integer and x != int(x):
        raise FieldError(f"expected a whole number {lo:g}-{hi:g}, got {v!r}")
    return x


def parse_flag(v: str) -> int:
    if v.strip() not in ("0", "1"):
        raise FieldError(f"expected 0 or 1, got {v!r}")
    return int(v.strip())


def parse_timestamp(v: str) -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(v.strip())
    except ValueError:
        raise FieldError(f"expected an ISO 8601 timestamp, got {v!r}") from None
    # REDCap exports server-local times without offset; without better knowledge we read them as UTC.
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


@dataclass
class TableResult:
    rows_ok: int = 0
    rows_bad: int = 0


@dataclass(frozen=True)
class _Row:
    line: int
    values: dict[str, str]
    raw: str


def _read(path: Path, required: tuple[str, ...]) -> tuple[list[_Row], list[QuarantineRow]]:
    """Rows of a flat CSV by header name, with their line numbers; a row with the wrong number
    of fields is quarantined here ("expected N columns, got M"), the others are returned."""
    source = str(path)
    rows: list[_Row] = []
    bad: list[QuarantineRow] = []
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, skipinitialspace=True)
            header = [h.strip() for h in next(reader, [])]
            missing = [c for c in required if c not in header]
            if missing:
                raise FileFormatError(f"{path}: row 1: missing column(s) {', '.join(missing)}")
            for fields in reader:
                line = reader.line_num
                raw = ",".join(fields)[:200]
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue  # blank line
                if len(fields) != len(header):
                    bad.append(
                        QuarantineRow(
                            source, f"row {line}", f"expected {len(header)} columns, got {len(fields)}", raw
                        )
                    )
                    continue
                rows.append(_Row(line, dict(zip(header, fields, strict=True)), raw))
    except (UnicodeDecodeError, csv.Error) as e:
        raise FileFormatError(f"{path}: cannot be read as CSV: {str(e).strip()}") from e
    return rows, bad


def _check_row(
    row: dict[str, str], parsers: dict[str, Callable[[str], Any]], optional: set[str]
) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {}
    errors: list[str] = []
    for col, parse in parsers.items():
        raw = row.get(col, "")
        if _blank(raw):
            if col not in optional:
                errors.append(f"column {col}: missing value")
            values[col] = None
            continue
        try:
            values[col] = parse(raw)
        except FieldError as e:
            errors.append(f"column {col}: {e}")
    return values, errors


def _extra(row: dict[str, str], known: set[str]) -> str | None:
    extra = {k: v for k, v in row.items() if k not in known and not _blank(v)}
    return json.dumps(extra, sort_keys=True) if extra else None


def _upsert(
    cur: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], rows: list[list[Any]]
) -> None:
    """Insert or replace ``rows`` by primary key in one set-based statement."""
    if not rows:
        return
    frame = pd.DataFrame(rows, columns=list(columns)).astype(object)
    cols = ", ".join(columns)
    with registered(cur, f"upsert_{id(frame)}", frame) as name:
        cur.execute(f"INSERT OR REPLACE INTO {table} ({cols}) SELECT {cols} FROM {name}")


def import_baseline(cur: duckdb.DuckDBPyConnection, path: Path) -> TableResult:
    source = str(path)
    rows, bad = _read(path, BASELINE_REQUIRED)
    parsers: dict[str, Callable[[str], Any]] = {
        "record_id": str.strip,
        "age": lambda v: parse_number(v, 0, 120),
        "sex": str.strip,
        "headache_years": lambda v: parse_number(v, 0, 100),
        "lightheadedness": parse_flag,
        "treatment_start": parse_date,
        "therapist_id": str.strip,
    }
    known = set(parsers)
    result = TableResult()
    seen: dict[str, int] = {}
    good: list[list[Any]] = []
    for r in rows:
        line, row = r.line, r.values
        values, errors = _check_row(row, parsers, optional={"sex", "therapist_id"})
        rid = values.get("record_id")
        if rid and rid in seen and not errors:
            errors.append(f"column record_id: duplicate participant {rid!r} (first at row {seen[rid]})")
        if errors:
            bad.append(QuarantineRow(source, f"row {line}", "; ".join(errors), r.raw))
            continue
        seen[str(rid)] = line
        good.append(
            [
                rid,
                values["age"],
                values["sex"],
                values["headache_years"],
                values["lightheadedness"],
                values["treatment_start"],
                values["therapist_id"],
                _extra(row, known),
                source,
                line,
            ]
        )
    _upsert(
        cur,
        "store.participants",
        (*BASELINE_STORE_COLUMNS, "extra", "source", "source_row"),
        good,
    )
    quarantine_rows(cur, bad)
    result.rows_ok, result.rows_bad = len(good), len(bad)
    return result


def import_diary(cur: duckdb.DuckDBPyConnection, path: Path, known_subjects: set[str]) -> TableResult:
    source = str(path)
    rows, bad = _read(path, DIARY_REQUIRED)
    parsers: dict[str, Callable[[str], Any]] = {
        "record_id": str.strip,
        "diary_date": parse_date,
        "headache": parse_flag,
        "intensity": lambda v: int(parse_number(v, 0, 10, integer=True)),
        "duration_h": lambda v: parse_number(v, 0, 24),
        "medication": parse_flag,
        "neck_pain": lambda v: int(parse_number(v, 0, 10, integer=True)),
        "lightheaded": parse_flag,
        "entered_at": parse_timestamp,
    }
    known = set(parsers)
    optional = {"intensity", *DIARY_OPTIONAL}
    result = TableResult()
    seen: dict[tuple[str, dt.date], int] = {}
    good: list[list[Any]] = []
    for r in rows:
        line, row = r.line, r.values
        values, errors = _check_row(row, parsers, optional)
        if not errors:
            rid, day = values["record_id"], values["diary_date"]
            if rid not in known_subjects:
                errors.append(f"column record_id: unknown participant {rid!r} (not in any baseline CSV)")
            elif values["headache"] == 1 and values["intensity"] is None:
                errors.append("column intensity: missing value (required on a headache day)")
            elif values["headache"] == 0 and (values["intensity"] or 0) > 0:
                errors.append(
                    f"column intensity: {values['intensity']} on a day without headache (headache = 0)"
                )
            elif (rid, day) in seen:
                errors.append(
                    f"column diary_date: duplicate day {day} for {rid} (first at row {seen[(rid, day)]})"
                )
        if errors:
            bad.append(QuarantineRow(source, f"row {line}", "; ".join(errors), r.raw))
            continue
        seen[(values["record_id"], values["diary_date"])] = line
        good.append(
            [
                values["record_id"],
                values["diary_date"],
                values["headache"],
                values["intensity"] if values["headache"] == 1 else None,
                values["duration_h"],
                values["medication"],
                values["neck_pain"],
                values["lightheaded"],
                values["entered_at"],
                _extra(row, known),
                source,
                line,
            ]
        )
    # A later export of the same participant-day is a correction in REDCap: it replaces the row.
    _upsert(
        cur,
        "store.diary",
        (*DIARY_STORE_COLUMNS, "extra", "source", "source_row"),
        good,
    )
    quarantine_rows(cur, bad)
    result.rows_ok, result.rows_bad = len(good), len(bad)
    return result

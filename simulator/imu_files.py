"""Write IMU recordings as contract-2 CSV + sidecar JSON, with optional deliberate bad rows."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from simulator.imu import RenderedChunk

HEADER = b"timestamp,ax,ay,az,gx,gy,gz\n"
_OPTS = pacsv.WriteOptions(include_header=False, quoting_style="none")


@dataclass(frozen=True)
class TimeZoneSpan:
    """UTC offsets over a recording: ``offset_s`` before ``switch_s`` (s from start), ``offset2_s`` after."""

    offset_s: int
    offset2_s: int
    switch_s: float

    def offsets(self, t_s: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        return np.where(t_s < self.switch_s, self.offset_s, self.offset2_s).astype(np.int64)


def _offset_text(offset_s: int) -> str:
    sign = "+" if offset_s >= 0 else "-"
    m = abs(offset_s) // 60
    return f"{sign}{m // 60:02d}:{m % 60:02d}"


def format_timestamps(
    t0_utc_s: float, t_s: npt.NDArray[np.float64], style: str, tz: TimeZoneSpan, rate_hz: int
) -> pa.Array:
    """Timestamps as written in the CSV: ``iso`` local time with offset, or ``epoch`` float seconds."""
    if style == "epoch":
        return pa.array(np.round(t0_utc_s + t_s, 6))
    unit = "ms" if 1000 % rate_hz == 0 else "us"
    scale = 1000 if unit == "ms" else 1_000_000
    off = tz.offsets(t_s)
    local = np.rint((t0_utc_s + t_s + off) * scale).astype(np.int64).astype(f"datetime64[{unit}]")
    text = pa.array(np.datetime_as_string(local, unit=unit))  # type: ignore[call-overload]
    if tz.offset_s == tz.offset2_s:
        return pc.binary_join_element_wise(text, pa.scalar(_offset_text(tz.offset_s)), "")
    suffix = pa.array(np.where(off == tz.offset_s, _offset_text(tz.offset_s), _offset_text(tz.offset2_s)))
    return pc.binary_join_element_wise(text, suffix, "")


def _table(ts: pa.Array, c: RenderedChunk) -> pa.Table:
    acc = np.round(c.acc_g, 5)
    gyro = np.round(c.gyro_dps, 4)
    return pa.table(
        {
            "timestamp": ts,
            "ax": acc[:, 0],
            "ay": acc[:, 1],
            "az": acc[:, 2],
            "gx": gyro[:, 0],
            "gy": gyro[:, 1],
            "gz": gyro[:, 2],
        }
    )


def _bad_line(table: pa.Table, kind: str) -> bytes:
    buf = pa.BufferOutputStream()
    pacsv.write_csv(table, buf, _OPTS)
    line = buf.getvalue().to_pybytes().rstrip(b"\n")
    if kind == "truncated":  # a write cut short: the line stops inside the third value
        fields = line.split(b",")
        return b",".join(fields[:3]) + b"\n"
    fields = line.split(b",")
    fields[5] = b"ERR"  # firmware wrote an error marker instead of the gyro y value
    return b",".join(fields) + b"\n"


def write_imu_csv(
    path: Path,
    chunks: Iterable[RenderedChunk],
    t0_utc_s: float,
    style: str,
    tz: TimeZoneSpan,
    rate_hz: int,
    bad: dict[int, str],
) -> int:
    """Write the CSV; ``bad`` maps 0-based data row -> kind for rows to spoil. Returns rows written."""
    rows = 0
    with open(path, "wb") as fh:
        fh.write(HEADER)
        for c in chunks:
            table = _table(format_timestamps(t0_utc_s, c.t_s, style, tz, rate_hz), c)
            n = table.num_rows
            cuts = sorted(k - rows for k in bad if rows <= k < rows + n)
            _write_with_bad(fh, table, cuts, {k - rows: v for k, v in bad.items() if rows <= k < rows + n})
            rows += n
    return rows


def _write_with_bad(fh: BinaryIO, table: pa.Table, cuts: list[int], kinds: dict[int, str]) -> None:
    start = 0
    for k in cuts:
        if k > start:
            pacsv.write_csv(table.slice(start, k - start), fh, _OPTS)
        fh.write(_bad_line(table.slice(k, 1), kinds[k]))
        start = k + 1
    if start < table.num_rows:
        pacsv.write_csv(table.slice(start), fh, _OPTS)


def write_sidecar(
    path: Path, subject_id: str, device_id: str, placement: str, rate_hz: int, timezone: str
) -> None:
    meta = {
        "subject_id": subject_id,
        "device_id": device_id,
        "placement": placement,
        "sample_rate_hz": rate_hz,
        "timezone": timezone,
    }
    path.write_text(json.dumps(meta, indent=2) + "\n")

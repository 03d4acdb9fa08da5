"""The gateway's spool: append-only, checksummed segment files per device session.

Layout under ``NUCHAL_HOME/spool``::

    <session_id>/session.json         who/what/config of the session (written once, fsynced)
    <session_id>/session.lock         flock held by the live gateway that owns the session
    <session_id>/seg-000001.open      being appended; fsynced at least once a second
    <session_id>/seg-000001.closed    complete: ready to merge
    <session_id>/seg-000001.merged    merged (kept so a restarted merge can rebuild clock state)

A record is ``f64 rx_s | u16 length | u32 crc32 | payload`` (little-endian); the CRC covers the
first two fields and the payload, so a record torn by ``kill -9`` or a power cut is detected and
everything after it in that file is ignored. Only fsynced records count as received.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ingest.packets import DeviceConfig

_REC = struct.Struct("<dHI")
SEGMENT_S = 2.0


@dataclass(frozen=True)
class SessionMeta:
    """What a spooled session is: one gateway run's stream from one device."""

    session_id: str
    device_id: str
    subject_id: str
    placement: str
    address: str
    config_hex: str
    serial: str = ""
    firmware: str = ""
    started_at_s: float = 0.0
    clock_offset_s: float | None = None
    clock_rtt_ms: float | None = None

    @property
    def config(self) -> DeviceConfig:
        return DeviceConfig.from_bytes(bytes.fromhex(self.config_hex))

    @property
    def source(self) -> str:
        return f"ble_live:{self.session_id}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode_records(rx_s: list[float], payloads: list[bytes]) -> bytes:
    parts = []
    for rx, p in zip(rx_s, payloads, strict=True):
        head = struct.pack("<dH", rx, len(p))
        parts.append(head + struct.pack("<I", zlib.crc32(p, zlib.crc32(head))) + p)
    return b"".join(parts)


def read_segment(path: Path) -> tuple[npt.NDArray[np.float64], list[bytes], int]:
    """Valid records of a segment: (rx_s, payloads, bytes_valid); stops at the first torn record."""
    data = path.read_bytes()
    rx: list[float] = []
    payloads: list[bytes] = []
    pos = 0
    while pos + _REC.size <= len(data):
        t, n, crc = _REC.unpack_from(data, pos)
        end = pos + _REC.size + n
        if end > len(data):
            break
        p = data[pos + _REC.size : end]
        if zlib.crc32(p, zlib.crc32(data[pos : pos + 10])) != crc:
            break
        rx.append(t)
        payloads.append(p)
        pos = end
    return np.asarray(rx, dtype=np.float64), payloads, pos


class SessionSpool:
    """Writer side of one session's spool directory (owned by the live gateway)."""

    def __init__(self, root: Path, meta: SessionMeta, segment_s: float = SEGMENT_S) -> None:
        self.meta = meta
        self.dir = root / meta.session_id
        self.dir.mkdir(parents=True, exist_ok=False)
        self.segment_s = segment_s
        self._lock_fd = os.open(self.dir / "session.lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        tmp = self.dir / "session.json.tmp"
        with tmp.open("w") as fh:
            json.dump(asdict(meta), fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.rename(self.dir / "session.json")
        _fsync_dir(self.dir)
        _fsync_dir(root)
        self._seg_no = 0
        self._fh: int | None = None
        self._opened_at_s = 0.0
        self._pending = 0  # records written but not fsynced
        self.durable = 0  # records fsynced: these count as received
        self.closed_segments = 0

    def _open_next(self, now_s: float) -> None:
        self._seg_no += 1
        path = self.dir / f"seg-{self._seg_no:06d}.open"
        self._fh = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._opened_at_s = now_s
        _fsync_dir(self.dir)

    def append(self, rx_s: list[float], payloads: list[bytes], now_s: float) -> None:
        """Write records (not yet durable; :meth:`sync` makes them count)."""
        if not payloads:
            return
        if self._fh is None:
            self._open_next(now_s)
        assert self._fh is not None
        os.write(self._fh, encode_records(rx_s, payloads))
        self._pending += len(payloads)

    def sync(self, now_s: float, force_close: bool = False) -> int:
        """fsync what was written; close the segment when it is old enough. Returns records made durable."""
        made = 0
        if self._fh is not None:
            if self._pending:
                os.fsync(self._fh)
                made, self._pending = self._pending, 0
                self.durable += made
            if force_close or now_s - self._opened_at_s >= self.segment_s:
                os.close(self._fh)
                self._fh = None
                src = self.dir / f"seg-{self._seg_no:06d}.open"
                src.rename(src.with_suffix(".closed"))
                _fsync_dir(self.dir)
                self.closed_segments += 1
        return made

    def close(self, now_s: float) -> None:
        self.sync(now_s, force_close=True)
        (self.dir / "session.closed").touch()
        _fsync_dir(self.dir)
        os.close(self._lock_fd)


def session_is_live(session_dir: Path) -> bool:
    """True while a gateway process holds the session's lock."""
    lock = session_dir / "session.lock"
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases our probe lock if we got it
    return False


def load_meta(session_dir: Path) -> SessionMeta:
    return SessionMeta(**json.loads((session_dir / "session.json").read_text()))


def segment_files(session_dir: Path) -> list[tuple[int, Path, str]]:
    """(number, path, state) of every segment, in order; state is open|closed|merged."""
    out = []
    for p in session_dir.glob("seg-*.*"):
        stem, state = p.name.split(".", 1)
        if state in ("open", "closed", "merged"):
            out.append((int(stem[4:]), p, state))
    out.sort()
    return out

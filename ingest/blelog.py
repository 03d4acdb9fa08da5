"""Replay of `.blelog` BLE captures (SPEC contract 2) into the warehouse.

A capture is JSON Lines: a header ``{"device_id", "subject_id", "placement", "config"}`` then one
``{"rx", "data"}`` line per notification. Replay decodes every payload with the same codec and
clock mapping the live gateway uses, so it stores exactly what live streaming stored.
"""

from __future__ import annotations

import binascii
import itertools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.json as pajson

from ingest.clock import map_packets, sample_times_us, samples_crc32
from ingest.errors import FileFormatError
from ingest.packets import (
    FLAG_DROPPED_BEFORE,
    TICK_MODULO,
    DecodedBatch,
    DeviceConfig,
    PacketError,
    decode_packets,
)
from ingest.store import PLACEMENTS, QuarantineRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BleCapture:
    """A parsed capture: header fields, then per-notification receive times and payloads."""

    path: Path
    device_id: str
    subject_id: str
    placement: str
    config: DeviceConfig
    rx_s: npt.NDArray[np.float64]
    payloads: list[bytes]
    line_numbers: npt.NDArray[np.int64]
    bad_lines: list[QuarantineRow]


@dataclass(frozen=True)
class Gap:
    """Samples that are missing between two stored samples of one device."""

    t_from_us: int
    t_to_us: int
    missing_samples: int
    reason: str


@dataclass(frozen=True)
class DecodedCapture:
    """Samples of a capture with UTC times, the gaps found and the packets rejected."""

    t_utc_us: npt.NDArray[np.int64]
    device_tick: npt.NDArray[np.int64]
    batch: DecodedBatch
    gaps: list[Gap]
    rejected: list[QuarantineRow]


def sample_ticks(
    packet_tick: npt.NDArray[np.int64],
    sample_in_packet: npt.NDArray[np.int64],
    tick_hz: float,
    sample_rate_hz: float,
) -> npt.NDArray[np.int64]:
    """(N,) device tick of each sample, ``tick + i * tick_hz / fs`` rounded, modulo 2**32."""
    offset = np.round(sample_in_packet * (tick_hz / sample_rate_hz)).astype(np.int64)
    return np.mod(packet_tick + offset, TICK_MODULO)


def read_blelog(path: Path) -> BleCapture:
    """Parse a capture; a bad notification line is quarantined, a bad header rejects the file.

    Well-formed captures (every line one ``{"rx", "data"}`` object, no blank lines) are parsed in
    bulk by pyarrow's JSON reader and decoded from hex with numpy; any other file is read line by
    line so that each unreadable line is quarantined under its own line number.
    """
    raw = path.read_bytes()
    end = raw.find(b"\n")
    header = _parse_header(path, raw if end < 0 else raw[: end + 1])
    bulk = None if end < 0 or b"\r" in raw else _parse_body_bulk(raw, end + 1)
    if bulk is None:
        return _read_blelog_lines(path, header)
    rx, payloads = bulk
    return BleCapture(
        path=path,
        device_id=header.device_id,
        subject_id=header.subject_id,
        placement=header.placement,
        config=header.config,
        rx_s=rx,
        payloads=payloads,
        line_numbers=np.arange(2, rx.shape[0] + 2, dtype=np.int64),
        bad_lines=[],
    )


@dataclass(frozen=True)
class _Header:
    device_id: str
    subject_id: str
    placement: str
    config: DeviceConfig


def _parse_header(path: Path, first: bytes) -> _Header:
    try:
        header = json.loads(first.decode("utf-8"))
        device_id = str(header["device_id"])
        subject_id = str(header["subject_id"])
        placement = str(header["placement"])
        config = DeviceConfig.from_bytes(bytes.fromhex(header["config"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, PacketError) as e:
        raise FileFormatError(
            f"{path}: line 1 must be the capture header "
            f'{{"device_id", "subject_id", "placement", "config": <hex>}}: {e}'
        ) from e
    if placement not in PLACEMENTS:
        raise FileFormatError(
            f"{path}: line 1, field placement: expected one of {PLACEMENTS}, got {placement!r}"
        )
    return _Header(device_id, subject_id, placement, config)


_BULK_SCHEMA = pa.schema([("rx", pa.float64()), ("data", pa.string())])


def _parse_body_bulk(raw: bytes, body_start: int) -> tuple[npt.NDArray[np.float64], list[bytes]] | None:
    """Receive times and payloads of the notification lines after the header, or None when the
    file is not plain enough for the bulk path (then the line parser decides line by line)."""
    # Every line must start with "{" (a raw newline cannot occur inside a JSON string): no blank
    # lines, so row i is line i + 2, and a line holding two objects shows up as one row too many.
    buf = np.frombuffer(raw, dtype=np.uint8)
    line_starts = np.flatnonzero(buf[body_start - 1 : -1] == ord("\n")) + body_start
    n_lines = line_starts.shape[0]
    if not (buf[line_starts] == ord("{")).all():
        return None
    if n_lines == 0:
        return np.zeros(0, dtype=np.float64), []
    try:
        table = pajson.read_json(
            pa.py_buffer(memoryview(raw)[body_start:]),
            read_options=pajson.ReadOptions(block_size=1 << 24),
            parse_options=pajson.ParseOptions(
                explicit_schema=_BULK_SCHEMA, unexpected_field_behavior="ignore"
            ),
        )
    except pa.ArrowException:
        return None
    if table.num_rows != n_lines or table["rx"].null_count or table["data"].null_count:
        return None
    rx = table["rx"].to_numpy()
    if not np.isfinite(rx).all():
        return None
    payloads: list[bytes] = []
    for chunk in table["data"].chunks:
        decoded = _unhex_chunk(chunk)
        if decoded is None:
            return None
        payloads.extend(decoded)
    return rx, payloads


def _unhex_chunk(chunk: pa.StringArray) -> list[bytes] | None:
    """Payloads of a chunk of hex strings; None if any string is not plain even-length hex."""
    n = len(chunk)
    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset : chunk.offset + n + 1]
    if ((offsets[1:] - offsets[:-1]) % 2).any():
        return None
    chars = memoryview(chunk.buffers()[2])[int(offsets[0]) : int(offsets[-1])]
    try:
        # Every string has an even length, so hex pairs never straddle two strings.
        blob = binascii.unhexlify(chars)
    except binascii.Error:
        return None
    bounds = ((offsets - offsets[0]) // 2).tolist()
    return [blob[a:b] for a, b in itertools.pairwise(bounds)]


def _read_blelog_lines(path: Path, header: _Header) -> BleCapture:
    """The line-by-line parser: quarantines each unreadable notification line by its number."""
    source = str(path)
    rx: list[float] = []
    payloads: list[bytes] = []
    lines: list[int] = []
    bad: list[QuarantineRow] = []
    with path.open("r", encoding="utf-8") as fh:
        fh.readline()
        for line_no, line in enumerate(fh, start=2):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                t = float(obj["rx"])
                data = bytes.fromhex(obj["data"])
                if not np.isfinite(t):
                    raise ValueError("rx is not finite")
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                bad.append(
                    QuarantineRow(source, f"line {line_no}", f"unreadable notification line: {e}", line[:200])
                )
                continue
            rx.append(t)
            payloads.append(data)
            lines.append(line_no)
    return BleCapture(
        path=path,
        device_id=header.device_id,
        subject_id=header.subject_id,
        placement=header.placement,
        config=header.config,
        rx_s=np.asarray(rx, dtype=np.float64),
        payloads=payloads,
        line_numbers=np.asarray(lines, dtype=np.int64),
        bad_lines=bad,
    )


def decode_capture(
    source: str,
    rx_s: npt.NDArray[np.float64],
    payloads: list[bytes],
    config: DeviceConfig,
    locations: list[str] | None = None,
) -> DecodedCapture:
    """Decode notifications of one device session and give every sample a UTC time.

    ``locations`` names each notification for quarantine messages (default: "notification i").
    Gaps are found from the unwrapped packet sequence numbers within each boot segment and across
    reboots; packets received twice (resends) keep their first copy.
    """
    batch = decode_packets(payloads, config)
    rejected = [
        QuarantineRow(
            source,
            locations[i] if locations else f"notification {i}",
            f"packet rejected: {why}",
            payloads[i][:64].hex(),
        )
        for i, why in batch.rejected
    ]
    # Samples of a packet are consecutive rows, packets in notification order.
    first_row = packet_first_rows(batch.packet_index)
    good_pkts = batch.packet_index[first_row]
    if good_pkts.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return DecodedCapture(empty, empty, batch, [], rejected)
    n_per_pkt = np.diff(np.append(first_row, batch.n_samples))
    # Clock fit on well-formed packets only: a corrupted tick would bend the envelope.
    timing = map_packets(
        rx_s[good_pkts],
        batch.tick[first_row],
        batch.seq[first_row],
        config.tick_hz,
        n_samples=n_per_pkt,
        sample_rate_hz=config.sample_rate_hz,
        samples_crc=samples_crc32([payloads[i] for i in good_pkts.tolist()]),
    )
    pkt_of_row = np.repeat(np.arange(good_pkts.shape[0]), n_per_pkt)
    t_us = sample_times_us(timing, pkt_of_row, batch.sample_in_packet, config.sample_rate_hz)
    gaps = [
        Gap(*g)
        for g in find_gaps(
            timing.segment,
            timing.seq_unwrapped,
            np.minimum.reduceat(t_us, first_row),
            np.maximum.reduceat(t_us, first_row),
            batch.flags[first_row],
            config.sample_rate_hz,
            first_dev_s=timing.device_s,
            last_dev_s=timing.device_s + (n_per_pkt - 1) / config.sample_rate_hz,
        )
    ]
    ticks = sample_ticks(batch.tick, batch.sample_in_packet, config.tick_hz, config.sample_rate_hz)
    return DecodedCapture(t_us, ticks, batch, gaps, rejected)


def packet_first_rows(packet_index: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """(G,) first row of each packet in a decoded batch, whose rows are grouped by packet."""
    if packet_index.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.append(True, packet_index[1:] != packet_index[:-1]))


def find_gaps(
    segment: npt.NDArray[np.int64],
    seq_unwrapped: npt.NDArray[np.int64],
    first_us: npt.NDArray[np.int64],
    last_us: npt.NDArray[np.int64],
    flags: npt.NDArray[np.int64],
    sample_rate_hz: float,
    *,
    first_dev_s: npt.NDArray[np.float64] | None = None,
    last_dev_s: npt.NDArray[np.float64] | None = None,
) -> list[tuple[int, int, int, str]]:
    """Gaps ``(t_from_us, t_to_us, missing_samples, reason)`` between consecutive packets in
    (segment, seq) order whose samples do not meet; per packet (G,) arrays of its segment,
    unwrapped seq, first and last sample time and flags. Shared by replay and the live gateway.

    Within a boot segment the count comes from the device's own clock (``first_dev_s``,
    ``last_dev_s``: device time of each packet's first and last sample), which is exact; host
    time estimates can be a few ms off after a long silence. Across a reboot only host time exists.
    """
    if segment.shape[0] < 2:
        return []
    period_us = 1e6 / sample_rate_hz
    order = np.lexsort((seq_unwrapped, segment))
    a, b = order[:-1], order[1:]
    seg_a, seg_b = segment[a], segment[b]
    seq_a, seq_b = seq_unwrapped[a], seq_unwrapped[b]
    # np.rint rounds half to even, as Python's round did in the per-pair loop this replaces.
    missing = np.rint((first_us[b] - last_us[a]) / period_us).astype(np.int64) - 1
    if first_dev_s is not None and last_dev_s is not None:
        same = seg_a == seg_b
        by_device = np.rint((first_dev_s[b] - last_dev_s[a]) * sample_rate_hz).astype(np.int64) - 1
        missing = np.where(same, by_device, missing)
    apart = (seg_a != seg_b) | (seq_b - seq_a > 1)
    gaps: list[tuple[int, int, int, str]] = []
    for k in np.flatnonzero(apart & (missing > 0)).tolist():
        lo, hi = int(seq_a[k]) + 1, int(seq_b[k]) - 1
        if seg_a[k] != seg_b[k]:
            reason = "device reboot"
        elif flags[b[k]] & FLAG_DROPPED_BEFORE:
            reason = f"device dropped samples (seq {lo}..{hi} not sent)"
        else:
            reason = f"notifications lost or rejected (seq {lo}..{hi})"
        gaps.append((int(last_us[a[k]]), int(first_us[b[k]]), int(missing[k]), reason))
    return gaps

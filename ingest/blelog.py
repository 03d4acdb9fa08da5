"""Replay of `.blelog` BLE captures (SPEC contract 2) into the warehouse.

A capture is JSON Lines: a header ``{"device_id", "subject_id", "placement", "config"}`` then one
``{"rx", "data"}`` line per notification. Replay decodes every payload with the same codec and
clock mapping the live gateway uses, so it stores exactly what live streaming stored.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

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
    """Parse a capture; a bad notification line is quarantined, a bad header rejects the file."""
    source = str(path)
    rx: list[float] = []
    payloads: list[bytes] = []
    lines: list[int] = []
    bad: list[QuarantineRow] = []
    with path.open("r", encoding="utf-8") as fh:
        first = fh.readline()
        try:
            header = json.loads(first)
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
        device_id=device_id,
        subject_id=subject_id,
        placement=placement,
        config=config,
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
    good_pkts = np.unique(batch.packet_index)
    gaps: list[Gap] = []
    if good_pkts.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return DecodedCapture(empty, empty, batch, gaps, rejected)
    # Clock fit on well-formed packets only: a corrupted tick would bend the envelope.
    pkt_seq = np.zeros(len(payloads), dtype=np.int64)
    pkt_tick = np.zeros(len(payloads), dtype=np.int64)
    pkt_seq[batch.packet_index] = batch.seq
    pkt_tick[batch.packet_index] = batch.tick
    n_per_pkt = np.bincount(batch.packet_index, minlength=len(payloads))[good_pkts]
    timing = map_packets(
        rx_s[good_pkts],
        pkt_tick[good_pkts],
        pkt_seq[good_pkts],
        config.tick_hz,
        n_samples=n_per_pkt,
        sample_rate_hz=config.sample_rate_hz,
        samples_crc=samples_crc32([payloads[i] for i in good_pkts]),
    )
    pos = np.full(len(payloads), -1, dtype=np.int64)
    pos[good_pkts] = np.arange(good_pkts.shape[0])
    t_us = sample_times_us(timing, pos[batch.packet_index], batch.sample_in_packet, config.sample_rate_hz)
    gaps = _find_gaps(timing.segment, timing.seq_unwrapped, good_pkts, batch, t_us, config)
    ticks = sample_ticks(batch.tick, batch.sample_in_packet, config.tick_hz, config.sample_rate_hz)
    return DecodedCapture(t_us, ticks, batch, gaps, rejected)


def _find_gaps(
    segment: npt.NDArray[np.int64],
    seq_unwrapped: npt.NDArray[np.int64],
    good_pkts: npt.NDArray[np.int64],
    batch: DecodedBatch,
    t_us: npt.NDArray[np.int64],
    config: DeviceConfig,
) -> list[Gap]:
    """Gaps between consecutive packets (in sequence order) whose samples are not contiguous."""
    period_us = 1e6 / config.sample_rate_hz
    # first and last sample time of each good packet
    pos = np.searchsorted(good_pkts, batch.packet_index)
    first_t = np.full(good_pkts.shape[0], np.iinfo(np.int64).max)
    last_t = np.full(good_pkts.shape[0], np.iinfo(np.int64).min)
    np.minimum.at(first_t, pos, t_us)
    np.maximum.at(last_t, pos, t_us)
    flags = np.zeros(good_pkts.shape[0], dtype=np.int64)
    flags[pos] = batch.flags
    order = np.lexsort((seq_unwrapped, segment))
    seg_o, seq_o = segment[order], seq_unwrapped[order]
    gaps: list[Gap] = []
    for k in range(1, order.shape[0]):
        a, b = order[k - 1], order[k]
        if seg_o[k] == seg_o[k - 1] and seq_o[k] - seq_o[k - 1] <= 1:
            continue
        missing = round((first_t[b] - last_t[a]) / period_us) - 1
        if missing <= 0:
            continue
        if seg_o[k] != seg_o[k - 1]:
            reason = "device reboot"
        elif flags[b] & FLAG_DROPPED_BEFORE:
            reason = f"device dropped samples (seq {seq_o[k - 1] + 1}..{seq_o[k] - 1} not sent)"
        else:
            reason = f"notifications lost or rejected (seq {seq_o[k - 1] + 1}..{seq_o[k] - 1})"
        gaps.append(Gap(int(last_t[a]), int(first_t[b]), int(missing), reason))
    return gaps

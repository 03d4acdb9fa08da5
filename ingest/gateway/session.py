"""Incremental decoding of one device session: the gateway-side twin of ``decode_capture``.

A device session is what one gateway run received from one device, in receive order — exactly
what its ``.blelog`` capture holds. :class:`SessionDecoder` decodes it chunk by chunk with the
packet codec and the prefix-stable :class:`~ingest.clock.ClockTracker` (one compiled kernel call
per chunk), doing per packet exactly what :func:`ingest.blelog.decode_capture` does for the whole
capture, so a live merge and a replay store bit-identical ``(device_id, t_utc)`` rows. It also
keeps a small per-packet table (segment, unwrapped seq, first/last sample time, flags) for finding
gaps once they are settled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ingest.blelog import find_gaps, packet_first_rows, sample_ticks
from ingest.clock import ClockTracker, FinalMaps, samples_crc32
from ingest.packets import DeviceConfig, decode_packets
from ingest.store import QuarantineRow


@dataclass(frozen=True)
class DecodedChunk:
    """Samples of a chunk of notifications with UTC times (us), and what was rejected."""

    t_utc_us: npt.NDArray[np.int64]
    acc_g: npt.NDArray[np.float64]
    gyro_dps: npt.NDArray[np.float64]
    mag_ut: npt.NDArray[np.float64]
    device_tick: npt.NDArray[np.int64]
    rejected: list[QuarantineRow]
    n_notifications: int
    duplicates: int


@dataclass(frozen=True)
class StreamGap:
    """Samples really lost between two received packets of one device."""

    t_from_us: int
    t_to_us: int
    missing_samples: int
    reason: str


@dataclass
class _PacketTable:
    """Per-packet facts of the final, non-duplicate packets, as arrays appended chunk by chunk."""

    segment: list[npt.NDArray[np.int64]] = field(default_factory=list)
    seq_u: list[npt.NDArray[np.int64]] = field(default_factory=list)
    first_us: list[npt.NDArray[np.int64]] = field(default_factory=list)
    last_us: list[npt.NDArray[np.int64]] = field(default_factory=list)
    flags: list[npt.NDArray[np.int64]] = field(default_factory=list)
    first_dev_s: list[npt.NDArray[np.float64]] = field(default_factory=list)
    last_dev_s: list[npt.NDArray[np.float64]] = field(default_factory=list)

    def column(self, name: str) -> npt.NDArray[np.int64]:
        parts: list[npt.NDArray[np.int64]] = getattr(self, name)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def float_column(self, name: str) -> npt.NDArray[np.float64]:
        parts: list[npt.NDArray[np.float64]] = getattr(self, name)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)


@dataclass(frozen=True)
class _Pending:
    """Packets pushed to the clock tracker whose mapping is not final yet, in push order:
    per packet ``sizes``/``tick``/``flags`` (P,), per sample the decoded rows (N,) / (N, 3)."""

    sizes: npt.NDArray[np.int64]
    tick: npt.NDArray[np.int64]
    flags: npt.NDArray[np.int64]
    sample_in_packet: npt.NDArray[np.int64]
    acc_g: npt.NDArray[np.float64]
    gyro_dps: npt.NDArray[np.float64]
    mag_ut: npt.NDArray[np.float64]

    @classmethod
    def empty(cls) -> _Pending:
        none = np.zeros(0, dtype=np.int64)
        rows = np.zeros((0, 3))
        return cls(none, none, none, none, rows, rows, rows)

    def append(self, other: _Pending) -> _Pending:
        return _Pending(*(np.concatenate([a, b]) for a, b in zip(self.fields(), other.fields(), strict=True)))

    def split(self, n_packets: int) -> tuple[_Pending, _Pending]:
        """(the first ``n_packets`` packets, the rest)."""
        n_rows = int(self.sizes[:n_packets].sum())
        per_packet = self.fields()[:3]
        per_sample = self.fields()[3:]
        return (
            _Pending(*(a[:n_packets] for a in per_packet), *(a[:n_rows] for a in per_sample)),
            _Pending(*(a[n_packets:] for a in per_packet), *(a[n_rows:] for a in per_sample)),
        )

    def fields(self) -> tuple[npt.NDArray[Any], ...]:
        return (
            self.sizes,
            self.tick,
            self.flags,
            self.sample_in_packet,
            self.acc_g,
            self.gyro_dps,
            self.mag_ut,
        )


class SessionDecoder:
    """Feed notifications of one session in receive order; get samples with UTC times."""

    def __init__(self, source: str, config: DeviceConfig) -> None:
        self.source = source
        self.config = config
        self.tracker = ClockTracker(config.tick_hz, config.sample_rate_hz)
        self.notifications = 0
        self.packets = _PacketTable()
        self._pending = _Pending.empty()

    def feed(self, rx_s: npt.NDArray[np.float64], payloads: list[bytes]) -> DecodedChunk:
        """Decode ``payloads`` (received at ``rx_s``, epoch seconds) following all earlier ones.

        Returns the samples whose timestamps became final; the last seconds stay pending until
        later notifications (or :meth:`close`) settle their clock estimate.
        """
        cfg = self.config
        base = self.notifications
        self.notifications += len(payloads)
        batch = decode_packets(payloads, cfg)
        rejected = [
            QuarantineRow(
                self.source, f"notification {base + i}", f"packet rejected: {why}", payloads[i][:64].hex()
            )
            for i, why in batch.rejected
        ]
        # Samples of a packet are consecutive rows of the batch, packets in notification order.
        first_row = packet_first_rows(batch.packet_index)
        good = batch.packet_index[first_row]
        sizes = np.diff(np.append(first_row, batch.n_samples))
        tick = batch.tick[first_row]
        self._pending = self._pending.append(
            _Pending(
                sizes,
                tick,
                batch.flags[first_row],
                batch.sample_in_packet,
                batch.acc_g,
                batch.gyro_dps,
                batch.mag_ut,
            )
        )
        finals = self.tracker.push(
            np.asarray(rx_s, dtype=np.float64)[good],
            tick,
            batch.seq[first_row],
            sizes,
            samples_crc32([payloads[i] for i in good.tolist()]),
        )
        return self._emit(finals, rejected, len(payloads))

    def close(self) -> DecodedChunk:
        """The end of the session: every pending packet becomes final."""
        return self._emit(self.tracker.flush(), [], 0)

    def _emit(self, finals: FinalMaps, rejected: list[QuarantineRow], n_notif: int) -> DecodedChunk:
        cfg = self.config
        done, self._pending = self._pending.split(len(finals))
        keep = ~finals.duplicate
        dups = len(finals) - int(keep.sum())
        if not keep.any():
            empty = np.zeros((0, 3))
            none = np.zeros(0, dtype=np.int64)
            return DecodedChunk(none, empty, empty, empty, none, rejected, n_notif, dups)
        sizes = done.sizes[keep]
        rows = np.repeat(keep, done.sizes)
        device_s = np.repeat(finals.device_s[keep], sizes)
        drift = np.repeat(finals.drift[keep], sizes)
        offset = np.repeat(finals.offset_s[keep], sizes)
        sip = done.sample_in_packet[rows]
        # Same float operations, in the same order, as ingest.clock.sample_times_us.
        dev = device_s + sip / cfg.sample_rate_hz
        utc_s = dev * (1.0 + drift) + offset
        t_us = np.round(utc_s * 1e6).astype(np.int64)
        ends = np.cumsum(sizes)
        tab = self.packets
        tab.segment.append(finals.segment[keep])
        tab.seq_u.append(finals.seq_unwrapped[keep])
        tab.first_us.append(t_us[ends - sizes])
        tab.last_us.append(t_us[ends - 1])
        tab.flags.append(done.flags[keep])
        tab.first_dev_s.append(dev[ends - sizes])
        tab.last_dev_s.append(dev[ends - 1])
        return DecodedChunk(
            t_us,
            done.acc_g[rows],
            done.gyro_dps[rows],
            done.mag_ut[rows],
            sample_ticks(np.repeat(done.tick[keep], sizes), sip, cfg.tick_hz, cfg.sample_rate_hz),
            rejected,
            n_notif,
            dups,
        )

    def gaps(self) -> list[StreamGap]:
        """Gaps between consecutive packets in (segment, seq) order whose samples do not meet.

        Same rule and reasons as the capture replay: a reboot, a device that flagged skipped
        samples (its buffer no longer held them), or notifications lost or rejected on the way.
        """
        tab = self.packets
        return [
            StreamGap(*g)
            for g in find_gaps(
                tab.column("segment"),
                tab.column("seq_u"),
                tab.column("first_us"),
                tab.column("last_us"),
                tab.column("flags"),
                self.config.sample_rate_hz,
                first_dev_s=tab.float_column("first_dev_s"),
                last_dev_s=tab.float_column("last_dev_s"),
            )
        ]

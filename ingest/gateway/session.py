"""Incremental decoding of one device session: the gateway-side twin of ``decode_capture``.

A device session is what one gateway run received from one device, in receive order — exactly
what its ``.blelog`` capture holds. :class:`SessionDecoder` decodes it chunk by chunk with the
packet codec and the prefix-stable :class:`~ingest.clock.ClockTracker`, doing per packet exactly
what :func:`ingest.blelog.decode_capture` does for the whole capture, so a live merge and a replay
store bit-identical ``(device_id, t_utc)`` rows. It also keeps a small per-packet table
(segment, unwrapped seq, first/last sample time, flags) for finding gaps once they are settled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ingest.blelog import sample_ticks
from ingest.clock import ClockTracker, PacketMap, samples_crc32
from ingest.packets import FLAG_DROPPED_BEFORE, DeviceConfig, decode_packets
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


@dataclass(frozen=True)
class _Rows:
    tick: int
    sample_in_packet: npt.NDArray[np.int64]
    acc_g: npt.NDArray[np.float64]
    gyro_dps: npt.NDArray[np.float64]
    mag_ut: npt.NDArray[np.float64]
    flags: int


@dataclass
class _PacketTable:
    segment: list[int] = field(default_factory=list)
    seq_u: list[int] = field(default_factory=list)
    first_us: list[int] = field(default_factory=list)
    last_us: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)


class SessionDecoder:
    """Feed notifications of one session in receive order; get samples with UTC times."""

    def __init__(self, source: str, config: DeviceConfig) -> None:
        self.source = source
        self.config = config
        self.tracker = ClockTracker(config.tick_hz, config.sample_rate_hz)
        self.notifications = 0
        self.packets = _PacketTable()
        self._pushed = 0
        self._rows: dict[int, _Rows] = {}

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
        good = np.unique(batch.packet_index)
        n_per = np.bincount(batch.packet_index, minlength=len(payloads))
        starts = np.searchsorted(batch.packet_index, good)
        ends = np.searchsorted(batch.packet_index, good, side="right")
        crc = samples_crc32([payloads[i] for i in good.tolist()])
        finals: list[tuple[int, PacketMap]] = []
        for j, (i, r0, r1) in enumerate(zip(good.tolist(), starts.tolist(), ends.tolist(), strict=True)):
            no = self._pushed
            self._pushed += 1
            self._rows[no] = _Rows(
                int(batch.tick[r0]),
                batch.sample_in_packet[r0:r1],
                batch.acc_g[r0:r1],
                batch.gyro_dps[r0:r1],
                batch.mag_ut[r0:r1],
                int(batch.flags[r0]),
            )
            finals.extend(
                self.tracker.push(
                    float(rx_s[i]), int(batch.tick[r0]), int(batch.seq[r0]), int(n_per[i]), int(crc[j])
                )
            )
        return self._emit(finals, rejected, len(payloads))

    def close(self) -> DecodedChunk:
        """The end of the session: every pending packet becomes final."""
        return self._emit(self.tracker.flush(), [], 0)

    def _emit(
        self, finals: list[tuple[int, PacketMap]], rejected: list[QuarantineRow], n_notif: int
    ) -> DecodedChunk:
        cfg = self.config
        keep = [(no, m) for no, m in finals if not m.duplicate]
        dups = len(finals) - len(keep)
        rows = [self._rows.pop(no) for no, _ in finals]
        rows = [r for r, (_no, m) in zip(rows, finals, strict=True) if not m.duplicate]
        if not keep:
            empty = np.zeros((0, 3))
            none = np.zeros(0, dtype=np.int64)
            return DecodedChunk(none, empty, empty, empty, none, rejected, n_notif, dups)
        sizes = np.fromiter((r.sample_in_packet.shape[0] for r in rows), dtype=np.int64, count=len(rows))
        device_s = np.repeat(np.array([m.device_s for _, m in keep]), sizes)
        drift = np.repeat(np.array([m.drift for _, m in keep]), sizes)
        offset = np.repeat(np.array([m.offset_s for _, m in keep]), sizes)
        sip = np.concatenate([r.sample_in_packet for r in rows])
        # Same float operations, in the same order, as ingest.clock.sample_times_us.
        dev = device_s + sip / cfg.sample_rate_hz
        utc_s = dev * (1.0 + drift) + offset
        t_us = np.round(utc_s * 1e6).astype(np.int64)
        tab = self.packets
        ends = np.cumsum(sizes)
        for k, (_no, m) in enumerate(keep):
            tab.segment.append(m.segment)
            tab.seq_u.append(m.seq_unwrapped)
            tab.first_us.append(int(t_us[ends[k] - sizes[k]]))
            tab.last_us.append(int(t_us[ends[k] - 1]))
            tab.flags.append(rows[k].flags)
        return DecodedChunk(
            t_us,
            np.concatenate([r.acc_g for r in rows]),
            np.concatenate([r.gyro_dps for r in rows]),
            np.concatenate([r.mag_ut for r in rows]),
            sample_ticks(
                np.repeat(np.array([r.tick for r in rows], dtype=np.int64), sizes),
                sip,
                cfg.tick_hz,
                cfg.sample_rate_hz,
            ),
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
        if len(tab.seq_u) < 2:
            return []
        seg = np.asarray(tab.segment)
        seq = np.asarray(tab.seq_u)
        first = np.asarray(tab.first_us)
        last = np.asarray(tab.last_us)
        flags = np.asarray(tab.flags)
        order = np.lexsort((seq, seg))
        period_us = 1e6 / self.config.sample_rate_hz
        out: list[StreamGap] = []
        for k in range(1, order.shape[0]):
            a, b = order[k - 1], order[k]
            if seg[b] == seg[a] and seq[b] - seq[a] <= 1:
                continue
            missing = round((first[b] - last[a]) / period_us) - 1
            if missing <= 0:
                continue
            if seg[b] != seg[a]:
                reason = "device reboot"
            elif flags[b] & FLAG_DROPPED_BEFORE:
                reason = f"device dropped samples (seq {seq[a] + 1}..{seq[b] - 1} not sent)"
            else:
                reason = f"notifications lost or rejected (seq {seq[a] + 1}..{seq[b] - 1})"
            out.append(StreamGap(int(last[a]), int(first[b]), int(missing), reason))
        return out

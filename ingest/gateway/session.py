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

from ingest.clock import ClockTracker, samples_crc32
from ingest.packets import FLAG_DROPPED_BEFORE, DeviceConfig, decode_packets
from ingest.store import QuarantineRow


@dataclass(frozen=True)
class DecodedChunk:
    """Samples of a chunk of notifications with UTC times (us), and what was rejected."""

    t_utc_us: npt.NDArray[np.int64]
    acc_g: npt.NDArray[np.float64]
    gyro_dps: npt.NDArray[np.float64]
    mag_ut: npt.NDArray[np.float64]
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

    def feed(self, rx_s: npt.NDArray[np.float64], payloads: list[bytes]) -> DecodedChunk:
        """Decode ``payloads`` (received at ``rx_s``, epoch seconds) following all earlier ones."""
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
        first_row = np.searchsorted(batch.packet_index, good)
        crc = samples_crc32([payloads[i] for i in good.tolist()])
        p = good.shape[0]
        device_s = np.zeros(p)
        offset = np.zeros(p)
        drift = np.zeros(p)
        dup = np.zeros(p, dtype=bool)
        tracker = self.tracker
        seg_l: list[int] = []
        seq_l: list[int] = []
        for j, (i, r0) in enumerate(zip(good.tolist(), first_row.tolist(), strict=True)):
            m = tracker.map(
                float(rx_s[i]), int(batch.tick[r0]), int(batch.seq[r0]), int(n_per[i]), int(crc[j])
            )
            device_s[j], offset[j], drift[j], dup[j] = m.device_s, m.offset_s, m.drift, m.duplicate
            seg_l.append(m.segment)
            seq_l.append(m.seq_unwrapped)
        pos = np.searchsorted(good, batch.packet_index)
        # Same float operations, in the same order, as ingest.clock.sample_times_us.
        dev = device_s[pos] + batch.sample_in_packet / cfg.sample_rate_hz
        utc_s = dev * (1.0 + drift[pos]) + offset[pos]
        t_us = np.round(utc_s * 1e6).astype(np.int64)
        keep = ~dup[pos]
        if p:
            first_us = np.full(p, np.iinfo(np.int64).max)
            last_us = np.full(p, np.iinfo(np.int64).min)
            np.minimum.at(first_us, pos, t_us)
            np.maximum.at(last_us, pos, t_us)
            flags = np.zeros(p, dtype=np.int64)
            flags[pos] = batch.flags
            tab = self.packets
            for j in np.flatnonzero(~dup).tolist():
                tab.segment.append(seg_l[j])
                tab.seq_u.append(seq_l[j])
                tab.first_us.append(int(first_us[j]))
                tab.last_us.append(int(last_us[j]))
                tab.flags.append(int(flags[j]))
        return DecodedChunk(
            t_us[keep],
            batch.acc_g[keep],
            batch.gyro_dps[keep],
            batch.mag_ut[keep],
            rejected,
            len(payloads),
            int(dup.sum()),
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

"""The first, pure-Python ClockTracker: the reference the compiled tracker must match bit for bit.

Kept in the tests as the simple statement of the mapping rules (see ``ingest/clock.py`` for what
they mean); ``ingest.clock`` runs the same arithmetic in one numba kernel per chunk. Python's
``sum`` is replaced by an explicit left-to-right loop, which is what the kernel does and what
``sum`` did before Python 3.12 started compensating float sums. The first version also pruned
its table of final mappings to the last 8192 packets, so a resend of an older packet raised
KeyError; the reference keeps them all (the kernel keeps them with the resend look-up entries).
"""

from __future__ import annotations

import collections
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ingest.clock import (
    ENVELOPE_WINDOW_S,
    FIT_WINDOWS,
    LOOKAHEAD_S,
    MAX_EARLY_S,
    MAX_LATE_S,
    MIN_FIT_WINDOWS,
    SEEN_KEEP_S,
    PacketTiming,
)
from ingest.packets import SEQ_MODULO, TICK_MODULO


def _sequential_sum(xs: list[float]) -> float:
    total = 0.0
    for x in xs:
        total += x
    return total


@dataclass(frozen=True)
class PacketMap:
    """The mapping of one packet: ``utc_s = device_s * (1 + drift) + offset_s``."""

    segment: int
    device_s: float
    seq_unwrapped: int
    offset_s: float
    drift: float
    duplicate: bool


@dataclass
class _Segment:
    index: int
    last_u_ticks: int
    last_seq_u: int
    bins: dict[int, tuple[float, float]] = field(default_factory=dict)  # bin -> (d_min, u_s)
    max_bin: int = -(1 << 62)
    line: tuple[float, float] | None = None  # (a, b): d = a + b * u
    running_min_d: float = math.inf
    seen: dict[int, tuple[int, float, int, int]] = field(default_factory=dict)
    since_prune: int = 0

    def reference_d(self, u_s: float) -> float:
        if self.line is not None:
            return self.line[0] + self.line[1] * u_s
        return self.running_min_d


@dataclass
class _Pending:
    no: int
    rx_s: float
    segment: int
    device_s: float
    seq_u: int
    drift: float
    d_est: float
    u_last_s: float
    dup_of: int


class ClockTracker:
    """Sequential, deterministic tick -> UTC mapping of one device's packets in receive order.

    Feed every well-formed packet with :meth:`map`; the result never changes once returned,
    whatever arrives later. Hold one tracker per device session (one gateway run or one capture).
    """

    def __init__(self, tick_hz: float, sample_rate_hz: float | None = None) -> None:
        self.tick_hz = float(tick_hz)
        self.sample_rate_hz = sample_rate_hz
        self._seg: _Segment | None = None
        self._n_segments = 0
        self._next_no = 0
        self._pending: collections.deque[_Pending] = collections.deque()
        self._window: collections.deque[tuple[int, float]] = collections.deque()
        self._final: dict[int, tuple[float, float]] = {}

    @property
    def segments(self) -> int:
        return self._n_segments

    def push(
        self, rx_s: float, tick: int, seq: int, n_samples: int = 1, samples_crc: int = 0
    ) -> list[tuple[int, PacketMap]]:
        """Add the next packet (numbered from 0 in push order); returns the packets whose mapping
        became final, as ``(packet_number, map)`` in push order.

        ``n_samples`` places the envelope on the last sample (needs ``sample_rate_hz``);
        ``samples_crc`` (CRC-32 of the sample bytes) tells a resend from a rebooted device that
        reuses the same device time. A packet is final once a packet received ``LOOKAHEAD_S``
        later arrived (or at :meth:`flush`): the first packets of a boot then get the quickest
        packet of their first seconds, not their own latency.
        """
        no = self._next_no
        self._next_no += 1
        out: list[tuple[int, PacketMap]] = []
        last_off_s = (n_samples - 1) / self.sample_rate_hz if self.sample_rate_hz else 0.0
        seg = self._seg
        u_ticks = tick
        if seg is not None:
            cont = self._unwrap(seg, rx_s, tick, last_off_s)
            if cont is not None:
                prior = seg.seen.get(cont)
                if prior is not None and prior[3] != samples_crc:
                    cont = None  # same device time, other samples: the clock restarted
            if cont is None:
                seg = None
                out.extend(self.flush())  # the old boot's packets are final now
            else:
                u_ticks = cont
        if seg is None:
            seg = _Segment(self._n_segments, tick, seq)
            self._n_segments += 1
            self._seg = seg
        while self._pending and rx_s > self._pending[0].rx_s + LOOKAHEAD_S:
            out.append(self._finalize())
        seq_u = seg.last_seq_u + _signed(seq - seg.last_seq_u, SEQ_MODULO)
        u_first_s = u_ticks / self.tick_hz
        prior = seg.seen.get(u_ticks)
        if prior is not None:
            self._pending.append(_Pending(no, rx_s, seg.index, u_first_s, prior[2], 0.0, 0.0, 0.0, prior[0]))
            return out
        if u_ticks > seg.last_u_ticks:
            seg.last_u_ticks = u_ticks
            seg.last_seq_u = seq_u
        u_last_s = u_first_s + last_off_s
        d = rx_s - u_last_s
        self._update_envelope(seg, u_last_s, d)
        if seg.line is not None:
            a, b = seg.line
            d_est = min(a + b * u_last_s, d)
        else:
            b = 0.0
            d_est = seg.running_min_d
        seg.seen[u_ticks] = (no, b, seq_u, samples_crc)
        self._pending.append(_Pending(no, rx_s, seg.index, u_first_s, seq_u, b, d_est, u_last_s, -1))
        window = self._window
        while window and window[-1][1] >= d:
            window.pop()
        window.append((no, d))
        seg.since_prune += 1
        if seg.since_prune >= 2048:
            self._prune(seg)
        return out

    def flush(self) -> list[tuple[int, PacketMap]]:
        """Finalize every pending packet (end of a session, a capture, or a boot segment)."""
        out = [self._finalize() for _ in range(len(self._pending))]
        self._window.clear()
        return out

    def _finalize(self) -> tuple[int, PacketMap]:
        p = self._pending.popleft()
        if p.dup_of >= 0:
            offset, drift = self._final[p.dup_of]
            return p.no, PacketMap(p.segment, p.device_s, p.seq_u, offset, drift, True)
        window = self._window
        while window and window[0][0] < p.no:
            window.popleft()
        d_win = window[0][1] if window else math.inf
        d_est = min(p.d_est, d_win)
        offset = d_est - p.drift * p.u_last_s
        self._final[p.no] = (offset, p.drift)
        return p.no, PacketMap(p.segment, p.device_s, p.seq_u, offset, p.drift, False)

    def _unwrap(self, seg: _Segment, rx_s: float, tick: int, last_off_s: float) -> int | None:
        """Unwrapped ticks continuing ``seg``'s clock, or None if this packet cannot belong to it."""
        base = seg.last_u_ticks + _signed(tick - seg.last_u_ticks, TICK_MODULO)
        d_ref = seg.reference_d(base / self.tick_hz + last_off_s)
        # Long silences with a fast tick can span whole wraps: pick the wrap count that lands
        # nearest the envelope.
        k = round(((rx_s - last_off_s - d_ref) * self.tick_hz - base) / TICK_MODULO)
        u_ticks = base + max(k, 0) * TICK_MODULO if base + k * TICK_MODULO >= 0 else base
        late_s = rx_s - (u_ticks / self.tick_hz + last_off_s) - d_ref
        if math.isinf(d_ref):
            return u_ticks
        if -MAX_EARLY_S <= late_s <= MAX_LATE_S:
            return u_ticks
        return None

    @staticmethod
    def _update_envelope(seg: _Segment, u_s: float, d: float) -> None:
        seg.running_min_d = min(seg.running_min_d, d)
        b_idx = math.floor(u_s / ENVELOPE_WINDOW_S)
        cur = seg.bins.get(b_idx)
        if cur is None or d < cur[0]:
            seg.bins[b_idx] = (d, u_s)
        if b_idx > seg.max_bin:
            seg.max_bin = b_idx
            pts = [seg.bins[i] for i in range(b_idx - FIT_WINDOWS, b_idx) if i in seg.bins]
            if len(pts) >= MIN_FIT_WINDOWS:
                seg.line = _lower_bound_line([p[1] for p in pts], [p[0] for p in pts])
            for old in [i for i in seg.bins if i < b_idx - FIT_WINDOWS]:
                del seg.bins[old]

    def _prune(self, seg: _Segment) -> None:
        seg.since_prune = 0
        horizon = seg.last_u_ticks - int(SEEN_KEEP_S * self.tick_hz)
        seg.seen = {u: v for u, v in seg.seen.items() if u >= horizon}


def _signed(delta: int, modulo: int) -> int:
    delta %= modulo
    return delta - modulo if delta >= modulo // 2 else delta


def _lower_bound_line(u_s: list[float], d_s: list[float]) -> tuple[float, float]:
    """Line ``d = a + b u`` below every point that minimises the summed gap (an LP whose optimum
    is the lower-hull edge under the mean of ``u``). Points are sorted by ``u``."""
    pts = sorted(zip(u_s, d_s, strict=True))
    hull: list[tuple[float, float]] = []
    for p in pts:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) <= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    if len(hull) == 1:
        return hull[0][1], 0.0
    u_mean = _sequential_sum(u_s) / len(u_s)
    for (x1, y1), (x2, y2) in itertools.pairwise(hull):
        if x2 >= u_mean or (x2, y2) == hull[-1]:
            b = (y2 - y1) / (x2 - x1)
            return y1 - b * x1, b
    raise AssertionError("unreachable: the loop returns at the last hull edge")


def reference_map_packets(
    rx_s: npt.NDArray[np.float64],
    tick: npt.NDArray[np.int64],
    seq: npt.NDArray[np.int64],
    tick_hz: float,
    *,
    n_samples: npt.NDArray[np.int64] | None = None,
    sample_rate_hz: float | None = None,
    samples_crc: npt.NDArray[np.int64] | None = None,
) -> PacketTiming:
    """Map packets given in receive order (see module docstring); all arrays are (P,).

    Without ``n_samples``/``sample_rate_hz`` the envelope sits on each packet's first sample;
    :func:`sample_times_us` then redoes the mapping on the last samples, which it can infer.
    """
    rx = np.asarray(rx_s, dtype=np.float64)
    tk = np.asarray(tick, dtype=np.int64)
    sq = np.asarray(seq, dtype=np.int64)
    p = tk.shape[0]
    known = n_samples is not None and sample_rate_hz is not None
    nn = np.asarray(n_samples, dtype=np.int64) if n_samples is not None else np.ones(p, dtype=np.int64)
    crc = np.asarray(samples_crc, dtype=np.int64) if samples_crc is not None else np.zeros(p, dtype=np.int64)
    tracker = ClockTracker(tick_hz, sample_rate_hz if known else None)
    segment = np.zeros(p, dtype=np.int64)
    device_s = np.zeros(p, dtype=np.float64)
    seq_u = np.zeros(p, dtype=np.int64)
    offset = np.zeros(p, dtype=np.float64)
    drift = np.zeros(p, dtype=np.float64)
    finals: list[tuple[int, PacketMap]] = []
    for r, t, s, n, c in zip(rx.tolist(), tk.tolist(), sq.tolist(), nn.tolist(), crc.tolist(), strict=True):
        finals.extend(tracker.push(r, t, s, n, c))
    finals.extend(tracker.flush())
    for i, m in finals:
        segment[i], device_s[i], seq_u[i], offset[i], drift[i] = (
            m.segment,
            m.device_s,
            m.seq_unwrapped,
            m.offset_s,
            m.drift,
        )
    return PacketTiming(segment, device_s, seq_u, offset, drift, rx, tk, sq, float(tick_hz), known)

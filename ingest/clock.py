"""Mapping device ticks to UTC for BLE packets (SPEC contract 1).

The device clock drifts (tens of ppm) and restarts at 0 on reboot; the host receives each packet
late by a variable latency (waiting for a connection event, retransmissions, interference). One
packet says little, but the *lower envelope* of ``d = receive time - device time of the packet's
last sample`` is the clock offset plus the smallest latency, and it moves only with drift.

The mapping is **prefix-stable**: a packet's timestamps depend only on the packets received
before it (and itself), processed one by one in receive order by :class:`ClockTracker`. A live
gateway that maps a stream chunk by chunk, a merge that resumes after ``kill -9``, and a replay of
the session's ``.blelog`` capture therefore give bit-identical timestamps, which is what makes
``(device_id, t_utc)`` a key that deduplicates. A whole-capture fit would move earlier samples as
later data arrives, and the same sample would be stored twice with slightly different times.

Per boot segment the tracker keeps the minimum ``d`` in windows of ``ENVELOPE_WINDOW_S`` of device
time. Each time a new window opens it fits the line ``d = a + b * u`` under the last
``FIT_WINDOWS`` minima as the linear-programming lower bound (the edge of their lower convex hull
under their mean device time): late windows — during a link drop only late resends arrive — lie
above the hull and cannot pull the line up. Until three windows exist it uses the running
minimum. A packet's own ``d`` caps its estimate: a sample is never received before it was taken.

Reboots: a tick that does not continue the segment's clock within ``MAX_LATE_S`` of the envelope,
or a packet claiming an already-seen device time with different samples, starts a new segment.
A resend (same device time, same samples) gets exactly the timestamps of its first copy.

The per-packet work runs in one compiled (numba) kernel per batch of packets, with the tracker's
state in numpy arrays that carry over from batch to batch: feeding a session in chunks of any
size gives bit-identical results to one call on the whole session. The rules above are stated
once more, as plain Python, in ``tests/ingest/clock_reference.py``; a property test holds the
kernel to that reference bit for bit.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from ingest.packets import SEQ_MODULO, TICK_MODULO

ENVELOPE_WINDOW_S = 10.0
FIT_WINDOWS = 60  # 10 minutes of minima: drift wander is negligible over that span
MIN_FIT_WINDOWS = 3
# Latency bounds for "this packet continues the current clock": resends from the device's ring
# buffer (>= 60 s) arrive late but never earlier than the envelope (minus jitter of the estimate).
MAX_LATE_S = 300.0
MAX_EARLY_S = 1.0
# Resend look-ups need the last minutes only; older entries are pruned.
SEEN_KEEP_S = 1200.0
# Packets of a segment between two prunes of the resend look-up.
PRUNE_EVERY = 2048
# A packet's mapping waits for the packets received in the next seconds: at a boot the quickest
# of them bounds the offset far better than the first packet's own latency.
LOOKAHEAD_S = 2.0
# Kept for callers of the first version: a forward tick jump this much larger than the host saw
# elapse can only be a restarted clock.
REBOOT_SLACK_S = 10.0


@dataclass(frozen=True)
class PacketTiming:
    """Per-packet results of :func:`map_packets`, in the order packets were given.

    ``segment`` numbers boot segments from 0; ``device_s`` is unwrapped device time of the packet's
    first sample in seconds since the segment's tick 0; ``offset_s``/``drift`` give the mapping
    ``utc_s = device_s * (1 + drift) + offset_s`` valid for that packet's samples;
    ``seq_unwrapped`` continues the 16-bit sequence within a segment. ``last_sample_known`` says
    whether the envelope used each packet's last sample (packet sizes were given).
    """

    segment: npt.NDArray[np.int64]
    device_s: npt.NDArray[np.float64]
    seq_unwrapped: npt.NDArray[np.int64]
    offset_s: npt.NDArray[np.float64]
    drift: npt.NDArray[np.float64]
    rx_s: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    tick: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    seq: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    tick_hz: float = 0.0
    last_sample_known: bool = False


@dataclass(frozen=True)
class FinalMaps:
    """Packets whose mapping became final, all arrays (F,), in push order.

    Packets are numbered from 0 in push order over the tracker's life; the packets of one result
    are always the consecutive numbers ``first_no .. first_no + F - 1``. ``duplicate`` marks a
    resend, which carries its first copy's ``seq_unwrapped``, ``offset_s`` and ``drift``.
    """

    first_no: int
    segment: npt.NDArray[np.int64]
    device_s: npt.NDArray[np.float64]
    seq_unwrapped: npt.NDArray[np.int64]
    offset_s: npt.NDArray[np.float64]
    drift: npt.NDArray[np.float64]
    duplicate: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.segment.shape[0])


# --- tracker state, held in numpy arrays so the kernel can carry it from batch to batch ---------
# Integer scalars (``si``).
_I_NSEG = 0  # segments started so far
_I_NEXT = 1  # number of the next packet pushed
_I_FRONT = 2  # oldest pending packet; pending packets are FRONT .. NEXT - 1
_I_HAS_SEG = 3
_I_SEG = 4  # current segment's index
_I_LAST_U = 5  # highest unwrapped tick of the segment
_I_LAST_SEQ = 6  # unwrapped seq of that packet
_I_MAX_BIN = 7
_I_HAS_LINE = 8
_I_SINCE_PRUNE = 9
_I_WIN_HEAD = 10  # lookahead window (monotonic deque of (no, d)): HEAD .. TAIL - 1
_I_WIN_TAIL = 11
_I_SEEN_N = 12  # entries in the resend look-up table
_N_I = 13
# Float scalars (``sf``).
_F_A = 0  # the envelope line d = A + B * u
_F_B = 1
_F_RUNMIN = 2  # running minimum of d in the segment
_N_F = 3
# Pending packets, a ring indexed by ``no & (capacity - 1)``: float rows (``pf``) ...
_P_RX = 0
_P_DEV = 1  # device time of the first sample, s
_P_DRIFT = 2
_P_DEST = 3  # envelope estimate at push time
_P_ULAST = 4  # device time of the last sample, s
_P_OFF = 5  # final offset (a resend: its first copy's, once known)
_P_FDRIFT = 6  # final drift
_N_PF = 7
# ... and integer rows (``pi``).
_P_SEGI = 0
_P_SEQU = 1
_P_DUP = 2  # a resend: number of its first copy; else -1
_P_UTICKS = 3
_P_WAITERS = 4  # 1 if resends of this packet arrived while it was pending
_N_PI = 5
# Resend look-up (open addressing, linear probing): unwrapped tick -> entry.
_H_USED = 0
_H_NO = 1
_H_SEQU = 2
_H_CRC = 3
_H_FINAL = 4  # the entry's packet is final; its offset and drift are in ``hf``
_N_HI = 5
_HF_OFF = 0
_HF_DRIFT = 1
_N_HF = 2
_BIN_SLOTS = FIT_WINDOWS + 1  # bins max_bin - FIT_WINDOWS .. max_bin, slot = bin % _BIN_SLOTS
_INT64_MIN = -(1 << 63)
_NO_BIN = _INT64_MIN
_NO_MAX_BIN = -(1 << 62)
_HASH_MUL = -7046029254386353131  # 0x9E3779B97F4A7C15 as int64 (Fibonacci hashing)
_MAX_WRAPS = 1 << 30  # beyond this the unwrapped tick would overflow int64: not our clock


class ClockTracker:
    """Sequential, deterministic tick -> UTC mapping of one device's packets in receive order.

    Feed every well-formed packet with :meth:`push` (any number per call, in receive order); a
    result never changes once returned, whatever arrives later. Hold one tracker per device
    session (one gateway run or one capture).
    """

    def __init__(self, tick_hz: float, sample_rate_hz: float | None = None) -> None:
        self.tick_hz = float(tick_hz)
        self.sample_rate_hz = sample_rate_hz
        self._si = np.zeros(_N_I, dtype=np.int64)
        self._si[_I_MAX_BIN] = _NO_MAX_BIN
        self._sf = np.zeros(_N_F, dtype=np.float64)
        self._sf[_F_RUNMIN] = np.inf
        self._bin_id = np.full(_BIN_SLOTS, _NO_BIN, dtype=np.int64)
        self._bin_f = np.zeros((2, _BIN_SLOTS), dtype=np.float64)
        cap = 256
        self._pf = np.zeros((_N_PF, cap), dtype=np.float64)
        self._pi = np.zeros((_N_PI, cap), dtype=np.int64)
        self._wn = np.zeros(cap, dtype=np.int64)
        self._wd = np.zeros(cap, dtype=np.float64)
        self._hk = np.zeros(1024, dtype=np.int64)
        self._hi = np.zeros((_N_HI, 1024), dtype=np.int64)
        self._hf = np.zeros((_N_HF, 1024), dtype=np.float64)

    @property
    def segments(self) -> int:
        return int(self._si[_I_NSEG])

    @property
    def pushed(self) -> int:
        """Packets pushed so far (the number the next packet gets)."""
        return int(self._si[_I_NEXT])

    def push(
        self,
        rx_s: npt.NDArray[np.float64],
        tick: npt.NDArray[np.int64],
        seq: npt.NDArray[np.int64],
        n_samples: npt.NDArray[np.int64] | None = None,
        samples_crc: npt.NDArray[np.int64] | None = None,
    ) -> FinalMaps:
        """Add the next packets (arrays (P,), receive order); returns the packets now final.

        ``n_samples`` places the envelope on the last sample (needs ``sample_rate_hz``);
        ``samples_crc`` (CRC-32 of the sample bytes) tells a resend from a rebooted device that
        reuses the same device time. A packet is final once a packet received ``LOOKAHEAD_S``
        later arrived (or at :meth:`flush`): the first packets of a boot then get the quickest
        packet of their first seconds, not their own latency.
        """
        rx = np.ascontiguousarray(rx_s, dtype=np.float64)
        p = rx.shape[0]
        return self._run(
            rx,
            np.ascontiguousarray(tick, dtype=np.int64),
            np.ascontiguousarray(seq, dtype=np.int64),
            np.ones(p, dtype=np.int64) if n_samples is None else np.ascontiguousarray(n_samples, np.int64),
            np.zeros(p, dtype=np.int64)
            if samples_crc is None
            else np.ascontiguousarray(samples_crc, np.int64),
            flush=False,
        )

    def flush(self) -> FinalMaps:
        """Finalize every pending packet (end of a session, a capture, or a boot segment)."""
        none_i = np.zeros(0, dtype=np.int64)
        return self._run(np.zeros(0), none_i, none_i, none_i, none_i, flush=True)

    def _run(
        self,
        rx: npt.NDArray[np.float64],
        tick: npt.NDArray[np.int64],
        seq: npt.NDArray[np.int64],
        n_samples: npt.NDArray[np.int64],
        crc: npt.NDArray[np.int64],
        *,
        flush: bool,
    ) -> FinalMaps:
        first_no = int(self._si[_I_FRONT])
        (n, o_seg, o_dev, o_sequ, o_off, o_drift, o_dup, *grown) = _track(
            rx,
            tick,
            seq,
            n_samples,
            crc,
            self.tick_hz,
            float(self.sample_rate_hz or 0.0),
            flush,
            self._si,
            self._sf,
            self._bin_id,
            self._bin_f,
            self._pf,
            self._pi,
            self._wn,
            self._wd,
            self._hk,
            self._hi,
            self._hf,
        )
        # Arrays that outgrew their capacity come back reallocated.
        self._pf, self._pi, self._wn, self._wd, self._hk, self._hi, self._hf = grown
        return FinalMaps(
            first_no, o_seg[:n], o_dev[:n], o_sequ[:n], o_off[:n], o_drift[:n], o_dup[:n].astype(bool)
        )


# --- the compiled kernel -------------------------------------------------------------------------
# Every float operation below is written in the order of the reference implementation, and numba
# compiles without fastmath (no reassociation, no fused multiply-add), so results are bit-identical.


@numba.njit(cache=True)
def _signed(delta: int, modulo: int) -> int:
    delta %= modulo  # numba keeps Python's sign rule for %
    return delta - modulo if delta >= modulo // 2 else delta


@numba.njit(cache=True)
def _seen_slot(hk: npt.NDArray[np.int64], hi: npt.NDArray[np.int64], key: int) -> int:
    """Slot of ``key`` in the look-up table, or -1."""
    mask = hk.shape[0] - 1
    bits = 63 - int(np.log2(hk.shape[0])) + 1
    k = ((key * _HASH_MUL) >> bits) & mask
    while hi[_H_USED, k]:
        if hk[k] == key:
            return k
        k = (k + 1) & mask
    return -1


@numba.njit(cache=True)
def _seen_rebuild(
    hk: npt.NDArray[np.int64],
    hi: npt.NDArray[np.int64],
    hf: npt.NDArray[np.float64],
    capacity: int,
    horizon: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64], int]:
    """A table of ``capacity`` slots holding the entries whose key is >= ``horizon``."""
    nk = np.zeros(capacity, dtype=np.int64)
    ni = np.zeros((_N_HI, capacity), dtype=np.int64)
    nf = np.zeros((_N_HF, capacity), dtype=np.float64)
    mask = capacity - 1
    bits = 63 - int(np.log2(capacity)) + 1
    count = 0
    for s in range(hk.shape[0]):
        if hi[_H_USED, s] and hk[s] >= horizon:
            key = hk[s]
            k = ((key * _HASH_MUL) >> bits) & mask
            while ni[_H_USED, k]:
                k = (k + 1) & mask
            nk[k] = key
            ni[:, k] = hi[:, s]
            nf[:, k] = hf[:, s]
            count += 1
    return nk, ni, nf, count


@numba.njit(cache=True)
def _lower_bound_line(u_s: npt.NDArray[np.float64], d_s: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Line ``d = a + b u`` below every point that minimises the summed gap (an LP whose optimum
    is the lower-hull edge under the mean of ``u``). Points are sorted by ``u``, all distinct."""
    m = u_s.shape[0]
    hx = np.empty(m)
    hy = np.empty(m)
    h = 0
    for i in range(m):
        px = u_s[i]
        py = d_s[i]
        while h >= 2:
            x1, y1, x2, y2 = hx[h - 2], hy[h - 2], hx[h - 1], hy[h - 1]
            if (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1) <= 0:
                h -= 1
            else:
                break
        hx[h] = px
        hy[h] = py
        h += 1
    if h == 1:
        return hy[0], 0.0
    total = 0.0
    for i in range(m):
        total += u_s[i]
    u_mean = total / m
    for e in range(h - 1):
        x1, y1, x2, y2 = hx[e], hy[e], hx[e + 1], hy[e + 1]
        if x2 >= u_mean or e == h - 2:
            b = (y2 - y1) / (x2 - x1)
            return y1 - b * x1, b
    return hy[0], 0.0  # unreachable: the loop returns at the last hull edge


@numba.njit(cache=True)
def _update_envelope(
    si: npt.NDArray[np.int64],
    sf: npt.NDArray[np.float64],
    bin_id: npt.NDArray[np.int64],
    bin_f: npt.NDArray[np.float64],
    u_s: float,
    d: float,
) -> None:
    if d < sf[_F_RUNMIN]:
        sf[_F_RUNMIN] = d
    b_idx = int(np.floor(u_s / ENVELOPE_WINDOW_S))
    max_bin = si[_I_MAX_BIN]
    # A bin older than the newest FIT_WINDOWS is dropped before any fit could use it.
    if b_idx < max_bin - FIT_WINDOWS:
        return
    slot = b_idx % _BIN_SLOTS
    if bin_id[slot] != b_idx or d < bin_f[0, slot]:
        bin_id[slot] = b_idx
        bin_f[0, slot] = d
        bin_f[1, slot] = u_s
    if b_idx > max_bin:
        si[_I_MAX_BIN] = b_idx
        us = np.empty(FIT_WINDOWS)
        ds = np.empty(FIT_WINDOWS)
        m = 0
        for i in range(b_idx - FIT_WINDOWS, b_idx):
            s = i % _BIN_SLOTS
            if bin_id[s] == i:
                us[m] = bin_f[1, s]
                ds[m] = bin_f[0, s]
                m += 1
        if m >= MIN_FIT_WINDOWS:
            a, b = _lower_bound_line(us[:m], ds[:m])
            sf[_F_A] = a
            sf[_F_B] = b
            si[_I_HAS_LINE] = 1


@numba.njit(cache=True)
def _unwrap(
    si: npt.NDArray[np.int64],
    sf: npt.NDArray[np.float64],
    rx_s: float,
    tick: int,
    last_off_s: float,
    tick_hz: float,
) -> tuple[bool, int]:
    """(True, unwrapped ticks) continuing the segment's clock, or (False, 0) if this packet cannot
    belong to it."""
    last_u = si[_I_LAST_U]
    base = last_u + _signed(tick - last_u, TICK_MODULO)
    u_ref = base / tick_hz + last_off_s
    d_ref = sf[_F_A] + sf[_F_B] * u_ref if si[_I_HAS_LINE] else sf[_F_RUNMIN]
    # Long silences with a fast tick can span whole wraps: pick the wrap count that lands
    # nearest the envelope (np.rint rounds half to even, as Python's round).
    k_f = np.rint(((rx_s - last_off_s - d_ref) * tick_hz - base) / TICK_MODULO)
    if not abs(k_f) < _MAX_WRAPS:
        return False, 0
    k = int(k_f)
    u_ticks = base + max(k, 0) * TICK_MODULO if base + k * TICK_MODULO >= 0 else base
    late_s = rx_s - (u_ticks / tick_hz + last_off_s) - d_ref
    if np.isinf(d_ref):
        return True, u_ticks
    if -MAX_EARLY_S <= late_s <= MAX_LATE_S:
        return True, u_ticks
    return False, 0


@numba.njit(cache=True)
def _finalize_front(
    si: npt.NDArray[np.int64],
    pf: npt.NDArray[np.float64],
    pi: npt.NDArray[np.int64],
    wn: npt.NDArray[np.int64],
    wd: npt.NDArray[np.float64],
    hk: npt.NDArray[np.int64],
    hi: npt.NDArray[np.int64],
    hf: npt.NDArray[np.float64],
    o_seg: npt.NDArray[np.int64],
    o_dev: npt.NDArray[np.float64],
    o_sequ: npt.NDArray[np.int64],
    o_off: npt.NDArray[np.float64],
    o_drift: npt.NDArray[np.float64],
    o_dup: npt.NDArray[np.int64],
    n_out: int,
) -> None:
    """Make the oldest pending packet final and write it to output row ``n_out``."""
    no = si[_I_FRONT]
    si[_I_FRONT] = no + 1
    pmask = pf.shape[1] - 1
    s = no & pmask
    if pi[_P_DUP, s] >= 0:
        # A resend; its first copy was final before it (pending packets finalize in order).
        offset = pf[_P_OFF, s]
        drift = pf[_P_FDRIFT, s]
        o_dup[n_out] = 1
    else:
        wmask = wn.shape[0] - 1
        head, tail = si[_I_WIN_HEAD], si[_I_WIN_TAIL]
        while head < tail and wn[head & wmask] < no:
            head += 1
        si[_I_WIN_HEAD] = head
        d_win = wd[head & wmask] if head < tail else np.inf
        d_est = pf[_P_DEST, s]
        if d_win < d_est:
            d_est = d_win
        drift = pf[_P_DRIFT, s]
        offset = d_est - drift * pf[_P_ULAST, s]
        k = _seen_slot(hk, hi, pi[_P_UTICKS, s])
        if k >= 0 and hi[_H_NO, k] == no:
            hi[_H_FINAL, k] = 1
            hf[_HF_OFF, k] = offset
            hf[_HF_DRIFT, k] = drift
        if pi[_P_WAITERS, s]:
            for q in range(no + 1, si[_I_NEXT]):
                if pi[_P_DUP, q & pmask] == no:
                    pf[_P_OFF, q & pmask] = offset
                    pf[_P_FDRIFT, q & pmask] = drift
        o_dup[n_out] = 0
    o_seg[n_out] = pi[_P_SEGI, s]
    o_dev[n_out] = pf[_P_DEV, s]
    o_sequ[n_out] = pi[_P_SEQU, s]
    o_off[n_out] = offset
    o_drift[n_out] = drift


@numba.njit(cache=True)
def _grow_ring(
    pf: npt.NDArray[np.float64], pi: npt.NDArray[np.int64], lo: int, hi_no: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The pending ring at twice the capacity, packets ``lo .. hi_no - 1`` kept in place."""
    cap = pf.shape[1]
    nf = np.zeros((_N_PF, 2 * cap), dtype=np.float64)
    ni = np.zeros((_N_PI, 2 * cap), dtype=np.int64)
    for no in range(lo, hi_no):
        nf[:, no & (2 * cap - 1)] = pf[:, no & (cap - 1)]
        ni[:, no & (2 * cap - 1)] = pi[:, no & (cap - 1)]
    return nf, ni


@numba.njit(cache=True)
def _track(
    rx: npt.NDArray[np.float64],
    tick: npt.NDArray[np.int64],
    seq: npt.NDArray[np.int64],
    n_samples: npt.NDArray[np.int64],
    crc: npt.NDArray[np.int64],
    tick_hz: float,
    fs_hz: float,
    flush: bool,
    si: npt.NDArray[np.int64],
    sf: npt.NDArray[np.float64],
    bin_id: npt.NDArray[np.int64],
    bin_f: npt.NDArray[np.float64],
    pf: npt.NDArray[np.float64],
    pi: npt.NDArray[np.int64],
    wn: npt.NDArray[np.int64],
    wd: npt.NDArray[np.float64],
    hk: npt.NDArray[np.int64],
    hi: npt.NDArray[np.int64],
    hf: npt.NDArray[np.float64],
) -> tuple[Any, ...]:
    """Push packets ``rx..crc`` (P,) through the tracker state; optionally flush at the end."""
    n_out = 0
    out_cap = si[_I_NEXT] - si[_I_FRONT] + rx.shape[0]
    o_seg = np.empty(out_cap, dtype=np.int64)
    o_dev = np.empty(out_cap, dtype=np.float64)
    o_sequ = np.empty(out_cap, dtype=np.int64)
    o_off = np.empty(out_cap, dtype=np.float64)
    o_drift = np.empty(out_cap, dtype=np.float64)
    o_dup = np.empty(out_cap, dtype=np.int64)
    for j in range(rx.shape[0]):
        rx_s = rx[j]
        crc_j = crc[j]
        last_off_s = (n_samples[j] - 1) / fs_hz if fs_hz != 0.0 else 0.0
        u_ticks = tick[j]
        new_segment = si[_I_HAS_SEG] == 0
        if not new_segment:
            ok, cont = _unwrap(si, sf, rx_s, tick[j], last_off_s, tick_hz)
            if ok:
                k = _seen_slot(hk, hi, cont)
                if k >= 0 and hi[_H_CRC, k] != crc_j:
                    ok = False  # same device time, other samples: the clock restarted
            if ok:
                u_ticks = cont
            else:
                new_segment = True
                while si[_I_FRONT] < si[_I_NEXT]:  # the old boot's packets are final now
                    _finalize_front(
                        si, pf, pi, wn, wd, hk, hi, hf, o_seg, o_dev, o_sequ, o_off, o_drift, o_dup, n_out
                    )
                    n_out += 1
                si[_I_WIN_HEAD] = si[_I_WIN_TAIL]
        if new_segment:
            si[_I_SEG] = si[_I_NSEG]
            si[_I_NSEG] += 1
            si[_I_HAS_SEG] = 1
            si[_I_LAST_U] = tick[j]
            si[_I_LAST_SEQ] = seq[j]
            si[_I_MAX_BIN] = _NO_MAX_BIN
            si[_I_HAS_LINE] = 0
            si[_I_SINCE_PRUNE] = 0
            sf[_F_RUNMIN] = np.inf
            bin_id[:] = _NO_BIN
            hi[_H_USED, :] = 0
            si[_I_SEEN_N] = 0
        pmask = pf.shape[1] - 1
        while si[_I_FRONT] < si[_I_NEXT] and rx_s > pf[_P_RX, si[_I_FRONT] & pmask] + LOOKAHEAD_S:
            _finalize_front(
                si, pf, pi, wn, wd, hk, hi, hf, o_seg, o_dev, o_sequ, o_off, o_drift, o_dup, n_out
            )
            n_out += 1
        no = si[_I_NEXT]
        if no - si[_I_FRONT] >= pf.shape[1]:
            pf, pi = _grow_ring(pf, pi, si[_I_FRONT], no)
            pmask = pf.shape[1] - 1
        s = no & pmask
        last_seq = si[_I_LAST_SEQ]
        seq_u = last_seq + _signed(seq[j] - last_seq, SEQ_MODULO)
        u_first_s = u_ticks / tick_hz
        pf[_P_RX, s] = rx_s
        pf[_P_DEV, s] = u_first_s
        pi[_P_SEGI, s] = si[_I_SEG]
        pi[_P_UTICKS, s] = u_ticks
        pi[_P_WAITERS, s] = 0
        si[_I_NEXT] = no + 1
        k = _seen_slot(hk, hi, u_ticks)
        if k >= 0:  # a resend: its first copy's seq and mapping
            first = hi[_H_NO, k]
            pi[_P_SEQU, s] = hi[_H_SEQU, k]
            pi[_P_DUP, s] = first
            if hi[_H_FINAL, k]:
                pf[_P_OFF, s] = hf[_HF_OFF, k]
                pf[_P_FDRIFT, s] = hf[_HF_DRIFT, k]
            else:
                pi[_P_WAITERS, first & pmask] = 1
            continue
        if u_ticks > si[_I_LAST_U]:
            si[_I_LAST_U] = u_ticks
            si[_I_LAST_SEQ] = seq_u
        u_last_s = u_first_s + last_off_s
        d = rx_s - u_last_s
        _update_envelope(si, sf, bin_id, bin_f, u_last_s, d)
        if si[_I_HAS_LINE]:
            b = sf[_F_B]
            est = sf[_F_A] + b * u_last_s
            d_est = d if d < est else est
        else:
            b = 0.0
            d_est = sf[_F_RUNMIN]
        pf[_P_DRIFT, s] = b
        pf[_P_DEST, s] = d_est
        pf[_P_ULAST, s] = u_last_s
        pi[_P_SEQU, s] = seq_u
        pi[_P_DUP, s] = -1
        # Resend look-up entry; the table stays at most half full.
        if 2 * (si[_I_SEEN_N] + 1) > hk.shape[0]:
            hk, hi, hf, kept = _seen_rebuild(hk, hi, hf, 2 * hk.shape[0], _INT64_MIN)
            si[_I_SEEN_N] = kept
        hmask = hk.shape[0] - 1
        bits = 63 - int(np.log2(hk.shape[0])) + 1
        k = ((u_ticks * _HASH_MUL) >> bits) & hmask
        while hi[_H_USED, k]:
            k = (k + 1) & hmask
        hk[k] = u_ticks
        hi[_H_USED, k] = 1
        hi[_H_NO, k] = no
        hi[_H_SEQU, k] = seq_u
        hi[_H_CRC, k] = crc_j
        hi[_H_FINAL, k] = 0
        si[_I_SEEN_N] += 1
        # Lookahead window: a deque of increasing d over increasing packet numbers.
        head, tail = si[_I_WIN_HEAD], si[_I_WIN_TAIL]
        wmask = wn.shape[0] - 1
        while tail > head and wd[(tail - 1) & wmask] >= d:
            tail -= 1
        if tail - head >= wn.shape[0]:
            nwn = np.zeros(2 * wn.shape[0], dtype=np.int64)
            nwd = np.zeros(2 * wn.shape[0], dtype=np.float64)
            for i in range(head, tail):
                nwn[i & (2 * wn.shape[0] - 1)] = wn[i & wmask]
                nwd[i & (2 * wn.shape[0] - 1)] = wd[i & wmask]
            wn, wd = nwn, nwd
            wmask = wn.shape[0] - 1
        wn[tail & wmask] = no
        wd[tail & wmask] = d
        si[_I_WIN_TAIL] = tail + 1
        si[_I_SINCE_PRUNE] += 1
        if si[_I_SINCE_PRUNE] >= PRUNE_EVERY:
            si[_I_SINCE_PRUNE] = 0
            horizon = si[_I_LAST_U] - int(SEEN_KEEP_S * tick_hz)
            hk, hi, hf, kept = _seen_rebuild(hk, hi, hf, hk.shape[0], horizon)
            si[_I_SEEN_N] = kept
    if flush:
        while si[_I_FRONT] < si[_I_NEXT]:
            _finalize_front(
                si, pf, pi, wn, wd, hk, hi, hf, o_seg, o_dev, o_sequ, o_off, o_drift, o_dup, n_out
            )
            n_out += 1
        si[_I_WIN_HEAD] = si[_I_WIN_TAIL]
    return n_out, o_seg, o_dev, o_sequ, o_off, o_drift, o_dup, pf, pi, wn, wd, hk, hi, hf


def map_packets(
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
    rx = np.ascontiguousarray(rx_s, dtype=np.float64)
    tk = np.ascontiguousarray(tick, dtype=np.int64)
    sq = np.ascontiguousarray(seq, dtype=np.int64)
    known = n_samples is not None and sample_rate_hz is not None
    tracker = ClockTracker(tick_hz, sample_rate_hz if known else None)
    m = tracker._run(
        rx,
        tk,
        sq,
        np.ascontiguousarray(n_samples, np.int64) if known else np.ones(rx.shape[0], dtype=np.int64),
        np.zeros(rx.shape[0], np.int64)
        if samples_crc is None
        else np.ascontiguousarray(samples_crc, np.int64),
        flush=True,
    )
    return PacketTiming(
        m.segment, m.device_s, m.seq_unwrapped, m.offset_s, m.drift, rx, tk, sq, float(tick_hz), known
    )


def find_reboots(
    rx_s: npt.NDArray[np.float64], tick: npt.NDArray[np.int64], tick_hz: float
) -> npt.NDArray[np.bool_]:
    """(P,) True where packet i starts a new boot segment (packet 0 always does)."""
    seq = np.zeros(np.asarray(tick).shape[0], dtype=np.int64)
    seg = map_packets(rx_s, tick, seq, tick_hz).segment
    starts = np.ones(seg.shape[0], dtype=bool)
    starts[1:] = seg[1:] != seg[:-1]
    return starts


def sample_times_us(
    timing: PacketTiming,
    packet_index: npt.NDArray[np.int64],
    sample_in_packet: npt.NDArray[np.int64],
    sample_rate_hz: float,
) -> npt.NDArray[np.int64]:
    """(N,) UTC sample times in integer microseconds; sample i at ``tick + i / fs`` device time.

    ``packet_index`` indexes ``timing``'s packets. If ``timing`` was made without packet sizes,
    the sizes are taken from ``sample_in_packet`` and the mapping is redone on last samples.
    """
    if not timing.last_sample_known and timing.rx_s.shape[0] == timing.segment.shape[0]:
        n_per = np.bincount(packet_index, minlength=timing.segment.shape[0]).astype(np.int64)
        timing = map_packets(
            timing.rx_s,
            timing.tick,
            timing.seq,
            timing.tick_hz,
            n_samples=np.maximum(n_per, 1),
            sample_rate_hz=sample_rate_hz,
        )
    dev = timing.device_s[packet_index] + sample_in_packet / sample_rate_hz
    utc_s = dev * (1.0 + timing.drift[packet_index]) + timing.offset_s[packet_index]
    return np.round(utc_s * 1e6).astype(np.int64)


def samples_crc32(payloads: list[bytes]) -> npt.NDArray[np.int64]:
    """(P,) CRC-32 of each payload's sample bytes (header excluded: a resend may set a flag)."""
    return np.fromiter((zlib.crc32(p[8:]) for p in payloads), dtype=np.int64, count=len(payloads))

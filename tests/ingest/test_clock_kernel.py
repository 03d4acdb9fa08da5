"""The compiled ClockTracker against the pure-Python reference, and chunked feeding against one call.

Streams mix drift, jitter and latency spikes, silences, tick wraps (a fast tick), resends of
recent packets (same samples), reboots (ticks and seq restart) and rebooted devices reusing a
device time with other samples. Every field of every packet must be bit-identical: the
reference and the kernel, and the kernel fed in random chunks and in one call.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from clock_reference import reference_map_packets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.clock import ClockTracker, FinalMaps, PacketTiming, map_packets


@dataclass(frozen=True)
class Stream:
    rx_s: npt.NDArray[np.float64]
    tick: npt.NDArray[np.int64]
    seq: npt.NDArray[np.int64]
    n_samples: npt.NDArray[np.int64]
    crc: npt.NDArray[np.int64]
    tick_hz: int
    fs_hz: float


@dataclass(frozen=True)
class Plan:
    seed: int
    boots: int
    packets_per_boot: int
    per_packet: int
    fs_hz: float
    tick_hz: int
    drift_ppm: float
    near_wrap: bool
    resends: int
    reuses: int
    silences: int


def build_stream(plan: Plan) -> Stream:
    """Packets in receive order; see the module docstring for what goes in."""
    rng = np.random.default_rng(plan.seed)
    rx, tick, seq, crc = [], [], [], []
    t0 = 1.75e9
    for boot in range(plan.boots):
        n = plan.packets_per_boot
        k = np.arange(n, dtype=np.int64)
        dev_s = k * plan.per_packet / plan.fs_hz
        # Silences: the device keeps sampling, the host hears nothing (packets lost).
        alive = np.ones(n, dtype=bool)
        for _ in range(plan.silences):
            a = int(rng.integers(0, n))
            alive[a : a + int(rng.integers(1, max(2, n // 4)))] = False
        tick0 = 2**32 - int(rng.integers(1, 60)) * plan.tick_hz if plan.near_wrap and boot == 0 else 0
        seq0 = int(rng.integers(0, 65536)) if boot == 0 else 0
        true_last = t0 + (dev_s + (plan.per_packet - 1) / plan.fs_hz) / (1 + plan.drift_ppm * 1e-6)
        lat = (
            0.0075 + rng.exponential(0.020, n) + np.where(rng.random(n) < 0.02, rng.uniform(0.1, 3.0, n), 0.0)
        )
        b_rx = true_last + lat
        b_tick = (tick0 + np.floor(dev_s * plan.tick_hz).astype(np.int64)) % 2**32
        b_seq = (seq0 + k) % 65536
        b_crc = rng.integers(0, 2**32, n)
        order = np.argsort(b_rx[alive], kind="stable")
        rx.append(b_rx[alive][order])
        tick.append(b_tick[alive][order])
        seq.append(b_seq[alive][order])
        crc.append(b_crc[alive][order])
        t0 = true_last[-1] + float(rng.uniform(0.5, 30.0))
    r, t, s, c = (np.concatenate(x) for x in (rx, tick, seq, crc))
    # Resends of recent packets, received later than anything around them; some are re-resent.
    for _ in range(plan.resends):
        if r.shape[0] < 4:
            break
        at = int(rng.integers(2, r.shape[0]))
        back = int(rng.integers(1, max(2, int(250 * plan.fs_hz / plan.per_packet))))  # <= 250 s ago
        src = np.arange(max(0, at - back), at)[: int(rng.integers(1, 40))]
        r_new = r[at - 1] + float(rng.uniform(0.0, 5.0)) + np.arange(src.shape[0]) * 1e-3
        r = np.insert(r, at, r_new)
        t, s, c = (np.insert(x, at, x[src]) for x in (t, s, c))
    # A rebooted device reusing a recent device time with other samples.
    for _ in range(plan.reuses if r.shape[0] >= 2 else 0):
        at = int(rng.integers(1, r.shape[0]))
        src = int(rng.integers(max(0, at - 50), at))
        r = np.insert(r, at, r[at - 1] + 0.01)
        t, s = np.insert(t, at, t[src]), np.insert(s, at, 0)
        c = np.insert(c, at, c[src] ^ 1)
    n_samples = np.full(r.shape[0], plan.per_packet, dtype=np.int64)
    return Stream(
        r, t.astype(np.int64), s.astype(np.int64), n_samples, c.astype(np.int64), plan.tick_hz, plan.fs_hz
    )


def assert_same_timing(a: PacketTiming, b: PacketTiming) -> None:
    for name in ("segment", "device_s", "seq_unwrapped", "offset_s", "drift"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name, strict=True)


def feed_in_chunks(s: Stream, cuts: list[int]) -> FinalMaps:
    tracker = ClockTracker(s.tick_hz, s.fs_hz)
    parts: list[FinalMaps] = []
    bounds = [0, *sorted(cuts), s.rx_s.shape[0]]
    for lo, hi in itertools.pairwise(bounds):
        parts.append(
            tracker.push(s.rx_s[lo:hi], s.tick[lo:hi], s.seq[lo:hi], s.n_samples[lo:hi], s.crc[lo:hi])
        )
    parts.append(tracker.flush())
    expect_no = 0
    for p in parts:  # each result continues the numbering where the last one stopped
        assert p.first_no == expect_no
        expect_no += len(p)
    assert expect_no == s.rx_s.shape[0] == tracker.pushed
    return FinalMaps(
        0,
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in FinalMaps.__dataclass_fields__
            if f != "first_no"
        ),
    )


def _map(s: Stream) -> PacketTiming:
    return map_packets(
        s.rx_s, s.tick, s.seq, s.tick_hz, n_samples=s.n_samples, sample_rate_hz=s.fs_hz, samples_crc=s.crc
    )


plans = st.builds(
    Plan,
    seed=st.integers(0, 2**32 - 1),
    boots=st.integers(1, 3),
    packets_per_boot=st.integers(1, 2500),
    per_packet=st.sampled_from([1, 5, 10, 19]),
    fs_hz=st.sampled_from([25.0, 50.0, 100.0]),
    tick_hz=st.sampled_from([32768, 1_000_000]),
    drift_ppm=st.floats(-80.0, 80.0),
    near_wrap=st.booleans(),
    resends=st.integers(0, 4),
    reuses=st.integers(0, 2),
    silences=st.integers(0, 2),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans, data=st.data())
def test_kernel_matches_reference_and_chunking_changes_nothing(plan: Plan, data: st.DataObject) -> None:
    s = build_stream(plan)
    p = s.rx_s.shape[0]
    whole = _map(s)
    ref = reference_map_packets(
        s.rx_s, s.tick, s.seq, s.tick_hz, n_samples=s.n_samples, sample_rate_hz=s.fs_hz, samples_crc=s.crc
    )
    assert_same_timing(whole, ref)
    cuts = data.draw(st.lists(st.integers(0, p), max_size=12), label="chunk boundaries")
    chunked = feed_in_chunks(s, cuts)
    for name in ("segment", "device_s", "seq_unwrapped", "offset_s", "drift"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name), err_msg=name, strict=True)


@pytest.mark.parametrize("per_packet", [1, 19])
def test_long_stream_with_prunes_matches_reference(per_packet: int) -> None:
    """Hours of packets: the resend look-up is pruned many times, the envelope refits every 10 s."""
    plan = Plan(7, 2, 60_000 // per_packet * 2, per_packet, 50.0, 1_000_000, 45.0, True, 30, 3, 2)
    s = build_stream(plan)
    whole = _map(s)
    assert whole.segment.max() >= 1
    assert_same_timing(
        whole,
        reference_map_packets(
            s.rx_s, s.tick, s.seq, s.tick_hz, n_samples=s.n_samples, sample_rate_hz=s.fs_hz, samples_crc=s.crc
        ),
    )
    rng = np.random.default_rng(8)
    chunked = feed_in_chunks(s, rng.integers(0, s.rx_s.shape[0], 300).tolist())
    np.testing.assert_array_equal(chunked.offset_s, whole.offset_s)
    np.testing.assert_array_equal(chunked.segment, whole.segment)


def test_resends_are_marked_and_get_their_first_copys_mapping() -> None:
    plan = Plan(3, 1, 3000, 10, 100.0, 32768, 20.0, False, 0, 0, 0)
    s = build_stream(plan)
    idx = np.concatenate([np.arange(2000), np.arange(1980, 2000), np.arange(2000, 3000)])
    tracker = ClockTracker(s.tick_hz, s.fs_hz)
    rx = np.concatenate([s.rx_s[:2000], s.rx_s[1999] + 0.5 + np.arange(20) * 1e-3, s.rx_s[2000:] + 0.6])
    # Originals received > 2 s before their resend are final by then, the later ones still pending.
    m1 = tracker.push(rx[:2010], s.tick[idx[:2010]], s.seq[idx[:2010]], s.n_samples[:2010], s.crc[idx[:2010]])
    m2 = tracker.push(rx[2010:], s.tick[idx[2010:]], s.seq[idx[2010:]], s.n_samples[2010:], s.crc[idx[2010:]])
    m3 = tracker.flush()
    dup = np.concatenate([m1.duplicate, m2.duplicate, m3.duplicate])
    off = np.concatenate([m1.offset_s, m2.offset_s, m3.offset_s])
    assert np.flatnonzero(dup).tolist() == list(range(2000, 2020))
    np.testing.assert_array_equal(off[2000:2020], off[1980:2000])

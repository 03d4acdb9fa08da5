"""Device ticks -> UTC (ingest.clock) against a simulated drifting, jittery device."""

from __future__ import annotations

import numpy as np
import pytest
from ingest_fakes import T0_UTC_S, TICK_HZ, Session, simulate_session

from ingest.clock import PacketTiming, find_reboots, map_packets, sample_times_us

FS_HZ = 50  # one single-sample packet per 20 ms
TWO_HOURS_PACKETS = 2 * 3600 * FS_HZ
MAX_ERR_S = 0.020


def _errors_s(s: Session, t_us: np.ndarray) -> np.ndarray:
    return t_us / 1e6 - s.true_t_s


def assert_within_20_ms(label: str, err_s: np.ndarray, since_boot_s: np.ndarray) -> None:
    """Every sample within 20 ms of truth; the steady state is checked first so that a failure
    says whether the whole mapping is off or only the first moments after a (re)boot."""
    warm = since_boot_s > 2.0
    steady_ms = np.abs(err_s[warm]).max() * 1e3
    worst_ms = np.abs(err_s).max() * 1e3
    print(f"{label}: max |error| {worst_ms:.2f} ms overall, {steady_ms:.2f} ms after the first 2 s of a boot")
    assert steady_ms < MAX_ERR_S * 1e3
    off = np.abs(err_s) >= MAX_ERR_S
    assert not off.any(), (
        f"{label}: {off.sum()} samples are off by >= 20 ms (up to {worst_ms:.1f} ms), all within "
        f"{since_boot_s[off].max():.2f} s of a boot: the envelope has no quick packet yet"
    )


def _timing(rx: np.ndarray, tick: np.ndarray, seq: np.ndarray, per_packet: int, fs_hz: int) -> PacketTiming:
    n = np.full(rx.shape[0], per_packet, dtype=np.int64)
    return map_packets(rx, tick, seq, TICK_HZ, n_samples=n, sample_rate_hz=fs_hz)


def _times_us(timing: PacketTiming, per_packet: int, fs_hz: int) -> np.ndarray:
    n_packets = timing.segment.shape[0]
    pkt = np.repeat(np.arange(n_packets), per_packet)
    i = np.tile(np.arange(per_packet), n_packets)
    return sample_times_us(timing, pkt, i, fs_hz)


def _map(rx: np.ndarray, tick: np.ndarray, seq: np.ndarray, per_packet: int, fs_hz: int) -> np.ndarray:
    return _times_us(_timing(rx, tick, seq, per_packet, fs_hz), per_packet, fs_hz)


@pytest.mark.parametrize("drift_ppm", [-50.0, 50.0])
def test_two_hours_of_drift_and_jitter_stay_within_20_ms(drift_ppm: float) -> None:
    rng = np.random.default_rng(11)
    s = simulate_session(
        encode=False,
        rng=rng,
        start_utc_s=T0_UTC_S,
        n_packets=TWO_HOURS_PACKETS,
        fs_hz=FS_HZ,
        per_packet=1,
        drift_ppm=drift_ppm,
    )
    timing = _timing(s.rx_s, s.tick, s.seq, 1, FS_HZ)
    t_us = _times_us(timing, 1, FS_HZ)
    assert_within_20_ms(f"drift {drift_ppm:+.0f} ppm", _errors_s(s, t_us), s.true_t_s - s.true_t_s[0])
    assert (timing.segment == 0).all()
    # Once fitted, the drift undoes the device's (utc = dev * (1 + b) + a with b ~ -drift).
    assert abs(timing.drift[-1] + drift_ppm * 1e-6) < 2e-6
    # Sequence numbers wrap five times in two hours; unwrapped they count packets.
    np.testing.assert_array_equal(timing.seq_unwrapped, np.arange(TWO_HOURS_PACKETS))
    # Times strictly increase, one period apart give or take the drift.
    assert (np.diff(t_us) > 0).all()


def test_multi_sample_packets_are_timed_from_the_first_sample() -> None:
    """A packet goes out after its last sample: the receive time must not shift its first sample."""
    rng = np.random.default_rng(12)
    per_packet, fs_hz = 10, 100
    s = simulate_session(
        encode=False,
        rng=rng,
        start_utc_s=T0_UTC_S,
        n_packets=20 * 60 * 10,
        fs_hz=fs_hz,
        per_packet=per_packet,
        drift_ppm=30.0,
    )
    err = _errors_s(s, _map(s.rx_s, s.tick, s.seq, per_packet, fs_hz))
    assert_within_20_ms("10-sample packets", err, s.true_t_s - s.true_t_s[0])


def test_reboot_mid_stream_starts_a_new_segment() -> None:
    rng = np.random.default_rng(13)
    before = simulate_session(
        encode=False,
        rng=rng,
        start_utc_s=T0_UTC_S,
        n_packets=30 * 60 * FS_HZ,
        fs_hz=FS_HZ,
        per_packet=1,
        drift_ppm=40.0,
        tick0=123_456_789,
        seq0=40_000,
    )
    restart = before.true_t_s[-1] + 4.0  # off for 4 s, then ticks and seq restart at 0
    after = simulate_session(
        encode=False,
        rng=rng,
        start_utc_s=restart,
        n_packets=30 * 60 * FS_HZ,
        fs_hz=FS_HZ,
        per_packet=1,
        drift_ppm=40.0,
    )
    rx = np.concatenate([before.rx_s, after.rx_s])
    tick = np.concatenate([before.tick, after.tick])
    seq = np.concatenate([before.seq, after.seq])
    order = np.argsort(rx, kind="stable")  # the host sees packets in receive order
    starts = find_reboots(rx[order], tick[order], TICK_HZ)
    assert np.flatnonzero(starts).tolist() == [0, before.rx_s.shape[0]]
    timing = _timing(rx[order], tick[order], seq[order], 1, FS_HZ)
    np.testing.assert_array_equal(np.bincount(timing.segment), [before.rx_s.shape[0], after.rx_s.shape[0]])
    t_us = _times_us(timing, 1, FS_HZ)
    truth = np.concatenate([before.true_t_s, after.true_t_s])[order]
    since_boot = np.concatenate([before.true_t_s - before.true_t_s[0], after.true_t_s - after.true_t_s[0]])
    assert_within_20_ms("reboot", t_us / 1e6 - truth, since_boot[order])


def test_tick_wrap_at_2_32_is_continuous() -> None:
    rng = np.random.default_rng(14)
    n = 10 * 60 * FS_HZ
    s = simulate_session(
        encode=False,
        rng=rng,
        start_utc_s=T0_UTC_S,
        n_packets=n,
        fs_hz=FS_HZ,
        per_packet=1,
        drift_ppm=-50.0,
        tick0=2**32 - 120 * TICK_HZ,  # wraps two minutes in
    )
    assert (np.diff(s.tick) < 0).sum() == 1
    timing = _timing(s.rx_s, s.tick, s.seq, 1, FS_HZ)
    assert (timing.segment == 0).all()
    assert (np.diff(timing.device_s) > 0).all()
    t_us = _times_us(timing, 1, FS_HZ)
    assert_within_20_ms("tick wrap", _errors_s(s, t_us), s.true_t_s - s.true_t_s[0])


def test_mapping_is_a_pure_function_of_the_notifications() -> None:
    """Live and replay must agree: the same notifications give the same microseconds."""
    rng = np.random.default_rng(15)
    s = simulate_session(
        encode=False, rng=rng, start_utc_s=T0_UTC_S, n_packets=5000, fs_hz=FS_HZ, per_packet=1, drift_ppm=20.0
    )
    a = _map(s.rx_s, s.tick, s.seq, 1, FS_HZ)
    b = _map(s.rx_s.copy(), s.tick.copy(), s.seq.copy(), 1, FS_HZ)
    np.testing.assert_array_equal(a, b)

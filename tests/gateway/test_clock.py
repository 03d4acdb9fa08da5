"""Tick -> UTC mapping: 20 ms over 24 h of drift, wander, jitter, wraps and a reboot; prefix stability."""

from __future__ import annotations

import numpy as np

from ingest.clock import map_packets, sample_times_us

FS_HZ = 100
N_PER_PACKET = 19


def _synthetic_day(seed: int, tick_hz: int, hours: float = 24.0, reboot_at_h: float = 13.0):
    """Packets of one device: true times of every sample, ticks, seqs and host receive times."""
    rng = np.random.default_rng(seed)
    drift = 45e-6
    wander_s = 0.008  # 8 ms temperature wander over 6 h
    t0 = 1.75e9
    packets_rx, packets_tick, packets_seq, truth = [], [], [], []
    boots = [(t0, reboot_at_h * 3600), (t0 + reboot_at_h * 3600 + 5.0, (hours - reboot_at_h) * 3600)]
    for boot_t0, span_s in boots:
        n_pk = int(span_s * FS_HZ) // N_PER_PACKET
        k = np.arange(n_pk * N_PER_PACKET).reshape(n_pk, N_PER_PACKET)
        tau = k / FS_HZ
        t_true = boot_t0 + tau / (1 + drift) + wander_s * np.sin(2 * np.pi * tau / 21600)
        lat = rng.uniform(0, 0.015, n_pk) + 0.015 * rng.geometric(0.9, n_pk) - 0.015
        lat += np.where(rng.random(n_pk) < 0.01, rng.uniform(0.05, 0.5, n_pk), 0.0)
        rx = np.maximum.accumulate(t_true[:, -1] + lat)
        packets_rx.append(rx)
        packets_tick.append(np.floor(tau[:, 0] * tick_hz).astype(np.int64) % (1 << 32))
        packets_seq.append(np.arange(n_pk) % 65536)
        truth.append(t_true)
    return (
        np.concatenate(packets_rx),
        np.concatenate(packets_tick),
        np.concatenate(packets_seq),
        np.concatenate(truth),
    )


def test_24h_with_drift_jitter_wraps_and_reboot_within_20ms() -> None:
    tick_hz = 1_000_000  # wraps every 71.6 minutes: 20 wraps in a day
    rx, tick, seq, truth = _synthetic_day(1, tick_hz)
    n = np.full(rx.shape[0], N_PER_PACKET)
    timing = map_packets(rx, tick, seq, tick_hz, n_samples=n, sample_rate_hz=FS_HZ)
    assert timing.segment.max() == 1  # exactly one reboot found
    pkt = np.repeat(np.arange(rx.shape[0]), N_PER_PACKET)
    sip = np.tile(np.arange(N_PER_PACKET), rx.shape[0])
    t_us = sample_times_us(timing, pkt, sip, FS_HZ)
    err_ms = (t_us - np.round(truth.ravel() * 1e6)) / 1e3
    assert np.abs(err_ms).max() < 20.0
    assert np.percentile(np.abs(err_ms), 99) < 5.0


def test_mapping_is_prefix_stable() -> None:
    rx, tick, seq, _ = _synthetic_day(2, 32768, hours=0.5, reboot_at_h=0.2)
    n = np.full(rx.shape[0], N_PER_PACKET)
    full = map_packets(rx, tick, seq, 32768, n_samples=n, sample_rate_hz=FS_HZ)
    cut = rx.shape[0] // 3
    part = map_packets(rx[:cut], tick[:cut], seq[:cut], 32768, n_samples=n[:cut], sample_rate_hz=FS_HZ)
    assert np.array_equal(full.offset_s[:cut], part.offset_s)
    assert np.array_equal(full.drift[:cut], part.drift)


def test_resend_gets_the_first_copys_timestamps() -> None:
    rx, tick, seq, _ = _synthetic_day(3, 32768, hours=0.1, reboot_at_h=0.09)
    n = np.full(rx.shape[0], N_PER_PACKET)
    k = 200
    rx2 = np.concatenate([rx[: k + 50], rx[k + 49] + 1.0 + np.arange(20) * 1e-3, rx[k + 50 :] + 2.0])
    idx = np.concatenate([np.arange(k + 50), np.arange(k, k + 20), np.arange(k + 50, rx.shape[0])])
    t = map_packets(rx2, tick[idx], seq[idx], 32768, n_samples=n[idx], sample_rate_hz=FS_HZ)
    assert np.array_equal(t.offset_s[k + 50 : k + 70], t.offset_s[k : k + 20])
    assert np.array_equal(t.segment[k + 50 : k + 70], t.segment[k : k + 20])

"""Mapping device ticks to UTC for BLE packets (SPEC contract 1).

The device clock drifts (tens of ppm) and restarts at 0 on reboot; the host receives each packet
late by a variable latency. Single packets therefore say little, but the *lower envelope* of
``receive time - device time`` is the clock offset plus the smallest latency, and it moves only
with drift. Per boot segment we take the minimum offset in fixed windows of device time and fit a
line through those minima: intercept = offset, slope = drift. The mapping is a pure function of
the notifications, so a live session and a replay of its capture give identical timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.packets import SEQ_MODULO, TICK_MODULO

ENVELOPE_WINDOW_S = 30.0
# A forward tick jump this much larger than the host saw elapse can only be a restarted clock.
REBOOT_SLACK_S = 10.0


@dataclass(frozen=True)
class PacketTiming:
    """Per-packet results of :func:`map_packets`.

    ``segment`` numbers boot segments from 0; ``device_s`` is unwrapped device time in seconds
    since the segment's first tick origin; ``offset_s``/``drift`` give the fitted mapping
    ``utc_s = device_s * (1 + drift) + offset_s`` per packet's segment; ``seq_unwrapped`` counts
    packets within a segment without wrapping.
    """

    segment: npt.NDArray[np.int64]
    device_s: npt.NDArray[np.float64]
    seq_unwrapped: npt.NDArray[np.int64]
    offset_s: npt.NDArray[np.float64]
    drift: npt.NDArray[np.float64]


def find_reboots(
    rx_s: npt.NDArray[np.float64], tick: npt.NDArray[np.int64], tick_hz: float
) -> npt.NDArray[np.bool_]:
    """(P,) True where packet i starts a new boot segment (packet 0 always does)."""
    starts = np.zeros(tick.shape[0], dtype=bool)
    if tick.shape[0] == 0:
        return starts
    starts[0] = True
    d_tick_s = np.mod(np.diff(tick), TICK_MODULO) / tick_hz
    d_rx_s = np.diff(rx_s)
    starts[1:] = d_tick_s > np.maximum(d_rx_s, 0.0) + REBOOT_SLACK_S
    return starts


def _lower_envelope_fit(
    device_s: npt.NDArray[np.float64], offset_s: npt.NDArray[np.float64]
) -> tuple[float, float]:
    """Fit ``offset = a + b * device_s`` through per-window minima; returns (a, b)."""
    window = np.floor((device_s - device_s[0]) / ENVELOPE_WINDOW_S).astype(np.int64)
    order = np.lexsort((offset_s, window))
    w_sorted = window[order]
    first = np.ones(w_sorted.shape[0], dtype=bool)
    first[1:] = w_sorted[1:] != w_sorted[:-1]
    idx = order[first]
    x, y = device_s[idx], offset_s[idx]
    if x.shape[0] < 3:
        return float(offset_s.min()), 0.0
    b, a = np.polyfit(x - x[0], y, 1)
    # A window whose minimum is still late (no quick packet in it) would pull the line up:
    # refit on the windows that lie on or below the first fit.
    resid = y - (a + b * (x - x[0]))
    keep = resid <= np.median(resid)
    if keep.sum() >= 3:
        b, a = np.polyfit(x[keep] - x[0], y[keep], 1)
    return float(a - b * x[0]), float(b)


def map_packets(
    rx_s: npt.NDArray[np.float64],
    tick: npt.NDArray[np.int64],
    seq: npt.NDArray[np.int64],
    tick_hz: float,
) -> PacketTiming:
    """Fit the tick -> UTC mapping for packets in receive order (see module docstring)."""
    rx_s = np.asarray(rx_s, dtype=np.float64)
    tick = np.asarray(tick, dtype=np.int64)
    seq = np.asarray(seq, dtype=np.int64)
    n = tick.shape[0]
    starts = find_reboots(rx_s, tick, tick_hz)
    segment = np.cumsum(starts) - 1
    device_s = np.zeros(n, dtype=np.float64)
    seq_unwrapped = np.zeros(n, dtype=np.int64)
    offset = np.zeros(n, dtype=np.float64)
    drift = np.zeros(n, dtype=np.float64)
    for seg in np.unique(segment):
        m = segment == seg
        t = tick[m]
        # Unwrap against the previous packet; a resent (older) packet steps back a little.
        d = np.mod(np.diff(t), TICK_MODULO)
        d = np.where(d > TICK_MODULO // 2, d - TICK_MODULO, d)
        u = t[0] + np.concatenate([[0], np.cumsum(d)])
        ds = np.mod(np.diff(seq[m]), SEQ_MODULO)
        ds = np.where(ds > SEQ_MODULO // 2, ds - SEQ_MODULO, ds)
        seq_unwrapped[m] = seq[m][0] + np.concatenate([[0], np.cumsum(ds)])
        dev = u / tick_hz
        a, b = _lower_envelope_fit(dev, rx_s[m] - dev)
        device_s[m] = dev
        offset[m] = a
        drift[m] = b
    return PacketTiming(segment, device_s, seq_unwrapped, offset, drift)


def sample_times_us(
    timing: PacketTiming,
    packet_index: npt.NDArray[np.int64],
    sample_in_packet: npt.NDArray[np.int64],
    sample_rate_hz: float,
) -> npt.NDArray[np.int64]:
    """(N,) UTC sample times in integer microseconds; sample i at ``tick + i / fs`` device time."""
    dev = timing.device_s[packet_index] + sample_in_packet / sample_rate_hz
    utc_s = dev * (1.0 + timing.drift[packet_index]) + timing.offset_s[packet_index]
    return np.round(utc_s * 1e6).astype(np.int64)

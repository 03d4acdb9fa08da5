"""A simulated nuchal IMU device (SPEC contract 1) for the clock and `.blelog` tests.

The device samples on its own clock, which runs ``drift_ppm`` fast; it sends a packet once the
packet's last sample is taken, and the host receives it late by 7.5 ms plus exponential jitter
(mean 20 ms) with occasional 500 ms spikes. Truth (UTC of every sample) is kept for comparison.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ingest.packets import DeviceConfig, encode_packet

TICK_HZ = 32768
T0_UTC_S = 1_711_846_800.0  # 2024-03-31T01:00:00Z


@dataclass
class Session:
    """One boot of a device: packets in send order with their truth."""

    rx_s: npt.NDArray[np.float64]  # (P,) host receive time, epoch s
    tick: npt.NDArray[np.int64]  # (P,) device tick of the first sample, wrapped at 2**32
    seq: npt.NDArray[np.int64]  # (P,) wrapped at 2**16
    counts: npt.NDArray[np.int16]  # (N, 6) raw sample counts
    mag: npt.NDArray[np.int16] | None  # (N, 3) or None
    true_t_s: npt.NDArray[np.float64]  # (N,) true UTC of each sample, epoch s
    per_packet: int
    payloads: list[bytes] = field(default_factory=list)

    def sample_slice(self, p: int) -> slice:
        return slice(p * self.per_packet, (p + 1) * self.per_packet)


def simulate_session(
    *,
    rng: np.random.Generator,
    start_utc_s: float,
    n_packets: int,
    fs_hz: int,
    per_packet: int,
    drift_ppm: float,
    tick0: int = 0,
    seq0: int = 0,
    with_mag: bool = False,
    spike_prob: float = 0.01,
    encode: bool = True,
) -> Session:
    n = n_packets * per_packet
    k = np.arange(n)
    # The device takes sample k at k/fs seconds of its own clock, which runs (1 + drift) fast.
    true_t = start_utc_s + (k / fs_hz) / (1.0 + drift_ppm * 1e-6)
    first = k[::per_packet]
    tick = (tick0 + np.floor(first * TICK_HZ / fs_hz).astype(np.int64)) % 2**32
    seq = (seq0 + np.arange(n_packets)) % 2**16
    latency = 0.0075 + rng.exponential(0.020, n_packets)
    latency[rng.random(n_packets) < spike_prob] += 0.5
    # BLE delivers notifications in order: a late packet holds back the ones behind it.
    rx = np.maximum.accumulate(true_t[first + per_packet - 1] + latency)
    # Gentle head motion around 1 g; counts for a +-8 g / +-2000 dps device.
    counts = np.empty((n, 6), dtype=np.int16)
    counts[:, :3] = np.clip(rng.normal([0.0, 0.0, 4096.0], 300.0, (n, 3)), -32000, 32000)
    counts[:, 3:] = np.clip(rng.normal(0.0, 400.0, (n, 3)), -32000, 32000)
    mag = np.clip(rng.normal(300.0, 50.0, (n, 3)), -32000, 32000).astype(np.int16) if with_mag else None
    s = Session(rx, tick, seq, counts, mag, true_t, per_packet)
    if not encode:  # the clock tests need no payloads
        return s
    s.payloads = [
        encode_packet(
            int(seq[p]),
            int(tick[p]),
            counts[s.sample_slice(p)],
            mag_raw=None if mag is None else mag[s.sample_slice(p)],
        )
        for p in range(n_packets)
    ]
    return s


def config(fs_hz: int, placement_code: int = 1) -> DeviceConfig:
    return DeviceConfig(1, fs_hz, 4096.0, 16.4, TICK_HZ, placement_code)


def write_blelog(
    path: Path,
    *,
    device_id: str,
    subject_id: str,
    placement: str,
    cfg: DeviceConfig,
    lines: list[tuple[float, bytes] | str],
) -> None:
    """Write a capture; a ``str`` entry is written verbatim (a garbage line)."""
    with path.open("w", encoding="utf-8") as fh:
        header = {"device_id": device_id, "subject_id": subject_id, "placement": placement}
        fh.write(json.dumps({**header, "config": cfg.to_bytes().hex()}) + "\n")
        for entry in lines:
            if isinstance(entry, str):
                fh.write(entry + "\n")
            else:
                fh.write(json.dumps({"rx": entry[0], "data": entry[1].hex()}) + "\n")

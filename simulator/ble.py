"""Write a wear day as a `.blelog` BLE capture (contract 2), as a drifting device would send it.

The device samples on its own clock (``tick_hz`` drifting by tens of ppm), packs ``n`` samples per
notification with ``ingest.packets.encode_packet``, and the host stamps each notification when it
arrives: after the last sample of the packet plus a connection-interval latency (7.5-50 ms) with
occasional spikes, never out of order. Some notifications are lost (seq gaps), some captures
contain a device reboot (tick and seq restart at 0 after a few seconds without samples), and a
deliberate corrupted packet (payload cut short) can be injected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ingest.packets import PLACEMENT_NAMES, TICK_MODULO, DeviceConfig, encode_packet

TICK_HZ = 32768
ACCEL_LSB_PER_G = 4096.0  # +-8 g full scale in 16 bits
GYRO_LSB_PER_DPS = 16.4  # +-2000 deg/s full scale
DRIFT_PPM_SD = 30.0
LATENCY_S = (0.0075, 0.050)
SPIKE_FRACTION = 0.005
SPIKE_S = (0.1, 0.8)
DROP_FRACTION = 0.003
REBOOT_GAP_S = 3.0


@dataclass(frozen=True)
class BleCapturePlan:
    """Device-side choices for one capture (drawn once, before rendering)."""

    drift_ppm: float
    samples_per_packet: int
    tick0: int
    seq0: int
    reboot_at: int | None  # sample index where the device reboots, or None
    reboot_gap: int  # samples not taken while rebooting
    corrupt: bool

    @property
    def clock_scale(self) -> float:
        return 1.0 + self.drift_ppm * 1e-6


def draw_capture_plan(
    rng: np.random.Generator, n_samples: int, rate_hz: int, spp: int, corrupt: bool
) -> BleCapturePlan:
    reboot = rng.random() < 0.4 and n_samples > 20 * rate_hz
    return BleCapturePlan(
        drift_ppm=float(rng.normal(0, DRIFT_PPM_SD)),
        samples_per_packet=spp,
        tick0=int(rng.integers(0, TICK_MODULO)),
        seq0=int(rng.integers(0, 1 << 16)),
        reboot_at=int(rng.integers(n_samples // 4, 3 * n_samples // 4)) if reboot else None,
        reboot_gap=round(REBOOT_GAP_S * rate_hz),
        corrupt=corrupt,
    )


def sample_mask(plan: BleCapturePlan, n_samples: int) -> npt.NDArray[np.bool_]:
    """Samples the device actually took (False during a reboot)."""
    taken = np.ones(n_samples, dtype=bool)
    if plan.reboot_at is not None:
        taken[plan.reboot_at : plan.reboot_at + plan.reboot_gap] = False
    return taken


def write_blelog(
    path: Path,
    rng: np.random.Generator,
    plan: BleCapturePlan,
    *,
    subject_id: str,
    device_id: str,
    placement: str,
    rate_hz: int,
    t0_utc_s: float,
    t_s: npt.NDArray[np.float64],
    acc_g: npt.NDArray[np.float64],
    gyro_dps: npt.NDArray[np.float64],
) -> tuple[int, int, int | None]:
    """Write the capture. ``t_s`` (N,) true sample times s from ``t0_utc_s`` of the samples taken.

    Returns (notifications written, samples written, 1-based line number of the corrupted packet).
    """
    cfg = DeviceConfig(1, rate_hz, ACCEL_LSB_PER_G, GYRO_LSB_PER_DPS, TICK_HZ, PLACEMENT_NAMES[placement])
    n = t_s.shape[0]
    raw = np.empty((n, 6), dtype=np.int64)
    raw[:, :3] = np.rint(acc_g * ACCEL_LSB_PER_G)
    raw[:, 3:] = np.rint(gyro_dps * GYRO_LSB_PER_DPS)
    raw = np.clip(raw, -32768, 32767).astype("<i2")
    # Packets never straddle the reboot; after it the device's tick and seq restart at 0.
    cut = n if plan.reboot_at is None else min(plan.reboot_at, n)
    parts = [(0, cut)] + ([(cut, n)] if cut < n else [])
    spp = plan.samples_per_packet
    starts_a = np.concatenate([np.arange(a, b, spp) for a, b in parts]).astype(np.int64)
    ends_a = np.concatenate([np.minimum(np.arange(a, b, spp) + spp, b) for a, b in parts]).astype(np.int64)
    pkt_epoch = (starts_a >= cut).astype(np.int64)
    pkt_no = np.concatenate([np.arange(len(range(a, b, spp))) for a, b in parts]).astype(np.int64)
    dev_k = np.where(pkt_epoch == 0, starts_a, starts_a - cut)
    seq = np.where(pkt_epoch == 0, plan.seq0 + pkt_no, pkt_no)
    tick_origin = np.where(pkt_epoch == 0, plan.tick0, 0)
    tick = (tick_origin + np.floor(dev_k * TICK_HZ / rate_hz)).astype(np.int64)
    lat = rng.uniform(*LATENCY_S, len(starts_a))
    spikes = rng.random(len(starts_a)) < SPIKE_FRACTION
    lat[spikes] += rng.uniform(*SPIKE_S, int(spikes.sum()))
    rx = np.maximum.accumulate(t0_utc_s + t_s[ends_a - 1] + lat)  # BLE delivers in order
    keep = rng.random(len(starts_a)) >= DROP_FRACTION
    keep[0] = True
    corrupt_at = int(rng.choice(np.flatnonzero(keep)[1:])) if plan.corrupt and keep.sum() > 2 else -1
    header = {
        "device_id": device_id,
        "subject_id": subject_id,
        "placement": placement,
        "config": cfg.to_bytes().hex(),
    }
    lines = [json.dumps(header)]
    corrupt_line: int | None = None
    written_samples = 0
    for j in np.flatnonzero(keep):
        data = encode_packet(int(seq[j]), int(tick[j]), raw[starts_a[j] : ends_a[j]])
        if j == corrupt_at:
            data = data[:-4]  # a radio error cut the payload short
            corrupt_line = len(lines) + 1
        else:
            written_samples += int(ends_a[j] - starts_a[j])
        lines.append(f'{{"rx": {rx[j]:.6f}, "data": "{data.hex()}"}}')
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1, written_samples, corrupt_line

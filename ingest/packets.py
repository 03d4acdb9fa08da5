"""Codec for the "nuchal IMU profile v1" BLE packets and device config (SPEC contract 1).

All integers are little-endian. The decoder works on whole batches of notifications with numpy
so that a gateway or a `.blelog` replay never loops over samples in Python; a packet that is too
short, has an unknown version or decodes to impossible values is rejected with a reason and the
rest of the batch is kept.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

UUID_BASE = "bdf4{:04x}-dfed-484d-b06e-40c4cfcfdba0"
IMU_SERVICE_UUID = UUID_BASE.format(0x0001)
IMU_DATA_UUID = UUID_BASE.format(0x0002)
DEVICE_CONFIG_UUID = UUID_BASE.format(0x0003)
CONTROL_POINT_UUID = UUID_BASE.format(0x0004)
CLOCK_UUID = UUID_BASE.format(0x0005)
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
SERIAL_NUMBER_UUID = "00002a25-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION_UUID = "00002a26-0000-1000-8000-00805f9b34fb"

CMD_START = 0x01
CMD_STOP = 0x02
CMD_SET_RATE = 0x03
CMD_RESEND_FROM = 0x04

HEADER_BYTES = 8
PACKET_VERSION = 1
FLAG_MAGNETOMETER = 0x1
FLAG_CLIPPED = 0x2
FLAG_DROPPED_BEFORE = 0x4
_KNOWN_FLAGS = FLAG_MAGNETOMETER | FLAG_CLIPPED | FLAG_DROPPED_BEFORE
BYTES_PER_SAMPLE = 12
BYTES_PER_SAMPLE_MAG = 18
# The largest ATT payload with an MTU of 512 is 509 bytes; nothing legitimate is longer.
MAX_PAYLOAD_BYTES = 509
SEQ_MODULO = 1 << 16
TICK_MODULO = 1 << 32

# A head cannot accelerate at 20 g or turn at 4000 deg/s; a sample beyond either is corruption.
MAX_PLAUSIBLE_ACC_G = 20.0
MAX_PLAUSIBLE_GYRO_DPS = 4000.0

PLACEMENT_CODES = {1: "occiput", 2: "c7", 3: "neck"}
PLACEMENT_NAMES = {v: k for k, v in PLACEMENT_CODES.items()}

_CONFIG = struct.Struct("<BHffIB")
_HEADER = struct.Struct("<BHIB")


class PacketError(ValueError):
    """A device config that cannot be decoded."""


@dataclass(frozen=True)
class DeviceConfig:
    """The 16-byte device config characteristic (0003)."""

    profile_version: int
    sample_rate_hz: int
    accel_lsb_per_g: float
    gyro_lsb_per_dps: float
    tick_hz: int
    placement_code: int

    @property
    def placement(self) -> str:
        return PLACEMENT_CODES.get(self.placement_code, "unknown")

    @property
    def ticks_per_sample(self) -> float:
        return self.tick_hz / self.sample_rate_hz

    def to_bytes(self) -> bytes:
        return _CONFIG.pack(
            self.profile_version,
            self.sample_rate_hz,
            self.accel_lsb_per_g,
            self.gyro_lsb_per_dps,
            self.tick_hz,
            self.placement_code,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> DeviceConfig:
        if len(data) != _CONFIG.size:
            raise PacketError(f"device config must be {_CONFIG.size} bytes, got {len(data)}")
        version, rate, acc_lsb, gyro_lsb, tick_hz, placement = _CONFIG.unpack(data)
        if version != 1:
            raise PacketError(f"device config profile_version {version} is not supported (want 1)")
        if rate <= 0 or tick_hz <= 0 or not 0 < acc_lsb < math.inf or not 0 < gyro_lsb < math.inf:
            raise PacketError(
                f"device config has impossible values: sample_rate_hz={rate}, tick_hz={tick_hz}, "
                f"accel_lsb_per_g={acc_lsb}, gyro_lsb_per_dps={gyro_lsb}"
            )
        return cls(version, rate, acc_lsb, gyro_lsb, tick_hz, placement)


def encode_packet(
    seq: int,
    tick: int,
    samples_raw: npt.ArrayLike,
    *,
    flags: int = 0,
    mag_raw: npt.ArrayLike | None = None,
) -> bytes:
    """Encode one IMU data packet.

    Parameters
    ----------
    seq, tick : packet sequence number (mod 2**16) and device tick of the first sample (mod 2**32).
    samples_raw : (n, 6) int16 counts ``ax, ay, az, gx, gy, gz``.
    mag_raw : optional (n, 3) int16 magnetometer in 0.1 uT; sets flag bit0.
    """
    raw = np.asarray(samples_raw, dtype="<i2").reshape(-1, 6)
    if mag_raw is not None:
        mag = np.asarray(mag_raw, dtype="<i2").reshape(-1, 3)
        raw = np.concatenate([raw, mag], axis=1)
        flags |= FLAG_MAGNETOMETER
    head = (PACKET_VERSION << 4) | (flags & 0x0F)
    return _HEADER.pack(head, seq % SEQ_MODULO, tick % TICK_MODULO, raw.shape[0]) + raw.tobytes()


@dataclass(frozen=True)
class DecodedBatch:
    """Samples of a batch of notifications, one row per sample, in packet order.

    ``packet_index`` points back into the batch that was decoded; ``rejected`` lists
    ``(packet_index, reason)`` for every packet that was refused.
    """

    packet_index: npt.NDArray[np.int64]
    seq: npt.NDArray[np.int64]
    tick: npt.NDArray[np.int64]
    sample_in_packet: npt.NDArray[np.int64]
    flags: npt.NDArray[np.int64]
    acc_g: npt.NDArray[np.float64]
    gyro_dps: npt.NDArray[np.float64]
    mag_ut: npt.NDArray[np.float64]
    rejected: list[tuple[int, str]]

    @property
    def n_samples(self) -> int:
        return int(self.packet_index.shape[0])


def decode_packets(payloads: Sequence[bytes], config: DeviceConfig) -> DecodedBatch:
    """Decode a batch of notification payloads.

    Returns per-sample arrays: ``acc_g`` (N, 3) in g, ``gyro_dps`` (N, 3) in deg/s, ``mag_ut``
    (N, 3) in uT (NaN where the packet carried no magnetometer). Never raises on bad payloads.
    """
    n_packets = len(payloads)
    lengths = np.fromiter((len(p) for p in payloads), dtype=np.int64, count=n_packets)
    rejected: list[tuple[int, str]] = []
    buf = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    starts = np.zeros(n_packets, dtype=np.int64)
    if n_packets > 1:
        np.cumsum(lengths[:-1], out=starts[1:])

    ok = lengths >= HEADER_BYTES
    safe = np.where(ok, starts, 0)
    pad = np.zeros(HEADER_BYTES, dtype=np.uint8)
    hbuf = np.concatenate([buf, pad])  # header reads of short packets stay in bounds
    head = hbuf[safe].astype(np.int64)
    seq = hbuf[safe + 1].astype(np.int64) | (hbuf[safe + 2].astype(np.int64) << 8)
    tick = (
        hbuf[safe + 3].astype(np.int64)
        | (hbuf[safe + 4].astype(np.int64) << 8)
        | (hbuf[safe + 5].astype(np.int64) << 16)
        | (hbuf[safe + 6].astype(np.int64) << 24)
    )
    n = hbuf[safe + 7].astype(np.int64)
    version = head >> 4
    flags = head & 0x0F
    has_mag = (flags & FLAG_MAGNETOMETER) != 0
    per_sample = np.where(has_mag, BYTES_PER_SAMPLE_MAG, BYTES_PER_SAMPLE)
    expected = HEADER_BYTES + n * per_sample

    reason = np.full(n_packets, "", dtype=object)
    checks: list[tuple[npt.NDArray[np.bool_], str]] = [
        (lengths < HEADER_BYTES, "shorter than the 8-byte header"),
        (lengths > MAX_PAYLOAD_BYTES, "longer than any ATT payload"),
        (ok & (version != PACKET_VERSION), "unknown packet version"),
        (ok & ((flags & ~_KNOWN_FLAGS) != 0), "reserved flag bit set"),
        (ok & (n == 0), "packet with zero samples"),
        (ok & (lengths < expected), "shorter than its header says"),
        (ok & (lengths > expected), "longer than its header says"),
    ]
    for mask, why in checks:
        fresh = mask & (reason == "")
        reason[fresh] = why
    good = reason == ""

    # The samples of well-formed packets are the bytes after their headers: cut those out of the
    # joined payloads with one byte mask and read them as little-endian int16 rows.
    g_idx = np.flatnonzero(good)
    g_n = n[g_idx]
    total = int(g_n.sum())
    sample_pkt = np.repeat(g_idx, g_n)
    first_of_pkt = np.repeat(np.cumsum(g_n) - g_n, g_n)
    sample_in_packet = np.arange(total, dtype=np.int64) - first_of_pkt
    mag_present = has_mag[sample_pkt]
    head_len = np.minimum(lengths, HEADER_BYTES)
    part_len = np.stack([head_len, lengths - head_len], axis=1).ravel()

    def sample_rows(which: npt.NDArray[np.bool_], width: int) -> npt.NDArray[np.int16]:
        part_keep = np.stack([np.zeros(n_packets, dtype=bool), which], axis=1).ravel()
        return buf[np.repeat(part_keep, part_len)].view("<i2").reshape(-1, width)

    with_mag = good & has_mag
    if with_mag.any():
        counts = np.zeros((total, 9), dtype=np.int16)
        counts[~mag_present, :6] = sample_rows(good & ~has_mag, 6)
        counts[mag_present] = sample_rows(with_mag, 9)
    else:
        counts = sample_rows(good, 6)
    vals = counts.astype(np.float64)

    acc_g = vals[:, 0:3] / config.accel_lsb_per_g
    gyro_dps = vals[:, 3:6] / config.gyro_lsb_per_dps
    if with_mag.any():
        mag_ut = np.where(mag_present[:, None], vals[:, 6:9] * 0.1, np.nan)
    else:
        mag_ut = np.full((total, 3), np.nan)

    # Impossible physical values reject the whole packet: a corrupted packet is not trusted.
    bad_sample = (np.linalg.norm(acc_g, axis=1) > MAX_PLAUSIBLE_ACC_G) | (
        np.linalg.norm(gyro_dps, axis=1) > MAX_PLAUSIBLE_GYRO_DPS
    )
    if bad_sample.any():
        bad_pkts = np.unique(sample_pkt[bad_sample])
        reason[bad_pkts] = "impossible sample values"
        keep = ~np.isin(sample_pkt, bad_pkts)
        sample_pkt, sample_in_packet = sample_pkt[keep], sample_in_packet[keep]
        acc_g, gyro_dps, mag_ut = acc_g[keep], gyro_dps[keep], mag_ut[keep]

    for i in np.flatnonzero(reason != ""):
        rejected.append((int(i), str(reason[i])))
    return DecodedBatch(
        packet_index=sample_pkt,
        seq=seq[sample_pkt],
        tick=tick[sample_pkt],
        sample_in_packet=sample_in_packet,
        flags=flags[sample_pkt],
        acc_g=acc_g,
        gyro_dps=gyro_dps,
        mag_ut=mag_ut,
        rejected=rejected,
    )

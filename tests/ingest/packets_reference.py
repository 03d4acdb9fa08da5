"""The first decode_packets (fancy indexing per sample column): the reference for the byte-mask gather.

``ingest.packets.decode_packets`` must return exactly what this returns for any payloads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ingest.packets import (
    _KNOWN_FLAGS,
    BYTES_PER_SAMPLE,
    BYTES_PER_SAMPLE_MAG,
    FLAG_MAGNETOMETER,
    HEADER_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_PLAUSIBLE_ACC_G,
    MAX_PLAUSIBLE_GYRO_DPS,
    PACKET_VERSION,
    DecodedBatch,
    DeviceConfig,
)


def reference_decode_packets(payloads: Sequence[bytes], config: DeviceConfig) -> DecodedBatch:
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

    # Gather the samples of all well-formed packets in one fancy-indexing pass.
    g_idx = np.flatnonzero(good)
    g_n = n[g_idx]
    total = int(g_n.sum())
    sample_pkt = np.repeat(g_idx, g_n)
    first_of_pkt = np.repeat(np.cumsum(g_n) - g_n, g_n)
    sample_in_packet = np.arange(total, dtype=np.int64) - first_of_pkt
    offs = starts[sample_pkt] + HEADER_BYTES + sample_in_packet * per_sample[sample_pkt]
    cols = offs[:, None] + 2 * np.arange(9, dtype=np.int64)[None, :]
    mag_present = has_mag[sample_pkt]
    cols[~mag_present, 6:] = 0  # never read past a packet without magnetometer
    lo = hbuf[cols].astype(np.int64)
    hi = hbuf[cols + 1].astype(np.int64)
    vals = ((hi << 8) | lo).astype(np.uint16).view(np.int16).astype(np.float64)

    acc_g = vals[:, 0:3] / config.accel_lsb_per_g
    gyro_dps = vals[:, 3:6] / config.gyro_lsb_per_dps
    mag_ut = np.where(mag_present[:, None], vals[:, 6:9] * 0.1, np.nan)

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

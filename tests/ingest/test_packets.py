"""Packet codec of SPEC contract 1: round trips, rejects with reasons, and never a crash."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ingest.packets import (
    FLAG_CLIPPED,
    FLAG_DROPPED_BEFORE,
    FLAG_MAGNETOMETER,
    HEADER_BYTES,
    DeviceConfig,
    PacketError,
    decode_packets,
    encode_packet,
)

# +-8 g and +-2000 deg/s: every int16 count is physically plausible (|a| <= 13.9 g, |w| <= 3461 dps),
# so a round trip never trips the plausibility check.
CONFIG = DeviceConfig.from_bytes(DeviceConfig(1, 100, 4096.0, 16.4, 32768, 1).to_bytes())
INT16 = hnp.arrays(np.int16, st.tuples(st.integers(1, 19), st.just(6)))
SEQS = st.one_of(st.integers(0, 0xFFFF), st.sampled_from([0, 1, 0xFFFE, 0xFFFF, 0x10000, 0x10001]))
TICKS = st.one_of(
    st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2**31, 2**32 - 2, 2**32 - 1, 2**32, 2**32 + 5])
)


@st.composite
def packets(draw: st.DrawFn) -> tuple[int, int, np.ndarray, np.ndarray | None, int]:
    raw = draw(INT16)
    with_mag = draw(st.booleans())
    mag = draw(hnp.arrays(np.int16, (raw.shape[0], 3))) if with_mag else None
    flags = draw(st.sampled_from([0, FLAG_CLIPPED, FLAG_DROPPED_BEFORE, FLAG_CLIPPED | FLAG_DROPPED_BEFORE]))
    return draw(SEQS), draw(TICKS), raw, mag, flags


@settings(max_examples=120, deadline=None)
@given(st.lists(packets(), min_size=1, max_size=6))
def test_round_trip_returns_the_counts_exactly(batch: list) -> None:
    payloads = [
        encode_packet(seq, tick, raw, flags=flags, mag_raw=mag) for seq, tick, raw, mag, flags in batch
    ]
    out = decode_packets(payloads, CONFIG)
    assert out.rejected == []
    assert out.n_samples == sum(raw.shape[0] for _, _, raw, _, _ in batch)
    start = 0
    for i, (seq, tick, raw, mag, flags) in enumerate(batch):
        n = raw.shape[0]
        sl = slice(start, start + n)
        start += n
        assert len(payloads[i]) == HEADER_BYTES + n * (18 if mag is not None else 12)
        np.testing.assert_array_equal(out.packet_index[sl], i)
        np.testing.assert_array_equal(out.sample_in_packet[sl], np.arange(n))
        np.testing.assert_array_equal(out.seq[sl], seq % 65536)
        np.testing.assert_array_equal(out.tick[sl], tick % 2**32)
        expect_flags = flags | (FLAG_MAGNETOMETER if mag is not None else 0)
        np.testing.assert_array_equal(out.flags[sl], expect_flags)
        # Scaled values are exactly counts / LSB, and scaling back gives the counts.
        np.testing.assert_array_equal(out.acc_g[sl], raw[:, :3].astype(np.float64) / CONFIG.accel_lsb_per_g)
        np.testing.assert_array_equal(
            out.gyro_dps[sl], raw[:, 3:].astype(np.float64) / CONFIG.gyro_lsb_per_dps
        )
        np.testing.assert_array_equal(np.round(out.acc_g[sl] * CONFIG.accel_lsb_per_g), raw[:, :3])
        np.testing.assert_array_equal(np.round(out.gyro_dps[sl] * CONFIG.gyro_lsb_per_dps), raw[:, 3:])
        if mag is None:
            assert np.isnan(out.mag_ut[sl]).all()
        else:
            np.testing.assert_array_equal(np.round(out.mag_ut[sl] * 10), mag)


def _check_accounting(payloads: list[bytes], config: DeviceConfig) -> None:
    """Every payload is either fully decoded (its header's n samples) or rejected with a reason."""
    out = decode_packets(payloads, config)
    rejected = dict(out.rejected)
    assert len(rejected) == len(out.rejected), "a packet was rejected twice"
    for i, why in out.rejected:
        assert 0 <= i < len(payloads)
        assert isinstance(why, str) and why.strip()
    counts = np.bincount(out.packet_index, minlength=len(payloads))
    for i, p in enumerate(payloads):
        if i in rejected:
            assert counts[i] == 0
        else:
            n = p[7]
            per = 18 if p[0] & FLAG_MAGNETOMETER else 12
            assert p[0] >> 4 == 1 and n > 0 and len(p) == HEADER_BYTES + n * per
            assert counts[i] == n
    assert np.isfinite(out.acc_g).all() and np.isfinite(out.gyro_dps).all()
    assert (np.linalg.norm(out.acc_g, axis=1) <= 20).all()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=600), max_size=12))
def test_random_bytes_never_raise_and_every_reject_has_a_reason(payloads: list[bytes]) -> None:
    _check_accounting(payloads, CONFIG)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    seq, tick, raw, mag, flags = draw(packets())
    p = bytearray(encode_packet(seq, tick, raw, flags=flags, mag_raw=mag))
    op = draw(st.sampled_from(["flip", "truncate", "append", "header"]))
    if op == "flip":
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(p) - 1))
            p[i] ^= 1 << draw(st.integers(0, 7))
    elif op == "truncate":
        p = p[: draw(st.integers(0, len(p) - 1))]
    elif op == "append":
        p += draw(st.binary(min_size=1, max_size=40))
    else:
        i = draw(st.integers(0, HEADER_BYTES - 1))
        p[i] = draw(st.integers(0, 255))
    return bytes(p)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            mutated(), packets().map(lambda a: encode_packet(a[0], a[1], a[2], flags=a[4], mag_raw=a[3]))
        ),
        max_size=8,
    )
)
def test_mutated_packets_never_raise_and_good_neighbours_survive(payloads: list[bytes]) -> None:
    _check_accounting(payloads, CONFIG)


def _reason(payload: bytes) -> str:
    good = encode_packet(1, 100, np.ones((2, 6)))
    out = decode_packets([good, payload, good], CONFIG)
    assert out.n_samples == 4, "the good packets beside a bad one were not kept"
    assert [i for i, _ in out.rejected] == [1]
    return out.rejected[0][1]


def test_specific_rejects() -> None:
    ok = encode_packet(7, 1234, np.ones((3, 6)))
    assert _reason(ok[:5]) == "shorter than the 8-byte header"
    assert _reason(b"") == "shorter than the 8-byte header"
    assert _reason(ok[:-1]) == "shorter than its header says"
    assert _reason(ok + b"\x00") == "longer than its header says"
    assert _reason(bytes([0x20]) + ok[1:]) == "unknown packet version"
    assert _reason(bytes([0x00]) + ok[1:]) == "unknown packet version"
    assert _reason(struct.pack("<BHIB", 0x10, 1, 5, 0)) == "packet with zero samples"
    assert _reason(bytes([0x18]) + ok[1:]) == "reserved flag bit set"


def test_impossible_values_reject_the_whole_packet() -> None:
    sensitive = DeviceConfig(1, 50, 1000.0, 16.4, 32768, 1)  # 32767 counts = 32.8 g
    raw = np.zeros((3, 6), dtype=np.int16)
    raw[:, 2] = 1000
    raw[1, 0] = 32000
    out = decode_packets([encode_packet(1, 0, raw), encode_packet(2, 96, np.zeros((1, 6)))], sensitive)
    assert out.rejected == [(0, "impossible sample values")]
    np.testing.assert_array_equal(out.packet_index, [1])


def test_empty_batch() -> None:
    out = decode_packets([], CONFIG)
    assert out.n_samples == 0 and out.rejected == []
    assert out.acc_g.shape == (0, 3)


@given(
    st.integers(1, 65535),
    st.floats(1.0, 1e5, width=32),
    st.floats(1.0, 1e4, width=32),
    st.integers(1, 2**32 - 1),
    st.sampled_from([1, 2, 3]),
)
def test_device_config_round_trip(rate: int, acc: float, gyro: float, tick_hz: int, placement: int) -> None:
    cfg = DeviceConfig(1, rate, acc, gyro, tick_hz, placement)
    data = cfg.to_bytes()
    assert len(data) == 16
    assert DeviceConfig.from_bytes(data) == cfg
    assert DeviceConfig.from_bytes(data).placement == {1: "occiput", 2: "c7", 3: "neck"}[placement]


def test_device_config_layout_is_the_contract() -> None:
    data = DeviceConfig(1, 50, 4096.0, 16.4, 32768, 2).to_bytes()
    assert data[0] == 1
    assert struct.unpack_from("<H", data, 1)[0] == 50
    assert struct.unpack_from("<f", data, 3)[0] == 4096.0
    assert struct.unpack_from("<I", data, 11)[0] == 32768
    assert data[15] == 2


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x01" * 15, "must be 16 bytes"),
        (b"\x01" * 17, "must be 16 bytes"),
        (struct.pack("<BHffIB", 2, 50, 4096.0, 16.4, 32768, 1), "profile_version 2"),
        (struct.pack("<BHffIB", 1, 0, 4096.0, 16.4, 32768, 1), "impossible values"),
        (struct.pack("<BHffIB", 1, 50, 0.0, 16.4, 32768, 1), "impossible values"),
        (struct.pack("<BHffIB", 1, 50, -4096.0, 16.4, 32768, 1), "impossible values"),
        (struct.pack("<BHffIB", 1, 50, float("nan"), 16.4, 32768, 1), "impossible values"),
        (struct.pack("<BHffIB", 1, 50, 4096.0, float("nan"), 32768, 1), "impossible values"),
        # An infinite LSB/unit would scale every sample to 0 g / 0 deg/s: as impossible as NaN.
        (struct.pack("<BHffIB", 1, 50, float("inf"), 16.4, 32768, 1), "impossible values"),
        (struct.pack("<BHffIB", 1, 50, 4096.0, float("inf"), 32768, 1), "impossible values"),
        (struct.pack("<BHffIB", 1, 50, 4096.0, 16.4, 0, 1), "impossible values"),
    ],
    ids=[
        "15-bytes",
        "17-bytes",
        "version-2",
        "rate-0",
        "acc-lsb-0",
        "acc-lsb-negative",
        "acc-lsb-nan",
        "gyro-lsb-nan",
        "acc-lsb-inf",
        "gyro-lsb-inf",
        "tick-hz-0",
    ],
)
def test_device_config_refuses_bad_configs(data: bytes, match: str) -> None:
    with pytest.raises(PacketError, match=match):
        DeviceConfig.from_bytes(data)

"""decode_packets against its first implementation on any mix of payloads, bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from packets_reference import reference_decode_packets

from ingest.packets import DecodedBatch, DeviceConfig, decode_packets, encode_packet

CFG = DeviceConfig(1, 100, 4096.0, 16.4, 32768, 1)


@st.composite
def payload(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["plain", "mag", "mutated", "random", "huge"]))
    if kind == "random":
        return draw(st.binary(max_size=300))
    n = draw(st.integers(1, 19 if kind != "mag" else 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Large counts now and then: |acc| > 20 g or |gyro| > 4000 dps rejects the packet.
    scale = 30000 if kind == "huge" else 3000
    raw = rng.integers(-scale, scale, (n, 6)).astype(np.int16)
    mag = rng.integers(-500, 500, (n, 3)).astype(np.int16) if kind == "mag" else None
    flags = draw(st.sampled_from([0, 0, 2, 4]))
    data = encode_packet(
        draw(st.integers(0, 65535)), draw(st.integers(0, 2**32 - 1)), raw, flags=flags, mag_raw=mag
    )
    if kind == "mutated":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=3)) + data[at + draw(st.integers(0, 3)) :]
    return data


def assert_same_batch(a: DecodedBatch, b: DecodedBatch) -> None:
    for name in ("packet_index", "seq", "tick", "sample_in_packet", "flags", "acc_g", "gyro_dps", "mag_ut"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name, strict=True)
    assert a.rejected == b.rejected


@settings(max_examples=300, deadline=None)
@given(st.lists(payload(), max_size=40))
def test_decode_matches_reference(payloads: list[bytes]) -> None:
    assert_same_batch(decode_packets(payloads, CFG), reference_decode_packets(payloads, CFG))


def test_decode_matches_reference_on_a_large_batch() -> None:
    rng = np.random.default_rng(3)
    payloads = [
        encode_packet(
            i, i * 6208, rng.integers(-3000, 3000, (19, 6)), mag_raw=None if i % 7 else np.ones((19, 3))
        )
        for i in range(3000)
    ]
    payloads[10] = payloads[10][:-1]
    assert_same_batch(decode_packets(payloads, CFG), reference_decode_packets(payloads, CFG))

"""Random and mutated packets never crash the session decoder; every rejection is quarantined."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.gateway.session import SessionDecoder
from ingest.packets import DeviceConfig, encode_packet

CFG = DeviceConfig(1, 100, 4096.0, 16.4, 32768, 1)


def _good(seq: int) -> bytes:
    raw = np.full((19, 6), 100, dtype=np.int16)
    return encode_packet(seq, seq * 19 * 328, raw)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.tuples(st.integers(0, 500), st.integers(0, 239), st.integers(0, 255)).map(
                lambda t: bytes(b if i != t[1] else t[2] for i, b in enumerate(_good(t[0])))
            ),
            st.integers(0, 500).map(_good),
        ),
        max_size=60,
    )
)
def test_mutated_notifications_never_crash(payloads: list[bytes]) -> None:
    dec = SessionDecoder("fuzz", CFG)
    rx = 1.75e9 + np.arange(len(payloads)) * 0.19
    half = len(payloads) // 2
    a = dec.feed(rx[:half], payloads[:half])
    b = dec.feed(rx[half:], payloads[half:])
    c = dec.close()
    rejected = len(a.rejected) + len(b.rejected)
    kept_packets = sum(len(x.t_utc_us) for x in (a, b, c))
    assert rejected <= len(payloads)
    assert all(r.reason.startswith("packet rejected: ") for r in (*a.rejected, *b.rejected))
    assert kept_packets <= 255 * (len(payloads) - rejected)
    dec.gaps()

"""Without the compiled SIMD filter (no C compiler at install), or where it was not compiled to AVX-512,
the scalar filter runs, and says so once."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from features import orientation as O  # noqa: N812


@pytest.mark.parametrize(
    ("attr", "value", "level", "says"),
    [
        ("_orientation_lanes", None, logging.WARNING, ("not built", "make install")),
        ("LANES_FASTER", False, logging.INFO, ("no AVX-512",)),
    ],
    ids=["extension not built", "no AVX-512"],
)
def test_long_recordings_use_the_scalar_loop_and_say_why_once(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    attr: str,
    value: object,
    level: int,
    says: tuple[str, ...],
) -> None:
    monkeypatch.setattr(O, attr, value)
    monkeypatch.setattr(O, "_warned_no_lanes", False)
    t = np.arange(0.0, 4 * 3600.0, 0.02)
    with caplog.at_level(level, logger="features.orientation"):
        assert O.lane_count(t) == 1
        assert O.lane_count(t) == 1
        assert O.lane_count(t[:1000]) == 1  # short: scalar anyway, nothing to say
    notes = [r.getMessage() for r in caplog.records if r.levelno == level]
    assert len(notes) == 1, notes
    assert all(s in notes[0] for s in says), notes[0]


@pytest.mark.skipif(O._orientation_lanes is None, reason="extension not built (make install)")
def test_with_avx512_a_4_h_recording_runs_as_7_lanes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(O, "LANES_FASTER", True)
    assert O.lane_count(np.arange(0.0, 4 * 3600.0, 0.02)) == 7  # 30-min chunks


def test_the_lanes_are_picked_exactly_where_they_were_compiled_for_avx512() -> None:
    built = O._orientation_lanes
    compiled_for_avx512 = built is not None and bool(built.AVX512)
    assert compiled_for_avx512 is O.LANES_FASTER

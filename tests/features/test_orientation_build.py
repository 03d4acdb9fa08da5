"""Without the compiled SIMD filter (no C compiler at install), or where it was not compiled to AVX-512,
the scalar filter runs, and says so."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from features import orientation as O  # noqa: N812


def test_without_the_extension_long_recordings_use_the_scalar_loop_and_warn_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(O, "_orientation_lanes", None)
    monkeypatch.setattr(O, "_warned_no_lanes", False)
    t = np.arange(0.0, 4 * 3600.0, 0.02)
    with caplog.at_level(logging.WARNING, logger="features.orientation"):
        assert O.lane_count(t) == 1
        assert O.lane_count(t) == 1
        assert O.lane_count(t[:1000]) == 1  # short: scalar anyway, no warning needed
    warnings = [r for r in caplog.records if "not built" in r.getMessage()]
    assert len(warnings) == 1
    assert "make install" in warnings[0].getMessage()


def test_without_avx512_long_recordings_use_the_scalar_loop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(O, "LANES_FASTER", False)
    monkeypatch.setattr(O, "_warned_no_lanes", False)
    t = np.arange(0.0, 4 * 3600.0, 0.02)
    with caplog.at_level(logging.INFO, logger="features.orientation"):
        assert O.lane_count(t) == 1
        assert O.lane_count(t) == 1
    notes = [r for r in caplog.records if "AVX-512" in r.getMessage()]
    assert len(notes) == 1
    monkeypatch.setattr(O, "LANES_FASTER", True)
    assert O.lane_count(t) == 7 or O._orientation_lanes is None  # 4 h / 30 min chunks: 7 lanes


def test_the_lanes_are_picked_exactly_where_they_were_compiled_for_avx512() -> None:
    built = O._orientation_lanes
    compiled_for_avx512 = built is not None and bool(built.AVX512)
    assert compiled_for_avx512 is O.LANES_FASTER

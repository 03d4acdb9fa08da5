"""Without the compiled SIMD filter (no C compiler at install) the scalar filter runs, and says so."""

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

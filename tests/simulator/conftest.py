from __future__ import annotations

from pathlib import Path

import pytest

from simulator import CohortSummary, SimulationParams, write_cohort

SMALL = SimulationParams(participants=3, days=84, hours_per_day=0.1, rate_hz=25, imu_every_nth_day=10, seed=7)


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CohortSummary]:
    out = tmp_path_factory.mktemp("cohort")
    return out, write_cohort(out, SMALL)


@pytest.fixture(scope="session")
def small_params() -> SimulationParams:
    return SMALL

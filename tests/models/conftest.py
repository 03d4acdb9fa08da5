from __future__ import annotations

import pytest

from models.testing import SyntheticCohort, make_cohort


@pytest.fixture(scope="session")
def small_cohort() -> SyntheticCohort:
    """24 participants x (28 + 84) days with sensor features; seconds to build."""
    return make_cohort(participants=24, days=84, seed=11)


@pytest.fixture(scope="session")
def diary_cohort() -> SyntheticCohort:
    """Diary and baseline only: no participant-day sensor features at all."""
    return make_cohort(participants=20, days=84, seed=12, sensor=False)

"""Reading a simulated cohort's truth: a folder without one is refused with its name."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import ModelError
from models.matrix import build_flare_matrix
from models.testing import SyntheticCohort
from models.truth import oracle_from_simulator, with_true_latent_state


def test_a_folder_without_truth_is_refused_by_name(tmp_path: Path, diary_cohort: SyntheticCohort) -> None:
    matrix = build_flare_matrix(diary_cohort.data, "flare_1d")
    with pytest.raises(ModelError, match=str(tmp_path)):
        oracle_from_simulator(tmp_path)
    with pytest.raises(ModelError, match=str(tmp_path)):
        with_true_latent_state(matrix, tmp_path)

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from models.matrix import build_flare_matrix
from models.predict import align
from models.testing import SyntheticCohort


def test_no_prediction_for_a_participant_silent_for_two_weeks(small_cohort: SyntheticCohort) -> None:
    c = small_cohort.data
    gone = (c.diary["subject_id"] == "S0003") & (c.diary["diary_date"] > pd.Timestamp("2026-02-10"))
    cohort = dataclasses.replace(c, diary=c.diary[~gone])
    soon = build_flare_matrix(cohort, "flare_1d", days=[np.datetime64("2026-02-15")])
    late = build_flare_matrix(cohort, "flare_1d", days=[np.datetime64("2026-03-10")])
    assert "S0003" in set(soon.subject_id)
    assert "S0003" not in set(late.subject_id)
    assert len(late) == 23


def test_a_model_trained_with_sensors_runs_on_diary_only_rows(diary_cohort: SyntheticCohort) -> None:
    m = build_flare_matrix(diary_cohort.data, "flare_1d", days=[np.datetime64("2026-03-01")])
    names = (*m.feature_names[:5], "flexion_gt20_min_today")
    X = align(m, names)
    assert X.shape == (len(m), 6)
    assert np.isnan(X[:, 5]).all()
    assert np.array_equal(X[:, :5], m.X[:, :5], equal_nan=True)

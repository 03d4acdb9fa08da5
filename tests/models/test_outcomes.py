"""The SPEC responder definition on hand-made diaries."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ingest.tables import DIARY_STORE_COLUMNS
from models.grid import build_grids
from models.matrix import responder_labels


def _label(baseline_headaches: int, outcome_headaches: int, baseline_filled: int = 28) -> float:
    ts = pd.Timestamp("2026-03-01")
    rows = []
    for k in range(-28, 84):
        day = ts + pd.Timedelta(days=k)
        if k < 0:
            if k + 28 >= baseline_filled:
                continue
            headache = int(k + 28 < baseline_headaches)
        elif k >= 42:
            headache = int(k - 42 < outcome_headaches)
        else:
            headache = 0
        rows.append(("A", day, headache, 6.0 if headache else np.nan, 0.0, 0.0, np.nan, np.nan, pd.NaT))
    diary = pd.DataFrame(rows, columns=list(DIARY_STORE_COLUMNS))
    diary["entered_at"] = pd.to_datetime(diary["entered_at"], utc=True)
    participants = pd.DataFrame({"subject_id": ["A"], "treatment_start": [ts]})
    (grid,) = build_grids(participants, diary, pd.DataFrame({"subject_id": [], "day": []}), [])
    return responder_labels(grid)


def test_half_the_frequency_is_a_responder() -> None:
    # Baseline 12 per 28 days; outcome window 42 days: 9 headache days = 6 per 28 = exactly 50 % fewer.
    assert _label(12, 9) == 1.0
    assert _label(12, 10) == 0.0


def test_too_few_filled_baseline_days_leave_the_label_unknown() -> None:
    assert _label(10, 2, baseline_filled=20) == 1.0  # 20 of 28 filled is enough (5/7)
    assert np.isnan(_label(10, 2, baseline_filled=19))

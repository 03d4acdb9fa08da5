from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from models.explain import contributions, explain_rows, phrase
from models.matrix import build_flare_matrix
from models.metrics import evaluate_scores, paired_auc_gap
from models.testing import SyntheticCohort
from models.training import train_target


def test_weighted_metrics_match_sklearn_and_intervals_cover() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(3000) < 0.25).astype(float)
    p = np.round(np.clip(0.25 + 0.2 * (y - 0.25) + rng.normal(0, 0.15, 3000), 0, 1), 2)  # with ties
    groups = rng.integers(0, 60, 3000)
    m = evaluate_scores(p, y, groups, n_boot=200, seed=0)
    assert np.isclose(m.auroc.value, roc_auc_score(y, p))
    assert np.isclose(m.auprc.value, average_precision_score(y, p))
    assert np.isclose(m.brier.value, brier_score_loss(y, p))
    assert m.auroc.low < m.auroc.value < m.auroc.high
    gap = paired_auc_gap(p, y * 0.9 + 0.05, y, groups, n_boot=100)
    assert np.isclose(gap.value, 1.0 - m.auroc.value)


def test_phrases_are_in_plain_words() -> None:
    assert phrase("headache_frac_7d", 5 / 7) == "headache on 5 of the last 7 days"
    assert phrase("flare_today", 1.0) == "moderate-to-severe headache today"
    assert (
        phrase("flexion_gt20_min_vs28d", 35.0) == "flexion above 20° today 35 min above their 4-week average"
    )
    assert "before treatment" in phrase("baseline_headache_per_28d", 14.0)


def test_explanations_name_real_reasons_and_never_missing_inputs(small_cohort: SyntheticCohort) -> None:
    trained = train_target(small_cohort.data, "flare_1d", "logreg", seed=0, cross_validate=False)
    m = build_flare_matrix(small_cohort.data, "flare_1d")
    X = m.X[:300].copy()
    j = m.feature_names.index("headache_frac_7d")
    X[:, j] = np.nan  # nobody may be told about a value that is missing
    contrib = contributions(trained.estimator.predict_proba, X, trained.reference)
    assert np.all(contrib[:, j] == 0)
    words = explain_rows("flare_1d", X, contrib, trained.feature_names)
    assert len(words) == 300
    risky = int(np.argmax(trained.predict_proba(X)[:, 1]))
    assert words[risky].startswith("Raises risk:")
    assert "_" not in words[risky]  # no raw feature names

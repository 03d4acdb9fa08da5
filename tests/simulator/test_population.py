"""Cohort-level realism: responder rate, light-headedness odds ratio, oracle AUCs, frequency."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from simulator import population as pop


@pytest.fixture(scope="module")
def cohort() -> dict[str, np.ndarray]:
    n = 400
    res: dict[str, list[np.ndarray | float]] = {
        k: [] for k in ("lh", "resp", "presp", "f1", "y1", "f3", "y3", "hpw")
    }
    for i in range(n):
        ss = np.random.SeedSequence(11, spawn_key=(i,))
        rng, rng_o = (np.random.default_rng(s) for s in ss.spawn(2))
        while True:
            p = pop.draw_participant(rng, i, n, ("Europe/Berlin",), dt.date(2026, 2, 16))
            path = pop.simulate_paths(rng, p, 115, 1)
            if pop.passes_screening(path.headache)[0]:
                break
        f1, f3 = pop.flare_probabilities(rng_o, p, path)
        flare = (path.headache[0] == 1) & (path.intensity[0] >= 5)
        res["f1"].append(f1[:111])
        res["y1"].append(flare[1:112])
        res["f3"].append(f3[:111])
        res["y3"].append(np.array([flare[d + 1 : d + 4].any() for d in range(111)]))
        res["lh"].append(float(p.lightheaded))
        res["resp"].append(float(pop.responder_outcome(path.headache[:, :112])[0]))
        res["presp"].append(pop.p_responder(rng_o, p, path))
        res["hpw"].append(float(path.headache[0, :28].mean() * 7))
    return {k: np.concatenate(v) if isinstance(v[0], np.ndarray) else np.array(v) for k, v in res.items()}


def test_responder_rate_and_lightheadedness_odds(cohort: dict[str, np.ndarray]) -> None:
    resp, lh = cohort["resp"], cohort["lh"] == 1
    assert 0.68 <= resp.mean() <= 0.82
    a, b = resp[~lh].mean(), resp[lh].mean()
    odds_ratio = (a / (1 - a)) / (b / (1 - b))
    assert 3.0 <= odds_ratio <= 10.0  # SPEC: absence of light-headedness OR ~5.5


def test_baseline_headache_frequency(cohort: dict[str, np.ndarray]) -> None:
    assert 3.0 <= cohort["hpw"].mean() <= 4.0  # SPEC: 3.5 days/week on average
    assert cohort["hpw"].min() >= 1.0  # trial entry >= 1/week


def test_oracle_aucs_are_modest(cohort: dict[str, np.ndarray]) -> None:
    auc1 = roc_auc_score(cohort["y1"], cohort["f1"])
    auc3 = roc_auc_score(cohort["y3"], cohort["f3"])
    auc_r = roc_auc_score(cohort["resp"], cohort["presp"])
    assert 0.70 <= auc1 <= 0.82, auc1
    assert 0.70 <= auc3 <= 0.87, auc3
    assert 0.62 <= auc_r <= 0.85, auc_r

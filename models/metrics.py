"""Discrimination and calibration metrics with participant-level bootstrap intervals.

Rows of one participant are correlated (same person, consecutive days), so intervals resample
*participants* with replacement, never rows. A bootstrap replicate is a vector of per-row weights
(how many times the row's participant was drawn); AUROC, AUPRC and Brier score are computed as
weighted statistics, vectorised over replicates, so 1000 replicates cost about as much as a
handful of ``roc_auc_score`` calls.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A point estimate with a 95 % participant-bootstrap interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class CalibrationBin:
    mean_predicted: float
    observed_rate: float
    n_rows: int


@dataclass(frozen=True)
class Metrics:
    """Metrics of one model on one evaluation set.

    Attributes
    ----------
    n_rows, n_participants, n_positive : int
    prevalence : float
    auroc, auprc, brier : Interval
    calibration : tuple[CalibrationBin, ...]
        Quantile bins of predicted probability.
    """

    n_rows: int
    n_participants: int
    n_positive: int
    prevalence: float
    auroc: Interval
    auprc: Interval
    brier: Interval
    calibration: tuple[CalibrationBin, ...]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """Headline figures with their 95 % intervals, for model cards, reports and status."""
        return {
            "auroc": self.auroc.value,
            "auroc_ci": [self.auroc.low, self.auroc.high],
            "auprc": self.auprc.value,
            "auprc_ci": [self.auprc.low, self.auprc.high],
            "brier": self.brier.value,
            "brier_ci": [self.brier.low, self.brier.high],
            "prevalence": self.prevalence,
            "n_rows": self.n_rows,
            "n_participants": self.n_participants,
        }


def _weighted_scores(
    score: np.ndarray, y: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUROC, AUPRC and Brier for weight rows ``w`` (B, n); ties in ``score`` share credit."""
    order = np.argsort(-score, kind="mergesort")
    s, yy, ww = score[order], y[order], w[:, order]
    starts = np.r_[0, np.nonzero(np.diff(s))[0] + 1]
    pos = np.add.reduceat(ww * yy, starts, axis=1)
    neg = np.add.reduceat(ww * (1 - yy), starts, axis=1)
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    # Descending scores: a positive outranks the negatives in later (lower-score) groups.
    neg_below = total_neg[:, None] - np.cumsum(neg, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auroc = (pos * (neg_below + 0.5 * neg)).sum(axis=1) / (total_pos * total_neg)
        tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-12), 0.0)
        auprc = (pos * precision).sum(axis=1) / total_pos
        brier = (w * (score - y) ** 2).sum(axis=1) / w.sum(axis=1)
    return auroc, auprc, brier


def bootstrap_weights(groups: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot + 1, n_rows) row weights; row 0 is the original sample (all ones)."""
    uniq, inverse = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(uniq), np.full(len(uniq), 1.0 / len(uniq)), size=n_boot).astype(float)
    return np.vstack([np.ones(len(groups)), draws[:, inverse]])


def _interval(values: np.ndarray) -> Interval:
    rest = values[1:][np.isfinite(values[1:])]
    low, high = np.percentile(rest, [2.5, 97.5]) if len(rest) else (np.nan, np.nan)
    return Interval(float(values[0]), float(low), float(high))


def calibration_bins(probability: np.ndarray, y: np.ndarray, n_bins: int = 10) -> tuple[CalibrationBin, ...]:
    """Quantile bins of predicted probability: mean prediction vs observed rate."""
    if len(probability) == 0:
        return ()
    edges = np.unique(np.quantile(probability, np.linspace(0, 1, n_bins + 1)))
    which = np.clip(np.searchsorted(edges, probability, side="right") - 1, 0, max(len(edges) - 2, 0))
    out = []
    for b in np.unique(which):
        m = which == b
        out.append(CalibrationBin(float(probability[m].mean()), float(y[m].mean()), int(m.sum())))
    return tuple(out)


def evaluate_scores(
    probability: np.ndarray, y: np.ndarray, groups: np.ndarray, n_boot: int = 500, seed: int = 0
) -> Metrics:
    """All metrics of ``probability`` (n,) against 0/1 ``y`` (n,), bootstrapped over ``groups``."""
    p = np.asarray(probability, dtype=float)
    yy = np.asarray(y, dtype=float)
    w = bootstrap_weights(np.asarray(groups), n_boot, seed)
    auroc, auprc, brier = _weighted_scores(p, yy, w)
    return Metrics(
        n_rows=len(yy),
        n_participants=len(np.unique(groups)),
        n_positive=int(yy.sum()),
        prevalence=float(yy.mean()) if len(yy) else float("nan"),
        auroc=_interval(auroc),
        auprc=_interval(auprc),
        brier=_interval(brier),
        calibration=calibration_bins(p, yy),
    )


def paired_auc_gap(
    model: np.ndarray, oracle: np.ndarray, y: np.ndarray, groups: np.ndarray, n_boot: int = 500, seed: int = 0
) -> Interval:
    """Oracle AUROC minus model AUROC on the same rows, with a paired participant bootstrap."""
    w = bootstrap_weights(np.asarray(groups), n_boot, seed)
    a_model, _, _ = _weighted_scores(np.asarray(model, float), np.asarray(y, float), w)
    a_oracle, _, _ = _weighted_scores(np.asarray(oracle, float), np.asarray(y, float), w)
    return _interval(a_oracle - a_model)

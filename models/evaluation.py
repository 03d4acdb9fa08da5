"""Evaluation that cannot leak: grouped CV by participant, a temporal split, and the oracle gap.

Protocol (docs/models.md, "Evaluation protocol"):
1. Grouped K-fold: the participants of a test fold never appear in its training folds (nor in its
   calibration folds, see :mod:`models.pipelines`). Out-of-fold (OOF) probabilities of all rows give
   AUROC, AUPRC and Brier score with participant-bootstrap intervals.
2. Temporal split (flare-up only): train on rows whose label window ends before a cut-off date
   (``day + horizon < cutoff``: an embargo, so no training label peeks past the cut-off), test on rows
   from the cut-off on. This is how a deployed model meets the future.
3. Responder: the headline is the prediction at treatment start (week 0); later weeks are reported
   as the updated predictions they are.
4. Oracle gap: when the generator's true probabilities are known (simulated cohorts), their AUROC on
   exactly the same test rows, and the paired-bootstrap gap.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold
from threadpoolctl import threadpool_limits

from models.errors import NotEnoughDataError
from models.matrix import FeatureMatrix
from models.metrics import Interval, Metrics, evaluate_scores, paired_auc_gap
from models.pipelines import MODEL_KINDS, ModelKind, make_model
from models.targets import Target

log = logging.getLogger(__name__)

HORIZON_D: dict[Target, int] = {"flare_1d": 1, "flare_3d": 3, "responder": 0}


@dataclass(frozen=True)
class OutOfFold:
    """OOF predictions of one model kind for one target.

    Attributes
    ----------
    subject_id, day : ndarray
        (n,) keys of the rows.
    y, probability : ndarray
        (n,) label 0/1 and out-of-fold probability.
    fold : ndarray
        (n,) int, the fold in which each row was tested.
    """

    target: Target
    kind: ModelKind
    subject_id: np.ndarray
    day: np.ndarray
    y: np.ndarray
    probability: np.ndarray
    fold: np.ndarray

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "subject_id": self.subject_id.astype(str),
                "day": pd.to_datetime(self.day),
                "target": self.target,
                "model": self.kind,
                "probability": self.probability,
                "fold": self.fold,
                "label": self.y.astype(int),
            }
        )


@dataclass(frozen=True)
class KindResult:
    """Metrics of one model kind on one target."""

    kind: ModelKind
    grouped: Metrics
    temporal: Metrics | None = None
    by_week_auroc: dict[int, float] = field(default_factory=dict)
    oracle_gap: Interval | None = None


@dataclass(frozen=True)
class TargetEvaluation:
    """Everything measured for one target.

    ``headline_rows`` says which OOF rows the headline metrics use (all rows for flare-up,
    week-0 rows for responder); ``oracle`` is the true probabilities' metrics on those rows.
    """

    target: Target
    results: tuple[KindResult, ...]
    oof: tuple[OutOfFold, ...]
    oracle: Metrics | None
    temporal_cutoff: str | None

    def best(self) -> KindResult:
        return max(self.results, key=lambda r: (r.grouped.auroc.value, -r.grouped.brier.value))

    def result(self, kind: ModelKind) -> KindResult:
        return next(r for r in self.results if r.kind == kind)


def grouped_oof(matrix: FeatureMatrix, kind: ModelKind, n_folds: int = 5, seed: int = 0) -> OutOfFold:
    """Out-of-fold probabilities from ``n_folds`` folds grouped by participant."""
    m = matrix.labelled()
    groups = m.subject_id
    n_groups = len(np.unique(groups))
    if n_groups < max(n_folds, 2) or len(np.unique(m.y)) < 2:
        raise NotEnoughDataError(
            f"{matrix.target}: {n_groups} participants with observed outcomes and classes "
            f"{sorted(set(np.unique(m.y).tolist()))}; grouped {n_folds}-fold CV needs >= {n_folds} "
            "participants and both outcomes. Import more diary data or lower --folds."
        )
    probability = np.full(len(m), np.nan)
    fold = np.full(len(m), -1)
    splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(splitter.split(m.X, m.y, groups)):
        if len(np.unique(m.y[train])) < 2:
            raise NotEnoughDataError(
                f"{m.target}: a training fold of {len(np.unique(groups[train]))} participants has one outcome only; "
                "too few participants with each outcome for grouped CV"
            )
        model = make_model(kind, m.target, m.feature_names, m.y[train], groups[train], random_state=seed)
        with threadpool_limits(1):  # OpenMP threads thrash on a shared 2-core machine
            model.fit(m.X[train], m.y[train])
        probability[test] = model.predict_proba(m.X[test])[:, 1]
        fold[test] = k
    return OutOfFold(m.target, kind, m.subject_id, m.day, m.y, probability, fold)


def temporal_split(
    matrix: FeatureMatrix, kind: ModelKind, test_fraction: float = 1 / 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Train before a cut-off date, test after it; returns (train mask, test mask, test probabilities, cutoff).

    The cut-off is the date leaving ``test_fraction`` of labelled rows after it. Training rows need
    ``day + horizon < cutoff`` so their labels were observed before the cut-off.
    """
    m = matrix.labelled()
    horizon = np.timedelta64(HORIZON_D[m.target], "D")
    days = np.sort(m.day)
    cutoff = days[int(len(days) * (1 - test_fraction))]
    train = m.day + horizon < cutoff
    test = m.day >= cutoff
    if train.sum() == 0 or len(np.unique(m.y[train])) < 2 or len(np.unique(m.y[test])) < 2:
        raise NotEnoughDataError(f"{m.target}: the temporal split at {cutoff} leaves a side with one outcome")
    model = make_model(kind, m.target, m.feature_names, m.y[train], m.subject_id[train], random_state=seed)
    with threadpool_limits(1):
        model.fit(m.X[train], m.y[train])
    return train, test, model.predict_proba(m.X[test])[:, 1], str(cutoff)


def headline_rows(matrix: FeatureMatrix) -> np.ndarray:
    """Rows the headline uses: responder at treatment start (weeks_in_treatment == 0), else all."""
    if matrix.target != "responder":
        return np.ones(len(matrix), dtype=bool)
    week = matrix.X[:, matrix.feature_names.index("weeks_in_treatment")]
    return np.asarray(week == 0)


def evaluate_target(
    matrix: FeatureMatrix,
    kinds: Iterable[ModelKind] = MODEL_KINDS,
    *,
    oracle: pd.DataFrame | None = None,
    n_folds: int = 5,
    n_boot: int = 500,
    seed: int = 0,
    temporal: bool = True,
) -> TargetEvaluation:
    """Compare model kinds on one target.

    Parameters
    ----------
    matrix : FeatureMatrix
        All rows (unlabelled ones are dropped here).
    oracle : DataFrame, optional
        True probabilities: columns subject_id, probability, and ``day`` for flare-up targets.
    """
    m = matrix.labelled()
    if len(m) == 0 or len(np.unique(m.y)) < 2:
        raise NotEnoughDataError(
            f"{matrix.target}: {len(m)} rows with an observed outcome"
            + ("" if len(m) == 0 else f", all {int(m.y[0])}")
            + "; evaluation needs both outcomes (import diary data with `nuchal import`; responder also needs "
            "the run-in and weeks 7-12 of the diary)"
        )
    head = headline_rows(m)
    results, oofs = [], []
    oracle_p = _oracle_for(m, oracle) if oracle is not None else None
    oracle_metrics = None
    cutoff: str | None = None
    if oracle_p is not None:
        ok = head & ~np.isnan(oracle_p)
        oracle_metrics = evaluate_scores(oracle_p[ok], m.y[ok], m.subject_id[ok], n_boot, seed)
    for kind in kinds:
        log.info("evaluating %s on %s (%d rows)", kind, m.target, len(m))
        oof = grouped_oof(m, kind, n_folds, seed)
        oofs.append(oof)
        grouped = evaluate_scores(oof.probability[head], m.y[head], m.subject_id[head], n_boot, seed)
        temporal_metrics = None
        if temporal and m.target != "responder":
            _, test, p, cutoff = temporal_split(m, kind, seed=seed)
            temporal_metrics = evaluate_scores(p, m.y[test], m.subject_id[test], n_boot, seed)
        by_week: dict[int, float] = {}
        if m.target == "responder":
            week = m.X[:, m.feature_names.index("weeks_in_treatment")]
            for w in np.unique(week):
                rows = week == w
                if len(np.unique(m.y[rows])) == 2:
                    by_week[int(w)] = evaluate_scores(
                        oof.probability[rows], m.y[rows], m.subject_id[rows], 0
                    ).auroc.value
        gap = None
        if oracle_p is not None:
            ok = head & ~np.isnan(oracle_p)
            gap = paired_auc_gap(oof.probability[ok], oracle_p[ok], m.y[ok], m.subject_id[ok], n_boot, seed)
        results.append(KindResult(kind, grouped, temporal_metrics, by_week, gap))
    return TargetEvaluation(m.target, tuple(results), tuple(oofs), oracle_metrics, cutoff)


def _oracle_for(m: FeatureMatrix, oracle: pd.DataFrame) -> np.ndarray:
    """True probability per row of ``m`` (NaN where the oracle has no value)."""
    keys = pd.DataFrame({"subject_id": m.subject_id.astype(str)})
    if m.target == "responder":
        table = oracle[["subject_id", "probability"]].astype({"subject_id": str})
        return keys.merge(table, on="subject_id", how="left")["probability"].to_numpy(dtype=float)
    keys["day"] = pd.to_datetime(m.day).astype("datetime64[s]")
    table = oracle[["subject_id", "day", "probability"]].copy()
    table["subject_id"] = table["subject_id"].astype(str)
    table["day"] = pd.to_datetime(table["day"]).astype("datetime64[s]")
    return keys.merge(table, on=["subject_id", "day"], how="left")["probability"].to_numpy(dtype=float)

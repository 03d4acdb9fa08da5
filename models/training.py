"""Train one model for one target: cross-validated metrics first, then a fit on all labelled rows."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from threadpoolctl import threadpool_limits

from models.data import CohortData
from models.errors import NotEnoughDataError
from models.evaluation import evaluate_target
from models.matrix import FeatureMatrix, build_matrix
from models.metrics import Metrics
from models.pipelines import ModelKind, make_model
from models.targets import Target

log = logging.getLogger(__name__)

DEFAULT_KIND: ModelKind = "logreg"


@dataclass(frozen=True)
class TrainedModel:
    """A fitted, calibrated model and what it was trained on.

    Attributes
    ----------
    estimator : CalibratedClassifierCV
        ``predict_proba`` on (n, len(feature_names)) float inputs, NaN allowed.
    feature_names : tuple[str, ...]
        Input columns in order (the matrix builders' names).
    reference : ndarray
        (n_features,) median training value per input (NaN: never observed), for explanations.
    data_from, data_to : str
        First and last prediction day (ISO date) among the training rows.
    cv_metrics : Metrics | None
        Grouped-CV metrics of this model kind (headline rows), None when CV was skipped.
    """

    target: Target
    kind: ModelKind
    estimator: CalibratedClassifierCV
    feature_names: tuple[str, ...]
    reference: np.ndarray
    n_rows: int
    n_participants: int
    data_from: str
    data_to: str
    seed: int
    has_sensor_data: bool
    cv_metrics: Metrics | None

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, 2) probabilities for rows whose columns follow ``feature_names``."""
        return np.asarray(self.estimator.predict_proba(X))


def fit_matrix(
    matrix: FeatureMatrix, kind: ModelKind, seed: int
) -> tuple[CalibratedClassifierCV, np.ndarray]:
    """Fit a calibrated ``kind`` model on the labelled rows of ``matrix``; also return the reference row."""
    m = matrix.labelled()
    model = make_model(kind, m.target, m.feature_names, m.y, m.subject_id, random_state=seed)
    with threadpool_limits(1):  # OpenMP threads thrash on a shared 2-core machine
        model.fit(m.X, m.y)
    with np.errstate(all="ignore"):
        observed = ~np.isnan(m.X).all(axis=0)
        reference = np.full(m.X.shape[1], np.nan)
        reference[observed] = np.nanmedian(m.X[:, observed], axis=0)
    return model, reference


def train_target(
    cohort: CohortData,
    target: Target,
    kind: ModelKind = DEFAULT_KIND,
    *,
    seed: int = 0,
    n_folds: int = 5,
    n_boot: int = 200,
    cross_validate: bool = True,
    matrix: FeatureMatrix | None = None,
    **matrix_options: Any,
) -> TrainedModel:
    """Cross-validate (grouped by participant) and fit ``kind`` for ``target`` on ``cohort``."""
    matrix = matrix if matrix is not None else build_matrix(cohort, target, **matrix_options)
    m = matrix.labelled()
    if len(m) == 0:
        raise NotEnoughDataError(
            f"{target}: no participant-day has an observed outcome; import diary data "
            "(and baseline CSVs with treatment_start for responder) first"
        )
    cv_metrics = None
    if cross_validate:
        cv_metrics = (
            evaluate_target(m, [kind], n_folds=n_folds, n_boot=n_boot, seed=seed, temporal=False)
            .result(kind)
            .grouped
        )
    estimator, reference = fit_matrix(m, kind, seed)
    log.info(
        "trained %s %s on %d rows of %d participants", target, kind, len(m), len(np.unique(m.subject_id))
    )
    return TrainedModel(
        target=target,
        kind=kind,
        estimator=estimator,
        feature_names=m.feature_names,
        reference=reference,
        n_rows=len(m),
        n_participants=len(np.unique(m.subject_id)),
        data_from=str(m.day.min()),
        data_to=str(m.day.max()),
        seed=seed,
        has_sensor_data=cohort.has_sensor_data,
        cv_metrics=cv_metrics,
    )

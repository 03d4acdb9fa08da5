"""The candidate models: scikit-learn pipelines, each wrapped in grouped probability calibration.

- ``logreg``: median imputation with missing-indicators (a missing sensor day is information, not
  an error), scaling, L2-regularised logistic regression.
- ``hgb``: HistGradientBoosting, which handles missing values natively; shallow and regularised
  because a cohort holds a few hundred participants, not a few hundred thousand.
- ``baseline``: :class:`models.estimators.RecentRateBaseline` on one recent-rate column.

All are wrapped in ``CalibratedClassifierCV(method="sigmoid")`` whose folds are grouped by
participant: calibrating on rows of participants the base model was trained on would make the
probabilities over-confident exactly where therapists act on them.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from models.errors import NotEnoughDataError
from models.estimators import DropUninformativeColumns, RecentRateBaseline
from models.targets import Target

ModelKind = Literal["logreg", "hgb", "baseline"]
MODEL_KINDS: tuple[ModelKind, ...] = ("logreg", "hgb", "baseline")

# The trivial baseline's one column per target: recent flare-up frequency (persistence of a bad
# spell), and for responder status the run-in headache frequency.
BASELINE_COLUMN: dict[Target, str] = {
    "flare_1d": "flare_frac_7d",
    "flare_3d": "flare_frac_7d",
    "responder": "baseline_headache_per_28d",
}


def base_estimator(
    kind: ModelKind, target: Target, feature_names: tuple[str, ...], random_state: int
) -> ClassifierMixin:
    """An unfitted pipeline of ``kind`` for ``target``."""
    if kind == "logreg":
        # Strong shrinkage: rows of one participant are highly correlated, so the effective sample
        # is the number of participants, not of days. Measured (docs/models.md): at 200 participants
        # C = 0.01 and 0.1 tie, at 8-40 participants with ~150 sensor inputs 0.01 is clearly better.
        c = 0.05 if target == "responder" else 0.01
        return Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                ("scale", StandardScaler()),
                ("model", LogisticRegression(C=c, max_iter=2000, random_state=random_state)),
            ]
        )
    if kind == "hgb":
        small = target == "responder"
        # Columns with no values (a diary without neck pain, no sensor at all) or one value carry
        # nothing, and HistGradientBoosting's binning fails on an all-missing column.
        boost = HistGradientBoostingClassifier(
            learning_rate=0.1,
            max_iter=80 if small else 100,
            max_leaf_nodes=7 if small else 15,
            min_samples_leaf=20 if small else 80,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=random_state,
        )
        return Pipeline([("drop_empty", DropUninformativeColumns()), ("model", boost)])
    if kind == "baseline":
        name = BASELINE_COLUMN[target]
        if name not in feature_names:
            raise NotEnoughDataError(
                f"the baseline for {target} needs feature {name!r}, absent from the matrix"
            )
        return RecentRateBaseline(column=feature_names.index(name))
    raise ValueError(f"unknown model kind {kind!r}; choose one of {MODEL_KINDS}")


def make_model(
    kind: ModelKind,
    target: Target,
    feature_names: tuple[str, ...],
    y: np.ndarray,
    groups: np.ndarray,
    random_state: int = 0,
    calibration_folds: int = 3,
) -> CalibratedClassifierCV:
    """A calibrated, unfitted model whose calibration folds are grouped by ``groups`` (participants).

    Parameters
    ----------
    y : ndarray
        (n_rows,) 0/1 labels of the rows it will be fitted on.
    groups : ndarray
        (n_rows,) participant of each row.
    """
    n_groups = len(np.unique(groups))
    folds = min(calibration_folds, n_groups)
    if folds < 2 or len(np.unique(y)) < 2:
        raise NotEnoughDataError(
            f"{target}: need two outcome classes and >= 2 participants to calibrate, got "
            f"{n_groups} participants and classes {sorted(set(np.unique(y).tolist()))}"
        )
    splits = list(GroupKFold(n_splits=folds).split(np.zeros(len(y)), y, groups))
    # A calibration fold whose training part holds one outcome only cannot fit a classifier; tiny
    # cohorts (a demo of 8 participants) do that, so keep the usable folds or say why not.
    splits = [(tr, te) for tr, te in splits if len(np.unique(y[tr])) == 2]
    if len(splits) < 2:
        raise NotEnoughDataError(
            f"{target}: too few participants with each outcome to calibrate with grouped folds "
            f"({n_groups} participants, {int(np.sum(y == 1))} positive rows of {len(y)})"
        )
    return CalibratedClassifierCV(
        base_estimator(kind, target, feature_names, random_state), method="sigmoid", cv=splits
    )

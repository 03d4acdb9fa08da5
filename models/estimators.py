"""The trivial baseline as a proper scikit-learn estimator.

A model earns its keep only if it beats "what the participant has been doing lately". The baseline
looks at one column (recent flare-up frequency for flare-up risk, baseline headache frequency for
responder status) and maps it to a probability with a one-variable logistic fit, so its output is
a calibrated probability too and the comparison is fair on Brier score as well as AUC.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data


class RecentRateBaseline(ClassifierMixin, BaseEstimator):
    """Logistic map of a single column (e.g. flare-up days in the last 7 days) to a probability.

    Parameters
    ----------
    column : int
        Index of the column in ``X`` that carries the participant's recent rate.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    fill_value_ : float
        Training mean of the column, used where it is missing (NaN).
    logistic_ : LogisticRegression
        The fitted one-variable map.
    n_features_in_ : int
    """

    def __init__(self, column: int = 0) -> None:
        self.column = column

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        # One column of many: it is meant to be weak, and the generic "fits the training set" check
        # would otherwise demand an accuracy only a full model reaches.
        tags.classifier_tags.poor_score = True
        return tags

    def _column(self, X: np.ndarray) -> np.ndarray:
        if not 0 <= self.column < X.shape[1]:
            raise ValueError(f"column={self.column} is outside X with {X.shape[1]} columns")
        col = X[:, self.column].astype(float)
        return np.where(np.isnan(col), self.fill_value_, col).reshape(-1, 1)

    def fit(self, X: Any, y: Any) -> RecentRateBaseline:
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        if not 0 <= self.column < X.shape[1]:
            raise ValueError(f"column={self.column} is outside X with {X.shape[1]} columns")
        col = X[:, self.column].astype(float)
        self.fill_value_ = float(np.nanmean(col)) if np.isfinite(col).any() else 0.0
        self.logistic_ = LogisticRegression(C=1e4, max_iter=1000).fit(self._column(X), y)
        self.classes_ = self.logistic_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        return np.asarray(self.logistic_.predict_proba(self._column(X)))

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return np.asarray(self.classes_[np.argmax(proba, axis=1)])


class DropUninformativeColumns(TransformerMixin, BaseEstimator):
    """Drop columns with fewer than two distinct observed values (e.g. no sensor data at all).

    Such a column carries no information, and HistGradientBoosting's binning fails on a column
    that is entirely missing. Unlike ``VarianceThreshold`` it is silent about all-NaN columns,
    which are routine here (diary-only cohorts).

    Attributes
    ----------
    keep_ : ndarray of shape (n_features_in_,)
        True for kept columns.
    n_features_in_ : int
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X: Any, y: Any = None) -> DropUninformativeColumns:
        X = validate_data(self, X, ensure_all_finite="allow-nan")
        keep = np.zeros(X.shape[1], dtype=bool)
        for j in range(X.shape[1]):
            col = X[:, j]
            observed = col[~np.isnan(col)]
            keep[j] = observed.size > 0 and bool(np.any(observed != observed[0]))
        if not keep.any():
            keep[:] = True  # nothing informative: pass everything and let the model say so
        self.keep_ = keep
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        return np.asarray(X[:, self.keep_])

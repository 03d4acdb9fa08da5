"""Responder and flare-up models: leakage-proof feature matrices, evaluation, registry, prediction.

Pipeline position: ``warehouse`` public views (participants, diary, participant_day_features) ->
:mod:`models.matrix` (features known at the end of day d) -> scikit-learn pipelines
(:mod:`models.pipelines`) -> :mod:`models.evaluation` (grouped + temporal CV, bootstrap CIs) ->
:mod:`models.registry` (skops files verified by hash, model cards) -> :mod:`models.predict`
(rows in ``predictions`` that name the model version).
"""

from models.errors import ModelError, NotEnoughDataError, RegistryError, TamperedModelError
from models.targets import TARGETS, Target

__all__ = ["TARGETS", "ModelError", "NotEnoughDataError", "RegistryError", "TamperedModelError", "Target"]

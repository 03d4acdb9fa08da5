"""Daily predictions into the warehouse: idempotent per (day, target, model version).

At the end of day ``d`` every participant with diary data gets P(flare-up on d+1) and P(any flare-up
in d+1..d+3); participants between treatment start and the end of the outcome window get an updated
P(responder). Each row names the model version; by default only *promoted* models are used, since
those are the ones alerts may act on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.data import CohortData, load_cohort
from models.errors import ModelError, NotEnoughDataError
from models.grid import as_day
from models.matrix import FeatureMatrix, build_flare_matrix, build_responder_matrix
from models.registry import LoadedModel, load, promoted_version
from models.targets import DEFAULT_OUTCOMES, TARGETS, Target
from nuchal.home import Home
from warehouse import Warehouse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictionBatch:
    """What one ``predict`` wrote for one target (``model_version`` None: skipped, see ``note``)."""

    target: Target
    day: str
    model_version: str | None
    n_rows: int
    mean_probability: float
    note: str = ""


def latest_diary_day(cohort: CohortData) -> np.datetime64:
    if cohort.diary.empty:
        raise NotEnoughDataError("the warehouse has no diary rows yet; run `nuchal import` first")
    return as_day(cohort.diary["diary_date"].max())


def align(matrix: FeatureMatrix, feature_names: tuple[str, ...]) -> np.ndarray:
    """Columns of ``matrix`` in the model's order; inputs the model knows but the data lacks are NaN.

    Sensor columns come and go (features added, a cohort without sensors), so a model trained with
    them still runs: those inputs are simply missing, as on a day the sensor was not worn.
    """
    pos = {n: i for i, n in enumerate(matrix.feature_names)}
    out = np.full((len(matrix), len(feature_names)), np.nan)
    for j, name in enumerate(feature_names):
        if name in pos:
            out[:, j] = matrix.X[:, pos[name]]
    return out


def _rows_for(cohort: CohortData, target: Target, day: np.datetime64) -> FeatureMatrix:
    if target != "responder":
        return build_flare_matrix(cohort, target, days=[day])
    m = build_responder_matrix(cohort, at_day=day)
    starts = cohort.participants.set_index("subject_id")["treatment_start"]
    ts = np.array([as_day(starts[s]) if pd.notna(starts[s]) else np.datetime64("NaT") for s in m.subject_id])
    offset = (m.day - ts).astype("timedelta64[D]").astype(float) if len(m) else np.empty(0)
    # From the evening before treatment starts until the outcome window opens (week 7): from then on
    # the outcome is being observed, not predicted, and the model never saw such rows.
    return m.take((offset >= -1) & (offset <= DEFAULT_OUTCOMES.outcome_first_day - 2))


def predict_day(
    wh: Warehouse,
    home: Home,
    day: object | None = None,
    targets: Iterable[Target] = TARGETS,
    version: str | None = None,
) -> list[PredictionBatch]:
    """Predict every target for ``day`` (default: the latest diary day) and store the rows.

    Re-running for the same day and model replaces that day's rows, never duplicates them.
    """
    cohort = load_cohort(wh)
    d = latest_diary_day(cohort) if day is None else as_day(day)
    batches = []
    for target in targets:
        chosen = version if version is not None else promoted_version(home, target)
        if chosen is None:
            batches.append(PredictionBatch(target, str(d), None, 0, float("nan"), "no promoted model"))
            continue
        model = load(home, chosen)
        if model.record.target != target:
            if version is not None:
                continue  # an explicit version answers only its own target
            raise ModelError(f"promoted model {chosen} is for {model.record.target}, not {target}")
        batches.append(_predict_target(wh, model, cohort, target, d))
    return batches


def _predict_target(
    wh: Warehouse, model: LoadedModel, cohort: CohortData, target: Target, d: np.datetime64
) -> PredictionBatch:
    m = _rows_for(cohort, target, d)
    X = align(m, model.record.feature_names)
    p = model.predict_proba(X) if len(m) else np.empty(0)
    words = model.explain(X) if len(m) else []
    frame = pd.DataFrame(
        {
            "subject_id": m.subject_id.astype(str),
            "day": pd.to_datetime(m.day).date if len(m) else [],
            "target": target,
            "model_version": model.record.version,
            "probability": p.astype(float),
            "explanation": words,
        }
    )
    with wh.transaction() as cur:
        cur.execute(
            "DELETE FROM store.predictions WHERE day = ? AND target = ? AND model_version = ?",
            [str(d), target, model.record.version],
        )
        if len(frame):
            cur.register("new_predictions", frame)
            cur.execute(
                "INSERT INTO store.predictions (subject_id, day, target, model_version, probability, explanation)"
                " SELECT subject_id, day, target, model_version, probability, explanation FROM new_predictions"
            )
            cur.unregister("new_predictions")
    log.info("%s: %d predictions for %s with %s", target, len(frame), d, model.record.version)
    return PredictionBatch(
        target, str(d), model.record.version, len(frame), float(p.mean()) if len(p) else float("nan")
    )

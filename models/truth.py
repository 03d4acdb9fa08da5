"""The oracle: true probabilities from a simulated cohort's ``truth/`` folder (evaluation only).

The pipeline never reads truth; evaluation may, to say how far a model is from the best any model
could do on the same rows (the "oracle gap").
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.errors import ModelError
from models.matrix import FeatureMatrix
from models.targets import Target


def _load_truth(cohort_dir: Path | str) -> Any:
    """A simulated cohort's ``truth/`` folder, or a ModelError naming the folder."""
    try:
        import simulator
    except ImportError as e:  # pragma: no cover - the simulator ships with nuchal
        raise ModelError("the simulator package is needed to read a cohort's truth") from e
    try:
        return simulator.load_truth(Path(cohort_dir))
    except simulator.SimulatorError as e:
        raise ModelError(f"{cohort_dir}: cannot read the simulator's truth: {e}") from e


def oracle_from_simulator(cohort_dir: Path | str) -> dict[Target, pd.DataFrame]:
    """True probabilities per target: frames with subject_id, (day,) probability.

    ``p_flare_1d`` / ``p_flare_3d`` in truth/daily.csv are the probabilities of a flare-up in the next
    1 / 3 days given the state at the end of ``day``: exactly what the flare-up models estimate.
    ``p_responder`` in truth/participants.csv is the probability of responding at treatment start.
    """
    truth = _load_truth(cohort_dir)
    daily = truth.daily
    out: dict[Target, pd.DataFrame] = {}
    for target in ("flare_1d", "flare_3d"):
        col = {"flare_1d": "p_flare_1d", "flare_3d": "p_flare_3d"}[target]
        out[target] = pd.DataFrame(
            {
                "subject_id": daily["subject_id"].astype(str),
                "day": pd.to_datetime(daily["day"]).astype("datetime64[s]"),
                "probability": daily[col].astype(float),
            }
        )
    out["responder"] = pd.DataFrame(
        {
            "subject_id": truth.participants["subject_id"].astype(str),
            "probability": truth.participants["p_responder"].astype(float),
        }
    )
    return out


def with_true_latent_state(matrix: FeatureMatrix, cohort_dir: Path | str) -> FeatureMatrix:
    """``matrix`` plus the simulator's true latent state as extra columns: a perfect-sensor ceiling.

    Flare-up rows get the true posture load and ROM restriction at the end of the prediction day
    (what an ideal neck sensor would measure that day); responder rows get each participant's true
    baseline ROM restriction and posture-load level. A model trained on this says how close *any*
    sensor could bring a model to the oracle; it is a diagnostic of the bench, never a product.
    """
    truth = _load_truth(cohort_dir)
    keys = pd.DataFrame({"subject_id": matrix.subject_id.astype(str)})
    if matrix.target == "responder":
        table = truth.participants.astype({"subject_id": str})
        cols = ["rom_restriction_baseline", "posture_mean_logit"]
        merged = keys.merge(table[["subject_id", *cols]], on="subject_id", how="left")
    else:
        keys["day"] = pd.to_datetime(matrix.day).astype("datetime64[s]")
        table = truth.daily.astype({"subject_id": str})
        table["day"] = pd.to_datetime(table["day"]).astype("datetime64[s]")
        cols = ["posture_load", "rom_restriction"]
        merged = keys.merge(table[["subject_id", "day", *cols]], on=["subject_id", "day"], how="left")
    extra = merged[cols].to_numpy(dtype=float)
    return replace(
        matrix,
        X=np.column_stack([matrix.X, extra]),
        feature_names=(*matrix.feature_names, *(f"true_{c}" for c in cols)),
    )

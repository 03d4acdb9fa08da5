"""The oracle: true probabilities from a simulated cohort's ``truth/`` folder (evaluation only).

The pipeline never reads truth; evaluation may, to say how far a model is from the best any model
could do on the same rows (the "oracle gap").
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.errors import ModelError
from models.targets import Target


def oracle_from_simulator(cohort_dir: Path | str) -> dict[Target, pd.DataFrame]:
    """True probabilities per target: frames with subject_id, (day,) probability.

    ``p_flare_1d`` / ``p_flare_3d`` in truth/daily.csv are the probabilities of a flare-up in the next
    1 / 3 days given the state at the end of ``day``: exactly what the flare-up models estimate.
    ``p_responder`` in truth/participants.csv is the probability of responding at treatment start.
    """
    try:
        import simulator
    except ImportError as e:  # pragma: no cover - the simulator ships with nuchal
        raise ModelError("the simulator package is needed to read a cohort's truth") from e
    try:
        truth = simulator.load_truth(Path(cohort_dir))
    except simulator.SimulatorError as e:
        raise ModelError(f"{cohort_dir}: cannot read the oracle: {e}") from e
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

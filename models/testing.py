"""A tiny generative cohort with known true probabilities: the models' own test double.

It is not the project simulator (package ``simulator``); it exists so that the models package can be
tested in isolation, fast, with an exactly known oracle for ``flare_1d`` and ``responder``. It
writes straight into :class:`models.data.CohortData` frames, or into a warehouse's diary and
participants tables (diary-only cohorts).

Generative story (per participant i, day t), chosen so that each model input matters:
- headache propensity ``a_i``; light-headedness lowers the chance of responding (SPEC: OR ~5.5);
- a daily neck load ``load_t`` (AR(1)) is seen by the sensor as ``flexion_gt20_min`` on worn days;
- ``P(headache_{t+1}) = sigmoid(a_i + 1.0 headache_t + 0.6 load_t - effect_i(t+1))``;
  given a headache, it is severe (intensity 5-9) with ``sigmoid(-0.3 + 0.8 load_t)``;
- diary rows are entered between 20:00 and 01:00 UTC, so some count as known a day late.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ingest.tables import BASELINE_STORE_COLUMNS, DIARY_STORE_COLUMNS
from models.data import CohortData
from warehouse import Warehouse


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class SyntheticCohort:
    """Frames for the models plus the generator's truth.

    Attributes
    ----------
    data : CohortData
    p_flare_1d : DataFrame
        subject_id, day (datetime64), p_flare_1d: true P(flare on day+1 | state at end of day).
    p_responder : DataFrame
        subject_id, p_responder, responder (the latent status the generator drew).
    """

    data: CohortData
    p_flare_1d: pd.DataFrame
    p_responder: pd.DataFrame


def make_cohort(
    participants: int = 40,
    days: int = 84,
    *,
    baseline_days: int = 28,
    seed: int = 0,
    sensor: bool = True,
    missing_diary_frac: float = 0.05,
) -> SyntheticCohort:
    """Simulate ``participants`` x (``baseline_days`` + ``days``) diary days.

    Parameters
    ----------
    participants : int
    days : int
        Days from treatment start on (84 covers the SPEC outcome window, weeks 7-12).
    baseline_days : int
        Run-in days before treatment start.
    seed : int
    sensor : bool
        Also produce participant-day features (``wear_h``, ``flexion_gt20_min``, ``rom_rotation_total_deg``; real column names of the features view).
    missing_diary_frac : float
        Fraction of diary days left blank (participants forget).
    """
    rng = np.random.default_rng(seed)
    total = baseline_days + days
    start = np.datetime64("2026-01-05", "D")
    p_rows, d_rows, f_rows, truth_rows, resp_rows = [], [], [], [], []
    for i in range(participants):
        sid = f"S{i:04d}"
        light = int(rng.random() < 0.3)
        a_i = rng.normal(-0.6, 0.7)
        p_resp = float(_sigmoid(np.array(1.6 - 1.7 * light + rng.normal(0, 0.8)))[()])
        responder = int(rng.random() < p_resp)
        ts = start + np.timedelta64(baseline_days, "D")
        p_rows.append(
            (
                sid,
                float(rng.integers(20, 65)),
                "F" if rng.random() < 0.7 else "M",
                float(rng.integers(1, 20)),
                light,
                ts,
                f"T{i % 3}",
            )
        )
        resp_rows.append((sid, p_resp, responder))
        load = 0.0
        headache = 0
        for t in range(total):
            day = start + np.timedelta64(t, "D")
            load = 0.7 * load + rng.normal(0, 0.7)
            if t == 0:
                headache = int(rng.random() < _sigmoid(np.array(a_i)))
                severe = rng.random() < 0.4
            intensity = (
                (int(rng.integers(5, 10)) if severe else int(rng.integers(1, 5))) if headache else None
            )
            if rng.random() >= missing_diary_frac:
                entered = pd.Timestamp(str(day), tz="UTC") + pd.Timedelta(hours=20 + 5 * rng.random())
                d_rows.append(
                    (
                        sid,
                        day,
                        headache,
                        intensity,
                        float(rng.integers(1, 8)) if headache else 0.0,
                        int(headache and rng.random() < 0.5),
                        int(rng.integers(0, 8)),
                        int(light and rng.random() < 0.3),
                        entered,
                    )
                )
            if sensor and rng.random() < 0.8:
                f_rows.append(
                    (
                        sid,
                        day,
                        float(rng.uniform(6, 14)),
                        60.0 * (2.0 + 0.8 * load + rng.normal(0, 0.3)),
                        140.0 - 6.0 * headache + rng.normal(0, 4),
                    )
                )
            # Tomorrow, given today's state (the oracle for flare_1d at the end of today). The treatment
            # effect ramps in over six weeks of physiotherapy; responders lose much more.
            tomorrow_effect = min(max(t + 2 - baseline_days, 0) / 42, 1.0) * (2.2 if responder else 0.2)
            p_head = float(_sigmoid(np.array(a_i + 1.0 * headache + 0.6 * load - tomorrow_effect)))
            p_sev = float(_sigmoid(np.array(-0.3 + 0.8 * load)))
            truth_rows.append((sid, day, p_head * p_sev))
            headache = int(rng.random() < p_head)
            severe = rng.random() < p_sev
    participants_df = pd.DataFrame(
        p_rows,
        columns=list(BASELINE_STORE_COLUMNS),
    )
    participants_df["treatment_start"] = pd.to_datetime(participants_df["treatment_start"]).astype(
        "datetime64[s]"
    )
    diary = pd.DataFrame(
        d_rows,
        columns=list(DIARY_STORE_COLUMNS),
    )
    diary["diary_date"] = pd.to_datetime(diary["diary_date"]).astype("datetime64[s]")
    for col in ("headache", "intensity", "duration_h", "medication", "neck_pain", "lightheaded"):
        diary[col] = pd.to_numeric(diary[col]).astype(float)
    features = pd.DataFrame(
        f_rows, columns=["subject_id", "day", "wear_h", "flexion_gt20_min", "rom_rotation_total_deg"]
    )
    features["day"] = pd.to_datetime(features["day"]).astype("datetime64[s]")
    if not sensor:
        features = features[["subject_id", "day"]]
    truth = pd.DataFrame(truth_rows, columns=["subject_id", "day", "p_flare_1d"])
    truth["day"] = pd.to_datetime(truth["day"]).astype("datetime64[s]")
    resp = pd.DataFrame(resp_rows, columns=["subject_id", "p_responder", "responder"])
    return SyntheticCohort(CohortData(participants_df, diary, features), truth, resp)


def write_diary_cohort(wh: Warehouse, cohort: CohortData) -> None:
    """Insert participants and diary rows into the warehouse tables behind the public views."""
    p = cohort.participants.copy()
    p["treatment_start"] = p["treatment_start"].dt.date
    d = cohort.diary.copy()
    d["diary_date"] = d["diary_date"].dt.date
    with wh.transaction() as cur:
        cur.register("p_in", p)
        cur.execute(
            "INSERT INTO store.participants (subject_id, age, sex, headache_years, lightheadedness,"
            " treatment_start, therapist_id) SELECT subject_id, age, sex, headache_years,"
            " lightheadedness, treatment_start, therapist_id FROM p_in"
        )
        cur.register("d_in", d)
        cur.execute(
            "INSERT INTO store.diary (subject_id, diary_date, headache, intensity, duration_h, medication,"
            " neck_pain, lightheaded, entered_at) SELECT subject_id, diary_date, headache::INTEGER,"
            " intensity::INTEGER, duration_h, medication::INTEGER, neck_pain::INTEGER,"
            " lightheaded::INTEGER, entered_at FROM d_in"
        )
        cur.unregister("p_in")
        cur.unregister("d_in")

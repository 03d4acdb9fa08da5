"""Features at day d must not change when anything after the end of day d changes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from models.data import CohortData
from models.evaluation import grouped_oof, temporal_split
from models.matrix import FeatureMatrix, build_flare_matrix, build_responder_matrix
from models.testing import SyntheticCohort

Builder = Callable[[CohortData], FeatureMatrix]


def rewrite_future(cohort: CohortData, cut: pd.Timestamp, seed: int = 0) -> CohortData:
    """Scramble everything not known by the end of ``cut``: later diary days, diary rows entered after
    ``cut`` (even for earlier dates), later sensor days. Labels may change; features up to ``cut`` may not."""
    rng = np.random.default_rng(seed)
    diary = cohort.diary.copy()
    end_of_cut = pd.Timestamp(cut).tz_localize("UTC") + pd.Timedelta(days=1)
    late = (diary["diary_date"] > cut) | (diary["entered_at"] >= end_of_cut)
    n = int(late.sum())
    diary.loc[late, "headache"] = rng.integers(0, 2, n).astype(float)
    diary.loc[late, "intensity"] = np.where(diary.loc[late, "headache"] == 1, rng.integers(1, 11, n), np.nan)
    diary.loc[late, "neck_pain"] = rng.integers(0, 11, n).astype(float)
    diary.loc[late, "medication"] = rng.integers(0, 2, n).astype(float)
    # Also drop some future rows entirely and add entries that are entered late.
    diary = diary.drop(diary.index[late.to_numpy() & (rng.random(len(diary)) < 0.2)])
    feats = cohort.day_features.copy()
    later = feats["day"] > cut
    for col in cohort.feature_columns:
        feats.loc[later, col] = rng.normal(0, 100, int(later.sum()))
    return dataclasses.replace(cohort, diary=diary, day_features=feats)


def changed_rows(builder: Builder, cohort: CohortData, cut: pd.Timestamp) -> int:
    """Rows with prediction day <= ``cut`` whose features differ after rewriting the future."""
    before = builder(cohort)
    after = builder(rewrite_future(cohort, cut))
    a, b = before.frame(), after.frame()
    keys = ["subject_id", "day"]
    a = a[a["day"] <= cut].drop(columns="label").set_index(keys).sort_index()
    b = b[b["day"] <= cut].drop(columns="label").set_index(keys).sort_index()
    assert a.index.equals(b.index)
    same = np.isclose(a.to_numpy(float), b.to_numpy(float), equal_nan=True)
    return int((~same.all(axis=1)).sum())


CUT = pd.Timestamp("2026-03-10")  # mid treatment of the synthetic cohort


@pytest.mark.parametrize("target", ["flare_1d", "flare_3d"])
def test_flare_features_ignore_the_future(small_cohort: SyntheticCohort, target: str) -> None:
    assert changed_rows(lambda c: build_flare_matrix(c, target), small_cohort.data, CUT) == 0  # type: ignore[arg-type]


def test_responder_features_ignore_the_future(small_cohort: SyntheticCohort) -> None:
    assert changed_rows(build_responder_matrix, small_cohort.data, CUT) == 0


def test_the_check_catches_a_leaky_feature(small_cohort: SyntheticCohort) -> None:
    """A builder that peeks at tomorrow's diary (a classic off-by-one) must be caught."""

    def leaky(c: CohortData) -> FeatureMatrix:
        m = build_flare_matrix(c, "flare_1d")
        tomorrow = c.diary.assign(day=c.diary["diary_date"] - pd.Timedelta(days=1))[
            ["subject_id", "day", "headache"]
        ]
        keys = pd.DataFrame(
            {"subject_id": m.subject_id, "day": pd.to_datetime(m.day).astype("datetime64[s]")}
        )
        peek = keys.merge(tomorrow.astype({"day": "datetime64[s]"}), how="left", on=["subject_id", "day"])
        X = np.column_stack([m.X, peek["headache"].to_numpy(float)])
        return dataclasses.replace(m, X=X, feature_names=(*m.feature_names, "headache_tomorrow"))

    assert changed_rows(leaky, small_cohort.data, CUT) > 0


def test_a_late_diary_entry_counts_from_the_day_it_was_entered(small_cohort: SyntheticCohort) -> None:
    c = small_cohort.data
    diary = c.diary.copy()
    sid, day = "S0001", pd.Timestamp("2026-03-02")
    row = (diary["subject_id"] == sid) & (diary["diary_date"] == day)
    diary.loc[row, ["headache", "intensity"]] = [1.0, 9.0]
    # Entered three days later (Monday evening for the Friday), UTC participant.
    diary.loc[row, "entered_at"] = pd.Timestamp("2026-03-05 20:00", tz="UTC")
    m = (
        build_flare_matrix(dataclasses.replace(c, diary=diary), "flare_1d")
        .frame()
        .set_index(["subject_id", "day"])
    )
    assert np.isnan(m.loc[(sid, day), "intensity_today"])
    assert m.loc[(sid, pd.Timestamp("2026-03-04")), "days_since_flare"] != 2
    assert m.loc[(sid, pd.Timestamp("2026-03-05")), "days_since_flare"] <= 3


def test_local_midnight_decides_for_participants_with_a_time_zone(small_cohort: SyntheticCohort) -> None:
    c = small_cohort.data
    participants = c.participants.assign(
        timezone=np.where(c.participants["subject_id"] == "S0002", "America/New_York", None)
    )
    diary = c.diary.copy()
    sid, day = "S0002", pd.Timestamp("2026-03-03")
    row = (diary["subject_id"] == sid) & (diary["diary_date"] == day)
    diary.loc[row, "entered_at"] = pd.Timestamp("2026-03-04 03:00", tz="UTC")  # 22:00 in New York, same day
    ny = build_flare_matrix(dataclasses.replace(c, participants=participants, diary=diary), "flare_1d")
    utc = build_flare_matrix(dataclasses.replace(c, diary=diary), "flare_1d")
    known_ny = ny.frame().set_index(["subject_id", "day"]).loc[(sid, day), "diary_entered_today"]
    known_utc = utc.frame().set_index(["subject_id", "day"]).loc[(sid, day), "diary_entered_today"]
    assert (known_ny, known_utc) == (1.0, 0.0)


def test_grouped_cv_never_splits_a_participant(small_cohort: SyntheticCohort) -> None:
    m = build_flare_matrix(small_cohort.data, "flare_1d")
    oof = grouped_oof(m, "baseline", n_folds=4, seed=0)
    folds_per_subject = pd.DataFrame({"s": oof.subject_id, "f": oof.fold}).groupby("s")["f"].nunique()
    assert (folds_per_subject == 1).all()
    assert not np.isnan(oof.probability).any()


def test_temporal_split_embargoes_labels_past_the_cutoff(small_cohort: SyntheticCohort) -> None:
    m = build_flare_matrix(small_cohort.data, "flare_3d").labelled()
    train, test, p, cutoff = temporal_split(m, "baseline")
    assert (m.day[test] >= np.datetime64(cutoff)).all()
    # flare_3d labels look 3 days ahead: no training label may reach the cut-off.
    assert (m.day[train] + np.timedelta64(3, "D") < np.datetime64(cutoff)).all()
    assert not (train & test).any()
    assert len(p) == int(test.sum())


def test_diary_and_outcome_columns_of_the_features_view_are_never_inputs(
    small_cohort: SyntheticCohort,
) -> None:
    """The features view repeats diary values (ignoring entered_at) and even the responder label."""
    c = small_cohort.data
    feats = c.day_features.assign(responder=1.0, headache_day=0.0, outcome_headache_days_28d=3.0)
    cohort = dataclasses.replace(c, day_features=feats)
    assert {"responder", "headache_day", "outcome_headache_days_28d"}.isdisjoint(cohort.feature_columns)
    names = build_responder_matrix(cohort).feature_names
    assert not any(n.startswith(("responder_", "outcome_")) for n in names)

"""Registry round trip, promotion, determinism and refusal of tampered files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models import registry
from models.errors import RegistryError, TamperedModelError
from models.matrix import build_flare_matrix
from models.testing import SyntheticCohort
from models.training import TrainedModel, train_target
from nuchal.home import Home


@pytest.fixture(scope="module")
def trained(small_cohort: SyntheticCohort) -> TrainedModel:
    return train_target(small_cohort.data, "flare_1d", "logreg", seed=3, n_folds=3, n_boot=50)


def test_same_seed_same_model(small_cohort: SyntheticCohort) -> None:
    X = build_flare_matrix(small_cohort.data, "flare_1d").labelled().X
    for kind in ("logreg", "hgb"):
        a = train_target(small_cohort.data, "flare_1d", kind, seed=5, cross_validate=False)  # type: ignore[arg-type]
        b = train_target(small_cohort.data, "flare_1d", kind, seed=5, cross_validate=False)  # type: ignore[arg-type]
        assert np.array_equal(a.predict_proba(X), b.predict_proba(X)), kind
        assert a.feature_names == b.feature_names


def test_round_trip_gives_the_same_probabilities(
    tmp_path: Path, trained: TrainedModel, small_cohort: SyntheticCohort
) -> None:
    home = Home(tmp_path).ensure()
    record = registry.save(home, trained)
    loaded = registry.load(home, record.version)
    X = build_flare_matrix(small_cohort.data, "flare_1d").X[:200]
    assert np.array_equal(loaded.predict_proba(X), trained.predict_proba(X)[:, 1])
    assert loaded.record.feature_names == trained.feature_names
    assert record.metrics["auroc"] == pytest.approx(trained.cv_metrics.auroc.value)  # type: ignore[union-attr]
    card = (home.models / record.version / "card.md").read_text()
    assert record.version in card and "AUROC" in card and record.sha256 in card
    assert [r.version for r in registry.list_models(home)] == [record.version]


def test_promotion_and_latest_metrics(tmp_path: Path, trained: TrainedModel) -> None:
    home = Home(tmp_path).ensure()
    assert registry.latest_metrics(home) is None
    first = registry.save(home, trained)
    second = registry.save(home, trained)
    assert first.version != second.version
    assert registry.promoted_version(home, "flare_1d") is None
    registry.promote(home, first.version)
    metrics = registry.latest_metrics(home)
    assert metrics is not None
    assert metrics["flare_1d"]["version"] == second.version
    assert metrics["flare_1d"]["promoted_version"] == first.version
    assert 0.5 < metrics["flare_1d"]["auroc"] <= 1.0


def test_a_tampered_model_file_is_refused(tmp_path: Path, trained: TrainedModel) -> None:
    home = Home(tmp_path).ensure()
    record = registry.save(home, trained)
    path = home.models / record.version / registry.MODEL_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(TamperedModelError, match="SHA-256"):
        registry.load(home, record.version)
    with pytest.raises(TamperedModelError):
        registry.promote(home, record.version)


def test_a_swapped_file_with_a_forged_hash_is_still_checked_for_types(
    tmp_path: Path, trained: TrainedModel
) -> None:
    """Even with meta.json forged to match, a file holding a foreign type is refused."""
    import skops.io as sio

    home = Home(tmp_path).ensure()
    record = registry.save(home, trained)
    folder = home.models / record.version
    sio.dump({"model": Path("/etc/passwd")}, folder / registry.MODEL_FILE)  # a pathlib type, not a model
    meta = json.loads((folder / registry.META_FILE).read_text())
    meta["sha256"] = registry._sha256(folder / registry.MODEL_FILE)
    (folder / registry.META_FILE).write_text(json.dumps(meta))
    with pytest.raises(TamperedModelError, match="outside"):
        registry.load(home, record.version)


def test_unknown_version(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no model version"):
        registry.load(Home(tmp_path).ensure(), "flare_1d-logreg-nope")

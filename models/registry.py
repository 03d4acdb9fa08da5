"""The model registry under ``<home>/models``: versioned skops files, model cards, promotion.

Layout::

    models/<version>/model.skops   the fitted estimator (skops: loading never runs pickled code)
    models/<version>/meta.json     version, target, data range, features, code version, metrics, sha256
    models/<version>/card.md       the model card, for people
    models/promoted.json           {target: version}: the only models used for alerts

Loading verifies the file's SHA-256 against meta.json first, then refuses any type in the file that
is not from scikit-learn, numpy, scipy or this package (:class:`TamperedModelError`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import skops.io as sio

import nuchal
from models.errors import RegistryError, TamperedModelError
from models.explain import contributions, explain_rows
from models.pipelines import ModelKind
from models.targets import TARGETS, Target
from models.training import TrainedModel
from nuchal.home import Home

log = logging.getLogger(__name__)

MODEL_FILE = "model.skops"
META_FILE = "meta.json"
CARD_FILE = "card.md"
PROMOTED_FILE = "promoted.json"
TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "models.estimators.")


@dataclass(frozen=True)
class ModelRecord:
    """What meta.json says about one registered model."""

    version: str
    target: Target
    kind: ModelKind
    created_at: str
    feature_names: tuple[str, ...]
    reference: tuple[float | None, ...]
    n_rows: int
    n_participants: int
    data_from: str
    data_to: str
    seed: int
    has_sensor_data: bool
    code_version: str
    sklearn_version: str
    metrics: dict[str, Any]
    sha256: str

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelRecord:
        d = dict(d)
        d["feature_names"] = tuple(d["feature_names"])
        d["reference"] = tuple(d["reference"])
        return cls(**d)

    def reference_array(self) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in self.reference], dtype=float)


@dataclass(frozen=True)
class LoadedModel:
    """A verified model ready to predict and explain."""

    record: ModelRecord
    estimator: Any

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(X))[:, 1]

    def explain(self, X: np.ndarray) -> list[str]:
        contrib = contributions(self.estimator.predict_proba, X, self.record.reference_array())
        return explain_rows(self.record.target, X, contrib, self.record.feature_names)


def code_version() -> str:
    """nuchal version plus the git commit of the checkout, when there is one."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"nuchal {nuchal.__version__}" + (f" ({sha})" if sha else "")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _metrics_summary(trained: TrainedModel) -> dict[str, Any]:
    m = trained.cv_metrics
    if m is None:
        return {}
    rows = "week-0 (treatment start) rows" if trained.target == "responder" else "all participant-days"
    return {
        "protocol": f"grouped 5-fold CV by participant, {rows}; 95 % CI by participant bootstrap",
        **m.summary(),
    }


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save(home: Home, trained: TrainedModel, now: dt.datetime | None = None) -> ModelRecord:
    """Register ``trained`` under a new version; returns its record."""
    created = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    base = f"{trained.target}-{trained.kind}-{created:%Y%m%dT%H%M%SZ}"
    root = home.models
    root.mkdir(parents=True, exist_ok=True)
    version, n = base, 1
    while (root / version).exists():
        n += 1
        version = f"{base}-{n}"
    folder = root / version
    folder.mkdir()
    sio.dump(trained.estimator, folder / MODEL_FILE)
    record = ModelRecord(
        version=version,
        target=trained.target,
        kind=trained.kind,
        created_at=created.isoformat(),
        feature_names=trained.feature_names,
        reference=tuple(None if np.isnan(v) else float(v) for v in trained.reference),
        n_rows=trained.n_rows,
        n_participants=trained.n_participants,
        data_from=trained.data_from,
        data_to=trained.data_to,
        seed=trained.seed,
        has_sensor_data=trained.has_sensor_data,
        code_version=code_version(),
        sklearn_version=sklearn.__version__,
        metrics=_metrics_summary(trained),
        sha256=_sha256(folder / MODEL_FILE),
    )
    _write_atomic(folder / META_FILE, json.dumps(asdict(record), indent=2))
    _write_atomic(folder / CARD_FILE, model_card(record))
    log.info("registered %s", version)
    return record


def _folder(home: Home, version: str) -> Path:
    folder = home.models / version
    if "/" in version or version.startswith(".") or not (folder / META_FILE).exists():
        known = ", ".join(r.version for r in list_models(home)) or "none"
        raise RegistryError(f"no model version {version!r} in {home.models}; known: {known}")
    return folder


def get(home: Home, version: str) -> ModelRecord:
    """The record of ``version``."""
    return ModelRecord.from_json(json.loads((_folder(home, version) / META_FILE).read_text()))


def list_models(home: Home) -> list[ModelRecord]:
    """All registered models, oldest first."""
    if not home.models.exists():
        return []
    out = []
    for meta in sorted(home.models.glob(f"*/{META_FILE}")):
        try:
            out.append(ModelRecord.from_json(json.loads(meta.read_text())))
        except (ValueError, TypeError, KeyError) as e:
            log.warning("%s: unreadable model metadata (%s); skipped", meta, e)
    return sorted(out, key=lambda r: (r.created_at, r.version))


def load(home: Home, version: str) -> LoadedModel:
    """Load ``version`` after verifying its hash and the types its file contains."""
    folder = _folder(home, version)
    record = get(home, version)
    path = folder / MODEL_FILE
    if not path.exists():
        raise RegistryError(
            f"{path}: model file missing; re-train with `nuchal train --target {record.target}`"
        )
    actual = _sha256(path)
    if actual != record.sha256:
        raise TamperedModelError(
            f"{path}: SHA-256 {actual[:12]}… does not match {record.sha256[:12]}… recorded at training; "
            "the file was changed after it was saved. Do not use it: re-train, or restore it from backup."
        )
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as e:  # skops raises assorted errors on a malformed archive
        raise TamperedModelError(f"{path}: not a readable skops file ({e}); re-train the model") from e
    foreign = [t for t in untrusted if not t.startswith(TRUSTED_MODULE_PREFIXES)]
    if foreign:
        raise TamperedModelError(f"{path}: holds types outside scikit-learn/numpy/scipy/models: {foreign}")
    try:
        estimator = sio.load(path, trusted=untrusted)
    except Exception as e:
        raise TamperedModelError(f"{path}: cannot be loaded safely ({e}); re-train the model") from e
    return LoadedModel(record, estimator)


def promote(home: Home, version: str) -> ModelRecord:
    """Make ``version`` the model used for alerts for its target (after checking it loads)."""
    record = load(home, version).record
    promoted = promoted_versions(home)
    promoted[record.target] = version
    _write_atomic(home.models / PROMOTED_FILE, json.dumps(promoted, indent=2, sort_keys=True))
    log.info("promoted %s for %s", version, record.target)
    return record


def promoted_versions(home: Home) -> dict[str, str]:
    """``{target: version}`` of promoted models (empty when none was promoted)."""
    path = home.models / PROMOTED_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {str(k): str(v) for k, v in data.items() if k in TARGETS}


def promoted_version(home: Home, target: Target) -> str | None:
    """The promoted version for ``target`` (the one alerts must use), or None."""
    return promoted_versions(home).get(target)


def latest_metrics(home: Home) -> dict[str, Any] | None:
    """Per target, the newest registered model's metrics and the promoted version (for status)."""
    records = list_models(home)
    if not records:
        return None
    promoted = promoted_versions(home)
    out: dict[str, Any] = {}
    for record in records:  # oldest first, so the newest wins
        out[record.target] = {
            "version": record.version,
            "kind": record.kind,
            "created_at": record.created_at,
            "promoted_version": promoted.get(record.target),
            **{
                k: v
                for k, v in record.metrics.items()
                if k in ("auroc", "auprc", "brier", "prevalence", "n_participants")
            },
        }
    return out


def model_card(record: ModelRecord) -> str:
    """The markdown model card of ``record``."""
    m = record.metrics
    question = {
        "flare_1d": "probability of a flare-up (headache day with intensity >= 5) tomorrow",
        "flare_3d": "probability of at least one flare-up in the next 3 days",
        "responder": "probability of >= 50 % fewer headache days in weeks 7-12 than in the 28-day run-in",
    }[record.target]
    lines = [
        f"# Model card: {record.version}",
        "",
        f"- **Predicts**: {question}, at the end of a day, from data entered by then.",
        f"- **Model**: {record.kind} (scikit-learn {record.sklearn_version}), sigmoid-calibrated with folds "
        "grouped by participant.",
        f"- **Trained on**: {record.n_rows} rows of {record.n_participants} participants, prediction days "
        f"{record.data_from} .. {record.data_to}; sensor features: {'yes' if record.has_sensor_data else 'no (diary only)'}.",
        f"- **Code**: {record.code_version}; seed {record.seed}; created {record.created_at}.",
        f"- **File**: {MODEL_FILE}, SHA-256 `{record.sha256}` (verified before every load).",
        "",
        "## Performance (participants the model never saw)",
        "",
    ]
    if m:
        lines += [
            f"{m['protocol']}.",
            "",
            "| metric | value | 95 % CI |",
            "|---|---|---|",
            f"| AUROC | {m['auroc']:.3f} | {m['auroc_ci'][0]:.3f} - {m['auroc_ci'][1]:.3f} |",
            f"| AUPRC | {m['auprc']:.3f} | {m['auprc_ci'][0]:.3f} - {m['auprc_ci'][1]:.3f} |",
            f"| Brier | {m['brier']:.3f} | {m['brier_ci'][0]:.3f} - {m['brier_ci'][1]:.3f} |",
            f"| prevalence | {m['prevalence']:.3f} | |",
            "",
            "Published anchors for flare-up forecasting: AUC 0.65 (diary, Houle 2017), 0.62 (wearables, "
            "Stubberud 2023), 0.56 within-person (Holsteen 2020).",
        ]
    else:
        lines.append("Not cross-validated (trained with --no-cv); run `nuchal evaluate`.")
    lines += [
        "",
        "## Intended use and limits",
        "",
        "- Decision support for therapists of research-cohort participants; never a diagnosis.",
        "- Only a promoted model drives alerts (`nuchal models promote VERSION`).",
        "- Missing sensor days are imputed (medians plus missing-indicators, or natively by the trees); "
        "explanations never cite a missing input.",
        "- Diary rows entered after the participant's local midnight count from the next day on.",
        "",
        f"## Inputs ({len(record.feature_names)})",
        "",
        ", ".join(f"`{n}`" for n in record.feature_names),
        "",
    ]
    return "\n".join(lines)

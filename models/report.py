"""``nuchal evaluate``: compare model kinds per target and write the report under ``<home>/reports``.

Files: ``models_evaluation.md`` (tables), ``roc_<target>.png`` and ``calibration_<target>.png``
(matplotlib, Agg backend), ``models_evaluation.json`` (the metrics) and ``oof_predictions.parquet``
(subject_id, day, target, probability, fold, plus model and label) so anyone can recompute them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.data import CohortData
from models.errors import NotEnoughDataError
from models.evaluation import TargetEvaluation, evaluate_target
from models.matrix import build_matrix
from models.metrics import Metrics
from models.pipelines import MODEL_KINDS, ModelKind
from models.targets import Target

log = logging.getLogger(__name__)

ANCHORS = {"diary_only_auc": 0.65, "wearables_auc": 0.62, "within_person_auc": 0.56}
ORACLE_TARGET_GAP = {"flare_1d": 0.03, "flare_3d": 0.03, "responder": 0.05}


@dataclass(frozen=True)
class EvaluationReport:
    """Where the report went and the metrics it holds (``summary`` is JSON-ready)."""

    markdown: Path
    oof: Path
    plots: tuple[Path, ...]
    summary: dict[str, Any]


def _metrics_json(m: Metrics | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return m.summary()


def summarise(ev: TargetEvaluation) -> dict[str, Any]:
    best = ev.best()
    out: dict[str, Any] = {
        "best_model": best.kind,
        "auroc": best.grouped.auroc.value,
        "brier": best.grouped.brier.value,
        "oracle_auroc": ev.oracle.auroc.value if ev.oracle else None,
        "oracle_gap": best.oracle_gap.value if best.oracle_gap else None,
        "oracle_gap_target": ORACLE_TARGET_GAP[ev.target],
        "temporal_cutoff": ev.temporal_cutoff,
        "models": {},
    }
    for r in ev.results:
        out["models"][r.kind] = {
            "grouped_cv": _metrics_json(r.grouped),
            "temporal_split": _metrics_json(r.temporal),
            "auroc_by_treatment_week": {str(k): v for k, v in r.by_week_auroc.items()} or None,
            "oracle_gap": None
            if r.oracle_gap is None
            else [r.oracle_gap.value, r.oracle_gap.low, r.oracle_gap.high],
        }
    out["oracle"] = _metrics_json(ev.oracle)
    return out


def evaluate_cohort(
    cohort: CohortData,
    targets: Iterable[Target],
    *,
    kinds: Iterable[ModelKind] = MODEL_KINDS,
    oracle: dict[Target, pd.DataFrame] | None = None,
    n_folds: int = 5,
    n_boot: int = 500,
    seed: int = 0,
) -> list[TargetEvaluation]:
    """Evaluate every model kind on every target.

    A target without enough labelled participants (e.g. responder in a cohort that has not reached
    week 12) is skipped with a warning; :class:`NotEnoughDataError` only when no target could be
    evaluated at all.
    """
    out, skipped = [], []
    for target in targets:
        try:
            out.append(
                evaluate_target(
                    build_matrix(cohort, target),
                    list(kinds),
                    oracle=(oracle or {}).get(target),
                    n_folds=n_folds,
                    n_boot=n_boot,
                    seed=seed,
                )
            )
        except NotEnoughDataError as e:
            log.warning("%s: not evaluated: %s", target, e)
            skipped.append(str(e))
    if not out and skipped:
        raise NotEnoughDataError("nothing to evaluate: " + " | ".join(skipped))
    return out


def write_report(
    reports_dir: Path, evaluations: list[TargetEvaluation], cohort: CohortData
) -> EvaluationReport:
    """Write markdown, plots, JSON and the OOF parquet for ``evaluations``."""
    if not evaluations:
        raise NotEnoughDataError("no target could be evaluated; import diary data first (`nuchal import`)")
    reports_dir.mkdir(parents=True, exist_ok=True)
    oof = pd.concat([o.frame() for ev in evaluations for o in ev.oof], ignore_index=True)
    oof_path = reports_dir / "oof_predictions.parquet"
    oof.to_parquet(oof_path, index=False)
    plots: list[Path] = []
    for ev in evaluations:
        plots += _plots(reports_dir, ev)
    summary = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "participants": int(cohort.participants["subject_id"].nunique()),
        "sensor_features": cohort.has_sensor_data,
        "published_anchors": ANCHORS,
        "targets": {ev.target: summarise(ev) for ev in evaluations},
    }
    (reports_dir / "models_evaluation.json").write_text(json.dumps(summary, indent=2, default=float))
    md = reports_dir / "models_evaluation.md"
    md.write_text(_markdown(evaluations, summary, plots), encoding="utf-8")
    return EvaluationReport(md, oof_path, tuple(plots), summary)


def _markdown(evaluations: list[TargetEvaluation], summary: dict[str, Any], plots: list[Path]) -> str:
    lines = [
        "# Model evaluation",
        "",
        f"Created {summary['created_at']}; {summary['participants']} participants; sensor features: "
        f"{'yes' if summary['sensor_features'] else 'no (diary only)'}.",
        "",
        "Grouped 5-fold CV by participant (no participant in both training and test); flare-up also on a "
        "temporal split (train before the cut-off date with a label embargo, test after). Responder "
        "headline = prediction at treatment start. 95 % CIs by participant bootstrap. Published anchors: "
        "flare-up AUC 0.65 diary-only (Houle 2017), 0.62 with wearables (Stubberud 2023).",
        "",
    ]
    for ev in evaluations:
        lines += [
            f"## {ev.target}",
            "",
            "| model | AUROC (grouped CV) | AUPRC | Brier | AUROC temporal | oracle gap |",
        ]
        lines.append("|---|---|---|---|---|---|")
        for r in ev.results:
            temporal = str(r.temporal.auroc) if r.temporal else "—"
            gap = str(r.oracle_gap) if r.oracle_gap else "—"
            lines.append(
                f"| {r.kind} | {r.grouped.auroc} | {r.grouped.auprc} | {r.grouped.brier} | {temporal} | {gap} |"
            )
        if ev.oracle:
            lines.append(
                f"| oracle (true probability) | {ev.oracle.auroc} | {ev.oracle.auprc} | {ev.oracle.brier} | | |"
            )
        lines.append("")
        if ev.temporal_cutoff:
            lines += [f"Temporal cut-off: {ev.temporal_cutoff}.", ""]
        best = ev.best()
        if best.by_week_auroc:
            weeks = ", ".join(f"week {w}: {a:.3f}" for w, a in best.by_week_auroc.items())
            lines += [f"{best.kind} AUROC as the prediction is updated during treatment: {weeks}.", ""]
        for p in plots:
            if p.stem.endswith(ev.target):
                lines.append(f"![{p.stem}]({p.name})")
        lines.append("")
    return "\n".join(lines)


def _plots(reports_dir: Path, ev: TargetEvaluation) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    roc_path = reports_dir / f"roc_{ev.target}.png"
    cal_path = reports_dir / f"calibration_{ev.target}.png"
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for oof, r in zip(ev.oof, ev.results, strict=True):
        head = _headline_mask(oof, ev.target)
        fpr, tpr, _ = roc_curve(oof.y[head], oof.probability[head])
        ax.plot(fpr, tpr, label=f"{r.kind} {r.grouped.auroc.value:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC {ev.target} (grouped CV)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(roc_path, dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for r in ev.results:
        bins = r.grouped.calibration
        ax.plot([b.mean_predicted for b in bins], [b.observed_rate for b in bins], marker="o", label=r.kind)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="predicted probability", ylabel="observed rate", title=f"Calibration {ev.target}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(cal_path, dpi=110)
    plt.close(fig)
    return [roc_path, cal_path]


def _headline_mask(oof: Any, target: Target) -> np.ndarray:
    """OOF rows of the headline: the responder prediction at treatment start (one per participant)."""
    if target != "responder":
        return np.ones(len(oof.y), dtype=bool)
    first = pd.Series(oof.day).groupby(pd.Series(oof.subject_id)).transform("min").to_numpy()
    return np.asarray(oof.day == first)

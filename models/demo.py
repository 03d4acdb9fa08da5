"""The models step of `nuchal demo`: evaluate, train, promote and predict on the demo cohort."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from models.errors import NotEnoughDataError
from nuchal.demo_context import DemoContext

log = logging.getLogger(__name__)


def demo_step(ctx: DemoContext) -> list[str]:
    """Headline lines: per target the grouped-CV AUROC (with the oracle when truth is there)."""
    from models import registry
    from models.data import load_cohort
    from models.evaluation import evaluate_target
    from models.matrix import build_matrix
    from models.predict import predict_day
    from models.report import write_report
    from models.targets import TARGETS
    from models.training import train_target
    from models.truth import oracle_from_simulator
    from warehouse import open_warehouse

    with open_warehouse(ctx.home.warehouse) as wh:
        cohort = load_cohort(wh)
    try:
        oracle = oracle_from_simulator(ctx.cohort_dir)
    except Exception:  # a demo without truth still runs; the oracle is a bonus
        log.info("no simulator truth in %s; no oracle figures", ctx.cohort_dir, exc_info=True)
        oracle = {}
    lines, evaluations = [], []
    for target in TARGETS:
        matrix = build_matrix(cohort, target)
        labelled = matrix.labelled()
        folds = min(5, len(np.unique(labelled.subject_id)))
        try:
            ev = evaluate_target(
                labelled,
                ("logreg", "baseline"),
                oracle=oracle.get(target),
                n_folds=folds,
                n_boot=200,
                seed=ctx.seed,
            )
            trained = train_target(
                cohort, target, "logreg", seed=ctx.seed, n_folds=folds, n_boot=200, matrix=matrix
            )
        except NotEnoughDataError as e:
            lines.append(f"models: {target}: skipped ({e})")
            continue
        evaluations.append(ev)
        record = registry.save(ctx.home, trained)
        registry.promote(ctx.home, record.version)
        model, base = ev.result("logreg").grouped, ev.result("baseline").grouped
        text = f"models: {target:9s} AUROC {model.auroc} vs baseline {base.auroc.value:.3f}, Brier {model.brier.value:.3f}"
        if ev.oracle is not None:
            text += f", oracle {ev.oracle.auroc.value:.3f}"
        # a responder label is one per participant: a few dozen give a CI wider than the signal
        stable_n = 100 if target == "responder" else 30
        small = (
            " - too few for a stable figure; `make bench` evaluates 600 participants"
            if model.n_participants < stable_n
            else ""
        )
        lines.append(text + f" ({model.n_participants} participants, grouped {folds}-fold CV{small})")
    if evaluations:
        report = write_report(ctx.home.reports, evaluations, cohort)
        lines.append(f"models: report {report.markdown}")
    # Flare-up risk on the last day every participant still has a diary (the enrolment is staggered);
    # responder status mid-treatment, where it is still a prediction.
    flare_day = cohort.diary.groupby("subject_id")["diary_date"].max().min()
    mid_treatment = pd.Timestamp(cohort.participants["treatment_start"].median()) + pd.Timedelta(days=21)
    with open_warehouse(ctx.home.warehouse) as wh:
        batches = predict_day(wh, ctx.home, day=flare_day, targets=("flare_1d", "flare_3d"))
        batches += predict_day(wh, ctx.home, day=mid_treatment, targets=("responder",))
    done = [b for b in batches if b.model_version]
    if done:
        lines.append(
            "models: predictions "
            + ", ".join(f"{b.target} {b.day}: {b.n_rows} rows (mean {b.mean_probability:.2f})" for b in done)
        )
    return lines

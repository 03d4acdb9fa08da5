"""`nuchal train | evaluate | predict | models list|show|promote`: the data scientists' model commands."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, cast

from tqdm import tqdm

from nuchal.home import Home
from warehouse import open_warehouse

TARGET_CHOICES = ("all", "flare_1d", "flare_3d", "responder")


def _targets(value: str) -> list[Any]:
    from models.targets import TARGETS

    return list(TARGETS) if value == "all" else [value]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train responder / flare-up models and register them",
        description="Cross-validate (grouped by participant), fit on all labelled rows and register a new "
        "model version per target under <home>/models, with a model card.",
    )
    p.add_argument("--target", choices=TARGET_CHOICES, default="all")
    p.add_argument("--model", choices=("logreg", "hgb", "baseline"), default="logreg", help="model kind")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=5, help="grouped CV folds for the model card metrics")
    p.add_argument("--no-cv", action="store_true", help="skip cross-validation (no metrics in the card)")
    p.add_argument("--promote", action="store_true", help="promote the new versions for alerts")
    p.set_defaults(func=run_train)

    p = sub.add_parser(
        "evaluate",
        help="compare models with grouped + temporal CV; write the report",
        description="Compare logistic regression, gradient-boosted trees and the recent-rate baseline per "
        "target. Writes <home>/reports/models_evaluation.md, ROC and calibration plots and "
        "oof_predictions.parquet.",
    )
    p.add_argument("--target", choices=TARGET_CHOICES, default="all")
    p.add_argument("--models", default="logreg,hgb,baseline", help="comma-separated model kinds")
    p.add_argument(
        "--truth", type=Path, help="simulated cohort folder: report the oracle AUC from its truth/"
    )
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--bootstrap", type=int, default=500, help="participant bootstrap replicates for CIs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.set_defaults(func=run_evaluate)

    p = sub.add_parser(
        "predict",
        help="store today's (or --day's) predictions of the promoted models",
        description="Write one row per participant and target into `predictions`, naming the model version. "
        "Idempotent: re-running a day replaces that day's rows of the same model.",
    )
    p.add_argument("--day", help="prediction day YYYY-MM-DD (default: the latest diary day)")
    p.add_argument("--target", choices=TARGET_CHOICES, default="all")
    p.add_argument("--version", help="use this registered version instead of the promoted one")
    p.set_defaults(func=run_predict)

    p = sub.add_parser("models", help="list, show and promote registered models")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    q = msub.add_parser("list", help="all registered model versions")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=run_models_list)
    q = msub.add_parser("show", help="model card and metadata of one version")
    q.add_argument("version")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=run_models_show)
    q = msub.add_parser("promote", help="use this version for alerts (per target)")
    q.add_argument("version")
    q.set_defaults(func=run_models_promote)


def run_train(args: argparse.Namespace) -> int:
    from models import registry
    from models.data import load_cohort
    from models.training import train_target

    home = Home.resolve(args.home).ensure()
    with open_warehouse(home.warehouse) as wh:
        cohort = load_cohort(wh)
    targets = _targets(args.target)
    bar = tqdm(targets, desc="train", unit="target", disable=None)
    for target in bar:
        bar.set_postfix_str(target)
        t0 = time.perf_counter()
        trained = train_target(
            cohort, target, args.model, seed=args.seed, n_folds=args.folds, cross_validate=not args.no_cv
        )
        record = registry.save(home, trained)
        if args.promote:
            registry.promote(home, record.version)
        auc = record.metrics.get("auroc")
        shown = f"AUROC {auc:.3f}" if auc is not None else "no CV"
        tqdm.write(
            f"{record.version}: {record.n_rows} rows, {record.n_participants} participants, {shown}, "
            f"{time.perf_counter() - t0:.1f} s{' (promoted)' if args.promote else ''}"
        )
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from models.data import load_cohort
    from models.errors import NotEnoughDataError
    from models.report import evaluate_cohort, write_report
    from models.truth import oracle_from_simulator

    home = Home.resolve(args.home).ensure()
    with open_warehouse(home.warehouse) as wh:
        cohort = load_cohort(wh)
    oracle = oracle_from_simulator(args.truth) if args.truth else None
    kinds = [k.strip() for k in args.models.split(",") if k.strip()]
    evaluations, skipped = [], []
    bar = tqdm(_targets(args.target), desc="evaluate", unit="target", disable=None)
    for target in bar:
        bar.set_postfix_str(target)
        try:
            evaluations += evaluate_cohort(
                cohort,
                [target],
                kinds=cast(Any, kinds),
                oracle=oracle,
                n_folds=args.folds,
                n_boot=args.bootstrap,
                seed=args.seed,
            )
        except NotEnoughDataError as e:
            skipped.append(f"{target} skipped: {e}")
    bar.close()
    for line in skipped:
        print(line, file=sys.stderr)
    if not evaluations:
        raise NotEnoughDataError(
            "no target could be evaluated; import diary and baseline data (`nuchal import`)"
        )
    report = write_report(home.reports, evaluations, cohort)
    if args.json:
        print(json.dumps(report.summary, indent=2, default=float))
        return 0
    for target, s in report.summary["targets"].items():
        oracle_txt = ""
        if s["oracle_auroc"] is not None:
            oracle_txt = f", oracle {s['oracle_auroc']:.3f} (gap {s['oracle_gap']:.3f}, target <= {s['oracle_gap_target']})"
        print(
            f"{target:10s} best {s['best_model']}: AUROC {s['auroc']:.3f}, Brier {s['brier']:.3f}{oracle_txt}"
        )
    print(f"report: {report.markdown}")
    print(f"out-of-fold predictions: {report.oof}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from models.predict import predict_day

    home = Home.resolve(args.home).ensure()
    with open_warehouse(home.warehouse) as wh:
        batches = predict_day(wh, home, day=args.day, targets=_targets(args.target), version=args.version)
    for b in batches:
        if b.model_version is None:
            print(f"{b.target:10s} {b.day}: skipped ({b.note}; `nuchal models promote VERSION`)")
        else:
            print(
                f"{b.target:10s} {b.day}: {b.n_rows} predictions, mean {b.mean_probability:.3f}, model {b.model_version}"
            )
    return 0


def run_models_list(args: argparse.Namespace) -> int:
    from models import registry

    home = Home.resolve(args.home).ensure()
    records = registry.list_models(home)
    promoted = registry.promoted_versions(home)
    if args.json:
        rows = [
            {
                "version": r.version,
                "target": r.target,
                "kind": r.kind,
                "created_at": r.created_at,
                "promoted": promoted.get(r.target) == r.version,
                "auroc": r.metrics.get("auroc"),
            }
            for r in records
        ]
        print(json.dumps(rows, indent=2))
        return 0
    if not records:
        print(f"no models in {home.models}; run `nuchal train`")
    for r in records:
        auc = r.metrics.get("auroc")
        flag = "*" if promoted.get(r.target) == r.version else " "
        print(
            f"{flag} {r.version:45s} {r.target:10s} AUROC {auc:.3f}"
            if auc is not None
            else f"{flag} {r.version}"
        )
    if records:
        print("(* = promoted, used for alerts)")
    return 0


def run_models_show(args: argparse.Namespace) -> int:
    from models import registry

    home = Home.resolve(args.home).ensure()
    record = registry.get(home, args.version)
    if args.json:
        from dataclasses import asdict

        print(json.dumps(asdict(record), indent=2))
        return 0
    print((home.models / record.version / registry.CARD_FILE).read_text())
    return 0


def run_models_promote(args: argparse.Namespace) -> int:
    from models import registry

    home = Home.resolve(args.home).ensure()
    record = registry.promote(home, args.version)
    print(f"promoted {record.version} for {record.target}")
    return 0

"""Issue 5 figures: model AUROC next to the oracle's on a simulated 600 x 84 cohort.

Cohort: ``simulator`` with 600 participants (the issue asks for >= 200; at 200 the responder
AUROC's 95 % interval is +-0.08 wide, wider than the 0.05 gap it is judged by), 28 run-in + 84
treatment days, **diary and baseline only** (``hours_per_day=0``): IMU import + features for
600 x 112 days does not fit the bench's time budget on 2 shared cores, so the sensor features
are absent here (the oracle still knows the latent posture load and neck stiffness the sensor
would partly reveal: the gap below includes that).
Imported through the real import path, evaluated with grouped 5-fold CV by participant; the oracle
is the simulator's true probability on exactly the same rows. ``*_auc`` keys are the default model
(calibrated L2 logistic regression); HistGradientBoosting and the recent-rate baseline are measured
in the same run. Published anchors: flare AUC 0.65 diary-only, 0.62 with wearables.

``*_auc_true_latent_state`` is a diagnostic ceiling: the same logistic regression given the
simulator's TRUE latent state (flare-up: posture load and ROM restriction at the end of the
prediction day; responder: baseline ROM restriction and posture-load level), i.e. what a perfect
sensor worn every day could add. ``sim_imu_render_samples_per_s`` is what rendering the missing
sensor data would cost on this machine.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

PARTICIPANTS = 600
DAYS = 84
SEED = 2026


def run() -> dict[str, float]:
    import simulator
    from ingest.importer import import_paths
    from models.data import load_cohort
    from models.evaluation import evaluate_target, grouped_oof, headline_rows
    from models.matrix import build_matrix
    from models.metrics import evaluate_scores
    from models.targets import TARGETS
    from models.training import fit_matrix
    from models.truth import oracle_from_simulator, with_true_latent_state
    from warehouse import open_warehouse

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cohort_dir = Path(tmp) / "cohort"
        params = simulator.SimulationParams(
            participants=PARTICIPANTS, days=DAYS, hours_per_day=0, seed=SEED, bad_rows=False
        )
        simulator.write_cohort(cohort_dir, params)
        with open_warehouse(Path(tmp) / "warehouse.duckdb") as wh:
            import_paths(wh, [cohort_dir / "baseline.csv", cohort_dir / "diary.csv"])
            cohort = load_cohort(wh)
        oracle = oracle_from_simulator(cohort_dir)
        matrices = {t: build_matrix(cohort, t).labelled() for t in TARGETS}
        informed = {t: with_true_latent_state(matrices[t], cohort_dir) for t in TARGETS}
    train_s = 0.0
    for target in TARGETS:
        matrix = matrices[target]
        t0 = time.perf_counter()
        fit_matrix(matrix, "logreg", seed=0)  # the fit `nuchal train` registers
        train_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        ev = evaluate_target(matrix, ("logreg", "hgb", "baseline"), oracle=oracle[target], n_boot=300, seed=0)
        log.info("%s evaluated in %.1f s", target, time.perf_counter() - t0)
        assert ev.oracle is not None
        out[f"{target}_auc"] = ev.result("logreg").grouped.auroc.value
        out[f"{target}_oracle_auc"] = ev.oracle.auroc.value
        out[f"{target}_oracle_gap"] = ev.oracle.auroc.value - out[f"{target}_auc"]
        out[f"{target}_hgb_auc"] = ev.result("hgb").grouped.auroc.value
        out[f"{target}_baseline_auc"] = ev.result("baseline").grouped.auroc.value
        out[f"{target}_auc_ci_low"] = ev.result("logreg").grouped.auroc.low
        out[f"{target}_auc_ci_high"] = ev.result("logreg").grouped.auroc.high
        out[f"{target}_brier"] = ev.result("logreg").grouped.brier.value
        out[f"{target}_oracle_brier"] = ev.oracle.brier.value
        # Perfect-sensor ceiling: the same model given the simulator's true latent state
        ceiling = grouped_oof(informed[target], "logreg", seed=0)
        head = headline_rows(informed[target])
        out[f"{target}_auc_true_latent_state"] = evaluate_scores(
            ceiling.probability[head], ceiling.y[head], ceiling.subject_id[head], 0
        ).auroc.value
        temporal = ev.result("logreg").temporal
        if temporal is not None:
            out[f"{target}_temporal_auc"] = temporal.auroc.value
    out["train_seconds"] = train_s
    out["models_participants"] = float(PARTICIPANTS)
    out["models_sensor_features"] = 0.0
    # what rendering the missing sensor data would cost: the simulator's IMU speed on this machine
    out["sim_imu_render_samples_per_s"] = _render_speed()
    out["published_anchor_diary_auc"] = 0.65
    out["published_anchor_wearables_auc"] = 0.62
    for target in TARGETS:
        print(
            f"{target}: model {out[f'{target}_auc']:.3f} vs oracle {out[f'{target}_oracle_auc']:.3f} "
            f"(gap {out[f'{target}_oracle_gap']:.3f}); hgb {out[f'{target}_hgb_auc']:.3f}, "
            f"baseline {out[f'{target}_baseline_auc']:.3f}; model/baseline "
            f"{out[f'{target}_auc'] / out[f'{target}_baseline_auc']:.2f}x; with the true latent state "
            f"(a perfect sensor) {out[f'{target}_auc_true_latent_state']:.3f}",
            flush=True,
        )
    per_day = 16 * 3600 * 50
    hours = PARTICIPANTS * (DAYS + 28) * per_day / out["sim_imu_render_samples_per_s"] / 3600
    print(
        f"simulating daily 16-h 50-Hz IMU for this cohort would take {hours:.1f} h of rendering alone "
        f"({out['sim_imu_render_samples_per_s'] / 1e6:.2f} M samples/s)",
        flush=True,
    )
    return out


def _render_speed() -> float:
    """Samples/s of the simulator's IMU rendering (one 2-h 50-Hz segment, best of 2)."""
    import numpy as np

    from simulator.imu import render_segment

    best = float("inf")
    n = 0
    for _ in range(2):
        t0 = time.perf_counter()
        seg = render_segment(np.random.default_rng(1), 2 * 3600.0, 50.0, nonwear=True)
        best = min(best, time.perf_counter() - t0)
        n = seg.t_s.size
    return n / best

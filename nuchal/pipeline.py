"""The pipeline's steps as a scheduler calls them: one explicit partition per call.

Airflow's DAGs (``dags/``) and anything else that orchestrates nuchal call these functions. Each
takes its partition as arguments — the home folder, the participant-local ``day``, a
``subject_id`` — and never reads the clock, so re-running a step for the same keys recomputes
exactly that partition and lands the same rows (the packages' writes are upserts). Every call opens
the warehouse through :func:`warehouse.open_warehouse`, whose writer lock queues concurrent writers
(another task, the BLE gateway's merge, a CLI import) instead of letting DuckDB refuse them.

Results are small frozen records of counts and keys, never data: they travel through XCom.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nuchal.errors import NuchalError
from nuchal.home import Home
from warehouse import open_warehouse

log = logging.getLogger(__name__)

# UTC offsets run from -12 h to +14 h: samples of a participant's local day lie in this UTC window.
_LOCAL_DAY_MARGIN = dt.timedelta(hours=14)


class PipelineError(NuchalError):
    """A pipeline step could not run for its partition (the message names the partition)."""


@dataclass(frozen=True)
class StepResult:
    """What one step did to one partition; ``rows`` counts rows written (or files, for imports)."""

    step: str
    day: str | None
    subject_id: str | None
    rows: int

    def as_xcom(self) -> dict[str, Any]:
        return asdict(self)


def as_day(value: dt.date | dt.datetime | str) -> dt.date:
    """A partition day from a date, an ISO string, or a logical date (its UTC calendar day)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError as e:
        raise PipelineError(f"not a day: {value!r}; give an ISO date such as 2026-03-01") from e


def day_range(first: dt.date | str, last: dt.date | str) -> list[dt.date]:
    """Every day from ``first`` to ``last`` inclusive (a backfill's partitions)."""
    d0, d1 = as_day(first), as_day(last)
    if d1 < d0:
        raise PipelineError(f"empty day range {d0}..{d1}: the last day is before the first")
    return [d0 + dt.timedelta(days=i) for i in range((d1 - d0).days + 1)]


def _home(home: Path | str) -> Home:
    return Home(Path(home).expanduser().resolve()).ensure()


# --- ingest -----------------------------------------------------------------------------------


def import_inbox(home: Path | str, inbox: Path | str | None = None) -> StepResult:
    """Import every contract-2 file under ``inbox`` (default: the home's inbox), idempotently.

    Files already imported (same content hash) are skipped by the importer, so a 15-minute
    schedule re-reading the same folder costs a hash per file. Drop files into the inbox
    atomically (write elsewhere, then rename) so a half-copied file is never read.
    """
    from ingest.importer import import_paths

    h = _home(home)
    folder = Path(inbox) if inbox is not None else h.inbox
    if not folder.exists():
        raise PipelineError(f"inbox {folder} does not exist; create it or pass another inbox folder")
    with open_warehouse(h.warehouse) as wh:
        report = import_paths(wh, [folder], progress=False)
    new_rows = sum(k.rows_new for k in report.kinds.values())
    if report.errors:
        # Rejected files are quarantined with their reason; the run itself succeeded.
        log.warning("inbox %s: %d file(s) rejected, see the quarantine view", folder, len(report.errors))
    return StepResult("import_inbox", None, None, new_rows)


def merge_gateway_spool(home: Path | str, *, lock_timeout_s: float = 60.0) -> StepResult:
    """Merge the BLE gateway's closed spool segments into the warehouse, exactly once.

    The gateway merges on its own too; this run catches up sessions whose gateway has stopped.
    If the warehouse stays busy for ``lock_timeout_s`` the step fails, so the scheduler retries
    it with backoff while the gateway keeps spooling (nothing is lost by waiting).
    """
    from ingest.gateway.merge import Merger

    h = _home(home)
    result = Merger(spool_root=h.spool, warehouse_path=h.warehouse, lock_timeout_s=lock_timeout_s).merge()
    if result.busy:
        raise PipelineError(
            f"warehouse {h.warehouse} stayed busy for {lock_timeout_s:.0f} s; the spool merge will be retried"
        )
    return StepResult("merge_gateway_spool", None, None, int(result.samples_new))


# --- daily ------------------------------------------------------------------------------------


def subjects_for_day(home: Path | str, day: dt.date | str) -> list[str]:
    """Participants with any data on their local calendar ``day`` (diary entry or IMU samples).

    Returns a sorted list of subject ids: the daily DAG maps one feature task over each.
    """
    d = as_day(day)
    utc0 = dt.datetime.combine(d, dt.time(), tzinfo=dt.UTC)
    lo, hi = utc0 - _LOCAL_DAY_MARGIN, utc0 + dt.timedelta(days=1) + _LOCAL_DAY_MARGIN
    h = _home(home)
    with open_warehouse(h.warehouse) as wh:
        rows = (
            wh.cursor()
            .execute(
                "SELECT subject_id FROM diary WHERE diary_date = ? "
                "UNION "
                "SELECT DISTINCT s.subject_id FROM store.imu_samples s "
                "JOIN store.recordings r USING (recording_id) "
                "WHERE s.t_utc >= ? AND s.t_utc < ? "
                "AND CAST(timezone(r.timezone, s.t_utc) AS DATE) = ? "
                "ORDER BY 1",
                [d, lo, hi, d],
            )
            .fetchall()
        )
    return [str(r[0]) for r in rows]


def day_features(home: Path | str, day: dt.date | str, subject_id: str) -> StepResult:
    """Compute (or recompute) the participant-day features of one subject and one day."""
    from features.pipeline import compute_features

    d = as_day(day)
    h = _home(home)
    with open_warehouse(h.warehouse) as wh:
        rows = compute_features(wh, subjects=[subject_id], days=(d, d), progress=False)
    return StepResult("day_features", d.isoformat(), subject_id, int(rows))


def predict_day(home: Path | str, day: dt.date | str) -> StepResult:
    """Flare-up (1 and 3 days ahead) and responder probabilities at the end of ``day``.

    Uses the promoted model of each target; a target without a promoted model is skipped (and
    logged), so the daily run works from the first day of a study, before any model exists.
    """
    from models.predict import predict_day as models_predict_day

    d = as_day(day)
    h = _home(home)
    with open_warehouse(h.warehouse) as wh:
        batches = models_predict_day(wh, h, day=d)
    for b in batches:
        if b.model_version is None:
            log.info("%s: no prediction for %s (%s)", b.target, d, b.note)
    return StepResult("predict_day", d.isoformat(), None, sum(b.n_rows for b in batches))


# --- weekly retraining ------------------------------------------------------------------------

# The promotion rule (docs/airflow.md): candidate and promoted model are scored on the same
# held-out participants; the candidate wins when its AUROC is higher and the paired participant
# bootstrap does not make it plausibly worse by more than PROMOTE_MAX_LOSS.
HOLDOUT_MODULUS = 5  # sha256(subject_id) % 5 == 0: about a fifth, stable as the cohort grows
PROMOTE_MAX_LOSS = 0.02  # AUROC; the 2.5 % bootstrap quantile of (candidate - promoted) must exceed -this
CHANCE_AUROC = 0.5  # what a target without a promoted model is compared against
RETRAIN_SEED = 0


def is_held_out(subject_id: str) -> bool:
    """Whether a participant belongs to the fixed evaluation set of weekly retraining."""
    digest = hashlib.sha256(subject_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % HOLDOUT_MODULUS == 0


@dataclass(frozen=True)
class RetrainDecision:
    """The outcome of comparing one target's candidate with its promoted model."""

    target: str
    as_of: str
    candidate_version: str | None
    promoted_version: str | None
    heldout_participants: int
    heldout_rows: int
    candidate_auroc: float | None
    promoted_auroc: float | None
    delta_auroc: float | None
    delta_auroc_low: float | None
    promote: bool
    reason: str

    def as_xcom(self) -> dict[str, Any]:
        return asdict(self)


def _cohort_until(home: Home, as_of: dt.date, *, held_out: bool) -> Any:
    """The cohort as known at the end of ``as_of``, of the held-out or of the training participants."""
    import pandas as pd

    from models.data import CohortData, load_cohort

    with open_warehouse(home.warehouse) as wh:
        cohort = load_cohort(wh)
    cutoff = pd.Timestamp(as_of)
    keep = {s for s in cohort.participants["subject_id"].astype(str) if is_held_out(s) == held_out}

    def rows(df: pd.DataFrame, day_col: str | None) -> pd.DataFrame:
        mask = df["subject_id"].astype(str).isin(keep)
        if day_col is not None:
            mask &= pd.to_datetime(df[day_col]) <= cutoff
        return df[mask].reset_index(drop=True)

    diary = rows(cohort.diary, "diary_date")
    # A row for an earlier day entered after the cut-off was not known at the cut-off either.
    entered = pd.to_datetime(diary["entered_at"], utc=True)
    known_by = pd.Timestamp(as_of + dt.timedelta(days=1), tz="UTC")
    diary = diary[entered.isna() | (entered < known_by)].reset_index(drop=True)
    return CohortData(
        participants=rows(cohort.participants, None),
        diary=diary,
        day_features=rows(cohort.day_features, "day"),
    )


def train_candidates(home: Path | str, as_of: dt.date | str) -> dict[str, str]:
    """Train one candidate per target on the non-held-out participants' data up to ``as_of``.

    Returns ``{target: version}`` of the registered candidates; a target without enough labelled
    data yet is left out (logged), never faked.
    """
    from models import registry
    from models.errors import NotEnoughDataError
    from models.targets import TARGETS
    from models.training import train_target

    d = as_day(as_of)
    h = _home(home)
    cohort = _cohort_until(h, d, held_out=False)
    versions: dict[str, str] = {}
    for target in TARGETS:
        try:
            trained = train_target(cohort, target, seed=RETRAIN_SEED, cross_validate=False)
        except NotEnoughDataError as e:
            log.warning("%s: no candidate trained with data up to %s: %s", target, d, e)
            continue
        versions[target] = registry.save(h, trained).version
    return versions


def evaluate_candidates(
    home: Path | str, as_of: dt.date | str, candidates: dict[str, str]
) -> list[RetrainDecision]:
    """Score each candidate and the promoted model of its target on the held-out participants.

    Writes ``reports/retrain/<as_of>.json`` with every decision; model cards stay in the registry.
    """
    import numpy as np

    from models import registry
    from models.matrix import build_matrix
    from models.metrics import evaluate_scores, paired_auc_gap
    from models.predict import align

    d = as_day(as_of)
    h = _home(home)
    heldout = _cohort_until(h, d, held_out=True)
    decisions = []
    for target, version in sorted(candidates.items()):
        promoted = registry.promoted_version(h, target)  # type: ignore[arg-type]
        m = build_matrix(heldout, target).labelled()  # type: ignore[arg-type]
        n_subjects = len(np.unique(m.subject_id)) if len(m) else 0
        base = {"target": target, "as_of": d.isoformat(), "candidate_version": version}
        if len(m) == 0 or len(np.unique(m.y)) < 2:
            decisions.append(
                RetrainDecision(
                    **base, promoted_version=promoted, heldout_participants=n_subjects, heldout_rows=len(m),
                    candidate_auroc=None, promoted_auroc=None, delta_auroc=None, delta_auroc_low=None,
                    promote=False, reason="held-out participants have no rows with both outcomes yet",
                )
            )  # fmt: skip
            continue
        cand = registry.load(h, version)
        p_cand = cand.predict_proba(align(m, cand.record.feature_names))
        if promoted is not None:
            prom = registry.load(h, promoted)
            p_prom = prom.predict_proba(align(m, prom.record.feature_names))
        else:
            p_prom = np.full(len(m), CHANCE_AUROC)  # a constant score has AUROC 0.5: chance
        auc_c = evaluate_scores(p_cand, m.y, m.subject_id, seed=RETRAIN_SEED).auroc.value
        auc_p = evaluate_scores(p_prom, m.y, m.subject_id, seed=RETRAIN_SEED).auroc.value
        gap = paired_auc_gap(p_cand, p_prom, m.y, m.subject_id, seed=RETRAIN_SEED)  # promoted - candidate
        delta, delta_low = -gap.value, -gap.high
        wins = delta > 0 and delta_low > -PROMOTE_MAX_LOSS
        against = promoted or "chance"
        reason = (
            f"AUROC {auc_c:.3f} vs {auc_p:.3f} ({against}) on {n_subjects} held-out participants; "
            f"difference {delta:+.3f}, 95 % low {delta_low:+.3f}: "
            + ("promote" if wins else f"keep (needs > 0 and low > -{PROMOTE_MAX_LOSS})")
        )
        decisions.append(
            RetrainDecision(
                **base, promoted_version=promoted, heldout_participants=n_subjects, heldout_rows=len(m),
                candidate_auroc=auc_c, promoted_auroc=auc_p, delta_auroc=delta, delta_auroc_low=delta_low,
                promote=wins, reason=reason,
            )
        )  # fmt: skip
    out = h.reports / "retrain" / f"{d.isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([x.as_xcom() for x in decisions], indent=2, default=float))
    return decisions


def promote_decided(home: Path | str, decisions: Iterable[dict[str, Any] | RetrainDecision]) -> list[str]:
    """Promote the candidates whose decision says so; returns the promoted versions."""
    from models import registry

    h = _home(home)
    done = []
    for x in decisions:
        dec = x if isinstance(x, RetrainDecision) else RetrainDecision(**x)
        if dec.promote and dec.candidate_version is not None:
            registry.promote(h, dec.candidate_version)
            done.append(dec.candidate_version)
        log.info("%s: %s", dec.target, dec.reason)
    return done


def _sum_rows(results: Iterable[dict[str, Any] | StepResult]) -> int:
    return sum(int(r.rows if isinstance(r, StepResult) else r["rows"]) for r in results)

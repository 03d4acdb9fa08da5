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


def _sum_rows(results: Iterable[dict[str, Any] | StepResult]) -> int:
    return sum(int(r.rows if isinstance(r, StepResult) else r["rows"]) for r in results)

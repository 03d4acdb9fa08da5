"""`nuchal import`: find files of the four cohort formats and load them, idempotently.

Files are recognised by extension and header, loaded baseline first (diaries and recordings name
participants the baseline introduces), each in its own transaction. A file whose content hash was
imported before without problems is skipped; one that had quarantined rows is checked again, so
fixing the baseline later rescues rows that named an unknown participant.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from tqdm import tqdm

from ingest.blelog import decode_capture, read_blelog
from ingest.errors import FileFormatError
from ingest.imu_csv import NeedsCarefulImportError, import_imu_csv
from ingest.store import (
    QuarantineRow,
    RecordingMeta,
    clear_quarantine,
    ensure_recording,
    quarantine_rows,
    record_gap,
    store_samples,
)
from ingest.tables import import_baseline, import_diary
from warehouse import Warehouse

log = logging.getLogger(__name__)

KIND_ORDER = ("baseline", "diary", "imu_csv", "blelog")


@dataclass
class KindTotals:
    files: int = 0
    unchanged: int = 0
    rejected: int = 0
    rows_ok: int = 0
    rows_new: int = 0
    rows_bad: int = 0


@dataclass
class ImportReport:
    """What an import did, per kind of file."""

    kinds: dict[str, KindTotals] = field(default_factory=lambda: {k: KindTotals() for k in KIND_ORDER})
    unrecognised: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rows_bad(self) -> int:
        return sum(k.rows_bad for k in self.kinds.values()) + sum(k.rejected for k in self.kinds.values())


def classify(path: Path) -> str | None:
    """The contract-2 format of ``path``, from its extension and header; None if not ours."""
    suffix = path.suffix.lower()
    if suffix == ".blelog":
        return "blelog"
    if suffix != ".csv":
        return None
    try:
        with path.open("r", encoding="utf-8-sig", errors="replace") as fh:
            header = {c.strip().strip('"').strip() for c in fh.readline().split(",")}
    except OSError:
        return None
    if {"record_id", "diary_date"} <= header:
        return "diary"
    if {"record_id", "treatment_start"} <= header:
        return "baseline"
    if {"timestamp", "ax"} <= header:
        return "imu_csv"
    return None


def discover(paths: Iterable[Path]) -> tuple[list[tuple[str, Path]], list[Path]]:
    """Files under ``paths`` (recursively) with their kinds, in load order; and the others."""
    found: list[tuple[str, Path]] = []
    other: list[Path] = []
    for p in paths:
        if not p.exists():
            raise FileFormatError(f"{p}: no such file or folder")
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            kind = classify(f)
            if kind:
                found.append((kind, f))
            elif f.suffix.lower() != ".json":  # sidecars travel with their CSV
                other.append(f)
    found.sort(key=lambda kf: (KIND_ORDER.index(kf[0]), str(kf[1])))
    return found, other


def file_digest(path: Path, kind: str) -> str:
    h = hashlib.sha256(kind.encode())
    parts = [path, path.with_suffix(".json")] if kind == "imu_csv" else [path]
    for part in parts:
        if part.exists():
            with part.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
    return h.hexdigest()


def _known_subjects(cur: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in cur.execute("SELECT subject_id FROM store.participants").fetchall()}


def load_blelog(cur: duckdb.DuckDBPyConnection, path: Path, known_subjects: set[str]) -> tuple[int, int, int]:
    """Replay one capture; returns (samples kept, samples new, rows quarantined)."""
    cap = read_blelog(path)
    if cap.subject_id not in known_subjects:
        raise FileFormatError(
            f"{path}: line 1, field subject_id: {cap.subject_id!r} is not in any baseline CSV"
        )
    source = str(path)
    locations = [f"line {n}" for n in cap.line_numbers]
    decoded = decode_capture(source, cap.rx_s, cap.payloads, cap.config, locations)
    meta = RecordingMeta(
        source, "blelog", cap.subject_id, cap.device_id, cap.placement, float(cap.config.sample_rate_hz)
    )
    recording_id = ensure_recording(cur, meta)
    new = store_samples(
        cur,
        recording_id,
        meta,
        decoded.t_utc_us,
        decoded.batch.acc_g,
        decoded.batch.gyro_dps,
        decoded.batch.mag_ut,
        device_tick=decoded.device_tick,
    )
    for gap in decoded.gaps:
        record_gap(cur, cap.device_id, gap.t_from_us, gap.t_to_us, gap.missing_samples, gap.reason, source)
    bad = cap.bad_lines + decoded.rejected
    quarantine_rows(cur, bad)
    return decoded.batch.n_samples, new, len(bad)


DEFAULT_IMPORT_MEMORY_MB = 512


@contextmanager
def memory_limit(cur: duckdb.DuckDBPyConnection, limit_mb: int) -> Iterator[None]:
    """Cap DuckDB's memory for the block: a large file's staging spills to disk instead of RAM."""
    before = cur.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    cur.execute(f"SET memory_limit = '{int(limit_mb)}MB'")
    try:
        yield
    finally:
        cur.execute("SET memory_limit = ?", [before])


def import_paths(
    wh: Warehouse,
    paths: Iterable[Path | str],
    *,
    progress: bool = False,
    memory_mb: int = DEFAULT_IMPORT_MEMORY_MB,
) -> ImportReport:
    """Import every contract-2 file under ``paths``; see the module docstring for the rules.

    ``memory_mb`` caps DuckDB's memory while importing, so a file of any size imports in
    bounded memory (DuckDB spills what does not fit to its temp directory).
    """
    with memory_limit(wh.cursor(), memory_mb):
        return _import_paths(wh, paths, progress)


def _import_paths(wh: Warehouse, paths: Iterable[Path | str], progress: bool) -> ImportReport:
    files, other = discover(Path(p) for p in paths)
    report = ImportReport(unrecognised=other)
    for f in other:
        log.warning("skipping %s: not one of the cohort file formats (header not recognised)", f)
    total = sum(f.stat().st_size for _, f in files)
    cur = wh.cursor()
    with tqdm(total=total, unit="B", unit_scale=True, desc="import", disable=not progress) as bar:
        for kind, path in files:
            totals = report.kinds[kind]
            totals.files += 1
            source = str(path)
            digest = file_digest(path, kind)
            seen = cur.execute(
                "SELECT rows_bad FROM store.imported_files WHERE sha256 = ?", [digest]
            ).fetchone()
            if seen is not None and seen[0] == 0:
                totals.unchanged += 1
                bar.update(path.stat().st_size)
                continue
            try:
                try:
                    ok, new, bad = _load_in_transaction(wh, kind, path, digest, bar, careful=False)
                except NeedsCarefulImportError as why:
                    log.info("%s; importing it row by row", why)
                    bar.update(-path.stat().st_size)
                    ok, new, bad = _load_in_transaction(wh, kind, path, digest, bar, careful=True)
                totals.rows_ok += ok
                totals.rows_new += new
                totals.rows_bad += bad
            except FileFormatError as e:
                log.warning("%s", e)
                report.errors.append(str(e))
                totals.rejected += 1
                with wh.transaction() as tx:
                    clear_quarantine(tx, source)
                    quarantine_rows(tx, [QuarantineRow(source, "file", str(e).removeprefix(f"{path}: "))])
    return report


def _load_in_transaction(
    wh: Warehouse, kind: str, path: Path, digest: str, bar: tqdm, *, careful: bool
) -> tuple[int, int, int]:
    """Load one file and record it in the ledger, all in one transaction."""
    with wh.transaction() as tx:
        clear_quarantine(tx, str(path))
        ok, new, bad = _load_one(tx, kind, path, bar, careful)
        tx.execute(
            "INSERT OR REPLACE INTO store.imported_files (sha256, path, kind, rows_ok, rows_bad)"
            " VALUES (?, ?, ?, ?, ?)",
            [digest, str(path), kind, ok, bad],
        )
    return ok, new, bad


def _load_one(
    cur: duckdb.DuckDBPyConnection, kind: str, path: Path, bar: tqdm, careful: bool
) -> tuple[int, int, int]:
    size = path.stat().st_size
    if kind == "baseline":
        r = import_baseline(cur, path)
        bar.update(size)
        return r.rows_ok, r.rows_ok, r.rows_bad
    if kind == "diary":
        r2 = import_diary(cur, path, _known_subjects(cur))
        bar.update(size)
        return r2.rows_ok, r2.rows_ok, r2.rows_bad
    if kind == "imu_csv":
        r3 = import_imu_csv(cur, path, _known_subjects(cur), on_bytes=bar.update, careful=careful)
        return r3.rows_ok, r3.rows_new, r3.rows_bad
    ok, new, bad = load_blelog(cur, path, _known_subjects(cur))
    bar.update(size)
    return ok, new, bad

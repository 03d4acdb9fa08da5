"""Numbered, versioned schema migrations.

Each ``NNNN_name.sql`` file in this folder is one migration, applied once in number order inside
a transaction and recorded in ``schema_migrations``. Opening an older warehouse applies what it
lacks; a warehouse that records a migration this code does not know was written by a newer
nuchal and is refused rather than silently misread.
"""

from __future__ import annotations

import logging
import re
from importlib import resources
from pathlib import Path

import duckdb

from warehouse.errors import WarehouseError, WarehouseVersionError

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def known_migrations() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every migration shipped with this code, in order."""
    found = []
    for entry in resources.files(__name__).iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise WarehouseError(f"two migrations share a number: {versions}")
    return found


def apply_migrations(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Bring the schema up to date; returns the number of migrations applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    applied = {int(r[0]) for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    migrations = known_migrations()
    latest = migrations[-1][0] if migrations else 0
    newer = sorted(v for v in applied if v > latest)
    if newer:
        raise WarehouseVersionError(
            f"{path} has schema version {max(newer)}, newer than this nuchal knows ({latest}); "
            "upgrade nuchal (pip install -U nuchal) or open a copy made by this version"
        )
    count = 0
    for version, name, sql in migrations:
        if version in applied:
            continue
        log.info("warehouse %s: applying migration %04d_%s", path, version, name)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
        except duckdb.Error as e:
            con.execute("ROLLBACK")
            raise WarehouseError(f"migration {version:04d}_{name} failed on {path}: {e}") from e
        con.execute("COMMIT")
        count += 1
    return count


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0

"""The one owner of DuckDB connections.

Every process that touches ``warehouse.duckdb`` goes through :func:`open_warehouse`. DuckDB lets
one process write a database file at a time and refuses a second one with a lock error; instead
of failing, writers queue on an advisory ``flock`` beside the file (see docs/warehouse.md), so a
scheduled job waits for the gateway's short merge and the gateway's merge waits for the job.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from warehouse.errors import WarehouseBusyError, WarehouseError
from warehouse.migrations import apply_migrations

log = logging.getLogger(__name__)

DEFAULT_LOCK_TIMEOUT_S = 600.0


@dataclass
class Warehouse:
    """An open warehouse: one DuckDB connection per process, a cursor per thread."""

    path: Path
    con: duckdb.DuckDBPyConnection
    read_only: bool
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for the calling thread (DuckDB connections are not shared across threads)."""
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self.con.cursor()
            cur.execute("SET TimeZone = 'UTC'")
            self._local.cursor = cur
        return cur

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block atomically on this thread's cursor: all of it lands, or none."""
        cur = self.cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")

    def count(self, relation: str) -> int:
        row = self.cursor().execute(f"SELECT count(*) FROM {_ident(relation)}").fetchone()
        return int(row[0]) if row else 0


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise WarehouseError(f"not a plain relation name: {name!r}")
    return name


@contextmanager
def writer_lock(db_path: Path, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the advisory writer lock of ``db_path``, waiting up to ``timeout_s`` for it."""
    lock_path = db_path.with_name(db_path.name + ".writer.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        delay_s = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseBusyError(
                        f"{db_path} is held by another writer for more than {timeout_s:.0f} s; "
                        f"see who holds {lock_path} (e.g. `fuser {lock_path}`) or retry later"
                    ) from None
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, 0.5)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


@contextmanager
def open_warehouse(
    db_path: Path | str,
    *,
    read_only: bool = False,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> Iterator[Warehouse]:
    """Open (creating and migrating if needed) the warehouse at ``db_path``.

    Writers and readers both take the writer lock: DuckDB refuses a reader while another process
    writes, so a short read (``nuchal status``) waits its turn rather than failing.
    A read-only open of a missing file raises :class:`WarehouseError`.
    """
    path = Path(db_path)
    if read_only and not path.exists():
        raise WarehouseError(f"no warehouse at {path}; run `nuchal import` or `nuchal demo` first")
    with writer_lock(path, lock_timeout_s):
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as e:
            raise WarehouseError(f"cannot open warehouse {path}: {e}") from e
        try:
            con.execute("SET TimeZone = 'UTC'")
            # progress is tracked (for our own progress bars) but never printed by DuckDB itself
            con.execute("SET enable_progress_bar = true")
            con.execute("SET enable_progress_bar_print = false")
            if not read_only:
                apply_migrations(con, path)
            yield Warehouse(path=path, con=con, read_only=read_only)
        finally:
            con.close()


@contextmanager
def registered(cur: duckdb.DuckDBPyConnection, name: str, data: object) -> Iterator[str]:
    """Expose an Arrow table / pandas frame to SQL as ``name`` for the duration of the block.

    DuckDB 2 refuses ``register``/``unregister`` while an earlier ``execute`` result on the same
    cursor is unread (a ``fetchone`` does not finish it), so pending results are completed first.
    """
    cur.complete()
    cur.register(name, data)
    try:
        yield name
    finally:
        cur.complete()
        cur.unregister(name)

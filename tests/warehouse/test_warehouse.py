"""Warehouse: numbered migrations, version refusal, the writer lock and the public views."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

import warehouse.migrations as migrations
from warehouse import (
    PUBLIC_VIEWS,
    WarehouseBusyError,
    WarehouseError,
    WarehouseVersionError,
    open_warehouse,
)

# SPEC contract 3: view -> the columns it must have at least.
CONTRACT_COLUMNS = {
    "participants": {
        "subject_id",
        "age",
        "sex",
        "headache_years",
        "lightheadedness",
        "treatment_start",
        "therapist_id",
    },
    "imu_samples": {
        "subject_id",
        "device_id",
        "placement",
        "t_utc",
        "acc_x_g",
        "acc_y_g",
        "acc_z_g",
        "gyro_x_dps",
        "gyro_y_dps",
        "gyro_z_dps",
    },
    "stream_gaps": {"device_id", "t_from_utc", "t_to_utc", "missing_samples", "reason"},
    "diary": {"subject_id", "diary_date", "headache", "intensity", "duration_h", "medication"},
    "quarantine": {"source", "location", "reason", "received_at"},
    "participant_day_features": {"subject_id", "day", "wear_h"},
    "predictions": {"subject_id", "day", "target", "model_version", "probability"},
    "alerts": {"alert_id", "subject_id", "therapist_id", "created_at", "risk", "reason", "status"},
}


def _recorded(path: Path) -> list[tuple[int, str]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [
            (int(v), str(n))
            for v, n in con.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall()
        ]
    finally:
        con.close()


def test_new_warehouse_applies_every_migration_once_and_records_it(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as wh:
        assert wh.count("imu_samples") == 0
    known = [(v, n) for v, n, _ in migrations.known_migrations()]
    assert known[0] == (1, "core")
    assert _recorded(db) == known


def test_reopening_is_a_no_op(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as wh:
        wh.cursor().execute("INSERT INTO store.participants (subject_id, age) VALUES (?, ?)", ["P001", 40.0])
        applied_before = wh.cursor().execute("SELECT version, applied_at FROM schema_migrations").fetchall()
    with open_warehouse(db) as wh:
        cur = wh.cursor()
        assert migrations.apply_migrations(cur, db) == 0
        assert cur.execute("SELECT version, applied_at FROM schema_migrations").fetchall() == applied_before
        assert wh.count("participants") == 1


def test_older_warehouse_is_upgraded_on_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that has only 0001 (applied by hand) gains a later migration and keeps its data."""
    db = tmp_path / "w.duckdb"
    core = migrations.known_migrations()[0]
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    con.execute(core[2])
    con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [core[0], core[1]])
    con.execute("INSERT INTO store.participants (subject_id, age) VALUES ('P001', 40)")
    con.close()

    shipped = migrations.known_migrations()
    future = max(v for v, _, _ in shipped) + 1
    extra = (
        future,
        "test_extra",
        "CREATE TABLE store.test_extra (x INTEGER); INSERT INTO store.test_extra VALUES (7);",
    )
    monkeypatch.setattr(migrations, "known_migrations", lambda: [*shipped, extra])

    with open_warehouse(db) as wh:
        cur = wh.cursor()
        # 0001 was not run again (its CREATE TABLEs would have failed), the rest were.
        assert cur.execute("SELECT x FROM store.test_extra").fetchall() == [(7,)]
        assert wh.count("participants") == 1
    assert _recorded(db) == [(v, n) for v, n, _ in [*shipped, extra]]


def test_failing_migration_is_rolled_back_and_not_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db):
        pass
    shipped = migrations.known_migrations()
    future = max(v for v, _, _ in shipped) + 1
    broken = (future, "broken", "CREATE TABLE store.half_done (x INTEGER); SELECT * FROM no_such_table;")
    monkeypatch.setattr(migrations, "known_migrations", lambda: [*shipped, broken])
    with pytest.raises(WarehouseError, match=f"{future:04d}_broken"), open_warehouse(db):
        pass
    monkeypatch.undo()
    assert _recorded(db) == [(v, n) for v, n, _ in shipped]
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    finally:
        con.close()
    assert "half_done" not in tables


def test_newer_warehouse_is_refused_naming_the_path(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as wh:
        wh.cursor().execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'from_the_future')")
    with pytest.raises(WarehouseVersionError) as err, open_warehouse(db):
        pass
    assert str(db) in str(err.value)
    assert "9999" in str(err.value)
    # Refused, not damaged: the future row is still there and nothing else was changed.
    assert (9999, "from_the_future") in _recorded(db)


def test_read_only_open_of_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "nothing.duckdb"
    with pytest.raises(WarehouseError, match="no warehouse at"), open_warehouse(db, read_only=True):
        pass
    assert not db.exists()


def _hold_lock(db: Path, ready: Path, hold_s: float) -> subprocess.Popen[bytes]:
    """Start another process that holds the writer lock of ``db`` for ``hold_s`` seconds."""
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from warehouse import writer_lock
        with writer_lock(Path({str(db)!r}), timeout_s=30):
            Path({str(ready)!r}).touch()
            time.sleep({hold_s})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("lock holder did not start")
        time.sleep(0.02)
    return proc


def test_open_waits_for_another_writer_then_succeeds(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db):
        pass
    proc = _hold_lock(db, tmp_path / "ready", hold_s=1.5)
    try:
        t0 = time.monotonic()
        with open_warehouse(db, lock_timeout_s=20) as wh:
            waited_s = time.monotonic() - t0
            assert wh.count("quarantine") == 0
    finally:
        proc.wait(timeout=30)
    assert waited_s >= 1.0, f"open did not wait for the lock holder (waited {waited_s:.2f} s)"


def test_open_times_out_with_busy_error_while_another_writer_holds_on(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    proc = _hold_lock(db, tmp_path / "ready", hold_s=5)
    try:
        t0 = time.monotonic()
        with pytest.raises(WarehouseBusyError) as err, open_warehouse(db, lock_timeout_s=0.3):
            pass
        assert time.monotonic() - t0 < 3.0
        assert str(db) in str(err.value)
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.mark.parametrize("view", PUBLIC_VIEWS)
def test_public_view_has_the_contract_columns(tmp_path: Path, view: str) -> None:
    with open_warehouse(tmp_path / "w.duckdb") as wh:
        cur = wh.cursor()
        kinds = dict(
            cur.execute(
                "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        )
        assert kinds.get(view) == "VIEW"
        cols = {r[0] for r in cur.execute(f"DESCRIBE {view}").fetchall()}
        assert CONTRACT_COLUMNS[view] <= cols, CONTRACT_COLUMNS[view] - cols
        assert wh.count(view) == 0


def test_public_views_cover_contract_3() -> None:
    assert set(PUBLIC_VIEWS) == set(CONTRACT_COLUMNS)


def test_time_columns_are_timestamptz(tmp_path: Path) -> None:
    with open_warehouse(tmp_path / "w.duckdb") as wh:
        cur = wh.cursor()
        for view, col in [
            ("imu_samples", "t_utc"),
            ("stream_gaps", "t_from_utc"),
            ("stream_gaps", "t_to_utc"),
            ("quarantine", "received_at"),
            ("alerts", "created_at"),
        ]:
            types = dict((r[0], r[1]) for r in cur.execute(f"DESCRIBE {view}").fetchall())
            assert types[col] == "TIMESTAMP WITH TIME ZONE", (view, col, types[col])
        for view, col in [("diary", "diary_date"), ("participant_day_features", "day")]:
            types = dict((r[0], r[1]) for r in cur.execute(f"DESCRIBE {view}").fetchall())
            assert types[col] == "DATE", (view, col)

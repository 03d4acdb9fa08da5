"""Battery readings and disconnections are durable in the spool before any merge."""

from __future__ import annotations

from pathlib import Path

from ingest.gateway.merge import EVENTS_FILE, DeviceEvent, Merger
from warehouse import open_warehouse


def rows(db: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with open_warehouse(db) as wh:
        cur = wh.cursor()
        battery = cur.execute(
            "SELECT device_id, level_pct FROM store.gateway_battery ORDER BY at_utc"
        ).fetchall()
        drops = cur.execute("SELECT device_id, reason FROM store.gateway_disconnections").fetchall()
    return battery, drops


def test_events_survive_a_crash_before_the_merge(tmp_path: Path) -> None:
    spool, db = tmp_path / "spool", tmp_path / "w.duckdb"
    crashed = Merger(spool, db)
    crashed.add_event(DeviceEvent("battery", "D1", 1_750_000_000.0, "87", "s1"))
    crashed.add_event(DeviceEvent("disconnect", "D1", 1_750_000_060.0, "supervision timeout", "s1"))
    del crashed  # kill -9: nothing merged, nothing in memory survives

    restarted = Merger(spool, db)
    restarted.merge()
    assert rows(db) == ([("D1", 87)], [("D1", "supervision timeout")])
    assert not list(spool.glob("events*"))
    restarted.merge()  # nothing left to merge, nothing doubled
    assert rows(db) == ([("D1", 87)], [("D1", "supervision timeout")])


def test_a_line_torn_by_a_crash_is_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    spool, db = tmp_path / "spool", tmp_path / "w.duckdb"
    m = Merger(spool, db)
    m.add_event(DeviceEvent("battery", "D2", 1_750_000_000.0, "55", "s2"))
    with (spool / EVENTS_FILE).open("a", encoding="utf-8") as fh:
        fh.write('{"kind": "battery", "device_id": "D2", "at_s"')  # no newline: the write was cut
    m.merge()
    assert rows(db)[0] == [("D2", 55)]

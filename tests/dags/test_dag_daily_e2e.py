"""`nuchal_daily` end to end with `dag.test()` on a small simulated warehouse.

A simulated cohort (3 participants, 29 days, half an hour of IMU per wear day) is imported once per
module; every test copies that warehouse into its own home, so tests do not see each other's rows.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

FEATURE_SNAPSHOT_SQL = "SELECT * FROM participant_day_features WHERE day = ? ORDER BY subject_id"


@dataclass(frozen=True)
class Cohort:
    cohort_dir: Path
    partial_db: Path  # baseline, diary and the IMU files up to ``held_after``
    full_db: Path  # everything
    held_back: tuple[Path, ...]  # IMU files dated after ``held_after``, for the concurrent writer
    held_after: dt.date
    busiest_day: dt.date  # the day with IMU from the most participants


def _file_day(path: Path) -> dt.date:
    # Simulator file names are <subject>_<YYYYMMDD>.<ext>, the participant's local wear day.
    return dt.datetime.strptime(path.stem.rsplit("_", 1)[1], "%Y%m%d").date()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    import simulator
    from ingest.importer import import_paths
    from warehouse import open_warehouse

    root = tmp_path_factory.mktemp("cohort")
    params = simulator.SimulationParams(
        participants=3, days=1, hours_per_day=0.5, rate_hz=25, seed=11, bad_rows=False
    )
    simulator.write_cohort(root / "files", params)
    recordings = sorted(
        p for p in (root / "files").rglob("*") if p.suffix in {".csv", ".blelog"} and p.parent.name != "truth"
    )
    recordings = [p for p in recordings if p.name not in {"baseline.csv", "diary.csv"}]
    days = sorted({_file_day(p) for p in recordings})
    held_after = next(d for d in days if sum(_file_day(p) > d for p in recordings) >= 4)
    held_back = tuple(p for p in recordings if _file_day(p) > held_after)

    partial = root / "partial.duckdb"
    with open_warehouse(partial) as wh:
        import_paths(wh, [root / "files" / "baseline.csv", root / "files" / "diary.csv"])
        import_paths(wh, [p for p in recordings if p not in held_back])
    full = root / "full.duckdb"
    shutil.copyfile(partial, full)
    with open_warehouse(full) as wh:
        import_paths(wh, list(held_back))
        by_day = (
            wh.cursor()
            .execute(
                "SELECT day FROM (SELECT s.subject_id, CAST(timezone(r.timezone, s.t_utc) AS DATE) AS day "
                "FROM store.imu_samples s JOIN store.recordings r USING (recording_id) GROUP BY ALL) "
                "GROUP BY day ORDER BY count(*) DESC, day LIMIT 1"
            )
            .fetchone()
        )
    assert by_day is not None
    return Cohort(root / "files", partial, full, held_back, held_after, by_day[0])


def _home_with(db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(db, home / "warehouse.duckdb")
    monkeypatch.setenv("NUCHAL_HOME", str(home))
    return home


def _rows(home: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    from warehouse import open_warehouse

    with open_warehouse(home / "warehouse.duckdb") as wh:
        return wh.cursor().execute(sql, params or []).fetchall()


def _run_daily(dagbag: Any, day: dt.date) -> tuple[Any, float]:
    dag = dagbag.get_dag("nuchal_daily")
    t0 = time.perf_counter()
    run = dag.test(logical_date=dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC))
    elapsed_s = time.perf_counter() - t0
    failed = [(ti.task_id, ti.map_index) for ti in run.get_task_instances() if ti.state != "success"]
    assert run.state == "success", f"failed tasks: {failed}"
    return run, elapsed_s


def _report(name: str, value: float) -> None:
    # Measured figures for docs/scaling.md; printed with `pytest -s`.
    print(f"\n[nuchal-airflow] {name} = {value:.2f}")


def test_daily_run_twice_for_one_day_lands_identical_rows(
    dagbag: Any, cohort: Cohort, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home_with(cohort.full_db, tmp_path, monkeypatch)
    day = cohort.busiest_day
    run, first_s = _run_daily(dagbag, day)
    features = [ti for ti in run.get_task_instances() if ti.task_id == "features"]
    subjects = sorted(
        r[0] for r in _rows(home, "SELECT DISTINCT subject_id FROM diary WHERE diary_date = ?", [day])
    )
    assert len(features) >= len(subjects) >= 2
    first = _rows(home, FEATURE_SNAPSHOT_SQL, [day])
    assert len(first) == len(features)
    assert _rows(home, "SELECT count(*) FROM participant_day_features WHERE day <> ?", [day]) == [(0,)]

    _, second_s = _run_daily(dagbag, day)
    assert _rows(home, FEATURE_SNAPSHOT_SQL, [day]) == first

    # Lose the day's rows and run again: recomputed from the same inputs, they come back equal.
    _rows(home, "DELETE FROM store.participant_day_features WHERE day = ?", [day])
    _, third_s = _run_daily(dagbag, day)
    assert _rows(home, FEATURE_SNAPSHOT_SQL, [day]) == first
    _report("dag_test_daily_first_s", first_s)
    _report("dag_test_daily_rerun_unchanged_s", second_s)
    _report("dag_test_daily_recompute_s", third_s)
    _report("participants_in_run", len(features))


def test_backfill_of_three_days_computes_exactly_those_days(
    dagbag: Any, cohort: Cohort, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk import timezone

    from nuchal import pipeline

    home = _home_with(cohort.full_db, tmp_path, monkeypatch)
    first, last = cohort.busiest_day - dt.timedelta(days=3), cohort.busiest_day - dt.timedelta(days=1)
    dag = dagbag.get_dag("nuchal_daily")
    # The runs `airflow backfill create --from-date first --to-date last` creates, from Airflow's
    # own backfill planner (the one behind `--dry-run`).
    from airflow.models.backfill import _get_info_list
    from airflow.serialization.serialized_objects import DagSerialization

    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    infos = _get_info_list(
        from_date=timezone.coerce_datetime(dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)),
        to_date=timezone.coerce_datetime(dt.datetime.combine(last, dt.time(), tzinfo=dt.UTC)),
        reverse=False,
        dag=scheduler_dag,
    )
    logical = [info.logical_date for info in infos]
    assert [pipeline.as_day(d) for d in logical] == pipeline.day_range(first, last)

    t0 = time.perf_counter()
    for logical_date in logical:
        run = dag.test(logical_date=logical_date)
        assert run.state == "success"
    elapsed_s = time.perf_counter() - t0

    done = {r[0] for r in _rows(home, "SELECT DISTINCT day FROM participant_day_features")}
    assert done == set(pipeline.day_range(first, last))
    expected = _rows(
        home,
        "SELECT count(*) FROM (SELECT subject_id, diary_date FROM diary WHERE diary_date BETWEEN ? AND ? "
        "UNION SELECT s.subject_id, CAST(timezone(r.timezone, s.t_utc) AS DATE) FROM store.imu_samples s "
        "JOIN store.recordings r USING (recording_id) "
        "WHERE CAST(timezone(r.timezone, s.t_utc) AS DATE) BETWEEN ? AND ?)",
        [first, last, first, last],
    )
    assert _rows(home, "SELECT count(*) FROM participant_day_features") == expected
    _report("dag_test_backfill_3_days_s", elapsed_s)


WRITER = r"""
import json, sys, time
from pathlib import Path
from ingest.importer import import_paths
from warehouse import open_warehouse

db, log_path, stop = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
files = [Path(p) for p in sys.argv[4:]]
with log_path.open("a") as log:
    def write(paths):
        with open_warehouse(db) as wh:
            t0 = time.time()
            report = import_paths(wh, paths)
            new = sum(k.rows_new for k in report.kinds.values())
            log.write(json.dumps({"t0": t0, "t1": time.time(), "new": new}) + "\n")
            log.flush()
    for f in files:  # one landed file per lock hold, like the gateway's short merges
        write([f])
        time.sleep(0.2)
    while not stop.exists():  # keep taking the writer lock until the DAG run is over
        write(files)
        time.sleep(0.1)
"""


@pytest.fixture
def writer_log(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "writer.jsonl"


def test_daily_runs_while_another_process_writes_the_warehouse(
    dagbag: Any, cohort: Cohort, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer_log: Path
) -> None:
    home = _home_with(cohort.partial_db, tmp_path, monkeypatch)
    day = cohort.held_after
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(home / "warehouse.duckdb"), str(writer_log), str(stop)]
        + [str(p) for p in cohort.held_back],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (writer_log.exists() and writer_log.read_text().strip()):
            assert writer.poll() is None, writer.communicate()
            assert time.monotonic() < deadline, "the writer never wrote"
            time.sleep(0.05)
        t_start = time.time()
        _run_daily(dagbag, day)
        t_end = time.time()
    finally:
        stop.touch()
        _out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err[-3000:]
    holds = [json.loads(line) for line in writer_log.read_text().splitlines()]
    assert any(h["t1"] > t_start and h["t0"] < t_end for h in holds), "writer and DAG run did not overlap"
    assert sum(h["new"] for h in holds) > 0

    # No lost and no duplicated samples: the same rows as a warehouse loaded without contention.
    count_sql = "SELECT subject_id, device_id, count(*), count(DISTINCT t_utc) FROM imu_samples GROUP BY ALL ORDER BY ALL"
    got = _rows(home, count_sql)
    reference = tmp_path / "reference"
    reference.mkdir()
    shutil.copyfile(cohort.full_db, reference / "warehouse.duckdb")
    assert got == _rows(reference, count_sql)
    assert all(n == n_distinct for _, _, n, n_distinct in got)
    # The day's features are those of the same run without a concurrent writer.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copyfile(cohort.partial_db, alone / "warehouse.duckdb")
    monkeypatch.setenv("NUCHAL_HOME", str(alone))
    _run_daily(dagbag, day)
    assert _rows(home, FEATURE_SNAPSHOT_SQL, [day]) == _rows(alone, FEATURE_SNAPSHOT_SQL, [day])

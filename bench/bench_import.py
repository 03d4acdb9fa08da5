"""Import throughput of IMU CSV and `.blelog` next to DuckDB's own bulk load (issue 2, contract 5).

Generates, with numpy, an IMU CSV of ``CSV_SAMPLES`` samples with ISO-offset timestamps (+ sidecar)
and two `.blelog` captures of ``BLELOG_SAMPLES`` samples (10-sample packets, and 19-sample packets as
devices with an MTU of 247 send), then times in this process: ``import_paths`` of each into a fresh
warehouse, and ``INSERT INTO t SELECT * FROM read_csv(...)``
of the same CSV rows into a table of the same column types in a fresh DuckDB file. The peak RSS of
a CSV import is measured in a child process (pyarrow and DuckDB allocate outside tracemalloc; read from /proc VmHWM).
"""

from __future__ import annotations

import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ingest.importer import import_paths
from ingest.packets import DeviceConfig
from warehouse import open_warehouse

log = logging.getLogger(__name__)

CSV_SAMPLES = 3_000_000
BLELOG_SAMPLES = 1_500_000
FS_HZ = 50
REPEATS = 2
T0_UTC_S = 1_711_900_800  # 2024-03-31T16:00:00Z, Europe/Berlin at +02:00
BASELINE = "record_id,age,sex,headache_years,lightheadedness,treatment_start,therapist_id\nP001,34,F,5,0,2024-03-01,T1\n"
COLUMNS = ("ax", "ay", "az", "gx", "gy", "gz")


def write_imu_csv(path: Path, n: int, seed: int = 1) -> None:
    """(n) samples at FS_HZ, timestamps ISO 8601 local time with +02:00, values to 4 decimals."""
    rng = np.random.default_rng(seed)
    t_ms = (T0_UTC_S + 2 * 3600) * 1000 + np.arange(n, dtype=np.int64) * (1000 // FS_HZ)
    local = np.datetime_as_string(t_ms.astype("datetime64[ms]"), unit="ms")
    ts = pa.compute.binary_join_element_wise(pa.array(local), pa.scalar("+02:00"), pa.scalar(""))
    acc = rng.normal([0.0, 0.0, 1.0], 0.1, (n, 3)).round(4).astype(np.float32)
    gyro = rng.normal(0.0, 20.0, (n, 3)).round(2).astype(np.float32)
    table = pa.table(
        {"timestamp": ts, **{c: acc[:, i] for i, c in enumerate(COLUMNS[:3])}}
        | {c: gyro[:, i] for i, c in enumerate(COLUMNS[3:])}
    )
    # pyarrow quotes header names whatever the quoting style; write the plain header ourselves.
    path.write_text("timestamp," + ",".join(COLUMNS) + "\n")
    with path.open("ab") as fh:
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    sidecar = {
        "subject_id": "P001",
        "device_id": "BENCH-CSV",
        "placement": "occiput",
        "sample_rate_hz": FS_HZ,
    }
    path.with_suffix(".json").write_text(json.dumps({**sidecar, "timezone": "Europe/Berlin"}))


def write_blelog(path: Path, n: int, seed: int = 2, per_packet: int = 10) -> None:
    """(n) samples in packets of ``per_packet``, drift +30 ppm, latency 7.5 ms + exp(20 ms)."""
    rng = np.random.default_rng(seed)
    cfg = DeviceConfig(1, FS_HZ, 4096.0, 16.4, 32768, 1)
    p = n // per_packet
    first = np.arange(p, dtype=np.int64) * per_packet
    tick = np.floor(first * 32768 / FS_HZ).astype(np.int64) % 2**32
    header = np.zeros(p, dtype=np.dtype([("head", "u1"), ("seq", "<u2"), ("tick", "<u4"), ("n", "u1")]))
    header["head"], header["seq"], header["tick"], header["n"] = 0x10, np.arange(p) % 2**16, tick, per_packet
    counts = np.empty((p, per_packet, 6), dtype="<i2")
    counts[..., :3] = rng.normal([0.0, 0.0, 4096.0], 300.0, (p, per_packet, 3))
    counts[..., 3:] = rng.normal(0.0, 400.0, (p, per_packet, 3))
    raw = np.concatenate([header.view(np.uint8).reshape(p, 8), counts.view(np.uint8).reshape(p, -1)], axis=1)
    true_last = T0_UTC_S + (first + per_packet - 1) / FS_HZ / (1 + 30e-6)
    rx = np.maximum.accumulate(true_last + 0.0075 + rng.exponential(0.020, p))
    head = {
        "device_id": "BENCH-BLE",
        "subject_id": "P001",
        "placement": "occiput",
        "config": cfg.to_bytes().hex(),
    }
    with path.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(head) + "\n")
        fh.writelines(
            f'{{"rx": {r:.6f}, "data": "{row.tobytes().hex()}"}}\n' for r, row in zip(rx, raw, strict=True)
        )


def time_import(work: Path, name: str, files: list[Path], expected: int) -> float:
    with open_warehouse(work / f"{name}.duckdb") as wh:
        t0 = time.perf_counter()
        report = import_paths(wh, files)
        elapsed = time.perf_counter() - t0
        stored = sum(k.rows_new for k in report.kinds.values()) - 1  # minus the baseline row
        if report.errors or report.rows_bad or report.unrecognised or stored != expected:
            raise RuntimeError(
                f"bench import of {name} was not clean: stored {stored} of {expected}, "
                f"{report.errors} {report.rows_bad} bad, unrecognised {report.unrecognised}"
            )
    return elapsed


def time_duckdb_bulk(work: Path, csv: Path, rep: int) -> float:
    """DuckDB's own fastest load of the same rows into the same storage layout as the warehouse's
    samples table (the participant, device and placement columns filled with constants), with
    no checks at all: the cost floor that decoding and validation are compared against."""
    con = duckdb.connect(str(work / f"bulk{rep}.duckdb"))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(
            "CREATE TABLE t (recording_id INTEGER, subject_id VARCHAR, device_id VARCHAR, placement VARCHAR,"
            " t_utc TIMESTAMPTZ, acc_x_g FLOAT, acc_y_g FLOAT, acc_z_g FLOAT, gyro_x_dps FLOAT, gyro_y_dps FLOAT,"
            " gyro_z_dps FLOAT, mag_x_ut FLOAT, mag_y_ut FLOAT, mag_z_ut FLOAT, device_tick BIGINT)"
        )
        types = {"timestamp": "TIMESTAMPTZ", **{c: "FLOAT" for c in COLUMNS}}
        t0 = time.perf_counter()
        con.execute(
            "INSERT INTO t (recording_id, subject_id, device_id, placement, t_utc, acc_x_g, acc_y_g, acc_z_g,"
            " gyro_x_dps, gyro_y_dps, gyro_z_dps)"
            " SELECT 1, 'P001', 'BENCH-CSV', 'occiput', * FROM read_csv(?, header = true, columns = ?)",
            [str(csv), types],
        )
        elapsed = time.perf_counter() - t0
        n = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
        if n != CSV_SAMPLES:
            raise RuntimeError(f"DuckDB bulk load stored {n} rows, expected {CSV_SAMPLES}")
    finally:
        con.close()
    return elapsed


_PEAK_SCRIPT = """
import sys
from pathlib import Path
from ingest.importer import import_paths
from warehouse import open_warehouse
with open_warehouse(Path(sys.argv[1])) as wh:
    import_paths(wh, [Path(p) for p in sys.argv[2:]])
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so it would report the parent's.
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
"""


def peak_rss_mb(work: Path, files: list[Path]) -> float:
    """Peak resident memory (MB) of a child process that imports ``files`` into a fresh warehouse."""
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(work / "peak.duckdb"), *map(str, files)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0  # VmHWM is in KiB


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="nuchal-bench-import-") as tmp:
        work = Path(tmp)
        base = work / "baseline.csv"
        base.write_text(BASELINE)
        csv = work / "imu.csv"
        write_imu_csv(csv, CSV_SAMPLES)
        ble = work / "session.blelog"
        write_blelog(ble, BLELOG_SAMPLES)
        ble19 = work / "session19.blelog"
        write_blelog(ble19, BLELOG_SAMPLES, per_packet=19)
        log.info(
            "bench files: %s %.0f MB, %s %.0f MB, %s %.0f MB",
            csv.name,
            csv.stat().st_size / 1e6,
            ble.name,
            ble.stat().st_size / 1e6,
            ble19.name,
            ble19.stat().st_size / 1e6,
        )
        # The machine is shared: interleave repeats and keep each approach's best time.
        t_bulk, t_csv, t_ble, t_ble19 = float("inf"), float("inf"), float("inf"), float("inf")
        n19 = BLELOG_SAMPLES // 19 * 19
        for rep in range(REPEATS):
            t_bulk = min(t_bulk, time_duckdb_bulk(work, csv, rep))
            t_csv = min(t_csv, time_import(work, f"csv{rep}", [base, csv], CSV_SAMPLES))
            t_ble = min(t_ble, time_import(work, f"ble{rep}", [base, ble], BLELOG_SAMPLES))
            t_ble19 = min(t_ble19, time_import(work, f"ble19_{rep}", [base, ble19], n19))
        peak = peak_rss_mb(work, [base, csv])
    bulk = CSV_SAMPLES / t_bulk
    csv_rate = CSV_SAMPLES / t_csv
    ble_rate = BLELOG_SAMPLES / t_ble
    ble19_rate = n19 / t_ble19
    return {
        "import_csv_samples_per_s": csv_rate,
        "import_blelog_samples_per_s": ble_rate,
        "import_blelog19_samples_per_s": ble19_rate,
        "duckdb_bulk_samples_per_s": bulk,
        "import_csv_vs_duckdb_ratio": csv_rate / bulk,
        "import_blelog_vs_duckdb_ratio": ble_rate / bulk,
        "import_blelog19_vs_duckdb_ratio": ble19_rate / bulk,
        "import_csv_peak_mem_mb": peak,
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    for key, value in run().items():
        print(f"{key:40s} {value:,.4g}")
    print(f"bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

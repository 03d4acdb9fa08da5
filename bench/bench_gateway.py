"""Gateway figures (issue 3): throughput, real-time capacity through bumble, latency, fuzzing.

- ``gateway_samples_per_s``: decode + spool (fsync) + merge into DuckDB of one long session.
- ``gateway_vs_duckdb_ratio``: that rate over DuckDB's own bulk load of the same rows (Arrow
  insert into a bare table, no decoding, no dedup), measured in the same run.
- ``gateway_max_devices_100hz``: most virtual 100 Hz devices one gateway keeps up with in wall
  time through the full bumble stack (>= 97 % of sent notifications durable, p99 < 1 s).
- ``gateway_latency_p99_ms``: receive-to-durable (fsync) latency p99 at that load.
- ``fuzz_packets`` / ``fuzz_crashes``: mutated/random notifications through the session decoder.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ingest.gateway.merge import Merger
from ingest.gateway.session import SessionDecoder
from ingest.gateway.spool import SessionMeta, SessionSpool
from ingest.packets import DeviceConfig, encode_packet
from nuchal.home import Home

log = logging.getLogger(__name__)
CFG = DeviceConfig(1, 100, 4096.0, 16.4, 32768, 1)


def _packets(n: int, seed: int = 0) -> tuple[np.ndarray, list[bytes]]:
    rng = np.random.default_rng(seed)
    raw = rng.integers(-4000, 4000, size=(n, 19, 6)).astype(np.int16)
    payloads = [encode_packet(i, round(i * 19 * 327.68), raw[i]) for i in range(n)]
    rx = 1.75e9 + (np.arange(n) * 19 + 18) / 100 * (1 - 30e-6) + rng.uniform(0, 0.015, n)
    return rx, payloads


def _throughput(n_packets: int = 40_000) -> dict[str, float]:
    rx, payloads = _packets(n_packets)
    n_samples = n_packets * 19
    with tempfile.TemporaryDirectory() as tmp:
        home = Home(Path(tmp)).ensure()
        meta = SessionMeta("bench-1", "DEV-BENCH", "P-BENCH", "occiput", "00:00", CFG.to_bytes().hex())
        t0 = time.perf_counter()
        spool = SessionSpool(home.spool, meta, segment_s=1e9)
        for k in range(0, n_packets, 500):  # consumer batches, fsync each like the syncer
            spool.append(rx[k : k + 500].tolist(), payloads[k : k + 500], 0.0)
            spool.sync(0.0)
        spool.close(0.0)
        res = Merger(home.spool, home.warehouse).merge()
        gw_s = time.perf_counter() - t0
        assert res.samples_new == n_samples, res
        # Competitor: DuckDB bulk-loading the same rows, already decoded and timed.
        dec = SessionDecoder("x", CFG)
        chunk = dec.feed(rx, payloads)
        tail = dec.close()
        t_us = np.concatenate([chunk.t_utc_us, tail.t_utc_us])
        acc = np.concatenate([chunk.acc_g, tail.acc_g])
        gyro = np.concatenate([chunk.gyro_dps, tail.gyro_dps])
        table = pa.table(
            {
                "t_utc": pa.array(t_us, type=pa.timestamp("us", tz="UTC")),
                **{f"acc_{a}_g": acc[:, i].astype(np.float32) for i, a in enumerate("xyz")},
                **{f"gyro_{a}_dps": gyro[:, i].astype(np.float32) for i, a in enumerate("xyz")},
            }
        )
        t1 = time.perf_counter()
        con = duckdb.connect(str(Path(tmp) / "bulk.duckdb"))  # bench competitor: bare DuckDB
        con.register("staged", table)
        con.execute("CREATE TABLE s AS SELECT * FROM staged")
        con.close()
        db_s = time.perf_counter() - t1
    gw_rate = n_samples / gw_s
    db_rate = n_samples / db_s
    print(f"gateway path {gw_rate:,.0f} samples/s vs DuckDB bulk load {db_rate:,.0f} samples/s")
    return {"gateway_samples_per_s": gw_rate, "gateway_vs_duckdb_ratio": gw_rate / db_rate}


async def _live(n_devices: int, duration_s: float) -> tuple[float, float]:
    """(fraction of sent notifications made durable, p99 receive->durable latency s), wall time."""
    from ingest.ble_sim.backend import BumbleBackend
    from ingest.ble_sim.device import FleetSpec, VirtualImu
    from ingest.ble_sim.fleet import assignments_for
    from ingest.ble_sim.radio import VirtualRadio
    from ingest.gateway import Gateway, GatewayConfig

    stack_errors: list[str] = []

    def _count(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        # beyond capacity bumble's GATT client gets answers after it gave up (InvalidStateError):
        # count them instead of printing a traceback each
        stack_errors.append(str(context.get("exception") or context.get("message")))

    asyncio.get_running_loop().set_exception_handler(_count)
    with tempfile.TemporaryDirectory() as tmp:
        home = Home(Path(tmp)).ensure()
        radio = VirtualRadio()
        backend = BumbleBackend.on(radio)
        await radio.power_on()
        devices = [VirtualImu(radio, p) for p in FleetSpec(n_devices, seed=9, keep_truth=False).profiles()]
        for d in devices:
            await d.start()
        cfg = GatewayConfig(home, assignments_for(devices), merge_interval_s=5.0)
        gw = Gateway(cfg, backend.client, backend.scanner, clock=radio.now_s)
        report = await gw.run(duration_s)
        for d in devices:
            await d.stop()
        sent = sum(d.stats["notified"] for d in devices)
        lat = np.asarray(report.durable_latency_s)
        p99 = float(np.percentile(lat, 99)) if lat.size else float("inf")
        if stack_errors:
            log.warning(
                "%d devices: %d errors in the virtual BLE stack (first: %s)",
                n_devices,
                len(stack_errors),
                stack_errors[0],
            )
        return (report.durable / sent if sent else 0.0), p99


def _capacity() -> dict[str, float]:
    best, best_p99 = 0, float("nan")
    for n in (10, 25, 50, 75, 100):
        frac, p99 = asyncio.run(_live(n, 12.0))
        print(
            f"{n} devices at 100 Hz: {frac:.3f} of sent notifications durable, p99 latency {p99 * 1e3:.0f} ms"
        )
        if frac >= 0.97 and p99 < 1.0:
            best, best_p99 = n, p99
        else:
            break
    return {"gateway_max_devices_100hz": float(best), "gateway_latency_p99_ms": best_p99 * 1e3}


def _fuzz(n_packets: int = 1_000_000, seed: int = 1) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    _base_rx, base = _packets(2000, seed)
    crashes = 0
    done = 0
    dec = SessionDecoder("fuzz", CFG)
    rx0 = 1.75e9
    while done < n_packets:
        batch = []
        for _ in range(1000):
            p = bytearray(base[int(rng.integers(0, len(base)))])
            kind = rng.integers(0, 4)
            if kind == 0:
                p[int(rng.integers(0, len(p)))] = int(rng.integers(0, 256))
            elif kind == 1:
                p = p[: int(rng.integers(0, len(p)))]
            elif kind == 2:
                p = bytearray(rng.integers(0, 256, int(rng.integers(0, 300))).astype(np.uint8).tobytes())
            batch.append(bytes(p))
        rx = np.asarray(rx0 + done * 0.19 + np.arange(len(batch)) * 0.19, dtype=np.float64)
        try:
            dec.feed(rx, batch)
        except Exception as e:  # a crash is what we count
            crashes += 1
            log.error("fuzz crash: %s", e)
            dec = SessionDecoder("fuzz", CFG)
        done += len(batch)
    try:
        dec.close()
    except Exception:
        crashes += 1
    return {"fuzz_packets": float(done), "fuzz_crashes": float(crashes)}


def run() -> dict[str, float]:
    out: dict[str, float] = {}
    out.update(_throughput())
    out.update(_fuzz())
    out.update(_capacity())
    return out


if __name__ == "__main__":
    for k, v in run().items():
        print(k, v)

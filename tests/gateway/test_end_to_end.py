"""Virtual devices on bumble -> bleak backend -> gateway -> spool -> merge -> imu_samples."""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest
from gateway_helpers import EPOCH_S, match_truth, sim_config, stored_times

from ingest.ble_sim import run_virtual
from ingest.ble_sim.device import Fault, FaultPlan, FleetSpec
from ingest.ble_sim.fleet import run_fleet
from ingest.blelog import decode_capture, read_blelog
from ingest.gateway import Gateway
from nuchal.home import Home
from warehouse import open_warehouse, writer_lock

pytestmark = pytest.mark.slow


def test_three_devices_every_sample_exactly_once_within_20ms(home: Home) -> None:
    run = run_virtual(
        run_fleet(sim_config(home, capture_dir=home.root / "cap"), FleetSpec(3), 120.0, epoch_start_s=EPOCH_S)
    )
    with open_warehouse(home.warehouse) as wh:
        dup = (
            wh.cursor()
            .execute(
                "SELECT count(*) FROM (SELECT device_id, t_utc FROM imu_samples GROUP BY ALL HAVING count(*) > 1)"
            )
            .fetchone()
        )
        assert dup == (0,)
        for dev in run.devices:
            got = stored_times(wh, dev.profile.serial)
            ok, n_stored = match_truth(dev, got)
            assert n_stored == dev.stats["notified"] * 19  # every notified sample, once
            assert ok == n_stored  # ... each within 20 ms of its true time
        assert wh.count("stream_gaps") == 0
    # Replaying the captures stores exactly the same rows.
    for cap in sorted((home.root / "cap").glob("*.blelog")):
        c = read_blelog(cap)
        dec = decode_capture(str(cap), c.rx_s, c.payloads, c.config)
        with open_warehouse(home.warehouse) as wh:
            live = stored_times(wh, c.device_id)
        assert np.array_equal(np.unique(dec.t_utc_us), live)


def test_link_drop_every_30s_for_5_minutes_loses_nothing(home: Home) -> None:
    plan = FaultPlan.every(30.0, 300.0, "link_drop", duration_s=3.0)
    run = run_virtual(
        run_fleet(sim_config(home), FleetSpec(2, seed=4, faults=plan), 300.0, epoch_start_s=EPOCH_S)
    )
    with open_warehouse(home.warehouse) as wh:
        for dev in run.devices:
            assert dev.stats["fault_link_drop"] == 9
            got = stored_times(wh, dev.profile.serial)
            t_true, _ = dev.truth()
            # All but the tail still in flight at the end of the run.
            last = got.max()
            expected = np.sort(t_true)[np.sort(t_true) <= last - 20_000]
            ok, _ = match_truth(dev, got)
            assert got.shape[0] >= expected.shape[0]
            assert ok == got.shape[0]
        assert wh.count("stream_gaps") == 0


def test_drop_longer_than_buffer_loses_exactly_the_reported_gap(home: Home) -> None:
    plan = FaultPlan((Fault(40.0, "link_drop", 90.0),))
    run = run_virtual(
        run_fleet(sim_config(home), FleetSpec(1, seed=5, faults=plan), 240.0, epoch_start_s=EPOCH_S)
    )
    dev = run.devices[0]
    with open_warehouse(home.warehouse) as wh:
        got = stored_times(wh, dev.profile.serial)
        gaps = wh.cursor().execute("SELECT missing_samples, reason FROM stream_gaps").fetchall()
    t_true, _ = dev.truth()
    t_true = np.sort(t_true)
    produced_until_last = int((t_true <= got.max() + 1000).sum())
    lost = produced_until_last - got.shape[0]
    assert len(gaps) == 1 and "dropped" in gaps[0][1]
    assert lost > 0 and gaps[0][0] == lost


def test_busy_warehouse_for_30s_gateway_keeps_streaming_and_catches_up(home: Home) -> None:
    async def hold_lock(gw: Gateway, _devices: object) -> None:
        await asyncio.sleep(10.0)
        with writer_lock(home.warehouse, timeout_s=1.0):
            await asyncio.sleep(30.0)

    run = run_virtual(
        run_fleet(
            sim_config(home, merge_interval_s=2.0),
            FleetSpec(2, seed=6),
            60.0,
            epoch_start_s=EPOCH_S,
            during=hold_lock,
        )
    )
    assert run.report.merges_busy >= 10
    with open_warehouse(home.warehouse) as wh:
        for dev in run.devices:
            got = stored_times(wh, dev.profile.serial)
            assert got.shape[0] == dev.stats["notified"] * 19


def test_reboot_and_corruption_are_quarantined_and_gapped(home: Home) -> None:
    plan = FaultPlan((Fault(20.0, "corrupt", count=3), Fault(45.0, "reboot"), Fault(70.0, "pause", 5.0)))
    run = run_virtual(
        run_fleet(sim_config(home), FleetSpec(1, seed=7, faults=plan), 120.0, epoch_start_s=EPOCH_S)
    )
    dev = run.devices[0]
    with open_warehouse(home.warehouse) as wh:
        got = stored_times(wh, dev.profile.serial)
        q = wh.cursor().execute("SELECT reason FROM quarantine").fetchall()
        gaps = wh.cursor().execute("SELECT reason FROM stream_gaps").fetchall()
    assert len(q) == 3 and all(r[0].startswith("packet rejected") for r in q)
    assert any(r[0] == "device reboot" for r in gaps)
    ok, _ = match_truth(dev, got)
    assert ok == got.shape[0]


def test_kill_dash_9_then_restart_no_duplicates_nothing_counted_lost(home: Home, tmp_path: object) -> None:
    import signal
    import subprocess
    import sys
    import time

    from ingest.gateway.session import SessionDecoder
    from ingest.gateway.spool import load_meta, read_segment, segment_files

    env = {**os.environ, "NUCHAL_HOME": str(home.root)}
    cmd = [sys.executable, "-m", "nuchal.cli", "gateway", "--simulate", "2", "--duration", "60"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(7.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # What the killed gateway had made durable (valid records in its spool) counts as received.
    counted: dict[str, np.ndarray] = {}
    for sdir in home.spool.iterdir():
        if not (sdir / "session.json").exists():
            continue
        meta = load_meta(sdir)
        dec = SessionDecoder(meta.source, meta.config)
        ts = []
        for _no, path, _st in segment_files(sdir):
            rx, payloads, _ = read_segment(path)
            ts.append(dec.feed(rx, payloads).t_utc_us)
        counted[meta.device_id] = np.unique(np.concatenate(ts))
    assert counted and all(v.shape[0] > 0 for v in counted.values())
    rc = subprocess.run([*cmd[:-1], "3"], env=env, capture_output=True, timeout=120).returncode
    assert rc == 0
    with open_warehouse(home.warehouse) as wh:
        dup = (
            wh.cursor()
            .execute(
                "SELECT count(*) FROM (SELECT device_id, t_utc FROM imu_samples GROUP BY ALL HAVING count(*) > 1)"
            )
            .fetchone()
        )
        assert dup == (0,)
        for device_id, t_us in counted.items():
            got = stored_times(wh, device_id)
            assert np.isin(t_us, got).all()
    assert not [p for p in home.spool.iterdir() if p.is_dir()]  # dead sessions merged and closed

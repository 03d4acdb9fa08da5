"""Gaps no resend can fill any more are recorded while the session is still streaming."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ingest.gateway.merge import GAP_SETTLED_S, Merger
from ingest.gateway.spool import SessionMeta, SessionSpool
from ingest.packets import DeviceConfig, encode_packet
from warehouse import open_warehouse

FS_HZ = 50
PER_PACKET = 19
CFG = DeviceConfig(1, FS_HZ, 4096.0, 16.4, 32768, 1)
T0_S = 1_750_000_000.0


def test_old_hole_is_recorded_live_and_a_recent_one_waits(tmp_path: Path) -> None:
    spool_root, db = tmp_path / "spool", tmp_path / "w.duckdb"
    meta = SessionMeta("sess-1", "DEV-1", "P1", "occiput", "AA:BB", CFG.to_bytes().hex(), started_at_s=T0_S)
    spool = SessionSpool(spool_root, meta)
    duration_s = GAP_SETTLED_S + 300.0
    n_packets = int(duration_s * FS_HZ / PER_PACKET)
    old_hole = range(500, 510)  # ~3 min in: far behind the newest sample at the merge
    new_hole = range(n_packets - 200, n_packets - 190)  # ~1 min before the end: may still be resent
    raw = np.zeros((PER_PACKET, 6), dtype=np.int16)
    raw[:, 2] = 4096
    rx: list[float] = []
    payloads: list[bytes] = []
    for seq in range(n_packets):
        if seq in old_hole or seq in new_hole:
            continue
        first = seq * PER_PACKET
        payloads.append(encode_packet(seq, round(first * 32768 / FS_HZ), raw))
        rx.append(T0_S + (first + PER_PACKET - 1) / FS_HZ + 0.01)
    spool.append(rx, payloads, now_s=T0_S)
    spool.sync(now_s=T0_S, force_close=True)  # segment closed, session still live (lock held)

    Merger(spool_root, db).merge()
    with open_warehouse(db) as wh:
        gaps = wh.cursor().execute("SELECT missing_samples, reason FROM stream_gaps").fetchall()
    assert gaps == [(len(old_hole) * PER_PACKET, "notifications lost or rejected (seq 500..509)")]
    spool.close(now_s=T0_S + duration_s)

"""Exactly-once merge of closed spool segments into the warehouse.

One merge pass takes the warehouse's writer lock with a short timeout; if a scheduled job holds
it, the pass returns ``busy`` and the gateway keeps spooling (it retries on its next tick). Per
session, all ready segments are stored in one transaction that also records each segment in
``store.gateway_spool_segments``; only after the commit are the files renamed ``.merged``. A kill
between commit and rename is harmless: the ledger says the segment is in, so the next pass only
feeds it to the session's clock tracker (whose state must see every notification in order) and
stores nothing. Sessions of a dead gateway (no one holds their lock) are merged to the end and
closed: their torn last record, if any, is dropped, and their gaps are recorded.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from ingest.gateway.session import SessionDecoder
from ingest.gateway.spool import SessionMeta, load_meta, read_segment, segment_files, session_is_live
from ingest.store import RecordingMeta, ensure_recording, quarantine_rows, record_gap, store_samples
from warehouse import WarehouseError, open_warehouse

log = logging.getLogger(__name__)


@dataclass
class MergeResult:
    """What one merge pass did."""

    busy: bool = False
    segments: int = 0
    samples_new: int = 0
    rejected: int = 0
    sessions_closed: int = 0


@dataclass
class _SessionState:
    meta: SessionMeta
    decoder: SessionDecoder
    fed_through: int = 0  # highest segment number fed to the decoder


EVENTS_FILE = "events.jsonl"
GAP_SETTLED_S = 300.0


@dataclass
class DeviceEvent:
    """A battery reading or disconnection to record with the next merge."""

    kind: str  # battery | disconnect
    device_id: str
    at_s: float
    value: str
    session_id: str


@dataclass
class Merger:
    """Moves spooled notifications into DuckDB; one per gateway process."""

    spool_root: Path
    warehouse_path: Path
    lock_timeout_s: float = 0.2
    keep_merged: bool = False
    _states: dict[str, _SessionState] = field(default_factory=dict)

    def add_event(self, event: DeviceEvent) -> None:
        """Make the event durable in the spool now (fsync); the next merge moves it to DuckDB.

        Events are rare (a battery reading per connection, each disconnection), so an fsync each
        costs nothing, and a kill -9 loses none of them: a restarted gateway merges the file.
        """
        self.spool_root.mkdir(parents=True, exist_ok=True)
        with (self.spool_root / EVENTS_FILE).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(event)) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def merge(self, final_sessions: set[str] | None = None) -> MergeResult:
        """One pass over the spool. ``final_sessions``: live sessions of ours to close now."""
        result = MergeResult()
        final_sessions = final_sessions or set()
        if not self.spool_root.exists():
            return result
        try:
            with open_warehouse(self.warehouse_path, lock_timeout_s=self.lock_timeout_s) as wh:
                cur = wh.cursor()
                self._flush_events(wh)
                for sdir in sorted(p for p in self.spool_root.iterdir() if p.is_dir()):
                    if not (sdir / "session.json").exists():
                        continue
                    # Not live = closed by its gateway, or left behind by one that died.
                    closing = sdir.name in final_sessions or not session_is_live(sdir)
                    self._merge_session(wh, cur, sdir, closing, result)
        except WarehouseError as e:
            log.info("warehouse busy, merge postponed: %s", e)
            result.busy = True
        return result

    def _state(self, cur: duckdb.DuckDBPyConnection, sdir: Path) -> _SessionState:
        sid = sdir.name
        st = self._states.get(sid)
        if st is None:
            meta = load_meta(sdir)
            st = _SessionState(meta, SessionDecoder(meta.source, meta.config))
            self._states[sid] = st
        return st

    def _merge_session(
        self, wh: object, cur: duckdb.DuckDBPyConnection, sdir: Path, closing: bool, result: MergeResult
    ) -> None:
        st = self._state(cur, sdir)
        meta = st.meta
        segs = [s for s in segment_files(sdir) if s[0] > st.fed_through]
        ready = [s for s in segs if s[2] != "open" or closing]
        # Segments must be fed in order: stop at the first one still being written.
        ordered = []
        for s in segs:
            if s not in ready:
                break
            ordered.append(s)
        if not ordered and not closing:
            return
        merged_before = {
            int(r[0])
            for r in cur.execute(
                "SELECT segment_no FROM store.gateway_spool_segments WHERE session_id = ?", [meta.session_id]
            ).fetchall()
        }
        rec_meta = RecordingMeta(
            meta.source,
            "ble_live",
            meta.subject_id,
            meta.device_id,
            meta.placement,
            meta.config.sample_rate_hz,
        )
        done: list[Path] = []
        try:
            cur.execute("BEGIN TRANSACTION")
            rec_id = ensure_recording(cur, rec_meta)
            _upsert_session(cur, meta)
            for no, path, _state in ordered:
                rx, payloads, _valid = read_segment(path)
                chunk = st.decoder.feed(rx, payloads)
                st.fed_through = no
                if no in merged_before:
                    done.append(path)
                    continue
                new = store_samples(
                    cur,
                    rec_id,
                    rec_meta,
                    chunk.t_utc_us,
                    chunk.acc_g,
                    chunk.gyro_dps,
                    chunk.mag_ut,
                    device_tick=chunk.device_tick,
                )
                quarantine_rows(cur, chunk.rejected)
                cur.execute(
                    "INSERT INTO store.gateway_spool_segments (session_id, segment_no, notifications, samples_new, rejected)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [meta.session_id, no, chunk.n_notifications, new, len(chunk.rejected)],
                )
                last = int(chunk.t_utc_us.max()) if chunk.t_utc_us.shape[0] else None
                cur.execute(
                    "UPDATE store.gateway_sessions SET notifications = notifications + ?,"
                    " samples_stored = samples_stored + ?, rejected = rejected + ?,"
                    " last_sample_at = greatest(last_sample_at, make_timestamptz(?)) WHERE session_id = ?",
                    [
                        chunk.n_notifications,
                        new,
                        len(chunk.rejected),
                        last if last is not None else 0,
                        meta.session_id,
                    ],
                )
                result.segments += 1
                result.samples_new += new
                result.rejected += len(chunk.rejected)
                done.append(path)
            if not closing:
                self._record_settled_gaps(cur, st)
            if closing:
                tail = st.decoder.close()
                new = store_samples(
                    cur,
                    rec_id,
                    rec_meta,
                    tail.t_utc_us,
                    tail.acc_g,
                    tail.gyro_dps,
                    tail.mag_ut,
                    device_tick=tail.device_tick,
                )
                result.samples_new += new
                cur.execute(
                    "UPDATE store.gateway_sessions SET samples_stored = samples_stored + ? WHERE session_id = ?",
                    [new, meta.session_id],
                )
                for g in st.decoder.gaps():
                    record_gap(
                        cur, meta.device_id, g.t_from_us, g.t_to_us, g.missing_samples, g.reason, meta.source
                    )
                cur.execute(
                    "UPDATE store.gateway_sessions SET closed_at = now() WHERE session_id = ?",
                    [meta.session_id],
                )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            # The decoder saw notifications whose samples were not stored: rebuild it next time.
            self._states.pop(sdir.name, None)
            raise
        for path in done:
            if path.suffix != ".merged":
                path.rename(path.with_suffix(".merged"))
        if closing:
            self._states.pop(sdir.name, None)
            result.sessions_closed += 1
            if not self.keep_merged:
                shutil.rmtree(sdir)

    @staticmethod
    def _record_settled_gaps(cur: duckdb.DuckDBPyConnection, st: _SessionState) -> None:
        """Record, while the session streams, the gaps no resend can fill any more.

        A hole further than ``GAP_SETTLED_S`` behind the newest sample is past every device's
        resend buffer (>= 60 s) and reconnect back-off; nearer holes wait, since a resend may
        still fill them. Recording is an upsert by (device, start), so repeating it is harmless.
        """
        last_us = st.decoder.packets.column("last_us")
        if last_us.shape[0] == 0:
            return
        settled_before_us = int(last_us.max()) - int(GAP_SETTLED_S * 1e6)
        meta = st.meta
        for g in st.decoder.gaps():
            if g.t_to_us < settled_before_us:
                record_gap(
                    cur, meta.device_id, g.t_from_us, g.t_to_us, g.missing_samples, g.reason, meta.source
                )

    def _flush_events(self, wh: object) -> None:
        # Events appended from now on go to a fresh file; the renamed ones are merged, then
        # deleted. A crash in between re-merges them, which the tables' keys make harmless.
        live = self.spool_root / EVENTS_FILE
        if live.exists():
            live.rename(self.spool_root / f"events.{time.time_ns()}.merging")
        pending = sorted(self.spool_root.glob("events.*.merging"))
        if not pending:
            return
        events: list[DeviceEvent] = []
        for path in pending:
            for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                try:
                    events.append(DeviceEvent(**json.loads(line)))
                except (json.JSONDecodeError, TypeError) as e:  # a line torn by a crash mid-write
                    log.warning("%s line %d: unreadable gateway event skipped: %s", path, line_no, e)
        from warehouse import Warehouse

        assert isinstance(wh, Warehouse)
        with wh.transaction() as cur:
            for ev in events:
                us = round(ev.at_s * 1e6)
                if ev.kind == "battery":
                    cur.execute(
                        "INSERT INTO store.gateway_battery VALUES (?, make_timestamptz(?), ?) ON CONFLICT DO NOTHING",
                        [ev.device_id, us, int(ev.value)],
                    )
                else:
                    cur.execute(
                        "INSERT INTO store.gateway_disconnections VALUES (?, make_timestamptz(?), ?, ?)"
                        " ON CONFLICT DO NOTHING",
                        [ev.device_id, us, ev.value, ev.session_id],
                    )
        for path in pending:
            path.unlink()


def _upsert_session(cur: duckdb.DuckDBPyConnection, meta: SessionMeta) -> None:
    cfg = meta.config
    cur.execute(
        "INSERT INTO store.gateway_sessions (session_id, device_id, subject_id, placement, address, serial, firmware,"
        " sample_rate_hz, tick_hz, clock_offset_s, clock_rtt_ms, started_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, make_timestamptz(?)) ON CONFLICT DO NOTHING",
        [
            meta.session_id,
            meta.device_id,
            meta.subject_id,
            meta.placement,
            meta.address,
            meta.serial,
            meta.firmware,
            cfg.sample_rate_hz,
            cfg.tick_hz,
            meta.clock_offset_s,
            meta.clock_rtt_ms,
            round(meta.started_at_s * 1e6),
        ],
    )

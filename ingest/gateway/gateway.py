"""The live BLE gateway: many devices on one event loop, spool first, merge later.

Per device a link task discovers, connects (bleak + bleak-retry-connector), reads config,
battery, device info and the clock characteristic (round-trip aware), subscribes and starts the
stream; on a drop it reconnects with backoff and asks the device to resend from the last seq it
received. The notification callback only enqueues ``(receive_time, bytes)``; one consumer task
per session drains the queue in batches into the session's spool (and capture); a syncer fsyncs
every spool at least once a second — only then does a notification count as received; a merge
task moves closed segments into DuckDB when the writer lock is free (see docs/gateway.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak_retry_connector import establish_connection

from ingest.gateway.merge import DeviceEvent, Merger, MergeResult
from ingest.gateway.spool import SessionMeta, SessionSpool
from ingest.packets import (
    BATTERY_LEVEL_UUID,
    CLOCK_UUID,
    CMD_RESEND_FROM,
    CMD_START,
    CONTROL_POINT_UUID,
    DEVICE_CONFIG_UUID,
    FIRMWARE_REVISION_UUID,
    IMU_DATA_UUID,
    IMU_SERVICE_UUID,
    SEQ_MODULO,
    SERIAL_NUMBER_UUID,
    DeviceConfig,
)
from nuchal.home import Home

log = logging.getLogger(__name__)

_STOP = None  # consumer sentinel


@dataclass(frozen=True)
class DeviceAssignment:
    """Which participant wears the device with this address, and where."""

    address: str
    device_id: str
    subject_id: str
    placement: str


@dataclass(frozen=True)
class GatewayConfig:
    """How a gateway runs. Intervals in seconds."""

    home: Home
    assignments: tuple[DeviceAssignment, ...] = ()
    discover_unassigned: bool = True
    capture_dir: Path | None = None
    fsync_interval_s: float = 0.5
    merge_interval_s: float = 2.0
    status_interval_s: float = 2.0
    reconnect_backoff_s: tuple[float, float] = (0.5, 10.0)
    merge_in_thread: bool = True
    final_merge_timeout_s: float = 120.0


@dataclass
class DeviceStatus:
    """Live counters of one device, shown by `nuchal gateway status`."""

    address: str
    device_id: str = ""
    connected: bool = False
    notifications: int = 0
    durable: int = 0
    samples: int = 0
    last_rx_s: float = 0.0
    battery_pct: int | None = None
    disconnections: int = 0
    connects: int = 0
    first_rx_s: float = 0.0


@dataclass
class _Session:
    spool: SessionSpool
    queue: asyncio.Queue[tuple[float, bytes] | None]
    consumer: asyncio.Task[None]
    capture: Any = None
    last_seq: int | None = None
    first_packet: asyncio.Event = field(default_factory=asyncio.Event)
    pending_rx: list[float] = field(default_factory=list)


@dataclass
class GatewayReport:
    """What a run did: notifications received/durable, merges, latency samples (s)."""

    notifications: int = 0
    durable: int = 0
    samples_merged: int = 0
    merges_busy: int = 0
    durable_latency_s: list[float] = field(default_factory=list)
    devices: dict[str, DeviceStatus] = field(default_factory=dict)


class Gateway:
    """Streams every assigned (or discovered) nuchal IMU into the spool and the warehouse.

    ``client_backend``/``scanner_backend`` are bleak ``backend=`` classes (None: the platform's);
    ``clock`` gives host receive time in epoch seconds.
    """

    def __init__(
        self,
        config: GatewayConfig,
        client_backend: type[BaseBleakClient] | None = None,
        scanner_backend: type[BaseBleakScanner] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.client_backend = client_backend
        self.scanner_backend = scanner_backend
        self.clock = clock
        self.assignments = {a.address.upper(): a for a in config.assignments}
        self.merger = Merger(config.home.spool, config.home.warehouse)
        self.report = GatewayReport()
        self.run_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime(clock())) + f"-{os.getpid()}"
        self._sessions: dict[str, _Session] = {}
        self._seen: dict[str, BLEDevice] = {}
        self._adv_events: dict[str, asyncio.Event] = {}
        self._link_tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        self._merge_lock = asyncio.Lock()

    # ------------------------------------------------------------------ run
    async def run(self, duration_s: float | None = None, stop: asyncio.Event | None = None) -> GatewayReport:
        """Stream until ``duration_s`` elapses or ``stop`` is set; then flush and merge everything."""
        self.config.home.ensure()
        scanner = BleakScanner(self._on_advertisement, [IMU_SERVICE_UUID], backend=self.scanner_backend)
        await scanner.start()
        background = [
            asyncio.create_task(self._sync_loop(), name="gateway-sync"),
            asyncio.create_task(self._merge_loop(), name="gateway-merge"),
            asyncio.create_task(self._status_loop(), name="gateway-status"),
        ]
        waiters = [asyncio.create_task(self._stopping.wait())]
        if stop is not None:
            waiters.append(asyncio.create_task(stop.wait()))
        try:
            await asyncio.wait(waiters, timeout=duration_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._stopping.set()
            for w in waiters:
                w.cancel()
            await scanner.stop()
            await self._shutdown(background)
        return self.report

    def stop(self) -> None:
        self._stopping.set()

    async def _shutdown(self, background: list[asyncio.Task[None]]) -> None:
        for t in self._link_tasks.values():
            t.cancel()
        for t in self._link_tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        async with self._merge_lock:  # let a merge in progress finish (and be counted)
            for t in background:
                t.cancel()
        for t in background:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for s in self._sessions.values():
            s.queue.put_nowait(_STOP)
            await s.consumer
            self._sync_session(s)
            s.spool.close(self.clock())
            if s.capture is not None:
                s.capture.close()
        # Clean exit: everything received must be in imu_samples, so wait for the writer lock.
        self.merger.lock_timeout_s = self.config.final_merge_timeout_s
        await self._merge_once(in_thread=self.config.merge_in_thread)
        for d in self.report.devices.values():
            d.connected = False
        self._write_status()

    # ------------------------------------------------------------------ discovery and links
    def _on_advertisement(self, device: BLEDevice, adv: AdvertisementData) -> None:
        addr = device.address.upper()
        if addr not in self.assignments and not self.config.discover_unassigned:
            return
        self._seen[addr] = device
        self._adv_events.setdefault(addr, asyncio.Event()).set()
        if addr not in self._link_tasks and not self._stopping.is_set():
            self.report.devices.setdefault(addr, DeviceStatus(addr))
            self._link_tasks[addr] = asyncio.create_task(self._link(addr), name=f"link-{addr}")

    async def _link(self, addr: str) -> None:
        status = self.report.devices[addr]
        backoff_s = self.config.reconnect_backoff_s[0]
        while not self._stopping.is_set():
            ev = self._adv_events[addr]
            try:
                await asyncio.wait_for(ev.wait(), timeout=30.0)
            except TimeoutError:
                continue
            ev.clear()
            disconnected = asyncio.Event()
            try:
                client = await establish_connection(
                    BleakClient,
                    self._seen[addr],
                    addr,
                    disconnected_callback=lambda _c, ev=disconnected: ev.set(),  # type: ignore[misc]
                    max_attempts=2,
                    backend=self.client_backend,
                )
            except Exception as e:
                log.info("%s: connect failed (%s); retrying in %.1f s", addr, e, backoff_s)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, self.config.reconnect_backoff_s[1])
                continue
            backoff_s = self.config.reconnect_backoff_s[0]
            try:
                await self._stream(addr, client, disconnected, status)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await asyncio.shield(client.disconnect())
                raise
            except Exception as e:
                log.warning("%s: stream ended: %s", addr, e)
                with contextlib.suppress(Exception):
                    await client.disconnect()
            status.connected = False
            if not self._stopping.is_set():
                status.disconnections += 1
                sess = self._sessions.get(addr)
                if sess is not None:
                    self.merger.add_event(
                        DeviceEvent(
                            "disconnect",
                            status.device_id,
                            self.clock(),
                            "link lost",
                            sess.spool.meta.session_id,
                        )
                    )

    async def _stream(
        self, addr: str, client: BleakClient, disconnected: asyncio.Event, status: DeviceStatus
    ) -> None:
        config = DeviceConfig.from_bytes(bytes(await client.read_gatt_char(DEVICE_CONFIG_UUID)))
        serial = bytes(await client.read_gatt_char(SERIAL_NUMBER_UUID)).decode(errors="replace")
        firmware = bytes(await client.read_gatt_char(FIRMWARE_REVISION_UUID)).decode(errors="replace")
        battery = bytes(await client.read_gatt_char(BATTERY_LEVEL_UUID))
        # Round-trip-aware clock reading: the tick was sampled somewhere between t0 and t1.
        t0 = self.clock()
        tick = struct.unpack("<I", bytes(await client.read_gatt_char(CLOCK_UUID)))[0]
        t1 = self.clock()
        offset_s = (t0 + t1) / 2 - tick / config.tick_hz
        sess = self._session(addr, config, serial, firmware, offset_s, (t1 - t0) * 1e3)
        status.device_id = sess.spool.meta.device_id
        status.connected = True
        status.connects += 1
        if battery:
            status.battery_pct = battery[0]
            self.merger.add_event(
                DeviceEvent(
                    "battery", status.device_id, self.clock(), str(battery[0]), sess.spool.meta.session_id
                )
            )
        queue = sess.queue
        clock = self.clock

        def on_notify(_char: object, data: bytearray) -> None:
            queue.put_nowait((clock(), bytes(data)))  # nothing else here: see module docstring

        # What we had before this connection: everything after it is asked for again below.
        last_seq_before = sess.last_seq
        sess.first_packet.clear()
        await client.start_notify(IMU_DATA_UUID, on_notify)
        await client.write_gatt_char(CONTROL_POINT_UUID, bytes([CMD_START]), response=True)
        if last_seq_before is not None:
            # Ask for what the drop swallowed only once live packets flow again: the clock
            # envelope then already has fresh, low-latency points before the late resends.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sess.first_packet.wait(), timeout=2.0)
            if client.is_connected:
                resend_from = (last_seq_before + 1) % SEQ_MODULO
                await client.write_gatt_char(
                    CONTROL_POINT_UUID, struct.pack("<BH", CMD_RESEND_FROM, resend_from), response=True
                )
        stop_wait = asyncio.create_task(self._stopping.wait())
        drop_wait = asyncio.create_task(disconnected.wait())
        try:
            await asyncio.wait([stop_wait, drop_wait], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
            drop_wait.cancel()
        if self._stopping.is_set() and client.is_connected:
            await client.disconnect()

    def _session(
        self, addr: str, config: DeviceConfig, serial: str, firmware: str, offset_s: float, rtt_ms: float
    ) -> _Session:
        sess = self._sessions.get(addr)
        if sess is not None and sess.spool.meta.config_hex == config.to_bytes().hex():
            return sess
        if sess is not None:  # config changed: a new session keeps decoding consistent
            sess.queue.put_nowait(_STOP)
        a = self.assignments.get(addr)
        device_id = a.device_id if a else serial or addr.replace(":", "")
        meta = SessionMeta(
            session_id=f"{self.run_id}-{device_id}".replace("/", "_"),
            device_id=device_id,
            subject_id=a.subject_id if a else f"unassigned:{device_id}",
            placement=a.placement if a else config.placement,
            address=addr,
            config_hex=config.to_bytes().hex(),
            serial=serial,
            firmware=firmware,
            started_at_s=self.clock(),
            clock_offset_s=offset_s,
            clock_rtt_ms=rtt_ms,
        )
        spool = SessionSpool(self.config.home.spool, meta)
        capture = None
        if self.config.capture_dir is not None:
            self.config.capture_dir.mkdir(parents=True, exist_ok=True)
            capture = (self.config.capture_dir / f"{meta.session_id}.blelog").open("w", encoding="utf-8")
            header = {
                "device_id": device_id,
                "subject_id": meta.subject_id,
                "placement": meta.placement,
                "config": meta.config_hex,
            }
            capture.write(json.dumps(header) + "\n")
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        new = _Session(spool, queue, asyncio.create_task(asyncio.sleep(0)), capture)
        new.consumer = asyncio.create_task(self._consume(addr, new), name=f"consume-{addr}")
        self._sessions[addr] = new
        return new

    # ------------------------------------------------------------------ consumer, fsync, merge
    async def _consume(self, addr: str, sess: _Session) -> None:
        status = self.report.devices[addr]
        queue = sess.queue
        while True:
            item = await queue.get()
            batch = [item]
            while not queue.empty():
                batch.append(queue.get_nowait())
            done = _STOP in batch
            items = [b for b in batch if b is not None]
            if items:
                rx = [b[0] for b in items]
                payloads = [b[1] for b in items]
                sess.spool.append(rx, payloads, self.clock())
                sess.pending_rx.extend(rx)
                if sess.capture is not None:
                    sess.capture.write(
                        "".join(json.dumps({"rx": r, "data": p.hex()}) + "\n" for r, p in items)
                    )
                self._track(sess, status, payloads, rx[-1])
                sess.first_packet.set()
            if done:
                return

    def _track(self, sess: _Session, status: DeviceStatus, payloads: list[bytes], last_rx: float) -> None:
        status.notifications += len(payloads)
        self.report.notifications += len(payloads)
        if not status.first_rx_s:
            status.first_rx_s = last_rx
        status.last_rx_s = last_rx
        for p in payloads:
            if len(p) < 8 or p[0] >> 4 != 1:
                continue
            status.samples += p[7]
            seq = p[1] | (p[2] << 8)
            if sess.last_seq is None:
                sess.last_seq = seq
                continue
            delta = (seq - sess.last_seq) % SEQ_MODULO
            # Ahead of what we had (or a restarted counter after a reboot): the newest seq.
            if 0 < delta < SEQ_MODULO // 2 or (delta > SEQ_MODULO - 1000 and seq < 16):
                sess.last_seq = seq

    def _sync_session(self, sess: _Session) -> None:
        now = self.clock()
        made = sess.spool.sync(now)
        if made:
            addr = sess.spool.meta.address
            self.report.devices[addr].durable += made
            self.report.durable += made
            lat = self.report.durable_latency_s
            if len(lat) < 2_000_000:
                lat.extend(now - r for r in sess.pending_rx[:made])
            del sess.pending_rx[:made]

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.fsync_interval_s)
            for sess in list(self._sessions.values()):
                self._sync_session(sess)

    async def _merge_once(self, in_thread: bool) -> MergeResult:
        async with self._merge_lock:
            if in_thread:
                result = await asyncio.to_thread(self.merger.merge)
            else:
                result = self.merger.merge()
        self.report.samples_merged += result.samples_new
        self.report.merges_busy += int(result.busy)
        return result

    async def _merge_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.merge_interval_s)
            try:
                await self._merge_once(self.config.merge_in_thread)
            except Exception as e:  # a merge problem must never stop the stream
                log.error("merge failed, will retry: %s", e)

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.status_interval_s)
            self._write_status()

    def _write_status(self) -> None:
        now = self.clock()
        devices: list[dict[str, object]] = []
        out = {"written_at": now, "run_id": self.run_id, "devices": devices}
        for d in self.report.devices.values():
            span = max(d.last_rx_s - d.first_rx_s, 1e-9)
            devices.append(
                {
                    "address": d.address,
                    "device_id": d.device_id,
                    "connected": d.connected,
                    "last_sample_age_s": round(now - d.last_rx_s, 3) if d.last_rx_s else None,
                    "rate_hz": round(d.samples / span, 2) if d.samples else 0.0,
                    "notifications": d.notifications,
                    "durable": d.durable,
                    "battery_pct": d.battery_pct,
                    "disconnections": d.disconnections,
                }
            )
        path = self.config.home.spool / "gateway-status.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(out, indent=1))
        tmp.replace(path)

"""A virtual neck IMU implementing the nuchal IMU profile v1 (SPEC contract 1) on bumble.

The device samples continuously from boot on its own drifting clock, keeps the last
``buffer_s`` seconds of packets in a ring buffer, and notifies them while a central has
subscribed and sent ``0x01``. Control point ``0x04 seq`` resends from ``seq``; what the ring no
longer holds is skipped and flag bit2 is set on the next packet sent. Every packet it produced is
kept in :attr:`VirtualImu.produced` with the true UTC time of each sample, so tests can check the
gateway against the truth.

Clock model: device time ``tau`` (seconds since boot) maps to true time
``t = boot + tau / (1 + drift) + wander * sin(2 pi tau / period)``: a crystal off by tens of ppm
plus a slow temperature wander. Receive latency: the wait for the next connection event (uniform
over one interval), plus retransmissions (whole intervals), plus rare interference bursts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import struct
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from bumble import gatt, hci
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection

from ingest.ble_sim.motion import HeadMotion
from ingest.ble_sim.radio import VirtualRadio, make_bumble_device
from ingest.packets import (
    BATTERY_LEVEL_UUID,
    BYTES_PER_SAMPLE,
    CLOCK_UUID,
    CMD_RESEND_FROM,
    CMD_SET_RATE,
    CMD_START,
    CMD_STOP,
    CONTROL_POINT_UUID,
    DEVICE_CONFIG_UUID,
    FIRMWARE_REVISION_UUID,
    FLAG_DROPPED_BEFORE,
    HEADER_BYTES,
    IMU_DATA_UUID,
    IMU_SERVICE_UUID,
    SEQ_MODULO,
    SERIAL_NUMBER_UUID,
    TICK_MODULO,
    DeviceConfig,
    encode_packet,
)

log = logging.getLogger(__name__)

BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
DEVICE_INFO_SERVICE_UUID = "0000180a-0000-1000-8000-00805f9b34fb"
ATT_HEADER_BYTES = 3


@dataclass(frozen=True)
class DeviceProfile:
    """What a virtual device is and how its clock and link behave.

    Units are in the names: ``drift_ppm`` (crystal error), ``wander_ms`` (amplitude of the slow
    temperature wander, in ms of clock offset), ``conn_interval_ms`` (BLE connection interval).
    """

    serial: str
    address: str
    placement_code: int = 1
    sample_rate_hz: int = 100
    tick_hz: int = 32768
    accel_lsb_per_g: float = 4096.0
    gyro_lsb_per_dps: float = 16.4
    drift_ppm: float = 30.0
    wander_ms: float = 0.0
    wander_period_s: float = 6 * 3600.0
    conn_interval_ms: float = 15.0
    retransmit_p: float = 0.05
    burst_p: float = 0.005
    buffer_s: float = 60.0
    battery_pct: float = 95.0
    battery_drain_pct_per_h: float = 1.0
    firmware: str = "nuchal-sim 1.0"
    seed: int = 0
    keep_truth: bool = True

    @property
    def name(self) -> str:
        return f"nuchal-{self.serial[-4:]}"

    def config(self, sample_rate_hz: int | None = None) -> DeviceConfig:
        return DeviceConfig(
            1,
            sample_rate_hz or self.sample_rate_hz,
            self.accel_lsb_per_g,
            self.gyro_lsb_per_dps,
            self.tick_hz,
            self.placement_code,
        )


@dataclass(frozen=True)
class Fault:
    """One injected fault at ``at_s`` seconds after the device started.

    ``kind``: ``link_drop`` (radio silent for the supervision timeout, then both sides see a
    timeout; the device is out of range for ``duration_s``), ``peripheral_disconnect``,
    ``stop_advertising`` (for ``duration_s``), ``reboot``, ``corrupt`` (next ``count`` packets
    garbled on air), ``pause`` (notifications held back for ``duration_s``, then flushed).
    """

    at_s: float
    kind: str
    duration_s: float = 0.0
    count: int = 1


@dataclass(frozen=True)
class FaultPlan:
    """Faults to inject, in time order."""

    faults: tuple[Fault, ...] = ()
    supervision_timeout_s: float = 2.0

    @classmethod
    def every(cls, period_s: float, until_s: float, kind: str, duration_s: float = 0.0) -> FaultPlan:
        n = int(until_s // period_s)
        return cls(
            tuple(
                Fault(period_s * (i + 1), kind, duration_s) for i in range(n) if period_s * (i + 1) < until_s
            )
        )


@dataclass
class ProducedPacket:
    """A packet as the device made it, with the true UTC time of each sample (us)."""

    boot: int
    seq: int
    payload: bytes
    t_true_us: npt.NDArray[np.int64]


@dataclass
class _Boot:
    index: int
    t0_s: float  # true epoch time of tau = 0
    next_sample: int = 0
    seq: int = 0


class VirtualImu:
    """A virtual nuchal IMU attached to a :class:`VirtualRadio`."""

    def __init__(
        self,
        radio: VirtualRadio,
        profile: DeviceProfile,
        faults: FaultPlan | None = None,
        motion: HeadMotion | None = None,
    ) -> None:
        self.radio = radio
        self.profile = profile
        self.faults = faults or FaultPlan()
        self.motion = motion or HeadMotion(seed=profile.seed)
        self.address = profile.address
        self.bumble, self.controller = make_bumble_device(profile.name, profile.address, radio.link)
        self.sample_rate_hz = profile.sample_rate_hz
        self.produced: list[ProducedPacket] = []
        self.stats: collections.Counter[str] = collections.Counter()
        self._rng = np.random.default_rng(profile.seed)
        self._ring: collections.deque[tuple[int, bytes]] = collections.deque()
        self._conn: Connection | None = None
        self._streaming = False
        self._link_silent = False
        self._paused_until_s = 0.0
        self._corrupt_left = 0
        self._out_of_range_until_s = 0.0
        self._advertising_allowed = True
        self._skip_flag_pending = False
        self._last_send_s = 0.0
        self._pending_resend: collections.deque[bytes] = collections.deque()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._stopped = False
        self._boot = _Boot(0, 0.0)
        self._started_s = 0.0
        self._build_gatt()
        radio.register(self)

    # ------------------------------------------------------------------ GATT profile
    def _build_gatt(self) -> None:
        props = gatt.Characteristic.Properties
        readable = gatt.Characteristic.READABLE
        self.data_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            IMU_DATA_UUID, props.NOTIFY, readable, b""
        )
        config_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            DEVICE_CONFIG_UUID,
            props.READ,
            readable,
            gatt.CharacteristicValue(read=lambda _c: self.profile.config(self.sample_rate_hz).to_bytes()),
        )
        control_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            CONTROL_POINT_UUID,
            props.WRITE | props.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_control),
        )
        clock_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            CLOCK_UUID,
            props.READ,
            readable,
            gatt.CharacteristicValue(read=lambda _c: struct.pack("<I", self.tick_now())),
        )
        battery_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            BATTERY_LEVEL_UUID,
            props.READ,
            readable,
            gatt.CharacteristicValue(read=lambda _c: bytes([self.battery_pct()])),
        )
        self.bumble.add_services(
            [
                gatt.Service(IMU_SERVICE_UUID, [self.data_char, config_char, control_char, clock_char]),
                gatt.Service(BATTERY_SERVICE_UUID, [battery_char]),
                gatt.Service(
                    DEVICE_INFO_SERVICE_UUID,
                    [
                        gatt.Characteristic(
                            SERIAL_NUMBER_UUID, props.READ, readable, self.profile.serial.encode()
                        ),
                        gatt.Characteristic(
                            FIRMWARE_REVISION_UUID, props.READ, readable, self.profile.firmware.encode()
                        ),
                    ],
                ),
            ]
        )
        self.bumble.on("connection", self._on_connection)

    def _advertising_data(self) -> bytes:
        return bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([0x06])),
                    (
                        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                        UUID(IMU_SERVICE_UUID).to_bytes(),
                    ),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, self.profile.name.encode()),
                ]
            )
        )

    # ------------------------------------------------------------------ clock
    def now_s(self) -> float:
        return self.radio.now_s()

    def _true_time_s(self, tau_s: npt.NDArray[np.float64] | float) -> npt.NDArray[np.float64]:
        p = self.profile
        tau = np.asarray(tau_s, dtype=np.float64)
        wander = p.wander_ms * 1e-3 * np.sin(2 * math.pi * tau / p.wander_period_s)
        return np.asarray(self._boot.t0_s + tau / (1 + p.drift_ppm * 1e-6) + wander)

    def tau_now_s(self) -> float:
        p = self.profile
        t = self.now_s() - self._boot.t0_s
        tau = t * (1 + p.drift_ppm * 1e-6)
        for _ in range(3):  # fixed point: the wander is milliseconds, it converges at once
            wander = p.wander_ms * 1e-3 * math.sin(2 * math.pi * tau / p.wander_period_s)
            tau = (t - wander) * (1 + p.drift_ppm * 1e-6)
        return max(tau, 0.0)

    def tick_now(self) -> int:
        return int(self.tau_now_s() * self.profile.tick_hz) % TICK_MODULO

    def battery_pct(self) -> int:
        hours = max(0.0, self.now_s() - self._started_s) / 3600.0
        return max(
            0, min(100, round(self.profile.battery_pct - hours * self.profile.battery_drain_pct_per_h))
        )

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Power on, boot the clock now and start advertising and sampling."""
        await self.bumble.power_on()
        self._started_s = self.now_s()
        self._boot = _Boot(0, self._started_s)
        self._last_send_s = self._started_s
        await self._advertise()
        self._tasks.append(asyncio.create_task(self._sample_loop(), name=f"imu-{self.profile.serial}"))
        if self.faults.faults:
            self._tasks.append(asyncio.create_task(self._fault_loop(), name=f"faults-{self.profile.serial}"))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._stopped:
            coro.close()
            return
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        self._stopped = True
        for t in [*self._tasks, *self._background]:
            t.cancel()
        for t in [*self._tasks, *self._background]:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        conn = self._conn
        if conn is not None:
            try:
                await conn.disconnect()
            except Exception as e:  # the link may already be gone
                log.debug("%s: disconnect at stop: %s", self.profile.serial, e)

    async def _advertise(self) -> None:
        if self._advertising_allowed and self._conn is None and not self.bumble.is_advertising:
            await self.bumble.start_advertising(
                advertising_data=self._advertising_data(), advertising_interval_min=20.0
            )

    def _on_connection(self, connection: Connection) -> None:
        self._conn = connection
        self._streaming = False
        self._link_silent = False
        self.stats["connections"] += 1
        connection.on("disconnection", lambda reason: self._on_disconnection(connection, reason))

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        if self._conn is connection:
            self._conn = None
        self._streaming = False
        self._link_silent = False
        self._pending_resend.clear()
        self.stats["disconnections"] += 1
        delay_s = max(0.0, self._out_of_range_until_s - self.now_s())
        asyncio.get_running_loop().call_later(delay_s, lambda: self._spawn(self._readvertise()))

    async def _readvertise(self) -> None:
        if self.now_s() + 1e-9 < self._out_of_range_until_s:
            return
        try:
            await self._advertise()
        except Exception as e:
            log.warning("%s: cannot restart advertising: %s", self.profile.serial, e)

    # ------------------------------------------------------------------ control point
    def _on_control(self, _connection: Connection, value: bytes) -> None:
        if not value:
            return
        op = value[0]
        if op == CMD_START:
            self._streaming = True
        elif op == CMD_STOP:
            self._streaming = False
        elif op == CMD_SET_RATE and len(value) >= 3:
            rate = struct.unpack_from("<H", value, 1)[0]
            if rate > 0:
                self.sample_rate_hz = rate
        elif op == CMD_RESEND_FROM and len(value) >= 3:
            self._queue_resend(struct.unpack_from("<H", value, 1)[0])
        self.stats[f"control_{op:#04x}"] += 1

    def _queue_resend(self, seq: int) -> None:
        """Queue ring-buffer packets from ``seq`` on; a seq no longer held flags the first sent."""
        if not self._ring:
            return
        newest = self._ring[-1][0]
        log.debug("%s: resend from %d, ring %d..%d", self.profile.serial, seq, self._ring[0][0], newest)
        # Distance back from the newest packet, modulo the 16-bit sequence space.
        back = (newest - seq) % SEQ_MODULO
        if back >= SEQ_MODULO // 2:
            return  # a seq from the future (e.g. from before a reboot): nothing to resend
        available = len(self._ring)
        if back + 1 > available:
            start = 0
            flag_first = True
        else:
            start = available - (back + 1)
            flag_first = False
        for i, (_s, payload) in enumerate(list(self._ring)[start:]):
            if i == 0 and flag_first:
                payload = bytes([payload[0] | FLAG_DROPPED_BEFORE]) + payload[1:]
            self._pending_resend.append(payload)
        self.stats["resend_requests"] += 1

    # ------------------------------------------------------------------ sampling and notifying
    def _samples_per_packet(self) -> int:
        mtu = self._conn.att_mtu if self._conn is not None else 247
        return max(1, min(255, (mtu - ATT_HEADER_BYTES - HEADER_BYTES) // BYTES_PER_SAMPLE))

    def _latency_s(self) -> float:
        p = self.profile
        ci = p.conn_interval_ms * 1e-3
        lat = float(self._rng.uniform(0.0, ci))
        while self._rng.random() < p.retransmit_p:
            lat += ci
        if self._rng.random() < p.burst_p:
            lat += float(self._rng.uniform(0.05, 0.3))
        return lat

    def _make_packet(self, n: int) -> tuple[bytes, float]:
        """Sample ``n`` readings; returns the packet and the true time of its last sample."""
        boot = self._boot
        k = boot.next_sample + np.arange(n)
        tau = k / self.sample_rate_hz
        t_true = self._true_time_s(tau)
        acc_g, gyro_dps = self.motion.render(t_true)
        p = self.profile
        raw = np.concatenate(
            [
                np.clip(np.round(acc_g * p.accel_lsb_per_g), -32768, 32767),
                np.clip(np.round(gyro_dps * p.gyro_lsb_per_dps), -32768, 32767),
            ],
            axis=1,
        ).astype(np.int16)
        tick = math.floor(float(tau[0]) * p.tick_hz) % TICK_MODULO
        flags = 0
        if self._skip_flag_pending:
            flags |= FLAG_DROPPED_BEFORE
            self._skip_flag_pending = False
        payload = encode_packet(boot.seq, tick, raw, flags=flags)
        if p.keep_truth:
            self.produced.append(
                ProducedPacket(boot.index, boot.seq, payload, np.round(t_true * 1e6).astype(np.int64))
            )
        self._ring.append((boot.seq, payload))
        keep = math.ceil(p.buffer_s * self.sample_rate_hz / n) + 1
        while len(self._ring) > keep:
            self._ring.popleft()
        boot.seq = (boot.seq + 1) % SEQ_MODULO
        boot.next_sample += n
        self.stats["produced_packets"] += 1
        return payload, float(t_true[-1])

    async def _sample_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            n = self._samples_per_packet()
            boot = self._boot
            tau_last = (boot.next_sample + n - 1) / self.sample_rate_hz
            t_last = float(self._true_time_s(tau_last))
            await asyncio.sleep(max(0.0, t_last - self.now_s()))
            if boot is not self._boot:
                continue  # rebooted while waiting
            payload, t_last = self._make_packet(n)
            send_s = max(self._last_send_s, t_last + self._latency_s(), self._paused_until_s)
            self._last_send_s = send_s
            loop.call_later(max(0.0, send_s - self.now_s()), self._send_soon, payload, boot.index)

    def _send_soon(self, payload: bytes, boot_index: int) -> None:
        if boot_index == self._boot.index:
            self._spawn(self._send(payload))

    async def _send(self, payload: bytes) -> None:
        conn = self._conn
        if conn is None or not self._streaming:
            return
        batch = [*self._pending_resend, payload]
        self._pending_resend.clear()
        for pkt in batch:
            if self._link_silent:
                self.stats["lost_on_air"] += 1
                continue
            if self._corrupt_left > 0:
                self._corrupt_left -= 1
                pkt = self._garble(pkt)
                self.stats["corrupted"] += 1
            try:
                await self.bumble.notify_subscriber(conn, self.data_char, pkt)
                self.stats["notified"] += 1
            except Exception as e:  # the link went down under us
                log.debug("%s: notify failed: %s", self.profile.serial, e)
                return

    def _garble(self, pkt: bytes) -> bytes:
        """Damage a packet the way a broken radio or firmware would: cut, wrong version, bad flags."""
        kind = int(self._rng.integers(0, 3))
        if kind == 0:
            return pkt[: max(1, len(pkt) // 2)]
        if kind == 1:
            return bytes([0x20 | (pkt[0] & 0x0F)]) + pkt[1:]  # unknown version
        return bytes([pkt[0] | 0x08]) + pkt[1:]  # reserved flag bit

    # ------------------------------------------------------------------ faults
    async def _fault_loop(self) -> None:
        for fault in self.faults.faults:
            await asyncio.sleep(max(0.0, self._started_s + fault.at_s - self.now_s()))
            log.info("%s: fault %s", self.profile.serial, fault)
            self.stats[f"fault_{fault.kind}"] += 1
            await self.inject(fault)

    async def inject(self, fault: Fault) -> None:
        now = self.now_s()
        if fault.kind == "link_drop":
            self._out_of_range_until_s = now + self.faults.supervision_timeout_s + fault.duration_s
            if self.bumble.is_advertising:
                await self.bumble.stop_advertising()
            if self._conn is not None:
                self._link_silent = True
                await asyncio.sleep(self.faults.supervision_timeout_s)
                self.radio.drop_link(self)
        elif fault.kind == "peripheral_disconnect":
            if self._conn is not None:
                await self._conn.disconnect(hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR)
        elif fault.kind == "stop_advertising":
            self._out_of_range_until_s = now + fault.duration_s
            if self.bumble.is_advertising:
                await self.bumble.stop_advertising()
            asyncio.get_running_loop().call_later(fault.duration_s, lambda: self._spawn(self._readvertise()))
        elif fault.kind == "reboot":
            await self._reboot()
        elif fault.kind == "corrupt":
            self._corrupt_left += fault.count
        elif fault.kind == "pause":
            self._paused_until_s = now + fault.duration_s
        else:
            raise ValueError(f"unknown fault kind {fault.kind!r}")

    async def _reboot(self) -> None:
        boot_s = 1.0  # a reboot takes a moment: the link is lost and the clock restarts at 0
        self._out_of_range_until_s = self.now_s() + boot_s
        if self.bumble.is_advertising:
            await self.bumble.stop_advertising()
        if self._conn is not None:
            self.radio.drop_link(self, hci.HCI_CONNECTION_TIMEOUT_ERROR)
        self._ring.clear()
        self._pending_resend.clear()
        self._boot = _Boot(self._boot.index + 1, self.now_s() + boot_s)
        self._last_send_s = self._boot.t0_s
        asyncio.get_running_loop().call_later(boot_s, lambda: self._spawn(self._readvertise()))

    # ------------------------------------------------------------------ truth for tests
    def truth(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """All samples produced: (N,) true UTC us and (N, 6) raw counts (acc then gyro)."""
        from ingest.packets import decode_packets

        if not self.produced:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 6))
        cfg = self.profile.config(self.sample_rate_hz)
        batch = decode_packets([p.payload for p in self.produced], cfg)
        t = np.concatenate([p.t_true_us for p in self.produced])
        return t, np.concatenate([batch.acc_g, batch.gyro_dps], axis=1)


@dataclass
class FleetSpec:
    """``n`` devices with distinct addresses, serials, clocks and seeds."""

    n: int
    seed: int = 0
    sample_rate_hz: int = 100
    faults: FaultPlan | None = None
    keep_truth: bool = True
    overrides: dict[str, float] = field(default_factory=dict)

    def profiles(self) -> list[DeviceProfile]:
        rng = np.random.default_rng(self.seed)
        out = []
        for i in range(self.n):
            out.append(
                DeviceProfile(
                    serial=f"SIM{self.seed:03d}{i:04d}",
                    address=f"C0:5E:{(self.seed >> 8) & 0xFF:02X}:{self.seed & 0xFF:02X}:{i >> 8:02X}:{i & 0xFF:02X}",
                    placement_code=1 + i % 3,
                    sample_rate_hz=self.sample_rate_hz,
                    drift_ppm=float(rng.uniform(-50, 50)),
                    seed=self.seed * 1000 + i,
                    keep_truth=self.keep_truth,
                    **self.overrides,  # type: ignore[arg-type]
                )
            )
        return out

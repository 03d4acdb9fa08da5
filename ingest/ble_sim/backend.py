"""A bleak backend (``BaseBleakClient`` + ``BaseBleakScanner``) over a bumble virtual radio.

bleak 3 lets callers pass ``backend=`` to :class:`bleak.BleakClient` and
:class:`bleak.BleakScanner`; the gateway does exactly that, so with this backend its ordinary bleak
code (and bleak-retry-connector) drives bumble's real GATT client over the virtual link.
``BumbleBackend(radio)`` makes a client class and a scanner class bound to one radio.

Two bumble behaviours are handled here: a virtual-controller connect to an address that is not
advertising never completes (we time it out and cancel it ourselves, as a real controller's
``LE Create Connection Cancel`` would), and notifications longer than MTU - 3 are cut, so we
negotiate the MTU (247) right after connecting, as BlueZ and CoreBluetooth do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bleak.uuids import normalize_uuid_str
from bumble import gatt, hci
from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement, Connection, Peer

from ingest.ble_sim.radio import VirtualRadio

log = logging.getLogger(__name__)

PREFERRED_MTU = 247
_PROPERTY_NAMES = {
    gatt.Characteristic.Properties.BROADCAST: "broadcast",
    gatt.Characteristic.Properties.READ: "read",
    gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE: "write-without-response",
    gatt.Characteristic.Properties.WRITE: "write",
    gatt.Characteristic.Properties.NOTIFY: "notify",
    gatt.Characteristic.Properties.INDICATE: "indicate",
    gatt.Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES: "authenticated-signed-writes",
    gatt.Characteristic.Properties.EXTENDED_PROPERTIES: "extended-properties",
}


def _uuid_str(uuid: UUID) -> str:
    hex_str = uuid.to_hex_str()
    return normalize_uuid_str(hex_str if len(hex_str) != 32 else str(uuid))


class BumbleBleakClient(BaseBleakClient):
    """bleak client backend on a :class:`VirtualRadio` (bind one with :class:`BumbleBackend`)."""

    radio: ClassVar[VirtualRadio]

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        self._conn: Connection | None = None
        self._peer: Peer | None = None
        self._closing = False
        self._name = address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None

    @property
    def name(self) -> str:
        return self._name or self.address

    @property
    def mtu_size(self) -> int:
        return self._conn.att_mtu if self._conn is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._conn is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        timeout_s = float(kwargs.get("timeout", self._timeout))
        radio = self.radio
        await radio.power_on()
        async with radio.connect_lock:
            try:
                async with asyncio.timeout(timeout_s):
                    conn = await radio.central.connect(hci.Address(self.address), timeout=None)
            except TimeoutError:
                # The virtual controller would wait for the advertiser forever.
                await radio.cancel_pending_connect()
                raise
            except hci.HCI_Error as e:
                raise BleakError(f"{self.address}: connection failed: {e}") from e
        self._conn = conn
        self._closing = False
        conn.on("disconnection", self._on_disconnection)
        peer = Peer(conn)
        self._peer = peer
        try:
            await peer.request_mtu(PREFERRED_MTU)
            self.services = await self._discover(peer)
        except Exception as e:
            await self.disconnect()
            raise BleakError(f"{self.address}: service discovery failed: {e}") from e

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        await peer.discover_services()
        for svc in peer.services:
            await svc.discover_characteristics()
            service = BleakGATTService(svc, svc.handle, _uuid_str(svc.uuid))
            collection.add_service(service)
            for ch in svc.characteristics:
                await ch.discover_descriptors()
                props = [name for flag, name in _PROPERTY_NAMES.items() if ch.properties & flag]
                char = BleakGATTCharacteristic(
                    ch,
                    ch.handle,
                    _uuid_str(ch.uuid),
                    props,  # type: ignore[arg-type]
                    lambda: self.mtu_size - 3,
                    service,
                )
                collection.add_characteristic(char)
                for d in ch.descriptors:
                    collection.add_descriptor(BleakGATTDescriptor(d, d.handle, _uuid_str(d.type), char))
        return collection

    def _on_disconnection(self, reason: int) -> None:
        self._conn = None
        self._peer = None
        solicited = self._closing
        log.debug("%s: disconnected (reason %#x, solicited %s)", self.address, reason, solicited)
        if not solicited and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        conn = self._conn
        if conn is None:
            return
        self._closing = True
        try:
            await conn.disconnect()
        except Exception as e:  # already gone: that is what we wanted
            log.debug("%s: disconnect: %s", self.address, e)
        self._conn = None
        self._peer = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        log.info("%s: pairing is not needed on the virtual link; ignored", self.address)

    async def unpair(self) -> None:
        log.info("%s: unpairing is not needed on the virtual link; ignored", self.address)

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError(f"{self.address}: not connected")
        return self._peer

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(await self._require_peer().read_value(characteristic.obj))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(await self._require_peer().read_value(descriptor.obj))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        await self._require_peer().write_value(characteristic.obj, bytes(data), with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        await self._require_peer().write_value(descriptor.obj, bytes(data), with_response=True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        await self._require_peer().subscribe(characteristic.obj, on_value, prefer_notify=True)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        await self._require_peer().unsubscribe(characteristic.obj)


class BumbleBleakScanner(BaseBleakScanner):
    """bleak scanner backend: advertisements heard by the radio's central device."""

    radio: ClassVar[VirtualRadio]

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._scanning = False

    async def start(self) -> None:
        radio = self.radio
        await radio.power_on()
        self.seen_devices = {}
        radio.central.on("advertisement", self._on_advertisement)
        await radio.acquire_scan()
        self._scanning = True

    async def stop(self) -> None:
        if not self._scanning:
            return
        self._scanning = False
        self.radio.central.remove_listener("advertisement", self._on_advertisement)
        await self.radio.release_scan()

    def _on_advertisement(self, adv: Advertisement) -> None:
        uuids: list[str] = []
        for entry in adv.data.get_all(AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS):
            uuids.extend(_uuid_str(u) for u in (entry if isinstance(entry, list) else [entry]))
        name_obj = adv.data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
        name = name_obj if isinstance(name_obj, str) else None
        address = str(adv.address).split("/")[0].upper()
        data = AdvertisementData(
            local_name=name,
            manufacturer_data={},
            service_data={},
            service_uuids=uuids,
            tx_power=None,
            rssi=int(adv.rssi),
            platform_data=(adv,),
        )
        # `details` is deliberately not a dict with a BlueZ "path": bleak-retry-connector then
        # skips its D-Bus look-ups and treats this like any non-BlueZ backend.
        device = self.create_or_update_device(address, address, name, adv, data)
        if self.is_allowed_uuid(uuids):
            self.call_detection_callbacks(device, data)


@dataclass(frozen=True)
class BumbleBackend:
    """bleak backend classes bound to one :class:`VirtualRadio` (pass them as ``backend=``)."""

    radio: VirtualRadio
    client: type[BaseBleakClient]
    scanner: type[BaseBleakScanner]

    @classmethod
    def on(cls, radio: VirtualRadio) -> BumbleBackend:
        client = type("BumbleBleakClient", (BumbleBleakClient,), {"radio": radio})
        scanner = type("BumbleBleakScanner", (BumbleBleakScanner,), {"radio": radio})
        return cls(radio, client, scanner)

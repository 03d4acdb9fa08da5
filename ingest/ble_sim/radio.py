"""The in-process "air": a bumble LocalLink, the gateway's adapter and the virtual peripherals.

One :class:`VirtualRadio` plays the role of the host's Bluetooth adapter (a bumble ``Device`` with
its own ``Controller``) plus the space around it. Peripherals (:class:`~ingest.ble_sim.device.
VirtualImu`) register their own controller on the same link. Link-level faults that no host API
can cause — a supervision timeout — are injected here, by telling both controllers the link died.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from bumble import hci
from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

if TYPE_CHECKING:
    from ingest.ble_sim.device import VirtualImu

log = logging.getLogger(__name__)

CENTRAL_ADDRESS = "F0:00:00:00:00:00"


def make_bumble_device(name: str, address: str, link: LocalLink) -> tuple[Device, Controller]:
    """A bumble host + virtual controller attached to ``link``."""
    controller = Controller(name, link=link, public_address=address)
    host = Host(controller, AsyncPipeSink(controller))
    return Device(name=name, address=hci.Address(address), host=host), controller


class VirtualRadio:
    """The shared virtual link, the central adapter and a directory of peripherals.

    ``now_s()`` is the epoch time of this simulation: the event loop's clock anchored to the wall
    clock at creation (on a :class:`~ingest.ble_sim.vtime.VirtualTimeLoop` it runs simulated time).
    """

    def __init__(self, epoch_start_s: float | None = None) -> None:
        self.link = LocalLink()
        self.central, self.central_controller = make_bumble_device(
            "nuchal-gateway", CENTRAL_ADDRESS, self.link
        )
        self.peripherals: dict[str, VirtualImu] = {}
        self._epoch_start_s = time.time() if epoch_start_s is None else epoch_start_s
        self._loop_start_s: float | None = None
        self._powered = False
        self._scan_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._scanners = 0

    def now_s(self) -> float:
        loop_now = asyncio.get_running_loop().time()
        if self._loop_start_s is None:
            self._loop_start_s = loop_now
        return self._epoch_start_s + (loop_now - self._loop_start_s)

    async def power_on(self) -> None:
        if not self._powered:
            self.now_s()
            await self.central.power_on()
            self._powered = True

    def register(self, imu: VirtualImu) -> None:
        self.peripherals[imu.address.upper()] = imu

    async def acquire_scan(self) -> None:
        """Scanning is shared: the first scanner starts it on the adapter, the last stops it."""
        async with self._scan_lock:
            self._scanners += 1
            if self._scanners == 1:
                await self.central.start_scanning(filter_duplicates=False)

    async def release_scan(self) -> None:
        async with self._scan_lock:
            self._scanners -= 1
            if self._scanners == 0:
                await self.central.stop_scanning()

    @property
    def connect_lock(self) -> asyncio.Lock:
        """A controller creates one LE connection at a time."""
        return self._connect_lock

    async def cancel_pending_connect(self) -> None:
        """Abandon a connection attempt that timed out.

        bumble's virtual controller accepts ``LE Create Connection Cancel`` but keeps the pending
        request: it would later complete a connection nobody waits for, and refuse every new
        attempt with COMMAND_DISALLOWED. A real controller drops the request, so we do too.
        """
        try:
            await self.central.cancel_connection()
        except Exception as e:
            log.debug("cancel connection: %s", e)
        self.central_controller.pending_le_connection = None

    def drop_link(self, imu: VirtualImu, reason: int = hci.HCI_CONNECTION_TIMEOUT_ERROR) -> bool:
        """Kill the link to ``imu`` on both controllers at once, as a supervision timeout does."""
        dropped = False
        for ctrl, peer in ((imu.controller, CENTRAL_ADDRESS), (self.central_controller, imu.address)):
            for addr, conn in list(ctrl.le_connections.items()):
                if str(addr).split("/")[0].upper() == peer.upper():
                    ctrl.on_le_disconnected(conn, reason)
                    dropped = True
        return dropped

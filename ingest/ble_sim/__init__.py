"""A virtual nuchal IMU on Google's bumble BLE stack, and a bleak backend that talks to it.

Everything above the virtual link is real: bumble's controller, host, L2CAP, ATT and GATT run in
process over :class:`bumble.link.LocalLink`, so the gateway's bleak code path is exercised against
a real protocol stack (MTU exchange, notifications cut to MTU - 3, CCCD writes) with no radio.
"""

from ingest.ble_sim.backend import BumbleBackend
from ingest.ble_sim.device import DeviceProfile, FaultPlan, VirtualImu
from ingest.ble_sim.radio import VirtualRadio
from ingest.ble_sim.vtime import VirtualTimeLoop, run_virtual

__all__ = [
    "BumbleBackend",
    "DeviceProfile",
    "FaultPlan",
    "VirtualImu",
    "VirtualRadio",
    "VirtualTimeLoop",
    "run_virtual",
]

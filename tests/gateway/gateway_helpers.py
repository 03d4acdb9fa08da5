"""Helpers shared by the gateway tests."""

from __future__ import annotations

import numpy as np

from ingest.ble_sim.device import VirtualImu
from ingest.gateway import GatewayConfig
from nuchal.home import Home
from warehouse import Warehouse

EPOCH_S = 1.75e9


def sim_config(home: Home, **kw: object) -> GatewayConfig:
    """Gateway settings for simulated time: merges inline (a thread would let the clock race)."""
    base: dict[str, object] = {"merge_in_thread": False, "merge_interval_s": 10.0, "status_interval_s": 30.0}
    base.update(kw)
    return GatewayConfig(home, **base)  # type: ignore[arg-type]


def stored_times(wh: Warehouse, device_id: str) -> np.ndarray:
    rows = (
        wh.cursor()
        .execute("SELECT epoch_us(t_utc) FROM imu_samples WHERE device_id = ? ORDER BY t_utc", [device_id])
        .fetchall()
    )
    return np.array([r[0] for r in rows], dtype=np.int64)


def match_truth(dev: VirtualImu, got_us: np.ndarray, tol_ms: float = 20.0) -> tuple[int, int]:
    """(stored samples within ``tol_ms`` of a sample the device produced, stored samples)."""
    t_true, _ = dev.truth()
    t_true = np.sort(t_true)
    idx = np.clip(np.searchsorted(t_true, got_us), 1, max(t_true.shape[0] - 1, 1))
    near = np.minimum(np.abs(t_true[idx] - got_us), np.abs(t_true[idx - 1] - got_us))
    return int((near <= tol_ms * 1e3).sum()), int(got_us.shape[0])

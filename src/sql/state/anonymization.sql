-- src/sql/state/anonymization.sql: anonymize_table's runs, the progress of each table of a run, the queue of a queue-mode run

-- runs: one per anonymize_table call that had work to do, resumed until done
CREATE TABLE privacy.anonymize_run (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relid         oid         NOT NULL,
    relation      text        NOT NULL,
    batch_size    integer     NOT NULL CHECK (batch_size OPERATOR(pg_catalog.>) 0),
    key_name      text        NOT NULL,
    methods       jsonb       NOT NULL,
    run_by        name        NOT NULL,
    pid           integer,
    backend_start timestamptz,
    started_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    ended_at      timestamptz
);
COMMENT ON SEQUENCE privacy.anonymize_run_id_seq IS 'numbers anonymize_table runs';
COMMENT ON TABLE privacy.anonymize_run IS
    'one row per anonymize_table run: the table, batch size, key name, each column''s method, who ran it, the session now running it, start and end';
GRANT SELECT ON privacy.anonymize_run TO PUBLIC;

-- the tables (partitions) of a run and how far each has got
CREATE TABLE privacy.anonymize_part (
    run_id     bigint  NOT NULL REFERENCES privacy.anonymize_run (id),
    part       oid     NOT NULL,
    relation   text    NOT NULL,
    mode       text    NOT NULL CHECK (mode OPERATOR(pg_catalog.=) ANY (ARRAY['keyset', 'queue'])),
    key_column name,
    rows_total bigint  NOT NULL,
    rows_done  bigint  NOT NULL DEFAULT 0,
    batches    integer NOT NULL DEFAULT 0,
    watermark  text,
    finished   boolean NOT NULL DEFAULT false,
    first_sql  text,
    next_sql   text,
    PRIMARY KEY (run_id, part)
);
COMMENT ON TABLE privacy.anonymize_part IS
    'per run and table or partition: how rows are walked (keyset: in the order of a key that is not rewritten; queue: a list made at the start), rows at the start and done, batches, and the statements the batches run';
-- The watermark is a key value of the table: the extension owner's only.
REVOKE ALL ON privacy.anonymize_part FROM PUBLIC;

-- queue mode: the rows still to do, by key (or ctid when the table has no
-- single-column key); each batch deletes what it did in its own transaction
CREATE TABLE privacy.anonymize_queue (
    run_id bigint NOT NULL,
    part   oid    NOT NULL,
    pos    bigint NOT NULL,
    item   text   NOT NULL,
    PRIMARY KEY (run_id, part, pos)
);
COMMENT ON TABLE privacy.anonymize_queue IS
    'rows a queue-mode anonymize_table run has still to do, by key or ctid; emptied as batches commit';
-- Holds key values of rows not yet anonymized: the extension owner's only.
REVOKE ALL ON privacy.anonymize_queue FROM PUBLIC;

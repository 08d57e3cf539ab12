-- src/sql/state/cancellation.sql: the cancellation tombstones, and the type of the rows a cancellation chose

-- a tombstone per cancelled subject, by pseudonym
CREATE TABLE privacy.cancelled_subject (
    subject_id   text        PRIMARY KEY,
    cancelled_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    request_id   bigint
);
COMMENT ON TABLE privacy.cancelled_subject IS
    'tombstones: subjects whose account was cancelled, by subject_id = privacy.subject_pseudonym(subject); holds no personal data';
REVOKE ALL ON privacy.cancelled_subject FROM PUBLIC;

-- the rows cancellation chose in one table, through one chain of foreign keys
CREATE TYPE privacy.cancel_target AS (
    relid   oid,
    root    oid,
    hops    integer,
    path    oid[],
    parts   oid[],
    tids    pg_catalog.tid[]
);
COMMENT ON TYPE privacy.cancel_target IS
    'internal: the rows (partition and ctid) of one table that cancellation chose and locked, with the chain of foreign keys that reached them';

-- pg_dump keeps what these hold (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.cancelled_subject', '');

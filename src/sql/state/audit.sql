-- src/sql/state/audit.sql: the audit log and the head of its hash chain

CREATE TABLE privacy.audit_log (
    seq         bigint      PRIMARY KEY CHECK (seq OPERATOR(pg_catalog.>) 0),
    at          timestamptz NOT NULL,
    actor       name        NOT NULL,
    kind        text        NOT NULL,
    object      text        NOT NULL,
    detail      jsonb       NOT NULL,
    prev_hash   bytea       NOT NULL,
    hash        bytea       NOT NULL
);
COMMENT ON TABLE privacy.audit_log IS
    'append-only audit log; each entry''s hash is SHA-256 over the previous hash and the entry''s canonical form; check it with privacy.verify_audit_log()';

-- The head of the chain: one row, the last sequence number and hash.  Writers
-- lock it to append, so concurrent writers are serialized in one order.  It is
-- created by the first append (not here) so that a restored dump brings its own.
CREATE TABLE privacy.audit_head (
    id          boolean     PRIMARY KEY DEFAULT true CHECK (id),
    seq         bigint      NOT NULL,
    hash        bytea       NOT NULL,
    prev        bytea       -- the hash before the last append
);
COMMENT ON TABLE privacy.audit_head IS
    'the last sequence number and hash of privacy.audit_log; locked by each append';

-- pg_dump keeps what these hold (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.audit_head', '');

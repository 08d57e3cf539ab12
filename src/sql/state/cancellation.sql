-- src/sql/state/cancellation.sql: the cancellation tombstones

-- a tombstone per cancelled subject, by pseudonym
CREATE TABLE privacy.cancelled_subject (
    subject_id   text        PRIMARY KEY,
    cancelled_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    request_id   bigint
);
COMMENT ON TABLE privacy.cancelled_subject IS
    'tombstones: subjects whose account was cancelled, by subject_id = privacy.subject_pseudonym(subject, kind); holds no personal data';
REVOKE ALL ON privacy.cancelled_subject FROM PUBLIC;

-- pg_dump keeps what these hold (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.cancelled_subject', '');

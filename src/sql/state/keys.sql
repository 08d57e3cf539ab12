-- src/sql/state/keys.sql: the key tables (every key wrapped under the master key, privacy.master_key_file, never readable) and the shredded subjects

CREATE TABLE privacy.key (
    name            text        PRIMARY KEY,
    algorithm       text        NOT NULL
                                CHECK (algorithm OPERATOR(pg_catalog.=) ANY (ARRAY['any', 'hmac-sha256', 'ff1', 'aes-siv', 'aes-gcm'])),
    current_version integer     NOT NULL CHECK (current_version OPERATOR(pg_catalog.>) 0),
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    rotated_at      timestamptz
);
COMMENT ON TABLE privacy.key IS
    'named keys: algorithm (any: a root key with one derived subkey per use) and current version; material is in privacy.key_version, wrapped';
-- Key tables are the extension owner's alone: nobody else reads them, even wrapped.
REVOKE ALL ON privacy.key FROM PUBLIC;

CREATE TABLE privacy.key_version (
    -- no foreign key to privacy.key: pg_restore -j loads the two in any order;
    -- privacy.drop_key removes both
    name        text        NOT NULL,
    version     integer     NOT NULL CHECK (version OPERATOR(pg_catalog.>) 0),
    wrapped     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (name, version)
);
COMMENT ON TABLE privacy.key_version IS
    'every version of every key, AES-256-GCM-wrapped under the master key and bound to its name and version';
-- As privacy.key.
REVOKE ALL ON privacy.key_version FROM PUBLIC;

-- Subject data keys are files in privacy.subject_key_dir, never in the
-- database: this table only records which subjects were shredded.
CREATE TABLE privacy.shredded_subject (
    subject_id  bytea       PRIMARY KEY,
    shredded_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE privacy.shredded_subject IS
    'tombstones: subjects whose data key was shredded, by subject_id = HMAC(privacy.subjects, subject); holds no personal data';
-- As privacy.key.
REVOKE ALL ON privacy.shredded_subject FROM PUBLIC;

-- pg_dump keeps what these hold (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.key', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.key_version', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.shredded_subject', '');

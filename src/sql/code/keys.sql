-- src/sql/code/keys.sql: key administration: create, rotate, drop and import keys, the keys view, the key cache trigger, key_storage_problems

CREATE FUNCTION privacy.key_cache_invalidate() RETURNS trigger
    AS 'MODULE_PATHNAME', 'privacy_key_cache_invalidate'
    LANGUAGE C;
COMMENT ON FUNCTION privacy.key_cache_invalidate() IS
    'trigger: every session drops what it caches of the table (keys, tombstones) when the table changes';
CREATE TRIGGER key_cache_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON privacy.key
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.key_cache_invalidate();
CREATE TRIGGER key_cache_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON privacy.key_version
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.key_cache_invalidate();

CREATE VIEW privacy.keys AS
    SELECT k.name, k.algorithm, k.current_version,
           pg_catalog.count(v.version) AS versions,
           k.created_at, k.rotated_at
      FROM privacy.key k
      JOIN privacy.key_version v ON v.name OPERATOR(pg_catalog.=) k.name
     GROUP BY k.name;
COMMENT ON VIEW privacy.keys IS 'every key with its metadata only: name, algorithm, versions, when created and rotated';
-- Key administrators are granted this explicitly.
REVOKE ALL ON privacy.keys FROM PUBLIC;

CREATE FUNCTION privacy.create_key(name text) RETURNS integer
    AS 'MODULE_PATHNAME', 'privacy_create_key'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION privacy.create_key(text) IS
    'create a key of 32 random bytes from OpenSSL, stored wrapped under the master key; returns its version (1)';
-- Key administration: granted explicitly to an administrator role.
REVOKE ALL ON FUNCTION privacy.create_key(text) FROM PUBLIC;

CREATE FUNCTION privacy.rotate_key(name text) RETURNS integer
    AS 'MODULE_PATHNAME', 'privacy_rotate_key'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION privacy.rotate_key(text) IS
    'give a key a new current version; values made under older versions still decrypt; returns the new version';
-- Key administration.
REVOKE ALL ON FUNCTION privacy.rotate_key(text) FROM PUBLIC;

CREATE FUNCTION privacy.drop_key(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'privacy_drop_key'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION privacy.drop_key(text) IS
    'drop every version of a key: what it encrypted can no longer be decrypted';
-- Key administration.
REVOKE ALL ON FUNCTION privacy.drop_key(text) FROM PUBLIC;

CREATE FUNCTION privacy.import_key(name text, material bytea, algorithm text) RETURNS integer
    AS 'MODULE_PATHNAME', 'privacy_import_key'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION privacy.import_key(text, bytea, text) IS
    'migrations: store an existing key bound to one algorithm (hmac-sha256, ff1, aes-siv, aes-gcm); superusers only';
-- Superusers only (checked inside too): key material passes through SQL here.
REVOKE ALL ON FUNCTION privacy.import_key(text, bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.key_storage_problems()
    RETURNS TABLE (setting text, problem text, hint text)
    AS 'MODULE_PATHNAME', 'privacy_key_storage_problems'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.key_storage_problems() IS
    'what is wrong with the master key file and the subject key directory (unset, missing, wrong owner, open to other users, wrong size, inside the data directory); reads metadata only and names no path';
GRANT EXECUTE ON FUNCTION privacy.key_storage_problems() TO PUBLIC;

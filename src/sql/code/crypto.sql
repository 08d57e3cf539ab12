-- src/sql/code/crypto.sql: pseudonyms, format-preserving and authenticated encryption, subject keys and shredding, date shifting

-- Pseudonymization and encryption (PARALLEL RESTRICTED: they read the key
-- tables through the extension owner and keep a per-backend key cache)

CREATE FUNCTION privacy.pseudonym(value text, key text) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_pseudonym_text'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.pseudonym(text, text) IS
    'keyed pseudonym: lower-case hex of HMAC-SHA-256 over the UTF-8 bytes of value, under the key''s current version';
-- Uses a key: granted to the roles that may pseudonymize.
REVOKE ALL ON FUNCTION privacy.pseudonym(text, text) FROM PUBLIC;

CREATE FUNCTION privacy.pseudonym(value bytea, key text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_pseudonym_bytea'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.pseudonym(bytea, text) IS
    'keyed pseudonym: the 32-byte HMAC-SHA-256 of value under the key''s current version';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.pseudonym(bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.fpe_encrypt(value text, key text, tweak text DEFAULT '', radix integer DEFAULT 10)
    RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_fpe_encrypt'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.fpe_encrypt(text, text, text, integer) IS
    'FF1 format-preserving encryption (NIST SP 800-38G): characters of the radix alphabet (10: 0-9, 36: 0-9a-z, 62: 0-9a-zA-Z) are encrypted, others stay in place';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.fpe_encrypt(text, text, text, integer) FROM PUBLIC;

CREATE FUNCTION privacy.fpe_decrypt(value text, key text, tweak text DEFAULT '', radix integer DEFAULT 10)
    RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_fpe_decrypt'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.fpe_decrypt(text, text, text, integer) IS
    'inverse of privacy.fpe_encrypt with the same key, tweak and radix (the key''s current version)';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.fpe_decrypt(text, text, text, integer) FROM PUBLIC;

CREATE FUNCTION privacy.fpe_encrypt(value bigint, key text, min bigint, max bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'privacy_fpe_encrypt_integer'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.fpe_encrypt(bigint, text, bigint, bigint) IS
    'FF1 over the integers min..max (at least 10000 of them): a keyed permutation of the range, so distinct values stay distinct and every result lies in it';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.fpe_encrypt(bigint, text, bigint, bigint) FROM PUBLIC;

CREATE FUNCTION privacy.fpe_decrypt(value bigint, key text, min bigint, max bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'privacy_fpe_decrypt_integer'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.fpe_decrypt(bigint, text, bigint, bigint) IS
    'inverse of the integer privacy.fpe_encrypt with the same key and range (the key''s current version)';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.fpe_decrypt(bigint, text, bigint, bigint) FROM PUBLIC;

CREATE FUNCTION privacy.encrypt(value text, key text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_encrypt'
    LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.encrypt(text, text) IS
    'AES-256-GCM with a random nonce; the ciphertext carries the key version';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.encrypt(text, text) FROM PUBLIC;

CREATE FUNCTION privacy.encrypt(value bytea, key text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_encrypt'
    LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.encrypt(bytea, text) IS
    'AES-256-GCM with a random nonce; the ciphertext carries the key version';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.encrypt(bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.decrypt(value bytea, key text) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_decrypt'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.decrypt(bytea, text) IS
    'decrypt a privacy.encrypt ciphertext of text; fails on any alteration';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.decrypt(bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.decrypt_bytea(value bytea, key text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_decrypt'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.decrypt_bytea(bytea, text) IS
    'decrypt a privacy.encrypt ciphertext of bytea; fails on any alteration';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.decrypt_bytea(bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.encrypt_deterministic(value text, key text, associated_data bytea[] DEFAULT '{}')
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_encrypt_deterministic'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.encrypt_deterministic(text, text, bytea[]) IS
    'AES-SIV (RFC 5297): equal values give equal ciphertexts under one key version, so they can be indexed and joined';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.encrypt_deterministic(text, text, bytea[]) FROM PUBLIC;

CREATE FUNCTION privacy.encrypt_deterministic(value bytea, key text, associated_data bytea[] DEFAULT '{}')
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_encrypt_deterministic'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.encrypt_deterministic(bytea, text, bytea[]) IS
    'AES-SIV (RFC 5297) over bytea';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.encrypt_deterministic(bytea, text, bytea[]) FROM PUBLIC;

CREATE FUNCTION privacy.decrypt_deterministic(value bytea, key text, associated_data bytea[] DEFAULT '{}')
    RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_decrypt_deterministic'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.decrypt_deterministic(bytea, text, bytea[]) IS
    'decrypt a privacy.encrypt_deterministic ciphertext of text; fails on any alteration';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.decrypt_deterministic(bytea, text, bytea[]) FROM PUBLIC;

CREATE FUNCTION privacy.decrypt_deterministic_bytea(value bytea, key text, associated_data bytea[] DEFAULT '{}')
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_decrypt_deterministic'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.decrypt_deterministic_bytea(bytea, text, bytea[]) IS
    'decrypt a privacy.encrypt_deterministic ciphertext of bytea';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.decrypt_deterministic_bytea(bytea, text, bytea[]) FROM PUBLIC;

CREATE FUNCTION privacy.subject_encrypt(subject text, value text, kind text DEFAULT 'person') RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_subject_encrypt'
    LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.subject_encrypt(text, text, text) IS
    'AES-256-GCM under the data key of the subject (of the kind, in its canonical form) (created on first use, kept outside the database in privacy.subject_key_dir); privacy.shred_subject destroys it';
-- Uses keys.
REVOKE ALL ON FUNCTION privacy.subject_encrypt(text, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.subject_encrypt(subject text, value bytea, kind text DEFAULT 'person') RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_subject_encrypt'
    LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.subject_encrypt(text, bytea, text) IS
    'AES-256-GCM of bytea under the subject''s own data key';
-- Uses keys.
REVOKE ALL ON FUNCTION privacy.subject_encrypt(text, bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.subject_decrypt(subject text, value bytea, kind text DEFAULT 'person') RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_subject_decrypt'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.subject_decrypt(text, bytea, text) IS
    'decrypt a privacy.subject_encrypt ciphertext of text; fails once the subject is shredded';
-- Uses keys.
REVOKE ALL ON FUNCTION privacy.subject_decrypt(text, bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.subject_decrypt_bytea(subject text, value bytea, kind text DEFAULT 'person') RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_subject_decrypt'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.subject_decrypt_bytea(text, bytea, text) IS
    'decrypt a privacy.subject_encrypt ciphertext of bytea';
-- Uses keys.
REVOKE ALL ON FUNCTION privacy.subject_decrypt_bytea(text, bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.shred_subject(subject text, kind text DEFAULT 'person') RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_shred_subject'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION privacy.shred_subject(text, text) IS
    'destroy the subject''s data key (its file is deleted at commit), leaving a tombstone: its ciphertexts, in every backup too, can no longer be decrypted; true if a key was destroyed now';
-- Destroys data: granted explicitly (cancellation calls it).
REVOKE ALL ON FUNCTION privacy.shred_subject(text, text) FROM PUBLIC;

CREATE FUNCTION privacy.shred_subject(subject text, audited boolean, kind text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_shred_subject'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION privacy.shred_subject(text, boolean, text) IS
    'internal: shred_subject, with its own audit entry only when audited (cancellation records the shred in its receipt)';
-- As shred_subject.
REVOKE ALL ON FUNCTION privacy.shred_subject(text, boolean, text) FROM PUBLIC;

CREATE FUNCTION privacy.sweep_subject_keys() RETURNS integer
    AS 'MODULE_PATHNAME', 'privacy_sweep_subject_keys'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION privacy.sweep_subject_keys() IS
    'remove key files of shredded subjects (after a crash, or a restored key directory); returns how many';
-- Deletes key files: granted explicitly.
REVOKE ALL ON FUNCTION privacy.sweep_subject_keys() FROM PUBLIC;

CREATE FUNCTION privacy.subject_pseudonym(subject text, kind text DEFAULT 'person') RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_subject_pseudonym'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION privacy.subject_pseudonym(text, text) IS
    'the keyed pseudonym of a subject of a kind (in its canonical form) that names it in the audit log, the tombstones, privacy.shredded_subject and the key directory';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.subject_pseudonym(text, text) FROM PUBLIC;

CREATE FUNCTION privacy.date_shift(value date, subject text, max_days integer, key text) RETURNS date
    AS 'MODULE_PATHNAME', 'privacy_date_shift'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.date_shift(date, text, integer, text) IS
    'shift a date by an amount in [-max_days, max_days] that is the same for every date of one subject (HMAC of the subject under the key)';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.date_shift(date, text, integer, text) FROM PUBLIC;

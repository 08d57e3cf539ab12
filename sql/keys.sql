-- keys: creation, rotation, dropping, import; the master key file; privileges
SELECT COALESCE(max(seq), 0) AS audit_start FROM privacy.audit_log \gset
SELECT privacy.create_key('app');
SELECT privacy.create_key('app.v2-test_1');
SELECT name, algorithm, current_version, versions, rotated_at IS NULL AS never_rotated
  FROM privacy.keys ORDER BY name;
-- the material is stored only wrapped: format byte, 12-byte nonce, 32 bytes, 16-byte tag
SELECT name, version, length(wrapped) AS wrapped_bytes, get_byte(wrapped, 0) AS format
  FROM privacy.key_version ORDER BY name, version;
-- two keys never share material (compare what they produce)
SELECT privacy.pseudonym('x', 'app') <> privacy.pseudonym('x', 'app.v2-test_1') AS distinct_keys;

-- rotation: a new current version, older ones kept
SELECT privacy.rotate_key('app');
SELECT privacy.rotate_key('app');
SELECT name, current_version, versions, rotated_at IS NOT NULL AS rotated FROM privacy.keys WHERE name = 'app';

-- bad input, each refused with nothing changed
SELECT try($$SELECT privacy.create_key('app')$$);
SELECT try($$SELECT privacy.create_key('')$$);
SELECT try($$SELECT privacy.create_key('App')$$);
SELECT try($$SELECT privacy.create_key('1key')$$);
SELECT try($$SELECT privacy.create_key('a b')$$);
SELECT try($$SELECT privacy.create_key(repeat('k', 64))$$);
SELECT try($$SELECT privacy.create_key('privacy.mine')$$);
SELECT try($$SELECT privacy.rotate_key('privacy.subjects')$$);
SELECT try($$SELECT privacy.drop_key('privacy.subjects')$$);
SELECT try($$SELECT privacy.rotate_key('nosuch')$$);
SELECT try($$SELECT privacy.drop_key('nosuch')$$);
SELECT try($$SELECT privacy.pseudonym('x', 'nosuch')$$);
SELECT try($$SELECT privacy.import_key('imp', '\x00', 'ff1')$$);
SELECT try($$SELECT privacy.import_key('imp', '\x000102030405060708090a0b0c0d0e0f', 'rot13')$$);
SELECT try($$SELECT privacy.import_key('imp', '\x000102030405060708090a0b0c0d0e0f', 'aes-gcm')$$);
SELECT try($$SELECT privacy.import_key('app', '\x000102030405060708090a0b0c0d0e0f', 'ff1')$$);
SELECT try($$SELECT privacy.import_key('privacy.x', '\x000102030405060708090a0b0c0d0e0f', 'ff1')$$);
SELECT privacy.create_key(NULL) IS NULL AS strict_null;
SELECT name, current_version FROM privacy.keys ORDER BY name;

-- an imported key serves its one algorithm only
SELECT privacy.import_key('ff1-only', '\x000102030405060708090a0b0c0d0e0f', 'ff1');
SELECT try($$SELECT privacy.pseudonym('x', 'ff1-only')$$);
SELECT try($$SELECT privacy.encrypt('x', 'ff1-only')$$);
SELECT privacy.rotate_key('ff1-only');
SELECT name, algorithm, current_version FROM privacy.keys WHERE name = 'ff1-only';

-- dropping a key drops every version
SELECT privacy.drop_key('app.v2-test_1');
SELECT count(*) FROM privacy.key_version WHERE name = 'app.v2-test_1';
SELECT try($$SELECT privacy.pseudonym('x', 'app.v2-test_1')$$);

-- key operations are audited with metadata only
SELECT kind, object, detail FROM privacy.audit_log
 WHERE seq > :audit_start AND kind = 'key' ORDER BY seq;

-- the master key file: every problem has its own error, none shows the path or the key
-- (paths are relative to the data directory: PG_VERSION has the wrong size,
-- base is a directory; a wrong master key is tested in test/tap/004_keys.pl)
SET privacy.master_key_file = '';
SELECT try($$SELECT privacy.pseudonym('x', 'app')$$);
SET privacy.master_key_file = 'no/such/file';
SELECT try($$SELECT privacy.pseudonym('x', 'app')$$);
SET privacy.master_key_file = 'PG_VERSION';
SELECT try($$SELECT privacy.pseudonym('x', 'app')$$);
SET privacy.master_key_file = 'base';
SELECT try($$SELECT privacy.pseudonym('x', 'app')$$);
RESET privacy.master_key_file;
SELECT length(privacy.pseudonym('x', 'app')) AS works_again;
-- the setting is superuser-only: hidden from and not settable by other roles
SET ROLE regress_app;
SELECT try($$SHOW privacy.master_key_file$$);
SELECT try($$SET privacy.master_key_file = 'x'$$);
SELECT count(*) AS visible FROM pg_settings WHERE name = 'privacy.master_key_file';

-- a role without grants can neither use keys nor read the key tables
SELECT try($$SELECT privacy.create_key('mine')$$);
SELECT try($$SELECT privacy.rotate_key('app')$$);
SELECT try($$SELECT privacy.drop_key('app')$$);
SELECT try($$SELECT privacy.import_key('mine', '\x000102030405060708090a0b0c0d0e0f', 'ff1')$$);
SELECT try($$SELECT privacy.pseudonym('x', 'app')$$);
SELECT try($$SELECT privacy.encrypt('x', 'app')$$);
SELECT try($$SELECT * FROM privacy.key$$);
SELECT try($$SELECT * FROM privacy.key_version$$);
SELECT try($$SELECT * FROM privacy.shredded_subject$$);
SELECT try($$SELECT * FROM privacy.keys$$);
RESET ROLE;
-- granted EXECUTE on pseudonym, a role can pseudonymize, and still not read keys
GRANT EXECUTE ON FUNCTION privacy.pseudonym(text, text) TO regress_app;
SET ROLE regress_app;
SELECT privacy.pseudonym('x', 'app') = (SELECT privacy.pseudonym('x', 'app')) AS granted_works;
SELECT try($$SELECT * FROM privacy.key_version$$);
SELECT try($$SELECT privacy.import_key('mine', '\x000102030405060708090a0b0c0d0e0f', 'ff1')$$);
RESET ROLE;
-- even granted, import_key is for superusers
GRANT EXECUTE ON FUNCTION privacy.import_key(text, bytea, text) TO regress_app;
SET ROLE regress_app;
SELECT try($$SELECT privacy.import_key('mine', '\x000102030405060708090a0b0c0d0e0f', 'ff1')$$);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION privacy.import_key(text, bytea, text) FROM regress_app;

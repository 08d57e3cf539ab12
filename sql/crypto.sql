-- crypto: published vectors, round trips, rotation, tampering, subjects
\set VERBOSITY default
SELECT privacy.create_key('c');

-- NIST SP 800-38G FF1 samples 1 to 9, verbatim (keys imported for migration)
SELECT privacy.import_key('ff1-aes128', '\x2B7E151628AED2A6ABF7158809CF4F3C', 'ff1');
SELECT privacy.import_key('ff1-aes192', '\x2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F', 'ff1');
SELECT privacy.import_key('ff1-aes256', '\x2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94', 'ff1');
CREATE TEMP TABLE ff1_samples (sample int, key text, radix int, tweak bytea, pt text, ct text);
INSERT INTO ff1_samples VALUES
 (1, 'ff1-aes128', 10, '\x', '0123456789', '2433477484'),
 (2, 'ff1-aes128', 10, '\x39383736353433323130', '0123456789', '6124200773'),
 (3, 'ff1-aes128', 36, '\x3737373770717273373737', '0123456789abcdefghi', 'a9tv40mll9kdu509eum'),
 (4, 'ff1-aes192', 10, '\x', '0123456789', '2830668132'),
 (5, 'ff1-aes192', 10, '\x39383736353433323130', '0123456789', '2496655549'),
 (6, 'ff1-aes192', 36, '\x3737373770717273373737', '0123456789abcdefghi', 'xbj3kv35jrawxv32ysr'),
 (7, 'ff1-aes256', 10, '\x', '0123456789', '6657667009'),
 (8, 'ff1-aes256', 10, '\x39383736353433323130', '0123456789', '1001623463'),
 (9, 'ff1-aes256', 36, '\x3737373770717273373737', '0123456789abcdefghi', 'xs8a0azh2avyalyzuwd');
SELECT sample, radix,
       privacy.fpe_encrypt(pt, key, convert_from(tweak, 'UTF8'), radix) AS encrypted,
       privacy.fpe_encrypt(pt, key, convert_from(tweak, 'UTF8'), radix) = ct AS matches_nist,
       privacy.fpe_decrypt(ct, key, convert_from(tweak, 'UTF8'), radix) = pt AS decrypts
  FROM ff1_samples ORDER BY sample;

-- FF1 with a created key: digits stay digits, length and separators stay
SELECT privacy.fpe_encrypt('13812345678', 'c') ~ '^[0-9]{11}$' AS digits,
       privacy.fpe_encrypt('138-1234-5678', 'c') ~ '^[0-9]{3}-[0-9]{4}-[0-9]{4}$' AS dashes_kept,
       privacy.fpe_decrypt(privacy.fpe_encrypt('138-1234-5678', 'c'), 'c') AS round_trip,
       privacy.fpe_encrypt('13812345678', 'c') = privacy.fpe_encrypt('13812345678', 'c') AS deterministic,
       privacy.fpe_encrypt('13812345678', 'c') <> privacy.fpe_encrypt('13812345678', 'c', 'tweak') AS tweak_matters;
SELECT privacy.fpe_decrypt(privacy.fpe_encrypt('电话 138 1234 5678', 'c'), 'c') AS utf8_kept,
       left(privacy.fpe_encrypt('电话 138 1234 5678', 'c'), 3) AS prefix,
       privacy.fpe_decrypt(privacy.fpe_encrypt('11010519900101123X', 'c'), 'c') AS id_with_x,
       right(privacy.fpe_encrypt('11010519900101123X', 'c'), 1) AS x_kept,
       privacy.fpe_decrypt(privacy.fpe_encrypt('ab12cd34', 'c', '', 36), 'c', '', 36) AS radix36,
       privacy.fpe_decrypt(privacy.fpe_encrypt('AbC123xyZ', 'c', '', 62), 'c', '', 62) AS radix62;
SELECT privacy.fpe_decrypt(privacy.fpe_encrypt(repeat('9', 38), 'c'), 'c') = repeat('9', 38) AS longest_radix10;
-- FF1 errors
SELECT try($$SELECT privacy.fpe_encrypt('12345', 'c')$$);
SELECT try($$SELECT privacy.fpe_encrypt('ab-cd', 'c')$$);
SELECT try($$SELECT privacy.fpe_encrypt('abc', 'c', '', 36)$$);
SELECT try($$SELECT privacy.fpe_encrypt(repeat('1', 39), 'c')$$);
SELECT try($$SELECT privacy.fpe_encrypt(repeat('a', 25), 'c', '', 36)$$);
SELECT try($$SELECT privacy.fpe_encrypt('13812345678', 'c', '', 16)$$);
SELECT try($$SELECT privacy.fpe_encrypt('13812345678', 'c', repeat('t', 257))$$);
SELECT privacy.fpe_encrypt(NULL, 'c') IS NULL AS strict;

-- RFC 5297 A.1 and A.2, verbatim; the output is a 5-byte header, then SIV || C
SELECT privacy.import_key('siv-a1', '\xfffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff', 'aes-siv');
SELECT privacy.import_key('siv-a2', '\x7f7e7d7c7b7a79787776757473727170404142434445464748494a4b4c4d4e4f', 'aes-siv');
SELECT substr(ct, 6) AS a1_output,
       substr(ct, 6) = '\x85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c'::bytea AS matches_rfc,
       privacy.decrypt_deterministic_bytea(ct, 'siv-a1', ARRAY['\x101112131415161718191a1b1c1d1e1f2021222324252627'::bytea]) AS plaintext
  FROM (SELECT privacy.encrypt_deterministic('\x112233445566778899aabbccddee'::bytea, 'siv-a1',
               ARRAY['\x101112131415161718191a1b1c1d1e1f2021222324252627'::bytea]) AS ct) s;
SELECT substr(ct, 6) = '\x7bdb6e3b432667eb06f4d14bff2fbd0fcb900f2fddbe404326601965c889bf17dba77ceb094fa663b7a3f748ba8af829ea64ad544a272e9c485b62a3fd5c0d'::bytea AS a2_matches_rfc,
       convert_from(privacy.decrypt_deterministic_bytea(ct, 'siv-a2', ad), 'UTF8') AS plaintext
  FROM (SELECT ARRAY['\x00112233445566778899aabbccddeeffdeaddadadeaddadaffeeddccbbaa99887766554433221100'::bytea,
                     '\x102030405060708090a0', '\x09f911029d74e35bd84156c5635688c0'] AS ad) a,
       LATERAL (SELECT privacy.encrypt_deterministic('\x7468697320697320736f6d6520706c61696e7465787420746f20656e6372797074207573696e67205349562d414553'::bytea,
                       'siv-a2', a.ad) AS ct) s;
-- deterministic: equal inputs, equal outputs; UTF-8 text round trip
SELECT privacy.encrypt_deterministic('张三', 'c') = privacy.encrypt_deterministic('张三', 'c') AS deterministic,
       privacy.encrypt_deterministic('张三', 'c') <> privacy.encrypt_deterministic('张四', 'c') AS distinct_values,
       privacy.decrypt_deterministic(privacy.encrypt_deterministic('张三', 'c'), 'c') AS round_trip,
       privacy.encrypt_deterministic('x', 'c', ARRAY['a'::bytea]) <> privacy.encrypt_deterministic('x', 'c') AS ad_matters;
-- tampering, truncation, wrong associated data, wrong key: refused, nothing returned
SELECT privacy.encrypt_deterministic('secret', 'c') AS siv_ct \gset
SELECT try(format($$SELECT privacy.decrypt_deterministic(%L::bytea, 'c')$$,
                  set_byte(:'siv_ct'::bytea, 10, get_byte(:'siv_ct'::bytea, 10) # 1)));
SELECT try(format($$SELECT privacy.decrypt_deterministic(%L::bytea, 'c', ARRAY['x'::bytea])$$, :'siv_ct'));
SELECT try(format($$SELECT privacy.decrypt_deterministic(%L::bytea, 'siv-a1')$$, :'siv_ct'));
-- the empty value: OpenSSL 3.0's AES-SIV refuses it (openssl/openssl#17268), so its
-- tag is RFC 5297's S2V computed by privacy itself (found by the fuzz harness;
-- test/fuzz checks that S2V against OpenSSL on other lengths and against A.1)
SELECT privacy.encrypt_deterministic('', 'c') = privacy.encrypt_deterministic('', 'c') AS deterministic,
       length(privacy.encrypt_deterministic('', 'c')) AS bytes,
       privacy.decrypt_deterministic(privacy.encrypt_deterministic('', 'c'), 'c') = '' AS round_trip,
       privacy.decrypt_deterministic_bytea(privacy.encrypt_deterministic(''::bytea, 'c'), 'c') = ''::bytea AS round_trip_bytea,
       privacy.encrypt_deterministic('', 'c') <> privacy.encrypt_deterministic('', 'c', ARRAY['x'::bytea]) AS bound_to_ad,
       privacy.decrypt_deterministic(privacy.encrypt_deterministic('', 'c', ARRAY['x'::bytea, ''::bytea]), 'c',
                                     ARRAY['x'::bytea, ''::bytea]) = '' AS round_trip_with_ad,
       privacy.encrypt_deterministic('', 'c') <> privacy.encrypt_deterministic(' ', 'c') AS differs_from_a_space;
SELECT try(format($$SELECT privacy.decrypt_deterministic(%L::bytea, 'c')$$,
                  set_byte(privacy.encrypt_deterministic('', 'c'), 12, get_byte(privacy.encrypt_deterministic('', 'c'), 12) # 1)));
SELECT try(format($$SELECT privacy.decrypt_deterministic(%L::bytea, 'c', ARRAY['x'::bytea])$$,
                  privacy.encrypt_deterministic('', 'c')));
SELECT try($$SELECT privacy.decrypt_deterministic('\x0200', 'c')$$);
SELECT try($$SELECT privacy.encrypt_deterministic('x', 'c', ARRAY[NULL::bytea])$$);
SELECT try($$SELECT privacy.encrypt_deterministic('x', 'c', ARRAY[['a'::bytea], ['b'::bytea]])$$);

-- AES-256-GCM: random nonce, version in the header, tamper detection
SELECT privacy.decrypt(privacy.encrypt('13812345678', 'c'), 'c') AS round_trip,
       privacy.decrypt(privacy.encrypt('张三 🙂', 'c'), 'c') AS utf8,
       privacy.decrypt_bytea(privacy.encrypt('\x00ff10'::bytea, 'c'), 'c') AS bytes,
       privacy.encrypt('x', 'c') <> privacy.encrypt('x', 'c') AS randomized,
       length(privacy.encrypt('x', 'c')) AS bytes_for_one_char,
       get_byte(privacy.encrypt('x', 'c'), 0) AS format,
       privacy.decrypt(privacy.encrypt('', 'c'), 'c') = '' AS empty_ok;
SELECT privacy.encrypt('secret', 'c') AS gcm_ct \gset
SELECT try(format($$SELECT privacy.decrypt(%L::bytea, 'c')$$,
                  set_byte(:'gcm_ct'::bytea, 20, get_byte(:'gcm_ct'::bytea, 20) # 1)));
SELECT try(format($$SELECT privacy.decrypt(%L::bytea, 'c')$$,
                  substr(:'gcm_ct'::bytea, 1, length(:'gcm_ct'::bytea) - 1)));
SELECT try(format($$SELECT privacy.decrypt(%L::bytea, 'c')$$, overlay(:'gcm_ct'::bytea placing '\x00000009' from 2)));
SELECT try($$SELECT privacy.decrypt('\x01', 'c')$$);
SELECT try(format($$SELECT privacy.decrypt(%L::bytea, 'c')$$, :'siv_ct'));
SELECT try($$SELECT privacy.decrypt(privacy.encrypt('\xff'::bytea, 'c'), 'c')$$);
SELECT privacy.decrypt(NULL, 'c') IS NULL AS strict;

-- rotation: new values use the new version, old ones still decrypt
SELECT privacy.encrypt('before rotation', 'c') AS old_ct,
       privacy.encrypt_deterministic('before rotation', 'c') AS old_det,
       privacy.pseudonym('before rotation', 'c') AS old_ps \gset
SELECT privacy.rotate_key('c');
SELECT get_byte(:'old_ct'::bytea, 4) AS old_version,
       get_byte(privacy.encrypt('after', 'c'), 4) AS new_version,
       privacy.decrypt(:'old_ct'::bytea, 'c') AS old_decrypts,
       privacy.decrypt_deterministic(:'old_det'::bytea, 'c') AS old_det_decrypts,
       privacy.encrypt_deterministic('before rotation', 'c') <> :'old_det'::bytea AS det_changes,
       privacy.pseudonym('before rotation', 'c') <> :'old_ps' AS pseudonym_changes;

-- pseudonyms: RFC 4231 test case 1 (HMAC-SHA-256), and the text/bytea forms agree
SELECT privacy.import_key('rfc4231', '\x0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b', 'hmac-sha256');
SELECT privacy.pseudonym('Hi There', 'rfc4231') AS tc1,
       privacy.pseudonym('Hi There', 'rfc4231') = 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7' AS matches_rfc,
       encode(privacy.pseudonym('\x4869205468657265'::bytea, 'rfc4231'), 'hex') = privacy.pseudonym('Hi There', 'rfc4231') AS bytea_agrees;
SELECT length(privacy.pseudonym('13812345678', 'c')) AS hex_chars,
       privacy.pseudonym('13812345678', 'c') ~ '^[0-9a-f]{64}$' AS lower_hex,
       privacy.pseudonym('张三', 'c') = privacy.pseudonym('张三', 'c') AS deterministic,
       privacy.pseudonym('', 'c') <> privacy.pseudonym(' ', 'c') AS distinct_values,
       privacy.pseudonym(NULL::text, 'c') IS NULL AS strict;
-- the same pseudonym in another session (no per-session salt)
SELECT privacy.pseudonym('13812345678', 'c') AS ps \gset
\c -
SELECT privacy.pseudonym('13812345678', 'c') = :'ps' AS same_in_new_session;

-- per-subject keys and crypto-shredding
SELECT privacy.subject_encrypt('9000000001', '110105199001011234') AS s1,
       privacy.subject_encrypt('9000000002', '110105199001015678') AS s2 \gset
SELECT privacy.subject_decrypt('9000000001', :'s1') AS user1, privacy.subject_decrypt('9000000002', :'s2') AS user2,
       get_byte(:'s1'::bytea, 0) AS format;
SELECT try(format($$SELECT privacy.subject_decrypt('9000000002', %L::bytea)$$, :'s1'));
SELECT try($$SELECT privacy.subject_decrypt('9000000009', privacy.encrypt('x', 'c'))$$);
SELECT try(format($$SELECT privacy.subject_decrypt('9000000009', %L::bytea)$$, :'s1'));
-- the keys are files in privacy.subject_key_dir, one per subject, named by its
-- pseudonym; the database holds none (the directory may hold other databases'
-- files too: count this test's subjects)
SELECT count(*) AS key_files FROM pg_ls_dir(current_setting('privacy.subject_key_dir')) f
 WHERE f IN (SELECT privacy.subject_pseudonym(s) || '.key' FROM unnest(ARRAY['9000000001', '9000000002']) s);
SELECT bool_or(f = privacy.subject_pseudonym('9000000001') || '.key') AS named_by_pseudonym
  FROM pg_ls_dir(current_setting('privacy.subject_key_dir')) f;
SELECT (pg_stat_file(current_setting('privacy.subject_key_dir') || '/' || privacy.subject_pseudonym('9000000001') || '.key')).size AS wrapped_bytes;
SELECT count(*) AS tombstones FROM privacy.shredded_subject;
-- a shred that rolls back destroys nothing: the key file goes only at commit
BEGIN;
SELECT privacy.shred_subject('9000000001') AS destroyed_in_transaction;
SELECT try(format($$SELECT privacy.subject_decrypt('9000000001', %L::bytea)$$, :'s1'));
SELECT privacy.sweep_subject_keys() AS not_swept_before_commit;
ROLLBACK;
SELECT privacy.subject_decrypt('9000000001', :'s1') AS after_rollback;
BEGIN;
SAVEPOINT sp;
SELECT privacy.shred_subject('9000000001') AS destroyed_in_savepoint;
ROLLBACK TO SAVEPOINT sp;
COMMIT;
SELECT privacy.subject_decrypt('9000000001', :'s1') AS after_savepoint_rollback;
-- a shred cannot be prepared for two-phase commit
BEGIN;
SELECT privacy.shred_subject('9000000001') AS shred;
PREPARE TRANSACTION 'shred';
ROLLBACK;
SELECT privacy.subject_decrypt('9000000001', :'s1') AS after_refused_prepare;
-- committed: the key file is gone, a tombstone stays
SELECT privacy.shred_subject('9000000001') AS destroyed, privacy.shred_subject('9000000001') AS again,
       privacy.shred_subject('9000000099') AS unknown;
-- a subject that is no value of its kind (person: integer SUBJECT columns here) is refused, not shredded
SELECT try($$SELECT privacy.shred_subject('never-seen')$$);
SELECT try(format($$SELECT privacy.subject_decrypt('9000000001', %L::bytea)$$, :'s1'));
SELECT try($$SELECT privacy.subject_encrypt('9000000001', 'new data')$$);
SELECT privacy.subject_decrypt('9000000002', :'s2') AS other_subject_unaffected;
SELECT privacy.subject_decrypt_bytea('9000000002', privacy.subject_encrypt('9000000002', '\x00ff10'::bytea)) AS subject_bytes;
SELECT try($$SELECT privacy.subject_decrypt('9000000002', privacy.subject_encrypt('9000000002', '\xff'::bytea))$$);
SELECT count(*) AS key_files FROM pg_ls_dir(current_setting('privacy.subject_key_dir')) f
 WHERE f IN (SELECT privacy.subject_pseudonym(s) || '.key' FROM unnest(ARRAY['9000000001', '9000000002']) s);
SELECT count(*) AS tombstones FROM privacy.shredded_subject;
SELECT privacy.sweep_subject_keys() AS nothing_to_sweep;
-- the key directory: every problem has its own error
SET privacy.subject_key_dir = '';
SELECT try($$SELECT privacy.subject_encrypt('9000000003', 'x')$$);
SET privacy.subject_key_dir = 'no/such/dir';
SELECT try($$SELECT privacy.subject_encrypt('9000000003', 'x')$$);
SET privacy.subject_key_dir = 'PG_VERSION';
SELECT try($$SELECT privacy.subject_encrypt('9000000003', 'x')$$);
SET privacy.subject_key_dir = 'base';
SELECT try($$SELECT privacy.subject_encrypt('9000000003', 'x')$$);
RESET privacy.subject_key_dir;
SELECT privacy.subject_decrypt('9000000002', :'s2') AS works_again;
-- receipts name the subject by its keyed pseudonym, never the subject key
SELECT object = 'subject ' || privacy.subject_pseudonym('9000000001') AS named_by_pseudonym, detail
  FROM privacy.audit_log WHERE kind = 'shred' ORDER BY seq LIMIT 1;
SELECT count(*) AS audit_entries_with_subject FROM privacy.audit_log
 WHERE object LIKE '%9000000001%' OR detail::text LIKE '%9000000001%';

-- date_shift: one amount per subject, within the bound
SELECT privacy.date_shift('2026-01-01', 'user-1', 30, 'c') - date '2026-01-01'
     = privacy.date_shift('2020-06-15', 'user-1', 30, 'c') - date '2020-06-15' AS same_shift,
       abs(privacy.date_shift('2026-01-01', 'user-1', 30, 'c') - date '2026-01-01') <= 30 AS within_bound,
       (SELECT count(DISTINCT privacy.date_shift('2026-01-01', 'user-' || i, 30, 'c')) FROM generate_series(1, 50) i) > 20 AS varies_by_subject,
       privacy.date_shift('infinity', 'user-1', 30, 'c') AS infinite_kept;
SELECT try($$SELECT privacy.date_shift('2026-01-01', 'user-1', 0, 'c')$$);
SELECT try($$SELECT privacy.date_shift('2026-01-01', 'user-1', 4000, 'c')$$);

-- no error message carries key material, a plaintext or a subject
CREATE TEMP TABLE messages AS
SELECT m FROM (VALUES
    (try($$SELECT privacy.fpe_encrypt('12345', 'ff1-aes128')$$)),
    (try($$SELECT privacy.decrypt('\x010000000100000000000000000000000000000000000000000000000000', 'c')$$)),
    (try($$SELECT privacy.import_key('dup', '\x2B7E151628AED2A6ABF7158809CF4F3C', 'aes-gcm')$$)),
    (try($$SELECT privacy.import_key('ff1-aes128', '\x2B7E151628AED2A6ABF7158809CF4F3C', 'ff1')$$)),
    (try($$SELECT privacy.pseudonym('13812345678', 'ff1-aes128')$$)),
    (try($$SELECT privacy.subject_encrypt('9000000001', '13812345678')$$)),
    (try($$SELECT privacy.fpe_encrypt('13812345678', 'nosuch')$$))) v(m);
SELECT count(*) AS messages,
       count(*) FILTER (WHERE m ILIKE '%2b7e1516%' OR m LIKE '%13812345678%' OR m LIKE '%9000000001%') AS leaking
  FROM messages;

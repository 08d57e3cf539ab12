-- test/upgrade/observe.sql: what a user's database holds and answers, printed
-- before ALTER EXTENSION privacy UPDATE and after it; the two must be equal.
-- Every table of schema privacy and public, by the columns the table had
-- before the update (public.columns_then, written by the first run), and
-- the answers: ciphertexts decrypted, pseudonyms, consents at past moments,
-- the audit chain, labels, inventory, tombstones.
\set ON_ERROR_STOP on
\pset pager off
SET client_min_messages = warning;
SET search_path = public, pg_catalog;
SELECT to_regclass('public.columns_then') IS NULL AS first \gset
\if :first
CREATE TABLE public.columns_then AS
SELECT c.oid::regclass::text AS rel, string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) AS cols
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace IN ('privacy'::regnamespace, 'public'::regnamespace) AND c.relkind IN ('r', 'p')
   AND c.relname NOT IN ('columns_then')
 GROUP BY c.oid;
\endif
CREATE FUNCTION pg_temp.rows_of(rel text, cols text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE res text;
BEGIN
    EXECUTE format('SELECT count(*) || '' rows, md5 '' || md5(COALESCE(string_agg(r::text, E''\n'' ORDER BY r::text), '''')) FROM (SELECT %s FROM %s) r', cols, rel)
       INTO res;
    RETURN res;
END $$;
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- the value a query returns, or its error
CREATE FUNCTION pg_temp.value(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v text;
BEGIN
    EXECUTE query INTO v;
    RETURN v;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
\echo == rows of every table
SELECT rel, pg_temp.rows_of(rel, cols) FROM public.columns_then ORDER BY rel COLLATE "C";
\echo == ciphertexts decrypted
SELECT n, kind, plain, CASE kind
        WHEN 'gcm' THEN COALESCE(privacy.decrypt(cipher, CASE WHEN n = 8 THEN 'k2' ELSE 'k1' END), '')
        WHEN 'siv' THEN privacy.decrypt_deterministic(cipher, 'k2', ARRAY['users'::bytea])
        WHEN 'subject' THEN pg_temp.value(format('SELECT privacy.subject_decrypt(%L, %L::bytea)', CASE WHEN n = 3 THEN '1' ELSE '2' END, cipher))
        WHEN 'fpe' THEN privacy.fpe_decrypt(cipher_text, 'k2', 'phone')
        WHEN 'fpe int' THEN privacy.fpe_decrypt(cipher_int, 'k2', 0, 99999)::text END AS decrypted
  FROM public.secret ORDER BY n;
SELECT n, kind, CASE kind WHEN 'siv' THEN (privacy.encrypt_deterministic(plain, 'k2', ARRAY['users'::bytea]) = cipher)::text
                          ELSE privacy.fpe_encrypt(plain, 'k2', 'phone') END AS encrypted_again
  FROM public.secret WHERE kind IN ('siv', 'fpe') ORDER BY n;
\echo == pseudonyms
SELECT n, COALESCE(privacy.pseudonym(value, key), privacy.subject_pseudonym(value)) = pseudonym AS unchanged
  FROM public.pseudonym_then ORDER BY n;
\echo == consents at the moments of the fill, and now
SELECT m.n, s.subject, p.purpose, privacy.has_consent(s.subject, p.purpose, m.at)
  FROM public.moment m, (VALUES ('1'), ('2'), ('3'), ('4')) s(subject), (VALUES ('newsletter'), ('marketing')) p(purpose)
 ORDER BY 1, 2, 3;
SELECT s.subject, p.purpose, privacy.has_consent(s.subject, p.purpose)
  FROM (VALUES ('1'), ('2'), ('3'), ('4')) s(subject), (VALUES ('newsletter'), ('marketing')) p(purpose)
 ORDER BY 1, 2;
\echo == the audit chain
SELECT valid, entries, first_broken, problem FROM privacy.verify_audit_log();
\echo == labels, inventory, keys, holds, requests, retention log
SELECT relation::text, column_name, label, category, mask, retain, retain_after, on_cancel FROM privacy.labels ORDER BY 1, 2 NULLS FIRST;
SELECT table_name::text, column_name, category, sensitive, subject_path, retention, on_cancel, mask FROM privacy.inventory ORDER BY 1, 2;
SELECT name, current_version, versions FROM privacy.keys ORDER BY 1;
SELECT id, kind, status, due_at IS NOT NULL AS due FROM privacy.request ORDER BY id;
SELECT relation::text, rows, error FROM privacy.retention_log ORDER BY 1;
\echo == tombstones refuse
SELECT count(*) AS tombstones FROM privacy.cancelled_subject WHERE subject_id = privacy.subject_pseudonym('2');
BEGIN;
SELECT pg_temp.try($$INSERT INTO users VALUES (2, '13800000002', NULL, NULL, now())$$) AS insert_cancelled;
SELECT action FROM privacy.cancel_subject('2', dry_run => true) ORDER BY 1;
ROLLBACK;

-- test/bench/bench.sql: the cases of `make bench` (see doc/benchmarks.md)
\pset footer off
SET client_min_messages = warning;
-- one backend, no parallel workers: every case runs the same way
SET max_parallel_workers_per_gather = 0;
SET jit = off;
CREATE EXTENSION privacy;
CREATE EXTENSION pgcrypto;
SELECT privacy.create_key('bench') \gset


CREATE TABLE results (n serial, name text, rows bigint, ms numeric, baseline text, baseline_ms numeric,
                      ratio numeric, goal text, met boolean);
-- the case and its baseline alternate (warm-up, then 7 timed runs each), so
-- that a slow moment of the machine weighs on both alike; medians
CREATE FUNCTION bench(name text, rows bigint, q text, baseline text, bq text, goal text, cmp text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    ts float8[] := '{}';
    bts float8[] := '{}';
    ms numeric;
    bms numeric;
    r numeric;
    met boolean;
BEGIN
    EXECUTE q;
    EXECUTE bq;
    FOR i IN 1..7 LOOP
        t0 := clock_timestamp();
        EXECUTE q;
        ts := ts || extract(epoch FROM clock_timestamp() - t0) * 1000;
        t0 := clock_timestamp();
        EXECUTE bq;
        bts := bts || extract(epoch FROM clock_timestamp() - t0) * 1000;
    END LOOP;
    ms := round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(ts) x)::numeric, 1);
    bms := round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(bts) x)::numeric, 1);
    r := round(ms / nullif(bms, 0), 2);
    EXECUTE format('SELECT %s', replace(cmp, 'ratio', r::text)) INTO met;
    INSERT INTO results (name, rows, ms, baseline, baseline_ms, ratio, goal, met)
    VALUES (name, rows, ms, baseline, bms, r, goal, met);
END
$$;

\echo == data: 1,000,000 short strings and 11-digit phone numbers
CREATE TABLE strings AS
    SELECT 'user-' || i AS s, convert_to('user-' || i, 'UTF8') AS b,
           (13800000000 + i * 7)::text AS phone, convert_to((13800000000 + i * 7)::text, 'UTF8') AS phone_b
      FROM generate_series(1, 1000000) i;
VACUUM ANALYZE strings;
CREATE TABLE phones AS SELECT phone, phone_b FROM strings LIMIT 100000;
VACUUM ANALYZE phones;

\echo == running (each case and its baseline alternately: a warm-up, then 7 timed runs each; medians)
SELECT bench('pseudonym, 1M strings', 1000000,
    $$SELECT count(privacy.pseudonym(s, 'bench')) FROM strings$$,
    'pgcrypto hmac(text, key, sha256)',
    $$SELECT count(hmac(s, 'bench-key-of-thirty-two-bytes!!!', 'sha256')) FROM strings$$,
    'throughput >= 2.5x: ratio <= 0.40', 'ratio <= 0.40') \gset
SELECT bench('pseudonym, 1M strings', 1000000,
    $$SELECT count(privacy.pseudonym(s, 'bench')) FROM strings$$,
    'builtin sha256(bytea)',
    $$SELECT count(sha256(b)) FROM strings$$,
    'no slower: ratio <= 1.00', 'ratio <= 1.00') \gset
SELECT bench('fpe_encrypt, 100k 11-digit strings', 100000,
    $$SELECT count(privacy.fpe_encrypt(phone, 'bench')) FROM phones$$,
    'pgcrypto encrypt(bytea, key, aes)',
    $$SELECT count(encrypt(phone_b, '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'aes')) FROM phones$$,
    'at most 3x its time: ratio <= 3.00', 'ratio <= 3.00') \gset
SELECT bench('mask_phone, 1M numbers', 1000000,
    $$SELECT count(privacy.mask_phone(phone)) FROM strings$$,
    'left(p,3)||''****''||right(p,4)',
    $$SELECT count(left(phone, 3) || '****' || right(phone, 4)) FROM strings$$,
    'faster: ratio < 1.00', 'ratio < 1.00') \gset
-- personal data inside free text: 100,000 support tickets of about 80 characters,
-- each with a phone number, one in four an e-mail address; mask_text looks
-- for phones, ID numbers, e-mail addresses and cards, the baseline replaces
-- phone numbers only, with one regular expression
CREATE TABLE tickets AS
    SELECT '工单 ' || i || ': 客户来电 ' || (13800000000 + i * 7)::text || '，订单 ' || (100000000000 + i)::text || ' 未送达。'
           || CASE WHEN i % 4 = 0 THEN ' Reply to user' || i || '@example.com.' ELSE '' END AS body
      FROM generate_series(1, 100000) i;
VACUUM ANALYZE tickets;
SELECT bench('mask_text, 100k tickets', 100000,
    $$SELECT count(privacy.mask_text(body)) FROM tickets$$,
    'regexp_replace of phone numbers only',
    $$SELECT count(regexp_replace(body, '(1[3-9][0-9])[0-9]{4}([0-9]{4})', '\1****\2', 'g')) FROM tickets$$,
    'faster: ratio < 1.00', 'ratio < 1.00') \gset
SELECT bench('encrypt (AES-256-GCM), 100k', 100000,
    $$SELECT count(privacy.encrypt(phone, 'bench')) FROM phones$$,
    'pgcrypto pgp_sym_encrypt',
    $$SELECT count(pgp_sym_encrypt(phone, 'bench-password')) FROM phones$$,
    'informational', 'true') \gset

\echo == purpose views: 1,000,000 rows, 100,000 subjects, half of them consented
CREATE TABLE visits (id bigint PRIMARY KEY, user_id int NOT NULL, email text, phone text, note text);
INSERT INTO visits SELECT i, 1 + (i % 100000), 'user' || (i % 100000) || '@example.com',
                          (13800000000 + i % 100000)::text, 'note ' || i
  FROM generate_series(1, 1000000) i;
CREATE INDEX ON visits (user_id);
SECURITY LABEL FOR privacy ON COLUMN visits.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN visits.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN visits.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN visits.note IS 'CATEGORY content.feedback';
-- consent data straight into the table the views read (the ledger is not read by views)
INSERT INTO privacy.consent (subject, purpose, granted_at, policy_version, by_guardian)
SELECT i::text, 'marketing', now(), NULL, false FROM generate_series(1, 100000, 2) i;
VACUUM ANALYZE visits;
VACUUM ANALYZE privacy.consent;
SELECT privacy.create_purpose_view('visits', 'marketing') \gset
SELECT bench('purpose view count(*), 1M rows', 1000000,
    $$SELECT count(*) FROM visits_marketing$$,
    'hand-written query over the same consent data',
    $$SELECT count(*) FROM visits t WHERE EXISTS (SELECT 1 FROM privacy.consent c
        WHERE c.subject_key = t.user_id AND c.purpose = 'marketing')$$,
    'at most 1.2x: ratio <= 1.20', 'ratio <= 1.20') \gset
SELECT bench('purpose view full scan, 1M rows', 1000000,
    $$SELECT sum(length(email)), sum(length(phone)), count(note) FROM visits_marketing$$,
    'hand-written query over the same consent data',
    $$SELECT sum(length(email)), sum(length(phone)), count(NULL::text) FROM visits t WHERE EXISTS (SELECT 1 FROM privacy.consent c
        WHERE c.subject_key = t.user_id AND c.purpose = 'marketing')$$,
    'at most 1.2x: ratio <= 1.20', 'ratio <= 1.20') \gset
-- against the table itself (#20): what filtering by consent costs at all
SELECT bench('purpose view count(*), 1M rows', 1000000,
    $$SELECT count(*) FROM visits_marketing$$,
    'the table itself',
    $$SELECT count(*) FROM visits$$,
    'at most 2x: ratio <= 2.00', 'ratio <= 2.00') \gset
SELECT bench('purpose view full scan, 1M rows', 1000000,
    $$SELECT sum(length(email)), sum(length(phone)), count(note) FROM visits_marketing$$,
    'the table itself',
    $$SELECT sum(length(email)), sum(length(phone)), count(note) FROM visits$$,
    'at most 2x: ratio <= 2.00', 'ratio <= 2.00') \gset

\echo == minors without a guardian's consent: 100,000 accounts, one in ten a minor (half of them with a guardian's consent to service, a quarter with their own marketing consent)
CREATE TABLE mb_accounts (id bigint PRIMARY KEY, phone text, born date);
SECURITY LABEL FOR privacy ON COLUMN mb_accounts.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN mb_accounts.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN mb_accounts.born IS 'CATEGORY identity.birth_date';
INSERT INTO mb_accounts SELECT i, (13800000000 + i)::text,
       CASE WHEN i % 10 = 0 THEN current_date - 365 * 8 - i % 1000 ELSE date '1960-01-01' + i % 15000 END
  FROM generate_series(1, 100000) i;
INSERT INTO privacy.consent (subject, purpose, granted_at, policy_version, by_guardian)
SELECT i::text, 'service', now(), NULL, true FROM generate_series(20, 100000, 20) i;
INSERT INTO privacy.consent (subject, purpose, granted_at, policy_version, by_guardian)
SELECT i::text, 'marketing', now(), NULL, false FROM generate_series(40, 100000, 40) i;
VACUUM ANALYZE mb_accounts;
VACUUM ANALYZE privacy.consent;
SELECT bench('minors_without_guardian_consent, 100k accounts', 100000,
    $$SELECT count(*) FROM privacy.minors_without_guardian_consent('mb_accounts')$$,
    'hand-written query over the same tables',
    $$SELECT count(*) FROM (SELECT a.id FROM mb_accounts a
                             WHERE a.born > (now() - make_interval(years => current_setting('privacy.minor_age')::int))::date) m
        CROSS JOIN (SELECT d.name, d.legal_basis FROM privacy.purpose d WHERE d.legal_basis IN ('consent', 'contract')) p
        LEFT JOIN privacy.consent c ON c.subject_key = m.id AND c.purpose = p.name AND c.subject_kind = 'person'
       WHERE (c.subject IS NULL OR NOT c.by_guardian) AND (p.legal_basis <> 'consent' OR c.subject IS NOT NULL)$$,
    'at most 2x: ratio <= 2.00', 'ratio <= 2.00') \gset
SELECT bench('is_minor() per account, 1,000 accounts', 1000,
    $$SELECT count(*) FROM mb_accounts WHERE id <= 1000 AND privacy.is_minor(id::text)$$,
    'minors_without_guardian_consent over all 100k',
    $$SELECT count(*) FROM privacy.minors_without_guardian_consent('mb_accounts')$$,
    'informational', 'true') \gset
SELECT name AS "case", rows, ms, baseline, baseline_ms, ratio, goal, CASE WHEN met THEN 'yes' ELSE 'NO' END AS "goal met"
  FROM results ORDER BY n;

\echo == backend memory after 1,000 and after 10,000,000 calls (same backend)
\c -
SET max_parallel_workers_per_gather = 0;
-- warm-up: the first calls and the first look at the memory contexts allocate
-- caches once
SELECT count(privacy.pseudonym('u' || i, 'bench')) + count(privacy.fpe_encrypt((13800000000 + i)::text, 'bench'))
     + count(privacy.mask_phone((13800000000 + i)::text)) AS warm FROM generate_series(1, 1000) i \gset
SELECT sum(total_bytes) AS warm_bytes FROM pg_backend_memory_contexts \gset
SELECT count(privacy.pseudonym('u' || i, 'bench')) FROM generate_series(1, 1000) i \gset
SELECT sum(total_bytes) AS ps_1k FROM pg_backend_memory_contexts \gset
SELECT count(privacy.pseudonym('u' || i, 'bench')) FROM generate_series(1, 10000000) i \gset
SELECT sum(total_bytes) AS ps_10m FROM pg_backend_memory_contexts \gset
SELECT count(privacy.fpe_encrypt((13800000000 + i)::text, 'bench')) FROM generate_series(1, 1000) i \gset
SELECT sum(total_bytes) AS fpe_1k FROM pg_backend_memory_contexts \gset
SELECT count(privacy.fpe_encrypt((13800000000 + i)::text, 'bench')) FROM generate_series(1, 10000000) i \gset
SELECT sum(total_bytes) AS fpe_10m FROM pg_backend_memory_contexts \gset
SELECT count(privacy.mask_phone((13800000000 + i)::text)) FROM generate_series(1, 1000) i \gset
SELECT sum(total_bytes) AS mask_1k FROM pg_backend_memory_contexts \gset
SELECT count(privacy.mask_phone((13800000000 + i)::text)) FROM generate_series(1, 10000000) i \gset
SELECT sum(total_bytes) AS mask_10m FROM pg_backend_memory_contexts \gset
SELECT fn AS "function", after_1k AS "bytes after 1,000 calls", after_10m AS "bytes after 10,000,000 calls",
       after_10m - after_1k AS growth, CASE WHEN after_10m <= after_1k THEN 'yes' ELSE 'NO' END AS "no growth"
  FROM (VALUES ('pseudonym', :ps_1k, :ps_10m), ('fpe_encrypt', :fpe_1k, :fpe_10m),
               ('mask_phone', :mask_1k, :mask_10m)) v(fn, after_1k, after_10m);

-- quiet the server before the pgbench cases: no pending checkpoint or vacuum
-- work from the loads above competing for the cores
VACUUM ANALYZE;
CHECKPOINT;

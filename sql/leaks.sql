-- leaks: runs last.  Every suite before it ran with log_statement = 'all'
-- (test/run-tests.sh), provoking every error path of the extension: bad
-- labels, bad keys, failed decryptions, refused roles, blocked cancellations,
-- malformed journal lines.  The server log must hold no key material: not
-- the master key, not a wrapped key of privacy.key_version, not a subject
-- key file, in hex, base64 or bytea escape form, whole or by their first
-- 12 bytes.
\set VERBOSITY terse
SELECT current_setting('log_statement') AS log_statement, pg_current_logfile() IS NOT NULL AS log_file;
CREATE TEMP TABLE secret AS
SELECT 'master key' AS what, pg_read_binary_file(current_setting('privacy.master_key_file')) AS bytes
UNION ALL
SELECT 'wrapped key', v.wrapped FROM privacy.key_version v
UNION ALL
SELECT 'subject key file', pg_read_binary_file(current_setting('privacy.subject_key_dir') || '/' || f)
  FROM pg_ls_dir(current_setting('privacy.subject_key_dir')) f WHERE f LIKE '%.key';
-- what there is to find (at least one of each; the counts depend on the suites)
SELECT what, count(*) > 0 AS present, min(length(bytes)) >= 32 AS long_enough FROM secret GROUP BY what ORDER BY what;
CREATE TEMP TABLE form AS
SELECT s.what, f.form, f.text
  FROM secret s
 CROSS JOIN LATERAL (VALUES
    ('hex', encode(s.bytes, 'hex')),
    ('hex, first 12 bytes', encode(substr(s.bytes, 1, 12), 'hex')),
    ('base64', replace(encode(s.bytes, 'base64'), E'\n', '')),
    ('base64, first 12 bytes', encode(substr(s.bytes, 1, 12), 'base64')),
    ('escape', encode(s.bytes, 'escape'))) AS f(form, text);
-- the positive controls: these statements are in the log
SELECT 'leaks-marker-' || 'c0ffee' AS marker;
SELECT '\x6c65616b732d636f6e74726f6c'::bytea AS logged_bytea;
-- (the logging collector writes behind us: wait until the last one is there)
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN position(encode('leaks-control'::bytea, 'hex') IN pg_read_file(pg_current_logfile())) > 0;
        PERFORM pg_sleep(0.1);
    END LOOP;
END
$$;
CREATE TEMP TABLE server_log AS SELECT pg_read_file(pg_current_logfile()) AS text;
SELECT position('leaks-marker-'' || ''c0ffee' IN text) > 0 AS control_found,
       length(text) > 100000 AS whole_run_logged
  FROM server_log;
-- and the search finds a logged bytea by its hex form
SELECT position(encode('leaks-control'::bytea, 'hex') IN text) > 0 AS hex_form_found FROM server_log;
-- no secret, in any form, anywhere in the log
SELECT f.what, f.form
  FROM form f, server_log l
 WHERE position(f.text IN l.text) > 0
    OR position(upper(f.text) IN l.text) > 0;

-- check: privacy.check() findings, one situation each, and each fixed
\set VERBOSITY terse
CREATE SCHEMA lint;
-- the findings of this suite's schema and purposes
CREATE FUNCTION lint_findings() RETURNS TABLE (severity text, object text, message text, hint text)
LANGUAGE sql AS $$
    SELECT * FROM privacy.check()
     WHERE object LIKE 'lint.%' OR object LIKE 'purpose lint%' OR object LIKE 'privacy.%'
$$;
SELECT * FROM lint_findings();

-- a users table with its subject column and an ID number kept as text
CREATE TABLE lint.users (id integer, phone text, id_no text);
SECURITY LABEL FOR privacy ON COLUMN lint.users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN lint.users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN lint.users.id_no IS 'CATEGORY identity.id_number';
-- a log with personal data and nothing that says whose it is, kept 30 days
CREATE TABLE lint.access_log (at timestamptz, ip inet);
SECURITY LABEL FOR privacy ON COLUMN lint.access_log.ip IS 'CATEGORY device.ip';
SECURITY LABEL FOR privacy ON TABLE lint.access_log IS 'RETAIN 30 days AFTER at';
-- a column of mobile numbers nobody labelled
CREATE TABLE lint.leads (lead_id integer, mobile text);
INSERT INTO lint.leads SELECT g, '139' || lpad((g * 7919)::text, 8, '0') FROM generate_series(1, 60) g;
-- a purpose that sees no labelled column
SELECT privacy.define_purpose('lint_iris', 'consent', ARRAY['biometric.iris'], 'Iris login');
SELECT * FROM lint_findings();

-- each fixed: the finding goes
CREATE INDEX ON lint.users (id);
ALTER TABLE lint.users ALTER COLUMN id_no TYPE bytea USING convert_to(id_no, 'UTF8');
ALTER TABLE lint.access_log ADD COLUMN user_id integer;
SECURITY LABEL FOR privacy ON COLUMN lint.access_log.user_id IS 'SUBJECT';
CREATE INDEX ON lint.access_log (user_id);
CREATE INDEX ON lint.access_log (at);
SECURITY LABEL FOR privacy ON COLUMN lint.leads.mobile IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN lint.leads.lead_id IS 'SUBJECT';
CREATE INDEX ON lint.leads (lead_id);
SELECT privacy.drop_purpose('lint_iris');
SELECT * FROM lint_findings();

-- a sensitive column over a domain of bytea is not clear text; over text it is
CREATE DOMAIN lint.cipher AS bytea;
CREATE DOMAIN lint.plain AS text;
ALTER TABLE lint.users ADD COLUMN face lint.cipher, ADD COLUMN card lint.plain;
SECURITY LABEL FOR privacy ON COLUMN lint.users.face IS 'CATEGORY biometric.face';
SECURITY LABEL FOR privacy ON COLUMN lint.users.card IS 'CATEGORY financial.bank_account';
SELECT * FROM lint_findings();
SECURITY LABEL FOR privacy ON COLUMN lint.users.card IS NULL;

-- column-level retention needs the index too
ALTER TABLE lint.users ADD COLUMN seen_at timestamptz, ADD COLUMN last_ip inet;
SECURITY LABEL FOR privacy ON COLUMN lint.users.last_ip IS 'CATEGORY device.ip RETAIN 90 days AFTER seen_at THEN ANONYMIZE';
SELECT * FROM lint_findings();
CREATE INDEX ON lint.users (seen_at);

-- where the keys live: every problem of the master key file and the subject
-- key directory is an error, an unset one a warning; no path is shown
SET privacy.master_key_file = 'no/such/file';
SELECT * FROM lint_findings();
SET privacy.master_key_file = 'base';
SELECT * FROM lint_findings();
SET privacy.master_key_file = 'PG_VERSION';
SELECT * FROM lint_findings();
SET privacy.master_key_file = '';
SET privacy.subject_key_dir = 'base';
SELECT * FROM lint_findings();
RESET privacy.master_key_file;
RESET privacy.subject_key_dir;
SELECT * FROM privacy.key_storage_problems();
SELECT * FROM lint_findings();

-- anyone may run it; it reads as the caller: what the caller may not read
-- is judged by its name only
CREATE TABLE lint.people (shouji text);
INSERT INTO lint.people SELECT '139' || lpad((g * 7919)::text, 8, '0') FROM generate_series(1, 30) g;
SELECT * FROM lint_findings();
SET ROLE regress_app;
SELECT * FROM lint_findings();
RESET ROLE;

DROP FUNCTION lint_findings();
DROP SCHEMA lint CASCADE;

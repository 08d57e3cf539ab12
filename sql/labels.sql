-- labels: every clause of the label grammar, as stored and as decoded
\set VERBOSITY terse
SELECT COALESCE(max(seq), 0) AS audit_start FROM privacy.audit_log \gset
SET ROLE regress_owner;
CREATE TABLE users (
    id          bigint PRIMARY KEY,
    phone       text,
    id_number   varchar(18),
    email       text,
    birth_date  date,
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_login  timestamp
);
CREATE TABLE login_log (
    user_id     bigint REFERENCES users,
    ip          inet,
    logged_at   timestamptz NOT NULL
);

-- column labels
SECURITY LABEL FOR privacy ON COLUMN users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN users.email IS 'category Contact.Email';         -- case-insensitive
SECURITY LABEL FOR privacy ON COLUMN users.birth_date IS 'CATEGORY identity.birth_date RETAIN 1 year AFTER created_at';
SECURITY LABEL FOR privacy ON COLUMN login_log.user_id IS '  subject  ';
SECURITY LABEL FOR privacy ON COLUMN login_log.ip IS
    'CATEGORY device.ip RETAIN 30 days AFTER logged_at THEN ANONYMIZE';
-- table labels
SECURITY LABEL FOR privacy ON TABLE users IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON TABLE login_log IS
    'RETAIN 6 months AFTER logged_at ON CANCEL KEEP UNTIL RETENTION';
-- a label is replaced by the next one, and removed with IS NULL
SECURITY LABEL FOR privacy ON COLUMN users.last_login IS 'CATEGORY log.login';
SECURITY LABEL FOR privacy ON COLUMN users.last_login IS 'CATEGORY log.access';
SECURITY LABEL FOR privacy ON COLUMN users.last_login IS NULL;
RESET ROLE;

SELECT objoid::regclass, objsubid, label FROM pg_seclabel
 WHERE provider = 'privacy' ORDER BY objoid::regclass::text, objsubid;
SELECT relation, column_name, subject, category, mask, retain, retain_after, retain_then, on_cancel
  FROM privacy.labels ORDER BY relation::text, column_name NULLS FIRST;
-- the pg_seclabels system view shows them too
SELECT objtype, objname, label FROM pg_seclabels WHERE provider = 'privacy' ORDER BY objname;

-- every clause and its decoding
SELECT * FROM privacy.parse_label('SUBJECT', false);
SELECT * FROM privacy.parse_label('CATEGORY identity.id_number MASK WITH privacy.mask_id_number', false);
SELECT * FROM privacy.parse_label('CATEGORY x MASK WITH "My Masks"."Mask ""A"""', false);
SELECT * FROM privacy.parse_label('RETAIN 1 year 6 months 2 weeks 3 days 4 hours 5 minutes AFTER "Logged At"', true);
SELECT * FROM privacy.parse_label('RETAIN 3 years AFTER placed_at THEN ANONYMIZE ON CANCEL ANONYMIZE', true);
SELECT * FROM privacy.parse_label('on cancel keep until retention retain 6 MONTHS after logged_at then delete', true);
SELECT * FROM privacy.parse_label('SUBJECT CATEGORY contact.phone', false);

-- label changes are audited: object identity and old and new label, no data
SELECT seq - :audit_start AS n, actor, kind, object, detail
  FROM privacy.audit_log WHERE seq > :audit_start ORDER BY seq;

-- only the owner can label a table (PostgreSQL's own rule)
SET ROLE regress_app;
SECURITY LABEL FOR privacy ON COLUMN users.phone IS 'CATEGORY contact.email';
RESET ROLE;
SELECT privacy.column_label('users', 'phone');

-- names with quotes, semicolons, dollar quotes and newlines reach the audit
-- log only as quoted identifiers
SET ROLE regress_owner;
CREATE TABLE "we""ird; $$ table" ("col
umn; $$ ""x""" text);
SECURITY LABEL FOR privacy ON COLUMN "we""ird; $$ table"."col
umn; $$ ""x""" IS 'CATEGORY content.file';
RESET ROLE;
SELECT object FROM privacy.audit_log ORDER BY seq DESC LIMIT 1;
SELECT relation, column_name, category FROM privacy.labels WHERE category = 'content.file';

-- dropping a labelled column or table removes its labels with it, and that
-- change is audited too; dropping unlabelled ones writes nothing
SET ROLE regress_owner;
CREATE TABLE doomed (id bigint, phone text, note text);
SECURITY LABEL FOR privacy ON COLUMN doomed.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN doomed.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON TABLE doomed IS 'ON CANCEL DELETE';
CREATE TABLE plain_table (x int);
RESET ROLE;
SELECT max(seq) AS before_drops FROM privacy.audit_log \gset
SET ROLE regress_owner;
ALTER TABLE doomed DROP COLUMN phone;
ALTER TABLE doomed DROP COLUMN note;
DROP TABLE doomed, plain_table;
RESET ROLE;
SELECT seq - :before_drops AS n, actor, kind, object, detail FROM privacy.audit_log
 WHERE seq > :before_drops ORDER BY seq;
SELECT valid FROM privacy.verify_audit_log();

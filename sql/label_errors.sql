-- label_errors: every invalid label is refused with its own error, and
-- nothing is stored or audited
SET ROLE regress_owner;
CREATE TABLE accounts (
    id          bigint PRIMARY KEY,
    phone       varchar(20),
    card        text,
    score       integer,
    opened_on   date,
    note        text
);
CREATE VIEW accounts_v AS SELECT id, phone FROM accounts;
CREATE SEQUENCE accounts_seq;
SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'CATEGORY contact.phone';
RESET ROLE;
SELECT COALESCE(max(seq), 0) AS audit_start FROM privacy.audit_log \gset
CREATE TEMP TABLE labels_before AS
    SELECT objoid, objsubid, label FROM pg_seclabel WHERE provider = 'privacy';
SET ROLE regress_owner;

-- grammar
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'CATEGROY contact.phone'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'CATEGORY contact.phone MASKED'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'ON CANCEL DELETE RETAIN 1 year AFTER opened_on PURGE'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS ''$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS '   '$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'CATEGORY'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'CATEGORY contact.'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'CATEGORY 9contact'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'CATEGORY 手机.号'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'CATEGORY contact.phone; DROP TABLE accounts'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'SUBJECT SUBJECT'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'CATEGORY contact.phone CATEGORY contact.email'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'ON CANCEL DELETE ON CANCEL ANONYMIZE'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'ON CANCEL PURGE'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'ON DELETE'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'ON CANCEL KEEP FOREVER'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.card IS 'CATEGORY financial.bank_account MASK privacy.x'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.card IS 'CATEGORY financial.bank_account MASK WITH a.b.c'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.card IS 'CATEGORY financial.bank_account MASK WITH "unterminated'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.card IS 'CATEGORY financial.bank_account MASK WITH ""'$$);
-- clauses in the wrong place
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'SUBJECT'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'CATEGORY contact.phone'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'ON CANCEL DELETE'$$);
-- intervals
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN 3 yeers AFTER opened_on'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN years AFTER opened_on'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN 3 AFTER opened_on'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN AFTER opened_on'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN 0 days AFTER opened_on'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN -1 days AFTER opened_on'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN 1.5 years AFTER opened_on'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN 99999999 years AFTER opened_on'$$);
-- at most 200 years in all: a cutoff of now minus the interval stays a valid time
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN 1000000 years AFTER opened_on'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN 200 years 1 day AFTER opened_on'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN 2401 months AFTER opened_on'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN 200 years AFTER opened_on'$$) AS two_hundred_years;
SECURITY LABEL FOR privacy ON TABLE accounts IS NULL;
-- subject kinds, OWNER and REFERENCE
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'SUBJECT 9lives'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'SUBJECT "Org"'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'SUBJECT org-unit'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'SUBJECT OWNER REFERENCE'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'OWNER'$$);
SELECT * FROM privacy.parse_label('SUBJECT Org_2 ANONYMIZE WITH KEEP', false);
SELECT * FROM privacy.parse_label('CATEGORY contact.phone REFERENCE', false);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN 1 year'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN 1 year AFTER'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN 1 year AFTER opened_on THEN KEEP'$$);
-- the RETAIN column
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN 1 year AFTER opened'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN 1 year AFTER score'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'RETAIN 1 year AFTER ctid'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.note IS 'CATEGORY content.feedback RETAIN 1 year AFTER note'$$);
-- categories
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'CATEGORY contact.fone'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'CATEGORY "contact.phone"'$$);
-- MASK functions
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.card IS 'CATEGORY financial.bank_account MASK WITH mask_card'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.card IS 'CATEGORY financial.bank_account MASK WITH nosuchschema.mask_card'$$);
CREATE FUNCTION public.mask_card(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT '****'$$;
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.card IS 'CATEGORY financial.bank_account MASK WITH public.mask_card'$$);
RESET ROLE;
CREATE SCHEMA masks;
GRANT USAGE ON SCHEMA masks TO PUBLIC;
CREATE FUNCTION masks.card(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT '****' || right($1, 4)$$;
CREATE FUNCTION masks.score(integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'x'$$;
CREATE FUNCTION masks.many(text, integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'x'$$;
CREATE FUNCTION masks.rows(text) RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$SELECT 'x'$$;
CREATE PROCEDURE masks.proc(text) LANGUAGE sql AS $$SELECT 1$$;
SET ROLE regress_owner;
-- not trusted yet
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.card IS 'CATEGORY financial.bank_account MASK WITH masks.card'$$);
RESET ROLE;
SELECT privacy.trust_schema('masks');
SET ROLE regress_owner;
-- wrong argument or return type, wrong arity, set-returning, procedure
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.score IS 'CATEGORY financial.credit MASK WITH masks.card'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.score IS 'CATEGORY financial.credit MASK WITH masks.score'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.card IS 'CATEGORY financial.bank_account MASK WITH masks.many'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.card IS 'CATEGORY financial.bank_account MASK WITH masks.rows'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.card IS 'CATEGORY financial.bank_account MASK WITH masks.proc'$$);
-- combinations that cannot go together
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.card IS 'MASK WITH masks.card'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.id IS 'SUBJECT CATEGORY account.id MASK WITH masks.card'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.id IS 'SUBJECT RETAIN 1 year AFTER opened_on'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.note IS 'RETAIN 1 year AFTER opened_on'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts.note IS 'CATEGORY content.feedback RETAIN 1 year AFTER opened_on THEN DELETE'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE accounts IS 'ON CANCEL KEEP UNTIL RETENTION'$$);
-- objects that cannot carry a privacy label
SELECT try($$SECURITY LABEL FOR privacy ON VIEW accounts_v IS 'ON CANCEL DELETE'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN accounts_v.phone IS 'CATEGORY contact.phone'$$);
SELECT try($$SECURITY LABEL FOR privacy ON SEQUENCE accounts_seq IS 'ON CANCEL DELETE'$$);
SELECT try($$SECURITY LABEL FOR privacy ON FUNCTION public.mask_card(text) IS 'SUBJECT'$$);
SELECT try($$SECURITY LABEL FOR nosuchprovider ON TABLE accounts IS 'SUBJECT'$$);
RESET ROLE;
SELECT try($$SECURITY LABEL FOR privacy ON SCHEMA public IS 'SUBJECT'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE pg_catalog.pg_class IS 'ON CANCEL DELETE'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE privacy.category IS 'ON CANCEL DELETE'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN privacy.audit_log.actor IS 'CATEGORY account.username'$$);

-- nothing was stored, changed or audited by any of the failures above
SELECT count(*) AS changed_labels FROM (
    (SELECT objoid, objsubid, label FROM pg_seclabel WHERE provider = 'privacy'
     EXCEPT SELECT * FROM labels_before)
    UNION ALL
    (SELECT * FROM labels_before
     EXCEPT SELECT objoid, objsubid, label FROM pg_seclabel WHERE provider = 'privacy')) d;
SELECT count(*) AS new_audit_entries FROM privacy.audit_log
 WHERE seq > :audit_start AND kind = 'label';
SELECT privacy.column_label('accounts', 'phone');

-- a valid MASK from a trusted schema, with a binary-coercible column type
SET ROLE regress_owner;
SECURITY LABEL FOR privacy ON COLUMN accounts.card IS 'CATEGORY financial.bank_account MASK WITH masks.card';
SECURITY LABEL FOR privacy ON COLUMN accounts.phone IS 'CATEGORY contact.phone MASK WITH masks.card';
RESET ROLE;
SELECT relation, column_name, category, mask FROM privacy.labels
 WHERE relation = 'accounts'::regclass ORDER BY column_name;
-- a trusted schema in use cannot be distrusted
SELECT try($$SELECT privacy.untrust_schema('masks')$$);
SELECT try($$SELECT privacy.trust_schema('masks')$$);
SELECT try($$SELECT privacy.trust_schema('nosuchschema')$$);
SELECT try($$SELECT privacy.untrust_schema('public')$$);
-- trusting is for superusers only
SET ROLE regress_owner;
SELECT try($$SELECT privacy.trust_schema('public')$$);
RESET ROLE;
SELECT schema_name, trusted_by FROM privacy.trusted_schema;

-- a column named by RETAIN ... AFTER cannot be dropped while the label names it
SET ROLE regress_owner;
CREATE TABLE retained (id bigint, ip inet, seen_at timestamptz, other timestamptz);
SECURITY LABEL FOR privacy ON TABLE retained IS 'RETAIN 6 months AFTER seen_at';
SECURITY LABEL FOR privacy ON COLUMN retained.ip IS 'CATEGORY device.ip RETAIN 30 days AFTER other';
SELECT try($$ALTER TABLE retained DROP COLUMN seen_at$$);
SELECT try($$ALTER TABLE retained DROP COLUMN other CASCADE$$);
SELECT attname FROM pg_attribute WHERE attrelid = 'retained'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
-- once the labels no longer name them, they can go
SECURITY LABEL FOR privacy ON TABLE retained IS NULL;
SECURITY LABEL FOR privacy ON COLUMN retained.ip IS 'CATEGORY device.ip';
ALTER TABLE retained DROP COLUMN seen_at;
ALTER TABLE retained DROP COLUMN other;
DROP TABLE retained;
RESET ROLE;

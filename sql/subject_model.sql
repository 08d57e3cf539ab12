-- subject_model (#19): every case of "What went wrong", with its rows before
-- and after.  The model is doc/cancellation.md#the-model-whose-rows-are-whose.
\set VERBOSITY terse
CREATE SCHEMA sm;

-- 1. order by foreign keys, not by name: a_users and b_msgs, and the same
--    tables named the other way round, cancel alike
CREATE TABLE sm.a_users (id integer PRIMARY KEY, name text);
CREATE TABLE sm.b_msgs (id integer PRIMARY KEY, a integer REFERENCES sm.a_users, b integer REFERENCES sm.a_users, body text);
CREATE TABLE sm.z_users (id integer PRIMARY KEY, name text);
CREATE TABLE sm.y_msgs (id integer PRIMARY KEY, a integer REFERENCES sm.z_users, b integer REFERENCES sm.z_users, body text);
DO $$
DECLARE
    u text;
    m text;
BEGIN
    FOR u, m IN VALUES ('a_users', 'b_msgs'), ('z_users', 'y_msgs') LOOP
        EXECUTE format('SECURITY LABEL FOR privacy ON COLUMN sm.%I.id IS ''SUBJECT''', u);
        EXECUTE format('SECURITY LABEL FOR privacy ON COLUMN sm.%I.name IS ''CATEGORY identity.name''', u);
        EXECUTE format('SECURITY LABEL FOR privacy ON TABLE sm.%I IS ''ON CANCEL DELETE''', u);
        EXECUTE format('SECURITY LABEL FOR privacy ON COLUMN sm.%I.a IS ''SUBJECT''', m);
        EXECUTE format('SECURITY LABEL FOR privacy ON COLUMN sm.%I.b IS ''SUBJECT''', m);
        EXECUTE format('SECURITY LABEL FOR privacy ON COLUMN sm.%I.body IS ''CATEGORY content.message''', m);
        EXECUTE format('SECURITY LABEL FOR privacy ON TABLE sm.%I IS ''ON CANCEL DELETE''', m);
        EXECUTE format('INSERT INTO sm.%I VALUES (8101, ''Ann''), (8102, ''Ben'')', u);
        EXECUTE format('INSERT INTO sm.%I VALUES (1, 8101, 8102, ''Ann to Ben''), (2, 8101, NULL, ''Ann alone''), (3, 8102, 8102, ''Ben to Ben'')', m);
    END LOOP;
END
$$;
SELECT relation, action, rows, detail FROM privacy.cancel_subject('8101') ORDER BY relation::text, action;
SELECT 'b_msgs' AS t, m::text FROM sm.b_msgs m UNION ALL SELECT 'y_msgs', m::text FROM sm.y_msgs m ORDER BY 1, 2;
SELECT (SELECT array_agg(u::text ORDER BY id) FROM sm.a_users u) AS a_users,
       (SELECT array_agg(u::text ORDER BY id) FROM sm.z_users u) AS z_users;

-- 2. other people's rows are not deleted: cancelling a supervisor severs the
--    supervisor_id of the profiles of the people they supervise, and leaves
--    the rest of those rows alone
CREATE TABLE sm.people (id integer PRIMARY KEY, name text);
SECURITY LABEL FOR privacy ON COLUMN sm.people.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN sm.people.name IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON TABLE sm.people IS 'ON CANCEL DELETE';
CREATE TABLE sm.staff_profile (user_id integer PRIMARY KEY REFERENCES sm.people,
                               supervisor_id integer REFERENCES sm.people, work_email text);
SECURITY LABEL FOR privacy ON COLUMN sm.staff_profile.work_email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON TABLE sm.staff_profile IS 'ON CANCEL DELETE';
INSERT INTO sm.people VALUES (8201, 'Boss'), (8202, 'Dee'), (8203, 'Eli');
INSERT INTO sm.staff_profile VALUES (8201, NULL, 'boss@corp.example'), (8202, 8201, 'dee@corp.example'),
                                    (8203, 8201, 'eli@corp.example');
SELECT c.conname, l.owning, l.reason
  FROM privacy.subject_links() l JOIN pg_constraint c ON c.oid = l.con
 WHERE l.child = 'sm.staff_profile'::regclass ORDER BY c.conname;
SELECT relation, action, rows, detail FROM privacy.cancel_subject('8201', dry_run => true) ORDER BY relation::text, action;
SELECT relation, action, rows FROM privacy.cancel_subject('8201') ORDER BY relation::text, action;
SELECT * FROM sm.staff_profile ORDER BY user_id;
SELECT * FROM sm.people ORDER BY id;

-- 3. a SUBJECT label does not cut a table's ownership through its foreign
--    keys: access codes of a device, for a guest's phone (another kind)
CREATE TABLE sm.devices (id integer PRIMARY KEY, owner_id integer NOT NULL REFERENCES sm.people, name text);
SECURITY LABEL FOR privacy ON COLUMN sm.devices.name IS 'CATEGORY device.model';
SECURITY LABEL FOR privacy ON TABLE sm.devices IS 'ON CANCEL DELETE';
CREATE TABLE sm.access_code (id integer PRIMARY KEY, device_id integer NOT NULL REFERENCES sm.devices,
                             guest_phone text, code text);
SECURITY LABEL FOR privacy ON COLUMN sm.access_code.guest_phone IS 'SUBJECT guest CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN sm.access_code.code IS 'CATEGORY credential.token';
SECURITY LABEL FOR privacy ON TABLE sm.access_code IS 'ON CANCEL DELETE';
INSERT INTO sm.devices VALUES (1, 8202, 'front door'), (2, 8203, 'garage');
INSERT INTO sm.access_code VALUES (10, 1, '13900000001', 'c-10'), (11, 1, NULL, 'c-11'), (12, 2, '13900000001', 'c-12');
SELECT relation, subject_relation, hops, kind FROM privacy.subject_path
 WHERE relation::text LIKE 'sm.access_code' ORDER BY kind;
SELECT relation, action, rows, detail FROM privacy.cancel_subject('8202') ORDER BY relation::text, action;
SELECT * FROM sm.access_code ORDER BY id;
SELECT * FROM sm.devices ORDER BY id;
-- the guest's own cancellation, by its kind
SELECT relation, action, rows FROM privacy.cancel_subject('13900000001', kind => 'guest') ORDER BY relation::text, action;
SELECT * FROM sm.access_code ORDER BY id;

-- 4. kinds: customer 51 and organization 51 are two subjects
CREATE TABLE sm.customer (id integer PRIMARY KEY, name text);
SECURITY LABEL FOR privacy ON COLUMN sm.customer.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN sm.customer.name IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON TABLE sm.customer IS 'ON CANCEL DELETE';
CREATE TABLE sm.org (org_id integer PRIMARY KEY, name text);
SECURITY LABEL FOR privacy ON COLUMN sm.org.org_id IS 'SUBJECT org';
SECURITY LABEL FOR privacy ON COLUMN sm.org.name IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON TABLE sm.org IS 'ON CANCEL DELETE';
-- the enterprise case: an employer's account holds its employees' data
CREATE TABLE sm.employee (id integer PRIMARY KEY, org_id integer NOT NULL REFERENCES sm.org, email text);
SECURITY LABEL FOR privacy ON COLUMN sm.employee.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN sm.employee.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON TABLE sm.employee IS 'ON CANCEL DELETE';
CREATE TABLE sm.org_files (id integer PRIMARY KEY, org_id integer NOT NULL REFERENCES sm.org, title text);
SECURITY LABEL FOR privacy ON COLUMN sm.org_files.title IS 'CATEGORY content.file';
SECURITY LABEL FOR privacy ON TABLE sm.org_files IS 'ON CANCEL DELETE';
INSERT INTO sm.customer VALUES (51, 'customer 51'), (52, 'customer 52');
INSERT INTO sm.org VALUES (51, 'org 51'), (52, 'org 52');
INSERT INTO sm.employee VALUES (8301, 51, 'e1@org51.example'), (8302, 51, 'e2@org51.example'), (8303, 52, 'e3@org52.example');
INSERT INTO sm.org_files VALUES (1, 51, 'plan'), (2, 52, 'budget');
SELECT * FROM privacy.subject_kinds WHERE kind IN ('org', 'guest') ORDER BY kind;
SELECT relation, action, rows FROM privacy.cancel_subject('51') ORDER BY relation::text, action;
SELECT (SELECT array_agg(c.id ORDER BY c.id) FROM sm.customer c) AS customers,
       (SELECT array_agg(o.org_id ORDER BY o.org_id) FROM sm.org o) AS orgs;
SELECT try($$INSERT INTO sm.customer VALUES (51, 'back')$$);
INSERT INTO sm.org VALUES (53, 'org 53');    -- organization 51 has no tombstone, nor 53
-- cancelling an employee
SELECT relation, action, rows FROM privacy.cancel_subject('8301') ORDER BY relation::text, action;
-- ending an organization's service: its rows go; its employees' rows are
-- theirs too, so they lose only their link, and the organization's row
-- stays as an anonymous stub while they still point at it
SELECT relation, action, rows, detail FROM privacy.cancel_subject('51', kind => 'org', dry_run => true) ORDER BY relation::text, action;
SELECT relation, action, rows FROM privacy.cancel_subject('51', kind => 'org') ORDER BY relation::text, action;
SELECT * FROM sm.org ORDER BY org_id;
SELECT * FROM sm.employee ORDER BY id;
SELECT * FROM sm.org_files ORDER BY id;
SELECT try($$SELECT * FROM privacy.cancel_subject('51', kind => 'no_such_kind')$$);

-- 5. one spelling per subject: ' 091', '+9' and '0011' are 91, 9 and 11 for
--    consent, tombstone, key and re-insert; a char(n) subject is its whole text
CREATE TABLE sm.acct (id integer PRIMARY KEY, secret bytea);
SECURITY LABEL FOR privacy ON COLUMN sm.acct.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON TABLE sm.acct IS 'ON CANCEL DELETE';
INSERT INTO sm.acct VALUES (91, privacy.subject_encrypt('91', 'ninety-one')), (9, NULL), (11, NULL);
SELECT privacy.grant_consent('91', 'analytics') > 0 AS consented;
SELECT privacy.subject_canonical(s) AS canonical FROM unnest(ARRAY[' 091', '+9', '0011', '91']) s;
SELECT relation, action, rows FROM privacy.cancel_subject(' 091') WHERE relation::text = 'sm.acct';
SELECT relation, action, rows FROM privacy.cancel_subject('+9') WHERE relation::text = 'sm.acct';
SELECT relation, action, rows FROM privacy.cancel_subject('0011') WHERE relation::text = 'sm.acct';
SELECT count(*) AS acct_rows FROM sm.acct;
SELECT privacy.has_consent('91', 'analytics') AS consent_in_force;
SELECT try($$SELECT privacy.subject_decrypt('91', privacy.subject_encrypt('91', 'x'))$$);
SELECT try($$INSERT INTO sm.acct VALUES (91, NULL)$$);
SELECT relation, action, rows, regexp_replace(detail, 'at [^;]*;', 'at <time>;') AS detail FROM privacy.cancel_subject('91');
CREATE TABLE sm.codes (code character(3) PRIMARY KEY, owner_name text);
SECURITY LABEL FOR privacy ON COLUMN sm.codes.code IS 'SUBJECT code';
SECURITY LABEL FOR privacy ON COLUMN sm.codes.owner_name IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON TABLE sm.codes IS 'ON CANCEL DELETE';
INSERT INTO sm.codes VALUES ('a', 'holder of a'), ('abc', 'holder of abc');
SELECT relation, data FROM privacy.export_subject_rows('ab', kind => 'code') WHERE relation::text LIKE 'sm.%';
SELECT relation, data FROM privacy.export_subject_rows('a  ', kind => 'code') WHERE relation::text LIKE 'sm.%';
SELECT privacy.subject_canonical('abc  ', 'code') AS canonical, privacy.subject_canonical('abcd', 'code') AS longer;
SELECT relation, action, rows FROM privacy.cancel_subject('abc', kind => 'code');
SELECT * FROM sm.codes ORDER BY code;

-- 6. holds: a hold on a subject refuses its cancellation (the dry run says so,
--    nothing changes); a hold on a table keeps its rows; end-of-service
--    anonymization refuses while a hold is in force
INSERT INTO sm.people VALUES (1100, 'under investigation'), (1101, 'Fay');
SELECT privacy.place_hold('1100', now() + interval '30 days', 'criminal investigation') AS hold_id \gset
SELECT relation, action, rows, regexp_replace(detail, '\d+', 'N') AS detail FROM privacy.cancel_subject('1100', dry_run => true);
SELECT regexp_replace(try($$SELECT * FROM privacy.cancel_subject('1100')$$), 'hold \d+', 'hold N') AS try;
SELECT id, name FROM sm.people WHERE id = 1100;
SELECT column_name, regexp_replace(note, 'hold \d+', 'hold N') AS note FROM privacy.anonymization_plan('sm.people') WHERE column_name IS NULL;
SELECT regexp_replace(try($$CALL privacy.anonymize_table('sm.people')$$), 'hold \d+', 'hold N') AS try;
SELECT try($$CALL privacy.anonymize_database(ARRAY['sm'])$$);
SELECT id, name FROM sm.people WHERE id = 1100;
SELECT privacy.release_hold(:hold_id);
SELECT privacy.place_hold('sm.staff_profile'::regclass, now() + interval '30 days', 'audit of the staff files') AS table_hold \gset
INSERT INTO sm.staff_profile VALUES (1101, NULL, 'fay@corp.example');
SELECT relation, action, rows FROM privacy.cancel_subject('1101') ORDER BY relation::text, action;
SELECT * FROM sm.staff_profile WHERE user_id = 1101;
-- what holds keep of a table, naming no subject
SELECT privacy.place_hold('8203', now() + interval '30 days', 'another investigation') AS subject_hold \gset
SELECT hold_id = :table_hold AS the_table_hold, on_table, held_rows FROM privacy.table_holds('sm.staff_profile') ORDER BY hold_id;
SELECT on_table, held_rows FROM privacy.table_holds('sm.people') ORDER BY hold_id;
SELECT try($$SELECT * FROM privacy.table_holds(NULL)$$);
GRANT USAGE ON SCHEMA sm TO regress_app, regress_dpo;
SET ROLE regress_app;   -- not granted table_holds
SELECT try($$SELECT * FROM privacy.table_holds('sm.people')$$);
SET ROLE regress_dpo;   -- granted it, but no SELECT on the table
SELECT try($$SELECT * FROM privacy.table_holds('sm.people')$$);
RESET ROLE;
SELECT privacy.release_hold(:subject_hold);
SELECT privacy.release_hold(:table_hold);

-- 7. the receipt counts what the schema's own foreign key actions did
CREATE TABLE sm.shop_user (id integer PRIMARY KEY, name text);
SECURITY LABEL FOR privacy ON COLUMN sm.shop_user.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON TABLE sm.shop_user IS 'ON CANCEL DELETE';
CREATE TABLE sm.wishlist (id integer PRIMARY KEY, user_id integer NOT NULL REFERENCES sm.shop_user ON DELETE CASCADE, item text);
CREATE TABLE sm.referral (id integer PRIMARY KEY, referrer integer REFERENCES sm.shop_user ON DELETE SET NULL,
                          invitee integer NOT NULL REFERENCES sm.shop_user);
SECURITY LABEL FOR privacy ON COLUMN sm.referral.referrer IS 'REFERENCE';
SECURITY LABEL FOR privacy ON TABLE sm.referral IS 'ON CANCEL DELETE';
INSERT INTO sm.shop_user VALUES (8401, 'Gus'), (8402, 'Hal');
INSERT INTO sm.wishlist VALUES (1, 8401, 'tea'), (2, 8401, 'cups'), (3, 8402, 'pot');
INSERT INTO sm.referral VALUES (1, 8401, 8402), (2, 8402, 8401);
SELECT relation, action, rows, detail FROM privacy.cancel_subject('8401') ORDER BY relation::text, action;
SELECT d->>'relation' AS relation, d->>'action' AS action, (d->>'rows')::int AS rows
  FROM privacy.audit_log a, jsonb_array_elements(a.detail->'tables') d
 WHERE a.kind = 'cancellation' AND a.seq = (SELECT max(seq) FROM privacy.audit_log WHERE kind = 'cancellation')
   AND d->>'relation' LIKE 'sm.%' ORDER BY 1, 2;
SELECT * FROM sm.wishlist ORDER BY id;
SELECT * FROM sm.referral ORDER BY id;

-- 9. kept rows that must point somewhere: payments stay (anonymized), their
--    NOT NULL key keeps the account as an anonymous stub
CREATE TABLE sm.account (id integer PRIMARY KEY, email text);
SECURITY LABEL FOR privacy ON COLUMN sm.account.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN sm.account.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON TABLE sm.account IS 'ON CANCEL DELETE';
CREATE TABLE sm.payment (id integer PRIMARY KEY, user_id integer NOT NULL REFERENCES sm.account, amount numeric(8,2), card text);
SECURITY LABEL FOR privacy ON COLUMN sm.payment.amount IS 'CATEGORY financial.transaction';
SECURITY LABEL FOR privacy ON COLUMN sm.payment.card IS 'CATEGORY financial.bank_account';
SECURITY LABEL FOR privacy ON TABLE sm.payment IS 'ON CANCEL ANONYMIZE';
INSERT INTO sm.account VALUES (8501, 'ivy@example.com'), (8502, 'jo@example.com');
INSERT INTO sm.payment VALUES (1, 8501, 19.90, '6222000011112222'), (2, 8502, 5.00, '6222000033334444');
SELECT relation, action, rows, detail FROM privacy.cancel_subject('8501', dry_run => true) ORDER BY relation::text, action;
SELECT relation, action, rows FROM privacy.cancel_subject('8501') ORDER BY relation::text, action;
SELECT * FROM sm.account ORDER BY id;
SELECT * FROM sm.payment ORDER BY id;

-- 10. dry runs number no request
SELECT last_value AS before FROM privacy.request_id_seq \gset
SELECT count(*) > 0 AS planned FROM privacy.cancel_subject('8502', dry_run => true);
SELECT count(*) > 0 AS planned FROM privacy.cancel_subject('8402', dry_run => true);
SELECT last_value - :before AS ids_used FROM privacy.request_id_seq;

-- ANONYMIZE WITH KEEP: the plan says the column keeps its value
SECURITY LABEL FOR privacy ON COLUMN sm.payment.amount IS 'CATEGORY financial.transaction ANONYMIZE WITH KEEP';
SELECT column_name, method, note FROM privacy.anonymization_plan('sm.payment') ORDER BY column_name;
CALL privacy.anonymize_table('sm.payment');
SELECT id, user_id, amount, card ~ '^[0-9]{16}$' AS card_rewritten, card NOT IN ('6222000033334444') AS card_changed FROM sm.payment ORDER BY id;

-- a replayed restore: a cancelled subject back only in the consent records
-- (no row of any table) is erased again
SET session_replication_role = replica;
INSERT INTO privacy.consent (subject, purpose, granted_at, by_guardian) VALUES ('8401', 'analytics', now(), false);
RESET session_replication_role;
SET client_min_messages = warning;
SELECT count(*) > 0 AS replayed FROM privacy.replay_cancellations();
RESET client_min_messages;
SELECT count(*) AS consent_rows FROM privacy.consent WHERE subject = '8401';

-- the guard reaches inheritance children that exist when the parent is labelled
CREATE TABLE sm.base (id integer);
CREATE TABLE sm.child (extra text) INHERITS (sm.base);
SECURITY LABEL FOR privacy ON COLUMN sm.base.id IS 'SUBJECT';
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgrelid IN ('sm.base'::regclass, 'sm.child'::regclass) ORDER BY 1;
SELECT try($$INSERT INTO sm.child VALUES (8501, 'back')$$);

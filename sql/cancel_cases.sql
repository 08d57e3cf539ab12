-- cancel_cases: cancellation on schemas as users write them, each with the
-- exact rows before and after; cases of past failures stay here
\set VERBOSITY terse
CREATE SCHEMA cases;

-- 1. messaging: a message has a sender and a recipient, both users, and a
--    space has an owner; no label on the messages' user columns, so a message
--    is reached through two nullable foreign keys, and a cancellation severs
--    only the side that points at the cancelled user (this failed with
--    'column reference "relid" is ambiguous')
CREATE TABLE cases.users (id int PRIMARY KEY, name text NOT NULL, phone text);
CREATE TABLE cases.spaces (id int PRIMARY KEY, owner_id int REFERENCES cases.users, title text);
CREATE TABLE cases.messages (id int PRIMARY KEY, sender int REFERENCES cases.users,
                             recipient int REFERENCES cases.users, body text);
CREATE INDEX ON cases.spaces (owner_id);
CREATE INDEX ON cases.messages (sender);
CREATE INDEX ON cases.messages (recipient);
SECURITY LABEL FOR privacy ON COLUMN cases.users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN cases.users.name IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON COLUMN cases.users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON TABLE cases.users IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN cases.messages.body IS 'CATEGORY content.message';
SECURITY LABEL FOR privacy ON TABLE cases.messages IS 'ON CANCEL ANONYMIZE';
SECURITY LABEL FOR privacy ON COLUMN cases.spaces.title IS 'CATEGORY content.file';
SECURITY LABEL FOR privacy ON TABLE cases.spaces IS 'ON CANCEL ANONYMIZE';
-- (subjects 5101 to 5110: no other suite's tables hold them)
INSERT INTO cases.users VALUES (5101, 'Ann', '13800000001'), (5102, 'Ben', '13800000002'), (5103, 'Cy', '13800000003');
INSERT INTO cases.spaces VALUES (10, 5101, 'Ann''s space'), (11, 5102, 'Ben''s space');
INSERT INTO cases.messages VALUES (100, 5101, 5102, 'Ann to Ben'), (101, 5102, 5101, 'Ben to Ann'),
                                  (102, 5102, 5103, 'Ben to Cy'), (103, 5101, 5101, 'Ann to herself');
CREATE FUNCTION cases.all_rows() RETURNS TABLE (tbl text, row_text text) LANGUAGE sql AS $$
    SELECT 'users', u::text FROM cases.users u UNION ALL
    SELECT 'spaces', s::text FROM cases.spaces s UNION ALL
    SELECT 'messages', m::text FROM cases.messages m
    ORDER BY 1, 2
$$;
SELECT * FROM cases.all_rows();
-- the dry run is the plan, and changes nothing
CREATE TEMP TABLE before_rows AS SELECT * FROM cases.all_rows();
SELECT * FROM privacy.cancel_subject('5101', dry_run => true);
SELECT count(*) AS changed FROM (SELECT * FROM cases.all_rows() EXCEPT SELECT * FROM before_rows) x;
SELECT * FROM privacy.cancel_subject('5101');
-- Ann's row is gone; her messages and her space stay, emptied, with her
-- side cut; Ben's and Cy's sides are untouched
SELECT * FROM cases.all_rows();

-- 2. the same schema with a trigger (cancellation then reads each table's
--    rows again after every step): Ben's cancellation, with chains that
--    find none of his rows (he owns no space and received no message)
CREATE TABLE cases.audit (what text);
CREATE FUNCTION cases.note_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cases.audit VALUES (TG_TABLE_NAME || ' ' || lower(TG_OP));
    RETURN NULL;
END $$;
CREATE TRIGGER note_change AFTER UPDATE OR DELETE ON cases.messages FOR EACH ROW EXECUTE FUNCTION cases.note_change();
DELETE FROM cases.spaces WHERE owner_id = 5102;
DELETE FROM cases.messages WHERE recipient = 5102;   -- and he has no message as a recipient
SELECT * FROM privacy.cancel_subject('5102');
SELECT * FROM cases.all_rows();
SELECT what, count(*) FROM cases.audit GROUP BY 1 ORDER BY 1;

-- 3. two kinds of subject: devices say whose they are by an integer account
--    (a person) or by a uuid (a device owner, SUBJECT device_owner); tokens by a
--    uuid only (a table nothing references: one statement finds and deletes
--    its rows); each subject is looked for only in the columns of its kind,
--    and one kind's columns are of one type family
CREATE TABLE cases.devices (id int PRIMARY KEY, account_id int, owner_uuid uuid, model text);
CREATE TABLE cases.tokens (id int PRIMARY KEY, owner_uuid uuid, token text);
SECURITY LABEL FOR privacy ON COLUMN cases.devices.account_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN cases.devices.owner_uuid IS 'SUBJECT device_owner';
SECURITY LABEL FOR privacy ON COLUMN cases.devices.model IS 'CATEGORY device.model';
SECURITY LABEL FOR privacy ON COLUMN cases.tokens.owner_uuid IS 'SUBJECT device_owner';
SECURITY LABEL FOR privacy ON COLUMN cases.tokens.token IS 'CATEGORY credential.token';
INSERT INTO cases.devices VALUES (1, 5105, NULL, 'phone'), (2, NULL, '00000000-0000-0000-0000-000000005105', 'tablet'),
                                 (3, 5106, '00000000-0000-0000-0000-000000005106', 'watch');
INSERT INTO cases.tokens VALUES (1, '00000000-0000-0000-0000-000000005105', 'tok-a'),
                                (2, '00000000-0000-0000-0000-000000005106', 'tok-b');
SELECT * FROM privacy.cancel_subject('5105', dry_run => true);
SELECT * FROM privacy.cancel_subject('5105');
SELECT * FROM privacy.cancel_subject('00000000-0000-0000-0000-000000005105', kind => 'device_owner');
-- (a uuid is no person: the person kind is integer)
SELECT try($$SELECT * FROM privacy.cancel_subject('00000000-0000-0000-0000-000000005105')$$);
SELECT d::text FROM cases.devices d ORDER BY id;
SELECT t::text FROM cases.tokens t ORDER BY id;
-- a row two subjects share (device 3: account 5106 and a uuid owner): the
-- account's cancellation clears only its own side (model stays: it is the
-- owner's too)
SECURITY LABEL FOR privacy ON TABLE cases.devices IS 'ON CANCEL ANONYMIZE';
SELECT * FROM privacy.cancel_subject('5106');
SELECT d::text FROM cases.devices d ORDER BY id;

-- a row shared by two subjects of different kinds where nothing can be
-- cleared (both keys are NOT NULL and referenced): kept as it is, reported
-- unchanged
CREATE TABLE cases.pairs (a int NOT NULL UNIQUE, b uuid NOT NULL UNIQUE);
CREATE TABLE cases.pair_refs (a int REFERENCES cases.pairs (a), b uuid REFERENCES cases.pairs (b));
SECURITY LABEL FOR privacy ON COLUMN cases.pairs.a IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN cases.pairs.b IS 'SUBJECT device_owner';
SECURITY LABEL FOR privacy ON TABLE cases.pairs IS 'ON CANCEL ANONYMIZE';
INSERT INTO cases.pairs VALUES (5111, '00000000-0000-0000-0000-000000005112');
INSERT INTO cases.pair_refs VALUES (5111, '00000000-0000-0000-0000-000000005112');
SELECT * FROM privacy.cancel_subject('5111');
SELECT p::text FROM cases.pairs p;

-- 4. placeholders of NOT NULL columns of every kind of type, on ON CANCEL
--    ANONYMIZE: each keeps nothing of the original
CREATE TABLE cases.profiles (
    user_id  int PRIMARY KEY,
    tags     text[] NOT NULL,
    took     interval NOT NULL,
    token    uuid NOT NULL,
    photo    bytea NOT NULL,
    prefs    jsonb NOT NULL,
    seen     time NOT NULL,
    score    numeric NOT NULL,
    verified boolean NOT NULL,
    note     text NOT NULL
);
SECURITY LABEL FOR privacy ON COLUMN cases.profiles.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN cases.profiles.tags IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON COLUMN cases.profiles.took IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON COLUMN cases.profiles.token IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON COLUMN cases.profiles.photo IS 'CATEGORY account.avatar';
SECURITY LABEL FOR privacy ON COLUMN cases.profiles.prefs IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON COLUMN cases.profiles.seen IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON COLUMN cases.profiles.score IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON COLUMN cases.profiles.verified IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON COLUMN cases.profiles.note IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON TABLE cases.profiles IS 'ON CANCEL ANONYMIZE';
INSERT INTO cases.profiles VALUES (5107, '{a,b}', '2 hours', '11111111-2222-3333-4444-555555555555', '\xdeadbeef',
                                   '{"lang": "zh"}', '08:30', 42.5, true, 'likes tea'),
                                  (5108, '{c}', '1 hour', '66666666-2222-3333-4444-555555555555', '\x01',
                                   '{"lang": "en"}', '09:30', 1, false, 'other');
SELECT * FROM privacy.cancel_subject('5107');
-- (the subject's own key, unique, gets a random value)
SELECT user_id = 5108 AS other, user_id <> 5107 AS key_cleared, tags, took, token, photo, prefs, seen, score, verified, note
  FROM cases.profiles ORDER BY 1;

-- 5. a trigger that raises a foreign key violation of its own (its constraint
--    is not a constraint of the table): the cancellation is refused, names
--    the table, and changes nothing
CREATE TABLE cases.notes (id int PRIMARY KEY, user_id int, body text);
SECURITY LABEL FOR privacy ON COLUMN cases.notes.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN cases.notes.body IS 'CATEGORY content.message';
CREATE FUNCTION cases.keep_notes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE foreign_key_violation USING MESSAGE = 'notes are kept', CONSTRAINT = 'notes_kept', SCHEMA = 'cases', TABLE = 'notes';
END $$;
CREATE TRIGGER keep_notes BEFORE DELETE ON cases.notes FOR EACH ROW EXECUTE FUNCTION cases.keep_notes();
INSERT INTO cases.notes VALUES (1, 5109, 'a note'), (2, 5110, 'another');
SELECT * FROM privacy.cancel_subject('5109', dry_run => true);
SELECT try($$SELECT * FROM privacy.cancel_subject('5109')$$);
SELECT n::text FROM cases.notes n ORDER BY id;
DROP TRIGGER keep_notes ON cases.notes;

-- 6. rows back after a restore that bypassed the guard (a superuser loading
--    rows with triggers off): the replay finds the cancelled subject again and
--    erases it; a tombstone the journal lacks is written to it
SET session_replication_role = replica;
INSERT INTO cases.notes VALUES (3, 5109, 'restored');
INSERT INTO cases.notes VALUES (4, 5109, 'restored too');
RESET session_replication_role;
SELECT * FROM privacy.cancel_subject('5109');
SET session_replication_role = replica;
INSERT INTO cases.notes VALUES (5, 5109, 'restored again');
RESET session_replication_role;
-- (a tombstone whose journal line was lost: a crash between commit and append)
INSERT INTO privacy.cancelled_subject (subject_id) VALUES (privacy.subject_pseudonym('5199'));
SELECT subject_id = privacy.subject_pseudonym('5109') AS by_pseudonym, relation, action, rows, detail
  FROM privacy.replay_cancellations();
SELECT n::text FROM cases.notes n ORDER BY id;
SELECT note FROM privacy.request WHERE id = (SELECT max(id) FROM privacy.request);
SELECT count(*) AS journalled FROM privacy.tombstone_journal()
 WHERE subject_id = privacy.subject_pseudonym('5199');

-- 7. during a restore (a superuser with check_function_bodies off, as pg_dump's
--    scripts set it) a SUBJECT label adds no trigger: the dump brings the
--    table's trigger as it was
CREATE TABLE cases.restored (user_id int);
SET check_function_bodies = off;
SECURITY LABEL FOR privacy ON COLUMN cases.restored.user_id IS 'SUBJECT';
RESET check_function_bodies;
SELECT count(*) AS guard_triggers FROM pg_trigger WHERE tgrelid = 'cases.restored'::regclass;

DROP SCHEMA cases CASCADE;

-- generated_cases: the smallest schemas on which the generated-schema test
-- (test/generated) found cancellation breaking the contract of
-- doc/cancellation.md, each with its rows before and after (#19)
\set VERBOSITY terse
CREATE SCHEMA gc;

-- 1. a NULL owning key makes no row the subject's: an app's "documents" may be
--    owned by a folder (labelled OWNER) or by nobody; a document whose folder
--    is NULL and that merely references the subject's upload is severed, and
--    the comments that hang from it stay
CREATE TABLE gc.users (id int PRIMARY KEY, phone text);
CREATE TABLE gc.folders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES gc.users);
CREATE TABLE gc.uploads (id int PRIMARY KEY, user_id int NOT NULL REFERENCES gc.users);
CREATE TABLE gc.documents (id int PRIMARY KEY, body text,
    folder_id int REFERENCES gc.folders ON DELETE SET NULL,
    upload_id int REFERENCES gc.uploads ON DELETE SET NULL);
CREATE TABLE gc.comments (id int PRIMARY KEY, author int NOT NULL, body text,
    document_id int REFERENCES gc.documents ON DELETE CASCADE);
SECURITY LABEL FOR privacy ON COLUMN gc.users.id IS 'SUBJECT gcuser';
SECURITY LABEL FOR privacy ON COLUMN gc.users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON TABLE gc.users IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON TABLE gc.folders IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON TABLE gc.uploads IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN gc.documents.folder_id IS 'OWNER';
SECURITY LABEL FOR privacy ON COLUMN gc.documents.body IS 'CATEGORY content.message';
SECURITY LABEL FOR privacy ON TABLE gc.documents IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN gc.comments.author IS 'SUBJECT gcuser';
SECURITY LABEL FOR privacy ON COLUMN gc.comments.body IS 'CATEGORY content.message';
SECURITY LABEL FOR privacy ON COLUMN gc.comments.document_id IS 'OWNER';
SECURITY LABEL FOR privacy ON TABLE gc.comments IS 'ON CANCEL DELETE';
INSERT INTO gc.users VALUES (1, '13800000001'), (2, '13800000002');
INSERT INTO gc.folders VALUES (10, 1), (20, 2);
INSERT INTO gc.uploads VALUES (100, 1);
INSERT INTO gc.documents VALUES
    (1000, 'in 1''s folder', 10, NULL),     -- 1's
    (1001, 'nobody''s, from 1''s upload', NULL, 100),   -- refers to 1
    (1002, 'in 2''s folder, from 1''s upload', 20, 100); -- 2's, refers to 1
INSERT INTO gc.comments VALUES (1, 2, '2 on 1''s document', 1000), (2, 2, '2 on a shared one', 1001),
    (3, 2, '2 on their own', 1002);
SELECT relation, action, rows FROM privacy.cancel_subject('1', dry_run => true, kind => 'gcuser') ORDER BY relation::text, action;
SELECT relation, action, rows FROM privacy.cancel_subject('1', kind => 'gcuser') ORDER BY relation::text, action;
SELECT d::text FROM gc.documents d ORDER BY id;
SELECT c::text FROM gc.comments c ORDER BY id;

-- 2. a cycle of one subject's rows: invitations that point at each other
--    (NOT NULL, RESTRICT) are the subject's alone, and deleted together
CREATE TABLE gc.invites (id int PRIMARY KEY, member uuid NOT NULL, code text NOT NULL UNIQUE,
    next_id int NOT NULL REFERENCES gc.invites ON DELETE RESTRICT);
SECURITY LABEL FOR privacy ON COLUMN gc.invites.member IS 'SUBJECT invitee';
SECURITY LABEL FOR privacy ON COLUMN gc.invites.code IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON TABLE gc.invites IS 'ON CANCEL DELETE';
INSERT INTO gc.invites VALUES (1, 'ffffffff-0000-4000-8000-000000000001', 'a', 2),
    (2, 'ffffffff-0000-4000-8000-000000000001', 'b', 1),
    (3, 'ffffffff-0000-4000-8000-000000000001', 'c', 1),
    (4, 'ffffffff-0000-4000-8000-000000000002', 'd', 4);
SELECT relation, action, rows FROM privacy.cancel_subject('FFFFFFFF-0000-4000-8000-000000000001', kind => 'invitee');
SELECT i::text FROM gc.invites i ORDER BY id;

-- 3. the schema's own ON DELETE CASCADE inside a cycle: an order and its
--    lines, the order naming its last line; deleting the order removes its
--    lines (CASCADE) before cancellation's own DELETE of them
-- (the lines' table first: the cycle's DELETEs go in reverse, orders first)
CREATE TABLE gc.lines (id int PRIMARY KEY, note text, order_id int NOT NULL);
CREATE TABLE gc.orders (id int PRIMARY KEY, buyer text, last_line int REFERENCES gc.lines ON DELETE SET NULL);
ALTER TABLE gc.lines ADD FOREIGN KEY (order_id) REFERENCES gc.orders ON DELETE CASCADE;
SECURITY LABEL FOR privacy ON COLUMN gc.orders.buyer IS 'SUBJECT buyer';
SECURITY LABEL FOR privacy ON TABLE gc.orders IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN gc.lines.note IS 'CATEGORY commerce.order';
SECURITY LABEL FOR privacy ON TABLE gc.lines IS 'ON CANCEL DELETE';
INSERT INTO gc.orders VALUES (1, 'x', NULL), (2, 'y', NULL);
INSERT INTO gc.lines VALUES (11, 'first', 1), (12, 'second', 1), (21, 'other', 2);
UPDATE gc.orders SET last_line = 12 WHERE id = 1;
UPDATE gc.orders SET last_line = 21 WHERE id = 2;
SELECT relation, action, rows FROM privacy.cancel_subject('x', dry_run => true, kind => 'buyer') ORDER BY relation::text, action;
SELECT relation, action, rows FROM privacy.cancel_subject('x', kind => 'buyer') ORDER BY relation::text, action;
SELECT o::text FROM gc.orders o ORDER BY id;
SELECT l::text FROM gc.lines l ORDER BY id;

-- 4. a shared row with nothing of the subject's that can be cleared (its
--    key to the subject's row is NOT NULL, and its own SUBJECT key is
--    referenced) stays as it is and is reported unchanged, not anonymized
CREATE TABLE gc.pals (id int PRIMARY KEY, nick text, pal int NOT NULL REFERENCES gc.pals);
SECURITY LABEL FOR privacy ON COLUMN gc.pals.id IS 'SUBJECT pal';
SECURITY LABEL FOR privacy ON COLUMN gc.pals.nick IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON TABLE gc.pals IS 'ON CANCEL DELETE';
INSERT INTO gc.pals VALUES (2, 'two', 2), (91, 'ninety-one', 2);
UPDATE gc.pals SET pal = 91 WHERE id = 2;
SELECT relation, action, rows FROM privacy.cancel_subject('+91', kind => 'pal');
SELECT p::text FROM gc.pals p ORDER BY id;

-- 5. a SUBJECT key other tables reference is cleared once nothing refers to
--    the subject through it: a device row shared by its owner (id) and a
--    second user (co_owner); its short unique key gets a random value that
--    fits varchar(8) and differs per row
CREATE TABLE gc.devices (id varchar(8) PRIMARY KEY, co_owner text, label text);
CREATE TABLE gc.pairings (id int PRIMARY KEY, device varchar(8) REFERENCES gc.devices ON DELETE SET NULL, who text);
SECURITY LABEL FOR privacy ON COLUMN gc.devices.id IS 'SUBJECT holder';
SECURITY LABEL FOR privacy ON COLUMN gc.devices.co_owner IS 'SUBJECT holder';
SECURITY LABEL FOR privacy ON COLUMN gc.devices.label IS 'CATEGORY device.id';
SECURITY LABEL FOR privacy ON TABLE gc.devices IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN gc.pairings.who IS 'SUBJECT holder';
SECURITY LABEL FOR privacy ON TABLE gc.pairings IS 'ON CANCEL DELETE';
INSERT INTO gc.devices VALUES ('A', 'x1', 'front door'), ('B', 'x1', 'back door'), ('C', 'x1', 'garage');
INSERT INTO gc.pairings VALUES (1, 'B', 'x1'), (2, 'C', 'x1');
UPDATE gc.pairings SET device = 'A' WHERE id = 2;
-- A: referenced by pairing 2 (x1's): stays; then the owner of B and C
SELECT relation, action, rows FROM privacy.cancel_subject('A', kind => 'holder');
SELECT id = 'A' AS kept_key, co_owner, label FROM gc.devices ORDER BY label;
SELECT relation, action, rows FROM privacy.cancel_subject('B', kind => 'holder');
SELECT relation, action, rows FROM privacy.cancel_subject('C', kind => 'holder');
SELECT length(id) AS id_length, id ~ '^[0-9a-f]{8}$' AS random_hex, co_owner, label FROM gc.devices ORDER BY label;
SELECT count(DISTINCT id) AS distinct_ids FROM gc.devices;

-- 6. a SUBJECT column that is also a nullable foreign key: a message's
--    recipient names the recipient's profile; the recipient's side of a
--    message another subject also owns is cleared (set to NULL)
CREATE TABLE gc.profiles (handle text PRIMARY KEY, owner text NOT NULL);
CREATE TABLE gc.messages (id int PRIMARY KEY, sender text, recipient text REFERENCES gc.profiles, body text);
SECURITY LABEL FOR privacy ON COLUMN gc.profiles.handle IS 'SUBJECT member';
SECURITY LABEL FOR privacy ON COLUMN gc.profiles.owner IS 'SUBJECT member';
SECURITY LABEL FOR privacy ON TABLE gc.profiles IS 'ON CANCEL ANONYMIZE';
SECURITY LABEL FOR privacy ON COLUMN gc.messages.sender IS 'SUBJECT member';
SECURITY LABEL FOR privacy ON COLUMN gc.messages.recipient IS 'SUBJECT member';
SECURITY LABEL FOR privacy ON COLUMN gc.messages.body IS 'CATEGORY content.message';
SECURITY LABEL FOR privacy ON TABLE gc.messages IS 'ON CANCEL DELETE';
INSERT INTO gc.profiles VALUES ('ab', 'x1'), ('x1', 'x1');
INSERT INTO gc.messages VALUES (1, 'x1', 'ab', 'hi ab'), (2, 'x1', 'x1', 'note to self'), (3, NULL, 'ab', 'anonymous to ab');
SELECT relation, action, rows FROM privacy.cancel_subject('ab', kind => 'member') ORDER BY relation::text, action;
SELECT m::text FROM gc.messages m ORDER BY id;
SELECT handle ~ '^anonymized-[0-9a-f]{32}$' AS handle_random, owner FROM gc.profiles ORDER BY owner, handle;

-- 7. a unique column's random anonymous value that collides with another
--    row's is drawn again: a locker code of one digit, seven of the ten taken
--    by other holders; with this seed the first eight draws collide (before, the
--    cancellation was blocked by 23505 on one draw and went through on
--    another); the seed makes the draws the same every run
CREATE TABLE gc.lockers (id int PRIMARY KEY, holder int NOT NULL, code varchar(1) NOT NULL UNIQUE);
SECURITY LABEL FOR privacy ON COLUMN gc.lockers.holder IS 'SUBJECT locker_holder';
SECURITY LABEL FOR privacy ON COLUMN gc.lockers.code IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON TABLE gc.lockers IS 'ON CANCEL ANONYMIZE';
INSERT INTO gc.lockers SELECT i, 100 + i, i::text FROM generate_series(0, 6) i;
INSERT INTO gc.lockers VALUES (9, 109, '9');
SELECT setseed(0.3);   -- its first eight digits are taken codes, the ninth 7
SELECT relation, action, rows FROM privacy.cancel_subject('109', kind => 'locker_holder');
SELECT id, holder, code IN ('7', '8', '9') AS free_code FROM gc.lockers ORDER BY id;
SELECT count(DISTINCT code) AS distinct_codes FROM gc.lockers;
-- a column too short for its rows: every two-digit PIN but the subject's own
-- is taken; ten draws collide and the cancellation is blocked by the unique
-- constraint, nothing changed
CREATE TABLE gc.pins (id int PRIMARY KEY, holder int NOT NULL, pin varchar(2) NOT NULL UNIQUE);
SECURITY LABEL FOR privacy ON COLUMN gc.pins.holder IS 'SUBJECT pin_holder';
SECURITY LABEL FOR privacy ON COLUMN gc.pins.pin IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON TABLE gc.pins IS 'ON CANCEL ANONYMIZE';
INSERT INTO gc.pins SELECT i, 1000 + i, lpad(i::text, 2, '0') FROM generate_series(0, 99) i;
SELECT setseed(0.3);
SELECT relation, action, rows FROM privacy.cancel_subject('1099', kind => 'pin_holder');
SELECT count(*) AS pins, count(*) FILTER (WHERE holder = 1000 + id AND pin = lpad(id::text, 2, '0')) AS unchanged FROM gc.pins;

-- 8. a foreign key of char(n) to a char(n) SUBJECT key: the keys found are
--    compared as char(n), whole (they were cast to "character", which is
--    char(1): cancelling 'abc' deleted the posts of 'a' too)
CREATE TABLE gc.handles (handle char(3) PRIMARY KEY, name text);
CREATE TABLE gc.posts (id int PRIMARY KEY, author char(3) NOT NULL REFERENCES gc.handles, body text);
SECURITY LABEL FOR privacy ON COLUMN gc.handles.handle IS 'SUBJECT handle';
SECURITY LABEL FOR privacy ON COLUMN gc.handles.name IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON TABLE gc.handles IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN gc.posts.body IS 'CATEGORY content.message';
SECURITY LABEL FOR privacy ON TABLE gc.posts IS 'ON CANCEL DELETE';
INSERT INTO gc.handles VALUES ('abc', 'Abc'), ('a', 'A');
INSERT INTO gc.posts VALUES (1, 'abc', 'by abc'), (2, 'a', 'by a'), (3, 'a', 'by a again');
SELECT relation, action, rows FROM privacy.cancel_subject('abc', dry_run => true, kind => 'handle') ORDER BY relation::text, action;
SELECT relation, action, rows FROM privacy.cancel_subject('abc', kind => 'handle') ORDER BY relation::text, action;
SELECT p::text FROM gc.posts p ORDER BY id;
SELECT h::text FROM gc.handles h ORDER BY handle;

-- 9. a NOT NULL SUBJECT column too short for its placeholder: 'anonymized' in
--    a char(1) is 'a', the subject itself, and it stayed; a shared row's side
--    of the subject now gets '0', or '1' where the placeholder is '0' too
--    (a number's placeholder 0 stays 0 for subject 0: sql/cancellation.sql)
CREATE TABLE gc.duos (id int PRIMARY KEY, first_p char(1) NOT NULL, second_p char(1) NOT NULL, note text);
SECURITY LABEL FOR privacy ON COLUMN gc.duos.first_p IS 'SUBJECT initial';
SECURITY LABEL FOR privacy ON COLUMN gc.duos.second_p IS 'SUBJECT initial';
SECURITY LABEL FOR privacy ON COLUMN gc.duos.note IS 'CATEGORY content.message';
SECURITY LABEL FOR privacy ON TABLE gc.duos IS 'ON CANCEL DELETE';
INSERT INTO gc.duos VALUES (1, 'a', 'b', 'a and b'), (2, '0', 'b', '0 and b');
SELECT relation, action, rows FROM privacy.cancel_subject('0', kind => 'initial');
SELECT relation, action, rows FROM privacy.cancel_subject('a', kind => 'initial');
SELECT d::text FROM gc.duos d ORDER BY id;

-- 10. a cycle whose rows hang from a row the subject shares: a device of
--     'x1' in the home of 'b' is shared, the log that hangs from it is not
--     x1's, and b's note that refers to that log keeps its reference (a table
--     of the cycle left with no keys to look for kept the rows it had found
--     in the cycle's first phase, and the note's reference was cut)
CREATE TABLE gc.c_homes (id int PRIMARY KEY, keeper text NOT NULL, pinned_note int);
CREATE TABLE gc.c_devices (id int PRIMARY KEY, owner text, home int NOT NULL REFERENCES gc.c_homes);
CREATE TABLE gc.c_logs (id int PRIMARY KEY, device int REFERENCES gc.c_devices, line text);
CREATE TABLE gc.c_notes (id int PRIMARY KEY, home int NOT NULL REFERENCES gc.c_homes, log int REFERENCES gc.c_logs, body text);
ALTER TABLE gc.c_homes ADD FOREIGN KEY (pinned_note) REFERENCES gc.c_notes DEFERRABLE INITIALLY DEFERRED;
SECURITY LABEL FOR privacy ON COLUMN gc.c_homes.keeper IS 'SUBJECT resident';
SECURITY LABEL FOR privacy ON COLUMN gc.c_devices.owner IS 'SUBJECT resident';
SECURITY LABEL FOR privacy ON COLUMN gc.c_logs.line IS 'CATEGORY log.login';
SECURITY LABEL FOR privacy ON TABLE gc.c_logs IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN gc.c_notes.body IS 'CATEGORY content.message';
SECURITY LABEL FOR privacy ON TABLE gc.c_notes IS 'ON CANCEL DELETE';
INSERT INTO gc.c_homes VALUES (1, 'b', NULL);
INSERT INTO gc.c_devices VALUES (1, 'x1', 1);
INSERT INTO gc.c_logs VALUES (1, 1, 'unlocked');
INSERT INTO gc.c_notes VALUES (1, 1, 1, 'see the log');
SELECT relation, action, rows FROM privacy.cancel_subject('x1', dry_run => true, kind => 'resident') ORDER BY relation::text, action;
SELECT relation, action, rows FROM privacy.cancel_subject('x1', kind => 'resident') ORDER BY relation::text, action;
SELECT d::text FROM gc.c_devices d;
SELECT l::text FROM gc.c_logs l;
SELECT n::text FROM gc.c_notes n;

-- 11. a SUBJECT key referenced from a partitioned table: the shared account
--     of 'a' and 'b' loses a's handle once a's messages, in partitions, no
--     longer refer to it (the partitions' copies of the foreign key were
--     counted as tables of their own, and the handle stayed 'a')
CREATE TABLE gc.p_accounts (handle text PRIMARY KEY, co_holder text NOT NULL, plan text);
CREATE TABLE gc.p_messages (id int, sender text REFERENCES gc.p_accounts, recipient text, body text, PRIMARY KEY (id))
    PARTITION BY HASH (id);
CREATE TABLE gc.p_messages_0 PARTITION OF gc.p_messages FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE gc.p_messages_1 PARTITION OF gc.p_messages FOR VALUES WITH (MODULUS 2, REMAINDER 1);
SECURITY LABEL FOR privacy ON COLUMN gc.p_accounts.handle IS 'SUBJECT poster';
SECURITY LABEL FOR privacy ON COLUMN gc.p_accounts.co_holder IS 'SUBJECT poster';
SECURITY LABEL FOR privacy ON TABLE gc.p_accounts IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN gc.p_messages.sender IS 'SUBJECT poster';
SECURITY LABEL FOR privacy ON COLUMN gc.p_messages.recipient IS 'SUBJECT poster';
SECURITY LABEL FOR privacy ON COLUMN gc.p_messages.body IS 'CATEGORY content.message';
SECURITY LABEL FOR privacy ON TABLE gc.p_messages IS 'ON CANCEL DELETE';
INSERT INTO gc.p_accounts VALUES ('a', 'b', 'family'), ('b', 'b', 'solo');
INSERT INTO gc.p_messages VALUES (1, 'a', 'b', 'hi b'), (2, 'a', 'b', 'bye b'), (3, 'b', 'a', 'hi a');
SELECT relation, action, rows FROM privacy.cancel_subject('a', kind => 'poster') ORDER BY relation::text, action;
SELECT handle = 'a' AS still_a, handle ~ '^anonymized-[0-9a-f]{32}$' AS handle_random, co_holder, plan
  FROM gc.p_accounts ORDER BY co_holder, plan;
SELECT id, sender, recipient, body FROM gc.p_messages ORDER BY id;

-- 12. rows of the subject's to anonymize with nothing to change: invoice lines
--     whose only labelled column is kept (ANONYMIZE WITH KEEP) and whose key
--     to the invoice is NOT NULL are reported unchanged, and why (they were
--     counted as anonymized, though nothing of them changed)
CREATE TABLE gc.i_invoices (id int PRIMARY KEY, buyer text NOT NULL, total numeric NOT NULL);
CREATE TABLE gc.i_lines (id int PRIMARY KEY, invoice int NOT NULL REFERENCES gc.i_invoices, amount numeric NOT NULL);
SECURITY LABEL FOR privacy ON COLUMN gc.i_invoices.buyer IS 'SUBJECT buyer';
SECURITY LABEL FOR privacy ON COLUMN gc.i_invoices.total IS 'CATEGORY financial.transaction ANONYMIZE WITH KEEP';
SECURITY LABEL FOR privacy ON TABLE gc.i_invoices IS 'ON CANCEL ANONYMIZE';
SECURITY LABEL FOR privacy ON COLUMN gc.i_lines.amount IS 'CATEGORY financial.transaction ANONYMIZE WITH KEEP';
SECURITY LABEL FOR privacy ON TABLE gc.i_lines IS 'ON CANCEL ANONYMIZE';
INSERT INTO gc.i_invoices VALUES (1, 'ann', 30), (2, 'bob', 5);
INSERT INTO gc.i_lines VALUES (1, 1, 10), (2, 1, 20), (3, 2, 5);
SELECT relation, action, rows, detail FROM privacy.cancel_subject('ann', kind => 'buyer') ORDER BY relation::text, action;
SELECT i::text FROM gc.i_invoices i ORDER BY id;
SELECT l::text FROM gc.i_lines l ORDER BY id;
-- and an account whose SUBJECT key the lines' NOT NULL keys still reference
-- keeps the subject in that key: an anonymous stub (it was counted as
-- anonymized, and no restricted_subject row was written for its subject)
CREATE TABLE gc.i_accounts (handle text PRIMARY KEY, note text);
CREATE TABLE gc.i_orders (id int PRIMARY KEY, account text NOT NULL REFERENCES gc.i_accounts, amount numeric NOT NULL);
SECURITY LABEL FOR privacy ON COLUMN gc.i_accounts.handle IS 'SUBJECT acct';
SECURITY LABEL FOR privacy ON TABLE gc.i_accounts IS 'ON CANCEL ANONYMIZE';
SECURITY LABEL FOR privacy ON COLUMN gc.i_orders.amount IS 'CATEGORY financial.transaction ANONYMIZE WITH KEEP';
SECURITY LABEL FOR privacy ON TABLE gc.i_orders IS 'ON CANCEL ANONYMIZE';
INSERT INTO gc.i_accounts VALUES ('alice', 'n1'), ('bob', 'n2');
INSERT INTO gc.i_orders VALUES (1, 'alice', 10), (2, 'alice', 20), (3, 'bob', 5);
SELECT relation, action, rows FROM privacy.cancel_subject('alice', kind => 'acct') ORDER BY relation::text, action;
SELECT subject, request_id IS NOT NULL AS by_request FROM privacy.restricted_subject WHERE subject_kind = 'acct';

-- 13. a cycle whose DELETEs must go in one order: a card keeps a NOT NULL key
--     to its wallet that refuses the wallet's deletion (RESTRICT), the wallet
--     a nullable key to its default card; the card goes first, whatever the
--     tables' names or their order of creation (the wallet went first when
--     the card's table was created first, and the cancellation was blocked)
CREATE TABLE gc.o_cards (id int PRIMARY KEY, wallet int NOT NULL, card_no text);
CREATE TABLE gc.o_wallets (id int PRIMARY KEY, holder int NOT NULL, default_card int);
ALTER TABLE gc.o_cards ADD FOREIGN KEY (wallet) REFERENCES gc.o_wallets ON DELETE RESTRICT;
ALTER TABLE gc.o_wallets ADD FOREIGN KEY (default_card) REFERENCES gc.o_cards;
SECURITY LABEL FOR privacy ON COLUMN gc.o_wallets.holder IS 'SUBJECT wallet_holder';
SECURITY LABEL FOR privacy ON TABLE gc.o_wallets IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN gc.o_cards.card_no IS 'CATEGORY financial.payment_account';
SECURITY LABEL FOR privacy ON TABLE gc.o_cards IS 'ON CANCEL DELETE';
INSERT INTO gc.o_wallets VALUES (1, 7, NULL), (2, 8, NULL);
INSERT INTO gc.o_cards VALUES (1, 1, '6222000011112222'), (2, 1, '6222000033334444'), (3, 2, '6222000055556666');
UPDATE gc.o_wallets SET default_card = 1 WHERE id = 1;
UPDATE gc.o_wallets SET default_card = 3 WHERE id = 2;
SELECT relation, action, rows FROM privacy.cancel_subject('7', dry_run => true, kind => 'wallet_holder') ORDER BY relation::text, action;
SELECT relation, action, rows FROM privacy.cancel_subject('7', kind => 'wallet_holder') ORDER BY relation::text, action;
SELECT w::text FROM gc.o_wallets w ORDER BY id;
SELECT c::text FROM gc.o_cards c ORDER BY id;

-- 14. a row that refers to its own SUBJECT key: an account that is its own
--     billing account; anonymizing it cuts the reference and clears the key
--     in one UPDATE (the key stayed, counted as anonymized: the row itself
--     was counted as a row still referring to the subject)
CREATE TABLE gc.s_accounts (handle text PRIMARY KEY, billed_to text REFERENCES gc.s_accounts, note text);
SECURITY LABEL FOR privacy ON COLUMN gc.s_accounts.handle IS 'SUBJECT self_billed';
SECURITY LABEL FOR privacy ON COLUMN gc.s_accounts.note IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON TABLE gc.s_accounts IS 'ON CANCEL ANONYMIZE';
INSERT INTO gc.s_accounts VALUES ('ann', NULL, 'n1'), ('bob', NULL, 'n2');
UPDATE gc.s_accounts SET billed_to = handle;
SELECT relation, action, rows FROM privacy.cancel_subject('ann', dry_run => true, kind => 'self_billed') ORDER BY relation::text, action;
SELECT relation, action, rows FROM privacy.cancel_subject('ann', kind => 'self_billed') ORDER BY relation::text, action;
SELECT handle = 'bob' AS bob, handle IN ('ann', 'bob') AS known_handle, billed_to, note FROM gc.s_accounts ORDER BY handle = 'bob';
SELECT count(*) AS stubs FROM privacy.restricted_subject WHERE subject_kind = 'self_billed';

DROP SCHEMA gc CASCADE;

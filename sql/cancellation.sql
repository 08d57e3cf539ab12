-- cancellation: privacy.cancel_subject across a realistic schema
\set VERBOSITY terse
CREATE SCHEMA store;
CREATE TABLE store.users (
    id          integer PRIMARY KEY,
    name        text NOT NULL,
    phone       text UNIQUE,
    email       text NOT NULL UNIQUE,
    birth       date,
    referred_by integer REFERENCES store.users ON DELETE SET NULL
);
SECURITY LABEL FOR privacy ON COLUMN store.users.id    IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN store.users.name  IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON COLUMN store.users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN store.users.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN store.users.birth IS 'CATEGORY identity.birth_date';
SECURITY LABEL FOR privacy ON TABLE store.users IS 'ON CANCEL DELETE';

CREATE TABLE store.id_verification (
    user_id   integer PRIMARY KEY REFERENCES store.users,
    id_number text NOT NULL,
    face      bytea,
    verified  boolean NOT NULL DEFAULT true
);
SECURITY LABEL FOR privacy ON COLUMN store.id_verification.id_number IS 'CATEGORY identity.id_number';
SECURITY LABEL FOR privacy ON COLUMN store.id_verification.face IS 'CATEGORY biometric.face';

CREATE TABLE store.devices (
    user_id   integer NOT NULL REFERENCES store.users ON DELETE CASCADE,
    device_id text NOT NULL,
    push_token text,
    PRIMARY KEY (user_id, device_id)
);
SECURITY LABEL FOR privacy ON COLUMN store.devices.device_id IS 'CATEGORY device.id';
SECURITY LABEL FOR privacy ON COLUMN store.devices.push_token IS 'CATEGORY device.push_token';

CREATE TABLE store.login_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   integer NOT NULL,
    ip        inet,
    logged_at timestamptz NOT NULL
);
CREATE INDEX ON store.login_log (user_id);
SECURITY LABEL FOR privacy ON COLUMN store.login_log.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN store.login_log.ip IS 'CATEGORY device.ip';
SECURITY LABEL FOR privacy ON TABLE store.login_log IS 'RETAIN 6 months AFTER logged_at ON CANCEL KEEP UNTIL RETENTION';

CREATE TABLE store.messages (
    id        integer PRIMARY KEY,
    sender    integer REFERENCES store.users,
    recipient integer REFERENCES store.users,
    body      text NOT NULL
);
CREATE INDEX ON store.messages (sender);
CREATE INDEX ON store.messages (recipient);
SECURITY LABEL FOR privacy ON COLUMN store.messages.sender IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN store.messages.recipient IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN store.messages.body IS 'CATEGORY content.message';
SECURITY LABEL FOR privacy ON TABLE store.messages IS 'ON CANCEL DELETE';

CREATE TABLE store.orders (
    id           integer PRIMARY KEY,
    user_id      integer REFERENCES store.users,
    ship_phone   text NOT NULL CHECK (ship_phone ~ '^[0-9]{11}$'),
    ship_address text,
    total        numeric(10,2) NOT NULL
);
CREATE INDEX ON store.orders (user_id);
SECURITY LABEL FOR privacy ON COLUMN store.orders.ship_phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN store.orders.ship_address IS 'CATEGORY contact.address';
SECURITY LABEL FOR privacy ON TABLE store.orders IS 'ON CANCEL ANONYMIZE';

CREATE TABLE store.order_items (
    order_id  integer REFERENCES store.orders,
    line      integer,
    sku       text NOT NULL,
    gift_note text,
    PRIMARY KEY (order_id, line)
);
SECURITY LABEL FOR privacy ON COLUMN store.order_items.gift_note IS 'CATEGORY content.message';
SECURITY LABEL FOR privacy ON TABLE store.order_items IS 'ON CANCEL ANONYMIZE';

-- a composite foreign key, three hops from the subject
CREATE TABLE store.item_reviews (
    order_id integer,
    line     integer,
    review   text NOT NULL,
    FOREIGN KEY (order_id, line) REFERENCES store.order_items
);
SECURITY LABEL FOR privacy ON COLUMN store.item_reviews.review IS 'CATEGORY content.feedback';
SECURITY LABEL FOR privacy ON TABLE store.item_reviews IS 'ON CANCEL DELETE';

-- a partitioned event table
CREATE TABLE store.events (
    user_id integer NOT NULL,
    at      timestamptz NOT NULL,
    kind    text NOT NULL,
    detail  text
) PARTITION BY RANGE (at);
CREATE TABLE store.events_2025 PARTITION OF store.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE store.events_2026 PARTITION OF store.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX ON store.events (user_id);
SECURITY LABEL FOR privacy ON COLUMN store.events.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN store.events.detail IS 'CATEGORY log.operation';
SECURITY LABEL FOR privacy ON TABLE store.events IS 'ON CANCEL DELETE';

-- a cycle: a cart points at its last item, an item at its cart
CREATE TABLE store.carts (
    id        integer PRIMARY KEY,
    user_id   integer NOT NULL REFERENCES store.users,
    last_item integer
);
CREATE TABLE store.cart_items (
    id      integer PRIMARY KEY,
    cart_id integer NOT NULL REFERENCES store.carts,
    sku     text NOT NULL
);
ALTER TABLE store.carts ADD FOREIGN KEY (last_item) REFERENCES store.cart_items ON DELETE SET NULL;
SECURITY LABEL FOR privacy ON TABLE store.carts IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON TABLE store.cart_items IS 'ON CANCEL DELETE';

-- the data: subjects 9001 (Alice), 9002 (Bob), 9003 (Carol)
INSERT INTO store.users VALUES
    (9001, 'Alice Zhang', '13800138001', 'alice@example.com', '1990-05-01', NULL),
    (9002, 'Bob Li',      '13800138002', 'bob@example.com',   '1985-02-02', 9001),
    (9003, 'Carol Wang',  NULL,          'carol@example.com', '2001-03-03', 9001);
INSERT INTO store.id_verification VALUES (9001, '11010519900501123X', privacy.subject_encrypt('9001', 'Alice face template'), true), (9002, '110105198502021234', '\x0102', true);
INSERT INTO store.devices VALUES (9001, 'dev-a1', 'tok-a1'), (9001, 'dev-a2', NULL), (9002, 'dev-b1', 'tok-b1');
INSERT INTO store.login_log (user_id, ip, logged_at) VALUES
    (9001, '10.0.0.1', '2026-11-01'), (9001, '10.0.0.2', '2026-11-02'), (9002, '10.0.0.3', '2026-11-03');
INSERT INTO store.messages VALUES
    (1, 9001, 9002, 'hi Bob, from Alice'), (2, 9002, 9001, 'hi Alice, from Bob'), (3, 9001, NULL, 'Alice note to self'),
    (4, 9002, 9003, 'Bob to Carol');
INSERT INTO store.orders VALUES
    (10, 9001, '13800138001', 'Alice street 1', 99.50), (11, 9001, '13800138001', NULL, 10.00),
    (20, 9002, '13800138002', 'Bob road 2', 5.00);
INSERT INTO store.order_items VALUES (10, 1, 'SKU-1', 'happy birthday Alice'), (10, 2, 'SKU-2', NULL),
    (11, 1, 'SKU-3', NULL), (20, 1, 'SKU-1', 'for Bob');
INSERT INTO store.item_reviews VALUES (10, 1, 'great, says Alice'), (20, 1, 'fine, says Bob');
INSERT INTO store.events VALUES
    (9001, '2025-06-01', 'login', 'Alice logged in'), (9001, '2026-06-01', 'search', 'Alice searched'),
    (9002, '2026-06-02', 'login', 'Bob logged in');
INSERT INTO store.carts VALUES (100, 9001, NULL), (200, 9002, NULL);
INSERT INTO store.cart_items VALUES (1000, 100, 'SKU-1'), (1001, 100, 'SKU-2'), (2000, 200, 'SKU-9');
UPDATE store.carts SET last_item = 1001 WHERE id = 100;
UPDATE store.carts SET last_item = 2000 WHERE id = 200;

-- a table another role owns, whose trigger tries to take the rights of
-- whoever deletes from it
CREATE ROLE regress_shop_owner;
CREATE TABLE store.profiles (user_id integer PRIMARY KEY REFERENCES store.users, bio text);
SECURITY LABEL FOR privacy ON COLUMN store.profiles.bio IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON TABLE store.profiles IS 'ON CANCEL DELETE';
CREATE TABLE store.marker (who name, attempt text);
CREATE FUNCTION store.profiles_trap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE 'ALTER ROLE regress_shop_owner SUPERUSER';
        INSERT INTO store.marker VALUES (current_user, 'became superuser');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO store.marker VALUES (current_user, SQLERRM);
    END;
    RETURN OLD;
END
$$;
CREATE TRIGGER profiles_trap BEFORE DELETE ON store.profiles FOR EACH ROW EXECUTE FUNCTION store.profiles_trap();
GRANT USAGE ON SCHEMA store TO regress_shop_owner;
ALTER TABLE store.profiles OWNER TO regress_shop_owner;
ALTER TABLE store.marker OWNER TO regress_shop_owner;
ALTER FUNCTION store.profiles_trap() OWNER TO regress_shop_owner;
INSERT INTO store.profiles VALUES (9001, 'Alice likes tea'), (9002, 'Bob likes coffee');

-- an anonymization that a CHECK constraint refuses (Carol's invoice)
CREATE TABLE store.invoices (
    id          integer PRIMARY KEY,
    user_id     integer REFERENCES store.users,
    buyer_phone text NOT NULL CHECK (buyer_phone ~ '^1[0-9]{10}$')
);
SECURITY LABEL FOR privacy ON COLUMN store.invoices.buyer_phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON TABLE store.invoices IS 'ON CANCEL ANONYMIZE';
INSERT INTO store.invoices VALUES (1, 9003, '13700137003');

-- Alice's consent, her minor setting and her subject key
SELECT privacy.grant_consent('9001', 'marketing') > 0 AS granted;
SELECT privacy.withdraw_consent('9001', 'marketing');
SELECT privacy.grant_consent('9001', 'marketing') > 0 AS granted;
SELECT privacy.set_minor('9001', false);

-- every row of the schema as text, to compare before and after
CREATE FUNCTION store_rows() RETURNS TABLE (tbl text, row_text text) LANGUAGE sql AS $$
    SELECT 'users', u::text FROM store.users u UNION ALL
    SELECT 'id_verification', v.user_id || ',' || v.id_number || ',' ||
           COALESCE(CASE WHEN v.user_id = 9001 THEN 'ciphertext' ELSE v.face::text END, '') FROM store.id_verification v UNION ALL
    SELECT 'devices', d::text FROM store.devices d UNION ALL
    SELECT 'login_log', l::text FROM store.login_log l UNION ALL
    SELECT 'messages', m::text FROM store.messages m UNION ALL
    SELECT 'orders', o::text FROM store.orders o UNION ALL
    SELECT 'order_items', i::text FROM store.order_items i UNION ALL
    SELECT 'item_reviews', r::text FROM store.item_reviews r UNION ALL
    SELECT 'events', e.tableoid::regclass || ':' || e::text FROM store.events e UNION ALL
    SELECT 'carts', c::text FROM store.carts c UNION ALL
    SELECT 'cart_items', c::text FROM store.cart_items c UNION ALL
    SELECT 'profiles', p::text FROM store.profiles p UNION ALL
    SELECT 'invoices', i::text FROM store.invoices i
$$;
CREATE TABLE before_rows AS SELECT * FROM store_rows();
CREATE FUNCTION audit_entries() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM privacy.audit_log $$;
CREATE TABLE audit_before AS SELECT audit_entries() AS n;

-- where each table's rows come from
SELECT relation, subject_relation, hops, path FROM privacy.subject_path
 WHERE relation::text LIKE 'store.%' ORDER BY relation::text;
SELECT c.relname, privacy.cancel_action(c.oid) FROM pg_class c
 WHERE c.relnamespace = 'store'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1;

-- a purpose view on another legal basis than consent shows every subject's rows
SELECT name, legal_basis FROM privacy.purpose WHERE name = 'security';
SELECT privacy.create_purpose_view('store.login_log', 'security');
SELECT user_id, count(*) FROM store.login_log_security GROUP BY 1 ORDER BY 1;
UPDATE audit_before SET n = audit_entries();

-- the dry run: the plan, and nothing changed (rows, audit log, ledger, key)
CREATE TABLE plan AS SELECT * FROM privacy.cancel_subject('9001', dry_run => true);
SELECT * FROM plan;
SELECT count(*) AS changed_rows FROM ((TABLE before_rows EXCEPT ALL SELECT * FROM store_rows())
                                     UNION ALL (SELECT * FROM store_rows() EXCEPT ALL TABLE before_rows)) d;
SELECT audit_entries() - n AS new_audit_entries FROM audit_before;
SELECT privacy.has_consent('9001', 'marketing'), privacy.is_minor('9001');
SELECT privacy.subject_decrypt('9001', face) FROM store.id_verification WHERE user_id = 9001;
SELECT count(*) FROM privacy.cancelled_subject;
SELECT count(*) FROM store.marker;

-- the cancellation
CREATE TABLE done AS SELECT * FROM privacy.cancel_subject('9001');
SELECT * FROM done;
-- the dry run showed exactly what happened
SELECT (SELECT array_agg(p::text ORDER BY p::text) FROM plan p) = (SELECT array_agg(d::text ORDER BY d::text) FROM done d) AS plan_matches;

-- what changed: only Alice's rows (gone or anonymized), the other party's
-- side of shared messages, and the referrals ON DELETE SET NULL clears
SELECT 'before' AS version, * FROM (TABLE before_rows EXCEPT ALL SELECT * FROM store_rows()) d
UNION ALL
SELECT 'after', * FROM (SELECT * FROM store_rows() EXCEPT ALL TABLE before_rows) d
ORDER BY 2, 1 DESC, 3;

-- no labelled value of Alice remains outside the rows kept until retention
-- (her name stays only in the text of the messages Bob sent and received)
SELECT v AS alice_value, count(r.*) AS rows_holding_it, string_agg(r.tbl, ', ') AS tables
  FROM unnest(ARRAY['Alice', '13800138001', 'alice@example.com', '11010519900501123X', 'dev-a1', 'tok-a1',
                    'Alice street 1', 'happy birthday Alice', 'great, says Alice', 'Alice likes tea', '9001']) v
  LEFT JOIN store_rows() r ON r.row_text LIKE '%' || v || '%' AND r.tbl <> 'login_log'
 GROUP BY v ORDER BY v;
SELECT * FROM store.login_log WHERE user_id = 9001 ORDER BY id;
-- ... which are stored and secured: shown only by the views of a purpose
-- that sees kept rows, here security (PIPL Art. 47; purpose_views.sql)
SELECT user_id, count(*) FROM store.login_log_security GROUP BY 1 ORDER BY 1;
SELECT subject, subject_key FROM privacy.restricted_subject;

-- the subject key is shredded: the ciphertext is unreadable, in every backup too
SELECT try($$SELECT privacy.subject_decrypt('9001', '\x03'::bytea)$$);
-- the consent ledger keeps the history under the pseudonym, and forgets the subject
SELECT count(*) FILTER (WHERE subject = '9001') AS by_subject,
       count(*) FILTER (WHERE subject = 'cancelled:' || privacy.subject_pseudonym('9001')) AS by_pseudonym
  FROM privacy.consent_event;
SELECT privacy.has_consent('9001', 'marketing'), privacy.is_minor('9001');
SELECT count(*) FROM privacy.consent WHERE subject = '9001';
-- ... and stays append-only otherwise
SELECT try($$UPDATE privacy.consent_event SET subject = 'someone else' WHERE subject LIKE 'cancelled:%'$$);

-- the table owner's trigger ran as the owner, in a restricted context, and gained nothing
SELECT who, attempt FROM store.marker;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_shop_owner';

-- the receipt: request, per-table counts, no personal data
SELECT kind, object = 'subject ' || privacy.subject_pseudonym('9001') AS names_the_pseudonym, actor = current_user AS actor,
       jsonb_pretty(detail - 'request') AS receipt, detail ? 'request' AS has_request
  FROM privacy.audit_log WHERE kind = 'cancellation';
SELECT count(*) AS receipts_with_personal_data FROM privacy.audit_log a,
       unnest(ARRAY['Alice', '13800138001', 'alice@example.com', '9001']) v
 WHERE (a.object || ' ' || a.detail::text) ~ ('(^|[^0-9a-zA-Z])' || v || '([^0-9a-zA-Z]|$)');
SELECT kind, status, subject IS NULL AS subject_forgotten, closed_at IS NOT NULL AS closed
  FROM privacy.request WHERE subject_id = privacy.subject_pseudonym('9001');
SELECT count(*) FROM privacy.cancelled_subject WHERE subject_id = privacy.subject_pseudonym('9001');
SELECT verify_audit_log.valid FROM privacy.verify_audit_log();

-- cancelling again, or a subject nobody holds, changes nothing and says so
DROP TABLE before_rows;
CREATE TABLE before_rows AS SELECT * FROM store_rows();
UPDATE audit_before SET n = audit_entries();
SELECT relation, action, rows, detail LIKE 'cancelled at %; nothing was changed' AS says_so FROM privacy.cancel_subject('9001');
SELECT * FROM privacy.cancel_subject('9999');
SELECT * FROM privacy.cancel_subject('not a number');
SELECT count(*) AS changed_rows FROM ((TABLE before_rows EXCEPT ALL SELECT * FROM store_rows())
                                     UNION ALL (SELECT * FROM store_rows() EXCEPT ALL TABLE before_rows)) d;
SELECT audit_entries() - n AS new_audit_entries FROM audit_before;
SELECT try($$SELECT * FROM privacy.cancel_subject(NULL)$$);

-- a foreign key from an unlabelled table blocks Bob's cancellation: the dry
-- run shows it; the real run fails naming the table and constraint, and
-- changes nothing
CREATE TABLE store.tickets (id integer PRIMARY KEY, user_id integer REFERENCES store.users, subject_line text);
INSERT INTO store.tickets VALUES (1, 9002, 'my order is late'), (2, 9002, 'thanks');
SELECT relation, action, rows, detail FROM privacy.cancel_subject('9002', true) WHERE action = 'blocked';
SELECT try($$SELECT * FROM privacy.cancel_subject('9002')$$);
SELECT count(*) AS changed_rows FROM ((TABLE before_rows EXCEPT ALL SELECT * FROM store_rows())
                                     UNION ALL (SELECT * FROM store_rows() EXCEPT ALL TABLE before_rows)) d;
SELECT audit_entries() - n AS new_audit_entries FROM audit_before;
-- once the key says what to do, it goes through
ALTER TABLE store.tickets DROP CONSTRAINT tickets_user_id_fkey,
    ADD FOREIGN KEY (user_id) REFERENCES store.users ON DELETE CASCADE;
SELECT relation, action, rows FROM privacy.cancel_subject('9002') ORDER BY relation::text, action;
SELECT count(*) FROM store.tickets;

-- an anonymization that a constraint refuses: the error names it, not the values
SELECT try($$SELECT * FROM privacy.cancel_subject('9003')$$);
SELECT relation, action, rows, detail FROM privacy.cancel_subject('9003', true) WHERE action = 'blocked';
SELECT * FROM store.invoices;

-- privacy.check() names the subject columns and foreign keys that cancellation
-- and export would read whole tables for
CREATE TABLE store.newsletter (user_id integer, topic text);
SECURITY LABEL FOR privacy ON COLUMN store.newsletter.user_id IS 'SUBJECT';
SELECT * FROM privacy.check() WHERE object LIKE 'store.%';
DROP TABLE store.newsletter;
CREATE INDEX ON store.carts (user_id);
SELECT count(*) FROM privacy.check() WHERE object LIKE 'store.carts%' AND severity = 'warning';

-- anonymous values: same type, nothing of the original, random where unique
SELECT privacy.anonymous_value('13800138000'::text, 'contact.phone'),
       privacy.anonymous_value('x@y.cn'::varchar, 'contact.email'),
       privacy.anonymous_value('Alice'::text, 'identity.name'),
       privacy.anonymous_value(42, NULL), privacy.anonymous_value('1990-01-02'::date, 'identity.birth_date'),
       privacy.anonymous_value('10.1.2.3'::inet, 'device.ip'), privacy.anonymous_value(true, NULL),
       privacy.anonymous_value(NULL::text, 'contact.phone');
SELECT v ~ '^[0-9]{11}$' AS digits, v <> '13800138000' AS differs
  FROM privacy.anonymous_value('13800138000'::text, 'contact.phone', true) v;
SELECT privacy.anonymous_value('a@b.c'::text, 'contact.email', true) ~ '^anonymized-[0-9a-f]{32}@anonymized\.invalid$' AS unique_email;
SELECT count(DISTINCT privacy.anonymous_value('Alice'::text, 'identity.name', true)) FROM generate_series(1, 100);
SELECT try($$SELECT privacy.anonymous_value(point(1, 2), 'location.precise')$$);
-- only administrators cancel
SELECT 'store.users'::regclass::oid AS users_oid \gset
SET ROLE regress_app;
SELECT try($$SELECT * FROM privacy.cancel_subject('9003')$$);
SELECT try(format('SELECT privacy.owner_exec(%s, %L, NULL, NULL)', :users_oid, 'DELETE FROM store.users'));
RESET ROLE;
-- owner_exec runs SQL as a table's owner: even when granted, only the
-- extension's owner (inside its own functions) may call it
GRANT EXECUTE ON FUNCTION privacy.owner_exec(regclass, text, tid[], text) TO regress_app;
SET ROLE regress_app;
SELECT try(format('SELECT privacy.owner_exec(%s, %L, NULL, NULL)', :users_oid, 'DELETE FROM store.users'));
RESET ROLE;
REVOKE EXECUTE ON FUNCTION privacy.owner_exec(regclass, text, tid[], text) FROM regress_app;
SELECT count(*) FROM store.users;

-- anonymizing keeps NOT NULL and UNIQUE constraints: each row gets its own
-- random value where the column is unique, a placeholder where it is not
CREATE TABLE store.accounts (
    id      integer PRIMARY KEY,
    owner   integer NOT NULL,
    login   text NOT NULL UNIQUE,
    email   text NOT NULL,
    phone   varchar(11) NOT NULL UNIQUE
);
SECURITY LABEL FOR privacy ON COLUMN store.accounts.owner IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN store.accounts.login IS 'CATEGORY account.username';
SECURITY LABEL FOR privacy ON COLUMN store.accounts.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN store.accounts.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON TABLE store.accounts IS 'ON CANCEL ANONYMIZE';
INSERT INTO store.accounts VALUES (1, 9010, 'alice01', 'a1@example.com', '13900000001'),
                                  (2, 9010, 'alice02', 'a2@example.com', '13900000002'),
                                  (3, 9011, 'bob01',   'b1@example.com', '13900000003');
SELECT relation, action, rows FROM privacy.cancel_subject('9010');
SELECT id, owner, login ~ '^anonymized-[0-9a-f]{32}$' AS random_login, email,
       phone ~ '^[0-9]{11}$' AS digits, phone NOT IN ('13900000001', '13900000002') AS changed
  FROM store.accounts ORDER BY id;
SELECT count(DISTINCT login) = 3 AND count(DISTINCT phone) = 3 AS still_unique FROM store.accounts;

-- tombstones: every table with a SUBJECT column gets a trigger on those
-- columns that refuses a cancelled subject (test/tap/009_tombstones.pl replays
-- cancellations after restoring an older backup); the error's time is masked
CREATE FUNCTION pg_temp.untimed(t text) RETURNS text LANGUAGE sql
    AS $$ SELECT regexp_replace(t, 'tombstone of [^(]+ \(', 'tombstone of <time> (') $$;
SELECT c.relname, t.tgname, t.tgattr, t.tgtype
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE t.tgname = 'privacy_cancelled_subject' AND c.relnamespace = 'store'::regnamespace
 ORDER BY 1;
SELECT pg_temp.untimed(try($$INSERT INTO store.accounts VALUES (4, 9010, 'alice03', 'a3@example.com', '13900000004')$$));
SELECT pg_temp.untimed(try($$UPDATE store.accounts SET owner = 9010 WHERE id = 3$$));
-- an update that keeps the subject passes, and so does another subject
UPDATE store.accounts SET owner = owner, email = 'b2@example.com' WHERE id = 3;
INSERT INTO store.accounts VALUES (4, 9012, 'carol01', 'c1@example.com', '13900000004');
SELECT count(*) FROM store.accounts WHERE owner = 9010;
-- an erasure is never refused: the owner column's placeholder is 0, and once
-- subject 0 is cancelled, anonymizing another subject's account writes 0 again
-- (in a transaction rolled back: the suites after this one count these tables)
BEGIN;
INSERT INTO store.accounts VALUES (5, 0, 'zero01', 'z1@example.com', '13900000005');
SELECT relation, action, rows FROM privacy.cancel_subject('0');
SELECT relation, action, rows FROM privacy.cancel_subject('9012');
SELECT id, owner, email FROM store.accounts WHERE id IN (4, 5) ORDER BY id;
SELECT pg_temp.untimed(try($$INSERT INTO store.accounts VALUES (6, 0, 'zero02', 'z2@example.com', '13900000006')$$));
ROLLBACK;
-- (request numbers are not rolled back: the next suites' numbers stay as they were)
SELECT setval('privacy.request_id_seq', (SELECT max(id) FROM privacy.request)) IS NOT NULL AS request_numbers_reset;
-- two subject columns: one trigger on both; either one refuses
CREATE TABLE store.transfers (id int PRIMARY KEY, sender int, note text, receiver int);
SECURITY LABEL FOR privacy ON COLUMN store.transfers.sender IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN store.transfers.receiver IS 'SUBJECT';
SELECT tgattr FROM pg_trigger WHERE tgrelid = 'store.transfers'::regclass AND tgname = 'privacy_cancelled_subject';
SELECT pg_temp.untimed(try($$INSERT INTO store.transfers VALUES (1, 9011, 'rent', 9010)$$));
INSERT INTO store.transfers VALUES (1, 9011, 'rent', NULL);
-- a label change moves it; no SUBJECT column left, no trigger
SECURITY LABEL FOR privacy ON COLUMN store.transfers.sender IS 'CATEGORY financial.bank_account';
SELECT tgattr FROM pg_trigger WHERE tgrelid = 'store.transfers'::regclass AND tgname = 'privacy_cancelled_subject';
SECURITY LABEL FOR privacy ON COLUMN store.transfers.receiver IS NULL;
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'store.transfers'::regclass AND tgname = 'privacy_cancelled_subject';
-- partitions, present and future, carry it, and refuse through the parent or directly
CREATE TABLE store.visits (user_id int NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE store.visits_2026 PARTITION OF store.visits FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SECURITY LABEL FOR privacy ON COLUMN store.visits.user_id IS 'SUBJECT';
CREATE TABLE store.visits_2027 PARTITION OF store.visits FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
SELECT tgrelid::regclass, tgparentid <> 0 AS cloned FROM pg_trigger WHERE tgname = 'privacy_cancelled_subject'
   AND tgrelid::regclass::text LIKE 'store.visits%' ORDER BY 1::text;
SELECT pg_temp.untimed(try($$INSERT INTO store.visits VALUES (9010, '2026-05-01')$$));
SELECT pg_temp.untimed(try($$INSERT INTO store.visits_2027 VALUES (9010, '2027-05-01')$$));
INSERT INTO store.visits VALUES (9011, '2026-05-01'), (9011, '2027-05-01');
SELECT count(*) FROM store.visits;
-- the journal, outside the database, has the same tombstones as the table
SELECT (SELECT array_agg(subject_id ORDER BY subject_id) FROM privacy.tombstone_journal())
     = (SELECT array_agg(subject_id ORDER BY subject_id) FROM privacy.cancelled_subject) AS journal_matches;
-- journal_tombstone checks its input
SELECT try($$SELECT privacy.journal_tombstone('not hex', now())$$);
SELECT try($$SELECT privacy.journal_tombstone(NULL, now())$$);
-- nothing to replay here: every cancelled subject is gone
SELECT count(*) FROM privacy.replay_cancellations();
-- roles without a grant may not replay, read the journal or write to it
SET ROLE regress_app;
SELECT try($$SELECT privacy.replay_cancellations()$$);
SELECT try($$SELECT * FROM privacy.tombstone_journal()$$);
SELECT try($$SELECT privacy.journal_tombstone(repeat('ab', 32), now())$$);
RESET ROLE;

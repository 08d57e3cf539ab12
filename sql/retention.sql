-- retention: privacy.run_retention, legal holds, the run log, the preview
\set VERBOSITY terse
CREATE SCHEMA keep;
CREATE TABLE keep.users (id integer PRIMARY KEY, email text);
SECURITY LABEL FOR privacy ON COLUMN keep.users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN keep.users.email IS 'CATEGORY contact.email';
INSERT INTO keep.users SELECT i, 'user' || i || '@example.com' FROM generate_series(1, 4) i;

-- login rows: the row goes after 180 days, its address is cut to its network after 30
CREATE TABLE keep.logins (
    id        integer PRIMARY KEY,
    user_id   integer REFERENCES keep.users,
    ip        inet,
    agent     text,
    logged_at timestamptz NOT NULL
);
CREATE INDEX ON keep.logins (logged_at);
SECURITY LABEL FOR privacy ON COLUMN keep.logins.ip IS 'CATEGORY device.ip RETAIN 30 days AFTER logged_at';
SECURITY LABEL FOR privacy ON COLUMN keep.logins.agent IS 'CATEGORY device.model RETAIN 30 days AFTER logged_at';
SECURITY LABEL FOR privacy ON TABLE keep.logins IS 'RETAIN 180 days AFTER logged_at';
-- 40 rows a day apart, from 5 to 200 days old, users 1 to 4 in turn
INSERT INTO keep.logins
SELECT i, 1 + i % 4, ('192.168.' || i || '.' || (i + 10))::inet, 'agent ' || i,
       date_trunc('day', now()) - ((5 * i) || ' days')::interval
  FROM generate_series(1, 40) i;

-- orders: anonymized after 1 year, the row kept for accounting
CREATE TABLE keep.orders (
    id       integer PRIMARY KEY,
    user_id  integer REFERENCES keep.users,
    phone    text NOT NULL,
    address  text,
    total    numeric NOT NULL,
    placed   date NOT NULL
);
CREATE INDEX ON keep.orders (placed);
SECURITY LABEL FOR privacy ON COLUMN keep.orders.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN keep.orders.address IS 'CATEGORY contact.address';
SECURITY LABEL FOR privacy ON TABLE keep.orders IS 'RETAIN 1 year AFTER placed THEN ANONYMIZE';
INSERT INTO keep.orders VALUES
    (1, 1, '13800000001', 'road 1', 10, current_date - 800),
    (2, 2, '13800000002', 'road 2', 20, current_date - 500),
    (3, 3, '13800000003', 'road 3', 30, current_date - 400),
    (4, 4, '13800000004', 'road 4', 40, current_date - 10);

-- a partitioned event table, deleted after 90 days
CREATE TABLE keep.events (user_id integer, at timestamptz NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE keep.events_old PARTITION OF keep.events FOR VALUES FROM (MINVALUE) TO ('2026-06-01');
CREATE TABLE keep.events_new PARTITION OF keep.events FOR VALUES FROM ('2026-06-01') TO (MAXVALUE);
SECURITY LABEL FOR privacy ON COLUMN keep.events.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON TABLE keep.events IS 'RETAIN 90 days AFTER at';
INSERT INTO keep.events SELECT 1 + i % 4, now() - (i * 10 || ' days')::interval, 'event ' || i FROM generate_series(1, 30) i;

-- a table whose anonymization fails: its unique NOT NULL token
CREATE TABLE keep.tokens (token text NOT NULL UNIQUE, issued date NOT NULL);
SECURITY LABEL FOR privacy ON COLUMN keep.tokens.token IS 'CATEGORY credential.token';
SECURITY LABEL FOR privacy ON TABLE keep.tokens IS 'RETAIN 30 days AFTER issued THEN ANONYMIZE';
INSERT INTO keep.tokens VALUES ('tok-1', current_date - 100), ('tok-2', current_date);

SELECT relation, column_name, retain, retain_after, action FROM privacy.retention_rule
 WHERE relation::text LIKE 'keep.%' ORDER BY relation::text, column_name NULLS FIRST;

-- legal holds: user 3's rows everywhere (through foreign keys too), and the event table
SELECT privacy.place_hold('3', now() + interval '1 year', 'litigation 2026-17') AS user_hold \gset
SELECT privacy.place_hold('keep.events'::regclass, now() + interval '1 month', 'regulator inquiry') AS table_hold \gset
SELECT try($$SELECT privacy.place_hold('3', now() - interval '1 day', 'too late')$$);
SELECT try($$SELECT privacy.place_hold('3', now() + interval '1 day', NULL)$$);
SELECT try($$SELECT privacy.place_hold(NULL::text, now() + interval '1 day', 'x')$$);
SELECT try($$SELECT privacy.place_hold('keep.events'::regclass, now() - interval '1 day', 'too late')$$);
SELECT try($$SELECT privacy.place_hold('keep.events'::regclass, NULL, 'x')$$);
-- a hold on a partition holds its partitioned table
SELECT privacy.place_hold('keep.events_old'::regclass, now() + interval '1 day', 'partition') AS partition_hold \gset
SELECT subject, table_schema, table_name, reason, released_at FROM privacy.hold ORDER BY id;
SELECT privacy.release_hold(:partition_hold);

-- the preview: what is due, and nothing changes
SELECT relation, column_name, action, due, held, problem FROM privacy.retention_preview()
 WHERE relation::text LIKE 'keep.%' ORDER BY relation::text, column_name NULLS FIRST;
CREATE FUNCTION keep_rows() RETURNS TABLE (tbl text, n bigint) LANGUAGE sql AS $$
    SELECT 'logins', count(*) FROM keep.logins UNION ALL
    SELECT 'logins, address generalized', count(*) FROM keep.logins WHERE masklen(ip) < 32 UNION ALL
    SELECT 'logins, agent cleared', count(*) FROM keep.logins WHERE agent IS NULL UNION ALL
    SELECT 'orders anonymized', count(*) FROM keep.orders WHERE phone = '00000000000' UNION ALL
    SELECT 'events', count(*) FROM keep.events UNION ALL
    SELECT 'tokens', count(*) FROM keep.tokens
$$;
SELECT * FROM keep_rows();

-- a dry run logs what is due and changes nothing
CALL privacy.run_retention(dry_run => true);
SELECT status, relation, column_name, rows, due, held, error FROM privacy.retention_log
 WHERE relation LIKE 'keep.%' ORDER BY id, relation, column_name NULLS FIRST;
SELECT * FROM keep_rows();

-- max_duration reached before the first batch: the run stops cleanly and says so
CALL privacy.run_retention(max_duration => '1 microsecond');
SELECT id, status, relation FROM privacy.retention_log WHERE id = (SELECT max(id) FROM privacy.retention_run);

-- the run: batches of 4, each committed; the token table fails and the others go on
CALL privacy.run_retention(batch_size => 4);
SELECT status, relation, column_name, action, rows, batches, held, error FROM privacy.retention_log
 WHERE id = (SELECT max(id) FROM privacy.retention_run) AND relation LIKE 'keep.%'
 ORDER BY relation, column_name NULLS FIRST;
SELECT * FROM keep_rows();
-- held counts the expired rows legal holds kept back: user 3's (a subject's
-- hold) in each clause, every expired event (a hold on the table)
SELECT l.relation, l.column_name, l.held,
       l.held = CASE l.relation || COALESCE('.' || l.column_name, '')
           WHEN 'keep.logins' THEN (SELECT count(*) FROM keep.logins WHERE user_id = 3 AND logged_at < now() - interval '180 days')
           WHEN 'keep.logins.agent' THEN (SELECT count(*) FROM keep.logins WHERE user_id = 3 AND logged_at < now() - interval '30 days')
           WHEN 'keep.logins.ip' THEN (SELECT count(*) FROM keep.logins WHERE user_id = 3 AND logged_at < now() - interval '30 days')
           WHEN 'keep.orders' THEN (SELECT count(*) FROM keep.orders WHERE user_id = 3 AND placed < current_date - 365)
           WHEN 'keep.events' THEN (SELECT count(*) FROM keep.events WHERE at < now() - interval '90 days')
           ELSE 0 END AS as_counted
  FROM privacy.retention_log l
 WHERE l.id = (SELECT max(id) FROM privacy.retention_run) AND l.relation LIKE 'keep.%'
 ORDER BY 1, 2 NULLS FIRST;
-- the held user's rows are untouched; everybody else's expired rows are gone or anonymized
SELECT user_id, count(*) AS rows, min(now() - logged_at) > interval '180 days' AS kept_old_rows
  FROM keep.logins WHERE logged_at < now() - interval '180 days' GROUP BY 1 ORDER BY 1;
SELECT id, user_id, phone, address, total, placed < current_date - 365 AS expired FROM keep.orders ORDER BY id;
SELECT id, ip, agent FROM keep.logins WHERE id IN (5, 6, 7, 8) ORDER BY id;

-- a second run finds nothing more to do (anonymized rows are not done again)
CALL privacy.run_retention(batch_size => 4);
SELECT relation, column_name, rows FROM privacy.retention_log
 WHERE id = (SELECT max(id) FROM privacy.retention_run) AND relation LIKE 'keep.%' ORDER BY relation, column_name NULLS FIRST;

-- releasing the holds lets the next run process those rows
SELECT privacy.release_hold(:user_hold);
SELECT privacy.release_hold(:table_hold);
SELECT try(format('SELECT privacy.release_hold(%s)', :user_hold)) LIKE '55000: hold % is already released' AS released_twice;
SELECT try($$SELECT privacy.release_hold(-1)$$);
SELECT try($$SELECT privacy.release_hold(NULL)$$);
CALL privacy.run_retention(batch_size => 100);
SELECT relation, column_name, rows FROM privacy.retention_log
 WHERE id = (SELECT max(id) FROM privacy.retention_run) AND relation LIKE 'keep.%' ORDER BY relation, column_name NULLS FIRST;
SELECT * FROM keep_rows();

-- every run and hold is audited, subjects by pseudonym
SELECT kind, detail->>'operation' AS operation, detail ? 'subject' AS by_pseudonym
  FROM privacy.audit_log WHERE kind IN ('hold', 'retention') ORDER BY seq;
SELECT count(*) AS entries_naming_subjects FROM privacy.audit_log
 WHERE kind IN ('hold', 'retention') AND detail::text ~ '"subject": "[0-9]"';
-- the session's application_name is back to what it was
SHOW application_name;

-- bad input, and roles without a grant
SELECT try($$CALL privacy.run_retention(batch_size => 0)$$);
SELECT try($$CALL privacy.run_retention(max_duration => NULL)$$);
SET ROLE regress_app;
SELECT try($$CALL privacy.run_retention()$$);
SELECT try($$SELECT * FROM privacy.retention_preview()$$);
SELECT try($$SELECT privacy.place_hold('1', now() + interval '1 day', 'x')$$);
SELECT try($$SELECT count(*) FROM privacy.hold$$);
SELECT count(*) >= 0 AS log_readable FROM privacy.retention_log;
RESET ROLE;

-- category default retention, where the administrator enables it: a column
-- labelled log.login (kept 6 months by default) with no RETAIN of its own
SELECT name, retention FROM privacy.category WHERE name IN ('log.login', 'device.model');
CREATE TABLE keep.sessions (id integer PRIMARY KEY, last_login text, client text, started date NOT NULL);
SECURITY LABEL FOR privacy ON COLUMN keep.sessions.last_login IS 'CATEGORY log.login';
SECURITY LABEL FOR privacy ON COLUMN keep.sessions.client IS 'CATEGORY device.model';
INSERT INTO keep.sessions VALUES (1, 'login at 08:00', 'phone', current_date - 400), (2, 'login at 09:00', 'tablet', current_date - 10);
SELECT count(*) FROM privacy.retention_rule WHERE relation = 'keep.sessions'::regclass;
SELECT privacy.enable_category_retention('keep.sessions', 'started') AS columns_with_a_rule;
SELECT relation, column_name, retain, retain_after, action, from_category FROM privacy.retention_rule
 WHERE relation = 'keep.sessions'::regclass;
CALL privacy.run_retention();
SELECT id, last_login, client, current_date - started AS days_ago FROM keep.sessions ORDER BY id;
SELECT privacy.disable_category_retention('keep.sessions');
SELECT privacy.disable_category_retention('keep.sessions');
SELECT try($$SELECT privacy.disable_category_retention(NULL)$$);
SELECT count(*) FROM privacy.retention_rule WHERE relation = 'keep.sessions'::regclass;
SELECT try($$SELECT privacy.enable_category_retention('keep.sessions', 'nope')$$);
SELECT try($$SELECT privacy.enable_category_retention('keep.sessions', 'client')$$);
SELECT try($$SELECT privacy.enable_category_retention(NULL, 'started')$$);
-- only the table's owner enables it
SELECT 'keep.sessions'::regclass::oid AS sessions_oid \gset
GRANT regress_retention_admin TO regress_app;   -- EXECUTE on enable_category_retention
SET ROLE regress_app;
SELECT try(format('SELECT privacy.enable_category_retention(%s, %L)', :sessions_oid, 'started'));
RESET ROLE;
REVOKE regress_retention_admin FROM regress_app;

-- a deletion goes by ranges of the AFTER column, read from its index; where more
-- rows than a batch share one value (10 a day, batches of 4), rows go by row
CREATE TABLE keep.ticks (id integer PRIMARY KEY, day date NOT NULL);
CREATE INDEX ON keep.ticks (day);
INSERT INTO keep.ticks SELECT g, date '2020-01-01' + g / 10 FROM generate_series(0, 99) g;
INSERT INTO keep.ticks SELECT 100 + g, current_date FROM generate_series(1, 5) g;
SECURITY LABEL FOR privacy ON TABLE keep.ticks IS 'RETAIN 1 year AFTER day';
SELECT due FROM privacy.retention_preview() WHERE relation = 'keep.ticks'::regclass;
CALL privacy.run_retention(batch_size => 4);
SELECT rows, batches FROM privacy.retention_log WHERE relation = 'keep.ticks' ORDER BY id DESC LIMIT 1;
SELECT count(*) AS left_rows, min(day) = current_date AS only_recent FROM keep.ticks;
-- distinct values: batches of exactly batch_size rows, then the rest
INSERT INTO keep.ticks SELECT 200 + g, date '2020-01-01' + g FROM generate_series(0, 9) g;
CALL privacy.run_retention(batch_size => 4);
SELECT rows, batches FROM privacy.retention_log WHERE relation = 'keep.ticks' ORDER BY id DESC LIMIT 1;
SELECT count(*) AS left_rows FROM keep.ticks;
DROP TABLE keep.ticks;

-- a clause whose deletion a constraint refuses: logged by SQLSTATE and constraint
-- name, no value; the other clauses go on
CREATE TABLE keep.parents (id integer PRIMARY KEY, born date NOT NULL);
CREATE TABLE keep.children (parent_id integer REFERENCES keep.parents);
CREATE INDEX ON keep.parents (born);
INSERT INTO keep.parents VALUES (1, date '2001-01-01'), (2, current_date);
INSERT INTO keep.children VALUES (1);
SECURITY LABEL FOR privacy ON TABLE keep.parents IS 'RETAIN 1 year AFTER born';
CREATE TABLE keep.ticks (id integer PRIMARY KEY, day date NOT NULL);
INSERT INTO keep.ticks VALUES (1, date '2001-01-01'), (2, current_date);
SECURITY LABEL FOR privacy ON TABLE keep.ticks IS 'RETAIN 1 year AFTER day';
CALL privacy.run_retention();
SELECT relation, rows, batches, error FROM privacy.retention_log
 WHERE relation IN ('keep.parents', 'keep.ticks') AND id = (SELECT max(id) FROM privacy.retention_run)
 ORDER BY relation;
SELECT (SELECT count(*) FROM keep.parents) AS parents, (SELECT count(*) FROM keep.ticks) AS ticks;
DROP TABLE keep.children, keep.parents, keep.ticks;

-- anonymizing a row severs its link to the subject (payments.user_id becomes
-- NULL, as cancellation's anonymize does); a link that is NOT NULL cannot be
-- severed, so that table is refused by name, and the others go on
CREATE TABLE keep.payments (id integer PRIMARY KEY, user_id integer REFERENCES keep.users,
                            card text, paid date NOT NULL);
CREATE TABLE keep.payers (id integer PRIMARY KEY, user_id integer NOT NULL REFERENCES keep.users, paid date NOT NULL);
SECURITY LABEL FOR privacy ON COLUMN keep.payments.user_id IS 'CATEGORY account.id';
SECURITY LABEL FOR privacy ON COLUMN keep.payments.card IS 'CATEGORY financial.bank_account';
SECURITY LABEL FOR privacy ON TABLE keep.payments IS 'RETAIN 1 year AFTER paid THEN ANONYMIZE';
SECURITY LABEL FOR privacy ON COLUMN keep.payers.user_id IS 'CATEGORY account.id';
SECURITY LABEL FOR privacy ON TABLE keep.payers IS 'RETAIN 1 year AFTER paid THEN ANONYMIZE';
INSERT INTO keep.payments VALUES (1, 4, '6222000011112222', date '2001-01-01'), (2, 4, '6222000033334444', current_date);
INSERT INTO keep.payers VALUES (1, 4, date '2001-01-01');
-- a table owner's trigger that refuses with an error of its own, quoting the
-- row: logged by SQLSTATE only
CREATE TABLE keep.visits (id integer PRIMARY KEY, guest text, day date NOT NULL);
SECURITY LABEL FOR privacy ON COLUMN keep.visits.guest IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON TABLE keep.visits IS 'RETAIN 1 year AFTER day';
CREATE FUNCTION keep.keep_visits() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the visit of % is kept', OLD.guest;
END $$;
CREATE TRIGGER keep_visits BEFORE DELETE ON keep.visits FOR EACH ROW EXECUTE FUNCTION keep.keep_visits();
INSERT INTO keep.visits VALUES (1, 'Guest One', date '2001-01-01');
-- whole-row anonymization changes labelled columns only, and keeps what
-- other rows need: a column other rows reference stays (receipts.id), keys
-- to tables that are nobody's stay (shop, promo: unlabelled), and so does a
-- labelled one that must be set (pickup), a nullable one is cut (courier); a clause that
-- leaves nothing to anonymize (every labelled column ANONYMIZE WITH KEEP) is
-- refused by name
CREATE TABLE keep.shops (id integer PRIMARY KEY);
INSERT INTO keep.shops VALUES (1);
CREATE TABLE keep.receipts (id integer PRIMARY KEY, shop integer NOT NULL REFERENCES keep.shops,
                            promo integer REFERENCES keep.shops, buyer text, at date NOT NULL,
                            pickup integer NOT NULL REFERENCES keep.shops, courier integer REFERENCES keep.shops);
CREATE TABLE keep.receipt_lines (receipt integer REFERENCES keep.receipts, sku text);
SECURITY LABEL FOR privacy ON COLUMN keep.receipts.buyer IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON COLUMN keep.receipts.pickup IS 'CATEGORY location.precise';
SECURITY LABEL FOR privacy ON COLUMN keep.receipts.courier IS 'CATEGORY location.precise';
SECURITY LABEL FOR privacy ON TABLE keep.receipts IS 'RETAIN 1 year AFTER at THEN ANONYMIZE';
CREATE TABLE keep.kept_only (id integer PRIMARY KEY, amount numeric, at date NOT NULL);
SECURITY LABEL FOR privacy ON COLUMN keep.kept_only.amount IS 'CATEGORY financial.transaction ANONYMIZE WITH KEEP';
SECURITY LABEL FOR privacy ON TABLE keep.kept_only IS 'RETAIN 1 year AFTER at THEN ANONYMIZE';
INSERT INTO keep.receipts VALUES (1, 1, 1, 'Ann', date '2001-01-01', 1, 1), (2, 1, 1, 'Ben', current_date, 1, 1);
INSERT INTO keep.receipt_lines VALUES (1, 'sku-1');
INSERT INTO keep.kept_only VALUES (1, 9.50, date '2001-01-01');
-- column retention on a table with a subject: the column goes, the link stays
CREATE TABLE keep.ip_logins (id integer PRIMARY KEY, user_id integer REFERENCES keep.users, ip inet, at date NOT NULL);
SECURITY LABEL FOR privacy ON COLUMN keep.ip_logins.ip IS 'CATEGORY device.ip RETAIN 1 year AFTER at THEN ANONYMIZE';
INSERT INTO keep.ip_logins VALUES (1, 4, '10.1.1.1', date '2001-01-01'), (2, 4, '10.1.1.2', current_date);
-- the caller's application_name is theirs again after the run
SET application_name = 'nightly job';
CALL privacy.run_retention();
SHOW application_name;
SELECT relation, rows, error FROM privacy.retention_log
 WHERE id = (SELECT max(id) FROM privacy.retention_run) AND relation IN ('keep.payments', 'keep.payers', 'keep.visits')
 ORDER BY relation;
SELECT id, user_id, card FROM keep.payments ORDER BY id;
SELECT id, shop, promo, buyer, pickup, courier FROM keep.receipts ORDER BY id;
SELECT id, amount FROM keep.kept_only;
SELECT id, user_id, ip FROM keep.ip_logins ORDER BY id;
SELECT relation, rows, error FROM privacy.retention_log
 WHERE id = (SELECT max(id) FROM privacy.retention_run) AND relation IN ('keep.receipts', 'keep.kept_only')
 ORDER BY relation;
SELECT id, guest FROM keep.visits ORDER BY id;
-- ... and after a run that fails (here cancelled in the middle of a batch)
CREATE OR REPLACE FUNCTION keep.keep_visits() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_cancel_backend(pg_backend_pid());
    PERFORM pg_sleep(0);
    RETURN OLD;
END $$;
CALL privacy.run_retention();
SHOW application_name;
RESET application_name;
DROP TABLE keep.payments, keep.payers, keep.visits, keep.receipt_lines, keep.receipts, keep.shops, keep.kept_only, keep.ip_logins;

-- test/bench/cancel.sql: cancellation against the equivalent hand-written
-- statements (see doc/benchmarks.md). psql variable rows: rows per table.
\pset footer off
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;
DROP SCHEMA IF EXISTS cb CASCADE;
DELETE FROM privacy.cancelled_subject;
DELETE FROM privacy.request;
CREATE SCHEMA cb;
-- 10 labelled tables of :rows rows: users (one row per subject), five tables
-- with their own SUBJECT column and four that reach users by foreign key;
-- the first rows/10 users hold 10 rows in each of the nine, about 91 rows each
SELECT (:rows / 10) AS active \gset
CREATE TABLE cb.users (id int PRIMARY KEY, phone text NOT NULL, email text, name text);
INSERT INTO cb.users SELECT i, (13800000000 + i)::text, 'u' || i || '@example.com', 'name ' || i
  FROM generate_series(1, :rows) i;
SECURITY LABEL FOR privacy ON COLUMN cb.users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN cb.users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN cb.users.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN cb.users.name IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON TABLE cb.users IS 'ON CANCEL DELETE';
DO $$
DECLARE
    t text;
    n int := current_setting('bench.rows')::int;
    act int := n / 10;
BEGIN
    -- own SUBJECT column: events and messages deleted, logins kept, payments and tickets anonymized
    FOREACH t IN ARRAY ARRAY['events', 'messages', 'logins', 'payments', 'tickets'] LOOP
        EXECUTE format('CREATE TABLE cb.%I (id bigint PRIMARY KEY, user_id int, detail text, at timestamptz NOT NULL DEFAULT now())', t);
        EXECUTE format('INSERT INTO cb.%I (id, user_id, detail) SELECT i, 1 + i %% %s, ''detail '' || i FROM generate_series(1, %s) i', t, act, n);
        EXECUTE format('CREATE INDEX ON cb.%I (user_id)', t);
        EXECUTE format('SECURITY LABEL FOR privacy ON COLUMN cb.%I.user_id IS ''SUBJECT''', t);
        EXECUTE format('SECURITY LABEL FOR privacy ON COLUMN cb.%I.detail IS ''CATEGORY content.message''', t);
    END LOOP;
    -- reached through a foreign key to users: devices and addresses deleted, orders and reviews anonymized
    FOREACH t IN ARRAY ARRAY['devices', 'addresses', 'orders', 'reviews'] LOOP
        EXECUTE format('CREATE TABLE cb.%I (id bigint PRIMARY KEY, user_id int, detail text, at timestamptz NOT NULL DEFAULT now())', t);
        EXECUTE format('INSERT INTO cb.%I (id, user_id, detail) SELECT i, 1 + i %% %s, ''detail '' || i FROM generate_series(1, %s) i', t, act, n);
        EXECUTE format('CREATE INDEX ON cb.%I (user_id)', t);
        EXECUTE format('ALTER TABLE cb.%I ADD FOREIGN KEY (user_id) REFERENCES cb.users', t);
        EXECUTE format('SECURITY LABEL FOR privacy ON COLUMN cb.%I.detail IS ''CATEGORY contact.address''', t);
    END LOOP;
END
$$;
SECURITY LABEL FOR privacy ON TABLE cb.events IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON TABLE cb.messages IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON TABLE cb.logins IS 'RETAIN 6 months AFTER at ON CANCEL KEEP UNTIL RETENTION';
SECURITY LABEL FOR privacy ON TABLE cb.payments IS 'ON CANCEL ANONYMIZE';
SECURITY LABEL FOR privacy ON TABLE cb.tickets IS 'ON CANCEL ANONYMIZE';
SECURITY LABEL FOR privacy ON TABLE cb.devices IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON TABLE cb.addresses IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON TABLE cb.orders IS 'ON CANCEL ANONYMIZE';
SECURITY LABEL FOR privacy ON TABLE cb.reviews IS 'ON CANCEL ANONYMIZE';
VACUUM ANALYZE;

-- the hand-written equivalent: the same rows deleted or anonymized, in one transaction
CREATE FUNCTION cb.by_hand(s int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM cb.users WHERE id = s FOR UPDATE;
    PERFORM count(*) FROM cb.logins WHERE user_id = s;
    DELETE FROM cb.events WHERE user_id = s;
    DELETE FROM cb.messages WHERE user_id = s;
    UPDATE cb.payments SET detail = NULL, user_id = NULL WHERE user_id = s;
    UPDATE cb.tickets SET detail = NULL, user_id = NULL WHERE user_id = s;
    DELETE FROM cb.devices WHERE user_id = s;
    DELETE FROM cb.addresses WHERE user_id = s;
    UPDATE cb.orders SET detail = NULL, user_id = NULL WHERE user_id = s;
    UPDATE cb.reviews SET detail = NULL, user_id = NULL WHERE user_id = s;
    DELETE FROM cb.users WHERE id = s;
END
$$;
-- each run cancels the next subject, each in its own transaction (\gexec)
CREATE SEQUENCE cb.next_cancel START 1;
CREATE SEQUENCE cb.next_hand START 5000;

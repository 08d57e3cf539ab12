-- test/bench/export.sql: export_subject against the same reads written by hand
-- (see doc/benchmarks.md). psql variable rows: rows per table.
\pset footer off
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
DROP SCHEMA IF EXISTS eb CASCADE;
CREATE SCHEMA eb;
-- 10 labelled tables of :rows rows. The first rows/10 users are active: each
-- holds 10 rows in each of events, logins, payments (their own SUBJECT column),
-- devices, addresses and orders (a foreign key to users), sends 10 and receives
-- 10 messages (two foreign keys to users), has the 10 items of its orders (a
-- chain of two keys), and about 20 reviews, reached two ways: by their own key
-- to users and through their key to orders, which points at other people's
-- orders: about 110 rows a subject
SELECT (:rows / 10) AS active \gset
CREATE TABLE eb.users (id int PRIMARY KEY, phone text NOT NULL, email text, name text, password_hash text);
INSERT INTO eb.users SELECT i, (13800000000 + i)::text, 'u' || i || '@example.com', 'name ' || i, md5('pw' || i)
  FROM generate_series(1, :rows) i;
SECURITY LABEL FOR privacy ON COLUMN eb.users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN eb.users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN eb.users.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN eb.users.name IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON COLUMN eb.users.password_hash IS 'CATEGORY credential.password';
DO $$
DECLARE
    t text;
    n int := current_setting('bench.rows')::int;
    act int := n / 10;
BEGIN
    FOREACH t IN ARRAY ARRAY['events', 'logins', 'payments'] LOOP
        EXECUTE format('CREATE TABLE eb.%I (id bigint PRIMARY KEY, user_id int, detail text, at timestamptz NOT NULL DEFAULT now())', t);
        EXECUTE format('INSERT INTO eb.%I (id, user_id, detail) SELECT i, 1 + i %% %s, ''detail '' || i FROM generate_series(1, %s) i', t, act, n);
        EXECUTE format('CREATE INDEX ON eb.%I (user_id)', t);
        EXECUTE format('SECURITY LABEL FOR privacy ON COLUMN eb.%I.user_id IS ''SUBJECT''', t);
        EXECUTE format('SECURITY LABEL FOR privacy ON COLUMN eb.%I.detail IS ''CATEGORY content.message''', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['devices', 'addresses', 'orders'] LOOP
        EXECUTE format('CREATE TABLE eb.%I (id bigint PRIMARY KEY, user_id int NOT NULL, detail text, at timestamptz NOT NULL DEFAULT now())', t);
        EXECUTE format('INSERT INTO eb.%I (id, user_id, detail) SELECT i, 1 + i %% %s, ''detail '' || i FROM generate_series(1, %s) i', t, act, n);
        EXECUTE format('CREATE INDEX ON eb.%I (user_id)', t);
        EXECUTE format('ALTER TABLE eb.%I ADD FOREIGN KEY (user_id) REFERENCES eb.users', t);
        EXECUTE format('SECURITY LABEL FOR privacy ON COLUMN eb.%I.detail IS ''CATEGORY contact.address''', t);
    END LOOP;
    CREATE TABLE eb.messages (id bigint PRIMARY KEY, sender int REFERENCES eb.users, recipient int REFERENCES eb.users, body text);
    EXECUTE format('INSERT INTO eb.messages SELECT i, 1 + i %% %s, 1 + (i + 7) %% %s, ''body '' || i FROM generate_series(1, %s) i', act, act, n);
    CREATE INDEX ON eb.messages (sender);
    CREATE INDEX ON eb.messages (recipient);
    SECURITY LABEL FOR privacy ON COLUMN eb.messages.body IS 'CATEGORY content.message';
    CREATE TABLE eb.order_items (id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES eb.orders, detail text);
    EXECUTE format('INSERT INTO eb.order_items SELECT i, i, ''item '' || i FROM generate_series(1, %s) i', n);
    CREATE INDEX ON eb.order_items (order_id);
    SECURITY LABEL FOR privacy ON COLUMN eb.order_items.detail IS 'CATEGORY commerce.order';
    CREATE TABLE eb.reviews (id bigint PRIMARY KEY, user_id int NOT NULL REFERENCES eb.users,
                             order_id bigint NOT NULL REFERENCES eb.orders, body text);
    EXECUTE format('INSERT INTO eb.reviews SELECT i, 1 + i %% %s, 1 + (i::bigint * 7919) %% %s, ''review '' || i FROM generate_series(1, %s) i', act, n, n);
    CREATE INDEX ON eb.reviews (user_id);
    CREATE INDEX ON eb.reviews (order_id);
    SECURITY LABEL FOR privacy ON COLUMN eb.reviews.body IS 'CATEGORY content.feedback';
END
$$;
VACUUM ANALYZE;

-- the same reads written by hand: each table by its index, the two-way tables
-- as a UNION, the consent history and the requests; the rows as jsonb
CREATE FUNCTION eb.by_hand(s int) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'users', (SELECT jsonb_agg(to_jsonb(t)) FROM eb.users t WHERE id = s),
        'events', (SELECT jsonb_agg(to_jsonb(t)) FROM eb.events t WHERE user_id = s),
        'logins', (SELECT jsonb_agg(to_jsonb(t)) FROM eb.logins t WHERE user_id = s),
        'payments', (SELECT jsonb_agg(to_jsonb(t)) FROM eb.payments t WHERE user_id = s),
        'devices', (SELECT jsonb_agg(to_jsonb(t)) FROM eb.devices t WHERE user_id = s),
        'addresses', (SELECT jsonb_agg(to_jsonb(t)) FROM eb.addresses t WHERE user_id = s),
        'orders', (SELECT jsonb_agg(to_jsonb(t)) FROM eb.orders t WHERE user_id = s),
        'messages', (SELECT jsonb_agg(to_jsonb(t)) FROM (SELECT * FROM eb.messages WHERE sender = s
                                                          UNION SELECT * FROM eb.messages WHERE recipient = s) t),
        'order_items', (SELECT jsonb_agg(to_jsonb(t)) FROM eb.order_items t
                         WHERE order_id IN (SELECT id FROM eb.orders WHERE user_id = s)),
        'reviews', (SELECT jsonb_agg(to_jsonb(t)) FROM (SELECT * FROM eb.reviews WHERE user_id = s
                                                         UNION SELECT * FROM eb.reviews
                                                          WHERE order_id IN (SELECT id FROM eb.orders WHERE user_id = s)) t),
        'consent_history', (SELECT jsonb_agg(to_jsonb(e)) FROM privacy.consent_event e
                             WHERE e.subject = s::text AND e.subject_kind = 'person'),
        'consents_as_guardian', (SELECT jsonb_agg(to_jsonb(e)) FROM privacy.consent_event e
                                  WHERE e.guardian = s::text AND e.guardian_kind = 'person'),
        'requests', (SELECT jsonb_agg(to_jsonb(q)) FROM privacy.request q
                      WHERE q.subject_id = privacy.subject_pseudonym(s::text)))
$$;
-- each run exports the next active subject; the reads by hand start half way
CREATE SEQUENCE eb.next_export START 1;
CREATE SEQUENCE eb.next_hand START 1;
SELECT setval('eb.next_hand', :active / 2);
-- the rows each form reads, for one subject (printed by run.sh)
SELECT (SELECT count(*) FROM privacy.export_subject_rows('5') WHERE relation::text LIKE 'eb.%') AS export_rows,
       (SELECT sum(jsonb_array_length(v)) FROM jsonb_each(eb.by_hand(5)) x(k, v) WHERE jsonb_typeof(v) = 'array') AS by_hand_rows \gset
-- no checkpoint of the load during the runs
CHECKPOINT;
\echo :export_rows :by_hand_rows

-- test/bench/cancel_refs.sql: cancellation on a schema with references between
-- subjects, against the equivalent hand-written statements (doc/benchmarks.md).
-- psql variable rows: users.  Messages have a sender and a recipient (both
-- SUBJECT columns: a message between two people is shared, and cancelling one
-- clears only their side); profiles name a supervisor, another user (a
-- reference: severed, the rest of the profile left alone).
\pset footer off
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;
DROP SCHEMA IF EXISTS cr CASCADE;
DELETE FROM privacy.cancelled_subject;
DELETE FROM privacy.request;
CREATE SCHEMA cr;
SELECT (:rows / 10) AS active \gset
CREATE TABLE cr.users (id int PRIMARY KEY, name text);
INSERT INTO cr.users SELECT i, 'name ' || i FROM generate_series(1, :rows) i;
SECURITY LABEL FOR privacy ON COLUMN cr.users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN cr.users.name IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON TABLE cr.users IS 'ON CANCEL DELETE';
-- each of the first rows/10 users sends 10 messages to other users, receives
-- about 10, sends 1 note to self, and supervises about 9 users
CREATE TABLE cr.messages (id bigint PRIMARY KEY, sender int REFERENCES cr.users, recipient int REFERENCES cr.users, body text);
INSERT INTO cr.messages SELECT i, 1 + i % :active, CASE WHEN i % 11 = 0 THEN NULL ELSE 1 + (i * 7 + 3) % :rows END, 'body ' || i
  FROM generate_series(1, :active * 11) i;
CREATE INDEX ON cr.messages (sender);
CREATE INDEX ON cr.messages (recipient);
SECURITY LABEL FOR privacy ON COLUMN cr.messages.sender IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN cr.messages.recipient IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN cr.messages.body IS 'CATEGORY content.message';
SECURITY LABEL FOR privacy ON TABLE cr.messages IS 'ON CANCEL DELETE';
CREATE TABLE cr.profiles (user_id int PRIMARY KEY REFERENCES cr.users, supervisor int REFERENCES cr.users, bio text);
INSERT INTO cr.profiles SELECT i, CASE WHEN i > :active THEN 1 + i % :active END, 'bio ' || i FROM generate_series(1, :rows) i;
CREATE INDEX ON cr.profiles (supervisor);
SECURITY LABEL FOR privacy ON COLUMN cr.profiles.bio IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON TABLE cr.profiles IS 'ON CANCEL DELETE';
VACUUM ANALYZE;

-- the hand-written equivalent: the subject's own rows deleted, its side of
-- shared messages cleared, the supervisor reference severed
CREATE FUNCTION cr.by_hand(s int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM cr.users WHERE id = s FOR UPDATE;
    DELETE FROM cr.messages WHERE (sender = s AND (recipient IS NULL OR recipient = s))
                               OR (recipient = s AND sender IS NULL);
    UPDATE cr.messages SET sender = NULL WHERE sender = s;
    UPDATE cr.messages SET recipient = NULL WHERE recipient = s;
    DELETE FROM cr.profiles WHERE user_id = s;
    UPDATE cr.profiles SET supervisor = NULL WHERE supervisor = s;
    DELETE FROM cr.users WHERE id = s;
END
$$;
CREATE SEQUENCE cr.next_cancel START 1;
CREATE SEQUENCE cr.next_hand START 5000;

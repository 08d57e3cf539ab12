-- test/bench/anonymize.sql: a table of :rows people with five labelled columns
-- (one per method), its copy for the hand-written UPDATE, and the key
SELECT privacy.create_key('anonymize') WHERE NOT EXISTS (SELECT 1 FROM privacy.key WHERE name = 'anonymize');
DROP TABLE IF EXISTS ab_full, ab_users, ab_copy;
CREATE TABLE ab_full AS
SELECT i AS id, 'user' || i || '@example.com' AS email, '138' || lpad(i::text, 8, '0') AS phone,
       date '1950-01-01' + i % 25000 AS birth, 'nick' || i AS nick, i || ' Garden Road, Block ' || i % 97 AS address
  FROM generate_series(1, :rows) i;
CREATE TABLE ab_users (id int PRIMARY KEY, email text NOT NULL UNIQUE, phone text NOT NULL, birth date, nick text,
                       address text NOT NULL);
CREATE TABLE ab_copy (LIKE ab_users INCLUDING ALL);
SECURITY LABEL FOR privacy ON COLUMN ab_users.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN ab_users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN ab_users.birth IS 'CATEGORY identity.birth_date';
SECURITY LABEL FOR privacy ON COLUMN ab_users.nick IS 'CATEGORY identity.nickname';
SECURITY LABEL FOR privacy ON COLUMN ab_users.address IS 'CATEGORY contact.address';

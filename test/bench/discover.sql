-- test/bench/discover.sql: two schemas of 50 tables each, alike but for their size:
-- db_large with :rows rows per table, db_small with 10,000. Every table holds
-- mobile numbers, e-mail addresses, ID-like numbers, addresses and free text.
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS db_large CASCADE;
DROP SCHEMA IF EXISTS db_small CASCADE;
CREATE SCHEMA db_large;
CREATE SCHEMA db_small;
CREATE UNLOGGED TABLE db_source AS
SELECT g AS id,
       '13' || (5 + g % 5) || lpad((g::bigint * 7919 % 100000000)::text, 8, '0') AS phone,
       'user' || g || '@example.com' AS email,
       lpad((g::bigint * 104729 % 1000000000000000000)::text, 18, '0') AS ref_no,
       ('10.' || (g % 250) || '.' || (g / 250 % 250) || '.' || (g % 200 + 50))::inet AS client,
       md5(g::text) AS note
  FROM generate_series(1, :rows) g;
DO $$
BEGIN
    FOR i IN 1..50 LOOP
        EXECUTE format('CREATE UNLOGGED TABLE db_large.t%s AS SELECT * FROM db_source', i);
        EXECUTE format('CREATE UNLOGGED TABLE db_small.t%s AS SELECT * FROM db_source WHERE id <= 10000', i);
    END LOOP;
END
$$;
DROP TABLE db_source;
ANALYZE;

-- test/bench/subject_keys.sql: subject_encrypt for a new subject (a key file
-- and its WAL record, doc/keys.md) against subject_encrypt for a subject that
-- has its key, in the same backend; and the WAL each new key adds
\pset footer off
SET client_min_messages = warning;
CREATE SEQUENCE sk_new;
-- the baseline's subjects have their keys
SELECT count(privacy.subject_encrypt('sk-old-' || g, 'v')) AS old_subjects FROM generate_series(1, 200) g \gset
CREATE TABLE sk_times (k text, ms float8);
-- each statement its own transaction, as an application encrypts: 200 new
-- subjects, then 200 subjects with keys, alternately (a warm-up, then 7 each)
CREATE PROCEDURE sk_run(n int) LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
BEGIN
    FOR i IN 0..7 LOOP
        t0 := clock_timestamp();
        PERFORM count(privacy.subject_encrypt('sk-new-' || nextval('sk_new'), 'v')) FROM generate_series(1, n);
        IF i > 0 THEN
            INSERT INTO sk_times VALUES ('new', extract(epoch FROM clock_timestamp() - t0) * 1000 / n);
        END IF;
        COMMIT;
        t0 := clock_timestamp();
        PERFORM count(privacy.subject_encrypt('sk-old-' || g, 'v')) FROM generate_series(1, n) g;
        IF i > 0 THEN
            INSERT INTO sk_times VALUES ('old', extract(epoch FROM clock_timestamp() - t0) * 1000 / n);
        END IF;
        COMMIT;
    END LOOP;
END
$$;
CALL sk_run(200);
SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE k = 'new'))::numeric * 1000, 1) AS new_us,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE k = 'old'))::numeric * 1000, 1) AS old_us
  FROM sk_times \gset
-- the WAL of 1000 new keys, from a statement that writes nothing else
SELECT pg_current_wal_insert_lsn() AS lsn0 \gset
SELECT count(privacy.subject_encrypt('sk-wal-' || g, 'v')) AS n FROM generate_series(1, 1000) g \gset
SELECT pg_current_wal_insert_lsn() AS lsn1 \gset
\echo == subject_encrypt for a new subject (creates its key file), against a subject that has one (medians of 7 runs of 200, each run its own transaction)
SELECT :new_us AS "new subject, us per call", :old_us AS "subject with a key, us per call",
       round(:new_us / nullif(:old_us, 0), 1) AS ratio,
       round(:new_us - :old_us, 1) AS "us the key costs";
SELECT pg_wal_lsn_diff(:'lsn1', :'lsn0') / 1000 AS "WAL bytes per new key (1000 keys, page headers included)";
DROP PROCEDURE sk_run(int);
DROP TABLE sk_times;
DROP SEQUENCE sk_new;

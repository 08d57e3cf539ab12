-- partitions: labels on a partitioned table bind every partition, present and
-- future, at every level; a partition cannot be labelled on its own
SET ROLE regress_owner;
CREATE TABLE events (
    user_id     bigint NOT NULL,
    at          timestamptz NOT NULL,
    ip          inet,
    payload     text
) PARTITION BY RANGE (at);
CREATE TABLE events_2026 PARTITION OF events
    FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SECURITY LABEL FOR privacy ON COLUMN events.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN events.ip IS 'CATEGORY device.ip';
SECURITY LABEL FOR privacy ON TABLE events IS 'RETAIN 6 months AFTER at ON CANCEL DELETE';
-- created after the labels
CREATE TABLE events_2027 PARTITION OF events
    FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
-- a sub-partitioned partition
CREATE TABLE events_2028 PARTITION OF events
    FOR VALUES FROM ('2028-01-01') TO ('2029-01-01') PARTITION BY HASH (user_id);
CREATE TABLE events_2028_h0 PARTITION OF events_2028 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE events_2028_h1 PARTITION OF events_2028 FOR VALUES WITH (MODULUS 2, REMAINDER 1);
-- attached later, with its columns in another order and a dropped column
CREATE TABLE events_old (dropped int, ip inet, payload text, at timestamptz NOT NULL, user_id bigint NOT NULL);
ALTER TABLE events_old DROP COLUMN dropped;
ALTER TABLE events ATTACH PARTITION events_old FOR VALUES FROM ('2000-01-01') TO ('2026-01-01');
RESET ROLE;

-- every partition, whatever its level or its column numbers, carries the
-- labels of the root
SELECT c.oid::regclass AS relation,
       privacy.table_label(c.oid) AS table_label,
       privacy.column_label(c.oid, 'user_id') AS user_id,
       privacy.column_label(c.oid, 'ip') AS ip,
       privacy.column_label(c.oid, 'payload') AS payload
  FROM pg_class c
 WHERE c.relname LIKE 'events%' AND c.relkind IN ('r', 'p')
 ORDER BY c.relname;
-- the partitions' own column numbers differ from the root's
SELECT attrelid::regclass, attname, attnum FROM pg_attribute
 WHERE attname IN ('ip', 'user_id') AND attrelid IN ('events'::regclass, 'events_old'::regclass)
 ORDER BY 1, attname;

-- a partition, at any level, is refused with a hint naming the root
SET ROLE regress_owner;
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN events_2026.ip IS 'CATEGORY device.mac'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE events_2028_h1 IS 'ON CANCEL ANONYMIZE'$$);
SELECT try($$SECURITY LABEL FOR privacy ON TABLE events_2028 IS 'ON CANCEL ANONYMIZE'$$);
-- the RETAIN column is checked on the partitioned table too
SELECT try($$SECURITY LABEL FOR privacy ON TABLE events IS 'RETAIN 6 months AFTER payload'$$);
RESET ROLE;

-- the inventory lists the partitioned table once, not each partition
SELECT table_name, column_name, category, subject_path, retention, retention_after, on_cancel
  FROM privacy.inventory WHERE table_name::text LIKE 'events%' ORDER BY column_name;
SELECT count(*) AS partition_labels FROM pg_seclabel s JOIN pg_class c ON c.oid = s.objoid
 WHERE s.provider = 'privacy' AND c.relispartition;

-- detaching a partition makes it a table of its own: it no longer carries labels
ALTER TABLE events DETACH PARTITION events_old;
SELECT privacy.table_label('events_old'), privacy.column_label('events_old', 'ip');
-- and then it can be labelled itself
SET ROLE regress_owner;
SECURITY LABEL FOR privacy ON COLUMN events_old.ip IS 'CATEGORY device.ip';
RESET ROLE;
SELECT privacy.column_label('events_old', 'ip');
-- labels go with their table
DROP TABLE events_old;
SELECT count(*) FROM privacy.labels WHERE relation::text = 'events_old';
-- unknown relation or column
SELECT privacy.column_label('events', 'nosuch');
SELECT privacy.table_label('events_2026'::regclass) IS NOT NULL AS has_label;

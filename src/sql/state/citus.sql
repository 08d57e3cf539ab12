-- src/sql/state/citus.sql: the mirror of the coordinator's keys, consents and tombstones on a Citus cluster's workers (doc/citus.md)

-- Always empty.  privacy.citus_setup() makes it a Citus reference table: a
-- row the coordinator inserts reaches every worker's placement in the
-- coordinator's transaction (two-phase commit), where a trigger applies it to
-- the worker's copy of the table it names and keeps nothing.
CREATE TABLE privacy.citus_mirror (
    relation name  NOT NULL,
    old_rows jsonb,
    new_rows jsonb
);
COMMENT ON TABLE privacy.citus_mirror IS
    'always empty: on a Citus cluster (privacy.citus_setup), a reference table whose rows carry the coordinator''s changes to the mirrored tables (relation: which; old_rows and new_rows: the rows before and after, as jsonb arrays) to every worker, applied there by privacy.citus_mirror_in';
-- Holds key material (wrapped) in passing: the extension owner's alone.
REVOKE ALL ON privacy.citus_mirror FROM PUBLIC;

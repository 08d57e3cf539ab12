-- src/sql/state/k_anonymity.sql: generalization hierarchies a DBA gives (district -> city -> province)

-- A hierarchy of values: each value with its ancestors, the nearest first
-- (西湖区: 杭州市, 浙江省).  Level n of a value is its n-th ancestor; the level
-- above the last suppresses the column.  Nothing seeded.
CREATE TABLE privacy.hierarchy (
    hierarchy   text   NOT NULL CHECK (hierarchy OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]*$'),
    value       text   NOT NULL,
    ancestors   text[] NOT NULL
                       CHECK (pg_catalog.cardinality(ancestors) OPERATOR(pg_catalog.>=) 1
                              AND pg_catalog.cardinality(ancestors) OPERATOR(pg_catalog.<=) 10
                              AND pg_catalog.array_ndims(ancestors) OPERATOR(pg_catalog.=) 1
                              AND pg_catalog.array_position(ancestors, NULL) IS NULL),
    PRIMARY KEY (hierarchy, value)
);
COMMENT ON TABLE privacy.hierarchy IS
    'generalization hierarchies the DBA gives: each value of a hierarchy with its ancestors, nearest first (district: city, province); every value of a hierarchy has as many ancestors, and an ancestor always has the same ancestors above it (privacy.hierarchy_levels checks); used by privacy.generalization, k_anonymity and generalize_until';
-- Place names and the like, no personal data: read by everybody (generalize_until
-- and k_anonymity run as the caller and read it); written by the DBA.
REVOKE ALL ON privacy.hierarchy FROM PUBLIC;
GRANT SELECT ON privacy.hierarchy TO PUBLIC;

-- pg_dump keeps it (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.hierarchy', '');

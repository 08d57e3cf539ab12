-- src/sql/code/labels.sql: decoding labels: privacy.parse_label, the labels view, table_label, column_label

CREATE FUNCTION privacy.parse_label(label text, is_table boolean,
                                    OUT subject boolean, OUT category text, OUT mask text,
                                    OUT retain interval, OUT retain_after text,
                                    OUT retain_then text, OUT on_cancel text, OUT anonymize text,
                                    OUT subject_kind text, OUT link text)
    AS 'MODULE_PATHNAME', 'privacy_parse_label'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.parse_label(text, boolean) IS
    'decode the text of a privacy label (a table label when is_table) into its clauses; raises the SECURITY LABEL error for a malformed one';

CREATE VIEW privacy.labels AS
    SELECT s.objoid::pg_catalog.regclass AS relation,
           a.attname                     AS column_name,
           s.label,
           p.subject, p.category, p.mask, p.retain, p.retain_after, p.retain_then, p.on_cancel, p.anonymize,
           p.subject_kind, p.link
      FROM pg_catalog.pg_seclabel s
      -- only tables: a labelled table made a view since (a _RETURN rule) keeps
      -- its labels in pg_seclabel, and they mean nothing there
      JOIN pg_catalog.pg_class c
        ON c.oid OPERATOR(pg_catalog.=) s.objoid
       AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])
      LEFT JOIN pg_catalog.pg_attribute a
             ON a.attrelid OPERATOR(pg_catalog.=) s.objoid
            AND a.attnum OPERATOR(pg_catalog.=) s.objsubid
            AND s.objsubid OPERATOR(pg_catalog.>) 0
     CROSS JOIN LATERAL privacy.parse_label(s.label, s.objsubid OPERATOR(pg_catalog.=) 0) p
     WHERE s.provider OPERATOR(pg_catalog.=) 'privacy'
       AND s.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass;
COMMENT ON VIEW privacy.labels IS
    'every privacy label on a table or partitioned table of this database, decoded: one row per labelled table (column_name NULL) or column; subject_kind for SUBJECT columns, link (owner, reference) for foreign key columns so labelled';
GRANT SELECT ON privacy.labels TO PUBLIC;

-- the effective labels of a relation: a partition carries its root's labels
CREATE FUNCTION privacy.table_label(rel pg_catalog.regclass) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT s.label
          FROM pg_catalog.pg_seclabel s
         WHERE s.provider = 'privacy'
           AND s.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND s.objoid = COALESCE(pg_catalog.pg_partition_root(rel), rel)
           AND s.objsubid = 0
    $$;
COMMENT ON FUNCTION privacy.table_label(pg_catalog.regclass) IS
    'the privacy label in force for a table; for a partition, the label of its partitioned root';
GRANT EXECUTE ON FUNCTION privacy.table_label(pg_catalog.regclass) TO PUBLIC;

CREATE FUNCTION privacy.column_label(rel pg_catalog.regclass, column_name name) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT s.label
          FROM pg_catalog.pg_attribute a
          JOIN pg_catalog.pg_seclabel s
            ON s.objoid = a.attrelid
           AND s.objsubid = a.attnum
         WHERE s.provider = 'privacy'
           AND s.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND a.attrelid = COALESCE(pg_catalog.pg_partition_root(rel), rel)
           AND a.attname = column_name
           AND NOT a.attisdropped
    $$;
COMMENT ON FUNCTION privacy.column_label(pg_catalog.regclass, name) IS
    'the privacy label in force for a column; for a partition, the label of the same column of its partitioned root';
GRANT EXECUTE ON FUNCTION privacy.column_label(pg_catalog.regclass, name) TO PUBLIC;

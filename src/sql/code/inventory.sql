-- src/sql/code/inventory.sql: the inventory view, the record of processing

CREATE VIEW privacy.inventory AS
    SELECT l.relation            AS table_name,
           l.column_name,
           l.category,
           COALESCE(c.sensitive, false) AS sensitive,
           l.subject             AS subject_key,
           sp.subject_relation,
           sp.subject_columns,
           sp.path               AS subject_path,
           COALESCE(l.retain, t.retain)             AS retention,
           COALESCE(l.retain_after, t.retain_after) AS retention_after,
           COALESCE(l.retain_then, t.retain_then)   AS retention_action,
           c.retention           AS category_retention,
           COALESCE(t.on_cancel, c.on_cancel)       AS on_cancel,
           COALESCE(l.mask, c.mask)                 AS mask
      FROM privacy.labels l
      LEFT JOIN privacy.labels t
             ON t.relation OPERATOR(pg_catalog.=) l.relation
            AND t.column_name IS NULL
      LEFT JOIN privacy.category c ON c.name OPERATOR(pg_catalog.=) l.category
      LEFT JOIN privacy.subject_path sp ON sp.relation OPERATOR(pg_catalog.=) l.relation
     WHERE l.column_name IS NOT NULL;
COMMENT ON VIEW privacy.inventory IS
    'record of processing: one row per labelled column with its category, sensitivity, subject path, retention, action on cancellation and mask';
GRANT SELECT ON privacy.inventory TO PUBLIC;

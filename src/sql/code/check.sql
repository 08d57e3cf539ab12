-- src/sql/code/check.sql: privacy.check(): findings about the setup

CREATE FUNCTION privacy.check()
    RETURNS TABLE (severity text, object text, message text, hint text)
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH
    needs AS (
        -- the subject columns, by which cancellation and export find a subject's rows
        SELECT a.attrelid AS relid, ARRAY[a.attnum]::smallint[] AS cols, NULL::name AS conname
          FROM privacy.labels l
          JOIN pg_catalog.pg_attribute a
            ON a.attrelid = l.relation::oid AND a.attname = l.column_name
         WHERE l.subject
        UNION
        -- the referencing side of every foreign key on a subject path
        SELECT c.conrelid, c.conkey, c.conname
          FROM (SELECT DISTINCT pg_catalog.unnest(w.path) AS con FROM privacy.subject_walk() w) p
          JOIN pg_catalog.pg_constraint c ON c.oid = p.con
    ),
    missing AS (
        SELECT n.*,
               (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.i)
                  FROM pg_catalog.unnest(n.cols) WITH ORDINALITY k(attnum, i)
                  JOIN pg_catalog.pg_attribute a
                    ON a.attrelid = n.relid AND a.attnum = k.attnum) AS col_list
          FROM needs n
         WHERE NOT EXISTS (
                   -- an index whose leading columns are these columns, in any order
                   SELECT 1 FROM pg_catalog.pg_index i
                    WHERE i.indrelid = n.relid
                      AND i.indpred IS NULL
                      AND (SELECT pg_catalog.array_agg(x ORDER BY x)
                             FROM pg_catalog.unnest((i.indkey::smallint[])[0:pg_catalog.cardinality(n.cols) - 1]) x)
                          =
                          (SELECT pg_catalog.array_agg(x ORDER BY x) FROM pg_catalog.unnest(n.cols) x))
    )
    SELECT f.severity, f.object, f.message, f.hint
      FROM (
    SELECT 'warning'::text AS severity,
           CASE WHEN m.conname IS NULL THEN pg_catalog.format('%s.%s', m.relid::pg_catalog.regclass, m.col_list)
                ELSE pg_catalog.format('%s (foreign key %I)', m.relid::pg_catalog.regclass, m.conname) END AS object,
           CASE WHEN m.conname IS NULL
                THEN pg_catalog.format('subject column %s of %s has no index: cancellation and export read the whole table', m.col_list, m.relid::pg_catalog.regclass)
                ELSE pg_catalog.format('foreign key %I of %s on a subject path has no index on (%s): cancellation and export read the whole table', m.conname, m.relid::pg_catalog.regclass, m.col_list) END AS message,
           pg_catalog.format('CREATE INDEX ON %s (%s);', m.relid::pg_catalog.regclass, m.col_list) AS hint
      FROM missing m
    UNION ALL
    -- sensitive personal information stored as it is
    SELECT 'warning', pg_catalog.format('%s.%I', l.relation, l.column_name),
           pg_catalog.format('column %I of %s holds sensitive personal information (%s) in clear text',
                             l.column_name, l.relation, l.category),
           'Store it encrypted in a bytea column: privacy.encrypt() or privacy.subject_encrypt() (see doc/keys.md), or keep only privacy.pseudonym().'
      FROM privacy.labels l
      JOIN privacy.category c ON c.name = l.category
      JOIN pg_catalog.pg_attribute a
        ON a.attrelid = l.relation::oid AND a.attname = l.column_name
      JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
     WHERE c.sensitive
       AND CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
           <> 'pg_catalog.bytea'::pg_catalog.regtype
    UNION ALL
    -- personal data nobody can be found in
    SELECT 'warning', r.relation::text,
           pg_catalog.format('table %s holds labelled personal data but has no subject path: cancellation and export cannot find whose rows these are',
                             r.relation),
           'Label the column that says whose row it is SUBJECT, or add a foreign key to a table that has one (see doc/labels.md).'
      FROM (SELECT DISTINCT l.relation FROM privacy.labels l WHERE l.category IS NOT NULL) r
     WHERE NOT EXISTS (SELECT 1 FROM privacy.subject_walk() w WHERE w.relid = r.relation::oid)
    UNION ALL
    -- purposes in use that see no labelled column
    SELECT 'warning', pg_catalog.format('purpose %s', p.name),
           CASE WHEN pg_catalog.cardinality(p.categories) = 0
                THEN pg_catalog.format('purpose %s has no categories', p.name)
                ELSE pg_catalog.format('purpose %s covers no labelled column: its purpose views show every column masked', p.name) END,
           'Label the columns the purpose needs with its categories, or redefine it with privacy.define_purpose().'
      FROM privacy.purpose p
     WHERE (NOT p.seeded OR EXISTS (SELECT 1 FROM privacy.purpose_view v WHERE v.purpose = p.name))
       AND NOT EXISTS (SELECT 1
                         FROM privacy.labels l, pg_catalog.unnest(p.categories) k(cat)
                        WHERE l.category = k.cat
                           OR pg_catalog.starts_with(l.category, k.cat || '.'))
    UNION ALL
    -- retention that must read the whole table to find what expired
    SELECT 'warning',
           CASE WHEN l.column_name IS NULL THEN l.relation::text
                ELSE pg_catalog.format('%s.%I', l.relation, l.column_name) END,
           pg_catalog.format('RETAIN ... AFTER %I on %s has no index on %I: every retention batch reads the whole table',
                             l.retain_after, l.relation, l.retain_after),
           pg_catalog.format('CREATE INDEX ON %s (%I);', l.relation, l.retain_after)
      FROM privacy.labels l
      JOIN pg_catalog.pg_attribute a
        ON a.attrelid = l.relation::oid AND a.attname = l.retain_after
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                        WHERE i.indrelid = l.relation::oid
                          AND i.indpred IS NULL
                          AND i.indkey[0] = a.attnum)
    UNION ALL
    -- personal data discovery sees and nobody labelled
    SELECT 'notice', pg_catalog.format('%s.%I', d.relation, d.column_name),
           pg_catalog.format('column %I of %s looks like %s (confidence %s; %s) but has no label',
                             d.column_name, d.relation, d.category, d.confidence, d.evidence),
           pg_catalog.format('SECURITY LABEL FOR privacy ON COLUMN %s.%I IS %L;',
                             d.relation, d.column_name, d.label)
      FROM pg_catalog.pg_namespace n
     CROSS JOIN LATERAL privacy.discovery_suggestions(n.oid, 200) d
     WHERE n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'privacy', 'pg_toast']::name[])
       AND NOT pg_catalog.starts_with(n.nspname, 'pg_temp_')
       AND NOT pg_catalog.starts_with(n.nspname, 'pg_toast_temp_')
       AND d.confidence >= 0.7
    UNION ALL
    -- a nullable foreign key whose meaning the schema leaves open: what cancellation takes it for
    SELECT 'notice', pg_catalog.format('%s (foreign key %I)', k.child::pg_catalog.regclass, c.conname),
           pg_catalog.format('foreign key %I of %s is nullable: cancellation takes it as %s (%s)', c.conname,
                             k.child::pg_catalog.regclass,
                             CASE WHEN k.owning THEN 'saying whose rows they are' ELSE 'only referring to a subject' END, k.reason),
           pg_catalog.format('Say it with a label on its column: SECURITY LABEL FOR privacy ON COLUMN %s.%I IS ''OWNER'' (or ''REFERENCE'').',
                             k.child::pg_catalog.regclass,
                             (SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = k.child AND a.attnum = c.conkey[1]))
      FROM privacy.subject_links() k
      JOIN pg_catalog.pg_constraint c ON c.oid = k.con
     WHERE k.reason ~ '^nullable'
       AND (EXISTS (SELECT 1 FROM privacy.subject_walk() w WHERE w.relid = k.parent)
            OR EXISTS (SELECT 1 FROM privacy.subject_walk() w WHERE w.relid = k.child))
    UNION ALL
    -- rows that can have two owners
    SELECT 'notice', o.child::pg_catalog.regclass::text,
           pg_catalog.format('rows of %s can belong to several subjects (%s): cancelling one clears only its side of a shared row',
                             o.child::pg_catalog.regclass, o.owners),
           'If one of them says whose row it is and the others only refer to a subject, label their columns REFERENCE.'
      FROM (SELECT x.child, pg_catalog.string_agg(x.what, ', ' ORDER BY x.what) AS owners, pg_catalog.count(*) AS n
              FROM (SELECT k.child, pg_catalog.format('foreign key %I', c.conname) AS what
                      FROM privacy.subject_links() k JOIN pg_catalog.pg_constraint c ON c.oid = k.con
                     WHERE k.owning AND EXISTS (SELECT 1 FROM privacy.subject_walk() w WHERE w.relid = k.parent)
                    UNION ALL
                    SELECT l.relation::oid, pg_catalog.format('SUBJECT column %I', l.column_name)
                      FROM privacy.labels l WHERE l.subject) x
             GROUP BY x.child) o
     WHERE o.n > 1
    UNION ALL
    -- a table whose subjects' rows cancellation cannot decide about
    SELECT 'warning', w.relid::pg_catalog.regclass::text,
           pg_catalog.format('table %s holds rows of subjects (kind %s) and has no ON CANCEL label: a cancellation that finds rows there is refused',
                             w.relid::pg_catalog.regclass, w.kind),
           pg_catalog.format('SECURITY LABEL FOR privacy ON TABLE %s IS ''ON CANCEL DELETE'' (or ANONYMIZE, or KEEP UNTIL RETENTION), or give its foreign keys ON DELETE CASCADE.',
                             w.relid::pg_catalog.regclass)
      FROM (SELECT DISTINCT s.relid, s.kind FROM privacy.subject_walk() s) w
     WHERE privacy.cancel_action(w.relid::pg_catalog.regclass) IS NULL
       AND NOT (EXISTS (SELECT 1 FROM privacy.subject_links() k WHERE k.child = w.relid AND k.owning
                          AND EXISTS (SELECT 1 FROM privacy.subject_walk() v WHERE v.relid = k.parent AND v.kind = w.kind))
                AND NOT EXISTS (SELECT 1 FROM privacy.subject_links() k
                                  JOIN pg_catalog.pg_constraint c ON c.oid = k.con
                                 WHERE k.child = w.relid AND k.owning AND c.confdeltype <> 'c'
                                   AND EXISTS (SELECT 1 FROM privacy.subject_walk() v WHERE v.relid = k.parent AND v.kind = w.kind)))
    UNION ALL
    -- labels the extension cannot act on
    SELECT 'warning', s.objoid::pg_catalog.regclass::text,
           pg_catalog.format('%s is not a table (%s): its privacy labels are ignored', s.objoid::pg_catalog.regclass,
                             CASE k.relkind WHEN 'v' THEN 'a view' WHEN 'm' THEN 'a materialized view'
                                            WHEN 'f' THEN 'a foreign table' ELSE 'relkind ' || k.relkind::pg_catalog.text END),
           pg_catalog.format('Remove them: SECURITY LABEL FOR privacy ON %s %s IS NULL, for the relation and each column.',
                             CASE k.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                             s.objoid::pg_catalog.regclass)
      FROM (SELECT DISTINCT x.objoid FROM pg_catalog.pg_seclabel x
             WHERE x.provider = 'privacy' AND x.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass) s
      JOIN pg_catalog.pg_class k ON k.oid = s.objoid
     WHERE NOT k.relkind = ANY (ARRAY['r', 'p']::"char"[])
    UNION ALL
    -- one kind, one family: else a subject has no one canonical form
    SELECT 'error', pg_catalog.format('subject kind %s', f.kind),
           pg_catalog.format('the SUBJECT columns of kind %s are of several type families (%s): its subjects have no one form',
                             f.kind, f.families),
           'Give every SUBJECT column of a kind one type family (integers, text, char(n), uuid, numeric), or label them with different kinds.'
      FROM (SELECT l.subject_kind AS kind,
                   pg_catalog.string_agg(DISTINCT privacy.subject_family(a.atttypid), ', ') AS families,
                   pg_catalog.count(DISTINCT privacy.subject_family(a.atttypid)) AS n
              FROM privacy.labels l
              JOIN pg_catalog.pg_attribute a ON a.attrelid = l.relation::oid AND a.attname = l.column_name
             WHERE l.subject
             GROUP BY l.subject_kind) f
     WHERE f.n > 1
    UNION ALL
    -- row-level security that would hide rows from the extension
    SELECT 'error', k.oid::pg_catalog.regclass::text,
           pg_catalog.format('table %s forces row-level security on its owner: cancellation, export and retention refuse it', k.oid::pg_catalog.regclass),
           pg_catalog.format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY, or give its owner BYPASSRLS.', k.oid::pg_catalog.regclass)
      FROM pg_catalog.pg_class k
     WHERE k.relrowsecurity AND k.relforcerowsecurity
       AND NOT (SELECT r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.oid = k.relowner)
       AND (EXISTS (SELECT 1 FROM privacy.subject_walk() w WHERE w.relid = k.oid)
            OR EXISTS (SELECT 1 FROM privacy.labels l WHERE l.relation = k.oid::pg_catalog.regclass))
    UNION ALL
    -- a purpose view made before 0.2.0 that casts to a domain: reading it
    -- runs the domain's constraints, the table owner's code, as the reader
    SELECT 'error', pg_catalog.format('%I.%I', v.view_schema, v.view_name),
           pg_catalog.format('purpose view %I.%I gives column %I the domain %s, as views made before 0.2.0 did: its casts to the domain run the domain''s constraints as the reader',
                             v.view_schema, v.view_name, a.attname, a.atttypid::pg_catalog.regtype),
           'SELECT privacy.refresh_purpose_views();'
      FROM privacy.purpose_view v
      JOIN pg_catalog.pg_namespace n ON n.nspname = v.view_schema
      JOIN pg_catalog.pg_class k ON k.relnamespace = n.oid AND k.relname = v.view_name
      JOIN pg_catalog.pg_attribute a ON a.attrelid = k.oid AND a.attnum > 0 AND NOT a.attisdropped
      JOIN pg_catalog.pg_type y ON y.oid = a.atttypid
     WHERE y.typtype = 'd'
        OR (y.typcategory = 'A' AND EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.oid = y.typelem AND e.typtype = 'd'))
    UNION ALL
    -- where the keys live (on a standby too: a missing key directory, or one
    -- that recovery had to create, which lacks the keys from before the backup)
    SELECT CASE WHEN k.problem ~ 'is not set$' THEN 'warning' ELSE 'error' END,
           k.setting, k.problem, k.hint
      FROM privacy.key_storage_problems() k
           ) f
     ORDER BY CASE f.severity WHEN 'error' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END, f.object, f.message
    $$;
COMMENT ON FUNCTION privacy.check() IS
    'findings about the setup (severity, object, message, hint): subject columns and foreign keys on subject paths without an index, sensitive categories in clear text, labelled tables with no subject path, purposes that see no labelled column, RETAIN without an index on its AFTER column, columns discovery would label that nobody did, nullable foreign keys and what cancellation takes them for, rows with several owners, tables of subjects without ON CANCEL, labels on relations that are not tables, a subject kind of several type families, forced row-level security, purpose views that cast to a domain (made before 0.2.0), and problems of the master key file and subject key directory (a standby''s missing one too)';
GRANT EXECUTE ON FUNCTION privacy.check() TO PUBLIC;

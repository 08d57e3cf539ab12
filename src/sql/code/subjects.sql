-- src/sql/code/subjects.sql: subject paths: the chains of foreign keys from each labelled table to its subject, and the SQL conditions built on them

CREATE FUNCTION privacy.fk_text(constraint_oid oid) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT pg_catalog.format('%s(%s) -> %s(%s)',
                   c.conrelid::pg_catalog.regclass,
                   (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.i)
                      FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(attnum, i)
                      JOIN pg_catalog.pg_attribute a
                        ON a.attrelid = c.conrelid
                       AND a.attnum = k.attnum),
                   c.confrelid::pg_catalog.regclass,
                   (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.i)
                      FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY k(attnum, i)
                      JOIN pg_catalog.pg_attribute a
                        ON a.attrelid = c.confrelid
                       AND a.attnum = k.attnum))
          FROM pg_catalog.pg_constraint c
         WHERE c.oid = constraint_oid
    $$;
COMMENT ON FUNCTION privacy.fk_text(oid) IS
    'a foreign key as text: child(columns) -> parent(columns)';
GRANT EXECUTE ON FUNCTION privacy.fk_text(oid) TO PUBLIC;

-- every chain of foreign keys that leads from a table to a table with SUBJECT columns
CREATE FUNCTION privacy.subject_walk()
    RETURNS TABLE (relid oid, root oid, hops integer, path oid[])
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH RECURSIVE
    subject_table AS (
        SELECT DISTINCT l.relation::oid AS relid FROM privacy.labels l WHERE l.subject
    ),
    walk (relid, root, hops, path, visited) AS (
        SELECT s.relid, s.relid, 0, ARRAY[]::oid[], ARRAY[s.relid]
          FROM subject_table s
        UNION ALL
        -- a table that references a table of the walk belongs to the same subject
        SELECT c.conrelid, w.root, w.hops + 1,
               ARRAY[c.oid] || w.path,
               w.visited || c.conrelid
          FROM walk w
          JOIN pg_catalog.pg_constraint c
            ON c.confrelid = w.relid
           AND c.contype = 'f'
           AND c.conparentid = 0
          JOIN pg_catalog.pg_class k
            ON k.oid = c.conrelid
           AND NOT k.relispartition
         WHERE NOT c.conrelid = ANY (w.visited)
           AND NOT EXISTS (SELECT 1 FROM subject_table s WHERE s.relid = c.conrelid)
           AND w.hops < 32
    )
    SELECT w.relid, w.root, w.hops, w.path FROM walk w
$$;
COMMENT ON FUNCTION privacy.subject_walk() IS
    'every table that holds a subject''s data with every chain of foreign keys (child first) that leads to a table with SUBJECT columns; hops 0 for that table itself';
GRANT EXECUTE ON FUNCTION privacy.subject_walk() TO PUBLIC;

CREATE VIEW privacy.subject_path AS
    SELECT DISTINCT ON (w.relid)
           w.relid::pg_catalog.regclass AS relation,
           w.root::pg_catalog.regclass  AS subject_relation,
           (SELECT pg_catalog.array_agg(l.column_name ORDER BY l.column_name)
              FROM privacy.labels l
             WHERE l.relation OPERATOR(pg_catalog.=) w.root::pg_catalog.regclass AND l.subject) AS subject_columns,
           w.hops,
           w.path                       AS constraints,
           CASE WHEN w.hops OPERATOR(pg_catalog.=) 0 THEN 'direct'
                ELSE (SELECT pg_catalog.string_agg(privacy.fk_text(p.c), '; ' ORDER BY p.i)
                        FROM pg_catalog.unnest(w.path) WITH ORDINALITY p(c, i))
           END AS path
      FROM privacy.subject_walk() w
     ORDER BY w.relid, w.hops, w.path::text;
COMMENT ON VIEW privacy.subject_path IS
    'for each table that holds a subject''s data: the table with the SUBJECT columns and the shortest chain of foreign keys that leads there (direct when the table has its own SUBJECT column)';
GRANT SELECT ON privacy.subject_path TO PUBLIC;

-- the condition, on alias t, that a row reaches through the foreign keys of
-- path (child first) a row of the subject table that satisfies
-- root_condition, which is written on alias a<n> (n: the path's length; t
-- when the path is empty)
CREATE FUNCTION privacy.path_condition(path oid[], root_condition text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    filter text := root_condition;
    con record;
    joins text;
    alias text;
    prev text;
BEGIN
    FOR i IN REVERSE COALESCE(pg_catalog.cardinality(path), 0)..1 LOOP
        SELECT c.conrelid, c.confrelid, c.conkey, c.confkey INTO con
          FROM pg_catalog.pg_constraint c WHERE c.oid = path[i];
        alias := 'a' || i;
        prev := CASE WHEN i = 1 THEN 't' ELSE 'a' || (i - 1) END;
        SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I OPERATOR(pg_catalog.=) %I.%I', alias, pa.attname, prev, ca.attname), ' AND ')
          INTO joins
          FROM ROWS FROM (pg_catalog.unnest(con.conkey), pg_catalog.unnest(con.confkey)) AS u(ck, pk)
          JOIN pg_catalog.pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = u.ck
          JOIN pg_catalog.pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = u.pk;
        filter := pg_catalog.format('EXISTS (SELECT 1 FROM %s %I WHERE %s AND %s)',
                                    con.confrelid::pg_catalog.regclass, alias, joins, filter);
    END LOOP;
    RETURN filter;
END
$$;
COMMENT ON FUNCTION privacy.path_condition(oid[], text) IS
    'internal: the SQL condition that a row of a table reaches, through a chain of foreign keys, a subject row satisfying a condition';
GRANT EXECUTE ON FUNCTION privacy.path_condition(oid[], text) TO PUBLIC;

-- the condition, on alias, that a row of the subject table rel belongs to
-- the subject passed as parameter param: one of its SUBJECT columns holds it
-- (exclusive: and no other SUBJECT column names somebody else).  NULL when no
-- SUBJECT column can hold the subject (it is not a value of the column's type).
CREATE FUNCTION privacy.subject_condition(rel oid, alias text, subject text, param text, exclusive boolean)
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    c record;
    matches text[] := ARRAY[]::text[];
    alone text[] := ARRAY[]::text[];
    m text;
BEGIN
    FOR c IN
        -- the type without its modifier: a cast to varchar(5) or numeric(4,1)
        -- would cut or round the subject into somebody else's value
        SELECT a.attname, pg_catalog.format_type(a.atttypid, NULL) AS typ
          FROM privacy.labels l
          JOIN pg_catalog.pg_attribute a
            ON a.attrelid = rel AND a.attname = l.column_name
         WHERE l.relation = rel::pg_catalog.regclass AND l.subject
         ORDER BY a.attnum
    LOOP
        BEGIN
            -- can the subject be a value of the column? (the error, which
            -- would name the value, is swallowed here; NULL: compiling a
            -- plan, assume it can)
            IF subject IS NOT NULL THEN
                EXECUTE pg_catalog.format('SELECT $1::%s', c.typ) USING subject;
            END IF;
            m := pg_catalog.format('%I.%I = %s::%s', alias, c.attname, param, c.typ);
            matches := matches || m;
            alone := alone || pg_catalog.format('(%I.%I IS NULL OR %s)', alias, c.attname, m);
        EXCEPTION WHEN data_exception THEN
            alone := alone || pg_catalog.format('%I.%I IS NULL', alias, c.attname);
        END;
    END LOOP;
    IF pg_catalog.cardinality(matches) = 0 THEN
        RETURN NULL;
    END IF;
    m := '(' || pg_catalog.array_to_string(matches, ' OR ') || ')';
    IF exclusive AND pg_catalog.cardinality(alone) > 1 THEN
        m := m || ' AND ' || pg_catalog.array_to_string(alone, ' AND ');
    END IF;
    RETURN m;
END
$$;
COMMENT ON FUNCTION privacy.subject_condition(oid, text, text, text, boolean) IS
    'internal: the SQL condition that a row of a subject table belongs to a subject (exclusive: to that subject alone); subject NULL: for any subject';
REVOKE ALL ON FUNCTION privacy.subject_condition(oid, text, text, text, boolean) FROM PUBLIC;

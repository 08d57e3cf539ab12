-- src/sql/code/subjects.sql: the subject model: subject kinds and their canonical form, which foreign keys say whose row a row is (owning) and which only refer to a subject, the tables each kind owns, subject paths

CREATE FUNCTION privacy.subject_canonical(subject text, kind text DEFAULT 'person') RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_subject_canonical_sql'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.subject_canonical(text, text) IS
    'the canonical form of a subject of a kind, which every function uses for it: by the type family of the kind''s SUBJECT columns (an integer as its number, a uuid in standard form, text as it is, char(n) without trailing blanks); an error that names the kind, never the value, when the subject is no value of it';
GRANT EXECUTE ON FUNCTION privacy.subject_canonical(text, text) TO PUBLIC;

CREATE FUNCTION privacy.subject_family(typ pg_catalog.regtype) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_subject_family_sql'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.subject_family(pg_catalog.regtype) IS
    'the type family of a SUBJECT column''s type (integer, text, bpchar, uuid, numeric, other); every SUBJECT column of one kind is of one family';
GRANT EXECUTE ON FUNCTION privacy.subject_family(pg_catalog.regtype) TO PUBLIC;

CREATE FUNCTION privacy.family_canonical(value text, typ pg_catalog.regtype) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_family_canonical_sql'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.family_canonical(text, pg_catalog.regtype) IS
    'internal: the canonical form of a value of a column of the type, as a subject (NULL when it is no value of the type''s family)';
GRANT EXECUTE ON FUNCTION privacy.family_canonical(text, pg_catalog.regtype) TO PUBLIC;

CREATE VIEW privacy.subject_kinds AS
    SELECT l.subject_kind AS kind,
           pg_catalog.min(privacy.subject_family(a.atttypid)) AS family,
           pg_catalog.count(*) AS subject_columns,
           pg_catalog.array_agg(pg_catalog.format('%s.%I', l.relation, l.column_name) ORDER BY l.relation::text, l.column_name) AS columns
      FROM privacy.labels l
      JOIN pg_catalog.pg_attribute a
        ON a.attrelid OPERATOR(pg_catalog.=) l.relation AND a.attname OPERATOR(pg_catalog.=) l.column_name
     WHERE l.subject
     GROUP BY l.subject_kind;
COMMENT ON VIEW privacy.subject_kinds IS
    'the subject kinds in use: each with the type family of its SUBJECT columns and the columns';
GRANT SELECT ON privacy.subject_kinds TO PUBLIC;

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

-- Every foreign key between two tables, and whether it says whose row the
-- child row is (owning) or only refers to a subject.  Labels decide first
-- (OWNER or REFERENCE on one of the key's columns); else a key is owning when
-- it cannot be NULL, or when it is one to one (the child's key columns are a
-- unique key of the child); a nullable key is owning only when its table has
-- no other way to belong to a subject (no SUBJECT column, no owning chain of
-- the first two kinds), and otherwise only refers.
CREATE FUNCTION privacy.subject_links()
    RETURNS TABLE (con oid, child oid, parent oid, owning boolean, reason text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH RECURSIVE
    fks AS (
        SELECT c.oid, c.conrelid, c.confrelid, c.conkey
          FROM pg_catalog.pg_constraint c
          JOIN pg_catalog.pg_class k ON k.oid = c.conrelid AND k.relkind = ANY (ARRAY['r', 'p']::"char"[])
          JOIN pg_catalog.pg_class p ON p.oid = c.confrelid AND p.relkind = ANY (ARRAY['r', 'p']::"char"[])
         WHERE c.contype = 'f' AND c.conparentid = 0 AND NOT k.relispartition AND NOT p.relispartition
           -- the extension's own tables and the catalogs are nobody's
           AND k.relnamespace <> 'privacy'::pg_catalog.regnamespace AND k.relnamespace <> 'pg_catalog'::pg_catalog.regnamespace
    ),
    facts AS (
        SELECT f.*,
               (SELECT pg_catalog.min(l.link) FROM privacy.labels l
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = f.conrelid AND a.attname = l.column_name
                 WHERE l.relation = f.conrelid::pg_catalog.regclass AND l.link IS NOT NULL
                   AND a.attnum = ANY (f.conkey)) AS link,
               NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                            WHERE a.attrelid = f.conrelid AND a.attnum = ANY (f.conkey) AND NOT a.attnotnull) AS not_null,
               EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                        WHERE i.indrelid = f.conrelid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
                          AND i.indnkeyatts = pg_catalog.cardinality(f.conkey)
                          AND (i.indkey::smallint[])[0:i.indnkeyatts - 1] @> f.conkey
                          AND f.conkey @> (i.indkey::smallint[])[0:i.indnkeyatts - 1]) AS one_to_one
          FROM fks f
    ),
    strong AS (
        SELECT f.* FROM facts f
         WHERE f.link IS DISTINCT FROM 'reference' AND (f.link = 'owner' OR f.not_null OR f.one_to_one)
    ),
    roots AS (
        SELECT DISTINCT l.relation::oid AS relid FROM privacy.labels l WHERE l.subject
    ),
    -- the tables that belong to a subject through SUBJECT columns and strong keys
    owned1 (relid) AS (
        SELECT r.relid FROM roots r
        UNION
        SELECT s.conrelid FROM strong s JOIN owned1 o ON o.relid = s.confrelid
    )
    SELECT f.oid, f.conrelid, f.confrelid,
           CASE WHEN f.link = 'reference' THEN false
                WHEN f.link = 'owner' OR f.not_null OR f.one_to_one THEN true
                ELSE NOT EXISTS (SELECT 1 FROM owned1 o WHERE o.relid = f.conrelid) END,
           CASE WHEN f.link = 'reference' THEN 'labelled REFERENCE'
                WHEN f.link = 'owner' THEN 'labelled OWNER'
                WHEN f.not_null THEN 'not null'
                WHEN f.one_to_one THEN 'one to one'
                WHEN NOT EXISTS (SELECT 1 FROM owned1 o WHERE o.relid = f.conrelid)
                     THEN 'nullable, the table''s only link to a subject'
                ELSE 'nullable, and the table belongs to a subject otherwise' END
      FROM facts f
    $$;
COMMENT ON FUNCTION privacy.subject_links() IS
    'every foreign key between two tables (partitions aside), whether it is owning (says whose row the child row is) or only refers to a subject, and why: a label (OWNER, REFERENCE), NOT NULL, one to one, or a nullable key that is or is not its table''s only link to a subject';
GRANT EXECUTE ON FUNCTION privacy.subject_links() TO PUBLIC;

-- For each kind, each table that holds its subjects' rows, with the first
-- chain of owning foreign keys (child first) found from it to a table with
-- SUBJECT columns of that kind: a breadth-first walk from each such table,
-- which visits each table once (polynomial in tables and keys); hops 0 for
-- the SUBJECT table itself.
CREATE FUNCTION privacy.subject_walk()
    RETURNS TABLE (relid oid, root oid, hops integer, path oid[], kind text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    links record;
    r record;
    frontier oid[];
    nxt oid[];
    seen oid[];
    paths jsonb;
    e record;
    depth integer;
BEGIN
    SELECT pg_catalog.array_agg(l.con) AS cons, pg_catalog.array_agg(l.child) AS children,
           pg_catalog.array_agg(l.parent) AS parents
      INTO links FROM privacy.subject_links() l WHERE l.owning;
    FOR r IN SELECT DISTINCT l.relation::oid AS relid, l.subject_kind FROM privacy.labels l
              WHERE l.subject ORDER BY 2, 1 LOOP
        relid := r.relid; root := r.relid; hops := 0; path := '{}'::oid[]; kind := r.subject_kind;
        RETURN NEXT;
        frontier := ARRAY[r.relid];
        seen := ARRAY[r.relid];
        paths := pg_catalog.jsonb_build_object(r.relid::text, '[]'::jsonb);
        depth := 0;
        WHILE pg_catalog.cardinality(frontier) > 0 AND depth < 1000 LOOP
            depth := depth + 1;
            nxt := '{}'::oid[];
            FOR e IN SELECT u.con, u.child, u.parent
                       FROM ROWS FROM (pg_catalog.unnest(links.cons), pg_catalog.unnest(links.children), pg_catalog.unnest(links.parents)) AS u(con, child, parent)
                      WHERE u.parent = ANY (frontier) AND NOT u.child = ANY (seen)
                      ORDER BY u.child, u.con LOOP
                CONTINUE WHEN e.child = ANY (seen);
                seen := seen || e.child;
                nxt := nxt || e.child;
                paths := paths || pg_catalog.jsonb_build_object(e.child::text,
                             pg_catalog.jsonb_build_array(e.con) || (paths->(e.parent::text)));
                relid := e.child; root := r.relid; hops := depth; kind := r.subject_kind;
                path := ARRAY(SELECT x::oid FROM pg_catalog.jsonb_array_elements_text(paths->(e.child::text)) x);
                RETURN NEXT;
            END LOOP;
            frontier := nxt;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.subject_walk() IS
    'for each subject kind, every table that holds its subjects'' rows with the first chain of owning foreign keys (child first) found from it to a table with SUBJECT columns of that kind, by a breadth-first walk from each; hops 0 for that table itself';
GRANT EXECUTE ON FUNCTION privacy.subject_walk() TO PUBLIC;

CREATE VIEW privacy.subject_path AS
    SELECT DISTINCT ON (w.relid, w.kind)
           w.relid::pg_catalog.regclass AS relation,
           w.root::pg_catalog.regclass  AS subject_relation,
           (SELECT pg_catalog.array_agg(l.column_name ORDER BY l.column_name)
              FROM privacy.labels l
             WHERE l.relation OPERATOR(pg_catalog.=) w.root::pg_catalog.regclass AND l.subject
               AND l.subject_kind OPERATOR(pg_catalog.=) w.kind) AS subject_columns,
           w.hops,
           w.path                       AS constraints,
           CASE WHEN w.hops OPERATOR(pg_catalog.=) 0 THEN 'direct'
                ELSE (SELECT pg_catalog.string_agg(privacy.fk_text(p.c), '; ' ORDER BY p.i)
                        FROM pg_catalog.unnest(w.path) WITH ORDINALITY p(c, i))
           END AS path,
           w.kind
      FROM privacy.subject_walk() w
     ORDER BY w.relid, w.kind, w.hops, w.root::pg_catalog.regclass::text, w.path::text;
COMMENT ON VIEW privacy.subject_path IS
    'for each table and subject kind whose subjects own rows of it: the table with the SUBJECT columns of that kind and the shortest chain of owning foreign keys that leads there (direct when the table has its own SUBJECT column of the kind)';
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

-- the base type of a type: a domain's, through every level
CREATE FUNCTION privacy.base_type(typ pg_catalog.regtype) RETURNS pg_catalog.regtype
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        WITH RECURSIVE d(t, depth) AS (
            SELECT typ::oid, 0
            UNION ALL
            SELECT y.typbasetype, d.depth + 1 FROM d JOIN pg_catalog.pg_type y ON y.oid = d.t
             WHERE y.typtype = 'd' AND d.depth < 100)
        SELECT d.t::pg_catalog.regtype FROM d ORDER BY d.depth DESC LIMIT 1
    $$;
COMMENT ON FUNCTION privacy.base_type(pg_catalog.regtype) IS
    'the base type of a type: for a domain, the type it is made from, through every level';
GRANT EXECUTE ON FUNCTION privacy.base_type(pg_catalog.regtype) TO PUBLIC;

-- The name of a type's base type to cast a value to without a length: the
-- schema-qualified internal name (pg_catalog.bpchar, pg_catalog."bit").
-- format_type() without a typmod gives the SQL spelling, and "character" or
-- "bit" as a cast target means a length of 1: 'abc'::character is 'a'.
CREATE FUNCTION privacy.cast_type_name(typ pg_catalog.regtype) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT pg_catalog.format('%I.%I', n.nspname, t.typname)
          FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
         WHERE t.oid = privacy.base_type(typ)
    $$;
COMMENT ON FUNCTION privacy.cast_type_name(pg_catalog.regtype) IS
    'internal: the schema-qualified internal name of a type''s base type, a cast target that keeps every character (pg_catalog.bpchar, not character, which is char(1))';
GRANT EXECUTE ON FUNCTION privacy.cast_type_name(pg_catalog.regtype) TO PUBLIC;

-- the type a subject of a SUBJECT column's family is compared as: an integer
-- as a bigint (a column of any integer type compares with it through its
-- index), text, char and uuid as themselves, others as their base type
CREATE FUNCTION privacy.subject_compare_type(typ pg_catalog.regtype) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE privacy.subject_family(typ)
                    WHEN 'integer' THEN 'pg_catalog.int8'
                    WHEN 'text' THEN 'pg_catalog.text'
                    WHEN 'bpchar' THEN 'pg_catalog.bpchar'
                    WHEN 'uuid' THEN 'pg_catalog.uuid'
                    WHEN 'numeric' THEN 'pg_catalog.numeric'
                    ELSE privacy.cast_type_name(typ) END
    $$;
COMMENT ON FUNCTION privacy.subject_compare_type(pg_catalog.regtype) IS
    'internal: the type a SUBJECT column of the type is compared with a canonical subject as (bigint for every integer type, the base type otherwise)';
GRANT EXECUTE ON FUNCTION privacy.subject_compare_type(pg_catalog.regtype) TO PUBLIC;

-- src/sql/code/anonymization.sql: static anonymization: methods, plans, anonymize_table and anonymize_database

CREATE FUNCTION privacy.anonymize_method_problem(method text, typ pg_catalog.regtype) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_anonymize_method_problem'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.anonymize_method_problem(text, pg_catalog.regtype) IS
    'why an anonymization method (null, placeholder, pseudonym, ff1, generalize <level>) cannot rewrite a column of the type; NULL when it can';
GRANT EXECUTE ON FUNCTION privacy.anonymize_method_problem(text, pg_catalog.regtype) TO PUBLIC;

-- the tables whose rows a table holds: itself, or its leaf partitions
CREATE FUNCTION privacy.leaf_tables(rel pg_catalog.regclass) RETURNS SETOF pg_catalog.regclass
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT k.oid::pg_catalog.regclass
      FROM pg_catalog.pg_class k
     WHERE k.relkind = 'r'
       AND (k.oid = rel
            OR k.oid = ANY (ARRAY(SELECT t.relid FROM pg_catalog.pg_partition_tree(rel) t)))
     ORDER BY k.oid::pg_catalog.regclass::text
    $$;
COMMENT ON FUNCTION privacy.leaf_tables(pg_catalog.regclass) IS
    'the tables that hold a table''s rows: the table itself, or the leaf partitions of a partitioned table';
GRANT EXECUTE ON FUNCTION privacy.leaf_tables(pg_catalog.regclass) TO PUBLIC;

-- the SQL that rewrites expr by one method: whether distinct values stay
-- distinct (injective) and, for pseudonyms cut to a length, the bits left;
-- the key goes in by name only
CREATE FUNCTION privacy.anonymize_sql(expr text, typ pg_catalog.regtype, typmod integer, method text,
                                      category text, key text,
                                      OUT sql text, OUT injective boolean, OUT bits integer)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    b oid;
    t text := pg_catalog.format_type(typ, typmod);
    maxlen integer;
    hexlen integer;
    problem text := privacy.anonymize_method_problem(method, typ);
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION '%', problem USING ERRCODE = 'datatype_mismatch';
    END IF;
    SELECT CASE WHEN y.typtype = 'd' THEN y.typbasetype ELSE y.oid END INTO b
      FROM pg_catalog.pg_type y WHERE y.oid = typ;
    IF b = ANY (ARRAY['pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.bpchar'::pg_catalog.regtype]::oid[])
       AND typmod > 4 THEN
        maxlen := typmod - 4;
    END IF;
    injective := false;
    -- (ANONYMIZE WITH KEEP never gets here: the plan keeps the column as it is)
    IF method = 'null' THEN
        sql := pg_catalog.format('NULL::%s', t);
    ELSIF method = 'placeholder' THEN
        sql := privacy.placeholder_sql(expr, typ, category, typmod);
        IF sql IS NULL THEN
            RAISE EXCEPTION 'ANONYMIZE WITH PLACEHOLDER has no placeholder for type %', t
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Label the column ANONYMIZE WITH NULL (when it is nullable) or another method.';
        END IF;
    ELSIF method ~ '^generalize ' THEN
        sql := pg_catalog.format('(%s)::%s', (privacy.generalization(expr, typ, pg_catalog.substr(method, 12)::integer)).sql, t);
    ELSIF b = ANY (ARRAY['pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
                                             'pg_catalog.int8'::pg_catalog.regtype]::oid[]) THEN
        -- pseudonym or FF1 of an integer: a permutation of the type's range
        sql := pg_catalog.format('privacy.fpe_encrypt((%s)::pg_catalog.int8, %L, %s, %s)::%s', expr, key,
                                 CASE b WHEN 'pg_catalog.int2'::pg_catalog.regtype THEN '-32768'
                                        WHEN 'pg_catalog.int4'::pg_catalog.regtype THEN '-2147483648'
                                        ELSE '-9223372036854775808' END,
                                 CASE b WHEN 'pg_catalog.int2'::pg_catalog.regtype THEN '32767'
                                        WHEN 'pg_catalog.int4'::pg_catalog.regtype THEN '2147483647'
                                        ELSE '9223372036854775807' END, t);
        injective := true;
    ELSIF method = 'ff1' THEN
        -- the digits encrypted in place: same length, same format
        sql := pg_catalog.format('privacy.fpe_encrypt((%s)::pg_catalog.text, %L)::%s', expr, key, t);
        injective := true;
    ELSIF b = 'pg_catalog.uuid'::pg_catalog.regtype THEN
        sql := pg_catalog.format('pg_catalog.left(privacy.pseudonym((%s)::pg_catalog.text, %L), 32)::pg_catalog.uuid::%s', expr, key, t);
        injective := true;
        bits := 128;
    ELSIF b = 'pg_catalog.bytea'::pg_catalog.regtype THEN
        sql := pg_catalog.format('privacy.pseudonym((%s)::pg_catalog.bytea, %L)::%s', expr, key, t);
        injective := true;
        bits := 256;
    ELSIF category ~ '^contact\.email' AND COALESCE(maxlen, 51) >= 27 THEN
        -- an e-mail address stays one: hex@anonymized.invalid
        hexlen := LEAST(32, COALESCE(maxlen, 51) - 19);
        sql := pg_catalog.format('(pg_catalog.left(privacy.pseudonym((%s)::pg_catalog.text, %L), %s) OPERATOR(pg_catalog.||) ''@anonymized.invalid'')::%s',
                                 expr, key, hexlen, t);
        injective := true;
        bits := 4 * hexlen;
    ELSE
        hexlen := LEAST(64, COALESCE(maxlen, 64));
        sql := pg_catalog.format('pg_catalog.left(privacy.pseudonym((%s)::pg_catalog.text, %L), %s)::%s', expr, key, hexlen, t);
        injective := true;
        bits := 4 * hexlen;
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.anonymize_sql(text, pg_catalog.regtype, integer, text, text, text) IS
    'internal: the SQL that rewrites expr by an anonymization method; whether distinct values stay distinct, and the bits of a pseudonym (its collision risk)';
GRANT EXECUTE ON FUNCTION privacy.anonymize_sql(text, pg_catalog.regtype, integer, text, text, text) TO PUBLIC;

-- the probability that n distinct values give at least two equal pseudonyms
-- of the given bits (the birthday bound); 0 for a permutation
CREATE FUNCTION privacy.collision_risk(n double precision, bits integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT CASE WHEN bits IS NULL THEN 0::double precision
                WHEN x < 1e-6 THEN x
                ELSE 1 - pg_catalog.exp(- x) END
      FROM (SELECT n * GREATEST(n - 1, 0) / 2
                   / pg_catalog.power(2::double precision, bits) AS x) s
    $$;
COMMENT ON FUNCTION privacy.collision_risk(double precision, integer) IS
    'the probability that n distinct values give two equal pseudonyms of the given bits (birthday bound); 0 when bits is NULL (a permutation)';
GRANT EXECUTE ON FUNCTION privacy.collision_risk(double precision, integer) TO PUBLIC;

-- how anonymize_table would rewrite one labelled column, before foreign keys
-- are considered: the label's method, else the category's (when it suits the
-- type), else one chosen by the column's constraints; NULL for a column
-- without a label, a generated or an identity column
CREATE FUNCTION privacy.anonymize_choice(rel oid, attname name, OUT method text, OUT chosen_by text, OUT is_unique boolean)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    root oid := COALESCE(pg_catalog.pg_partition_root(rel), rel::pg_catalog.regclass)::oid;
    c record;
BEGIN
    SELECT a.atttypid::pg_catalog.regtype AS typ, a.attnotnull, a.attgenerated, a.attidentity,
           l.subject, l.anonymize AS by_label, k.anonymize AS by_category,
           EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                    WHERE i.indrelid = root AND i.indisunique
                      AND a.attnum = ANY (i.indkey::smallint[])) AS uniq,
           EXISTS (SELECT 1 FROM pg_catalog.pg_constraint f
                    WHERE f.contype = 'f'
                      AND ((f.conrelid = root AND a.attnum = ANY (f.conkey))
                        OR (f.confrelid = root AND a.attnum = ANY (f.confkey)))) AS in_fk
      INTO c
      FROM pg_catalog.pg_attribute a
      JOIN privacy.labels l
        ON l.relation = root::pg_catalog.regclass AND l.column_name = a.attname
      LEFT JOIN privacy.category k ON k.name = l.category
     WHERE a.attrelid = root AND a.attname = anonymize_choice.attname
       AND a.attnum > 0 AND NOT a.attisdropped;
    is_unique := c.uniq;
    IF NOT FOUND OR c.attgenerated <> '' OR c.attidentity <> '' THEN
        RETURN;
    END IF;
    IF privacy.citus_distribution(root::pg_catalog.regclass) = anonymize_choice.attname THEN
        -- Citus does not move a row to another shard by an UPDATE (doc/citus.md)
        method := 'keep';
        chosen_by := 'citus distribution column';
    ELSIF c.by_label IS NOT NULL THEN
        method := c.by_label;
        chosen_by := 'label';
    ELSIF c.by_category IS NOT NULL AND privacy.anonymize_method_problem(c.by_category, c.typ) IS NULL THEN
        method := c.by_category;
        chosen_by := 'category';
    ELSIF (c.subject OR c.uniq OR c.in_fk) AND privacy.anonymize_method_problem('pseudonym', c.typ) IS NULL THEN
        -- a key: distinct values stay distinct, equal ones equal
        method := 'pseudonym';
        chosen_by := 'key';
    ELSE
        method := CASE WHEN c.attnotnull THEN 'placeholder' ELSE 'null' END;
        chosen_by := CASE WHEN c.attnotnull THEN 'not null' ELSE 'nullable' END;
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.anonymize_choice(oid, name) IS
    'internal: the anonymization method of one labelled column, what chose it (label, category, key, not null, nullable), and whether a unique index holds it';
GRANT EXECUTE ON FUNCTION privacy.anonymize_choice(oid, name) TO PUBLIC;

-- what anonymize_table does to a table: every labelled column with its
-- method, what chose it, whether it is unique, the collision risk and the
-- SQL; then the columns of other tables that join a rewritten key through a
-- foreign key and are rewritten with it. Raises for what cannot be done.
CREATE FUNCTION privacy.anonymization_plan(rel pg_catalog.regclass, key text DEFAULT 'anonymize')
    RETURNS TABLE (relation pg_catalog.regclass, column_name name, category text, method text, chosen_by text,
                   is_unique boolean, collision_risk double precision, expression text, joins text, note text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    root oid;
    kind "char";
    n double precision;
    c record;
    fk record;
    ch record;
    pc record;
    e record;
    con record;
BEGIN
    IF rel IS NULL OR key IS NULL THEN
        RAISE EXCEPTION 'rel and key must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT k.relkind INTO kind FROM pg_catalog.pg_class k WHERE k.oid = rel;
    IF kind IS NULL OR NOT kind = ANY (ARRAY['r', 'p']::"char"[]) THEN
        RAISE EXCEPTION '% is not a table', rel USING ERRCODE = 'wrong_object_type';
    END IF;
    root := COALESCE(pg_catalog.pg_partition_root(rel), rel);
    -- rows, for the collision risk: the planner's estimate, else a count
    SELECT pg_catalog.sum(GREATEST(k.reltuples, 0))::double precision INTO n
      FROM privacy.leaf_tables(rel) p JOIN pg_catalog.pg_class k ON k.oid = p;
    IF COALESCE(n, 0) = 0 THEN
        -- inside the extension's functions, as the table's owner (doc/security.md)
        IF CURRENT_USER = (SELECT x.extowner::pg_catalog.regrole::name FROM pg_catalog.pg_extension x WHERE x.extname = 'privacy') THEN
            n := privacy.owner_exec_value(rel, pg_catalog.format('SELECT pg_catalog.count(*) FROM %s', rel), NULL::text[])::double precision;
        ELSE
            EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s', rel) INTO n;
        END IF;
    END IF;

    FOR c IN
        SELECT a.attnum, a.attname, a.atttypid::pg_catalog.regtype AS typ, a.atttypmod, a.attnotnull,
               a.attgenerated, a.attidentity, l.category,
               (SELECT f.conname FROM pg_catalog.pg_constraint f
                 WHERE f.confrelid = root AND f.contype = 'f'
                   AND a.attnum = ANY (f.confkey)
                 ORDER BY f.conname LIMIT 1) AS referenced_by
          FROM pg_catalog.pg_attribute a
          JOIN privacy.labels l
            ON l.relation = root::pg_catalog.regclass AND l.column_name = a.attname
         WHERE a.attrelid = root AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum
    LOOP
        SELECT * INTO ch FROM privacy.anonymize_choice(root, c.attname);
        relation := rel;
        column_name := c.attname;
        category := c.category;
        is_unique := ch.is_unique;
        method := NULL;
        chosen_by := NULL;
        collision_risk := NULL;
        expression := NULL;
        joins := NULL;
        note := NULL;
        IF c.attgenerated <> '' THEN
            note := 'generated column: left alone';
            RETURN NEXT;
            CONTINUE;
        ELSIF c.attidentity <> '' THEN
            note := 'identity column: left alone';
            RETURN NEXT;
            CONTINUE;
        END IF;
        method := ch.method;
        chosen_by := ch.chosen_by;

        -- a foreign key column follows the key it joins
        SELECT f.conname, f.confrelid::pg_catalog.regclass AS parent, pa.attname AS parent_column
          INTO fk
          FROM pg_catalog.pg_constraint f
          CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(f.conkey), pg_catalog.unnest(f.confkey)) AS k(child_att, parent_att)
          JOIN pg_catalog.pg_attribute pa
            ON pa.attrelid = f.confrelid AND pa.attnum = k.parent_att
         WHERE f.conrelid = root AND f.contype = 'f'
           AND k.child_att = c.attnum
         ORDER BY f.conname LIMIT 1;
        IF FOUND THEN
            SELECT * INTO pc FROM privacy.anonymize_choice(fk.parent, fk.parent_column);
            joins := pg_catalog.format('%s.%I', fk.parent, fk.parent_column);
            IF fk.parent = root::pg_catalog.regclass THEN
                RAISE EXCEPTION 'column %.% references its own table (foreign key %)', rel, c.attname, fk.conname
                    USING ERRCODE = 'feature_not_supported',
                          DETAIL = 'anonymize_table does not rewrite a self-referencing key.';
            ELSIF method = 'null' AND NOT c.attnotnull OR method = 'keep' THEN
                NULL;   -- emptied or kept here; the foreign key holds
            ELSIF pc.method = ANY (ARRAY['pseudonym', 'ff1']) THEN
                IF ch.chosen_by = 'label' AND method <> pc.method THEN
                    RAISE EXCEPTION 'column %.% is labelled ANONYMIZE WITH %, but it joins %, which is rewritten with %',
                                    rel, c.attname, pg_catalog.upper(method), joins, pg_catalog.upper(pc.method)
                        USING ERRCODE = 'invalid_object_definition',
                              HINT = 'A foreign key column takes the method of the key it references, or NULL.';
                END IF;
                method := pc.method;
                chosen_by := 'foreign key ' || fk.conname;
                note := pg_catalog.format('rewritten with %s by anonymize_table(%s), with the same key', joins, fk.parent);
                RETURN NEXT;
                CONTINUE;
            ELSIF ch.chosen_by = 'label' THEN
                RAISE EXCEPTION 'column %.% is labelled ANONYMIZE WITH %, but it joins %, which anonymize_table does not rewrite',
                                rel, c.attname, pg_catalog.upper(method), joins
                    USING ERRCODE = 'invalid_object_definition',
                          HINT = 'Only ANONYMIZE WITH NULL keeps the foreign key: label the referenced column too, or use NULL.';
            ELSE
                method := NULL;
                chosen_by := NULL;
                note := pg_catalog.format('kept: it joins %s, which is not rewritten', joins);
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;

        IF method = 'keep' THEN
            note := CASE WHEN ch.chosen_by = 'citus distribution column'
                         THEN 'kept: the distribution column of a Citus table (Citus does not move a row to another shard)'
                         ELSE 'kept: ANONYMIZE WITH KEEP' END;
            RETURN NEXT;
            CONTINUE;
        END IF;
        -- what the constraints allow
        IF method = 'null' AND c.attnotnull THEN
            RAISE EXCEPTION 'column %.% is NOT NULL: ANONYMIZE WITH NULL cannot rewrite it', rel, c.attname
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Label it ANONYMIZE WITH PLACEHOLDER, or drop the NOT NULL constraint.';
        ELSIF (method = 'placeholder' OR method ~ '^generalize ') AND ch.is_unique THEN
            RAISE EXCEPTION 'column %.% is unique: ANONYMIZE WITH % would make its values equal', rel, c.attname, pg_catalog.upper(method)
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Label it ANONYMIZE WITH PSEUDONYM or FF1, which keep distinct values distinct.';
        ELSIF NOT method = ANY (ARRAY['pseudonym', 'ff1']) AND c.referenced_by IS NOT NULL THEN
            RAISE EXCEPTION 'column %.% is referenced by foreign key %: ANONYMIZE WITH % would break it',
                            rel, c.attname, c.referenced_by, pg_catalog.upper(method)
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Label it ANONYMIZE WITH PSEUDONYM or FF1: the referencing rows are rewritten with it and still join.';
        END IF;
        SELECT * INTO e FROM privacy.anonymize_sql(pg_catalog.format('t.%I', c.attname), c.typ, c.atttypmod,
                                                      method, c.category, key);
        expression := e.sql;
        collision_risk := CASE WHEN e.injective THEN privacy.collision_risk(n, e.bits) END;
        IF e.injective AND e.bits IS NOT NULL THEN
            note := pg_catalog.format('pseudonym of %s bits', e.bits);
        ELSIF e.injective THEN
            note := 'a permutation: distinct values stay distinct';
        END IF;
        RETURN NEXT;
    END LOOP;

    -- columns of other tables that join a rewritten key: rewritten with it
    FOR con IN
        SELECT f.oid, f.conname, f.conrelid::pg_catalog.regclass AS child, f.conkey, f.confkey
          FROM pg_catalog.pg_constraint f
         WHERE f.confrelid = root AND f.contype = 'f'
           AND f.conparentid = 0 AND f.conrelid <> root
         ORDER BY f.conrelid::pg_catalog.regclass::text, f.conname
    LOOP
        FOR c IN
            SELECT ca.attname AS child_column, ca.atttypid::pg_catalog.regtype AS child_typ, ca.atttypmod AS child_typmod,
                   pa.attname AS parent_column, pa.atttypid::pg_catalog.regtype AS typ, pa.atttypmod, l.category,
                   EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                            WHERE i.indrelid = con.child AND i.indisunique
                              AND ca.attnum = ANY (i.indkey::smallint[])) AS uniq
              FROM ROWS FROM (pg_catalog.unnest(con.conkey), pg_catalog.unnest(con.confkey)) AS k(child_att, parent_att)
              JOIN pg_catalog.pg_attribute ca
                ON ca.attrelid = con.child AND ca.attnum = k.child_att
              JOIN pg_catalog.pg_attribute pa
                ON pa.attrelid = root AND pa.attnum = k.parent_att
              LEFT JOIN privacy.labels l
                ON l.relation = root::pg_catalog.regclass AND l.column_name = pa.attname
        LOOP
            SELECT * INTO ch FROM privacy.anonymize_choice(root, c.parent_column);
            CONTINUE WHEN ch.method IS NULL OR NOT ch.method = ANY (ARRAY['pseudonym', 'ff1']);
            SELECT * INTO e FROM privacy.anonymize_sql(pg_catalog.format('c.%I', c.child_column), c.typ, c.atttypmod,
                                                          ch.method, c.category, key);
            relation := con.child;
            column_name := c.child_column;
            category := c.category;
            method := ch.method;
            chosen_by := 'foreign key ' || con.conname;
            is_unique := c.uniq;
            collision_risk := privacy.collision_risk(n, e.bits);
            expression := pg_catalog.format('(%s)::%s', e.sql, pg_catalog.format_type(c.child_typ, c.child_typmod));
            joins := pg_catalog.format('%s.%I', root::pg_catalog.regclass, c.parent_column);
            note := 'rewritten in the same transaction as the rows it joins';
            RETURN NEXT;
        END LOOP;
    END LOOP;

    -- legal holds on the tables it rewrites: anonymize_table refuses while
    -- one is in force (a hold keeps rows as they are)
    -- (for a caller granted table_holds: whether a subject is held is not
    -- everybody's to know)
    IF pg_catalog.has_function_privilege('privacy.table_holds(pg_catalog.regclass)', 'EXECUTE') THEN
        FOR e IN
            SELECT t.rel, h.hold_id, h.on_table, h.held_rows
              FROM (SELECT root::pg_catalog.regclass AS rel
                    UNION
                    SELECT f.conrelid::pg_catalog.regclass FROM pg_catalog.pg_constraint f
                     WHERE f.confrelid = root AND f.contype = 'f' AND f.conparentid = 0) t,
                   -- (of the tables the caller may read; anonymize_start checks them all)
                   LATERAL (SELECT * FROM privacy.table_holds(t.rel) x
                             WHERE pg_catalog.has_table_privilege(CASE pg_catalog.current_setting('role') WHEN 'none' THEN SESSION_USER
                                                                       ELSE pg_catalog.current_setting('role')::name END,
                                                                  t.rel, 'SELECT')) h
             ORDER BY t.rel::text, h.hold_id
        LOOP
            relation := e.rel;
            column_name := NULL;
            category := NULL;
            method := NULL;
            chosen_by := NULL;
            is_unique := NULL;
            collision_risk := NULL;
            expression := NULL;
            joins := NULL;
            note := CASE WHEN e.on_table
                         THEN pg_catalog.format('legal hold %s on the table: anonymize_table refuses until it ends or is released', e.hold_id)
                         ELSE pg_catalog.format('legal hold %s keeps %s rows of a subject: anonymize_table refuses until it ends or is released', e.hold_id, e.held_rows) END;
            RETURN NEXT;
        END LOOP;
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.anonymization_plan(pg_catalog.regclass, text) IS
    'what privacy.anonymize_table would do: each labelled column''s method (null, placeholder, pseudonym, ff1, generalize <level>, keep), what chose it, uniqueness, collision risk, SQL; the columns of other tables rewritten with a key they join; the legal holds that make it refuse; raises for what cannot be done';
GRANT EXECUTE ON FUNCTION privacy.anonymization_plan(pg_catalog.regclass, text) TO PUBLIC;

CREATE VIEW privacy.anonymize_log AS
    SELECT r.id, r.relation, r.started_at, r.ended_at, r.run_by, r.batch_size, r.key_name,
           CASE WHEN r.ended_at IS NOT NULL THEN 'finished'
                WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                              WHERE a.pid OPERATOR(pg_catalog.=) r.pid AND a.backend_start OPERATOR(pg_catalog.=) r.backend_start)
                     THEN 'running'
                ELSE 'interrupted' END AS status,
           (SELECT pg_catalog.sum(p.rows_done)::bigint FROM privacy.anonymize_part p WHERE p.run_id OPERATOR(pg_catalog.=) r.id) AS rows_done,
           (SELECT pg_catalog.sum(p.rows_total)::bigint FROM privacy.anonymize_part p WHERE p.run_id OPERATOR(pg_catalog.=) r.id) AS rows_total,
           (SELECT pg_catalog.sum(p.batches)::bigint FROM privacy.anonymize_part p WHERE p.run_id OPERATOR(pg_catalog.=) r.id) AS batches,
           r.methods
      FROM privacy.anonymize_run r;
COMMENT ON VIEW privacy.anonymize_log IS
    'every anonymize_table run with its status (running, finished, interrupted), rows done of the rows at its start, batches, and each column''s method';
GRANT SELECT ON privacy.anonymize_log TO PUBLIC;

-- the statements of one table or partition's batches: keyset (first batch,
-- next batches after $2, the last key done) or queue ($1 ctids or $2 keys);
-- each returns "rows:last key"
CREATE FUNCTION privacy.anonymize_part_sql(part oid, rel pg_catalog.regclass, plan jsonb, batch_size integer,
                                           mode text, key_column name, OUT first_sql text, OUT next_sql text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    sets text;
    refs text[] := ARRAY[]::text[];
    links text[] := ARRAY[]::text[];
    l record;
    ktype text;
    body text;
    src text;
    i integer := 0;
BEGIN
    SELECT pg_catalog.string_agg(pg_catalog.format('%I = %s', p.column_name, p.expression), ', ' ORDER BY p.column_name)
      INTO sets
      FROM pg_catalog.jsonb_to_recordset(plan) AS p(relation pg_catalog.regclass, column_name name, chosen_by text, expression text, joins text)
     WHERE p.relation = rel AND p.expression IS NOT NULL;
    -- other tables' rows that join the batch's keys: one UPDATE per table
    -- (a row is updated once per statement), each column rewritten where its
    -- foreign key joins a row of the batch
    FOR l IN
        WITH p AS (
            SELECT q.relation, q.chosen_by, q.column_name, q.expression,
                   (pg_catalog.parse_ident(q.joins))[pg_catalog.cardinality(pg_catalog.parse_ident(q.joins))] AS parent_col
              FROM pg_catalog.jsonb_to_recordset(plan) AS q(relation pg_catalog.regclass, column_name name, chosen_by text, expression text, joins text)
             WHERE q.relation <> rel),
        fk AS (
            SELECT p.relation, p.chosen_by,
                   pg_catalog.format('(%s) IN (SELECT %s FROM b)',
                                     pg_catalog.string_agg(pg_catalog.format('c.%I', p.column_name), ', ' ORDER BY p.column_name),
                                     pg_catalog.string_agg(pg_catalog.format('b.%I', p.parent_col), ', ' ORDER BY p.column_name)) AS cond
              FROM p GROUP BY p.relation, p.chosen_by)
        SELECT fk.relation,
               pg_catalog.string_agg(pg_catalog.format('%I = CASE WHEN %s THEN %s ELSE c.%1$I END', p.column_name, fk.cond, p.expression),
                                     ', ' ORDER BY p.column_name) AS sets,
               pg_catalog.string_agg(DISTINCT fk.cond, ' OR ') AS cond
          FROM fk JOIN p ON p.relation = fk.relation AND p.chosen_by = fk.chosen_by
         GROUP BY fk.relation
         ORDER BY fk.relation::text
    LOOP
        i := i + 1;
        links := links || pg_catalog.format(', l%s AS (UPDATE %s c SET %s WHERE %s)', i, l.relation, l.sets, l.cond);
    END LOOP;
    refs := ARRAY(SELECT DISTINCT pg_catalog.format('t.%I', (pg_catalog.parse_ident(q.joins))[pg_catalog.cardinality(pg_catalog.parse_ident(q.joins))])
                    FROM pg_catalog.jsonb_to_recordset(plan) AS q(relation pg_catalog.regclass, column_name name, chosen_by text, expression text, joins text)
                   WHERE q.relation <> rel);
    IF key_column IS NOT NULL THEN
        SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) INTO ktype
          FROM pg_catalog.pg_attribute a WHERE a.attrelid = part AND a.attname = key_column;
    END IF;
    -- a Citus table: Citus refuses a STABLE function of a column in an
    -- UPDATE, so the new values are computed by a SELECT (pushed down to the
    -- shards, where the keys are mirrored) and the UPDATE joins them by the
    -- primary key; each batch the rows of the next batch_size distinct values
    -- of the walking column (the distribution column of a distributed table)
    IF privacy.citus_distribution(part::pg_catalog.regclass) IS NOT NULL THEN
        IF pg_catalog.cardinality(links) > 0 THEN
            RAISE EXCEPTION 'anonymize_table does not rewrite the keys other tables join on Citus table %', rel
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Label the key ANONYMIZE WITH KEEP, or anonymize the joining tables one by one (doc/citus.md).';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = part AND i.indisprimary) THEN
            RAISE EXCEPTION 'Citus table % has no primary key: anonymize_table cannot name its rows on every node', rel
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Give it a primary key (doc/citus.md).';
        END IF;
        body := pg_catalog.format(
            'WITH k AS MATERIALIZED (SELECT DISTINCT s.%2$I FROM ONLY %1$s s %%s ORDER BY s.%2$I LIMIT %3$s), '
            'b AS MATERIALIZED (SELECT %4$s, %5$s FROM ONLY %1$s t WHERE t.%2$I IN (SELECT k.%2$I FROM k)), '
            'u AS (UPDATE ONLY %1$s t SET %6$s FROM b WHERE %7$s) '
            'SELECT (SELECT pg_catalog.count(*) FROM b)::pg_catalog.text || '':'' '
            '|| COALESCE((SELECT pg_catalog.max(k.%2$I) FROM k)::pg_catalog.text, '''')',
            part::pg_catalog.regclass, key_column, batch_size,
            (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', a.attname), ', ' ORDER BY a.attnum)
               FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::smallint[])
              WHERE i.indrelid = part AND i.indisprimary),
            (SELECT pg_catalog.string_agg(pg_catalog.format('%s AS _privacy_%s', p.expression, p.o), ', ' ORDER BY p.o)
               FROM ROWS FROM (pg_catalog.jsonb_to_recordset(plan) AS (relation pg_catalog.regclass, column_name name, expression text)) WITH ORDINALITY AS p(relation, column_name, expression, o)
              WHERE p.relation = rel AND p.expression IS NOT NULL),
            (SELECT pg_catalog.string_agg(pg_catalog.format('%I = b._privacy_%s', p.column_name, p.o), ', ' ORDER BY p.o)
               FROM ROWS FROM (pg_catalog.jsonb_to_recordset(plan) AS (relation pg_catalog.regclass, column_name name, expression text)) WITH ORDINALITY AS p(relation, column_name, expression, o)
              WHERE p.relation = rel AND p.expression IS NOT NULL),
            (SELECT pg_catalog.string_agg(pg_catalog.format('t.%1$I = b.%1$I', a.attname), ' AND ' ORDER BY a.attnum)
               FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::smallint[])
              WHERE i.indrelid = part AND i.indisprimary));
        first_sql := pg_catalog.format(body, '');
        next_sql := pg_catalog.format(body, pg_catalog.format('WHERE s.%I > $2::%s', key_column, ktype));
        RETURN;
    END IF;
    -- keyset with nothing else to rewrite: the next keys, then one UPDATE of
    -- them; a row another session changes meanwhile is found again by its key
    IF mode = 'keyset' AND pg_catalog.cardinality(links) = 0 THEN
        body := pg_catalog.format('WITH k AS MATERIALIZED (SELECT ARRAY(SELECT s.%3$I FROM ONLY %1$s s %%s ORDER BY s.%3$I LIMIT %4$s) AS ks), '
                                  'u AS (UPDATE ONLY %1$s t SET %2$s WHERE t.%3$I = ANY ((SELECT k.ks FROM k)::%5$s[])) '
                                  'SELECT pg_catalog.cardinality(k.ks)::pg_catalog.text || '':'' '
                                  '|| COALESCE((k.ks[pg_catalog.cardinality(k.ks)])::pg_catalog.text, '''') FROM k',
                                  part::pg_catalog.regclass, sets, key_column, batch_size, ktype);
        first_sql := pg_catalog.format(body, '');
        next_sql := pg_catalog.format(body, pg_catalog.format('WHERE s.%I > $2::%s', key_column, ktype));
        RETURN;
    END IF;
    body := pg_catalog.format('%s%s SELECT pg_catalog.count(*)::pg_catalog.text || '':'' || COALESCE(%s, '''') FROM b',
                              CASE WHEN sets IS NULL THEN ''
                                   ELSE pg_catalog.format(', u AS (UPDATE ONLY %s t SET %s FROM b WHERE t.ctid = b._privacy_tid)',
                                                          part::pg_catalog.regclass, sets) END,
                              pg_catalog.array_to_string(links, ''),
                              CASE WHEN mode = 'keyset' THEN 'pg_catalog.max(b._privacy_k)::pg_catalog.text' ELSE 'NULL' END);
    src := pg_catalog.format('SELECT t.ctid AS _privacy_tid%s%s FROM ONLY %s t',
                             CASE WHEN key_column IS NOT NULL THEN pg_catalog.format(', t.%I AS _privacy_k', key_column) ELSE '' END,
                             (SELECT pg_catalog.string_agg(', ' || x, '') FROM pg_catalog.unnest(refs) x),
                             part::pg_catalog.regclass);
    IF mode = 'keyset' THEN
        first_sql := pg_catalog.format('WITH b AS MATERIALIZED (%s ORDER BY t.%I LIMIT %s FOR UPDATE OF t)%s',
                                       src, key_column, batch_size, body);
        next_sql := pg_catalog.format('WITH b AS MATERIALIZED (%1$s WHERE t.%2$I > $2::%3$s ORDER BY t.%2$I LIMIT %4$s FOR UPDATE OF t)%5$s',
                                      src, key_column, ktype, batch_size, body);
    ELSIF key_column IS NOT NULL THEN
        first_sql := pg_catalog.format('WITH b AS MATERIALIZED (%s WHERE t.%I = ANY ($2::%s[]) FOR UPDATE OF t)%s',
                                       src, key_column, ktype, body);
    ELSE
        first_sql := pg_catalog.format('WITH b AS MATERIALIZED (%s WHERE t.ctid = ANY ($1) FOR UPDATE OF t)%s',
                                       src, body);
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.anonymize_part_sql(oid, pg_catalog.regclass, jsonb, integer, text, name) IS
    'internal: the statements of an anonymize_table batch over one table or partition, from the table''s anonymization_plan as jsonb: the rows locked, their labelled columns rewritten, other tables'' rows that join them rewritten with them';
REVOKE ALL ON FUNCTION privacy.anonymize_part_sql(oid, pg_catalog.regclass, jsonb, integer, text, name) FROM PUBLIC;

-- start (or continue) a run: checks, the run's rows, the queue, the audit
-- entry; NULL when there is nothing to do
CREATE FUNCTION privacy.anonymize_start(rel pg_catalog.regclass, batch_size integer, key text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    run bigint;
    r record;
    owner oid;
    methods jsonb;
    exprs text;
    fn text;
    leaf record;
    kc name;
    mode text;
    total bigint;
    q record;
    plan jsonb;
    resumed boolean := false;
    last text;
    chunk bigint;
BEGIN
    IF rel IS NULL OR batch_size IS NULL OR key IS NULL THEN
        RAISE EXCEPTION 'rel, batch_size and key must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                  AND d.objid = rel AND d.deptype = 'e') THEN
        RAISE EXCEPTION '% belongs to an extension', rel USING ERRCODE = 'wrong_object_type';
    END IF;
    PERFORM privacy.require_table_owner(rel);
    -- one start at a time: a lock on the runs that no role without UPDATE on
    -- them can take (an ordinary role holds at most ACCESS SHARE)
    LOCK TABLE privacy.anonymize_run IN SHARE ROW EXCLUSIVE MODE;
    -- a legal hold keeps rows as they are: no end-of-service anonymization
    -- of a table it keeps rows of
    SELECT t.rel AS relation, h.hold_id AS hold INTO r
      FROM (SELECT COALESCE(pg_catalog.pg_partition_root(rel), rel)::pg_catalog.regclass AS rel
            UNION
            SELECT f.conrelid::pg_catalog.regclass FROM pg_catalog.pg_constraint f
             WHERE f.confrelid = COALESCE(pg_catalog.pg_partition_root(rel), rel) AND f.contype = 'f' AND f.conparentid = 0) t,
           privacy.holds_on(t.rel) h
     ORDER BY h.hold_id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'legal hold % keeps rows of table %: it cannot be anonymized', r.hold, r.relation
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A legal hold suspends every erasure of the rows it keeps: retention, cancellation and end-of-service anonymization.',
                  HINT = 'privacy.anonymization_plan() lists the holds; privacy.release_hold() ends one.';
    END IF;

    -- the plan raises for what cannot be done, before anything changes; the
    -- columns it rewrites, here and in the tables that join this one
    SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(p)) INTO plan
      FROM privacy.anonymization_plan(rel, key) p
     WHERE p.expression IS NOT NULL;
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('relation', p.relation::text, 'column', p.column_name,
                                                              'method', p.method, 'chosen_by', p.chosen_by)
                                ORDER BY p.relation::text, p.column_name),
           pg_catalog.string_agg(p.expression, ' ')
      INTO methods, exprs
      FROM pg_catalog.jsonb_to_recordset(plan) AS p(relation pg_catalog.regclass, column_name name, method text,
                                                    chosen_by text, expression text);
    IF methods IS NULL THEN
        RAISE NOTICE 'table % has no labelled column to anonymize', rel;
        RETURN NULL;
    END IF;
    IF exprs ~ '(privacy\.pseudonym|privacy\.fpe_encrypt)\('
       AND NOT EXISTS (SELECT 1 FROM privacy.key k WHERE k.name = anonymize_start.key) THEN
        RAISE EXCEPTION 'key "%" does not exist', key
            USING ERRCODE = 'undefined_object',
                  HINT = pg_catalog.format('Create it with SELECT privacy.create_key(%L). Every table anonymized with the same key gets the same pseudonyms, so foreign keys still join; drop the key when the work is done.', key);
    END IF;
    -- the batches run as the table's owner: it needs the functions and the
    -- tables whose rows join this one's
    SELECT k.relowner INTO owner FROM pg_catalog.pg_class k WHERE k.oid = rel;
    FOREACH fn IN ARRAY ARRAY['privacy.pseudonym(text, text)', 'privacy.pseudonym(bytea, text)',
                              'privacy.fpe_encrypt(text, text, text, integer)', 'privacy.fpe_encrypt(bigint, text, bigint, bigint)'] LOOP
        IF exprs ~ (CASE fn WHEN 'privacy.pseudonym(text, text)' THEN 'privacy\.pseudonym\(\([^()]*\)::pg_catalog\.text, '
                                              WHEN 'privacy.pseudonym(bytea, text)' THEN 'privacy\.pseudonym\(\([^()]*\)::pg_catalog\.bytea, '
                                              WHEN 'privacy.fpe_encrypt(text, text, text, integer)' THEN 'privacy\.fpe_encrypt\(\([^()]*\)::pg_catalog\.text, '
                                              ELSE 'privacy\.fpe_encrypt\(\([^()]*\)::pg_catalog\.int8, ' END)
           AND NOT pg_catalog.has_function_privilege(owner, fn, 'EXECUTE') THEN
            RAISE EXCEPTION 'role % (owner of table %) may not execute function %', owner::pg_catalog.regrole, rel, fn
                USING ERRCODE = 'insufficient_privilege',
                      HINT = pg_catalog.format('The batches run as the table''s owner: GRANT EXECUTE ON FUNCTION %s TO %s.', fn, owner::pg_catalog.regrole);
        END IF;
    END LOOP;
    FOR r IN SELECT DISTINCT p.relation FROM pg_catalog.jsonb_to_recordset(plan) AS p(relation pg_catalog.regclass)
              WHERE p.relation <> rel LOOP
        IF NOT pg_catalog.has_table_privilege(owner, r.relation, 'UPDATE') THEN
            RAISE EXCEPTION 'role % (owner of table %) may not update table %, whose rows join it', owner::pg_catalog.regrole, rel, r.relation
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'The batches run as the table''s owner and rewrite the joining rows with the same pseudonyms.';
        END IF;
    END LOOP;

    -- an unfinished run of this table continues where it stopped
    SELECT * INTO r FROM privacy.anonymize_run x
     WHERE x.relid = rel AND x.ended_at IS NULL ORDER BY x.id DESC LIMIT 1;
    IF FOUND THEN
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                    WHERE a.pid = r.pid AND a.backend_start = r.backend_start
                      AND a.pid <> pg_catalog.pg_backend_pid()) THEN
            RAISE NOTICE 'run % is anonymizing table % in another session; this call does nothing', r.id, rel;
            RETURN NULL;
        ELSIF r.key_name <> key THEN
            RAISE EXCEPTION 'run % of table % uses key "%"', r.id, rel, r.key_name
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Continue it with the same key, so that the whole table gets the same pseudonyms.';
        END IF;
        run := r.id;
        resumed := true;
        UPDATE privacy.anonymize_run x SET batch_size = anonymize_start.batch_size, pid = pg_catalog.pg_backend_pid(),
               backend_start = (SELECT a.backend_start FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid())
         WHERE x.id = run;
        FOR leaf IN SELECT p.part, p.mode, p.key_column FROM privacy.anonymize_part p
                     WHERE p.run_id = run AND NOT p.finished LOOP
            SELECT * INTO q FROM privacy.anonymize_part_sql(leaf.part, rel, plan, batch_size, leaf.mode, leaf.key_column);
            UPDATE privacy.anonymize_part p SET first_sql = q.first_sql, next_sql = q.next_sql
             WHERE p.run_id = run AND p.part = leaf.part;
        END LOOP;
    ELSE
        IF EXISTS (SELECT 1 FROM privacy.leaf_tables(rel) t
                     JOIN privacy.anonymize_part p ON p.part = t AND NOT p.finished) THEN
            RAISE EXCEPTION 'a partition of % is part of an unfinished run of another table', rel
                USING ERRCODE = 'object_in_use',
                      HINT = 'Finish that run first: privacy.anonymize_log names its table.';
        END IF;
        -- the tables (partitions) no earlier run has finished
        IF NOT EXISTS (SELECT 1 FROM privacy.leaf_tables(rel) t
                        WHERE NOT EXISTS (SELECT 1 FROM privacy.anonymize_part p
                                           WHERE p.part = t AND p.finished)) THEN
            RAISE NOTICE 'table % is already anonymized; nothing to do', rel
                USING DETAIL = 'privacy.anonymize_log shows the run that did it.';
            RETURN NULL;
        END IF;
        INSERT INTO privacy.anonymize_run (relid, relation, batch_size, key_name, methods, run_by, pid, backend_start)
        SELECT rel, rel::text, batch_size, key, methods,
               CASE pg_catalog.current_setting('role') WHEN 'none' THEN SESSION_USER ELSE pg_catalog.current_setting('role')::name END,
               a.pid, a.backend_start
          FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid()
        RETURNING privacy.anonymize_run.id INTO run;
        FOR leaf IN
            SELECT t::oid AS part FROM privacy.leaf_tables(rel) t
             WHERE NOT EXISTS (SELECT 1 FROM privacy.anonymize_part p WHERE p.part = t AND p.finished)
        LOOP
            -- a single-column key walks the rows: in its order when it is not
            -- rewritten, else from a list of its values made now
            SELECT a.attname INTO kc
              FROM pg_catalog.pg_index i
              JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
              JOIN pg_catalog.pg_am am ON am.oid = ic.relam
              JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
             WHERE i.indrelid = leaf.part AND i.indisunique AND i.indimmediate AND i.indisvalid
               AND i.indnkeyatts = 1 AND i.indkey[0] > 0
               AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attnotnull AND am.amname = 'btree'
             ORDER BY i.indisprimary DESC, i.indexrelid
             LIMIT 1;
            mode := CASE WHEN kc IS NOT NULL AND NOT EXISTS (
                              SELECT 1 FROM pg_catalog.jsonb_to_recordset(plan) AS p(relation pg_catalog.regclass, column_name name)
                               WHERE p.relation = rel AND p.column_name = kc)
                         THEN 'keyset' ELSE 'queue' END;
            -- a Citus distributed table: by its distribution column, kept
            -- (each batch the rows of its next distinct values); a ctid is a
            -- row of one shard only, so a Citus table has no queue
            IF privacy.citus_distribution(leaf.part::pg_catalog.regclass) <> '' THEN
                kc := privacy.citus_distribution(leaf.part::pg_catalog.regclass);
                mode := 'keyset';
            ELSIF privacy.citus_distribution(leaf.part::pg_catalog.regclass) = '' AND mode = 'queue' THEN
                RAISE EXCEPTION 'Citus reference table % has no single-column unique key that anonymize_table keeps: it cannot walk it', rel
                    USING ERRCODE = 'feature_not_supported',
                          HINT = 'Give it a single-column primary key that is not rewritten (doc/citus.md).';
            END IF;
            IF mode = 'queue' THEN
                -- the keys (or ctids) in their order, read as the table's owner
                -- 50,000 at a time, each chunk after the last key of the one before
                total := 0;
                last := NULL;
                LOOP
                    INSERT INTO privacy.anonymize_queue (run_id, part, pos, item)
                    SELECT run, leaf.part, total + o.n, COALESCE(o.vals[1], o.tid::text)
                      FROM privacy.owner_rows(leaf.part::pg_catalog.regclass,
                               pg_catalog.format('SELECT t.tableoid, t.ctid%1$s FROM ONLY %2$s t' || CASE WHEN last IS NULL THEN '' ELSE ' WHERE %3$s > ($1[1])::%4$s' END || ' ORDER BY %3$s LIMIT 50000',
                                   CASE WHEN kc IS NULL THEN '' ELSE pg_catalog.format(', t.%I::pg_catalog.text', kc) END,
                                   leaf.part::pg_catalog.regclass,
                                   CASE WHEN kc IS NULL THEN 't.ctid' ELSE pg_catalog.format('t.%I', kc) END,
                                   CASE WHEN kc IS NULL THEN 'pg_catalog.tid'
                                        ELSE (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                                               WHERE a.attrelid = leaf.part AND a.attname = kc) END),
                               ARRAY[last]) WITH ORDINALITY o(part, tid, vals, n);
                    GET DIAGNOSTICS chunk = ROW_COUNT;
                    EXIT WHEN chunk = 0;
                    total := total + chunk;
                    SELECT aq.item INTO last FROM privacy.anonymize_queue aq
                     WHERE aq.run_id = run AND aq.part = leaf.part AND aq.pos = total;
                    EXIT WHEN chunk < 50000;
                END LOOP;
            ELSE
                total := privacy.owner_exec_value(leaf.part::pg_catalog.regclass,
                             pg_catalog.format('SELECT pg_catalog.count(*) FROM ONLY %s', leaf.part::pg_catalog.regclass), NULL::text[])::bigint;
            END IF;
            SELECT * INTO q FROM privacy.anonymize_part_sql(leaf.part, rel, plan, batch_size, mode, kc);
            INSERT INTO privacy.anonymize_part (run_id, part, relation, mode, key_column, rows_total, first_sql, next_sql)
            VALUES (run, leaf.part, leaf.part::pg_catalog.regclass::text, mode, kc, total, q.first_sql, q.next_sql);
        END LOOP;
    END IF;
    PERFORM privacy.audit_append('anonymize', pg_catalog.format('table %s', rel),
        pg_catalog.jsonb_build_object('operation', CASE WHEN resumed THEN 'resume' ELSE 'start' END, 'run', run,
                                      'batch_size', batch_size, 'key', key, 'columns', methods,
                                      'rows', (SELECT pg_catalog.sum(p.rows_total - p.rows_done)
                                                 FROM privacy.anonymize_part p WHERE p.run_id = run)));
    RETURN run;
END
$$;
COMMENT ON FUNCTION privacy.anonymize_start(pg_catalog.regclass, integer, text) IS
    'internal: check and start (or continue) an anonymize_table run: ownership, plan, key, the owner''s privileges; the run''s rows and queue; audited';
REVOKE ALL ON FUNCTION privacy.anonymize_start(pg_catalog.regclass, integer, text) FROM PUBLIC;

-- one batch of a run: the next rows of its first unfinished table, rewritten
-- as the table's owner; rows done, 0 when that table is finished, -1 when
-- the run has nothing left
CREATE FUNCTION privacy.anonymize_batch(run_id bigint) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
    p record;
    items text[];
    res text;
    n bigint;
BEGIN
    SELECT * INTO r FROM privacy.anonymize_run x WHERE x.id = run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'anonymize run % does not exist', run_id USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM privacy.require_table_owner(r.relid::pg_catalog.regclass);
    -- a crash loses at most the last batches, with their progress: the next
    -- call does them again
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    SELECT * INTO p FROM privacy.anonymize_part x
     WHERE x.run_id = anonymize_batch.run_id AND NOT x.finished
     ORDER BY x.relation LIMIT 1;
    IF NOT FOUND THEN
        RETURN -1;
    END IF;
    IF p.mode = 'keyset' THEN
        res := privacy.owner_exec_value(p.part::pg_catalog.regclass,
                                        CASE WHEN p.watermark IS NULL THEN p.first_sql ELSE p.next_sql END, NULL, p.watermark);
        n := pg_catalog.split_part(res, ':', 1)::bigint;
        IF n = 0 THEN
            UPDATE privacy.anonymize_part x SET finished = true
             WHERE x.run_id = p.run_id AND x.part = p.part;
            RETURN 0;
        END IF;
        UPDATE privacy.anonymize_part x
           SET watermark = pg_catalog.substr(res, pg_catalog.strpos(res, ':') + 1),
               rows_done = x.rows_done + n, batches = x.batches + 1
         WHERE x.run_id = p.run_id AND x.part = p.part;
        RETURN n;
    END IF;
    WITH d AS (
        DELETE FROM privacy.anonymize_queue q
         WHERE q.run_id = p.run_id AND q.part = p.part
           AND q.pos = ANY (ARRAY(SELECT q2.pos FROM privacy.anonymize_queue q2
                                                         WHERE q2.run_id = p.run_id AND q2.part = p.part
                                                         ORDER BY q2.pos LIMIT r.batch_size))
        RETURNING q.item)
    SELECT pg_catalog.array_agg(d.item) INTO items FROM d;
    IF items IS NULL THEN
        UPDATE privacy.anonymize_part x SET finished = true
         WHERE x.run_id = p.run_id AND x.part = p.part;
        RETURN 0;
    END IF;
    res := privacy.owner_exec_value(p.part::pg_catalog.regclass, p.first_sql,
                                    CASE WHEN p.key_column IS NULL THEN items::pg_catalog.tid[] END,
                                    CASE WHEN p.key_column IS NOT NULL THEN items::text END);
    n := pg_catalog.split_part(res, ':', 1)::bigint;
    UPDATE privacy.anonymize_part x
       SET rows_done = x.rows_done + n, batches = x.batches + 1
     WHERE x.run_id = p.run_id AND x.part = p.part;
    -- rows deleted since the queue was made are simply gone: go on
    RETURN GREATEST(n, 1);
END
$$;
COMMENT ON FUNCTION privacy.anonymize_batch(bigint) IS
    'internal: one batch of an anonymize_table run, as the table''s owner: rows done, 0 when a table of the run is finished, -1 when the run is';
REVOKE ALL ON FUNCTION privacy.anonymize_batch(bigint) FROM PUBLIC;

CREATE FUNCTION privacy.anonymize_finish(run_id bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM privacy.anonymize_run x WHERE x.id = run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'anonymize run % does not exist', run_id USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM privacy.require_table_owner(r.relid::pg_catalog.regclass);
    IF EXISTS (SELECT 1 FROM privacy.anonymize_part p WHERE p.run_id = r.id AND NOT p.finished) THEN
        RAISE EXCEPTION 'anonymize run % is not finished', run_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE privacy.anonymize_run x SET ended_at = pg_catalog.clock_timestamp() WHERE x.id = r.id;
    UPDATE privacy.anonymize_part p SET first_sql = NULL, next_sql = NULL, watermark = NULL WHERE p.run_id = r.id;
    PERFORM privacy.audit_append('anonymize', pg_catalog.format('table %s', r.relation),
        pg_catalog.jsonb_build_object('operation', 'finish', 'run', r.id,
            'erasure', 'logical: the old values stay in dead tuples until VACUUM, in WAL until it is recycled and in backups until they expire',
            'rows', (SELECT pg_catalog.sum(p.rows_done) FROM privacy.anonymize_part p WHERE p.run_id = r.id),
            'batches', (SELECT pg_catalog.sum(p.batches) FROM privacy.anonymize_part p WHERE p.run_id = r.id)));
END
$$;
COMMENT ON FUNCTION privacy.anonymize_finish(bigint) IS
    'internal: close a finished anonymize_table run, audited with its rows and batches';
REVOKE ALL ON FUNCTION privacy.anonymize_finish(bigint) FROM PUBLIC;

CREATE PROCEDURE privacy.anonymize_table(rel pg_catalog.regclass, batch_size integer DEFAULT 10000,
                                         key text DEFAULT 'anonymize')
    LANGUAGE plpgsql
    AS $$
DECLARE
    run bigint;
    n bigint;
    done bigint := 0;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    run := privacy.anonymize_start(rel, batch_size, key);
    COMMIT;
    IF run IS NULL THEN
        RETURN;
    END IF;
    LOOP
        -- progress, for a DBA reading pg_stat_activity (and privacy.anonymize_log);
        -- local to the batch's transaction, whose end (commit, or an error)
        -- gives the caller's application_name back
        PERFORM pg_catalog.set_config('application_name',
                    pg_catalog.left(pg_catalog.format('privacy anonymize run %s: %s, %s rows', run, rel, done), 63), true);
        n := privacy.anonymize_batch(run);
        COMMIT;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        EXIT WHEN n OPERATOR(pg_catalog.<) 0;
        done := done OPERATOR(pg_catalog.+) n;
    END LOOP;
    PERFORM privacy.anonymize_finish(run);
    COMMIT;
END
$$;
COMMENT ON PROCEDURE privacy.anonymize_table(pg_catalog.regclass, integer, text) IS
    'rewrite every labelled column of a table (its partitions included) by its method (privacy.anonymization_plan), in batches that commit, as the table''s owner; rows of other tables that join a rewritten key are rewritten with it; a stopped run continues where it left off; logged in privacy.anonymize_log and audited';
-- Destroys data: granted explicitly (with anonymize_start, anonymize_batch, anonymize_finish).
REVOKE ALL ON PROCEDURE privacy.anonymize_table(pg_catalog.regclass, integer, text) FROM PUBLIC;

CREATE PROCEDURE privacy.anonymize_database(schemas name[] DEFAULT NULL, batch_size integer DEFAULT 10000,
                                            key text DEFAULT 'anonymize')
    LANGUAGE plpgsql
    AS $$
DECLARE
    tables pg_catalog.regclass[];
    t pg_catalog.regclass;
    s name;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    FOREACH s IN ARRAY COALESCE(schemas, ARRAY[]::name[]) LOOP
        IF s IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) s) THEN
            RAISE EXCEPTION 'schema "%" does not exist', s USING ERRCODE = 'invalid_schema_name';
        END IF;
    END LOOP;
    tables := ARRAY(
        SELECT k.oid::pg_catalog.regclass
          FROM pg_catalog.pg_class k
          JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
         WHERE k.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[]) AND NOT k.relispartition
           AND (schemas IS NULL OR n.nspname OPERATOR(pg_catalog.=) ANY (schemas))
           AND EXISTS (SELECT 1 FROM privacy.labels l
                        WHERE l.relation OPERATOR(pg_catalog.=) k.oid::pg_catalog.regclass AND l.column_name IS NOT NULL)
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                            WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                              AND d.objid OPERATOR(pg_catalog.=) k.oid AND d.deptype OPERATOR(pg_catalog.=) 'e')
         ORDER BY n.nspname, k.relname);
    -- every table is checked before any is changed
    FOREACH t IN ARRAY tables LOOP
        IF NOT pg_catalog.pg_has_role(CURRENT_USER, (SELECT k.relowner FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) t), 'USAGE') THEN
            RAISE EXCEPTION 'must be owner of table %', t USING ERRCODE = 'insufficient_privilege';
        END IF;
        -- (the plan raises for what cannot be done, and lists the legal holds)
        IF EXISTS (SELECT 1 FROM privacy.anonymization_plan(t, key) p
                    WHERE p.column_name IS NULL AND p.note OPERATOR(pg_catalog.~) '^legal hold ') THEN
            RAISE EXCEPTION 'a legal hold keeps rows of table %: the database is not anonymized', t
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Nothing was changed: every table is checked before any is.',
                      HINT = 'privacy.anonymization_plan() lists the holds; privacy.release_hold() ends one.';
        END IF;
    END LOOP;
    FOREACH t IN ARRAY tables LOOP
        CALL privacy.anonymize_table(t, batch_size, key);
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    END LOOP;
END
$$;
COMMENT ON PROCEDURE privacy.anonymize_database(name[], integer, text) IS
    'privacy.anonymize_table for every table with labelled columns in the schemas (NULL: every schema), each checked before any is changed; foreign keys still join through the shared key';
-- As anonymize_table.
REVOKE ALL ON PROCEDURE privacy.anonymize_database(name[], integer, text) FROM PUBLIC;

-- An anonymized copy, streamed (bin/privacy_anonymized_dump): for every table
-- whose rows a dump holds, the SELECT that reads them anonymized, column by
-- column by the rules of anonymize_table (the same plan, the same key), and
-- the table's owner, who runs it.
CREATE FUNCTION privacy.anonymized_copy(key text)
    RETURNS TABLE (relation pg_catalog.regclass, owner name, columns text, select_sql text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t record;
    a record;
    own jsonb;
    fks jsonb;
    exprs text[];
    cols text[];
    e text;
BEGIN
    IF key IS NULL THEN
        RAISE EXCEPTION 'key must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    FOR t IN
        SELECT k.oid, k.relowner::pg_catalog.regrole::name AS rel_owner,
               COALESCE(pg_catalog.pg_partition_root(k.oid), k.oid) AS root
          FROM pg_catalog.pg_class k
          JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
         WHERE k.relkind = 'r'
           AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'privacy', 'pg_toast']::name[])
           AND NOT pg_catalog.starts_with(n.nspname, 'pg_temp_')
           AND NOT pg_catalog.starts_with(n.nspname, 'pg_toast_temp_')
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                            WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                              AND d.objid = k.oid AND d.deptype = 'e')
         ORDER BY n.nspname, k.relname
    LOOP
        -- its own labelled columns, as its plan rewrites them (the plan raises
        -- for what cannot be done)
        SELECT COALESCE(pg_catalog.jsonb_object_agg(p.column_name, p.expression), '{}'::jsonb) INTO own
          FROM privacy.anonymization_plan(t.oid::pg_catalog.regclass, key) p
         WHERE p.relation = t.oid::pg_catalog.regclass AND p.expression IS NOT NULL;
        -- its foreign key columns that join a rewritten key: rewritten with it
        SELECT COALESCE(pg_catalog.jsonb_object_agg(x.child_column, x.expr), '{}'::jsonb) INTO fks
          FROM (SELECT ca.attname AS child_column,
                       pg_catalog.format('(%s)::%s',
                           (privacy.anonymize_sql(pg_catalog.format('t.%I', ca.attname), pa.atttypid::pg_catalog.regtype,
                                                  pa.atttypmod, ch.method, l.category, key)).sql,
                           pg_catalog.format_type(ca.atttypid, ca.atttypmod)) AS expr
                  FROM pg_catalog.pg_constraint f
                 CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(f.conkey), pg_catalog.unnest(f.confkey)) AS k(child_att, parent_att)
                  JOIN pg_catalog.pg_attribute ca ON ca.attrelid = t.root AND ca.attnum = k.child_att
                  JOIN pg_catalog.pg_attribute pa ON pa.attrelid = f.confrelid AND pa.attnum = k.parent_att
                  LEFT JOIN privacy.labels l ON l.relation = f.confrelid::pg_catalog.regclass AND l.column_name = pa.attname
                 CROSS JOIN LATERAL privacy.anonymize_choice(f.confrelid, pa.attname) ch
                 WHERE f.conrelid = t.root AND f.contype = 'f' AND f.conparentid = 0 AND f.confrelid <> t.root
                   AND ch.method = ANY (ARRAY['pseudonym', 'ff1'])) x;
        exprs := ARRAY[]::text[];
        cols := ARRAY[]::text[];
        FOR a IN SELECT att.attname FROM pg_catalog.pg_attribute att
                  WHERE att.attrelid = t.oid AND att.attnum > 0 AND NOT att.attisdropped AND att.attgenerated = ''
                  ORDER BY att.attnum LOOP
            -- a column's own label first (ANONYMIZE WITH NULL empties a key)
            e := COALESCE(own ->> a.attname::text, fks ->> a.attname::text, pg_catalog.format('t.%I', a.attname));
            exprs := pg_catalog.array_append(exprs, pg_catalog.format('%s AS %I', e, a.attname));
            cols := pg_catalog.array_append(cols, pg_catalog.quote_ident(a.attname));
        END LOOP;
        relation := t.oid::pg_catalog.regclass;
        owner := t.rel_owner;
        columns := pg_catalog.array_to_string(cols, ', ');
        select_sql := pg_catalog.format('SELECT %s FROM ONLY %s t', pg_catalog.array_to_string(exprs, ', '), relation);
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.anonymized_copy(text) IS
    'for privacy_anonymized_dump: every table whose rows a dump holds (not the extensions''), its owner, its columns (generated ones aside) and the SELECT that reads its rows with every labelled column anonymized as anonymize_table would with that key, foreign keys rewritten with the keys they join; raises what anonymization_plan raises';
-- Names every table and the anonymization of its columns: the role that makes copies, granted explicitly.
REVOKE ALL ON FUNCTION privacy.anonymized_copy(text) FROM PUBLIC;

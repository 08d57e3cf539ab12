-- src/sql/code/purpose_views.sql: purpose views: the conditions and queries they are made of; creating, refreshing and granting them; their event trigger

-- The type a purpose view gives a column: the column's own type, but for a
-- domain (or an array of one) the type it is made from, through every level.
-- A view casts its masked and hidden columns to this type; a cast to a
-- domain would run the domain's CHECK constraints, code of the table's
-- owner, as whoever reads the view (over Citus, as the extension's owner on
-- a worker): a table owner must not run code as the readers of its data.
CREATE FUNCTION privacy.view_column_type(rel pg_catalog.oid, attnum integer) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        -- from the column's type: a domain to its base type (its typmod), an
        -- array of a domain to that domain (once), until neither
        WITH RECURSIVE d(t, typmod, arr, depth) AS (
            SELECT a.atttypid, a.atttypmod, false, 0
              FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = rel AND a.attnum = view_column_type.attnum AND NOT a.attisdropped
            UNION ALL
            SELECT CASE WHEN y.typtype = 'd' THEN y.typbasetype ELSE y.typelem END,
                   CASE WHEN y.typtype = 'd' THEN y.typtypmod ELSE d.typmod END,
                   d.arr OR y.typtype <> 'd', d.depth + 1
              FROM d JOIN pg_catalog.pg_type y ON y.oid = d.t
             WHERE d.depth < 100
               AND (y.typtype = 'd'
                    OR (NOT d.arr AND y.typcategory = 'A'
                        AND EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.oid = y.typelem AND e.typtype = 'd'))))
        SELECT pg_catalog.format_type(d.t, d.typmod) || CASE WHEN d.arr THEN '[]' ELSE '' END
          FROM d ORDER BY d.depth DESC LIMIT 1
    $$;
COMMENT ON FUNCTION privacy.view_column_type(pg_catalog.oid, integer) IS
    'the type a purpose view gives a column of a table: its own type, for a domain (or an array of one) the base type, so that reading the view runs none of the domain''s constraints';
GRANT EXECUTE ON FUNCTION privacy.view_column_type(pg_catalog.oid, integer) TO PUBLIC;

-- How a purpose view compares a subject column of alias with the canonical
-- subjects of a list (r.subject, r.subject_key): an integer column with the
-- integer key (same btree family, so the planner carries a constant across),
-- a numeric one by its canonical form, the others as their text (which is
-- their canonical form: char(n) without trailing blanks, uuid in standard
-- form).  The view runs as its caller.
CREATE FUNCTION privacy.subject_match(alias text, col name, typ pg_catalog.regtype) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE privacy.subject_family(typ)
                    WHEN 'integer' THEN pg_catalog.format('r.subject_key OPERATOR(pg_catalog.=) %I.%I', alias, col)
                    WHEN 'numeric' THEN pg_catalog.format('r.subject OPERATOR(pg_catalog.=) privacy.family_canonical(%I.%I::pg_catalog.text, ''pg_catalog.numeric'')', alias, col)
                    ELSE pg_catalog.format('r.subject OPERATOR(pg_catalog.=) %I.%I::pg_catalog.text', alias, col) END
    $$;
COMMENT ON FUNCTION privacy.subject_match(text, name, pg_catalog.regtype) IS
    'internal: the SQL condition that a subject column of an alias holds the canonical subject of a list''s row r';

-- the condition that a row of the alias names, in one of its subject
-- columns (of kind), a subject listed in table list (restricted subjects)
CREATE FUNCTION privacy.listed_condition(list text, alias text, rel oid, subject_columns name[], kind text)
    RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT '(' || pg_catalog.string_agg(
                   pg_catalog.format('EXISTS (SELECT 1 FROM %s r WHERE %s AND r.subject_kind OPERATOR(pg_catalog.=) %L)',
                                     list, privacy.subject_match(alias, c, a.atttypid::pg_catalog.regtype), kind), ' OR ') || ')'
          FROM pg_catalog.unnest(subject_columns) c
          JOIN pg_catalog.pg_attribute a ON a.attrelid = rel AND a.attname = c
    $$;
COMMENT ON FUNCTION privacy.listed_condition(text, text, oid, name[], text) IS
    'internal: the SQL condition that a row names, in one of its subject columns of a kind, a subject of a list (restricted subjects)';

-- The birth date column a purpose view compares, as its reader: the table's
-- identity.birth_date column when it is a date, timestamp or timestamptz, or
-- a domain over one (compared with the built-in operators; a domain's checks
-- do not run on reading).  A column of another type is not read by purpose
-- views: an implicit cast of the table owner's type to date would run the
-- owner's code as the reader.
CREATE FUNCTION privacy.view_birth_column(rel pg_catalog.oid) RETURNS name
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT l.column_name FROM privacy.labels l
          JOIN pg_catalog.pg_attribute a ON a.attrelid = l.relation AND a.attname = l.column_name
         WHERE l.relation = rel::pg_catalog.regclass AND l.category = 'identity.birth_date'
           AND privacy.base_type(a.atttypid) IN ('pg_catalog.date'::pg_catalog.regtype, 'pg_catalog.timestamp'::pg_catalog.regtype,
                                                 'pg_catalog.timestamptz'::pg_catalog.regtype)
         ORDER BY l.column_name LIMIT 1
    $$;
COMMENT ON FUNCTION privacy.view_birth_column(pg_catalog.oid) IS
    'the identity.birth_date column of a table that purpose views compare: the first (by name) of type date, timestamp or timestamptz, or a domain over one; NULL if none';
GRANT EXECUTE ON FUNCTION privacy.view_birth_column(pg_catalog.oid) TO PUBLIC;

-- the consent condition on subject columns (of kind) of the alias, as SQL
CREATE FUNCTION privacy.consent_condition(alias text, rel oid, subject_columns name[], birth_column name, purpose text, kind text)
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    col name;
    match text;
    parts text[] := ARRAY[]::text[];
    minor text;
    check_sql text;
    single boolean := pg_catalog.cardinality(subject_columns) = 1;
BEGIN
    FOREACH col IN ARRAY subject_columns LOOP
        -- the explicit setting (carried by the consent row), else the birth
        -- date (IS TRUE: the planner estimates it from the column's statistics)
        minor := '(r.minor_setting IS TRUE)';
        IF birth_column IS NOT NULL AND single THEN
            minor := pg_catalog.format(
                'COALESCE(r.minor_setting, %I.%I OPERATOR(pg_catalog.>) (SELECT (pg_catalog.now() OPERATOR(pg_catalog.-)'
                ' pg_catalog.make_interval(years => pg_catalog.current_setting(''privacy.minor_age'')::integer))::date))',
                alias, birth_column);
        END IF;
        match := privacy.subject_match(alias, col,
                     (SELECT a.atttypid::pg_catalog.regtype FROM pg_catalog.pg_attribute a WHERE a.attrelid = rel AND a.attname = col));
        check_sql := pg_catalog.format(
            'EXISTS (SELECT 1 FROM privacy.consent r'
            ' WHERE %s'
            ' AND r.purpose OPERATOR(pg_catalog.=) %L'
            ' AND r.subject_kind OPERATOR(pg_catalog.=) %L'
            ' AND (r.by_guardian OR NOT %s))',
            match, purpose, kind, minor);
        IF single THEN
            -- a bare EXISTS becomes a semi-join; a NULL subject fails it
            parts := parts || check_sql;
        ELSE
            parts := parts || pg_catalog.format('(%I.%I IS NULL OR %s)', alias, col, check_sql);
        END IF;
    END LOOP;
    IF NOT single THEN
        -- the row must have a subject at all
        parts := parts || (SELECT pg_catalog.format('(%s)', pg_catalog.string_agg(pg_catalog.format('%I.%I IS NOT NULL', alias, c2), ' OR '))
                                                  FROM pg_catalog.unnest(subject_columns) c2);
    END IF;
    RETURN pg_catalog.array_to_string(parts, ' AND ');
END
$$;
COMMENT ON FUNCTION privacy.consent_condition(text, oid, name[], name, text, text) IS
    'internal: the SQL condition that every non-NULL subject column (of a kind) of a row has consent in force for the purpose';

-- Whether a purpose's views show the rows of subjects whose data is only
-- kept (privacy.restricted_subject). PIPL Art. 47 allows nothing but storing
-- such data and "taking necessary security protection measures": only a
-- purpose resting on a legal obligation may see them; by default one that
-- covers a category the law makes kept after cancellation (on_cancel "keep
-- until retention": the seeded security purpose, over log.login and
-- log.security); privacy.show_kept_rows sets it per purpose
CREATE FUNCTION privacy.purpose_sees_kept_rows(purpose text) RETURNS boolean
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT p.legal_basis = 'legal_obligation'
               AND COALESCE((SELECT k.shown FROM privacy.purpose_kept_rows k WHERE k.purpose = p.name),
                            EXISTS (SELECT 1 FROM privacy.category c
                                     WHERE c.on_cancel = 'keep until retention'
                                       AND privacy.purpose_covers(p.name, c.name)))
          FROM privacy.purpose p
         WHERE p.name = purpose_sees_kept_rows.purpose
    $$;
COMMENT ON FUNCTION privacy.purpose_sees_kept_rows(text) IS
    'whether the purpose''s views show the rows kept after cancellation (PIPL Art. 47): only a legal obligation''s purpose; as privacy.show_kept_rows set it, by default when it covers a category kept until retention';
GRANT EXECUTE ON FUNCTION privacy.purpose_sees_kept_rows(text) TO PUBLIC;

-- whether the purpose hides the category altogether (itself or a parent)
CREATE FUNCTION privacy.purpose_hides(purpose text, category text) RETURNS boolean
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT EXISTS (SELECT 1 FROM privacy.purpose_hidden h
                        WHERE h.purpose = purpose_hides.purpose
                          AND (h.category = purpose_hides.category
                               OR pg_catalog.starts_with(purpose_hides.category, h.category || '.')))
    $$;
COMMENT ON FUNCTION privacy.purpose_hides(text, text) IS
    'whether the purpose hides the category altogether, itself or through a parent category (privacy.hide_category)';
GRANT EXECUTE ON FUNCTION privacy.purpose_hides(text, text) TO PUBLIC;

-- PIPL Art. 31 in a view of a purpose on a legal basis other than consent:
-- a minor's row shows only with a guardian's consent to the purpose, when
-- privacy.guardian_consent covers the basis (read when the view is read, so a
-- change of the setting needs no rebuild).  A minor: the explicit setting,
-- else the birth date of the subject table (one SUBJECT column).  Each EXISTS
-- is hashed over the small tables it reads, not probed per row.
CREATE FUNCTION privacy.guardian_condition(alias text, rel oid, subject_columns name[], purpose text, kind text, legal_basis text)
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    col name;
    birth name;
    match text;
    minor text;
    check_sql text;
    parts text[] := ARRAY[]::text[];
    single boolean := pg_catalog.cardinality(subject_columns) = 1;
BEGIN
    IF single THEN
        birth := privacy.view_birth_column(rel);
    END IF;
    FOREACH col IN ARRAY subject_columns LOOP
        match := privacy.subject_match(alias, col,
                     (SELECT a.atttypid::pg_catalog.regtype FROM pg_catalog.pg_attribute a WHERE a.attrelid = rel AND a.attname = col));
        minor := pg_catalog.format('EXISTS (SELECT 1 FROM privacy.subject_minor r WHERE %s AND r.subject_kind OPERATOR(pg_catalog.=) %L AND r.minor)',
                                   match, kind);
        IF birth IS NOT NULL THEN
            minor := pg_catalog.format(
                '(%s OR ((%I.%I OPERATOR(pg_catalog.>) (SELECT (pg_catalog.now() OPERATOR(pg_catalog.-)'
                ' pg_catalog.make_interval(years => pg_catalog.current_setting(''privacy.minor_age'')::integer))::date)) IS TRUE'
                ' AND NOT EXISTS (SELECT 1 FROM privacy.subject_minor r WHERE %s AND r.subject_kind OPERATOR(pg_catalog.=) %L AND NOT r.minor)))',
                minor, alias, birth, match, kind);
        END IF;
        check_sql := pg_catalog.format(
            '(NOT %s OR EXISTS (SELECT 1 FROM privacy.consent r WHERE %s'
            ' AND r.purpose OPERATOR(pg_catalog.=) %L AND r.subject_kind OPERATOR(pg_catalog.=) %L AND r.by_guardian))',
            minor, match, purpose, kind);
        IF NOT single THEN
            check_sql := pg_catalog.format('(%I.%I IS NULL OR %s)', alias, col, check_sql);
        END IF;
        parts := parts || check_sql;
    END LOOP;
    -- the setting, once per query
    RETURN pg_catalog.format('(NOT (SELECT pg_catalog.current_setting(''privacy.guardian_consent'') OPERATOR(pg_catalog.=) ANY (%L::pg_catalog.text[])) OR (%s))',
                             CASE WHEN legal_basis = 'contract' THEN '{contract,all}' ELSE '{all}' END,
                             pg_catalog.array_to_string(parts, ' AND '));
END
$$;
COMMENT ON FUNCTION privacy.guardian_condition(text, oid, name[], text, text, text) IS
    'internal: the SQL condition (never NULL) that a row''s subjects (of a kind) are no minors, or have a guardian''s consent to the purpose, where privacy.guardian_consent asks for it (PIPL Art. 31)';

CREATE FUNCTION privacy.purpose_view_query(source regclass, purpose text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p record;
    sp record;
    col record;
    cols text[] := ARRAY[]::text[];
    expr text;
    m text;
    filter text;
    hops integer;
    root text;
    birth name;
    filters text[];
BEGIN
    SELECT * INTO p FROM privacy.purpose d WHERE d.name = purpose;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown purpose "%"', purpose USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM privacy.subject_path s WHERE s.relation = source) THEN
        RAISE EXCEPTION 'table % holds no subject''s data', source
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A purpose view filters rows by their subject''s consent: the table needs a SUBJECT column, or a foreign key chain to a table with one.',
                  HINT = 'Label the subject key with SECURITY LABEL FOR privacy ... IS ''SUBJECT''.';
    END IF;

    -- columns: hidden ones NULL; covered or unlabelled in clear; the others
    -- masked or NULL
    FOR col IN
        SELECT a.attname, privacy.view_column_type(source, a.attnum) AS typ,
               privacy.view_column_type(source, a.attnum) <> pg_catalog.format_type(a.atttypid, a.atttypmod) AS recast,
               t.typcategory,
               l.category, l.mask AS label_mask, c.mask AS category_mask
          FROM pg_catalog.pg_attribute a
          JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
          LEFT JOIN privacy.labels l ON l.relation = source AND l.column_name = a.attname
          LEFT JOIN privacy.category c ON c.name = l.category
         WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum
    LOOP
        IF col.category IS NOT NULL AND privacy.purpose_hides(purpose, col.category) THEN
            -- hidden altogether: NULL of the column's type, mask or not
            expr := pg_catalog.format('NULL::%s', col.typ);
        ELSIF col.category IS NULL OR privacy.purpose_covers(purpose, col.category) THEN
            -- a domain column as its base type: the same values, no constraint run
            expr := CASE WHEN col.recast THEN pg_catalog.format('t.%I::%s', col.attname, col.typ)
                         ELSE pg_catalog.format('t.%I', col.attname) END;
        ELSE
            m := col.label_mask;
            IF m IS NULL AND col.typcategory = 'S' AND col.category_mask IS NOT NULL THEN
                -- checked again as it is pasted: a schema may have lost its trust
                -- since (the column is then NULL)
                BEGIN
                    m := privacy.check_mask(col.category_mask, 'pg_catalog.text');
                EXCEPTION WHEN OTHERS THEN
                    m := NULL;
                END;
            END IF;
            IF m IS NOT NULL THEN
                expr := pg_catalog.format('%s(t.%I)::%s', m, col.attname, col.typ);
            ELSE
                expr := pg_catalog.format('NULL::%s', col.typ);
            END IF;
        END IF;
        cols := cols || pg_catalog.format('%s AS %I', expr, col.attname);
    END LOOP;

    -- per subject kind whose subjects own the rows: through the foreign
    -- keys, child first (t -> a1 -> a2 ... -> the subject table), the row's
    -- subject must not be one whose rows are only kept (PIPL Art. 47) unless
    -- the purpose sees kept rows, and, for a purpose that rests on consent,
    -- must have consented
    filters := ARRAY[]::text[];
    FOR sp IN SELECT * FROM privacy.subject_path s WHERE s.relation = source ORDER BY s.kind LOOP
        hops := pg_catalog.cardinality(sp.constraints);
        root := CASE WHEN hops = 0 THEN 't' ELSE 'a' || hops END;
        IF p.legal_basis <> 'consent' THEN
            IF NOT privacy.purpose_sees_kept_rows(purpose) THEN
                filters := filters || ('NOT ' ||
                    privacy.path_condition(sp.constraints, privacy.listed_condition('privacy.restricted_subject', root,
                                               sp.subject_relation, sp.subject_columns, sp.kind)));
            END IF;
            -- PIPL Art. 31: nor a minor's without a guardian's consent
            filters := filters || ('NOT ' || privacy.path_condition(sp.constraints,
                          'NOT ' || privacy.guardian_condition(root, sp.subject_relation, sp.subject_columns, purpose, sp.kind, p.legal_basis)));
        ELSE
            birth := privacy.view_birth_column(sp.subject_relation);
            filters := filters || privacy.path_condition(sp.constraints,
                          privacy.consent_condition(root, sp.subject_relation, sp.subject_columns, birth, purpose, sp.kind));
        END IF;
    END LOOP;
    filter := COALESCE(NULLIF(pg_catalog.array_to_string(filters, ' AND '), ''), 'true');
    RETURN pg_catalog.format('SELECT %s FROM %s t WHERE %s',
                             pg_catalog.array_to_string(cols, ', '), source, filter);
END
$$;
COMMENT ON FUNCTION privacy.purpose_view_query(regclass, text) IS
    'the query of the purpose view of a table: subjects whose consent covers the purpose (through foreign keys too), no rows only kept after cancellation unless the purpose sees them, labelled columns outside the purpose masked, of categories it hides NULL';
GRANT EXECUTE ON FUNCTION privacy.purpose_view_query(regclass, text) TO PUBLIC;

-- (re)create one registered view and its grants
CREATE FUNCTION privacy.build_purpose_view(view_schema name, view_name name, source regclass, purpose text)
    RETURNS regclass
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v regclass;
    r name;
    citus boolean := privacy.citus_table(source);
    propagate text;
    q text;
BEGIN
    IF NOT citus THEN
        IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', view_schema, view_name)) IS NOT NULL THEN
            -- in place when its columns only grow (views built on it stay);
            -- else dropped with whatever was built on it: a purpose role's own
            -- view on its purpose view must not keep the table's owner from
            -- changing the table (test/review 08)
            BEGIN
                EXECUTE pg_catalog.format('CREATE OR REPLACE VIEW %I.%I WITH (security_barrier) AS %s',
                                          view_schema, view_name, privacy.purpose_view_query(source, purpose));
            EXCEPTION WHEN invalid_table_definition OR datatype_mismatch OR feature_not_supported THEN
                EXECUTE pg_catalog.format('DROP VIEW %I.%I CASCADE', view_schema, view_name);
            END;
        END IF;
        IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', view_schema, view_name)) IS NULL THEN
            EXECUTE pg_catalog.format('CREATE VIEW %I.%I WITH (security_barrier) AS %s',
                                      view_schema, view_name, privacy.purpose_view_query(source, purpose));
        END IF;
    ELSE
        PERFORM privacy.drop_purpose_view(view_schema, view_name);
        -- A Citus table (doc/citus.md): Citus opens the workers' connections
        -- as the current user, who has no right on the shards, so the view
        -- reads its rows through a SECURITY DEFINER function of the same
        -- name; the consents are a subquery, which Citus plans on the
        -- coordinator and sends to the workers.  Neither reaches the workers
        -- (an ALTER TABLE rebuilding the view reaches them after it).
        propagate := pg_catalog.current_setting('citus.enable_ddl_propagation', true);
        PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
        q := pg_catalog.replace(pg_catalog.replace(privacy.purpose_view_query(source, purpose),
                 'FROM privacy.consent r', 'FROM (SELECT * FROM privacy.consent) r'),
                 'FROM privacy.restricted_subject r', 'FROM (SELECT * FROM privacy.restricted_subject) r');
        EXECUTE pg_catalog.format('CREATE FUNCTION %I.%I() RETURNS TABLE (%s) LANGUAGE sql STABLE SECURITY DEFINER'
                                  ' SET search_path = pg_catalog, pg_temp AS %L',
                                  view_schema, view_name,
                                  (SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', a.attname, privacy.view_column_type(source, a.attnum)),
                                                                ', ' ORDER BY a.attnum)
                                     FROM pg_catalog.pg_attribute a
                                    WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped),
                                  q);
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %I.%I() FROM PUBLIC', view_schema, view_name);
        EXECUTE pg_catalog.format('COMMENT ON FUNCTION %I.%I() IS %L', view_schema, view_name,
                                  pg_catalog.format('privacy purpose view rows of %s for purpose %s', source, purpose));
        EXECUTE pg_catalog.format('CREATE VIEW %I.%I WITH (security_barrier) AS SELECT * FROM %I.%I()',
                                  view_schema, view_name, view_schema, view_name);
    END IF;
    v := pg_catalog.format('%I.%I', view_schema, view_name)::regclass;
    EXECUTE pg_catalog.format('COMMENT ON VIEW %s IS %L', v,
                              pg_catalog.format('privacy purpose view of %s for purpose %s', source, purpose));
    EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM PUBLIC', v);
    FOR r IN SELECT g.role_name FROM privacy.purpose_grant g WHERE g.purpose = build_purpose_view.purpose LOOP
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', view_schema, r);
        EXECUTE pg_catalog.format('GRANT SELECT ON %s TO %I', v, r);
        IF citus THEN
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %I.%I() TO %I', view_schema, view_name, r);
        END IF;
    END LOOP;
    IF citus THEN
        PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', COALESCE(propagate, 'on'), true);
    END IF;
    RETURN v;
END
$$;

-- drop a purpose view and, over a Citus table, the function it reads its rows through
CREATE FUNCTION privacy.drop_purpose_view(view_schema name, view_name name) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', view_schema, view_name)) IS NOT NULL THEN
        EXECUTE pg_catalog.format('DROP VIEW %I.%I', view_schema, view_name);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_proc f JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace
                WHERE n.nspname = view_schema AND f.proname = view_name AND f.pronargs = 0
                  AND pg_catalog.obj_description(f.oid, 'pg_proc') LIKE 'privacy purpose view rows of %') THEN
        EXECUTE pg_catalog.format('DROP FUNCTION %I.%I()', view_schema, view_name);
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.drop_purpose_view(name, name) IS
    'internal: drop a purpose view, and the function a purpose view over a Citus table reads its rows through';
REVOKE ALL ON FUNCTION privacy.drop_purpose_view(name, name) FROM PUBLIC;
COMMENT ON FUNCTION privacy.build_purpose_view(name, name, regclass, text) IS
    'internal: create or rebuild one purpose view and grant it to the purpose''s roles; over a Citus table, with the SECURITY DEFINER function of the same name it reads its rows through';
REVOKE ALL ON FUNCTION privacy.build_purpose_view(name, name, regclass, text) FROM PUBLIC;

CREATE FUNCTION privacy.create_purpose_view(source regclass, purpose text, view_name text DEFAULT NULL)
    RETURNS regclass
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    src_schema name;
    src_name name;
    v_schema text;
    v_name text;
    parts text[];
    v regclass;
BEGIN
    IF source IS NULL OR purpose IS NULL THEN
        RAISE EXCEPTION 'source and purpose must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- the role that called us: SET ROLE's role, else the session user
    IF NOT pg_catalog.has_table_privilege(
               CASE pg_catalog.current_setting('role') WHEN 'none' THEN SESSION_USER
                    ELSE pg_catalog.current_setting('role')::name END,
               source, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for table %', source
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Only a role that can read a table can make purpose views of it.';
    END IF;
    SELECT n.nspname, c.relname INTO src_schema, src_name
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = source;
    IF view_name IS NULL THEN
        v_schema := src_schema::text;
        v_name := src_name::text || '_' || purpose;
    ELSE
        parts := pg_catalog.parse_ident(view_name);
        IF pg_catalog.cardinality(parts) = 1 THEN
            v_schema := src_schema::text;
            v_name := parts[1];
        ELSIF pg_catalog.cardinality(parts) = 2 THEN
            v_schema := parts[1];
            v_name := parts[2];
        ELSE
            RAISE EXCEPTION 'improper view name "%"', view_name USING ERRCODE = 'invalid_name';
        END IF;
    END IF;
    -- a longer name would be cut (and could then be another view's)
    IF pg_catalog.octet_length(v_schema) > 63 OR pg_catalog.octet_length(v_name) > 63 THEN
        RAISE EXCEPTION 'view name "%" is too long', v_name
            USING ERRCODE = 'name_too_long',
                  HINT = 'Names have at most 63 bytes: give the view a shorter name with view_name.';
    END IF;
    IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', v_schema, v_name)) IS NOT NULL THEN
        RAISE EXCEPTION 'relation "%.%" already exists', v_schema, v_name USING ERRCODE = 'duplicate_table';
    END IF;
    v := privacy.build_purpose_view(v_schema::name, v_name::name, source, purpose);
    INSERT INTO privacy.purpose_view (view_schema, view_name, source_schema, source_name, purpose)
    VALUES (v_schema, v_name, src_schema, src_name, purpose);
    PERFORM privacy.audit_append('purpose view', pg_catalog.format('view %s', v),
        pg_catalog.jsonb_build_object('operation', 'create', 'source', source::text, 'purpose', purpose));
    RETURN v;
END
$$;
COMMENT ON FUNCTION privacy.create_purpose_view(regclass, text, text) IS
    'create a security_barrier view of a labelled table for a purpose: only rows whose subject may be processed for it, labelled columns outside it masked';
-- Administrators: granted explicitly.
REVOKE ALL ON FUNCTION privacy.create_purpose_view(regclass, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.refresh_purpose_views(source regclass DEFAULT NULL, purpose text DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
    n integer := 0;
    src regclass;
BEGIN
    FOR r IN SELECT * FROM privacy.purpose_view ORDER BY view_schema, view_name LOOP
        src := pg_catalog.to_regclass(pg_catalog.format('%I.%I', r.source_schema, r.source_name));
        IF src IS NULL THEN
            -- the table is gone (and its view with it)
            DELETE FROM privacy.purpose_view v
             WHERE v.view_schema = r.view_schema AND v.view_name = r.view_name;
            CONTINUE;
        END IF;
        IF (refresh_purpose_views.source IS NULL OR src = refresh_purpose_views.source)
           AND (refresh_purpose_views.purpose IS NULL OR r.purpose = refresh_purpose_views.purpose) THEN
            IF NOT EXISTS (SELECT 1 FROM privacy.purpose p WHERE p.name = r.purpose) THEN
                PERFORM privacy.drop_purpose_view(r.view_schema, r.view_name);
                DELETE FROM privacy.purpose_view v
                 WHERE v.view_schema = r.view_schema AND v.view_name = r.view_name;
                CONTINUE;
            END IF;
            BEGIN
                PERFORM privacy.build_purpose_view(r.view_schema, r.view_name, src, r.purpose);
                n := n + 1;
            EXCEPTION WHEN object_not_in_prerequisite_state THEN
                -- the table no longer holds a subject's data: no lawful view of it remains
                PERFORM privacy.drop_purpose_view(r.view_schema, r.view_name);
                DELETE FROM privacy.purpose_view v
                 WHERE v.view_schema = r.view_schema AND v.view_name = r.view_name;
                RAISE WARNING 'purpose view %.% was removed: table %.% no longer holds a subject''s data',
                    pg_catalog.quote_ident(r.view_schema), pg_catalog.quote_ident(r.view_name),
                    pg_catalog.quote_ident(r.source_schema), pg_catalog.quote_ident(r.source_name);
            END;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.refresh_purpose_views(regclass, text) IS
    'rebuild the purpose views (of one table, of one purpose, or all) from the current labels, purposes and columns; returns how many';
-- Administrators: granted explicitly.
REVOKE ALL ON FUNCTION privacy.refresh_purpose_views(regclass, text) FROM PUBLIC;

CREATE FUNCTION privacy.grant_purpose(purpose text, role_name name) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    IF purpose IS NULL OR role_name IS NULL THEN
        RAISE EXCEPTION 'purpose and role must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM privacy.purpose p WHERE p.name = grant_purpose.purpose) THEN
        RAISE EXCEPTION 'unknown purpose "%"', purpose USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles x WHERE x.rolname = role_name) THEN
        RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = 'undefined_object';
    END IF;
    INSERT INTO privacy.purpose_grant AS g (purpose, role_name) VALUES (purpose, role_name)
    ON CONFLICT ON CONSTRAINT purpose_grant_pkey DO NOTHING;
    FOR r IN SELECT * FROM privacy.purpose_view v WHERE v.purpose = grant_purpose.purpose LOOP
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', r.view_schema, role_name);
        EXECUTE pg_catalog.format('GRANT SELECT ON %I.%I TO %I', r.view_schema, r.view_name, role_name);
        -- over a Citus table, the function the view reads its rows through
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_proc f JOIN pg_catalog.pg_namespace s ON s.oid = f.pronamespace
                    WHERE s.nspname = r.view_schema AND f.proname = r.view_name AND f.pronargs = 0
                      AND pg_catalog.obj_description(f.oid, 'pg_proc') LIKE 'privacy purpose view rows of %') THEN
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %I.%I() TO %I', r.view_schema, r.view_name, role_name);
        END IF;
        n := n + 1;
    END LOOP;
    PERFORM privacy.audit_append('purpose grant', pg_catalog.format('role %s', pg_catalog.quote_ident(role_name)),
        pg_catalog.jsonb_build_object('purpose', purpose, 'views', n));
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.grant_purpose(text, name) IS
    'let a role read the purpose''s views (now and future ones), and nothing else of them; returns how many views';
-- Administrators: granted explicitly.
REVOKE ALL ON FUNCTION privacy.grant_purpose(text, name) FROM PUBLIC;

CREATE FUNCTION privacy.hide_category(purpose text, category text, hidden boolean DEFAULT true) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n integer;
BEGIN
    IF purpose IS NULL OR category IS NULL OR hidden IS NULL THEN
        RAISE EXCEPTION 'purpose, category and hidden must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM privacy.purpose p WHERE p.name = hide_category.purpose) THEN
        RAISE EXCEPTION 'unknown purpose "%"', purpose USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM privacy.category c WHERE c.name = hide_category.category) THEN
        RAISE EXCEPTION 'category "%" does not exist', category USING ERRCODE = 'undefined_object';
    END IF;
    IF hidden THEN
        INSERT INTO privacy.purpose_hidden AS h (purpose, category) VALUES (purpose, category)
        ON CONFLICT ON CONSTRAINT purpose_hidden_pkey DO NOTHING;
    ELSE
        DELETE FROM privacy.purpose_hidden h WHERE h.purpose = hide_category.purpose AND h.category = hide_category.category;
    END IF;
    n := privacy.refresh_purpose_views(NULL, purpose);
    PERFORM privacy.audit_append('purpose hide', pg_catalog.format('purpose %s', purpose),
        pg_catalog.jsonb_build_object('category', category, 'hidden', hidden, 'views', n));
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.hide_category(text, text, boolean) IS
    'make the purpose''s views show the columns of a category (and of its sub-categories) as NULL, whether the purpose covers it or a mask would apply (hidden false: as before); refreshes them, audited; returns how many views';
-- Administrators: granted explicitly.
REVOKE ALL ON FUNCTION privacy.hide_category(text, text, boolean) FROM PUBLIC;

CREATE FUNCTION privacy.show_kept_rows(purpose text, shown boolean) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    basis text;
    n integer;
BEGIN
    IF purpose IS NULL THEN
        RAISE EXCEPTION 'purpose must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT p.legal_basis INTO basis FROM privacy.purpose p WHERE p.name = show_kept_rows.purpose;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown purpose "%"', purpose USING ERRCODE = 'undefined_object';
    END IF;
    IF shown AND basis <> 'legal_obligation' THEN
        RAISE EXCEPTION 'purpose "%" rests on %, not on a legal obligation: it may not see the rows kept after cancellation', purpose, basis
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'PIPL Art. 47: where the retention period the law prescribes has not expired, processing other than storing and taking necessary security protection measures stops.';
    END IF;
    IF shown IS NULL THEN
        DELETE FROM privacy.purpose_kept_rows k WHERE k.purpose = show_kept_rows.purpose;
    ELSE
        INSERT INTO privacy.purpose_kept_rows AS k (purpose, shown) VALUES (purpose, shown)
        ON CONFLICT ON CONSTRAINT purpose_kept_rows_pkey
        DO UPDATE SET shown = EXCLUDED.shown, set_at = EXCLUDED.set_at, set_by = EXCLUDED.set_by;
    END IF;
    n := privacy.refresh_purpose_views(NULL, purpose);
    PERFORM privacy.audit_append('purpose kept rows', pg_catalog.format('purpose %s', purpose),
        pg_catalog.jsonb_build_object('shown', shown, 'sees', privacy.purpose_sees_kept_rows(purpose), 'views', n));
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.show_kept_rows(text, boolean) IS
    'whether the purpose''s views show the rows kept after cancellation (only for a purpose resting on a legal obligation, PIPL Art. 47; NULL: the default of privacy.purpose_sees_kept_rows); refreshes them, audited; returns how many views';
-- Administrators: granted explicitly.
REVOKE ALL ON FUNCTION privacy.show_kept_rows(text, boolean) FROM PUBLIC;

-- Keep the views in step: a label, a column or a table changed.
CREATE FUNCTION privacy.purpose_views_ddl() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cmd record;
    src regclass;
BEGIN
    -- a restore brings the views back as they were dumped; rebuilding them
    -- while labels and foreign keys arrive one by one would find a table
    -- without its subject path yet and drop its views
    IF privacy.restoring() OR NOT EXISTS (SELECT 1 FROM privacy.purpose_view) THEN
        RETURN;
    END IF;
    FOR cmd IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP
        IF cmd.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND cmd.command_tag = ANY (ARRAY['ALTER TABLE', 'SECURITY LABEL']) THEN
            src := cmd.objid::regclass;
            IF EXISTS (SELECT 1 FROM privacy.purpose_view v
                        WHERE pg_catalog.to_regclass(pg_catalog.format('%I.%I', v.source_schema, v.source_name)) = src) THEN
                PERFORM privacy.refresh_purpose_views(src);
            END IF;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.purpose_views_ddl() IS
    'event trigger: rebuild the purpose views of a table whose labels or columns changed (not during a restore, which brings them back as dumped)';
CREATE EVENT TRIGGER privacy_purpose_views ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'SECURITY LABEL')
    EXECUTE FUNCTION privacy.purpose_views_ddl();

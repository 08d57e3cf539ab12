-- src/sql/code/cancellation.sql: cancellation: the ledger's guard, the cancellation plan and its steps, cancel_subject

-- every session's set of tombstones (privacy.refuse_cancelled) is dropped when they change
CREATE TRIGGER tombstone_cache_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON privacy.cancelled_subject
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.key_cache_invalidate();

-- The ledger's only permitted change: cancellation replaces the subject by
-- its pseudonym, so that the history stays provable and names nobody.
CREATE FUNCTION privacy.consent_event_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.subject = ('cancelled:' || privacy.subject_pseudonym(OLD.subject))
       AND (NEW.seq, NEW.purpose, NEW.granted, NEW.at, NEW.policy_version, NEW.by_guardian, NEW.actor)
           IS NOT DISTINCT FROM (OLD.seq, OLD.purpose, OLD.granted, OLD.at, OLD.policy_version, OLD.by_guardian, OLD.actor)
       AND NEW.evidence IS NOT DISTINCT FROM OLD.evidence THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = pg_catalog.format('%s is not allowed on this table, for any role; cancellation only replaces a subject by its pseudonym.', TG_OP);
END
$$;
COMMENT ON FUNCTION privacy.consent_event_guard() IS
    'trigger: keeps the consent ledger append-only, except that cancellation replaces a subject by its pseudonym';
CREATE TRIGGER consent_event_append_only BEFORE UPDATE OR DELETE ON privacy.consent_event
    FOR EACH ROW EXECUTE FUNCTION privacy.consent_event_guard();

-- what cancellation does to a table's rows
CREATE FUNCTION privacy.cancel_action(rel pg_catalog.regclass) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT COALESCE(
            (SELECT l.on_cancel FROM privacy.labels l
              WHERE l.relation = rel AND l.column_name IS NULL),
            (SELECT CASE WHEN pg_catalog.bool_or(c.on_cancel = 'keep until retention') THEN 'keep until retention'
                         WHEN pg_catalog.bool_or(c.on_cancel = 'anonymize') THEN 'anonymize'
                         WHEN pg_catalog.count(*) > 0 THEN 'delete' END
               FROM privacy.labels l
               LEFT JOIN privacy.category c ON c.name = l.category
              WHERE l.relation = rel AND l.column_name IS NOT NULL))
    $$;
COMMENT ON FUNCTION privacy.cancel_action(pg_catalog.regclass) IS
    'what cancellation does to the subject''s rows of a table: its ON CANCEL label, else what its columns'' categories need (keep until retention over anonymize over delete); NULL for a table without labels';
GRANT EXECUTE ON FUNCTION privacy.cancel_action(pg_catalog.regclass) TO PUBLIC;

-- the SET list that anonymizes rows of rel: labelled columns replaced and
-- the subject's own SUBJECT columns cleared (skip_columns aside); side_only:
-- only the subject's SUBJECT columns, the row being somebody else's too
CREATE FUNCTION privacy.anonymize_set_list(rel oid, subject text, skip_columns name[], side_only boolean)
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    c record;
    sets text[] := ARRAY[]::text[];
    cleared text;
    ok boolean;
BEGIN
    FOR c IN
        SELECT a.attname, a.attnotnull, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ,
               pg_catalog.format_type(a.atttypid, NULL) AS btyp, a.atttypid, a.atttypmod,
               l.subject, l.category,
               EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                        WHERE i.indrelid = rel AND i.indisunique
                          AND a.attnum = ANY (i.indkey::smallint[])) AS is_unique,
               EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                        WHERE k.conrelid = rel AND k.contype = 'f'
                          AND a.attnum = ANY (k.conkey)) AS in_fk,
               EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                        WHERE k.confrelid = rel AND k.contype = 'f'
                          AND a.attnum = ANY (k.confkey)) AS referenced
          FROM pg_catalog.pg_attribute a
          LEFT JOIN privacy.labels l
            ON l.relation = rel::pg_catalog.regclass AND l.column_name = a.attname
         WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attgenerated = '' AND a.attidentity = ''
           AND l.relation IS NOT NULL
           AND NOT a.attname = ANY (skip_columns)
         ORDER BY a.attnum
    LOOP
        -- what clears the column: NULL, else (outside foreign keys) an anonymous value
        IF c.referenced THEN
            cleared := NULL;    -- a key other rows point to: the row stays as an anonymous stub
        ELSIF NOT c.attnotnull THEN
            cleared := pg_catalog.format('NULL::%s', c.typ);
        ELSIF c.in_fk THEN
            cleared := NULL;    -- cannot be cleared; the parent row decides
        ELSIF c.is_unique THEN
            cleared := pg_catalog.format('privacy.anonymous_value(t.%I, %L, true)::%s', c.attname, c.category, c.typ);
        ELSE
            cleared := COALESCE(privacy.placeholder_sql(pg_catalog.format('t.%I', c.attname), c.atttypid::pg_catalog.regtype, c.category, c.atttypmod),
                                pg_catalog.format('privacy.anonymous_value(t.%I, %L, false)::%s', c.attname, c.category, c.typ));
        END IF;
        CONTINUE WHEN cleared IS NULL;
        IF COALESCE(c.subject, false) THEN
            -- only the cancelled subject's side
            BEGIN
                IF subject IS NOT NULL THEN
                    EXECUTE pg_catalog.format('SELECT $1::%s', c.btyp) USING subject;
                END IF;
                ok := true;
            EXCEPTION WHEN data_exception THEN
                ok := false;
            END;
            CONTINUE WHEN NOT ok;
            sets := sets || pg_catalog.format('%I = CASE WHEN t.%I = $2::%s THEN %s ELSE t.%I END',
                                                                   c.attname, c.attname, c.btyp, cleared, c.attname);
        ELSIF side_only THEN
            CONTINUE;
        ELSE
            sets := sets || pg_catalog.format('%I = %s', c.attname, cleared);
        END IF;
    END LOOP;
    RETURN pg_catalog.array_to_string(sets, ', ');
END
$$;
COMMENT ON FUNCTION privacy.anonymize_set_list(oid, text, name[], boolean) IS
    'internal: the SET list of the UPDATE that anonymizes a table''s rows on cancellation';
REVOKE ALL ON FUNCTION privacy.anonymize_set_list(oid, text, name[], boolean) FROM PUBLIC;

-- the subject's rows of a table reached through one chain, locked; NULL when none
CREATE FUNCTION privacy.cancel_rows(relid oid, root oid, hops integer, path oid[], subject text)
    RETURNS privacy.cancel_target
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cond text;
    v_parts oid[];
    v_tids pg_catalog.tid[];
BEGIN
    -- through a table that two subjects share, only rows that are this subject's alone
    cond := privacy.subject_condition(root, CASE WHEN hops = 0 THEN 't' ELSE 'a' || hops END,
                                      subject, '$1', hops > 0);
    IF cond IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT l.parts, l.tids INTO v_parts, v_tids
      FROM privacy.locate_rows(pg_catalog.format('SELECT t.tableoid, t.ctid FROM %s t WHERE %s FOR UPDATE OF t',
                                                 relid::pg_catalog.regclass, privacy.path_condition(path, cond)),
                               subject) l;
    IF v_tids IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN ROW(relid, root, hops, path, v_parts, v_tids)::privacy.cancel_target;
END
$$;
COMMENT ON FUNCTION privacy.cancel_rows(oid, oid, integer, oid[], text) IS
    'internal: the subject''s rows of a table reached through one chain of foreign keys, locked FOR UPDATE';
REVOKE ALL ON FUNCTION privacy.cancel_rows(oid, oid, integer, oid[], text) FROM PUBLIC;

-- how many rows of the constraint's referencing table point to the given rows of part
CREATE FUNCTION privacy.referencing_rows(con oid, part pg_catalog.regclass, tids pg_catalog.tid[]) RETURNS bigint
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k record;
    joins text;
    n bigint;
BEGIN
    SELECT c.conrelid, c.conkey, c.confkey INTO k FROM pg_catalog.pg_constraint c WHERE c.oid = con;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.format('p.%I = c.%I', pa.attname, ca.attname), ' AND ')
      INTO joins
      FROM ROWS FROM (pg_catalog.unnest(k.conkey), pg_catalog.unnest(k.confkey)) AS u(ck, pk)
      JOIN pg_catalog.pg_attribute ca ON ca.attrelid = k.conrelid AND ca.attnum = u.ck
      JOIN pg_catalog.pg_attribute pa ON pa.attrelid = part AND pa.attname =
           (SELECT x.attname FROM pg_catalog.pg_constraint y JOIN pg_catalog.pg_attribute x
               ON x.attrelid = y.confrelid AND x.attnum = u.pk
             WHERE y.oid = con);
    EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s c WHERE EXISTS (SELECT 1 FROM ONLY %s p WHERE p.ctid = ANY ($1) AND %s)',
                              k.conrelid::pg_catalog.regclass, part, joins)
       INTO n USING tids;
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.referencing_rows(oid, pg_catalog.regclass, pg_catalog.tid[]) IS
    'internal: how many rows of a foreign key''s table reference the given rows';
REVOKE ALL ON FUNCTION privacy.referencing_rows(oid, pg_catalog.regclass, pg_catalog.tid[]) FROM PUBLIC;

-- The cancellation plan: what cancel_subject runs, derived from the labels
-- and the catalogs only (any subject), compiled once and kept per backend by
-- privacy.cancel_plan() until a relation or label changes.
CREATE FUNCTION privacy.compile_cancel_plan() RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    w record;
    t record;
    paths jsonb := '[]'::jsonb;
    tables jsonb := '[]'::jsonb;
    rels oid[] := '{}'::oid[];
    multi boolean;
    excl text;
    sets text;
    side text;
    sever text[];
    sever_cols name[];
    dynamic boolean;
    recollect boolean;
    leaf boolean;
    cond text;
    direct text;
    act text;
    x record;
BEGIN
    -- 1. the chains, subject tables first (the order rows are locked in)
    FOR w IN
        SELECT s.relid, s.root, s.hops, s.path
          FROM privacy.subject_walk() s
         WHERE privacy.cancel_action(s.relid::regclass) IS NOT NULL
         ORDER BY s.hops, s.relid::regclass::text, s.path::text
    LOOP
        paths := paths || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
            'relid', w.relid, 'root', w.root, 'hops', w.hops, 'path', w.path::text,
            'types', (SELECT COALESCE(pg_catalog.jsonb_agg(DISTINCT pg_catalog.format_type(a.atttypid, NULL)), '[]')
                        FROM privacy.labels l
                        JOIN pg_catalog.pg_attribute a
                          ON a.attrelid = w.root AND a.attname = l.column_name
                       WHERE l.relation = w.root::regclass AND l.subject),
            'locate', pg_catalog.format('SELECT t.tableoid, t.ctid FROM %s t WHERE %s FOR UPDATE OF t', w.relid::regclass,
                          privacy.path_condition(w.path,
                              privacy.subject_condition(w.root, CASE WHEN w.hops = 0 THEN 't' ELSE 'a' || w.hops END,
                                                        NULL, '$1', w.hops > 0)))));
        rels := rels || w.relid;
    END LOOP;

    -- whether a step can change rows of a later step (a trigger, or a
    -- foreign key action): then each step reads its rows again.  Our own
    -- guard, privacy_cancelled_subject, changes no row (and does not check
    -- our erasures)
    recollect :=
        EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                 WHERE NOT g.tgisinternal
                   AND g.tgfoid <> 'privacy.refuse_cancelled()'::pg_catalog.regprocedure
                   AND g.tgrelid = ANY (
                       SELECT pt.relid FROM pg_catalog.unnest(rels) r, pg_catalog.pg_partition_tree(r) pt))
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                    WHERE c.contype = 'f'
                      AND (c.conrelid = ANY (rels) OR c.confrelid = ANY (rels))
                      AND (c.confdeltype <> ALL (ARRAY['a', 'r']::"char"[])
                           OR c.confupdtype <> ALL (ARRAY['a', 'r']::"char"[])));

    -- 2. the tables, deepest chain first (children before parents)
    FOR t IN
        SELECT (p->>'relid')::oid AS relid, pg_catalog.max((p->>'hops')::integer) AS hops,
               pg_catalog.count(*) FILTER (WHERE (p->>'hops')::integer > 0) AS chains
          FROM pg_catalog.jsonb_array_elements(paths) p
         GROUP BY 1
         ORDER BY 2 DESC, (p->>'relid')::oid::regclass::text
    LOOP
        multi := t.hops = 0 AND
                 (SELECT pg_catalog.count(*) FROM privacy.labels l
                   WHERE l.relation = t.relid::regclass AND l.subject) > 1;
        excl := CASE WHEN multi THEN privacy.subject_condition(t.relid, 't', NULL, '$2', true) END;
        -- the nullable foreign key columns through which rows were reached: one
        -- chain, cleared outright; several, decided per row at run time
        sever := ARRAY[]::text[];
        sever_cols := ARRAY[]::name[];
        FOR x IN
            SELECT DISTINCT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ
              FROM pg_catalog.jsonb_array_elements(paths) p
              JOIN pg_catalog.pg_constraint k ON k.oid = ((p->>'path')::oid[])[1]
              JOIN pg_catalog.pg_attribute a
                ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)
             WHERE (p->>'relid')::oid = t.relid AND (p->>'hops')::integer > 0
               AND NOT a.attnotnull
        LOOP
            sever := sever || pg_catalog.format('%I = NULL::%s', x.attname, x.typ);
            sever_cols := sever_cols || x.attname;
        END LOOP;
        dynamic := t.chains > 1 AND pg_catalog.cardinality(sever) > 0;
        sets := privacy.anonymize_set_list(t.relid, NULL, sever_cols, false);
        sets := pg_catalog.array_to_string(ARRAY[NULLIF(sets, '')] || sever, ', ');
        side := CASE WHEN multi THEN NULLIF(privacy.anonymize_set_list(t.relid, NULL, '{}', true), '') END;
        act := privacy.cancel_action(t.relid::regclass);
        -- a table with its own single SUBJECT column that no foreign key
        -- references, when no step can change another's rows: one statement
        -- finds and changes its rows (no other insert can wait on them)
        leaf := NOT recollect AND t.hops = 0 AND NOT multi
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                                 WHERE c.contype = 'f' AND c.confrelid = t.relid);
        direct := NULL;
        IF leaf THEN
            cond := privacy.subject_condition(t.relid, 't', NULL, '$2', false);
            direct := CASE WHEN act = 'delete' THEN pg_catalog.format('DELETE FROM %s t WHERE %s', t.relid::regclass, cond)
                           WHEN act = 'anonymize' AND NULLIF(sets, '') IS NOT NULL
                                THEN pg_catalog.format('UPDATE %s t SET %s WHERE %s', t.relid::regclass, sets, cond)
                           ELSE pg_catalog.format('SELECT 1 FROM %s t WHERE %s', t.relid::regclass, cond) END;
        END IF;
        tables := tables || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
            'relid', t.relid, 'hops', t.hops, 'action', act, 'direct', direct,
            'multi', multi, 'excl', excl, 'sets', NULLIF(sets, ''), 'side', side, 'dynamic', dynamic,
            'types', (SELECT COALESCE(pg_catalog.jsonb_agg(DISTINCT pg_catalog.format_type(a.atttypid, NULL)), '[]')
                        FROM privacy.labels l
                        JOIN pg_catalog.pg_attribute a
                          ON a.attrelid = t.relid AND a.attname = l.column_name
                       WHERE l.relation = t.relid::regclass AND l.subject)));
    END LOOP;

    -- leaf tables' chains need no locating beforehand
    RETURN pg_catalog.jsonb_build_object(
        'recollect', recollect, 'tables', tables,
        'paths', (SELECT COALESCE(pg_catalog.jsonb_agg(e.pa ||
                                      pg_catalog.jsonb_build_object('leaf', EXISTS (
                                          SELECT 1 FROM pg_catalog.jsonb_array_elements(tables) tb
                                           WHERE (tb->>'relid') = (e.pa->>'relid') AND (tb->>'direct') IS NOT NULL))
                                      ORDER BY e.i), '[]')
                    FROM pg_catalog.jsonb_array_elements(paths) WITH ORDINALITY e(pa, i)));
END
$$;
COMMENT ON FUNCTION privacy.compile_cancel_plan() IS
    'internal: the cancellation plan for any subject, from the labels and the catalogs: chains with their locating statements, tables in order with their actions and SET lists';
REVOKE ALL ON FUNCTION privacy.compile_cancel_plan() FROM PUBLIC;

CREATE FUNCTION privacy.cancel_plan() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'privacy_cancel_plan'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.cancel_plan() IS
    'the cancellation plan (privacy.compile_cancel_plan), kept per backend until a relation or a label changes';
REVOKE ALL ON FUNCTION privacy.cancel_plan() FROM PUBLIC;

-- the subject's rows of one chain of the plan, locked: the compiled statement
-- when the subject is a value of every subject column of the chain's end, a
-- statement made for this subject when of some, NULL when of none
CREATE FUNCTION privacy.cancel_locate(step jsonb, subject text, fits text[]) RETURNS privacy.cancel_target
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    all_fit boolean;
    any_fit boolean;
    v_path oid[];
    v_parts oid[];
    v_tids pg_catalog.tid[];
BEGIN
    SELECT pg_catalog.bool_and(y = ANY (fits)), pg_catalog.bool_or(y = ANY (fits))
      INTO all_fit, any_fit
      FROM pg_catalog.jsonb_array_elements_text(step->'types') y;
    IF NOT COALESCE(any_fit, false) THEN
        RETURN NULL;
    END IF;
    v_path := (step->>'path')::oid[];
    IF NOT all_fit THEN
        RETURN privacy.cancel_rows((step->>'relid')::oid, (step->>'root')::oid, (step->>'hops')::integer, v_path, subject);
    END IF;
    SELECT l.parts, l.tids INTO v_parts, v_tids FROM privacy.locate_rows(step->>'locate', subject) l;
    IF v_tids IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN ROW((step->>'relid')::oid, (step->>'root')::oid, (step->>'hops')::integer, v_path, v_parts, v_tids)::privacy.cancel_target;
END
$$;
COMMENT ON FUNCTION privacy.cancel_locate(jsonb, text, text[]) IS
    'internal: the subject''s rows of one chain of the cancellation plan, locked FOR UPDATE';
REVOKE ALL ON FUNCTION privacy.cancel_locate(jsonb, text, text[]) FROM PUBLIC;

-- one step of a cancellation: a table's action on the given rows of one
-- partition; how many rows it changed, and how many it cleared only the
-- subject's side of
CREATE FUNCTION privacy.cancel_apply(relid oid, act text, multi boolean, excl text, compiled boolean,
                                     compiled_sets text, compiled_side text, part oid, tids pg_catalog.tid[],
                                     cur privacy.cancel_target[], subject text, direct text)
    RETURNS bigint[]
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n_main bigint := 0;
    n_side bigint := 0;
    stmt text;
    sets text;
    side text;
    sever text[];
    sever_cols name[];
    x record;
BEGIN
        IF direct IS NOT NULL THEN
            -- a leaf table: the statement finds the subject's rows itself
            RETURN ARRAY[privacy.owner_exec(relid, direct, NULL, subject), 0];
        END IF;
        IF act = 'keep until retention' THEN
            n_main := pg_catalog.cardinality(tids);
        ELSIF act = 'delete' THEN
            stmt := pg_catalog.format('DELETE FROM ONLY %s t WHERE t.ctid = ANY ($1)', part::regclass);
            IF multi THEN
                stmt := stmt || ' AND ' || excl;
            END IF;
            n_main := privacy.owner_exec(part, stmt, tids, subject);
        ELSIF compiled THEN
            sets := COALESCE(compiled_sets, '');
        ELSE
            -- sever the foreign keys through which the rows were reached (nullable ones)
            sever := ARRAY[]::text[];
            sever_cols := ARRAY[]::name[];
            FOR x IN
                SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ,
                       pg_catalog.array_agg(DISTINCT u.c) AS tids
                  FROM pg_catalog.unnest(cur) y
                  CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(y.parts), pg_catalog.unnest(y.tids)) AS u(o, c)
                  JOIN pg_catalog.pg_constraint k ON k.oid = y.path[1]
                  JOIN pg_catalog.pg_attribute a
                    ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)
                 WHERE y.relid = cancel_apply.relid AND y.hops > 0
                   AND u.o = cancel_apply.part AND NOT a.attnotnull
                 GROUP BY a.attname, a.atttypid, a.atttypmod
            LOOP
                sever := sever || pg_catalog.format(
                    '%I = CASE WHEN t.ctid = ANY (%L::pg_catalog.tid[]) THEN NULL::%s ELSE t.%I END',
                    x.attname, x.tids, x.typ, x.attname);
                sever_cols := sever_cols || x.attname;
            END LOOP;
            sets := privacy.anonymize_set_list(relid, subject, sever_cols, false);
            sets := pg_catalog.array_to_string(ARRAY[NULLIF(sets, '')] || sever, ', ');
        END IF;
        IF act = 'anonymize' THEN
            IF sets <> '' THEN
                stmt := pg_catalog.format('UPDATE ONLY %s t SET %s WHERE t.ctid = ANY ($1)', part::regclass, sets);
                IF multi THEN
                    stmt := stmt || ' AND ' || excl;
                END IF;
                n_main := privacy.owner_exec(part, stmt, tids, subject);
            ELSE
                n_main := pg_catalog.cardinality(tids);
            END IF;
        END IF;
        IF multi AND act <> 'keep until retention' THEN
            -- rows that are somebody else's too: clear the subject's side only
            side := CASE WHEN compiled THEN COALESCE(compiled_side, '')
                         ELSE privacy.anonymize_set_list(relid, subject, '{}', true) END;
            IF side <> '' THEN
                stmt := pg_catalog.format('UPDATE ONLY %s t SET %s WHERE t.ctid = ANY ($1) AND NOT (%s)',
                                          part::regclass, side, excl);
                n_side := privacy.owner_exec(part, stmt, tids, subject);
            END IF;
        END IF;
    RETURN ARRAY[n_main, n_side];
END
$$;
COMMENT ON FUNCTION privacy.cancel_apply(oid, text, boolean, text, boolean, text, text, oid, pg_catalog.tid[], privacy.cancel_target[], text, text) IS
    'internal: one step of a cancellation, a table''s action on the subject''s rows of one partition, run as the table''s owner';
REVOKE ALL ON FUNCTION privacy.cancel_apply(oid, text, boolean, text, boolean, text, text, oid, pg_catalog.tid[], privacy.cancel_target[], text, text) FROM PUBLIC;

-- what blocked a step, by name only
CREATE FUNCTION privacy.cancel_blocked(e_state text, e_con text, e_schema text, e_table text,
                                       relid oid, act text, part oid, tids pg_catalog.tid[],
                                       OUT blocker pg_catalog.regclass, OUT rows bigint, OUT message text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF e_schema <> '' AND e_table <> '' THEN
        blocker := pg_catalog.to_regclass(pg_catalog.format('%I.%I', e_schema, e_table));
    END IF;
    IF e_state = '23503' AND blocker IS NOT NULL AND part IS NOT NULL THEN
        rows := privacy.referencing_rows(
            (SELECT k.oid FROM pg_catalog.pg_constraint k
              WHERE k.conrelid = blocker AND k.conname = e_con),
            part::pg_catalog.regclass, tids);
        blocker := COALESCE(pg_catalog.pg_partition_root(blocker), blocker);
        message := pg_catalog.format('cancellation is blocked: table %s references the subject''s rows of %s through foreign key "%s"',
                                     blocker, relid::pg_catalog.regclass, e_con);
    ELSE
        rows := pg_catalog.cardinality(tids);
        blocker := COALESCE(pg_catalog.pg_partition_root(blocker), blocker, relid::pg_catalog.regclass);
        message := pg_catalog.format('cancellation is blocked: %s the subject''s rows of %s violates constraint "%s" of %s',
                                     CASE act WHEN 'delete' THEN 'deleting' ELSE 'anonymizing' END,
                                     relid::pg_catalog.regclass, e_con, blocker);
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.cancel_blocked(text, text, text, text, oid, text, oid, pg_catalog.tid[]) IS
    'internal: the table, row count and message (names only, no values) of what blocked a cancellation step';
REVOKE ALL ON FUNCTION privacy.cancel_blocked(text, text, text, text, oid, text, oid, pg_catalog.tid[]) FROM PUBLIC;

-- the work of a cancellation (cancel_subject and run_due_requests)
CREATE FUNCTION privacy.cancel_work(subject text, dry_run boolean, request_id bigint, replay boolean DEFAULT false)
    RETURNS TABLE (relation pg_catalog.regclass, action text, rows bigint, detail text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pseud text;
    done_at timestamptz;
    w record;
    r record;
    p record;
    tg privacy.cancel_target;
    targets privacy.cancel_target[] := '{}'::privacy.cancel_target[];
    cur privacy.cancel_target[];
    out_rel regclass[] := '{}'::regclass[];
    out_act text[] := '{}'::text[];
    out_rows bigint[] := '{}'::bigint[];
    out_detail text[] := '{}'::text[];
    act text;
    multi boolean;
    excl text;
    n_main bigint;
    n_side bigint;
    n_events bigint;
    key_destroyed boolean;
    req bigint := request_id;
    e_state text;
    e_con text;
    e_schema text;
    e_table text;
    plan jsonb;
    typ text;
    fits text[] := '{}'::text[];
    fits_json jsonb;
    cur_part oid;
    cur_tids pg_catalog.tid[];
    counts bigint[];
    in_step boolean := false;
    blocked record;
BEGIN
    IF subject IS NULL THEN
        RAISE EXCEPTION 'subject must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    pseud := privacy.subject_pseudonym(subject);
    -- one cancellation of a subject at a time; different subjects never wait for each other
    PERFORM pg_catalog.pg_advisory_xact_lock(('x' || pg_catalog.substr(pseud, 1, 16))::bit(64)::bigint);
    SELECT c.cancelled_at INTO done_at FROM privacy.cancelled_subject c WHERE c.subject_id = pseud;
    -- (a replay erases again a subject whose tombstone is older than the restored data)
    IF FOUND AND NOT replay THEN
        RETURN QUERY SELECT NULL::regclass, 'already cancelled'::text, 0::bigint,
                            pg_catalog.format('cancelled at %s; nothing was changed', done_at);
        RETURN;
    END IF;
    -- a blocking reference must surface here, where it is reported without the key's value
    SET CONSTRAINTS ALL IMMEDIATE;

    BEGIN
        -- 1. choose and lock the subject's rows: subject tables first, so that
        --    inserts that reference them wait for us
        plan := privacy.cancel_plan();
        FOR typ IN SELECT DISTINCT pg_catalog.jsonb_array_elements_text(ps->'types')
                     FROM pg_catalog.jsonb_array_elements(plan->'paths') ps LOOP
            -- which subject column types the subject is a value of: the
            -- usual ones at a glance, others by trying (the error, which
            -- would name the value, is swallowed)
            IF typ = ANY (ARRAY['text', 'character varying', 'character'])
               OR (typ = 'integer' AND subject ~ '^-?[0-9]{1,9}$')
               OR (typ = 'bigint' AND subject ~ '^-?[0-9]{1,18}$')
               OR (typ = 'smallint' AND subject ~ '^-?[0-9]{1,4}$') THEN
                fits := fits || typ;
            ELSE
                BEGIN
                    EXECUTE pg_catalog.format('SELECT $1::%s', typ) USING subject;
                    fits := fits || typ;
                EXCEPTION WHEN data_exception THEN
                    NULL;
                END;
            END IF;
        END LOOP;
        fits_json := pg_catalog.to_jsonb(fits);
        -- the chains whose end the subject fits entirely, in one statement, in order
        SELECT COALESCE(pg_catalog.array_agg(ROW((e.ps->>'relid')::oid, (e.ps->>'root')::oid, (e.ps->>'hops')::integer,
                                                 (e.ps->>'path')::oid[], l.parts, l.tids)::privacy.cancel_target ORDER BY e.i), '{}')
          INTO targets
          FROM pg_catalog.jsonb_array_elements(plan->'paths') WITH ORDINALITY AS e(ps, i)
         CROSS JOIN LATERAL privacy.locate_rows(e.ps->>'locate', subject) l
         WHERE NOT (e.ps->>'leaf')::boolean AND (e.ps->'types') <@ fits_json AND l.tids IS NOT NULL;
        -- the others, made for this subject (rare: it fits some columns only)
        FOR w IN SELECT e.ps AS step FROM pg_catalog.jsonb_array_elements(plan->'paths') WITH ORDINALITY AS e(ps, i)
                  WHERE NOT (e.ps->'types') <@ fits_json ORDER BY e.i LOOP
            tg := privacy.cancel_locate(w.step, subject, fits);
            IF tg IS NOT NULL THEN
                targets := targets || tg;
            END IF;
        END LOOP;


        -- 2. act, children before parents
        FOR r IN
            SELECT (ts->>'relid')::oid AS relid, (ts->>'hops')::integer AS hops, ts->>'action' AS action,
                   (ts->>'multi')::boolean AS multi, ts->>'excl' AS excl, ts->>'sets' AS sets, ts->>'side' AS side,
                   -- compiled statements serve when the subject is a value of every subject column
                   NOT (ts->>'dynamic')::boolean
                       AND (SELECT pg_catalog.bool_and(y = ANY (fits))
                              FROM pg_catalog.jsonb_array_elements_text(ts->'types') y) IS NOT false AS compiled,
                   ts->>'direct' AS direct
              FROM pg_catalog.jsonb_array_elements(plan->'tables') WITH ORDINALITY AS e(ts, i)
             WHERE ts->>'direct' IS NOT NULL
                OR (ts->>'relid')::oid = ANY (SELECT y.relid FROM pg_catalog.unnest(targets) y)
             ORDER BY e.i
        LOOP
            -- a leaf table whose only subject column's type the subject is not
            -- a value of holds none of its rows
            CONTINUE WHEN r.direct IS NOT NULL AND NOT r.compiled;
            act := r.action;
            multi := r.multi;
            excl := CASE WHEN NOT multi THEN NULL WHEN r.compiled THEN r.excl
                         ELSE privacy.subject_condition(r.relid, 't', subject, '$2', true) END;
            IF r.direct IS NOT NULL THEN
                -- a leaf table: one statement, in the step below, finds its rows itself
                cur := '{}'::privacy.cancel_target[];
            ELSIF (plan->>'recollect')::boolean THEN
                -- the rows again, as they are now: a foreign key action or a
                -- trigger of an earlier step may have updated some
                cur := '{}'::privacy.cancel_target[];
                FOR w IN SELECT ps AS step FROM pg_catalog.jsonb_array_elements(plan->'paths') ps
                          WHERE (ps->>'relid')::oid = r.relid LOOP
                    tg := privacy.cancel_locate(w.step, subject, fits);
                    IF tg IS NOT NULL THEN
                        cur := cur || tg;
                    END IF;
                END LOOP;
            ELSE
                cur := targets;
            END IF;
            n_main := 0;
            n_side := 0;
            FOR p IN
                SELECT r.relid AS part, NULL::pg_catalog.tid[] AS tids WHERE r.direct IS NOT NULL
                UNION ALL
                (SELECT u.o, pg_catalog.array_agg(DISTINCT u.c)
                   FROM pg_catalog.unnest(cur) y, ROWS FROM (pg_catalog.unnest(y.parts), pg_catalog.unnest(y.tids)) AS u(o, c)
                  WHERE y.relid = r.relid
                  GROUP BY u.o
                  ORDER BY u.o)
            LOOP
                cur_part := p.part;
                cur_tids := p.tids;
                in_step := true;
                IF dry_run THEN
                    -- a blocked step is shown, and the plan goes on
                    BEGIN
                        counts := privacy.cancel_apply(r.relid, act, multi, excl, r.compiled, r.sets, r.side,
                                                       p.part, p.tids, cur, subject, r.direct);
                    EXCEPTION WHEN integrity_constraint_violation THEN
                        GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_con = CONSTRAINT_NAME,
                                                e_schema = SCHEMA_NAME, e_table = TABLE_NAME;
                        SELECT * INTO blocked FROM privacy.cancel_blocked(e_state, e_con, e_schema, e_table,
                                                                        r.relid, act, p.part, p.tids);
                        -- the plan counts the rows the step would have changed
                        n_main := n_main + COALESCE(pg_catalog.cardinality(p.tids), 0);
                        out_rel := out_rel || blocked.blocker;
                        out_act := out_act || 'blocked'::text;
                        out_rows := out_rows || blocked.rows;
                        out_detail := out_detail || blocked.message;
                        in_step := false;
                        CONTINUE;
                    END;
                ELSE
                    -- a blocked step fails the whole cancellation (the handler below)
                    counts := privacy.cancel_apply(r.relid, act, multi, excl, r.compiled, r.sets, r.side,
                                                   p.part, p.tids, cur, subject, r.direct);
                END IF;
                in_step := false;
                n_main := n_main + counts[1];
                n_side := n_side + counts[2];
            END LOOP;
            -- (a leaf table that held none of the subject's rows says nothing)
            IF r.direct IS NULL OR n_main > 0 THEN
                out_rel := out_rel || r.relid::regclass;
                out_act := out_act || CASE act WHEN 'delete' THEN 'deleted' WHEN 'anonymize' THEN 'anonymized'
                                                                     ELSE 'kept until retention' END;
                out_rows := out_rows || n_main;
                out_detail := out_detail || CASE WHEN r.hops > 0 THEN 'through foreign keys' END;
            END IF;
            IF n_side > 0 THEN
                out_rel := out_rel || r.relid::regclass;
                out_act := out_act || 'anonymized'::text;
                out_rows := out_rows || n_side;
                out_detail := out_detail || 'rows shared with another subject: only this subject''s side cleared'::text;
            END IF;
        END LOOP;

        SELECT pg_catalog.count(*) INTO n_events FROM privacy.consent_event e WHERE e.subject = cancel_work.subject;
        IF pg_catalog.cardinality(out_rel) = 0 AND n_events = 0
           AND NOT EXISTS (SELECT 1 FROM privacy.subject_minor m WHERE m.subject = cancel_work.subject) THEN
            -- nothing found, so nothing was changed
            RETURN QUERY SELECT NULL::regclass, 'not found'::text, 0::bigint, 'no labelled table holds the subject; nothing was changed'::text;
            RETURN;
        END IF;

        -- 3. the consent ledger keeps its history under the subject's pseudonym
        UPDATE privacy.consent_event e SET subject = 'cancelled:' || pseud
         WHERE e.subject = cancel_work.subject;
        GET DIAGNOSTICS n_events = ROW_COUNT;
        DELETE FROM privacy.consent c WHERE c.subject = cancel_work.subject;
        DELETE FROM privacy.subject_minor m WHERE m.subject = cancel_work.subject;
        IF n_events > 0 THEN
            out_rel := out_rel || 'privacy.consent_event'::regclass;
            out_act := out_act || 'pseudonymized'::text;
            out_rows := out_rows || n_events;
            out_detail := out_detail || 'consent history kept under the subject''s pseudonym'::text;
        END IF;

        -- 4. the subject's data key, the tombstone, the request and the receipt
        key_destroyed := privacy.shred_subject(subject, false);
        IF req IS NULL THEN
            INSERT INTO privacy.request (kind, subject, subject_id, due_at, status, closed_at)
            VALUES ('cancellation', NULL, pseud, pg_catalog.now(), 'completed', pg_catalog.now())
            RETURNING privacy.request.id INTO req;
            IF replay THEN
                UPDATE privacy.request q SET note = 'replayed after a restore' WHERE q.id = req;
            END IF;
        ELSE
            UPDATE privacy.request q SET status = 'completed', subject = NULL, closed_at = pg_catalog.now(), note = NULL
             WHERE q.id = req;
        END IF;
        INSERT INTO privacy.cancelled_subject AS c (subject_id, request_id) VALUES (pseud, req)
        ON CONFLICT (subject_id) DO NOTHING;
        IF FOUND THEN
            -- and, when the transaction commits, in the journal outside the database
            PERFORM privacy.journal_tombstone(pseud, pg_catalog.now());
        END IF;
        -- rows kept until retention are stored and secured, and shown by no purpose view
        IF 'kept until retention' = ANY (out_act) THEN
            INSERT INTO privacy.restricted_subject (subject, request_id) VALUES (subject, req)
            ON CONFLICT ON CONSTRAINT restricted_subject_pkey DO NOTHING;
        END IF;
        PERFORM privacy.audit_append('cancellation', pg_catalog.format('subject %s', pseud),
            pg_catalog.jsonb_build_object(
                'request', req,
                'tables', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('relation', o.rel::text, 'action', o.act, 'rows', o.n) ORDER BY o.i)
                             FROM ROWS FROM (pg_catalog.unnest(out_rel), pg_catalog.unnest(out_act), pg_catalog.unnest(out_rows)) WITH ORDINALITY AS o(rel, act, n, i)),
                'key_destroyed', key_destroyed,
                'erasure', 'logical: deleted and overwritten values stay in dead tuples until VACUUM, in WAL until it is recycled and in backups until they expire; values encrypted with the subject''s key are unreadable everywhere')
            -- a replay after a restore says so
            || CASE WHEN replay THEN '{"replayed": true}'::jsonb ELSE '{}'::jsonb END);

        IF dry_run THEN
            -- undo everything; the plan stays in the variables
            RAISE EXCEPTION USING ERRCODE = 'PVDRY';
        END IF;
    EXCEPTION
        WHEN SQLSTATE 'PVDRY' THEN
            NULL;
        WHEN integrity_constraint_violation THEN
            GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_con = CONSTRAINT_NAME,
                                    e_schema = SCHEMA_NAME, e_table = TABLE_NAME;
            IF NOT in_step THEN
                RAISE;
            END IF;
            -- the server's message would show key values: names only
            SELECT * INTO blocked FROM privacy.cancel_blocked(e_state, e_con, e_schema, e_table,
                                                            r.relid, act, cur_part, cur_tids);
            RAISE EXCEPTION '%', blocked.message
                USING ERRCODE = e_state,
                      DETAIL = 'Nothing was changed: the whole cancellation was rolled back.',
                      HINT = CASE WHEN e_state = '23503'
                                  THEN 'privacy.cancel_subject(subject, dry_run => true) shows the plan. Label the referencing table with ON CANCEL, give the foreign key ON DELETE CASCADE or SET NULL, or make its columns nullable.'
                                  ELSE 'privacy.cancel_subject(subject, dry_run => true) shows the plan. An anonymized column gets NULL, or privacy.anonymous_value when it is NOT NULL: relax the constraint, make the column nullable, or use ON CANCEL DELETE.' END;
    END;
    RETURN QUERY SELECT * FROM ROWS FROM (pg_catalog.unnest(out_rel), pg_catalog.unnest(out_act), pg_catalog.unnest(out_rows), pg_catalog.unnest(out_detail));
END
$$;
COMMENT ON FUNCTION privacy.cancel_work(text, boolean, bigint, boolean) IS
    'internal: carry out (or, dry_run, plan) the cancellation of a subject for cancel_subject, run_due_requests and (replay, past its tombstone) replay_cancellations';
REVOKE ALL ON FUNCTION privacy.cancel_work(text, boolean, bigint, boolean) FROM PUBLIC;

CREATE FUNCTION privacy.cancel_subject(subject text, dry_run boolean DEFAULT false)
    RETURNS TABLE (relation pg_catalog.regclass, action text, rows bigint, detail text)
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT * FROM privacy.cancel_work(subject, dry_run, NULL) $$;
COMMENT ON FUNCTION privacy.cancel_subject(text, boolean) IS
    'cancel a subject''s account: delete, anonymize or keep (per ON CANCEL) its rows in every labelled table, through foreign keys, shred its data key, pseudonymize its consent history and write a receipt, in one transaction; dry_run shows the same plan and changes nothing';
-- Destroys data: administrators, granted explicitly.
REVOKE ALL ON FUNCTION privacy.cancel_subject(text, boolean) FROM PUBLIC;

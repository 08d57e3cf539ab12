-- src/sql/code/cancellation.sql: cancellation: the ledger's guard, the cancellation plan and its steps, cancel_subject

-- every session's set of tombstones (privacy.refuse_cancelled) is dropped when they change
CREATE TRIGGER tombstone_cache_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON privacy.cancelled_subject
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.key_cache_invalidate();

-- The ledger's only permitted change: cancellation replaces the subject, or
-- the guardian who gave a consent, by its pseudonym, so that the history
-- stays provable and names nobody.
CREATE FUNCTION privacy.consent_event_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    replaced text;
    replaced_guardian text;
BEGIN
    -- (a subject already replaced, or one that is no value of its kind, has no
    -- pseudonym to become: that update is refused below)
    IF TG_OP = 'UPDATE' THEN
        IF OLD.subject NOT LIKE 'cancelled:%' THEN
            BEGIN
                replaced := 'cancelled:' || privacy.subject_pseudonym(OLD.subject, OLD.subject_kind);
            EXCEPTION WHEN invalid_text_representation OR undefined_object THEN
                replaced := NULL;
            END;
        END IF;
        IF OLD.guardian NOT LIKE 'cancelled:%' THEN
            BEGIN
                replaced_guardian := 'cancelled:' || privacy.subject_pseudonym(OLD.guardian, OLD.guardian_kind);
            EXCEPTION WHEN invalid_text_representation OR undefined_object THEN
                replaced_guardian := NULL;
            END;
        END IF;
        IF (NEW.subject = replaced OR (NEW.subject = OLD.subject AND NEW.guardian = replaced_guardian))
           AND (NEW.guardian = replaced_guardian OR NEW.guardian IS NOT DISTINCT FROM OLD.guardian)
           AND (NEW.seq, NEW.subject_kind, NEW.purpose, NEW.granted, NEW.at, NEW.policy_version, NEW.by_guardian, NEW.actor, NEW.guardian_kind)
               IS NOT DISTINCT FROM (OLD.seq, OLD.subject_kind, OLD.purpose, OLD.granted, OLD.at, OLD.policy_version, OLD.by_guardian, OLD.actor, OLD.guardian_kind)
           AND NEW.evidence IS NOT DISTINCT FROM OLD.evidence THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = pg_catalog.format('%s is not allowed on this table, for any role; cancellation only replaces a subject, or a guardian, by its pseudonym.', TG_OP);
END
$$;
COMMENT ON FUNCTION privacy.consent_event_guard() IS
    'trigger: keeps the consent ledger append-only, except that cancellation replaces a subject, or the guardian who gave a consent, by its pseudonym';
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

-- The order of a cycle's DELETEs (cancel_work): the group's tables, children
-- first (the reverse of the group's order), except that a table goes before
-- every table of the group its rows keep a key to that cannot be cut (not
-- severable) and that refuses a deletion at once (RESTRICT, or NO ACTION not
-- deferred): deleting the parent first would be refused.  A cycle of such keys
-- keeps the default order (and is blocked, as it must be).
CREATE FUNCTION privacy.cancel_delete_order(group_tables jsonb, tables jsonb) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rest text[] := ARRAY(SELECT x FROM pg_catalog.jsonb_array_elements_text(group_tables) WITH ORDINALITY g(x, o) ORDER BY g.o DESC);
    done text[] := '{}'::text[];
    pick text;
BEGIN
    WHILE pg_catalog.cardinality(rest) > 0 LOOP
        -- the first table (children first) no remaining table must precede
        pick := (SELECT b FROM pg_catalog.unnest(rest) WITH ORDINALITY r(b, o)
                  WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(rest) a(t),
                                           pg_catalog.jsonb_array_elements(tables->a.t->'fks') f
                                     WHERE a.t <> r.b AND f->>'parent' = r.b
                                       AND NOT (f->>'severable')::boolean
                                       AND (f->>'on_delete' = 'r'
                                            OR (f->>'on_delete' = 'a' AND NOT COALESCE((f->>'deferred')::boolean, false))))
                  ORDER BY r.o LIMIT 1);
        IF pick IS NULL THEN
            RETURN pg_catalog.to_jsonb(done || rest);
        END IF;
        done := done || pick;
        rest := pg_catalog.array_remove(rest, pick);
    END LOOP;
    RETURN pg_catalog.to_jsonb(done);
END
$$;
COMMENT ON FUNCTION privacy.cancel_delete_order(jsonb, jsonb) IS
    'internal: the order of the DELETEs of a foreign-key cycle of the cancellation plan: children first, a table before every table its rows keep a key to that cannot be cut and refuses a deletion at once';
REVOKE ALL ON FUNCTION privacy.cancel_delete_order(jsonb, jsonb) FROM PUBLIC;

-- The cancellation plan of every subject kind, from the labels and the
-- catalogs only (any subject), compiled once and kept per backend by
-- privacy.cancel_plan() until a relation or a label changes.  For a kind: the
-- tables its subjects own rows of (SUBJECT columns of the kind, owning foreign
-- keys from them), the tables whose rows refer to those (any foreign key),
-- each with its statements, in an order where a table comes after every
-- table it references (a cycle is one group, walked until nothing changes).
CREATE FUNCTION privacy.compile_cancel_plan() RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k text;
    plans jsonb := '{}'::jsonb;
    owned oid[];
    member oid[];
    ordered oid[];
    groups jsonb;
    pending oid[];
    ready oid[];
    t oid;
    tables jsonb;
    tb jsonb;
    f record;
    c record;
    fks jsonb;
    in_keys name[];
    nparam integer;
    owned_terms text[];
    shared_terms text[];
    into_terms text[];
    outs text[];
    subj_terms text[];
    subj_conds text[];
    subj_key_conds text[];
    nv integer;
    cond text;
    sets text[];
    col_sets jsonb;
    j integer;
    dist name;
    dist_find text;
    dist_stmt text;
    dist_key text;
    citus_problem text;
    free jsonb;
    nfree integer;
    moves boolean;
BEGIN
    FOR k IN SELECT DISTINCT w.kind FROM privacy.subject_walk() w ORDER BY 1 LOOP
        owned := ARRAY(SELECT DISTINCT w.relid FROM privacy.subject_walk() w WHERE w.kind = k);
        -- and the tables that refer to them
        member := owned || ARRAY(SELECT DISTINCT l.child FROM privacy.subject_links() l
                                  WHERE l.parent = ANY (owned) AND NOT l.child = ANY (owned));

        -- the order: a table after every table it references (a self
        -- reference aside); what a cycle leaves is one group, walked again
        -- until it settles
        ordered := '{}'::oid[];
        groups := '[]'::jsonb;
        pending := member;
        LOOP
            EXIT WHEN pg_catalog.cardinality(pending) = 0;
            ready := ARRAY(SELECT p FROM pg_catalog.unnest(pending) p
                            WHERE NOT EXISTS (SELECT 1 FROM privacy.subject_links() l
                                               WHERE l.child = p AND l.parent <> p AND l.parent = ANY (pending))
                            ORDER BY p);
            IF pg_catalog.cardinality(ready) = 0 THEN
                groups := groups || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                              'tables', pg_catalog.to_jsonb(ARRAY(SELECT p FROM pg_catalog.unnest(pending) p ORDER BY p)),
                              'cyclic', true));
                ordered := ordered || ARRAY(SELECT p FROM pg_catalog.unnest(pending) p ORDER BY p);
                EXIT;
            END IF;
            FOREACH t IN ARRAY ready LOOP
                groups := groups || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                              'tables', pg_catalog.jsonb_build_array(t),
                              'cyclic', EXISTS (SELECT 1 FROM privacy.subject_links() l
                                                 WHERE l.child = t AND l.parent = t)));
            END LOOP;
            ordered := ordered || ready;
            pending := ARRAY(SELECT p FROM pg_catalog.unnest(pending) p WHERE NOT p = ANY (ready));
        END LOOP;

        tables := '{}'::jsonb;
        FOREACH t IN ARRAY ordered LOOP
            -- the columns of t that keys of member tables reference
            in_keys := ARRAY(SELECT DISTINCT a.attname
                               FROM privacy.subject_links() l
                               JOIN pg_catalog.pg_constraint x ON x.oid = l.con
                               JOIN pg_catalog.pg_attribute a ON a.attrelid = t AND a.attnum = ANY (x.confkey)
                              WHERE l.parent = t AND l.child = ANY (member) AND t = ANY (owned)
                              ORDER BY 1);
            -- the keys of t to tables of the plan (to find rows and cut them),
            -- and, for a table the kind owns, its owning keys to any table
            -- (another owner makes a row shared)
            fks := '[]'::jsonb;
            FOR f IN
                SELECT l.con, l.parent, l.owning, l.parent = ANY (owned) AS parent_owned, x.confdeltype,
                       ARRAY(SELECT a.attname FROM pg_catalog.unnest(x.conkey) WITH ORDINALITY u(n, i)
                               JOIN pg_catalog.pg_attribute a ON a.attrelid = t AND a.attnum = u.n ORDER BY u.i) AS cols,
                       ARRAY(SELECT a.attname FROM pg_catalog.unnest(x.confkey) WITH ORDINALITY u(n, i)
                               JOIN pg_catalog.pg_attribute a ON a.attrelid = l.parent AND a.attnum = u.n ORDER BY u.i) AS pcols,
                       ARRAY(SELECT privacy.cast_type_name(a.atttypid)
                               FROM pg_catalog.unnest(x.conkey) WITH ORDINALITY u(n, i)
                               JOIN pg_catalog.pg_attribute a ON a.attrelid = t AND a.attnum = u.n ORDER BY u.i) AS bases,
                       NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                                    WHERE a.attrelid = t AND a.attnum = ANY (x.conkey) AND a.attnotnull) AS nullable,
                       x.condeferred,
                       ARRAY(SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid)
                               FROM pg_catalog.unnest(x.conkey) WITH ORDINALITY u(n, i)
                               LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = t AND d.adnum = u.n ORDER BY u.i) AS defaults
                  FROM privacy.subject_links() l
                  JOIN pg_catalog.pg_constraint x ON x.oid = l.con
                 WHERE l.child = t AND (l.parent = ANY (owned) OR (l.owning AND t = ANY (owned)))
                 ORDER BY l.con
            LOOP
                fks := fks || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                    'con', f.con, 'parent', f.parent, 'owning', f.owning, 'parent_owned', f.parent_owned,
                    'cols', f.cols, 'pcols', f.pcols, 'bases', f.bases,
                    'severable', f.nullable OR f.confdeltype = 'd', 'set_default', f.confdeltype = 'd',
                    'defaults', f.defaults, 'on_delete', f.confdeltype::text, 'deferred', f.condeferred));
            END LOOP;

            -- the statement that finds the rows of t: owned (by a SUBJECT
            -- column of the kind holding the subject, or an owning key to an
            -- owned row), shared (somebody else owns it too), whether each key
            -- points into an owned row and its value, and the values of the
            -- columns other keys reference; $1[1] is the subject, then per
            -- key to an owned table the keys of all owned rows, per column,
            -- and (owning keys) of the rows the subject owns alone
            nparam := 1;
            owned_terms := '{}'::text[];
            shared_terms := '{}'::text[];
            into_terms := '{}'::text[];
            outs := '{}'::text[];
            subj_terms := '{}'::text[];
            subj_conds := '{}'::text[];
            subj_key_conds := '{}'::text[];
            FOR c IN
                SELECT a.attname, l.subject_kind, privacy.subject_compare_type(a.atttypid) AS cmp,
                       -- cleared only where nothing refers to it: a key other tables reference
                       -- (by it alone); never: a NOT NULL column of a key of its own, or part
                       -- of a key others reference with more columns
                       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.contype = 'f'
                                  AND ((x.conrelid = t AND a.attnum = ANY (x.conkey) AND a.attnotnull)
                                    OR (x.confrelid = t AND a.attnum = ANY (x.confkey)))) AS keyed,
                       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.contype = 'f'
                                  AND x.confrelid = t AND a.attnum = ANY (x.confkey))
                       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.contype = 'f'
                                          AND ((x.conrelid = t AND a.attnum = ANY (x.conkey))
                                            OR (x.confrelid = t AND a.attnum = ANY (x.confkey) AND x.confkey <> ARRAY[a.attnum])))
                         AS key_free
                  FROM privacy.labels l
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = t AND a.attname = l.column_name
                 WHERE l.relation = t::pg_catalog.regclass AND l.subject
                 ORDER BY a.attnum
            LOOP
                IF c.subject_kind = k THEN
                    subj_terms := subj_terms || c.attname::text;
                    -- (a key column of a foreign key: cleared only where nothing refers to it)
                    IF c.key_free THEN
                        subj_key_conds := subj_key_conds || pg_catalog.format('t.%I = ($1[1])::%s', c.attname, c.cmp);
                    ELSIF c.keyed THEN
                        NULL;
                    ELSE
                        subj_conds := subj_conds || pg_catalog.format('t.%I = ($1[1])::%s', c.attname, c.cmp);
                    END IF;
                    owned_terms := owned_terms || pg_catalog.format('t.%I = ($1[1])::%s', c.attname, c.cmp);
                    shared_terms := shared_terms || pg_catalog.format('t.%I <> ($1[1])::%s', c.attname, c.cmp);
                ELSE
                    shared_terms := shared_terms || pg_catalog.format('t.%I IS NOT NULL', c.attname);
                END IF;
            END LOOP;
            -- a Citus distributed table: every statement is routed by its
            -- distribution column, which must be a SUBJECT column of the kind
            -- (its rows of the subject are then all in the subject's shard
            -- group, and a ctid means a row of that shard); it stays as it is
            -- (doc/citus.md)
            dist := privacy.citus_distribution(t::pg_catalog.regclass);
            dist_find := NULL;
            dist_stmt := NULL;
            dist_key := NULL;
            citus_problem := NULL;
            IF dist = '' THEN
                -- a Citus reference table: every node holds it whole, a ctid
                -- names a row of one placement only; its rows are named by
                -- their primary key instead (privacy.citus_row_tid, below)
                dist_key := (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I::pg_catalog.text', a.attname), ', '
                                                          ORDER BY pg_catalog.array_position(i.indkey::smallint[], a.attnum))
                               FROM pg_catalog.pg_index i
                               JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::smallint[])
                              WHERE i.indrelid = t AND i.indisprimary);
                IF dist_key IS NULL THEN
                    citus_problem := pg_catalog.format('table %s is a Citus reference table without a primary key: its rows cannot be named alike on every node',
                                                       t::pg_catalog.regclass);
                END IF;
            ELSIF dist IS NOT NULL AND NOT dist::text = ANY (subj_terms) THEN
                citus_problem := pg_catalog.format('table %s is distributed by column %I, which is not a SUBJECT column of kind %s: the subject''s rows may be in any shard',
                                                   t::pg_catalog.regclass, dist, k);
            ELSIF dist IS NOT NULL THEN
                SELECT pg_catalog.format('t.%I = ($1[1])::%s', a.attname, privacy.subject_compare_type(a.atttypid)),
                       pg_catalog.format(' AND t.%I = ($1[2])::%s', a.attname, privacy.subject_compare_type(a.atttypid))
                  INTO dist_find, dist_stmt
                  FROM pg_catalog.pg_attribute a WHERE a.attrelid = t AND a.attname = dist;
                -- (the templates are format() strings: a % in the name is doubled)
                dist_find := pg_catalog.replace(dist_find, '%', '%%');
                dist_stmt := pg_catalog.replace(dist_stmt, '%', '%%');
            END IF;
            j := 0;
            FOR f IN SELECT e.value AS fk, e.ordinality AS i FROM pg_catalog.jsonb_array_elements(fks) WITH ORDINALITY e LOOP
                -- (an owning key to a table the kind does not own says nothing of
                -- this kind's subjects: another kind's ownership of the row counts
                -- only through a SUBJECT column of the row, above)
                CONTINUE WHEN NOT (f.fk->>'parent_owned')::boolean;
                j := j + 1;
                -- the keys of every owned row of the parent
                cond := privacy.key_in_sql(f.fk, nparam + 1);
                tb := pg_catalog.jsonb_build_object('all', nparam + 1);
                nparam := nparam + pg_catalog.jsonb_array_length(f.fk->'cols');
                into_terms := into_terms || cond;
                outs := outs || pg_catalog.format('COALESCE(%s, false)::pg_catalog.text', cond);
                outs := outs || pg_catalog.format('CASE WHEN %s THEN NULL ELSE ARRAY[%s]::pg_catalog.text[]::pg_catalog.text END',
                    (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I IS NULL', x), ' OR ')
                       FROM pg_catalog.jsonb_array_elements_text(f.fk->'cols') x),
                    (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I::pg_catalog.text', x), ', ' ORDER BY o)
                       FROM pg_catalog.jsonb_array_elements_text(f.fk->'cols') WITH ORDINALITY x(x, o)));
                IF (f.fk->>'owning')::boolean AND t = ANY (owned) THEN
                    owned_terms := owned_terms || cond;
                    -- and of the rows the subject owns alone: another owner otherwise
                    shared_terms := shared_terms || pg_catalog.format('(%s AND NOT %s)',
                        (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I IS NOT NULL', x), ' AND ')
                           FROM pg_catalog.jsonb_array_elements_text(f.fk->'cols') x),
                        privacy.key_in_sql(f.fk, nparam + 1));
                    tb := tb || pg_catalog.jsonb_build_object('excl', nparam + 1);
                    nparam := nparam + pg_catalog.jsonb_array_length(f.fk->'cols');
                END IF;
                fks := pg_catalog.jsonb_set(fks, ARRAY[(f.i - 1)::text], f.fk || pg_catalog.jsonb_build_object('param', tb, 'slot', j));
            END LOOP;
            nv := 2 + pg_catalog.cardinality(outs);
            cond := CASE WHEN pg_catalog.cardinality(owned_terms) = 0 THEN 'false'
                         ELSE '(' || pg_catalog.array_to_string(owned_terms, ' OR ') || ')' END;
            tb := pg_catalog.jsonb_build_object(
                'relid', t, 'rel', t::pg_catalog.regclass::text, 'owned', t = ANY (owned),
                'cyclic', EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(groups) gg(x)
                                   WHERE (gg.x->>'cyclic')::boolean AND (gg.x->'tables') @> pg_catalog.jsonb_build_array(t)),
                'action', privacy.cancel_action(t::pg_catalog.regclass),
                'fks', fks, 'in_keys', pg_catalog.to_jsonb(in_keys), 'in_keys_at', nv + 1,
                -- (the last values: whether a SUBJECT column of the kind holds the
                -- subject, one that is no key column, and one that is)
                'holds_at', nv + pg_catalog.cardinality(in_keys),
                'holds_key_at', nv + pg_catalog.cardinality(in_keys) + 1,
                'has_subject', pg_catalog.cardinality(subj_terms) > 0,
                'citus_problem', citus_problem,
                'find', CASE WHEN pg_catalog.cardinality(owned_terms) + pg_catalog.cardinality(into_terms) = 0 THEN NULL
                    -- (a key that is NULL makes a term NULL: a row is owned, or
                    -- shared, only where a term is true)
                    ELSE pg_catalog.format('SELECT %s, t.ctid, COALESCE(%s, false)::pg_catalog.text, COALESCE(%s AND (%s), false)::pg_catalog.text%s%s, COALESCE(%s, false)::pg_catalog.text, COALESCE(%s, false)::pg_catalog.text FROM %s t WHERE %s',
                        CASE WHEN dist_find IS NULL THEN 't.tableoid' ELSE pg_catalog.format('%s::pg_catalog.oid', t) END,
                        cond, cond,
                        CASE WHEN pg_catalog.cardinality(shared_terms) = 0 THEN 'false'
                             ELSE pg_catalog.array_to_string(shared_terms, ' OR ') END,
                        (SELECT pg_catalog.string_agg(', ' || o, '') FROM pg_catalog.unnest(outs) o),
                        (SELECT pg_catalog.string_agg(pg_catalog.format(', t.%I::pg_catalog.text', x), '')
                           FROM pg_catalog.unnest(in_keys) x),
                        CASE WHEN pg_catalog.cardinality(subj_conds) = 0 THEN 'false'
                             ELSE pg_catalog.array_to_string(subj_conds, ' OR ') END,
                        CASE WHEN pg_catalog.cardinality(subj_key_conds) = 0 THEN 'false'
                             ELSE pg_catalog.array_to_string(subj_key_conds, ' OR ') END,
                        t::pg_catalog.regclass,
                        CASE WHEN dist_find IS NULL THEN pg_catalog.array_to_string(ARRAY[cond] || into_terms, ' OR ')
                             ELSE '(' || pg_catalog.array_to_string(ARRAY[cond] || into_terms, ' OR ') || ') AND ' || dist_find END) END);

            -- the statement that changes the rows of one partition of t that
            -- stay: $1[1] the subject, $1[2] every row it changes, $1[3] rows
            -- anonymized (their labelled columns), $1[4] rows whose SUBJECT
            -- columns of the kind lose the subject, then per key to an owned
            -- table the rows whose key is cut
            col_sets := '{}'::jsonb;
            free := '[]'::jsonb;
            nfree := 0;
            FOR f IN SELECT e.value AS fk FROM pg_catalog.jsonb_array_elements(fks) e
                      WHERE (e.value->>'parent_owned')::boolean AND (e.value->>'severable')::boolean LOOP
                FOR c IN SELECT x AS col, o FROM pg_catalog.jsonb_array_elements_text(f.fk->'cols') WITH ORDINALITY x(x, o) LOOP
                    CONTINUE WHEN c.col = dist;
                    col_sets := col_sets || pg_catalog.jsonb_build_object(c.col,
                        COALESCE(col_sets->c.col, '[]'::jsonb) || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                            'when', pg_catalog.format('t.ctid = ANY (($1[%s])::pg_catalog.tid[])', 4 + (f.fk->>'slot')::integer),
                            'then', CASE WHEN (f.fk->>'set_default')::boolean
                                         THEN COALESCE(f.fk->'defaults'->>((c.o - 1)::integer), 'NULL')
                                         ELSE 'NULL' END)));
                END LOOP;
            END LOOP;
            FOR c IN
                SELECT a.attname, a.attnotnull, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ, a.atttypid, a.atttypmod,
                       l.subject, l.subject_kind, l.category, privacy.subject_compare_type(a.atttypid) AS cmp,
                       EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = t AND i.indisunique
                                  AND a.attnum = ANY (i.indkey::smallint[])) AS is_unique,
                       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.contype = 'f'
                                  AND ((x.conrelid = t AND a.attnum = ANY (x.conkey))
                                    OR (x.confrelid = t AND a.attnum = ANY (x.confkey)))) AS keyed,
                       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.contype = 'f'
                                  AND x.confrelid = t AND a.attnum = ANY (x.confkey)) AS referenced,
                       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.contype = 'f'
                                  AND x.conrelid = t AND a.attnum = ANY (x.conkey)) AS fkcol,
                       -- a key other tables reference by this column alone, and not one of its own
                       NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.contype = 'f'
                                      AND ((x.conrelid = t AND a.attnum = ANY (x.conkey))
                                        OR (x.confrelid = t AND a.attnum = ANY (x.confkey) AND x.confkey <> ARRAY[a.attnum])))
                         AS referenced_alone,
                       -- (con: the key, to find its rows in the plan; clears: its column is a
                       -- nullable SUBJECT column of the kind, cleared with the subject's side)
                       ARRAY(SELECT pg_catalog.jsonb_build_object('rel', x.conrelid, 'col', ca.attname, 'con', x.oid,
                                        'clears', NOT ca.attnotnull AND EXISTS (
                                            SELECT 1 FROM privacy.labels cl
                                             WHERE cl.relation = x.conrelid::pg_catalog.regclass AND cl.column_name = ca.attname
                                               AND cl.subject AND cl.subject_kind = k))
                               FROM pg_catalog.pg_constraint x
                               JOIN pg_catalog.pg_attribute ca ON ca.attrelid = x.conrelid AND ca.attnum = x.conkey[1]
                              WHERE x.contype = 'f' AND x.confrelid = t AND x.confkey = ARRAY[a.attnum]
                                AND x.conparentid = 0   -- a partitioned table's key, not its partitions' clones
                              ORDER BY x.oid) AS refs
                  FROM pg_catalog.pg_attribute a
                  JOIN privacy.labels l ON l.relation = t::pg_catalog.regclass AND l.column_name = a.attname
                 WHERE a.attrelid = t AND a.attnum > 0 AND NOT a.attisdropped
                   AND a.attgenerated = '' AND a.attidentity = ''
                 ORDER BY a.attnum
            LOOP
                CONTINUE WHEN c.attname = dist;
                IF c.subject THEN
                    CONTINUE WHEN c.subject_kind <> k;
                    IF c.referenced THEN
                        -- a key other tables reference: cleared where no row refers to
                        -- the subject through it any more (cancel_step asks them, as
                        -- their owners, after their own steps); else it stays (a stub)
                        CONTINUE WHEN NOT c.referenced_alone;
                        nfree := nfree + 1;
                        free := free || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                            'refs', pg_catalog.to_jsonb(c.refs), 'cmp', c.cmp));
                        cond := pg_catalog.format('t.ctid = ANY (($1[4])::pg_catalog.tid[]) AND t.%I = ($1[1])::%s AND ($1[%s])::pg_catalog.bool',
                                                  c.attname, c.cmp, 4 + j + nfree);
                    ELSE
                        -- (a NOT NULL column of a key of its own stays; a nullable one
                        -- is set to NULL, after any cut of that key)
                        CONTINUE WHEN c.fkcol AND c.attnotnull;
                        cond := pg_catalog.format('t.ctid = ANY (($1[4])::pg_catalog.tid[]) AND t.%I = ($1[1])::%s', c.attname, c.cmp);
                    END IF;
                    col_sets := col_sets || pg_catalog.jsonb_build_object(c.attname, COALESCE(col_sets->c.attname, '[]'::jsonb)
                        || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                        'when', cond,
                        'then', CASE WHEN NOT c.attnotnull THEN pg_catalog.format('NULL::%s', c.typ)
                                     ELSE privacy.not_subject_sql(
                                              CASE WHEN c.is_unique THEN privacy.unique_anonymous_sql(pg_catalog.format('t.%I', c.attname), NULL, c.atttypid::pg_catalog.regtype, c.atttypmod)
                                                   ELSE COALESCE(privacy.placeholder_sql(pg_catalog.format('t.%I', c.attname), c.atttypid::pg_catalog.regtype, NULL, c.atttypmod),
                                                                 pg_catalog.format('privacy.anonymous_value(t.%I, NULL, false)::%s', c.attname, c.typ)) END,
                                              c.cmp, c.atttypid::pg_catalog.regtype, c.typ) END)));
                    CONTINUE;
                END IF;
                CONTINUE WHEN c.keyed OR col_sets ? c.attname;
                IF c.category IS NOT NULL AND privacy.anonymous_sql(t, c.attname) IS NOT NULL THEN
                    col_sets := col_sets || pg_catalog.jsonb_build_object(c.attname, pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                        'when', 't.ctid = ANY (($1[3])::pg_catalog.tid[])',
                        'then', privacy.anonymous_sql(t, c.attname))));
                END IF;
            END LOOP;
            moves := EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(t) pt
                               JOIN pg_catalog.pg_partitioned_table pp ON pp.partrelid = pt.relid
                               JOIN pg_catalog.pg_attribute a ON a.attrelid = pt.relid AND a.attnum = ANY (pp.partattrs::smallint[])
                              WHERE col_sets ? a.attname);
            sets := ARRAY(SELECT pg_catalog.format('%I = CASE %s ELSE t.%I END', e.key,
                                     (SELECT pg_catalog.string_agg(pg_catalog.format('WHEN %s THEN %s', w->>'when', w->>'then'), ' ')
                                        FROM pg_catalog.jsonb_array_elements(e.value) w), e.key)
                            FROM pg_catalog.jsonb_each(col_sets) e ORDER BY e.key);
            tb := tb || pg_catalog.jsonb_build_object(
                'free', free,
                -- whether an anonymized row's labelled columns change (not all
                -- ANONYMIZE WITH KEEP, or none labelled)
                'anonymizes', EXISTS (SELECT 1 FROM pg_catalog.jsonb_each(col_sets) e, pg_catalog.jsonb_array_elements(e.value) w
                                       WHERE w->>'when' = 't.ctid = ANY (($1[3])::pg_catalog.tid[])'),
                -- a change of a partition key moves the row to another partition:
                -- the UPDATE goes through the root, the partition's rows by tableoid
                'moves', moves,
                'update', CASE WHEN pg_catalog.cardinality(sets) = 0 THEN NULL
                               WHEN moves
                               THEN 'UPDATE ' || pg_catalog.replace(t::pg_catalog.regclass::text, '%', '%%') || ' t SET '
                                    || pg_catalog.array_to_string(sets, ', ')
                                    || ' WHERE t.tableoid = %L::pg_catalog.regclass AND t.ctid = ANY (($1[2])::pg_catalog.tid[])'
                               ELSE 'UPDATE ONLY %s t SET ' || pg_catalog.array_to_string(sets, ', ')
                                    || ' WHERE t.ctid = ANY (($1[2])::pg_catalog.tid[])'
                                    || COALESCE(' AND ' || dist_find, '') END,
                'cut', 'UPDATE ONLY %s t SET ' || COALESCE((SELECT pg_catalog.string_agg(DISTINCT pg_catalog.format('%I = %s', x,
                                   CASE WHEN (e.value->>'set_default')::boolean THEN 'DEFAULT' ELSE 'NULL' END), ', ')
                           FROM pg_catalog.jsonb_array_elements(fks) e, pg_catalog.jsonb_array_elements_text(e.value->'cols') x
                          WHERE (e.value->>'parent_owned')::boolean AND (e.value->>'severable')::boolean
                            AND x IS DISTINCT FROM dist::text), 'ctid = ctid')
                       || ' WHERE t.ctid = ANY (($1[1])::pg_catalog.tid[])' || COALESCE(dist_stmt, '')
                       || ' RETURNING ' || CASE WHEN dist_stmt IS NULL THEN 't.tableoid' ELSE pg_catalog.format('%s::pg_catalog.oid', t) END
                       || ', t.ctid',
                'delete', 'DELETE FROM ONLY %s t WHERE t.ctid = ANY (($1[1])::pg_catalog.tid[])' || COALESCE(dist_stmt, ''));
            IF dist_stmt IS NOT NULL THEN
                -- Citus refuses the STABLE cast to tid[] in a CASE: the IMMUTABLE helper
                tb := tb || (SELECT pg_catalog.jsonb_object_agg(x, pg_catalog.regexp_replace(tb->>x,
                                 '\(\(\$1\[([0-9]+)\]\)::pg_catalog\.tid\[\]\)', '(privacy.tid_array($1[\1]))', 'g'))
                               FROM pg_catalog.unnest(ARRAY['update', 'cut', 'delete']) x
                              WHERE tb->>x IS NOT NULL);
            END IF;
            IF dist_key IS NOT NULL THEN
                -- a reference table's rows by their key on every placement (the
                -- statements change every placement; the table stands for them)
                tb := tb || (SELECT pg_catalog.jsonb_object_agg(x, pg_catalog.replace(pg_catalog.replace(
                                 pg_catalog.regexp_replace(tb->>x, '\(\(\$1\[([0-9]+)\]\)::pg_catalog\.tid\[\]\)', '(privacy.tid_array($1[\1]))', 'g'),
                                 't.ctid', 'privacy.citus_row_tid(' || CASE x WHEN 'find' THEN dist_key ELSE pg_catalog.replace(dist_key, '%', '%%') END || ')'),
                                 't.tableoid', pg_catalog.format('%s::pg_catalog.oid', t)))
                               FROM pg_catalog.unnest(ARRAY['find', 'update', 'cut', 'delete']) x
                              WHERE tb->>x IS NOT NULL);
            END IF;
            tables := tables || pg_catalog.jsonb_build_object(t::text, tb);
        END LOOP;
        -- a cycle's DELETEs: a table whose rows keep a key to another table's
        -- rows that cannot be cut (NOT NULL) and that refuses their deletion
        -- (RESTRICT, or NO ACTION checked at once) goes before it; otherwise
        -- children first as elsewhere (the reverse of the group's order)
        groups := (SELECT pg_catalog.jsonb_agg(CASE WHEN (gg.x->>'cyclic')::boolean
                                                    THEN gg.x || pg_catalog.jsonb_build_object('del_tables', privacy.cancel_delete_order(gg.x->'tables', tables))
                                                    ELSE gg.x END ORDER BY gg.o)
                     FROM pg_catalog.jsonb_array_elements(groups) WITH ORDINALITY gg(x, o));
        plans := plans || pg_catalog.jsonb_build_object(k, pg_catalog.jsonb_build_object(
                     'groups', groups, 'tables', tables, 'order', pg_catalog.to_jsonb(ordered)));
    END LOOP;
    RETURN plans;
END
$$;
COMMENT ON FUNCTION privacy.compile_cancel_plan() IS
    'internal: the cancellation plan of each subject kind, from the labels and the catalogs: the tables its subjects own rows of and the tables that refer to them, in order, with the statements that find, change and delete their rows';
REVOKE ALL ON FUNCTION privacy.compile_cancel_plan() FROM PUBLIC;

-- the condition that a row's key f (of the plan) is among the keys given as
-- $1[first] (one array per column, the parent's values as text, converted by
-- the statement, which runs as the table's owner)
CREATE FUNCTION privacy.key_in_sql(f jsonb, first integer) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE WHEN pg_catalog.jsonb_array_length(f->'cols') = 1
                    THEN pg_catalog.format('t.%I = ANY ((($1[%s])::pg_catalog.text[])::%s[])', f->'cols'->>0, first, f->'bases'->>0)
                    ELSE pg_catalog.format('(%s) IN (SELECT %s FROM ROWS FROM (%s) AS u(%s))',
                             (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', x), ', ' ORDER BY o)
                                FROM pg_catalog.jsonb_array_elements_text(f->'cols') WITH ORDINALITY x(x, o)),
                             (SELECT pg_catalog.string_agg(pg_catalog.format('u.v%s::%s', o, f->'bases'->>((o - 1)::integer)), ', ' ORDER BY o)
                                FROM pg_catalog.jsonb_array_elements_text(f->'cols') WITH ORDINALITY x(x, o)),
                             (SELECT pg_catalog.string_agg(pg_catalog.format('pg_catalog.unnest(($1[%s])::pg_catalog.text[])', first + o - 1), ', ' ORDER BY o)
                                FROM pg_catalog.jsonb_array_elements_text(f->'cols') WITH ORDINALITY x(x, o)),
                             (SELECT pg_catalog.string_agg('v' || o, ', ' ORDER BY o)
                                FROM pg_catalog.jsonb_array_elements_text(f->'cols') WITH ORDINALITY x(x, o))) END
    $$;
COMMENT ON FUNCTION privacy.key_in_sql(jsonb, integer) IS
    'internal: the SQL condition that a row''s foreign key (of the cancellation plan) is among keys passed as text arrays';
REVOKE ALL ON FUNCTION privacy.key_in_sql(jsonb, integer) FROM PUBLIC;

CREATE FUNCTION privacy.cancel_plan() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'privacy_cancel_plan'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.cancel_plan() IS
    'the cancellation plans (privacy.compile_cancel_plan), kept per backend until a relation or a label changes';
REVOKE ALL ON FUNCTION privacy.cancel_plan() FROM PUBLIC;

-- The rows of a subject: for each table of its kind's plan, the rows it owns
-- (alone or with others) and the rows that refer to one of them, locked, with
-- what the plan's statements say of each (vals: owned, shared, per key into
-- an owned row whether it does and its value, then the values of the columns
-- other keys reference).  Each table is read once (a cycle: until nothing
-- changes), by one statement, as its owner, with the keys found before it.
CREATE FUNCTION privacy.subject_rows(plan jsonb, canonical text, lock text DEFAULT 'UPDATE')
    RETURNS TABLE (relid oid, part oid, tid pg_catalog.tid, vals text[])
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    g jsonb;
    t text;
    tb jsonb;
    f jsonb;
    got jsonb := '{}'::jsonb;
    keys jsonb := '{}'::jsonb;
    args text[];
    r record;
    rows jsonb;
    any_key boolean;
    before bigint;
    after bigint;
    rounds integer;
    phase text;
    frozen jsonb;
    c_keys jsonb;
    c_now jsonb;
    in_group boolean;
BEGIN
    IF plan IS NULL THEN
        RETURN;
    END IF;
    FOR g IN SELECT e FROM pg_catalog.jsonb_array_elements(plan->'groups') e LOOP
        -- a table (or a cycle of tables) whose parents are all read: one read.
        -- A cycle is read in three phases, each until nothing changes (the
        -- model's order, doc/cancellation.md): A, the rows the subject owns
        -- through any owning key (keys of every owned row); B, which of them
        -- are shared (an owning key to a row it does not own alone), with A's
        -- rows kept; C, one read with the keys of the rows it owns alone, as
        -- a table outside a cycle is read.
        phase := CASE WHEN (g->>'cyclic')::boolean THEN 'A' ELSE 'C' END;
        frozen := '{}'::jsonb;
        rounds := 0;
        LOOP
            before := (SELECT COALESCE(pg_catalog.sum((SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements(keys->x) e
                                                         WHERE phase = 'A' OR (e->>'shared')::boolean)), 0)::bigint
                         FROM pg_catalog.jsonb_array_elements_text(g->'tables') x);
            FOR t IN SELECT x FROM pg_catalog.jsonb_array_elements_text(g->'tables') x LOOP
                tb := plan->'tables'->t;
                CONTINUE WHEN tb->>'find' IS NULL;
                args := ARRAY[canonical];
                any_key := (tb->>'has_subject')::boolean;
                FOR f IN SELECT e FROM pg_catalog.jsonb_array_elements(tb->'fks') e
                          WHERE (e->>'parent_owned')::boolean ORDER BY (e->>'slot')::integer LOOP
                    in_group := (g->'tables') ? (f->>'parent');
                    -- the keys of the parent's rows the subject owns alone, one
                    -- array per column: a row another subject owns too stays (its
                    -- other side is kept), so what hangs from it is that subject's
                    -- too and is neither followed nor cut (in a cycle's phases A
                    -- and B: see above)
                    FOR at IN 0 .. pg_catalog.jsonb_array_length(f->'pcols') - 1 LOOP
                        args := args || ARRAY(SELECT e->'v'->>(f->'pcols'->>at)
                                                FROM pg_catalog.jsonb_array_elements(
                                                         CASE WHEN in_group AND phase = 'B' THEN frozen->(f->>'parent')
                                                              ELSE keys->(f->>'parent') END) e
                                               WHERE (in_group AND phase IN ('A', 'B')) OR NOT (e->>'shared')::boolean)::text;
                    END LOOP;
                    IF f->'param' ? 'excl' THEN
                        FOR at IN 0 .. pg_catalog.jsonb_array_length(f->'pcols') - 1 LOOP
                            args := args || ARRAY(SELECT e->'v'->>(f->'pcols'->>at)
                                                    FROM pg_catalog.jsonb_array_elements(keys->(f->>'parent')) e
                                                   WHERE (in_group AND phase = 'A') OR NOT (e->>'shared')::boolean)::text;
                        END LOOP;
                    END IF;
                    any_key := any_key OR pg_catalog.jsonb_array_length(COALESCE(keys->(f->>'parent'), '[]'::jsonb)) > 0;
                END LOOP;
                IF NOT any_key THEN
                    -- nothing to look for (any more, in a cycle's phase C)
                    IF phase = 'C' THEN
                        got := got - t;
                        keys := keys - t;
                    END IF;
                    CONTINUE;
                END IF;
                rows := '[]'::jsonb;
                FOR r IN SELECT o.part, o.tid, o.vals
                           FROM privacy.owner_rows(t::oid::pg_catalog.regclass,
                                    (tb->>'find') || CASE lock WHEN 'SHARE' THEN ' FOR SHARE OF t' WHEN 'NONE' THEN '' ELSE ' FOR UPDATE OF t' END, args) o LOOP
                    rows := rows || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                                'p', r.part, 't', r.tid::text, 'v', pg_catalog.to_jsonb(r.vals)));
                END LOOP;
                got := got || pg_catalog.jsonb_build_object(t, rows);
                -- what the tables after it look for: the referenced values of its owned rows
                keys := keys || pg_catalog.jsonb_build_object(t, COALESCE((
                    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                               'shared', (e->'v'->>1)::boolean,
                               'v', (SELECT COALESCE(pg_catalog.jsonb_object_agg(k.k, e->'v'->>(((tb->>'in_keys_at')::integer + k.o - 2)::integer)), '{}'::jsonb)
                                       FROM pg_catalog.jsonb_array_elements_text(tb->'in_keys') WITH ORDINALITY k(k, o))))
                      FROM pg_catalog.jsonb_array_elements(rows) e
                     WHERE (e->'v'->>0)::boolean), '[]'::jsonb));
            END LOOP;
            after := (SELECT COALESCE(pg_catalog.sum((SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements(keys->x) e
                                                        WHERE phase = 'A' OR (e->>'shared')::boolean)), 0)::bigint
                        FROM pg_catalog.jsonb_array_elements_text(g->'tables') x);
            rounds := rounds + 1;
            -- phase C of a cycle reads again until no table's keys change: a
            -- table read before its parent in the group's order read the
            -- parent's keys of phase B, which held the rows it shares
            EXIT WHEN (phase = 'C' AND NOT (g->>'cyclic')::boolean) OR rounds > 10000;
            IF phase = 'C' THEN
                c_now := (SELECT pg_catalog.jsonb_object_agg(x, COALESCE(keys->x, '[]'::jsonb))
                            FROM pg_catalog.jsonb_array_elements_text(g->'tables') x);
                EXIT WHEN c_now IS NOT DISTINCT FROM c_keys;
                c_keys := c_now;
                CONTINUE;
            END IF;
            IF after = before THEN
                IF phase = 'A' THEN
                    -- every row the subject owns in the cycle: kept through B
                    frozen := (SELECT COALESCE(pg_catalog.jsonb_object_agg(x, COALESCE(keys->x, '[]'::jsonb)), '{}'::jsonb)
                                 FROM pg_catalog.jsonb_array_elements_text(g->'tables') x);
                    phase := 'B';
                ELSE
                    phase := 'C';
                    c_keys := NULL;
                END IF;
            END IF;
        END LOOP;
    END LOOP;
    RETURN QUERY
        SELECT x.key::oid, (e->>'p')::oid, (e->>'t')::pg_catalog.tid,
               ARRAY(SELECT v FROM pg_catalog.jsonb_array_elements_text(e->'v') v)
          FROM pg_catalog.jsonb_each(got) x, pg_catalog.jsonb_array_elements(x.value) e;
END
$$;
COMMENT ON FUNCTION privacy.subject_rows(jsonb, text, text) IS
    'internal: the rows of a subject (canonical form) in every table of its kind''s cancellation plan, owned or referring to owned rows, locked FOR UPDATE (lock SHARE: FOR SHARE, for a legal hold''s rows; NONE: not locked, for an export); each table read once by one statement as its owner';
REVOKE ALL ON FUNCTION privacy.subject_rows(jsonb, text, text) FROM PUBLIC;

-- Whether a SUBJECT column of a table of the plan that other tables reference
-- (alone) is free to be cleared: no row refers to the subject through it (any
-- of them, for a table with several); each referencing table is asked as its
-- owner.  tb->'cut' names, per foreign key (con) of the table itself, the rows
-- (ctids of the partition tb->>'part') whose reference the same UPDATE cuts:
-- those do not count (a row referring to its own key)
CREATE FUNCTION privacy.cancel_key_free(tb jsonb, canonical text) RETURNS boolean
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT EXISTS (
            SELECT 1 FROM pg_catalog.jsonb_array_elements(COALESCE(tb->'free', '[]'::jsonb)) f
             WHERE NOT EXISTS (
                 SELECT 1 FROM pg_catalog.jsonb_array_elements(f->'refs') r
                  WHERE privacy.owner_exec_value((r->>'rel')::oid::pg_catalog.regclass,
                            pg_catalog.format('SELECT EXISTS (SELECT 1 FROM %s c WHERE c.%I = ($1[1])::%s'
                                              ' AND NOT (c.tableoid = ($1[2])::oid AND c.ctid = ANY (($1[3])::pg_catalog.tid[])))',
                                (r->>'rel')::oid::pg_catalog.regclass, r->>'col', f->>'cmp'),
                            ARRAY[canonical, COALESCE(tb->>'part', '0'),
                                  COALESCE(ARRAY(SELECT pg_catalog.jsonb_array_elements_text(tb->'cut'->(r->>'con'))), '{}')::text])::boolean))
    $$;
COMMENT ON FUNCTION privacy.cancel_key_free(jsonb, text) IS
    'internal: whether a referenced SUBJECT key of a table of the cancellation plan may be cleared: no row of the tables that reference it refers to the subject through it (asked as their owners), but for rows of the table itself whose reference the same UPDATE cuts';
REVOKE ALL ON FUNCTION privacy.cancel_key_free(jsonb, text) FROM PUBLIC;

-- Whether, once the tables that reference it have had their steps, no row
-- refers to the subject through a referenced SUBJECT key of table tb (of
-- the plan): every row that does now (counted as its table's owner) is one
-- of the plan whose fate removes the reference (deleted, its key cut, or
-- its SUBJECT column cleared); got and fate as in cancel_work
CREATE FUNCTION privacy.cancel_key_freed(plan jsonb, tb jsonb, canonical text, got jsonb, fate jsonb) RETURNS boolean
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT EXISTS (
            SELECT 1 FROM pg_catalog.jsonb_array_elements(COALESCE(tb->'free', '[]'::jsonb)) f
             WHERE NOT EXISTS (
                 SELECT 1 FROM pg_catalog.jsonb_array_elements(f->'refs') r
                  WHERE privacy.owner_exec_value((r->>'rel')::oid::pg_catalog.regclass,
                            pg_catalog.format('SELECT pg_catalog.count(*) FROM %s c WHERE c.%I = ($1[1])::%s',
                                (r->>'rel')::oid::pg_catalog.regclass, r->>'col', f->>'cmp'),
                            ARRAY[canonical])::bigint
                        > (SELECT pg_catalog.count(*)
                             FROM pg_catalog.jsonb_array_elements(COALESCE(got->(r->>'rel'), '[]'::jsonb)) WITH ORDINALITY g(x, o),
                                  pg_catalog.jsonb_array_elements(plan->'tables'->(r->>'rel')->'fks') k
                            WHERE (k->>'con') = (r->>'con') AND (k->>'parent_owned')::boolean
                              AND (g.x->'v'->>(2 * (k->>'slot')::integer + 1))::text[] = ARRAY[canonical]
                              AND (fate->(r->>'rel')->>((g.o - 1)::integer) = 'delete'
                                   OR (fate->(r->>'rel')->>((g.o - 1)::integer) IN ('anonymize', 'side', 'sever', 'stub')
                                       AND (k->>'severable')::boolean
                                       AND COALESCE((g.x->'v'->>(2 * (k->>'slot')::integer))::boolean, false))
                                   OR (fate->(r->>'rel')->>((g.o - 1)::integer) IN ('anonymize', 'side', 'stub')
                                       AND (r->>'clears')::boolean)))))
    $$;
COMMENT ON FUNCTION privacy.cancel_key_freed(jsonb, jsonb, text, jsonb, jsonb) IS
    'internal: whether a referenced SUBJECT key of a table of the cancellation plan will be free to clear once the referencing tables have had their steps: every row that refers to the subject through it is one of the plan whose fate removes the reference';
REVOKE ALL ON FUNCTION privacy.cancel_key_freed(jsonb, jsonb, text, jsonb, jsonb) FROM PUBLIC;

-- One step of a cancellation: the UPDATE of a table's (partition's) rows that
-- stay and the DELETE of those that go, as the table's owner; cut is what an
-- earlier step's cut of keys made of the partition's ctids (old, new)
CREATE FUNCTION privacy.cancel_step(tb jsonb, t text, part oid, upd text[], anon text[], clear text[], del text[],
                                    upd_rows jsonb, cut jsonb, canonical text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    step regclass := t::oid::pg_catalog.regclass;
    args text[];
    f jsonb;
    n bigint;
    attempt integer;
    selfcut jsonb;
BEGIN
    IF upd IS NOT NULL AND tb->>'update' IS NOT NULL THEN
        args := ARRAY[canonical, upd::text, COALESCE(anon, '{}')::text, COALESCE(clear, '{}')::text];
        FOR f IN SELECT x FROM pg_catalog.jsonb_array_elements(tb->'fks') x
                  WHERE (x->>'parent_owned')::boolean ORDER BY (x->>'slot')::integer LOOP
            args := args || ARRAY(SELECT u->>'t' FROM pg_catalog.jsonb_array_elements(upd_rows) u
                                   WHERE COALESCE((u->'v'->>(2 * (f->>'slot')::integer))::boolean, false))::text;
        END LOOP;
        -- per referenced SUBJECT key: whether no row refers to the subject through it
        -- (a row of this table referring to the key through a foreign key
        -- this UPDATE cuts does not count)
        selfcut := '{}';
        FOR f IN SELECT x FROM pg_catalog.jsonb_array_elements(tb->'fks') x
                  WHERE (x->>'parent_owned')::boolean AND (x->>'severable')::boolean AND x->>'parent' = t LOOP
            selfcut := selfcut || pg_catalog.jsonb_build_object(f->>'con',
                           (SELECT COALESCE(pg_catalog.jsonb_agg(u->'t'), '[]') FROM pg_catalog.jsonb_array_elements(upd_rows) u
                             WHERE COALESCE((u->'v'->>(2 * (f->>'slot')::integer))::boolean, false)));
        END LOOP;
        FOR f IN SELECT x FROM pg_catalog.jsonb_array_elements(COALESCE(tb->'free', '[]'::jsonb)) WITH ORDINALITY y(x, o) ORDER BY y.o LOOP
            args := args || privacy.cancel_key_free(pg_catalog.jsonb_build_object('free', pg_catalog.jsonb_build_array(f),
                                'cut', selfcut, 'part', part), canonical)::text;
        END LOOP;
        IF pg_catalog.strpos(tb->>'update', 'privacy.anonymous_value(') = 0
           OR pg_catalog.strpos(tb->>'update', ', true)') = 0 THEN
            n := privacy.owner_exec(CASE WHEN COALESCE((tb->>'moves')::boolean, false) THEN step ELSE part::pg_catalog.regclass END,
                     pg_catalog.format(tb->>'update', part::pg_catalog.regclass), args);
        ELSE
            -- a unique column's anonymous value is random: one that collides
            -- with another row's is drawn again (the statement again, all its
            -- values new), so that whether the cancellation completes does not
            -- depend on the draw; a collision ten times running is the
            -- column's to resolve (a short unique key), and blocks
            attempt := 0;
            LOOP
                BEGIN
                    n := privacy.owner_exec(CASE WHEN COALESCE((tb->>'moves')::boolean, false) THEN step ELSE part::pg_catalog.regclass END,
                             pg_catalog.format(tb->>'update', part::pg_catalog.regclass), args);
                    EXIT;
                EXCEPTION WHEN unique_violation THEN
                    attempt := attempt + 1;
                    IF attempt >= 10 THEN
                        RAISE;
                    END IF;
                END;
            END LOOP;
        END IF;
        IF n <> pg_catalog.cardinality(upd) THEN
            RAISE EXCEPTION 'rows of table % changed while the cancellation erased them', step
                USING ERRCODE = 'serialization_failure',
                      DETAIL = 'A trigger of another table changed them; nothing was changed.',
                      HINT = 'Run the cancellation again.';
        END IF;
    END IF;
    IF del IS NOT NULL THEN
        IF cut ? (part::text) THEN
            del := ARRAY(SELECT x FROM pg_catalog.unnest(del) x
                            WHERE NOT (cut->(part::text)->'old') ? x)
                     || ARRAY(SELECT x FROM pg_catalog.jsonb_array_elements_text(cut->(part::text)->'new') x);
        END IF;
        n := privacy.owner_exec(part::pg_catalog.regclass,
                 pg_catalog.format(tb->>'delete', part::pg_catalog.regclass), ARRAY[del::text, canonical]);
        -- in a cycle, a DELETE of the group before this one may have removed
        -- rows of this step through the schema's ON DELETE CASCADE: they are
        -- gone, as planned; a row still there was refused (a trigger)
        IF n < pg_catalog.cardinality(del) AND COALESCE((tb->>'cyclic')::boolean, false) THEN
            n := n + pg_catalog.cardinality(del) - privacy.owner_exec_value(part::pg_catalog.regclass,
                     pg_catalog.format('SELECT pg_catalog.count(*) FROM ONLY %s t WHERE t.ctid = ANY (($1[1])::pg_catalog.tid[])',
                                       part::pg_catalog.regclass), ARRAY[del::text])::bigint;
        END IF;
        IF n <> pg_catalog.cardinality(del) THEN
            RAISE EXCEPTION 'rows of table % changed while the cancellation erased them', step
                USING ERRCODE = 'serialization_failure',
                      DETAIL = 'A trigger of another table changed them; nothing was changed.',
                      HINT = 'Run the cancellation again.';
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.cancel_step(jsonb, text, oid, text[], text[], text[], text[], jsonb, jsonb, text) IS
    'internal: one step of a cancellation (cancel_work): the UPDATE and the DELETE of one table''s (partition''s) rows of the subject, as the table''s owner';
REVOKE ALL ON FUNCTION privacy.cancel_step(jsonb, text, oid, text[], text[], text[], text[], jsonb, jsonb, text) FROM PUBLIC;

-- the message of a blocked cancellation, with names only (the server's own quotes key values)
CREATE FUNCTION privacy.cancel_blocked_message(state text, schema_name text, table_name text, constraint_name text, step regclass)
    RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE WHEN state = '23503'
                    THEN pg_catalog.format('cancellation is blocked: table %s references the subject''s rows of %s through foreign key "%s"',
                             COALESCE(pg_catalog.to_regclass(pg_catalog.format('%I.%I', schema_name, table_name))::text, '?'), step, constraint_name)
                    ELSE pg_catalog.format('cancellation is blocked: changing the subject''s rows of %s violates constraint "%s" of %s',
                             step, constraint_name, COALESCE(pg_catalog.to_regclass(pg_catalog.format('%I.%I', schema_name, table_name))::text, step::text)) END
    $$;
COMMENT ON FUNCTION privacy.cancel_blocked_message(text, text, text, text, regclass) IS
    'internal: the message of a cancellation that a foreign key or a constraint blocks, naming tables and the constraint, never a value';
REVOKE ALL ON FUNCTION privacy.cancel_blocked_message(text, text, text, text, regclass) FROM PUBLIC;

-- The work of a cancellation (cancel_subject, run_due_requests, replay).
--
-- 1. The subject's rows (privacy.subject_rows): the rows it owns, alone or
--    with others, and the rows that only refer to one of them.
-- 2. What becomes of each row, children before parents: a row the subject
--    owns alone follows its table's ON CANCEL (deleted, anonymized, or kept
--    until retention; kept while a legal hold is on its table); a row it owns
--    with somebody else loses only the subject's side (its SUBJECT columns
--    holding the subject, its keys to the subject's rows); a row of somebody
--    else that refers to the subject's rows has that reference cut.  A key
--    that cannot be cut (NOT NULL) keeps the row it points to: a row that
--    was to be deleted then stays as an anonymous stub.
-- 3. The statements, each as the table's owner: per table and partition one
--    UPDATE of the rows that stay and one DELETE, children first.
-- 4. The consent ledger under the pseudonym, the key shredded, the
--    tombstone, the request, the receipt.
CREATE FUNCTION privacy.cancel_work(subject text, dry_run boolean, request_id bigint, replay boolean DEFAULT false,
                                    kind text DEFAULT 'person')
    RETURNS TABLE (relation pg_catalog.regclass, action text, rows bigint, detail text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    problem text;
    canonical text;
    pseud text;
    done_at timestamptz;
    plan jsonb;
    got jsonb := '{}'::jsonb;
    fate jsonb := '{}'::jsonb;
    pins jsonb := '{}'::jsonb;
    e record;
    f jsonb;
    tb jsonb;
    t text;
    rowfate text;
    fates text[];
    act text;
    held boolean;
    pinned boolean;
    holds boolean;
    holds_key boolean;
    cuts boolean;
    key_stays boolean;
    changed boolean;
    rounds integer;
    p record;
    out_rel regclass[] := '{}'::regclass[];
    out_act text[] := '{}'::text[];
    out_rows bigint[] := '{}'::bigint[];
    out_detail text[] := '{}'::text[];
    n_events bigint;
    key_destroyed boolean;
    req bigint := request_id;
    e_state text;
    e_con text;
    e_schema text;
    e_table text;
    e_msg text;
    in_step regclass;
    hold_id bigint;
    kept boolean := false;
    g jsonb;
    precut jsonb := '{}'::jsonb;
    fresh pg_catalog.tid[];
    st record;
BEGIN
    IF subject IS NULL OR kind IS NULL THEN
        RAISE EXCEPTION 'subject and kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    canonical := privacy.subject_canonical(subject, kind);
    pseud := privacy.subject_pseudonym(canonical, kind);
    -- one cancellation of a subject at a time: the second waits on the
    -- tombstone the first inserts (below), then finds it
    SELECT c.cancelled_at INTO done_at FROM privacy.cancelled_subject c WHERE c.subject_id = pseud;
    IF FOUND AND NOT replay THEN
        RETURN QUERY SELECT NULL::regclass, 'already cancelled'::text, 0::bigint,
                            pg_catalog.format('cancelled at %s; nothing was changed', done_at);
        RETURN;
    END IF;
    -- a legal hold on the subject suspends its cancellation
    SELECT h.id INTO hold_id FROM privacy.hold h
     WHERE h.subject_kind = cancel_work.kind AND h.subject = canonical
       AND h.released_at IS NULL AND h.until > pg_catalog.now()
     ORDER BY h.until DESC LIMIT 1;
    IF FOUND THEN
        IF dry_run THEN
            RETURN QUERY SELECT NULL::regclass, 'held'::text, 0::bigint,
                                pg_catalog.format('legal hold %s is in force on the subject: its cancellation is refused until the hold ends or is released', hold_id);
            RETURN;
        END IF;
        RAISE EXCEPTION 'the subject is under legal hold %: its cancellation is refused', hold_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A legal hold suspends every erasure of the subject''s rows: retention, cancellation and end-of-service anonymization.',
                  HINT = 'privacy.release_hold() ends it; the cancellation request stays open until then.';
    END IF;
    -- a blocking reference must surface here, where it is reported without the key's value
    SET CONSTRAINTS ALL IMMEDIATE;
    PERFORM pg_catalog.set_config('jit', 'off', true);

    BEGIN
        IF NOT replay THEN
            -- the tombstone first: a concurrent cancellation of the subject waits for it
            INSERT INTO privacy.cancelled_subject AS c (subject_id, request_id) VALUES (pseud, NULL)
            ON CONFLICT (subject_id) DO NOTHING;
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'PVDON';
            END IF;
        END IF;
        plan := privacy.cancel_plan()->kind;
        -- a Citus table the plan cannot route by the subject (doc/citus.md)
        SELECT pt.value->>'citus_problem' INTO problem
          FROM pg_catalog.jsonb_each(COALESCE(plan->'tables', '{}'::jsonb)) pt
         WHERE pt.value->>'citus_problem' IS NOT NULL
         ORDER BY pt.key LIMIT 1;
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION 'cancellation is blocked: %', problem
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = 'Nothing was changed.',
                      HINT = 'Distribute every table that holds the subject''s rows by its SUBJECT column, co-located with the subject''s table (doc/citus.md).';
        END IF;

        -- 1. the rows
        -- (one jsonb per table, built by one aggregate: appending row by row
        -- copies the whole document each time)
        SELECT COALESCE(pg_catalog.jsonb_object_agg(x.relid::text, x.rows), '{}'::jsonb) INTO got
          FROM (SELECT s.relid, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('p', s.part, 't', s.tid::text, 'v', pg_catalog.to_jsonb(s.vals))) AS rows
                  FROM privacy.subject_rows(plan, canonical) s
                 GROUP BY s.relid) x;

        -- 2. what becomes of each row: the tables in reverse order, each after
        --    the tables that refer to it (they say which of its rows they keep
        --    pointing at); a cycle until nothing changes
        rounds := 0;
        LOOP
            changed := false;
            FOR t IN SELECT x FROM pg_catalog.jsonb_array_elements_text(COALESCE(plan->'order', '[]'::jsonb)) WITH ORDINALITY a(x, o)
                      ORDER BY a.o DESC LOOP
                CONTINUE WHEN NOT got ? t;
                tb := plan->'tables'->t;
                held := privacy.table_held(t::oid::pg_catalog.regclass);
                act := tb->>'action';
                IF act IS NULL AND (tb->>'owned')::boolean THEN
                    -- a table without ON CANCEL: the schema's own ON DELETE CASCADE decides
                    act := CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(tb->'fks') x
                                              WHERE (x->>'owning')::boolean AND (x->>'parent_owned')::boolean)
                                     AND NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(tb->'fks') x
                                                      WHERE (x->>'owning')::boolean AND (x->>'parent_owned')::boolean
                                                        AND x->>'on_delete' <> 'c')
                                THEN 'delete' ELSE 'blocked' END;
                END IF;
                fates := ARRAY(SELECT v FROM pg_catalog.jsonb_array_elements_text(COALESCE(fate->t, '[]'::jsonb)) v);
                FOR e IN SELECT x AS row, o FROM pg_catalog.jsonb_array_elements(got->t) WITH ORDINALITY a(x, o) LOOP
                    -- pinned: a row that stays keeps pointing at this one (only a
                    -- row to delete asks, and only when some row pins one here)
                    pinned := act = 'delete' AND pins ? t AND EXISTS (
                        SELECT 1 FROM pg_catalog.jsonb_each(COALESCE(pins->t, '{}'::jsonb)) pc
                         WHERE (pc.value->'keys') ? (SELECT ARRAY(SELECT e.row->'v'->>(((tb->>'in_keys_at')::integer - 2 + k.o)::integer)
                                                          FROM pg_catalog.jsonb_array_elements_text(pc.value->'pcols') WITH ORDINALITY pk(c, po)
                                                          JOIN pg_catalog.jsonb_array_elements_text(tb->'in_keys') WITH ORDINALITY k(c, o)
                                                            ON k.c = pk.c
                                                         ORDER BY pk.po)::text));
                    rowfate := CASE WHEN NOT (e.row->'v'->>0)::boolean THEN 'sever'
                                    WHEN COALESCE((e.row->'v'->>1)::boolean, false) THEN 'side'
                                    WHEN held THEN 'held'
                                    WHEN act = 'delete' AND pinned THEN 'stub'
                                    WHEN act = 'delete' THEN 'delete'
                                    WHEN act = 'anonymize' THEN 'anonymize'
                                    WHEN act = 'keep until retention' THEN 'keep'
                                    ELSE 'blocked' END;
                    -- what the row's UPDATE would do to it: clear a SUBJECT
                    -- column holding the subject (holds), cut a key to its rows
                    -- (cuts); and whether a referenced SUBJECT key holding it must
                    -- stay, rows that stay still referring to it (key_stays)
                    IF rowfate IN ('side', 'sever', 'anonymize') THEN
                        holds := COALESCE((e.row->'v'->>((tb->>'holds_at')::integer))::boolean, false);
                        holds_key := COALESCE((e.row->'v'->>((tb->>'holds_key_at')::integer))::boolean, false);
                        cuts := EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(tb->'fks') x
                                         WHERE (x->>'parent_owned')::boolean AND (x->>'severable')::boolean
                                           AND COALESCE((e.row->'v'->>(2 * (x->>'slot')::integer))::boolean, false));
                        IF holds_key THEN
                            key_stays := NOT privacy.cancel_key_freed(plan, tb, canonical, got, fate);
                        ELSE
                            key_stays := false;
                        END IF;
                        IF rowfate IN ('side', 'sever') AND NOT holds AND NOT cuts AND NOT (holds_key AND NOT key_stays) THEN
                            -- a row that only shares or refers, with nothing of the
                            -- subject's to clear: it stays as it is, and is not
                            -- counted as changed
                            rowfate := 'unchanged';
                        ELSIF rowfate = 'anonymize' AND key_stays THEN
                            -- the subject's row whose referenced SUBJECT key must
                            -- keep the subject: an anonymous stub, its key kept
                            rowfate := 'stub';
                        ELSIF rowfate = 'anonymize' AND NOT COALESCE((tb->>'anonymizes')::boolean, false)
                              AND NOT holds AND NOT holds_key AND NOT cuts THEN
                            -- the subject's row to anonymize with nothing to change
                            -- (no labelled column that changes)
                            rowfate := 'same';
                        END IF;
                    END IF;
                    IF rowfate IS DISTINCT FROM fates[e.o] THEN
                        changed := true;
                        fates[e.o] := rowfate;
                    END IF;
                    -- its keys into the subject's rows: a row that stays and
                    -- cannot cut one (NOT NULL, or kept as it is) pins the parent
                    CONTINUE WHEN rowfate = 'delete';
                    FOR f IN SELECT x FROM pg_catalog.jsonb_array_elements(tb->'fks') x
                              WHERE (x->>'parent_owned')::boolean LOOP
                        CONTINUE WHEN NOT COALESCE((e.row->'v'->>(2 * (f->>'slot')::integer))::boolean, false);
                        CONTINUE WHEN rowfate NOT IN ('keep', 'held', 'blocked') AND (f->>'severable')::boolean;
                        IF NOT COALESCE(pins->(f->>'parent')->(f->>'con')->'keys' ? (e.row->'v'->>(2 * (f->>'slot')::integer + 1)), false) THEN
                            pins := pins || pg_catalog.jsonb_build_object(f->>'parent',
                                        COALESCE(pins->(f->>'parent'), '{}'::jsonb) || pg_catalog.jsonb_build_object(f->>'con',
                                            pg_catalog.jsonb_build_object('pcols', f->'pcols',
                                                'keys', COALESCE(pins->(f->>'parent')->(f->>'con')->'keys', '[]'::jsonb)
                                                        || pg_catalog.to_jsonb(e.row->'v'->>(2 * (f->>'slot')::integer + 1)))));
                            changed := true;
                        END IF;
                    END LOOP;
                END LOOP;
                fate := fate || pg_catalog.jsonb_build_object(t, pg_catalog.to_jsonb(fates));
            END LOOP;
            rounds := rounds + 1;
            -- without a cycle one pass in this order settles every row: a table's
            -- pins come from the tables that refer to it, decided before it
            EXIT WHEN NOT changed OR rounds > 100
                      OR NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(COALESCE(plan->'groups', '[]'::jsonb)) cg(x)
                                      WHERE (cg.x->>'cyclic')::boolean);
        END LOOP;

        -- a table that owns some of the subject's rows and says nothing of them
        FOR t IN SELECT x.key FROM pg_catalog.jsonb_each(fate) x
                  WHERE EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements_text(x.value) v WHERE v = 'blocked') LOOP
            IF NOT dry_run THEN
                RAISE EXCEPTION 'cancellation is blocked: table % holds rows of the subject and has no ON CANCEL label', t::oid::pg_catalog.regclass
                    USING ERRCODE = 'foreign_key_violation',
                          DETAIL = 'Nothing was changed: the whole cancellation was rolled back.',
                          HINT = pg_catalog.format('privacy.cancel_subject(subject, dry_run => true) shows the plan. Label the table: SECURITY LABEL FOR privacy ON TABLE %s IS ''ON CANCEL DELETE'' (or ANONYMIZE, or KEEP UNTIL RETENTION), or give its foreign key ON DELETE CASCADE.', t::oid::pg_catalog.regclass);
            END IF;
        END LOOP;

        -- 3. the statements, children first, per partition, as each table's owner;
        --    in a cycle, rows that go first lose their keys to each other (their
        --    new row versions are the ones deleted)
        FOR g IN SELECT x FROM pg_catalog.jsonb_array_elements(COALESCE(plan->'groups', '[]'::jsonb)) x
                  WHERE (x->>'cyclic')::boolean LOOP
            FOR t IN SELECT x FROM pg_catalog.jsonb_array_elements_text(g->'tables') x LOOP
                CONTINUE WHEN NOT got ? t;
                tb := plan->'tables'->t;
                FOR p IN
                    SELECT (a.x->>'p')::oid AS part, pg_catalog.array_agg(a.x->>'t') AS tids
                      FROM pg_catalog.jsonb_array_elements(got->t) WITH ORDINALITY a(x, o)
                     WHERE fate->t->>((a.o - 1)::integer) = 'delete'
                       AND EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(tb->'fks') y
                                    WHERE (y->>'parent_owned')::boolean AND (y->>'severable')::boolean
                                      AND (g->'tables') ? (y->>'parent')
                                      AND COALESCE((a.x->'v'->>(2 * (y->>'slot')::integer))::boolean, false))
                     GROUP BY 1
                LOOP
                    fresh := ARRAY(SELECT o.tid FROM privacy.owner_rows(p.part::pg_catalog.regclass,
                                       pg_catalog.format(tb->>'cut', p.part::pg_catalog.regclass), ARRAY[p.tids::text, canonical]) o);
                    precut := precut || pg_catalog.jsonb_build_object(t,
                        COALESCE(precut->t, '{}'::jsonb) || pg_catalog.jsonb_build_object(p.part::text,
                            pg_catalog.jsonb_build_object('old', pg_catalog.to_jsonb(p.tids), 'new', pg_catalog.to_jsonb(fresh::text[]))));
                END LOOP;
            END LOOP;
        END LOOP;
        -- (a cycle: first every table's UPDATE, then every DELETE, so that the
        -- schema's own actions of a DELETE find no row still to be changed)
        FOR st IN
            SELECT gt.t, ph.ph
              FROM pg_catalog.jsonb_array_elements(COALESCE(plan->'groups', '[]'::jsonb)) WITH ORDINALITY gr(x, o),
                   pg_catalog.jsonb_array_elements_text(gr.x->'tables') WITH ORDINALITY gt(t, o),
                   pg_catalog.unnest(CASE WHEN (gr.x->>'cyclic')::boolean THEN ARRAY['upd', 'del'] ELSE ARRAY['both'] END)
                       WITH ORDINALITY ph(ph, o)
             ORDER BY gr.o DESC, ph.o,
                      CASE WHEN ph.ph = 'del' AND gr.x ? 'del_tables'
                           THEN (SELECT d.o FROM pg_catalog.jsonb_array_elements_text(gr.x->'del_tables') WITH ORDINALITY d(t, o)
                                  WHERE d.t = gt.t)
                           ELSE -gt.o END
        LOOP
            t := st.t;
            CONTINUE WHEN NOT got ? t;
            tb := plan->'tables'->t;
            in_step := t::oid::pg_catalog.regclass;
            FOR p IN
                SELECT (x.row->>'p')::oid AS part,
                       pg_catalog.array_agg(x.row->>'t') FILTER (WHERE x.fate IN ('anonymize', 'side', 'sever', 'stub')) AS upd,
                       pg_catalog.array_agg(x.row->>'t') FILTER (WHERE x.fate IN ('anonymize', 'stub')) AS anon,
                       pg_catalog.array_agg(x.row->>'t') FILTER (WHERE x.fate IN ('anonymize', 'side', 'stub')) AS clear,
                       pg_catalog.array_agg(x.row->>'t') FILTER (WHERE x.fate = 'delete') AS del,
                       pg_catalog.jsonb_agg(x.row) FILTER (WHERE x.fate IN ('anonymize', 'side', 'sever', 'stub')) AS upd_rows
                  FROM (SELECT a.x AS row, fate->t->>((a.o - 1)::integer) AS fate
                          FROM pg_catalog.jsonb_array_elements(got->t) WITH ORDINALITY a(x, o)) x
                 GROUP BY 1 ORDER BY 1
            LOOP
                IF NOT dry_run THEN
                    -- a real run rolls back whole on any error, so its steps take no
                    -- subtransaction (on Citus, each costs a round trip to every
                    -- worker in the transaction); the outer handler names what blocks
                    PERFORM privacy.cancel_step(tb, t, p.part, CASE WHEN st.ph <> 'del' THEN p.upd END, p.anon, p.clear,
                                                CASE WHEN st.ph <> 'upd' THEN p.del END, p.upd_rows, precut->t, canonical);
                    CONTINUE;
                END IF;
                BEGIN
                    PERFORM privacy.cancel_step(tb, t, p.part, CASE WHEN st.ph <> 'del' THEN p.upd END, p.anon, p.clear,
                                                CASE WHEN st.ph <> 'upd' THEN p.del END, p.upd_rows, precut->t, canonical);
                EXCEPTION WHEN integrity_constraint_violation THEN
                    GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_con = CONSTRAINT_NAME,
                                            e_schema = SCHEMA_NAME, e_table = TABLE_NAME;
                    -- the server's message would show key values: names only
                    e_msg := privacy.cancel_blocked_message(e_state, e_schema, e_table, e_con, in_step);
                    -- the table whose key blocks, or the one whose constraint refuses,
                    -- and how many of the subject's rows this step was changing
                    out_rel := out_rel || CASE WHEN e_state = '23503'
                                               THEN COALESCE(pg_catalog.to_regclass(pg_catalog.format('%I.%I', e_schema, e_table)), in_step)
                                               ELSE in_step END;
                    out_act := out_act || 'blocked'::text;
                    out_rows := out_rows || (COALESCE(pg_catalog.cardinality(p.upd), 0) + COALESCE(pg_catalog.cardinality(p.del), 0))::bigint;
                    out_detail := out_detail || e_msg;
                END;
            END LOOP;
            in_step := NULL;
            CONTINUE WHEN st.ph = 'upd';
            -- the receipt: per table and what became of its rows
            FOR e IN
                SELECT v AS what, pg_catalog.count(*) AS n FROM pg_catalog.jsonb_array_elements_text(fate->t) v
                 GROUP BY v ORDER BY pg_catalog.array_position(ARRAY['delete', 'anonymize', 'keep', 'held', 'stub', 'side', 'sever', 'unchanged', 'same', 'blocked'], v)
            LOOP
                out_rel := out_rel || t::oid::pg_catalog.regclass;
                out_act := out_act || CASE e.what WHEN 'delete' THEN 'deleted' WHEN 'anonymize' THEN 'anonymized'
                                                  WHEN 'keep' THEN 'kept until retention' WHEN 'held' THEN 'kept: legal hold'
                                                  WHEN 'stub' THEN 'kept as an anonymous stub' WHEN 'side' THEN 'anonymized'
                                                  WHEN 'sever' THEN 'severed' WHEN 'unchanged' THEN 'unchanged' WHEN 'same' THEN 'unchanged'
                                                  ELSE 'blocked' END;
                out_rows := out_rows || e.n;
                out_detail := out_detail || CASE e.what
                    WHEN 'side' THEN 'rows shared with another subject: only this subject''s side cleared'
                    WHEN 'sever' THEN 'rows of other subjects that referred to the subject: the reference cut'
                    WHEN 'unchanged' THEN 'rows shared with or referring to the subject''s rows where nothing can be cleared (a NOT NULL key to them, a SUBJECT key other rows still reference): left as they are'
                    WHEN 'stub' THEN 'rows that kept rows still reference: their personal data cleared, their key kept'
                    WHEN 'same' THEN 'the subject''s rows to anonymize with nothing to change (no labelled column that changes, no key to the subject''s rows that can be cut): left as they are'
                    WHEN 'held' THEN 'a legal hold on the table keeps them'
                    WHEN 'blocked' THEN pg_catalog.format('the table has no ON CANCEL label: SECURITY LABEL FOR privacy ON TABLE %s IS ''ON CANCEL DELETE'' (or ANONYMIZE, or KEEP UNTIL RETENTION)', t::oid::pg_catalog.regclass)
                    WHEN 'delete' THEN CASE WHEN tb->>'action' IS NULL THEN 'no ON CANCEL label: the ON DELETE CASCADE of its foreign key' END
                    ELSE NULL END;
                kept := kept OR e.what IN ('keep', 'held', 'stub');
            END LOOP;
        END LOOP;

        SELECT pg_catalog.count(*) INTO n_events FROM privacy.consent_event ce
         WHERE ce.subject = canonical AND ce.subject_kind = cancel_work.kind;
        IF pg_catalog.cardinality(out_rel) = 0 AND n_events = 0
           AND NOT EXISTS (SELECT 1 FROM privacy.subject_minor m WHERE m.subject = canonical AND m.subject_kind = cancel_work.kind)
           AND NOT EXISTS (SELECT 1 FROM privacy.consent c WHERE c.subject = canonical AND c.subject_kind = cancel_work.kind)
           AND NOT privacy.gave_guardian_consent(canonical, kind) THEN
            -- nothing found, so nothing is changed (and no tombstone kept)
            RAISE EXCEPTION USING ERRCODE = 'PVNON';
        END IF;

        -- 4. the consent ledger keeps its history under the subject's pseudonym
        UPDATE privacy.consent_event ce SET subject = 'cancelled:' || pseud
         WHERE ce.subject = canonical AND ce.subject_kind = cancel_work.kind;
        GET DIAGNOSTICS n_events = ROW_COUNT;
        DELETE FROM privacy.consent c WHERE c.subject = canonical AND c.subject_kind = cancel_work.kind;
        DELETE FROM privacy.subject_minor m WHERE m.subject = canonical AND m.subject_kind = cancel_work.kind;
        IF n_events > 0 THEN
            out_rel := out_rel || 'privacy.consent_event'::regclass;
            out_act := out_act || 'pseudonymized'::text;
            out_rows := out_rows || n_events;
            out_detail := out_detail || 'consent history kept under the subject''s pseudonym'::text;
        END IF;
        -- the consents the subject gave as a guardian (consent.sql): in force, the guardian named by its pseudonym
        n_events := privacy.pseudonymize_guardian(canonical, kind, pseud);
        IF n_events > 0 THEN
            out_rel := out_rel || 'privacy.consent_event'::regclass;
            out_act := out_act || 'pseudonymized'::text;
            out_rows := out_rows || n_events;
            out_detail := out_detail || 'consents given as a guardian: still in force, the guardian kept as the pseudonym'::text;
        END IF;

        -- the subject's data key, the tombstone, the request and the receipt
        key_destroyed := privacy.shred_subject(canonical, false, kind);
        IF dry_run THEN
            NULL;   -- a dry run numbers no request
        ELSIF req IS NULL THEN
            INSERT INTO privacy.request (kind, subject_kind, subject, subject_id, due_at, status, closed_at, note)
            VALUES ('cancellation', cancel_work.kind, NULL, pseud, pg_catalog.now(), 'completed', pg_catalog.now(),
                    CASE WHEN replay THEN 'replayed after a restore' END)
            RETURNING privacy.request.id INTO req;
        ELSE
            UPDATE privacy.request q SET status = 'completed', subject = NULL, closed_at = pg_catalog.now(), note = NULL
             WHERE q.id = req;
        END IF;
        IF replay THEN
            INSERT INTO privacy.cancelled_subject AS c (subject_id, request_id) VALUES (pseud, req)
            ON CONFLICT (subject_id) DO NOTHING;
        ELSE
            UPDATE privacy.cancelled_subject c SET request_id = req WHERE c.subject_id = pseud;
            -- and, when the transaction commits, in the journal outside the database
            PERFORM privacy.journal_tombstone(pseud, pg_catalog.now());
        END IF;
        -- rows kept (until retention, as stubs, under a hold) are stored and
        -- secured, and shown by no purpose view
        IF kept THEN
            INSERT INTO privacy.restricted_subject (subject_kind, subject, request_id) VALUES (cancel_work.kind, canonical, req)
            ON CONFLICT ON CONSTRAINT restricted_subject_pkey DO NOTHING;
        END IF;
        PERFORM privacy.audit_append('cancellation', pg_catalog.format('subject %s', pseud),
            pg_catalog.jsonb_build_object(
                'request', req,
                'tables', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('relation', o.rel::text, 'action', o.act, 'rows', o.n) ORDER BY o.i)
                             FROM ROWS FROM (pg_catalog.unnest(out_rel), pg_catalog.unnest(out_act), pg_catalog.unnest(out_rows)) WITH ORDINALITY AS o(rel, act, n, i)),
                'key_destroyed', key_destroyed,
                'erasure', 'logical: deleted and overwritten values stay in dead tuples until VACUUM, in WAL until it is recycled and in backups until they expire; values encrypted with the subject''s key are unreadable everywhere')
            || CASE WHEN kind <> 'person' THEN pg_catalog.jsonb_build_object('kind', kind) ELSE '{}'::jsonb END
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
            -- a step of a real run (above): the server's message would show key values
            IF in_step IS NULL THEN
                RAISE;
            END IF;
            GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_con = CONSTRAINT_NAME,
                                    e_schema = SCHEMA_NAME, e_table = TABLE_NAME;
            RAISE EXCEPTION '%', privacy.cancel_blocked_message(e_state, e_schema, e_table, e_con, in_step)
                USING ERRCODE = e_state,
                      DETAIL = 'Nothing was changed: the whole cancellation was rolled back.',
                      HINT = CASE WHEN e_state = '23503'
                                  THEN 'privacy.cancel_subject(subject, dry_run => true) shows the plan. Label the referencing table with ON CANCEL, give the foreign key ON DELETE CASCADE or SET NULL, or make its columns nullable.'
                                  ELSE 'privacy.cancel_subject(subject, dry_run => true) shows the plan. An anonymized column gets NULL, or privacy.anonymous_value when it is NOT NULL: relax the constraint, make the column nullable, or use ON CANCEL DELETE.' END;
        WHEN SQLSTATE 'PVNON' THEN
            RETURN QUERY SELECT NULL::regclass, 'not found'::text, 0::bigint, 'no labelled table holds the subject; nothing was changed'::text;
            RETURN;
        WHEN SQLSTATE 'PVDON' THEN
            SELECT c.cancelled_at INTO done_at FROM privacy.cancelled_subject c WHERE c.subject_id = pseud;
            RETURN QUERY SELECT NULL::regclass, 'already cancelled'::text, 0::bigint,
                                pg_catalog.format('cancelled at %s; nothing was changed', done_at);
            RETURN;
    END;
    RETURN QUERY SELECT * FROM ROWS FROM (pg_catalog.unnest(out_rel), pg_catalog.unnest(out_act), pg_catalog.unnest(out_rows), pg_catalog.unnest(out_detail));
END
$$;
COMMENT ON FUNCTION privacy.cancel_work(text, boolean, bigint, boolean, text) IS
    'internal: carry out (or, dry_run, plan) the cancellation of a subject of a kind for cancel_subject, run_due_requests and (replay, past its tombstone) replay_cancellations';
REVOKE ALL ON FUNCTION privacy.cancel_work(text, boolean, bigint, boolean, text) FROM PUBLIC;

CREATE FUNCTION privacy.cancel_subject(subject text, dry_run boolean DEFAULT false, kind text DEFAULT 'person')
    RETURNS TABLE (relation pg_catalog.regclass, action text, rows bigint, detail text)
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT * FROM privacy.cancel_work(subject, dry_run, NULL, false, kind) $$;
COMMENT ON FUNCTION privacy.cancel_subject(text, boolean, text) IS
    'cancel a subject''s account (kind: its subject kind): delete, anonymize or keep (per ON CANCEL) the rows it owns in every labelled table, clear its side of rows it shares and cut references to it, shred its data key, pseudonymize its consent history and write a receipt, in one transaction; dry_run shows the same plan and changes nothing';
-- Destroys data: administrators, granted explicitly.
REVOKE ALL ON FUNCTION privacy.cancel_subject(text, boolean, text) FROM PUBLIC;

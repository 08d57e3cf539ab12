-- src/sql/code/export.sql: export: a subject's data for the rights of access and copy

-- one exported value, from what the table owner's statement gave (jsonb as
-- text, or a bytea as base64): with its category; a bytea that is the
-- subject's own ciphertext decrypted
CREATE FUNCTION privacy.export_value(value text, is_bytea boolean, category text, subject text, kind text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    b bytea;
BEGIN
    IF value IS NULL THEN
        RETURN pg_catalog.jsonb_build_object('category', category, 'value', NULL);
    ELSIF NOT is_bytea THEN
        RETURN pg_catalog.jsonb_build_object('category', category, 'value', value::jsonb);
    END IF;
    b := pg_catalog.decode(value, 'base64');
    IF pg_catalog.length(b) > 0 AND pg_catalog.get_byte(b, 0) = 3 THEN
        -- the subject's own ciphertext: the copy holds the plain value
        BEGIN
            RETURN pg_catalog.jsonb_build_object('category', category, 'value', privacy.subject_decrypt(subject, b, kind),
                                                 'decrypted', true);
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
        BEGIN
            RETURN pg_catalog.jsonb_build_object('category', category,
                                                 'value', pg_catalog.encode(privacy.subject_decrypt_bytea(subject, b, kind), 'base64'),
                                                 'encoding', 'base64', 'decrypted', true);
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
    END IF;
    RETURN pg_catalog.jsonb_build_object('category', category, 'value', value, 'encoding', 'base64');
END
$$;
COMMENT ON FUNCTION privacy.export_value(text, boolean, text, text, text) IS
    'internal: one exported value with its category, from its JSON (or, for bytea, base64) text; the subject''s own ciphertexts decrypted';
REVOKE ALL ON FUNCTION privacy.export_value(text, boolean, text, text, text) FROM PUBLIC;

-- the categories an export leaves out, with the reason it gives: by default
-- those the taxonomy marks exported = false; withhold names them instead
-- (with their sub-categories), '{}' none
CREATE FUNCTION privacy.export_withheld(withhold text[])
    RETURNS TABLE (category text, reason text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    w text;
BEGIN
    IF withhold IS NULL THEN
        RETURN QUERY SELECT c.name, c.export_reason FROM privacy.category c WHERE NOT c.exported ORDER BY c.name;
        RETURN;
    END IF;
    FOREACH w IN ARRAY withhold LOOP
        IF w IS NULL THEN
            RAISE EXCEPTION 'withhold must not hold NULL' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM privacy.category c WHERE c.name = w) THEN
            RAISE EXCEPTION 'category "%" does not exist', w
                USING ERRCODE = 'undefined_object',
                      HINT = 'withhold names categories of privacy.category.';
        END IF;
    END LOOP;
    RETURN QUERY
        SELECT c.name, 'left out by whoever ran the export (withhold => '
                       || pg_catalog.array_to_string(ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(withhold) x ORDER BY 1), ', ') || ')'
          FROM privacy.category c
         WHERE EXISTS (SELECT 1 FROM pg_catalog.unnest(withhold) x
                        WHERE c.name = x OR pg_catalog.starts_with(c.name, x || '.'))
         ORDER BY c.name;
END
$$;
COMMENT ON FUNCTION privacy.export_withheld(text[]) IS
    'the categories an export leaves out, with the reason it gives: those whose exported is false (withhold NULL), else the categories named and their sub-categories';
GRANT EXECUTE ON FUNCTION privacy.export_withheld(text[]) TO PUBLIC;

-- the statements that read the tables' (partitions') rows for an export, as
-- their owners, by ctid ($1[1]), all built by one query: per partition, the
-- row as the text of one jsonb object of every column that is neither bytea
-- nor left out ({"category", "value"}; a column left out is not read:
-- {"category", "left_out": true}), then the bytea columns as base64, which
-- the caller decrypts when they are the subject's own ciphertexts; and the
-- columns left out, by category.  The labels are the table's (rels, which a
-- partition carries), by column name, read here rather than through
-- privacy.labels, which decodes every label of the database.
CREATE FUNCTION privacy.export_read_sql(parts oid[], rels oid[], withheld text[])
    RETURNS TABLE (part oid, statement text, bytea_cols text[], bytea_cats text[], left_out jsonb)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY
        WITH cols AS (
            SELECT x.part, x.rel, a.attnum, a.attname, l.category,
                   COALESCE(l.category = ANY (withheld), false) AS withheld,
                   (CASE WHEN ty.typtype = 'd' THEN privacy.base_type(a.atttypid) ELSE a.atttypid::pg_catalog.regtype END)
                       = 'pg_catalog.bytea'::pg_catalog.regtype AS is_bytea
              FROM ROWS FROM (pg_catalog.unnest(parts), pg_catalog.unnest(rels)) x(part, rel)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = x.part AND a.attnum > 0 AND NOT a.attisdropped
              JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
              LEFT JOIN LATERAL (SELECT (privacy.parse_label(s.label, false)).category
                                   FROM pg_catalog.pg_seclabel s
                                   JOIN pg_catalog.pg_attribute ra ON ra.attrelid = s.objoid AND ra.attnum = s.objsubid
                                  WHERE s.objoid = x.rel AND s.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                    AND s.provider = 'privacy' AND s.objsubid > 0 AND ra.attname = a.attname) l ON true
        ), terms AS (
            SELECT c.part, c.attnum,
                   CASE WHEN c.withheld
                        THEN pg_catalog.format('%L, %L::pg_catalog.jsonb', c.attname,
                                               pg_catalog.jsonb_build_object('category', c.category, 'left_out', true))
                        ELSE pg_catalog.format('%L, pg_catalog.jsonb_build_object(''category'', %L::pg_catalog.text, ''value'', pg_catalog.to_jsonb(t.%I))',
                                               c.attname, c.category, c.attname) END AS term,
                   pg_catalog.row_number() OVER (PARTITION BY c.part ORDER BY c.attnum) AS n
              FROM cols c
             WHERE c.withheld OR NOT c.is_bytea
        ), chunks AS (
            -- at most 100 arguments a call: 40 columns a jsonb_build_object
            SELECT tm.part, (tm.n - 1) / 40 AS chunk,
                   'pg_catalog.jsonb_build_object(' || pg_catalog.string_agg(tm.term, ', ' ORDER BY tm.attnum) || ')' AS sql
              FROM terms tm
             GROUP BY 1, 2
        )
        SELECT x.part,
               pg_catalog.format('SELECT t.tableoid, t.ctid, (%s)::pg_catalog.text%s FROM ONLY %s t WHERE t.ctid = ANY (($1[1])::pg_catalog.tid[])',
                   COALESCE((SELECT pg_catalog.string_agg(ch.sql, ' || ' ORDER BY ch.chunk) FROM chunks ch WHERE ch.part = x.part),
                            '''{}''::pg_catalog.jsonb'),
                   COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format(', pg_catalog.encode(t.%I, ''base64'')', c.attname), '' ORDER BY c.attnum)
                               FROM cols c WHERE c.part = x.part AND c.is_bytea AND NOT c.withheld), ''),
                   x.part::pg_catalog.regclass),
               ARRAY(SELECT c.attname::text FROM cols c WHERE c.part = x.part AND c.is_bytea AND NOT c.withheld ORDER BY c.attnum),
               ARRAY(SELECT c.category FROM cols c WHERE c.part = x.part AND c.is_bytea AND NOT c.withheld ORDER BY c.attnum),
               COALESCE((SELECT pg_catalog.jsonb_object_agg(g.category, g.names)
                           FROM (SELECT c.category, pg_catalog.jsonb_agg(c.attname ORDER BY c.attnum) AS names
                                   FROM cols c WHERE c.part = x.part AND c.withheld GROUP BY 1) g), '{}'::jsonb)
          FROM pg_catalog.unnest(parts) x(part);
END
$$;
COMMENT ON FUNCTION privacy.export_read_sql(oid[], oid[], text[]) IS
    'internal: the statements an export reads tables'' (partitions'') rows with, by ctid, as their owners: each row as jsonb text (the columns of categories left out not read), then its bytea columns as base64; and per partition the columns left out, by category';
REVOKE ALL ON FUNCTION privacy.export_read_sql(oid[], oid[], text[]) FROM PUBLIC;

CREATE FUNCTION privacy.export_subject_rows(subject text, kind text DEFAULT 'person', withhold text[] DEFAULT NULL)
    RETURNS TABLE (relation pg_catalog.regclass, data jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    -- one subject's rows, by indexes and ctids: no JIT (the reads' estimates
    -- are no guide to it; plan_cache_mode is left alone: Citus plans no
    -- generic statement with parameters on a distributed table)
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    AS $$
DECLARE
    canonical text;
    pseud text;
    plan jsonb;
    withheld text[];
    reasons text[];
    relids oid[];
    parts oid[];
    tids text[];
    p record;
    r record;
    e record;
    obj jsonb;
    n bigint;
    left_out jsonb := '{}'::jsonb;
    total bigint := 0;
    tables integer := 0;
BEGIN
    IF subject IS NULL OR kind IS NULL THEN
        RAISE EXCEPTION 'subject and kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT COALESCE(pg_catalog.array_agg(w.category ORDER BY w.category), '{}'),
           COALESCE(pg_catalog.array_agg(w.reason ORDER BY w.category), '{}')
      INTO withheld, reasons
      FROM privacy.export_withheld(withhold) w;
    canonical := privacy.subject_canonical(subject, kind);
    pseud := privacy.subject_pseudonym(canonical, kind);
    plan := privacy.cancel_plan()->kind;
    -- the rows the subject owns, alone or with others, table by table, found
    -- by subject_rows; each read again, whole, as its table's owner, by ctid
    SELECT pg_catalog.array_agg(g.relid ORDER BY g.relid::pg_catalog.regclass::text, g.part),
           pg_catalog.array_agg(g.part ORDER BY g.relid::pg_catalog.regclass::text, g.part),
           pg_catalog.array_agg(g.tids::text ORDER BY g.relid::pg_catalog.regclass::text, g.part)
      INTO relids, parts, tids
      FROM (SELECT s.relid, s.part, pg_catalog.array_agg(s.tid ORDER BY s.tid) AS tids
              FROM privacy.subject_rows(plan, canonical, 'NONE') s
             WHERE s.vals[1]::boolean
             GROUP BY 1, 2) g;
    FOR p IN
        SELECT u.relid, u.part, u.tids, q.statement, q.bytea_cols, q.bytea_cats, q.left_out
          FROM ROWS FROM (pg_catalog.unnest(relids), pg_catalog.unnest(parts), pg_catalog.unnest(tids)) WITH ORDINALITY u(relid, part, tids, o)
          JOIN privacy.export_read_sql(parts, relids, withheld) q ON q.part = u.part
         ORDER BY u.o
    LOOP
        n := 0;
        FOR r IN SELECT o.vals FROM privacy.owner_rows(p.part::pg_catalog.regclass, p.statement, ARRAY[p.tids]) o LOOP
            obj := r.vals[1]::jsonb;
            FOR i IN 1 .. pg_catalog.cardinality(p.bytea_cols) LOOP
                obj := obj || pg_catalog.jsonb_build_object(p.bytea_cols[i],
                           privacy.export_value(r.vals[i + 1], true, p.bytea_cats[i], canonical, kind));
            END LOOP;
            relation := p.relid::pg_catalog.regclass;
            data := obj;
            RETURN NEXT;
            n := n + 1;
        END LOOP;
        -- per category left out: its columns, and how many values were not handed out
        FOR e IN SELECT x.key, x.value FROM pg_catalog.jsonb_each(p.left_out) x LOOP
            left_out := left_out || pg_catalog.jsonb_build_object(e.key, pg_catalog.jsonb_build_object(
                'columns', COALESCE(left_out->e.key->'columns', '[]'::jsonb)
                           || COALESCE((SELECT pg_catalog.jsonb_agg(p.relid::pg_catalog.regclass::text || '.' || pg_catalog.quote_ident(c) ORDER BY c)
                                          FROM pg_catalog.jsonb_array_elements_text(e.value) c
                                         WHERE NOT COALESCE(left_out->e.key->'columns', '[]'::jsonb)
                                                   ? (p.relid::pg_catalog.regclass::text || '.' || pg_catalog.quote_ident(c))), '[]'::jsonb),
                'values', COALESCE((left_out->e.key->>'values')::bigint, 0) + n * pg_catalog.jsonb_array_length(e.value)));
        END LOOP;
        total := total + n;
        tables := tables + 1;
    END LOOP;

    -- the consent history and the subject's requests
    RETURN QUERY
        SELECT 'privacy.consent_event'::pg_catalog.regclass,
               pg_catalog.jsonb_build_object('purpose', ev.purpose, 'granted', ev.granted, 'at', ev.at,
                                             'policy_version', ev.policy_version, 'by_guardian', ev.by_guardian,
                                             'evidence', ev.evidence)
          FROM privacy.consent_event ev
         WHERE ev.subject = canonical AND ev.subject_kind = export_subject_rows.kind
         ORDER BY ev.seq;
    -- the consents the subject gave as a guardian, for another subject
    -- (for_subject, for_kind tell them from its own)
    RETURN QUERY
        SELECT 'privacy.consent_event'::pg_catalog.regclass,
               pg_catalog.jsonb_build_object('purpose', ev.purpose, 'granted', ev.granted, 'at', ev.at,
                                             'policy_version', ev.policy_version, 'evidence', ev.evidence,
                                             'for_subject', ev.subject, 'for_kind', ev.subject_kind)
          FROM privacy.consent_event ev
         WHERE ev.guardian = canonical AND ev.guardian_kind = export_subject_rows.kind
         ORDER BY ev.seq;
    RETURN QUERY
        SELECT 'privacy.request'::pg_catalog.regclass,
               pg_catalog.jsonb_build_object('id', rq.id, 'kind', rq.kind, 'received_at', rq.received_at,
                                             'due_at', rq.due_at, 'status', rq.status)
          FROM privacy.request rq
         WHERE rq.subject_id = pseud
         ORDER BY rq.id;
    -- what was left out, and why: one row per category
    RETURN QUERY
        SELECT 'privacy.category'::pg_catalog.regclass,
               pg_catalog.jsonb_build_object('category', x.key, 'reason', w.reason,
                                             'columns', x.value->'columns', 'values', x.value->'values')
          FROM pg_catalog.jsonb_each(left_out) x
          JOIN ROWS FROM (pg_catalog.unnest(withheld), pg_catalog.unnest(reasons)) w(category, reason) ON w.category = x.key
         ORDER BY x.key;

    PERFORM privacy.audit_append('export', pg_catalog.format('subject %s', pseud),
        pg_catalog.jsonb_build_object('tables', tables, 'rows', total)
        || CASE WHEN left_out <> '{}'::jsonb
                THEN pg_catalog.jsonb_build_object('left_out', (SELECT pg_catalog.jsonb_agg(k ORDER BY k) FROM pg_catalog.jsonb_object_keys(left_out) k))
                ELSE '{}'::jsonb END
        || CASE WHEN kind <> 'person' THEN pg_catalog.jsonb_build_object('kind', kind) ELSE '{}'::jsonb END);
END
$$;
COMMENT ON FUNCTION privacy.export_subject_rows(text, text, text[]) IS
    'everything held about the subject of a kind: every row it owns, alone or with others, one row per table row (each column with its value and category; bytea as base64; the subject''s ciphertexts decrypted; a column of a category left out marked so, not read), read as each table''s owner, then its consent history, the consents it gave as a guardian (privacy.consent_event rows with for_subject and for_kind), its requests, and one privacy.category row per category left out (reason, columns, values); withhold: the categories to leave out instead of those whose exported is false; for subjects with very many rows';
-- Reads personal data: granted explicitly.
REVOKE ALL ON FUNCTION privacy.export_subject_rows(text, text, text[]) FROM PUBLIC;

CREATE FUNCTION privacy.export_subject(subject text, kind text DEFAULT 'person', withhold text[] DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- (PL/pgSQL rather than SQL: its plan is kept, where a SQL function's
    -- query is planned again at every call)
    RETURN (
        WITH x AS MATERIALIZED (SELECT r.relation, r.data FROM privacy.export_subject_rows(subject, kind, withhold) r)
        SELECT pg_catalog.jsonb_build_object(
                   'exported_at', pg_catalog.now(),
                   'tables', COALESCE((SELECT pg_catalog.jsonb_object_agg(g.relation, g.rows)
                                         FROM (SELECT x.relation::text AS relation,
                                                      pg_catalog.jsonb_agg(x.data ORDER BY x.data::text) AS rows
                                                 FROM x
                                                WHERE x.relation::text <> ALL (ARRAY['privacy.consent_event', 'privacy.request', 'privacy.category'])
                                                GROUP BY 1) g), '{}'),
                   'consent_history', COALESCE((SELECT pg_catalog.jsonb_agg(x.data) FROM x
                                                 WHERE x.relation = 'privacy.consent_event'::pg_catalog.regclass
                                                   AND NOT x.data ? 'for_subject'), '[]'),
                   'consents_as_guardian', COALESCE((SELECT pg_catalog.jsonb_agg(x.data) FROM x
                                                      WHERE x.relation = 'privacy.consent_event'::pg_catalog.regclass
                                                        AND x.data ? 'for_subject'), '[]'),
                   'requests', COALESCE((SELECT pg_catalog.jsonb_agg(x.data) FROM x
                                          WHERE x.relation = 'privacy.request'::pg_catalog.regclass), '[]'),
                   'left_out', COALESCE((SELECT pg_catalog.jsonb_agg(x.data) FROM x
                                          WHERE x.relation = 'privacy.category'::pg_catalog.regclass), '[]')));
END
$$;
COMMENT ON FUNCTION privacy.export_subject(text, text, text[]) IS
    'everything held about the subject (of a kind) as one jsonb document: rows of every labelled table by table (values with their categories), consent history, the consents it gave as a guardian (consents_as_guardian), requests, and the categories left out with the reason, their columns and how many values (left_out: by default the categories whose exported is false, else those withhold names); audited';
-- As export_subject_rows.
REVOKE ALL ON FUNCTION privacy.export_subject(text, text, text[]) FROM PUBLIC;

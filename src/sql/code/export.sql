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

CREATE FUNCTION privacy.export_subject_rows(subject text, kind text DEFAULT 'person')
    RETURNS TABLE (relation pg_catalog.regclass, data jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    canonical text;
    pseud text;
    plan jsonb;
    p record;
    cols name[];
    bytea_cols boolean[];
    cats text[];
    exprs text[];
    r record;
    obj jsonb;
    total bigint := 0;
    tables integer := 0;
BEGIN
    IF subject IS NULL OR kind IS NULL THEN
        RAISE EXCEPTION 'subject and kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    canonical := privacy.subject_canonical(subject, kind);
    pseud := privacy.subject_pseudonym(canonical, kind);
    plan := privacy.cancel_plan()->kind;
    -- the rows the subject owns, alone or with others, table by table; each
    -- read again, whole, as its table's owner, by row
    FOR p IN
        SELECT s.relid, s.part, pg_catalog.array_agg(s.tid::text ORDER BY s.tid) AS tids
          FROM privacy.subject_rows(plan, canonical, 'NONE') s
         WHERE s.vals[1]::boolean
         GROUP BY 1, 2
         ORDER BY s.relid::pg_catalog.regclass::text, s.part
    LOOP
        SELECT pg_catalog.array_agg(a.attname ORDER BY a.attnum),
               pg_catalog.array_agg(privacy.base_type(a.atttypid) = 'pg_catalog.bytea'::pg_catalog.regtype ORDER BY a.attnum),
               pg_catalog.array_agg(l.category ORDER BY a.attnum)
          INTO cols, bytea_cols, cats
          FROM pg_catalog.pg_attribute a
          LEFT JOIN privacy.labels l ON l.relation = p.relid::pg_catalog.regclass AND l.column_name = a.attname
         WHERE a.attrelid = p.relid AND a.attnum > 0 AND NOT a.attisdropped;
        exprs := ARRAY(SELECT CASE WHEN u.b THEN pg_catalog.format('pg_catalog.encode(t.%I, ''base64'')', u.c)
                                   ELSE pg_catalog.format('pg_catalog.to_jsonb(t.%I)::pg_catalog.text', u.c) END
                         FROM ROWS FROM (pg_catalog.unnest(cols), pg_catalog.unnest(bytea_cols)) WITH ORDINALITY u(c, b, o)
                        ORDER BY u.o);
        FOR r IN SELECT o.vals FROM privacy.owner_rows(p.part::pg_catalog.regclass,
                     pg_catalog.format('SELECT t.tableoid, t.ctid, %s FROM ONLY %s t WHERE t.ctid = ANY (($1[1])::pg_catalog.tid[])',
                                       pg_catalog.array_to_string(exprs, ', '), p.part::pg_catalog.regclass),
                     ARRAY[p.tids::text]) o LOOP
            obj := '{}'::jsonb;
            FOR i IN 1 .. pg_catalog.cardinality(cols) LOOP
                obj := obj || pg_catalog.jsonb_build_object(cols[i],
                           privacy.export_value(r.vals[i], bytea_cols[i], cats[i], canonical, kind));
            END LOOP;
            relation := p.relid::pg_catalog.regclass;
            data := obj;
            RETURN NEXT;
            total := total + 1;
        END LOOP;
        tables := tables + 1;
    END LOOP;

    -- the consent history and the subject's requests
    RETURN QUERY
        SELECT 'privacy.consent_event'::pg_catalog.regclass,
               pg_catalog.jsonb_build_object('purpose', e.purpose, 'granted', e.granted, 'at', e.at,
                                             'policy_version', e.policy_version, 'by_guardian', e.by_guardian,
                                             'evidence', e.evidence)
          FROM privacy.consent_event e
         WHERE e.subject = canonical AND e.subject_kind = export_subject_rows.kind
         ORDER BY e.seq;
    RETURN QUERY
        SELECT 'privacy.request'::pg_catalog.regclass,
               pg_catalog.jsonb_build_object('id', q.id, 'kind', q.kind, 'received_at', q.received_at,
                                             'due_at', q.due_at, 'status', q.status)
          FROM privacy.request q
         WHERE q.subject_id = pseud
         ORDER BY q.id;

    PERFORM privacy.audit_append('export', pg_catalog.format('subject %s', pseud),
        pg_catalog.jsonb_build_object('tables', tables, 'rows', total)
        || CASE WHEN kind <> 'person' THEN pg_catalog.jsonb_build_object('kind', kind) ELSE '{}'::jsonb END);
END
$$;
COMMENT ON FUNCTION privacy.export_subject_rows(text, text) IS
    'everything held about the subject of a kind: every row it owns, alone or with others, one row per table row (each column with its value and category; bytea as base64; the subject''s ciphertexts decrypted), read as each table''s owner, then its consent history and requests; for subjects with very many rows';
-- Reads personal data: granted explicitly.
REVOKE ALL ON FUNCTION privacy.export_subject_rows(text, text) FROM PUBLIC;

CREATE FUNCTION privacy.export_subject(subject text, kind text DEFAULT 'person') RETURNS jsonb
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        WITH x AS MATERIALIZED (SELECT r.relation, r.data FROM privacy.export_subject_rows(subject, kind) r)
        SELECT pg_catalog.jsonb_build_object(
                   'exported_at', pg_catalog.now(),
                   'tables', COALESCE((SELECT pg_catalog.jsonb_object_agg(g.relation, g.rows)
                                         FROM (SELECT x.relation::text AS relation,
                                                      pg_catalog.jsonb_agg(x.data ORDER BY x.data::text) AS rows
                                                 FROM x
                                                WHERE x.relation::text <> ALL (ARRAY['privacy.consent_event', 'privacy.request'])
                                                GROUP BY 1) g), '{}'),
                   'consent_history', COALESCE((SELECT pg_catalog.jsonb_agg(x.data) FROM x
                                                 WHERE x.relation = 'privacy.consent_event'::pg_catalog.regclass), '[]'),
                   'requests', COALESCE((SELECT pg_catalog.jsonb_agg(x.data) FROM x
                                          WHERE x.relation = 'privacy.request'::pg_catalog.regclass), '[]'))
    $$;
COMMENT ON FUNCTION privacy.export_subject(text, text) IS
    'everything held about the subject (of a kind) as one jsonb document: rows of every labelled table by table (values with their categories), consent history and requests; audited';
-- As export_subject_rows.
REVOKE ALL ON FUNCTION privacy.export_subject(text, text) FROM PUBLIC;

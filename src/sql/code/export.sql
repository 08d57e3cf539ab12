-- src/sql/code/export.sql: export: a subject's data for the rights of access and copy

-- Export (right of access and copy)
CREATE FUNCTION privacy.export_value(value anyelement, category text, subject text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    b bytea;
BEGIN
    IF value IS NOT NULL AND pg_catalog.pg_typeof(value) = 'pg_catalog.bytea'::regtype THEN
        b := value::text::bytea;
        IF pg_catalog.length(b) > 0 AND pg_catalog.get_byte(b, 0) = 3 THEN
            -- the subject's own ciphertext: the copy holds the plain value
            BEGIN
                RETURN pg_catalog.jsonb_build_object('category', category, 'value', privacy.subject_decrypt(subject, b),
                                                     'decrypted', true);
            EXCEPTION WHEN OTHERS THEN
                NULL;
            END;
            BEGIN
                RETURN pg_catalog.jsonb_build_object('category', category,
                                                     'value', pg_catalog.encode(privacy.subject_decrypt_bytea(subject, b), 'base64'),
                                                     'encoding', 'base64', 'decrypted', true);
            EXCEPTION WHEN OTHERS THEN
                NULL;
            END;
        END IF;
        RETURN pg_catalog.jsonb_build_object('category', category, 'value', pg_catalog.encode(b, 'base64'), 'encoding', 'base64');
    END IF;
    RETURN pg_catalog.jsonb_build_object('category', category, 'value', pg_catalog.to_jsonb(value));
END
$$;
COMMENT ON FUNCTION privacy.export_value(anyelement, text, text) IS
    'internal: one exported value with its category; bytea as base64, the subject''s own ciphertexts decrypted';
REVOKE ALL ON FUNCTION privacy.export_value(anyelement, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.export_subject_rows(subject text)
    RETURNS TABLE (relation pg_catalog.regclass, data jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t record;
    w record;
    conds text[];
    cond text;
    cols text[];
    objs text[];
    col record;
    n bigint;
    total bigint := 0;
    tables integer := 0;
    pseud text;
BEGIN
    IF subject IS NULL THEN
        RAISE EXCEPTION 'subject must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    pseud := privacy.subject_pseudonym(subject);
    FOR t IN
        SELECT DISTINCT s.relid FROM privacy.subject_walk() s
         WHERE privacy.cancel_action(s.relid::regclass) IS NOT NULL
         ORDER BY 1
    LOOP
        conds := ARRAY[]::text[];
        FOR w IN SELECT s.root, s.hops, s.path FROM privacy.subject_walk() s WHERE s.relid = t.relid LOOP
            cond := privacy.subject_condition(w.root, CASE WHEN w.hops = 0 THEN 't' ELSE 'a' || w.hops END,
                                              subject, '$1', false);
            IF cond IS NOT NULL THEN
                conds := conds || privacy.path_condition(w.path, cond);
            END IF;
        END LOOP;
        CONTINUE WHEN pg_catalog.cardinality(conds) = 0;
        -- every column, annotated with its category; 40 to a jsonb_build_object
        cols := ARRAY[]::text[];
        objs := ARRAY[]::text[];
        FOR col IN
            SELECT a.attname, l.category
              FROM pg_catalog.pg_attribute a
              LEFT JOIN privacy.labels l
                ON l.relation = t.relid::pg_catalog.regclass AND l.column_name = a.attname
             WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum
        LOOP
            cols := cols || pg_catalog.format('%L, privacy.export_value(t.%I, %L, $1)', col.attname, col.attname, col.category);
            IF pg_catalog.cardinality(cols) = 40 THEN
                objs := objs || pg_catalog.format('pg_catalog.jsonb_build_object(%s)', pg_catalog.array_to_string(cols, ', '));
                cols := ARRAY[]::text[];
            END IF;
        END LOOP;
        IF pg_catalog.cardinality(cols) > 0 THEN
            objs := objs || pg_catalog.format('pg_catalog.jsonb_build_object(%s)', pg_catalog.array_to_string(cols, ', '));
        END IF;
        RETURN QUERY EXECUTE pg_catalog.format('SELECT %L::pg_catalog.regclass, %s FROM %s t WHERE %s',
                                               t.relid::pg_catalog.regclass,
                                               pg_catalog.array_to_string(objs, ' OPERATOR(pg_catalog.||) '),
                                               t.relid::pg_catalog.regclass,
                                               pg_catalog.array_to_string(conds, ' OR '))
                     USING subject;
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        IF n > 0 THEN
            tables := tables + 1;
        END IF;
    END LOOP;

    -- the consent history and the subject's requests
    RETURN QUERY
        SELECT 'privacy.consent_event'::pg_catalog.regclass,
               pg_catalog.jsonb_build_object('purpose', e.purpose, 'granted', e.granted, 'at', e.at,
                                             'policy_version', e.policy_version, 'by_guardian', e.by_guardian,
                                             'evidence', e.evidence)
          FROM privacy.consent_event e
         WHERE e.subject = export_subject_rows.subject
         ORDER BY e.seq;
    RETURN QUERY
        SELECT 'privacy.request'::pg_catalog.regclass,
               pg_catalog.jsonb_build_object('id', q.id, 'kind', q.kind, 'received_at', q.received_at,
                                             'due_at', q.due_at, 'status', q.status)
          FROM privacy.request q
         WHERE q.subject_id = pseud
         ORDER BY q.id;

    PERFORM privacy.audit_append('export', pg_catalog.format('subject %s', pseud),
        pg_catalog.jsonb_build_object('tables', tables, 'rows', total));
END
$$;
COMMENT ON FUNCTION privacy.export_subject_rows(text) IS
    'everything held about the subject, one row per table row (each column with its value and category; bytea as base64; the subject''s ciphertexts decrypted), then its consent history and requests; for subjects with very many rows';
-- Reads personal data: granted explicitly.
REVOKE ALL ON FUNCTION privacy.export_subject_rows(text) FROM PUBLIC;

CREATE FUNCTION privacy.export_subject(subject text) RETURNS jsonb
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        WITH x AS MATERIALIZED (SELECT r.relation, r.data FROM privacy.export_subject_rows(subject) r)
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
COMMENT ON FUNCTION privacy.export_subject(text) IS
    'everything held about the subject as one jsonb document: rows of every labelled table by table (values with their categories), consent history and requests; audited';
-- As export_subject_rows.
REVOKE ALL ON FUNCTION privacy.export_subject(text) FROM PUBLIC;

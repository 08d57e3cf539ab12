-- src/sql/code/tombstones.sql: tombstones: the journal outside the database, the trigger that guards subject tables, the replay after a restore

CREATE FUNCTION privacy.journal_tombstone(subject_id text, cancelled_at timestamptz) RETURNS void
    AS 'MODULE_PATHNAME', 'privacy_journal_tombstone'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.journal_tombstone(text, timestamptz) IS
    'internal: append a cancellation tombstone to the journal (cancelled.journal in privacy.subject_key_dir) when the transaction commits';
-- Writes outside the database: the extension's own functions only.
REVOKE ALL ON FUNCTION privacy.journal_tombstone(text, timestamptz) FROM PUBLIC;

CREATE FUNCTION privacy.tombstone_journal(OUT subject_id text, OUT cancelled_at timestamptz)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'privacy_tombstone_journal'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.tombstone_journal() IS
    'the cancellation tombstones of the journal outside the database (cancelled.journal in privacy.subject_key_dir), in the order written; a malformed line is skipped with a WARNING';
-- Pseudonyms of cancelled subjects: administrators and the DPO, granted explicitly.
REVOKE ALL ON FUNCTION privacy.tombstone_journal() FROM PUBLIC;

CREATE FUNCTION privacy.refuse_cancelled() RETURNS trigger
    AS 'MODULE_PATHNAME', 'privacy_refuse_cancelled'
    LANGUAGE C;
COMMENT ON FUNCTION privacy.refuse_cancelled() IS
    'trigger (BEFORE INSERT OR UPDATE OF the SUBJECT columns, kept by privacy.sync_subject_guard): refuses a row whose subject has a cancellation tombstone';
-- PUBLIC keeps EXECUTE: a table owner who adds a partition clones the
-- trigger, which needs it.  Called other than as such a trigger it only fails.

-- give a table the trigger privacy_cancelled_subject on its SUBJECT columns,
-- change it when they change, drop it when it has none
CREATE FUNCTION privacy.sync_subject_guard(rel pg_catalog.regclass) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    want smallint[];
    have smallint[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                    WHERE c.oid = rel
                      AND c.relkind = ANY (ARRAY['r', 'p']::"char"[])
                      AND NOT c.relispartition) THEN
        RETURN;
    END IF;
    SELECT pg_catalog.array_agg(s.objsubid::smallint ORDER BY s.objsubid) INTO want
      FROM pg_catalog.pg_seclabel s
     CROSS JOIN LATERAL privacy.parse_label(s.label, false) p
     WHERE s.provider = 'privacy'
       AND s.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND s.objoid = rel AND s.objsubid > 0 AND p.subject;
    SELECT (SELECT pg_catalog.array_agg(x ORDER BY x) FROM pg_catalog.unnest(t.tgattr::smallint[]) x) INTO have
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid = rel AND t.tgname = 'privacy_cancelled_subject'
       AND NOT t.tgisinternal AND t.tgparentid = 0;
    IF want IS NOT DISTINCT FROM have THEN
        RETURN;
    END IF;
    IF have IS NOT NULL THEN
        EXECUTE pg_catalog.format('DROP TRIGGER privacy_cancelled_subject ON %s', rel);
    END IF;
    IF want IS NOT NULL THEN
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER privacy_cancelled_subject BEFORE INSERT OR UPDATE OF %s ON %s FOR EACH ROW EXECUTE FUNCTION privacy.refuse_cancelled()',
            (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
               FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = rel AND a.attnum = ANY (want)),
            rel);
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.sync_subject_guard(pg_catalog.regclass) IS
    'internal: keep the trigger privacy_cancelled_subject (privacy.refuse_cancelled) on a table''s SUBJECT columns';
REVOKE ALL ON FUNCTION privacy.sync_subject_guard(pg_catalog.regclass) FROM PUBLIC;

CREATE FUNCTION privacy.subject_guard_ddl() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cmd record;
BEGIN
    -- a restore brings the triggers back as they were dumped
    IF privacy.restoring() THEN
        RETURN;
    END IF;
    FOR cmd IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP
        IF cmd.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND cmd.command_tag = 'SECURITY LABEL' THEN
            PERFORM privacy.sync_subject_guard(cmd.objid::pg_catalog.regclass);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.subject_guard_ddl() IS
    'event trigger: a SECURITY LABEL on a table or column keeps the table''s trigger privacy_cancelled_subject in step with its SUBJECT columns (not during a restore, which brings it back as dumped)';
CREATE EVENT TRIGGER privacy_subject_guard ON ddl_command_end
    WHEN TAG IN ('SECURITY LABEL')
    EXECUTE FUNCTION privacy.subject_guard_ddl();

-- After restoring an older backup: erase again the subjects cancelled since.
CREATE FUNCTION privacy.replay_cancellations()
    RETURNS TABLE (subject_id text, relation pg_catalog.regclass, action text, rows bigint, detail text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    j_ids text[];
    j_ats timestamptz[];
    n_restored bigint;
    n_written bigint := 0;
    n_tombstones bigint;
    subjects text[] := '{}'::text[];
    found text[];
    l record;
    subj text;
    pseud text;
    req bigint;
BEGIN
    -- 1. the journal's tombstones that the database lacks: it was restored
    --    from before their cancellations
    SELECT COALESCE(pg_catalog.array_agg(j.subject_id ORDER BY j.subject_id), '{}'),
           COALESCE(pg_catalog.array_agg(j.cancelled_at ORDER BY j.subject_id), '{}')
      INTO j_ids, j_ats
      FROM (SELECT DISTINCT ON (t.subject_id) t.subject_id, t.cancelled_at
              FROM privacy.tombstone_journal() t ORDER BY t.subject_id, t.cancelled_at) j;
    INSERT INTO privacy.cancelled_subject AS c (subject_id, cancelled_at)
    SELECT u.i, u.a FROM ROWS FROM (pg_catalog.unnest(j_ids), pg_catalog.unnest(j_ats)) AS u(i, a)
    ON CONFLICT ON CONSTRAINT cancelled_subject_pkey DO NOTHING;
    GET DIAGNOSTICS n_restored = ROW_COUNT;
    -- 2. the database's tombstones that the journal lacks (a crash between a
    --    commit and its append, or a journal started afresh)
    FOR l IN SELECT c.subject_id, c.cancelled_at FROM privacy.cancelled_subject c
              WHERE NOT c.subject_id = ANY (j_ids) LOOP
        PERFORM privacy.journal_tombstone(l.subject_id, l.cancelled_at);
        n_written := n_written + 1;
    END LOOP;
    SELECT pg_catalog.count(*) INTO n_tombstones FROM privacy.cancelled_subject;

    -- 3. every table with a SUBJECT column refuses cancelled subjects
    FOR l IN SELECT DISTINCT x.relation FROM privacy.labels x WHERE x.subject AND x.column_name IS NOT NULL LOOP
        PERFORM privacy.sync_subject_guard(l.relation);
    END LOOP;

    -- 4. the cancelled subjects that are back: in a SUBJECT column (by its
    --    output function, as the trigger sees it, never a cast an owner may
    --    have written) or in the consent records, but not those whose rows
    --    are kept until retention
    FOR l IN SELECT x.relation, x.column_name FROM privacy.labels x
               JOIN pg_catalog.pg_class k ON k.oid = x.relation
              WHERE x.subject AND x.column_name IS NOT NULL AND NOT k.relispartition
              ORDER BY x.relation::text, x.column_name LOOP
        EXECUTE pg_catalog.format(
            'SELECT pg_catalog.array_agg(DISTINCT s.v) FROM (SELECT pg_catalog.format(''%%s'', t.%I) AS v FROM %s t WHERE t.%I IS NOT NULL) s'
            ' JOIN privacy.cancelled_subject c ON c.subject_id = privacy.subject_pseudonym(s.v)',
            l.column_name, l.relation, l.column_name)
        INTO found;
        subjects := subjects || COALESCE(found, '{}');
    END LOOP;
    SELECT pg_catalog.array_agg(DISTINCT s.v) INTO found
      FROM (SELECT e.subject AS v FROM privacy.consent_event e WHERE e.subject NOT LIKE 'cancelled:%'
            UNION SELECT c.subject FROM privacy.consent c
            UNION SELECT m.subject FROM privacy.subject_minor m
            UNION SELECT q.subject FROM privacy.request q
                   WHERE q.status = 'open' AND q.subject IS NOT NULL) s
      JOIN privacy.cancelled_subject c ON c.subject_id = privacy.subject_pseudonym(s.v);
    subjects := subjects || COALESCE(found, '{}');
    -- rows kept until retention by a cancellation of this database's history
    -- are meant to be there
    subjects := ARRAY(SELECT u FROM pg_catalog.unnest(subjects) u
                       WHERE NOT EXISTS (SELECT 1 FROM privacy.restricted_subject r
                                          WHERE r.subject = u));

    -- 5. erase each of them again, closing the open cancellation request the
    --    backup still had, if any
    FOR subj IN SELECT DISTINCT u FROM pg_catalog.unnest(subjects) u ORDER BY 1 LOOP
        pseud := privacy.subject_pseudonym(subj);
        SELECT q.id INTO req FROM privacy.request q
         WHERE q.subject_id = pseud AND q.kind = 'cancellation'
           AND q.status = 'open';
        RETURN QUERY SELECT pseud, w.relation, w.action, w.rows, w.detail
                       FROM privacy.cancel_work(subj, false, req, true) w;
    END LOOP;

    PERFORM privacy.audit_append('replay', 'cancellations',
        pg_catalog.jsonb_build_object('tombstones', n_tombstones, 'restored_from_journal', n_restored,
                                      'written_to_journal', n_written,
                                      'subjects_erased', (SELECT pg_catalog.count(DISTINCT u) FROM pg_catalog.unnest(subjects) u)));
    RAISE NOTICE 'replayed cancellations: % tombstones, % restored from the journal, % written to it, % subjects erased again',
        n_tombstones, n_restored, n_written, (SELECT pg_catalog.count(DISTINCT u) FROM pg_catalog.unnest(subjects) u);
END
$$;
COMMENT ON FUNCTION privacy.replay_cancellations() IS
    'after restoring an older backup: bring back the tombstones of later cancellations from the journal outside the database, and cancel again every cancelled subject found in a labelled table or the consent records; one row per table changed, as cancel_subject';
-- Destroys data: administrators, granted explicitly.
REVOKE ALL ON FUNCTION privacy.replay_cancellations() FROM PUBLIC;

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

-- give a table the trigger privacy_cancelled_subject on its SUBJECT columns
-- (its own labels, or an inheritance parent's), change it when they change,
-- drop it when it has none; and the same for its inheritance children (a
-- partition has a clone of its parent's).  A generated SUBJECT column is NULL
-- in a BEFORE trigger: a table that has one gets an AFTER trigger, its
-- columns named in the trigger's arguments.
CREATE FUNCTION privacy.sync_subject_guard(rel pg_catalog.regclass) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    want name[];
    generated boolean;
    want_def text;
    have_def text;
    child oid;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                    WHERE c.oid = rel
                      AND c.relkind = ANY (ARRAY['r', 'p']::"char"[])
                      AND NOT c.relispartition) THEN
        RETURN;
    END IF;
    -- Citus refuses triggers on its tables, and a shell table's trigger
    -- would never fire: each shard placement on a worker takes the trigger
    -- instead, when its labels are set there (privacy.citus_sync_labels),
    -- and reads the tombstones privacy.citus_setup() mirrors to the worker
    IF privacy.citus_table(rel) THEN
        RETURN;
    END IF;
    -- the SUBJECT columns: the nearest labelled of the table and its inheritance ancestors
    WITH RECURSIVE up(r, d) AS (
        SELECT rel::oid, 0
        UNION ALL
        SELECT i.inhparent, up.d + 1 FROM pg_catalog.pg_inherits i JOIN up ON i.inhrelid = up.r WHERE up.d < 64),
    labelled AS (
        SELECT up.d, a.attname
          FROM up
          JOIN pg_catalog.pg_seclabel s ON s.objoid = up.r AND s.objsubid > 0
           AND s.provider = 'privacy' AND s.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
          JOIN pg_catalog.pg_attribute a ON a.attrelid = up.r AND a.attnum = s.objsubid
         CROSS JOIN LATERAL privacy.parse_label(s.label, false) p
         WHERE p.subject)
    SELECT pg_catalog.array_agg(l.attname ORDER BY l.attname) INTO want
      FROM labelled l WHERE l.d = (SELECT pg_catalog.min(x.d) FROM labelled x);
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = rel AND a.attname = ANY (want) AND a.attgenerated <> '')
      INTO generated;
    IF want IS NOT NULL THEN
        want_def := CASE WHEN generated
            THEN pg_catalog.format('CREATE TRIGGER privacy_cancelled_subject AFTER INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION privacy.refuse_cancelled(%s)',
                                   rel, (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(x), ', ') FROM pg_catalog.unnest(want) x))
            ELSE pg_catalog.format('CREATE TRIGGER privacy_cancelled_subject BEFORE INSERT OR UPDATE OF %s ON %s FOR EACH ROW EXECUTE FUNCTION privacy.refuse_cancelled()',
                                   (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
                                      FROM pg_catalog.pg_attribute a
                                     WHERE a.attrelid = rel AND a.attname = ANY (want) AND NOT a.attisdropped),
                                   rel) END;
    END IF;
    SELECT pg_catalog.pg_get_triggerdef(t.oid) INTO have_def
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid = rel AND t.tgname = 'privacy_cancelled_subject'
       AND NOT t.tgisinternal AND t.tgparentid = 0;
    IF want_def IS DISTINCT FROM have_def THEN
        IF have_def IS NOT NULL THEN
            EXECUTE pg_catalog.format('DROP TRIGGER privacy_cancelled_subject ON %s', rel);
        END IF;
        IF want_def IS NOT NULL THEN
            EXECUTE want_def;
        END IF;
    END IF;
    FOR child IN SELECT i.inhrelid FROM pg_catalog.pg_inherits i
                   JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid AND NOT c.relispartition
                  WHERE i.inhparent = rel ORDER BY 1 LOOP
        PERFORM privacy.sync_subject_guard(child::pg_catalog.regclass);
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.sync_subject_guard(pg_catalog.regclass) IS
    'internal: keep the trigger privacy_cancelled_subject (privacy.refuse_cancelled) on a table''s SUBJECT columns, its own or its inheritance parent''s, and on its inheritance children';
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
        CONTINUE WHEN cmd.classid <> 'pg_catalog.pg_class'::pg_catalog.regclass OR cmd.objsubid <> 0 AND cmd.command_tag <> 'SECURITY LABEL';
        IF cmd.command_tag = 'SECURITY LABEL'
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i
                        JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid AND NOT c.relispartition
                       WHERE i.inhrelid = cmd.objid) THEN
            -- a label changed, or a table inherits (CREATE TABLE ... INHERITS, ALTER TABLE ... INHERIT)
            PERFORM privacy.sync_subject_guard(cmd.objid::pg_catalog.regclass);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.subject_guard_ddl() IS
    'event trigger: a SECURITY LABEL, or a table that inherits another, keeps the trigger privacy_cancelled_subject in step with the SUBJECT columns (not during a restore, which brings it back as dumped)';
CREATE EVENT TRIGGER privacy_subject_guard ON ddl_command_end
    WHEN TAG IN ('SECURITY LABEL', 'CREATE TABLE', 'ALTER TABLE')
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
    subjects jsonb := '[]'::jsonb;
    l record;
    s record;
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

    -- 4. the cancelled subjects that are back: in a SUBJECT column (read as
    --    the table's owner, each value in the canonical form of its kind, as
    --    the trigger sees it) or in the consent records, but not those whose
    --    rows were kept (until retention, as stubs, under a hold)
    FOR l IN SELECT x.relation, x.column_name, x.subject_kind, a.atttypid::pg_catalog.regtype AS typ
               FROM privacy.labels x
               JOIN pg_catalog.pg_class k ON k.oid = x.relation
               JOIN pg_catalog.pg_attribute a ON a.attrelid = x.relation AND a.attname = x.column_name
              WHERE x.subject AND x.column_name IS NOT NULL AND NOT k.relispartition
              ORDER BY x.relation::text, x.column_name LOOP
        FOR s IN
            SELECT DISTINCT o.vals[1] AS canonical
              FROM privacy.owner_rows(l.relation,
                       pg_catalog.format('SELECT DISTINCT 0::pg_catalog.oid, ''(0,0)''::pg_catalog.tid, privacy.family_canonical(t.%I::pg_catalog.text, %L::pg_catalog.regtype) FROM %s t WHERE t.%I IS NOT NULL',
                                         l.column_name, l.typ, l.relation, l.column_name), '{}'::text[]) o
        LOOP
            IF EXISTS (SELECT 1 FROM privacy.cancelled_subject c
                        WHERE c.subject_id = privacy.subject_pseudonym(s.canonical, l.subject_kind)) THEN
                subjects := subjects || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(l.subject_kind, s.canonical));
            END IF;
        END LOOP;
    END LOOP;
    FOR s IN SELECT DISTINCT x.k, x.v
               FROM (SELECT e.subject_kind AS k, e.subject AS v FROM privacy.consent_event e WHERE e.subject NOT LIKE 'cancelled:%'
                     UNION SELECT e.guardian_kind, e.guardian FROM privacy.consent_event e WHERE e.guardian NOT LIKE 'cancelled:%'
                     UNION SELECT c.subject_kind, c.subject FROM privacy.consent c
                     UNION SELECT m.subject_kind, m.subject FROM privacy.subject_minor m
                     UNION SELECT q.subject_kind, q.subject FROM privacy.request q
                            WHERE q.status = 'open' AND q.subject IS NOT NULL) x
              WHERE EXISTS (SELECT 1 FROM privacy.cancelled_subject c
                             WHERE c.subject_id = privacy.subject_pseudonym(x.v, x.k)) LOOP
        subjects := subjects || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(s.k, privacy.subject_canonical(s.v, s.k)));
    END LOOP;
    -- rows kept by a cancellation of this database's history are meant to be there
    subjects := COALESCE((SELECT pg_catalog.jsonb_agg(DISTINCT u.x) FROM pg_catalog.jsonb_array_elements(subjects) u(x)
                           WHERE NOT EXISTS (SELECT 1 FROM privacy.restricted_subject r
                                              WHERE r.subject_kind = u.x->>0 AND r.subject = u.x->>1)), '[]'::jsonb);

    -- 5. erase each of them again, closing the open cancellation request the
    --    backup still had, if any
    FOR s IN SELECT u.x->>0 AS k, u.x->>1 AS v FROM pg_catalog.jsonb_array_elements(subjects) u(x) ORDER BY 1, 2 LOOP
        pseud := privacy.subject_pseudonym(s.v, s.k);
        SELECT q.id INTO req FROM privacy.request q
         WHERE q.subject_id = pseud AND q.kind = 'cancellation' AND q.status = 'open';
        RETURN QUERY SELECT pseud, w.relation, w.action, w.rows, w.detail
                       FROM privacy.cancel_work(s.v, false, req, true, s.k) w;
    END LOOP;

    PERFORM privacy.audit_append('replay', 'cancellations',
        pg_catalog.jsonb_build_object('tombstones', n_tombstones, 'restored_from_journal', n_restored,
                                      'written_to_journal', n_written,
                                      'subjects_erased', pg_catalog.jsonb_array_length(subjects)));
    RAISE NOTICE 'replayed cancellations: % tombstones, % restored from the journal, % written to it, % subjects erased again',
        n_tombstones, n_restored, n_written, pg_catalog.jsonb_array_length(subjects);
END
$$;
COMMENT ON FUNCTION privacy.replay_cancellations() IS
    'after restoring an older backup: bring back the tombstones of later cancellations from the journal outside the database, and cancel again every cancelled subject found in a labelled table or the consent records; one row per table changed, as cancel_subject';
-- Destroys data: administrators, granted explicitly.
REVOKE ALL ON FUNCTION privacy.replay_cancellations() FROM PUBLIC;

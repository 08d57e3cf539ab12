-- src/sql/code/retention.sql: retention: legal holds, retention rules, batches and runs, the preview

CREATE FUNCTION privacy.place_hold(subject text, until timestamptz, reason text, kind text DEFAULT 'person') RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    hid bigint;
    canonical text;
BEGIN
    IF subject IS NULL OR until IS NULL OR reason IS NULL OR kind IS NULL THEN
        RAISE EXCEPTION 'subject, until, reason and kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF until <= pg_catalog.now() THEN
        RAISE EXCEPTION 'a hold must end in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    canonical := privacy.subject_canonical(subject, kind);
    INSERT INTO privacy.hold (subject_kind, subject, until, reason) VALUES (kind, canonical, until, reason)
    RETURNING privacy.hold.id INTO hid;
    PERFORM privacy.audit_append('hold', pg_catalog.format('hold %s', hid),
        pg_catalog.jsonb_build_object('operation', 'place', 'subject', privacy.subject_pseudonym(canonical, kind),
                                      'until', until, 'reason', reason)
        || CASE WHEN kind <> 'person' THEN pg_catalog.jsonb_build_object('kind', kind) ELSE '{}'::jsonb END);
    RETURN hid;
END
$$;
COMMENT ON FUNCTION privacy.place_hold(text, timestamptz, text, text) IS
    'place a legal hold on a subject of a kind (its rows in every table, through owning foreign keys too): retention and end-of-service anonymization leave them and its cancellation is refused until the hold ends; returns its id';
-- Administrators: granted explicitly.
REVOKE ALL ON FUNCTION privacy.place_hold(text, timestamptz, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.place_hold(rel pg_catalog.regclass, until timestamptz, reason text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    hid bigint;
    root pg_catalog.regclass;
BEGIN
    IF rel IS NULL OR until IS NULL OR reason IS NULL THEN
        RAISE EXCEPTION 'table, until and reason must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF until <= pg_catalog.now() THEN
        RAISE EXCEPTION 'a hold must end in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    root := COALESCE(pg_catalog.pg_partition_root(rel), rel);
    INSERT INTO privacy.hold (table_schema, table_name, until, reason)
    SELECT n.nspname, c.relname, until, reason
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = root
    RETURNING privacy.hold.id INTO hid;
    PERFORM privacy.audit_append('hold', pg_catalog.format('hold %s', hid),
        pg_catalog.jsonb_build_object('operation', 'place', 'table', root::text, 'until', until, 'reason', reason));
    RETURN hid;
END
$$;
COMMENT ON FUNCTION privacy.place_hold(pg_catalog.regclass, timestamptz, text) IS
    'place a legal hold on a whole table (a partition: its partitioned table): retention leaves it until the hold ends; returns its id';
REVOKE ALL ON FUNCTION privacy.place_hold(pg_catalog.regclass, timestamptz, text) FROM PUBLIC;

CREATE FUNCTION privacy.release_hold(hold_id bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    h privacy.hold;
BEGIN
    IF hold_id IS NULL THEN
        RAISE EXCEPTION 'hold id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO h FROM privacy.hold x WHERE x.id = hold_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'hold % does not exist', hold_id USING ERRCODE = 'undefined_object';
    END IF;
    IF h.released_at IS NOT NULL THEN
        RAISE EXCEPTION 'hold % is already released', hold_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE privacy.hold x SET released_at = pg_catalog.now() WHERE x.id = hold_id;
    PERFORM privacy.audit_append('hold', pg_catalog.format('hold %s', hold_id),
        pg_catalog.jsonb_build_object('operation', 'release'));
END
$$;
COMMENT ON FUNCTION privacy.release_hold(bigint) IS 'end a legal hold before its time';
REVOKE ALL ON FUNCTION privacy.release_hold(bigint) FROM PUBLIC;

-- refuses unless the role that called (SET ROLE's, else the session's: inside a
-- SECURITY DEFINER function) is the table's owner or one of its members
CREATE FUNCTION privacy.require_table_owner(rel pg_catalog.regclass) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT pg_catalog.pg_has_role(CASE pg_catalog.current_setting('role') WHEN 'none' THEN SESSION_USER
                                       ELSE pg_catalog.current_setting('role')::name END,
                                  (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = rel),
                                  'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', rel USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.require_table_owner(pg_catalog.regclass) IS
    'raises 42501 unless the calling role (SET ROLE''s, else the session''s) owns the table or is a member of its owner (internal, for SECURITY DEFINER functions)';
-- Internal: called by the extension's functions.
REVOKE ALL ON FUNCTION privacy.require_table_owner(pg_catalog.regclass) FROM PUBLIC;

CREATE FUNCTION privacy.enable_category_retention(rel pg_catalog.regclass, after_column name) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    typ oid;
    n integer;
BEGIN
    IF rel IS NULL OR after_column IS NULL THEN
        RAISE EXCEPTION 'table and column must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM privacy.require_table_owner(rel);
    SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = rel AND a.attname = after_column AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', after_column, rel USING ERRCODE = 'undefined_column';
    END IF;
    IF NOT typ = ANY (ARRAY['pg_catalog.date'::regtype, 'pg_catalog.timestamp'::regtype,
                                                  'pg_catalog.timestamptz'::regtype]::oid[]) THEN
        RAISE EXCEPTION 'column "%" is not a date or timestamp', after_column USING ERRCODE = 'datatype_mismatch';
    END IF;
    INSERT INTO privacy.category_retention AS c (table_schema, table_name, after_column)
    SELECT n.nspname, k.relname, after_column
      FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
     WHERE k.oid = COALESCE(pg_catalog.pg_partition_root(rel), rel)
    ON CONFLICT ON CONSTRAINT category_retention_pkey DO UPDATE SET after_column = EXCLUDED.after_column;
    PERFORM privacy.audit_append('retention', pg_catalog.format('table %s', rel),
        pg_catalog.jsonb_build_object('operation', 'enable category retention', 'after', after_column));
    SELECT pg_catalog.count(*)::integer INTO n FROM privacy.retention_rule r
     WHERE r.relation = COALESCE(pg_catalog.pg_partition_root(rel), rel) AND r.from_category;
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.enable_category_retention(pg_catalog.regclass, name) IS
    'let the table''s labelled columns without a RETAIN clause of their own follow their category''s default retention, counted from a date or timestamp column; returns how many columns that gives a rule';
-- Table owners: granted explicitly.
REVOKE ALL ON FUNCTION privacy.enable_category_retention(pg_catalog.regclass, name) FROM PUBLIC;

CREATE FUNCTION privacy.disable_category_retention(rel pg_catalog.regclass) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'table must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM privacy.require_table_owner(rel);
    DELETE FROM privacy.category_retention c
     WHERE pg_catalog.to_regclass(pg_catalog.format('%I.%I', c.table_schema, c.table_name))
           = COALESCE(pg_catalog.pg_partition_root(rel), rel);
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM privacy.audit_append('retention', pg_catalog.format('table %s', rel),
        pg_catalog.jsonb_build_object('operation', 'disable category retention'));
    RETURN true;
END
$$;
COMMENT ON FUNCTION privacy.disable_category_retention(pg_catalog.regclass) IS
    'stop applying category default retention to the table; false if it was not enabled';
REVOKE ALL ON FUNCTION privacy.disable_category_retention(pg_catalog.regclass) FROM PUBLIC;

-- every RETAIN clause in force: the table's (delete or anonymize its rows) and
-- each column's (anonymize that column); then, on tables where the
-- administrator enabled it, each labelled column's category default
CREATE VIEW privacy.retention_rule AS
    SELECT l.relation, l.column_name, l.retain, l.retain_after,
           COALESCE(l.retain_then, CASE WHEN l.column_name IS NULL THEN 'delete' ELSE 'anonymize' END) AS action,
           false AS from_category
      FROM privacy.labels l
     WHERE l.retain IS NOT NULL
    UNION ALL
    SELECT l.relation, l.column_name, c.retention, r.after_column::text, 'anonymize', true
      FROM privacy.category_retention r
      JOIN privacy.labels l
        ON l.relation OPERATOR(pg_catalog.=) pg_catalog.to_regclass(pg_catalog.format('%I.%I', r.table_schema, r.table_name))
      JOIN privacy.category c ON c.name OPERATOR(pg_catalog.=) l.category
     WHERE c.retention IS NOT NULL AND l.retain IS NULL AND NOT l.subject;
COMMENT ON VIEW privacy.retention_rule IS
    'every retention rule in force: relation, column_name (NULL: the whole row), retain, retain_after, action (delete or anonymize), from_category (a category default the administrator enabled for the table)';
GRANT SELECT ON privacy.retention_rule TO PUBLIC;

-- The SQL of one rule: the SET list (anonymize), the condition that a row
-- still needs it (expired, not yet anonymized), and that second part, as
-- text on alias t; ($1[1])::timestamptz is the cutoff.  The statements run as
-- the table's owner (privacy.owner_exec): the casts, placeholders and
-- generalizations in them are the owner's to run.
--
-- A row anonymized as a whole (THEN ANONYMIZE) is nobody's any more: it loses
-- its SUBJECT columns and its foreign keys to subjects' rows (set to NULL; a
-- NOT NULL one stops the rule with an error that names it), and its labelled
-- columns become what privacy.anonymous_sql says (ANONYMIZE WITH KEEP keeps
-- a value, as financial.transaction's amounts are kept for the accounts).
-- Columns other tables' keys reference stay: they are keys.
CREATE FUNCTION privacy.retention_sql(rel pg_catalog.regclass, column_name name, retain_after name, action text,
                                      OUT sets text, OUT pending text, OUT differs text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    c record;
    assign text[] := ARRAY[]::text[];
    differing text[] := ARRAY[]::text[];
    v text;
    whole boolean := retention_sql.column_name IS NULL;
    subject_tables oid[];
BEGIN
    pending := pg_catalog.format('t.%I < ($1[1])::timestamptz', retain_after);
    IF action <> 'anonymize' THEN
        RETURN;
    END IF;
    -- the tables that hold subjects' rows
    subject_tables := ARRAY(SELECT DISTINCT w.relid FROM privacy.subject_walk() w);
    FOR c IN
        SELECT a.attname, a.attnotnull, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ, a.atttypid,
               COALESCE(l.subject, false) AS subject, COALESCE(l.category IS NOT NULL OR l.subject, false) AS labelled,
               EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                        WHERE i.indrelid = rel AND i.indisunique
                          AND a.attnum = ANY (i.indkey::smallint[])) AS is_unique,
               EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                        WHERE k.contype = 'f' AND k.confrelid = rel AND a.attnum = ANY (k.confkey)) AS referenced,
               EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                        WHERE k.contype = 'f' AND k.conrelid = rel AND a.attnum = ANY (k.conkey)) AS is_fk,
               (SELECT pg_catalog.min(k.conname) FROM pg_catalog.pg_constraint k
                 WHERE k.contype = 'f' AND k.conrelid = rel AND a.attnum = ANY (k.conkey)
                   AND k.confrelid = ANY (subject_tables)) AS to_subject
          FROM pg_catalog.pg_attribute a
          LEFT JOIN privacy.labels l
            ON l.relation = rel AND l.column_name = a.attname
         WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attgenerated = '' AND a.attidentity = ''
           AND (whole OR a.attname = retention_sql.column_name)
         ORDER BY a.attnum
    LOOP
        CONTINUE WHEN c.referenced;
        IF c.subject OR c.to_subject IS NOT NULL THEN
            -- the row's link to a subject: cut
            IF c.attnotnull THEN
                RAISE EXCEPTION 'column %.% links the anonymized rows to their subject and is NOT NULL', rel, c.attname
                    USING ERRCODE = 'feature_not_supported',
                          DETAIL = CASE WHEN c.subject THEN 'It is a SUBJECT column.'
                                        ELSE pg_catalog.format('Its foreign key %I leads to a subject''s rows.', c.to_subject) END,
                          HINT = 'An anonymized row is nobody''s: make the column nullable, or retain the whole row with THEN DELETE.';
            END IF;
            v := pg_catalog.format('NULL::%s', c.typ);
        ELSIF NOT c.labelled THEN
            CONTINUE;
        ELSIF c.is_fk THEN
            -- a key to a table that is nobody's: NULL, or kept when it must be set
            CONTINUE WHEN c.attnotnull;
            v := pg_catalog.format('NULL::%s', c.typ);
        ELSIF c.atttypid = ANY (ARRAY['pg_catalog.inet'::regtype, 'pg_catalog.cidr'::regtype]::oid[]) AND NOT whole THEN
            -- an address column keeps its network: 24 bits of IPv4, 48 of IPv6
            v := pg_catalog.format('privacy.generalize(t.%1$I::inet, CASE pg_catalog.family(t.%1$I) WHEN 4 THEN 24 ELSE 48 END)::%2$s',
                                   c.attname, c.typ);
        ELSE
            v := privacy.anonymous_sql(rel, c.attname);
            CONTINUE WHEN v IS NULL;    -- ANONYMIZE WITH KEEP
            IF c.attnotnull AND c.is_unique AND v ~ '^privacy\.anonymous_value\(' THEN
                RAISE EXCEPTION 'column %.% is NOT NULL and unique: anonymizing it would give each row a random value, which a later run cannot tell from an original', rel, c.attname
                    USING ERRCODE = 'feature_not_supported',
                          HINT = 'Make the column nullable, or retain the whole row with THEN DELETE.';
            END IF;
        END IF;
        assign := assign || pg_catalog.format('%I = %s', c.attname, v);
        differing := differing || pg_catalog.format('t.%I IS DISTINCT FROM %s', c.attname, v);
    END LOOP;
    IF pg_catalog.cardinality(assign) = 0 THEN
        RAISE EXCEPTION 'nothing of % can be anonymized', rel
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Label the columns that hold personal data (a column labelled ANONYMIZE WITH KEEP keeps its value), or use THEN DELETE.';
    END IF;
    sets := pg_catalog.array_to_string(assign, ', ');
    -- rows already anonymized are done: a later run does not touch them again
    retention_sql.differs := pg_catalog.array_to_string(differing, ' OR ');
    pending := pending || ' AND (' || retention_sql.differs || ')';
END
$$;
COMMENT ON FUNCTION privacy.retention_sql(pg_catalog.regclass, name, name, text) IS
    'internal: the SET list, the condition (expired, not yet anonymized) and its not-yet-anonymized part, of one RETAIN clause; an anonymized row loses its links to subjects';
REVOKE ALL ON FUNCTION privacy.retention_sql(pg_catalog.regclass, name, name, text) FROM PUBLIC;

-- The rows of a table that legal holds on subjects keep now: each held
-- subject's rows (owned alone or with others, through owning foreign keys)
-- found as cancellation finds them, locked FOR SHARE so that they keep their
-- place while the caller's statement leaves them; as 'tableoid:ctid'.
CREATE FUNCTION privacy.held_rows(rel pg_catalog.regclass, lock text DEFAULT 'SHARE') RETURNS text[]
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    h record;
    plan jsonb;
    plans jsonb;
    held text[] := '{}'::text[];
BEGIN
    FOR h IN SELECT DISTINCT x.subject_kind, x.subject FROM privacy.hold x
              WHERE x.subject IS NOT NULL AND x.released_at IS NULL AND x.until > pg_catalog.now()
              ORDER BY 1, 2 LOOP
        plans := COALESCE(plans, privacy.cancel_plan());
        plan := plans->h.subject_kind;
        CONTINUE WHEN plan IS NULL OR NOT (plan->'tables') ? (rel::oid::text);
        held := held || ARRAY(SELECT s.part::text || ':' || s.tid::text
                                FROM privacy.subject_rows(plan, h.subject, lock) s
                               WHERE s.relid = rel::oid AND s.vals[1]::boolean);
    END LOOP;
    RETURN held;
END
$$;
COMMENT ON FUNCTION privacy.held_rows(pg_catalog.regclass, text) IS
    'internal: the rows of a table (''tableoid:ctid'') that a legal hold on a subject keeps now, locked FOR SHARE (lock NONE: not locked)';
REVOKE ALL ON FUNCTION privacy.held_rows(pg_catalog.regclass, text) FROM PUBLIC;

-- The legal holds in force that keep rows of a table: one on the table, or
-- one on a subject some of whose rows it holds (by hold id: the subject is
-- not named); for a role that may read the table.
CREATE FUNCTION privacy.holds_on(rel pg_catalog.regclass)
    RETURNS TABLE (hold_id bigint, on_table boolean, held_rows bigint)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    h record;
    plans jsonb;
    n bigint;
    root pg_catalog.regclass;
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'table must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    root := COALESCE(pg_catalog.pg_partition_root(rel), rel);
    FOR h IN SELECT x.id, x.subject_kind, x.subject, x.table_name IS NOT NULL AS on_table,
                    CASE WHEN x.table_name IS NOT NULL
                         THEN pg_catalog.to_regclass(pg_catalog.format('%I.%I', x.table_schema, x.table_name)) END AS tab
               FROM privacy.hold x
              WHERE x.released_at IS NULL AND x.until > pg_catalog.now()
              ORDER BY x.id LOOP
        IF h.on_table THEN
            CONTINUE WHEN h.tab IS DISTINCT FROM root;
            n := NULL;
        ELSE
            plans := COALESCE(plans, privacy.cancel_plan());
            CONTINUE WHEN NOT COALESCE((plans->h.subject_kind->'tables') ? (root::oid::text), false);
            SELECT pg_catalog.count(*) INTO n FROM privacy.subject_rows(plans->h.subject_kind, h.subject, 'NONE') s
             WHERE s.relid = root::oid AND s.vals[1]::boolean;
            CONTINUE WHEN n = 0;
        END IF;
        hold_id := h.id;
        on_table := h.on_table;
        held_rows := n;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.holds_on(pg_catalog.regclass) IS
    'internal: the legal holds in force that keep rows of a table: on the table itself (held_rows NULL: all of them), or on a subject with rows in it (how many); by hold id, naming no subject';
REVOKE ALL ON FUNCTION privacy.holds_on(pg_catalog.regclass) FROM PUBLIC;

CREATE FUNCTION privacy.table_holds(rel pg_catalog.regclass)
    RETURNS TABLE (hold_id bigint, on_table boolean, held_rows bigint)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'table must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT pg_catalog.has_table_privilege(CASE pg_catalog.current_setting('role') WHEN 'none' THEN SESSION_USER
                                               ELSE pg_catalog.current_setting('role')::name END, rel, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for table %', rel USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY SELECT h.hold_id, h.on_table, h.held_rows FROM privacy.holds_on(rel) h;
END
$$;
COMMENT ON FUNCTION privacy.table_holds(pg_catalog.regclass) IS
    'the legal holds in force that keep rows of a table: on the table itself (held_rows NULL: all of them), or on a subject with rows in it (how many); by hold id, naming no subject; for a role that may read the table';
-- Not PUBLIC's: whether a subject some rows of a table name is under a legal
-- hold is itself what a hold keeps quiet (test/review 06).  The DPO's role is
-- granted it.
REVOKE ALL ON FUNCTION privacy.table_holds(pg_catalog.regclass) FROM PUBLIC;

-- whether a table is under a legal hold now
CREATE FUNCTION privacy.table_held(rel pg_catalog.regclass) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT EXISTS (SELECT 1 FROM privacy.hold h
                        WHERE CASE WHEN h.table_name IS NOT NULL
                                   THEN pg_catalog.to_regclass(pg_catalog.format('%I.%I', h.table_schema, h.table_name))
                                        = COALESCE(pg_catalog.pg_partition_root(rel), rel)
                                   ELSE false END
                          AND h.released_at IS NULL AND h.until > pg_catalog.now())
    $$;
COMMENT ON FUNCTION privacy.table_held(pg_catalog.regclass) IS 'whether a legal hold on the whole table is in force';
REVOKE ALL ON FUNCTION privacy.table_held(pg_catalog.regclass) FROM PUBLIC;

CREATE VIEW privacy.retention_log AS
    SELECT r.id, r.started_at, r.ended_at, r.run_by, r.dry_run, r.batch_size, r.max_duration,
           CASE WHEN r.ended_at IS NOT NULL THEN CASE WHEN r.stopped_early THEN 'stopped at max_duration' ELSE 'finished' END
                WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                              WHERE a.pid OPERATOR(pg_catalog.=) r.pid AND a.backend_start OPERATOR(pg_catalog.=) r.backend_start)
                     THEN 'running'
                ELSE 'interrupted' END AS status,
           t.relation, t.column_name, t.action, t.rows, t.batches, t.longest_batch, t.due, t.held, t.error
      FROM privacy.retention_run r
      LEFT JOIN privacy.retention_run_table t ON t.run_id OPERATOR(pg_catalog.=) r.id;
COMMENT ON VIEW privacy.retention_log IS
    'every retention run with its status (running, finished, stopped at max_duration, interrupted) and, per RETAIN clause, action, rows, batches, the expired rows legal holds kept back (held) and error';
GRANT SELECT ON privacy.retention_log TO PUBLIC;

-- Start a run: its log row, its audit entry; NULL when another run is live.
-- One run at a time: the check and the new row happen under a lock on the
-- log that no role without UPDATE on it can take (an ordinary role holds at
-- most ACCESS SHARE, which does not conflict), and a run is live while its
-- backend (pid and start time) is; a run this backend left unfinished (an
-- error ended it) is marked interrupted here.
CREATE FUNCTION privacy.retention_start(batch_size integer, max_duration interval, dry_run boolean) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rid bigint;
    me timestamptz;
BEGIN
    LOCK TABLE privacy.retention_run IN SHARE ROW EXCLUSIVE MODE;
    SELECT a.backend_start INTO me FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid();
    UPDATE privacy.retention_run r SET backend_start = NULL
     WHERE r.ended_at IS NULL AND r.pid = pg_catalog.pg_backend_pid() AND r.backend_start = me;
    IF EXISTS (SELECT 1 FROM privacy.retention_run r JOIN pg_catalog.pg_stat_activity a
                   ON a.pid = r.pid AND a.backend_start = r.backend_start
                WHERE r.ended_at IS NULL) THEN
        RETURN NULL;
    END IF;
    INSERT INTO privacy.retention_run (batch_size, max_duration, dry_run, backend_start)
    VALUES (batch_size, max_duration, dry_run, me)
    RETURNING privacy.retention_run.id INTO rid;
    PERFORM privacy.audit_append('retention', pg_catalog.format('run %s', rid),
        pg_catalog.jsonb_build_object('operation', 'start', 'batch_size', batch_size,
                                      'max_duration', max_duration::text, 'dry_run', dry_run));
    RETURN rid;
END
$$;
COMMENT ON FUNCTION privacy.retention_start(integer, interval, boolean) IS 'internal: log and audit the start of a retention run; NULL when another run is live';
REVOKE ALL ON FUNCTION privacy.retention_start(integer, interval, boolean) FROM PUBLIC;

CREATE FUNCTION privacy.retention_finish(run_id bigint, stopped_early boolean) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE privacy.retention_run r SET ended_at = pg_catalog.clock_timestamp(), stopped_early = retention_finish.stopped_early
     WHERE r.id = run_id;
    PERFORM privacy.audit_append('retention', pg_catalog.format('run %s', run_id),
        pg_catalog.jsonb_build_object('operation', 'finish', 'stopped_early', stopped_early,
            'tables', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                'relation', t.relation, 'column', t.column_name, 'action', t.action,
                                'rows', t.rows, 'batches', t.batches, 'held', t.held, 'failed', t.error IS NOT NULL)
                                ORDER BY t.relation, t.column_name), '[]')
                         FROM privacy.retention_run_table t WHERE t.run_id = retention_finish.run_id)));
END
$$;
COMMENT ON FUNCTION privacy.retention_finish(bigint, boolean) IS 'internal: log and audit the end of a retention run, with what it did per table';
REVOKE ALL ON FUNCTION privacy.retention_finish(bigint, boolean) FROM PUBLIC;

-- One batch of one rule: at most batch_size expired rows, deleted or
-- anonymized as the table's owner, rows a legal hold keeps left; how many, or
-- -1 when the rule failed (the error is in the log) or its table is held.
-- Any error of the rule is caught here, so that the run goes on with the
-- next one.
CREATE FUNCTION privacy.retention_batch(run_id bigint, rel pg_catalog.regclass, column_name name, retain interval,
                                        retain_after name, action text, batch_size integer, dry_run boolean)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q record;
    p record;
    n bigint := 0;
    cutoff timestamptz;
    msg text;
    state text;
    mark text;
    new_mark text;
    bound text;
    stmt text;
    held text[];
    args text[];
    unheld text;
    first_batch boolean;
    lock_timeout_was text := pg_catalog.current_setting('lock_timeout');
BEGIN
    -- a batch need not wait for its WAL to reach disk: a crash loses at most
    -- the last batches, their counts with them, and the next run does them again
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    -- this rule's line in the log, with its statements (made on the first batch)
    SELECT t.sets_sql AS sets, t.pending_sql AS pending, t.differs_sql AS differs, t.watermark INTO q FROM privacy.retention_run_table t
     WHERE t.run_id = retention_batch.run_id AND t.relation = rel::text
       AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
    IF NOT FOUND THEN
        INSERT INTO privacy.retention_run_table (run_id, relation, column_name, action)
        VALUES (run_id, rel::text, column_name, action);
    END IF;
    IF privacy.table_held(rel) THEN
        -- the whole table is held: every expired row is kept back (counted
        -- as the table's owner; a clause that cannot be counted counts none)
        BEGIN
            SELECT * INTO q FROM privacy.retention_sql(rel, column_name, retain_after, action);
            n := privacy.owner_exec_value(rel, pg_catalog.format('SELECT pg_catalog.count(*) FROM %s t WHERE %s', rel, q.pending),
                                          ARRAY[(pg_catalog.now() - retain)::text, '', '{}'])::bigint;
        EXCEPTION WHEN OTHERS OR assert_failure THEN
            n := 0;
        END;
        UPDATE privacy.retention_run_table t SET held = n, updated_at = pg_catalog.clock_timestamp()
         WHERE t.run_id = retention_batch.run_id AND t.relation = rel::text
           AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
        RETURN -1;
    END IF;
    BEGIN
        -- inside the block: an interval the label allows may still reach
        -- before the calendar's start
        cutoff := pg_catalog.now() - retain;
        first_batch := q.pending IS NULL;
        IF first_batch THEN
            SELECT * INTO q FROM privacy.retention_sql(rel, column_name, retain_after, action);
            UPDATE privacy.retention_run_table t SET sets_sql = q.sets, pending_sql = q.pending, differs_sql = q.differs
             WHERE t.run_id = retention_batch.run_id AND t.relation = rel::text
               AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
            SELECT q.sets AS sets, q.pending AS pending, q.differs AS differs, NULL::text AS watermark INTO q;
        END IF;
        -- $1[1] the cutoff, $1[2] where the last batch ended, $1[3] the rows legal holds keep
        held := privacy.held_rows(rel);
        args := ARRAY[cutoff::text, COALESCE(q.watermark, ''), held::text];
        unheld := CASE WHEN pg_catalog.cardinality(held) > 0
                       THEN ' AND NOT (t.tableoid::pg_catalog.text || '':'' || t.ctid::pg_catalog.text) = ANY (($1[3])::pg_catalog.text[])'
                       ELSE '' END;
        IF first_batch AND pg_catalog.cardinality(held) > 0 THEN
            -- the expired rows subjects' holds keep back, counted once a run
            UPDATE privacy.retention_run_table t
               SET held = privacy.owner_exec_value(rel,
                              pg_catalog.format('SELECT pg_catalog.count(*) FROM %s t WHERE %s AND (t.tableoid::pg_catalog.text || '':'' || t.ctid::pg_catalog.text) = ANY (($1[3])::pg_catalog.text[])',
                                                rel, q.pending), args)::bigint
             WHERE t.run_id = retention_batch.run_id AND t.relation = rel::text
               AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
        END IF;
        IF dry_run THEN
            n := privacy.owner_exec_value(rel, pg_catalog.format('SELECT pg_catalog.count(*) FROM %s t WHERE %s%s', rel, q.pending, unheld),
                                          args)::bigint;
            UPDATE privacy.retention_run_table t SET due = n, updated_at = pg_catalog.clock_timestamp()
             WHERE t.run_id = retention_batch.run_id AND t.relation = rel::text
               AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
            RETURN 0;
        END IF;
        -- the oldest expired rows first, by the index on the AFTER column;
        -- rows a live writer holds are left for the next batch or run
        IF pg_catalog.cardinality(held) = 0 AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = rel) = 'r' THEN
            -- no row is held: one statement, as the table's owner, finds and
            -- changes the batch, from where the last batch ended (rows before
            -- it are done, or were skipped and are left for the next run): the
            -- index scan starts there rather than among the dead entries of
            -- earlier batches
            stmt := pg_catalog.format(
                     'WITH done AS ('
                     ||
                     CASE WHEN action = 'delete'
                          THEN 'DELETE FROM ONLY %1$s t WHERE t.ctid = ANY (ARRAY('
                          ELSE 'UPDATE ONLY %1$s t SET %4$s WHERE t.ctid = ANY (ARRAY(' END
                     ||
                     'SELECT t.ctid FROM ONLY %1$s t WHERE t.%2$I < ($1[1])::timestamptz'
                     ' AND t.%2$I >= COALESCE(NULLIF($1[2], ''''), ''-infinity'')::timestamptz%3$s'
                     ' ORDER BY t.%2$I LIMIT %5$s%%s)) RETURNING t.%2$I)'
                     ' SELECT pg_catalog.count(*) || ''|'' || COALESCE(pg_catalog.max(done.%2$I)::timestamptz::text, '''') FROM done',
                     rel, retain_after, COALESCE(' AND (' || q.differs || ')', ''),
                     q.sets, batch_size);
            -- most batches meet no writer: change the rows without locking them
            -- first (one WAL record a row, not two), and give up at once on a row a
            -- writer holds, to take the batch again with SKIP LOCKED
            BEGIN
                PERFORM pg_catalog.set_config('lock_timeout', '50ms', true);
                mark := NULL;
                IF action = 'delete' THEN
                    -- a deletion takes the range from the watermark to the AFTER
                    -- value batch_size rows on (read from the index): each row is
                    -- visited once, by the DELETE's own index scan
                    bound := privacy.owner_exec_value(rel, pg_catalog.format(
                                 'SELECT t.%1$I::timestamptz::text FROM ONLY %2$s t'
                                 ' WHERE t.%1$I < ($1[1])::timestamptz'
                                 ' AND t.%1$I >= COALESCE(NULLIF($1[2], ''''), ''-infinity'')::timestamptz'
                                 ' ORDER BY t.%1$I OFFSET %3$s LIMIT 1', retain_after, rel, batch_size), args);
                    -- NULL: fewer rows than a batch are left, all of them go; when
                    -- the range holds nothing (a batch of equal values), rows go as below
                    IF bound IS NULL
                       OR bound::timestamptz > COALESCE(NULLIF(args[2], ''), '-infinity')::timestamptz THEN
                        n := privacy.owner_exec(rel, pg_catalog.format(
                                 'DELETE FROM ONLY %2$s t'
                                 ' WHERE t.%1$I < ($1[1])::timestamptz'
                                 ' AND t.%1$I >= COALESCE(NULLIF($1[2], ''''), ''-infinity'')::timestamptz',
                                 retain_after, rel),
                                 ARRAY[COALESCE(bound, cutoff::text), args[2]]);
                        IF n > 0 OR bound IS NULL THEN
                            mark := n::text || '|' || COALESCE(bound, cutoff::text);
                        END IF;
                    END IF;
                END IF;
                IF mark IS NULL THEN
                    mark := privacy.owner_exec_value(rel, pg_catalog.format(stmt, ''), args);
                END IF;
            EXCEPTION WHEN lock_not_available THEN
                mark := privacy.owner_exec_value(rel, pg_catalog.format(stmt, ' FOR UPDATE OF t SKIP LOCKED'), args);
            END;
            PERFORM pg_catalog.set_config('lock_timeout', lock_timeout_was, true);
            n := pg_catalog.split_part(mark, '|', 1)::bigint;
            IF pg_catalog.split_part(mark, '|', 2) <> '' THEN
                new_mark := pg_catalog.split_part(mark, '|', 2);
            END IF;
        ELSE
            -- the batch chosen and locked first, then changed partition by partition
            FOR p IN
                SELECT o.part, pg_catalog.array_agg(o.tid) AS tids
                  FROM privacy.owner_rows(rel, pg_catalog.format(
                           'SELECT t.tableoid, t.ctid FROM %s t WHERE %s%s ORDER BY t.%I LIMIT %s FOR UPDATE OF t SKIP LOCKED',
                           rel, q.pending, unheld, retain_after, batch_size), args) o
                 GROUP BY o.part ORDER BY o.part
            LOOP
                n := n + privacy.owner_exec(p.part::pg_catalog.regclass,
                         CASE WHEN action = 'delete'
                              THEN pg_catalog.format('DELETE FROM ONLY %s t WHERE t.ctid = ANY ($1)', p.part::pg_catalog.regclass)
                              ELSE pg_catalog.format('UPDATE ONLY %s t SET %s WHERE t.ctid = ANY ($1)', p.part::pg_catalog.regclass, q.sets) END,
                         p.tids, NULL);
            END LOOP;
        END IF;
    EXCEPTION WHEN OTHERS OR assert_failure THEN
        -- the error names tables and constraints; a data value it might quote is cut
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        IF pg_catalog.left(state, 2) = '23' THEN
            msg := pg_catalog.format('%s: constraint %s', state,
                       COALESCE(NULLIF(pg_catalog.substring(msg, 'constraint "([^"]+)"'), ''), 'violated'));
        ELSIF state = '22008' THEN
            msg := pg_catalog.format('%s: the RETAIN interval reaches before the earliest timestamp', state);
        ELSIF state NOT IN ('0A000', '42809', '42501') THEN
            msg := pg_catalog.format('failed with SQLSTATE %s', state);
        END IF;
        UPDATE privacy.retention_run_table t SET error = msg, updated_at = pg_catalog.clock_timestamp()
         WHERE t.run_id = retention_batch.run_id AND t.relation = rel::text
           AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
        RAISE WARNING 'retention of % stopped: %', rel, msg;
        RETURN -1;
    END;
    UPDATE privacy.retention_run_table t
       SET rows = t.rows + n, batches = t.batches + 1,
           watermark = COALESCE(new_mark, t.watermark),
           -- the batch is its transaction: from its start to now
           longest_batch = GREATEST(t.longest_batch, pg_catalog.clock_timestamp() - pg_catalog.now()),
           updated_at = pg_catalog.clock_timestamp()
     WHERE t.run_id = retention_batch.run_id AND t.relation = rel::text
       AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.retention_batch(bigint, pg_catalog.regclass, name, interval, name, text, integer, boolean) IS
    'internal: one batch of one RETAIN clause, its progress logged; -1 when its table is held or it failed';
REVOKE ALL ON FUNCTION privacy.retention_batch(bigint, pg_catalog.regclass, name, interval, name, text, integer, boolean) FROM PUBLIC;

-- SECURITY INVOKER, no SET clause: it commits after each batch
CREATE PROCEDURE privacy.run_retention(batch_size integer DEFAULT 5000, max_duration interval DEFAULT '5 minutes',
                                       dry_run boolean DEFAULT false)
    LANGUAGE plpgsql
    AS $$
DECLARE
    r record;
    run_id bigint;
    n bigint;
    deadline timestamptz;
    stopped boolean := false;
    done bigint;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF batch_size IS NULL OR max_duration IS NULL OR dry_run IS NULL THEN
        RAISE EXCEPTION 'batch_size, max_duration and dry_run must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF batch_size OPERATOR(pg_catalog.<) 1 OR max_duration OPERATOR(pg_catalog.<=) '0'::interval THEN
        RAISE EXCEPTION 'batch_size and max_duration must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    deadline := pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) max_duration;
    -- one run at a time: a second one says so and leaves
    run_id := privacy.retention_start(batch_size, max_duration, dry_run);
    COMMIT;
    IF run_id IS NULL THEN
        RAISE NOTICE 'another retention run is in progress; this one does nothing';
        RETURN;
    END IF;
    FOR r IN SELECT * FROM privacy.retention_rule ORDER BY relation::text, column_name NULLS FIRST LOOP
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        done := 0;
        LOOP
            IF pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) deadline THEN
                stopped := true;
                EXIT;
            END IF;
            -- progress, for a DBA reading pg_stat_activity; local to the
            -- batch's transaction, so that its end (commit, or an error)
            -- gives the caller's application_name back
            PERFORM pg_catalog.set_config('application_name',
                        pg_catalog.left(pg_catalog.format('privacy retention run %s: %s%s, %s rows', run_id, r.relation,
                                        COALESCE('.' OPERATOR(pg_catalog.||) r.column_name, ''), done), 63), true);
            n := privacy.retention_batch(run_id, r.relation, r.column_name, r.retain, r.retain_after, r.action,
                                         batch_size, dry_run);
            COMMIT;
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            -- a short batch is not the end: rows a writer held were skipped
            -- and may be free now; an empty one is
            EXIT WHEN n OPERATOR(pg_catalog.<=) 0 OR dry_run;
            done := done OPERATOR(pg_catalog.+) n;
        END LOOP;
        EXIT WHEN stopped;
    END LOOP;
    PERFORM privacy.retention_finish(run_id, stopped);
    COMMIT;
    -- cancellations whose cooling-off is over
    IF NOT dry_run THEN
        CALL privacy.run_due_requests();
    END IF;
END
$$;
COMMENT ON PROCEDURE privacy.run_retention(integer, interval, boolean) IS
    'delete or anonymize expired rows of every RETAIN clause in batches that commit, oldest first, skipping locked and held rows, until done or max_duration; logged in privacy.retention_log; then carry out due cancellation requests';
-- Destroys data: the scheduler's role, granted explicitly (with retention_start, retention_batch, retention_finish).
REVOKE ALL ON PROCEDURE privacy.run_retention(integer, interval, boolean) FROM PUBLIC;

CREATE FUNCTION privacy.retention_preview()
    RETURNS TABLE (relation pg_catalog.regclass, column_name name, action text, retain interval, retain_after name,
                   due bigint, held bigint, problem text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
    q record;
    n bigint;
    h bigint;
    res text;
    msg text;
    kept text[];
BEGIN
    FOR r IN SELECT * FROM privacy.retention_rule x ORDER BY x.relation::text, x.column_name NULLS FIRST LOOP
        BEGIN
            SELECT * INTO q FROM privacy.retention_sql(r.relation, r.column_name, r.retain_after, r.action);
            kept := privacy.held_rows(r.relation);
            -- counted as the table's owner, the rows holds keep left out
            -- $1[2]: the rows holds keep; $1[3]: whether the whole table is held
            res := privacy.owner_exec_value(r.relation,
                       pg_catalog.format('SELECT pg_catalog.count(*) FILTER (WHERE NOT x.kept) || ''|'' || pg_catalog.count(*) FILTER (WHERE x.kept)'
                                         ' FROM (SELECT ($1[3])::boolean OR (t.tableoid::pg_catalog.text || '':'' || t.ctid::pg_catalog.text) = ANY (($1[2])::pg_catalog.text[]) AS kept'
                                         ' FROM %s t WHERE %s) x', r.relation, q.pending),
                       ARRAY[(pg_catalog.now() - r.retain)::text, kept::text, privacy.table_held(r.relation)::text]);
            n := pg_catalog.split_part(res, '|', 1)::bigint;
            h := pg_catalog.split_part(res, '|', 2)::bigint;
            msg := NULL;
        EXCEPTION WHEN feature_not_supported OR datetime_field_overflow OR wrong_object_type OR insufficient_privilege THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
            n := NULL;
            h := NULL;
        END;
        RETURN QUERY SELECT r.relation, r.column_name, r.action, r.retain, r.retain_after::name, n, h, msg;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.retention_preview() IS
    'what a retention run would do now, per RETAIN clause: rows due (expired, not yet anonymized, not under a legal hold), the expired rows legal holds keep (held: on the table, or on subjects), and what stops the clause; changes nothing';
-- Reads every labelled table: granted explicitly.
REVOKE ALL ON FUNCTION privacy.retention_preview() FROM PUBLIC;

-- src/sql/code/citus.sql: the guard of what only a Citus cluster's coordinator may do (doc/citus.md)

CREATE FUNCTION privacy.require_coordinator(what text) RETURNS void
    AS 'MODULE_PATHNAME', 'privacy_require_coordinator_sql'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.require_coordinator(text) IS
    'internal: raise an error (naming the function what) unless this is the Citus coordinator''s own backend: on a worker node, or in a task Citus pushed down to one, the keys, the consent ledger and the tombstones are not there; without Citus it does nothing';
-- Internal: called by the extension's own SECURITY DEFINER functions.
REVOKE ALL ON FUNCTION privacy.require_coordinator(text) FROM PUBLIC;

-- whether Citus manages the table (distributed, reference or Citus local:
-- listed in pg_dist_partition); false without Citus
CREATE FUNCTION privacy.citus_table(rel pg_catalog.regclass) RETURNS boolean
    LANGUAGE plpgsql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    managed boolean;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    -- (named through format: the catalog exists only with Citus, and
    -- plpgsql_check reads constant query strings)
    EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM pg_catalog.%I p WHERE p.logicalrelid = $1)', 'pg_dist_partition')
       INTO managed USING rel;
    RETURN managed;
END
$$;
COMMENT ON FUNCTION privacy.citus_table(pg_catalog.regclass) IS
    'internal: whether Citus manages the table (a distributed, reference or Citus local table: pg_dist_partition lists it); false without Citus';
-- Internal: reads only Citus's catalog, which every role may read.
REVOKE ALL ON FUNCTION privacy.citus_table(pg_catalog.regclass) FROM PUBLIC;

-- the distribution column of a Citus table: NULL when Citus does not manage
-- it, '' for a reference or Citus local table (no distribution column)
CREATE FUNCTION privacy.citus_distribution(rel pg_catalog.regclass) RETURNS name
    LANGUAGE plpgsql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    col name;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE pg_catalog.format('SELECT CASE WHEN p.partmethod = ''n'' THEN '''' ELSE pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) END
                                 FROM pg_catalog.%I p WHERE p.logicalrelid = $1', 'pg_dist_partition')
       INTO col USING rel;
    RETURN col;
END
$$;
COMMENT ON FUNCTION privacy.citus_distribution(pg_catalog.regclass) IS
    'internal: the distribution column of a Citus distributed table; '''' for a reference or Citus local table; NULL for a table Citus does not manage (or without Citus)';
-- Reads only Citus's catalog, which every role may read; a table's owner
-- reaches it through anonymization_plan and anonymize_table.
GRANT EXECUTE ON FUNCTION privacy.citus_distribution(pg_catalog.regclass) TO PUBLIC;

-- a tid[] from its text form, IMMUTABLE as the conversion is: Citus refuses
-- a cast (STABLE array_in) inside the CASE of a distributed UPDATE
CREATE FUNCTION privacy.tid_array(tids text) RETURNS pg_catalog.tid[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT tids::pg_catalog.tid[] $$;
COMMENT ON FUNCTION privacy.tid_array(text) IS
    'internal: the tid[] a text array of tids spells; the cancellation plan''s statements on Citus distributed tables use it';
-- Harmless (a conversion); the cancellation plan's statements, run as each table's owner, call it.
GRANT EXECUTE ON FUNCTION privacy.tid_array(text) TO PUBLIC;

-- a reference table's row named alike on every node: a ctid is a row of one
-- placement only, so the cancellation plan names a reference table's rows
-- by a hash of their primary key, made a tid (48 bits: block and offset).
-- Two rows of one hash make a statement change more rows than it found,
-- which cancellation refuses (nothing is changed)
CREATE FUNCTION privacy.citus_row_tid(VARIADIC key text[]) RETURNS pg_catalog.tid
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT ('(' || ((h.h >> 16) & 4294967295)::pg_catalog.text || ',' || (h.h & 65535)::pg_catalog.text || ')')::pg_catalog.tid
          FROM (SELECT pg_catalog.hashtextextended(key::pg_catalog.text, 0) AS h) h
    $$;
COMMENT ON FUNCTION privacy.citus_row_tid(text[]) IS
    'internal: the tid that names a Citus reference table''s row (its primary key''s values as text) on every node: 48 bits of a hash of the key; the cancellation plan''s statements on reference tables use it';
-- Harmless (a hash); the cancellation plan's statements, run as each table's owner, call it.
GRANT EXECUTE ON FUNCTION privacy.citus_row_tid(text[]) TO PUBLIC;

CREATE FUNCTION privacy.citus_worker() RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_citus_worker_sql'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION privacy.citus_worker() IS
    'internal: whether this node is a Citus worker (its group is not the coordinator''s), whatever the backend''s application_name; false without Citus';
-- Internal: the extension's own functions call it.
REVOKE ALL ON FUNCTION privacy.citus_worker() FROM PUBLIC;

-- The coordinator's labels are the truth: a label set on a Citus table (or
-- removed) is set on every shard placement of it too, so that a shard reads
-- as its table does and a shard move (which copies the shell table's labels)
-- changes nothing.  Citus (master_run_on_worker) runs each placement's command
-- in a connection of its own, committed at once: a label change rolled back on the coordinator
-- stays on the shards until the next privacy.citus_sync_labels(table).
CREATE FUNCTION privacy.citus_sync_labels(rel pg_catalog.regclass, subid integer DEFAULT NULL) RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    o record;
    n integer := 0;
    names text[];
    ports integer[];
    commands text[];
BEGIN
    IF privacy.citus_distribution(rel) IS NULL OR privacy.citus_worker() THEN
        RETURN 0;
    END IF;
    FOR o IN
        SELECT a.attnum AS sub, a.attname, l.label
          FROM pg_catalog.pg_attribute a
          LEFT JOIN pg_catalog.pg_seclabel l ON l.objoid = rel AND l.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                            AND l.objsubid = a.attnum AND l.provider = 'privacy'
         WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
           AND (subid IS NULL OR a.attnum = subid)
        UNION ALL
        SELECT 0, NULL, l.label
          FROM (SELECT 1) one
          LEFT JOIN pg_catalog.pg_seclabel l ON l.objoid = rel AND l.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                            AND l.objsubid = 0 AND l.provider = 'privacy'
         WHERE subid IS NULL OR subid = 0
         ORDER BY 1
    LOOP
        -- each placement on a worker (the coordinator's own placements, of
        -- reference tables, are not labelled: its tables are the truth); the
        -- catalogs and master_run_on_worker exist only with Citus, so they are
        -- named through format (plpgsql_check reads constant query strings)
        EXECUTE pg_catalog.format(
            'SELECT pg_catalog.array_agg(pl.nodename ORDER BY s.shardid, pl.nodename, pl.nodeport),'
            '       pg_catalog.array_agg(pl.nodeport ORDER BY s.shardid, pl.nodename, pl.nodeport),'
            '       pg_catalog.array_agg(CASE WHEN $2 = 0'
            '           THEN pg_catalog.format(''SECURITY LABEL FOR privacy ON TABLE %%s IS %%s'', pg_catalog.shard_name($1, s.shardid), $4)'
            '           ELSE pg_catalog.format(''SECURITY LABEL FOR privacy ON COLUMN %%s.%%I IS %%s'', pg_catalog.shard_name($1, s.shardid), $3, $4) END'
            '                            ORDER BY s.shardid, pl.nodename, pl.nodeport)'
            '  FROM pg_catalog.%I s JOIN pg_catalog.%I pl ON pl.shardid = s.shardid'
            '  JOIN pg_catalog.%I d ON d.nodename = pl.nodename AND d.nodeport = pl.nodeport'
            ' WHERE s.logicalrelid = $1 AND d.groupid <> 0',
            'pg_dist_shard', 'pg_dist_shard_placement', 'pg_dist_node')
           INTO names, ports, commands
          USING rel, o.sub, o.attname, COALESCE(pg_catalog.quote_literal(o.label), 'NULL');
        CONTINUE WHEN names IS NULL;
        EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM pg_catalog.%I($1, $2, $3, true) r WHERE NOT r.success',
                                  'master_run_on_worker')
           INTO n
          USING names, ports, commands;
        IF n > 0 THEN
            RAISE EXCEPTION 'could not set the label of % on % of its shard placements', rel, n
                USING ERRCODE = 'connection_failure',
                      HINT = 'Run SELECT privacy.citus_sync_labels(table) again once every worker is reachable.';
        END IF;
    END LOOP;
    RETURN (SELECT pg_catalog.count(*)::integer FROM pg_catalog.pg_seclabel l
             WHERE l.objoid = rel AND l.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND l.provider = 'privacy');
END
$$;
COMMENT ON FUNCTION privacy.citus_sync_labels(pg_catalog.regclass, integer) IS
    'set the coordinator''s privacy labels of a Citus table (one column: subid; the table itself: 0; all: NULL) on every shard placement of it; returns how many labels the table has; does nothing without Citus, on a worker, or for a table Citus does not manage';
-- Labels are the privacy administrator's: SECURITY LABEL's event trigger calls it.
REVOKE ALL ON FUNCTION privacy.citus_sync_labels(pg_catalog.regclass, integer) FROM PUBLIC;

CREATE FUNCTION privacy.citus_label_ddl() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cmd record;
BEGIN
    IF privacy.restoring() OR to_regclass('pg_catalog.pg_dist_partition') IS NULL OR privacy.citus_worker() THEN
        RETURN;
    END IF;
    FOR cmd IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP
        CONTINUE WHEN cmd.classid <> 'pg_catalog.pg_class'::pg_catalog.regclass;
        PERFORM privacy.citus_sync_labels(cmd.objid::pg_catalog.regclass, cmd.objsubid);
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.citus_label_ddl() IS
    'event trigger: a privacy label set on a Citus table on the coordinator is set on its shard placements too (privacy.citus_sync_labels)';
CREATE EVENT TRIGGER privacy_citus_labels ON ddl_command_end WHEN TAG IN ('SECURITY LABEL')
    EXECUTE FUNCTION privacy.citus_label_ddl();

-- ---------------------------------------------------------------- the mirror
-- One set of keys, one consent ledger and one set of tombstones for the
-- cluster: the coordinator's.  privacy.citus_setup() makes
-- privacy.citus_mirror a reference table; from then on every change of a
-- mirrored table on the coordinator is inserted there (one row per
-- statement) and so reaches every worker in the same distributed
-- transaction, where privacy.citus_mirror_in applies it to the worker's own
-- copy of the table.  A worker's keyed functions, has_consent and the guard
-- against cancelled subjects then read the same rows as the coordinator.

CREATE FUNCTION privacy.require_mirror(what text) RETURNS void
    AS 'MODULE_PATHNAME', 'privacy_require_mirror_sql'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.require_mirror(text) IS
    'internal: raise an error (naming the function what) on a Citus worker node, or in a task Citus pushed down, unless privacy.citus_setup() mirrored the coordinator''s keys, consents and tombstones there; without Citus it does nothing';
-- Internal: called by the extension's own SECURITY DEFINER functions.
REVOKE ALL ON FUNCTION privacy.require_mirror(text) FROM PUBLIC;

CREATE FUNCTION privacy.citus_mirrored() RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_citus_mirrored_sql'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION privacy.citus_mirrored() IS
    'whether privacy.citus_setup() made privacy.citus_mirror a Citus reference table, as this node sees it: the coordinator''s keys, consents and tombstones are mirrored to every worker; false without Citus';
-- Harmless (whether the cluster is set up); the doc's checks call it.
GRANT EXECUTE ON FUNCTION privacy.citus_mirrored() TO PUBLIC;

-- the tables the mirror keeps on every worker: what keyed functions,
-- has_consent, may_process and the guard against cancelled subjects read
CREATE FUNCTION privacy.citus_mirror_tables() RETURNS name[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT ARRAY['key', 'key_version', 'purpose_definition', 'policy_version', 'consent_event', 'consent',
                       'subject_minor', 'restricted_subject', 'cancelled_subject']::name[] $$;
COMMENT ON FUNCTION privacy.citus_mirror_tables() IS
    'internal: the tables of schema privacy that privacy.citus_setup() mirrors from a Citus coordinator to every worker';
REVOKE ALL ON FUNCTION privacy.citus_mirror_tables() FROM PUBLIC;

-- a statement's changes of a mirrored table, sent to every worker
CREATE FUNCTION privacy.citus_mirror_out() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    before jsonb;
    after jsonb;
BEGIN
    -- a SECURITY DEFINER trigger any role could attach to a table of its own
    -- (named like a mirrored one): only the extension's own tables send
    IF TG_TABLE_SCHEMA <> 'privacy' OR TG_TABLE_NAME <> ALL (privacy.citus_mirror_tables()) THEN
        RAISE EXCEPTION 'privacy.citus_mirror_out() is the trigger of the tables privacy.citus_setup() mirrors, not of table %.%',
            TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT privacy.citus_mirrored() OR privacy.citus_worker() THEN
        RETURN NULL;
    END IF;
    -- (the transition tables, named through format: plpgsql_check reads
    -- constant query strings, and they exist only in the trigger)
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE pg_catalog.format('SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r)) FROM %I r', 'mirror_old')
           INTO before;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        EXECUTE pg_catalog.format('SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r)) FROM %I r', 'mirror_new')
           INTO after;
    END IF;
    IF before IS NOT NULL OR after IS NOT NULL THEN
        INSERT INTO privacy.citus_mirror (relation, old_rows, new_rows) VALUES (TG_TABLE_NAME, before, after);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION privacy.citus_mirror_out() IS
    'trigger (AFTER each statement on a mirrored table): on a Citus coordinator set up by privacy.citus_setup(), send the statement''s changed rows to every worker through privacy.citus_mirror; else nothing';

-- a change of the coordinator, applied to this worker's copy of the table
CREATE FUNCTION privacy.citus_mirror_in() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rel pg_catalog.regclass;
    cols name[];
    keys name[];
BEGIN
    -- a SECURITY DEFINER trigger any role could attach to a table of its own:
    -- only privacy.citus_mirror and its shard placements apply changes
    IF TG_TABLE_SCHEMA <> 'privacy' OR TG_TABLE_NAME !~ '^citus_mirror(_[0-9]+)?$' THEN
        RAISE EXCEPTION 'privacy.citus_mirror_in() is the trigger of privacy.citus_mirror, not of table %.%',
            TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- the coordinator's own placement: its tables are the truth
    IF NOT privacy.citus_worker() THEN
        RETURN NULL;
    END IF;
    IF NEW.relation <> ALL (privacy.citus_mirror_tables()) THEN
        RAISE EXCEPTION 'privacy.citus_mirror does not mirror table "%"', NEW.relation
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    rel := pg_catalog.format('privacy.%I', NEW.relation)::pg_catalog.regclass;
    -- every column but the generated ones; the primary key's
    cols := ARRAY(SELECT a.attname FROM pg_catalog.pg_attribute a
                   WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                   ORDER BY a.attnum);
    keys := ARRAY(SELECT a.attname FROM pg_catalog.pg_index i
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                   WHERE i.indrelid = rel AND i.indisprimary
                   ORDER BY a.attnum);
    -- rows gone: the old keys that no new row has
    IF NEW.old_rows IS NOT NULL THEN
        EXECUTE pg_catalog.format(
            'DELETE FROM %1$s t USING pg_catalog.jsonb_populate_recordset(NULL::%1$s, $1) r WHERE %2$s'
            ' AND NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_populate_recordset(NULL::%1$s, $2) n WHERE %3$s)',
            rel,
            (SELECT pg_catalog.string_agg(pg_catalog.format('t.%1$I = r.%1$I', k), ' AND ') FROM pg_catalog.unnest(keys) k),
            (SELECT pg_catalog.string_agg(pg_catalog.format('n.%1$I = r.%1$I', k), ' AND ') FROM pg_catalog.unnest(keys) k))
          USING NEW.old_rows, COALESCE(NEW.new_rows, '[]'::jsonb);
    END IF;
    -- rows changed, then rows new
    IF NEW.new_rows IS NOT NULL THEN
        EXECUTE pg_catalog.format(
            'UPDATE %1$s t SET (%2$s) = (SELECT %3$s) FROM pg_catalog.jsonb_populate_recordset(NULL::%1$s, $1) r'
            ' WHERE %4$s AND (%3$s) IS DISTINCT FROM (%5$s)',
            rel,
            (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ') FROM pg_catalog.unnest(cols) c),
            (SELECT pg_catalog.string_agg(pg_catalog.format('r.%I', c), ', ') FROM pg_catalog.unnest(cols) c),
            (SELECT pg_catalog.string_agg(pg_catalog.format('t.%1$I = r.%1$I', k), ' AND ') FROM pg_catalog.unnest(keys) k),
            (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', c), ', ') FROM pg_catalog.unnest(cols) c))
          USING NEW.new_rows;
        EXECUTE pg_catalog.format(
            'INSERT INTO %1$s (%2$s) SELECT %3$s FROM pg_catalog.jsonb_populate_recordset(NULL::%1$s, $1) r'
            ' WHERE NOT EXISTS (SELECT 1 FROM %1$s t WHERE %4$s)',
            rel,
            (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ') FROM pg_catalog.unnest(cols) c),
            (SELECT pg_catalog.string_agg(pg_catalog.format('r.%I', c), ', ') FROM pg_catalog.unnest(cols) c),
            (SELECT pg_catalog.string_agg(pg_catalog.format('t.%1$I = r.%1$I', k), ' AND ') FROM pg_catalog.unnest(keys) k))
          USING NEW.new_rows;
    END IF;
    -- nothing is kept in the mirror itself
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION privacy.citus_mirror_in() IS
    'trigger (BEFORE INSERT on privacy.citus_mirror and its shard placements): on a Citus worker, apply a change of the coordinator to the worker''s copy of the table it names (rows gone, changed, new, matched by primary key); keeps nothing; on the coordinator, nothing';
CREATE TRIGGER citus_mirror_in BEFORE INSERT ON privacy.citus_mirror
    FOR EACH ROW EXECUTE FUNCTION privacy.citus_mirror_in();

-- every mirrored table sends each statement's changes (one trigger per kind
-- of statement: a trigger with transition tables has one event)
-- (written out, not made by a loop: an update script carries each again with
-- CREATE OR REPLACE TRIGGER; the list is privacy.citus_mirror_tables())
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.key
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.key
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.key
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.key_version
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.key_version
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.key_version
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.purpose_definition
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.purpose_definition
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.purpose_definition
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.policy_version
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.policy_version
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.policy_version
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.consent_event
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.consent_event
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.consent_event
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.consent
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.consent
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.consent
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.subject_minor
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.subject_minor
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.subject_minor
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.restricted_subject
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.restricted_subject
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.restricted_subject
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.cancelled_subject
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.cancelled_subject
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.cancelled_subject
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();

-- set up a Citus cluster: the mirror becomes a reference table (on every
-- node, in this transaction) and every mirrored table is sent whole
CREATE FUNCTION privacy.citus_setup() RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t name;
    rows jsonb;
    n bigint := 0;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RAISE EXCEPTION 'Citus is not installed in this database'
            USING ERRCODE = 'feature_not_supported';
    END IF;
    PERFORM privacy.require_coordinator('privacy.citus_setup');
    IF NOT privacy.citus_table('privacy.citus_mirror') THEN
        -- the mirror's trigger goes to its shard placements (Citus asks for
        -- this setting before it takes a table with a trigger)
        PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
        EXECUTE pg_catalog.format('SELECT pg_catalog.%I($1)', 'create_reference_table')
          USING 'privacy.citus_mirror'::pg_catalog.regclass;
    END IF;
    -- what is there already: every row, whole (a node added since gets it;
    -- a row a worker has and the coordinator has not stays)
    FOREACH t IN ARRAY privacy.citus_mirror_tables() LOOP
        EXECUTE pg_catalog.format('SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r)) FROM privacy.%I r', t) INTO rows;
        CONTINUE WHEN rows IS NULL;
        INSERT INTO privacy.citus_mirror (relation, old_rows, new_rows) VALUES (t, NULL, rows);
        n := n + pg_catalog.jsonb_array_length(rows);
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.citus_setup() IS
    'on a Citus coordinator, once the workers are added (and again after adding one): mirror the keys, the consent ledger and the tombstones to every worker, now and in every later transaction that changes them, so that keyed functions, has_consent and the guard against cancelled subjects run on the workers with the coordinator''s rows; returns how many rows it sent';
-- Sends every key (wrapped) to every node: the extension owner's.
REVOKE ALL ON FUNCTION privacy.citus_setup() FROM PUBLIC;

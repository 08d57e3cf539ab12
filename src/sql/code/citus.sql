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
-- Internal: reads only Citus's catalog.
REVOKE ALL ON FUNCTION privacy.citus_distribution(pg_catalog.regclass) FROM PUBLIC;

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

CREATE FUNCTION privacy.citus_worker() RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_citus_worker_sql'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION privacy.citus_worker() IS
    'internal: whether this backend is not the Citus coordinator''s own: on a worker node, or running a task Citus pushed down; false without Citus';
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

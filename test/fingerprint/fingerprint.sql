-- test/fingerprint/fingerprint.sql: a canonical, sorted, diffable text
-- fingerprint of the extension privacy as installed in the current database
-- (run as a superuser; see test/fingerprint/README.md).  One line per fact,
-- "<object> :: <attribute> = <value>"; no OIDs and no extension version.
-- Function bodies are compared with their whitespace collapsed and
-- OPERATOR(pg_catalog.X) read as X; everything else as the catalogs hold it.
\set ON_ERROR_STOP on
\pset tuples_only on
\pset format unaligned
\pset pager off
SET client_min_messages = warning;
-- fp_rows (psql variable, default on): off leaves out the rows the tables
-- hold (an upgraded database with a user's data against a fresh install)
\if :{?fp_rows}
\else
\set fp_rows on
\endif
-- deparse names the same way in every database
SET search_path = pg_catalog, pg_temp;

-- one line of text: backslashes and line ends escaped, NULL shown as such
CREATE FUNCTION pg_temp.fp_text(v text) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT COALESCE(replace(replace(replace(v, E'\\', E'\\\\'), E'\n', E'\\n'), E'\r', E'\\r'), '(null)') $$;

-- a function body as compared: whitespace collapsed, OPERATOR(pg_catalog.X) read as X
CREATE FUNCTION pg_temp.fp_body(v text) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT btrim(regexp_replace(regexp_replace(v, 'OPERATOR\(pg_catalog\.([^)]+)\)', '\1', 'g'), '\s+', ' ', 'g')) $$;

-- the rows a table holds, by its primary key (else all columns), as a count
-- and an md5; columns whose default is the clock or the backend leave out
CREATE FUNCTION pg_temp.fp_rows(rel regclass) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    cols text;
    keys text;
    res text;
BEGIN
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_attribute a
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
       AND COALESCE(pg_get_expr(d.adbin, d.adrelid), '')
           !~ '(now|clock_timestamp|statement_timestamp|transaction_timestamp|pg_backend_pid)\(';
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.i) INTO keys
      FROM pg_index x
     CROSS JOIN LATERAL unnest(x.indkey::smallint[]) WITH ORDINALITY k(attnum, i)
      JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
     WHERE x.indrelid = rel AND x.indisprimary;
    EXECUTE format('SELECT count(*) || '' rows, md5 '' || md5(COALESCE(string_agg(r::text, E''\n'' ORDER BY %s), '''')) FROM (SELECT %s FROM %s) r',
                   COALESCE(keys, 'r::text'), cols, rel)
       INTO res;
    RETURN res;
END
$$;

CREATE TEMP VIEW fp_member AS
SELECT d.classid, d.objid, d.objsubid, o.type, o.identity
  FROM pg_depend d
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'privacy'
 CROSS JOIN LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) o
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e';

CREATE TEMP VIEW fp_line AS
-- every member of the extension
SELECT 'member ' || m.type || ' ' || m.identity AS line
  FROM fp_member m
UNION ALL
-- the extension itself (not its version)
SELECT 'extension privacy :: ' || x.k || ' = ' || pg_temp.fp_text(x.v)
  FROM pg_extension e
 CROSS JOIN LATERAL (VALUES ('schema', e.extnamespace::regnamespace::text),
                            ('owner', e.extowner::regrole::text),
                            ('relocatable', e.extrelocatable::text)) x(k, v)
 WHERE e.extname = 'privacy'
UNION ALL
-- what pg_dump keeps: each configuration table or sequence with its condition
SELECT 'extension privacy :: config dump ' || c.rel::regclass::text || ' = ' || pg_temp.fp_text(c.cond)
  FROM pg_extension e
 CROSS JOIN LATERAL unnest(e.extconfig, e.extcondition) c(rel, cond)
 WHERE e.extname = 'privacy'
UNION ALL
SELECT 'extension privacy :: config dump count = ' || COALESCE(cardinality(e.extconfig), 0)
  FROM pg_extension e WHERE e.extname = 'privacy'
UNION ALL
-- the schema
SELECT 'schema ' || n.nspname || ' :: ' || x.k || ' = ' || pg_temp.fp_text(x.v)
  FROM pg_extension e
  JOIN pg_namespace n ON n.oid = e.extnamespace
 CROSS JOIN LATERAL (VALUES ('owner', n.nspowner::regrole::text),
                            ('acl', n.nspacl::text),
                            ('comment', obj_description(n.oid, 'pg_namespace'))) x(k, v)
 WHERE e.extname = 'privacy'
UNION ALL
-- functions and procedures
SELECT 'function ' || m.identity || ' :: ' || x.k || ' = ' || pg_temp.fp_text(x.v)
  FROM fp_member m
  JOIN pg_proc p ON p.oid = m.objid
  JOIN pg_language l ON l.oid = p.prolang
 CROSS JOIN LATERAL (VALUES
        ('kind', p.prokind::text),
        ('language', l.lanname::text),
        ('volatility', p.provolatile::text),
        ('strict', p.proisstrict::text),
        ('security definer', p.prosecdef::text),
        ('leakproof', p.proleakproof::text),
        ('parallel', p.proparallel::text),
        ('config', p.proconfig::text),
        ('arguments', pg_get_function_arguments(p.oid)),
        ('result', pg_get_function_result(p.oid)),
        ('returns set', p.proretset::text),
        ('cost', p.procost::text),
        ('rows', p.prorows::text),
        ('support', p.prosupport::text),
        ('owner', p.proowner::regrole::text),
        ('acl', p.proacl::text),
        ('comment', obj_description(p.oid, 'pg_proc')),
        ('probin', p.probin),
        ('sql body', CASE WHEN p.prosqlbody IS NOT NULL THEN pg_get_function_sqlbody(p.oid) END),
        ('body', pg_temp.fp_body(p.prosrc))) x(k, v)
 WHERE m.classid = 'pg_proc'::regclass
UNION ALL
-- relations: tables, views, sequences, the relations of composite types
SELECT 'relation ' || c.oid::regclass::text || ' :: ' || x.k || ' = ' || pg_temp.fp_text(x.v)
  FROM fp_member m
  JOIN pg_class c ON c.oid = m.objid
 CROSS JOIN LATERAL (VALUES
        ('kind', c.relkind::text),
        ('persistence', c.relpersistence::text),
        ('options', c.reloptions::text),
        ('owner', c.relowner::regrole::text),
        ('acl', c.relacl::text),
        ('row security', c.relrowsecurity::text || ' ' || c.relforcerowsecurity::text),
        ('replica identity', c.relreplident::text),
        ('partition', c.relispartition::text || ' ' || c.relkind::text),
        ('comment', obj_description(c.oid, 'pg_class')),
        ('view', CASE WHEN c.relkind IN ('v', 'm') THEN regexp_replace(pg_get_viewdef(c.oid), '\s+', ' ', 'g') END)) x(k, v)
 WHERE m.classid = 'pg_class'::regclass
UNION ALL
-- columns (of tables, views, sequences and composite types)
-- (numbered by position among the columns not dropped: an upgraded table
-- keeps the numbers of the columns a step dropped)
SELECT 'relation ' || c.oid::regclass::text || ' :: column '
       || lpad((SELECT count(*) FROM pg_attribute b
                 WHERE b.attrelid = a.attrelid AND b.attnum > 0 AND NOT b.attisdropped AND b.attnum <= a.attnum)::text, 3, '0')
       || ' ' || quote_ident(a.attname)
       || ' = ' || pg_temp.fp_text(concat_ws(' | ',
              format_type(a.atttypid, a.atttypmod),
              CASE WHEN a.attnotnull THEN 'not null' END,
              'default ' || pg_get_expr(d.adbin, d.adrelid),
              'identity ' || NULLIF(a.attidentity::text, ''),
              'generated ' || NULLIF(a.attgenerated::text, ''),
              'collation ' || CASE WHEN a.attcollation <> 0 THEN a.attcollation::regcollation::text END,
              'acl ' || a.attacl::text,
              'comment ' || col_description(c.oid, a.attnum)))
  FROM fp_member m
  JOIN pg_class c ON c.oid = m.objid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE m.classid = 'pg_class'::regclass
UNION ALL
-- the columns of composite types
SELECT 'type ' || t.oid::regtype::text || ' :: column ' || lpad(a.attnum::text, 3, '0') || ' ' || quote_ident(a.attname)
       || ' = ' || format_type(a.atttypid, a.atttypmod)
  FROM fp_member m
  JOIN pg_type t ON t.oid = m.objid
  JOIN pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE m.classid = 'pg_type'::regclass
UNION ALL
SELECT 'type ' || t.oid::regtype::text || ' :: ' || x.k || ' = ' || pg_temp.fp_text(x.v)
  FROM fp_member m
  JOIN pg_type t ON t.oid = m.objid
 CROSS JOIN LATERAL (VALUES ('type', t.typtype::text),
                            ('owner', t.typowner::regrole::text),
                            ('acl', t.typacl::text),
                            ('comment', obj_description(t.oid, 'pg_type'))) x(k, v)
 WHERE m.classid = 'pg_type'::regclass
UNION ALL
-- constraints
SELECT 'relation ' || k.conrelid::regclass::text || ' :: constraint ' || quote_ident(k.conname) || ' = '
       || pg_temp.fp_text(pg_get_constraintdef(k.oid) || CASE WHEN k.condeferrable THEN ' deferrable' ELSE '' END
                          || CASE WHEN k.condeferred THEN ' deferred' ELSE '' END
                          || CASE WHEN k.convalidated THEN '' ELSE ' not valid' END)
  FROM fp_member m
  JOIN pg_constraint k ON k.conrelid = m.objid
 WHERE m.classid = 'pg_class'::regclass
UNION ALL
-- indexes
SELECT 'relation ' || x.indrelid::regclass::text || ' :: index ' || quote_ident(i.relname) || ' = '
       || pg_temp.fp_text(pg_get_indexdef(x.indexrelid) || COALESCE(' comment ' || obj_description(i.oid, 'pg_class'), ''))
  FROM fp_member m
  JOIN pg_index x ON x.indrelid = m.objid
  JOIN pg_class i ON i.oid = x.indexrelid
 WHERE m.classid = 'pg_class'::regclass
UNION ALL
-- triggers
SELECT 'relation ' || g.tgrelid::regclass::text || ' :: trigger ' || quote_ident(g.tgname) || ' = '
       || pg_temp.fp_text(pg_get_triggerdef(g.oid) || ' enabled ' || g.tgenabled::text
                          || COALESCE(' comment ' || obj_description(g.oid, 'pg_trigger'), ''))
  FROM fp_member m
  JOIN pg_trigger g ON g.tgrelid = m.objid AND NOT g.tgisinternal
 WHERE m.classid = 'pg_class'::regclass
UNION ALL
-- rules other than views' and policies
SELECT 'relation ' || r.ev_class::regclass::text || ' :: rule ' || quote_ident(r.rulename) || ' = '
       || pg_temp.fp_text(pg_get_ruledef(r.oid))
  FROM fp_member m
  JOIN pg_rewrite r ON r.ev_class = m.objid AND r.rulename <> '_RETURN'
 WHERE m.classid = 'pg_class'::regclass
UNION ALL
SELECT 'relation ' || p.polrelid::regclass::text || ' :: policy ' || quote_ident(p.polname) || ' = '
       || pg_temp.fp_text(concat_ws(' | ', p.polcmd::text, p.polpermissive::text, p.polroles::regrole[]::text,
                                    pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)))
  FROM fp_member m
  JOIN pg_policy p ON p.polrelid = m.objid
 WHERE m.classid = 'pg_class'::regclass
UNION ALL
-- sequences: their parameters and the column that owns them
SELECT 'relation ' || s.seqrelid::regclass::text || ' :: sequence = '
       || concat_ws(' ', s.seqtypid::regtype::text, 'start', s.seqstart, 'increment', s.seqincrement,
                    'min', s.seqmin, 'max', s.seqmax, 'cache', s.seqcache, CASE WHEN s.seqcycle THEN 'cycle' END)
  FROM pg_sequence s
 WHERE s.seqrelid IN (SELECT m.objid FROM fp_member m WHERE m.classid = 'pg_class'::regclass)
    OR s.seqrelid IN (SELECT d.objid FROM pg_depend d JOIN fp_member m ON m.classid = 'pg_class'::regclass
                                                              AND d.refobjid = m.objid
                       WHERE d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
UNION ALL
SELECT 'relation ' || d.objid::regclass::text || ' :: owned by = ' || d.refobjid::regclass::text || '.'
       || quote_ident(a.attname) || ' (' || d.deptype::text || ')'
  FROM pg_depend d
  JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
  JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
   AND d.refobjid IN (SELECT m.objid FROM fp_member m WHERE m.classid = 'pg_class'::regclass)
UNION ALL
-- sequences that come with identity columns: their comments
SELECT 'relation ' || s.oid::regclass::text || ' :: comment = ' || pg_temp.fp_text(obj_description(s.oid, 'pg_class'))
  FROM pg_depend d
  JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'i'
   AND d.refobjid IN (SELECT m.objid FROM fp_member m WHERE m.classid = 'pg_class'::regclass)
UNION ALL
-- event triggers
SELECT 'event trigger ' || quote_ident(t.evtname) || ' :: ' || x.k || ' = ' || pg_temp.fp_text(x.v)
  FROM fp_member m
  JOIN pg_event_trigger t ON t.oid = m.objid
 CROSS JOIN LATERAL (VALUES ('event', t.evtevent::text),
                            ('tags', t.evttags::text),
                            ('function', t.evtfoid::regprocedure::text),
                            ('enabled', t.evtenabled::text),
                            ('owner', t.evtowner::regrole::text),
                            ('comment', obj_description(t.oid, 'pg_event_trigger'))) x(k, v)
 WHERE m.classid = 'pg_event_trigger'::regclass
UNION ALL
-- the privileges pg_dump takes as the extension's own (pg_init_privs): of
-- members, their columns, and the schema
SELECT 'init privs ' || o.type || ' ' || o.identity || ' :: ' || i.privtype::text || ' = ' || pg_temp.fp_text(i.initprivs::text)
  FROM pg_init_privs i
 CROSS JOIN LATERAL pg_identify_object(i.classoid, i.objoid, i.objsubid) o
 WHERE EXISTS (SELECT 1 FROM fp_member m WHERE m.classid = i.classoid AND m.objid = i.objoid)
    OR (i.classoid = 'pg_namespace'::regclass AND i.objoid = (SELECT e.extnamespace FROM pg_extension e WHERE e.extname = 'privacy'))
UNION ALL
-- security labels on members, their columns, and the schema (any provider)
SELECT 'security label ' || o.type || ' ' || o.identity || ' :: ' || l.provider || ' = ' || pg_temp.fp_text(l.label)
  FROM pg_seclabel l
 CROSS JOIN LATERAL pg_identify_object(l.classoid, l.objoid, l.objsubid) o
 WHERE EXISTS (SELECT 1 FROM fp_member m WHERE m.classid = l.classoid AND m.objid = l.objoid)
    OR (l.classoid = 'pg_namespace'::regclass AND l.objoid = (SELECT e.extnamespace FROM pg_extension e WHERE e.extname = 'privacy'))
UNION ALL
-- the rows the install script writes (seeds), per table (unless fp_rows is off)
SELECT 'relation ' || c.oid::regclass::text || ' :: rows = ' || pg_temp.fp_rows(c.oid)
  FROM fp_member m
  JOIN pg_class c ON c.oid = m.objid AND c.relkind IN ('r', 'p')
 WHERE m.classid = 'pg_class'::regclass AND :'fp_rows'::boolean;

SELECT line FROM fp_line ORDER BY line COLLATE "C";

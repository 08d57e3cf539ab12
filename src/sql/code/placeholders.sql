-- src/sql/code/placeholders.sql: the values that replace what cancellation, retention and anonymization erase: placeholder_sql, anonymous_value

-- the SQL of a placeholder: a fixed value of the column's type that keeps
-- nothing of the original (expr stays NULL when NULL); NULL for a type that
-- has none
CREATE FUNCTION privacy.placeholder_sql(expr text, typ pg_catalog.regtype, category text, typmod integer DEFAULT -1) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    tc "char";
    b oid;
    v text;
BEGIN
    SELECT t.typcategory, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
      INTO tc, b
      FROM pg_catalog.pg_type t WHERE t.oid = typ;
    IF tc = 'S' THEN
        -- e-mail form for e-mail addresses; digits stay digits (check constraints)
        v := CASE WHEN category ~ '^contact\.email' THEN '''anonymized@anonymized.invalid'''
                  ELSE pg_catalog.format('CASE WHEN (%1$s)::pg_catalog.text OPERATOR(pg_catalog.~) ''@'' THEN ''anonymized@anonymized.invalid'' '
                                         'WHEN (%1$s)::pg_catalog.text OPERATOR(pg_catalog.~) ''^[0-9]+$'' THEN pg_catalog.repeat(''0'', pg_catalog.length((%1$s)::pg_catalog.text)) '
                                         'ELSE ''anonymized'' END', expr) END;
    ELSIF tc = 'N' THEN
        v := '0';
    ELSIF tc = 'D' THEN
        v := CASE WHEN b = ANY (ARRAY['pg_catalog.time'::pg_catalog.regtype, 'pg_catalog.timetz'::pg_catalog.regtype]::oid[])
                  THEN '''00:00''' ELSE '''1970-01-01''' END;
    ELSIF tc = 'T' THEN
        v := '''0''';
    ELSIF tc = 'B' THEN
        v := 'false';
    ELSIF tc = 'A' THEN
        v := '''{}''';
    ELSIF tc = 'I' THEN
        v := pg_catalog.format('CASE pg_catalog.family((%s)::pg_catalog.text::pg_catalog.inet) WHEN 6 THEN ''::'' ELSE ''0.0.0.0'' END', expr);
    ELSIF b = 'pg_catalog.uuid'::pg_catalog.regtype THEN
        v := '''00000000-0000-0000-0000-000000000000''';
    ELSIF b = 'pg_catalog.bytea'::pg_catalog.regtype THEN
        v := '''\x''';
    ELSIF b = ANY (ARRAY['pg_catalog.json'::pg_catalog.regtype, 'pg_catalog.jsonb'::pg_catalog.regtype]::oid[]) THEN
        v := '''{}''';
    ELSE
        RETURN NULL;
    END IF;
    RETURN pg_catalog.format('(CASE WHEN (%s) IS NULL THEN NULL ELSE %s END)::%s', expr, v, pg_catalog.format_type(typ, typmod));
END
$$;
COMMENT ON FUNCTION privacy.placeholder_sql(text, pg_catalog.regtype, text, integer) IS
    'internal: the SQL of the placeholder that replaces expr, of type typ: e-mail form for contact.email or values with @, zeros for digit strings, ''anonymized'' for other text, zero, the epoch, false, empty, 0.0.0.0 or ::; NULL stays NULL; NULL for a type without one';
GRANT EXECUTE ON FUNCTION privacy.placeholder_sql(text, pg_catalog.regtype, text, integer) TO PUBLIC;

-- the value that replaces a NOT NULL labelled column when its row is anonymized
CREATE FUNCTION privacy.anonymous_value(value anyelement, category text, is_unique boolean DEFAULT false)
    RETURNS anyelement
    LANGUAGE plpgsql VOLATILE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    typ regtype := pg_catalog.pg_typeof(value);
    tc "char";
    v text;
    token text;
    placeholder text;
    result value%TYPE;
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT t.typcategory INTO tc FROM pg_catalog.pg_type t WHERE t.oid = typ;
    -- a unique column gets a random value of the same shape
    IF is_unique THEN
        token := pg_catalog.encode(pg_catalog.uuid_send(pg_catalog.gen_random_uuid()), 'hex');
        IF tc = 'S' THEN
            v := value::text;
            IF category ~ '^contact\.email' OR v ~ '@' THEN
                RETURN 'anonymized-' || token || '@anonymized.invalid';
            ELSIF v ~ '^[0-9]+$' THEN
                -- digits stay digits (check constraints), none of them the original's
                RETURN (SELECT pg_catalog.string_agg(pg_catalog.floor(pg_catalog.random() * 10)::integer::text, '')
                          FROM pg_catalog.generate_series(1, pg_catalog.length(v)));
            END IF;
            RETURN 'anonymized-' || token;
        ELSIF tc = 'N' THEN
            RETURN (pg_catalog.random() * (CASE WHEN typ = 'pg_catalog.int2'::regtype THEN 32767 ELSE 2147483647 END))::integer;
        ELSIF typ = 'pg_catalog.uuid'::regtype THEN
            RETURN pg_catalog.gen_random_uuid();
        ELSIF typ = 'pg_catalog.bytea'::regtype THEN
            RETURN pg_catalog.decode(token, 'hex');
        END IF;
    END IF;
    placeholder := privacy.placeholder_sql('$1', typ, category);
    IF placeholder IS NULL THEN
        RAISE EXCEPTION 'no anonymous value for a NOT NULL column of type %', typ
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Make the column nullable (it is then set to NULL), or use ON CANCEL DELETE for its table.';
    END IF;
    EXECUTE 'SELECT ' || placeholder INTO result USING value;
    RETURN result;
END
$$;
COMMENT ON FUNCTION privacy.anonymous_value(anyelement, text, boolean) IS
    'a value that identifies nobody and keeps nothing of the original, of the same type: a placeholder chosen by category (e-mail form for contact.email, zeros for digit strings, zero, the epoch, ...), random when the column is unique';
GRANT EXECUTE ON FUNCTION privacy.anonymous_value(anyelement, text, boolean) TO PUBLIC;

-- The SQL of a random anonymous value for a unique column of type typid(typmod):
-- a text of limited length gets random hex of that length (the shaped value
-- cut to the length would be the same for every row)
CREATE FUNCTION privacy.unique_anonymous_sql(expr text, category text, typid pg_catalog.regtype, typmod integer)
    RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE WHEN t.typcategory = 'S' AND typmod > 4
                    THEN pg_catalog.format('(SELECT CASE WHEN pg_catalog.length(x.v) <= %s THEN x.v ELSE pg_catalog.substr(pg_catalog.md5(x.v), 1, %s) END FROM (SELECT privacy.anonymous_value(%s, %L, true)::pg_catalog.text AS v) x)::%s',
                                           typmod - 4, typmod - 4, expr, category, pg_catalog.format_type(typid, typmod))
                    ELSE pg_catalog.format('privacy.anonymous_value(%s, %L, true)::%s', expr, category, pg_catalog.format_type(typid, typmod)) END
          FROM pg_catalog.pg_type t WHERE t.oid = typid
    $$;
COMMENT ON FUNCTION privacy.unique_anonymous_sql(text, text, pg_catalog.regtype, integer) IS
    'internal: the SQL of a random anonymous value for a unique column of a type and typmod (random hex of the length of a varchar(n) or char(n) too short for the shaped value)';
REVOKE ALL ON FUNCTION privacy.unique_anonymous_sql(text, text, pg_catalog.regtype, integer) FROM PUBLIC;

-- The SQL of what a NOT NULL SUBJECT column holding the subject becomes:
-- value_sql (a placeholder or a random value), unless that is the subject
-- itself, as a placeholder cut to a short column can be ('anonymized' in a
-- char(1) is 'a'): then a value that differs from the subject in its first
-- character ('0', or '1' for a subject starting with '0').  A number's
-- placeholder, 0, stays 0 even for subject 0: it is the placeholder that
-- names nobody (doc/cancellation.md), and any other number could be a
-- subject's.  $1[1] is the subject's canonical form, cmp the type it is
-- compared as, typ the column's type with its typmod.
CREATE FUNCTION privacy.not_subject_sql(value_sql text, cmp text, typid pg_catalog.regtype, typ text)
    RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE t.typcategory
                    WHEN 'S' THEN pg_catalog.format('(SELECT CASE WHEN r.v = ($1[1])::%1$s THEN (CASE WHEN pg_catalog."left"($1[1], 1) = ''0'' THEN ''1'' ELSE ''0'' END)::%2$s ELSE r.v END FROM (SELECT (%3$s)::%2$s AS v) r)',
                                                  cmp, typ, value_sql)
                    ELSE value_sql END
          FROM pg_catalog.pg_type t WHERE t.oid = privacy.base_type(typid)
    $$;
COMMENT ON FUNCTION privacy.not_subject_sql(text, text, pg_catalog.regtype, text) IS
    'internal: the SQL of the value a NOT NULL SUBJECT column of text of a row that stays gets in place of the subject, never the subject itself (a placeholder cut to a char(1) can be)';
REVOKE ALL ON FUNCTION privacy.not_subject_sql(text, text, pg_catalog.regtype, text) FROM PUBLIC;

-- What a labelled column becomes when its row is anonymized by cancellation or
-- retention (the row stays, nobody's any more): the SQL over alias t, or NULL
-- when the column keeps its value (ANONYMIZE WITH KEEP, from the label or the
-- category).  A label's GENERALIZE generalizes; otherwise NULL, or a
-- placeholder when the column is NOT NULL (a random value of the same shape
-- when it is unique too).  Pseudonyms and FF1 need a key that would make the
-- row re-identifiable: here they are placeholders too.
CREATE FUNCTION privacy.anonymous_sql(rel oid, column_name name) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    c record;
    g record;
BEGIN
    SELECT a.attname, a.attnotnull, a.atttypid::pg_catalog.regtype AS typid, a.atttypmod,
           pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ, l.category, l.anonymize AS by_label,
           k.anonymize AS by_category,
           EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                    WHERE i.indrelid = rel AND i.indisunique
                      AND a.attnum = ANY (i.indkey::smallint[])) AS is_unique
      INTO c
      FROM pg_catalog.pg_attribute a
      JOIN privacy.labels l ON l.relation = COALESCE(pg_catalog.pg_partition_root(rel), rel::pg_catalog.regclass)
                           AND l.column_name = a.attname
      LEFT JOIN privacy.category k ON k.name = l.category
     WHERE a.attrelid = rel AND a.attname = anonymous_sql.column_name AND NOT a.attisdropped;
    IF NOT FOUND OR COALESCE(c.by_label, c.by_category) = 'keep' THEN
        RETURN NULL;
    END IF;
    IF c.by_label ~ '^generalize ' THEN
        SELECT * INTO g FROM privacy.generalization(pg_catalog.format('t.%I', c.attname), c.typid,
                                                   pg_catalog.substr(c.by_label, 12)::integer);
        IF g.sql IS NOT NULL THEN
            RETURN pg_catalog.format('(%s)::%s', g.sql, c.typ);
        END IF;
    END IF;
    IF NOT c.attnotnull THEN
        RETURN pg_catalog.format('NULL::%s', c.typ);
    ELSIF c.is_unique THEN
        RETURN privacy.unique_anonymous_sql(pg_catalog.format('t.%I', c.attname), c.category, c.typid, c.atttypmod);
    END IF;
    RETURN COALESCE(privacy.placeholder_sql(pg_catalog.format('t.%I', c.attname), c.typid, c.category, c.atttypmod),
                    pg_catalog.format('privacy.anonymous_value(t.%I, %L, false)::%s', c.attname, c.category, c.typ));
END
$$;
COMMENT ON FUNCTION privacy.anonymous_sql(oid, name) IS
    'internal: the SQL (over alias t) of what a labelled column becomes when cancellation or retention anonymizes its row: NULL when it keeps its value (ANONYMIZE WITH KEEP), a generalization for a label''s GENERALIZE, else NULL, a placeholder, or a random value of the same shape when it is unique';
REVOKE ALL ON FUNCTION privacy.anonymous_sql(oid, name) FROM PUBLIC;

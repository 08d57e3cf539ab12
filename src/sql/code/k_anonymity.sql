-- src/sql/code/k_anonymity.sql: k-anonymity: generalization hierarchies (each type's, and a DBA's), k_anonymity, generalize_until

-- the generalization hierarchy a type follows: date, timestamp, number, inet,
-- text, or other (exact or suppressed); a domain follows its base type
CREATE FUNCTION privacy.generalization_kind(typ pg_catalog.regtype) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_generalization_kind'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.generalization_kind(pg_catalog.regtype) IS
    'the generalization hierarchy a type follows (date, timestamp, number, inet, text, other); a domain follows its base type';
GRANT EXECUTE ON FUNCTION privacy.generalization_kind(pg_catalog.regtype) TO PUBLIC;

-- the top level of a type's hierarchy: the column suppressed
CREATE FUNCTION privacy.generalization_top(typ pg_catalog.regtype) RETURNS integer
    AS 'MODULE_PATHNAME', 'privacy_generalization_top'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.generalization_top(pg_catalog.regtype) IS
    'the top level of a type''s generalization hierarchy, where the column is suppressed';
GRANT EXECUTE ON FUNCTION privacy.generalization_top(pg_catalog.regtype) TO PUBLIC;

-- how many levels a DBA's hierarchy has (its values' ancestors), checked:
-- every value has as many, and an ancestor has the same ancestors above it
-- wherever it appears, so that groups only merge as levels rise
CREATE FUNCTION privacy.hierarchy_levels(hierarchy_name text) RETURNS integer
    LANGUAGE plpgsql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    levels integer;
    bad record;
BEGIN
    SELECT pg_catalog.min(pg_catalog.cardinality(h.ancestors)), pg_catalog.max(pg_catalog.cardinality(h.ancestors))
      INTO bad FROM privacy.hierarchy h WHERE h.hierarchy = hierarchy_name;
    IF bad.min IS NULL THEN
        RAISE EXCEPTION 'generalization hierarchy "%" does not exist', hierarchy_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Add its values to privacy.hierarchy: INSERT INTO privacy.hierarchy VALUES (''region'', ''西湖区'', ''{杭州市,浙江省}'').';
    END IF;
    IF bad.min <> bad.max THEN
        RAISE EXCEPTION 'generalization hierarchy "%" has values with % and with % ancestors', hierarchy_name, bad.min, bad.max
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give every value of a hierarchy as many ancestors (one per level).';
    END IF;
    levels := bad.min;
    -- an ancestor at level l must have the same ancestors above it in every row
    SELECT x.l, y.a INTO bad
      FROM privacy.hierarchy h
     CROSS JOIN LATERAL pg_catalog.generate_series(1, levels - 1) x(l)
     CROSS JOIN LATERAL (SELECT h.ancestors[x.l] AS a, h.ancestors[x.l + 1 :] AS above) y
     WHERE h.hierarchy = hierarchy_name
     GROUP BY x.l, y.a
    HAVING pg_catalog.count(DISTINCT y.above) > 1
     ORDER BY x.l, y.a
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'generalization hierarchy "%" is not a tree: "%" at level % has different ancestors in different rows', hierarchy_name, bad.a, bad.l
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'An ancestor must have the same ancestors above it wherever it appears.';
    END IF;
    RETURN levels;
END
$$;
COMMENT ON FUNCTION privacy.hierarchy_levels(text) IS
    'the number of levels of a generalization hierarchy of privacy.hierarchy (the ancestors of each value), after checking that every value has as many and that each ancestor has the same ancestors above it; an error otherwise';
-- Reads only privacy.hierarchy, which everybody may read.
GRANT EXECUTE ON FUNCTION privacy.hierarchy_levels(text) TO PUBLIC;

-- one level of a column's generalization hierarchy: the SQL expression over
-- expr, and its name; NULL beyond the top (the top suppresses the column).
-- Each level coarsens the one below it, so a level that reaches k keeps it above.
-- With a hierarchy of privacy.hierarchy, level n is a value's n-th ancestor.
CREATE FUNCTION privacy.generalization(expr text, typ pg_catalog.regtype, level integer, hierarchy text DEFAULT NULL,
                                       OUT sql text, OUT label text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t text := privacy.generalization_kind(typ);
    top integer;
BEGIN
    IF expr IS NULL OR t IS NULL OR level IS NULL OR level < 0 THEN
        RETURN;
    END IF;
    IF generalization.hierarchy IS NOT NULL THEN
        top := privacy.hierarchy_levels(generalization.hierarchy) + 1;
        IF level = 0 THEN
            sql := expr;
            label := 'exact';
        ELSIF level < top THEN
            -- a value the hierarchy does not list is suppressed from level 1 on
            label := pg_catalog.format('%s level %s', generalization.hierarchy, level);
            sql := pg_catalog.format('(SELECT h.ancestors[%s] FROM privacy.hierarchy h WHERE h.hierarchy OPERATOR(pg_catalog.=) %L AND h.value OPERATOR(pg_catalog.=) (%s)::pg_catalog.text)',
                                     level, generalization.hierarchy, expr);
        ELSIF level = top THEN
            label := 'suppressed';
            sql := 'NULL::pg_catalog.text';
        END IF;
        RETURN;
    END IF;
    IF level = 0 THEN
        sql := expr;
        label := 'exact';
    ELSIF t = 'date' AND level <= 3 THEN
        label := (ARRAY['month', 'year', 'decade'])[level];
        sql := pg_catalog.format('pg_catalog.date_trunc(%L, (%s)::pg_catalog.timestamp)', label, expr);
    ELSIF t = 'timestamp' AND level <= 4 THEN
        label := (ARRAY['day', 'month', 'year', 'decade'])[level];
        sql := pg_catalog.format('pg_catalog.date_trunc(%L, (%s)::pg_catalog.timestamp)', label, expr);
    ELSIF t = 'number' AND level <= 4 THEN
        -- bands of 5, 10, 50, 100: each a union of bands of the level below
        label := pg_catalog.format('band of %s', (ARRAY[5, 10, 50, 100])[level]);
        sql := pg_catalog.format('(pg_catalog.floor((%s)::pg_catalog.numeric OPERATOR(pg_catalog./) %s) OPERATOR(pg_catalog.*) %2$s)',
                                 expr, (ARRAY[5, 10, 50, 100])[level]);
    ELSIF t = 'inet' AND level <= 3 THEN
        label := pg_catalog.format('network /%s (IPv6 /%s)', (ARRAY[24, 16, 8])[level], (ARRAY[64, 48, 32])[level]);
        sql := pg_catalog.format('pg_catalog.network(pg_catalog.set_masklen((%1$s)::pg_catalog.inet, CASE pg_catalog.family(%1$s) WHEN 4 THEN %2$s ELSE %3$s END))',
                                 expr, (ARRAY[24, 16, 8])[level], (ARRAY[64, 48, 32])[level]);
    ELSIF t = 'text' AND level <= 5 THEN
        -- the last characters dropped: postal codes, ID prefixes, addresses by region
        label := pg_catalog.format('last %s character%s dropped', level, CASE WHEN level > 1 THEN 's' ELSE '' END);
        sql := pg_catalog.format('pg_catalog.left((%s)::pg_catalog.text, -%s)', expr, level);
    ELSIF level = privacy.generalization_top(typ) THEN
        label := 'suppressed';
        sql := 'NULL::pg_catalog.text';
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.generalization(text, pg_catalog.regtype, integer, text) IS
    'one level of a column type''s generalization hierarchy: the SQL expression over expr and its name (dates: month, year, decade; timestamps: day, month, year, decade; numbers: bands of 5, 10, 50, 100; inet: /24, /16, /8 (IPv6 /64, /48, /32); text: 1 to 5 last characters dropped; any type: suppressed at the top), or of a hierarchy of privacy.hierarchy (level n: the n-th ancestor; a value it does not list suppressed); NULL beyond the top';
GRANT EXECUTE ON FUNCTION privacy.generalization(text, pg_catalog.regtype, integer, text) TO PUBLIC;

-- the hierarchies given for the quasi-identifiers (a JSON object of column
-- names and hierarchy names), checked; one entry per quasi-identifier, NULL
-- for the type's own
CREATE FUNCTION privacy.quasi_identifier_hierarchies(quasi_identifiers name[], hierarchies jsonb) RETURNS text[]
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    e record;
BEGIN
    IF hierarchies IS NULL THEN
        RETURN pg_catalog.array_fill(NULL::text, ARRAY[pg_catalog.cardinality(quasi_identifiers)]);
    END IF;
    IF pg_catalog.jsonb_typeof(hierarchies) <> 'object' THEN
        RAISE EXCEPTION 'hierarchies must be a JSON object of quasi-identifier columns and hierarchy names'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'For example ''{"district": "cn_region"}''.';
    END IF;
    FOR e IN SELECT j.key, j.value FROM pg_catalog.jsonb_each(hierarchies) j ORDER BY j.key LOOP
        IF NOT e.key = ANY (quasi_identifiers::text[]) THEN
            RAISE EXCEPTION 'a hierarchy is given for "%", which is not a quasi-identifier', e.key
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF pg_catalog.jsonb_typeof(e.value) <> 'string' THEN
            RAISE EXCEPTION 'the hierarchy of "%" must be named by a JSON string', e.key
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        PERFORM privacy.hierarchy_levels(e.value #>> '{}');
    END LOOP;
    RETURN ARRAY(SELECT hierarchies ->> q FROM pg_catalog.unnest(quasi_identifiers::text[]) WITH ORDINALITY u(q, o) ORDER BY u.o);
END
$$;
COMMENT ON FUNCTION privacy.quasi_identifier_hierarchies(name[], jsonb) IS
    'the hierarchy names given for the quasi-identifiers, in their order (NULL: the type''s own hierarchy), checked: an object, keys among the quasi-identifiers, each naming a valid hierarchy of privacy.hierarchy (internal, used by k_anonymity and generalize_until)';
GRANT EXECUTE ON FUNCTION privacy.quasi_identifier_hierarchies(name[], jsonb) TO PUBLIC;

CREATE FUNCTION privacy.k_anonymity(rel pg_catalog.regclass, quasi_identifiers name[], levels integer[] DEFAULT NULL,
                                    hierarchies jsonb DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k bigint;
    types pg_catalog.regtype[];
    hs text[];
    exprs text[] := ARRAY[]::text[];
    g record;
    top integer;
BEGIN
    types := privacy.quasi_identifier_types(rel, quasi_identifiers);
    hs := privacy.quasi_identifier_hierarchies(quasi_identifiers, hierarchies);
    IF levels IS NOT NULL AND (pg_catalog.cardinality(levels) <> pg_catalog.cardinality(quasi_identifiers)
                               OR pg_catalog.array_ndims(levels) <> 1
                               OR pg_catalog.array_position(levels, NULL) IS NOT NULL) THEN
        RAISE EXCEPTION 'levels must give one level for each quasi-identifier'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 1 .. pg_catalog.cardinality(quasi_identifiers) LOOP
        top := CASE WHEN hs[i] IS NULL THEN privacy.generalization_top(types[i]) ELSE privacy.hierarchy_levels(hs[i]) + 1 END;
        IF levels[i] < 0 OR levels[i] > top THEN
            RAISE EXCEPTION 'level % of "%" is not between 0 and %', levels[i], quasi_identifiers[i], top
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        g := privacy.generalization(pg_catalog.format('t.%I', quasi_identifiers[i]), types[i], COALESCE(levels[i], 0), hs[i]);
        exprs := exprs || g.sql;
    END LOOP;
    EXECUTE pg_catalog.format('SELECT pg_catalog.min(g.n) FROM (SELECT pg_catalog.count(*) AS n FROM %s t GROUP BY %s) g',
                              rel, pg_catalog.array_to_string(exprs, ', '))
       INTO k;
    RETURN k;
END
$$;
COMMENT ON FUNCTION privacy.k_anonymity(pg_catalog.regclass, name[], integer[], jsonb) IS
    'the k of a table or view over its quasi-identifiers: the size of the smallest group of rows that share their values (NULLs count as one value), at the given generalization levels (default 0: the values themselves) of each type''s hierarchy or of the hierarchies named for columns; NULL for no rows; read as the caller';
GRANT EXECUTE ON FUNCTION privacy.k_anonymity(pg_catalog.regclass, name[], integer[], jsonb) TO PUBLIC;

-- the quasi-identifiers checked: each a column of rel, once; their types in order
CREATE FUNCTION privacy.quasi_identifier_types(rel pg_catalog.regclass, quasi_identifiers name[])
    RETURNS pg_catalog.regtype[]
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    types pg_catalog.regtype[] := ARRAY[]::pg_catalog.regtype[];
    q name;
    t pg_catalog.regtype;
BEGIN
    IF rel IS NULL OR quasi_identifiers IS NULL OR pg_catalog.cardinality(quasi_identifiers) = 0
       OR pg_catalog.array_position(quasi_identifiers, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'a relation and at least one quasi-identifier column are needed, and no NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF (SELECT pg_catalog.count(DISTINCT x) FROM pg_catalog.unnest(quasi_identifiers) x)
       <> pg_catalog.cardinality(quasi_identifiers) THEN
        RAISE EXCEPTION 'a quasi-identifier is named twice'
            USING ERRCODE = 'duplicate_column';
    END IF;
    FOREACH q IN ARRAY quasi_identifiers LOOP
        SELECT a.atttypid::pg_catalog.regtype INTO t FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = rel AND a.attname = q
           AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'column "%" of relation % does not exist', q, rel
                USING ERRCODE = 'undefined_column';
        END IF;
        types := types || t;
    END LOOP;
    RETURN types;
END
$$;
COMMENT ON FUNCTION privacy.quasi_identifier_types(pg_catalog.regclass, name[]) IS
    'the types of the named quasi-identifier columns, in order; errors for a missing, repeated or NULL name (internal, used by k_anonymity and generalize_until)';
GRANT EXECUTE ON FUNCTION privacy.quasi_identifier_types(pg_catalog.regclass, name[]) TO PUBLIC;

CREATE FUNCTION privacy.generalize_until(rel pg_catalog.regclass, quasi_identifiers name[], k integer,
                                         hierarchies jsonb DEFAULT NULL)
    RETURNS TABLE (levels integer[], generalizations text[], k_reached bigint, loss integer)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    types pg_catalog.regtype[];
    hs text[];
    tops integer[];
    n integer;
    nodes bigint := 1;
    cur integer[];
    i integer;
    g record;
    exprs text[];
    names text[];
    reached bigint;
    found_levels integer[][] := '{}'::integer[];
    found_k bigint[] := '{}'::bigint[];
    dominated boolean;
BEGIN
    types := privacy.quasi_identifier_types(rel, quasi_identifiers);
    IF k IS NULL OR k < 1 THEN
        RAISE EXCEPTION 'k must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    hs := privacy.quasi_identifier_hierarchies(quasi_identifiers, hierarchies);
    n := pg_catalog.cardinality(types);
    SELECT pg_catalog.array_agg(CASE WHEN hs[o] IS NULL THEN privacy.generalization_top(t)
                                     ELSE privacy.hierarchy_levels(hs[o]) + 1 END ORDER BY o) INTO tops
      FROM pg_catalog.unnest(types) WITH ORDINALITY u(t, o);
    FOR i IN 1 .. n LOOP
        nodes := nodes * (tops[i] + 1);
    END LOOP;
    IF nodes > 10000 THEN
        RAISE EXCEPTION 'too many combinations of generalization levels: %', nodes
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'Name fewer quasi-identifiers at a time.';
    END IF;
    -- every combination of levels, lowest total first; one GROUP BY each
    cur := pg_catalog.array_fill(0, ARRAY[n]);
    LOOP
        exprs := ARRAY[]::text[];
        names := ARRAY[]::text[];
        FOR i IN 1 .. n LOOP
            g := privacy.generalization(pg_catalog.format('t.%I', quasi_identifiers[i]), types[i], cur[i], hs[i]);
            exprs := exprs || g.sql;
            names := names || pg_catalog.format('%s: %s', quasi_identifiers[i], g.label);
        END LOOP;
        -- a combination above one that reaches k reaches it too: skip the query
        dominated := false;
        FOR j IN 1 .. COALESCE(pg_catalog.array_length(found_k, 1), 0) LOOP
            IF (SELECT pg_catalog.bool_and(found_levels[j][x] <= cur[x]) FROM pg_catalog.generate_series(1, n) x) THEN
                dominated := true;
                EXIT;
            END IF;
        END LOOP;
        IF NOT dominated THEN
            EXECUTE pg_catalog.format('SELECT pg_catalog.min(g.n) FROM (SELECT pg_catalog.count(*) AS n FROM %s t GROUP BY %s) g',
                                      rel, pg_catalog.array_to_string(exprs, ', '))
               INTO reached;
            IF reached >= k THEN
                found_levels := found_levels || ARRAY[cur];
                found_k := found_k || reached;
                levels := cur;
                generalizations := names;
                k_reached := reached;
                loss := (SELECT pg_catalog.sum(x)::integer FROM pg_catalog.unnest(cur) x);
                RETURN NEXT;
            END IF;
        END IF;
        -- the next combination (mixed radix, first column fastest)
        i := 1;
        LOOP
            EXIT WHEN i > n;
            IF cur[i] < tops[i] THEN
                cur[i] := cur[i] + 1;
                EXIT;
            END IF;
            cur[i] := 0;
            i := i + 1;
        END LOOP;
        EXIT WHEN i > n;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.generalize_until(pg_catalog.regclass, name[], integer, jsonb) IS
    'the minimal combinations of generalization levels (privacy.generalization: each type''s hierarchy, or the hierarchies of privacy.hierarchy named for columns) of the quasi-identifiers that make the table k-anonymous: levels, their names, the k reached and the loss (sum of levels); read as the caller';
GRANT EXECUTE ON FUNCTION privacy.generalize_until(pg_catalog.regclass, name[], integer, jsonb) TO PUBLIC;

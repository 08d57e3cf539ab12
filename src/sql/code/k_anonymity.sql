-- src/sql/code/k_anonymity.sql: k-anonymity: generalization hierarchies, k_anonymity, generalize_until

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

-- one level of a column's generalization hierarchy: the SQL expression over
-- expr, and its name; NULL beyond the top (the top suppresses the column).
-- Each level coarsens the one below it, so a level that reaches k keeps it above.
CREATE FUNCTION privacy.generalization(expr text, typ pg_catalog.regtype, level integer,
                                       OUT sql text, OUT label text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t text := privacy.generalization_kind(typ);
BEGIN
    IF expr IS NULL OR t IS NULL OR level IS NULL OR level < 0 THEN
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
COMMENT ON FUNCTION privacy.generalization(text, pg_catalog.regtype, integer) IS
    'one level of a column type''s generalization hierarchy: the SQL expression over expr and its name (dates: month, year, decade; timestamps: day, month, year, decade; numbers: bands of 5, 10, 50, 100; inet: /24, /16, /8 (IPv6 /64, /48, /32); text: 1 to 5 last characters dropped; any type: suppressed at the top); NULL beyond the top';
GRANT EXECUTE ON FUNCTION privacy.generalization(text, pg_catalog.regtype, integer) TO PUBLIC;

CREATE FUNCTION privacy.k_anonymity(rel pg_catalog.regclass, quasi_identifiers name[]) RETURNS bigint
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k bigint;
BEGIN
    PERFORM privacy.quasi_identifier_types(rel, quasi_identifiers);
    EXECUTE pg_catalog.format('SELECT pg_catalog.min(g.n) FROM (SELECT pg_catalog.count(*) AS n FROM %s t GROUP BY %s) g',
                              rel, (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', q), ', ')
                                      FROM pg_catalog.unnest(quasi_identifiers) q))
       INTO k;
    RETURN k;
END
$$;
COMMENT ON FUNCTION privacy.k_anonymity(pg_catalog.regclass, name[]) IS
    'the k of a table or view over its quasi-identifiers: the size of the smallest group of rows that share their values (NULLs count as one value); NULL for no rows; read as the caller';
GRANT EXECUTE ON FUNCTION privacy.k_anonymity(pg_catalog.regclass, name[]) TO PUBLIC;

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

CREATE FUNCTION privacy.generalize_until(rel pg_catalog.regclass, quasi_identifiers name[], k integer)
    RETURNS TABLE (levels integer[], generalizations text[], k_reached bigint, loss integer)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    types pg_catalog.regtype[];
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
    n := pg_catalog.cardinality(types);
    SELECT pg_catalog.array_agg(privacy.generalization_top(t) ORDER BY o) INTO tops
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
            g := privacy.generalization(pg_catalog.format('t.%I', quasi_identifiers[i]), types[i], cur[i]);
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
COMMENT ON FUNCTION privacy.generalize_until(pg_catalog.regclass, name[], integer) IS
    'the minimal combinations of generalization levels (privacy.generalization) of the quasi-identifiers that make the table k-anonymous: levels, their names, the k reached and the loss (sum of levels); read as the caller';
GRANT EXECUTE ON FUNCTION privacy.generalize_until(pg_catalog.regclass, name[], integer) TO PUBLIC;

-- src/sql/code/discovery.sql: discovery: value validators, sampling, name rules, suggestions and applying them

CREATE FUNCTION privacy.validators()
    RETURNS TABLE (name text, category text, supporting boolean, strength numeric, description text)
    AS 'MODULE_PATHNAME', 'privacy_validators_list'
    LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 12;
COMMENT ON FUNCTION privacy.validators() IS
    'the value validators discovery runs on sampled values: the category each suggests, whether it counts only beside a matching column name (supporting), and how strongly a column of matching values suggests the category';
GRANT EXECUTE ON FUNCTION privacy.validators() TO PUBLIC;

CREATE FUNCTION privacy.validate(validator text, value text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_validate'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.validate(text, text) IS
    'whether a value passes one of discovery''s validators (privacy.validators()); surrounding blanks are ignored; usable in CHECK constraints of columns whose format is fixed';
GRANT EXECUTE ON FUNCTION privacy.validate(text, text) TO PUBLIC;

CREATE FUNCTION privacy.sample_matches(rel pg_catalog.regclass, sample_rows integer)
    RETURNS TABLE (column_name name, sampled integer, validator text, matched integer)
    AS 'MODULE_PATHNAME', 'privacy_sample_matches'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION privacy.sample_matches(pg_catalog.regclass, integer) IS
    'reads a bounded sample (TABLESAMPLE SYSTEM) of a table''s columns of built-in types as the caller and counts, per column, the values each validator accepts; returns counts, never values; sampled is NULL for a column not read (its type, or no SELECT privilege) (internal, used by privacy.discover())';
GRANT EXECUTE ON FUNCTION privacy.sample_matches(pg_catalog.regclass, integer) TO PUBLIC;

CREATE FUNCTION privacy.discovery_rule_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.seeded THEN
            RAISE EXCEPTION 'cannot add discovery rule "%" as shipped with the extension', NEW.word
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.seeded THEN
        RAISE EXCEPTION 'cannot % discovery rule "%": it ships with the extension',
                        pg_catalog.lower(TG_OP), OLD.word
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add a rule of your own for a longer word; the most confident rule wins.';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.seeded THEN
        RAISE EXCEPTION 'cannot mark discovery rule "%" as shipped with the extension', OLD.word
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION privacy.discovery_rule_guard() IS
    'keeps the shipped discovery rules as they are (trigger on privacy.discovery_rule)';
CREATE TRIGGER discovery_rule_guard BEFORE INSERT OR UPDATE OR DELETE ON privacy.discovery_rule
    FOR EACH ROW EXECUTE FUNCTION privacy.discovery_rule_guard();

-- a name or comment in the form rules match: lower case, camelCase split,
-- runs of ASCII punctuation and blanks made one _, and _ at both ends
CREATE FUNCTION privacy.discovery_words(name text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT '_' OPERATOR(pg_catalog.||)
           pg_catalog.regexp_replace(
               pg_catalog.lower(pg_catalog.regexp_replace(COALESCE($1, ''), '([a-z0-9])([A-Z])', '\1_\2', 'g')),
               '[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+', '_', 'g')
           OPERATOR(pg_catalog.||) '_'
    $$;
COMMENT ON FUNCTION privacy.discovery_words(text) IS
    'a column name or comment as discovery rules match it: lower case, camelCase split, punctuation and blanks made _, _ at both ends';
GRANT EXECUTE ON FUNCTION privacy.discovery_words(text) TO PUBLIC;

CREATE FUNCTION privacy.discovery_match(words text, word text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE
           WHEN $2 OPERATOR(pg_catalog.~) '^[a-z0-9]{5,}$'
               THEN pg_catalog.strpos($1, $2) OPERATOR(pg_catalog.>) 0
           WHEN $2 OPERATOR(pg_catalog.~) '^[a-z0-9_]+$'
               THEN pg_catalog.strpos($1, '_' OPERATOR(pg_catalog.||) $2 OPERATOR(pg_catalog.||) '_') OPERATOR(pg_catalog.>) 0
           ELSE pg_catalog.strpos($1, $2) OPERATOR(pg_catalog.>) 0
           END
    $$;
COMMENT ON FUNCTION privacy.discovery_match(text, text) IS
    'whether a rule word matches words made by privacy.discovery_words(): long ASCII words anywhere, short or compound ones as whole words, other scripts anywhere';
GRANT EXECUTE ON FUNCTION privacy.discovery_match(text, text) TO PUBLIC;

-- the suggestions for the tables of one schema (internal: privacy.discover() checks its arguments)
CREATE FUNCTION privacy.discovery_suggestions(nsp oid, sample_rows integer)
    RETURNS TABLE (relation pg_catalog.regclass, column_name name, category text, confidence numeric, evidence text,
                   label text)
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH
    tabs AS (
        -- the schema's tables that can be labelled: partitions go with their root
        SELECT c.oid AS relid
          FROM pg_catalog.pg_class c
         WHERE c.relnamespace = $1
           AND c.relkind = ANY (ARRAY['r', 'p']::"char"[])
           AND NOT c.relispartition
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                            WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                              AND d.objid = c.oid
                              AND d.deptype = 'e')
    ),
    cols AS (
        -- their columns without a label, but for those of foreign keys (they
        -- point to the data; the referenced table is the one to label)
        SELECT t.relid, a.attnum, a.attname,
               privacy.discovery_words(a.attname) AS name_words,
               privacy.discovery_words(pg_catalog.col_description(t.relid, a.attnum)) AS comment_words
          FROM tabs t
          JOIN pg_catalog.pg_attribute a
            ON a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_seclabel s
                            WHERE s.provider = 'privacy'
                              AND s.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
                              AND s.objoid = t.relid
                              AND s.objsubid = a.attnum)
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                            WHERE k.conrelid = t.relid
                              AND k.contype = 'f'
                              AND a.attnum = ANY (k.conkey))
    ),
    names AS (
        -- the most confident rule per column and category; a comment counts 0.1 less
        SELECT DISTINCT ON (m.relid, m.attnum, m.category) m.*
          FROM (SELECT c.relid, c.attnum, r.category, r.word,
                       privacy.discovery_match(c.name_words, r.word) AS by_name,
                       CASE WHEN privacy.discovery_match(c.name_words, r.word) THEN r.confidence
                            ELSE r.confidence - 0.1 END AS conf
                  FROM cols c
                  JOIN privacy.discovery_rule r
                    ON privacy.discovery_match(c.name_words, r.word)
                    OR privacy.discovery_match(c.comment_words, r.word)) m
         ORDER BY m.relid, m.attnum, m.category, m.conf DESC, pg_catalog.length(m.word) DESC, m.word
    ),
    samples AS (
        SELECT t.relid, s.column_name, s.sampled, s.validator, s.matched
          FROM tabs t
         CROSS JOIN LATERAL privacy.sample_matches(t.relid, $2) s
         WHERE $2 > 0
           AND EXISTS (SELECT 1 FROM cols c WHERE c.relid = t.relid)
    ),
    sampled AS (
        SELECT DISTINCT s.relid, s.column_name, s.sampled FROM samples s
    ),
    vals AS (
        -- per column and category: values accepted by its validators, with and
        -- without those that count only beside a matching name
        SELECT s.relid, s.column_name, v.category,
               pg_catalog.sum(s.matched) FILTER (WHERE NOT v.supporting) AS m_alone,
               pg_catalog.sum(s.matched) AS m_all,
               pg_catalog.max(v.strength) FILTER (WHERE NOT v.supporting) AS st_alone,
               pg_catalog.max(v.strength) AS st_all,
               pg_catalog.string_agg(pg_catalog.format('%s %s', v.name, s.matched), ', '
                                     ORDER BY s.matched DESC, v.name) FILTER (WHERE NOT v.supporting) AS ev_alone,
               pg_catalog.string_agg(pg_catalog.format('%s %s', v.name, s.matched), ', '
                                     ORDER BY s.matched DESC, v.name) AS ev_all
          FROM samples s
          JOIN privacy.validators() v ON v.name = s.validator
         GROUP BY s.relid, s.column_name, v.category
    ),
    cands AS (
        SELECT c.relid, c.attnum, c.attname, k.category,
               n.conf AS name_conf, n.word, n.by_name, sm.sampled,
               CASE WHEN n.conf IS NULL THEN v.m_alone ELSE v.m_all END AS m,
               CASE WHEN n.conf IS NULL THEN v.st_alone ELSE v.st_all END AS st,
               CASE WHEN n.conf IS NULL THEN v.ev_alone ELSE v.ev_all END AS v_ev,
               EXISTS (SELECT 1 FROM privacy.validators() x
                        WHERE x.category = k.category) AS checkable
          FROM cols c
          JOIN (SELECT n2.relid, n2.attnum, n2.category FROM names n2
                UNION
                SELECT c2.relid, c2.attnum, v2.category
                  FROM vals v2
                  JOIN cols c2 ON c2.relid = v2.relid
                              AND c2.attname = v2.column_name) k
            ON k.relid = c.relid AND k.attnum = c.attnum
          LEFT JOIN names n
            ON n.relid = c.relid AND n.attnum = c.attnum
           AND n.category = k.category
          LEFT JOIN vals v
            ON v.relid = c.relid AND v.column_name = c.attname
           AND v.category = k.category
          LEFT JOIN sampled sm
            ON sm.relid = c.relid AND sm.column_name = c.attname
    ),
    valued AS (
        -- values speak when at least half of those sampled pass; few values speak softly
        SELECT x.*,
               CASE WHEN x.m IS NOT NULL AND x.sampled > 0
                         AND (x.m * 2) >= x.sampled
                    THEN (x.st * x.m) / (x.sampled + 2)
               END AS value_conf
          FROM cands x
    ),
    scored AS (
        SELECT y.*,
               CASE WHEN y.value_conf IS NOT NULL
                        THEN 1 - ((1 - COALESCE(y.name_conf, 0))
                                                       * (1 - y.value_conf))
                    -- a name whose values could be checked, and enough of them failed
                    WHEN y.checkable AND y.sampled >= 20
                        THEN y.name_conf * 0.5
                    ELSE y.name_conf
               END AS conf
          FROM valued y
    ),
    best AS (
        SELECT DISTINCT ON (z.relid, z.attnum) z.*
          FROM scored z
         WHERE z.conf IS NOT NULL
         ORDER BY z.relid, z.attnum, z.conf DESC, z.category
    ),
    texts AS (
        -- personal data inside free text: the share of sampled values of a
        -- string column holding a phone number, ID number, e-mail or card,
        -- where whole values are not such identifiers (no validator accepts
        -- half of them)
        SELECT c.relid, c.attnum, c.attname, sm.sampled, m.any_count,
               (0.6 + 0.35 * m.any_count / (sm.sampled + 2)) AS conf, m.kinds,
               pg_catalog.format_type(a.atttypid, a.atttypmod) = 'text' AS is_text
          FROM (SELECT s.relid, s.column_name,
                       pg_catalog.max(s.matched) FILTER (WHERE s.validator = 'text:any') AS any_count,
                       pg_catalog.string_agg(pg_catalog.format('%s %s', pg_catalog.substr(s.validator, 6), s.matched), ', '
                                             ORDER BY s.matched DESC, s.validator)
                           FILTER (WHERE s.validator LIKE 'text:%' AND s.validator <> 'text:any') AS kinds
                  FROM samples s
                 WHERE s.validator LIKE 'text:%'
                 GROUP BY s.relid, s.column_name) m
          JOIN cols c ON c.relid = m.relid AND c.attname = m.column_name
          JOIN sampled sm ON sm.relid = m.relid AND sm.column_name = m.column_name
          JOIN pg_catalog.pg_attribute a ON a.attrelid = c.relid AND a.attnum = c.attnum
         WHERE sm.sampled >= 5 AND m.any_count * 5 >= sm.sampled
           AND NOT EXISTS (SELECT 1 FROM vals v
                            WHERE v.relid = m.relid AND v.column_name = m.column_name
                              AND v.m_all * 2 >= sm.sampled)
    ),
    found AS (
        SELECT b.relid, b.attnum, b.attname, b.category, b.conf,
               pg_catalog.concat_ws('; ',
                   CASE WHEN b.name_conf IS NULL THEN NULL
                        WHEN b.by_name THEN pg_catalog.format('column name matches "%s"', b.word)
                        ELSE pg_catalog.format('comment matches "%s"', b.word) END,
                   CASE WHEN b.value_conf IS NOT NULL
                            THEN pg_catalog.format('values: %s of %s sampled', b.v_ev, b.sampled)
                        WHEN b.sampled IS NULL THEN 'values not sampled'
                        WHEN b.sampled = 0 THEN 'no values to sample'
                        WHEN b.checkable
                            THEN pg_catalog.format('values: %s of %s sampled pass the %s validators',
                                                   COALESCE(b.m, 0), b.sampled, b.category)
                   END) AS evidence,
               'CATEGORY ' || b.category AS label
          FROM best b
        UNION ALL
        SELECT t.relid, t.attnum, t.attname, 'content.message', t.conf,
               pg_catalog.format('text: %s%% of %s sampled values contain personal data (%s)',
                                 pg_catalog.round(100.0 * t.any_count / t.sampled), t.sampled, t.kinds),
               'CATEGORY content.message' || CASE WHEN t.is_text THEN ' MASK WITH privacy.mask_text' ELSE '' END
          FROM texts t
    ),
    chosen AS (
        SELECT DISTINCT ON (f.relid, f.attnum) f.*
          FROM found f
         ORDER BY f.relid, f.attnum, f.conf DESC, f.category
    )
    SELECT f.relid::pg_catalog.regclass, f.attname, f.category, pg_catalog.round(f.conf, 2), f.evidence, f.label
      FROM chosen f
     ORDER BY f.relid::pg_catalog.regclass::text, f.attnum
    $$;
COMMENT ON FUNCTION privacy.discovery_suggestions(oid, integer) IS
    'the suggestions of privacy.discover() for the tables of one schema, with the label each suggests, read as the caller (internal: privacy.discover() checks its arguments)';
GRANT EXECUTE ON FUNCTION privacy.discovery_suggestions(oid, integer) TO PUBLIC;

CREATE FUNCTION privacy.discover(schema name DEFAULT 'public', sample_rows integer DEFAULT 1000)
    RETURNS TABLE (relation pg_catalog.regclass, column_name name, category text, confidence numeric, evidence text,
                   label text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    nsp oid;
BEGIN
    IF discover.schema IS NULL OR discover.sample_rows IS NULL THEN
        RAISE EXCEPTION 'privacy.discover needs a schema and a sample size'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF discover.sample_rows < 0 OR discover.sample_rows > 100000 THEN
        RAISE EXCEPTION 'sample_rows must be between 0 and 100000'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'With 0, only column names and comments are read.';
    END IF;
    SELECT n.oid INTO nsp FROM pg_catalog.pg_namespace n WHERE n.nspname = discover.schema;
    IF nsp IS NULL THEN
        RAISE EXCEPTION 'schema "%" does not exist', discover.schema
            USING ERRCODE = 'invalid_schema_name';
    END IF;
    IF discover.schema = ANY (ARRAY['pg_catalog', 'information_schema', 'privacy', 'pg_toast']::name[])
       OR pg_catalog.starts_with(discover.schema, 'pg_temp_')
       OR pg_catalog.starts_with(discover.schema, 'pg_toast_temp_') THEN
        RAISE EXCEPTION 'schema "%" holds no tables that can be labelled', discover.schema
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'System schemas and the extension''s own schema are not examined.';
    END IF;
    RETURN QUERY SELECT * FROM privacy.discovery_suggestions(nsp, discover.sample_rows);
END
$$;
COMMENT ON FUNCTION privacy.discover(name, integer) IS
    'suggested labels for the unlabelled columns of a schema''s tables: category, confidence (0 to 1), evidence (name rule, validators and how many sampled values they accepted, or the share of values holding personal data inside their text) and the label to set; reads names, comments and a bounded sample of values as the caller; never returns a value';
GRANT EXECUTE ON FUNCTION privacy.discover(name, integer) TO PUBLIC;

CREATE FUNCTION privacy.apply_suggestions(min_confidence numeric, schema name DEFAULT 'public',
                                          sample_rows integer DEFAULT 1000)
    RETURNS TABLE (relation pg_catalog.regclass, column_name name, label text, confidence numeric)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s record;
BEGIN
    IF min_confidence IS NULL OR min_confidence <= 0 OR min_confidence > 1 THEN
        RAISE EXCEPTION 'min_confidence must be greater than 0 and at most 1'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Read privacy.discover() first; 0.8 keeps suggestions that values confirm.';
    END IF;
    FOR s IN SELECT d.* FROM privacy.discover(apply_suggestions.schema, apply_suggestions.sample_rows) d
              WHERE d.confidence >= min_confidence
    LOOP
        relation := s.relation;
        column_name := s.column_name;
        label := s.label;
        confidence := s.confidence;
        EXECUTE pg_catalog.format('SECURITY LABEL FOR privacy ON COLUMN %s.%I IS %L',
                                  s.relation, s.column_name, label);
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.apply_suggestions(numeric, name, integer) IS
    'labels (SECURITY LABEL ... IS ''CATEGORY c'', audited and dumped like any label) every column privacy.discover() suggests with at least min_confidence; all or nothing; returns what it labelled';
GRANT EXECUTE ON FUNCTION privacy.apply_suggestions(numeric, name, integer) TO PUBLIC;

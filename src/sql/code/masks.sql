-- src/sql/code/masks.sql: display masks and generalization: no keys, for everybody

CREATE FUNCTION privacy.mask_phone(value text) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_mask_phone'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.mask_phone(text) IS
    'mask a phone number: 138****5678; E.164 keeps the country code and the last 4 digits';

CREATE FUNCTION privacy.mask_email(value text) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_mask_email'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.mask_email(text) IS
    'mask an e-mail address: the first character of the local part and the domain stay';

CREATE FUNCTION privacy.mask_id_number(value text) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_mask_id_number'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.mask_id_number(text) IS
    'mask an identity number: 110***********1234 for an 18-character resident ID';

CREATE FUNCTION privacy.mask_bank_card(value text) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_mask_bank_card'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.mask_bank_card(text) IS
    'mask a bank card number: only the last 4 digits stay';

CREATE FUNCTION privacy.mask_name(value text) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_mask_name'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.mask_name(text) IS
    'mask a name: each word keeps its first character (张**, J*** D**)';

CREATE FUNCTION privacy.mask_text(value text) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_mask_text'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.mask_text(text) IS
    'mask the personal data inside a free text: every mainland mobile number (its country code, first 3 and last 4 digits stay), resident ID number (first 3 and last 4 characters stay), e-mail address (first character and domain stay) and bank card (last 4 digits stay) found in it; the rest of the text as it is';
-- A mask: no key, no state.
GRANT EXECUTE ON FUNCTION privacy.mask_text(text) TO PUBLIC;

CREATE FUNCTION privacy.text_contains(value text) RETURNS text[]
    AS 'MODULE_PATHNAME', 'privacy_text_contains'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.text_contains(text) IS
    'the kinds of personal data found inside a free text, as privacy.mask_text finds them: mobile, id_number, email, bank_card (in that order; empty when none); never a value';
-- As mask_text.
GRANT EXECUTE ON FUNCTION privacy.text_contains(text) TO PUBLIC;

CREATE FUNCTION privacy.mask_partial(value text, keep_left integer, keep_right integer, fill text DEFAULT '*')
    RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_mask_partial'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.mask_partial(text, integer, integer, text) IS
    'keep keep_left and keep_right characters and replace each character between with fill; masks everything when nothing would be masked';

CREATE FUNCTION privacy.generalize(value date, level text) RETURNS date
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF level <> ALL (ARRAY['decade', 'year', 'quarter', 'month', 'week']) THEN
        RAISE EXCEPTION 'unknown generalization level "%"', level
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use decade, year, quarter, month or week.';
    END IF;
    RETURN pg_catalog.date_trunc(level, value::timestamp)::date;
END
$$;
COMMENT ON FUNCTION privacy.generalize(date, text) IS
    'the first day of the decade, year, quarter, month or week the date falls in';

CREATE FUNCTION privacy.generalize(value timestamptz, level text) RETURNS timestamptz
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF level <> ALL (ARRAY['decade', 'year', 'quarter', 'month', 'week', 'day', 'hour']) THEN
        RAISE EXCEPTION 'unknown generalization level "%"', level
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use decade, year, quarter, month, week, day or hour.';
    END IF;
    RETURN pg_catalog.date_trunc(level, value);
END
$$;
COMMENT ON FUNCTION privacy.generalize(timestamptz, text) IS
    'the start of the decade, year, quarter, month, week, day or hour (in the session time zone)';

CREATE FUNCTION privacy.generalize(value inet, prefix_len integer) RETURNS inet
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    maxlen integer := CASE pg_catalog.family(value) WHEN 4 THEN 32 ELSE 128 END;
BEGIN
    IF prefix_len < 0 OR prefix_len > maxlen THEN
        RAISE EXCEPTION 'prefix length % is out of range for IPv% addresses', prefix_len, pg_catalog.family(value)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = pg_catalog.format('Use 0 to %s.', maxlen);
    END IF;
    RETURN pg_catalog.network(pg_catalog.set_masklen(value, prefix_len))::inet;
END
$$;
COMMENT ON FUNCTION privacy.generalize(inet, integer) IS
    'the network of the address with the given prefix length (192.168.1.77, 24 -> 192.168.1.0/24)';

CREATE FUNCTION privacy.age_band(birth_date date, width integer, at date DEFAULT CURRENT_DATE) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    age integer;
    low integer;
BEGIN
    IF width < 1 THEN
        RAISE EXCEPTION 'age band width must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT pg_catalog.isfinite(birth_date) OR NOT pg_catalog.isfinite(at) THEN
        RAISE EXCEPTION 'age band needs finite dates' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF birth_date > at THEN
        RAISE EXCEPTION 'birth date is after the date the age is computed at' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    age := pg_catalog.date_part('year', pg_catalog.age(at::timestamp, birth_date::timestamp))::integer;
    low := (age / width) * width;
    RETURN low::text || '-' || (low + width - 1)::text;
END
$$;
COMMENT ON FUNCTION privacy.age_band(date, integer, date) IS
    'the age band (30-39 for width 10) of a birth date at a given date (default today)';

CREATE FUNCTION privacy.noise(value numeric, ratio double precision) RETURNS numeric
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF ratio < 0 OR ratio > 1 OR ratio <> ratio THEN
        RAISE EXCEPTION 'noise ratio must be between 0 and 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN pg_catalog.round(value *
               (1 + ((pg_catalog.random() * 2 - 1) * ratio))::numeric,
               pg_catalog.scale(value));
END
$$;
COMMENT ON FUNCTION privacy.noise(numeric, double precision) IS
    'value times a uniformly random factor in [1 - ratio, 1 + ratio], rounded to the value''s scale';

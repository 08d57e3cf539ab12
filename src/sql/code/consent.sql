-- src/sql/code/consent.sql: purposes, policy versions, granting, withdrawing and checking consent, minors

-- Purposes: why data is processed, on what legal basis, over which categories

-- the purposes in force: an administrator's definition over a seeded one
CREATE VIEW privacy.purpose AS
    SELECT d.name, d.legal_basis, d.categories, d.description,
           EXISTS (SELECT 1 FROM privacy.category c
                    WHERE c.sensitive
                      AND EXISTS (SELECT 1 FROM pg_catalog.unnest(d.categories) k(cat)
                                   WHERE c.name OPERATOR(pg_catalog.=) k.cat
                                      OR pg_catalog.starts_with(c.name, k.cat OPERATOR(pg_catalog.||) '.'))) AS separate_consent,
           d.seeded, d.defined_at
      FROM (SELECT DISTINCT ON (p.name) p.* FROM privacy.purpose_definition p ORDER BY p.name, p.seeded) d
     WHERE NOT d.dropped;
COMMENT ON VIEW privacy.purpose IS
    'purposes in force: legal basis, categories (a parent covers its sub-categories), and whether they need separate consent (PIPL Art. 29: they cover sensitive categories)';
GRANT SELECT ON privacy.purpose TO PUBLIC;

CREATE FUNCTION privacy.purpose_covers(purpose_name text, category_name text) RETURNS boolean
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT EXISTS (SELECT 1 FROM privacy.purpose p, pg_catalog.unnest(p.categories) k(cat)
                        WHERE p.name = purpose_name
                          AND (category_name = k.cat
                               OR pg_catalog.starts_with(category_name, k.cat || '.')))
    $$;
COMMENT ON FUNCTION privacy.purpose_covers(text, text) IS
    'whether the purpose covers the category, itself or through a parent category';
GRANT EXECUTE ON FUNCTION privacy.purpose_covers(text, text) TO PUBLIC;

CREATE FUNCTION privacy.define_purpose(name text, legal_basis text, categories text[], description text)
    RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    missing text;
BEGIN
    IF name IS NULL OR legal_basis IS NULL OR categories IS NULL OR description IS NULL THEN
        RAISE EXCEPTION 'a purpose needs a name, a legal basis, categories and a description'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF name !~ '^[a-z][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'invalid purpose name "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Purpose names are lower-case letters, digits and underscores, starting with a letter.';
    END IF;
    IF legal_basis <> ALL (ARRAY['consent', 'contract', 'legal_obligation', 'vital_interest',
                                                      'public_interest', 'news_reporting', 'publicly_disclosed', 'other_law']) THEN
        RAISE EXCEPTION 'unknown legal basis "%"', legal_basis
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use consent, contract, legal_obligation, vital_interest, public_interest, news_reporting, publicly_disclosed or other_law (PIPL Art. 13, GDPR Art. 6).';
    END IF;
    IF pg_catalog.cardinality(categories) = 0
       OR pg_catalog.array_position(categories, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'a purpose needs at least one category, and no NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT k.cat INTO missing FROM pg_catalog.unnest(categories) k(cat)
     WHERE NOT EXISTS (SELECT 1 FROM privacy.category c WHERE c.name = k.cat) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'unknown privacy category "%"', missing
            USING ERRCODE = 'undefined_object',
                  HINT = 'The categories are listed in privacy.category.';
    END IF;
    INSERT INTO privacy.purpose_definition AS p (name, seeded, legal_basis, categories, description)
    VALUES (name, false, legal_basis, categories, description)
    ON CONFLICT ON CONSTRAINT purpose_definition_pkey DO UPDATE
       SET legal_basis = EXCLUDED.legal_basis, categories = EXCLUDED.categories,
           description = EXCLUDED.description, dropped = false, defined_at = pg_catalog.now();
    PERFORM privacy.audit_append('purpose', pg_catalog.format('purpose %s', name),
        pg_catalog.jsonb_build_object('operation', 'define', 'legal_basis', legal_basis, 'categories', categories));
    PERFORM privacy.refresh_purpose_views(NULL, name);
    RETURN name;
END
$$;
COMMENT ON FUNCTION privacy.define_purpose(text, text, text[], text) IS
    'define a purpose, or redefine one (an administrator''s definition overrides the seeded one)';
-- Administrators only: granted explicitly.
REVOKE ALL ON FUNCTION privacy.define_purpose(text, text, text[], text) FROM PUBLIC;

CREATE FUNCTION privacy.drop_purpose(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM privacy.purpose p WHERE p.name = drop_purpose.name) THEN
        RAISE EXCEPTION 'unknown purpose "%"', name USING ERRCODE = 'undefined_object';
    END IF;
    SELECT pg_catalog.count(*) INTO n FROM privacy.consent c WHERE c.purpose = drop_purpose.name;
    IF n > 0 THEN
        RAISE EXCEPTION 'cannot drop purpose "%": % consent(s) are in force for it', name, n
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Consents are withdrawn by their subjects; keep the purpose until none is in force.';
    END IF;
    INSERT INTO privacy.purpose_definition AS p (name, seeded, legal_basis, categories, description, dropped)
    SELECT d.name, false, d.legal_basis, d.categories, d.description, true
      FROM privacy.purpose d WHERE d.name = drop_purpose.name
    ON CONFLICT ON CONSTRAINT purpose_definition_pkey DO UPDATE SET dropped = true, defined_at = pg_catalog.now();
    -- its settings go with it: a purpose defined again under the name starts without them
    DELETE FROM privacy.purpose_hidden h WHERE h.purpose = drop_purpose.name;
    DELETE FROM privacy.purpose_kept_rows k WHERE k.purpose = drop_purpose.name;
    PERFORM privacy.audit_append('purpose', pg_catalog.format('purpose %s', name), '{"operation": "drop"}');
    PERFORM privacy.refresh_purpose_views(NULL, name);
END
$$;
COMMENT ON FUNCTION privacy.drop_purpose(text) IS
    'remove a purpose (seeded or not), its views, the categories it hides and its setting for kept rows; refused while consents for it are in force';
-- Administrators only.
REVOKE ALL ON FUNCTION privacy.drop_purpose(text) FROM PUBLIC;

-- Privacy policy versions

CREATE FUNCTION privacy.publish_policy(version text, material boolean, purposes text[] DEFAULT NULL) RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t timestamptz := pg_catalog.clock_timestamp();
    p text;
BEGIN
    IF version IS NULL OR material IS NULL THEN
        RAISE EXCEPTION 'a policy version needs a version and whether the change is material'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF EXISTS (SELECT 1 FROM privacy.policy_version v WHERE v.version = publish_policy.version) THEN
        RAISE EXCEPTION 'policy version "%" was already published', version USING ERRCODE = 'duplicate_object';
    END IF;
    -- the purposes a material change affects: each a purpose in force, at
    -- least one (NULL: every purpose)
    IF purposes IS NOT NULL THEN
        IF NOT material THEN
            RAISE EXCEPTION 'a change that is not material voids no consent: it names no purposes'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Name the purposes of a material change, or leave purposes NULL.';
        END IF;
        IF pg_catalog.cardinality(purposes) = 0 THEN
            RAISE EXCEPTION 'a material change affects at least one purpose'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Leave purposes NULL for a change that affects every purpose.';
        END IF;
        FOREACH p IN ARRAY purposes LOOP
            IF p IS NULL THEN
                RAISE EXCEPTION 'purposes must not hold NULL' USING ERRCODE = 'null_value_not_allowed';
            END IF;
            IF NOT EXISTS (SELECT 1 FROM privacy.purpose d WHERE d.name = p) THEN
                RAISE EXCEPTION 'unknown purpose "%"', p USING ERRCODE = 'undefined_object';
            END IF;
        END LOOP;
        purposes := ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(purposes) x ORDER BY 1);
    END IF;
    INSERT INTO privacy.policy_version (version, published_at, material, purposes) VALUES (version, t, material, purposes);
    -- consent given before a material change, to a purpose it affects, is no
    -- longer in force (the ledger keeps it: has_consent still answers for
    -- earlier moments)
    IF material THEN
        DELETE FROM privacy.consent c WHERE c.granted_at < t AND (purposes IS NULL OR c.purpose = ANY (purposes));
    END IF;
    PERFORM privacy.audit_append('policy', pg_catalog.format('policy %s', version),
                                 pg_catalog.jsonb_build_object('material', material)
                                 || CASE WHEN purposes IS NOT NULL
                                         THEN pg_catalog.jsonb_build_object('purposes', purposes) ELSE '{}'::jsonb END);
    RETURN t;
END
$$;
COMMENT ON FUNCTION privacy.publish_policy(text, boolean, text[]) IS
    'publish a privacy policy version; a material change voids consent given under older versions to the purposes it names (NULL: every purpose)';
-- Administrators only.
REVOKE ALL ON FUNCTION privacy.publish_policy(text, boolean, text[]) FROM PUBLIC;

-- Consent: an append-only ledger, and the consents in force

-- (its trigger function, which lets cancellation pseudonymize, comes with cancellation)
CREATE TRIGGER consent_event_no_truncate BEFORE TRUNCATE ON privacy.consent_event
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.audit_log_refuse();

CREATE FUNCTION privacy.set_minor(subject text, minor boolean, kind text DEFAULT 'person') RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    canonical text;
BEGIN
    IF subject IS NULL OR kind IS NULL THEN
        RAISE EXCEPTION 'subject and kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    canonical := privacy.subject_canonical(subject, kind);
    IF minor IS NULL THEN
        DELETE FROM privacy.subject_minor m WHERE m.subject = canonical AND m.subject_kind = set_minor.kind;
    ELSE
        INSERT INTO privacy.subject_minor AS m (subject_kind, subject, minor) VALUES (kind, canonical, minor)
        ON CONFLICT ON CONSTRAINT subject_minor_pkey DO UPDATE SET minor = EXCLUDED.minor, set_at = pg_catalog.now();
    END IF;
    -- the consents in force carry the setting for the purpose views
    UPDATE privacy.consent c SET minor_setting = set_minor.minor
     WHERE c.subject = canonical AND c.subject_kind = set_minor.kind;
    PERFORM privacy.audit_append('minor', pg_catalog.format('subject %s', privacy.subject_pseudonym(canonical, kind)),
                                 pg_catalog.jsonb_build_object('minor', minor));
END
$$;
COMMENT ON FUNCTION privacy.set_minor(text, boolean, text) IS
    'say explicitly whether a subject (of a kind) is a minor (NULL: go back to the birth date column)';
-- Administrators and the application's registration code: granted explicitly.
REVOKE ALL ON FUNCTION privacy.set_minor(text, boolean, text) FROM PUBLIC;

-- Whether a subject is a minor at a moment: the explicit setting, else a
-- CATEGORY identity.birth_date column of a table whose single SUBJECT column
-- (of the kind) holds the subject, under privacy.minor_age; read as the
-- table's owner.
CREATE FUNCTION privacy.is_minor(subject text, at timestamptz DEFAULT pg_catalog.now(), kind text DEFAULT 'person') RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    explicit boolean;
    t record;
    born date;
    canonical text;
BEGIN
    IF subject IS NULL OR kind IS NULL THEN
        RAISE EXCEPTION 'subject and kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    canonical := privacy.subject_canonical(subject, kind);
    SELECT m.minor INTO explicit FROM privacy.subject_minor m WHERE m.subject = canonical AND m.subject_kind = is_minor.kind;
    IF FOUND THEN
        RETURN explicit;
    END IF;
    -- (the labels decoded once: each reading of privacy.labels decodes every label)
    FOR t IN
        WITH l AS MATERIALIZED (
            SELECT x.relation, x.column_name, x.subject, x.subject_kind, x.category FROM privacy.labels x
             WHERE x.subject OR x.category = 'identity.birth_date')
        SELECT b.relation, s.column_name AS subject_column, b.column_name AS birth_column,
               privacy.subject_compare_type(a.atttypid) AS cmp
          FROM l b
          JOIN l s ON s.relation = b.relation AND s.subject AND s.subject_kind = is_minor.kind
          JOIN pg_catalog.pg_attribute a ON a.attrelid = s.relation AND a.attname = s.column_name
         WHERE b.category = 'identity.birth_date'
           AND (SELECT pg_catalog.count(*) FROM l x WHERE x.relation = b.relation AND x.subject) = 1
         ORDER BY b.relation::text
    LOOP
        born := privacy.owner_exec_value(t.relation,
                    pg_catalog.format('SELECT t.%I::date::pg_catalog.text FROM %s t WHERE t.%I = ($1[1])::%s LIMIT 1',
                                      t.birth_column, t.relation, t.subject_column, t.cmp),
                    ARRAY[canonical])::date;
        IF born IS NOT NULL THEN
            RETURN born > (at -
                       pg_catalog.make_interval(years => pg_catalog.current_setting('privacy.minor_age')::integer))::date;
        END IF;
    END LOOP;
    RETURN false;
END
$$;
COMMENT ON FUNCTION privacy.is_minor(text, timestamptz, text) IS
    'whether the subject (of a kind) is under privacy.minor_age at the moment: the explicit setting, else the identity.birth_date column of its subject table';
-- Reads personal data: granted explicitly.
REVOKE ALL ON FUNCTION privacy.is_minor(text, timestamptz, text) FROM PUBLIC;

-- (not SECURITY DEFINER and every name qualified: no SET clause on this hot path)
CREATE FUNCTION privacy.consent_purpose(purpose text) RETURNS text
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    d record;
BEGIN
    IF purpose IS NULL THEN
        RAISE EXCEPTION 'purpose must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- the definition in force: an administrator's over the seeded one
    SELECT p.legal_basis, p.dropped INTO d FROM privacy.purpose_definition p
     WHERE p.name OPERATOR(pg_catalog.=) consent_purpose.purpose ORDER BY p.seeded LIMIT 1;
    IF NOT FOUND OR d.dropped THEN
        RAISE EXCEPTION 'unknown purpose "%"', purpose
            USING ERRCODE = 'undefined_object',
                  HINT = 'The purposes are listed in privacy.purpose.';
    END IF;
    IF d.legal_basis OPERATOR(pg_catalog.<>) 'consent' THEN
        RAISE EXCEPTION 'purpose "%" rests on %, not on consent', purpose, d.legal_basis
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Only consent-based purposes take grants and withdrawals; privacy.may_process() answers for every purpose.';
    END IF;
    RETURN purpose;
END
$$;
COMMENT ON FUNCTION privacy.consent_purpose(text) IS
    'the purpose''s name, checked to exist and to rest on consent (internal)';

CREATE FUNCTION privacy.grant_consent(subject text, purpose text, evidence jsonb DEFAULT NULL,
                                      by_guardian boolean DEFAULT NULL, kind text DEFAULT 'person',
                                      guardian text DEFAULT NULL, guardian_kind text DEFAULT 'person')
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'privacy_grant_consent'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.grant_consent(text, text, jsonb, boolean, text, text, text) IS
    'record that the subject (of a kind, in its canonical form) consents to the purpose (one purpose per grant, so a sensitive purpose is always consented to on its own), or that its guardian (a subject of guardian_kind) does for it; refused for a cancelled subject or guardian; returns the ledger entry';
-- The application records consent through an explicit grant.
REVOKE ALL ON FUNCTION privacy.grant_consent(text, text, jsonb, boolean, text, text, text) FROM PUBLIC;

-- Guardians: a consent given by a guardian names them (consent_event.guardian).
-- When the guardian cancels, the consents they gave stay in force (the
-- minor's data is the minor's, and a cancellation is no withdrawal) and name
-- the guardian by the same pseudonym as their own consent history.

CREATE FUNCTION privacy.gave_guardian_consent(guardian text, guardian_kind text) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT EXISTS (SELECT 1 FROM privacy.consent_event e
                        WHERE e.guardian = gave_guardian_consent.guardian
                          AND e.guardian_kind = gave_guardian_consent.guardian_kind)
    $$;
COMMENT ON FUNCTION privacy.gave_guardian_consent(text, text) IS
    'internal: whether the subject (canonical, of a kind) gave a consent as a guardian';
-- Reads the ledger: internal.
REVOKE ALL ON FUNCTION privacy.gave_guardian_consent(text, text) FROM PUBLIC;

CREATE FUNCTION privacy.pseudonymize_guardian(guardian text, guardian_kind text, pseudonym text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    UPDATE privacy.consent_event e SET guardian = 'cancelled:' || pseudonymize_guardian.pseudonym
     WHERE e.guardian = pseudonymize_guardian.guardian
       AND e.guardian_kind = pseudonymize_guardian.guardian_kind;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.pseudonymize_guardian(text, text, text) IS
    'internal, for cancellation: the consents a cancelled guardian (canonical, of a kind) gave stay in force and name the guardian by its pseudonym; returns how many ledger entries';
-- Rewrites the ledger: cancellation only.
REVOKE ALL ON FUNCTION privacy.pseudonymize_guardian(text, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.withdraw_consent(subject text, purpose text, kind text DEFAULT 'person') RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_withdraw_consent'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.withdraw_consent(text, text, text) IS
    'record the withdrawal of the subject''s (of a kind) consent to the purpose; true if a consent was in force (a withdrawal of nothing is recorded too); refused for a cancelled subject';
-- As grant_consent.
REVOKE ALL ON FUNCTION privacy.withdraw_consent(text, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.has_consent(subject text, purpose text, at timestamptz DEFAULT NULL, kind text DEFAULT 'person')
    RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    e record;
    -- no moment: now, counting everything recorded so far (this transaction too)
    v_at timestamptz := COALESCE(at, 'infinity');
    canonical text;
BEGIN
    IF subject IS NULL OR kind IS NULL THEN
        RAISE EXCEPTION 'subject and kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- the ledger is the coordinator's: never answer from a worker's empty copy
    -- (privacy.citus_setup() mirrors it to every worker)
    PERFORM privacy.require_mirror('privacy.has_consent');
    PERFORM privacy.consent_purpose(purpose);
    canonical := privacy.subject_canonical(subject, kind);
    SELECT c.granted, c.at, c.by_guardian INTO e
      FROM privacy.consent_event c
     WHERE c.subject = canonical
       AND c.subject_kind = has_consent.kind
       AND c.purpose = has_consent.purpose
       AND c.at <= v_at
     ORDER BY c.at DESC, c.seq DESC
     LIMIT 1;
    IF NOT FOUND OR NOT e.granted THEN
        RETURN false;
    END IF;
    -- a material policy change affecting the purpose between the grant and
    -- the moment voids it
    IF EXISTS (SELECT 1 FROM privacy.policy_version v
                WHERE v.material
                  AND (v.purposes IS NULL OR has_consent.purpose = ANY (v.purposes))
                  AND v.published_at > e.at
                  AND v.published_at <= v_at) THEN
        RETURN false;
    END IF;
    -- a minor's consent counts only when a guardian gave it
    IF NOT e.by_guardian AND privacy.is_minor(canonical, COALESCE(at, pg_catalog.clock_timestamp()), kind) THEN
        RETURN false;
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION privacy.has_consent(text, text, timestamptz, text) IS
    'whether the subject''s (of a kind) consent to the purpose was in force at the moment (omitted or NULL: now, counting everything recorded so far): granted and not withdrawn since, not voided by a material policy change affecting the purpose, given by a guardian for a minor';
-- Consent status is personal data: granted explicitly.
REVOKE ALL ON FUNCTION privacy.has_consent(text, text, timestamptz, text) FROM PUBLIC;

-- PIPL Art. 31: a minor's data needs a guardian's consent, for the purposes
-- privacy.guardian_consent says (consent: those resting on consent; contract,
-- the default: those and the ones resting on a contract; all: every purpose).
-- For a purpose on another legal basis the guardian consents with
-- grant_consent(..., guardian => ...); for one on consent, has_consent
-- already counts only a guardian's grant for a minor.

CREATE FUNCTION privacy.guardian_consent_needed(legal_basis text) RETURNS boolean
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT legal_basis = 'consent'
            OR CASE pg_catalog.current_setting('privacy.guardian_consent')
                    WHEN 'all' THEN true
                    WHEN 'contract' THEN legal_basis = 'contract'
                    ELSE false END
    $$;
COMMENT ON FUNCTION privacy.guardian_consent_needed(text) IS
    'whether a minor''s data needs a guardian''s consent for purposes on the legal basis (privacy.guardian_consent, PIPL Art. 31)';
GRANT EXECUTE ON FUNCTION privacy.guardian_consent_needed(text) TO PUBLIC;

-- for may_process: a purpose on another legal basis than consent
CREATE FUNCTION privacy.guardian_allows(subject text, purpose text, legal_basis text, at timestamptz, kind text)
    RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    e record;
    v_at timestamptz := COALESCE(at, 'infinity');
    canonical text;
BEGIN
    IF NOT privacy.guardian_consent_needed(legal_basis) THEN
        RETURN true;
    END IF;
    canonical := privacy.subject_canonical(subject, kind);
    IF NOT privacy.is_minor(canonical, COALESCE(at, pg_catalog.clock_timestamp()), kind) THEN
        RETURN true;
    END IF;
    -- the latest grant or withdrawal at the moment: a guardian's grant, not
    -- voided by a material policy change since
    SELECT c.granted, c.at, c.by_guardian INTO e
      FROM privacy.consent_event c
     WHERE c.subject = canonical
       AND c.subject_kind = guardian_allows.kind
       AND c.purpose = guardian_allows.purpose
       AND c.at <= v_at
     ORDER BY c.at DESC, c.seq DESC
     LIMIT 1;
    IF NOT FOUND OR NOT e.granted OR NOT e.by_guardian THEN
        RETURN false;
    END IF;
    RETURN NOT EXISTS (SELECT 1 FROM privacy.policy_version v
                        WHERE v.material AND v.published_at > e.at AND v.published_at <= v_at);
END
$$;
COMMENT ON FUNCTION privacy.guardian_allows(text, text, text, timestamptz, text) IS
    'internal, for may_process: whether PIPL Art. 31 lets the subject''s data be processed for a purpose on a legal basis other than consent at the moment: not a minor, not needed (privacy.guardian_consent), or a guardian''s consent in force';
-- Reads the ledger: internal.
REVOKE ALL ON FUNCTION privacy.guardian_allows(text, text, text, timestamptz, text) FROM PUBLIC;

-- Every minor of a table (its single SUBJECT column; minors by the explicit
-- setting, else its identity.birth_date column) whose data lacks a guardian's
-- consent, in one query: per purpose privacy.guardian_consent covers (or the
-- one named), 'no guardian consent' for a purpose on another legal basis, and
-- 'own consent only' for a consent purpose the minor consented to alone.  The
-- table is read once, as its owner, for the minors only.
CREATE FUNCTION privacy.minors_without_guardian_consent(source regclass, only_purpose text DEFAULT NULL)
    RETURNS TABLE (subject text, subject_kind text, purpose text, reason text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    subj record;
    n bigint;
    birth name;
    cutoff date;
    explicit text[];
    cond text[] := ARRAY[]::text[];
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- the role that called us: SET ROLE's role, else the session user
    IF NOT pg_catalog.has_table_privilege(
               CASE pg_catalog.current_setting('role') WHEN 'none' THEN SESSION_USER
                    ELSE pg_catalog.current_setting('role')::name END,
               source, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for table %', source USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF only_purpose IS NOT NULL AND NOT EXISTS (SELECT 1 FROM privacy.purpose p WHERE p.name = only_purpose) THEN
        RAISE EXCEPTION 'unknown purpose "%"', only_purpose USING ERRCODE = 'undefined_object';
    END IF;
    SELECT pg_catalog.count(*) INTO n FROM privacy.labels l WHERE l.relation = source AND l.subject;
    IF n <> 1 THEN
        RAISE EXCEPTION 'table % has % SUBJECT columns', source, n
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Minors are found in a table whose single SUBJECT column holds the subject, as privacy.is_minor() reads them.';
    END IF;
    SELECT l.column_name, l.subject_kind AS kind, a.atttypid::pg_catalog.regtype AS typ INTO subj
      FROM privacy.labels l
      JOIN pg_catalog.pg_attribute a ON a.attrelid = l.relation AND a.attname = l.column_name
     WHERE l.relation = source AND l.subject;
    SELECT l.column_name INTO birth FROM privacy.labels l
     WHERE l.relation = source AND l.category = 'identity.birth_date' ORDER BY l.column_name LIMIT 1;
    cutoff := (pg_catalog.now() - pg_catalog.make_interval(years => pg_catalog.current_setting('privacy.minor_age')::integer))::date;
    explicit := ARRAY(SELECT m.subject FROM privacy.subject_minor m WHERE m.subject_kind = subj.kind AND m.minor);
    IF birth IS NOT NULL THEN
        cond := cond || pg_catalog.format('t.%I > ($1[1])::pg_catalog.date', birth);
    END IF;
    IF pg_catalog.cardinality(explicit) > 0 THEN
        cond := cond || pg_catalog.format('privacy.family_canonical(t.%I::pg_catalog.text, %L::pg_catalog.regtype) = ANY (($1[2])::pg_catalog.text[])',
                                          subj.column_name, subj.typ);
    END IF;
    IF pg_catalog.cardinality(cond) = 0 THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH minor AS (
        SELECT DISTINCT o.vals[1] AS id
          FROM privacy.owner_rows(source,
                   pg_catalog.format('SELECT 0::pg_catalog.oid, ''(0,0)''::pg_catalog.tid, privacy.family_canonical(t.%I::pg_catalog.text, %L::pg_catalog.regtype) FROM %s t WHERE t.%I IS NOT NULL AND (%s)',
                                     subj.column_name, subj.typ, source, subj.column_name, pg_catalog.array_to_string(cond, ' OR ')),
                   ARRAY[cutoff::text, explicit::text]) o
    ), scope AS (
        SELECT d.name, d.legal_basis FROM privacy.purpose d
         WHERE (only_purpose IS NULL OR d.name = only_purpose)
           AND privacy.guardian_consent_needed(d.legal_basis)
    )
    SELECT m.id, subj.kind, p.name,
           CASE WHEN c.subject IS NULL THEN 'no guardian consent' ELSE 'own consent only' END
      FROM minor m
     CROSS JOIN scope p
      LEFT JOIN privacy.consent c ON c.subject = m.id AND c.purpose = p.name AND c.subject_kind = subj.kind
     WHERE NOT EXISTS (SELECT 1 FROM privacy.subject_minor x
                        WHERE x.subject = m.id AND x.subject_kind = subj.kind AND NOT x.minor)
       AND (c.subject IS NULL OR NOT c.by_guardian)
       AND (p.legal_basis <> 'consent' OR c.subject IS NOT NULL);
END
$$;
COMMENT ON FUNCTION privacy.minors_without_guardian_consent(regclass, text) IS
    'the minors of a table (its SUBJECT column; the explicit setting, else its identity.birth_date column) whose data lacks a guardian''s consent, per purpose privacy.guardian_consent covers (or only_purpose): no guardian consent, or only their own; one query over the table';
-- Names minors: administrators, granted explicitly.
REVOKE ALL ON FUNCTION privacy.minors_without_guardian_consent(regclass, text) FROM PUBLIC;

CREATE FUNCTION privacy.may_process(subject text, purpose text, at timestamptz DEFAULT NULL, kind text DEFAULT 'person')
    RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    basis text;
BEGIN
    IF subject IS NULL OR purpose IS NULL OR kind IS NULL THEN
        RAISE EXCEPTION 'subject, purpose and kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM privacy.require_mirror('privacy.may_process');
    SELECT p.legal_basis INTO basis FROM privacy.purpose p WHERE p.name = may_process.purpose;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown purpose "%"', purpose USING ERRCODE = 'undefined_object';
    END IF;
    IF basis <> 'consent' THEN
        -- except for a subject whose rows are only kept (PIPL Art. 47)
        IF EXISTS (SELECT 1 FROM privacy.restricted_subject r
                    WHERE r.subject = privacy.subject_canonical(may_process.subject, may_process.kind)
                      AND r.subject_kind = may_process.kind) THEN
            RETURN false;
        END IF;
        -- and a minor's data needs a guardian's consent (PIPL Art. 31, privacy.guardian_consent)
        RETURN privacy.guardian_allows(subject, purpose, basis, at, kind);
    END IF;
    RETURN privacy.has_consent(subject, purpose, at, kind);
END
$$;
COMMENT ON FUNCTION privacy.may_process(text, text, timestamptz, text) IS
    'whether the subject''s (of a kind) data may be processed for the purpose at the moment: for purposes on another legal basis, unless the subject''s rows are only kept after a cancellation, or it is a minor without a guardian''s consent to a purpose privacy.guardian_consent covers; else has_consent';
-- As has_consent.
REVOKE ALL ON FUNCTION privacy.may_process(text, text, timestamptz, text) FROM PUBLIC;

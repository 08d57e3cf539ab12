-- src/sql/code/audit.sql: appending to the audit log, verifying its hash chain, the triggers that keep it append-only

-- (no SET clause, so that it can be inlined: every name in it is qualified)
CREATE FUNCTION privacy.audit_canonical(seq bigint, at timestamptz, actor name,
                                        kind text, object text, detail jsonb)
    RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT pg_catalog.jsonb_build_array(
                   seq,
                   pg_catalog.to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   actor, kind, object, detail)::text
    $$;
COMMENT ON FUNCTION privacy.audit_canonical(bigint, timestamptz, name, text, text, jsonb) IS
    'canonical text of an audit entry, the input of its hash: a JSON array of seq, UTC time, actor, kind, object, detail';

CREATE FUNCTION privacy.audit_append(kind text, object text, detail jsonb DEFAULT '{}')
    RETURNS void
    AS 'MODULE_PATHNAME', 'privacy_audit_append'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.audit_append(text, text, jsonb) IS
    'record one entry for privacy.audit_log, written and chained to the previous one when the transaction commits (not at all if it rolls back); the detail must hold no personal data';
-- Only the extension (and roles a superuser grants it to) write the log.
REVOKE ALL ON FUNCTION privacy.audit_append(text, text, jsonb) FROM PUBLIC;

CREATE FUNCTION privacy.verify_audit_log(OUT valid boolean, OUT entries bigint,
                                         OUT first_broken bigint, OUT problem text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r       record;
    v_prev  bytea := pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex');
    v_next  bigint := 1;
    h       record;
BEGIN
    valid := false;
    entries := 0;
    FOR r IN SELECT * FROM privacy.audit_log ORDER BY seq LOOP
        IF r.seq <> v_next THEN
            first_broken := v_next;
            problem := pg_catalog.format('entry %s is missing', v_next);
            RETURN;
        END IF;
        IF r.prev_hash <> v_prev THEN
            first_broken := r.seq;
            problem := pg_catalog.format('entry %s does not link to the hash of the entry before it', r.seq);
            RETURN;
        END IF;
        IF pg_catalog.sha256(r.prev_hash ||
               pg_catalog.convert_to(privacy.audit_canonical(r.seq, r.at, r.actor, r.kind, r.object, r.detail), 'UTF8'))
           <> r.hash THEN
            first_broken := r.seq;
            problem := pg_catalog.format('entry %s does not match its hash', r.seq);
            RETURN;
        END IF;
        v_prev := r.hash;
        v_next := v_next + 1;
        entries := entries + 1;
    END LOOP;
    SELECT * INTO h FROM privacy.audit_head;
    IF FOUND AND (h.seq <> entries OR h.hash <> v_prev) THEN
        first_broken := entries + 1;
        problem := pg_catalog.format('the log ends at entry %s but its head records entry %s', entries, h.seq);
        RETURN;
    END IF;
    IF NOT FOUND AND entries > 0 THEN
        first_broken := 1;
        problem := 'the head of the log is missing';
        RETURN;
    END IF;
    valid := true;
END
$$;
COMMENT ON FUNCTION privacy.verify_audit_log() IS
    'recompute the audit log''s hash chain; reports the first missing, altered or unlinked entry';
-- Auditors are granted this explicitly.
REVOKE ALL ON FUNCTION privacy.verify_audit_log() FROM PUBLIC;

CREATE FUNCTION privacy.audit_log_refuse() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = pg_catalog.format('%s is not allowed on this table, for any role.', TG_OP);
END
$$;
COMMENT ON FUNCTION privacy.audit_log_refuse() IS 'trigger: refuses UPDATE, DELETE and TRUNCATE on append-only tables (audit log, consent ledger)';

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON privacy.audit_log
    FOR EACH ROW EXECUTE FUNCTION privacy.audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON privacy.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.audit_log_refuse();
CREATE TRIGGER audit_head_keep BEFORE DELETE ON privacy.audit_head
    FOR EACH ROW EXECUTE FUNCTION privacy.audit_log_refuse();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON privacy.audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.audit_log_refuse();

-- src/sql/code/requests.sql: the request register's functions: registering, completing and revoking requests, overdue requests, due cancellations

CREATE VIEW privacy.overdue_requests AS
    SELECT r.id, r.kind, r.subject_id, r.received_at, r.due_at,
           pg_catalog.now() OPERATOR(pg_catalog.-) r.due_at AS overdue_by, r.note
      FROM privacy.request r
     WHERE r.status OPERATOR(pg_catalog.=) 'open'
       AND r.due_at OPERATOR(pg_catalog.<) pg_catalog.now()
     ORDER BY r.due_at;
COMMENT ON VIEW privacy.overdue_requests IS
    'open requests past their due date, the most overdue first; subjects by pseudonym';
REVOKE ALL ON privacy.overdue_requests FROM PUBLIC;

-- The request register's functions
CREATE FUNCTION privacy.register_request(subject text, kind text, note text DEFAULT NULL, subject_kind text DEFAULT 'person') RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rid bigint;
    canonical text;
    pseud text;
BEGIN
    IF subject IS NULL OR kind IS NULL OR subject_kind IS NULL THEN
        RAISE EXCEPTION 'subject, kind and subject_kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF kind = 'cancellation' THEN
        RAISE EXCEPTION 'cancellation requests are made with privacy.request_cancellation'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'privacy.request_cancellation(subject, cooling_off) registers the request and schedules the cancellation.';
    END IF;
    IF NOT kind = ANY (ARRAY['access', 'correction', 'withdrawal']) THEN
        RAISE EXCEPTION 'unknown request kind "%"', kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The kinds are access, correction, cancellation and withdrawal.';
    END IF;
    canonical := privacy.subject_canonical(subject, subject_kind);
    pseud := privacy.subject_pseudonym(canonical, subject_kind);
    INSERT INTO privacy.request (kind, subject_kind, subject, subject_id, due_at, note)
    VALUES (kind, subject_kind, canonical, pseud,
            pg_catalog.now() + pg_catalog.make_interval(days => pg_catalog.current_setting('privacy.response_days')::integer),
            note)
    RETURNING privacy.request.id INTO rid;
    PERFORM privacy.audit_append('request', pg_catalog.format('request %s', rid),
        pg_catalog.jsonb_build_object('operation', 'received', 'kind', kind, 'subject', pseud)
        || CASE WHEN subject_kind <> 'person' THEN pg_catalog.jsonb_build_object('subject_kind', subject_kind) ELSE '{}'::jsonb END);
    RETURN rid;
END
$$;
COMMENT ON FUNCTION privacy.register_request(text, text, text, text) IS
    'register a subject''s (of a subject kind) request for access (a copy), correction or consent withdrawal, due in privacy.response_days; returns its id';
-- The application's support desk: granted explicitly.
REVOKE ALL ON FUNCTION privacy.register_request(text, text, text, text) FROM PUBLIC;

-- the open request with that id, checked
CREATE FUNCTION privacy.open_request(request_id bigint, kinds text[]) RETURNS privacy.request
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q privacy.request;
BEGIN
    IF request_id IS NULL THEN
        RAISE EXCEPTION 'request id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO q FROM privacy.request r WHERE r.id = request_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'request % does not exist', request_id USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT q.kind = ANY (kinds) THEN
        RAISE EXCEPTION 'request % is a % request', request_id, q.kind
            USING ERRCODE = 'wrong_object_type',
                  HINT = CASE WHEN q.kind = 'cancellation'
                              THEN 'A cancellation is completed by carrying it out (privacy.run_due_requests), or revoked with privacy.revoke_cancellation.'
                              ELSE 'privacy.complete_request closes access, correction and withdrawal requests.' END;
    END IF;
    IF q.status <> 'open' THEN
        RAISE EXCEPTION 'request % is already %', request_id, q.status USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN q;
END
$$;
COMMENT ON FUNCTION privacy.open_request(bigint, text[]) IS
    'internal: the open request with that id and one of those kinds, locked; an error otherwise';
REVOKE ALL ON FUNCTION privacy.open_request(bigint, text[]) FROM PUBLIC;

CREATE FUNCTION privacy.complete_request(request_id bigint, note text DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q privacy.request := privacy.open_request(request_id, ARRAY['access', 'correction', 'withdrawal']);
BEGIN
    UPDATE privacy.request r SET status = 'completed', subject = NULL, closed_at = pg_catalog.now(),
                                 note = COALESCE(complete_request.note, r.note)
     WHERE r.id = q.id;
    PERFORM privacy.audit_append('request', pg_catalog.format('request %s', q.id),
        pg_catalog.jsonb_build_object('operation', 'completed', 'kind', q.kind, 'subject', q.subject_id,
                                      'late', pg_catalog.now() > q.due_at));
END
$$;
COMMENT ON FUNCTION privacy.complete_request(bigint, text) IS
    'close an open access, correction or withdrawal request as answered';
-- As register_request.
REVOKE ALL ON FUNCTION privacy.complete_request(bigint, text) FROM PUBLIC;

CREATE FUNCTION privacy.request_cancellation(subject text, cooling_off interval DEFAULT '15 days', kind text DEFAULT 'person') RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    pseud text;
    canonical text;
    rid bigint;
    t timestamptz := pg_catalog.now();
    subject_kind text := request_cancellation.kind;
BEGIN
    IF subject IS NULL OR cooling_off IS NULL OR subject_kind IS NULL THEN
        RAISE EXCEPTION 'subject, cooling-off period and kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF cooling_off < '0'::interval THEN
        RAISE EXCEPTION 'cooling-off period must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    canonical := privacy.subject_canonical(subject, subject_kind);
    pseud := privacy.subject_pseudonym(canonical, subject_kind);
    IF EXISTS (SELECT 1 FROM privacy.cancelled_subject c WHERE c.subject_id = pseud) THEN
        RAISE EXCEPTION 'the subject''s account is already cancelled' USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    INSERT INTO privacy.request AS r (kind, subject_kind, subject, subject_id, not_before, due_at)
    VALUES ('cancellation', subject_kind, canonical, pseud, t + cooling_off,
            GREATEST(t + pg_catalog.make_interval(days => pg_catalog.current_setting('privacy.response_days')::integer),
                                t + cooling_off))
    ON CONFLICT (subject_id) WHERE kind = 'cancellation' AND status = 'open' DO NOTHING
    RETURNING r.id INTO rid;
    IF rid IS NULL THEN
        -- one open cancellation request per subject: that one
        SELECT r.id INTO rid FROM privacy.request r
         WHERE r.subject_id = pseud AND r.kind = 'cancellation'
           AND r.status = 'open';
        RETURN rid;
    END IF;
    PERFORM privacy.audit_append('request', pg_catalog.format('request %s', rid),
        pg_catalog.jsonb_build_object('operation', 'received', 'kind', 'cancellation', 'subject', pseud,
                                      'cooling_off', cooling_off::text)
        || CASE WHEN subject_kind <> 'person' THEN pg_catalog.jsonb_build_object('subject_kind', subject_kind) ELSE '{}'::jsonb END);
    RETURN rid;
END
$$;
COMMENT ON FUNCTION privacy.request_cancellation(text, interval, text) IS
    'register a request to cancel the subject''s (of a kind) account, carried out by privacy.run_due_requests once the cooling-off period is over; returns its id (the open one if the subject already has one)';
-- The application's account code: granted explicitly.
REVOKE ALL ON FUNCTION privacy.request_cancellation(text, interval, text) FROM PUBLIC;

CREATE FUNCTION privacy.revoke_cancellation(request_id bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q privacy.request := privacy.open_request(request_id, ARRAY['cancellation']);
BEGIN
    UPDATE privacy.request r SET status = 'revoked', subject = NULL, closed_at = pg_catalog.now()
     WHERE r.id = q.id;
    PERFORM privacy.audit_append('request', pg_catalog.format('request %s', q.id),
        pg_catalog.jsonb_build_object('operation', 'revoked', 'kind', 'cancellation', 'subject', q.subject_id));
END
$$;
COMMENT ON FUNCTION privacy.revoke_cancellation(bigint) IS
    'withdraw an open cancellation request during its cooling-off period (the subject changed their mind)';
-- As request_cancellation.
REVOKE ALL ON FUNCTION privacy.revoke_cancellation(bigint) FROM PUBLIC;

-- carry out one due cancellation; its id, or NULL when none is due
CREATE FUNCTION privacy.run_next_due_request(skip bigint[]) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q record;
    outcome text;
    state text;
    msg text;
BEGIN
    SELECT r.id, r.subject, r.subject_id, r.subject_kind INTO q FROM privacy.request r
     WHERE r.status = 'open' AND r.kind = 'cancellation'
       AND r.not_before <= pg_catalog.now()
       AND NOT r.id = ANY (COALESCE(skip, '{}'))
     ORDER BY r.not_before, r.id
     LIMIT 1
     FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    BEGIN
        SELECT pg_catalog.string_agg(c.action, ', ') INTO outcome
          FROM privacy.cancel_work(q.subject, false, q.id, false, q.subject_kind) c WHERE c.relation IS NULL;
        -- already cancelled, or nothing held: the request is answered all the same
        UPDATE privacy.request r SET status = 'completed', subject = NULL, closed_at = pg_catalog.now(), note = outcome
         WHERE r.id = q.id AND r.status = 'open';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        -- our own messages name tables, constraints and holds only; others may quote data
        IF NOT (pg_catalog.left(state, 2) = '23' AND msg ~ '^cancellation is blocked: ')
           AND NOT (state = '55000' AND msg ~ '^the subject is under legal hold [0-9]+: its cancellation is refused$') THEN
            msg := pg_catalog.format('failed with SQLSTATE %s', state);
        END IF;
        UPDATE privacy.request r SET note = msg WHERE r.id = q.id;
        PERFORM privacy.audit_append('request', pg_catalog.format('request %s', q.id),
            pg_catalog.jsonb_build_object('operation', 'failed', 'kind', 'cancellation', 'subject', q.subject_id,
                                          'sqlstate', state, 'message', msg));
        RAISE WARNING 'cancellation request % failed: %', q.id, msg;
    END;
    RETURN q.id;
END
$$;
COMMENT ON FUNCTION privacy.run_next_due_request(bigint[]) IS
    'internal: carry out the next due cancellation request not in skip; a failure is noted on the request, which stays open';
-- Destroys data: granted with run_due_requests.
REVOKE ALL ON FUNCTION privacy.run_next_due_request(bigint[]) FROM PUBLIC;

-- SECURITY INVOKER, no SET clause: it commits after each request
CREATE PROCEDURE privacy.run_due_requests()
    LANGUAGE plpgsql
    AS $$
DECLARE
    done bigint[] := '{}'::bigint[];
    rid bigint;
BEGIN
    LOOP
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        rid := privacy.run_next_due_request(done);
        EXIT WHEN rid IS NULL;
        done := done OPERATOR(pg_catalog.||) rid;
        COMMIT;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE privacy.run_due_requests() IS
    'carry out every cancellation request whose cooling-off period is over, each in its own transaction; a blocked one stays open with the reason in its note';
-- Destroys data: the scheduler's role, granted explicitly (with run_next_due_request).
REVOKE ALL ON PROCEDURE privacy.run_due_requests() FROM PUBLIC;

-- src/sql/code/requests.sql: the request register's functions: deadlines, registering, verifying, completing, refusing and revoking requests, corrections, overdue requests, due cancellations

-- Deadlines: calendar or working days per request kind

CREATE FUNCTION privacy.working_days_after(start_day date, days integer) RETURNS date
    LANGUAGE plpgsql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    d date := start_day;
    still integer := days;
    works boolean;
BEGIN
    IF days < 0 OR days > 366 THEN
        RAISE EXCEPTION 'number of working days must be between 0 and 366' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT pg_catalog.isfinite(start_day) THEN
        RAISE EXCEPTION 'the first day must be a finite date' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WHILE still > 0 LOOP
        d := d + 1;
        IF d > start_day + 3660 THEN
            RAISE EXCEPTION 'privacy.calendar leaves fewer than % working days in the ten years after %', days, start_day
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Mark fewer days of privacy.calendar as not working.';
        END IF;
        SELECT c.working INTO works FROM privacy.calendar c WHERE c.day = d;
        IF NOT FOUND THEN
            works := pg_catalog.date_part('isodow', d) < 6;
        END IF;
        IF works THEN
            still := still - 1;
        END IF;
    END LOOP;
    RETURN d;
END
$$;
COMMENT ON FUNCTION privacy.working_days_after(date, integer) IS
    'the day that is the given number of working days after start_day (which does not count): Monday to Friday, except the holidays of privacy.calendar, and the weekend days it marks as working';
-- Reads only the calendar, which everybody may read.
GRANT EXECUTE ON FUNCTION privacy.working_days_after(date, integer) TO PUBLIC;

CREATE FUNCTION privacy.request_due(request_kind text, received timestamptz) RETURNS timestamptz
    LANGUAGE plpgsql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    dl privacy.request_deadline;
    local_received timestamp;
BEGIN
    IF NOT request_kind = ANY (ARRAY['access', 'copy', 'correction', 'deletion', 'cancellation', 'withdrawal']) THEN
        RAISE EXCEPTION 'unknown request kind "%"', request_kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The kinds are access, copy, correction, deletion, cancellation and withdrawal.';
    END IF;
    IF NOT pg_catalog.isfinite(received) THEN
        RAISE EXCEPTION 'the time a request is received must be finite' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO dl FROM privacy.request_deadline d WHERE d.kind = request_kind;
    IF NOT FOUND THEN
        RETURN received + pg_catalog.make_interval(days => pg_catalog.current_setting('privacy.response_days')::integer);
    ELSIF NOT dl.working_days THEN
        RETURN received + pg_catalog.make_interval(days => dl.days);
    END IF;
    -- working days: the same time of day, so many working days later, in the
    -- session's time zone
    local_received := received::timestamp;
    RETURN (privacy.working_days_after(local_received::date, dl.days) + local_received::time)::timestamptz;
END
$$;
COMMENT ON FUNCTION privacy.request_due(text, timestamptz) IS
    'when a request of that kind received then is due: privacy.request_deadline''s days for the kind (calendar days, or working days of privacy.calendar at the same time of day, in the session''s time zone), else privacy.response_days calendar days';
-- Reads only the deadlines and the calendar, which everybody may read.
GRANT EXECUTE ON FUNCTION privacy.request_due(text, timestamptz) TO PUBLIC;

-- The lifecycle: each step recorded, with who and when

CREATE FUNCTION privacy.request_current_step(request_id bigint) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT s.step FROM privacy.request_step s WHERE s.request_id = $1 ORDER BY s.seq DESC LIMIT 1
    $$;
COMMENT ON FUNCTION privacy.request_current_step(bigint) IS
    'internal: the last step of a request (received, verified, in progress, completed, refused, revoked), NULL if none was recorded';
REVOKE ALL ON FUNCTION privacy.request_current_step(bigint) FROM PUBLIC;

CREATE FUNCTION privacy.request_add_step(request_id bigint, step text, handled_by text, note text) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
        INSERT INTO privacy.request_step (request_id, step, handled_by, note) VALUES ($1, $2, $3, $4)
    $$;
COMMENT ON FUNCTION privacy.request_add_step(bigint, text, text, text) IS
    'internal: record a step of a request, now, by the session user';
REVOKE ALL ON FUNCTION privacy.request_add_step(bigint, text, text, text) FROM PUBLIC;

CREATE VIEW privacy.overdue_requests AS
    SELECT r.id, r.kind, r.purpose, r.subject_id, r.received_at, r.due_at,
           pg_catalog.now() OPERATOR(pg_catalog.-) r.due_at AS overdue_by,
           s.step, s.at AS step_at, s.actor AS step_actor, s.handled_by, r.note
      FROM privacy.request r
      LEFT JOIN LATERAL (SELECT s.step, s.at, s.actor, s.handled_by FROM privacy.request_step s
                          WHERE s.request_id OPERATOR(pg_catalog.=) r.id ORDER BY s.seq DESC LIMIT 1) s ON true
     WHERE r.status OPERATOR(pg_catalog.=) 'open'
       AND r.due_at OPERATOR(pg_catalog.<) pg_catalog.now()
     ORDER BY r.due_at;
COMMENT ON VIEW privacy.overdue_requests IS
    'open requests past their due date, the most overdue first, with the step each has reached (received, verified, in progress), when and by whom; subjects by pseudonym';
REVOKE ALL ON privacy.overdue_requests FROM PUBLIC;

-- The request register's functions
CREATE FUNCTION privacy.register_request(subject text, kind text, note text DEFAULT NULL, subject_kind text DEFAULT 'person',
                                         purpose text DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rid bigint;
    canonical text;
    pseud text;
    t timestamptz := pg_catalog.now();
BEGIN
    IF subject IS NULL OR kind IS NULL OR subject_kind IS NULL THEN
        RAISE EXCEPTION 'subject, kind and subject_kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF kind = 'cancellation' THEN
        RAISE EXCEPTION 'cancellation requests are made with privacy.request_cancellation'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'privacy.request_cancellation(subject, cooling_off) registers the request and schedules the cancellation.';
    END IF;
    IF NOT kind = ANY (ARRAY['access', 'copy', 'correction', 'deletion', 'withdrawal']) THEN
        RAISE EXCEPTION 'unknown request kind "%"', kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The kinds are access, copy, correction, deletion, cancellation and withdrawal.';
    END IF;
    IF kind = 'withdrawal' AND purpose IS NULL THEN
        RAISE EXCEPTION 'a consent withdrawal request names its purpose' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'privacy.register_request(subject, ''withdrawal'', purpose => ''marketing'').';
    ELSIF kind <> 'withdrawal' AND purpose IS NOT NULL THEN
        RAISE EXCEPTION 'only a consent withdrawal request names a purpose' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF purpose IS NOT NULL AND NOT EXISTS (SELECT 1 FROM privacy.purpose p WHERE p.name = register_request.purpose) THEN
        RAISE EXCEPTION 'purpose "%" does not exist', purpose USING ERRCODE = 'undefined_object';
    END IF;
    canonical := privacy.subject_canonical(subject, subject_kind);
    pseud := privacy.subject_pseudonym(canonical, subject_kind);
    INSERT INTO privacy.request (kind, subject_kind, subject, subject_id, received_at, due_at, note, purpose)
    VALUES (kind, subject_kind, canonical, pseud, t, privacy.request_due(kind, t), note, purpose)
    RETURNING privacy.request.id INTO rid;
    PERFORM privacy.request_add_step(rid, 'received', NULL, NULL);
    PERFORM privacy.audit_append('request', pg_catalog.format('request %s', rid),
        pg_catalog.jsonb_build_object('operation', 'received', 'kind', kind, 'subject', pseud)
        || CASE WHEN purpose IS NOT NULL THEN pg_catalog.jsonb_build_object('purpose', purpose) ELSE '{}'::jsonb END
        || CASE WHEN subject_kind <> 'person' THEN pg_catalog.jsonb_build_object('subject_kind', subject_kind) ELSE '{}'::jsonb END);
    RETURN rid;
END
$$;
COMMENT ON FUNCTION privacy.register_request(text, text, text, text, text) IS
    'register a subject''s (of a subject kind) request for access, a copy, correction, deletion or consent withdrawal (which names its purpose), due by privacy.request_due; returns its id';
-- The application's support desk: granted explicitly.
REVOKE ALL ON FUNCTION privacy.register_request(text, text, text, text, text) FROM PUBLIC;

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
        RAISE EXCEPTION 'request % is %', request_id, CASE WHEN q.kind = 'access' THEN 'an access request' ELSE 'a ' || q.kind || ' request' END
            USING ERRCODE = 'wrong_object_type',
                  HINT = CASE WHEN q.kind = 'cancellation'
                              THEN 'A cancellation is completed by carrying it out (privacy.run_due_requests), or revoked with privacy.revoke_cancellation.'
                              WHEN q.kind = 'correction'
                              THEN 'A correction request is closed by the correction itself, privacy.correct(request_id, table, corrections), or refused.'
                              ELSE 'privacy.complete_request closes access, copy, deletion and withdrawal requests; privacy.correct a correction.' END;
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

-- the open request, locked, whose subject's identity is verified
CREATE FUNCTION privacy.verified_request(request_id bigint, kinds text[]) RETURNS privacy.request
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q privacy.request := privacy.open_request(request_id, kinds);
BEGIN
    IF privacy.request_current_step(q.id) = 'received' THEN
        RAISE EXCEPTION 'the identity of the subject of request % is not verified', q.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Verify it first: privacy.verify_request(request_id, method).';
    END IF;
    RETURN q;
END
$$;
COMMENT ON FUNCTION privacy.verified_request(bigint, text[]) IS
    'internal: open_request, and an error unless the subject''s identity has been verified';
REVOKE ALL ON FUNCTION privacy.verified_request(bigint, text[]) FROM PUBLIC;

CREATE FUNCTION privacy.verify_request(request_id bigint, method text DEFAULT NULL, handled_by text DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q privacy.request := privacy.open_request(request_id,
                             ARRAY['access', 'copy', 'correction', 'deletion', 'cancellation', 'withdrawal']);
BEGIN
    IF privacy.request_current_step(q.id) IS DISTINCT FROM 'received' THEN
        RAISE EXCEPTION 'the identity of the subject of request % is already verified', q.id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM privacy.request_add_step(q.id, 'verified', handled_by, method);
    PERFORM privacy.audit_append('request', pg_catalog.format('request %s', q.id),
        pg_catalog.jsonb_build_object('operation', 'verified', 'kind', q.kind, 'subject', q.subject_id));
END
$$;
COMMENT ON FUNCTION privacy.verify_request(bigint, text, text) IS
    'record that the identity of the subject of an open request has been verified (method: how, for instance an SMS code; handled_by: who, as the application names its staff)';
-- As register_request.
REVOKE ALL ON FUNCTION privacy.verify_request(bigint, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.start_request(request_id bigint, handled_by text DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q privacy.request := privacy.verified_request(request_id,
                             ARRAY['access', 'copy', 'correction', 'deletion', 'cancellation', 'withdrawal']);
BEGIN
    IF privacy.request_current_step(q.id) = 'in progress' THEN
        RAISE EXCEPTION 'request % is already in progress', q.id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM privacy.request_add_step(q.id, 'in progress', handled_by, NULL);
    PERFORM privacy.audit_append('request', pg_catalog.format('request %s', q.id),
        pg_catalog.jsonb_build_object('operation', 'in progress', 'kind', q.kind, 'subject', q.subject_id));
END
$$;
COMMENT ON FUNCTION privacy.start_request(bigint, text) IS
    'record that work on an open request whose subject is verified has started (handled_by: who)';
-- As register_request.
REVOKE ALL ON FUNCTION privacy.start_request(bigint, text) FROM PUBLIC;

CREATE FUNCTION privacy.complete_request(request_id bigint, note text DEFAULT NULL, handled_by text DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q privacy.request := privacy.verified_request(request_id, ARRAY['access', 'copy', 'deletion', 'withdrawal']);
    withdrawn boolean;
BEGIN
    IF q.kind = 'withdrawal' THEN
        -- the request is answered by the withdrawal itself
        withdrawn := privacy.withdraw_consent(q.subject, q.purpose, q.subject_kind);
    END IF;
    UPDATE privacy.request r SET status = 'completed', subject = NULL, closed_at = pg_catalog.now(),
                                 note = COALESCE(complete_request.note, r.note)
     WHERE r.id = q.id;
    PERFORM privacy.request_add_step(q.id, 'completed', handled_by, complete_request.note);
    PERFORM privacy.audit_append('request', pg_catalog.format('request %s', q.id),
        pg_catalog.jsonb_build_object('operation', 'completed', 'kind', q.kind, 'subject', q.subject_id,
                                      'late', pg_catalog.now() > q.due_at)
        || CASE WHEN q.kind = 'withdrawal'
                THEN pg_catalog.jsonb_build_object('purpose', q.purpose, 'consent_withdrawn', withdrawn)
                ELSE '{}'::jsonb END);
END
$$;
COMMENT ON FUNCTION privacy.complete_request(bigint, text, text) IS
    'close an open access, copy, deletion or withdrawal request whose subject is verified as done; a withdrawal request withdraws the consent to its purpose';
-- As register_request.
REVOKE ALL ON FUNCTION privacy.complete_request(bigint, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.refuse_request(request_id bigint, reason text, handled_by text DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q privacy.request;
BEGIN
    IF reason IS NULL OR pg_catalog.btrim(reason) = '' THEN
        RAISE EXCEPTION 'a refusal gives its reason' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    q := privacy.open_request(request_id, ARRAY['access', 'copy', 'correction', 'deletion', 'cancellation', 'withdrawal']);
    UPDATE privacy.request r SET status = 'refused', subject = NULL, closed_at = pg_catalog.now(), note = reason
     WHERE r.id = q.id;
    PERFORM privacy.request_add_step(q.id, 'refused', handled_by, reason);
    -- the reason stays in the register: the audit log holds no free text
    PERFORM privacy.audit_append('request', pg_catalog.format('request %s', q.id),
        pg_catalog.jsonb_build_object('operation', 'refused', 'kind', q.kind, 'subject', q.subject_id,
                                      'late', pg_catalog.now() > q.due_at));
END
$$;
COMMENT ON FUNCTION privacy.refuse_request(bigint, text, text) IS
    'close an open request of any kind as refused, with its reason (kept in the register and its steps, not in the audit log)';
-- As register_request.
REVOKE ALL ON FUNCTION privacy.refuse_request(bigint, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.correct(request_id bigint, rel pg_catalog.regclass, corrections jsonb, handled_by text DEFAULT NULL,
                                close boolean DEFAULT true) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q privacy.request;
    plan jsonb;
    col record;
    sets text[] := ARRAY[]::text[];
    cols text[] := ARRAY[]::text[];
    p record;
    n bigint := 0;
BEGIN
    IF rel IS NULL OR corrections IS NULL THEN
        RAISE EXCEPTION 'table and corrections must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF pg_catalog.jsonb_typeof(corrections) <> 'object' OR corrections = '{}'::jsonb THEN
        RAISE EXCEPTION 'corrections must be a JSON object of column names and their new values'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'For example ''{"phone": "13900139000"}''.';
    END IF;
    q := privacy.verified_request(request_id, ARRAY['correction']);
    FOR col IN SELECT e.key, e.value, a.attname, a.attgenerated, l.category, l.subject,
                      privacy.cast_type_name(a.atttypid) AS typ
                 FROM pg_catalog.jsonb_each(corrections) e
                 LEFT JOIN pg_catalog.pg_attribute a
                        ON a.attrelid = rel AND a.attname = e.key AND a.attnum > 0 AND NOT a.attisdropped
                 LEFT JOIN privacy.labels l ON l.relation = rel AND l.column_name = a.attname
                ORDER BY e.key LOOP
        IF col.attname IS NULL THEN
            RAISE EXCEPTION 'column "%" of relation % does not exist', col.key, rel USING ERRCODE = 'undefined_column';
        ELSIF col.category IS NULL OR col.subject OR col.attgenerated <> '' THEN
            RAISE EXCEPTION 'column "%" of relation % is not a labelled column of personal data that can be corrected', col.key, rel
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'A correction changes columns labelled CATEGORY ..., not SUBJECT or generated columns.';
        ELSIF pg_catalog.jsonb_typeof(col.value) NOT IN ('string', 'number', 'boolean', 'null') THEN
            RAISE EXCEPTION 'the new value of column "%" must be a JSON string, number, boolean or null', col.key
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- the new value as the column's base type without a length: the
        -- assignment checks the length (an explicit cast to varchar(5) would
        -- cut '13900139005' to '13900' without a word)
        sets := pg_catalog.array_append(sets, pg_catalog.format('%I = (($2::pg_catalog.jsonb) OPERATOR(pg_catalog.->>) %L)::%s',
                                                                col.attname, col.key, col.typ));
        cols := pg_catalog.array_append(cols, col.key::text);
    END LOOP;
    -- the subject's own rows of the table, as the cancellation plan finds them,
    -- changed as the table's owner
    plan := privacy.cancel_plan()->q.subject_kind;
    FOR p IN SELECT s.part, pg_catalog.array_agg(s.tid) AS tids
               FROM privacy.subject_rows(plan, q.subject, 'UPDATE') s
              WHERE s.relid = rel AND s.vals[1]::boolean
              GROUP BY s.part ORDER BY s.part LOOP
        n := n + privacy.owner_exec(p.part::pg_catalog.regclass,
                 pg_catalog.format('UPDATE ONLY %s t SET %s WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($1)',
                                   p.part::pg_catalog.regclass, pg_catalog.array_to_string(sets, ', ')),
                 p.tids, corrections::text);
    END LOOP;
    IF n = 0 THEN
        RAISE EXCEPTION 'the subject of request % has no rows in %', q.id, rel
            USING ERRCODE = 'no_data_found',
                  HINT = 'Name a labelled table that holds the subject''s rows, or refuse the request with privacy.refuse_request.';
    END IF;
    PERFORM privacy.audit_append('request', pg_catalog.format('request %s', q.id),
        pg_catalog.jsonb_build_object('operation', 'corrected', 'kind', 'correction', 'subject', q.subject_id,
                                      'table', rel::text, 'columns', pg_catalog.to_jsonb(cols), 'rows', n));
    IF close THEN
        UPDATE privacy.request r SET status = 'completed', subject = NULL, closed_at = pg_catalog.now()
         WHERE r.id = q.id;
        PERFORM privacy.request_add_step(q.id, 'completed', handled_by,
                                         pg_catalog.format('corrected in %s: %s rows', rel, n));
        PERFORM privacy.audit_append('request', pg_catalog.format('request %s', q.id),
            pg_catalog.jsonb_build_object('operation', 'completed', 'kind', 'correction', 'subject', q.subject_id,
                                          'late', pg_catalog.now() > q.due_at));
    ELSIF privacy.request_current_step(q.id) <> 'in progress' THEN
        PERFORM privacy.request_add_step(q.id, 'in progress', handled_by, NULL);
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.correct(bigint, pg_catalog.regclass, jsonb, text, boolean) IS
    'carry out a correction request: set the named labelled columns of the subject''s own rows of the table to the new values (a JSON object), as the table''s owner; audited with the request id, the table, the columns and the row count (no value); closes the request unless close is false (more tables to correct); returns the rows changed';
-- Changes personal data: the support desk, granted explicitly.
REVOKE ALL ON FUNCTION privacy.correct(bigint, pg_catalog.regclass, jsonb, text, boolean) FROM PUBLIC;

CREATE FUNCTION privacy.request_cancellation(subject text, cooling_off interval DEFAULT '15 days', kind text DEFAULT 'person',
                                             verified boolean DEFAULT true) RETURNS bigint
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
    is_verified boolean := request_cancellation.verified;
BEGIN
    IF subject IS NULL OR cooling_off IS NULL OR subject_kind IS NULL OR is_verified IS NULL THEN
        RAISE EXCEPTION 'subject, cooling-off period, kind and verified must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF cooling_off < '0'::interval THEN
        RAISE EXCEPTION 'cooling-off period must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    canonical := privacy.subject_canonical(subject, subject_kind);
    pseud := privacy.subject_pseudonym(canonical, subject_kind);
    IF EXISTS (SELECT 1 FROM privacy.cancelled_subject c WHERE c.subject_id = pseud) THEN
        RAISE EXCEPTION 'the subject''s account is already cancelled' USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    INSERT INTO privacy.request AS r (kind, subject_kind, subject, subject_id, received_at, not_before, due_at)
    VALUES ('cancellation', subject_kind, canonical, pseud, t, t + cooling_off,
            GREATEST(privacy.request_due('cancellation', t), t + cooling_off))
    ON CONFLICT (subject_id) WHERE kind = 'cancellation' AND status = 'open' DO NOTHING
    RETURNING r.id INTO rid;
    IF rid IS NULL THEN
        -- one open cancellation request per subject: that one
        SELECT r.id INTO rid FROM privacy.request r
         WHERE r.subject_id = pseud AND r.kind = 'cancellation'
           AND r.status = 'open';
        RETURN rid;
    END IF;
    PERFORM privacy.request_add_step(rid, 'received', NULL, NULL);
    IF is_verified THEN
        PERFORM privacy.request_add_step(rid, 'verified', NULL, 'the subject''s own session');
    END IF;
    PERFORM privacy.audit_append('request', pg_catalog.format('request %s', rid),
        pg_catalog.jsonb_build_object('operation', 'received', 'kind', 'cancellation', 'subject', pseud,
                                      'cooling_off', cooling_off::text, 'verified', is_verified)
        || CASE WHEN subject_kind <> 'person' THEN pg_catalog.jsonb_build_object('subject_kind', subject_kind) ELSE '{}'::jsonb END);
    RETURN rid;
END
$$;
COMMENT ON FUNCTION privacy.request_cancellation(text, interval, text, boolean) IS
    'register a request to cancel the subject''s (of a kind) account, carried out by privacy.run_due_requests once the cooling-off period is over and the identity verified (verified: made in the subject''s own session; otherwise privacy.verify_request first); returns its id (the open one if the subject already has one)';
-- The application's account code: granted explicitly.
REVOKE ALL ON FUNCTION privacy.request_cancellation(text, interval, text, boolean) FROM PUBLIC;

CREATE FUNCTION privacy.revoke_cancellation(request_id bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q privacy.request := privacy.open_request(request_id, ARRAY['cancellation']);
BEGIN
    UPDATE privacy.request r SET status = 'revoked', subject = NULL, closed_at = pg_catalog.now()
     WHERE r.id = q.id;
    PERFORM privacy.request_add_step(q.id, 'revoked', NULL, NULL);
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
       AND privacy.request_current_step(r.id) IS DISTINCT FROM 'received'
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
        PERFORM privacy.request_add_step(q.id, 'completed', NULL, outcome);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        -- our own messages name tables, constraints and holds only; others may quote data
        IF NOT (pg_catalog.left(state, 2) = '23' AND msg ~ '^cancellation is blocked: ')
           AND NOT (state = '55000' AND msg ~ '^the subject is under legal hold [0-9]+: its cancellation is refused$') THEN
            msg := pg_catalog.format('failed with SQLSTATE %s', state);
        END IF;
        UPDATE privacy.request r SET note = msg WHERE r.id = q.id;
        IF privacy.request_current_step(q.id) IS DISTINCT FROM 'in progress' THEN
            PERFORM privacy.request_add_step(q.id, 'in progress', NULL, msg);
        END IF;
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
    'carry out every cancellation request whose cooling-off period is over and whose subject is verified, each in its own transaction; a blocked one stays open with the reason in its note';
-- Destroys data: the scheduler's role, granted explicitly (with run_next_due_request).
REVOKE ALL ON PROCEDURE privacy.run_due_requests() FROM PUBLIC;

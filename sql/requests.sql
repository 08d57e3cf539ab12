-- requests: the register of subject requests, cancellations after a cooling-off
-- period, deadlines (uses the store schema of the cancellation suite)
\set VERBOSITY terse
SHOW privacy.response_days;
INSERT INTO store.users (id, name, phone, email) VALUES
    (9004, 'Dan Zhou', '13800138004', 'dan@example.com'),
    (9005, 'Eve Sun',  '13800138005', 'eve@example.com'),
    (9006, 'Fay Ma',   '13800138006', 'fay@example.com');
INSERT INTO store.orders VALUES (40, 9004, '13800138004', 'Dan lane 4', 12.00);

-- a cancellation request: due in privacy.response_days, carried out after the cooling-off period
SELECT privacy.request_cancellation('9004', '0 seconds') AS dan_request \gset
SELECT privacy.request_cancellation('9004') = :dan_request AS same_request;  -- one open request per subject
SELECT privacy.request_cancellation('9005', '7 days') AS eve_request \gset
SELECT privacy.request_cancellation('9006', '30 days') AS fay_request \gset
-- (in calendar days: a daylight-saving change in the window is no hour more or less)
SELECT id = :dan_request AS dan, kind, status, subject, not_before::date - received_at::date AS cooling_off_days,
       due_at::date - received_at::date AS answer_within_days
  FROM privacy.request WHERE id IN (:dan_request, :eve_request, :fay_request) ORDER BY id;
-- bad input changes nothing
SELECT count(*) AS requests FROM privacy.request \gset
SELECT try($$SELECT privacy.request_cancellation(NULL)$$);
SELECT try($$SELECT privacy.request_cancellation('9005', NULL)$$);
SELECT try($$SELECT privacy.request_cancellation('9005', '-1 day')$$);
SELECT try($$SELECT privacy.request_cancellation('9001')$$);     -- cancelled already
SELECT count(*) = :requests AS unchanged FROM privacy.request;

-- the other requests: access (a copy), correction, consent withdrawal
SELECT privacy.register_request('9005', 'access', 'wants a copy by e-mail') AS access_request \gset
SET privacy.response_days = 30;
SELECT privacy.register_request('9005', 'correction') AS correction_request \gset
RESET privacy.response_days;
SELECT kind, status, due_at::date - received_at::date AS answer_within_days, note
  FROM privacy.request WHERE id IN (:access_request, :correction_request) ORDER BY id;
SELECT try($$SELECT privacy.register_request('9005', 'cancellation')$$);
SELECT try($$SELECT privacy.register_request('9005', 'erasure')$$);
SELECT try($$SELECT privacy.register_request(NULL, 'access')$$);
-- only a superuser lengthens the deadline
SET ROLE regress_app;
SELECT try($$SET privacy.response_days = 90$$);
RESET ROLE;
SELECT try($$SET privacy.response_days = 0$$);

-- deadlines: nothing is late yet; twenty days later the access request is
SELECT count(*) FROM privacy.overdue_requests;
UPDATE privacy.request SET received_at = received_at - interval '20 days', due_at = due_at - interval '20 days'
 WHERE id = :access_request;
SELECT kind, subject_id = privacy.subject_pseudonym('9005') AS by_pseudonym,
       overdue_by > interval '4 days 23 hours' AS five_days_late, step, step_actor = session_user AS by_session_user, note
  FROM privacy.overdue_requests;
-- an answer needs the subject's identity verified first
SELECT regexp_replace(try(format('SELECT privacy.complete_request(%s)', :access_request)), '\m' || :'access_request' || '\M', '<id>', 'g') AS try;
SELECT privacy.verify_request(:access_request, 'SMS code', 'agent 7');
SELECT step, handled_by FROM privacy.overdue_requests;
SELECT privacy.complete_request(:access_request, 'copy sent');
SELECT count(*) FROM privacy.overdue_requests;
SELECT status, subject IS NULL AS subject_forgotten, note FROM privacy.request WHERE id = :access_request;
SELECT regexp_replace(try(format('SELECT privacy.complete_request(%s)', :access_request)), '\m' || :'access_request' || '\M', '<id>', 'g') AS try;
SELECT regexp_replace(try(format('SELECT privacy.complete_request(%s)', :dan_request)), '\m' || :'dan_request' || '\M', '<id>', 'g') AS try;
SELECT try($$SELECT privacy.complete_request(-1)$$);
SELECT try($$SELECT privacy.complete_request(NULL)$$);

-- deadlines per request kind, in calendar or working days: with nothing
-- configured, privacy.response_days calendar days
SET TimeZone = 'Asia/Shanghai';
SELECT privacy.request_due('access', '2026-09-25 10:00+08') AS access_due;
INSERT INTO privacy.request_deadline VALUES ('withdrawal', 15, true), ('copy', 30, false), ('cancellation', 15, true);
SELECT privacy.request_due('withdrawal', '2026-09-25 10:00+08') AS withdrawal_due_no_holidays;
-- the DBA's calendar: the National Day week off, a Saturday worked in exchange
INSERT INTO privacy.calendar (day, working, note)
SELECT d::date, false, 'National Day' FROM generate_series(timestamp '2026-10-01', '2026-10-07', '1 day') d;
INSERT INTO privacy.calendar VALUES ('2026-10-10', true, 'worked for National Day');
-- received on a Friday: 15 working days are 3 in September, 3 (one a Saturday)
-- in the week after the holidays, then 9 more
SELECT privacy.request_due('withdrawal', '2026-09-25 10:00+08') AS withdrawal_due,
       privacy.request_due('copy', '2026-09-25 10:00+08') AS copy_due,
       privacy.request_due('cancellation', '2026-09-30 23:30+08') AS cancellation_due;
SELECT d AS received, privacy.working_days_after(d, 1) AS next_working_day,
       privacy.working_days_after(d, 0) AS same_day
  FROM unnest(ARRAY['2026-09-30', '2026-10-09', '2026-10-10', '2026-12-31']::date[]) d;
-- a request's due date is computed when it is received
SELECT privacy.register_request('9005', 'copy') AS copy_request \gset
SELECT due_at = privacy.request_due('copy', received_at) AS due_by_its_kind,
       due_at - received_at AS within FROM privacy.request WHERE id = :copy_request;
-- bad input
SELECT try($$SELECT privacy.request_due('erasure', now())$$);
SELECT try($$SELECT privacy.request_due('access', 'infinity')$$);
SELECT try($$SELECT privacy.working_days_after('2026-01-01', -1)$$);
SELECT try($$SELECT privacy.working_days_after('2026-01-01', 367)$$);
SELECT try($$SELECT privacy.working_days_after('infinity', 1)$$);
SELECT try($$INSERT INTO privacy.request_deadline VALUES ('erasure', 10, false)$$);
SELECT try($$INSERT INTO privacy.request_deadline VALUES ('access', 0, false)$$);
SELECT try($$INSERT INTO privacy.calendar VALUES ('infinity', false)$$);
BEGIN;
INSERT INTO privacy.calendar SELECT d::date, false FROM generate_series(timestamp '2030-01-01', '2040-12-31', '1 day') d;
SELECT try($$SELECT privacy.working_days_after('2030-01-01', 1)$$);
ROLLBACK;
SELECT count(*) AS deadlines, (SELECT count(*) FROM privacy.calendar) AS calendar_days FROM privacy.request_deadline;
RESET TimeZone;

-- the lifecycle: received, identity verified, in progress, completed, each
-- with who and when
SELECT regexp_replace(try(format('SELECT privacy.start_request(%s)', :copy_request)), '\m' || :'copy_request' || '\M', '<id>', 'g') AS try;
SELECT privacy.verify_request(:copy_request, 'ID card seen at the counter', 'agent 7');
SELECT regexp_replace(try(format('SELECT privacy.verify_request(%s)', :copy_request)), '\m' || :'copy_request' || '\M', '<id>', 'g') AS try;
SELECT privacy.start_request(:copy_request, 'agent 9');
SELECT regexp_replace(try(format('SELECT privacy.start_request(%s)', :copy_request)), '\m' || :'copy_request' || '\M', '<id>', 'g') AS try;
SELECT privacy.complete_request(:copy_request, 'archive sent', 'agent 9');
SELECT step, actor = session_user AS by_session_user, handled_by, note, at >= (SELECT received_at FROM privacy.request WHERE id = :copy_request) AS in_order
  FROM privacy.request_step WHERE request_id = :copy_request ORDER BY seq;
SELECT try($$SELECT privacy.verify_request(NULL)$$);
SELECT try($$SELECT privacy.start_request(-1)$$);

-- refused, with a reason
SELECT privacy.register_request('9006', 'deletion', 'the order history') AS deletion_request \gset
SELECT regexp_replace(try(format('SELECT privacy.refuse_request(%s, '' '')', :deletion_request)), '\m' || :'deletion_request' || '\M', '<id>', 'g') AS try;
SELECT try($$SELECT privacy.refuse_request(-1, NULL)$$);
SELECT status FROM privacy.request WHERE id = :deletion_request;
SELECT privacy.refuse_request(:deletion_request, 'identity could not be verified', 'agent 7');
SELECT status, subject IS NULL AS subject_forgotten, note FROM privacy.request WHERE id = :deletion_request;
SELECT step, handled_by, note FROM privacy.request_step WHERE request_id = :deletion_request ORDER BY seq;
SELECT regexp_replace(try(format('SELECT privacy.refuse_request(%s, ''again'')', :deletion_request)), '\m' || :'deletion_request' || '\M', '<id>', 'g') AS try;

-- a consent withdrawal names its purpose; completing it withdraws the consent
SELECT privacy.grant_consent('9005', 'marketing', '{"form": "signup"}') > 0 AS granted;
SELECT try($$SELECT privacy.register_request('9005', 'withdrawal')$$);
SELECT try($$SELECT privacy.register_request('9005', 'withdrawal', purpose => 'astrology')$$);
SELECT try($$SELECT privacy.register_request('9005', 'access', purpose => 'marketing')$$);
SELECT privacy.register_request('9005', 'withdrawal', purpose => 'marketing') AS withdrawal_request \gset
SELECT kind, purpose FROM privacy.request WHERE id = :withdrawal_request;
SELECT privacy.has_consent('9005', 'marketing') AS consents_before;
SELECT privacy.verify_request(:withdrawal_request, 'signed-in session');
SELECT privacy.complete_request(:withdrawal_request);
SELECT privacy.has_consent('9005', 'marketing') AS consents_after, status FROM privacy.request WHERE id = :withdrawal_request;
SELECT detail->>'purpose' AS purpose, detail->>'consent_withdrawn' AS withdrawn FROM privacy.audit_log
 WHERE kind = 'request' AND object = 'request ' || :withdrawal_request AND detail->>'operation' = 'completed';

-- a correction request is closed by the correction itself
SELECT regexp_replace(try(format('SELECT privacy.complete_request(%s)', :correction_request)), '\m' || :'correction_request' || '\M', '<id>', 'g') AS try;
SELECT regexp_replace(try(format('SELECT privacy.correct(%s, ''store.users'', ''{"phone": "13900139005"}'')', :correction_request)), '\m' || :'correction_request' || '\M', '<id>', 'g') AS try;
SELECT privacy.verify_request(:correction_request, 'SMS code');
-- bad input changes nothing
SELECT md5(string_agg(u::text, ',' ORDER BY id)) AS users_before FROM store.users u \gset
SELECT try(format($$SELECT privacy.correct(%s, 'store.users', '{"nickname": "x"}')$$, :correction_request));
SELECT try(format($$SELECT privacy.correct(%s, 'store.users', '{"id": 1}')$$, :correction_request));
SELECT try(format($$SELECT privacy.correct(%s, 'store.users', '{"referred_by": 1}')$$, :correction_request));
SELECT try(format($$SELECT privacy.correct(%s, 'store.users', '{"phone": ["1"]}')$$, :correction_request));
SELECT try(format($$SELECT privacy.correct(%s, 'store.users', '[]')$$, :correction_request));
SELECT try(format($$SELECT privacy.correct(%s, 'store.users', '{}')$$, :correction_request));
SELECT try(format($$SELECT privacy.correct(%s, 'store.users', NULL)$$, :correction_request));
SELECT try(format($$SELECT privacy.correct(%s, 'store.users', '{"birth": "not a date"}')$$, :correction_request));
-- a value too long for its column is refused, not cut to the column's length
BEGIN;
CREATE TABLE store.user_codes (user_id integer NOT NULL REFERENCES store.users, code varchar(5));
SECURITY LABEL FOR privacy ON COLUMN store.user_codes.code IS 'CATEGORY account.profile';
SECURITY LABEL FOR privacy ON TABLE store.user_codes IS 'ON CANCEL DELETE';
INSERT INTO store.user_codes VALUES (9005, 'abcde');
SELECT try(format($$SELECT privacy.correct(%s, 'store.user_codes', '{"code": "1234567"}')$$, :correction_request));
SELECT code FROM store.user_codes;
ROLLBACK;
SELECT regexp_replace(try(format($$SELECT privacy.correct(%s, 'store.orders', '{"ship_phone": "13900139005"}')$$, :correction_request)), '\m' || :'correction_request' || '\M', '<id>', 'g') AS try;
SELECT regexp_replace(try(format($$SELECT privacy.correct(%s, 'store.users', '{"phone": "13900139005"}')$$, :access_request)), '\m' || :'access_request' || '\M', '<id>', 'g') AS try;
SELECT md5(string_agg(u::text, ',' ORDER BY id)) = :'users_before' AS users_unchanged,
       (SELECT status FROM privacy.request WHERE id = :correction_request) AS status
  FROM store.users u;
-- the UPDATE of the subject's own rows, as the table's owner
SELECT privacy.correct(:correction_request, 'store.users', '{"phone": "13900139005", "email": "eve.sun@example.com"}', 'agent 7') AS rows_corrected;
SELECT id, name, phone, email FROM store.users WHERE id IN (9005, 9006) ORDER BY id;
SELECT status, subject IS NULL AS subject_forgotten FROM privacy.request WHERE id = :correction_request;
SELECT detail - 'subject' AS detail, detail->>'subject' = privacy.subject_pseudonym('9005') AS by_pseudonym
  FROM privacy.audit_log WHERE kind = 'request' AND object = 'request ' || :correction_request AND detail->>'operation' = 'corrected';
SELECT step, handled_by, note FROM privacy.request_step WHERE request_id = :correction_request ORDER BY seq;
-- several tables: close => false keeps the request open for the next one
SELECT privacy.register_request('9004', 'correction') AS dan_correction \gset
SELECT privacy.verify_request(:dan_correction);
SELECT privacy.correct(:dan_correction, 'store.orders', '{"ship_address": "Dan road 5"}', close => false) AS order_rows;
SELECT status, privacy.request_current_step(id) AS step FROM privacy.request WHERE id = :dan_correction;
SELECT privacy.correct(:dan_correction, 'store.users', '{"name": "Dan Chou"}') AS user_rows;
SELECT status FROM privacy.request WHERE id = :dan_correction;
SELECT id, user_id, ship_address FROM store.orders WHERE id = 40;

-- a cancellation asked for by e-mail waits for the identity to be verified
SELECT privacy.request_cancellation('9006', '0 seconds', verified => false) AS fay_mail_request \gset
SELECT :fay_mail_request = :fay_request AS same_open_request;
SELECT privacy.revoke_cancellation(:fay_request);
SELECT privacy.request_cancellation('9006', '0 seconds', verified => false) AS fay_mail_request \gset
SELECT privacy.request_current_step(:fay_mail_request) AS step;

-- a revoked cancellation is never carried out
SELECT privacy.revoke_cancellation(:eve_request);
SELECT status, subject IS NULL AS subject_forgotten FROM privacy.request WHERE id = :eve_request;
SELECT regexp_replace(try(format('SELECT privacy.revoke_cancellation(%s)', :eve_request)), '\m' || :'eve_request' || '\M', '<id>', 'g') AS try;
SELECT regexp_replace(try(format('SELECT privacy.revoke_cancellation(%s)', :correction_request)), '\m' || :'correction_request' || '\M', '<id>', 'g') AS try;

-- run_due_requests carries out the cancellations whose cooling-off is over:
-- Dan's now, Fay's in 30 days; Carol's is blocked (see the cancellation
-- suite) and stays open with the reason
SELECT privacy.request_cancellation('9003', '0 seconds') AS carol_request \gset
CALL privacy.run_due_requests();
-- Fay's was not verified: it waits
SELECT status, privacy.request_current_step(id) AS step FROM privacy.request WHERE id = :fay_mail_request;
SELECT step, note FROM privacy.request_step WHERE request_id = :carol_request ORDER BY seq;
SELECT id = :dan_request AS dan, id = :carol_request AS carol, kind, status, subject IS NULL AS subject_forgotten, note
  FROM privacy.request WHERE kind = 'cancellation' AND id >= :dan_request ORDER BY id;
SELECT id, name FROM store.users WHERE id >= 9003 ORDER BY id;
SELECT id, user_id, ship_phone FROM store.orders WHERE id = 40;
SELECT count(*) FROM privacy.cancelled_subject WHERE subject_id = privacy.subject_pseudonym('9004');
-- a second run finds nothing else due, and tries Carol's blocked request again
CALL privacy.run_due_requests();
SELECT privacy.refuse_request(:fay_mail_request, 'identity could not be verified');
SELECT count(*) AS open_cancellations FROM privacy.request WHERE kind = 'cancellation' AND status = 'open';
-- a cancellation that a table owner's trigger refuses with an error of its own
-- (which may quote the row) stays open, noted by its SQLSTATE only; once the
-- trigger is gone, the next run carries it out
CREATE TABLE store.vouchers (user_id integer, code text);
SECURITY LABEL FOR privacy ON COLUMN store.vouchers.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN store.vouchers.code IS 'CATEGORY account.membership';
CREATE FUNCTION store.keep_vouchers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'voucher % is kept', OLD.code;
END $$;
CREATE TRIGGER keep_vouchers BEFORE DELETE ON store.vouchers FOR EACH ROW EXECUTE FUNCTION store.keep_vouchers();
INSERT INTO store.vouchers VALUES (9007, 'GIFT-9007');
SELECT privacy.request_cancellation('9007', '0 seconds') AS gus_request \gset
CALL privacy.run_due_requests();
SELECT status, subject IS NULL AS subject_forgotten, note FROM privacy.request WHERE id = :gus_request;
DROP TRIGGER keep_vouchers ON store.vouchers;
CALL privacy.run_due_requests();
SELECT status, subject IS NULL AS subject_forgotten, note FROM privacy.request WHERE id = :gus_request;
SELECT count(*) AS vouchers FROM store.vouchers;
DROP TABLE store.vouchers;
DROP FUNCTION store.keep_vouchers();

-- every step is audited, subjects by pseudonym only
SELECT detail->>'operation' AS operation, detail->>'kind' AS kind, detail ? 'subject' AS names_subject
  FROM privacy.audit_log WHERE kind = 'request' ORDER BY seq;
SELECT count(*) AS entries_with_subjects FROM privacy.audit_log
 WHERE kind IN ('request', 'cancellation')
   AND (detail::text || ' ' || object) ~ '(^|[^0-9a-f])900[0-9]([^0-9a-f]|$)';

-- application roles get nothing unless granted
SET ROLE regress_app;
SELECT try($$SELECT privacy.request_cancellation('9005')$$);
SELECT try($$SELECT privacy.register_request('9005', 'access')$$);
SELECT try($$SELECT privacy.verify_request(1)$$);
SELECT try($$SELECT privacy.correct(1, NULL, '{"phone": "1"}')$$);
SELECT try($$SELECT privacy.refuse_request(1, 'no')$$);
SELECT try($$SELECT count(*) FROM privacy.request_step$$);
SELECT count(*) >= 0 AS reads_the_calendar FROM privacy.calendar;
SELECT privacy.request_due('access', '2026-01-05 09:00+00') IS NOT NULL AS computes_deadlines;
SELECT try($$INSERT INTO privacy.calendar VALUES ('2026-01-01', false)$$);
SELECT try($$SELECT count(*) FROM privacy.request$$);
SELECT try($$SELECT count(*) FROM privacy.overdue_requests$$);
SELECT try($$CALL privacy.run_due_requests()$$);
RESET ROLE;

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
SELECT try($$SELECT privacy.register_request('9005', 'deletion')$$);
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
       overdue_by > interval '4 days 23 hours' AS five_days_late, note
  FROM privacy.overdue_requests;
SELECT privacy.complete_request(:access_request, 'copy sent');
SELECT count(*) FROM privacy.overdue_requests;
SELECT status, subject IS NULL AS subject_forgotten, note FROM privacy.request WHERE id = :access_request;
SELECT regexp_replace(try(format('SELECT privacy.complete_request(%s)', :access_request)), '\m' || :'access_request' || '\M', '<id>', 'g') AS try;
SELECT regexp_replace(try(format('SELECT privacy.complete_request(%s)', :dan_request)), '\m' || :'dan_request' || '\M', '<id>', 'g') AS try;
SELECT try($$SELECT privacy.complete_request(-1)$$);
SELECT try($$SELECT privacy.complete_request(NULL)$$);

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
SELECT id = :dan_request AS dan, id = :carol_request AS carol, kind, status, subject IS NULL AS subject_forgotten, note
  FROM privacy.request WHERE kind = 'cancellation' AND id >= :dan_request ORDER BY id;
SELECT id, name FROM store.users WHERE id >= 9003 ORDER BY id;
SELECT id, user_id, ship_phone FROM store.orders WHERE id = 40;
SELECT count(*) FROM privacy.cancelled_subject WHERE subject_id = privacy.subject_pseudonym('9004');
-- a second run finds nothing else due, and tries Carol's blocked request again
CALL privacy.run_due_requests();
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
SELECT try($$SELECT count(*) FROM privacy.request$$);
SELECT try($$SELECT count(*) FROM privacy.overdue_requests$$);
SELECT try($$CALL privacy.run_due_requests()$$);
RESET ROLE;

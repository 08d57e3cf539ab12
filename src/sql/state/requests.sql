-- src/sql/state/requests.sql: the register of subject requests

-- The request register: access, copy, correction, deletion, consent withdrawal
-- and account cancellation.
CREATE TABLE privacy.request (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text        NOT NULL
                            CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['access', 'copy', 'correction', 'deletion', 'cancellation', 'withdrawal'])),
    subject_kind text       NOT NULL DEFAULT 'person',
    subject     text,
    subject_id  text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    not_before  timestamptz,
    due_at      timestamptz NOT NULL,
    status      text        NOT NULL DEFAULT 'open'
                            CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['open', 'completed', 'refused', 'revoked'])),
    closed_at   timestamptz,
    note        text,
    purpose     text,
    CHECK ((kind OPERATOR(pg_catalog.=) 'withdrawal') OPERATOR(pg_catalog.=) (purpose IS NOT NULL)),
    CHECK ((status OPERATOR(pg_catalog.=) 'open') OPERATOR(pg_catalog.=) (closed_at IS NULL)),
    CHECK (status OPERATOR(pg_catalog.=) 'open' OR subject IS NULL)
);
COMMENT ON SEQUENCE privacy.request_id_seq IS 'numbers the requests of privacy.request';
CREATE INDEX request_open ON privacy.request (kind, not_before) WHERE status OPERATOR(pg_catalog.=) 'open';
CREATE INDEX request_subject ON privacy.request (subject_id);
COMMENT ON TABLE privacy.request IS
    'the register of subject requests (access, copy, correction, deletion, cancellation, withdrawal) with received and due dates and status; the subject is kept in clear only while the request is open';
COMMENT ON COLUMN privacy.request.purpose IS 'withdrawal: the purpose whose consent is withdrawn';
COMMENT ON COLUMN privacy.request.subject IS 'the subject, while the request is open (a cancellation needs it to be carried out); NULL once closed';
COMMENT ON COLUMN privacy.request.subject_id IS 'the subject''s pseudonym, privacy.subject_pseudonym(subject)';
COMMENT ON COLUMN privacy.request.not_before IS 'cancellation: the end of the cooling-off period, before which it is not carried out';
COMMENT ON COLUMN privacy.request.due_at IS 'the answer is due: privacy.request_due(kind, received_at), or the end of the cooling-off period if later';
-- Names subjects: administrators and the DPO, granted explicitly.
REVOKE ALL ON privacy.request FROM PUBLIC;

CREATE UNIQUE INDEX request_one_open_cancellation ON privacy.request (subject_id)
    WHERE kind OPERATOR(pg_catalog.=) 'cancellation' AND status OPERATOR(pg_catalog.=) 'open';

-- Each request's lifecycle: received, identity verified, in progress, then
-- completed, refused (with a reason) or revoked, with who and when.
CREATE TABLE privacy.request_step (
    seq         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id  bigint      NOT NULL REFERENCES privacy.request (id) ON DELETE CASCADE,
    step        text        NOT NULL
                            CHECK (step OPERATOR(pg_catalog.=) ANY (ARRAY['received', 'verified', 'in progress', 'completed', 'refused', 'revoked'])),
    at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    actor       name        NOT NULL DEFAULT SESSION_USER,
    handled_by  text,
    note        text
);
COMMENT ON SEQUENCE privacy.request_step_seq_seq IS 'numbers the steps of privacy.request_step';
CREATE INDEX request_step_request ON privacy.request_step (request_id, seq);
COMMENT ON TABLE privacy.request_step IS
    'each step of each request (received, verified, in progress, completed, refused, revoked): when, the session user (actor), the person who handled it as the application names them (handled_by), a note (the verification method, the reason of a refusal)';
-- Who handles which request: administrators and the DPO, granted explicitly.
REVOKE ALL ON privacy.request_step FROM PUBLIC;

-- Deadlines per request kind: a number of calendar or working days.  A kind
-- with no row is due in privacy.response_days calendar days.  Nothing seeded.
CREATE TABLE privacy.request_deadline (
    kind         text    PRIMARY KEY
                         CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['access', 'copy', 'correction', 'deletion', 'cancellation', 'withdrawal'])),
    days         integer NOT NULL CHECK (days OPERATOR(pg_catalog.>=) 1 AND days OPERATOR(pg_catalog.<=) 366),
    working_days boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE privacy.request_deadline IS
    'the deadline of each request kind: days, counted as calendar days or (working_days) as working days of privacy.calendar; a kind without a row is due in privacy.response_days calendar days';
-- No personal data: everybody may read the deadlines; writing them is the DBA's.
REVOKE ALL ON privacy.request_deadline FROM PUBLIC;
GRANT SELECT ON privacy.request_deadline TO PUBLIC;

-- The working-day calendar: Monday to Friday work, Saturday and Sunday do
-- not, except the days listed here (public holidays; weekend days worked in
-- exchange).  Nothing seeded: the DBA keeps it.
CREATE TABLE privacy.calendar (
    day     date    PRIMARY KEY CHECK (pg_catalog.isfinite(day)),
    working boolean NOT NULL DEFAULT false,
    note    text
);
COMMENT ON TABLE privacy.calendar IS
    'exceptions to the working week (Monday to Friday): a holiday (working = false) or a weekend day worked (working = true); working-day deadlines skip the days that are not worked';
-- As request_deadline.
REVOKE ALL ON privacy.calendar FROM PUBLIC;
GRANT SELECT ON privacy.calendar TO PUBLIC;

-- pg_dump keeps what these hold (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.request', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.request_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.request_step', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.request_step_seq_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.request_deadline', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.calendar', '');

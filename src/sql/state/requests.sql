-- src/sql/state/requests.sql: the register of subject requests

-- The request register: access, correction, cancellation and consent withdrawal.
CREATE TABLE privacy.request (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text        NOT NULL
                            CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['access', 'correction', 'cancellation', 'withdrawal'])),
    subject_kind text       NOT NULL DEFAULT 'person',
    subject     text,
    subject_id  text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    not_before  timestamptz,
    due_at      timestamptz NOT NULL,
    status      text        NOT NULL DEFAULT 'open'
                            CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['open', 'completed', 'revoked'])),
    closed_at   timestamptz,
    note        text,
    CHECK ((status OPERATOR(pg_catalog.=) 'open') OPERATOR(pg_catalog.=) (closed_at IS NULL)),
    CHECK (status OPERATOR(pg_catalog.=) 'open' OR subject IS NULL)
);
COMMENT ON SEQUENCE privacy.request_id_seq IS 'numbers the requests of privacy.request';
CREATE INDEX request_open ON privacy.request (kind, not_before) WHERE status OPERATOR(pg_catalog.=) 'open';
CREATE INDEX request_subject ON privacy.request (subject_id);
COMMENT ON TABLE privacy.request IS
    'the register of subject requests (access, correction, cancellation, withdrawal) with received and due dates and status; the subject is kept in clear only while the request is open';
COMMENT ON COLUMN privacy.request.subject IS 'the subject, while the request is open (a cancellation needs it to be carried out); NULL once closed';
COMMENT ON COLUMN privacy.request.subject_id IS 'the subject''s pseudonym, privacy.subject_pseudonym(subject)';
COMMENT ON COLUMN privacy.request.not_before IS 'cancellation: the end of the cooling-off period, before which it is not carried out';
COMMENT ON COLUMN privacy.request.due_at IS 'the answer is due: received_at plus privacy.response_days, or the end of the cooling-off period if later';
-- Names subjects: administrators and the DPO, granted explicitly.
REVOKE ALL ON privacy.request FROM PUBLIC;

CREATE UNIQUE INDEX request_one_open_cancellation ON privacy.request (subject_id)
    WHERE kind OPERATOR(pg_catalog.=) 'cancellation' AND status OPERATOR(pg_catalog.=) 'open';

-- pg_dump keeps what these hold (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.request', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.request_id_seq', '');

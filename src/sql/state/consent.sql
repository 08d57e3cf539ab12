-- src/sql/state/consent.sql: purpose definitions with their seeds, policy versions, the consent ledger, the consents in force, minors

-- Purposes: why data is processed, on what legal basis, over which categories

-- Seeded definitions (seeded = true) ship with the extension and are not
-- dumped; an administrator's definition of the same name (seeded = false)
-- overrides one, and is dumped, so a restore keeps both without conflict.
CREATE TABLE privacy.purpose_definition (
    name        text        NOT NULL CHECK (name OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]*$'),
    seeded      boolean     NOT NULL DEFAULT false,
    legal_basis text        NOT NULL
                            CHECK (legal_basis OPERATOR(pg_catalog.=) ANY (ARRAY['consent', 'contract', 'legal_obligation',
                                   'vital_interest', 'public_interest', 'news_reporting', 'publicly_disclosed', 'other_law'])),
    categories  text[]      NOT NULL,
    description text        NOT NULL,
    dropped     boolean     NOT NULL DEFAULT false,
    defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (name, seeded)
);
COMMENT ON TABLE privacy.purpose_definition IS
    'purpose definitions: seeded ones, and administrators'' definitions that override them (dropped marks a removed seeded purpose)';
GRANT SELECT ON privacy.purpose_definition TO PUBLIC;

INSERT INTO privacy.purpose_definition (name, seeded, legal_basis, categories, description) VALUES
 ('service', true, 'contract', ARRAY['account', 'contact', 'credential', 'device.id', 'device.model', 'log.login', 'log.operation', 'content'],
  'Providing the service the person signed up for: account, login, core features'),
 ('payment', true, 'contract', ARRAY['commerce', 'financial.payment_account', 'financial.transaction', 'contact.address'],
  'Orders, payment, delivery and invoicing'),
 ('customer_service', true, 'contract', ARRAY['account.id', 'contact', 'content.feedback', 'commerce.order'],
  'Answering the person''s questions, complaints and requests'),
 ('security', true, 'legal_obligation', ARRAY['log', 'device', 'account.id'],
  'Security, fraud prevention and the network security logs the law requires'),
 ('identity_verification', true, 'legal_obligation', ARRAY['identity.name', 'identity.id_number', 'identity.id_document', 'identity.verification', 'biometric.face'],
  'Real-name and real-person verification required by law'),
 ('personalization', true, 'consent', ARRAY['account.profile', 'log.access', 'log.search', 'location.coarse', 'device.model'],
  'Recommendations and content tailored to the person'),
 ('marketing', true, 'consent', ARRAY['contact.phone', 'contact.email', 'account.profile', 'account.membership'],
  'Promotional messages by SMS, e-mail or push'),
 ('analytics', true, 'consent', ARRAY['log.access', 'log.operation', 'log.crash', 'device.model', 'location.coarse'],
  'Statistics on how the service is used, to improve it'),
 ('location_services', true, 'consent', ARRAY['location.precise', 'location.track'],
  'Features that use the person''s precise location'),
 ('third_party_sharing', true, 'consent', ARRAY['account.id', 'contact', 'device.id'],
  'Providing personal information to third parties (PIPL Art. 23)'),
 ('cross_border_transfer', true, 'consent', ARRAY['account', 'contact', 'device.id', 'log'],
  'Transferring personal information outside the country (PIPL Art. 39)');

-- Privacy policy versions

CREATE TABLE privacy.policy_version (
    version      text        PRIMARY KEY,
    published_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    material     boolean     NOT NULL,
    purposes     text[]      CHECK (material OR purposes IS NULL)
);
COMMENT ON TABLE privacy.policy_version IS
    'versions of the privacy policy; after a material one, consent given before it to the purposes it affects (purposes; NULL: every purpose) no longer counts until granted again';
COMMENT ON COLUMN privacy.policy_version.purposes IS 'the purposes a material change affects: consent to them given before it is void; NULL: every purpose';
GRANT SELECT ON privacy.policy_version TO PUBLIC;

-- Consent: an append-only ledger, and the consents in force

CREATE SEQUENCE privacy.consent_event_seq;
CREATE TABLE privacy.consent_event (
    seq            bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('privacy.consent_event_seq'),
    subject_kind   text        NOT NULL DEFAULT 'person',
    subject        text        NOT NULL,
    purpose        text        NOT NULL,
    granted        boolean     NOT NULL,
    at             timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    policy_version text,
    evidence       jsonb,
    by_guardian    boolean     NOT NULL DEFAULT false,
    actor          name        NOT NULL DEFAULT SESSION_USER,
    -- who gave it for the subject: the guardian, a subject of guardian_kind
    -- (canonical; 'cancelled:' and its pseudonym once the guardian cancelled)
    guardian       text,
    guardian_kind  text,
    CONSTRAINT consent_event_guardian CHECK (by_guardian OPERATOR(pg_catalog.=) (guardian IS NOT NULL)
                                             AND (guardian IS NULL) OPERATOR(pg_catalog.=) (guardian_kind IS NULL))
);
ALTER SEQUENCE privacy.consent_event_seq OWNED BY privacy.consent_event.seq;
COMMENT ON SEQUENCE privacy.consent_event_seq IS 'numbers the consent ledger''s entries';
CREATE INDEX consent_event_lookup ON privacy.consent_event (subject, purpose, subject_kind, at);
-- the consents a guardian gave (their cancellation pseudonymizes them)
CREATE INDEX consent_event_guardian_lookup ON privacy.consent_event (guardian, guardian_kind) WHERE guardian IS NOT NULL;
COMMENT ON TABLE privacy.consent_event IS
    'consent ledger: every grant (granted) and withdrawal, append-only; has_consent reads it at any moment';
-- The ledger is personal data: its owner and granted auditors only.
REVOKE ALL ON privacy.consent_event FROM PUBLIC;

CREATE TABLE privacy.consent (
    subject_kind   text        NOT NULL DEFAULT 'person',
    subject        text        NOT NULL,
    purpose        text        NOT NULL,
    granted_at     timestamptz NOT NULL,
    policy_version text,
    by_guardian    boolean     NOT NULL,
    -- the subject's explicit minor setting (privacy.subject_minor), kept in
    -- step by grant_consent and set_minor: purpose views read it here
    minor_setting  boolean,
    -- the subject as an integer, when it is one: purpose views over integer
    -- subject columns join on it, so a lookup by subject probes consent once
    subject_key    bigint      GENERATED ALWAYS AS
                   (CASE WHEN subject OPERATOR(pg_catalog.~) '^-?[0-9]{1,18}$' THEN subject::bigint END) STORED,
    PRIMARY KEY (subject, purpose, subject_kind)
);
-- what a purpose view reads, all in the index: an index-only scan
CREATE INDEX consent_subject_key ON privacy.consent (subject_key, purpose, subject_kind) INCLUDE (by_guardian, minor_setting);
COMMENT ON TABLE privacy.consent IS
    'the consents in force (the latest grant of each subject and purpose, not withdrawn since and not voided by a material policy change), with the subject''s explicit minor setting, kept by grant_consent, withdraw_consent, publish_policy and set_minor; purpose views read it';
-- As the ledger.
REVOKE ALL ON privacy.consent FROM PUBLIC;

CREATE TABLE privacy.subject_minor (
    subject_kind text       NOT NULL DEFAULT 'person',
    subject     text        NOT NULL,
    minor       boolean     NOT NULL,
    set_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- as privacy.consent.subject_key: purpose views over integer subject
    -- columns find the setting by an integer
    subject_key bigint      GENERATED ALWAYS AS
                (CASE WHEN subject OPERATOR(pg_catalog.~) '^-?[0-9]{1,18}$' THEN subject::bigint END) STORED,
    PRIMARY KEY (subject, subject_kind)
);
CREATE INDEX subject_minor_subject_key ON privacy.subject_minor (subject_key, subject_kind) INCLUDE (minor);
COMMENT ON TABLE privacy.subject_minor IS
    'explicit settings of whether a subject is a minor, over what a birth date column says';
-- As the ledger.
REVOKE ALL ON privacy.subject_minor FROM PUBLIC;

-- pg_dump keeps what these hold (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.purpose_definition', 'WHERE NOT seeded');
SELECT pg_catalog.pg_extension_config_dump('privacy.policy_version', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent_event', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent_event_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.subject_minor', '');

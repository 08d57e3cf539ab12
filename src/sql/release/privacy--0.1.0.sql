/* privacy--0.1.0.sql: install script of the privacy extension, version 0.1.0, built from src/sql by make (edit those files, not this one) */

\echo Use "CREATE EXTENSION privacy" to load this file. \quit

-- src/sql/code/install.sql: the install-time guards (an empty schema owned by a superuser, the preloaded library), USAGE on the schema, privacy.restoring()

-- Refuse a schema somebody prepared for us: CREATE EXTENSION adopts an
-- existing schema named in the control file, so it must be empty, owned by
-- a superuser, and writable by nobody else (a schema's owner may drop what
-- is in it; CREATE on it would let objects be planted beside ours).
DO $guard$
DECLARE
    owner_name name;
    writers text;
BEGIN
    SELECT r.rolname, (SELECT pg_catalog.string_agg(DISTINCT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                                                   ELSE a.grantee::pg_catalog.regrole::text END, ', ')
                         FROM pg_catalog.aclexplode(n.nspacl) a
                        WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE' AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner)
      INTO owner_name, writers
      FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'privacy';
    IF owner_name IS NOT NULL AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) owner_name) THEN
        RAISE EXCEPTION 'schema "privacy" already exists and is owned by role "%", who is not a superuser', owner_name
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The owner of a schema may drop the objects in it.',
                  HINT = 'Drop or rename the existing schema "privacy" first.';
    ELSIF writers IS NOT NULL THEN
        RAISE EXCEPTION 'schema "privacy" already exists and % may create objects in it', writers
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Drop or rename the existing schema "privacy" first.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class
                WHERE relnamespace OPERATOR(pg_catalog.=) 'privacy'::pg_catalog.regnamespace)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_proc
                   WHERE pronamespace OPERATOR(pg_catalog.=) 'privacy'::pg_catalog.regnamespace)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_type
                   WHERE typnamespace OPERATOR(pg_catalog.=) 'privacy'::pg_catalog.regnamespace) THEN
        RAISE EXCEPTION 'schema "privacy" already contains objects'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The extension creates its objects in its own, empty schema.',
                  HINT = 'Drop or rename the existing schema "privacy" first.';
    END IF;
END
$guard$;

-- Fail early, with the fix in the hint, when the library is not preloaded.
CREATE FUNCTION privacy.check_preload() RETURNS void
    AS 'MODULE_PATHNAME', 'privacy_check_preload'
    LANGUAGE C STRICT;
SELECT privacy.check_preload();
DROP FUNCTION privacy.check_preload();

-- end of the install-time guards: src/sql/update.py carries what follows into
-- update scripts, and nothing above

GRANT USAGE ON SCHEMA privacy TO PUBLIC;

-- Restore mode: a superuser running a pg_dump script (check_function_bodies
-- is off there) restores configuration rows that were audited when they were
-- first written; they are not audited twice.  The superuser is the role that
-- called (SET ROLE's, else the session's), never CURRENT_USER, which inside
-- the extension's SECURITY DEFINER functions is its owner: an ordinary role
-- that turns check_function_bodies off is not restoring.

CREATE FUNCTION privacy.restoring() RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_restoring'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION privacy.restoring() IS
    'true while a superuser (the calling role, not a SECURITY DEFINER function''s owner, and not inside a security-restricted operation such as a table owner''s code run by the extension) restores a dump (check_function_bodies = off): configuration rows are then not audited again';

-- src/sql/state/audit.sql: the audit log and the head of its hash chain

CREATE TABLE privacy.audit_log (
    seq         bigint      PRIMARY KEY CHECK (seq OPERATOR(pg_catalog.>) 0),
    at          timestamptz NOT NULL,
    actor       name        NOT NULL,
    kind        text        NOT NULL,
    object      text        NOT NULL,
    detail      jsonb       NOT NULL,
    prev_hash   bytea       NOT NULL,
    hash        bytea       NOT NULL
);
COMMENT ON TABLE privacy.audit_log IS
    'append-only audit log; each entry''s hash is SHA-256 over the previous hash and the entry''s canonical form; check it with privacy.verify_audit_log()';

-- The head of the chain: one row, the last sequence number and hash.  Writers
-- lock it to append, so concurrent writers are serialized in one order.  It is
-- created by the first append (not here) so that a restored dump brings its own.
CREATE TABLE privacy.audit_head (
    id          boolean     PRIMARY KEY DEFAULT true CHECK (id),
    seq         bigint      NOT NULL,
    hash        bytea       NOT NULL,
    prev        bytea       -- the hash before the last append
);
COMMENT ON TABLE privacy.audit_head IS
    'the last sequence number and hash of privacy.audit_log; locked by each append';

-- pg_dump keeps what these hold (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.audit_head', '');

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

-- src/sql/state/taxonomy.sql: the category taxonomy with its seeded categories, default masks and anonymization methods; the trusted schemas

CREATE TABLE privacy.category (
    name        text        PRIMARY KEY
                            CHECK (name OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
    parent      text        REFERENCES privacy.category (name),
    description text        NOT NULL,
    sensitive   boolean     NOT NULL DEFAULT false,
    retention   interval    CHECK (retention OPERATOR(pg_catalog.>) interval '0'),
    on_cancel   text        NOT NULL DEFAULT 'delete'
                            CHECK (on_cancel OPERATOR(pg_catalog.=) ANY (ARRAY['delete', 'anonymize', 'keep until retention'])),
    mask        text,
    anonymize   text        CHECK (anonymize OPERATOR(pg_catalog.~) '^(null|placeholder|pseudonym|ff1|generalize [1-9]|keep)$'),
    seeded      boolean     NOT NULL DEFAULT false,
    exported    boolean     NOT NULL DEFAULT true,
    export_reason text,
    CONSTRAINT category_parent_is_prefix
        CHECK (parent IS NOT DISTINCT FROM pg_catalog.substring(name, '^(.*)\.[^.]+$')),
    CONSTRAINT category_left_out_says_why
        CHECK (exported OPERATOR(pg_catalog.=) (export_reason IS NULL))
);
COMMENT ON TABLE privacy.category IS
    'taxonomy of personal information: parent, description, sensitive (PIPL Art. 28), default retention, default action on cancellation, default mask';
COMMENT ON COLUMN privacy.category.sensitive IS 'sensitive personal information under PIPL Art. 28 / GB/T 35273';
COMMENT ON COLUMN privacy.category.retention IS 'default retention period; NULL: as long as the purpose needs';
COMMENT ON COLUMN privacy.category.on_cancel IS 'default action on account cancellation: delete, anonymize, or keep until retention';
COMMENT ON COLUMN privacy.category.mask IS 'default display mask function, schema-qualified';
COMMENT ON COLUMN privacy.category.anonymize IS 'default ANONYMIZE WITH method of anonymize_table (null, placeholder, pseudonym, ff1, generalize <level>); NULL: chosen by the column''s constraints';
COMMENT ON COLUMN privacy.category.exported IS 'whether export_subject hands out values of the category (false: left out, the export saying so and why)';
COMMENT ON COLUMN privacy.category.export_reason IS 'why export_subject leaves the category out, shown in the export; NULL exactly when exported';
COMMENT ON COLUMN privacy.category.seeded IS 'shipped with the extension (read-only); false for categories an administrator added';
GRANT SELECT ON privacy.category TO PUBLIC;

INSERT INTO privacy.category (name, parent, description, sensitive, retention, on_cancel, seeded)
SELECT v.name, pg_catalog.substring(v.name, '^(.*)\.[^.]+$'), v.description, v.sensitive,
       v.retention::interval, v.on_cancel, v.seeded
  FROM (VALUES
 ('identity',                     'Who the person is', false, NULL, 'delete', true),
 ('identity.name',                'Real name', false, NULL, 'delete', true),
 ('identity.nickname',            'Nickname or display name', false, NULL, 'delete', true),
 ('identity.gender',              'Gender', false, NULL, 'delete', true),
 ('identity.birth_date',          'Date of birth', false, NULL, 'delete', true),
 ('identity.age',                 'Age or age range', false, NULL, 'delete', true),
 ('identity.nationality',         'Nationality or region', false, NULL, 'delete', true),
 ('identity.ethnicity',           'Ethnic origin', true, NULL, 'delete', true),
 ('identity.religion',            'Religious belief', true, NULL, 'delete', true),
 ('identity.political',           'Political opinion or affiliation', true, NULL, 'delete', true),
 ('identity.marital_status',      'Marital status', false, NULL, 'delete', true),
 ('identity.education',           'Education', false, NULL, 'delete', true),
 ('identity.id_number',           'Resident identity card number or other national identifier', true, NULL, 'delete', true),
 ('identity.id_document',         'Passport, driving licence, residence permit or other identity document and its number', true, NULL, 'delete', true),
 ('identity.id_photo',            'Photograph or scan of an identity document', true, NULL, 'delete', true),
 ('identity.verification',        'Outcome and record of real-name or real-person verification', true, NULL, 'delete', true),
 ('identity.criminal_record',     'Criminal record', true, NULL, 'delete', true),
 ('biometric',                    'Biometric information', true, NULL, 'delete', true),
 ('biometric.face',               'Facial image or facial recognition features', true, NULL, 'delete', true),
 ('biometric.fingerprint',        'Fingerprint', true, NULL, 'delete', true),
 ('biometric.voiceprint',         'Voiceprint', true, NULL, 'delete', true),
 ('biometric.iris',               'Iris', true, NULL, 'delete', true),
 ('biometric.palmprint',          'Palmprint', true, NULL, 'delete', true),
 ('biometric.gait',               'Gait', true, NULL, 'delete', true),
 ('contact',                      'How to reach the person', false, NULL, 'delete', true),
 ('contact.phone',                'Mobile or landline telephone number', false, NULL, 'delete', true),
 ('contact.email',                'E-mail address', false, NULL, 'delete', true),
 ('contact.address',              'Postal, delivery or home address', false, NULL, 'delete', true),
 ('contact.im_account',           'Instant-messaging or social account identifier', false, NULL, 'delete', true),
 ('contact.emergency',            'Emergency contact', false, NULL, 'delete', true),
 ('contact.address_book',         'Address book or contact list uploaded from a device', false, NULL, 'delete', true),
 ('account',                      'The account held with the service', false, NULL, 'delete', true),
 ('account.id',                   'Account identifier or user ID', false, NULL, 'delete', true),
 ('account.username',             'User name or login name', false, NULL, 'delete', true),
 ('account.avatar',               'Profile picture', false, NULL, 'delete', true),
 ('account.profile',              'Profile text, signature, preferences and settings', false, NULL, 'delete', true),
 ('account.membership',           'Membership, subscription and service level', false, NULL, 'delete', true),
 ('credential',                   'Secrets that authenticate the person', true, NULL, 'delete', true),
 ('credential.password',          'Password or password hash', true, NULL, 'delete', true),
 ('credential.security_answer',   'Password protection question and answer', true, NULL, 'delete', true),
 ('credential.token',             'Session token, cookie or API key', true, '30 days', 'delete', true),
 ('credential.verification_code', 'One-time SMS or e-mail verification code', true, '1 day', 'delete', true),
 ('credential.certificate',       'Digital certificate or private key', true, NULL, 'delete', true),
 ('device',                       'The device used to reach the service', false, NULL, 'delete', true),
 ('device.id',                    'Device identifier: IMEI, IMSI, Android ID, IDFA, IDFV, OAID, serial number', false, NULL, 'delete', true),
 ('device.ip',                    'IP address', false, NULL, 'delete', true),
 ('device.mac',                   'MAC address', false, NULL, 'delete', true),
 ('device.model',                 'Device model, brand, operating system and version', false, NULL, 'delete', true),
 ('device.network',               'Network type, operator, Wi-Fi name (SSID) and BSSID', false, NULL, 'delete', true),
 ('device.app_list',              'Installed or running applications', false, NULL, 'delete', true),
 ('device.sensor',                'Sensor data: light, proximity, motion', false, NULL, 'delete', true),
 ('device.push_token',            'Push notification token', false, NULL, 'delete', true),
 ('location',                     'Where the person is or has been', false, NULL, 'delete', true),
 ('location.precise',             'Precise location (GPS coordinates)', true, NULL, 'delete', true),
 ('location.coarse',              'Approximate location: city, region, cell tower', false, NULL, 'delete', true),
 ('location.track',               'Whereabouts and movement history', true, NULL, 'delete', true),
 ('location.accommodation',       'Accommodation and travel records', true, NULL, 'delete', true),
 ('log',                          'Records of the person''s use of the service', false, NULL, 'delete', true),
 ('log.login',                    'Login and authentication records', false, '6 months', 'keep until retention', true),
 ('log.access',                   'Access, browsing and click records, page views', false, NULL, 'delete', true),
 ('log.operation',                'Operation records in the service', false, NULL, 'delete', true),
 ('log.search',                   'Search history', false, NULL, 'delete', true),
 ('log.crash',                    'Crash and fault diagnostics', false, NULL, 'delete', true),
 ('log.communication',            'Call, SMS and message metadata records', true, NULL, 'delete', true),
 ('log.security',                 'Network security incident logs the law requires to keep (at least six months)', false, '6 months', 'keep until retention', true),
 ('financial',                    'Property and financial information', true, NULL, 'delete', true),
 ('financial.bank_account',       'Bank account or bank card number', true, NULL, 'delete', true),
 ('financial.payment_account',    'Third-party payment account', true, NULL, 'delete', true),
 ('financial.transaction',        'Payment and transaction records', true, '3 years', 'anonymize', true),
 ('financial.credit',             'Credit information and credit score', true, NULL, 'delete', true),
 ('financial.income',             'Income, assets and property', true, NULL, 'delete', true),
 ('commerce',                     'Purchases from the service', false, NULL, 'delete', true),
 ('commerce.order',               'Orders and purchase history', false, '3 years', 'anonymize', true),
 ('commerce.shipping',            'Shipping and delivery records', false, '3 years', 'anonymize', true),
 ('commerce.invoice',             'Invoice title, tax number and invoice records', false, '3 years', 'anonymize', true),
 ('content',                      'Content the person creates, sends or stores', false, NULL, 'delete', true),
 ('content.message',              'Chat and private messages', true, NULL, 'delete', true),
 ('content.file',                 'Uploaded or stored files and documents', false, NULL, 'delete', true),
 ('content.photo',                'Photos and images', false, NULL, 'delete', true),
 ('content.audio',                'Voice messages and audio', false, NULL, 'delete', true),
 ('content.video',                'Videos', false, NULL, 'delete', true),
 ('content.meeting',              'Meeting recordings, transcripts, minutes and chat', false, NULL, 'delete', true),
 ('content.calendar',             'Calendar entries and schedules', false, NULL, 'delete', true),
 ('content.clipboard',            'Clipboard contents', false, NULL, 'delete', true),
 ('content.feedback',             'Feedback and customer-service conversations', false, NULL, 'delete', true),
 ('health',                       'Health and physiological information', true, NULL, 'delete', true),
 ('health.medical',               'Medical records, diagnoses, test results, prescriptions', true, NULL, 'delete', true),
 ('health.physiological',         'Height, weight, heart rate, fitness and other physiological data', true, NULL, 'delete', true),
 ('minor',                        'Personal information of a minor (under 14: sensitive under PIPL Art. 28)', true, NULL, 'delete', true),
 ('minor.guardian',               'The guardian of a minor and the guardian''s consent', true, NULL, 'delete', true),
 ('work',                         'Corporate and work information', false, NULL, 'delete', true),
 ('work.organization',            'Employer, enterprise or organization', false, NULL, 'delete', true),
 ('work.department',              'Department or team', false, NULL, 'delete', true),
 ('work.job_title',               'Job title or position', false, NULL, 'delete', true),
 ('work.employee_id',             'Employee number', false, NULL, 'delete', true),
 ('work.occupation',              'Occupation', false, NULL, 'delete', true),
 ('social',                       'The person''s relationships', false, NULL, 'delete', true),
 ('social.relationship',          'Friends, followers, groups and family relationships', false, NULL, 'delete', true)
  ) AS v(name, description, sensitive, retention, on_cancel, seeded);

-- default display masks (the functions are created further down)
UPDATE privacy.category c SET mask = m.mask
  FROM (VALUES ('contact.phone', 'privacy.mask_phone'),
               ('contact.email', 'privacy.mask_email'),
               ('identity.name', 'privacy.mask_name'),
               ('identity.id_number', 'privacy.mask_id_number'),
               ('identity.id_document', 'privacy.mask_id_number'),
               ('financial.bank_account', 'privacy.mask_bank_card'),
               ('financial.payment_account', 'privacy.mask_id_number')) AS m(name, mask)
 WHERE c.name OPERATOR(pg_catalog.=) m.name;

-- left out of exports: secrets that authenticate the person, and biometric
-- templates (doc/cancellation.md, "Export")
UPDATE privacy.category c
   SET exported = false,
       export_reason = CASE WHEN c.name OPERATOR(pg_catalog.~) '^credential(\.|$)'
           THEN 'a secret that authenticates the person: a copy of it would let whoever obtains the export sign in as them'
           ELSE 'a biometric template: the person cannot change it, and a copy of it could be presented to pass recognition as them' END
 WHERE c.name OPERATOR(pg_catalog.~) '^(credential|biometric)(\.|$)';

-- default anonymization methods: numbers keep their format, e-mail addresses
-- become distinct pseudonyms, birth dates keep the year, IP addresses the /24
UPDATE privacy.category c SET anonymize = m.method
  FROM (VALUES ('contact.phone', 'ff1'),
               ('contact.email', 'pseudonym'),
               ('identity.id_number', 'ff1'),
               ('identity.birth_date', 'generalize 2'),
               ('financial.bank_account', 'ff1'),
               ('device.ip', 'generalize 1'),
               -- an amount or a transaction, once no longer anybody's, is no personal
               -- data: kept for the accounts the rows are kept for
               ('financial.transaction', 'keep')) AS m(name, method)
 WHERE c.name OPERATOR(pg_catalog.=) m.name;

-- Schemas trusted to hold MASK functions (besides privacy itself)

CREATE TABLE privacy.trusted_schema (
    schema_name name        PRIMARY KEY,
    trusted_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    trusted_by  name        NOT NULL DEFAULT SESSION_USER
);
COMMENT ON TABLE privacy.trusted_schema IS
    'schemas whose functions may be named in MASK WITH, besides schema privacy';
GRANT SELECT ON privacy.trusted_schema TO PUBLIC;

-- pg_dump keeps what these hold (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.category', 'WHERE NOT seeded');
SELECT pg_catalog.pg_extension_config_dump('privacy.trusted_schema', '');

-- src/sql/code/taxonomy.sql: administering the taxonomy and the trusted schemas: its guard and audit triggers, add/drop_category, trust/untrust_schema

CREATE FUNCTION privacy.category_in_use(category_name text) RETURNS bigint
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT pg_catalog.count(*)
          FROM privacy.labels l
         WHERE l.category = category_name
            OR pg_catalog.starts_with(l.category, category_name || '.')
    $$;
COMMENT ON FUNCTION privacy.category_in_use(text) IS
    'how many column labels name the category or one of its sub-categories';
GRANT EXECUTE ON FUNCTION privacy.category_in_use(text) TO PUBLIC;

CREATE FUNCTION privacy.category_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.seeded THEN
            RAISE EXCEPTION 'cannot remove category "%": it ships with the extension', OLD.name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Only categories added with privacy.add_category() can be removed.';
        END IF;
        n := privacy.category_in_use(OLD.name);
        IF n > 0 THEN
            RAISE EXCEPTION 'cannot remove category "%": % column label(s) use it', OLD.name, n
                USING ERRCODE = 'dependent_objects_still_exist',
                      HINT = 'See privacy.inventory for the columns; relabel them first.';
        END IF;
        IF EXISTS (SELECT 1 FROM privacy.category c WHERE c.parent = OLD.name) THEN
            RAISE EXCEPTION 'cannot remove category "%": it has sub-categories', OLD.name
                USING ERRCODE = 'dependent_objects_still_exist',
                      HINT = 'Remove its sub-categories first.';
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.seeded THEN
            RAISE EXCEPTION 'cannot change category "%": it ships with the extension', OLD.name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Add a sub-category with privacy.add_category() to record different defaults.';
        END IF;
        IF NEW.seeded THEN
            RAISE EXCEPTION 'cannot mark category "%" as shipped with the extension', OLD.name
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        IF NEW.name <> OLD.name THEN
            RAISE EXCEPTION 'cannot rename category "%"', OLD.name
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Labels refer to categories by name: add a new category and relabel.';
        END IF;
    END IF;
    -- INSERT or UPDATE: the children of a sensitive category are sensitive
    IF NOT NEW.sensitive AND EXISTS (SELECT 1 FROM privacy.category p
                                      WHERE p.name = NEW.parent AND p.sensitive) THEN
        RAISE EXCEPTION 'category "%" must be sensitive, as its parent "%" is', NEW.name, NEW.parent
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION privacy.category_guard() IS
    'trigger: seeded categories are read-only; a category in use or with sub-categories cannot be removed; names do not change; children of sensitive categories are sensitive';

CREATE TRIGGER category_guard BEFORE INSERT OR UPDATE OR DELETE ON privacy.category
    FOR EACH ROW EXECUTE FUNCTION privacy.category_guard();

CREATE FUNCTION privacy.invalidate_cancel_plans(rel pg_catalog.regclass) RETURNS void
    AS 'MODULE_PATHNAME', 'privacy_invalidate_cancel_plans'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION privacy.invalidate_cancel_plans(pg_catalog.regclass) IS
    'internal: make every backend compile its cancellation plan again, at commit (a category''s action on cancellation changed)';
REVOKE ALL ON FUNCTION privacy.invalidate_cancel_plans(pg_catalog.regclass) FROM PUBLIC;

CREATE FUNCTION privacy.category_audit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- only the taxonomy's own trigger: attached to another table it would
    -- write audit entries of that table's rows
    IF TG_RELID <> 'privacy.category'::pg_catalog.regclass OR TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' THEN
        RAISE EXCEPTION 'privacy.category_audit() is the trigger of privacy.category only'
            USING ERRCODE = 'trigger_protocol_violated';
    END IF;
    PERFORM privacy.invalidate_cancel_plans(TG_RELID);
    IF NOT privacy.restoring() THEN
        PERFORM privacy.audit_append('category',
                    pg_catalog.format('category %s', COALESCE(NEW.name, OLD.name)),
                    pg_catalog.jsonb_build_object('operation', pg_catalog.lower(TG_OP),
                        'old', CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
                        'new', CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) END));
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION privacy.category_audit() IS 'trigger: records every change of the taxonomy in the audit log';
-- The trigger of privacy.category only (a trigger's function is not checked
-- for EXECUTE when it fires): nobody may attach it to another table.
REVOKE ALL ON FUNCTION privacy.category_audit() FROM PUBLIC;

CREATE TRIGGER category_audit AFTER INSERT OR UPDATE OR DELETE ON privacy.category
    FOR EACH ROW EXECUTE FUNCTION privacy.category_audit();

CREATE FUNCTION privacy.check_mask(mask text, typ pg_catalog.regtype) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_check_mask'
    LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION privacy.check_mask(text, pg_catalog.regtype) IS
    'a mask function''s name checked as a label''s MASK WITH is (one function, in schema privacy or a trusted schema, taking and returning the type), quoted and qualified; an error otherwise';
GRANT EXECUTE ON FUNCTION privacy.check_mask(text, pg_catalog.regtype) TO PUBLIC;

CREATE FUNCTION privacy.add_category(name text, description text,
                                     sensitive boolean DEFAULT NULL,
                                     retention interval DEFAULT NULL,
                                     on_cancel text DEFAULT NULL,
                                     mask text DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_parent text := pg_catalog.substring(name, '^(.*)\.[^.]+$');
    p        privacy.category;
BEGIN
    IF name IS NULL OR description IS NULL THEN
        RAISE EXCEPTION 'a category needs a name and a description'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF name !~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' THEN
        RAISE EXCEPTION 'invalid category name "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Category names are lower-case words of letters, digits and underscores joined by dots, such as contact.phone.';
    END IF;
    IF EXISTS (SELECT 1 FROM privacy.category c WHERE c.name = add_category.name) THEN
        RAISE EXCEPTION 'category "%" already exists', name
            USING ERRCODE = 'duplicate_object';
    END IF;
    IF v_parent IS NOT NULL THEN
        SELECT * INTO p FROM privacy.category c WHERE c.name = v_parent;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'parent category "%" does not exist', v_parent
                USING ERRCODE = 'undefined_object',
                      HINT = 'Add the parent category first.';
        END IF;
        IF p.sensitive AND sensitive IS NOT NULL AND NOT sensitive THEN
            RAISE EXCEPTION 'category "%" must be sensitive, as its parent "%" is', name, v_parent
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    IF on_cancel IS NOT NULL
       AND NOT on_cancel = ANY (ARRAY['delete', 'anonymize', 'keep until retention']) THEN
        RAISE EXCEPTION 'invalid on_cancel action "%"', on_cancel
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use delete, anonymize or keep until retention.';
    END IF;
    IF retention IS NOT NULL AND retention <= interval '0' THEN
        RAISE EXCEPTION 'retention must be longer than zero'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- a mask is pasted into purpose views: a function's name, checked as a label's is
    IF mask IS NOT NULL THEN
        mask := privacy.check_mask(mask, 'pg_catalog.text');
    END IF;
    IF on_cancel = 'keep until retention'
       AND COALESCE(retention, p.retention) IS NULL THEN
        RAISE EXCEPTION 'on_cancel "keep until retention" needs a retention period'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO privacy.category (name, parent, description, sensitive, retention, on_cancel, mask, seeded,
                                  exported, export_reason)
    VALUES (name, v_parent, description,
            COALESCE(sensitive, p.sensitive, false),
            COALESCE(retention, p.retention),
            COALESCE(on_cancel, p.on_cancel, 'delete'),
            COALESCE(mask, p.mask),
            false,
            COALESCE(p.exported, true),
            p.export_reason);
    RETURN name;
END
$$;
COMMENT ON FUNCTION privacy.add_category(text, text, boolean, interval, text, text) IS
    'add a category under an existing parent; unset properties are inherited from the parent, and whether exports leave it out (exported, export_reason) always is';
-- Changing the taxonomy is an administrator's job.
REVOKE ALL ON FUNCTION privacy.add_category(text, text, boolean, interval, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.drop_category(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    DELETE FROM privacy.category c WHERE c.name = drop_category.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'category "%" does not exist', name
            USING ERRCODE = 'undefined_object';
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.drop_category(text) IS
    'remove a category an administrator added; refused while a label uses it or it has sub-categories';
-- Changing the taxonomy is an administrator's job.
REVOKE ALL ON FUNCTION privacy.drop_category(text) FROM PUBLIC;

CREATE FUNCTION privacy.trust_schema(schema_name name) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF schema_name IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
                                           WHERE n.nspname = schema_name) THEN
        RAISE EXCEPTION 'schema "%" does not exist', schema_name
            USING ERRCODE = 'invalid_schema_name';
    END IF;
    IF EXISTS (SELECT 1 FROM privacy.trusted_schema t WHERE t.schema_name = trust_schema.schema_name) THEN
        RAISE EXCEPTION 'schema "%" is already trusted', schema_name
            USING ERRCODE = 'duplicate_object';
    END IF;
    INSERT INTO privacy.trusted_schema (schema_name) VALUES (schema_name);
    PERFORM privacy.audit_append('trust', pg_catalog.format('schema %s', pg_catalog.quote_ident(schema_name)),
                                 '{"trusted": true}');
END
$$;
COMMENT ON FUNCTION privacy.trust_schema(name) IS
    'allow MASK WITH to name functions of this schema; whoever can create functions there decides what masks do';
-- Trusting a schema lets its functions see personal data: superusers only.
REVOKE ALL ON FUNCTION privacy.trust_schema(name) FROM PUBLIC;

CREATE FUNCTION privacy.untrust_schema(schema_name name) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    SELECT pg_catalog.count(*) INTO n FROM privacy.labels l
     WHERE pg_catalog.starts_with(l.mask, pg_catalog.quote_ident(schema_name) || '.');
    IF n > 0 THEN
        RAISE EXCEPTION 'cannot stop trusting schema "%": % label(s) mask with its functions', schema_name, n
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'See privacy.labels for the labels; relabel them first.';
    END IF;
    DELETE FROM privacy.trusted_schema t WHERE t.schema_name = untrust_schema.schema_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schema "%" is not trusted', schema_name
            USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM privacy.audit_append('trust', pg_catalog.format('schema %s', pg_catalog.quote_ident(schema_name)),
                                 '{"trusted": false}');
END
$$;
COMMENT ON FUNCTION privacy.untrust_schema(name) IS
    'stop trusting a schema for MASK WITH; refused while a label masks with one of its functions';
-- Superusers only, like trust_schema.
REVOKE ALL ON FUNCTION privacy.untrust_schema(name) FROM PUBLIC;

-- src/sql/code/labels.sql: decoding labels: privacy.parse_label, the labels view, table_label, column_label

CREATE FUNCTION privacy.parse_label(label text, is_table boolean,
                                    OUT subject boolean, OUT category text, OUT mask text,
                                    OUT retain interval, OUT retain_after text,
                                    OUT retain_then text, OUT on_cancel text, OUT anonymize text,
                                    OUT subject_kind text, OUT link text)
    AS 'MODULE_PATHNAME', 'privacy_parse_label'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.parse_label(text, boolean) IS
    'decode the text of a privacy label (a table label when is_table) into its clauses; raises the SECURITY LABEL error for a malformed one';

CREATE VIEW privacy.labels AS
    SELECT s.objoid::pg_catalog.regclass AS relation,
           a.attname                     AS column_name,
           s.label,
           p.subject, p.category, p.mask, p.retain, p.retain_after, p.retain_then, p.on_cancel, p.anonymize,
           p.subject_kind, p.link
      FROM pg_catalog.pg_seclabel s
      -- only tables: a labelled table made a view since (a _RETURN rule) keeps
      -- its labels in pg_seclabel, and they mean nothing there
      JOIN pg_catalog.pg_class c
        ON c.oid OPERATOR(pg_catalog.=) s.objoid
       AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])
      LEFT JOIN pg_catalog.pg_attribute a
             ON a.attrelid OPERATOR(pg_catalog.=) s.objoid
            AND a.attnum OPERATOR(pg_catalog.=) s.objsubid
            AND s.objsubid OPERATOR(pg_catalog.>) 0
     CROSS JOIN LATERAL privacy.parse_label(s.label, s.objsubid OPERATOR(pg_catalog.=) 0) p
     WHERE s.provider OPERATOR(pg_catalog.=) 'privacy'
       AND s.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass;
COMMENT ON VIEW privacy.labels IS
    'every privacy label on a table or partitioned table of this database, decoded: one row per labelled table (column_name NULL) or column; subject_kind for SUBJECT columns, link (owner, reference) for foreign key columns so labelled';
GRANT SELECT ON privacy.labels TO PUBLIC;

-- the effective labels of a relation: a partition carries its root's labels
CREATE FUNCTION privacy.table_label(rel pg_catalog.regclass) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT s.label
          FROM pg_catalog.pg_seclabel s
         WHERE s.provider = 'privacy'
           AND s.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND s.objoid = COALESCE(pg_catalog.pg_partition_root(rel), rel)
           AND s.objsubid = 0
    $$;
COMMENT ON FUNCTION privacy.table_label(pg_catalog.regclass) IS
    'the privacy label in force for a table; for a partition, the label of its partitioned root';
GRANT EXECUTE ON FUNCTION privacy.table_label(pg_catalog.regclass) TO PUBLIC;

CREATE FUNCTION privacy.column_label(rel pg_catalog.regclass, column_name name) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT s.label
          FROM pg_catalog.pg_attribute a
          JOIN pg_catalog.pg_seclabel s
            ON s.objoid = a.attrelid
           AND s.objsubid = a.attnum
         WHERE s.provider = 'privacy'
           AND s.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND a.attrelid = COALESCE(pg_catalog.pg_partition_root(rel), rel)
           AND a.attname = column_name
           AND NOT a.attisdropped
    $$;
COMMENT ON FUNCTION privacy.column_label(pg_catalog.regclass, name) IS
    'the privacy label in force for a column; for a partition, the label of the same column of its partitioned root';
GRANT EXECUTE ON FUNCTION privacy.column_label(pg_catalog.regclass, name) TO PUBLIC;

-- src/sql/code/subjects.sql: the subject model: subject kinds and their canonical form, which foreign keys say whose row a row is (owning) and which only refer to a subject, the tables each kind owns, subject paths

CREATE FUNCTION privacy.subject_canonical(subject text, kind text DEFAULT 'person') RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_subject_canonical_sql'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.subject_canonical(text, text) IS
    'the canonical form of a subject of a kind, which every function uses for it: by the type family of the kind''s SUBJECT columns (an integer as its number, a uuid in standard form, text as it is, char(n) without trailing blanks); an error that names the kind, never the value, when the subject is no value of it';
GRANT EXECUTE ON FUNCTION privacy.subject_canonical(text, text) TO PUBLIC;

CREATE FUNCTION privacy.subject_family(typ pg_catalog.regtype) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_subject_family_sql'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.subject_family(pg_catalog.regtype) IS
    'the type family of a SUBJECT column''s type (integer, text, bpchar, uuid, numeric, other); every SUBJECT column of one kind is of one family';
GRANT EXECUTE ON FUNCTION privacy.subject_family(pg_catalog.regtype) TO PUBLIC;

CREATE FUNCTION privacy.family_canonical(value text, typ pg_catalog.regtype) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_family_canonical_sql'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.family_canonical(text, pg_catalog.regtype) IS
    'internal: the canonical form of a value of a column of the type, as a subject (NULL when it is no value of the type''s family)';
GRANT EXECUTE ON FUNCTION privacy.family_canonical(text, pg_catalog.regtype) TO PUBLIC;

CREATE VIEW privacy.subject_kinds AS
    SELECT l.subject_kind AS kind,
           pg_catalog.min(privacy.subject_family(a.atttypid)) AS family,
           pg_catalog.count(*) AS subject_columns,
           pg_catalog.array_agg(pg_catalog.format('%s.%I', l.relation, l.column_name) ORDER BY l.relation::text, l.column_name) AS columns
      FROM privacy.labels l
      JOIN pg_catalog.pg_attribute a
        ON a.attrelid OPERATOR(pg_catalog.=) l.relation AND a.attname OPERATOR(pg_catalog.=) l.column_name
     WHERE l.subject
     GROUP BY l.subject_kind;
COMMENT ON VIEW privacy.subject_kinds IS
    'the subject kinds in use: each with the type family of its SUBJECT columns and the columns';
GRANT SELECT ON privacy.subject_kinds TO PUBLIC;

CREATE FUNCTION privacy.fk_text(constraint_oid oid) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT pg_catalog.format('%s(%s) -> %s(%s)',
                   c.conrelid::pg_catalog.regclass,
                   (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.i)
                      FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(attnum, i)
                      JOIN pg_catalog.pg_attribute a
                        ON a.attrelid = c.conrelid
                       AND a.attnum = k.attnum),
                   c.confrelid::pg_catalog.regclass,
                   (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.i)
                      FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY k(attnum, i)
                      JOIN pg_catalog.pg_attribute a
                        ON a.attrelid = c.confrelid
                       AND a.attnum = k.attnum))
          FROM pg_catalog.pg_constraint c
         WHERE c.oid = constraint_oid
    $$;
COMMENT ON FUNCTION privacy.fk_text(oid) IS
    'a foreign key as text: child(columns) -> parent(columns)';
GRANT EXECUTE ON FUNCTION privacy.fk_text(oid) TO PUBLIC;

-- Every foreign key between two tables, and whether it says whose row the
-- child row is (owning) or only refers to a subject.  Labels decide first
-- (OWNER or REFERENCE on one of the key's columns); else a key is owning when
-- it cannot be NULL, or when it is one to one (the child's key columns are a
-- unique key of the child); a nullable key is owning only when its table has
-- no other way to belong to a subject (no SUBJECT column, no owning chain of
-- the first two kinds), and otherwise only refers.
CREATE FUNCTION privacy.subject_links()
    RETURNS TABLE (con oid, child oid, parent oid, owning boolean, reason text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH RECURSIVE
    fks AS (
        SELECT c.oid, c.conrelid, c.confrelid, c.conkey
          FROM pg_catalog.pg_constraint c
          JOIN pg_catalog.pg_class k ON k.oid = c.conrelid AND k.relkind = ANY (ARRAY['r', 'p']::"char"[])
          JOIN pg_catalog.pg_class p ON p.oid = c.confrelid AND p.relkind = ANY (ARRAY['r', 'p']::"char"[])
         WHERE c.contype = 'f' AND c.conparentid = 0 AND NOT k.relispartition AND NOT p.relispartition
           -- the extension's own tables and the catalogs are nobody's
           AND k.relnamespace <> 'privacy'::pg_catalog.regnamespace AND k.relnamespace <> 'pg_catalog'::pg_catalog.regnamespace
    ),
    facts AS (
        SELECT f.*,
               (SELECT pg_catalog.min(l.link) FROM privacy.labels l
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = f.conrelid AND a.attname = l.column_name
                 WHERE l.relation = f.conrelid::pg_catalog.regclass AND l.link IS NOT NULL
                   AND a.attnum = ANY (f.conkey)) AS link,
               NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                            WHERE a.attrelid = f.conrelid AND a.attnum = ANY (f.conkey) AND NOT a.attnotnull) AS not_null,
               EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                        WHERE i.indrelid = f.conrelid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
                          AND i.indnkeyatts = pg_catalog.cardinality(f.conkey)
                          AND (i.indkey::smallint[])[0:i.indnkeyatts - 1] @> f.conkey
                          AND f.conkey @> (i.indkey::smallint[])[0:i.indnkeyatts - 1]) AS one_to_one
          FROM fks f
    ),
    strong AS (
        SELECT f.* FROM facts f
         WHERE f.link IS DISTINCT FROM 'reference' AND (f.link = 'owner' OR f.not_null OR f.one_to_one)
    ),
    roots AS (
        SELECT DISTINCT l.relation::oid AS relid FROM privacy.labels l WHERE l.subject
    ),
    -- the tables that belong to a subject through SUBJECT columns and strong keys
    owned1 (relid) AS (
        SELECT r.relid FROM roots r
        UNION
        SELECT s.conrelid FROM strong s JOIN owned1 o ON o.relid = s.confrelid
    )
    SELECT f.oid, f.conrelid, f.confrelid,
           CASE WHEN f.link = 'reference' THEN false
                WHEN f.link = 'owner' OR f.not_null OR f.one_to_one THEN true
                ELSE NOT EXISTS (SELECT 1 FROM owned1 o WHERE o.relid = f.conrelid) END,
           CASE WHEN f.link = 'reference' THEN 'labelled REFERENCE'
                WHEN f.link = 'owner' THEN 'labelled OWNER'
                WHEN f.not_null THEN 'not null'
                WHEN f.one_to_one THEN 'one to one'
                WHEN NOT EXISTS (SELECT 1 FROM owned1 o WHERE o.relid = f.conrelid)
                     THEN 'nullable, the table''s only link to a subject'
                ELSE 'nullable, and the table belongs to a subject otherwise' END
      FROM facts f
    $$;
COMMENT ON FUNCTION privacy.subject_links() IS
    'every foreign key between two tables (partitions aside), whether it is owning (says whose row the child row is) or only refers to a subject, and why: a label (OWNER, REFERENCE), NOT NULL, one to one, or a nullable key that is or is not its table''s only link to a subject';
GRANT EXECUTE ON FUNCTION privacy.subject_links() TO PUBLIC;

-- For each kind, each table that holds its subjects' rows, with the first
-- chain of owning foreign keys (child first) found from it to a table with
-- SUBJECT columns of that kind: a breadth-first walk from each such table,
-- which visits each table once (polynomial in tables and keys); hops 0 for
-- the SUBJECT table itself.
CREATE FUNCTION privacy.subject_walk()
    RETURNS TABLE (relid oid, root oid, hops integer, path oid[], kind text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    links record;
    r record;
    frontier oid[];
    nxt oid[];
    seen oid[];
    paths jsonb;
    e record;
    depth integer;
BEGIN
    SELECT pg_catalog.array_agg(l.con) AS cons, pg_catalog.array_agg(l.child) AS children,
           pg_catalog.array_agg(l.parent) AS parents
      INTO links FROM privacy.subject_links() l WHERE l.owning;
    FOR r IN SELECT DISTINCT l.relation::oid AS relid, l.subject_kind FROM privacy.labels l
              WHERE l.subject ORDER BY 2, 1 LOOP
        relid := r.relid; root := r.relid; hops := 0; path := '{}'::oid[]; kind := r.subject_kind;
        RETURN NEXT;
        frontier := ARRAY[r.relid];
        seen := ARRAY[r.relid];
        paths := pg_catalog.jsonb_build_object(r.relid::text, '[]'::jsonb);
        depth := 0;
        WHILE pg_catalog.cardinality(frontier) > 0 AND depth < 1000 LOOP
            depth := depth + 1;
            nxt := '{}'::oid[];
            FOR e IN SELECT u.con, u.child, u.parent
                       FROM ROWS FROM (pg_catalog.unnest(links.cons), pg_catalog.unnest(links.children), pg_catalog.unnest(links.parents)) AS u(con, child, parent)
                      WHERE u.parent = ANY (frontier) AND NOT u.child = ANY (seen)
                      ORDER BY u.child, u.con LOOP
                CONTINUE WHEN e.child = ANY (seen);
                seen := seen || e.child;
                nxt := nxt || e.child;
                paths := paths || pg_catalog.jsonb_build_object(e.child::text,
                             pg_catalog.jsonb_build_array(e.con) || (paths->(e.parent::text)));
                relid := e.child; root := r.relid; hops := depth; kind := r.subject_kind;
                path := ARRAY(SELECT x::oid FROM pg_catalog.jsonb_array_elements_text(paths->(e.child::text)) x);
                RETURN NEXT;
            END LOOP;
            frontier := nxt;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.subject_walk() IS
    'for each subject kind, every table that holds its subjects'' rows with the first chain of owning foreign keys (child first) found from it to a table with SUBJECT columns of that kind, by a breadth-first walk from each; hops 0 for that table itself';
GRANT EXECUTE ON FUNCTION privacy.subject_walk() TO PUBLIC;

CREATE VIEW privacy.subject_path AS
    SELECT DISTINCT ON (w.relid, w.kind)
           w.relid::pg_catalog.regclass AS relation,
           w.root::pg_catalog.regclass  AS subject_relation,
           (SELECT pg_catalog.array_agg(l.column_name ORDER BY l.column_name)
              FROM privacy.labels l
             WHERE l.relation OPERATOR(pg_catalog.=) w.root::pg_catalog.regclass AND l.subject
               AND l.subject_kind OPERATOR(pg_catalog.=) w.kind) AS subject_columns,
           w.hops,
           w.path                       AS constraints,
           CASE WHEN w.hops OPERATOR(pg_catalog.=) 0 THEN 'direct'
                ELSE (SELECT pg_catalog.string_agg(privacy.fk_text(p.c), '; ' ORDER BY p.i)
                        FROM pg_catalog.unnest(w.path) WITH ORDINALITY p(c, i))
           END AS path,
           w.kind
      FROM privacy.subject_walk() w
     ORDER BY w.relid, w.kind, w.hops, w.root::pg_catalog.regclass::text, w.path::text;
COMMENT ON VIEW privacy.subject_path IS
    'for each table and subject kind whose subjects own rows of it: the table with the SUBJECT columns of that kind and the shortest chain of owning foreign keys that leads there (direct when the table has its own SUBJECT column of the kind)';
GRANT SELECT ON privacy.subject_path TO PUBLIC;

-- the condition, on alias t, that a row reaches through the foreign keys of
-- path (child first) a row of the subject table that satisfies
-- root_condition, which is written on alias a<n> (n: the path's length; t
-- when the path is empty)
CREATE FUNCTION privacy.path_condition(path oid[], root_condition text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    filter text := root_condition;
    con record;
    joins text;
    alias text;
    prev text;
BEGIN
    FOR i IN REVERSE COALESCE(pg_catalog.cardinality(path), 0)..1 LOOP
        SELECT c.conrelid, c.confrelid, c.conkey, c.confkey INTO con
          FROM pg_catalog.pg_constraint c WHERE c.oid = path[i];
        alias := 'a' || i;
        prev := CASE WHEN i = 1 THEN 't' ELSE 'a' || (i - 1) END;
        SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I OPERATOR(pg_catalog.=) %I.%I', alias, pa.attname, prev, ca.attname), ' AND ')
          INTO joins
          FROM ROWS FROM (pg_catalog.unnest(con.conkey), pg_catalog.unnest(con.confkey)) AS u(ck, pk)
          JOIN pg_catalog.pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = u.ck
          JOIN pg_catalog.pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = u.pk;
        filter := pg_catalog.format('EXISTS (SELECT 1 FROM %s %I WHERE %s AND %s)',
                                    con.confrelid::pg_catalog.regclass, alias, joins, filter);
    END LOOP;
    RETURN filter;
END
$$;
COMMENT ON FUNCTION privacy.path_condition(oid[], text) IS
    'internal: the SQL condition that a row of a table reaches, through a chain of foreign keys, a subject row satisfying a condition';
GRANT EXECUTE ON FUNCTION privacy.path_condition(oid[], text) TO PUBLIC;

-- the base type of a type: a domain's, through every level
CREATE FUNCTION privacy.base_type(typ pg_catalog.regtype) RETURNS pg_catalog.regtype
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        WITH RECURSIVE d(t, depth) AS (
            SELECT typ::oid, 0
            UNION ALL
            SELECT y.typbasetype, d.depth + 1 FROM d JOIN pg_catalog.pg_type y ON y.oid = d.t
             WHERE y.typtype = 'd' AND d.depth < 100)
        SELECT d.t::pg_catalog.regtype FROM d ORDER BY d.depth DESC LIMIT 1
    $$;
COMMENT ON FUNCTION privacy.base_type(pg_catalog.regtype) IS
    'the base type of a type: for a domain, the type it is made from, through every level';
GRANT EXECUTE ON FUNCTION privacy.base_type(pg_catalog.regtype) TO PUBLIC;

-- the type a subject of a SUBJECT column's family is compared as: an integer
-- as a bigint (a column of any integer type compares with it through its
-- index), text, char and uuid as themselves, others as their base type
CREATE FUNCTION privacy.subject_compare_type(typ pg_catalog.regtype) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE privacy.subject_family(typ)
                    WHEN 'integer' THEN 'pg_catalog.int8'
                    WHEN 'text' THEN 'pg_catalog.text'
                    WHEN 'bpchar' THEN 'pg_catalog.bpchar'
                    WHEN 'uuid' THEN 'pg_catalog.uuid'
                    WHEN 'numeric' THEN 'pg_catalog.numeric'
                    ELSE pg_catalog.format_type(privacy.base_type(typ), NULL) END
    $$;
COMMENT ON FUNCTION privacy.subject_compare_type(pg_catalog.regtype) IS
    'internal: the type a SUBJECT column of the type is compared with a canonical subject as (bigint for every integer type, the base type otherwise)';
GRANT EXECUTE ON FUNCTION privacy.subject_compare_type(pg_catalog.regtype) TO PUBLIC;

-- src/sql/code/inventory.sql: the inventory view, the record of processing

CREATE VIEW privacy.inventory AS
    SELECT l.relation            AS table_name,
           l.column_name,
           l.category,
           COALESCE(c.sensitive, false) AS sensitive,
           l.subject             AS subject_key,
           sp.subject_relation,
           sp.subject_columns,
           sp.path               AS subject_path,
           COALESCE(l.retain, t.retain)             AS retention,
           COALESCE(l.retain_after, t.retain_after) AS retention_after,
           COALESCE(l.retain_then, t.retain_then)   AS retention_action,
           c.retention           AS category_retention,
           COALESCE(t.on_cancel, c.on_cancel)       AS on_cancel,
           COALESCE(l.mask, c.mask)                 AS mask
      FROM privacy.labels l
      LEFT JOIN privacy.labels t
             ON t.relation OPERATOR(pg_catalog.=) l.relation
            AND t.column_name IS NULL
      LEFT JOIN privacy.category c ON c.name OPERATOR(pg_catalog.=) l.category
      LEFT JOIN privacy.subject_path sp ON sp.relation OPERATOR(pg_catalog.=) l.relation
     WHERE l.column_name IS NOT NULL;
COMMENT ON VIEW privacy.inventory IS
    'record of processing: one row per labelled column with its category, sensitivity, subject path, retention, action on cancellation and mask';
GRANT SELECT ON privacy.inventory TO PUBLIC;

-- src/sql/state/keys.sql: the key tables (every key wrapped under the master key, privacy.master_key_file, never readable) and the shredded subjects

CREATE TABLE privacy.key (
    name            text        PRIMARY KEY,
    algorithm       text        NOT NULL
                                CHECK (algorithm OPERATOR(pg_catalog.=) ANY (ARRAY['any', 'hmac-sha256', 'ff1', 'aes-siv', 'aes-gcm'])),
    current_version integer     NOT NULL CHECK (current_version OPERATOR(pg_catalog.>) 0),
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    rotated_at      timestamptz
);
COMMENT ON TABLE privacy.key IS
    'named keys: algorithm (any: a root key with one derived subkey per use) and current version; material is in privacy.key_version, wrapped';
-- Key tables are the extension owner's alone: nobody else reads them, even wrapped.
REVOKE ALL ON privacy.key FROM PUBLIC;

CREATE TABLE privacy.key_version (
    -- no foreign key to privacy.key: pg_restore -j loads the two in any order;
    -- privacy.drop_key removes both
    name        text        NOT NULL,
    version     integer     NOT NULL CHECK (version OPERATOR(pg_catalog.>) 0),
    wrapped     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (name, version)
);
COMMENT ON TABLE privacy.key_version IS
    'every version of every key, AES-256-GCM-wrapped under the master key and bound to its name and version';
-- As privacy.key.
REVOKE ALL ON privacy.key_version FROM PUBLIC;

-- Subject data keys are files in privacy.subject_key_dir, never in the
-- database: this table only records which subjects were shredded.
CREATE TABLE privacy.shredded_subject (
    subject_id  bytea       PRIMARY KEY,
    shredded_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE privacy.shredded_subject IS
    'tombstones: subjects whose data key was shredded, by subject_id = HMAC(privacy.subjects, subject); holds no personal data';
-- As privacy.key.
REVOKE ALL ON privacy.shredded_subject FROM PUBLIC;

-- pg_dump keeps what these hold (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.key', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.key_version', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.shredded_subject', '');

-- src/sql/code/keys.sql: key administration: create, rotate, drop and import keys, the keys view, the key cache trigger, key_storage_problems

CREATE FUNCTION privacy.key_cache_invalidate() RETURNS trigger
    AS 'MODULE_PATHNAME', 'privacy_key_cache_invalidate'
    LANGUAGE C;
COMMENT ON FUNCTION privacy.key_cache_invalidate() IS
    'trigger: every session drops what it caches of the table (keys, tombstones) when the table changes';
CREATE TRIGGER key_cache_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON privacy.key
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.key_cache_invalidate();
CREATE TRIGGER key_cache_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON privacy.key_version
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.key_cache_invalidate();

CREATE VIEW privacy.keys AS
    SELECT k.name, k.algorithm, k.current_version,
           pg_catalog.count(v.version) AS versions,
           k.created_at, k.rotated_at
      FROM privacy.key k
      JOIN privacy.key_version v ON v.name OPERATOR(pg_catalog.=) k.name
     GROUP BY k.name;
COMMENT ON VIEW privacy.keys IS 'every key with its metadata only: name, algorithm, versions, when created and rotated';
-- Key administrators are granted this explicitly.
REVOKE ALL ON privacy.keys FROM PUBLIC;

CREATE FUNCTION privacy.create_key(name text) RETURNS integer
    AS 'MODULE_PATHNAME', 'privacy_create_key'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION privacy.create_key(text) IS
    'create a key of 32 random bytes from OpenSSL, stored wrapped under the master key; returns its version (1)';
-- Key administration: granted explicitly to an administrator role.
REVOKE ALL ON FUNCTION privacy.create_key(text) FROM PUBLIC;

CREATE FUNCTION privacy.rotate_key(name text) RETURNS integer
    AS 'MODULE_PATHNAME', 'privacy_rotate_key'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION privacy.rotate_key(text) IS
    'give a key a new current version; values made under older versions still decrypt; returns the new version';
-- Key administration.
REVOKE ALL ON FUNCTION privacy.rotate_key(text) FROM PUBLIC;

CREATE FUNCTION privacy.drop_key(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'privacy_drop_key'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION privacy.drop_key(text) IS
    'drop every version of a key: what it encrypted can no longer be decrypted';
-- Key administration.
REVOKE ALL ON FUNCTION privacy.drop_key(text) FROM PUBLIC;

CREATE FUNCTION privacy.import_key(name text, material bytea, algorithm text) RETURNS integer
    AS 'MODULE_PATHNAME', 'privacy_import_key'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION privacy.import_key(text, bytea, text) IS
    'migrations: store an existing key bound to one algorithm (hmac-sha256, ff1, aes-siv, aes-gcm); superusers only';
-- Superusers only (checked inside too): key material passes through SQL here.
REVOKE ALL ON FUNCTION privacy.import_key(text, bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.key_storage_problems()
    RETURNS TABLE (setting text, problem text, hint text)
    AS 'MODULE_PATHNAME', 'privacy_key_storage_problems'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.key_storage_problems() IS
    'what is wrong with the master key file and the subject key directory (unset, missing, wrong owner, open to other users, wrong size, inside the data directory); reads metadata only and names no path';
GRANT EXECUTE ON FUNCTION privacy.key_storage_problems() TO PUBLIC;

-- src/sql/code/crypto.sql: pseudonyms, format-preserving and authenticated encryption, subject keys and shredding, date shifting

-- Pseudonymization and encryption (PARALLEL RESTRICTED: they read the key
-- tables through the extension owner and keep a per-backend key cache)

CREATE FUNCTION privacy.pseudonym(value text, key text) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_pseudonym_text'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.pseudonym(text, text) IS
    'keyed pseudonym: lower-case hex of HMAC-SHA-256 over the UTF-8 bytes of value, under the key''s current version';
-- Uses a key: granted to the roles that may pseudonymize.
REVOKE ALL ON FUNCTION privacy.pseudonym(text, text) FROM PUBLIC;

CREATE FUNCTION privacy.pseudonym(value bytea, key text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_pseudonym_bytea'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.pseudonym(bytea, text) IS
    'keyed pseudonym: the 32-byte HMAC-SHA-256 of value under the key''s current version';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.pseudonym(bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.fpe_encrypt(value text, key text, tweak text DEFAULT '', radix integer DEFAULT 10)
    RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_fpe_encrypt'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.fpe_encrypt(text, text, text, integer) IS
    'FF1 format-preserving encryption (NIST SP 800-38G): characters of the radix alphabet (10: 0-9, 36: 0-9a-z, 62: 0-9a-zA-Z) are encrypted, others stay in place';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.fpe_encrypt(text, text, text, integer) FROM PUBLIC;

CREATE FUNCTION privacy.fpe_decrypt(value text, key text, tweak text DEFAULT '', radix integer DEFAULT 10)
    RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_fpe_decrypt'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.fpe_decrypt(text, text, text, integer) IS
    'inverse of privacy.fpe_encrypt with the same key, tweak and radix (the key''s current version)';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.fpe_decrypt(text, text, text, integer) FROM PUBLIC;

CREATE FUNCTION privacy.fpe_encrypt(value bigint, key text, min bigint, max bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'privacy_fpe_encrypt_integer'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.fpe_encrypt(bigint, text, bigint, bigint) IS
    'FF1 over the integers min..max (at least 10000 of them): a keyed permutation of the range, so distinct values stay distinct and every result lies in it';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.fpe_encrypt(bigint, text, bigint, bigint) FROM PUBLIC;

CREATE FUNCTION privacy.fpe_decrypt(value bigint, key text, min bigint, max bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'privacy_fpe_decrypt_integer'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.fpe_decrypt(bigint, text, bigint, bigint) IS
    'inverse of the integer privacy.fpe_encrypt with the same key and range (the key''s current version)';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.fpe_decrypt(bigint, text, bigint, bigint) FROM PUBLIC;

CREATE FUNCTION privacy.encrypt(value text, key text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_encrypt'
    LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.encrypt(text, text) IS
    'AES-256-GCM with a random nonce; the ciphertext carries the key version';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.encrypt(text, text) FROM PUBLIC;

CREATE FUNCTION privacy.encrypt(value bytea, key text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_encrypt'
    LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.encrypt(bytea, text) IS
    'AES-256-GCM with a random nonce; the ciphertext carries the key version';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.encrypt(bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.decrypt(value bytea, key text) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_decrypt'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.decrypt(bytea, text) IS
    'decrypt a privacy.encrypt ciphertext of text; fails on any alteration';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.decrypt(bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.decrypt_bytea(value bytea, key text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_decrypt'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.decrypt_bytea(bytea, text) IS
    'decrypt a privacy.encrypt ciphertext of bytea; fails on any alteration';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.decrypt_bytea(bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.encrypt_deterministic(value text, key text, associated_data bytea[] DEFAULT '{}')
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_encrypt_deterministic'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.encrypt_deterministic(text, text, bytea[]) IS
    'AES-SIV (RFC 5297): equal values give equal ciphertexts under one key version, so they can be indexed and joined';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.encrypt_deterministic(text, text, bytea[]) FROM PUBLIC;

CREATE FUNCTION privacy.encrypt_deterministic(value bytea, key text, associated_data bytea[] DEFAULT '{}')
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_encrypt_deterministic'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.encrypt_deterministic(bytea, text, bytea[]) IS
    'AES-SIV (RFC 5297) over bytea';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.encrypt_deterministic(bytea, text, bytea[]) FROM PUBLIC;

CREATE FUNCTION privacy.decrypt_deterministic(value bytea, key text, associated_data bytea[] DEFAULT '{}')
    RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_decrypt_deterministic'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.decrypt_deterministic(bytea, text, bytea[]) IS
    'decrypt a privacy.encrypt_deterministic ciphertext of text; fails on any alteration';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.decrypt_deterministic(bytea, text, bytea[]) FROM PUBLIC;

CREATE FUNCTION privacy.decrypt_deterministic_bytea(value bytea, key text, associated_data bytea[] DEFAULT '{}')
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_decrypt_deterministic'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.decrypt_deterministic_bytea(bytea, text, bytea[]) IS
    'decrypt a privacy.encrypt_deterministic ciphertext of bytea';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.decrypt_deterministic_bytea(bytea, text, bytea[]) FROM PUBLIC;

CREATE FUNCTION privacy.subject_encrypt(subject text, value text, kind text DEFAULT 'person') RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_subject_encrypt'
    LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.subject_encrypt(text, text, text) IS
    'AES-256-GCM under the data key of the subject (of the kind, in its canonical form) (created on first use, kept outside the database in privacy.subject_key_dir); privacy.shred_subject destroys it';
-- Uses keys.
REVOKE ALL ON FUNCTION privacy.subject_encrypt(text, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.subject_encrypt(subject text, value bytea, kind text DEFAULT 'person') RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_subject_encrypt'
    LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.subject_encrypt(text, bytea, text) IS
    'AES-256-GCM of bytea under the subject''s own data key';
-- Uses keys.
REVOKE ALL ON FUNCTION privacy.subject_encrypt(text, bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.subject_decrypt(subject text, value bytea, kind text DEFAULT 'person') RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_subject_decrypt'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.subject_decrypt(text, bytea, text) IS
    'decrypt a privacy.subject_encrypt ciphertext of text; fails once the subject is shredded';
-- Uses keys.
REVOKE ALL ON FUNCTION privacy.subject_decrypt(text, bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.subject_decrypt_bytea(subject text, value bytea, kind text DEFAULT 'person') RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_subject_decrypt'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.subject_decrypt_bytea(text, bytea, text) IS
    'decrypt a privacy.subject_encrypt ciphertext of bytea';
-- Uses keys.
REVOKE ALL ON FUNCTION privacy.subject_decrypt_bytea(text, bytea, text) FROM PUBLIC;

CREATE FUNCTION privacy.shred_subject(subject text, kind text DEFAULT 'person') RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_shred_subject'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION privacy.shred_subject(text, text) IS
    'destroy the subject''s data key (its file is deleted at commit), leaving a tombstone: its ciphertexts, in every backup too, can no longer be decrypted; true if a key was destroyed now';
-- Destroys data: granted explicitly (cancellation calls it).
REVOKE ALL ON FUNCTION privacy.shred_subject(text, text) FROM PUBLIC;

CREATE FUNCTION privacy.shred_subject(subject text, audited boolean, kind text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_shred_subject'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION privacy.shred_subject(text, boolean, text) IS
    'internal: shred_subject, with its own audit entry only when audited (cancellation records the shred in its receipt)';
-- As shred_subject.
REVOKE ALL ON FUNCTION privacy.shred_subject(text, boolean, text) FROM PUBLIC;

CREATE FUNCTION privacy.sweep_subject_keys() RETURNS integer
    AS 'MODULE_PATHNAME', 'privacy_sweep_subject_keys'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION privacy.sweep_subject_keys() IS
    'remove key files of shredded subjects (after a crash, or a restored key directory); returns how many';
-- Deletes key files: granted explicitly.
REVOKE ALL ON FUNCTION privacy.sweep_subject_keys() FROM PUBLIC;

CREATE FUNCTION privacy.subject_pseudonym(subject text, kind text DEFAULT 'person') RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_subject_pseudonym'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION privacy.subject_pseudonym(text, text) IS
    'the keyed pseudonym of a subject of a kind (in its canonical form) that names it in the audit log, the tombstones, privacy.shredded_subject and the key directory';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.subject_pseudonym(text, text) FROM PUBLIC;

CREATE FUNCTION privacy.date_shift(value date, subject text, max_days integer, key text) RETURNS date
    AS 'MODULE_PATHNAME', 'privacy_date_shift'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.date_shift(date, text, integer, text) IS
    'shift a date by an amount in [-max_days, max_days] that is the same for every date of one subject (HMAC of the subject under the key)';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.date_shift(date, text, integer, text) FROM PUBLIC;

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
    PERFORM privacy.audit_append('purpose', pg_catalog.format('purpose %s', name), '{"operation": "drop"}');
    PERFORM privacy.refresh_purpose_views(NULL, name);
END
$$;
COMMENT ON FUNCTION privacy.drop_purpose(text) IS
    'remove a purpose (seeded or not); refused while consents for it are in force';
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

-- src/sql/state/purpose_views.sql: the registered purpose views, the roles granted each purpose, the subjects whose data is only kept

CREATE TABLE privacy.purpose_view (
    view_schema   name NOT NULL,
    view_name     name NOT NULL,
    source_schema name NOT NULL,
    source_name   name NOT NULL,
    purpose       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (view_schema, view_name)
);
COMMENT ON TABLE privacy.purpose_view IS
    'the purpose views privacy.create_purpose_view made, by name (so that pg_dump and renames keep them)';
GRANT SELECT ON privacy.purpose_view TO PUBLIC;

CREATE TABLE privacy.purpose_grant (
    purpose   text NOT NULL,
    role_name name NOT NULL,
    PRIMARY KEY (purpose, role_name)
);
COMMENT ON TABLE privacy.purpose_grant IS
    'roles privacy.grant_purpose gave a purpose''s views to; views made later are granted to them too';
GRANT SELECT ON privacy.purpose_grant TO PUBLIC;

-- Subjects whose data is only kept (cancelled, with rows kept until
-- retention): PIPL Art. 47 lets such data be stored and secured, nothing else.
CREATE TABLE privacy.restricted_subject (
    subject_kind  text        NOT NULL DEFAULT 'person',
    subject       text        NOT NULL,
    subject_key   bigint      GENERATED ALWAYS AS
                  (CASE WHEN subject OPERATOR(pg_catalog.~) '^-?[0-9]{1,18}$' THEN subject::bigint END) STORED,
    restricted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    request_id    bigint,
    PRIMARY KEY (subject, subject_kind)
);
CREATE INDEX restricted_subject_key ON privacy.restricted_subject (subject_key);
COMMENT ON TABLE privacy.restricted_subject IS
    'subjects whose account was cancelled but some of whose rows are kept (until retention, as anonymous stubs other rows still reference, or under a legal hold on a table): only the views of a purpose that sees kept rows show them (PIPL Art. 47; privacy.purpose_sees_kept_rows); the subject in its canonical form and kind';
-- As the ledger.
REVOKE ALL ON privacy.restricted_subject FROM PUBLIC;

-- Categories a purpose hides altogether: its views show their columns as
-- NULL, whether the purpose covers them or a mask would apply (no foreign
-- key to privacy.category: pg_restore -j loads the two tables' rows in
-- parallel; hide_category checks the category)
CREATE TABLE privacy.purpose_hidden (
    purpose   text        NOT NULL,
    category  text        NOT NULL,
    hidden_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    hidden_by name        NOT NULL DEFAULT SESSION_USER,
    PRIMARY KEY (purpose, category)
);
COMMENT ON TABLE privacy.purpose_hidden IS
    'categories a purpose hides altogether (privacy.hide_category): its views show their columns, and their sub-categories'', as NULL';
GRANT SELECT ON privacy.purpose_hidden TO PUBLIC;

-- Whether a purpose's views show the rows of subjects whose data is only kept
-- (privacy.restricted_subject): the administrator's choice per purpose; a
-- purpose without a row follows the default of privacy.purpose_sees_kept_rows
CREATE TABLE privacy.purpose_kept_rows (
    purpose text        PRIMARY KEY,
    shown   boolean     NOT NULL,
    set_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    set_by  name        NOT NULL DEFAULT SESSION_USER
);
COMMENT ON TABLE privacy.purpose_kept_rows IS
    'per purpose, whether its views show the rows kept after cancellation (PIPL Art. 47: only a legal obligation''s purpose may), as set by privacy.show_kept_rows; other purposes follow the default';
GRANT SELECT ON privacy.purpose_kept_rows TO PUBLIC;

-- pg_dump keeps what these hold (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.purpose_view', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.purpose_grant', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.purpose_hidden', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.purpose_kept_rows', '');

SELECT pg_catalog.pg_extension_config_dump('privacy.restricted_subject', '');

-- src/sql/code/purpose_views.sql: purpose views: the conditions and queries they are made of; creating, refreshing and granting them; their event trigger

-- How a purpose view compares a subject column of alias with the canonical
-- subjects of a list (r.subject, r.subject_key): an integer column with the
-- integer key (same btree family, so the planner carries a constant across),
-- a numeric one by its canonical form, the others as their text (which is
-- their canonical form: char(n) without trailing blanks, uuid in standard
-- form).  The view runs as its caller.
CREATE FUNCTION privacy.subject_match(alias text, col name, typ pg_catalog.regtype) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE privacy.subject_family(typ)
                    WHEN 'integer' THEN pg_catalog.format('r.subject_key OPERATOR(pg_catalog.=) %I.%I', alias, col)
                    WHEN 'numeric' THEN pg_catalog.format('r.subject OPERATOR(pg_catalog.=) privacy.family_canonical(%I.%I::pg_catalog.text, ''pg_catalog.numeric'')', alias, col)
                    ELSE pg_catalog.format('r.subject OPERATOR(pg_catalog.=) %I.%I::pg_catalog.text', alias, col) END
    $$;
COMMENT ON FUNCTION privacy.subject_match(text, name, pg_catalog.regtype) IS
    'internal: the SQL condition that a subject column of an alias holds the canonical subject of a list''s row r';

-- the condition that a row of the alias names, in one of its subject
-- columns (of kind), a subject listed in table list (restricted subjects)
CREATE FUNCTION privacy.listed_condition(list text, alias text, rel oid, subject_columns name[], kind text)
    RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT '(' || pg_catalog.string_agg(
                   pg_catalog.format('EXISTS (SELECT 1 FROM %s r WHERE %s AND r.subject_kind OPERATOR(pg_catalog.=) %L)',
                                     list, privacy.subject_match(alias, c, a.atttypid::pg_catalog.regtype), kind), ' OR ') || ')'
          FROM pg_catalog.unnest(subject_columns) c
          JOIN pg_catalog.pg_attribute a ON a.attrelid = rel AND a.attname = c
    $$;
COMMENT ON FUNCTION privacy.listed_condition(text, text, oid, name[], text) IS
    'internal: the SQL condition that a row names, in one of its subject columns of a kind, a subject of a list (restricted subjects)';

-- the consent condition on subject columns (of kind) of the alias, as SQL
CREATE FUNCTION privacy.consent_condition(alias text, rel oid, subject_columns name[], birth_column name, purpose text, kind text)
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    col name;
    match text;
    parts text[] := ARRAY[]::text[];
    minor text;
    check_sql text;
    single boolean := pg_catalog.cardinality(subject_columns) = 1;
BEGIN
    FOREACH col IN ARRAY subject_columns LOOP
        -- the explicit setting (carried by the consent row), else the birth
        -- date (IS TRUE: the planner estimates it from the column's statistics)
        minor := '(r.minor_setting IS TRUE)';
        IF birth_column IS NOT NULL AND single THEN
            minor := pg_catalog.format(
                'COALESCE(r.minor_setting, %I.%I OPERATOR(pg_catalog.>) (SELECT (pg_catalog.now() OPERATOR(pg_catalog.-)'
                ' pg_catalog.make_interval(years => pg_catalog.current_setting(''privacy.minor_age'')::integer))::date))',
                alias, birth_column);
        END IF;
        match := privacy.subject_match(alias, col,
                     (SELECT a.atttypid::pg_catalog.regtype FROM pg_catalog.pg_attribute a WHERE a.attrelid = rel AND a.attname = col));
        check_sql := pg_catalog.format(
            'EXISTS (SELECT 1 FROM privacy.consent r'
            ' WHERE %s'
            ' AND r.purpose OPERATOR(pg_catalog.=) %L'
            ' AND r.subject_kind OPERATOR(pg_catalog.=) %L'
            ' AND (r.by_guardian OR NOT %s))',
            match, purpose, kind, minor);
        IF single THEN
            -- a bare EXISTS becomes a semi-join; a NULL subject fails it
            parts := parts || check_sql;
        ELSE
            parts := parts || pg_catalog.format('(%I.%I IS NULL OR %s)', alias, col, check_sql);
        END IF;
    END LOOP;
    IF NOT single THEN
        -- the row must have a subject at all
        parts := parts || (SELECT pg_catalog.format('(%s)', pg_catalog.string_agg(pg_catalog.format('%I.%I IS NOT NULL', alias, c2), ' OR '))
                                                  FROM pg_catalog.unnest(subject_columns) c2);
    END IF;
    RETURN pg_catalog.array_to_string(parts, ' AND ');
END
$$;
COMMENT ON FUNCTION privacy.consent_condition(text, oid, name[], name, text, text) IS
    'internal: the SQL condition that every non-NULL subject column (of a kind) of a row has consent in force for the purpose';

-- Whether a purpose's views show the rows of subjects whose data is only
-- kept (privacy.restricted_subject). PIPL Art. 47 allows nothing but storing
-- such data and "taking necessary security protection measures": only a
-- purpose resting on a legal obligation may see them; by default one that
-- covers a category the law makes kept after cancellation (on_cancel "keep
-- until retention": the seeded security purpose, over log.login and
-- log.security); privacy.show_kept_rows sets it per purpose
CREATE FUNCTION privacy.purpose_sees_kept_rows(purpose text) RETURNS boolean
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT p.legal_basis = 'legal_obligation'
               AND COALESCE((SELECT k.shown FROM privacy.purpose_kept_rows k WHERE k.purpose = p.name),
                            EXISTS (SELECT 1 FROM privacy.category c
                                     WHERE c.on_cancel = 'keep until retention'
                                       AND privacy.purpose_covers(p.name, c.name)))
          FROM privacy.purpose p
         WHERE p.name = purpose_sees_kept_rows.purpose
    $$;
COMMENT ON FUNCTION privacy.purpose_sees_kept_rows(text) IS
    'whether the purpose''s views show the rows kept after cancellation (PIPL Art. 47): only a legal obligation''s purpose; as privacy.show_kept_rows set it, by default when it covers a category kept until retention';
GRANT EXECUTE ON FUNCTION privacy.purpose_sees_kept_rows(text) TO PUBLIC;

-- whether the purpose hides the category altogether (itself or a parent)
CREATE FUNCTION privacy.purpose_hides(purpose text, category text) RETURNS boolean
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT EXISTS (SELECT 1 FROM privacy.purpose_hidden h
                        WHERE h.purpose = purpose_hides.purpose
                          AND (h.category = purpose_hides.category
                               OR pg_catalog.starts_with(purpose_hides.category, h.category || '.')))
    $$;
COMMENT ON FUNCTION privacy.purpose_hides(text, text) IS
    'whether the purpose hides the category altogether, itself or through a parent category (privacy.hide_category)';
GRANT EXECUTE ON FUNCTION privacy.purpose_hides(text, text) TO PUBLIC;

-- PIPL Art. 31 in a view of a purpose on a legal basis other than consent:
-- a minor's row shows only with a guardian's consent to the purpose, when
-- privacy.guardian_consent covers the basis (read when the view is read, so a
-- change of the setting needs no rebuild).  A minor: the explicit setting,
-- else the birth date of the subject table (one SUBJECT column).  Each EXISTS
-- is hashed over the small tables it reads, not probed per row.
CREATE FUNCTION privacy.guardian_condition(alias text, rel oid, subject_columns name[], purpose text, kind text, legal_basis text)
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    col name;
    birth name;
    match text;
    minor text;
    check_sql text;
    parts text[] := ARRAY[]::text[];
    single boolean := pg_catalog.cardinality(subject_columns) = 1;
BEGIN
    IF single THEN
        SELECT l.column_name INTO birth FROM privacy.labels l
         WHERE l.relation = rel AND l.category = 'identity.birth_date' ORDER BY l.column_name LIMIT 1;
    END IF;
    FOREACH col IN ARRAY subject_columns LOOP
        match := privacy.subject_match(alias, col,
                     (SELECT a.atttypid::pg_catalog.regtype FROM pg_catalog.pg_attribute a WHERE a.attrelid = rel AND a.attname = col));
        minor := pg_catalog.format('EXISTS (SELECT 1 FROM privacy.subject_minor r WHERE %s AND r.subject_kind OPERATOR(pg_catalog.=) %L AND r.minor)',
                                   match, kind);
        IF birth IS NOT NULL THEN
            minor := pg_catalog.format(
                '(%s OR ((%I.%I OPERATOR(pg_catalog.>) (SELECT (pg_catalog.now() OPERATOR(pg_catalog.-)'
                ' pg_catalog.make_interval(years => pg_catalog.current_setting(''privacy.minor_age'')::integer))::date)) IS TRUE'
                ' AND NOT EXISTS (SELECT 1 FROM privacy.subject_minor r WHERE %s AND r.subject_kind OPERATOR(pg_catalog.=) %L AND NOT r.minor)))',
                minor, alias, birth, match, kind);
        END IF;
        check_sql := pg_catalog.format(
            '(NOT %s OR EXISTS (SELECT 1 FROM privacy.consent r WHERE %s'
            ' AND r.purpose OPERATOR(pg_catalog.=) %L AND r.subject_kind OPERATOR(pg_catalog.=) %L AND r.by_guardian))',
            minor, match, purpose, kind);
        IF NOT single THEN
            check_sql := pg_catalog.format('(%I.%I IS NULL OR %s)', alias, col, check_sql);
        END IF;
        parts := parts || check_sql;
    END LOOP;
    -- the setting, once per query
    RETURN pg_catalog.format('(NOT (SELECT pg_catalog.current_setting(''privacy.guardian_consent'') OPERATOR(pg_catalog.=) ANY (%L::pg_catalog.text[])) OR (%s))',
                             CASE WHEN legal_basis = 'contract' THEN '{contract,all}' ELSE '{all}' END,
                             pg_catalog.array_to_string(parts, ' AND '));
END
$$;
COMMENT ON FUNCTION privacy.guardian_condition(text, oid, name[], text, text, text) IS
    'internal: the SQL condition (never NULL) that a row''s subjects (of a kind) are no minors, or have a guardian''s consent to the purpose, where privacy.guardian_consent asks for it (PIPL Art. 31)';

CREATE FUNCTION privacy.purpose_view_query(source regclass, purpose text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p record;
    sp record;
    col record;
    cols text[] := ARRAY[]::text[];
    expr text;
    m text;
    filter text;
    hops integer;
    root text;
    birth name;
    filters text[];
BEGIN
    SELECT * INTO p FROM privacy.purpose d WHERE d.name = purpose;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown purpose "%"', purpose USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM privacy.subject_path s WHERE s.relation = source) THEN
        RAISE EXCEPTION 'table % holds no subject''s data', source
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A purpose view filters rows by their subject''s consent: the table needs a SUBJECT column, or a foreign key chain to a table with one.',
                  HINT = 'Label the subject key with SECURITY LABEL FOR privacy ... IS ''SUBJECT''.';
    END IF;

    -- columns: hidden ones NULL; covered or unlabelled in clear; the others
    -- masked or NULL
    FOR col IN
        SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ, t.typcategory,
               l.category, l.mask AS label_mask, c.mask AS category_mask
          FROM pg_catalog.pg_attribute a
          JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
          LEFT JOIN privacy.labels l ON l.relation = source AND l.column_name = a.attname
          LEFT JOIN privacy.category c ON c.name = l.category
         WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum
    LOOP
        IF col.category IS NOT NULL AND privacy.purpose_hides(purpose, col.category) THEN
            -- hidden altogether: NULL of the column's type, mask or not
            expr := pg_catalog.format('NULL::%s', col.typ);
        ELSIF col.category IS NULL OR privacy.purpose_covers(purpose, col.category) THEN
            expr := pg_catalog.format('t.%I', col.attname);
        ELSE
            m := col.label_mask;
            IF m IS NULL AND col.typcategory = 'S' AND col.category_mask IS NOT NULL THEN
                -- checked again as it is pasted: a schema may have lost its trust
                -- since (the column is then NULL)
                BEGIN
                    m := privacy.check_mask(col.category_mask, 'pg_catalog.text');
                EXCEPTION WHEN OTHERS THEN
                    m := NULL;
                END;
            END IF;
            IF m IS NOT NULL THEN
                expr := pg_catalog.format('%s(t.%I)::%s', m, col.attname, col.typ);
            ELSE
                expr := pg_catalog.format('NULL::%s', col.typ);
            END IF;
        END IF;
        cols := cols || pg_catalog.format('%s AS %I', expr, col.attname);
    END LOOP;

    -- per subject kind whose subjects own the rows: through the foreign
    -- keys, child first (t -> a1 -> a2 ... -> the subject table), the row's
    -- subject must not be one whose rows are only kept (PIPL Art. 47) unless
    -- the purpose sees kept rows, and, for a purpose that rests on consent,
    -- must have consented
    filters := ARRAY[]::text[];
    FOR sp IN SELECT * FROM privacy.subject_path s WHERE s.relation = source ORDER BY s.kind LOOP
        hops := pg_catalog.cardinality(sp.constraints);
        root := CASE WHEN hops = 0 THEN 't' ELSE 'a' || hops END;
        IF p.legal_basis <> 'consent' THEN
            IF NOT privacy.purpose_sees_kept_rows(purpose) THEN
                filters := filters || ('NOT ' ||
                    privacy.path_condition(sp.constraints, privacy.listed_condition('privacy.restricted_subject', root,
                                               sp.subject_relation, sp.subject_columns, sp.kind)));
            END IF;
            -- PIPL Art. 31: nor a minor's without a guardian's consent
            filters := filters || ('NOT ' || privacy.path_condition(sp.constraints,
                          'NOT ' || privacy.guardian_condition(root, sp.subject_relation, sp.subject_columns, purpose, sp.kind, p.legal_basis)));
        ELSE
            birth := NULL;
            SELECT l.column_name INTO birth FROM privacy.labels l
             WHERE l.relation = sp.subject_relation
               AND l.category = 'identity.birth_date' LIMIT 1;
            filters := filters || privacy.path_condition(sp.constraints,
                          privacy.consent_condition(root, sp.subject_relation, sp.subject_columns, birth, purpose, sp.kind));
        END IF;
    END LOOP;
    filter := COALESCE(NULLIF(pg_catalog.array_to_string(filters, ' AND '), ''), 'true');
    RETURN pg_catalog.format('SELECT %s FROM %s t WHERE %s',
                             pg_catalog.array_to_string(cols, ', '), source, filter);
END
$$;
COMMENT ON FUNCTION privacy.purpose_view_query(regclass, text) IS
    'the query of the purpose view of a table: subjects whose consent covers the purpose (through foreign keys too), no rows only kept after cancellation unless the purpose sees them, labelled columns outside the purpose masked, of categories it hides NULL';
GRANT EXECUTE ON FUNCTION privacy.purpose_view_query(regclass, text) TO PUBLIC;

-- (re)create one registered view and its grants
CREATE FUNCTION privacy.build_purpose_view(view_schema name, view_name name, source regclass, purpose text)
    RETURNS regclass
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v regclass;
    r name;
    citus boolean := privacy.citus_table(source);
    propagate text;
    q text;
BEGIN
    IF NOT citus THEN
        IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', view_schema, view_name)) IS NOT NULL THEN
            -- in place when its columns only grow (views built on it stay);
            -- else dropped with whatever was built on it: a purpose role's own
            -- view on its purpose view must not keep the table's owner from
            -- changing the table (test/review 08)
            BEGIN
                EXECUTE pg_catalog.format('CREATE OR REPLACE VIEW %I.%I WITH (security_barrier) AS %s',
                                          view_schema, view_name, privacy.purpose_view_query(source, purpose));
            EXCEPTION WHEN invalid_table_definition OR datatype_mismatch OR feature_not_supported THEN
                EXECUTE pg_catalog.format('DROP VIEW %I.%I CASCADE', view_schema, view_name);
            END;
        END IF;
        IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', view_schema, view_name)) IS NULL THEN
            EXECUTE pg_catalog.format('CREATE VIEW %I.%I WITH (security_barrier) AS %s',
                                      view_schema, view_name, privacy.purpose_view_query(source, purpose));
        END IF;
    ELSE
        PERFORM privacy.drop_purpose_view(view_schema, view_name);
        -- A Citus table (doc/citus.md): Citus opens the workers' connections
        -- as the current user, who has no right on the shards, so the view
        -- reads its rows through a SECURITY DEFINER function of the same
        -- name; the consents are a subquery, which Citus plans on the
        -- coordinator and sends to the workers.  Neither reaches the workers
        -- (an ALTER TABLE rebuilding the view reaches them after it).
        propagate := pg_catalog.current_setting('citus.enable_ddl_propagation', true);
        PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
        q := pg_catalog.replace(pg_catalog.replace(privacy.purpose_view_query(source, purpose),
                 'FROM privacy.consent r', 'FROM (SELECT * FROM privacy.consent) r'),
                 'FROM privacy.restricted_subject r', 'FROM (SELECT * FROM privacy.restricted_subject) r');
        EXECUTE pg_catalog.format('CREATE FUNCTION %I.%I() RETURNS TABLE (%s) LANGUAGE sql STABLE SECURITY DEFINER'
                                  ' SET search_path = pg_catalog, pg_temp AS %L',
                                  view_schema, view_name,
                                  (SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)),
                                                                ', ' ORDER BY a.attnum)
                                     FROM pg_catalog.pg_attribute a
                                    WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped),
                                  q);
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %I.%I() FROM PUBLIC', view_schema, view_name);
        EXECUTE pg_catalog.format('COMMENT ON FUNCTION %I.%I() IS %L', view_schema, view_name,
                                  pg_catalog.format('privacy purpose view rows of %s for purpose %s', source, purpose));
        EXECUTE pg_catalog.format('CREATE VIEW %I.%I WITH (security_barrier) AS SELECT * FROM %I.%I()',
                                  view_schema, view_name, view_schema, view_name);
    END IF;
    v := pg_catalog.format('%I.%I', view_schema, view_name)::regclass;
    EXECUTE pg_catalog.format('COMMENT ON VIEW %s IS %L', v,
                              pg_catalog.format('privacy purpose view of %s for purpose %s', source, purpose));
    EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM PUBLIC', v);
    FOR r IN SELECT g.role_name FROM privacy.purpose_grant g WHERE g.purpose = build_purpose_view.purpose LOOP
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', view_schema, r);
        EXECUTE pg_catalog.format('GRANT SELECT ON %s TO %I', v, r);
        IF citus THEN
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %I.%I() TO %I', view_schema, view_name, r);
        END IF;
    END LOOP;
    IF citus THEN
        PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', COALESCE(propagate, 'on'), true);
    END IF;
    RETURN v;
END
$$;

-- drop a purpose view and, over a Citus table, the function it reads its rows through
CREATE FUNCTION privacy.drop_purpose_view(view_schema name, view_name name) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', view_schema, view_name)) IS NOT NULL THEN
        EXECUTE pg_catalog.format('DROP VIEW %I.%I', view_schema, view_name);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_proc f JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace
                WHERE n.nspname = view_schema AND f.proname = view_name AND f.pronargs = 0
                  AND pg_catalog.obj_description(f.oid, 'pg_proc') LIKE 'privacy purpose view rows of %') THEN
        EXECUTE pg_catalog.format('DROP FUNCTION %I.%I()', view_schema, view_name);
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.drop_purpose_view(name, name) IS
    'internal: drop a purpose view, and the function a purpose view over a Citus table reads its rows through';
REVOKE ALL ON FUNCTION privacy.drop_purpose_view(name, name) FROM PUBLIC;
COMMENT ON FUNCTION privacy.build_purpose_view(name, name, regclass, text) IS
    'internal: create or rebuild one purpose view and grant it to the purpose''s roles; over a Citus table, with the SECURITY DEFINER function of the same name it reads its rows through';
REVOKE ALL ON FUNCTION privacy.build_purpose_view(name, name, regclass, text) FROM PUBLIC;

CREATE FUNCTION privacy.create_purpose_view(source regclass, purpose text, view_name text DEFAULT NULL)
    RETURNS regclass
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    src_schema name;
    src_name name;
    v_schema text;
    v_name text;
    parts text[];
    v regclass;
BEGIN
    IF source IS NULL OR purpose IS NULL THEN
        RAISE EXCEPTION 'source and purpose must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- the role that called us: SET ROLE's role, else the session user
    IF NOT pg_catalog.has_table_privilege(
               CASE pg_catalog.current_setting('role') WHEN 'none' THEN SESSION_USER
                    ELSE pg_catalog.current_setting('role')::name END,
               source, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for table %', source
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Only a role that can read a table can make purpose views of it.';
    END IF;
    SELECT n.nspname, c.relname INTO src_schema, src_name
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = source;
    IF view_name IS NULL THEN
        v_schema := src_schema::text;
        v_name := src_name::text || '_' || purpose;
    ELSE
        parts := pg_catalog.parse_ident(view_name);
        IF pg_catalog.cardinality(parts) = 1 THEN
            v_schema := src_schema::text;
            v_name := parts[1];
        ELSIF pg_catalog.cardinality(parts) = 2 THEN
            v_schema := parts[1];
            v_name := parts[2];
        ELSE
            RAISE EXCEPTION 'improper view name "%"', view_name USING ERRCODE = 'invalid_name';
        END IF;
    END IF;
    -- a longer name would be cut (and could then be another view's)
    IF pg_catalog.octet_length(v_schema) > 63 OR pg_catalog.octet_length(v_name) > 63 THEN
        RAISE EXCEPTION 'view name "%" is too long', v_name
            USING ERRCODE = 'name_too_long',
                  HINT = 'Names have at most 63 bytes: give the view a shorter name with view_name.';
    END IF;
    IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', v_schema, v_name)) IS NOT NULL THEN
        RAISE EXCEPTION 'relation "%.%" already exists', v_schema, v_name USING ERRCODE = 'duplicate_table';
    END IF;
    v := privacy.build_purpose_view(v_schema::name, v_name::name, source, purpose);
    INSERT INTO privacy.purpose_view (view_schema, view_name, source_schema, source_name, purpose)
    VALUES (v_schema, v_name, src_schema, src_name, purpose);
    PERFORM privacy.audit_append('purpose view', pg_catalog.format('view %s', v),
        pg_catalog.jsonb_build_object('operation', 'create', 'source', source::text, 'purpose', purpose));
    RETURN v;
END
$$;
COMMENT ON FUNCTION privacy.create_purpose_view(regclass, text, text) IS
    'create a security_barrier view of a labelled table for a purpose: only rows whose subject may be processed for it, labelled columns outside it masked';
-- Administrators: granted explicitly.
REVOKE ALL ON FUNCTION privacy.create_purpose_view(regclass, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.refresh_purpose_views(source regclass DEFAULT NULL, purpose text DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
    n integer := 0;
    src regclass;
BEGIN
    FOR r IN SELECT * FROM privacy.purpose_view ORDER BY view_schema, view_name LOOP
        src := pg_catalog.to_regclass(pg_catalog.format('%I.%I', r.source_schema, r.source_name));
        IF src IS NULL THEN
            -- the table is gone (and its view with it)
            DELETE FROM privacy.purpose_view v
             WHERE v.view_schema = r.view_schema AND v.view_name = r.view_name;
            CONTINUE;
        END IF;
        IF (refresh_purpose_views.source IS NULL OR src = refresh_purpose_views.source)
           AND (refresh_purpose_views.purpose IS NULL OR r.purpose = refresh_purpose_views.purpose) THEN
            IF NOT EXISTS (SELECT 1 FROM privacy.purpose p WHERE p.name = r.purpose) THEN
                PERFORM privacy.drop_purpose_view(r.view_schema, r.view_name);
                DELETE FROM privacy.purpose_view v
                 WHERE v.view_schema = r.view_schema AND v.view_name = r.view_name;
                CONTINUE;
            END IF;
            BEGIN
                PERFORM privacy.build_purpose_view(r.view_schema, r.view_name, src, r.purpose);
                n := n + 1;
            EXCEPTION WHEN object_not_in_prerequisite_state THEN
                -- the table no longer holds a subject's data: no lawful view of it remains
                PERFORM privacy.drop_purpose_view(r.view_schema, r.view_name);
                DELETE FROM privacy.purpose_view v
                 WHERE v.view_schema = r.view_schema AND v.view_name = r.view_name;
                RAISE WARNING 'purpose view %.% was removed: table %.% no longer holds a subject''s data',
                    pg_catalog.quote_ident(r.view_schema), pg_catalog.quote_ident(r.view_name),
                    pg_catalog.quote_ident(r.source_schema), pg_catalog.quote_ident(r.source_name);
            END;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.refresh_purpose_views(regclass, text) IS
    'rebuild the purpose views (of one table, of one purpose, or all) from the current labels, purposes and columns; returns how many';
-- Administrators: granted explicitly.
REVOKE ALL ON FUNCTION privacy.refresh_purpose_views(regclass, text) FROM PUBLIC;

CREATE FUNCTION privacy.grant_purpose(purpose text, role_name name) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    IF purpose IS NULL OR role_name IS NULL THEN
        RAISE EXCEPTION 'purpose and role must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM privacy.purpose p WHERE p.name = grant_purpose.purpose) THEN
        RAISE EXCEPTION 'unknown purpose "%"', purpose USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles x WHERE x.rolname = role_name) THEN
        RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = 'undefined_object';
    END IF;
    INSERT INTO privacy.purpose_grant AS g (purpose, role_name) VALUES (purpose, role_name)
    ON CONFLICT ON CONSTRAINT purpose_grant_pkey DO NOTHING;
    FOR r IN SELECT * FROM privacy.purpose_view v WHERE v.purpose = grant_purpose.purpose LOOP
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', r.view_schema, role_name);
        EXECUTE pg_catalog.format('GRANT SELECT ON %I.%I TO %I', r.view_schema, r.view_name, role_name);
        -- over a Citus table, the function the view reads its rows through
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_proc f JOIN pg_catalog.pg_namespace s ON s.oid = f.pronamespace
                    WHERE s.nspname = r.view_schema AND f.proname = r.view_name AND f.pronargs = 0
                      AND pg_catalog.obj_description(f.oid, 'pg_proc') LIKE 'privacy purpose view rows of %') THEN
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %I.%I() TO %I', r.view_schema, r.view_name, role_name);
        END IF;
        n := n + 1;
    END LOOP;
    PERFORM privacy.audit_append('purpose grant', pg_catalog.format('role %s', pg_catalog.quote_ident(role_name)),
        pg_catalog.jsonb_build_object('purpose', purpose, 'views', n));
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.grant_purpose(text, name) IS
    'let a role read the purpose''s views (now and future ones), and nothing else of them; returns how many views';
-- Administrators: granted explicitly.
REVOKE ALL ON FUNCTION privacy.grant_purpose(text, name) FROM PUBLIC;

CREATE FUNCTION privacy.hide_category(purpose text, category text, hidden boolean DEFAULT true) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n integer;
BEGIN
    IF purpose IS NULL OR category IS NULL OR hidden IS NULL THEN
        RAISE EXCEPTION 'purpose, category and hidden must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM privacy.purpose p WHERE p.name = hide_category.purpose) THEN
        RAISE EXCEPTION 'unknown purpose "%"', purpose USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM privacy.category c WHERE c.name = hide_category.category) THEN
        RAISE EXCEPTION 'category "%" does not exist', category USING ERRCODE = 'undefined_object';
    END IF;
    IF hidden THEN
        INSERT INTO privacy.purpose_hidden AS h (purpose, category) VALUES (purpose, category)
        ON CONFLICT ON CONSTRAINT purpose_hidden_pkey DO NOTHING;
    ELSE
        DELETE FROM privacy.purpose_hidden h WHERE h.purpose = hide_category.purpose AND h.category = hide_category.category;
    END IF;
    n := privacy.refresh_purpose_views(NULL, purpose);
    PERFORM privacy.audit_append('purpose hide', pg_catalog.format('purpose %s', purpose),
        pg_catalog.jsonb_build_object('category', category, 'hidden', hidden, 'views', n));
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.hide_category(text, text, boolean) IS
    'make the purpose''s views show the columns of a category (and of its sub-categories) as NULL, whether the purpose covers it or a mask would apply (hidden false: as before); refreshes them, audited; returns how many views';
-- Administrators: granted explicitly.
REVOKE ALL ON FUNCTION privacy.hide_category(text, text, boolean) FROM PUBLIC;

CREATE FUNCTION privacy.show_kept_rows(purpose text, shown boolean) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    basis text;
    n integer;
BEGIN
    IF purpose IS NULL THEN
        RAISE EXCEPTION 'purpose must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT p.legal_basis INTO basis FROM privacy.purpose p WHERE p.name = show_kept_rows.purpose;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown purpose "%"', purpose USING ERRCODE = 'undefined_object';
    END IF;
    IF shown AND basis <> 'legal_obligation' THEN
        RAISE EXCEPTION 'purpose "%" rests on %, not on a legal obligation: it may not see the rows kept after cancellation', purpose, basis
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'PIPL Art. 47: where the retention period the law prescribes has not expired, processing other than storing and taking necessary security protection measures stops.';
    END IF;
    IF shown IS NULL THEN
        DELETE FROM privacy.purpose_kept_rows k WHERE k.purpose = show_kept_rows.purpose;
    ELSE
        INSERT INTO privacy.purpose_kept_rows AS k (purpose, shown) VALUES (purpose, shown)
        ON CONFLICT ON CONSTRAINT purpose_kept_rows_pkey
        DO UPDATE SET shown = EXCLUDED.shown, set_at = EXCLUDED.set_at, set_by = EXCLUDED.set_by;
    END IF;
    n := privacy.refresh_purpose_views(NULL, purpose);
    PERFORM privacy.audit_append('purpose kept rows', pg_catalog.format('purpose %s', purpose),
        pg_catalog.jsonb_build_object('shown', shown, 'sees', privacy.purpose_sees_kept_rows(purpose), 'views', n));
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.show_kept_rows(text, boolean) IS
    'whether the purpose''s views show the rows kept after cancellation (only for a purpose resting on a legal obligation, PIPL Art. 47; NULL: the default of privacy.purpose_sees_kept_rows); refreshes them, audited; returns how many views';
-- Administrators: granted explicitly.
REVOKE ALL ON FUNCTION privacy.show_kept_rows(text, boolean) FROM PUBLIC;

-- Keep the views in step: a label, a column or a table changed.
CREATE FUNCTION privacy.purpose_views_ddl() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cmd record;
    src regclass;
BEGIN
    -- a restore brings the views back as they were dumped; rebuilding them
    -- while labels and foreign keys arrive one by one would find a table
    -- without its subject path yet and drop its views
    IF privacy.restoring() OR NOT EXISTS (SELECT 1 FROM privacy.purpose_view) THEN
        RETURN;
    END IF;
    FOR cmd IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP
        IF cmd.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND cmd.command_tag = ANY (ARRAY['ALTER TABLE', 'SECURITY LABEL']) THEN
            src := cmd.objid::regclass;
            IF EXISTS (SELECT 1 FROM privacy.purpose_view v
                        WHERE pg_catalog.to_regclass(pg_catalog.format('%I.%I', v.source_schema, v.source_name)) = src) THEN
                PERFORM privacy.refresh_purpose_views(src);
            END IF;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.purpose_views_ddl() IS
    'event trigger: rebuild the purpose views of a table whose labels or columns changed (not during a restore, which brings them back as dumped)';
CREATE EVENT TRIGGER privacy_purpose_views ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'SECURITY LABEL')
    EXECUTE FUNCTION privacy.purpose_views_ddl();

-- src/sql/code/rights.sql: the one place through which every statement on a user's table goes: owner_exec, owner_exec_value, owner_rows run it as the table's owner (doc/security.md)

CREATE FUNCTION privacy.owner_exec(rel pg_catalog.regclass, statement text, tids pg_catalog.tid[], subject text)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'privacy_owner_exec'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.owner_exec(pg_catalog.regclass, text, pg_catalog.tid[], text) IS
    'internal: run one statement ($1 the rows'' ctids, $2 the subject) on a table as its owner, in a restricted security context with row_security off, so that the table''s triggers, defaults, checks, casts and operators never run with the extension owner''s rights; refuses a relation that is no longer a table and a table that forces row-level security on its owner';
-- Runs SQL as another role: only the extension's own functions (it checks).
REVOKE ALL ON FUNCTION privacy.owner_exec(pg_catalog.regclass, text, pg_catalog.tid[], text) FROM PUBLIC;

CREATE FUNCTION privacy.owner_exec(rel pg_catalog.regclass, statement text, args text[])
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'privacy_owner_exec'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.owner_exec(pg_catalog.regclass, text, text[]) IS
    'internal: owner_exec with $1 an array of text arguments (the statement converts them)';
-- As owner_exec.
REVOKE ALL ON FUNCTION privacy.owner_exec(pg_catalog.regclass, text, text[]) FROM PUBLIC;

CREATE FUNCTION privacy.owner_exec_value(rel pg_catalog.regclass, statement text, tids pg_catalog.tid[], subject text)
    RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_owner_exec'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.owner_exec_value(pg_catalog.regclass, text, pg_catalog.tid[], text) IS
    'internal: owner_exec, returning the first column of the statement''s first row as text';
-- As owner_exec.
REVOKE ALL ON FUNCTION privacy.owner_exec_value(pg_catalog.regclass, text, pg_catalog.tid[], text) FROM PUBLIC;

CREATE FUNCTION privacy.owner_exec_value(rel pg_catalog.regclass, statement text, args text[])
    RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_owner_exec'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.owner_exec_value(pg_catalog.regclass, text, text[]) IS
    'internal: owner_exec_value with $1 an array of text arguments (the statement converts them)';
-- As owner_exec.
REVOKE ALL ON FUNCTION privacy.owner_exec_value(pg_catalog.regclass, text, text[]) FROM PUBLIC;

CREATE FUNCTION privacy.owner_rows(rel pg_catalog.regclass, statement text, args text[])
    RETURNS TABLE (part oid, tid pg_catalog.tid, vals text[])
    AS 'MODULE_PATHNAME', 'privacy_owner_rows'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.owner_rows(pg_catalog.regclass, text, text[]) IS
    'internal: as owner_exec, a statement ($1 an array of text arguments) that returns (tableoid, ctid, text...) rows: its rows, the text columns as one array; values leave an owner''s statement only as text';
-- As owner_exec.
REVOKE ALL ON FUNCTION privacy.owner_rows(pg_catalog.regclass, text, text[]) FROM PUBLIC;

-- src/sql/code/placeholders.sql: the values that replace what cancellation, retention and anonymization erase: placeholder_sql, anonymous_value

-- the SQL of a placeholder: a fixed value of the column's type that keeps
-- nothing of the original (expr stays NULL when NULL); NULL for a type that
-- has none
CREATE FUNCTION privacy.placeholder_sql(expr text, typ pg_catalog.regtype, category text, typmod integer DEFAULT -1) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    tc "char";
    b oid;
    v text;
BEGIN
    SELECT t.typcategory, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
      INTO tc, b
      FROM pg_catalog.pg_type t WHERE t.oid = typ;
    IF tc = 'S' THEN
        -- e-mail form for e-mail addresses; digits stay digits (check constraints)
        v := CASE WHEN category ~ '^contact\.email' THEN '''anonymized@anonymized.invalid'''
                  ELSE pg_catalog.format('CASE WHEN (%1$s)::pg_catalog.text OPERATOR(pg_catalog.~) ''@'' THEN ''anonymized@anonymized.invalid'' '
                                         'WHEN (%1$s)::pg_catalog.text OPERATOR(pg_catalog.~) ''^[0-9]+$'' THEN pg_catalog.repeat(''0'', pg_catalog.length((%1$s)::pg_catalog.text)) '
                                         'ELSE ''anonymized'' END', expr) END;
    ELSIF tc = 'N' THEN
        v := '0';
    ELSIF tc = 'D' THEN
        v := CASE WHEN b = ANY (ARRAY['pg_catalog.time'::pg_catalog.regtype, 'pg_catalog.timetz'::pg_catalog.regtype]::oid[])
                  THEN '''00:00''' ELSE '''1970-01-01''' END;
    ELSIF tc = 'T' THEN
        v := '''0''';
    ELSIF tc = 'B' THEN
        v := 'false';
    ELSIF tc = 'A' THEN
        v := '''{}''';
    ELSIF tc = 'I' THEN
        v := pg_catalog.format('CASE pg_catalog.family((%s)::pg_catalog.text::pg_catalog.inet) WHEN 6 THEN ''::'' ELSE ''0.0.0.0'' END', expr);
    ELSIF b = 'pg_catalog.uuid'::pg_catalog.regtype THEN
        v := '''00000000-0000-0000-0000-000000000000''';
    ELSIF b = 'pg_catalog.bytea'::pg_catalog.regtype THEN
        v := '''\x''';
    ELSIF b = ANY (ARRAY['pg_catalog.json'::pg_catalog.regtype, 'pg_catalog.jsonb'::pg_catalog.regtype]::oid[]) THEN
        v := '''{}''';
    ELSE
        RETURN NULL;
    END IF;
    RETURN pg_catalog.format('(CASE WHEN (%s) IS NULL THEN NULL ELSE %s END)::%s', expr, v, pg_catalog.format_type(typ, typmod));
END
$$;
COMMENT ON FUNCTION privacy.placeholder_sql(text, pg_catalog.regtype, text, integer) IS
    'internal: the SQL of the placeholder that replaces expr, of type typ: e-mail form for contact.email or values with @, zeros for digit strings, ''anonymized'' for other text, zero, the epoch, false, empty, 0.0.0.0 or ::; NULL stays NULL; NULL for a type without one';
GRANT EXECUTE ON FUNCTION privacy.placeholder_sql(text, pg_catalog.regtype, text, integer) TO PUBLIC;

-- the value that replaces a NOT NULL labelled column when its row is anonymized
CREATE FUNCTION privacy.anonymous_value(value anyelement, category text, is_unique boolean DEFAULT false)
    RETURNS anyelement
    LANGUAGE plpgsql VOLATILE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    typ regtype := pg_catalog.pg_typeof(value);
    tc "char";
    v text;
    token text;
    placeholder text;
    result value%TYPE;
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT t.typcategory INTO tc FROM pg_catalog.pg_type t WHERE t.oid = typ;
    -- a unique column gets a random value of the same shape
    IF is_unique THEN
        token := pg_catalog.encode(pg_catalog.uuid_send(pg_catalog.gen_random_uuid()), 'hex');
        IF tc = 'S' THEN
            v := value::text;
            IF category ~ '^contact\.email' OR v ~ '@' THEN
                RETURN 'anonymized-' || token || '@anonymized.invalid';
            ELSIF v ~ '^[0-9]+$' THEN
                -- digits stay digits (check constraints), none of them the original's
                RETURN (SELECT pg_catalog.string_agg(pg_catalog.floor(pg_catalog.random() * 10)::integer::text, '')
                          FROM pg_catalog.generate_series(1, pg_catalog.length(v)));
            END IF;
            RETURN 'anonymized-' || token;
        ELSIF tc = 'N' THEN
            RETURN (pg_catalog.random() * (CASE WHEN typ = 'pg_catalog.int2'::regtype THEN 32767 ELSE 2147483647 END))::integer;
        ELSIF typ = 'pg_catalog.uuid'::regtype THEN
            RETURN pg_catalog.gen_random_uuid();
        ELSIF typ = 'pg_catalog.bytea'::regtype THEN
            RETURN pg_catalog.decode(token, 'hex');
        END IF;
    END IF;
    placeholder := privacy.placeholder_sql('$1', typ, category);
    IF placeholder IS NULL THEN
        RAISE EXCEPTION 'no anonymous value for a NOT NULL column of type %', typ
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Make the column nullable (it is then set to NULL), or use ON CANCEL DELETE for its table.';
    END IF;
    EXECUTE 'SELECT ' || placeholder INTO result USING value;
    RETURN result;
END
$$;
COMMENT ON FUNCTION privacy.anonymous_value(anyelement, text, boolean) IS
    'a value that identifies nobody and keeps nothing of the original, of the same type: a placeholder chosen by category (e-mail form for contact.email, zeros for digit strings, zero, the epoch, ...), random when the column is unique';
GRANT EXECUTE ON FUNCTION privacy.anonymous_value(anyelement, text, boolean) TO PUBLIC;

-- The SQL of a random anonymous value for a unique column of type typid(typmod):
-- a text of limited length gets random hex of that length (the shaped value
-- cut to the length would be the same for every row)
CREATE FUNCTION privacy.unique_anonymous_sql(expr text, category text, typid pg_catalog.regtype, typmod integer)
    RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE WHEN t.typcategory = 'S' AND typmod > 4
                    THEN pg_catalog.format('(SELECT CASE WHEN pg_catalog.length(x.v) <= %s THEN x.v ELSE pg_catalog.substr(pg_catalog.md5(x.v), 1, %s) END FROM (SELECT privacy.anonymous_value(%s, %L, true)::pg_catalog.text AS v) x)::%s',
                                           typmod - 4, typmod - 4, expr, category, pg_catalog.format_type(typid, typmod))
                    ELSE pg_catalog.format('privacy.anonymous_value(%s, %L, true)::%s', expr, category, pg_catalog.format_type(typid, typmod)) END
          FROM pg_catalog.pg_type t WHERE t.oid = typid
    $$;
COMMENT ON FUNCTION privacy.unique_anonymous_sql(text, text, pg_catalog.regtype, integer) IS
    'internal: the SQL of a random anonymous value for a unique column of a type and typmod (random hex of the length of a varchar(n) or char(n) too short for the shaped value)';
REVOKE ALL ON FUNCTION privacy.unique_anonymous_sql(text, text, pg_catalog.regtype, integer) FROM PUBLIC;

-- What a labelled column becomes when its row is anonymized by cancellation or
-- retention (the row stays, nobody's any more): the SQL over alias t, or NULL
-- when the column keeps its value (ANONYMIZE WITH KEEP, from the label or the
-- category).  A label's GENERALIZE generalizes; otherwise NULL, or a
-- placeholder when the column is NOT NULL (a random value of the same shape
-- when it is unique too).  Pseudonyms and FF1 need a key that would make the
-- row re-identifiable: here they are placeholders too.
CREATE FUNCTION privacy.anonymous_sql(rel oid, column_name name) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    c record;
    g record;
BEGIN
    SELECT a.attname, a.attnotnull, a.atttypid::pg_catalog.regtype AS typid, a.atttypmod,
           pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ, l.category, l.anonymize AS by_label,
           k.anonymize AS by_category,
           EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                    WHERE i.indrelid = rel AND i.indisunique
                      AND a.attnum = ANY (i.indkey::smallint[])) AS is_unique
      INTO c
      FROM pg_catalog.pg_attribute a
      JOIN privacy.labels l ON l.relation = COALESCE(pg_catalog.pg_partition_root(rel), rel::pg_catalog.regclass)
                           AND l.column_name = a.attname
      LEFT JOIN privacy.category k ON k.name = l.category
     WHERE a.attrelid = rel AND a.attname = anonymous_sql.column_name AND NOT a.attisdropped;
    IF NOT FOUND OR COALESCE(c.by_label, c.by_category) = 'keep' THEN
        RETURN NULL;
    END IF;
    IF c.by_label ~ '^generalize ' THEN
        SELECT * INTO g FROM privacy.generalization(pg_catalog.format('t.%I', c.attname), c.typid,
                                                   pg_catalog.substr(c.by_label, 12)::integer);
        IF g.sql IS NOT NULL THEN
            RETURN pg_catalog.format('(%s)::%s', g.sql, c.typ);
        END IF;
    END IF;
    IF NOT c.attnotnull THEN
        RETURN pg_catalog.format('NULL::%s', c.typ);
    ELSIF c.is_unique THEN
        RETURN privacy.unique_anonymous_sql(pg_catalog.format('t.%I', c.attname), c.category, c.typid, c.atttypmod);
    END IF;
    RETURN COALESCE(privacy.placeholder_sql(pg_catalog.format('t.%I', c.attname), c.typid, c.category, c.atttypmod),
                    pg_catalog.format('privacy.anonymous_value(t.%I, %L, false)::%s', c.attname, c.category, c.typ));
END
$$;
COMMENT ON FUNCTION privacy.anonymous_sql(oid, name) IS
    'internal: the SQL (over alias t) of what a labelled column becomes when cancellation or retention anonymizes its row: NULL when it keeps its value (ANONYMIZE WITH KEEP), a generalization for a label''s GENERALIZE, else NULL, a placeholder, or a random value of the same shape when it is unique';
REVOKE ALL ON FUNCTION privacy.anonymous_sql(oid, name) FROM PUBLIC;

-- src/sql/state/cancellation.sql: the cancellation tombstones

-- a tombstone per cancelled subject, by pseudonym
CREATE TABLE privacy.cancelled_subject (
    subject_id   text        PRIMARY KEY,
    cancelled_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    request_id   bigint
);
COMMENT ON TABLE privacy.cancelled_subject IS
    'tombstones: subjects whose account was cancelled, by subject_id = privacy.subject_pseudonym(subject, kind); holds no personal data';
REVOKE ALL ON privacy.cancelled_subject FROM PUBLIC;

-- pg_dump keeps what these hold (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.cancelled_subject', '');

-- src/sql/code/cancellation.sql: cancellation: the ledger's guard, the cancellation plan and its steps, cancel_subject

-- every session's set of tombstones (privacy.refuse_cancelled) is dropped when they change
CREATE TRIGGER tombstone_cache_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON privacy.cancelled_subject
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.key_cache_invalidate();

-- The ledger's only permitted change: cancellation replaces the subject, or
-- the guardian who gave a consent, by its pseudonym, so that the history
-- stays provable and names nobody.
CREATE FUNCTION privacy.consent_event_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    replaced text;
    replaced_guardian text;
BEGIN
    -- (a subject already replaced, or one that is no value of its kind, has no
    -- pseudonym to become: that update is refused below)
    IF TG_OP = 'UPDATE' THEN
        IF OLD.subject NOT LIKE 'cancelled:%' THEN
            BEGIN
                replaced := 'cancelled:' || privacy.subject_pseudonym(OLD.subject, OLD.subject_kind);
            EXCEPTION WHEN invalid_text_representation OR undefined_object THEN
                replaced := NULL;
            END;
        END IF;
        IF OLD.guardian NOT LIKE 'cancelled:%' THEN
            BEGIN
                replaced_guardian := 'cancelled:' || privacy.subject_pseudonym(OLD.guardian, OLD.guardian_kind);
            EXCEPTION WHEN invalid_text_representation OR undefined_object THEN
                replaced_guardian := NULL;
            END;
        END IF;
        IF (NEW.subject = replaced OR (NEW.subject = OLD.subject AND NEW.guardian = replaced_guardian))
           AND (NEW.guardian = replaced_guardian OR NEW.guardian IS NOT DISTINCT FROM OLD.guardian)
           AND (NEW.seq, NEW.subject_kind, NEW.purpose, NEW.granted, NEW.at, NEW.policy_version, NEW.by_guardian, NEW.actor, NEW.guardian_kind)
               IS NOT DISTINCT FROM (OLD.seq, OLD.subject_kind, OLD.purpose, OLD.granted, OLD.at, OLD.policy_version, OLD.by_guardian, OLD.actor, OLD.guardian_kind)
           AND NEW.evidence IS NOT DISTINCT FROM OLD.evidence THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = pg_catalog.format('%s is not allowed on this table, for any role; cancellation only replaces a subject, or a guardian, by its pseudonym.', TG_OP);
END
$$;
COMMENT ON FUNCTION privacy.consent_event_guard() IS
    'trigger: keeps the consent ledger append-only, except that cancellation replaces a subject, or the guardian who gave a consent, by its pseudonym';
CREATE TRIGGER consent_event_append_only BEFORE UPDATE OR DELETE ON privacy.consent_event
    FOR EACH ROW EXECUTE FUNCTION privacy.consent_event_guard();

-- what cancellation does to a table's rows
CREATE FUNCTION privacy.cancel_action(rel pg_catalog.regclass) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT COALESCE(
            (SELECT l.on_cancel FROM privacy.labels l
              WHERE l.relation = rel AND l.column_name IS NULL),
            (SELECT CASE WHEN pg_catalog.bool_or(c.on_cancel = 'keep until retention') THEN 'keep until retention'
                         WHEN pg_catalog.bool_or(c.on_cancel = 'anonymize') THEN 'anonymize'
                         WHEN pg_catalog.count(*) > 0 THEN 'delete' END
               FROM privacy.labels l
               LEFT JOIN privacy.category c ON c.name = l.category
              WHERE l.relation = rel AND l.column_name IS NOT NULL))
    $$;
COMMENT ON FUNCTION privacy.cancel_action(pg_catalog.regclass) IS
    'what cancellation does to the subject''s rows of a table: its ON CANCEL label, else what its columns'' categories need (keep until retention over anonymize over delete); NULL for a table without labels';
GRANT EXECUTE ON FUNCTION privacy.cancel_action(pg_catalog.regclass) TO PUBLIC;

-- The cancellation plan of every subject kind, from the labels and the
-- catalogs only (any subject), compiled once and kept per backend by
-- privacy.cancel_plan() until a relation or a label changes.  For a kind: the
-- tables its subjects own rows of (SUBJECT columns of the kind, owning foreign
-- keys from them), the tables whose rows refer to those (any foreign key),
-- each with its statements, in an order where a table comes after every
-- table it references (a cycle is one group, walked until nothing changes).
CREATE FUNCTION privacy.compile_cancel_plan() RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k text;
    plans jsonb := '{}'::jsonb;
    owned oid[];
    member oid[];
    ordered oid[];
    groups jsonb;
    pending oid[];
    ready oid[];
    t oid;
    tables jsonb;
    tb jsonb;
    f record;
    c record;
    fks jsonb;
    in_keys name[];
    nparam integer;
    owned_terms text[];
    shared_terms text[];
    into_terms text[];
    outs text[];
    subj_terms text[];
    subj_conds text[];
    subj_key_conds text[];
    nv integer;
    cond text;
    sets text[];
    col_sets jsonb;
    j integer;
    dist name;
    dist_find text;
    dist_stmt text;
    dist_key text;
    citus_problem text;
    free jsonb;
    nfree integer;
    moves boolean;
BEGIN
    FOR k IN SELECT DISTINCT w.kind FROM privacy.subject_walk() w ORDER BY 1 LOOP
        owned := ARRAY(SELECT DISTINCT w.relid FROM privacy.subject_walk() w WHERE w.kind = k);
        -- and the tables that refer to them
        member := owned || ARRAY(SELECT DISTINCT l.child FROM privacy.subject_links() l
                                  WHERE l.parent = ANY (owned) AND NOT l.child = ANY (owned));

        -- the order: a table after every table it references (a self
        -- reference aside); what a cycle leaves is one group, walked again
        -- until it settles
        ordered := '{}'::oid[];
        groups := '[]'::jsonb;
        pending := member;
        LOOP
            EXIT WHEN pg_catalog.cardinality(pending) = 0;
            ready := ARRAY(SELECT p FROM pg_catalog.unnest(pending) p
                            WHERE NOT EXISTS (SELECT 1 FROM privacy.subject_links() l
                                               WHERE l.child = p AND l.parent <> p AND l.parent = ANY (pending))
                            ORDER BY p);
            IF pg_catalog.cardinality(ready) = 0 THEN
                groups := groups || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                              'tables', pg_catalog.to_jsonb(ARRAY(SELECT p FROM pg_catalog.unnest(pending) p ORDER BY p)),
                              'cyclic', true));
                ordered := ordered || ARRAY(SELECT p FROM pg_catalog.unnest(pending) p ORDER BY p);
                EXIT;
            END IF;
            FOREACH t IN ARRAY ready LOOP
                groups := groups || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                              'tables', pg_catalog.jsonb_build_array(t),
                              'cyclic', EXISTS (SELECT 1 FROM privacy.subject_links() l
                                                 WHERE l.child = t AND l.parent = t)));
            END LOOP;
            ordered := ordered || ready;
            pending := ARRAY(SELECT p FROM pg_catalog.unnest(pending) p WHERE NOT p = ANY (ready));
        END LOOP;

        tables := '{}'::jsonb;
        FOREACH t IN ARRAY ordered LOOP
            -- the columns of t that keys of member tables reference
            in_keys := ARRAY(SELECT DISTINCT a.attname
                               FROM privacy.subject_links() l
                               JOIN pg_catalog.pg_constraint x ON x.oid = l.con
                               JOIN pg_catalog.pg_attribute a ON a.attrelid = t AND a.attnum = ANY (x.confkey)
                              WHERE l.parent = t AND l.child = ANY (member) AND t = ANY (owned)
                              ORDER BY 1);
            -- the keys of t to tables of the plan (to find rows and cut them),
            -- and, for a table the kind owns, its owning keys to any table
            -- (another owner makes a row shared)
            fks := '[]'::jsonb;
            FOR f IN
                SELECT l.con, l.parent, l.owning, l.parent = ANY (owned) AS parent_owned, x.confdeltype,
                       ARRAY(SELECT a.attname FROM pg_catalog.unnest(x.conkey) WITH ORDINALITY u(n, i)
                               JOIN pg_catalog.pg_attribute a ON a.attrelid = t AND a.attnum = u.n ORDER BY u.i) AS cols,
                       ARRAY(SELECT a.attname FROM pg_catalog.unnest(x.confkey) WITH ORDINALITY u(n, i)
                               JOIN pg_catalog.pg_attribute a ON a.attrelid = l.parent AND a.attnum = u.n ORDER BY u.i) AS pcols,
                       ARRAY(SELECT pg_catalog.format_type(privacy.base_type(a.atttypid), NULL)
                               FROM pg_catalog.unnest(x.conkey) WITH ORDINALITY u(n, i)
                               JOIN pg_catalog.pg_attribute a ON a.attrelid = t AND a.attnum = u.n ORDER BY u.i) AS bases,
                       NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                                    WHERE a.attrelid = t AND a.attnum = ANY (x.conkey) AND a.attnotnull) AS nullable,
                       ARRAY(SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid)
                               FROM pg_catalog.unnest(x.conkey) WITH ORDINALITY u(n, i)
                               LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = t AND d.adnum = u.n ORDER BY u.i) AS defaults
                  FROM privacy.subject_links() l
                  JOIN pg_catalog.pg_constraint x ON x.oid = l.con
                 WHERE l.child = t AND (l.parent = ANY (owned) OR (l.owning AND t = ANY (owned)))
                 ORDER BY l.con
            LOOP
                fks := fks || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                    'con', f.con, 'parent', f.parent, 'owning', f.owning, 'parent_owned', f.parent_owned,
                    'cols', f.cols, 'pcols', f.pcols, 'bases', f.bases,
                    'severable', f.nullable OR f.confdeltype = 'd', 'set_default', f.confdeltype = 'd',
                    'defaults', f.defaults, 'on_delete', f.confdeltype::text));
            END LOOP;

            -- the statement that finds the rows of t: owned (by a SUBJECT
            -- column of the kind holding the subject, or an owning key to an
            -- owned row), shared (somebody else owns it too), whether each key
            -- points into an owned row and its value, and the values of the
            -- columns other keys reference; $1[1] is the subject, then per
            -- key to an owned table the keys of all owned rows, per column,
            -- and (owning keys) of the rows the subject owns alone
            nparam := 1;
            owned_terms := '{}'::text[];
            shared_terms := '{}'::text[];
            into_terms := '{}'::text[];
            outs := '{}'::text[];
            subj_terms := '{}'::text[];
            subj_conds := '{}'::text[];
            subj_key_conds := '{}'::text[];
            FOR c IN
                SELECT a.attname, l.subject_kind, privacy.subject_compare_type(a.atttypid) AS cmp,
                       -- cleared only where nothing refers to it: a key other tables reference
                       -- (by it alone); never: a NOT NULL column of a key of its own, or part
                       -- of a key others reference with more columns
                       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.contype = 'f'
                                  AND ((x.conrelid = t AND a.attnum = ANY (x.conkey) AND a.attnotnull)
                                    OR (x.confrelid = t AND a.attnum = ANY (x.confkey)))) AS keyed,
                       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.contype = 'f'
                                  AND x.confrelid = t AND a.attnum = ANY (x.confkey))
                       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.contype = 'f'
                                          AND ((x.conrelid = t AND a.attnum = ANY (x.conkey))
                                            OR (x.confrelid = t AND a.attnum = ANY (x.confkey) AND x.confkey <> ARRAY[a.attnum])))
                         AS key_free
                  FROM privacy.labels l
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = t AND a.attname = l.column_name
                 WHERE l.relation = t::pg_catalog.regclass AND l.subject
                 ORDER BY a.attnum
            LOOP
                IF c.subject_kind = k THEN
                    subj_terms := subj_terms || c.attname::text;
                    -- (a key column of a foreign key: cleared only where nothing refers to it)
                    IF c.key_free THEN
                        subj_key_conds := subj_key_conds || pg_catalog.format('t.%I = ($1[1])::%s', c.attname, c.cmp);
                    ELSIF c.keyed THEN
                        NULL;
                    ELSE
                        subj_conds := subj_conds || pg_catalog.format('t.%I = ($1[1])::%s', c.attname, c.cmp);
                    END IF;
                    owned_terms := owned_terms || pg_catalog.format('t.%I = ($1[1])::%s', c.attname, c.cmp);
                    shared_terms := shared_terms || pg_catalog.format('t.%I <> ($1[1])::%s', c.attname, c.cmp);
                ELSE
                    shared_terms := shared_terms || pg_catalog.format('t.%I IS NOT NULL', c.attname);
                END IF;
            END LOOP;
            -- a Citus distributed table: every statement is routed by its
            -- distribution column, which must be a SUBJECT column of the kind
            -- (its rows of the subject are then all in the subject's shard
            -- group, and a ctid means a row of that shard); it stays as it is
            -- (doc/citus.md)
            dist := privacy.citus_distribution(t::pg_catalog.regclass);
            dist_find := NULL;
            dist_stmt := NULL;
            dist_key := NULL;
            citus_problem := NULL;
            IF dist = '' THEN
                -- a Citus reference table: every node holds it whole, a ctid
                -- names a row of one placement only; its rows are named by
                -- their primary key instead (privacy.citus_row_tid, below)
                dist_key := (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I::pg_catalog.text', a.attname), ', '
                                                          ORDER BY pg_catalog.array_position(i.indkey::smallint[], a.attnum))
                               FROM pg_catalog.pg_index i
                               JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::smallint[])
                              WHERE i.indrelid = t AND i.indisprimary);
                IF dist_key IS NULL THEN
                    citus_problem := pg_catalog.format('table %s is a Citus reference table without a primary key: its rows cannot be named alike on every node',
                                                       t::pg_catalog.regclass);
                END IF;
            ELSIF dist IS NOT NULL AND NOT dist::text = ANY (subj_terms) THEN
                citus_problem := pg_catalog.format('table %s is distributed by column %I, which is not a SUBJECT column of kind %s: the subject''s rows may be in any shard',
                                                   t::pg_catalog.regclass, dist, k);
            ELSIF dist IS NOT NULL THEN
                SELECT pg_catalog.format('t.%I = ($1[1])::%s', a.attname, privacy.subject_compare_type(a.atttypid)),
                       pg_catalog.format(' AND t.%I = ($1[2])::%s', a.attname, privacy.subject_compare_type(a.atttypid))
                  INTO dist_find, dist_stmt
                  FROM pg_catalog.pg_attribute a WHERE a.attrelid = t AND a.attname = dist;
                -- (the templates are format() strings: a % in the name is doubled)
                dist_find := pg_catalog.replace(dist_find, '%', '%%');
                dist_stmt := pg_catalog.replace(dist_stmt, '%', '%%');
            END IF;
            j := 0;
            FOR f IN SELECT e.value AS fk, e.ordinality AS i FROM pg_catalog.jsonb_array_elements(fks) WITH ORDINALITY e LOOP
                -- (an owning key to a table the kind does not own says nothing of
                -- this kind's subjects: another kind's ownership of the row counts
                -- only through a SUBJECT column of the row, above)
                CONTINUE WHEN NOT (f.fk->>'parent_owned')::boolean;
                j := j + 1;
                -- the keys of every owned row of the parent
                cond := privacy.key_in_sql(f.fk, nparam + 1);
                tb := pg_catalog.jsonb_build_object('all', nparam + 1);
                nparam := nparam + pg_catalog.jsonb_array_length(f.fk->'cols');
                into_terms := into_terms || cond;
                outs := outs || pg_catalog.format('COALESCE(%s, false)::pg_catalog.text', cond);
                outs := outs || pg_catalog.format('CASE WHEN %s THEN NULL ELSE ARRAY[%s]::pg_catalog.text[]::pg_catalog.text END',
                    (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I IS NULL', x), ' OR ')
                       FROM pg_catalog.jsonb_array_elements_text(f.fk->'cols') x),
                    (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I::pg_catalog.text', x), ', ' ORDER BY o)
                       FROM pg_catalog.jsonb_array_elements_text(f.fk->'cols') WITH ORDINALITY x(x, o)));
                IF (f.fk->>'owning')::boolean AND t = ANY (owned) THEN
                    owned_terms := owned_terms || cond;
                    -- and of the rows the subject owns alone: another owner otherwise
                    shared_terms := shared_terms || pg_catalog.format('(%s AND NOT %s)',
                        (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I IS NOT NULL', x), ' AND ')
                           FROM pg_catalog.jsonb_array_elements_text(f.fk->'cols') x),
                        privacy.key_in_sql(f.fk, nparam + 1));
                    tb := tb || pg_catalog.jsonb_build_object('excl', nparam + 1);
                    nparam := nparam + pg_catalog.jsonb_array_length(f.fk->'cols');
                END IF;
                fks := pg_catalog.jsonb_set(fks, ARRAY[(f.i - 1)::text], f.fk || pg_catalog.jsonb_build_object('param', tb, 'slot', j));
            END LOOP;
            nv := 2 + pg_catalog.cardinality(outs);
            cond := CASE WHEN pg_catalog.cardinality(owned_terms) = 0 THEN 'false'
                         ELSE '(' || pg_catalog.array_to_string(owned_terms, ' OR ') || ')' END;
            tb := pg_catalog.jsonb_build_object(
                'relid', t, 'rel', t::pg_catalog.regclass::text, 'owned', t = ANY (owned),
                'cyclic', EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(groups) gg(x)
                                   WHERE (gg.x->>'cyclic')::boolean AND (gg.x->'tables') @> pg_catalog.jsonb_build_array(t)),
                'action', privacy.cancel_action(t::pg_catalog.regclass),
                'fks', fks, 'in_keys', pg_catalog.to_jsonb(in_keys), 'in_keys_at', nv + 1,
                -- (the last values: whether a SUBJECT column of the kind holds the
                -- subject, one that is no key column, and one that is)
                'holds_at', nv + pg_catalog.cardinality(in_keys),
                'holds_key_at', nv + pg_catalog.cardinality(in_keys) + 1,
                'has_subject', pg_catalog.cardinality(subj_terms) > 0,
                'citus_problem', citus_problem,
                'find', CASE WHEN pg_catalog.cardinality(owned_terms) + pg_catalog.cardinality(into_terms) = 0 THEN NULL
                    -- (a key that is NULL makes a term NULL: a row is owned, or
                    -- shared, only where a term is true)
                    ELSE pg_catalog.format('SELECT %s, t.ctid, COALESCE(%s, false)::pg_catalog.text, COALESCE(%s AND (%s), false)::pg_catalog.text%s%s, COALESCE(%s, false)::pg_catalog.text, COALESCE(%s, false)::pg_catalog.text FROM %s t WHERE %s',
                        CASE WHEN dist_find IS NULL THEN 't.tableoid' ELSE pg_catalog.format('%s::pg_catalog.oid', t) END,
                        cond, cond,
                        CASE WHEN pg_catalog.cardinality(shared_terms) = 0 THEN 'false'
                             ELSE pg_catalog.array_to_string(shared_terms, ' OR ') END,
                        (SELECT pg_catalog.string_agg(', ' || o, '') FROM pg_catalog.unnest(outs) o),
                        (SELECT pg_catalog.string_agg(pg_catalog.format(', t.%I::pg_catalog.text', x), '')
                           FROM pg_catalog.unnest(in_keys) x),
                        CASE WHEN pg_catalog.cardinality(subj_conds) = 0 THEN 'false'
                             ELSE pg_catalog.array_to_string(subj_conds, ' OR ') END,
                        CASE WHEN pg_catalog.cardinality(subj_key_conds) = 0 THEN 'false'
                             ELSE pg_catalog.array_to_string(subj_key_conds, ' OR ') END,
                        t::pg_catalog.regclass,
                        CASE WHEN dist_find IS NULL THEN pg_catalog.array_to_string(ARRAY[cond] || into_terms, ' OR ')
                             ELSE '(' || pg_catalog.array_to_string(ARRAY[cond] || into_terms, ' OR ') || ') AND ' || dist_find END) END);

            -- the statement that changes the rows of one partition of t that
            -- stay: $1[1] the subject, $1[2] every row it changes, $1[3] rows
            -- anonymized (their labelled columns), $1[4] rows whose SUBJECT
            -- columns of the kind lose the subject, then per key to an owned
            -- table the rows whose key is cut
            col_sets := '{}'::jsonb;
            free := '[]'::jsonb;
            nfree := 0;
            FOR f IN SELECT e.value AS fk FROM pg_catalog.jsonb_array_elements(fks) e
                      WHERE (e.value->>'parent_owned')::boolean AND (e.value->>'severable')::boolean LOOP
                FOR c IN SELECT x AS col, o FROM pg_catalog.jsonb_array_elements_text(f.fk->'cols') WITH ORDINALITY x(x, o) LOOP
                    CONTINUE WHEN c.col = dist;
                    col_sets := col_sets || pg_catalog.jsonb_build_object(c.col,
                        COALESCE(col_sets->c.col, '[]'::jsonb) || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                            'when', pg_catalog.format('t.ctid = ANY (($1[%s])::pg_catalog.tid[])', 4 + (f.fk->>'slot')::integer),
                            'then', CASE WHEN (f.fk->>'set_default')::boolean
                                         THEN COALESCE(f.fk->'defaults'->>((c.o - 1)::integer), 'NULL')
                                         ELSE 'NULL' END)));
                END LOOP;
            END LOOP;
            FOR c IN
                SELECT a.attname, a.attnotnull, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ, a.atttypid, a.atttypmod,
                       l.subject, l.subject_kind, l.category, privacy.subject_compare_type(a.atttypid) AS cmp,
                       EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = t AND i.indisunique
                                  AND a.attnum = ANY (i.indkey::smallint[])) AS is_unique,
                       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.contype = 'f'
                                  AND ((x.conrelid = t AND a.attnum = ANY (x.conkey))
                                    OR (x.confrelid = t AND a.attnum = ANY (x.confkey)))) AS keyed,
                       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.contype = 'f'
                                  AND x.confrelid = t AND a.attnum = ANY (x.confkey)) AS referenced,
                       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.contype = 'f'
                                  AND x.conrelid = t AND a.attnum = ANY (x.conkey)) AS fkcol,
                       -- a key other tables reference by this column alone, and not one of its own
                       NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.contype = 'f'
                                      AND ((x.conrelid = t AND a.attnum = ANY (x.conkey))
                                        OR (x.confrelid = t AND a.attnum = ANY (x.confkey) AND x.confkey <> ARRAY[a.attnum])))
                         AS referenced_alone,
                       -- (con: the key, to find its rows in the plan; clears: its column is a
                       -- nullable SUBJECT column of the kind, cleared with the subject's side)
                       ARRAY(SELECT pg_catalog.jsonb_build_object('rel', x.conrelid, 'col', ca.attname, 'con', x.oid,
                                        'clears', NOT ca.attnotnull AND EXISTS (
                                            SELECT 1 FROM privacy.labels cl
                                             WHERE cl.relation = x.conrelid::pg_catalog.regclass AND cl.column_name = ca.attname
                                               AND cl.subject AND cl.subject_kind = k))
                               FROM pg_catalog.pg_constraint x
                               JOIN pg_catalog.pg_attribute ca ON ca.attrelid = x.conrelid AND ca.attnum = x.conkey[1]
                              WHERE x.contype = 'f' AND x.confrelid = t AND x.confkey = ARRAY[a.attnum]
                              ORDER BY x.oid) AS refs
                  FROM pg_catalog.pg_attribute a
                  JOIN privacy.labels l ON l.relation = t::pg_catalog.regclass AND l.column_name = a.attname
                 WHERE a.attrelid = t AND a.attnum > 0 AND NOT a.attisdropped
                   AND a.attgenerated = '' AND a.attidentity = ''
                 ORDER BY a.attnum
            LOOP
                CONTINUE WHEN c.attname = dist;
                IF c.subject THEN
                    CONTINUE WHEN c.subject_kind <> k;
                    IF c.referenced THEN
                        -- a key other tables reference: cleared where no row refers to
                        -- the subject through it any more (cancel_step asks them, as
                        -- their owners, after their own steps); else it stays (a stub)
                        CONTINUE WHEN NOT c.referenced_alone;
                        nfree := nfree + 1;
                        free := free || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                            'refs', pg_catalog.to_jsonb(c.refs), 'cmp', c.cmp));
                        cond := pg_catalog.format('t.ctid = ANY (($1[4])::pg_catalog.tid[]) AND t.%I = ($1[1])::%s AND ($1[%s])::pg_catalog.bool',
                                                  c.attname, c.cmp, 4 + j + nfree);
                    ELSE
                        -- (a NOT NULL column of a key of its own stays; a nullable one
                        -- is set to NULL, after any cut of that key)
                        CONTINUE WHEN c.fkcol AND c.attnotnull;
                        cond := pg_catalog.format('t.ctid = ANY (($1[4])::pg_catalog.tid[]) AND t.%I = ($1[1])::%s', c.attname, c.cmp);
                    END IF;
                    col_sets := col_sets || pg_catalog.jsonb_build_object(c.attname, COALESCE(col_sets->c.attname, '[]'::jsonb)
                        || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                        'when', cond,
                        'then', CASE WHEN NOT c.attnotnull THEN pg_catalog.format('NULL::%s', c.typ)
                                     WHEN c.is_unique THEN privacy.unique_anonymous_sql(pg_catalog.format('t.%I', c.attname), NULL, c.atttypid::pg_catalog.regtype, c.atttypmod)
                                     ELSE COALESCE(privacy.placeholder_sql(pg_catalog.format('t.%I', c.attname), c.atttypid::pg_catalog.regtype, NULL, c.atttypmod),
                                                   pg_catalog.format('privacy.anonymous_value(t.%I, NULL, false)::%s', c.attname, c.typ)) END)));
                    CONTINUE;
                END IF;
                CONTINUE WHEN c.keyed OR col_sets ? c.attname;
                IF c.category IS NOT NULL AND privacy.anonymous_sql(t, c.attname) IS NOT NULL THEN
                    col_sets := col_sets || pg_catalog.jsonb_build_object(c.attname, pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                        'when', 't.ctid = ANY (($1[3])::pg_catalog.tid[])',
                        'then', privacy.anonymous_sql(t, c.attname))));
                END IF;
            END LOOP;
            moves := EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(t) pt
                               JOIN pg_catalog.pg_partitioned_table pp ON pp.partrelid = pt.relid
                               JOIN pg_catalog.pg_attribute a ON a.attrelid = pt.relid AND a.attnum = ANY (pp.partattrs::smallint[])
                              WHERE col_sets ? a.attname);
            sets := ARRAY(SELECT pg_catalog.format('%I = CASE %s ELSE t.%I END', e.key,
                                     (SELECT pg_catalog.string_agg(pg_catalog.format('WHEN %s THEN %s', w->>'when', w->>'then'), ' ')
                                        FROM pg_catalog.jsonb_array_elements(e.value) w), e.key)
                            FROM pg_catalog.jsonb_each(col_sets) e ORDER BY e.key);
            tb := tb || pg_catalog.jsonb_build_object(
                'free', free,
                -- a change of a partition key moves the row to another partition:
                -- the UPDATE goes through the root, the partition's rows by tableoid
                'moves', moves,
                'update', CASE WHEN pg_catalog.cardinality(sets) = 0 THEN NULL
                               WHEN moves
                               THEN 'UPDATE ' || pg_catalog.replace(t::pg_catalog.regclass::text, '%', '%%') || ' t SET '
                                    || pg_catalog.array_to_string(sets, ', ')
                                    || ' WHERE t.tableoid = %L::pg_catalog.regclass AND t.ctid = ANY (($1[2])::pg_catalog.tid[])'
                               ELSE 'UPDATE ONLY %s t SET ' || pg_catalog.array_to_string(sets, ', ')
                                    || ' WHERE t.ctid = ANY (($1[2])::pg_catalog.tid[])'
                                    || COALESCE(' AND ' || dist_find, '') END,
                'cut', 'UPDATE ONLY %s t SET ' || COALESCE((SELECT pg_catalog.string_agg(DISTINCT pg_catalog.format('%I = %s', x,
                                   CASE WHEN (e.value->>'set_default')::boolean THEN 'DEFAULT' ELSE 'NULL' END), ', ')
                           FROM pg_catalog.jsonb_array_elements(fks) e, pg_catalog.jsonb_array_elements_text(e.value->'cols') x
                          WHERE (e.value->>'parent_owned')::boolean AND (e.value->>'severable')::boolean
                            AND x IS DISTINCT FROM dist::text), 'ctid = ctid')
                       || ' WHERE t.ctid = ANY (($1[1])::pg_catalog.tid[])' || COALESCE(dist_stmt, '')
                       || ' RETURNING ' || CASE WHEN dist_stmt IS NULL THEN 't.tableoid' ELSE pg_catalog.format('%s::pg_catalog.oid', t) END
                       || ', t.ctid',
                'delete', 'DELETE FROM ONLY %s t WHERE t.ctid = ANY (($1[1])::pg_catalog.tid[])' || COALESCE(dist_stmt, ''));
            IF dist_stmt IS NOT NULL THEN
                -- Citus refuses the STABLE cast to tid[] in a CASE: the IMMUTABLE helper
                tb := tb || (SELECT pg_catalog.jsonb_object_agg(x, pg_catalog.regexp_replace(tb->>x,
                                 '\(\(\$1\[([0-9]+)\]\)::pg_catalog\.tid\[\]\)', '(privacy.tid_array($1[\1]))', 'g'))
                               FROM pg_catalog.unnest(ARRAY['update', 'cut', 'delete']) x
                              WHERE tb->>x IS NOT NULL);
            END IF;
            IF dist_key IS NOT NULL THEN
                -- a reference table's rows by their key on every placement (the
                -- statements change every placement; the table stands for them)
                tb := tb || (SELECT pg_catalog.jsonb_object_agg(x, pg_catalog.replace(pg_catalog.replace(
                                 pg_catalog.regexp_replace(tb->>x, '\(\(\$1\[([0-9]+)\]\)::pg_catalog\.tid\[\]\)', '(privacy.tid_array($1[\1]))', 'g'),
                                 't.ctid', 'privacy.citus_row_tid(' || CASE x WHEN 'find' THEN dist_key ELSE pg_catalog.replace(dist_key, '%', '%%') END || ')'),
                                 't.tableoid', pg_catalog.format('%s::pg_catalog.oid', t)))
                               FROM pg_catalog.unnest(ARRAY['find', 'update', 'cut', 'delete']) x
                              WHERE tb->>x IS NOT NULL);
            END IF;
            tables := tables || pg_catalog.jsonb_build_object(t::text, tb);
        END LOOP;
        plans := plans || pg_catalog.jsonb_build_object(k, pg_catalog.jsonb_build_object(
                     'groups', groups, 'tables', tables, 'order', pg_catalog.to_jsonb(ordered)));
    END LOOP;
    RETURN plans;
END
$$;
COMMENT ON FUNCTION privacy.compile_cancel_plan() IS
    'internal: the cancellation plan of each subject kind, from the labels and the catalogs: the tables its subjects own rows of and the tables that refer to them, in order, with the statements that find, change and delete their rows';
REVOKE ALL ON FUNCTION privacy.compile_cancel_plan() FROM PUBLIC;

-- the condition that a row's key f (of the plan) is among the keys given as
-- $1[first] (one array per column, the parent's values as text, converted by
-- the statement, which runs as the table's owner)
CREATE FUNCTION privacy.key_in_sql(f jsonb, first integer) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE WHEN pg_catalog.jsonb_array_length(f->'cols') = 1
                    THEN pg_catalog.format('t.%I = ANY ((($1[%s])::pg_catalog.text[])::%s[])', f->'cols'->>0, first, f->'bases'->>0)
                    ELSE pg_catalog.format('(%s) IN (SELECT %s FROM ROWS FROM (%s) AS u(%s))',
                             (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', x), ', ' ORDER BY o)
                                FROM pg_catalog.jsonb_array_elements_text(f->'cols') WITH ORDINALITY x(x, o)),
                             (SELECT pg_catalog.string_agg(pg_catalog.format('u.v%s::%s', o, f->'bases'->>((o - 1)::integer)), ', ' ORDER BY o)
                                FROM pg_catalog.jsonb_array_elements_text(f->'cols') WITH ORDINALITY x(x, o)),
                             (SELECT pg_catalog.string_agg(pg_catalog.format('pg_catalog.unnest(($1[%s])::pg_catalog.text[])', first + o - 1), ', ' ORDER BY o)
                                FROM pg_catalog.jsonb_array_elements_text(f->'cols') WITH ORDINALITY x(x, o)),
                             (SELECT pg_catalog.string_agg('v' || o, ', ' ORDER BY o)
                                FROM pg_catalog.jsonb_array_elements_text(f->'cols') WITH ORDINALITY x(x, o))) END
    $$;
COMMENT ON FUNCTION privacy.key_in_sql(jsonb, integer) IS
    'internal: the SQL condition that a row''s foreign key (of the cancellation plan) is among keys passed as text arrays';
REVOKE ALL ON FUNCTION privacy.key_in_sql(jsonb, integer) FROM PUBLIC;

CREATE FUNCTION privacy.cancel_plan() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'privacy_cancel_plan'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.cancel_plan() IS
    'the cancellation plans (privacy.compile_cancel_plan), kept per backend until a relation or a label changes';
REVOKE ALL ON FUNCTION privacy.cancel_plan() FROM PUBLIC;

-- The rows of a subject: for each table of its kind's plan, the rows it owns
-- (alone or with others) and the rows that refer to one of them, locked, with
-- what the plan's statements say of each (vals: owned, shared, per key into
-- an owned row whether it does and its value, then the values of the columns
-- other keys reference).  Each table is read once (a cycle: until nothing
-- changes), by one statement, as its owner, with the keys found before it.
CREATE FUNCTION privacy.subject_rows(plan jsonb, canonical text, lock text DEFAULT 'UPDATE')
    RETURNS TABLE (relid oid, part oid, tid pg_catalog.tid, vals text[])
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    g jsonb;
    t text;
    tb jsonb;
    f jsonb;
    got jsonb := '{}'::jsonb;
    keys jsonb := '{}'::jsonb;
    args text[];
    r record;
    rows jsonb;
    any_key boolean;
    before bigint;
    after bigint;
    rounds integer;
    phase text;
    frozen jsonb;
    in_group boolean;
BEGIN
    IF plan IS NULL THEN
        RETURN;
    END IF;
    FOR g IN SELECT e FROM pg_catalog.jsonb_array_elements(plan->'groups') e LOOP
        -- a table (or a cycle of tables) whose parents are all read: one read.
        -- A cycle is read in three phases, each until nothing changes (the
        -- model's order, doc/cancellation.md): A, the rows the subject owns
        -- through any owning key (keys of every owned row); B, which of them
        -- are shared (an owning key to a row it does not own alone), with A's
        -- rows kept; C, one read with the keys of the rows it owns alone, as
        -- a table outside a cycle is read.
        phase := CASE WHEN (g->>'cyclic')::boolean THEN 'A' ELSE 'C' END;
        frozen := '{}'::jsonb;
        rounds := 0;
        LOOP
            before := (SELECT COALESCE(pg_catalog.sum((SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements(keys->x) e
                                                         WHERE phase = 'A' OR (e->>'shared')::boolean)), 0)::bigint
                         FROM pg_catalog.jsonb_array_elements_text(g->'tables') x);
            FOR t IN SELECT x FROM pg_catalog.jsonb_array_elements_text(g->'tables') x LOOP
                tb := plan->'tables'->t;
                CONTINUE WHEN tb->>'find' IS NULL;
                args := ARRAY[canonical];
                any_key := (tb->>'has_subject')::boolean;
                FOR f IN SELECT e FROM pg_catalog.jsonb_array_elements(tb->'fks') e
                          WHERE (e->>'parent_owned')::boolean ORDER BY (e->>'slot')::integer LOOP
                    in_group := (g->'tables') ? (f->>'parent');
                    -- the keys of the parent's rows the subject owns alone, one
                    -- array per column: a row another subject owns too stays (its
                    -- other side is kept), so what hangs from it is that subject's
                    -- too and is neither followed nor cut (in a cycle's phases A
                    -- and B: see above)
                    FOR at IN 0 .. pg_catalog.jsonb_array_length(f->'pcols') - 1 LOOP
                        args := args || ARRAY(SELECT e->'v'->>(f->'pcols'->>at)
                                                FROM pg_catalog.jsonb_array_elements(
                                                         CASE WHEN in_group AND phase = 'B' THEN frozen->(f->>'parent')
                                                              ELSE keys->(f->>'parent') END) e
                                               WHERE (in_group AND phase IN ('A', 'B')) OR NOT (e->>'shared')::boolean)::text;
                    END LOOP;
                    IF f->'param' ? 'excl' THEN
                        FOR at IN 0 .. pg_catalog.jsonb_array_length(f->'pcols') - 1 LOOP
                            args := args || ARRAY(SELECT e->'v'->>(f->'pcols'->>at)
                                                    FROM pg_catalog.jsonb_array_elements(keys->(f->>'parent')) e
                                                   WHERE (in_group AND phase = 'A') OR NOT (e->>'shared')::boolean)::text;
                        END LOOP;
                    END IF;
                    any_key := any_key OR pg_catalog.jsonb_array_length(COALESCE(keys->(f->>'parent'), '[]'::jsonb)) > 0;
                END LOOP;
                CONTINUE WHEN NOT any_key;
                rows := '[]'::jsonb;
                FOR r IN SELECT o.part, o.tid, o.vals
                           FROM privacy.owner_rows(t::oid::pg_catalog.regclass,
                                    (tb->>'find') || CASE lock WHEN 'SHARE' THEN ' FOR SHARE OF t' WHEN 'NONE' THEN '' ELSE ' FOR UPDATE OF t' END, args) o LOOP
                    rows := rows || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                                'p', r.part, 't', r.tid::text, 'v', pg_catalog.to_jsonb(r.vals)));
                END LOOP;
                got := got || pg_catalog.jsonb_build_object(t, rows);
                -- what the tables after it look for: the referenced values of its owned rows
                keys := keys || pg_catalog.jsonb_build_object(t, COALESCE((
                    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                               'shared', (e->'v'->>1)::boolean,
                               'v', (SELECT COALESCE(pg_catalog.jsonb_object_agg(k.k, e->'v'->>(((tb->>'in_keys_at')::integer + k.o - 2)::integer)), '{}'::jsonb)
                                       FROM pg_catalog.jsonb_array_elements_text(tb->'in_keys') WITH ORDINALITY k(k, o))))
                      FROM pg_catalog.jsonb_array_elements(rows) e
                     WHERE (e->'v'->>0)::boolean), '[]'::jsonb));
            END LOOP;
            after := (SELECT COALESCE(pg_catalog.sum((SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements(keys->x) e
                                                        WHERE phase = 'A' OR (e->>'shared')::boolean)), 0)::bigint
                        FROM pg_catalog.jsonb_array_elements_text(g->'tables') x);
            rounds := rounds + 1;
            EXIT WHEN phase = 'C' OR rounds > 10000;
            IF after = before THEN
                IF phase = 'A' THEN
                    -- every row the subject owns in the cycle: kept through B
                    frozen := (SELECT COALESCE(pg_catalog.jsonb_object_agg(x, COALESCE(keys->x, '[]'::jsonb)), '{}'::jsonb)
                                 FROM pg_catalog.jsonb_array_elements_text(g->'tables') x);
                    phase := 'B';
                ELSE
                    phase := 'C';
                END IF;
            END IF;
        END LOOP;
    END LOOP;
    RETURN QUERY
        SELECT x.key::oid, (e->>'p')::oid, (e->>'t')::pg_catalog.tid,
               ARRAY(SELECT v FROM pg_catalog.jsonb_array_elements_text(e->'v') v)
          FROM pg_catalog.jsonb_each(got) x, pg_catalog.jsonb_array_elements(x.value) e;
END
$$;
COMMENT ON FUNCTION privacy.subject_rows(jsonb, text, text) IS
    'internal: the rows of a subject (canonical form) in every table of its kind''s cancellation plan, owned or referring to owned rows, locked FOR UPDATE (lock SHARE: FOR SHARE, for a legal hold''s rows; NONE: not locked, for an export); each table read once by one statement as its owner';
REVOKE ALL ON FUNCTION privacy.subject_rows(jsonb, text, text) FROM PUBLIC;

-- Whether a SUBJECT column of a table of the plan that other tables reference
-- (alone) is free to be cleared: no row refers to the subject through it (any
-- of them, for a table with several); each referencing table is asked as its
-- owner
CREATE FUNCTION privacy.cancel_key_free(tb jsonb, canonical text) RETURNS boolean
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT EXISTS (
            SELECT 1 FROM pg_catalog.jsonb_array_elements(COALESCE(tb->'free', '[]'::jsonb)) f
             WHERE NOT EXISTS (
                 SELECT 1 FROM pg_catalog.jsonb_array_elements(f->'refs') r
                  WHERE privacy.owner_exec_value((r->>'rel')::oid::pg_catalog.regclass,
                            pg_catalog.format('SELECT EXISTS (SELECT 1 FROM %s c WHERE c.%I = ($1[1])::%s)',
                                (r->>'rel')::oid::pg_catalog.regclass, r->>'col', f->>'cmp'),
                            ARRAY[canonical])::boolean))
    $$;
COMMENT ON FUNCTION privacy.cancel_key_free(jsonb, text) IS
    'internal: whether a referenced SUBJECT key of a table of the cancellation plan may be cleared: no row of the tables that reference it refers to the subject through it (asked as their owners)';
REVOKE ALL ON FUNCTION privacy.cancel_key_free(jsonb, text) FROM PUBLIC;

-- Whether, once the tables that reference it have had their steps, no row
-- refers to the subject through a referenced SUBJECT key of table tb (of
-- the plan): every row that does now (counted as its table's owner) is one
-- of the plan whose fate removes the reference (deleted, its key cut, or
-- its SUBJECT column cleared); got and fate as in cancel_work
CREATE FUNCTION privacy.cancel_key_freed(plan jsonb, tb jsonb, canonical text, got jsonb, fate jsonb) RETURNS boolean
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT EXISTS (
            SELECT 1 FROM pg_catalog.jsonb_array_elements(COALESCE(tb->'free', '[]'::jsonb)) f
             WHERE NOT EXISTS (
                 SELECT 1 FROM pg_catalog.jsonb_array_elements(f->'refs') r
                  WHERE privacy.owner_exec_value((r->>'rel')::oid::pg_catalog.regclass,
                            pg_catalog.format('SELECT pg_catalog.count(*) FROM %s c WHERE c.%I = ($1[1])::%s',
                                (r->>'rel')::oid::pg_catalog.regclass, r->>'col', f->>'cmp'),
                            ARRAY[canonical])::bigint
                        > (SELECT pg_catalog.count(*)
                             FROM pg_catalog.jsonb_array_elements(COALESCE(got->(r->>'rel'), '[]'::jsonb)) WITH ORDINALITY g(x, o),
                                  pg_catalog.jsonb_array_elements(plan->'tables'->(r->>'rel')->'fks') k
                            WHERE (k->>'con') = (r->>'con') AND (k->>'parent_owned')::boolean
                              AND (g.x->'v'->>(2 * (k->>'slot')::integer + 1))::text[] = ARRAY[canonical]
                              AND (fate->(r->>'rel')->>((g.o - 1)::integer) = 'delete'
                                   OR (fate->(r->>'rel')->>((g.o - 1)::integer) IN ('anonymize', 'side', 'sever', 'stub')
                                       AND (k->>'severable')::boolean
                                       AND COALESCE((g.x->'v'->>(2 * (k->>'slot')::integer))::boolean, false))
                                   OR (fate->(r->>'rel')->>((g.o - 1)::integer) IN ('anonymize', 'side', 'stub')
                                       AND (r->>'clears')::boolean)))))
    $$;
COMMENT ON FUNCTION privacy.cancel_key_freed(jsonb, jsonb, text, jsonb, jsonb) IS
    'internal: whether a referenced SUBJECT key of a table of the cancellation plan will be free to clear once the referencing tables have had their steps: every row that refers to the subject through it is one of the plan whose fate removes the reference';
REVOKE ALL ON FUNCTION privacy.cancel_key_freed(jsonb, jsonb, text, jsonb, jsonb) FROM PUBLIC;

-- One step of a cancellation: the UPDATE of a table's (partition's) rows that
-- stay and the DELETE of those that go, as the table's owner; cut is what an
-- earlier step's cut of keys made of the partition's ctids (old, new)
CREATE FUNCTION privacy.cancel_step(tb jsonb, t text, part oid, upd text[], anon text[], clear text[], del text[],
                                    upd_rows jsonb, cut jsonb, canonical text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    step regclass := t::oid::pg_catalog.regclass;
    args text[];
    f jsonb;
    n bigint;
BEGIN
    IF upd IS NOT NULL AND tb->>'update' IS NOT NULL THEN
        args := ARRAY[canonical, upd::text, COALESCE(anon, '{}')::text, COALESCE(clear, '{}')::text];
        FOR f IN SELECT x FROM pg_catalog.jsonb_array_elements(tb->'fks') x
                  WHERE (x->>'parent_owned')::boolean ORDER BY (x->>'slot')::integer LOOP
            args := args || ARRAY(SELECT u->>'t' FROM pg_catalog.jsonb_array_elements(upd_rows) u
                                   WHERE COALESCE((u->'v'->>(2 * (f->>'slot')::integer))::boolean, false))::text;
        END LOOP;
        -- per referenced SUBJECT key: whether no row refers to the subject through it
        FOR f IN SELECT x FROM pg_catalog.jsonb_array_elements(COALESCE(tb->'free', '[]'::jsonb)) WITH ORDINALITY y(x, o) ORDER BY y.o LOOP
            args := args || privacy.cancel_key_free(pg_catalog.jsonb_build_object('free', pg_catalog.jsonb_build_array(f)), canonical)::text;
        END LOOP;
        n := privacy.owner_exec(CASE WHEN COALESCE((tb->>'moves')::boolean, false) THEN step ELSE part::pg_catalog.regclass END,
                 pg_catalog.format(tb->>'update', part::pg_catalog.regclass), args);
        IF n <> pg_catalog.cardinality(upd) THEN
            RAISE EXCEPTION 'rows of table % changed while the cancellation erased them', step
                USING ERRCODE = 'serialization_failure',
                      DETAIL = 'A trigger of another table changed them; nothing was changed.',
                      HINT = 'Run the cancellation again.';
        END IF;
    END IF;
    IF del IS NOT NULL THEN
        IF cut ? (part::text) THEN
            del := ARRAY(SELECT x FROM pg_catalog.unnest(del) x
                            WHERE NOT (cut->(part::text)->'old') ? x)
                     || ARRAY(SELECT x FROM pg_catalog.jsonb_array_elements_text(cut->(part::text)->'new') x);
        END IF;
        n := privacy.owner_exec(part::pg_catalog.regclass,
                 pg_catalog.format(tb->>'delete', part::pg_catalog.regclass), ARRAY[del::text, canonical]);
        -- in a cycle, a DELETE of the group before this one may have removed
        -- rows of this step through the schema's ON DELETE CASCADE: they are
        -- gone, as planned; a row still there was refused (a trigger)
        IF n < pg_catalog.cardinality(del) AND COALESCE((tb->>'cyclic')::boolean, false) THEN
            n := n + pg_catalog.cardinality(del) - privacy.owner_exec_value(part::pg_catalog.regclass,
                     pg_catalog.format('SELECT pg_catalog.count(*) FROM ONLY %s t WHERE t.ctid = ANY (($1[1])::pg_catalog.tid[])',
                                       part::pg_catalog.regclass), ARRAY[del::text])::bigint;
        END IF;
        IF n <> pg_catalog.cardinality(del) THEN
            RAISE EXCEPTION 'rows of table % changed while the cancellation erased them', step
                USING ERRCODE = 'serialization_failure',
                      DETAIL = 'A trigger of another table changed them; nothing was changed.',
                      HINT = 'Run the cancellation again.';
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.cancel_step(jsonb, text, oid, text[], text[], text[], text[], jsonb, jsonb, text) IS
    'internal: one step of a cancellation (cancel_work): the UPDATE and the DELETE of one table''s (partition''s) rows of the subject, as the table''s owner';
REVOKE ALL ON FUNCTION privacy.cancel_step(jsonb, text, oid, text[], text[], text[], text[], jsonb, jsonb, text) FROM PUBLIC;

-- the message of a blocked cancellation, with names only (the server's own quotes key values)
CREATE FUNCTION privacy.cancel_blocked_message(state text, schema_name text, table_name text, constraint_name text, step regclass)
    RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE WHEN state = '23503'
                    THEN pg_catalog.format('cancellation is blocked: table %s references the subject''s rows of %s through foreign key "%s"',
                             COALESCE(pg_catalog.to_regclass(pg_catalog.format('%I.%I', schema_name, table_name))::text, '?'), step, constraint_name)
                    ELSE pg_catalog.format('cancellation is blocked: changing the subject''s rows of %s violates constraint "%s" of %s',
                             step, constraint_name, COALESCE(pg_catalog.to_regclass(pg_catalog.format('%I.%I', schema_name, table_name))::text, step::text)) END
    $$;
COMMENT ON FUNCTION privacy.cancel_blocked_message(text, text, text, text, regclass) IS
    'internal: the message of a cancellation that a foreign key or a constraint blocks, naming tables and the constraint, never a value';
REVOKE ALL ON FUNCTION privacy.cancel_blocked_message(text, text, text, text, regclass) FROM PUBLIC;

-- The work of a cancellation (cancel_subject, run_due_requests, replay).
--
-- 1. The subject's rows (privacy.subject_rows): the rows it owns, alone or
--    with others, and the rows that only refer to one of them.
-- 2. What becomes of each row, children before parents: a row the subject
--    owns alone follows its table's ON CANCEL (deleted, anonymized, or kept
--    until retention; kept while a legal hold is on its table); a row it owns
--    with somebody else loses only the subject's side (its SUBJECT columns
--    holding the subject, its keys to the subject's rows); a row of somebody
--    else that refers to the subject's rows has that reference cut.  A key
--    that cannot be cut (NOT NULL) keeps the row it points to: a row that
--    was to be deleted then stays as an anonymous stub.
-- 3. The statements, each as the table's owner: per table and partition one
--    UPDATE of the rows that stay and one DELETE, children first.
-- 4. The consent ledger under the pseudonym, the key shredded, the
--    tombstone, the request, the receipt.
CREATE FUNCTION privacy.cancel_work(subject text, dry_run boolean, request_id bigint, replay boolean DEFAULT false,
                                    kind text DEFAULT 'person')
    RETURNS TABLE (relation pg_catalog.regclass, action text, rows bigint, detail text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    problem text;
    canonical text;
    pseud text;
    done_at timestamptz;
    plan jsonb;
    got jsonb := '{}'::jsonb;
    fate jsonb := '{}'::jsonb;
    pins jsonb := '{}'::jsonb;
    e record;
    f jsonb;
    tb jsonb;
    t text;
    rowfate text;
    fates text[];
    act text;
    held boolean;
    pinned boolean;
    changed boolean;
    rounds integer;
    p record;
    out_rel regclass[] := '{}'::regclass[];
    out_act text[] := '{}'::text[];
    out_rows bigint[] := '{}'::bigint[];
    out_detail text[] := '{}'::text[];
    n_events bigint;
    key_destroyed boolean;
    req bigint := request_id;
    e_state text;
    e_con text;
    e_schema text;
    e_table text;
    e_msg text;
    in_step regclass;
    hold_id bigint;
    kept boolean := false;
    g jsonb;
    precut jsonb := '{}'::jsonb;
    fresh pg_catalog.tid[];
    st record;
BEGIN
    IF subject IS NULL OR kind IS NULL THEN
        RAISE EXCEPTION 'subject and kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    canonical := privacy.subject_canonical(subject, kind);
    pseud := privacy.subject_pseudonym(canonical, kind);
    -- one cancellation of a subject at a time: the second waits on the
    -- tombstone the first inserts (below), then finds it
    SELECT c.cancelled_at INTO done_at FROM privacy.cancelled_subject c WHERE c.subject_id = pseud;
    IF FOUND AND NOT replay THEN
        RETURN QUERY SELECT NULL::regclass, 'already cancelled'::text, 0::bigint,
                            pg_catalog.format('cancelled at %s; nothing was changed', done_at);
        RETURN;
    END IF;
    -- a legal hold on the subject suspends its cancellation
    SELECT h.id INTO hold_id FROM privacy.hold h
     WHERE h.subject_kind = cancel_work.kind AND h.subject = canonical
       AND h.released_at IS NULL AND h.until > pg_catalog.now()
     ORDER BY h.until DESC LIMIT 1;
    IF FOUND THEN
        IF dry_run THEN
            RETURN QUERY SELECT NULL::regclass, 'held'::text, 0::bigint,
                                pg_catalog.format('legal hold %s is in force on the subject: its cancellation is refused until the hold ends or is released', hold_id);
            RETURN;
        END IF;
        RAISE EXCEPTION 'the subject is under legal hold %: its cancellation is refused', hold_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A legal hold suspends every erasure of the subject''s rows: retention, cancellation and end-of-service anonymization.',
                  HINT = 'privacy.release_hold() ends it; the cancellation request stays open until then.';
    END IF;
    -- a blocking reference must surface here, where it is reported without the key's value
    SET CONSTRAINTS ALL IMMEDIATE;
    PERFORM pg_catalog.set_config('jit', 'off', true);

    BEGIN
        IF NOT replay THEN
            -- the tombstone first: a concurrent cancellation of the subject waits for it
            INSERT INTO privacy.cancelled_subject AS c (subject_id, request_id) VALUES (pseud, NULL)
            ON CONFLICT (subject_id) DO NOTHING;
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'PVDON';
            END IF;
        END IF;
        plan := privacy.cancel_plan()->kind;
        -- a Citus table the plan cannot route by the subject (doc/citus.md)
        SELECT pt.value->>'citus_problem' INTO problem
          FROM pg_catalog.jsonb_each(COALESCE(plan->'tables', '{}'::jsonb)) pt
         WHERE pt.value->>'citus_problem' IS NOT NULL
         ORDER BY pt.key LIMIT 1;
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION 'cancellation is blocked: %', problem
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = 'Nothing was changed.',
                      HINT = 'Distribute every table that holds the subject''s rows by its SUBJECT column, co-located with the subject''s table (doc/citus.md).';
        END IF;

        -- 1. the rows
        -- (one jsonb per table, built by one aggregate: appending row by row
        -- copies the whole document each time)
        SELECT COALESCE(pg_catalog.jsonb_object_agg(x.relid::text, x.rows), '{}'::jsonb) INTO got
          FROM (SELECT s.relid, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('p', s.part, 't', s.tid::text, 'v', pg_catalog.to_jsonb(s.vals))) AS rows
                  FROM privacy.subject_rows(plan, canonical) s
                 GROUP BY s.relid) x;

        -- 2. what becomes of each row: the tables in reverse order, each after
        --    the tables that refer to it (they say which of its rows they keep
        --    pointing at); a cycle until nothing changes
        rounds := 0;
        LOOP
            changed := false;
            FOR t IN SELECT x FROM pg_catalog.jsonb_array_elements_text(COALESCE(plan->'order', '[]'::jsonb)) WITH ORDINALITY a(x, o)
                      ORDER BY a.o DESC LOOP
                CONTINUE WHEN NOT got ? t;
                tb := plan->'tables'->t;
                held := privacy.table_held(t::oid::pg_catalog.regclass);
                act := tb->>'action';
                IF act IS NULL AND (tb->>'owned')::boolean THEN
                    -- a table without ON CANCEL: the schema's own ON DELETE CASCADE decides
                    act := CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(tb->'fks') x
                                              WHERE (x->>'owning')::boolean AND (x->>'parent_owned')::boolean)
                                     AND NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(tb->'fks') x
                                                      WHERE (x->>'owning')::boolean AND (x->>'parent_owned')::boolean
                                                        AND x->>'on_delete' <> 'c')
                                THEN 'delete' ELSE 'blocked' END;
                END IF;
                fates := ARRAY(SELECT v FROM pg_catalog.jsonb_array_elements_text(COALESCE(fate->t, '[]'::jsonb)) v);
                FOR e IN SELECT x AS row, o FROM pg_catalog.jsonb_array_elements(got->t) WITH ORDINALITY a(x, o) LOOP
                    -- pinned: a row that stays keeps pointing at this one (only a
                    -- row to delete asks, and only when some row pins one here)
                    pinned := act = 'delete' AND pins ? t AND EXISTS (
                        SELECT 1 FROM pg_catalog.jsonb_each(COALESCE(pins->t, '{}'::jsonb)) pc
                         WHERE (pc.value->'keys') ? (SELECT ARRAY(SELECT e.row->'v'->>(((tb->>'in_keys_at')::integer - 2 + k.o)::integer)
                                                          FROM pg_catalog.jsonb_array_elements_text(pc.value->'pcols') WITH ORDINALITY pk(c, po)
                                                          JOIN pg_catalog.jsonb_array_elements_text(tb->'in_keys') WITH ORDINALITY k(c, o)
                                                            ON k.c = pk.c
                                                         ORDER BY pk.po)::text));
                    rowfate := CASE WHEN NOT (e.row->'v'->>0)::boolean THEN 'sever'
                                    WHEN COALESCE((e.row->'v'->>1)::boolean, false) THEN 'side'
                                    WHEN held THEN 'held'
                                    WHEN act = 'delete' AND pinned THEN 'stub'
                                    WHEN act = 'delete' THEN 'delete'
                                    WHEN act = 'anonymize' THEN 'anonymize'
                                    WHEN act = 'keep until retention' THEN 'keep'
                                    ELSE 'blocked' END;
                    -- a row that only shares or refers, with nothing of the
                    -- subject's to clear (no SUBJECT column holding it, every key
                    -- to its rows NOT NULL): it stays as it is, and is not counted
                    -- as changed
                    IF rowfate IN ('side', 'sever')
                       AND NOT COALESCE((e.row->'v'->>((tb->>'holds_at')::integer))::boolean, false)
                       AND NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(tb->'fks') x
                                        WHERE (x->>'parent_owned')::boolean AND (x->>'severable')::boolean
                                          AND COALESCE((e.row->'v'->>(2 * (x->>'slot')::integer))::boolean, false))
                       AND NOT (COALESCE((e.row->'v'->>((tb->>'holds_key_at')::integer))::boolean, false)
                                AND privacy.cancel_key_freed(plan, tb, canonical, got, fate)) THEN
                        rowfate := 'unchanged';
                    END IF;
                    IF rowfate IS DISTINCT FROM fates[e.o] THEN
                        changed := true;
                        fates[e.o] := rowfate;
                    END IF;
                    -- its keys into the subject's rows: a row that stays and
                    -- cannot cut one (NOT NULL, or kept as it is) pins the parent
                    CONTINUE WHEN rowfate = 'delete';
                    FOR f IN SELECT x FROM pg_catalog.jsonb_array_elements(tb->'fks') x
                              WHERE (x->>'parent_owned')::boolean LOOP
                        CONTINUE WHEN NOT COALESCE((e.row->'v'->>(2 * (f->>'slot')::integer))::boolean, false);
                        CONTINUE WHEN rowfate NOT IN ('keep', 'held', 'blocked') AND (f->>'severable')::boolean;
                        IF NOT COALESCE(pins->(f->>'parent')->(f->>'con')->'keys' ? (e.row->'v'->>(2 * (f->>'slot')::integer + 1)), false) THEN
                            pins := pins || pg_catalog.jsonb_build_object(f->>'parent',
                                        COALESCE(pins->(f->>'parent'), '{}'::jsonb) || pg_catalog.jsonb_build_object(f->>'con',
                                            pg_catalog.jsonb_build_object('pcols', f->'pcols',
                                                'keys', COALESCE(pins->(f->>'parent')->(f->>'con')->'keys', '[]'::jsonb)
                                                        || pg_catalog.to_jsonb(e.row->'v'->>(2 * (f->>'slot')::integer + 1)))));
                            changed := true;
                        END IF;
                    END LOOP;
                END LOOP;
                fate := fate || pg_catalog.jsonb_build_object(t, pg_catalog.to_jsonb(fates));
            END LOOP;
            rounds := rounds + 1;
            -- without a cycle one pass in this order settles every row: a table's
            -- pins come from the tables that refer to it, decided before it
            EXIT WHEN NOT changed OR rounds > 100
                      OR NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(COALESCE(plan->'groups', '[]'::jsonb)) cg(x)
                                      WHERE (cg.x->>'cyclic')::boolean);
        END LOOP;

        -- a table that owns some of the subject's rows and says nothing of them
        FOR t IN SELECT x.key FROM pg_catalog.jsonb_each(fate) x
                  WHERE EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements_text(x.value) v WHERE v = 'blocked') LOOP
            IF NOT dry_run THEN
                RAISE EXCEPTION 'cancellation is blocked: table % holds rows of the subject and has no ON CANCEL label', t::oid::pg_catalog.regclass
                    USING ERRCODE = 'foreign_key_violation',
                          DETAIL = 'Nothing was changed: the whole cancellation was rolled back.',
                          HINT = pg_catalog.format('privacy.cancel_subject(subject, dry_run => true) shows the plan. Label the table: SECURITY LABEL FOR privacy ON TABLE %s IS ''ON CANCEL DELETE'' (or ANONYMIZE, or KEEP UNTIL RETENTION), or give its foreign key ON DELETE CASCADE.', t::oid::pg_catalog.regclass);
            END IF;
        END LOOP;

        -- 3. the statements, children first, per partition, as each table's owner;
        --    in a cycle, rows that go first lose their keys to each other (their
        --    new row versions are the ones deleted)
        FOR g IN SELECT x FROM pg_catalog.jsonb_array_elements(COALESCE(plan->'groups', '[]'::jsonb)) x
                  WHERE (x->>'cyclic')::boolean LOOP
            FOR t IN SELECT x FROM pg_catalog.jsonb_array_elements_text(g->'tables') x LOOP
                CONTINUE WHEN NOT got ? t;
                tb := plan->'tables'->t;
                FOR p IN
                    SELECT (a.x->>'p')::oid AS part, pg_catalog.array_agg(a.x->>'t') AS tids
                      FROM pg_catalog.jsonb_array_elements(got->t) WITH ORDINALITY a(x, o)
                     WHERE fate->t->>((a.o - 1)::integer) = 'delete'
                       AND EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(tb->'fks') y
                                    WHERE (y->>'parent_owned')::boolean AND (y->>'severable')::boolean
                                      AND (g->'tables') ? (y->>'parent')
                                      AND COALESCE((a.x->'v'->>(2 * (y->>'slot')::integer))::boolean, false))
                     GROUP BY 1
                LOOP
                    fresh := ARRAY(SELECT o.tid FROM privacy.owner_rows(p.part::pg_catalog.regclass,
                                       pg_catalog.format(tb->>'cut', p.part::pg_catalog.regclass), ARRAY[p.tids::text, canonical]) o);
                    precut := precut || pg_catalog.jsonb_build_object(t,
                        COALESCE(precut->t, '{}'::jsonb) || pg_catalog.jsonb_build_object(p.part::text,
                            pg_catalog.jsonb_build_object('old', pg_catalog.to_jsonb(p.tids), 'new', pg_catalog.to_jsonb(fresh::text[]))));
                END LOOP;
            END LOOP;
        END LOOP;
        -- (a cycle: first every table's UPDATE, then every DELETE, so that the
        -- schema's own actions of a DELETE find no row still to be changed)
        FOR st IN
            SELECT gt.t, ph.ph
              FROM pg_catalog.jsonb_array_elements(COALESCE(plan->'groups', '[]'::jsonb)) WITH ORDINALITY gr(x, o),
                   pg_catalog.jsonb_array_elements_text(gr.x->'tables') WITH ORDINALITY gt(t, o),
                   pg_catalog.unnest(CASE WHEN (gr.x->>'cyclic')::boolean THEN ARRAY['upd', 'del'] ELSE ARRAY['both'] END)
                       WITH ORDINALITY ph(ph, o)
             ORDER BY gr.o DESC, ph.o, gt.o DESC
        LOOP
            t := st.t;
            CONTINUE WHEN NOT got ? t;
            tb := plan->'tables'->t;
            in_step := t::oid::pg_catalog.regclass;
            FOR p IN
                SELECT (x.row->>'p')::oid AS part,
                       pg_catalog.array_agg(x.row->>'t') FILTER (WHERE x.fate IN ('anonymize', 'side', 'sever', 'stub')) AS upd,
                       pg_catalog.array_agg(x.row->>'t') FILTER (WHERE x.fate IN ('anonymize', 'stub')) AS anon,
                       pg_catalog.array_agg(x.row->>'t') FILTER (WHERE x.fate IN ('anonymize', 'side', 'stub')) AS clear,
                       pg_catalog.array_agg(x.row->>'t') FILTER (WHERE x.fate = 'delete') AS del,
                       pg_catalog.jsonb_agg(x.row) FILTER (WHERE x.fate IN ('anonymize', 'side', 'sever', 'stub')) AS upd_rows
                  FROM (SELECT a.x AS row, fate->t->>((a.o - 1)::integer) AS fate
                          FROM pg_catalog.jsonb_array_elements(got->t) WITH ORDINALITY a(x, o)) x
                 GROUP BY 1 ORDER BY 1
            LOOP
                IF NOT dry_run THEN
                    -- a real run rolls back whole on any error, so its steps take no
                    -- subtransaction (on Citus, each costs a round trip to every
                    -- worker in the transaction); the outer handler names what blocks
                    PERFORM privacy.cancel_step(tb, t, p.part, CASE WHEN st.ph <> 'del' THEN p.upd END, p.anon, p.clear,
                                                CASE WHEN st.ph <> 'upd' THEN p.del END, p.upd_rows, precut->t, canonical);
                    CONTINUE;
                END IF;
                BEGIN
                    PERFORM privacy.cancel_step(tb, t, p.part, CASE WHEN st.ph <> 'del' THEN p.upd END, p.anon, p.clear,
                                                CASE WHEN st.ph <> 'upd' THEN p.del END, p.upd_rows, precut->t, canonical);
                EXCEPTION WHEN integrity_constraint_violation THEN
                    GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_con = CONSTRAINT_NAME,
                                            e_schema = SCHEMA_NAME, e_table = TABLE_NAME;
                    -- the server's message would show key values: names only
                    e_msg := privacy.cancel_blocked_message(e_state, e_schema, e_table, e_con, in_step);
                    -- the table whose key blocks, or the one whose constraint refuses,
                    -- and how many of the subject's rows this step was changing
                    out_rel := out_rel || CASE WHEN e_state = '23503'
                                               THEN COALESCE(pg_catalog.to_regclass(pg_catalog.format('%I.%I', e_schema, e_table)), in_step)
                                               ELSE in_step END;
                    out_act := out_act || 'blocked'::text;
                    out_rows := out_rows || (COALESCE(pg_catalog.cardinality(p.upd), 0) + COALESCE(pg_catalog.cardinality(p.del), 0))::bigint;
                    out_detail := out_detail || e_msg;
                END;
            END LOOP;
            in_step := NULL;
            CONTINUE WHEN st.ph = 'upd';
            -- the receipt: per table and what became of its rows
            FOR e IN
                SELECT v AS what, pg_catalog.count(*) AS n FROM pg_catalog.jsonb_array_elements_text(fate->t) v
                 GROUP BY v ORDER BY pg_catalog.array_position(ARRAY['delete', 'anonymize', 'keep', 'held', 'stub', 'side', 'sever', 'unchanged', 'blocked'], v)
            LOOP
                out_rel := out_rel || t::oid::pg_catalog.regclass;
                out_act := out_act || CASE e.what WHEN 'delete' THEN 'deleted' WHEN 'anonymize' THEN 'anonymized'
                                                  WHEN 'keep' THEN 'kept until retention' WHEN 'held' THEN 'kept: legal hold'
                                                  WHEN 'stub' THEN 'kept as an anonymous stub' WHEN 'side' THEN 'anonymized'
                                                  WHEN 'sever' THEN 'severed' WHEN 'unchanged' THEN 'unchanged' ELSE 'blocked' END;
                out_rows := out_rows || e.n;
                out_detail := out_detail || CASE e.what
                    WHEN 'side' THEN 'rows shared with another subject: only this subject''s side cleared'
                    WHEN 'sever' THEN 'rows of other subjects that referred to the subject: the reference cut'
                    WHEN 'unchanged' THEN 'rows shared with or referring to the subject''s rows where nothing can be cleared (a NOT NULL key to them, a SUBJECT key other rows still reference): left as they are'
                    WHEN 'stub' THEN 'rows that kept rows still reference: their personal data cleared, their key kept'
                    WHEN 'held' THEN 'a legal hold on the table keeps them'
                    WHEN 'blocked' THEN pg_catalog.format('the table has no ON CANCEL label: SECURITY LABEL FOR privacy ON TABLE %s IS ''ON CANCEL DELETE'' (or ANONYMIZE, or KEEP UNTIL RETENTION)', t::oid::pg_catalog.regclass)
                    WHEN 'delete' THEN CASE WHEN tb->>'action' IS NULL THEN 'no ON CANCEL label: the ON DELETE CASCADE of its foreign key' END
                    ELSE NULL END;
                kept := kept OR e.what IN ('keep', 'held', 'stub');
            END LOOP;
        END LOOP;

        SELECT pg_catalog.count(*) INTO n_events FROM privacy.consent_event ce
         WHERE ce.subject = canonical AND ce.subject_kind = cancel_work.kind;
        IF pg_catalog.cardinality(out_rel) = 0 AND n_events = 0
           AND NOT EXISTS (SELECT 1 FROM privacy.subject_minor m WHERE m.subject = canonical AND m.subject_kind = cancel_work.kind)
           AND NOT EXISTS (SELECT 1 FROM privacy.consent c WHERE c.subject = canonical AND c.subject_kind = cancel_work.kind)
           AND NOT privacy.gave_guardian_consent(canonical, kind) THEN
            -- nothing found, so nothing is changed (and no tombstone kept)
            RAISE EXCEPTION USING ERRCODE = 'PVNON';
        END IF;

        -- 4. the consent ledger keeps its history under the subject's pseudonym
        UPDATE privacy.consent_event ce SET subject = 'cancelled:' || pseud
         WHERE ce.subject = canonical AND ce.subject_kind = cancel_work.kind;
        GET DIAGNOSTICS n_events = ROW_COUNT;
        DELETE FROM privacy.consent c WHERE c.subject = canonical AND c.subject_kind = cancel_work.kind;
        DELETE FROM privacy.subject_minor m WHERE m.subject = canonical AND m.subject_kind = cancel_work.kind;
        IF n_events > 0 THEN
            out_rel := out_rel || 'privacy.consent_event'::regclass;
            out_act := out_act || 'pseudonymized'::text;
            out_rows := out_rows || n_events;
            out_detail := out_detail || 'consent history kept under the subject''s pseudonym'::text;
        END IF;
        -- the consents the subject gave as a guardian (consent.sql): in force, the guardian named by its pseudonym
        n_events := privacy.pseudonymize_guardian(canonical, kind, pseud);
        IF n_events > 0 THEN
            out_rel := out_rel || 'privacy.consent_event'::regclass;
            out_act := out_act || 'pseudonymized'::text;
            out_rows := out_rows || n_events;
            out_detail := out_detail || 'consents given as a guardian: still in force, the guardian kept as the pseudonym'::text;
        END IF;

        -- the subject's data key, the tombstone, the request and the receipt
        key_destroyed := privacy.shred_subject(canonical, false, kind);
        IF dry_run THEN
            NULL;   -- a dry run numbers no request
        ELSIF req IS NULL THEN
            INSERT INTO privacy.request (kind, subject_kind, subject, subject_id, due_at, status, closed_at, note)
            VALUES ('cancellation', cancel_work.kind, NULL, pseud, pg_catalog.now(), 'completed', pg_catalog.now(),
                    CASE WHEN replay THEN 'replayed after a restore' END)
            RETURNING privacy.request.id INTO req;
        ELSE
            UPDATE privacy.request q SET status = 'completed', subject = NULL, closed_at = pg_catalog.now(), note = NULL
             WHERE q.id = req;
        END IF;
        IF replay THEN
            INSERT INTO privacy.cancelled_subject AS c (subject_id, request_id) VALUES (pseud, req)
            ON CONFLICT (subject_id) DO NOTHING;
        ELSE
            UPDATE privacy.cancelled_subject c SET request_id = req WHERE c.subject_id = pseud;
            -- and, when the transaction commits, in the journal outside the database
            PERFORM privacy.journal_tombstone(pseud, pg_catalog.now());
        END IF;
        -- rows kept (until retention, as stubs, under a hold) are stored and
        -- secured, and shown by no purpose view
        IF kept THEN
            INSERT INTO privacy.restricted_subject (subject_kind, subject, request_id) VALUES (cancel_work.kind, canonical, req)
            ON CONFLICT ON CONSTRAINT restricted_subject_pkey DO NOTHING;
        END IF;
        PERFORM privacy.audit_append('cancellation', pg_catalog.format('subject %s', pseud),
            pg_catalog.jsonb_build_object(
                'request', req,
                'tables', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('relation', o.rel::text, 'action', o.act, 'rows', o.n) ORDER BY o.i)
                             FROM ROWS FROM (pg_catalog.unnest(out_rel), pg_catalog.unnest(out_act), pg_catalog.unnest(out_rows)) WITH ORDINALITY AS o(rel, act, n, i)),
                'key_destroyed', key_destroyed,
                'erasure', 'logical: deleted and overwritten values stay in dead tuples until VACUUM, in WAL until it is recycled and in backups until they expire; values encrypted with the subject''s key are unreadable everywhere')
            || CASE WHEN kind <> 'person' THEN pg_catalog.jsonb_build_object('kind', kind) ELSE '{}'::jsonb END
            -- a replay after a restore says so
            || CASE WHEN replay THEN '{"replayed": true}'::jsonb ELSE '{}'::jsonb END);

        IF dry_run THEN
            -- undo everything; the plan stays in the variables
            RAISE EXCEPTION USING ERRCODE = 'PVDRY';
        END IF;
    EXCEPTION
        WHEN SQLSTATE 'PVDRY' THEN
            NULL;
        WHEN integrity_constraint_violation THEN
            -- a step of a real run (above): the server's message would show key values
            IF in_step IS NULL THEN
                RAISE;
            END IF;
            GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_con = CONSTRAINT_NAME,
                                    e_schema = SCHEMA_NAME, e_table = TABLE_NAME;
            RAISE EXCEPTION '%', privacy.cancel_blocked_message(e_state, e_schema, e_table, e_con, in_step)
                USING ERRCODE = e_state,
                      DETAIL = 'Nothing was changed: the whole cancellation was rolled back.',
                      HINT = CASE WHEN e_state = '23503'
                                  THEN 'privacy.cancel_subject(subject, dry_run => true) shows the plan. Label the referencing table with ON CANCEL, give the foreign key ON DELETE CASCADE or SET NULL, or make its columns nullable.'
                                  ELSE 'privacy.cancel_subject(subject, dry_run => true) shows the plan. An anonymized column gets NULL, or privacy.anonymous_value when it is NOT NULL: relax the constraint, make the column nullable, or use ON CANCEL DELETE.' END;
        WHEN SQLSTATE 'PVNON' THEN
            RETURN QUERY SELECT NULL::regclass, 'not found'::text, 0::bigint, 'no labelled table holds the subject; nothing was changed'::text;
            RETURN;
        WHEN SQLSTATE 'PVDON' THEN
            SELECT c.cancelled_at INTO done_at FROM privacy.cancelled_subject c WHERE c.subject_id = pseud;
            RETURN QUERY SELECT NULL::regclass, 'already cancelled'::text, 0::bigint,
                                pg_catalog.format('cancelled at %s; nothing was changed', done_at);
            RETURN;
    END;
    RETURN QUERY SELECT * FROM ROWS FROM (pg_catalog.unnest(out_rel), pg_catalog.unnest(out_act), pg_catalog.unnest(out_rows), pg_catalog.unnest(out_detail));
END
$$;
COMMENT ON FUNCTION privacy.cancel_work(text, boolean, bigint, boolean, text) IS
    'internal: carry out (or, dry_run, plan) the cancellation of a subject of a kind for cancel_subject, run_due_requests and (replay, past its tombstone) replay_cancellations';
REVOKE ALL ON FUNCTION privacy.cancel_work(text, boolean, bigint, boolean, text) FROM PUBLIC;

CREATE FUNCTION privacy.cancel_subject(subject text, dry_run boolean DEFAULT false, kind text DEFAULT 'person')
    RETURNS TABLE (relation pg_catalog.regclass, action text, rows bigint, detail text)
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT * FROM privacy.cancel_work(subject, dry_run, NULL, false, kind) $$;
COMMENT ON FUNCTION privacy.cancel_subject(text, boolean, text) IS
    'cancel a subject''s account (kind: its subject kind): delete, anonymize or keep (per ON CANCEL) the rows it owns in every labelled table, clear its side of rows it shares and cut references to it, shred its data key, pseudonymize its consent history and write a receipt, in one transaction; dry_run shows the same plan and changes nothing';
-- Destroys data: administrators, granted explicitly.
REVOKE ALL ON FUNCTION privacy.cancel_subject(text, boolean, text) FROM PUBLIC;

-- src/sql/code/tombstones.sql: tombstones: the journal outside the database, the trigger that guards subject tables, the replay after a restore

CREATE FUNCTION privacy.journal_tombstone(subject_id text, cancelled_at timestamptz) RETURNS void
    AS 'MODULE_PATHNAME', 'privacy_journal_tombstone'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.journal_tombstone(text, timestamptz) IS
    'internal: append a cancellation tombstone to the journal (cancelled.journal in privacy.subject_key_dir) when the transaction commits';
-- Writes outside the database: the extension's own functions only.
REVOKE ALL ON FUNCTION privacy.journal_tombstone(text, timestamptz) FROM PUBLIC;

CREATE FUNCTION privacy.tombstone_journal(OUT subject_id text, OUT cancelled_at timestamptz)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'privacy_tombstone_journal'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.tombstone_journal() IS
    'the cancellation tombstones of the journal outside the database (cancelled.journal in privacy.subject_key_dir), in the order written; a malformed line is skipped with a WARNING';
-- Pseudonyms of cancelled subjects: administrators and the DPO, granted explicitly.
REVOKE ALL ON FUNCTION privacy.tombstone_journal() FROM PUBLIC;

CREATE FUNCTION privacy.refuse_cancelled() RETURNS trigger
    AS 'MODULE_PATHNAME', 'privacy_refuse_cancelled'
    LANGUAGE C;
COMMENT ON FUNCTION privacy.refuse_cancelled() IS
    'trigger (BEFORE INSERT OR UPDATE OF the SUBJECT columns, kept by privacy.sync_subject_guard): refuses a row whose subject has a cancellation tombstone';
-- PUBLIC keeps EXECUTE: a table owner who adds a partition clones the
-- trigger, which needs it.  Called other than as such a trigger it only fails.

-- give a table the trigger privacy_cancelled_subject on its SUBJECT columns
-- (its own labels, or an inheritance parent's), change it when they change,
-- drop it when it has none; and the same for its inheritance children (a
-- partition has a clone of its parent's).  A generated SUBJECT column is NULL
-- in a BEFORE trigger: a table that has one gets an AFTER trigger, its
-- columns named in the trigger's arguments.
CREATE FUNCTION privacy.sync_subject_guard(rel pg_catalog.regclass) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    want name[];
    generated boolean;
    want_def text;
    have_def text;
    child oid;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                    WHERE c.oid = rel
                      AND c.relkind = ANY (ARRAY['r', 'p']::"char"[])
                      AND NOT c.relispartition) THEN
        RETURN;
    END IF;
    -- Citus refuses triggers on its tables, and a shell table's trigger
    -- would never fire: each shard placement on a worker takes the trigger
    -- instead, when its labels are set there (privacy.citus_sync_labels),
    -- and reads the tombstones privacy.citus_setup() mirrors to the worker
    IF privacy.citus_table(rel) THEN
        RETURN;
    END IF;
    -- the SUBJECT columns: the nearest labelled of the table and its inheritance ancestors
    WITH RECURSIVE up(r, d) AS (
        SELECT rel::oid, 0
        UNION ALL
        SELECT i.inhparent, up.d + 1 FROM pg_catalog.pg_inherits i JOIN up ON i.inhrelid = up.r WHERE up.d < 64),
    labelled AS (
        SELECT up.d, a.attname
          FROM up
          JOIN pg_catalog.pg_seclabel s ON s.objoid = up.r AND s.objsubid > 0
           AND s.provider = 'privacy' AND s.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
          JOIN pg_catalog.pg_attribute a ON a.attrelid = up.r AND a.attnum = s.objsubid
         CROSS JOIN LATERAL privacy.parse_label(s.label, false) p
         WHERE p.subject)
    SELECT pg_catalog.array_agg(l.attname ORDER BY l.attname) INTO want
      FROM labelled l WHERE l.d = (SELECT pg_catalog.min(x.d) FROM labelled x);
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = rel AND a.attname = ANY (want) AND a.attgenerated <> '')
      INTO generated;
    IF want IS NOT NULL THEN
        want_def := CASE WHEN generated
            THEN pg_catalog.format('CREATE TRIGGER privacy_cancelled_subject AFTER INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION privacy.refuse_cancelled(%s)',
                                   rel, (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(x), ', ') FROM pg_catalog.unnest(want) x))
            ELSE pg_catalog.format('CREATE TRIGGER privacy_cancelled_subject BEFORE INSERT OR UPDATE OF %s ON %s FOR EACH ROW EXECUTE FUNCTION privacy.refuse_cancelled()',
                                   (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
                                      FROM pg_catalog.pg_attribute a
                                     WHERE a.attrelid = rel AND a.attname = ANY (want) AND NOT a.attisdropped),
                                   rel) END;
    END IF;
    SELECT pg_catalog.pg_get_triggerdef(t.oid) INTO have_def
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid = rel AND t.tgname = 'privacy_cancelled_subject'
       AND NOT t.tgisinternal AND t.tgparentid = 0;
    IF want_def IS DISTINCT FROM have_def THEN
        IF have_def IS NOT NULL THEN
            EXECUTE pg_catalog.format('DROP TRIGGER privacy_cancelled_subject ON %s', rel);
        END IF;
        IF want_def IS NOT NULL THEN
            EXECUTE want_def;
        END IF;
    END IF;
    FOR child IN SELECT i.inhrelid FROM pg_catalog.pg_inherits i
                   JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid AND NOT c.relispartition
                  WHERE i.inhparent = rel ORDER BY 1 LOOP
        PERFORM privacy.sync_subject_guard(child::pg_catalog.regclass);
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.sync_subject_guard(pg_catalog.regclass) IS
    'internal: keep the trigger privacy_cancelled_subject (privacy.refuse_cancelled) on a table''s SUBJECT columns, its own or its inheritance parent''s, and on its inheritance children';
REVOKE ALL ON FUNCTION privacy.sync_subject_guard(pg_catalog.regclass) FROM PUBLIC;

CREATE FUNCTION privacy.subject_guard_ddl() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cmd record;
BEGIN
    -- a restore brings the triggers back as they were dumped
    IF privacy.restoring() THEN
        RETURN;
    END IF;
    FOR cmd IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP
        CONTINUE WHEN cmd.classid <> 'pg_catalog.pg_class'::pg_catalog.regclass OR cmd.objsubid <> 0 AND cmd.command_tag <> 'SECURITY LABEL';
        IF cmd.command_tag = 'SECURITY LABEL'
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i
                        JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid AND NOT c.relispartition
                       WHERE i.inhrelid = cmd.objid) THEN
            -- a label changed, or a table inherits (CREATE TABLE ... INHERITS, ALTER TABLE ... INHERIT)
            PERFORM privacy.sync_subject_guard(cmd.objid::pg_catalog.regclass);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.subject_guard_ddl() IS
    'event trigger: a SECURITY LABEL, or a table that inherits another, keeps the trigger privacy_cancelled_subject in step with the SUBJECT columns (not during a restore, which brings it back as dumped)';
CREATE EVENT TRIGGER privacy_subject_guard ON ddl_command_end
    WHEN TAG IN ('SECURITY LABEL', 'CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION privacy.subject_guard_ddl();

-- After restoring an older backup: erase again the subjects cancelled since.
CREATE FUNCTION privacy.replay_cancellations()
    RETURNS TABLE (subject_id text, relation pg_catalog.regclass, action text, rows bigint, detail text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    j_ids text[];
    j_ats timestamptz[];
    n_restored bigint;
    n_written bigint := 0;
    n_tombstones bigint;
    subjects jsonb := '[]'::jsonb;
    l record;
    s record;
    pseud text;
    req bigint;
BEGIN
    -- 1. the journal's tombstones that the database lacks: it was restored
    --    from before their cancellations
    SELECT COALESCE(pg_catalog.array_agg(j.subject_id ORDER BY j.subject_id), '{}'),
           COALESCE(pg_catalog.array_agg(j.cancelled_at ORDER BY j.subject_id), '{}')
      INTO j_ids, j_ats
      FROM (SELECT DISTINCT ON (t.subject_id) t.subject_id, t.cancelled_at
              FROM privacy.tombstone_journal() t ORDER BY t.subject_id, t.cancelled_at) j;
    INSERT INTO privacy.cancelled_subject AS c (subject_id, cancelled_at)
    SELECT u.i, u.a FROM ROWS FROM (pg_catalog.unnest(j_ids), pg_catalog.unnest(j_ats)) AS u(i, a)
    ON CONFLICT ON CONSTRAINT cancelled_subject_pkey DO NOTHING;
    GET DIAGNOSTICS n_restored = ROW_COUNT;
    -- 2. the database's tombstones that the journal lacks (a crash between a
    --    commit and its append, or a journal started afresh)
    FOR l IN SELECT c.subject_id, c.cancelled_at FROM privacy.cancelled_subject c
              WHERE NOT c.subject_id = ANY (j_ids) LOOP
        PERFORM privacy.journal_tombstone(l.subject_id, l.cancelled_at);
        n_written := n_written + 1;
    END LOOP;
    SELECT pg_catalog.count(*) INTO n_tombstones FROM privacy.cancelled_subject;

    -- 3. every table with a SUBJECT column refuses cancelled subjects
    FOR l IN SELECT DISTINCT x.relation FROM privacy.labels x WHERE x.subject AND x.column_name IS NOT NULL LOOP
        PERFORM privacy.sync_subject_guard(l.relation);
    END LOOP;

    -- 4. the cancelled subjects that are back: in a SUBJECT column (read as
    --    the table's owner, each value in the canonical form of its kind, as
    --    the trigger sees it) or in the consent records, but not those whose
    --    rows were kept (until retention, as stubs, under a hold)
    FOR l IN SELECT x.relation, x.column_name, x.subject_kind, a.atttypid::pg_catalog.regtype AS typ
               FROM privacy.labels x
               JOIN pg_catalog.pg_class k ON k.oid = x.relation
               JOIN pg_catalog.pg_attribute a ON a.attrelid = x.relation AND a.attname = x.column_name
              WHERE x.subject AND x.column_name IS NOT NULL AND NOT k.relispartition
              ORDER BY x.relation::text, x.column_name LOOP
        FOR s IN
            SELECT DISTINCT o.vals[1] AS canonical
              FROM privacy.owner_rows(l.relation,
                       pg_catalog.format('SELECT DISTINCT 0::pg_catalog.oid, ''(0,0)''::pg_catalog.tid, privacy.family_canonical(t.%I::pg_catalog.text, %L::pg_catalog.regtype) FROM %s t WHERE t.%I IS NOT NULL',
                                         l.column_name, l.typ, l.relation, l.column_name), '{}'::text[]) o
        LOOP
            IF EXISTS (SELECT 1 FROM privacy.cancelled_subject c
                        WHERE c.subject_id = privacy.subject_pseudonym(s.canonical, l.subject_kind)) THEN
                subjects := subjects || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(l.subject_kind, s.canonical));
            END IF;
        END LOOP;
    END LOOP;
    FOR s IN SELECT DISTINCT x.k, x.v
               FROM (SELECT e.subject_kind AS k, e.subject AS v FROM privacy.consent_event e WHERE e.subject NOT LIKE 'cancelled:%'
                     UNION SELECT e.guardian_kind, e.guardian FROM privacy.consent_event e WHERE e.guardian NOT LIKE 'cancelled:%'
                     UNION SELECT c.subject_kind, c.subject FROM privacy.consent c
                     UNION SELECT m.subject_kind, m.subject FROM privacy.subject_minor m
                     UNION SELECT q.subject_kind, q.subject FROM privacy.request q
                            WHERE q.status = 'open' AND q.subject IS NOT NULL) x
              WHERE EXISTS (SELECT 1 FROM privacy.cancelled_subject c
                             WHERE c.subject_id = privacy.subject_pseudonym(x.v, x.k)) LOOP
        subjects := subjects || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(s.k, privacy.subject_canonical(s.v, s.k)));
    END LOOP;
    -- rows kept by a cancellation of this database's history are meant to be there
    subjects := COALESCE((SELECT pg_catalog.jsonb_agg(DISTINCT u.x) FROM pg_catalog.jsonb_array_elements(subjects) u(x)
                           WHERE NOT EXISTS (SELECT 1 FROM privacy.restricted_subject r
                                              WHERE r.subject_kind = u.x->>0 AND r.subject = u.x->>1)), '[]'::jsonb);

    -- 5. erase each of them again, closing the open cancellation request the
    --    backup still had, if any
    FOR s IN SELECT u.x->>0 AS k, u.x->>1 AS v FROM pg_catalog.jsonb_array_elements(subjects) u(x) ORDER BY 1, 2 LOOP
        pseud := privacy.subject_pseudonym(s.v, s.k);
        SELECT q.id INTO req FROM privacy.request q
         WHERE q.subject_id = pseud AND q.kind = 'cancellation' AND q.status = 'open';
        RETURN QUERY SELECT pseud, w.relation, w.action, w.rows, w.detail
                       FROM privacy.cancel_work(s.v, false, req, true, s.k) w;
    END LOOP;

    PERFORM privacy.audit_append('replay', 'cancellations',
        pg_catalog.jsonb_build_object('tombstones', n_tombstones, 'restored_from_journal', n_restored,
                                      'written_to_journal', n_written,
                                      'subjects_erased', pg_catalog.jsonb_array_length(subjects)));
    RAISE NOTICE 'replayed cancellations: % tombstones, % restored from the journal, % written to it, % subjects erased again',
        n_tombstones, n_restored, n_written, pg_catalog.jsonb_array_length(subjects);
END
$$;
COMMENT ON FUNCTION privacy.replay_cancellations() IS
    'after restoring an older backup: bring back the tombstones of later cancellations from the journal outside the database, and cancel again every cancelled subject found in a labelled table or the consent records; one row per table changed, as cancel_subject';
-- Destroys data: administrators, granted explicitly.
REVOKE ALL ON FUNCTION privacy.replay_cancellations() FROM PUBLIC;

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
                      pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ
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

-- src/sql/code/export.sql: export: a subject's data for the rights of access and copy

-- one exported value, from what the table owner's statement gave (jsonb as
-- text, or a bytea as base64): with its category; a bytea that is the
-- subject's own ciphertext decrypted
CREATE FUNCTION privacy.export_value(value text, is_bytea boolean, category text, subject text, kind text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    b bytea;
BEGIN
    IF value IS NULL THEN
        RETURN pg_catalog.jsonb_build_object('category', category, 'value', NULL);
    ELSIF NOT is_bytea THEN
        RETURN pg_catalog.jsonb_build_object('category', category, 'value', value::jsonb);
    END IF;
    b := pg_catalog.decode(value, 'base64');
    IF pg_catalog.length(b) > 0 AND pg_catalog.get_byte(b, 0) = 3 THEN
        -- the subject's own ciphertext: the copy holds the plain value
        BEGIN
            RETURN pg_catalog.jsonb_build_object('category', category, 'value', privacy.subject_decrypt(subject, b, kind),
                                                 'decrypted', true);
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
        BEGIN
            RETURN pg_catalog.jsonb_build_object('category', category,
                                                 'value', pg_catalog.encode(privacy.subject_decrypt_bytea(subject, b, kind), 'base64'),
                                                 'encoding', 'base64', 'decrypted', true);
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
    END IF;
    RETURN pg_catalog.jsonb_build_object('category', category, 'value', value, 'encoding', 'base64');
END
$$;
COMMENT ON FUNCTION privacy.export_value(text, boolean, text, text, text) IS
    'internal: one exported value with its category, from its JSON (or, for bytea, base64) text; the subject''s own ciphertexts decrypted';
REVOKE ALL ON FUNCTION privacy.export_value(text, boolean, text, text, text) FROM PUBLIC;

-- the categories an export leaves out, with the reason it gives: by default
-- those the taxonomy marks exported = false; withhold names them instead
-- (with their sub-categories), '{}' none
CREATE FUNCTION privacy.export_withheld(withhold text[])
    RETURNS TABLE (category text, reason text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    w text;
BEGIN
    IF withhold IS NULL THEN
        RETURN QUERY SELECT c.name, c.export_reason FROM privacy.category c WHERE NOT c.exported ORDER BY c.name;
        RETURN;
    END IF;
    FOREACH w IN ARRAY withhold LOOP
        IF w IS NULL THEN
            RAISE EXCEPTION 'withhold must not hold NULL' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM privacy.category c WHERE c.name = w) THEN
            RAISE EXCEPTION 'category "%" does not exist', w
                USING ERRCODE = 'undefined_object',
                      HINT = 'withhold names categories of privacy.category.';
        END IF;
    END LOOP;
    RETURN QUERY
        SELECT c.name, 'left out by whoever ran the export (withhold => '
                       || pg_catalog.array_to_string(ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(withhold) x ORDER BY 1), ', ') || ')'
          FROM privacy.category c
         WHERE EXISTS (SELECT 1 FROM pg_catalog.unnest(withhold) x
                        WHERE c.name = x OR pg_catalog.starts_with(c.name, x || '.'))
         ORDER BY c.name;
END
$$;
COMMENT ON FUNCTION privacy.export_withheld(text[]) IS
    'the categories an export leaves out, with the reason it gives: those whose exported is false (withhold NULL), else the categories named and their sub-categories';
GRANT EXECUTE ON FUNCTION privacy.export_withheld(text[]) TO PUBLIC;

-- the statements that read the tables' (partitions') rows for an export, as
-- their owners, by ctid ($1[1]), all built by one query: per partition, the
-- row as the text of one jsonb object of every column that is neither bytea
-- nor left out ({"category", "value"}; a column left out is not read:
-- {"category", "left_out": true}), then the bytea columns as base64, which
-- the caller decrypts when they are the subject's own ciphertexts; and the
-- columns left out, by category.  The labels are the table's (rels, which a
-- partition carries), by column name, read here rather than through
-- privacy.labels, which decodes every label of the database.
CREATE FUNCTION privacy.export_read_sql(parts oid[], rels oid[], withheld text[])
    RETURNS TABLE (part oid, statement text, bytea_cols text[], bytea_cats text[], left_out jsonb)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN QUERY
        WITH cols AS (
            SELECT x.part, x.rel, a.attnum, a.attname, l.category,
                   COALESCE(l.category = ANY (withheld), false) AS withheld,
                   (CASE WHEN ty.typtype = 'd' THEN privacy.base_type(a.atttypid) ELSE a.atttypid::pg_catalog.regtype END)
                       = 'pg_catalog.bytea'::pg_catalog.regtype AS is_bytea
              FROM ROWS FROM (pg_catalog.unnest(parts), pg_catalog.unnest(rels)) x(part, rel)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = x.part AND a.attnum > 0 AND NOT a.attisdropped
              JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
              LEFT JOIN LATERAL (SELECT (privacy.parse_label(s.label, false)).category
                                   FROM pg_catalog.pg_seclabel s
                                   JOIN pg_catalog.pg_attribute ra ON ra.attrelid = s.objoid AND ra.attnum = s.objsubid
                                  WHERE s.objoid = x.rel AND s.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                    AND s.provider = 'privacy' AND s.objsubid > 0 AND ra.attname = a.attname) l ON true
        ), terms AS (
            SELECT c.part, c.attnum,
                   CASE WHEN c.withheld
                        THEN pg_catalog.format('%L, %L::pg_catalog.jsonb', c.attname,
                                               pg_catalog.jsonb_build_object('category', c.category, 'left_out', true))
                        ELSE pg_catalog.format('%L, pg_catalog.jsonb_build_object(''category'', %L::pg_catalog.text, ''value'', pg_catalog.to_jsonb(t.%I))',
                                               c.attname, c.category, c.attname) END AS term,
                   pg_catalog.row_number() OVER (PARTITION BY c.part ORDER BY c.attnum) AS n
              FROM cols c
             WHERE c.withheld OR NOT c.is_bytea
        ), chunks AS (
            -- at most 100 arguments a call: 40 columns a jsonb_build_object
            SELECT tm.part, (tm.n - 1) / 40 AS chunk,
                   'pg_catalog.jsonb_build_object(' || pg_catalog.string_agg(tm.term, ', ' ORDER BY tm.attnum) || ')' AS sql
              FROM terms tm
             GROUP BY 1, 2
        )
        SELECT x.part,
               pg_catalog.format('SELECT t.tableoid, t.ctid, (%s)::pg_catalog.text%s FROM ONLY %s t WHERE t.ctid = ANY (($1[1])::pg_catalog.tid[])',
                   COALESCE((SELECT pg_catalog.string_agg(ch.sql, ' || ' ORDER BY ch.chunk) FROM chunks ch WHERE ch.part = x.part),
                            '''{}''::pg_catalog.jsonb'),
                   COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format(', pg_catalog.encode(t.%I, ''base64'')', c.attname), '' ORDER BY c.attnum)
                               FROM cols c WHERE c.part = x.part AND c.is_bytea AND NOT c.withheld), ''),
                   x.part::pg_catalog.regclass),
               ARRAY(SELECT c.attname::text FROM cols c WHERE c.part = x.part AND c.is_bytea AND NOT c.withheld ORDER BY c.attnum),
               ARRAY(SELECT c.category FROM cols c WHERE c.part = x.part AND c.is_bytea AND NOT c.withheld ORDER BY c.attnum),
               COALESCE((SELECT pg_catalog.jsonb_object_agg(g.category, g.names)
                           FROM (SELECT c.category, pg_catalog.jsonb_agg(c.attname ORDER BY c.attnum) AS names
                                   FROM cols c WHERE c.part = x.part AND c.withheld GROUP BY 1) g), '{}'::jsonb)
          FROM pg_catalog.unnest(parts) x(part);
END
$$;
COMMENT ON FUNCTION privacy.export_read_sql(oid[], oid[], text[]) IS
    'internal: the statements an export reads tables'' (partitions'') rows with, by ctid, as their owners: each row as jsonb text (the columns of categories left out not read), then its bytea columns as base64; and per partition the columns left out, by category';
REVOKE ALL ON FUNCTION privacy.export_read_sql(oid[], oid[], text[]) FROM PUBLIC;

CREATE FUNCTION privacy.export_subject_rows(subject text, kind text DEFAULT 'person', withhold text[] DEFAULT NULL)
    RETURNS TABLE (relation pg_catalog.regclass, data jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    -- one subject's rows, by indexes and ctids: no JIT (the reads' estimates
    -- are no guide to it; plan_cache_mode is left alone: Citus plans no
    -- generic statement with parameters on a distributed table)
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    AS $$
DECLARE
    canonical text;
    pseud text;
    plan jsonb;
    withheld text[];
    reasons text[];
    relids oid[];
    parts oid[];
    tids text[];
    p record;
    r record;
    e record;
    obj jsonb;
    n bigint;
    left_out jsonb := '{}'::jsonb;
    total bigint := 0;
    tables integer := 0;
BEGIN
    IF subject IS NULL OR kind IS NULL THEN
        RAISE EXCEPTION 'subject and kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT COALESCE(pg_catalog.array_agg(w.category ORDER BY w.category), '{}'),
           COALESCE(pg_catalog.array_agg(w.reason ORDER BY w.category), '{}')
      INTO withheld, reasons
      FROM privacy.export_withheld(withhold) w;
    canonical := privacy.subject_canonical(subject, kind);
    pseud := privacy.subject_pseudonym(canonical, kind);
    plan := privacy.cancel_plan()->kind;
    -- the rows the subject owns, alone or with others, table by table, found
    -- by subject_rows; each read again, whole, as its table's owner, by ctid
    SELECT pg_catalog.array_agg(g.relid ORDER BY g.relid::pg_catalog.regclass::text, g.part),
           pg_catalog.array_agg(g.part ORDER BY g.relid::pg_catalog.regclass::text, g.part),
           pg_catalog.array_agg(g.tids::text ORDER BY g.relid::pg_catalog.regclass::text, g.part)
      INTO relids, parts, tids
      FROM (SELECT s.relid, s.part, pg_catalog.array_agg(s.tid ORDER BY s.tid) AS tids
              FROM privacy.subject_rows(plan, canonical, 'NONE') s
             WHERE s.vals[1]::boolean
             GROUP BY 1, 2) g;
    FOR p IN
        SELECT u.relid, u.part, u.tids, q.statement, q.bytea_cols, q.bytea_cats, q.left_out
          FROM ROWS FROM (pg_catalog.unnest(relids), pg_catalog.unnest(parts), pg_catalog.unnest(tids)) WITH ORDINALITY u(relid, part, tids, o)
          JOIN privacy.export_read_sql(parts, relids, withheld) q ON q.part = u.part
         ORDER BY u.o
    LOOP
        n := 0;
        FOR r IN SELECT o.vals FROM privacy.owner_rows(p.part::pg_catalog.regclass, p.statement, ARRAY[p.tids]) o LOOP
            obj := r.vals[1]::jsonb;
            FOR i IN 1 .. pg_catalog.cardinality(p.bytea_cols) LOOP
                obj := obj || pg_catalog.jsonb_build_object(p.bytea_cols[i],
                           privacy.export_value(r.vals[i + 1], true, p.bytea_cats[i], canonical, kind));
            END LOOP;
            relation := p.relid::pg_catalog.regclass;
            data := obj;
            RETURN NEXT;
            n := n + 1;
        END LOOP;
        -- per category left out: its columns, and how many values were not handed out
        FOR e IN SELECT x.key, x.value FROM pg_catalog.jsonb_each(p.left_out) x LOOP
            left_out := left_out || pg_catalog.jsonb_build_object(e.key, pg_catalog.jsonb_build_object(
                'columns', COALESCE(left_out->e.key->'columns', '[]'::jsonb)
                           || COALESCE((SELECT pg_catalog.jsonb_agg(p.relid::pg_catalog.regclass::text || '.' || pg_catalog.quote_ident(c) ORDER BY c)
                                          FROM pg_catalog.jsonb_array_elements_text(e.value) c
                                         WHERE NOT COALESCE(left_out->e.key->'columns', '[]'::jsonb)
                                                   ? (p.relid::pg_catalog.regclass::text || '.' || pg_catalog.quote_ident(c))), '[]'::jsonb),
                'values', COALESCE((left_out->e.key->>'values')::bigint, 0) + n * pg_catalog.jsonb_array_length(e.value)));
        END LOOP;
        total := total + n;
        tables := tables + 1;
    END LOOP;

    -- the consent history and the subject's requests
    RETURN QUERY
        SELECT 'privacy.consent_event'::pg_catalog.regclass,
               pg_catalog.jsonb_build_object('purpose', ev.purpose, 'granted', ev.granted, 'at', ev.at,
                                             'policy_version', ev.policy_version, 'by_guardian', ev.by_guardian,
                                             'evidence', ev.evidence)
          FROM privacy.consent_event ev
         WHERE ev.subject = canonical AND ev.subject_kind = export_subject_rows.kind
         ORDER BY ev.seq;
    RETURN QUERY
        SELECT 'privacy.request'::pg_catalog.regclass,
               pg_catalog.jsonb_build_object('id', rq.id, 'kind', rq.kind, 'received_at', rq.received_at,
                                             'due_at', rq.due_at, 'status', rq.status)
          FROM privacy.request rq
         WHERE rq.subject_id = pseud
         ORDER BY rq.id;
    -- what was left out, and why: one row per category
    RETURN QUERY
        SELECT 'privacy.category'::pg_catalog.regclass,
               pg_catalog.jsonb_build_object('category', x.key, 'reason', w.reason,
                                             'columns', x.value->'columns', 'values', x.value->'values')
          FROM pg_catalog.jsonb_each(left_out) x
          JOIN ROWS FROM (pg_catalog.unnest(withheld), pg_catalog.unnest(reasons)) w(category, reason) ON w.category = x.key
         ORDER BY x.key;

    PERFORM privacy.audit_append('export', pg_catalog.format('subject %s', pseud),
        pg_catalog.jsonb_build_object('tables', tables, 'rows', total)
        || CASE WHEN left_out <> '{}'::jsonb
                THEN pg_catalog.jsonb_build_object('left_out', (SELECT pg_catalog.jsonb_agg(k ORDER BY k) FROM pg_catalog.jsonb_object_keys(left_out) k))
                ELSE '{}'::jsonb END
        || CASE WHEN kind <> 'person' THEN pg_catalog.jsonb_build_object('kind', kind) ELSE '{}'::jsonb END);
END
$$;
COMMENT ON FUNCTION privacy.export_subject_rows(text, text, text[]) IS
    'everything held about the subject of a kind: every row it owns, alone or with others, one row per table row (each column with its value and category; bytea as base64; the subject''s ciphertexts decrypted; a column of a category left out marked so, not read), read as each table''s owner, then its consent history, its requests, and one privacy.category row per category left out (reason, columns, values); withhold: the categories to leave out instead of those whose exported is false; for subjects with very many rows';
-- Reads personal data: granted explicitly.
REVOKE ALL ON FUNCTION privacy.export_subject_rows(text, text, text[]) FROM PUBLIC;

CREATE FUNCTION privacy.export_subject(subject text, kind text DEFAULT 'person', withhold text[] DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- (PL/pgSQL rather than SQL: its plan is kept, where a SQL function's
    -- query is planned again at every call)
    RETURN (
        WITH x AS MATERIALIZED (SELECT r.relation, r.data FROM privacy.export_subject_rows(subject, kind, withhold) r)
        SELECT pg_catalog.jsonb_build_object(
                   'exported_at', pg_catalog.now(),
                   'tables', COALESCE((SELECT pg_catalog.jsonb_object_agg(g.relation, g.rows)
                                         FROM (SELECT x.relation::text AS relation,
                                                      pg_catalog.jsonb_agg(x.data ORDER BY x.data::text) AS rows
                                                 FROM x
                                                WHERE x.relation::text <> ALL (ARRAY['privacy.consent_event', 'privacy.request', 'privacy.category'])
                                                GROUP BY 1) g), '{}'),
                   'consent_history', COALESCE((SELECT pg_catalog.jsonb_agg(x.data) FROM x
                                                 WHERE x.relation = 'privacy.consent_event'::pg_catalog.regclass), '[]'),
                   'requests', COALESCE((SELECT pg_catalog.jsonb_agg(x.data) FROM x
                                          WHERE x.relation = 'privacy.request'::pg_catalog.regclass), '[]'),
                   'left_out', COALESCE((SELECT pg_catalog.jsonb_agg(x.data) FROM x
                                          WHERE x.relation = 'privacy.category'::pg_catalog.regclass), '[]')));
END
$$;
COMMENT ON FUNCTION privacy.export_subject(text, text, text[]) IS
    'everything held about the subject (of a kind) as one jsonb document: rows of every labelled table by table (values with their categories), consent history, requests, and the categories left out with the reason, their columns and how many values (left_out: by default the categories whose exported is false, else those withhold names); audited';
-- As export_subject_rows.
REVOKE ALL ON FUNCTION privacy.export_subject(text, text, text[]) FROM PUBLIC;

-- src/sql/state/retention.sql: legal holds, tables that follow their categories' default retention, the log of retention runs

CREATE TABLE privacy.hold (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_kind text,
    subject      text,
    table_schema name,
    table_name   name,
    until        timestamptz NOT NULL,
    reason       text        NOT NULL,
    placed_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    placed_by    name        NOT NULL DEFAULT SESSION_USER,
    released_at  timestamptz,
    CHECK ((subject IS NULL) OPERATOR(pg_catalog.<>) (table_name IS NULL)),
    CHECK ((subject IS NULL) OPERATOR(pg_catalog.=) (subject_kind IS NULL)),
    CHECK ((table_schema IS NULL) OPERATOR(pg_catalog.=) (table_name IS NULL))
);
CREATE INDEX hold_subject ON privacy.hold (subject, subject_kind);
COMMENT ON TABLE privacy.hold IS
    'legal holds: a subject''s rows (subject in its canonical form, and its kind), or a whole table, that no retention, cancellation or end-of-service anonymization erases until the hold ends or is released';
COMMENT ON SEQUENCE privacy.hold_id_seq IS 'numbers the legal holds';
-- Names subjects: administrators, granted explicitly.
REVOKE ALL ON privacy.hold FROM PUBLIC;

-- Tables whose labelled columns follow their categories' default retention
CREATE TABLE privacy.category_retention (
    table_schema name NOT NULL,
    table_name   name NOT NULL,
    after_column name NOT NULL,
    enabled_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (table_schema, table_name)
);
COMMENT ON TABLE privacy.category_retention IS
    'tables whose labelled columns without a RETAIN clause of their own are anonymized after their category''s default retention, counted from after_column';
GRANT SELECT ON privacy.category_retention TO PUBLIC;

-- The log of runs
CREATE TABLE privacy.retention_run (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    ended_at      timestamptz,
    run_by        name        NOT NULL DEFAULT SESSION_USER,
    pid           integer     NOT NULL DEFAULT pg_catalog.pg_backend_pid(),
    backend_start timestamptz,
    batch_size    integer     NOT NULL,
    max_duration  interval    NOT NULL,
    dry_run       boolean     NOT NULL,
    stopped_early boolean
);
COMMENT ON TABLE privacy.retention_run IS
    'one row per run of privacy.run_retention: when it started and ended, by whom, its limits, whether it stopped at max_duration; ended_at NULL and no live backend: interrupted';
COMMENT ON SEQUENCE privacy.retention_run_id_seq IS 'numbers the retention runs';
GRANT SELECT ON privacy.retention_run TO PUBLIC;

CREATE TABLE privacy.retention_run_table (
    run_id       bigint      NOT NULL REFERENCES privacy.retention_run ON DELETE CASCADE,
    relation     text        NOT NULL,
    column_name  name,
    action       text        NOT NULL,
    rows         bigint      NOT NULL DEFAULT 0,
    batches      integer     NOT NULL DEFAULT 0,
    due          bigint,
    held         bigint      NOT NULL DEFAULT 0,
    error        text,
    longest_batch interval,
    sets_sql     text,
    pending_sql  text,
    differs_sql  text,
    watermark    text,
    started_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX retention_run_table_run ON privacy.retention_run_table (run_id);
COMMENT ON TABLE privacy.retention_run_table IS
    'per run and RETAIN clause: the action, rows and batches done so far (committed with each batch), the longest batch, rows due (dry run), the expired rows legal holds kept back (held: on the table, or on subjects), the error that stopped it, and the statements the batches run';
GRANT SELECT ON privacy.retention_run_table TO PUBLIC;

-- pg_dump keeps what these hold (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.hold', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.hold_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.retention_run', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.retention_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.retention_run_table', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.category_retention', '');

-- src/sql/code/retention.sql: retention: legal holds, retention rules, batches and runs, the preview

CREATE FUNCTION privacy.place_hold(subject text, until timestamptz, reason text, kind text DEFAULT 'person') RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    hid bigint;
    canonical text;
BEGIN
    IF subject IS NULL OR until IS NULL OR reason IS NULL OR kind IS NULL THEN
        RAISE EXCEPTION 'subject, until, reason and kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF until <= pg_catalog.now() THEN
        RAISE EXCEPTION 'a hold must end in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    canonical := privacy.subject_canonical(subject, kind);
    INSERT INTO privacy.hold (subject_kind, subject, until, reason) VALUES (kind, canonical, until, reason)
    RETURNING privacy.hold.id INTO hid;
    PERFORM privacy.audit_append('hold', pg_catalog.format('hold %s', hid),
        pg_catalog.jsonb_build_object('operation', 'place', 'subject', privacy.subject_pseudonym(canonical, kind),
                                      'until', until, 'reason', reason)
        || CASE WHEN kind <> 'person' THEN pg_catalog.jsonb_build_object('kind', kind) ELSE '{}'::jsonb END);
    RETURN hid;
END
$$;
COMMENT ON FUNCTION privacy.place_hold(text, timestamptz, text, text) IS
    'place a legal hold on a subject of a kind (its rows in every table, through owning foreign keys too): retention and end-of-service anonymization leave them and its cancellation is refused until the hold ends; returns its id';
-- Administrators: granted explicitly.
REVOKE ALL ON FUNCTION privacy.place_hold(text, timestamptz, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.place_hold(rel pg_catalog.regclass, until timestamptz, reason text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    hid bigint;
    root pg_catalog.regclass;
BEGIN
    IF rel IS NULL OR until IS NULL OR reason IS NULL THEN
        RAISE EXCEPTION 'table, until and reason must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF until <= pg_catalog.now() THEN
        RAISE EXCEPTION 'a hold must end in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    root := COALESCE(pg_catalog.pg_partition_root(rel), rel);
    INSERT INTO privacy.hold (table_schema, table_name, until, reason)
    SELECT n.nspname, c.relname, until, reason
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = root
    RETURNING privacy.hold.id INTO hid;
    PERFORM privacy.audit_append('hold', pg_catalog.format('hold %s', hid),
        pg_catalog.jsonb_build_object('operation', 'place', 'table', root::text, 'until', until, 'reason', reason));
    RETURN hid;
END
$$;
COMMENT ON FUNCTION privacy.place_hold(pg_catalog.regclass, timestamptz, text) IS
    'place a legal hold on a whole table (a partition: its partitioned table): retention leaves it until the hold ends; returns its id';
REVOKE ALL ON FUNCTION privacy.place_hold(pg_catalog.regclass, timestamptz, text) FROM PUBLIC;

CREATE FUNCTION privacy.release_hold(hold_id bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    h privacy.hold;
BEGIN
    IF hold_id IS NULL THEN
        RAISE EXCEPTION 'hold id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO h FROM privacy.hold x WHERE x.id = hold_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'hold % does not exist', hold_id USING ERRCODE = 'undefined_object';
    END IF;
    IF h.released_at IS NOT NULL THEN
        RAISE EXCEPTION 'hold % is already released', hold_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE privacy.hold x SET released_at = pg_catalog.now() WHERE x.id = hold_id;
    PERFORM privacy.audit_append('hold', pg_catalog.format('hold %s', hold_id),
        pg_catalog.jsonb_build_object('operation', 'release'));
END
$$;
COMMENT ON FUNCTION privacy.release_hold(bigint) IS 'end a legal hold before its time';
REVOKE ALL ON FUNCTION privacy.release_hold(bigint) FROM PUBLIC;

-- refuses unless the role that called (SET ROLE's, else the session's: inside a
-- SECURITY DEFINER function) is the table's owner or one of its members
CREATE FUNCTION privacy.require_table_owner(rel pg_catalog.regclass) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT pg_catalog.pg_has_role(CASE pg_catalog.current_setting('role') WHEN 'none' THEN SESSION_USER
                                       ELSE pg_catalog.current_setting('role')::name END,
                                  (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = rel),
                                  'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', rel USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.require_table_owner(pg_catalog.regclass) IS
    'raises 42501 unless the calling role (SET ROLE''s, else the session''s) owns the table or is a member of its owner (internal, for SECURITY DEFINER functions)';
-- Internal: called by the extension's functions.
REVOKE ALL ON FUNCTION privacy.require_table_owner(pg_catalog.regclass) FROM PUBLIC;

CREATE FUNCTION privacy.enable_category_retention(rel pg_catalog.regclass, after_column name) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    typ oid;
    n integer;
BEGIN
    IF rel IS NULL OR after_column IS NULL THEN
        RAISE EXCEPTION 'table and column must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM privacy.require_table_owner(rel);
    SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = rel AND a.attname = after_column AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', after_column, rel USING ERRCODE = 'undefined_column';
    END IF;
    IF NOT typ = ANY (ARRAY['pg_catalog.date'::regtype, 'pg_catalog.timestamp'::regtype,
                                                  'pg_catalog.timestamptz'::regtype]::oid[]) THEN
        RAISE EXCEPTION 'column "%" is not a date or timestamp', after_column USING ERRCODE = 'datatype_mismatch';
    END IF;
    INSERT INTO privacy.category_retention AS c (table_schema, table_name, after_column)
    SELECT n.nspname, k.relname, after_column
      FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
     WHERE k.oid = COALESCE(pg_catalog.pg_partition_root(rel), rel)
    ON CONFLICT ON CONSTRAINT category_retention_pkey DO UPDATE SET after_column = EXCLUDED.after_column;
    PERFORM privacy.audit_append('retention', pg_catalog.format('table %s', rel),
        pg_catalog.jsonb_build_object('operation', 'enable category retention', 'after', after_column));
    SELECT pg_catalog.count(*)::integer INTO n FROM privacy.retention_rule r
     WHERE r.relation = COALESCE(pg_catalog.pg_partition_root(rel), rel) AND r.from_category;
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.enable_category_retention(pg_catalog.regclass, name) IS
    'let the table''s labelled columns without a RETAIN clause of their own follow their category''s default retention, counted from a date or timestamp column; returns how many columns that gives a rule';
-- Table owners: granted explicitly.
REVOKE ALL ON FUNCTION privacy.enable_category_retention(pg_catalog.regclass, name) FROM PUBLIC;

CREATE FUNCTION privacy.disable_category_retention(rel pg_catalog.regclass) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'table must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM privacy.require_table_owner(rel);
    DELETE FROM privacy.category_retention c
     WHERE pg_catalog.to_regclass(pg_catalog.format('%I.%I', c.table_schema, c.table_name))
           = COALESCE(pg_catalog.pg_partition_root(rel), rel);
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM privacy.audit_append('retention', pg_catalog.format('table %s', rel),
        pg_catalog.jsonb_build_object('operation', 'disable category retention'));
    RETURN true;
END
$$;
COMMENT ON FUNCTION privacy.disable_category_retention(pg_catalog.regclass) IS
    'stop applying category default retention to the table; false if it was not enabled';
REVOKE ALL ON FUNCTION privacy.disable_category_retention(pg_catalog.regclass) FROM PUBLIC;

-- every RETAIN clause in force: the table's (delete or anonymize its rows) and
-- each column's (anonymize that column); then, on tables where the
-- administrator enabled it, each labelled column's category default
CREATE VIEW privacy.retention_rule AS
    SELECT l.relation, l.column_name, l.retain, l.retain_after,
           COALESCE(l.retain_then, CASE WHEN l.column_name IS NULL THEN 'delete' ELSE 'anonymize' END) AS action,
           false AS from_category
      FROM privacy.labels l
     WHERE l.retain IS NOT NULL
    UNION ALL
    SELECT l.relation, l.column_name, c.retention, r.after_column::text, 'anonymize', true
      FROM privacy.category_retention r
      JOIN privacy.labels l
        ON l.relation OPERATOR(pg_catalog.=) pg_catalog.to_regclass(pg_catalog.format('%I.%I', r.table_schema, r.table_name))
      JOIN privacy.category c ON c.name OPERATOR(pg_catalog.=) l.category
     WHERE c.retention IS NOT NULL AND l.retain IS NULL AND NOT l.subject;
COMMENT ON VIEW privacy.retention_rule IS
    'every retention rule in force: relation, column_name (NULL: the whole row), retain, retain_after, action (delete or anonymize), from_category (a category default the administrator enabled for the table)';
GRANT SELECT ON privacy.retention_rule TO PUBLIC;

-- The SQL of one rule: the SET list (anonymize), the condition that a row
-- still needs it (expired, not yet anonymized), and that second part, as
-- text on alias t; ($1[1])::timestamptz is the cutoff.  The statements run as
-- the table's owner (privacy.owner_exec): the casts, placeholders and
-- generalizations in them are the owner's to run.
--
-- A row anonymized as a whole (THEN ANONYMIZE) is nobody's any more: it loses
-- its SUBJECT columns and its foreign keys to subjects' rows (set to NULL; a
-- NOT NULL one stops the rule with an error that names it), and its labelled
-- columns become what privacy.anonymous_sql says (ANONYMIZE WITH KEEP keeps
-- a value, as financial.transaction's amounts are kept for the accounts).
-- Columns other tables' keys reference stay: they are keys.
CREATE FUNCTION privacy.retention_sql(rel pg_catalog.regclass, column_name name, retain_after name, action text,
                                      OUT sets text, OUT pending text, OUT differs text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    c record;
    assign text[] := ARRAY[]::text[];
    differing text[] := ARRAY[]::text[];
    v text;
    whole boolean := retention_sql.column_name IS NULL;
    subject_tables oid[];
BEGIN
    pending := pg_catalog.format('t.%I < ($1[1])::timestamptz', retain_after);
    IF action <> 'anonymize' THEN
        RETURN;
    END IF;
    -- the tables that hold subjects' rows
    subject_tables := ARRAY(SELECT DISTINCT w.relid FROM privacy.subject_walk() w);
    FOR c IN
        SELECT a.attname, a.attnotnull, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ, a.atttypid,
               COALESCE(l.subject, false) AS subject, COALESCE(l.category IS NOT NULL OR l.subject, false) AS labelled,
               EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                        WHERE i.indrelid = rel AND i.indisunique
                          AND a.attnum = ANY (i.indkey::smallint[])) AS is_unique,
               EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                        WHERE k.contype = 'f' AND k.confrelid = rel AND a.attnum = ANY (k.confkey)) AS referenced,
               EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                        WHERE k.contype = 'f' AND k.conrelid = rel AND a.attnum = ANY (k.conkey)) AS is_fk,
               (SELECT pg_catalog.min(k.conname) FROM pg_catalog.pg_constraint k
                 WHERE k.contype = 'f' AND k.conrelid = rel AND a.attnum = ANY (k.conkey)
                   AND k.confrelid = ANY (subject_tables)) AS to_subject
          FROM pg_catalog.pg_attribute a
          LEFT JOIN privacy.labels l
            ON l.relation = rel AND l.column_name = a.attname
         WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attgenerated = '' AND a.attidentity = ''
           AND (whole OR a.attname = retention_sql.column_name)
         ORDER BY a.attnum
    LOOP
        CONTINUE WHEN c.referenced;
        IF c.subject OR c.to_subject IS NOT NULL THEN
            -- the row's link to a subject: cut
            IF c.attnotnull THEN
                RAISE EXCEPTION 'column %.% links the anonymized rows to their subject and is NOT NULL', rel, c.attname
                    USING ERRCODE = 'feature_not_supported',
                          DETAIL = CASE WHEN c.subject THEN 'It is a SUBJECT column.'
                                        ELSE pg_catalog.format('Its foreign key %I leads to a subject''s rows.', c.to_subject) END,
                          HINT = 'An anonymized row is nobody''s: make the column nullable, or retain the whole row with THEN DELETE.';
            END IF;
            v := pg_catalog.format('NULL::%s', c.typ);
        ELSIF NOT c.labelled THEN
            CONTINUE;
        ELSIF c.is_fk THEN
            -- a key to a table that is nobody's: NULL, or kept when it must be set
            CONTINUE WHEN c.attnotnull;
            v := pg_catalog.format('NULL::%s', c.typ);
        ELSIF c.atttypid = ANY (ARRAY['pg_catalog.inet'::regtype, 'pg_catalog.cidr'::regtype]::oid[]) AND NOT whole THEN
            -- an address column keeps its network: 24 bits of IPv4, 48 of IPv6
            v := pg_catalog.format('privacy.generalize(t.%1$I::inet, CASE pg_catalog.family(t.%1$I) WHEN 4 THEN 24 ELSE 48 END)::%2$s',
                                   c.attname, c.typ);
        ELSE
            v := privacy.anonymous_sql(rel, c.attname);
            CONTINUE WHEN v IS NULL;    -- ANONYMIZE WITH KEEP
            IF c.attnotnull AND c.is_unique AND v ~ '^privacy\.anonymous_value\(' THEN
                RAISE EXCEPTION 'column %.% is NOT NULL and unique: anonymizing it would give each row a random value, which a later run cannot tell from an original', rel, c.attname
                    USING ERRCODE = 'feature_not_supported',
                          HINT = 'Make the column nullable, or retain the whole row with THEN DELETE.';
            END IF;
        END IF;
        assign := assign || pg_catalog.format('%I = %s', c.attname, v);
        differing := differing || pg_catalog.format('t.%I IS DISTINCT FROM %s', c.attname, v);
    END LOOP;
    IF pg_catalog.cardinality(assign) = 0 THEN
        RAISE EXCEPTION 'nothing of % can be anonymized', rel
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Label the columns that hold personal data (a column labelled ANONYMIZE WITH KEEP keeps its value), or use THEN DELETE.';
    END IF;
    sets := pg_catalog.array_to_string(assign, ', ');
    -- rows already anonymized are done: a later run does not touch them again
    retention_sql.differs := pg_catalog.array_to_string(differing, ' OR ');
    pending := pending || ' AND (' || retention_sql.differs || ')';
END
$$;
COMMENT ON FUNCTION privacy.retention_sql(pg_catalog.regclass, name, name, text) IS
    'internal: the SET list, the condition (expired, not yet anonymized) and its not-yet-anonymized part, of one RETAIN clause; an anonymized row loses its links to subjects';
REVOKE ALL ON FUNCTION privacy.retention_sql(pg_catalog.regclass, name, name, text) FROM PUBLIC;

-- The rows of a table that legal holds on subjects keep now: each held
-- subject's rows (owned alone or with others, through owning foreign keys)
-- found as cancellation finds them, locked FOR SHARE so that they keep their
-- place while the caller's statement leaves them; as 'tableoid:ctid'.
CREATE FUNCTION privacy.held_rows(rel pg_catalog.regclass, lock text DEFAULT 'SHARE') RETURNS text[]
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    h record;
    plan jsonb;
    plans jsonb;
    held text[] := '{}'::text[];
BEGIN
    FOR h IN SELECT DISTINCT x.subject_kind, x.subject FROM privacy.hold x
              WHERE x.subject IS NOT NULL AND x.released_at IS NULL AND x.until > pg_catalog.now()
              ORDER BY 1, 2 LOOP
        plans := COALESCE(plans, privacy.cancel_plan());
        plan := plans->h.subject_kind;
        CONTINUE WHEN plan IS NULL OR NOT (plan->'tables') ? (rel::oid::text);
        held := held || ARRAY(SELECT s.part::text || ':' || s.tid::text
                                FROM privacy.subject_rows(plan, h.subject, lock) s
                               WHERE s.relid = rel::oid AND s.vals[1]::boolean);
    END LOOP;
    RETURN held;
END
$$;
COMMENT ON FUNCTION privacy.held_rows(pg_catalog.regclass, text) IS
    'internal: the rows of a table (''tableoid:ctid'') that a legal hold on a subject keeps now, locked FOR SHARE (lock NONE: not locked)';
REVOKE ALL ON FUNCTION privacy.held_rows(pg_catalog.regclass, text) FROM PUBLIC;

-- The legal holds in force that keep rows of a table: one on the table, or
-- one on a subject some of whose rows it holds (by hold id: the subject is
-- not named); for a role that may read the table.
CREATE FUNCTION privacy.holds_on(rel pg_catalog.regclass)
    RETURNS TABLE (hold_id bigint, on_table boolean, held_rows bigint)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    h record;
    plans jsonb;
    n bigint;
    root pg_catalog.regclass;
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'table must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    root := COALESCE(pg_catalog.pg_partition_root(rel), rel);
    FOR h IN SELECT x.id, x.subject_kind, x.subject, x.table_name IS NOT NULL AS on_table,
                    CASE WHEN x.table_name IS NOT NULL
                         THEN pg_catalog.to_regclass(pg_catalog.format('%I.%I', x.table_schema, x.table_name)) END AS tab
               FROM privacy.hold x
              WHERE x.released_at IS NULL AND x.until > pg_catalog.now()
              ORDER BY x.id LOOP
        IF h.on_table THEN
            CONTINUE WHEN h.tab IS DISTINCT FROM root;
            n := NULL;
        ELSE
            plans := COALESCE(plans, privacy.cancel_plan());
            CONTINUE WHEN NOT COALESCE((plans->h.subject_kind->'tables') ? (root::oid::text), false);
            SELECT pg_catalog.count(*) INTO n FROM privacy.subject_rows(plans->h.subject_kind, h.subject, 'NONE') s
             WHERE s.relid = root::oid AND s.vals[1]::boolean;
            CONTINUE WHEN n = 0;
        END IF;
        hold_id := h.id;
        on_table := h.on_table;
        held_rows := n;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.holds_on(pg_catalog.regclass) IS
    'internal: the legal holds in force that keep rows of a table: on the table itself (held_rows NULL: all of them), or on a subject with rows in it (how many); by hold id, naming no subject';
REVOKE ALL ON FUNCTION privacy.holds_on(pg_catalog.regclass) FROM PUBLIC;

CREATE FUNCTION privacy.table_holds(rel pg_catalog.regclass)
    RETURNS TABLE (hold_id bigint, on_table boolean, held_rows bigint)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'table must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT pg_catalog.has_table_privilege(CASE pg_catalog.current_setting('role') WHEN 'none' THEN SESSION_USER
                                               ELSE pg_catalog.current_setting('role')::name END, rel, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for table %', rel USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY SELECT h.hold_id, h.on_table, h.held_rows FROM privacy.holds_on(rel) h;
END
$$;
COMMENT ON FUNCTION privacy.table_holds(pg_catalog.regclass) IS
    'the legal holds in force that keep rows of a table: on the table itself (held_rows NULL: all of them), or on a subject with rows in it (how many); by hold id, naming no subject; for a role that may read the table';
-- Not PUBLIC's: whether a subject some rows of a table name is under a legal
-- hold is itself what a hold keeps quiet (test/review 06).  The DPO's role is
-- granted it.
REVOKE ALL ON FUNCTION privacy.table_holds(pg_catalog.regclass) FROM PUBLIC;

-- whether a table is under a legal hold now
CREATE FUNCTION privacy.table_held(rel pg_catalog.regclass) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT EXISTS (SELECT 1 FROM privacy.hold h
                        WHERE CASE WHEN h.table_name IS NOT NULL
                                   THEN pg_catalog.to_regclass(pg_catalog.format('%I.%I', h.table_schema, h.table_name))
                                        = COALESCE(pg_catalog.pg_partition_root(rel), rel)
                                   ELSE false END
                          AND h.released_at IS NULL AND h.until > pg_catalog.now())
    $$;
COMMENT ON FUNCTION privacy.table_held(pg_catalog.regclass) IS 'whether a legal hold on the whole table is in force';
REVOKE ALL ON FUNCTION privacy.table_held(pg_catalog.regclass) FROM PUBLIC;

CREATE VIEW privacy.retention_log AS
    SELECT r.id, r.started_at, r.ended_at, r.run_by, r.dry_run, r.batch_size, r.max_duration,
           CASE WHEN r.ended_at IS NOT NULL THEN CASE WHEN r.stopped_early THEN 'stopped at max_duration' ELSE 'finished' END
                WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                              WHERE a.pid OPERATOR(pg_catalog.=) r.pid AND a.backend_start OPERATOR(pg_catalog.=) r.backend_start)
                     THEN 'running'
                ELSE 'interrupted' END AS status,
           t.relation, t.column_name, t.action, t.rows, t.batches, t.longest_batch, t.due, t.held, t.error
      FROM privacy.retention_run r
      LEFT JOIN privacy.retention_run_table t ON t.run_id OPERATOR(pg_catalog.=) r.id;
COMMENT ON VIEW privacy.retention_log IS
    'every retention run with its status (running, finished, stopped at max_duration, interrupted) and, per RETAIN clause, action, rows, batches, the expired rows legal holds kept back (held) and error';
GRANT SELECT ON privacy.retention_log TO PUBLIC;

-- Start a run: its log row, its audit entry; NULL when another run is live.
-- One run at a time: the check and the new row happen under a lock on the
-- log that no role without UPDATE on it can take (an ordinary role holds at
-- most ACCESS SHARE, which does not conflict), and a run is live while its
-- backend (pid and start time) is; a run this backend left unfinished (an
-- error ended it) is marked interrupted here.
CREATE FUNCTION privacy.retention_start(batch_size integer, max_duration interval, dry_run boolean) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rid bigint;
    me timestamptz;
BEGIN
    LOCK TABLE privacy.retention_run IN SHARE ROW EXCLUSIVE MODE;
    SELECT a.backend_start INTO me FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid();
    UPDATE privacy.retention_run r SET backend_start = NULL
     WHERE r.ended_at IS NULL AND r.pid = pg_catalog.pg_backend_pid() AND r.backend_start = me;
    IF EXISTS (SELECT 1 FROM privacy.retention_run r JOIN pg_catalog.pg_stat_activity a
                   ON a.pid = r.pid AND a.backend_start = r.backend_start
                WHERE r.ended_at IS NULL) THEN
        RETURN NULL;
    END IF;
    INSERT INTO privacy.retention_run (batch_size, max_duration, dry_run, backend_start)
    VALUES (batch_size, max_duration, dry_run, me)
    RETURNING privacy.retention_run.id INTO rid;
    PERFORM privacy.audit_append('retention', pg_catalog.format('run %s', rid),
        pg_catalog.jsonb_build_object('operation', 'start', 'batch_size', batch_size,
                                      'max_duration', max_duration::text, 'dry_run', dry_run));
    RETURN rid;
END
$$;
COMMENT ON FUNCTION privacy.retention_start(integer, interval, boolean) IS 'internal: log and audit the start of a retention run; NULL when another run is live';
REVOKE ALL ON FUNCTION privacy.retention_start(integer, interval, boolean) FROM PUBLIC;

CREATE FUNCTION privacy.retention_finish(run_id bigint, stopped_early boolean) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE privacy.retention_run r SET ended_at = pg_catalog.clock_timestamp(), stopped_early = retention_finish.stopped_early
     WHERE r.id = run_id;
    PERFORM privacy.audit_append('retention', pg_catalog.format('run %s', run_id),
        pg_catalog.jsonb_build_object('operation', 'finish', 'stopped_early', stopped_early,
            'tables', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                'relation', t.relation, 'column', t.column_name, 'action', t.action,
                                'rows', t.rows, 'batches', t.batches, 'held', t.held, 'failed', t.error IS NOT NULL)
                                ORDER BY t.relation, t.column_name), '[]')
                         FROM privacy.retention_run_table t WHERE t.run_id = retention_finish.run_id)));
END
$$;
COMMENT ON FUNCTION privacy.retention_finish(bigint, boolean) IS 'internal: log and audit the end of a retention run, with what it did per table';
REVOKE ALL ON FUNCTION privacy.retention_finish(bigint, boolean) FROM PUBLIC;

-- One batch of one rule: at most batch_size expired rows, deleted or
-- anonymized as the table's owner, rows a legal hold keeps left; how many, or
-- -1 when the rule failed (the error is in the log) or its table is held.
-- Any error of the rule is caught here, so that the run goes on with the
-- next one.
CREATE FUNCTION privacy.retention_batch(run_id bigint, rel pg_catalog.regclass, column_name name, retain interval,
                                        retain_after name, action text, batch_size integer, dry_run boolean)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q record;
    p record;
    n bigint := 0;
    cutoff timestamptz;
    msg text;
    state text;
    mark text;
    new_mark text;
    bound text;
    stmt text;
    held text[];
    args text[];
    unheld text;
    first_batch boolean;
    lock_timeout_was text := pg_catalog.current_setting('lock_timeout');
BEGIN
    -- a batch need not wait for its WAL to reach disk: a crash loses at most
    -- the last batches, their counts with them, and the next run does them again
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    -- this rule's line in the log, with its statements (made on the first batch)
    SELECT t.sets_sql AS sets, t.pending_sql AS pending, t.differs_sql AS differs, t.watermark INTO q FROM privacy.retention_run_table t
     WHERE t.run_id = retention_batch.run_id AND t.relation = rel::text
       AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
    IF NOT FOUND THEN
        INSERT INTO privacy.retention_run_table (run_id, relation, column_name, action)
        VALUES (run_id, rel::text, column_name, action);
    END IF;
    IF privacy.table_held(rel) THEN
        -- the whole table is held: every expired row is kept back (counted
        -- as the table's owner; a clause that cannot be counted counts none)
        BEGIN
            SELECT * INTO q FROM privacy.retention_sql(rel, column_name, retain_after, action);
            n := privacy.owner_exec_value(rel, pg_catalog.format('SELECT pg_catalog.count(*) FROM %s t WHERE %s', rel, q.pending),
                                          ARRAY[(pg_catalog.now() - retain)::text, '', '{}'])::bigint;
        EXCEPTION WHEN OTHERS OR assert_failure THEN
            n := 0;
        END;
        UPDATE privacy.retention_run_table t SET held = n, updated_at = pg_catalog.clock_timestamp()
         WHERE t.run_id = retention_batch.run_id AND t.relation = rel::text
           AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
        RETURN -1;
    END IF;
    BEGIN
        -- inside the block: an interval the label allows may still reach
        -- before the calendar's start
        cutoff := pg_catalog.now() - retain;
        first_batch := q.pending IS NULL;
        IF first_batch THEN
            SELECT * INTO q FROM privacy.retention_sql(rel, column_name, retain_after, action);
            UPDATE privacy.retention_run_table t SET sets_sql = q.sets, pending_sql = q.pending, differs_sql = q.differs
             WHERE t.run_id = retention_batch.run_id AND t.relation = rel::text
               AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
            SELECT q.sets AS sets, q.pending AS pending, q.differs AS differs, NULL::text AS watermark INTO q;
        END IF;
        -- $1[1] the cutoff, $1[2] where the last batch ended, $1[3] the rows legal holds keep
        held := privacy.held_rows(rel);
        args := ARRAY[cutoff::text, COALESCE(q.watermark, ''), held::text];
        unheld := CASE WHEN pg_catalog.cardinality(held) > 0
                       THEN ' AND NOT (t.tableoid::pg_catalog.text || '':'' || t.ctid::pg_catalog.text) = ANY (($1[3])::pg_catalog.text[])'
                       ELSE '' END;
        IF first_batch AND pg_catalog.cardinality(held) > 0 THEN
            -- the expired rows subjects' holds keep back, counted once a run
            UPDATE privacy.retention_run_table t
               SET held = privacy.owner_exec_value(rel,
                              pg_catalog.format('SELECT pg_catalog.count(*) FROM %s t WHERE %s AND (t.tableoid::pg_catalog.text || '':'' || t.ctid::pg_catalog.text) = ANY (($1[3])::pg_catalog.text[])',
                                                rel, q.pending), args)::bigint
             WHERE t.run_id = retention_batch.run_id AND t.relation = rel::text
               AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
        END IF;
        IF dry_run THEN
            n := privacy.owner_exec_value(rel, pg_catalog.format('SELECT pg_catalog.count(*) FROM %s t WHERE %s%s', rel, q.pending, unheld),
                                          args)::bigint;
            UPDATE privacy.retention_run_table t SET due = n, updated_at = pg_catalog.clock_timestamp()
             WHERE t.run_id = retention_batch.run_id AND t.relation = rel::text
               AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
            RETURN 0;
        END IF;
        -- the oldest expired rows first, by the index on the AFTER column;
        -- rows a live writer holds are left for the next batch or run
        IF pg_catalog.cardinality(held) = 0 AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = rel) = 'r' THEN
            -- no row is held: one statement, as the table's owner, finds and
            -- changes the batch, from where the last batch ended (rows before
            -- it are done, or were skipped and are left for the next run): the
            -- index scan starts there rather than among the dead entries of
            -- earlier batches
            stmt := pg_catalog.format(
                     'WITH done AS ('
                     ||
                     CASE WHEN action = 'delete'
                          THEN 'DELETE FROM ONLY %1$s t WHERE t.ctid = ANY (ARRAY('
                          ELSE 'UPDATE ONLY %1$s t SET %4$s WHERE t.ctid = ANY (ARRAY(' END
                     ||
                     'SELECT t.ctid FROM ONLY %1$s t WHERE t.%2$I < ($1[1])::timestamptz'
                     ' AND t.%2$I >= COALESCE(NULLIF($1[2], ''''), ''-infinity'')::timestamptz%3$s'
                     ' ORDER BY t.%2$I LIMIT %5$s%%s)) RETURNING t.%2$I)'
                     ' SELECT pg_catalog.count(*) || ''|'' || COALESCE(pg_catalog.max(done.%2$I)::timestamptz::text, '''') FROM done',
                     rel, retain_after, COALESCE(' AND (' || q.differs || ')', ''),
                     q.sets, batch_size);
            -- most batches meet no writer: change the rows without locking them
            -- first (one WAL record a row, not two), and give up at once on a row a
            -- writer holds, to take the batch again with SKIP LOCKED
            BEGIN
                PERFORM pg_catalog.set_config('lock_timeout', '50ms', true);
                mark := NULL;
                IF action = 'delete' THEN
                    -- a deletion takes the range from the watermark to the AFTER
                    -- value batch_size rows on (read from the index): each row is
                    -- visited once, by the DELETE's own index scan
                    bound := privacy.owner_exec_value(rel, pg_catalog.format(
                                 'SELECT t.%1$I::timestamptz::text FROM ONLY %2$s t'
                                 ' WHERE t.%1$I < ($1[1])::timestamptz'
                                 ' AND t.%1$I >= COALESCE(NULLIF($1[2], ''''), ''-infinity'')::timestamptz'
                                 ' ORDER BY t.%1$I OFFSET %3$s LIMIT 1', retain_after, rel, batch_size), args);
                    -- NULL: fewer rows than a batch are left, all of them go; when
                    -- the range holds nothing (a batch of equal values), rows go as below
                    IF bound IS NULL
                       OR bound::timestamptz > COALESCE(NULLIF(args[2], ''), '-infinity')::timestamptz THEN
                        n := privacy.owner_exec(rel, pg_catalog.format(
                                 'DELETE FROM ONLY %2$s t'
                                 ' WHERE t.%1$I < ($1[1])::timestamptz'
                                 ' AND t.%1$I >= COALESCE(NULLIF($1[2], ''''), ''-infinity'')::timestamptz',
                                 retain_after, rel),
                                 ARRAY[COALESCE(bound, cutoff::text), args[2]]);
                        IF n > 0 OR bound IS NULL THEN
                            mark := n::text || '|' || COALESCE(bound, cutoff::text);
                        END IF;
                    END IF;
                END IF;
                IF mark IS NULL THEN
                    mark := privacy.owner_exec_value(rel, pg_catalog.format(stmt, ''), args);
                END IF;
            EXCEPTION WHEN lock_not_available THEN
                mark := privacy.owner_exec_value(rel, pg_catalog.format(stmt, ' FOR UPDATE OF t SKIP LOCKED'), args);
            END;
            PERFORM pg_catalog.set_config('lock_timeout', lock_timeout_was, true);
            n := pg_catalog.split_part(mark, '|', 1)::bigint;
            IF pg_catalog.split_part(mark, '|', 2) <> '' THEN
                new_mark := pg_catalog.split_part(mark, '|', 2);
            END IF;
        ELSE
            -- the batch chosen and locked first, then changed partition by partition
            FOR p IN
                SELECT o.part, pg_catalog.array_agg(o.tid) AS tids
                  FROM privacy.owner_rows(rel, pg_catalog.format(
                           'SELECT t.tableoid, t.ctid FROM %s t WHERE %s%s ORDER BY t.%I LIMIT %s FOR UPDATE OF t SKIP LOCKED',
                           rel, q.pending, unheld, retain_after, batch_size), args) o
                 GROUP BY o.part ORDER BY o.part
            LOOP
                n := n + privacy.owner_exec(p.part::pg_catalog.regclass,
                         CASE WHEN action = 'delete'
                              THEN pg_catalog.format('DELETE FROM ONLY %s t WHERE t.ctid = ANY ($1)', p.part::pg_catalog.regclass)
                              ELSE pg_catalog.format('UPDATE ONLY %s t SET %s WHERE t.ctid = ANY ($1)', p.part::pg_catalog.regclass, q.sets) END,
                         p.tids, NULL);
            END LOOP;
        END IF;
    EXCEPTION WHEN OTHERS OR assert_failure THEN
        -- the error names tables and constraints; a data value it might quote is cut
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        IF pg_catalog.left(state, 2) = '23' THEN
            msg := pg_catalog.format('%s: constraint %s', state,
                       COALESCE(NULLIF(pg_catalog.substring(msg, 'constraint "([^"]+)"'), ''), 'violated'));
        ELSIF state = '22008' THEN
            msg := pg_catalog.format('%s: the RETAIN interval reaches before the earliest timestamp', state);
        ELSIF state NOT IN ('0A000', '42809', '42501') THEN
            msg := pg_catalog.format('failed with SQLSTATE %s', state);
        END IF;
        UPDATE privacy.retention_run_table t SET error = msg, updated_at = pg_catalog.clock_timestamp()
         WHERE t.run_id = retention_batch.run_id AND t.relation = rel::text
           AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
        RAISE WARNING 'retention of % stopped: %', rel, msg;
        RETURN -1;
    END;
    UPDATE privacy.retention_run_table t
       SET rows = t.rows + n, batches = t.batches + 1,
           watermark = COALESCE(new_mark, t.watermark),
           -- the batch is its transaction: from its start to now
           longest_batch = GREATEST(t.longest_batch, pg_catalog.clock_timestamp() - pg_catalog.now()),
           updated_at = pg_catalog.clock_timestamp()
     WHERE t.run_id = retention_batch.run_id AND t.relation = rel::text
       AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.retention_batch(bigint, pg_catalog.regclass, name, interval, name, text, integer, boolean) IS
    'internal: one batch of one RETAIN clause, its progress logged; -1 when its table is held or it failed';
REVOKE ALL ON FUNCTION privacy.retention_batch(bigint, pg_catalog.regclass, name, interval, name, text, integer, boolean) FROM PUBLIC;

-- SECURITY INVOKER, no SET clause: it commits after each batch
CREATE PROCEDURE privacy.run_retention(batch_size integer DEFAULT 5000, max_duration interval DEFAULT '5 minutes',
                                       dry_run boolean DEFAULT false)
    LANGUAGE plpgsql
    AS $$
DECLARE
    r record;
    run_id bigint;
    n bigint;
    deadline timestamptz;
    stopped boolean := false;
    done bigint;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF batch_size IS NULL OR max_duration IS NULL OR dry_run IS NULL THEN
        RAISE EXCEPTION 'batch_size, max_duration and dry_run must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF batch_size OPERATOR(pg_catalog.<) 1 OR max_duration OPERATOR(pg_catalog.<=) '0'::interval THEN
        RAISE EXCEPTION 'batch_size and max_duration must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    deadline := pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) max_duration;
    -- one run at a time: a second one says so and leaves
    run_id := privacy.retention_start(batch_size, max_duration, dry_run);
    COMMIT;
    IF run_id IS NULL THEN
        RAISE NOTICE 'another retention run is in progress; this one does nothing';
        RETURN;
    END IF;
    FOR r IN SELECT * FROM privacy.retention_rule ORDER BY relation::text, column_name NULLS FIRST LOOP
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        done := 0;
        LOOP
            IF pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) deadline THEN
                stopped := true;
                EXIT;
            END IF;
            -- progress, for a DBA reading pg_stat_activity; local to the
            -- batch's transaction, so that its end (commit, or an error)
            -- gives the caller's application_name back
            PERFORM pg_catalog.set_config('application_name',
                        pg_catalog.left(pg_catalog.format('privacy retention run %s: %s%s, %s rows', run_id, r.relation,
                                        COALESCE('.' OPERATOR(pg_catalog.||) r.column_name, ''), done), 63), true);
            n := privacy.retention_batch(run_id, r.relation, r.column_name, r.retain, r.retain_after, r.action,
                                         batch_size, dry_run);
            COMMIT;
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            -- a short batch is not the end: rows a writer held were skipped
            -- and may be free now; an empty one is
            EXIT WHEN n OPERATOR(pg_catalog.<=) 0 OR dry_run;
            done := done OPERATOR(pg_catalog.+) n;
        END LOOP;
        EXIT WHEN stopped;
    END LOOP;
    PERFORM privacy.retention_finish(run_id, stopped);
    COMMIT;
    -- cancellations whose cooling-off is over
    IF NOT dry_run THEN
        CALL privacy.run_due_requests();
    END IF;
END
$$;
COMMENT ON PROCEDURE privacy.run_retention(integer, interval, boolean) IS
    'delete or anonymize expired rows of every RETAIN clause in batches that commit, oldest first, skipping locked and held rows, until done or max_duration; logged in privacy.retention_log; then carry out due cancellation requests';
-- Destroys data: the scheduler's role, granted explicitly (with retention_start, retention_batch, retention_finish).
REVOKE ALL ON PROCEDURE privacy.run_retention(integer, interval, boolean) FROM PUBLIC;

CREATE FUNCTION privacy.retention_preview()
    RETURNS TABLE (relation pg_catalog.regclass, column_name name, action text, retain interval, retain_after name,
                   due bigint, held bigint, problem text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
    q record;
    n bigint;
    h bigint;
    res text;
    msg text;
    kept text[];
BEGIN
    FOR r IN SELECT * FROM privacy.retention_rule x ORDER BY x.relation::text, x.column_name NULLS FIRST LOOP
        BEGIN
            SELECT * INTO q FROM privacy.retention_sql(r.relation, r.column_name, r.retain_after, r.action);
            kept := privacy.held_rows(r.relation);
            -- counted as the table's owner, the rows holds keep left out
            -- $1[2]: the rows holds keep; $1[3]: whether the whole table is held
            res := privacy.owner_exec_value(r.relation,
                       pg_catalog.format('SELECT pg_catalog.count(*) FILTER (WHERE NOT x.kept) || ''|'' || pg_catalog.count(*) FILTER (WHERE x.kept)'
                                         ' FROM (SELECT ($1[3])::boolean OR (t.tableoid::pg_catalog.text || '':'' || t.ctid::pg_catalog.text) = ANY (($1[2])::pg_catalog.text[]) AS kept'
                                         ' FROM %s t WHERE %s) x', r.relation, q.pending),
                       ARRAY[(pg_catalog.now() - r.retain)::text, kept::text, privacy.table_held(r.relation)::text]);
            n := pg_catalog.split_part(res, '|', 1)::bigint;
            h := pg_catalog.split_part(res, '|', 2)::bigint;
            msg := NULL;
        EXCEPTION WHEN feature_not_supported OR datetime_field_overflow OR wrong_object_type OR insufficient_privilege THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
            n := NULL;
            h := NULL;
        END;
        RETURN QUERY SELECT r.relation, r.column_name, r.action, r.retain, r.retain_after::name, n, h, msg;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.retention_preview() IS
    'what a retention run would do now, per RETAIN clause: rows due (expired, not yet anonymized, not under a legal hold), the expired rows legal holds keep (held: on the table, or on subjects), and what stops the clause; changes nothing';
-- Reads every labelled table: granted explicitly.
REVOKE ALL ON FUNCTION privacy.retention_preview() FROM PUBLIC;

-- src/sql/state/discovery.sql: discovery's column-name rules with their seeds

CREATE TABLE privacy.discovery_rule (
    word        text         PRIMARY KEY
                             CHECK (word OPERATOR(pg_catalog.=) pg_catalog.lower(word)
                                    AND word OPERATOR(pg_catalog.~) '^[^\x01-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]+$'),
    category    text         NOT NULL REFERENCES privacy.category (name),
    confidence  numeric(3,2) NOT NULL CHECK (confidence OPERATOR(pg_catalog.>) 0 AND confidence OPERATOR(pg_catalog.<) 1),
    seeded      boolean      NOT NULL DEFAULT false
);
COMMENT ON TABLE privacy.discovery_rule IS
    'column-name rules of discovery: a word (English, pinyin or Chinese) found in a column''s name or comment suggests a category with a confidence; administrators add their own rows';
COMMENT ON COLUMN privacy.discovery_rule.word IS
    'lower case; words of letters and digits of five or more characters match anywhere in the name, shorter ones and words with _ only as whole words between _ (or the ends), other scripts anywhere';
COMMENT ON COLUMN privacy.discovery_rule.confidence IS 'confidence of a name match; a comment match counts 0.1 less';
COMMENT ON COLUMN privacy.discovery_rule.seeded IS 'shipped with the extension (read-only); false for rules an administrator added';
GRANT SELECT ON privacy.discovery_rule TO PUBLIC;

INSERT INTO privacy.discovery_rule (word, category, confidence, seeded)
SELECT w.word, r.category, r.confidence, true
  FROM (VALUES
 ('contact.phone', 0.70, ARRAY['phone', 'mobile', 'cellphone', 'telephone', 'tel', 'phone_no', 'shouji', 'shoujihao',
                              'sjh', 'sjhm', 'dianhua', 'lxdh', 'lianxidianhua', '手机', '电话', '联系方式']),
 ('contact.email', 0.70, ARRAY['email', 'e_mail', 'mail', 'youxiang', 'dzyx', '邮箱', '电子邮件']),
 ('contact.address', 0.60, ARRAY['address', 'addr', 'dizhi', 'zhuzhi', 'street', '地址', '住址']),
 ('contact.im_account', 0.60, ARRAY['wechat', 'weixin', 'qq', 'openid', 'unionid', '微信']),
 ('contact.emergency', 0.70, ARRAY['emergency', 'jinji', '紧急联系']),
 ('identity.name', 0.70, ARRAY['real_name', 'realname', 'full_name', 'fullname', 'first_name', 'firstname', 'last_name',
                              'lastname', 'surname', 'given_name', 'family_name', 'true_name', 'truename', 'xingming',
                              'xm', '姓名', 'guest_name', 'customer_name', 'contact_name', 'holder_name',
                              'passenger_name', 'kehu_xingming', '客户姓名', '住客']),
 ('identity.nickname', 0.60, ARRAY['nickname', 'nick_name', 'nicheng', '昵称']),
 ('account.username', 0.60, ARRAY['username', 'user_name', 'login_name', 'loginname', 'yonghuming', '用户名']),
 ('identity.id_number', 0.75, ARRAY['id_card', 'idcard', 'id_no', 'id_number', 'idno', 'national_id', 'ssn', 'sfz',
                                   'sfzh', 'sfzhm', 'shenfenzheng', 'zjhm', '身份证', '证件号']),
 ('identity.id_number', 0.65, ARRAY['tax_no', 'tax_id', 'tax_number', 'taxpayer_id', 'taxpayer_no', 'tin', 'nsrsbh',
                                   '纳税人识别号', '税号']),
 ('identity.id_document', 0.70, ARRAY['passport', 'huzhao', '护照']),
 ('identity.birth_date', 0.70, ARRAY['birthday', 'birth_date', 'birthdate', 'date_of_birth', 'dob', 'shengri', 'csrq',
                                    'chusheng', '生日', '出生']),
 ('identity.gender', 0.60, ARRAY['gender', 'sex', 'xingbie', 'xb', '性别']),
 ('identity.ethnicity', 0.60, ARRAY['ethnicity', 'minzu', '民族']),
 ('identity.religion', 0.60, ARRAY['religion', 'zongjiao', '宗教']),
 ('device.ip', 0.70, ARRAY['ip', 'ip_addr', 'ipaddr', 'ip_address', 'remote_addr']),
 ('device.mac', 0.70, ARRAY['mac', 'mac_addr', 'macaddr', 'mac_address']),
 ('device.id', 0.70, ARRAY['imei', 'imsi', 'idfa', 'idfv', 'oaid', 'android_id', 'device_id', 'udid']),
 ('device.model', 0.75, ARRAY['phone_model', 'device_model']),
 ('device.network', 0.65, ARRAY['ssid', 'bssid', 'wifi', 'wifi_name', 'wlan', 'wuxian', '无线网络']),
 ('financial.bank_account', 0.70, ARRAY['bank_card', 'bankcard', 'card_no', 'card_number', 'bank_account', 'yhk',
                                       'yhkh', '银行卡', '卡号']),
 ('financial.income', 0.60, ARRAY['salary', 'income', 'shouru', 'gongzi', '收入', '工资']),
 ('location.precise', 0.60, ARRAY['latitude', 'longitude', 'lat', 'lng', 'lon', 'gps', 'coordinates', 'weidu',
                                 'jingdu', '经度', '纬度', '定位']),
 ('credential.password', 0.80, ARRAY['password', 'passwd', 'pwd', 'mima', '密码']),
 ('credential.token', 0.60, ARRAY['token', 'api_key', 'apikey', 'access_token']),
 ('credential.verification_code', 0.60, ARRAY['verification_code', 'sms_code', 'otp', 'yzm', '验证码']),
 ('biometric.face', 0.60, ARRAY['face_image', 'face_feature', 'renlian', '人脸']),
 ('biometric.face', 0.75, ARRAY['face_template', 'facial_template', 'face_embedding', 'face_vector']),
 ('biometric', 0.50, ARRAY['template', 'biometric', 'shengwu', '特征模板', '生物特征']),
 ('biometric.fingerprint', 0.70, ARRAY['fingerprint', 'zhiwen', '指纹']),
 ('health.medical', 0.60, ARRAY['diagnosis', 'medical', 'bingli', '病历', '诊断'])
  ) AS r(category, confidence, words)
 CROSS JOIN LATERAL pg_catalog.unnest(r.words) AS w(word);

-- src/sql/code/discovery.sql: discovery: value validators, sampling, name rules, suggestions and applying them

CREATE FUNCTION privacy.validators()
    RETURNS TABLE (name text, category text, supporting boolean, strength numeric, description text)
    AS 'MODULE_PATHNAME', 'privacy_validators_list'
    LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 12;
COMMENT ON FUNCTION privacy.validators() IS
    'the value validators discovery runs on sampled values: the category each suggests, whether it counts only beside a matching column name (supporting), and how strongly a column of matching values suggests the category';
GRANT EXECUTE ON FUNCTION privacy.validators() TO PUBLIC;

CREATE FUNCTION privacy.validate(validator text, value text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_validate'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.validate(text, text) IS
    'whether a value passes one of discovery''s validators (privacy.validators()); surrounding blanks are ignored; usable in CHECK constraints of columns whose format is fixed';
GRANT EXECUTE ON FUNCTION privacy.validate(text, text) TO PUBLIC;

CREATE FUNCTION privacy.sample_matches(rel pg_catalog.regclass, sample_rows integer)
    RETURNS TABLE (column_name name, sampled integer, validator text, matched integer)
    AS 'MODULE_PATHNAME', 'privacy_sample_matches'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION privacy.sample_matches(pg_catalog.regclass, integer) IS
    'reads a bounded sample (TABLESAMPLE SYSTEM) of a table''s columns of built-in types as the caller and counts, per column, the values each validator accepts; returns counts, never values; sampled is NULL for a column not read (its type, or no SELECT privilege) (internal, used by privacy.discover())';
GRANT EXECUTE ON FUNCTION privacy.sample_matches(pg_catalog.regclass, integer) TO PUBLIC;

CREATE FUNCTION privacy.discovery_rule_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.seeded THEN
            RAISE EXCEPTION 'cannot add discovery rule "%" as shipped with the extension', NEW.word
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.seeded THEN
        RAISE EXCEPTION 'cannot % discovery rule "%": it ships with the extension',
                        pg_catalog.lower(TG_OP), OLD.word
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add a rule of your own for a longer word; the most confident rule wins.';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.seeded THEN
        RAISE EXCEPTION 'cannot mark discovery rule "%" as shipped with the extension', OLD.word
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION privacy.discovery_rule_guard() IS
    'keeps the shipped discovery rules as they are (trigger on privacy.discovery_rule)';
CREATE TRIGGER discovery_rule_guard BEFORE INSERT OR UPDATE OR DELETE ON privacy.discovery_rule
    FOR EACH ROW EXECUTE FUNCTION privacy.discovery_rule_guard();

-- a name or comment in the form rules match: lower case, camelCase split,
-- runs of ASCII punctuation and blanks made one _, and _ at both ends
CREATE FUNCTION privacy.discovery_words(name text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT '_' OPERATOR(pg_catalog.||)
           pg_catalog.regexp_replace(
               pg_catalog.lower(pg_catalog.regexp_replace(COALESCE($1, ''), '([a-z0-9])([A-Z])', '\1_\2', 'g')),
               '[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+', '_', 'g')
           OPERATOR(pg_catalog.||) '_'
    $$;
COMMENT ON FUNCTION privacy.discovery_words(text) IS
    'a column name or comment as discovery rules match it: lower case, camelCase split, punctuation and blanks made _, _ at both ends';
GRANT EXECUTE ON FUNCTION privacy.discovery_words(text) TO PUBLIC;

CREATE FUNCTION privacy.discovery_match(words text, word text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE
           WHEN $2 OPERATOR(pg_catalog.~) '^[a-z0-9]{5,}$'
               THEN pg_catalog.strpos($1, $2) OPERATOR(pg_catalog.>) 0
           WHEN $2 OPERATOR(pg_catalog.~) '^[a-z0-9_]+$'
               THEN pg_catalog.strpos($1, '_' OPERATOR(pg_catalog.||) $2 OPERATOR(pg_catalog.||) '_') OPERATOR(pg_catalog.>) 0
           ELSE pg_catalog.strpos($1, $2) OPERATOR(pg_catalog.>) 0
           END
    $$;
COMMENT ON FUNCTION privacy.discovery_match(text, text) IS
    'whether a rule word matches words made by privacy.discovery_words(): long ASCII words anywhere, short or compound ones as whole words, other scripts anywhere';
GRANT EXECUTE ON FUNCTION privacy.discovery_match(text, text) TO PUBLIC;

-- the suggestions for the tables of one schema (internal: privacy.discover() checks its arguments)
CREATE FUNCTION privacy.discovery_suggestions(nsp oid, sample_rows integer)
    RETURNS TABLE (relation pg_catalog.regclass, column_name name, category text, confidence numeric, evidence text,
                   label text)
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH
    tabs AS (
        -- the schema's tables that can be labelled: partitions go with their root
        SELECT c.oid AS relid
          FROM pg_catalog.pg_class c
         WHERE c.relnamespace = $1
           AND c.relkind = ANY (ARRAY['r', 'p']::"char"[])
           AND NOT c.relispartition
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                            WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                              AND d.objid = c.oid
                              AND d.deptype = 'e')
    ),
    cols AS (
        -- their columns without a label, but for those of foreign keys (they
        -- point to the data; the referenced table is the one to label)
        SELECT t.relid, a.attnum, a.attname,
               privacy.discovery_words(a.attname) AS name_words,
               privacy.discovery_words(pg_catalog.col_description(t.relid, a.attnum)) AS comment_words
          FROM tabs t
          JOIN pg_catalog.pg_attribute a
            ON a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_seclabel s
                            WHERE s.provider = 'privacy'
                              AND s.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
                              AND s.objoid = t.relid
                              AND s.objsubid = a.attnum)
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                            WHERE k.conrelid = t.relid
                              AND k.contype = 'f'
                              AND a.attnum = ANY (k.conkey))
    ),
    names AS (
        -- the most confident rule per column and category; a comment counts 0.1 less
        SELECT DISTINCT ON (m.relid, m.attnum, m.category) m.*
          FROM (SELECT c.relid, c.attnum, r.category, r.word,
                       privacy.discovery_match(c.name_words, r.word) AS by_name,
                       CASE WHEN privacy.discovery_match(c.name_words, r.word) THEN r.confidence
                            ELSE r.confidence - 0.1 END AS conf
                  FROM cols c
                  JOIN privacy.discovery_rule r
                    ON privacy.discovery_match(c.name_words, r.word)
                    OR privacy.discovery_match(c.comment_words, r.word)) m
         ORDER BY m.relid, m.attnum, m.category, m.conf DESC, pg_catalog.length(m.word) DESC, m.word
    ),
    samples AS (
        SELECT t.relid, s.column_name, s.sampled, s.validator, s.matched
          FROM tabs t
         CROSS JOIN LATERAL privacy.sample_matches(t.relid, $2) s
         WHERE $2 > 0
           AND EXISTS (SELECT 1 FROM cols c WHERE c.relid = t.relid)
    ),
    sampled AS (
        SELECT DISTINCT s.relid, s.column_name, s.sampled FROM samples s
    ),
    vals AS (
        -- per column and category: values accepted by its validators, with and
        -- without those that count only beside a matching name
        SELECT s.relid, s.column_name, v.category,
               pg_catalog.sum(s.matched) FILTER (WHERE NOT v.supporting) AS m_alone,
               pg_catalog.sum(s.matched) AS m_all,
               pg_catalog.max(v.strength) FILTER (WHERE NOT v.supporting) AS st_alone,
               pg_catalog.max(v.strength) AS st_all,
               pg_catalog.string_agg(pg_catalog.format('%s %s', v.name, s.matched), ', '
                                     ORDER BY s.matched DESC, v.name) FILTER (WHERE NOT v.supporting) AS ev_alone,
               pg_catalog.string_agg(pg_catalog.format('%s %s', v.name, s.matched), ', '
                                     ORDER BY s.matched DESC, v.name) AS ev_all
          FROM samples s
          JOIN privacy.validators() v ON v.name = s.validator
         GROUP BY s.relid, s.column_name, v.category
    ),
    cands AS (
        SELECT c.relid, c.attnum, c.attname, k.category,
               n.conf AS name_conf, n.word, n.by_name, sm.sampled,
               CASE WHEN n.conf IS NULL THEN v.m_alone ELSE v.m_all END AS m,
               CASE WHEN n.conf IS NULL THEN v.st_alone ELSE v.st_all END AS st,
               CASE WHEN n.conf IS NULL THEN v.ev_alone ELSE v.ev_all END AS v_ev,
               EXISTS (SELECT 1 FROM privacy.validators() x
                        WHERE x.category = k.category) AS checkable
          FROM cols c
          JOIN (SELECT n2.relid, n2.attnum, n2.category FROM names n2
                UNION
                SELECT c2.relid, c2.attnum, v2.category
                  FROM vals v2
                  JOIN cols c2 ON c2.relid = v2.relid
                              AND c2.attname = v2.column_name) k
            ON k.relid = c.relid AND k.attnum = c.attnum
          LEFT JOIN names n
            ON n.relid = c.relid AND n.attnum = c.attnum
           AND n.category = k.category
          LEFT JOIN vals v
            ON v.relid = c.relid AND v.column_name = c.attname
           AND v.category = k.category
          LEFT JOIN sampled sm
            ON sm.relid = c.relid AND sm.column_name = c.attname
    ),
    valued AS (
        -- values speak when at least half of those sampled pass; few values speak softly
        SELECT x.*,
               CASE WHEN x.m IS NOT NULL AND x.sampled > 0
                         AND (x.m * 2) >= x.sampled
                    THEN (x.st * x.m) / (x.sampled + 2)
               END AS value_conf
          FROM cands x
    ),
    scored AS (
        SELECT y.*,
               CASE WHEN y.value_conf IS NOT NULL
                        THEN 1 - ((1 - COALESCE(y.name_conf, 0))
                                                       * (1 - y.value_conf))
                    -- a name whose values could be checked, and enough of them failed
                    WHEN y.checkable AND y.sampled >= 20
                        THEN y.name_conf * 0.5
                    ELSE y.name_conf
               END AS conf
          FROM valued y
    ),
    best AS (
        SELECT DISTINCT ON (z.relid, z.attnum) z.*
          FROM scored z
         WHERE z.conf IS NOT NULL
         ORDER BY z.relid, z.attnum, z.conf DESC, z.category
    ),
    texts AS (
        -- personal data inside free text: the share of sampled values of a
        -- string column holding a phone number, ID number, e-mail or card,
        -- where whole values are not such identifiers (no validator accepts
        -- half of them)
        SELECT c.relid, c.attnum, c.attname, sm.sampled, m.any_count,
               (0.6 + 0.35 * m.any_count / (sm.sampled + 2)) AS conf, m.kinds,
               pg_catalog.format_type(a.atttypid, a.atttypmod) = 'text' AS is_text
          FROM (SELECT s.relid, s.column_name,
                       pg_catalog.max(s.matched) FILTER (WHERE s.validator = 'text:any') AS any_count,
                       pg_catalog.string_agg(pg_catalog.format('%s %s', pg_catalog.substr(s.validator, 6), s.matched), ', '
                                             ORDER BY s.matched DESC, s.validator)
                           FILTER (WHERE s.validator LIKE 'text:%' AND s.validator <> 'text:any') AS kinds
                  FROM samples s
                 WHERE s.validator LIKE 'text:%'
                 GROUP BY s.relid, s.column_name) m
          JOIN cols c ON c.relid = m.relid AND c.attname = m.column_name
          JOIN sampled sm ON sm.relid = m.relid AND sm.column_name = m.column_name
          JOIN pg_catalog.pg_attribute a ON a.attrelid = c.relid AND a.attnum = c.attnum
         WHERE sm.sampled >= 5 AND m.any_count * 5 >= sm.sampled
           AND NOT EXISTS (SELECT 1 FROM vals v
                            WHERE v.relid = m.relid AND v.column_name = m.column_name
                              AND v.m_all * 2 >= sm.sampled)
    ),
    found AS (
        SELECT b.relid, b.attnum, b.attname, b.category, b.conf,
               pg_catalog.concat_ws('; ',
                   CASE WHEN b.name_conf IS NULL THEN NULL
                        WHEN b.by_name THEN pg_catalog.format('column name matches "%s"', b.word)
                        ELSE pg_catalog.format('comment matches "%s"', b.word) END,
                   CASE WHEN b.value_conf IS NOT NULL
                            THEN pg_catalog.format('values: %s of %s sampled', b.v_ev, b.sampled)
                        WHEN b.sampled IS NULL THEN 'values not sampled'
                        WHEN b.sampled = 0 THEN 'no values to sample'
                        WHEN b.checkable
                            THEN pg_catalog.format('values: %s of %s sampled pass the %s validators',
                                                   COALESCE(b.m, 0), b.sampled, b.category)
                   END) AS evidence,
               'CATEGORY ' || b.category AS label
          FROM best b
        UNION ALL
        SELECT t.relid, t.attnum, t.attname, 'content.message', t.conf,
               pg_catalog.format('text: %s%% of %s sampled values contain personal data (%s)',
                                 pg_catalog.round(100.0 * t.any_count / t.sampled), t.sampled, t.kinds),
               'CATEGORY content.message' || CASE WHEN t.is_text THEN ' MASK WITH privacy.mask_text' ELSE '' END
          FROM texts t
    ),
    chosen AS (
        SELECT DISTINCT ON (f.relid, f.attnum) f.*
          FROM found f
         ORDER BY f.relid, f.attnum, f.conf DESC, f.category
    )
    SELECT f.relid::pg_catalog.regclass, f.attname, f.category, pg_catalog.round(f.conf, 2), f.evidence, f.label
      FROM chosen f
     ORDER BY f.relid::pg_catalog.regclass::text, f.attnum
    $$;
COMMENT ON FUNCTION privacy.discovery_suggestions(oid, integer) IS
    'the suggestions of privacy.discover() for the tables of one schema, with the label each suggests, read as the caller (internal: privacy.discover() checks its arguments)';
GRANT EXECUTE ON FUNCTION privacy.discovery_suggestions(oid, integer) TO PUBLIC;

CREATE FUNCTION privacy.discover(schema name DEFAULT 'public', sample_rows integer DEFAULT 1000)
    RETURNS TABLE (relation pg_catalog.regclass, column_name name, category text, confidence numeric, evidence text,
                   label text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    nsp oid;
BEGIN
    IF discover.schema IS NULL OR discover.sample_rows IS NULL THEN
        RAISE EXCEPTION 'privacy.discover needs a schema and a sample size'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF discover.sample_rows < 0 OR discover.sample_rows > 100000 THEN
        RAISE EXCEPTION 'sample_rows must be between 0 and 100000'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'With 0, only column names and comments are read.';
    END IF;
    SELECT n.oid INTO nsp FROM pg_catalog.pg_namespace n WHERE n.nspname = discover.schema;
    IF nsp IS NULL THEN
        RAISE EXCEPTION 'schema "%" does not exist', discover.schema
            USING ERRCODE = 'invalid_schema_name';
    END IF;
    IF discover.schema = ANY (ARRAY['pg_catalog', 'information_schema', 'privacy', 'pg_toast']::name[])
       OR pg_catalog.starts_with(discover.schema, 'pg_temp_')
       OR pg_catalog.starts_with(discover.schema, 'pg_toast_temp_') THEN
        RAISE EXCEPTION 'schema "%" holds no tables that can be labelled', discover.schema
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'System schemas and the extension''s own schema are not examined.';
    END IF;
    RETURN QUERY SELECT * FROM privacy.discovery_suggestions(nsp, discover.sample_rows);
END
$$;
COMMENT ON FUNCTION privacy.discover(name, integer) IS
    'suggested labels for the unlabelled columns of a schema''s tables: category, confidence (0 to 1), evidence (name rule, validators and how many sampled values they accepted, or the share of values holding personal data inside their text) and the label to set; reads names, comments and a bounded sample of values as the caller; never returns a value';
GRANT EXECUTE ON FUNCTION privacy.discover(name, integer) TO PUBLIC;

CREATE FUNCTION privacy.apply_suggestions(min_confidence numeric, schema name DEFAULT 'public',
                                          sample_rows integer DEFAULT 1000)
    RETURNS TABLE (relation pg_catalog.regclass, column_name name, label text, confidence numeric)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s record;
BEGIN
    IF min_confidence IS NULL OR min_confidence <= 0 OR min_confidence > 1 THEN
        RAISE EXCEPTION 'min_confidence must be greater than 0 and at most 1'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Read privacy.discover() first; 0.8 keeps suggestions that values confirm.';
    END IF;
    FOR s IN SELECT d.* FROM privacy.discover(apply_suggestions.schema, apply_suggestions.sample_rows) d
              WHERE d.confidence >= min_confidence
    LOOP
        relation := s.relation;
        column_name := s.column_name;
        label := s.label;
        confidence := s.confidence;
        EXECUTE pg_catalog.format('SECURITY LABEL FOR privacy ON COLUMN %s.%I IS %L',
                                  s.relation, s.column_name, label);
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.apply_suggestions(numeric, name, integer) IS
    'labels (SECURITY LABEL ... IS ''CATEGORY c'', audited and dumped like any label) every column privacy.discover() suggests with at least min_confidence; all or nothing; returns what it labelled';
GRANT EXECUTE ON FUNCTION privacy.apply_suggestions(numeric, name, integer) TO PUBLIC;

-- src/sql/state/k_anonymity.sql: generalization hierarchies a DBA gives (district -> city -> province)

-- A hierarchy of values: each value with its ancestors, the nearest first
-- (西湖区: 杭州市, 浙江省).  Level n of a value is its n-th ancestor; the level
-- above the last suppresses the column.  Nothing seeded.
CREATE TABLE privacy.hierarchy (
    hierarchy   text   NOT NULL CHECK (hierarchy OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]*$'),
    value       text   NOT NULL,
    ancestors   text[] NOT NULL
                       CHECK (pg_catalog.cardinality(ancestors) OPERATOR(pg_catalog.>=) 1
                              AND pg_catalog.cardinality(ancestors) OPERATOR(pg_catalog.<=) 10
                              AND pg_catalog.array_ndims(ancestors) OPERATOR(pg_catalog.=) 1
                              AND pg_catalog.array_position(ancestors, NULL) IS NULL),
    PRIMARY KEY (hierarchy, value)
);
COMMENT ON TABLE privacy.hierarchy IS
    'generalization hierarchies the DBA gives: each value of a hierarchy with its ancestors, nearest first (district: city, province); every value of a hierarchy has as many ancestors, and an ancestor always has the same ancestors above it (privacy.hierarchy_levels checks); used by privacy.generalization, k_anonymity and generalize_until';
-- Place names and the like, no personal data: read by everybody (generalize_until
-- and k_anonymity run as the caller and read it); written by the DBA.
REVOKE ALL ON privacy.hierarchy FROM PUBLIC;
GRANT SELECT ON privacy.hierarchy TO PUBLIC;

-- pg_dump keeps it (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.hierarchy', '');

-- src/sql/code/k_anonymity.sql: k-anonymity: generalization hierarchies (each type's, and a DBA's), k_anonymity, generalize_until

-- the generalization hierarchy a type follows: date, timestamp, number, inet,
-- text, or other (exact or suppressed); a domain follows its base type
CREATE FUNCTION privacy.generalization_kind(typ pg_catalog.regtype) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_generalization_kind'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.generalization_kind(pg_catalog.regtype) IS
    'the generalization hierarchy a type follows (date, timestamp, number, inet, text, other); a domain follows its base type';
GRANT EXECUTE ON FUNCTION privacy.generalization_kind(pg_catalog.regtype) TO PUBLIC;

-- the top level of a type's hierarchy: the column suppressed
CREATE FUNCTION privacy.generalization_top(typ pg_catalog.regtype) RETURNS integer
    AS 'MODULE_PATHNAME', 'privacy_generalization_top'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.generalization_top(pg_catalog.regtype) IS
    'the top level of a type''s generalization hierarchy, where the column is suppressed';
GRANT EXECUTE ON FUNCTION privacy.generalization_top(pg_catalog.regtype) TO PUBLIC;

-- how many levels a DBA's hierarchy has (its values' ancestors), checked:
-- every value has as many, and an ancestor has the same ancestors above it
-- wherever it appears, so that groups only merge as levels rise
CREATE FUNCTION privacy.hierarchy_levels(hierarchy_name text) RETURNS integer
    LANGUAGE plpgsql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    levels integer;
    bad record;
BEGIN
    SELECT pg_catalog.min(pg_catalog.cardinality(h.ancestors)), pg_catalog.max(pg_catalog.cardinality(h.ancestors))
      INTO bad FROM privacy.hierarchy h WHERE h.hierarchy = hierarchy_name;
    IF bad.min IS NULL THEN
        RAISE EXCEPTION 'generalization hierarchy "%" does not exist', hierarchy_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Add its values to privacy.hierarchy: INSERT INTO privacy.hierarchy VALUES (''region'', ''西湖区'', ''{杭州市,浙江省}'').';
    END IF;
    IF bad.min <> bad.max THEN
        RAISE EXCEPTION 'generalization hierarchy "%" has values with % and with % ancestors', hierarchy_name, bad.min, bad.max
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give every value of a hierarchy as many ancestors (one per level).';
    END IF;
    levels := bad.min;
    -- an ancestor at level l must have the same ancestors above it in every row
    SELECT x.l, y.a INTO bad
      FROM privacy.hierarchy h
     CROSS JOIN LATERAL pg_catalog.generate_series(1, levels - 1) x(l)
     CROSS JOIN LATERAL (SELECT h.ancestors[x.l] AS a, h.ancestors[x.l + 1 :] AS above) y
     WHERE h.hierarchy = hierarchy_name
     GROUP BY x.l, y.a
    HAVING pg_catalog.count(DISTINCT y.above) > 1
     ORDER BY x.l, y.a
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'generalization hierarchy "%" is not a tree: "%" at level % has different ancestors in different rows', hierarchy_name, bad.a, bad.l
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'An ancestor must have the same ancestors above it wherever it appears.';
    END IF;
    RETURN levels;
END
$$;
COMMENT ON FUNCTION privacy.hierarchy_levels(text) IS
    'the number of levels of a generalization hierarchy of privacy.hierarchy (the ancestors of each value), after checking that every value has as many and that each ancestor has the same ancestors above it; an error otherwise';
-- Reads only privacy.hierarchy, which everybody may read.
GRANT EXECUTE ON FUNCTION privacy.hierarchy_levels(text) TO PUBLIC;

-- one level of a column's generalization hierarchy: the SQL expression over
-- expr, and its name; NULL beyond the top (the top suppresses the column).
-- Each level coarsens the one below it, so a level that reaches k keeps it above.
-- With a hierarchy of privacy.hierarchy, level n is a value's n-th ancestor.
CREATE FUNCTION privacy.generalization(expr text, typ pg_catalog.regtype, level integer, hierarchy text DEFAULT NULL,
                                       OUT sql text, OUT label text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t text := privacy.generalization_kind(typ);
    top integer;
BEGIN
    IF expr IS NULL OR t IS NULL OR level IS NULL OR level < 0 THEN
        RETURN;
    END IF;
    IF generalization.hierarchy IS NOT NULL THEN
        top := privacy.hierarchy_levels(generalization.hierarchy) + 1;
        IF level = 0 THEN
            sql := expr;
            label := 'exact';
        ELSIF level < top THEN
            -- a value the hierarchy does not list is suppressed from level 1 on
            label := pg_catalog.format('%s level %s', generalization.hierarchy, level);
            sql := pg_catalog.format('(SELECT h.ancestors[%s] FROM privacy.hierarchy h WHERE h.hierarchy OPERATOR(pg_catalog.=) %L AND h.value OPERATOR(pg_catalog.=) (%s)::pg_catalog.text)',
                                     level, generalization.hierarchy, expr);
        ELSIF level = top THEN
            label := 'suppressed';
            sql := 'NULL::pg_catalog.text';
        END IF;
        RETURN;
    END IF;
    IF level = 0 THEN
        sql := expr;
        label := 'exact';
    ELSIF t = 'date' AND level <= 3 THEN
        label := (ARRAY['month', 'year', 'decade'])[level];
        sql := pg_catalog.format('pg_catalog.date_trunc(%L, (%s)::pg_catalog.timestamp)', label, expr);
    ELSIF t = 'timestamp' AND level <= 4 THEN
        label := (ARRAY['day', 'month', 'year', 'decade'])[level];
        sql := pg_catalog.format('pg_catalog.date_trunc(%L, (%s)::pg_catalog.timestamp)', label, expr);
    ELSIF t = 'number' AND level <= 4 THEN
        -- bands of 5, 10, 50, 100: each a union of bands of the level below
        label := pg_catalog.format('band of %s', (ARRAY[5, 10, 50, 100])[level]);
        sql := pg_catalog.format('(pg_catalog.floor((%s)::pg_catalog.numeric OPERATOR(pg_catalog./) %s) OPERATOR(pg_catalog.*) %2$s)',
                                 expr, (ARRAY[5, 10, 50, 100])[level]);
    ELSIF t = 'inet' AND level <= 3 THEN
        label := pg_catalog.format('network /%s (IPv6 /%s)', (ARRAY[24, 16, 8])[level], (ARRAY[64, 48, 32])[level]);
        sql := pg_catalog.format('pg_catalog.network(pg_catalog.set_masklen((%1$s)::pg_catalog.inet, CASE pg_catalog.family(%1$s) WHEN 4 THEN %2$s ELSE %3$s END))',
                                 expr, (ARRAY[24, 16, 8])[level], (ARRAY[64, 48, 32])[level]);
    ELSIF t = 'text' AND level <= 5 THEN
        -- the last characters dropped: postal codes, ID prefixes, addresses by region
        label := pg_catalog.format('last %s character%s dropped', level, CASE WHEN level > 1 THEN 's' ELSE '' END);
        sql := pg_catalog.format('pg_catalog.left((%s)::pg_catalog.text, -%s)', expr, level);
    ELSIF level = privacy.generalization_top(typ) THEN
        label := 'suppressed';
        sql := 'NULL::pg_catalog.text';
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.generalization(text, pg_catalog.regtype, integer, text) IS
    'one level of a column type''s generalization hierarchy: the SQL expression over expr and its name (dates: month, year, decade; timestamps: day, month, year, decade; numbers: bands of 5, 10, 50, 100; inet: /24, /16, /8 (IPv6 /64, /48, /32); text: 1 to 5 last characters dropped; any type: suppressed at the top), or of a hierarchy of privacy.hierarchy (level n: the n-th ancestor; a value it does not list suppressed); NULL beyond the top';
GRANT EXECUTE ON FUNCTION privacy.generalization(text, pg_catalog.regtype, integer, text) TO PUBLIC;

-- the hierarchies given for the quasi-identifiers (a JSON object of column
-- names and hierarchy names), checked; one entry per quasi-identifier, NULL
-- for the type's own
CREATE FUNCTION privacy.quasi_identifier_hierarchies(quasi_identifiers name[], hierarchies jsonb) RETURNS text[]
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    e record;
BEGIN
    IF hierarchies IS NULL THEN
        RETURN pg_catalog.array_fill(NULL::text, ARRAY[pg_catalog.cardinality(quasi_identifiers)]);
    END IF;
    IF pg_catalog.jsonb_typeof(hierarchies) <> 'object' THEN
        RAISE EXCEPTION 'hierarchies must be a JSON object of quasi-identifier columns and hierarchy names'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'For example ''{"district": "cn_region"}''.';
    END IF;
    FOR e IN SELECT j.key, j.value FROM pg_catalog.jsonb_each(hierarchies) j ORDER BY j.key LOOP
        IF NOT e.key = ANY (quasi_identifiers::text[]) THEN
            RAISE EXCEPTION 'a hierarchy is given for "%", which is not a quasi-identifier', e.key
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF pg_catalog.jsonb_typeof(e.value) <> 'string' THEN
            RAISE EXCEPTION 'the hierarchy of "%" must be named by a JSON string', e.key
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        PERFORM privacy.hierarchy_levels(e.value #>> '{}');
    END LOOP;
    RETURN ARRAY(SELECT hierarchies ->> q FROM pg_catalog.unnest(quasi_identifiers::text[]) WITH ORDINALITY u(q, o) ORDER BY u.o);
END
$$;
COMMENT ON FUNCTION privacy.quasi_identifier_hierarchies(name[], jsonb) IS
    'the hierarchy names given for the quasi-identifiers, in their order (NULL: the type''s own hierarchy), checked: an object, keys among the quasi-identifiers, each naming a valid hierarchy of privacy.hierarchy (internal, used by k_anonymity and generalize_until)';
GRANT EXECUTE ON FUNCTION privacy.quasi_identifier_hierarchies(name[], jsonb) TO PUBLIC;

CREATE FUNCTION privacy.k_anonymity(rel pg_catalog.regclass, quasi_identifiers name[], levels integer[] DEFAULT NULL,
                                    hierarchies jsonb DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k bigint;
    types pg_catalog.regtype[];
    hs text[];
    exprs text[] := ARRAY[]::text[];
    g record;
    top integer;
BEGIN
    types := privacy.quasi_identifier_types(rel, quasi_identifiers);
    hs := privacy.quasi_identifier_hierarchies(quasi_identifiers, hierarchies);
    IF levels IS NOT NULL AND (pg_catalog.cardinality(levels) <> pg_catalog.cardinality(quasi_identifiers)
                               OR pg_catalog.array_ndims(levels) <> 1
                               OR pg_catalog.array_position(levels, NULL) IS NOT NULL) THEN
        RAISE EXCEPTION 'levels must give one level for each quasi-identifier'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 1 .. pg_catalog.cardinality(quasi_identifiers) LOOP
        top := CASE WHEN hs[i] IS NULL THEN privacy.generalization_top(types[i]) ELSE privacy.hierarchy_levels(hs[i]) + 1 END;
        IF levels[i] < 0 OR levels[i] > top THEN
            RAISE EXCEPTION 'level % of "%" is not between 0 and %', levels[i], quasi_identifiers[i], top
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        g := privacy.generalization(pg_catalog.format('t.%I', quasi_identifiers[i]), types[i], COALESCE(levels[i], 0), hs[i]);
        exprs := exprs || g.sql;
    END LOOP;
    EXECUTE pg_catalog.format('SELECT pg_catalog.min(g.n) FROM (SELECT pg_catalog.count(*) AS n FROM %s t GROUP BY %s) g',
                              rel, pg_catalog.array_to_string(exprs, ', '))
       INTO k;
    RETURN k;
END
$$;
COMMENT ON FUNCTION privacy.k_anonymity(pg_catalog.regclass, name[], integer[], jsonb) IS
    'the k of a table or view over its quasi-identifiers: the size of the smallest group of rows that share their values (NULLs count as one value), at the given generalization levels (default 0: the values themselves) of each type''s hierarchy or of the hierarchies named for columns; NULL for no rows; read as the caller';
GRANT EXECUTE ON FUNCTION privacy.k_anonymity(pg_catalog.regclass, name[], integer[], jsonb) TO PUBLIC;

-- the quasi-identifiers checked: each a column of rel, once; their types in order
CREATE FUNCTION privacy.quasi_identifier_types(rel pg_catalog.regclass, quasi_identifiers name[])
    RETURNS pg_catalog.regtype[]
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    types pg_catalog.regtype[] := ARRAY[]::pg_catalog.regtype[];
    q name;
    t pg_catalog.regtype;
BEGIN
    IF rel IS NULL OR quasi_identifiers IS NULL OR pg_catalog.cardinality(quasi_identifiers) = 0
       OR pg_catalog.array_position(quasi_identifiers, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'a relation and at least one quasi-identifier column are needed, and no NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF (SELECT pg_catalog.count(DISTINCT x) FROM pg_catalog.unnest(quasi_identifiers) x)
       <> pg_catalog.cardinality(quasi_identifiers) THEN
        RAISE EXCEPTION 'a quasi-identifier is named twice'
            USING ERRCODE = 'duplicate_column';
    END IF;
    FOREACH q IN ARRAY quasi_identifiers LOOP
        SELECT a.atttypid::pg_catalog.regtype INTO t FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = rel AND a.attname = q
           AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'column "%" of relation % does not exist', q, rel
                USING ERRCODE = 'undefined_column';
        END IF;
        types := types || t;
    END LOOP;
    RETURN types;
END
$$;
COMMENT ON FUNCTION privacy.quasi_identifier_types(pg_catalog.regclass, name[]) IS
    'the types of the named quasi-identifier columns, in order; errors for a missing, repeated or NULL name (internal, used by k_anonymity and generalize_until)';
GRANT EXECUTE ON FUNCTION privacy.quasi_identifier_types(pg_catalog.regclass, name[]) TO PUBLIC;

CREATE FUNCTION privacy.generalize_until(rel pg_catalog.regclass, quasi_identifiers name[], k integer,
                                         hierarchies jsonb DEFAULT NULL)
    RETURNS TABLE (levels integer[], generalizations text[], k_reached bigint, loss integer)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    types pg_catalog.regtype[];
    hs text[];
    tops integer[];
    n integer;
    nodes bigint := 1;
    cur integer[];
    i integer;
    g record;
    exprs text[];
    names text[];
    reached bigint;
    found_levels integer[][] := '{}'::integer[];
    found_k bigint[] := '{}'::bigint[];
    dominated boolean;
BEGIN
    types := privacy.quasi_identifier_types(rel, quasi_identifiers);
    IF k IS NULL OR k < 1 THEN
        RAISE EXCEPTION 'k must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    hs := privacy.quasi_identifier_hierarchies(quasi_identifiers, hierarchies);
    n := pg_catalog.cardinality(types);
    SELECT pg_catalog.array_agg(CASE WHEN hs[o] IS NULL THEN privacy.generalization_top(t)
                                     ELSE privacy.hierarchy_levels(hs[o]) + 1 END ORDER BY o) INTO tops
      FROM pg_catalog.unnest(types) WITH ORDINALITY u(t, o);
    FOR i IN 1 .. n LOOP
        nodes := nodes * (tops[i] + 1);
    END LOOP;
    IF nodes > 10000 THEN
        RAISE EXCEPTION 'too many combinations of generalization levels: %', nodes
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'Name fewer quasi-identifiers at a time.';
    END IF;
    -- every combination of levels, lowest total first; one GROUP BY each
    cur := pg_catalog.array_fill(0, ARRAY[n]);
    LOOP
        exprs := ARRAY[]::text[];
        names := ARRAY[]::text[];
        FOR i IN 1 .. n LOOP
            g := privacy.generalization(pg_catalog.format('t.%I', quasi_identifiers[i]), types[i], cur[i], hs[i]);
            exprs := exprs || g.sql;
            names := names || pg_catalog.format('%s: %s', quasi_identifiers[i], g.label);
        END LOOP;
        -- a combination above one that reaches k reaches it too: skip the query
        dominated := false;
        FOR j IN 1 .. COALESCE(pg_catalog.array_length(found_k, 1), 0) LOOP
            IF (SELECT pg_catalog.bool_and(found_levels[j][x] <= cur[x]) FROM pg_catalog.generate_series(1, n) x) THEN
                dominated := true;
                EXIT;
            END IF;
        END LOOP;
        IF NOT dominated THEN
            EXECUTE pg_catalog.format('SELECT pg_catalog.min(g.n) FROM (SELECT pg_catalog.count(*) AS n FROM %s t GROUP BY %s) g',
                                      rel, pg_catalog.array_to_string(exprs, ', '))
               INTO reached;
            IF reached >= k THEN
                found_levels := found_levels || ARRAY[cur];
                found_k := found_k || reached;
                levels := cur;
                generalizations := names;
                k_reached := reached;
                loss := (SELECT pg_catalog.sum(x)::integer FROM pg_catalog.unnest(cur) x);
                RETURN NEXT;
            END IF;
        END IF;
        -- the next combination (mixed radix, first column fastest)
        i := 1;
        LOOP
            EXIT WHEN i > n;
            IF cur[i] < tops[i] THEN
                cur[i] := cur[i] + 1;
                EXIT;
            END IF;
            cur[i] := 0;
            i := i + 1;
        END LOOP;
        EXIT WHEN i > n;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.generalize_until(pg_catalog.regclass, name[], integer, jsonb) IS
    'the minimal combinations of generalization levels (privacy.generalization: each type''s hierarchy, or the hierarchies of privacy.hierarchy named for columns) of the quasi-identifiers that make the table k-anonymous: levels, their names, the k reached and the loss (sum of levels); read as the caller';
GRANT EXECUTE ON FUNCTION privacy.generalize_until(pg_catalog.regclass, name[], integer, jsonb) TO PUBLIC;

-- src/sql/state/anonymization.sql: anonymize_table's runs, the progress of each table of a run, the queue of a queue-mode run

-- runs: one per anonymize_table call that had work to do, resumed until done
CREATE TABLE privacy.anonymize_run (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relid         oid         NOT NULL,
    relation      text        NOT NULL,
    batch_size    integer     NOT NULL CHECK (batch_size OPERATOR(pg_catalog.>) 0),
    key_name      text        NOT NULL,
    methods       jsonb       NOT NULL,
    run_by        name        NOT NULL,
    pid           integer,
    backend_start timestamptz,
    started_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    ended_at      timestamptz
);
COMMENT ON SEQUENCE privacy.anonymize_run_id_seq IS 'numbers anonymize_table runs';
COMMENT ON TABLE privacy.anonymize_run IS
    'one row per anonymize_table run: the table, batch size, key name, each column''s method, who ran it, the session now running it, start and end';
GRANT SELECT ON privacy.anonymize_run TO PUBLIC;

-- the tables (partitions) of a run and how far each has got
CREATE TABLE privacy.anonymize_part (
    run_id     bigint  NOT NULL REFERENCES privacy.anonymize_run (id),
    part       oid     NOT NULL,
    relation   text    NOT NULL,
    mode       text    NOT NULL CHECK (mode OPERATOR(pg_catalog.=) ANY (ARRAY['keyset', 'queue'])),
    key_column name,
    rows_total bigint  NOT NULL,
    rows_done  bigint  NOT NULL DEFAULT 0,
    batches    integer NOT NULL DEFAULT 0,
    watermark  text,
    finished   boolean NOT NULL DEFAULT false,
    first_sql  text,
    next_sql   text,
    PRIMARY KEY (run_id, part)
);
COMMENT ON TABLE privacy.anonymize_part IS
    'per run and table or partition: how rows are walked (keyset: in the order of a key that is not rewritten; queue: a list made at the start), rows at the start and done, batches, and the statements the batches run';
-- The watermark is a key value of the table: the extension owner's only.
REVOKE ALL ON privacy.anonymize_part FROM PUBLIC;

-- queue mode: the rows still to do, by key (or ctid when the table has no
-- single-column key); each batch deletes what it did in its own transaction
CREATE TABLE privacy.anonymize_queue (
    run_id bigint NOT NULL,
    part   oid    NOT NULL,
    pos    bigint NOT NULL,
    item   text   NOT NULL,
    PRIMARY KEY (run_id, part, pos)
);
COMMENT ON TABLE privacy.anonymize_queue IS
    'rows a queue-mode anonymize_table run has still to do, by key or ctid; emptied as batches commit';
-- Holds key values of rows not yet anonymized: the extension owner's only.
REVOKE ALL ON privacy.anonymize_queue FROM PUBLIC;

-- src/sql/code/anonymization.sql: static anonymization: methods, plans, anonymize_table and anonymize_database

CREATE FUNCTION privacy.anonymize_method_problem(method text, typ pg_catalog.regtype) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_anonymize_method_problem'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.anonymize_method_problem(text, pg_catalog.regtype) IS
    'why an anonymization method (null, placeholder, pseudonym, ff1, generalize <level>) cannot rewrite a column of the type; NULL when it can';
GRANT EXECUTE ON FUNCTION privacy.anonymize_method_problem(text, pg_catalog.regtype) TO PUBLIC;

-- the tables whose rows a table holds: itself, or its leaf partitions
CREATE FUNCTION privacy.leaf_tables(rel pg_catalog.regclass) RETURNS SETOF pg_catalog.regclass
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT k.oid::pg_catalog.regclass
      FROM pg_catalog.pg_class k
     WHERE k.relkind = 'r'
       AND (k.oid = rel
            OR k.oid = ANY (ARRAY(SELECT t.relid FROM pg_catalog.pg_partition_tree(rel) t)))
     ORDER BY k.oid::pg_catalog.regclass::text
    $$;
COMMENT ON FUNCTION privacy.leaf_tables(pg_catalog.regclass) IS
    'the tables that hold a table''s rows: the table itself, or the leaf partitions of a partitioned table';
GRANT EXECUTE ON FUNCTION privacy.leaf_tables(pg_catalog.regclass) TO PUBLIC;

-- the SQL that rewrites expr by one method: whether distinct values stay
-- distinct (injective) and, for pseudonyms cut to a length, the bits left;
-- the key goes in by name only
CREATE FUNCTION privacy.anonymize_sql(expr text, typ pg_catalog.regtype, typmod integer, method text,
                                      category text, key text,
                                      OUT sql text, OUT injective boolean, OUT bits integer)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    b oid;
    t text := pg_catalog.format_type(typ, typmod);
    maxlen integer;
    hexlen integer;
    problem text := privacy.anonymize_method_problem(method, typ);
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION '%', problem USING ERRCODE = 'datatype_mismatch';
    END IF;
    SELECT CASE WHEN y.typtype = 'd' THEN y.typbasetype ELSE y.oid END INTO b
      FROM pg_catalog.pg_type y WHERE y.oid = typ;
    IF b = ANY (ARRAY['pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.bpchar'::pg_catalog.regtype]::oid[])
       AND typmod > 4 THEN
        maxlen := typmod - 4;
    END IF;
    injective := false;
    -- (ANONYMIZE WITH KEEP never gets here: the plan keeps the column as it is)
    IF method = 'null' THEN
        sql := pg_catalog.format('NULL::%s', t);
    ELSIF method = 'placeholder' THEN
        sql := privacy.placeholder_sql(expr, typ, category, typmod);
        IF sql IS NULL THEN
            RAISE EXCEPTION 'ANONYMIZE WITH PLACEHOLDER has no placeholder for type %', t
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Label the column ANONYMIZE WITH NULL (when it is nullable) or another method.';
        END IF;
    ELSIF method ~ '^generalize ' THEN
        sql := pg_catalog.format('(%s)::%s', (privacy.generalization(expr, typ, pg_catalog.substr(method, 12)::integer)).sql, t);
    ELSIF b = ANY (ARRAY['pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
                                             'pg_catalog.int8'::pg_catalog.regtype]::oid[]) THEN
        -- pseudonym or FF1 of an integer: a permutation of the type's range
        sql := pg_catalog.format('privacy.fpe_encrypt((%s)::pg_catalog.int8, %L, %s, %s)::%s', expr, key,
                                 CASE b WHEN 'pg_catalog.int2'::pg_catalog.regtype THEN '-32768'
                                        WHEN 'pg_catalog.int4'::pg_catalog.regtype THEN '-2147483648'
                                        ELSE '-9223372036854775808' END,
                                 CASE b WHEN 'pg_catalog.int2'::pg_catalog.regtype THEN '32767'
                                        WHEN 'pg_catalog.int4'::pg_catalog.regtype THEN '2147483647'
                                        ELSE '9223372036854775807' END, t);
        injective := true;
    ELSIF method = 'ff1' THEN
        -- the digits encrypted in place: same length, same format
        sql := pg_catalog.format('privacy.fpe_encrypt((%s)::pg_catalog.text, %L)::%s', expr, key, t);
        injective := true;
    ELSIF b = 'pg_catalog.uuid'::pg_catalog.regtype THEN
        sql := pg_catalog.format('pg_catalog.left(privacy.pseudonym((%s)::pg_catalog.text, %L), 32)::pg_catalog.uuid::%s', expr, key, t);
        injective := true;
        bits := 128;
    ELSIF b = 'pg_catalog.bytea'::pg_catalog.regtype THEN
        sql := pg_catalog.format('privacy.pseudonym((%s)::pg_catalog.bytea, %L)::%s', expr, key, t);
        injective := true;
        bits := 256;
    ELSIF category ~ '^contact\.email' AND COALESCE(maxlen, 51) >= 27 THEN
        -- an e-mail address stays one: hex@anonymized.invalid
        hexlen := LEAST(32, COALESCE(maxlen, 51) - 19);
        sql := pg_catalog.format('(pg_catalog.left(privacy.pseudonym((%s)::pg_catalog.text, %L), %s) OPERATOR(pg_catalog.||) ''@anonymized.invalid'')::%s',
                                 expr, key, hexlen, t);
        injective := true;
        bits := 4 * hexlen;
    ELSE
        hexlen := LEAST(64, COALESCE(maxlen, 64));
        sql := pg_catalog.format('pg_catalog.left(privacy.pseudonym((%s)::pg_catalog.text, %L), %s)::%s', expr, key, hexlen, t);
        injective := true;
        bits := 4 * hexlen;
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.anonymize_sql(text, pg_catalog.regtype, integer, text, text, text) IS
    'internal: the SQL that rewrites expr by an anonymization method; whether distinct values stay distinct, and the bits of a pseudonym (its collision risk)';
GRANT EXECUTE ON FUNCTION privacy.anonymize_sql(text, pg_catalog.regtype, integer, text, text, text) TO PUBLIC;

-- the probability that n distinct values give at least two equal pseudonyms
-- of the given bits (the birthday bound); 0 for a permutation
CREATE FUNCTION privacy.collision_risk(n double precision, bits integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT CASE WHEN bits IS NULL THEN 0::double precision
                WHEN x < 1e-6 THEN x
                ELSE 1 - pg_catalog.exp(- x) END
      FROM (SELECT n * GREATEST(n - 1, 0) / 2
                   / pg_catalog.power(2::double precision, bits) AS x) s
    $$;
COMMENT ON FUNCTION privacy.collision_risk(double precision, integer) IS
    'the probability that n distinct values give two equal pseudonyms of the given bits (birthday bound); 0 when bits is NULL (a permutation)';
GRANT EXECUTE ON FUNCTION privacy.collision_risk(double precision, integer) TO PUBLIC;

-- how anonymize_table would rewrite one labelled column, before foreign keys
-- are considered: the label's method, else the category's (when it suits the
-- type), else one chosen by the column's constraints; NULL for a column
-- without a label, a generated or an identity column
CREATE FUNCTION privacy.anonymize_choice(rel oid, attname name, OUT method text, OUT chosen_by text, OUT is_unique boolean)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    root oid := COALESCE(pg_catalog.pg_partition_root(rel), rel::pg_catalog.regclass)::oid;
    c record;
BEGIN
    SELECT a.atttypid::pg_catalog.regtype AS typ, a.attnotnull, a.attgenerated, a.attidentity,
           l.subject, l.anonymize AS by_label, k.anonymize AS by_category,
           EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                    WHERE i.indrelid = root AND i.indisunique
                      AND a.attnum = ANY (i.indkey::smallint[])) AS uniq,
           EXISTS (SELECT 1 FROM pg_catalog.pg_constraint f
                    WHERE f.contype = 'f'
                      AND ((f.conrelid = root AND a.attnum = ANY (f.conkey))
                        OR (f.confrelid = root AND a.attnum = ANY (f.confkey)))) AS in_fk
      INTO c
      FROM pg_catalog.pg_attribute a
      JOIN privacy.labels l
        ON l.relation = root::pg_catalog.regclass AND l.column_name = a.attname
      LEFT JOIN privacy.category k ON k.name = l.category
     WHERE a.attrelid = root AND a.attname = anonymize_choice.attname
       AND a.attnum > 0 AND NOT a.attisdropped;
    is_unique := c.uniq;
    IF NOT FOUND OR c.attgenerated <> '' OR c.attidentity <> '' THEN
        RETURN;
    END IF;
    IF privacy.citus_distribution(root::pg_catalog.regclass) = anonymize_choice.attname THEN
        -- Citus does not move a row to another shard by an UPDATE (doc/citus.md)
        method := 'keep';
        chosen_by := 'citus distribution column';
    ELSIF c.by_label IS NOT NULL THEN
        method := c.by_label;
        chosen_by := 'label';
    ELSIF c.by_category IS NOT NULL AND privacy.anonymize_method_problem(c.by_category, c.typ) IS NULL THEN
        method := c.by_category;
        chosen_by := 'category';
    ELSIF (c.subject OR c.uniq OR c.in_fk) AND privacy.anonymize_method_problem('pseudonym', c.typ) IS NULL THEN
        -- a key: distinct values stay distinct, equal ones equal
        method := 'pseudonym';
        chosen_by := 'key';
    ELSE
        method := CASE WHEN c.attnotnull THEN 'placeholder' ELSE 'null' END;
        chosen_by := CASE WHEN c.attnotnull THEN 'not null' ELSE 'nullable' END;
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.anonymize_choice(oid, name) IS
    'internal: the anonymization method of one labelled column, what chose it (label, category, key, not null, nullable), and whether a unique index holds it';
GRANT EXECUTE ON FUNCTION privacy.anonymize_choice(oid, name) TO PUBLIC;

-- what anonymize_table does to a table: every labelled column with its
-- method, what chose it, whether it is unique, the collision risk and the
-- SQL; then the columns of other tables that join a rewritten key through a
-- foreign key and are rewritten with it. Raises for what cannot be done.
CREATE FUNCTION privacy.anonymization_plan(rel pg_catalog.regclass, key text DEFAULT 'anonymize')
    RETURNS TABLE (relation pg_catalog.regclass, column_name name, category text, method text, chosen_by text,
                   is_unique boolean, collision_risk double precision, expression text, joins text, note text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    root oid;
    kind "char";
    n double precision;
    c record;
    fk record;
    ch record;
    pc record;
    e record;
    con record;
BEGIN
    IF rel IS NULL OR key IS NULL THEN
        RAISE EXCEPTION 'rel and key must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT k.relkind INTO kind FROM pg_catalog.pg_class k WHERE k.oid = rel;
    IF kind IS NULL OR NOT kind = ANY (ARRAY['r', 'p']::"char"[]) THEN
        RAISE EXCEPTION '% is not a table', rel USING ERRCODE = 'wrong_object_type';
    END IF;
    root := COALESCE(pg_catalog.pg_partition_root(rel), rel);
    -- rows, for the collision risk: the planner's estimate, else a count
    SELECT pg_catalog.sum(GREATEST(k.reltuples, 0))::double precision INTO n
      FROM privacy.leaf_tables(rel) p JOIN pg_catalog.pg_class k ON k.oid = p;
    IF COALESCE(n, 0) = 0 THEN
        -- inside the extension's functions, as the table's owner (doc/security.md)
        IF CURRENT_USER = (SELECT x.extowner::pg_catalog.regrole::name FROM pg_catalog.pg_extension x WHERE x.extname = 'privacy') THEN
            n := privacy.owner_exec_value(rel, pg_catalog.format('SELECT pg_catalog.count(*) FROM %s', rel), NULL::text[])::double precision;
        ELSE
            EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s', rel) INTO n;
        END IF;
    END IF;

    FOR c IN
        SELECT a.attnum, a.attname, a.atttypid::pg_catalog.regtype AS typ, a.atttypmod, a.attnotnull,
               a.attgenerated, a.attidentity, l.category,
               (SELECT f.conname FROM pg_catalog.pg_constraint f
                 WHERE f.confrelid = root AND f.contype = 'f'
                   AND a.attnum = ANY (f.confkey)
                 ORDER BY f.conname LIMIT 1) AS referenced_by
          FROM pg_catalog.pg_attribute a
          JOIN privacy.labels l
            ON l.relation = root::pg_catalog.regclass AND l.column_name = a.attname
         WHERE a.attrelid = root AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum
    LOOP
        SELECT * INTO ch FROM privacy.anonymize_choice(root, c.attname);
        relation := rel;
        column_name := c.attname;
        category := c.category;
        is_unique := ch.is_unique;
        method := NULL;
        chosen_by := NULL;
        collision_risk := NULL;
        expression := NULL;
        joins := NULL;
        note := NULL;
        IF c.attgenerated <> '' THEN
            note := 'generated column: left alone';
            RETURN NEXT;
            CONTINUE;
        ELSIF c.attidentity <> '' THEN
            note := 'identity column: left alone';
            RETURN NEXT;
            CONTINUE;
        END IF;
        method := ch.method;
        chosen_by := ch.chosen_by;

        -- a foreign key column follows the key it joins
        SELECT f.conname, f.confrelid::pg_catalog.regclass AS parent, pa.attname AS parent_column
          INTO fk
          FROM pg_catalog.pg_constraint f
          CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(f.conkey), pg_catalog.unnest(f.confkey)) AS k(child_att, parent_att)
          JOIN pg_catalog.pg_attribute pa
            ON pa.attrelid = f.confrelid AND pa.attnum = k.parent_att
         WHERE f.conrelid = root AND f.contype = 'f'
           AND k.child_att = c.attnum
         ORDER BY f.conname LIMIT 1;
        IF FOUND THEN
            SELECT * INTO pc FROM privacy.anonymize_choice(fk.parent, fk.parent_column);
            joins := pg_catalog.format('%s.%I', fk.parent, fk.parent_column);
            IF fk.parent = root::pg_catalog.regclass THEN
                RAISE EXCEPTION 'column %.% references its own table (foreign key %)', rel, c.attname, fk.conname
                    USING ERRCODE = 'feature_not_supported',
                          DETAIL = 'anonymize_table does not rewrite a self-referencing key.';
            ELSIF method = 'null' AND NOT c.attnotnull OR method = 'keep' THEN
                NULL;   -- emptied or kept here; the foreign key holds
            ELSIF pc.method = ANY (ARRAY['pseudonym', 'ff1']) THEN
                IF ch.chosen_by = 'label' AND method <> pc.method THEN
                    RAISE EXCEPTION 'column %.% is labelled ANONYMIZE WITH %, but it joins %, which is rewritten with %',
                                    rel, c.attname, pg_catalog.upper(method), joins, pg_catalog.upper(pc.method)
                        USING ERRCODE = 'invalid_object_definition',
                              HINT = 'A foreign key column takes the method of the key it references, or NULL.';
                END IF;
                method := pc.method;
                chosen_by := 'foreign key ' || fk.conname;
                note := pg_catalog.format('rewritten with %s by anonymize_table(%s), with the same key', joins, fk.parent);
                RETURN NEXT;
                CONTINUE;
            ELSIF ch.chosen_by = 'label' THEN
                RAISE EXCEPTION 'column %.% is labelled ANONYMIZE WITH %, but it joins %, which anonymize_table does not rewrite',
                                rel, c.attname, pg_catalog.upper(method), joins
                    USING ERRCODE = 'invalid_object_definition',
                          HINT = 'Only ANONYMIZE WITH NULL keeps the foreign key: label the referenced column too, or use NULL.';
            ELSE
                method := NULL;
                chosen_by := NULL;
                note := pg_catalog.format('kept: it joins %s, which is not rewritten', joins);
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;

        IF method = 'keep' THEN
            note := CASE WHEN ch.chosen_by = 'citus distribution column'
                         THEN 'kept: the distribution column of a Citus table (Citus does not move a row to another shard)'
                         ELSE 'kept: ANONYMIZE WITH KEEP' END;
            RETURN NEXT;
            CONTINUE;
        END IF;
        -- what the constraints allow
        IF method = 'null' AND c.attnotnull THEN
            RAISE EXCEPTION 'column %.% is NOT NULL: ANONYMIZE WITH NULL cannot rewrite it', rel, c.attname
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Label it ANONYMIZE WITH PLACEHOLDER, or drop the NOT NULL constraint.';
        ELSIF (method = 'placeholder' OR method ~ '^generalize ') AND ch.is_unique THEN
            RAISE EXCEPTION 'column %.% is unique: ANONYMIZE WITH % would make its values equal', rel, c.attname, pg_catalog.upper(method)
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Label it ANONYMIZE WITH PSEUDONYM or FF1, which keep distinct values distinct.';
        ELSIF NOT method = ANY (ARRAY['pseudonym', 'ff1']) AND c.referenced_by IS NOT NULL THEN
            RAISE EXCEPTION 'column %.% is referenced by foreign key %: ANONYMIZE WITH % would break it',
                            rel, c.attname, c.referenced_by, pg_catalog.upper(method)
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Label it ANONYMIZE WITH PSEUDONYM or FF1: the referencing rows are rewritten with it and still join.';
        END IF;
        SELECT * INTO e FROM privacy.anonymize_sql(pg_catalog.format('t.%I', c.attname), c.typ, c.atttypmod,
                                                      method, c.category, key);
        expression := e.sql;
        collision_risk := CASE WHEN e.injective THEN privacy.collision_risk(n, e.bits) END;
        IF e.injective AND e.bits IS NOT NULL THEN
            note := pg_catalog.format('pseudonym of %s bits', e.bits);
        ELSIF e.injective THEN
            note := 'a permutation: distinct values stay distinct';
        END IF;
        RETURN NEXT;
    END LOOP;

    -- columns of other tables that join a rewritten key: rewritten with it
    FOR con IN
        SELECT f.oid, f.conname, f.conrelid::pg_catalog.regclass AS child, f.conkey, f.confkey
          FROM pg_catalog.pg_constraint f
         WHERE f.confrelid = root AND f.contype = 'f'
           AND f.conparentid = 0 AND f.conrelid <> root
         ORDER BY f.conrelid::pg_catalog.regclass::text, f.conname
    LOOP
        FOR c IN
            SELECT ca.attname AS child_column, ca.atttypid::pg_catalog.regtype AS child_typ, ca.atttypmod AS child_typmod,
                   pa.attname AS parent_column, pa.atttypid::pg_catalog.regtype AS typ, pa.atttypmod, l.category,
                   EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                            WHERE i.indrelid = con.child AND i.indisunique
                              AND ca.attnum = ANY (i.indkey::smallint[])) AS uniq
              FROM ROWS FROM (pg_catalog.unnest(con.conkey), pg_catalog.unnest(con.confkey)) AS k(child_att, parent_att)
              JOIN pg_catalog.pg_attribute ca
                ON ca.attrelid = con.child AND ca.attnum = k.child_att
              JOIN pg_catalog.pg_attribute pa
                ON pa.attrelid = root AND pa.attnum = k.parent_att
              LEFT JOIN privacy.labels l
                ON l.relation = root::pg_catalog.regclass AND l.column_name = pa.attname
        LOOP
            SELECT * INTO ch FROM privacy.anonymize_choice(root, c.parent_column);
            CONTINUE WHEN ch.method IS NULL OR NOT ch.method = ANY (ARRAY['pseudonym', 'ff1']);
            SELECT * INTO e FROM privacy.anonymize_sql(pg_catalog.format('c.%I', c.child_column), c.typ, c.atttypmod,
                                                          ch.method, c.category, key);
            relation := con.child;
            column_name := c.child_column;
            category := c.category;
            method := ch.method;
            chosen_by := 'foreign key ' || con.conname;
            is_unique := c.uniq;
            collision_risk := privacy.collision_risk(n, e.bits);
            expression := pg_catalog.format('(%s)::%s', e.sql, pg_catalog.format_type(c.child_typ, c.child_typmod));
            joins := pg_catalog.format('%s.%I', root::pg_catalog.regclass, c.parent_column);
            note := 'rewritten in the same transaction as the rows it joins';
            RETURN NEXT;
        END LOOP;
    END LOOP;

    -- legal holds on the tables it rewrites: anonymize_table refuses while
    -- one is in force (a hold keeps rows as they are)
    -- (for a caller granted table_holds: whether a subject is held is not
    -- everybody's to know)
    IF pg_catalog.has_function_privilege('privacy.table_holds(pg_catalog.regclass)', 'EXECUTE') THEN
        FOR e IN
            SELECT t.rel, h.hold_id, h.on_table, h.held_rows
              FROM (SELECT root::pg_catalog.regclass AS rel
                    UNION
                    SELECT f.conrelid::pg_catalog.regclass FROM pg_catalog.pg_constraint f
                     WHERE f.confrelid = root AND f.contype = 'f' AND f.conparentid = 0) t,
                   -- (of the tables the caller may read; anonymize_start checks them all)
                   LATERAL (SELECT * FROM privacy.table_holds(t.rel) x
                             WHERE pg_catalog.has_table_privilege(CASE pg_catalog.current_setting('role') WHEN 'none' THEN SESSION_USER
                                                                       ELSE pg_catalog.current_setting('role')::name END,
                                                                  t.rel, 'SELECT')) h
             ORDER BY t.rel::text, h.hold_id
        LOOP
            relation := e.rel;
            column_name := NULL;
            category := NULL;
            method := NULL;
            chosen_by := NULL;
            is_unique := NULL;
            collision_risk := NULL;
            expression := NULL;
            joins := NULL;
            note := CASE WHEN e.on_table
                         THEN pg_catalog.format('legal hold %s on the table: anonymize_table refuses until it ends or is released', e.hold_id)
                         ELSE pg_catalog.format('legal hold %s keeps %s rows of a subject: anonymize_table refuses until it ends or is released', e.hold_id, e.held_rows) END;
            RETURN NEXT;
        END LOOP;
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.anonymization_plan(pg_catalog.regclass, text) IS
    'what privacy.anonymize_table would do: each labelled column''s method (null, placeholder, pseudonym, ff1, generalize <level>, keep), what chose it, uniqueness, collision risk, SQL; the columns of other tables rewritten with a key they join; the legal holds that make it refuse; raises for what cannot be done';
GRANT EXECUTE ON FUNCTION privacy.anonymization_plan(pg_catalog.regclass, text) TO PUBLIC;

CREATE VIEW privacy.anonymize_log AS
    SELECT r.id, r.relation, r.started_at, r.ended_at, r.run_by, r.batch_size, r.key_name,
           CASE WHEN r.ended_at IS NOT NULL THEN 'finished'
                WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                              WHERE a.pid OPERATOR(pg_catalog.=) r.pid AND a.backend_start OPERATOR(pg_catalog.=) r.backend_start)
                     THEN 'running'
                ELSE 'interrupted' END AS status,
           (SELECT pg_catalog.sum(p.rows_done)::bigint FROM privacy.anonymize_part p WHERE p.run_id OPERATOR(pg_catalog.=) r.id) AS rows_done,
           (SELECT pg_catalog.sum(p.rows_total)::bigint FROM privacy.anonymize_part p WHERE p.run_id OPERATOR(pg_catalog.=) r.id) AS rows_total,
           (SELECT pg_catalog.sum(p.batches)::bigint FROM privacy.anonymize_part p WHERE p.run_id OPERATOR(pg_catalog.=) r.id) AS batches,
           r.methods
      FROM privacy.anonymize_run r;
COMMENT ON VIEW privacy.anonymize_log IS
    'every anonymize_table run with its status (running, finished, interrupted), rows done of the rows at its start, batches, and each column''s method';
GRANT SELECT ON privacy.anonymize_log TO PUBLIC;

-- the statements of one table or partition's batches: keyset (first batch,
-- next batches after $2, the last key done) or queue ($1 ctids or $2 keys);
-- each returns "rows:last key"
CREATE FUNCTION privacy.anonymize_part_sql(part oid, rel pg_catalog.regclass, plan jsonb, batch_size integer,
                                           mode text, key_column name, OUT first_sql text, OUT next_sql text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    sets text;
    refs text[] := ARRAY[]::text[];
    links text[] := ARRAY[]::text[];
    l record;
    ktype text;
    body text;
    src text;
    i integer := 0;
BEGIN
    SELECT pg_catalog.string_agg(pg_catalog.format('%I = %s', p.column_name, p.expression), ', ' ORDER BY p.column_name)
      INTO sets
      FROM pg_catalog.jsonb_to_recordset(plan) AS p(relation pg_catalog.regclass, column_name name, chosen_by text, expression text, joins text)
     WHERE p.relation = rel AND p.expression IS NOT NULL;
    -- other tables' rows that join the batch's keys: one UPDATE per table
    -- (a row is updated once per statement), each column rewritten where its
    -- foreign key joins a row of the batch
    FOR l IN
        WITH p AS (
            SELECT q.relation, q.chosen_by, q.column_name, q.expression,
                   (pg_catalog.parse_ident(q.joins))[pg_catalog.cardinality(pg_catalog.parse_ident(q.joins))] AS parent_col
              FROM pg_catalog.jsonb_to_recordset(plan) AS q(relation pg_catalog.regclass, column_name name, chosen_by text, expression text, joins text)
             WHERE q.relation <> rel),
        fk AS (
            SELECT p.relation, p.chosen_by,
                   pg_catalog.format('(%s) IN (SELECT %s FROM b)',
                                     pg_catalog.string_agg(pg_catalog.format('c.%I', p.column_name), ', ' ORDER BY p.column_name),
                                     pg_catalog.string_agg(pg_catalog.format('b.%I', p.parent_col), ', ' ORDER BY p.column_name)) AS cond
              FROM p GROUP BY p.relation, p.chosen_by)
        SELECT fk.relation,
               pg_catalog.string_agg(pg_catalog.format('%I = CASE WHEN %s THEN %s ELSE c.%1$I END', p.column_name, fk.cond, p.expression),
                                     ', ' ORDER BY p.column_name) AS sets,
               pg_catalog.string_agg(DISTINCT fk.cond, ' OR ') AS cond
          FROM fk JOIN p ON p.relation = fk.relation AND p.chosen_by = fk.chosen_by
         GROUP BY fk.relation
         ORDER BY fk.relation::text
    LOOP
        i := i + 1;
        links := links || pg_catalog.format(', l%s AS (UPDATE %s c SET %s WHERE %s)', i, l.relation, l.sets, l.cond);
    END LOOP;
    refs := ARRAY(SELECT DISTINCT pg_catalog.format('t.%I', (pg_catalog.parse_ident(q.joins))[pg_catalog.cardinality(pg_catalog.parse_ident(q.joins))])
                    FROM pg_catalog.jsonb_to_recordset(plan) AS q(relation pg_catalog.regclass, column_name name, chosen_by text, expression text, joins text)
                   WHERE q.relation <> rel);
    IF key_column IS NOT NULL THEN
        SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) INTO ktype
          FROM pg_catalog.pg_attribute a WHERE a.attrelid = part AND a.attname = key_column;
    END IF;
    -- a Citus table: Citus refuses a STABLE function of a column in an
    -- UPDATE, so the new values are computed by a SELECT (pushed down to the
    -- shards, where the keys are mirrored) and the UPDATE joins them by the
    -- primary key; each batch the rows of the next batch_size distinct values
    -- of the walking column (the distribution column of a distributed table)
    IF privacy.citus_distribution(part::pg_catalog.regclass) IS NOT NULL THEN
        IF pg_catalog.cardinality(links) > 0 THEN
            RAISE EXCEPTION 'anonymize_table does not rewrite the keys other tables join on Citus table %', rel
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Label the key ANONYMIZE WITH KEEP, or anonymize the joining tables one by one (doc/citus.md).';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = part AND i.indisprimary) THEN
            RAISE EXCEPTION 'Citus table % has no primary key: anonymize_table cannot name its rows on every node', rel
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Give it a primary key (doc/citus.md).';
        END IF;
        body := pg_catalog.format(
            'WITH k AS MATERIALIZED (SELECT DISTINCT s.%2$I FROM ONLY %1$s s %%s ORDER BY s.%2$I LIMIT %3$s), '
            'b AS MATERIALIZED (SELECT %4$s, %5$s FROM ONLY %1$s t WHERE t.%2$I IN (SELECT k.%2$I FROM k)), '
            'u AS (UPDATE ONLY %1$s t SET %6$s FROM b WHERE %7$s) '
            'SELECT (SELECT pg_catalog.count(*) FROM b)::pg_catalog.text || '':'' '
            '|| COALESCE((SELECT pg_catalog.max(k.%2$I) FROM k)::pg_catalog.text, '''')',
            part::pg_catalog.regclass, key_column, batch_size,
            (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', a.attname), ', ' ORDER BY a.attnum)
               FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::smallint[])
              WHERE i.indrelid = part AND i.indisprimary),
            (SELECT pg_catalog.string_agg(pg_catalog.format('%s AS _privacy_%s', p.expression, p.o), ', ' ORDER BY p.o)
               FROM ROWS FROM (pg_catalog.jsonb_to_recordset(plan) AS (relation pg_catalog.regclass, column_name name, expression text)) WITH ORDINALITY AS p(relation, column_name, expression, o)
              WHERE p.relation = rel AND p.expression IS NOT NULL),
            (SELECT pg_catalog.string_agg(pg_catalog.format('%I = b._privacy_%s', p.column_name, p.o), ', ' ORDER BY p.o)
               FROM ROWS FROM (pg_catalog.jsonb_to_recordset(plan) AS (relation pg_catalog.regclass, column_name name, expression text)) WITH ORDINALITY AS p(relation, column_name, expression, o)
              WHERE p.relation = rel AND p.expression IS NOT NULL),
            (SELECT pg_catalog.string_agg(pg_catalog.format('t.%1$I = b.%1$I', a.attname), ' AND ' ORDER BY a.attnum)
               FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::smallint[])
              WHERE i.indrelid = part AND i.indisprimary));
        first_sql := pg_catalog.format(body, '');
        next_sql := pg_catalog.format(body, pg_catalog.format('WHERE s.%I > $2::%s', key_column, ktype));
        RETURN;
    END IF;
    -- keyset with nothing else to rewrite: the next keys, then one UPDATE of
    -- them; a row another session changes meanwhile is found again by its key
    IF mode = 'keyset' AND pg_catalog.cardinality(links) = 0 THEN
        body := pg_catalog.format('WITH k AS MATERIALIZED (SELECT ARRAY(SELECT s.%3$I FROM ONLY %1$s s %%s ORDER BY s.%3$I LIMIT %4$s) AS ks), '
                                  'u AS (UPDATE ONLY %1$s t SET %2$s WHERE t.%3$I = ANY ((SELECT k.ks FROM k)::%5$s[])) '
                                  'SELECT pg_catalog.cardinality(k.ks)::pg_catalog.text || '':'' '
                                  '|| COALESCE((k.ks[pg_catalog.cardinality(k.ks)])::pg_catalog.text, '''') FROM k',
                                  part::pg_catalog.regclass, sets, key_column, batch_size, ktype);
        first_sql := pg_catalog.format(body, '');
        next_sql := pg_catalog.format(body, pg_catalog.format('WHERE s.%I > $2::%s', key_column, ktype));
        RETURN;
    END IF;
    body := pg_catalog.format('%s%s SELECT pg_catalog.count(*)::pg_catalog.text || '':'' || COALESCE(%s, '''') FROM b',
                              CASE WHEN sets IS NULL THEN ''
                                   ELSE pg_catalog.format(', u AS (UPDATE ONLY %s t SET %s FROM b WHERE t.ctid = b._privacy_tid)',
                                                          part::pg_catalog.regclass, sets) END,
                              pg_catalog.array_to_string(links, ''),
                              CASE WHEN mode = 'keyset' THEN 'pg_catalog.max(b._privacy_k)::pg_catalog.text' ELSE 'NULL' END);
    src := pg_catalog.format('SELECT t.ctid AS _privacy_tid%s%s FROM ONLY %s t',
                             CASE WHEN key_column IS NOT NULL THEN pg_catalog.format(', t.%I AS _privacy_k', key_column) ELSE '' END,
                             (SELECT pg_catalog.string_agg(', ' || x, '') FROM pg_catalog.unnest(refs) x),
                             part::pg_catalog.regclass);
    IF mode = 'keyset' THEN
        first_sql := pg_catalog.format('WITH b AS MATERIALIZED (%s ORDER BY t.%I LIMIT %s FOR UPDATE OF t)%s',
                                       src, key_column, batch_size, body);
        next_sql := pg_catalog.format('WITH b AS MATERIALIZED (%1$s WHERE t.%2$I > $2::%3$s ORDER BY t.%2$I LIMIT %4$s FOR UPDATE OF t)%5$s',
                                      src, key_column, ktype, batch_size, body);
    ELSIF key_column IS NOT NULL THEN
        first_sql := pg_catalog.format('WITH b AS MATERIALIZED (%s WHERE t.%I = ANY ($2::%s[]) FOR UPDATE OF t)%s',
                                       src, key_column, ktype, body);
    ELSE
        first_sql := pg_catalog.format('WITH b AS MATERIALIZED (%s WHERE t.ctid = ANY ($1) FOR UPDATE OF t)%s',
                                       src, body);
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.anonymize_part_sql(oid, pg_catalog.regclass, jsonb, integer, text, name) IS
    'internal: the statements of an anonymize_table batch over one table or partition, from the table''s anonymization_plan as jsonb: the rows locked, their labelled columns rewritten, other tables'' rows that join them rewritten with them';
REVOKE ALL ON FUNCTION privacy.anonymize_part_sql(oid, pg_catalog.regclass, jsonb, integer, text, name) FROM PUBLIC;

-- start (or continue) a run: checks, the run's rows, the queue, the audit
-- entry; NULL when there is nothing to do
CREATE FUNCTION privacy.anonymize_start(rel pg_catalog.regclass, batch_size integer, key text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    run bigint;
    r record;
    owner oid;
    methods jsonb;
    exprs text;
    fn text;
    leaf record;
    kc name;
    mode text;
    total bigint;
    q record;
    plan jsonb;
    resumed boolean := false;
    last text;
    chunk bigint;
BEGIN
    IF rel IS NULL OR batch_size IS NULL OR key IS NULL THEN
        RAISE EXCEPTION 'rel, batch_size and key must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                  AND d.objid = rel AND d.deptype = 'e') THEN
        RAISE EXCEPTION '% belongs to an extension', rel USING ERRCODE = 'wrong_object_type';
    END IF;
    PERFORM privacy.require_table_owner(rel);
    -- one start at a time: a lock on the runs that no role without UPDATE on
    -- them can take (an ordinary role holds at most ACCESS SHARE)
    LOCK TABLE privacy.anonymize_run IN SHARE ROW EXCLUSIVE MODE;
    -- a legal hold keeps rows as they are: no end-of-service anonymization
    -- of a table it keeps rows of
    SELECT t.rel AS relation, h.hold_id AS hold INTO r
      FROM (SELECT COALESCE(pg_catalog.pg_partition_root(rel), rel)::pg_catalog.regclass AS rel
            UNION
            SELECT f.conrelid::pg_catalog.regclass FROM pg_catalog.pg_constraint f
             WHERE f.confrelid = COALESCE(pg_catalog.pg_partition_root(rel), rel) AND f.contype = 'f' AND f.conparentid = 0) t,
           privacy.holds_on(t.rel) h
     ORDER BY h.hold_id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'legal hold % keeps rows of table %: it cannot be anonymized', r.hold, r.relation
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A legal hold suspends every erasure of the rows it keeps: retention, cancellation and end-of-service anonymization.',
                  HINT = 'privacy.anonymization_plan() lists the holds; privacy.release_hold() ends one.';
    END IF;

    -- the plan raises for what cannot be done, before anything changes; the
    -- columns it rewrites, here and in the tables that join this one
    SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(p)) INTO plan
      FROM privacy.anonymization_plan(rel, key) p
     WHERE p.expression IS NOT NULL;
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('relation', p.relation::text, 'column', p.column_name,
                                                              'method', p.method, 'chosen_by', p.chosen_by)
                                ORDER BY p.relation::text, p.column_name),
           pg_catalog.string_agg(p.expression, ' ')
      INTO methods, exprs
      FROM pg_catalog.jsonb_to_recordset(plan) AS p(relation pg_catalog.regclass, column_name name, method text,
                                                    chosen_by text, expression text);
    IF methods IS NULL THEN
        RAISE NOTICE 'table % has no labelled column to anonymize', rel;
        RETURN NULL;
    END IF;
    IF exprs ~ '(privacy\.pseudonym|privacy\.fpe_encrypt)\('
       AND NOT EXISTS (SELECT 1 FROM privacy.key k WHERE k.name = anonymize_start.key) THEN
        RAISE EXCEPTION 'key "%" does not exist', key
            USING ERRCODE = 'undefined_object',
                  HINT = pg_catalog.format('Create it with SELECT privacy.create_key(%L). Every table anonymized with the same key gets the same pseudonyms, so foreign keys still join; drop the key when the work is done.', key);
    END IF;
    -- the batches run as the table's owner: it needs the functions and the
    -- tables whose rows join this one's
    SELECT k.relowner INTO owner FROM pg_catalog.pg_class k WHERE k.oid = rel;
    FOREACH fn IN ARRAY ARRAY['privacy.pseudonym(text, text)', 'privacy.pseudonym(bytea, text)',
                              'privacy.fpe_encrypt(text, text, text, integer)', 'privacy.fpe_encrypt(bigint, text, bigint, bigint)'] LOOP
        IF exprs ~ (CASE fn WHEN 'privacy.pseudonym(text, text)' THEN 'privacy\.pseudonym\(\([^()]*\)::pg_catalog\.text, '
                                              WHEN 'privacy.pseudonym(bytea, text)' THEN 'privacy\.pseudonym\(\([^()]*\)::pg_catalog\.bytea, '
                                              WHEN 'privacy.fpe_encrypt(text, text, text, integer)' THEN 'privacy\.fpe_encrypt\(\([^()]*\)::pg_catalog\.text, '
                                              ELSE 'privacy\.fpe_encrypt\(\([^()]*\)::pg_catalog\.int8, ' END)
           AND NOT pg_catalog.has_function_privilege(owner, fn, 'EXECUTE') THEN
            RAISE EXCEPTION 'role % (owner of table %) may not execute function %', owner::pg_catalog.regrole, rel, fn
                USING ERRCODE = 'insufficient_privilege',
                      HINT = pg_catalog.format('The batches run as the table''s owner: GRANT EXECUTE ON FUNCTION %s TO %s.', fn, owner::pg_catalog.regrole);
        END IF;
    END LOOP;
    FOR r IN SELECT DISTINCT p.relation FROM pg_catalog.jsonb_to_recordset(plan) AS p(relation pg_catalog.regclass)
              WHERE p.relation <> rel LOOP
        IF NOT pg_catalog.has_table_privilege(owner, r.relation, 'UPDATE') THEN
            RAISE EXCEPTION 'role % (owner of table %) may not update table %, whose rows join it', owner::pg_catalog.regrole, rel, r.relation
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'The batches run as the table''s owner and rewrite the joining rows with the same pseudonyms.';
        END IF;
    END LOOP;

    -- an unfinished run of this table continues where it stopped
    SELECT * INTO r FROM privacy.anonymize_run x
     WHERE x.relid = rel AND x.ended_at IS NULL ORDER BY x.id DESC LIMIT 1;
    IF FOUND THEN
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                    WHERE a.pid = r.pid AND a.backend_start = r.backend_start
                      AND a.pid <> pg_catalog.pg_backend_pid()) THEN
            RAISE NOTICE 'run % is anonymizing table % in another session; this call does nothing', r.id, rel;
            RETURN NULL;
        ELSIF r.key_name <> key THEN
            RAISE EXCEPTION 'run % of table % uses key "%"', r.id, rel, r.key_name
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Continue it with the same key, so that the whole table gets the same pseudonyms.';
        END IF;
        run := r.id;
        resumed := true;
        UPDATE privacy.anonymize_run x SET batch_size = anonymize_start.batch_size, pid = pg_catalog.pg_backend_pid(),
               backend_start = (SELECT a.backend_start FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid())
         WHERE x.id = run;
        FOR leaf IN SELECT p.part, p.mode, p.key_column FROM privacy.anonymize_part p
                     WHERE p.run_id = run AND NOT p.finished LOOP
            SELECT * INTO q FROM privacy.anonymize_part_sql(leaf.part, rel, plan, batch_size, leaf.mode, leaf.key_column);
            UPDATE privacy.anonymize_part p SET first_sql = q.first_sql, next_sql = q.next_sql
             WHERE p.run_id = run AND p.part = leaf.part;
        END LOOP;
    ELSE
        IF EXISTS (SELECT 1 FROM privacy.leaf_tables(rel) t
                     JOIN privacy.anonymize_part p ON p.part = t AND NOT p.finished) THEN
            RAISE EXCEPTION 'a partition of % is part of an unfinished run of another table', rel
                USING ERRCODE = 'object_in_use',
                      HINT = 'Finish that run first: privacy.anonymize_log names its table.';
        END IF;
        -- the tables (partitions) no earlier run has finished
        IF NOT EXISTS (SELECT 1 FROM privacy.leaf_tables(rel) t
                        WHERE NOT EXISTS (SELECT 1 FROM privacy.anonymize_part p
                                           WHERE p.part = t AND p.finished)) THEN
            RAISE NOTICE 'table % is already anonymized; nothing to do', rel
                USING DETAIL = 'privacy.anonymize_log shows the run that did it.';
            RETURN NULL;
        END IF;
        INSERT INTO privacy.anonymize_run (relid, relation, batch_size, key_name, methods, run_by, pid, backend_start)
        SELECT rel, rel::text, batch_size, key, methods,
               CASE pg_catalog.current_setting('role') WHEN 'none' THEN SESSION_USER ELSE pg_catalog.current_setting('role')::name END,
               a.pid, a.backend_start
          FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid()
        RETURNING privacy.anonymize_run.id INTO run;
        FOR leaf IN
            SELECT t::oid AS part FROM privacy.leaf_tables(rel) t
             WHERE NOT EXISTS (SELECT 1 FROM privacy.anonymize_part p WHERE p.part = t AND p.finished)
        LOOP
            -- a single-column key walks the rows: in its order when it is not
            -- rewritten, else from a list of its values made now
            SELECT a.attname INTO kc
              FROM pg_catalog.pg_index i
              JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
              JOIN pg_catalog.pg_am am ON am.oid = ic.relam
              JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
             WHERE i.indrelid = leaf.part AND i.indisunique AND i.indimmediate AND i.indisvalid
               AND i.indnkeyatts = 1 AND i.indkey[0] > 0
               AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attnotnull AND am.amname = 'btree'
             ORDER BY i.indisprimary DESC, i.indexrelid
             LIMIT 1;
            mode := CASE WHEN kc IS NOT NULL AND NOT EXISTS (
                              SELECT 1 FROM pg_catalog.jsonb_to_recordset(plan) AS p(relation pg_catalog.regclass, column_name name)
                               WHERE p.relation = rel AND p.column_name = kc)
                         THEN 'keyset' ELSE 'queue' END;
            -- a Citus distributed table: by its distribution column, kept
            -- (each batch the rows of its next distinct values); a ctid is a
            -- row of one shard only, so a Citus table has no queue
            IF privacy.citus_distribution(leaf.part::pg_catalog.regclass) <> '' THEN
                kc := privacy.citus_distribution(leaf.part::pg_catalog.regclass);
                mode := 'keyset';
            ELSIF privacy.citus_distribution(leaf.part::pg_catalog.regclass) = '' AND mode = 'queue' THEN
                RAISE EXCEPTION 'Citus reference table % has no single-column unique key that anonymize_table keeps: it cannot walk it', rel
                    USING ERRCODE = 'feature_not_supported',
                          HINT = 'Give it a single-column primary key that is not rewritten (doc/citus.md).';
            END IF;
            IF mode = 'queue' THEN
                -- the keys (or ctids) in their order, read as the table's owner
                -- 50,000 at a time, each chunk after the last key of the one before
                total := 0;
                last := NULL;
                LOOP
                    INSERT INTO privacy.anonymize_queue (run_id, part, pos, item)
                    SELECT run, leaf.part, total + o.n, COALESCE(o.vals[1], o.tid::text)
                      FROM privacy.owner_rows(leaf.part::pg_catalog.regclass,
                               pg_catalog.format('SELECT t.tableoid, t.ctid%1$s FROM ONLY %2$s t' || CASE WHEN last IS NULL THEN '' ELSE ' WHERE %3$s > ($1[1])::%4$s' END || ' ORDER BY %3$s LIMIT 50000',
                                   CASE WHEN kc IS NULL THEN '' ELSE pg_catalog.format(', t.%I::pg_catalog.text', kc) END,
                                   leaf.part::pg_catalog.regclass,
                                   CASE WHEN kc IS NULL THEN 't.ctid' ELSE pg_catalog.format('t.%I', kc) END,
                                   CASE WHEN kc IS NULL THEN 'pg_catalog.tid'
                                        ELSE (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                                               WHERE a.attrelid = leaf.part AND a.attname = kc) END),
                               ARRAY[last]) WITH ORDINALITY o(part, tid, vals, n);
                    GET DIAGNOSTICS chunk = ROW_COUNT;
                    EXIT WHEN chunk = 0;
                    total := total + chunk;
                    SELECT aq.item INTO last FROM privacy.anonymize_queue aq
                     WHERE aq.run_id = run AND aq.part = leaf.part AND aq.pos = total;
                    EXIT WHEN chunk < 50000;
                END LOOP;
            ELSE
                total := privacy.owner_exec_value(leaf.part::pg_catalog.regclass,
                             pg_catalog.format('SELECT pg_catalog.count(*) FROM ONLY %s', leaf.part::pg_catalog.regclass), NULL::text[])::bigint;
            END IF;
            SELECT * INTO q FROM privacy.anonymize_part_sql(leaf.part, rel, plan, batch_size, mode, kc);
            INSERT INTO privacy.anonymize_part (run_id, part, relation, mode, key_column, rows_total, first_sql, next_sql)
            VALUES (run, leaf.part, leaf.part::pg_catalog.regclass::text, mode, kc, total, q.first_sql, q.next_sql);
        END LOOP;
    END IF;
    PERFORM privacy.audit_append('anonymize', pg_catalog.format('table %s', rel),
        pg_catalog.jsonb_build_object('operation', CASE WHEN resumed THEN 'resume' ELSE 'start' END, 'run', run,
                                      'batch_size', batch_size, 'key', key, 'columns', methods,
                                      'rows', (SELECT pg_catalog.sum(p.rows_total - p.rows_done)
                                                 FROM privacy.anonymize_part p WHERE p.run_id = run)));
    RETURN run;
END
$$;
COMMENT ON FUNCTION privacy.anonymize_start(pg_catalog.regclass, integer, text) IS
    'internal: check and start (or continue) an anonymize_table run: ownership, plan, key, the owner''s privileges; the run''s rows and queue; audited';
REVOKE ALL ON FUNCTION privacy.anonymize_start(pg_catalog.regclass, integer, text) FROM PUBLIC;

-- one batch of a run: the next rows of its first unfinished table, rewritten
-- as the table's owner; rows done, 0 when that table is finished, -1 when
-- the run has nothing left
CREATE FUNCTION privacy.anonymize_batch(run_id bigint) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
    p record;
    items text[];
    res text;
    n bigint;
BEGIN
    SELECT * INTO r FROM privacy.anonymize_run x WHERE x.id = run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'anonymize run % does not exist', run_id USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM privacy.require_table_owner(r.relid::pg_catalog.regclass);
    -- a crash loses at most the last batches, with their progress: the next
    -- call does them again
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    SELECT * INTO p FROM privacy.anonymize_part x
     WHERE x.run_id = anonymize_batch.run_id AND NOT x.finished
     ORDER BY x.relation LIMIT 1;
    IF NOT FOUND THEN
        RETURN -1;
    END IF;
    IF p.mode = 'keyset' THEN
        res := privacy.owner_exec_value(p.part::pg_catalog.regclass,
                                        CASE WHEN p.watermark IS NULL THEN p.first_sql ELSE p.next_sql END, NULL, p.watermark);
        n := pg_catalog.split_part(res, ':', 1)::bigint;
        IF n = 0 THEN
            UPDATE privacy.anonymize_part x SET finished = true
             WHERE x.run_id = p.run_id AND x.part = p.part;
            RETURN 0;
        END IF;
        UPDATE privacy.anonymize_part x
           SET watermark = pg_catalog.substr(res, pg_catalog.strpos(res, ':') + 1),
               rows_done = x.rows_done + n, batches = x.batches + 1
         WHERE x.run_id = p.run_id AND x.part = p.part;
        RETURN n;
    END IF;
    WITH d AS (
        DELETE FROM privacy.anonymize_queue q
         WHERE q.run_id = p.run_id AND q.part = p.part
           AND q.pos = ANY (ARRAY(SELECT q2.pos FROM privacy.anonymize_queue q2
                                                         WHERE q2.run_id = p.run_id AND q2.part = p.part
                                                         ORDER BY q2.pos LIMIT r.batch_size))
        RETURNING q.item)
    SELECT pg_catalog.array_agg(d.item) INTO items FROM d;
    IF items IS NULL THEN
        UPDATE privacy.anonymize_part x SET finished = true
         WHERE x.run_id = p.run_id AND x.part = p.part;
        RETURN 0;
    END IF;
    res := privacy.owner_exec_value(p.part::pg_catalog.regclass, p.first_sql,
                                    CASE WHEN p.key_column IS NULL THEN items::pg_catalog.tid[] END,
                                    CASE WHEN p.key_column IS NOT NULL THEN items::text END);
    n := pg_catalog.split_part(res, ':', 1)::bigint;
    UPDATE privacy.anonymize_part x
       SET rows_done = x.rows_done + n, batches = x.batches + 1
     WHERE x.run_id = p.run_id AND x.part = p.part;
    -- rows deleted since the queue was made are simply gone: go on
    RETURN GREATEST(n, 1);
END
$$;
COMMENT ON FUNCTION privacy.anonymize_batch(bigint) IS
    'internal: one batch of an anonymize_table run, as the table''s owner: rows done, 0 when a table of the run is finished, -1 when the run is';
REVOKE ALL ON FUNCTION privacy.anonymize_batch(bigint) FROM PUBLIC;

CREATE FUNCTION privacy.anonymize_finish(run_id bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM privacy.anonymize_run x WHERE x.id = run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'anonymize run % does not exist', run_id USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM privacy.require_table_owner(r.relid::pg_catalog.regclass);
    IF EXISTS (SELECT 1 FROM privacy.anonymize_part p WHERE p.run_id = r.id AND NOT p.finished) THEN
        RAISE EXCEPTION 'anonymize run % is not finished', run_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE privacy.anonymize_run x SET ended_at = pg_catalog.clock_timestamp() WHERE x.id = r.id;
    UPDATE privacy.anonymize_part p SET first_sql = NULL, next_sql = NULL, watermark = NULL WHERE p.run_id = r.id;
    PERFORM privacy.audit_append('anonymize', pg_catalog.format('table %s', r.relation),
        pg_catalog.jsonb_build_object('operation', 'finish', 'run', r.id,
            'erasure', 'logical: the old values stay in dead tuples until VACUUM, in WAL until it is recycled and in backups until they expire',
            'rows', (SELECT pg_catalog.sum(p.rows_done) FROM privacy.anonymize_part p WHERE p.run_id = r.id),
            'batches', (SELECT pg_catalog.sum(p.batches) FROM privacy.anonymize_part p WHERE p.run_id = r.id)));
END
$$;
COMMENT ON FUNCTION privacy.anonymize_finish(bigint) IS
    'internal: close a finished anonymize_table run, audited with its rows and batches';
REVOKE ALL ON FUNCTION privacy.anonymize_finish(bigint) FROM PUBLIC;

CREATE PROCEDURE privacy.anonymize_table(rel pg_catalog.regclass, batch_size integer DEFAULT 10000,
                                         key text DEFAULT 'anonymize')
    LANGUAGE plpgsql
    AS $$
DECLARE
    run bigint;
    n bigint;
    done bigint := 0;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    run := privacy.anonymize_start(rel, batch_size, key);
    COMMIT;
    IF run IS NULL THEN
        RETURN;
    END IF;
    LOOP
        -- progress, for a DBA reading pg_stat_activity (and privacy.anonymize_log);
        -- local to the batch's transaction, whose end (commit, or an error)
        -- gives the caller's application_name back
        PERFORM pg_catalog.set_config('application_name',
                    pg_catalog.left(pg_catalog.format('privacy anonymize run %s: %s, %s rows', run, rel, done), 63), true);
        n := privacy.anonymize_batch(run);
        COMMIT;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        EXIT WHEN n OPERATOR(pg_catalog.<) 0;
        done := done OPERATOR(pg_catalog.+) n;
    END LOOP;
    PERFORM privacy.anonymize_finish(run);
    COMMIT;
END
$$;
COMMENT ON PROCEDURE privacy.anonymize_table(pg_catalog.regclass, integer, text) IS
    'rewrite every labelled column of a table (its partitions included) by its method (privacy.anonymization_plan), in batches that commit, as the table''s owner; rows of other tables that join a rewritten key are rewritten with it; a stopped run continues where it left off; logged in privacy.anonymize_log and audited';
-- Destroys data: granted explicitly (with anonymize_start, anonymize_batch, anonymize_finish).
REVOKE ALL ON PROCEDURE privacy.anonymize_table(pg_catalog.regclass, integer, text) FROM PUBLIC;

CREATE PROCEDURE privacy.anonymize_database(schemas name[] DEFAULT NULL, batch_size integer DEFAULT 10000,
                                            key text DEFAULT 'anonymize')
    LANGUAGE plpgsql
    AS $$
DECLARE
    tables pg_catalog.regclass[];
    t pg_catalog.regclass;
    s name;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    FOREACH s IN ARRAY COALESCE(schemas, ARRAY[]::name[]) LOOP
        IF s IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) s) THEN
            RAISE EXCEPTION 'schema "%" does not exist', s USING ERRCODE = 'invalid_schema_name';
        END IF;
    END LOOP;
    tables := ARRAY(
        SELECT k.oid::pg_catalog.regclass
          FROM pg_catalog.pg_class k
          JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
         WHERE k.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[]) AND NOT k.relispartition
           AND (schemas IS NULL OR n.nspname OPERATOR(pg_catalog.=) ANY (schemas))
           AND EXISTS (SELECT 1 FROM privacy.labels l
                        WHERE l.relation OPERATOR(pg_catalog.=) k.oid::pg_catalog.regclass AND l.column_name IS NOT NULL)
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                            WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                              AND d.objid OPERATOR(pg_catalog.=) k.oid AND d.deptype OPERATOR(pg_catalog.=) 'e')
         ORDER BY n.nspname, k.relname);
    -- every table is checked before any is changed
    FOREACH t IN ARRAY tables LOOP
        IF NOT pg_catalog.pg_has_role(CURRENT_USER, (SELECT k.relowner FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) t), 'USAGE') THEN
            RAISE EXCEPTION 'must be owner of table %', t USING ERRCODE = 'insufficient_privilege';
        END IF;
        -- (the plan raises for what cannot be done, and lists the legal holds)
        IF EXISTS (SELECT 1 FROM privacy.anonymization_plan(t, key) p
                    WHERE p.column_name IS NULL AND p.note OPERATOR(pg_catalog.~) '^legal hold ') THEN
            RAISE EXCEPTION 'a legal hold keeps rows of table %: the database is not anonymized', t
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Nothing was changed: every table is checked before any is.',
                      HINT = 'privacy.anonymization_plan() lists the holds; privacy.release_hold() ends one.';
        END IF;
    END LOOP;
    FOREACH t IN ARRAY tables LOOP
        CALL privacy.anonymize_table(t, batch_size, key);
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    END LOOP;
END
$$;
COMMENT ON PROCEDURE privacy.anonymize_database(name[], integer, text) IS
    'privacy.anonymize_table for every table with labelled columns in the schemas (NULL: every schema), each checked before any is changed; foreign keys still join through the shared key';
-- As anonymize_table.
REVOKE ALL ON PROCEDURE privacy.anonymize_database(name[], integer, text) FROM PUBLIC;

-- An anonymized copy, streamed (bin/privacy_anonymized_dump): for every table
-- whose rows a dump holds, the SELECT that reads them anonymized, column by
-- column by the rules of anonymize_table (the same plan, the same key), and
-- the table's owner, who runs it.
CREATE FUNCTION privacy.anonymized_copy(key text)
    RETURNS TABLE (relation pg_catalog.regclass, owner name, columns text, select_sql text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t record;
    a record;
    own jsonb;
    fks jsonb;
    exprs text[];
    cols text[];
    e text;
BEGIN
    IF key IS NULL THEN
        RAISE EXCEPTION 'key must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    FOR t IN
        SELECT k.oid, k.relowner::pg_catalog.regrole::name AS rel_owner,
               COALESCE(pg_catalog.pg_partition_root(k.oid), k.oid) AS root
          FROM pg_catalog.pg_class k
          JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
         WHERE k.relkind = 'r'
           AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'privacy', 'pg_toast']::name[])
           AND NOT pg_catalog.starts_with(n.nspname, 'pg_temp_')
           AND NOT pg_catalog.starts_with(n.nspname, 'pg_toast_temp_')
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                            WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                              AND d.objid = k.oid AND d.deptype = 'e')
         ORDER BY n.nspname, k.relname
    LOOP
        -- its own labelled columns, as its plan rewrites them (the plan raises
        -- for what cannot be done)
        SELECT COALESCE(pg_catalog.jsonb_object_agg(p.column_name, p.expression), '{}'::jsonb) INTO own
          FROM privacy.anonymization_plan(t.oid::pg_catalog.regclass, key) p
         WHERE p.relation = t.oid::pg_catalog.regclass AND p.expression IS NOT NULL;
        -- its foreign key columns that join a rewritten key: rewritten with it
        SELECT COALESCE(pg_catalog.jsonb_object_agg(x.child_column, x.expr), '{}'::jsonb) INTO fks
          FROM (SELECT ca.attname AS child_column,
                       pg_catalog.format('(%s)::%s',
                           (privacy.anonymize_sql(pg_catalog.format('t.%I', ca.attname), pa.atttypid::pg_catalog.regtype,
                                                  pa.atttypmod, ch.method, l.category, key)).sql,
                           pg_catalog.format_type(ca.atttypid, ca.atttypmod)) AS expr
                  FROM pg_catalog.pg_constraint f
                 CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(f.conkey), pg_catalog.unnest(f.confkey)) AS k(child_att, parent_att)
                  JOIN pg_catalog.pg_attribute ca ON ca.attrelid = t.root AND ca.attnum = k.child_att
                  JOIN pg_catalog.pg_attribute pa ON pa.attrelid = f.confrelid AND pa.attnum = k.parent_att
                  LEFT JOIN privacy.labels l ON l.relation = f.confrelid::pg_catalog.regclass AND l.column_name = pa.attname
                 CROSS JOIN LATERAL privacy.anonymize_choice(f.confrelid, pa.attname) ch
                 WHERE f.conrelid = t.root AND f.contype = 'f' AND f.conparentid = 0 AND f.confrelid <> t.root
                   AND ch.method = ANY (ARRAY['pseudonym', 'ff1'])) x;
        exprs := ARRAY[]::text[];
        cols := ARRAY[]::text[];
        FOR a IN SELECT att.attname FROM pg_catalog.pg_attribute att
                  WHERE att.attrelid = t.oid AND att.attnum > 0 AND NOT att.attisdropped AND att.attgenerated = ''
                  ORDER BY att.attnum LOOP
            -- a column's own label first (ANONYMIZE WITH NULL empties a key)
            e := COALESCE(own ->> a.attname::text, fks ->> a.attname::text, pg_catalog.format('t.%I', a.attname));
            exprs := pg_catalog.array_append(exprs, pg_catalog.format('%s AS %I', e, a.attname));
            cols := pg_catalog.array_append(cols, pg_catalog.quote_ident(a.attname));
        END LOOP;
        relation := t.oid::pg_catalog.regclass;
        owner := t.rel_owner;
        columns := pg_catalog.array_to_string(cols, ', ');
        select_sql := pg_catalog.format('SELECT %s FROM ONLY %s t', pg_catalog.array_to_string(exprs, ', '), relation);
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.anonymized_copy(text) IS
    'for privacy_anonymized_dump: every table whose rows a dump holds (not the extensions''), its owner, its columns (generated ones aside) and the SELECT that reads its rows with every labelled column anonymized as anonymize_table would with that key, foreign keys rewritten with the keys they join; raises what anonymization_plan raises';
-- Names every table and the anonymization of its columns: the role that makes copies, granted explicitly.
REVOKE ALL ON FUNCTION privacy.anonymized_copy(text) FROM PUBLIC;

-- src/sql/state/citus.sql: the mirror of the coordinator's keys, consents and tombstones on a Citus cluster's workers (doc/citus.md)

-- Always empty.  privacy.citus_setup() makes it a Citus reference table: a
-- row the coordinator inserts reaches every worker's placement in the
-- coordinator's transaction (two-phase commit), where a trigger applies it to
-- the worker's copy of the table it names and keeps nothing.
CREATE TABLE privacy.citus_mirror (
    relation name  NOT NULL,
    old_rows jsonb,
    new_rows jsonb
);
COMMENT ON TABLE privacy.citus_mirror IS
    'always empty: on a Citus cluster (privacy.citus_setup), a reference table whose rows carry the coordinator''s changes to the mirrored tables (relation: which; old_rows and new_rows: the rows before and after, as jsonb arrays) to every worker, applied there by privacy.citus_mirror_in';
-- Holds key material (wrapped) in passing: the extension owner's alone.
REVOKE ALL ON privacy.citus_mirror FROM PUBLIC;

-- src/sql/code/citus.sql: the guard of what only a Citus cluster's coordinator may do (doc/citus.md)

CREATE FUNCTION privacy.require_coordinator(what text) RETURNS void
    AS 'MODULE_PATHNAME', 'privacy_require_coordinator_sql'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.require_coordinator(text) IS
    'internal: raise an error (naming the function what) unless this is the Citus coordinator''s own backend: on a worker node, or in a task Citus pushed down to one, the keys, the consent ledger and the tombstones are not there; without Citus it does nothing';
-- Internal: called by the extension's own SECURITY DEFINER functions.
REVOKE ALL ON FUNCTION privacy.require_coordinator(text) FROM PUBLIC;

-- whether Citus manages the table (distributed, reference or Citus local:
-- listed in pg_dist_partition); false without Citus
CREATE FUNCTION privacy.citus_table(rel pg_catalog.regclass) RETURNS boolean
    LANGUAGE plpgsql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    managed boolean;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    -- (named through format: the catalog exists only with Citus, and
    -- plpgsql_check reads constant query strings)
    EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM pg_catalog.%I p WHERE p.logicalrelid = $1)', 'pg_dist_partition')
       INTO managed USING rel;
    RETURN managed;
END
$$;
COMMENT ON FUNCTION privacy.citus_table(pg_catalog.regclass) IS
    'internal: whether Citus manages the table (a distributed, reference or Citus local table: pg_dist_partition lists it); false without Citus';
-- Internal: reads only Citus's catalog, which every role may read.
REVOKE ALL ON FUNCTION privacy.citus_table(pg_catalog.regclass) FROM PUBLIC;

-- the distribution column of a Citus table: NULL when Citus does not manage
-- it, '' for a reference or Citus local table (no distribution column)
CREATE FUNCTION privacy.citus_distribution(rel pg_catalog.regclass) RETURNS name
    LANGUAGE plpgsql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    col name;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE pg_catalog.format('SELECT CASE WHEN p.partmethod = ''n'' THEN '''' ELSE pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) END
                                 FROM pg_catalog.%I p WHERE p.logicalrelid = $1', 'pg_dist_partition')
       INTO col USING rel;
    RETURN col;
END
$$;
COMMENT ON FUNCTION privacy.citus_distribution(pg_catalog.regclass) IS
    'internal: the distribution column of a Citus distributed table; '''' for a reference or Citus local table; NULL for a table Citus does not manage (or without Citus)';
-- Reads only Citus's catalog, which every role may read; a table's owner
-- reaches it through anonymization_plan and anonymize_table.
GRANT EXECUTE ON FUNCTION privacy.citus_distribution(pg_catalog.regclass) TO PUBLIC;

-- a tid[] from its text form, IMMUTABLE as the conversion is: Citus refuses
-- a cast (STABLE array_in) inside the CASE of a distributed UPDATE
CREATE FUNCTION privacy.tid_array(tids text) RETURNS pg_catalog.tid[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT tids::pg_catalog.tid[] $$;
COMMENT ON FUNCTION privacy.tid_array(text) IS
    'internal: the tid[] a text array of tids spells; the cancellation plan''s statements on Citus distributed tables use it';
-- Harmless (a conversion); the cancellation plan's statements, run as each table's owner, call it.
GRANT EXECUTE ON FUNCTION privacy.tid_array(text) TO PUBLIC;

-- a reference table's row named alike on every node: a ctid is a row of one
-- placement only, so the cancellation plan names a reference table's rows
-- by a hash of their primary key, made a tid (48 bits: block and offset).
-- Two rows of one hash make a statement change more rows than it found,
-- which cancellation refuses (nothing is changed)
CREATE FUNCTION privacy.citus_row_tid(VARIADIC key text[]) RETURNS pg_catalog.tid
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT ('(' || ((h.h >> 16) & 4294967295)::pg_catalog.text || ',' || (h.h & 65535)::pg_catalog.text || ')')::pg_catalog.tid
          FROM (SELECT pg_catalog.hashtextextended(key::pg_catalog.text, 0) AS h) h
    $$;
COMMENT ON FUNCTION privacy.citus_row_tid(text[]) IS
    'internal: the tid that names a Citus reference table''s row (its primary key''s values as text) on every node: 48 bits of a hash of the key; the cancellation plan''s statements on reference tables use it';
-- Harmless (a hash); the cancellation plan's statements, run as each table's owner, call it.
GRANT EXECUTE ON FUNCTION privacy.citus_row_tid(text[]) TO PUBLIC;

CREATE FUNCTION privacy.citus_worker() RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_citus_worker_sql'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION privacy.citus_worker() IS
    'internal: whether this backend is not the Citus coordinator''s own: on a worker node, or running a task Citus pushed down; false without Citus';
-- Internal: the extension's own functions call it.
REVOKE ALL ON FUNCTION privacy.citus_worker() FROM PUBLIC;

-- The coordinator's labels are the truth: a label set on a Citus table (or
-- removed) is set on every shard placement of it too, so that a shard reads
-- as its table does and a shard move (which copies the shell table's labels)
-- changes nothing.  Citus (master_run_on_worker) runs each placement's command
-- in a connection of its own, committed at once: a label change rolled back on the coordinator
-- stays on the shards until the next privacy.citus_sync_labels(table).
CREATE FUNCTION privacy.citus_sync_labels(rel pg_catalog.regclass, subid integer DEFAULT NULL) RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    o record;
    n integer := 0;
    names text[];
    ports integer[];
    commands text[];
BEGIN
    IF privacy.citus_distribution(rel) IS NULL OR privacy.citus_worker() THEN
        RETURN 0;
    END IF;
    FOR o IN
        SELECT a.attnum AS sub, a.attname, l.label
          FROM pg_catalog.pg_attribute a
          LEFT JOIN pg_catalog.pg_seclabel l ON l.objoid = rel AND l.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                            AND l.objsubid = a.attnum AND l.provider = 'privacy'
         WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
           AND (subid IS NULL OR a.attnum = subid)
        UNION ALL
        SELECT 0, NULL, l.label
          FROM (SELECT 1) one
          LEFT JOIN pg_catalog.pg_seclabel l ON l.objoid = rel AND l.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                            AND l.objsubid = 0 AND l.provider = 'privacy'
         WHERE subid IS NULL OR subid = 0
         ORDER BY 1
    LOOP
        -- each placement on a worker (the coordinator's own placements, of
        -- reference tables, are not labelled: its tables are the truth); the
        -- catalogs and master_run_on_worker exist only with Citus, so they are
        -- named through format (plpgsql_check reads constant query strings)
        EXECUTE pg_catalog.format(
            'SELECT pg_catalog.array_agg(pl.nodename ORDER BY s.shardid, pl.nodename, pl.nodeport),'
            '       pg_catalog.array_agg(pl.nodeport ORDER BY s.shardid, pl.nodename, pl.nodeport),'
            '       pg_catalog.array_agg(CASE WHEN $2 = 0'
            '           THEN pg_catalog.format(''SECURITY LABEL FOR privacy ON TABLE %%s IS %%s'', pg_catalog.shard_name($1, s.shardid), $4)'
            '           ELSE pg_catalog.format(''SECURITY LABEL FOR privacy ON COLUMN %%s.%%I IS %%s'', pg_catalog.shard_name($1, s.shardid), $3, $4) END'
            '                            ORDER BY s.shardid, pl.nodename, pl.nodeport)'
            '  FROM pg_catalog.%I s JOIN pg_catalog.%I pl ON pl.shardid = s.shardid'
            '  JOIN pg_catalog.%I d ON d.nodename = pl.nodename AND d.nodeport = pl.nodeport'
            ' WHERE s.logicalrelid = $1 AND d.groupid <> 0',
            'pg_dist_shard', 'pg_dist_shard_placement', 'pg_dist_node')
           INTO names, ports, commands
          USING rel, o.sub, o.attname, COALESCE(pg_catalog.quote_literal(o.label), 'NULL');
        CONTINUE WHEN names IS NULL;
        EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM pg_catalog.%I($1, $2, $3, true) r WHERE NOT r.success',
                                  'master_run_on_worker')
           INTO n
          USING names, ports, commands;
        IF n > 0 THEN
            RAISE EXCEPTION 'could not set the label of % on % of its shard placements', rel, n
                USING ERRCODE = 'connection_failure',
                      HINT = 'Run SELECT privacy.citus_sync_labels(table) again once every worker is reachable.';
        END IF;
    END LOOP;
    RETURN (SELECT pg_catalog.count(*)::integer FROM pg_catalog.pg_seclabel l
             WHERE l.objoid = rel AND l.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND l.provider = 'privacy');
END
$$;
COMMENT ON FUNCTION privacy.citus_sync_labels(pg_catalog.regclass, integer) IS
    'set the coordinator''s privacy labels of a Citus table (one column: subid; the table itself: 0; all: NULL) on every shard placement of it; returns how many labels the table has; does nothing without Citus, on a worker, or for a table Citus does not manage';
-- Labels are the privacy administrator's: SECURITY LABEL's event trigger calls it.
REVOKE ALL ON FUNCTION privacy.citus_sync_labels(pg_catalog.regclass, integer) FROM PUBLIC;

CREATE FUNCTION privacy.citus_label_ddl() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cmd record;
BEGIN
    IF privacy.restoring() OR to_regclass('pg_catalog.pg_dist_partition') IS NULL OR privacy.citus_worker() THEN
        RETURN;
    END IF;
    FOR cmd IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP
        CONTINUE WHEN cmd.classid <> 'pg_catalog.pg_class'::pg_catalog.regclass;
        PERFORM privacy.citus_sync_labels(cmd.objid::pg_catalog.regclass, cmd.objsubid);
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.citus_label_ddl() IS
    'event trigger: a privacy label set on a Citus table on the coordinator is set on its shard placements too (privacy.citus_sync_labels)';
CREATE EVENT TRIGGER privacy_citus_labels ON ddl_command_end WHEN TAG IN ('SECURITY LABEL')
    EXECUTE FUNCTION privacy.citus_label_ddl();

-- ---------------------------------------------------------------- the mirror
-- One set of keys, one consent ledger and one set of tombstones for the
-- cluster: the coordinator's.  privacy.citus_setup() makes
-- privacy.citus_mirror a reference table; from then on every change of a
-- mirrored table on the coordinator is inserted there (one row per
-- statement) and so reaches every worker in the same distributed
-- transaction, where privacy.citus_mirror_in applies it to the worker's own
-- copy of the table.  A worker's keyed functions, has_consent and the guard
-- against cancelled subjects then read the same rows as the coordinator.

CREATE FUNCTION privacy.require_mirror(what text) RETURNS void
    AS 'MODULE_PATHNAME', 'privacy_require_mirror_sql'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.require_mirror(text) IS
    'internal: raise an error (naming the function what) on a Citus worker node, or in a task Citus pushed down, unless privacy.citus_setup() mirrored the coordinator''s keys, consents and tombstones there; without Citus it does nothing';
-- Internal: called by the extension's own SECURITY DEFINER functions.
REVOKE ALL ON FUNCTION privacy.require_mirror(text) FROM PUBLIC;

CREATE FUNCTION privacy.citus_mirrored() RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_citus_mirrored_sql'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION privacy.citus_mirrored() IS
    'whether privacy.citus_setup() made privacy.citus_mirror a Citus reference table, as this node sees it: the coordinator''s keys, consents and tombstones are mirrored to every worker; false without Citus';
-- Harmless (whether the cluster is set up); the doc's checks call it.
GRANT EXECUTE ON FUNCTION privacy.citus_mirrored() TO PUBLIC;

-- the tables the mirror keeps on every worker: what keyed functions,
-- has_consent, may_process and the guard against cancelled subjects read
CREATE FUNCTION privacy.citus_mirror_tables() RETURNS name[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT ARRAY['key', 'key_version', 'purpose_definition', 'policy_version', 'consent_event', 'consent',
                       'subject_minor', 'restricted_subject', 'cancelled_subject']::name[] $$;
COMMENT ON FUNCTION privacy.citus_mirror_tables() IS
    'internal: the tables of schema privacy that privacy.citus_setup() mirrors from a Citus coordinator to every worker';
REVOKE ALL ON FUNCTION privacy.citus_mirror_tables() FROM PUBLIC;

-- a statement's changes of a mirrored table, sent to every worker
CREATE FUNCTION privacy.citus_mirror_out() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    before jsonb;
    after jsonb;
BEGIN
    -- a SECURITY DEFINER trigger any role could attach to a table of its own
    -- (named like a mirrored one): only the extension's own tables send
    IF TG_TABLE_SCHEMA <> 'privacy' OR TG_TABLE_NAME <> ALL (privacy.citus_mirror_tables()) THEN
        RAISE EXCEPTION 'privacy.citus_mirror_out() is the trigger of the tables privacy.citus_setup() mirrors, not of table %.%',
            TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT privacy.citus_mirrored() OR privacy.citus_worker() THEN
        RETURN NULL;
    END IF;
    -- (the transition tables, named through format: plpgsql_check reads
    -- constant query strings, and they exist only in the trigger)
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE pg_catalog.format('SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r)) FROM %I r', 'mirror_old')
           INTO before;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        EXECUTE pg_catalog.format('SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r)) FROM %I r', 'mirror_new')
           INTO after;
    END IF;
    IF before IS NOT NULL OR after IS NOT NULL THEN
        INSERT INTO privacy.citus_mirror (relation, old_rows, new_rows) VALUES (TG_TABLE_NAME, before, after);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION privacy.citus_mirror_out() IS
    'trigger (AFTER each statement on a mirrored table): on a Citus coordinator set up by privacy.citus_setup(), send the statement''s changed rows to every worker through privacy.citus_mirror; else nothing';

-- a change of the coordinator, applied to this worker's copy of the table
CREATE FUNCTION privacy.citus_mirror_in() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rel pg_catalog.regclass;
    cols name[];
    keys name[];
BEGIN
    -- a SECURITY DEFINER trigger any role could attach to a table of its own:
    -- only privacy.citus_mirror and its shard placements apply changes
    IF TG_TABLE_SCHEMA <> 'privacy' OR TG_TABLE_NAME !~ '^citus_mirror(_[0-9]+)?$' THEN
        RAISE EXCEPTION 'privacy.citus_mirror_in() is the trigger of privacy.citus_mirror, not of table %.%',
            TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- the coordinator's own placement: its tables are the truth
    IF NOT privacy.citus_worker() THEN
        RETURN NULL;
    END IF;
    IF NEW.relation <> ALL (privacy.citus_mirror_tables()) THEN
        RAISE EXCEPTION 'privacy.citus_mirror does not mirror table "%"', NEW.relation
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    rel := pg_catalog.format('privacy.%I', NEW.relation)::pg_catalog.regclass;
    -- every column but the generated ones; the primary key's
    cols := ARRAY(SELECT a.attname FROM pg_catalog.pg_attribute a
                   WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                   ORDER BY a.attnum);
    keys := ARRAY(SELECT a.attname FROM pg_catalog.pg_index i
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                   WHERE i.indrelid = rel AND i.indisprimary
                   ORDER BY a.attnum);
    -- rows gone: the old keys that no new row has
    IF NEW.old_rows IS NOT NULL THEN
        EXECUTE pg_catalog.format(
            'DELETE FROM %1$s t USING pg_catalog.jsonb_populate_recordset(NULL::%1$s, $1) r WHERE %2$s'
            ' AND NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_populate_recordset(NULL::%1$s, $2) n WHERE %3$s)',
            rel,
            (SELECT pg_catalog.string_agg(pg_catalog.format('t.%1$I = r.%1$I', k), ' AND ') FROM pg_catalog.unnest(keys) k),
            (SELECT pg_catalog.string_agg(pg_catalog.format('n.%1$I = r.%1$I', k), ' AND ') FROM pg_catalog.unnest(keys) k))
          USING NEW.old_rows, COALESCE(NEW.new_rows, '[]'::jsonb);
    END IF;
    -- rows changed, then rows new
    IF NEW.new_rows IS NOT NULL THEN
        EXECUTE pg_catalog.format(
            'UPDATE %1$s t SET (%2$s) = (SELECT %3$s) FROM pg_catalog.jsonb_populate_recordset(NULL::%1$s, $1) r'
            ' WHERE %4$s AND (%3$s) IS DISTINCT FROM (%5$s)',
            rel,
            (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ') FROM pg_catalog.unnest(cols) c),
            (SELECT pg_catalog.string_agg(pg_catalog.format('r.%I', c), ', ') FROM pg_catalog.unnest(cols) c),
            (SELECT pg_catalog.string_agg(pg_catalog.format('t.%1$I = r.%1$I', k), ' AND ') FROM pg_catalog.unnest(keys) k),
            (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', c), ', ') FROM pg_catalog.unnest(cols) c))
          USING NEW.new_rows;
        EXECUTE pg_catalog.format(
            'INSERT INTO %1$s (%2$s) SELECT %3$s FROM pg_catalog.jsonb_populate_recordset(NULL::%1$s, $1) r'
            ' WHERE NOT EXISTS (SELECT 1 FROM %1$s t WHERE %4$s)',
            rel,
            (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ') FROM pg_catalog.unnest(cols) c),
            (SELECT pg_catalog.string_agg(pg_catalog.format('r.%I', c), ', ') FROM pg_catalog.unnest(cols) c),
            (SELECT pg_catalog.string_agg(pg_catalog.format('t.%1$I = r.%1$I', k), ' AND ') FROM pg_catalog.unnest(keys) k))
          USING NEW.new_rows;
    END IF;
    -- nothing is kept in the mirror itself
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION privacy.citus_mirror_in() IS
    'trigger (BEFORE INSERT on privacy.citus_mirror and its shard placements): on a Citus worker, apply a change of the coordinator to the worker''s copy of the table it names (rows gone, changed, new, matched by primary key); keeps nothing; on the coordinator, nothing';
CREATE TRIGGER citus_mirror_in BEFORE INSERT ON privacy.citus_mirror
    FOR EACH ROW EXECUTE FUNCTION privacy.citus_mirror_in();

-- every mirrored table sends each statement's changes (one trigger per kind
-- of statement: a trigger with transition tables has one event)
-- (written out, not made by a loop: an update script carries each again with
-- CREATE OR REPLACE TRIGGER; the list is privacy.citus_mirror_tables())
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.key
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.key
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.key
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.key_version
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.key_version
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.key_version
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.purpose_definition
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.purpose_definition
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.purpose_definition
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.policy_version
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.policy_version
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.policy_version
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.consent_event
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.consent_event
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.consent_event
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.consent
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.consent
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.consent
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.subject_minor
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.subject_minor
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.subject_minor
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.restricted_subject
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.restricted_subject
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.restricted_subject
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_insert AFTER INSERT ON privacy.cancelled_subject
    REFERENCING NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_update AFTER UPDATE ON privacy.cancelled_subject
    REFERENCING OLD TABLE AS mirror_old NEW TABLE AS mirror_new FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
CREATE TRIGGER citus_mirror_delete AFTER DELETE ON privacy.cancelled_subject
    REFERENCING OLD TABLE AS mirror_old FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();

-- set up a Citus cluster: the mirror becomes a reference table (on every
-- node, in this transaction) and every mirrored table is sent whole
CREATE FUNCTION privacy.citus_setup() RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t name;
    rows jsonb;
    n bigint := 0;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RAISE EXCEPTION 'Citus is not installed in this database'
            USING ERRCODE = 'feature_not_supported';
    END IF;
    PERFORM privacy.require_coordinator('privacy.citus_setup');
    IF NOT privacy.citus_table('privacy.citus_mirror') THEN
        -- the mirror's trigger goes to its shard placements (Citus asks for
        -- this setting before it takes a table with a trigger)
        PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
        EXECUTE pg_catalog.format('SELECT pg_catalog.%I($1)', 'create_reference_table')
          USING 'privacy.citus_mirror'::pg_catalog.regclass;
    END IF;
    -- what is there already: every row, whole (a node added since gets it;
    -- a row a worker has and the coordinator has not stays)
    FOREACH t IN ARRAY privacy.citus_mirror_tables() LOOP
        EXECUTE pg_catalog.format('SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r)) FROM privacy.%I r', t) INTO rows;
        CONTINUE WHEN rows IS NULL;
        INSERT INTO privacy.citus_mirror (relation, old_rows, new_rows) VALUES (t, NULL, rows);
        n := n + pg_catalog.jsonb_array_length(rows);
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.citus_setup() IS
    'on a Citus coordinator, once the workers are added (and again after adding one): mirror the keys, the consent ledger and the tombstones to every worker, now and in every later transaction that changes them, so that keyed functions, has_consent and the guard against cancelled subjects run on the workers with the coordinator''s rows; returns how many rows it sent';
-- Sends every key (wrapped) to every node: the extension owner's.
REVOKE ALL ON FUNCTION privacy.citus_setup() FROM PUBLIC;

-- src/sql/code/check.sql: privacy.check(): findings about the setup

CREATE FUNCTION privacy.check()
    RETURNS TABLE (severity text, object text, message text, hint text)
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH
    needs AS (
        -- the subject columns, by which cancellation and export find a subject's rows
        SELECT a.attrelid AS relid, ARRAY[a.attnum]::smallint[] AS cols, NULL::name AS conname
          FROM privacy.labels l
          JOIN pg_catalog.pg_attribute a
            ON a.attrelid = l.relation::oid AND a.attname = l.column_name
         WHERE l.subject
        UNION
        -- the referencing side of every foreign key on a subject path
        SELECT c.conrelid, c.conkey, c.conname
          FROM (SELECT DISTINCT pg_catalog.unnest(w.path) AS con FROM privacy.subject_walk() w) p
          JOIN pg_catalog.pg_constraint c ON c.oid = p.con
    ),
    missing AS (
        SELECT n.*,
               (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.i)
                  FROM pg_catalog.unnest(n.cols) WITH ORDINALITY k(attnum, i)
                  JOIN pg_catalog.pg_attribute a
                    ON a.attrelid = n.relid AND a.attnum = k.attnum) AS col_list
          FROM needs n
         WHERE NOT EXISTS (
                   -- an index whose leading columns are these columns, in any order
                   SELECT 1 FROM pg_catalog.pg_index i
                    WHERE i.indrelid = n.relid
                      AND i.indpred IS NULL
                      AND (SELECT pg_catalog.array_agg(x ORDER BY x)
                             FROM pg_catalog.unnest((i.indkey::smallint[])[0:pg_catalog.cardinality(n.cols) - 1]) x)
                          =
                          (SELECT pg_catalog.array_agg(x ORDER BY x) FROM pg_catalog.unnest(n.cols) x))
    )
    SELECT f.severity, f.object, f.message, f.hint
      FROM (
    SELECT 'warning'::text AS severity,
           CASE WHEN m.conname IS NULL THEN pg_catalog.format('%s.%s', m.relid::pg_catalog.regclass, m.col_list)
                ELSE pg_catalog.format('%s (foreign key %I)', m.relid::pg_catalog.regclass, m.conname) END AS object,
           CASE WHEN m.conname IS NULL
                THEN pg_catalog.format('subject column %s of %s has no index: cancellation and export read the whole table', m.col_list, m.relid::pg_catalog.regclass)
                ELSE pg_catalog.format('foreign key %I of %s on a subject path has no index on (%s): cancellation and export read the whole table', m.conname, m.relid::pg_catalog.regclass, m.col_list) END AS message,
           pg_catalog.format('CREATE INDEX ON %s (%s);', m.relid::pg_catalog.regclass, m.col_list) AS hint
      FROM missing m
    UNION ALL
    -- sensitive personal information stored as it is
    SELECT 'warning', pg_catalog.format('%s.%I', l.relation, l.column_name),
           pg_catalog.format('column %I of %s holds sensitive personal information (%s) in clear text',
                             l.column_name, l.relation, l.category),
           'Store it encrypted in a bytea column: privacy.encrypt() or privacy.subject_encrypt() (see doc/keys.md), or keep only privacy.pseudonym().'
      FROM privacy.labels l
      JOIN privacy.category c ON c.name = l.category
      JOIN pg_catalog.pg_attribute a
        ON a.attrelid = l.relation::oid AND a.attname = l.column_name
      JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
     WHERE c.sensitive
       AND CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
           <> 'pg_catalog.bytea'::pg_catalog.regtype
    UNION ALL
    -- personal data nobody can be found in
    SELECT 'warning', r.relation::text,
           pg_catalog.format('table %s holds labelled personal data but has no subject path: cancellation and export cannot find whose rows these are',
                             r.relation),
           'Label the column that says whose row it is SUBJECT, or add a foreign key to a table that has one (see doc/labels.md).'
      FROM (SELECT DISTINCT l.relation FROM privacy.labels l WHERE l.category IS NOT NULL) r
     WHERE NOT EXISTS (SELECT 1 FROM privacy.subject_walk() w WHERE w.relid = r.relation::oid)
    UNION ALL
    -- purposes in use that see no labelled column
    SELECT 'warning', pg_catalog.format('purpose %s', p.name),
           CASE WHEN pg_catalog.cardinality(p.categories) = 0
                THEN pg_catalog.format('purpose %s has no categories', p.name)
                ELSE pg_catalog.format('purpose %s covers no labelled column: its purpose views show every column masked', p.name) END,
           'Label the columns the purpose needs with its categories, or redefine it with privacy.define_purpose().'
      FROM privacy.purpose p
     WHERE (NOT p.seeded OR EXISTS (SELECT 1 FROM privacy.purpose_view v WHERE v.purpose = p.name))
       AND NOT EXISTS (SELECT 1
                         FROM privacy.labels l, pg_catalog.unnest(p.categories) k(cat)
                        WHERE l.category = k.cat
                           OR pg_catalog.starts_with(l.category, k.cat || '.'))
    UNION ALL
    -- retention that must read the whole table to find what expired
    SELECT 'warning',
           CASE WHEN l.column_name IS NULL THEN l.relation::text
                ELSE pg_catalog.format('%s.%I', l.relation, l.column_name) END,
           pg_catalog.format('RETAIN ... AFTER %I on %s has no index on %I: every retention batch reads the whole table',
                             l.retain_after, l.relation, l.retain_after),
           pg_catalog.format('CREATE INDEX ON %s (%I);', l.relation, l.retain_after)
      FROM privacy.labels l
      JOIN pg_catalog.pg_attribute a
        ON a.attrelid = l.relation::oid AND a.attname = l.retain_after
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                        WHERE i.indrelid = l.relation::oid
                          AND i.indpred IS NULL
                          AND i.indkey[0] = a.attnum)
    UNION ALL
    -- personal data discovery sees and nobody labelled
    SELECT 'notice', pg_catalog.format('%s.%I', d.relation, d.column_name),
           pg_catalog.format('column %I of %s looks like %s (confidence %s; %s) but has no label',
                             d.column_name, d.relation, d.category, d.confidence, d.evidence),
           pg_catalog.format('SECURITY LABEL FOR privacy ON COLUMN %s.%I IS %L;',
                             d.relation, d.column_name, d.label)
      FROM pg_catalog.pg_namespace n
     CROSS JOIN LATERAL privacy.discovery_suggestions(n.oid, 200) d
     WHERE n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'privacy', 'pg_toast']::name[])
       AND NOT pg_catalog.starts_with(n.nspname, 'pg_temp_')
       AND NOT pg_catalog.starts_with(n.nspname, 'pg_toast_temp_')
       AND d.confidence >= 0.7
    UNION ALL
    -- a nullable foreign key whose meaning the schema leaves open: what cancellation takes it for
    SELECT 'notice', pg_catalog.format('%s (foreign key %I)', k.child::pg_catalog.regclass, c.conname),
           pg_catalog.format('foreign key %I of %s is nullable: cancellation takes it as %s (%s)', c.conname,
                             k.child::pg_catalog.regclass,
                             CASE WHEN k.owning THEN 'saying whose rows they are' ELSE 'only referring to a subject' END, k.reason),
           pg_catalog.format('Say it with a label on its column: SECURITY LABEL FOR privacy ON COLUMN %s.%I IS ''OWNER'' (or ''REFERENCE'').',
                             k.child::pg_catalog.regclass,
                             (SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = k.child AND a.attnum = c.conkey[1]))
      FROM privacy.subject_links() k
      JOIN pg_catalog.pg_constraint c ON c.oid = k.con
     WHERE k.reason ~ '^nullable'
       AND (EXISTS (SELECT 1 FROM privacy.subject_walk() w WHERE w.relid = k.parent)
            OR EXISTS (SELECT 1 FROM privacy.subject_walk() w WHERE w.relid = k.child))
    UNION ALL
    -- rows that can have two owners
    SELECT 'notice', o.child::pg_catalog.regclass::text,
           pg_catalog.format('rows of %s can belong to several subjects (%s): cancelling one clears only its side of a shared row',
                             o.child::pg_catalog.regclass, o.owners),
           'If one of them says whose row it is and the others only refer to a subject, label their columns REFERENCE.'
      FROM (SELECT x.child, pg_catalog.string_agg(x.what, ', ' ORDER BY x.what) AS owners, pg_catalog.count(*) AS n
              FROM (SELECT k.child, pg_catalog.format('foreign key %I', c.conname) AS what
                      FROM privacy.subject_links() k JOIN pg_catalog.pg_constraint c ON c.oid = k.con
                     WHERE k.owning AND EXISTS (SELECT 1 FROM privacy.subject_walk() w WHERE w.relid = k.parent)
                    UNION ALL
                    SELECT l.relation::oid, pg_catalog.format('SUBJECT column %I', l.column_name)
                      FROM privacy.labels l WHERE l.subject) x
             GROUP BY x.child) o
     WHERE o.n > 1
    UNION ALL
    -- a table whose subjects' rows cancellation cannot decide about
    SELECT 'warning', w.relid::pg_catalog.regclass::text,
           pg_catalog.format('table %s holds rows of subjects (kind %s) and has no ON CANCEL label: a cancellation that finds rows there is refused',
                             w.relid::pg_catalog.regclass, w.kind),
           pg_catalog.format('SECURITY LABEL FOR privacy ON TABLE %s IS ''ON CANCEL DELETE'' (or ANONYMIZE, or KEEP UNTIL RETENTION), or give its foreign keys ON DELETE CASCADE.',
                             w.relid::pg_catalog.regclass)
      FROM (SELECT DISTINCT s.relid, s.kind FROM privacy.subject_walk() s) w
     WHERE privacy.cancel_action(w.relid::pg_catalog.regclass) IS NULL
       AND NOT (EXISTS (SELECT 1 FROM privacy.subject_links() k WHERE k.child = w.relid AND k.owning
                          AND EXISTS (SELECT 1 FROM privacy.subject_walk() v WHERE v.relid = k.parent AND v.kind = w.kind))
                AND NOT EXISTS (SELECT 1 FROM privacy.subject_links() k
                                  JOIN pg_catalog.pg_constraint c ON c.oid = k.con
                                 WHERE k.child = w.relid AND k.owning AND c.confdeltype <> 'c'
                                   AND EXISTS (SELECT 1 FROM privacy.subject_walk() v WHERE v.relid = k.parent AND v.kind = w.kind)))
    UNION ALL
    -- labels the extension cannot act on
    SELECT 'warning', s.objoid::pg_catalog.regclass::text,
           pg_catalog.format('%s is not a table (%s): its privacy labels are ignored', s.objoid::pg_catalog.regclass,
                             CASE k.relkind WHEN 'v' THEN 'a view' WHEN 'm' THEN 'a materialized view'
                                            WHEN 'f' THEN 'a foreign table' ELSE 'relkind ' || k.relkind::pg_catalog.text END),
           pg_catalog.format('Remove them: SECURITY LABEL FOR privacy ON %s %s IS NULL, for the relation and each column.',
                             CASE k.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                             s.objoid::pg_catalog.regclass)
      FROM (SELECT DISTINCT x.objoid FROM pg_catalog.pg_seclabel x
             WHERE x.provider = 'privacy' AND x.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass) s
      JOIN pg_catalog.pg_class k ON k.oid = s.objoid
     WHERE NOT k.relkind = ANY (ARRAY['r', 'p']::"char"[])
    UNION ALL
    -- one kind, one family: else a subject has no one canonical form
    SELECT 'error', pg_catalog.format('subject kind %s', f.kind),
           pg_catalog.format('the SUBJECT columns of kind %s are of several type families (%s): its subjects have no one form',
                             f.kind, f.families),
           'Give every SUBJECT column of a kind one type family (integers, text, char(n), uuid, numeric), or label them with different kinds.'
      FROM (SELECT l.subject_kind AS kind,
                   pg_catalog.string_agg(DISTINCT privacy.subject_family(a.atttypid), ', ') AS families,
                   pg_catalog.count(DISTINCT privacy.subject_family(a.atttypid)) AS n
              FROM privacy.labels l
              JOIN pg_catalog.pg_attribute a ON a.attrelid = l.relation::oid AND a.attname = l.column_name
             WHERE l.subject
             GROUP BY l.subject_kind) f
     WHERE f.n > 1
    UNION ALL
    -- row-level security that would hide rows from the extension
    SELECT 'error', k.oid::pg_catalog.regclass::text,
           pg_catalog.format('table %s forces row-level security on its owner: cancellation, export and retention refuse it', k.oid::pg_catalog.regclass),
           pg_catalog.format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY, or give its owner BYPASSRLS.', k.oid::pg_catalog.regclass)
      FROM pg_catalog.pg_class k
     WHERE k.relrowsecurity AND k.relforcerowsecurity
       AND NOT (SELECT r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.oid = k.relowner)
       AND (EXISTS (SELECT 1 FROM privacy.subject_walk() w WHERE w.relid = k.oid)
            OR EXISTS (SELECT 1 FROM privacy.labels l WHERE l.relation = k.oid::pg_catalog.regclass))
    UNION ALL
    -- where the keys live (on a standby too: a missing key directory, or one
    -- that recovery had to create, which lacks the keys from before the backup)
    SELECT CASE WHEN k.problem ~ 'is not set$' THEN 'warning' ELSE 'error' END,
           k.setting, k.problem, k.hint
      FROM privacy.key_storage_problems() k
           ) f
     ORDER BY CASE f.severity WHEN 'error' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END, f.object, f.message
    $$;
COMMENT ON FUNCTION privacy.check() IS
    'findings about the setup (severity, object, message, hint): subject columns and foreign keys on subject paths without an index, sensitive categories in clear text, labelled tables with no subject path, purposes that see no labelled column, RETAIN without an index on its AFTER column, columns discovery would label that nobody did, nullable foreign keys and what cancellation takes them for, rows with several owners, tables of subjects without ON CANCEL, labels on relations that are not tables, a subject kind of several type families, forced row-level security, and problems of the master key file and subject key directory (a standby''s missing one too)';
GRANT EXECUTE ON FUNCTION privacy.check() TO PUBLIC;

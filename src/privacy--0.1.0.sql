/* src/privacy--0.1.0.sql: install script of the privacy extension, version 0.1.0 */

\echo Use "CREATE EXTENSION privacy" to load this file. \quit

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

GRANT USAGE ON SCHEMA privacy TO PUBLIC;

-------------------------------------------------------------------------------
-- Restore mode: a superuser running a pg_dump script (check_function_bodies
-- is off there) restores configuration rows that were audited when they were
-- first written; they are not audited twice.
-------------------------------------------------------------------------------
CREATE FUNCTION privacy.restoring() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT pg_catalog.current_setting('check_function_bodies') OPERATOR(pg_catalog.=) 'off'
           AND (SELECT r.rolsuper FROM pg_catalog.pg_roles r
                 WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
    $$;
COMMENT ON FUNCTION privacy.restoring() IS
    'true while a superuser restores a dump (check_function_bodies = off): configuration rows are then not audited again';

-------------------------------------------------------------------------------
-- Audit log: append-only, hash-chained
-------------------------------------------------------------------------------
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
        IF r.seq OPERATOR(pg_catalog.<>) v_next THEN
            first_broken := v_next;
            problem := pg_catalog.format('entry %s is missing', v_next);
            RETURN;
        END IF;
        IF r.prev_hash OPERATOR(pg_catalog.<>) v_prev THEN
            first_broken := r.seq;
            problem := pg_catalog.format('entry %s does not link to the hash of the entry before it', r.seq);
            RETURN;
        END IF;
        IF pg_catalog.sha256(r.prev_hash OPERATOR(pg_catalog.||)
               pg_catalog.convert_to(privacy.audit_canonical(r.seq, r.at, r.actor, r.kind, r.object, r.detail), 'UTF8'))
           OPERATOR(pg_catalog.<>) r.hash THEN
            first_broken := r.seq;
            problem := pg_catalog.format('entry %s does not match its hash', r.seq);
            RETURN;
        END IF;
        v_prev := r.hash;
        v_next := v_next OPERATOR(pg_catalog.+) 1;
        entries := entries OPERATOR(pg_catalog.+) 1;
    END LOOP;
    SELECT * INTO h FROM privacy.audit_head;
    IF FOUND AND (h.seq OPERATOR(pg_catalog.<>) entries OR h.hash OPERATOR(pg_catalog.<>) v_prev) THEN
        first_broken := entries OPERATOR(pg_catalog.+) 1;
        problem := pg_catalog.format('the log ends at entry %s but its head records entry %s', entries, h.seq);
        RETURN;
    END IF;
    IF NOT FOUND AND entries OPERATOR(pg_catalog.>) 0 THEN
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
    RAISE EXCEPTION '% is append-only', TG_TABLE_SCHEMA OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) TG_TABLE_NAME
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

-------------------------------------------------------------------------------
-- Category taxonomy
-------------------------------------------------------------------------------
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
    anonymize   text        CHECK (anonymize OPERATOR(pg_catalog.~) '^(null|placeholder|pseudonym|ff1|generalize [1-9])$'),
    seeded      boolean     NOT NULL DEFAULT false,
    CONSTRAINT category_parent_is_prefix
        CHECK (parent IS NOT DISTINCT FROM pg_catalog.substring(name, '^(.*)\.[^.]+$'))
);
COMMENT ON TABLE privacy.category IS
    'taxonomy of personal information: parent, description, sensitive (PIPL Art. 28), default retention, default action on cancellation, default mask';
COMMENT ON COLUMN privacy.category.sensitive IS 'sensitive personal information under PIPL Art. 28 / GB/T 35273';
COMMENT ON COLUMN privacy.category.retention IS 'default retention period; NULL: as long as the purpose needs';
COMMENT ON COLUMN privacy.category.on_cancel IS 'default action on account cancellation: delete, anonymize, or keep until retention';
COMMENT ON COLUMN privacy.category.mask IS 'default display mask function, schema-qualified';
COMMENT ON COLUMN privacy.category.anonymize IS 'default ANONYMIZE WITH method of anonymize_table (null, placeholder, pseudonym, ff1, generalize <level>); NULL: chosen by the column''s constraints';
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

-- default anonymization methods: numbers keep their format, e-mail addresses
-- become distinct pseudonyms, birth dates keep the year, IP addresses the /24
UPDATE privacy.category c SET anonymize = m.method
  FROM (VALUES ('contact.phone', 'ff1'),
               ('contact.email', 'pseudonym'),
               ('identity.id_number', 'ff1'),
               ('identity.birth_date', 'generalize 2'),
               ('financial.bank_account', 'ff1'),
               ('device.ip', 'generalize 1')) AS m(name, method)
 WHERE c.name OPERATOR(pg_catalog.=) m.name;

-------------------------------------------------------------------------------
-- Schemas trusted to hold MASK functions (besides privacy itself)
-------------------------------------------------------------------------------
CREATE TABLE privacy.trusted_schema (
    schema_name name        PRIMARY KEY,
    trusted_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    trusted_by  name        NOT NULL DEFAULT SESSION_USER
);
COMMENT ON TABLE privacy.trusted_schema IS
    'schemas whose functions may be named in MASK WITH, besides schema privacy';
GRANT SELECT ON privacy.trusted_schema TO PUBLIC;

-------------------------------------------------------------------------------
-- Labels
-------------------------------------------------------------------------------
CREATE FUNCTION privacy.parse_label(label text, is_table boolean,
                                    OUT subject boolean, OUT category text, OUT mask text,
                                    OUT retain interval, OUT retain_after text,
                                    OUT retain_then text, OUT on_cancel text, OUT anonymize text)
    AS 'MODULE_PATHNAME', 'privacy_parse_label'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION privacy.parse_label(text, boolean) IS
    'decode the text of a privacy label (a table label when is_table) into its clauses; raises the SECURITY LABEL error for a malformed one';

CREATE VIEW privacy.labels AS
    SELECT s.objoid::pg_catalog.regclass AS relation,
           a.attname                     AS column_name,
           s.label,
           p.subject, p.category, p.mask, p.retain, p.retain_after, p.retain_then, p.on_cancel, p.anonymize
      FROM pg_catalog.pg_seclabel s
      LEFT JOIN pg_catalog.pg_attribute a
             ON a.attrelid OPERATOR(pg_catalog.=) s.objoid
            AND a.attnum OPERATOR(pg_catalog.=) s.objsubid
            AND s.objsubid OPERATOR(pg_catalog.>) 0
     CROSS JOIN LATERAL privacy.parse_label(s.label, s.objsubid OPERATOR(pg_catalog.=) 0) p
     WHERE s.provider OPERATOR(pg_catalog.=) 'privacy'
       AND s.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass;
COMMENT ON VIEW privacy.labels IS
    'every privacy label in this database, decoded: one row per labelled table (column_name NULL) or column';
GRANT SELECT ON privacy.labels TO PUBLIC;

-- the effective labels of a relation: a partition carries its root's labels
CREATE FUNCTION privacy.table_label(rel pg_catalog.regclass) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT s.label
          FROM pg_catalog.pg_seclabel s
         WHERE s.provider OPERATOR(pg_catalog.=) 'privacy'
           AND s.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
           AND s.objoid OPERATOR(pg_catalog.=) COALESCE(pg_catalog.pg_partition_root(rel), rel)
           AND s.objsubid OPERATOR(pg_catalog.=) 0
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
            ON s.objoid OPERATOR(pg_catalog.=) a.attrelid
           AND s.objsubid OPERATOR(pg_catalog.=) a.attnum
         WHERE s.provider OPERATOR(pg_catalog.=) 'privacy'
           AND s.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
           AND a.attrelid OPERATOR(pg_catalog.=) COALESCE(pg_catalog.pg_partition_root(rel), rel)
           AND a.attname OPERATOR(pg_catalog.=) column_name
           AND NOT a.attisdropped
    $$;
COMMENT ON FUNCTION privacy.column_label(pg_catalog.regclass, name) IS
    'the privacy label in force for a column; for a partition, the label of the same column of its partitioned root';
GRANT EXECUTE ON FUNCTION privacy.column_label(pg_catalog.regclass, name) TO PUBLIC;

-------------------------------------------------------------------------------
-- Subject paths: whose data each labelled table holds
-------------------------------------------------------------------------------
CREATE FUNCTION privacy.fk_text(constraint_oid oid) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT pg_catalog.format('%s(%s) -> %s(%s)',
                   c.conrelid::pg_catalog.regclass,
                   (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.i)
                      FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(attnum, i)
                      JOIN pg_catalog.pg_attribute a
                        ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid
                       AND a.attnum OPERATOR(pg_catalog.=) k.attnum),
                   c.confrelid::pg_catalog.regclass,
                   (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.i)
                      FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY k(attnum, i)
                      JOIN pg_catalog.pg_attribute a
                        ON a.attrelid OPERATOR(pg_catalog.=) c.confrelid
                       AND a.attnum OPERATOR(pg_catalog.=) k.attnum))
          FROM pg_catalog.pg_constraint c
         WHERE c.oid OPERATOR(pg_catalog.=) constraint_oid
    $$;
COMMENT ON FUNCTION privacy.fk_text(oid) IS
    'a foreign key as text: child(columns) -> parent(columns)';
GRANT EXECUTE ON FUNCTION privacy.fk_text(oid) TO PUBLIC;

-- every chain of foreign keys that leads from a table to a table with SUBJECT columns
CREATE FUNCTION privacy.subject_walk()
    RETURNS TABLE (relid oid, root oid, hops integer, path oid[])
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH RECURSIVE
    subject_table AS (
        SELECT DISTINCT l.relation::oid AS relid FROM privacy.labels l WHERE l.subject
    ),
    walk (relid, root, hops, path, visited) AS (
        SELECT s.relid, s.relid, 0, ARRAY[]::oid[], ARRAY[s.relid]
          FROM subject_table s
        UNION ALL
        -- a table that references a table of the walk belongs to the same subject
        SELECT c.conrelid, w.root, w.hops OPERATOR(pg_catalog.+) 1,
               ARRAY[c.oid] OPERATOR(pg_catalog.||) w.path,
               w.visited OPERATOR(pg_catalog.||) c.conrelid
          FROM walk w
          JOIN pg_catalog.pg_constraint c
            ON c.confrelid OPERATOR(pg_catalog.=) w.relid
           AND c.contype OPERATOR(pg_catalog.=) 'f'
           AND c.conparentid OPERATOR(pg_catalog.=) 0
          JOIN pg_catalog.pg_class k
            ON k.oid OPERATOR(pg_catalog.=) c.conrelid
           AND NOT k.relispartition
         WHERE NOT c.conrelid OPERATOR(pg_catalog.=) ANY (w.visited)
           AND NOT EXISTS (SELECT 1 FROM subject_table s WHERE s.relid OPERATOR(pg_catalog.=) c.conrelid)
           AND w.hops OPERATOR(pg_catalog.<) 32
    )
    SELECT w.relid, w.root, w.hops, w.path FROM walk w
$$;
COMMENT ON FUNCTION privacy.subject_walk() IS
    'every table that holds a subject''s data with every chain of foreign keys (child first) that leads to a table with SUBJECT columns; hops 0 for that table itself';
GRANT EXECUTE ON FUNCTION privacy.subject_walk() TO PUBLIC;

CREATE VIEW privacy.subject_path AS
    SELECT DISTINCT ON (w.relid)
           w.relid::pg_catalog.regclass AS relation,
           w.root::pg_catalog.regclass  AS subject_relation,
           (SELECT pg_catalog.array_agg(l.column_name ORDER BY l.column_name)
              FROM privacy.labels l
             WHERE l.relation OPERATOR(pg_catalog.=) w.root::pg_catalog.regclass AND l.subject) AS subject_columns,
           w.hops,
           w.path                       AS constraints,
           CASE WHEN w.hops OPERATOR(pg_catalog.=) 0 THEN 'direct'
                ELSE (SELECT pg_catalog.string_agg(privacy.fk_text(p.c), '; ' ORDER BY p.i)
                        FROM pg_catalog.unnest(w.path) WITH ORDINALITY p(c, i))
           END AS path
      FROM privacy.subject_walk() w
     ORDER BY w.relid, w.hops, w.path::text;
COMMENT ON VIEW privacy.subject_path IS
    'for each table that holds a subject''s data: the table with the SUBJECT columns and the shortest chain of foreign keys that leads there (direct when the table has its own SUBJECT column)';
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
          FROM pg_catalog.pg_constraint c WHERE c.oid OPERATOR(pg_catalog.=) path[i];
        alias := 'a' OPERATOR(pg_catalog.||) i;
        prev := CASE WHEN i OPERATOR(pg_catalog.=) 1 THEN 't' ELSE 'a' OPERATOR(pg_catalog.||) (i OPERATOR(pg_catalog.-) 1) END;
        SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I OPERATOR(pg_catalog.=) %I.%I', alias, pa.attname, prev, ca.attname), ' AND ')
          INTO joins
          FROM ROWS FROM (pg_catalog.unnest(con.conkey), pg_catalog.unnest(con.confkey)) AS u(ck, pk)
          JOIN pg_catalog.pg_attribute ca ON ca.attrelid OPERATOR(pg_catalog.=) con.conrelid AND ca.attnum OPERATOR(pg_catalog.=) u.ck
          JOIN pg_catalog.pg_attribute pa ON pa.attrelid OPERATOR(pg_catalog.=) con.confrelid AND pa.attnum OPERATOR(pg_catalog.=) u.pk;
        filter := pg_catalog.format('EXISTS (SELECT 1 FROM %s %I WHERE %s AND %s)',
                                    con.confrelid::pg_catalog.regclass, alias, joins, filter);
    END LOOP;
    RETURN filter;
END
$$;
COMMENT ON FUNCTION privacy.path_condition(oid[], text) IS
    'internal: the SQL condition that a row of a table reaches, through a chain of foreign keys, a subject row satisfying a condition';
GRANT EXECUTE ON FUNCTION privacy.path_condition(oid[], text) TO PUBLIC;

-- the condition, on alias, that a row of the subject table rel belongs to
-- the subject passed as parameter param: one of its SUBJECT columns holds it
-- (exclusive: and no other SUBJECT column names somebody else).  NULL when no
-- SUBJECT column can hold the subject (it is not a value of the column's type).
CREATE FUNCTION privacy.subject_condition(rel oid, alias text, subject text, param text, exclusive boolean)
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    c record;
    matches text[] := ARRAY[]::text[];
    alone text[] := ARRAY[]::text[];
    m text;
BEGIN
    FOR c IN
        -- the type without its modifier: a cast to varchar(5) or numeric(4,1)
        -- would cut or round the subject into somebody else's value
        SELECT a.attname, pg_catalog.format_type(a.atttypid, NULL) AS typ
          FROM privacy.labels l
          JOIN pg_catalog.pg_attribute a
            ON a.attrelid OPERATOR(pg_catalog.=) rel AND a.attname OPERATOR(pg_catalog.=) l.column_name
         WHERE l.relation OPERATOR(pg_catalog.=) rel::pg_catalog.regclass AND l.subject
         ORDER BY a.attnum
    LOOP
        BEGIN
            -- can the subject be a value of the column? (the error, which
            -- would name the value, is swallowed here; NULL: compiling a
            -- plan, assume it can)
            IF subject IS NOT NULL THEN
                EXECUTE pg_catalog.format('SELECT $1::%s', c.typ) USING subject;
            END IF;
            m := pg_catalog.format('%I.%I OPERATOR(pg_catalog.=) %s::%s', alias, c.attname, param, c.typ);
            matches := matches OPERATOR(pg_catalog.||) m;
            alone := alone OPERATOR(pg_catalog.||) pg_catalog.format('(%I.%I IS NULL OR %s)', alias, c.attname, m);
        EXCEPTION WHEN data_exception THEN
            alone := alone OPERATOR(pg_catalog.||) pg_catalog.format('%I.%I IS NULL', alias, c.attname);
        END;
    END LOOP;
    IF pg_catalog.cardinality(matches) OPERATOR(pg_catalog.=) 0 THEN
        RETURN NULL;
    END IF;
    m := '(' OPERATOR(pg_catalog.||) pg_catalog.array_to_string(matches, ' OR ') OPERATOR(pg_catalog.||) ')';
    IF exclusive AND pg_catalog.cardinality(alone) OPERATOR(pg_catalog.>) 1 THEN
        m := m OPERATOR(pg_catalog.||) ' AND ' OPERATOR(pg_catalog.||) pg_catalog.array_to_string(alone, ' AND ');
    END IF;
    RETURN m;
END
$$;
COMMENT ON FUNCTION privacy.subject_condition(oid, text, text, text, boolean) IS
    'internal: the SQL condition that a row of a subject table belongs to a subject (exclusive: to that subject alone); subject NULL: for any subject';
REVOKE ALL ON FUNCTION privacy.subject_condition(oid, text, text, text, boolean) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Inventory: the record of processing
-------------------------------------------------------------------------------
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

-------------------------------------------------------------------------------
-- Administering the taxonomy and the trusted schemas
-------------------------------------------------------------------------------
CREATE FUNCTION privacy.category_in_use(category_name text) RETURNS bigint
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT pg_catalog.count(*)
          FROM privacy.labels l
         WHERE l.category OPERATOR(pg_catalog.=) category_name
            OR pg_catalog.starts_with(l.category, category_name OPERATOR(pg_catalog.||) '.')
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
    IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        IF OLD.seeded THEN
            RAISE EXCEPTION 'cannot remove category "%": it ships with the extension', OLD.name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Only categories added with privacy.add_category() can be removed.';
        END IF;
        n := privacy.category_in_use(OLD.name);
        IF n OPERATOR(pg_catalog.>) 0 THEN
            RAISE EXCEPTION 'cannot remove category "%": % column label(s) use it', OLD.name, n
                USING ERRCODE = 'dependent_objects_still_exist',
                      HINT = 'See privacy.inventory for the columns; relabel them first.';
        END IF;
        IF EXISTS (SELECT 1 FROM privacy.category c WHERE c.parent OPERATOR(pg_catalog.=) OLD.name) THEN
            RAISE EXCEPTION 'cannot remove category "%": it has sub-categories', OLD.name
                USING ERRCODE = 'dependent_objects_still_exist',
                      HINT = 'Remove its sub-categories first.';
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        IF OLD.seeded THEN
            RAISE EXCEPTION 'cannot change category "%": it ships with the extension', OLD.name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Add a sub-category with privacy.add_category() to record different defaults.';
        END IF;
        IF NEW.seeded THEN
            RAISE EXCEPTION 'cannot mark category "%" as shipped with the extension', OLD.name
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        IF NEW.name OPERATOR(pg_catalog.<>) OLD.name THEN
            RAISE EXCEPTION 'cannot rename category "%"', OLD.name
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Labels refer to categories by name: add a new category and relabel.';
        END IF;
    END IF;
    -- INSERT or UPDATE: the children of a sensitive category are sensitive
    IF NOT NEW.sensitive AND EXISTS (SELECT 1 FROM privacy.category p
                                      WHERE p.name OPERATOR(pg_catalog.=) NEW.parent AND p.sensitive) THEN
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
    PERFORM privacy.invalidate_cancel_plans(TG_RELID);
    IF NOT privacy.restoring() THEN
        PERFORM privacy.audit_append('category',
                    pg_catalog.format('category %s', COALESCE(NEW.name, OLD.name)),
                    pg_catalog.jsonb_build_object('operation', pg_catalog.lower(TG_OP),
                        'old', CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
                        'new', CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN pg_catalog.to_jsonb(NEW) END));
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION privacy.category_audit() IS 'trigger: records every change of the taxonomy in the audit log';

CREATE TRIGGER category_audit AFTER INSERT OR UPDATE OR DELETE ON privacy.category
    FOR EACH ROW EXECUTE FUNCTION privacy.category_audit();

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
    IF name OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' THEN
        RAISE EXCEPTION 'invalid category name "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Category names are lower-case words of letters, digits and underscores joined by dots, such as contact.phone.';
    END IF;
    IF EXISTS (SELECT 1 FROM privacy.category c WHERE c.name OPERATOR(pg_catalog.=) add_category.name) THEN
        RAISE EXCEPTION 'category "%" already exists', name
            USING ERRCODE = 'duplicate_object';
    END IF;
    IF v_parent IS NOT NULL THEN
        SELECT * INTO p FROM privacy.category c WHERE c.name OPERATOR(pg_catalog.=) v_parent;
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
       AND NOT on_cancel OPERATOR(pg_catalog.=) ANY (ARRAY['delete', 'anonymize', 'keep until retention']) THEN
        RAISE EXCEPTION 'invalid on_cancel action "%"', on_cancel
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use delete, anonymize or keep until retention.';
    END IF;
    IF retention IS NOT NULL AND retention OPERATOR(pg_catalog.<=) interval '0' THEN
        RAISE EXCEPTION 'retention must be longer than zero'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF on_cancel OPERATOR(pg_catalog.=) 'keep until retention'
       AND COALESCE(retention, p.retention) IS NULL THEN
        RAISE EXCEPTION 'on_cancel "keep until retention" needs a retention period'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO privacy.category (name, parent, description, sensitive, retention, on_cancel, mask, seeded)
    VALUES (name, v_parent, description,
            COALESCE(sensitive, p.sensitive, false),
            COALESCE(retention, p.retention),
            COALESCE(on_cancel, p.on_cancel, 'delete'),
            COALESCE(mask, p.mask),
            false);
    RETURN name;
END
$$;
COMMENT ON FUNCTION privacy.add_category(text, text, boolean, interval, text, text) IS
    'add a category under an existing parent; unset properties are inherited from the parent';
-- Changing the taxonomy is an administrator's job.
REVOKE ALL ON FUNCTION privacy.add_category(text, text, boolean, interval, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.drop_category(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    DELETE FROM privacy.category c WHERE c.name OPERATOR(pg_catalog.=) drop_category.name;
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
                                           WHERE n.nspname OPERATOR(pg_catalog.=) schema_name) THEN
        RAISE EXCEPTION 'schema "%" does not exist', schema_name
            USING ERRCODE = 'invalid_schema_name';
    END IF;
    IF EXISTS (SELECT 1 FROM privacy.trusted_schema t WHERE t.schema_name OPERATOR(pg_catalog.=) trust_schema.schema_name) THEN
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
     WHERE pg_catalog.starts_with(l.mask, pg_catalog.quote_ident(schema_name) OPERATOR(pg_catalog.||) '.');
    IF n OPERATOR(pg_catalog.>) 0 THEN
        RAISE EXCEPTION 'cannot stop trusting schema "%": % label(s) mask with its functions', schema_name, n
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'See privacy.labels for the labels; relabel them first.';
    END IF;
    DELETE FROM privacy.trusted_schema t WHERE t.schema_name OPERATOR(pg_catalog.=) untrust_schema.schema_name;
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

-------------------------------------------------------------------------------
-- Keys: wrapped under the master key (privacy.master_key_file), never readable
-------------------------------------------------------------------------------
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

-------------------------------------------------------------------------------
-- Pseudonymization and encryption (PARALLEL RESTRICTED: they read the key
-- tables through the extension owner and keep a per-backend key cache)
-------------------------------------------------------------------------------
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

CREATE FUNCTION privacy.subject_encrypt(subject text, value text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_subject_encrypt'
    LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.subject_encrypt(text, text) IS
    'AES-256-GCM under the subject''s own data key (created on first use, kept outside the database in privacy.subject_key_dir); privacy.shred_subject destroys it';
-- Uses keys.
REVOKE ALL ON FUNCTION privacy.subject_encrypt(text, text) FROM PUBLIC;

CREATE FUNCTION privacy.subject_encrypt(subject text, value bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_subject_encrypt'
    LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.subject_encrypt(text, bytea) IS
    'AES-256-GCM of bytea under the subject''s own data key';
-- Uses keys.
REVOKE ALL ON FUNCTION privacy.subject_encrypt(text, bytea) FROM PUBLIC;

CREATE FUNCTION privacy.subject_decrypt(subject text, value bytea) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_subject_decrypt'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.subject_decrypt(text, bytea) IS
    'decrypt a privacy.subject_encrypt ciphertext of text; fails once the subject is shredded';
-- Uses keys.
REVOKE ALL ON FUNCTION privacy.subject_decrypt(text, bytea) FROM PUBLIC;

CREATE FUNCTION privacy.subject_decrypt_bytea(subject text, value bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_subject_decrypt'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.subject_decrypt_bytea(text, bytea) IS
    'decrypt a privacy.subject_encrypt ciphertext of bytea';
-- Uses keys.
REVOKE ALL ON FUNCTION privacy.subject_decrypt_bytea(text, bytea) FROM PUBLIC;

CREATE FUNCTION privacy.shred_subject(subject text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_shred_subject'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION privacy.shred_subject(text) IS
    'destroy the subject''s data key (its file is deleted at commit), leaving a tombstone: its ciphertexts, in every backup too, can no longer be decrypted; true if a key was destroyed now';
-- Destroys data: granted explicitly (cancellation calls it).
REVOKE ALL ON FUNCTION privacy.shred_subject(text) FROM PUBLIC;

CREATE FUNCTION privacy.shred_subject(subject text, audited boolean) RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_shred_subject'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION privacy.shred_subject(text, boolean) IS
    'internal: shred_subject, with its own audit entry only when audited (cancellation records the shred in its receipt)';
-- As shred_subject.
REVOKE ALL ON FUNCTION privacy.shred_subject(text, boolean) FROM PUBLIC;

CREATE FUNCTION privacy.sweep_subject_keys() RETURNS integer
    AS 'MODULE_PATHNAME', 'privacy_sweep_subject_keys'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION privacy.sweep_subject_keys() IS
    'remove key files of shredded subjects (after a crash, or a restored key directory); returns how many';
-- Deletes key files: granted explicitly.
REVOKE ALL ON FUNCTION privacy.sweep_subject_keys() FROM PUBLIC;

CREATE FUNCTION privacy.subject_pseudonym(subject text) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_subject_pseudonym'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION privacy.subject_pseudonym(text) IS
    'the keyed pseudonym that names a subject in the audit log, privacy.shredded_subject and the key directory';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.subject_pseudonym(text) FROM PUBLIC;

CREATE FUNCTION privacy.date_shift(value date, subject text, max_days integer, key text) RETURNS date
    AS 'MODULE_PATHNAME', 'privacy_date_shift'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION privacy.date_shift(date, text, integer, text) IS
    'shift a date by an amount in [-max_days, max_days] that is the same for every date of one subject (HMAC of the subject under the key)';
-- Uses a key.
REVOKE ALL ON FUNCTION privacy.date_shift(date, text, integer, text) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Masks (display) and generalization: no keys, for everybody
-------------------------------------------------------------------------------
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
    IF level OPERATOR(pg_catalog.<>) ALL (ARRAY['decade', 'year', 'quarter', 'month', 'week']) THEN
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
    IF level OPERATOR(pg_catalog.<>) ALL (ARRAY['decade', 'year', 'quarter', 'month', 'week', 'day', 'hour']) THEN
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
    IF prefix_len OPERATOR(pg_catalog.<) 0 OR prefix_len OPERATOR(pg_catalog.>) maxlen THEN
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
    IF width OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'age band width must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT pg_catalog.isfinite(birth_date) OR NOT pg_catalog.isfinite(at) THEN
        RAISE EXCEPTION 'age band needs finite dates' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF birth_date OPERATOR(pg_catalog.>) at THEN
        RAISE EXCEPTION 'birth date is after the date the age is computed at' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    age := pg_catalog.date_part('year', pg_catalog.age(at::timestamp, birth_date::timestamp))::integer;
    low := (age OPERATOR(pg_catalog./) width) OPERATOR(pg_catalog.*) width;
    RETURN low::text OPERATOR(pg_catalog.||) '-' OPERATOR(pg_catalog.||) (low OPERATOR(pg_catalog.+) width OPERATOR(pg_catalog.-) 1)::text;
END
$$;
COMMENT ON FUNCTION privacy.age_band(date, integer, date) IS
    'the age band (30-39 for width 10) of a birth date at a given date (default today)';

CREATE FUNCTION privacy.noise(value numeric, ratio double precision) RETURNS numeric
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF ratio OPERATOR(pg_catalog.<) 0 OR ratio OPERATOR(pg_catalog.>) 1 OR ratio OPERATOR(pg_catalog.<>) ratio THEN
        RAISE EXCEPTION 'noise ratio must be between 0 and 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN pg_catalog.round(value OPERATOR(pg_catalog.*)
               (1 OPERATOR(pg_catalog.+) ((pg_catalog.random() OPERATOR(pg_catalog.*) 2 OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.*) ratio))::numeric,
               pg_catalog.scale(value));
END
$$;
COMMENT ON FUNCTION privacy.noise(numeric, double precision) IS
    'value times a uniformly random factor in [1 - ratio, 1 + ratio], rounded to the value''s scale';

-------------------------------------------------------------------------------
-- Purposes: why data is processed, on what legal basis, over which categories
-------------------------------------------------------------------------------
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
                        WHERE p.name OPERATOR(pg_catalog.=) purpose_name
                          AND (category_name OPERATOR(pg_catalog.=) k.cat
                               OR pg_catalog.starts_with(category_name, k.cat OPERATOR(pg_catalog.||) '.')))
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
    IF name OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'invalid purpose name "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Purpose names are lower-case letters, digits and underscores, starting with a letter.';
    END IF;
    IF legal_basis OPERATOR(pg_catalog.<>) ALL (ARRAY['consent', 'contract', 'legal_obligation', 'vital_interest',
                                                      'public_interest', 'news_reporting', 'publicly_disclosed', 'other_law']) THEN
        RAISE EXCEPTION 'unknown legal basis "%"', legal_basis
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use consent, contract, legal_obligation, vital_interest, public_interest, news_reporting, publicly_disclosed or other_law (PIPL Art. 13, GDPR Art. 6).';
    END IF;
    IF pg_catalog.cardinality(categories) OPERATOR(pg_catalog.=) 0
       OR pg_catalog.array_position(categories, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'a purpose needs at least one category, and no NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT k.cat INTO missing FROM pg_catalog.unnest(categories) k(cat)
     WHERE NOT EXISTS (SELECT 1 FROM privacy.category c WHERE c.name OPERATOR(pg_catalog.=) k.cat) LIMIT 1;
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
    IF NOT EXISTS (SELECT 1 FROM privacy.purpose p WHERE p.name OPERATOR(pg_catalog.=) drop_purpose.name) THEN
        RAISE EXCEPTION 'unknown purpose "%"', name USING ERRCODE = 'undefined_object';
    END IF;
    SELECT pg_catalog.count(*) INTO n FROM privacy.consent c WHERE c.purpose OPERATOR(pg_catalog.=) drop_purpose.name;
    IF n OPERATOR(pg_catalog.>) 0 THEN
        RAISE EXCEPTION 'cannot drop purpose "%": % consent(s) are in force for it', name, n
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Consents are withdrawn by their subjects; keep the purpose until none is in force.';
    END IF;
    INSERT INTO privacy.purpose_definition AS p (name, seeded, legal_basis, categories, description, dropped)
    SELECT d.name, false, d.legal_basis, d.categories, d.description, true
      FROM privacy.purpose d WHERE d.name OPERATOR(pg_catalog.=) drop_purpose.name
    ON CONFLICT ON CONSTRAINT purpose_definition_pkey DO UPDATE SET dropped = true, defined_at = pg_catalog.now();
    PERFORM privacy.audit_append('purpose', pg_catalog.format('purpose %s', name), '{"operation": "drop"}');
    PERFORM privacy.refresh_purpose_views(NULL, name);
END
$$;
COMMENT ON FUNCTION privacy.drop_purpose(text) IS
    'remove a purpose (seeded or not); refused while consents for it are in force';
-- Administrators only.
REVOKE ALL ON FUNCTION privacy.drop_purpose(text) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Privacy policy versions
-------------------------------------------------------------------------------
CREATE TABLE privacy.policy_version (
    version      text        PRIMARY KEY,
    published_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    material     boolean     NOT NULL
);
COMMENT ON TABLE privacy.policy_version IS
    'versions of the privacy policy; after a material one, consent given before it no longer counts until granted again';
GRANT SELECT ON privacy.policy_version TO PUBLIC;

CREATE FUNCTION privacy.publish_policy(version text, material boolean) RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t timestamptz := pg_catalog.clock_timestamp();
BEGIN
    IF version IS NULL OR material IS NULL THEN
        RAISE EXCEPTION 'a policy version needs a version and whether the change is material'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF EXISTS (SELECT 1 FROM privacy.policy_version p WHERE p.version OPERATOR(pg_catalog.=) publish_policy.version) THEN
        RAISE EXCEPTION 'policy version "%" was already published', version USING ERRCODE = 'duplicate_object';
    END IF;
    INSERT INTO privacy.policy_version (version, published_at, material) VALUES (version, t, material);
    -- consent given before a material change is no longer in force (the
    -- ledger keeps it: has_consent still answers for earlier moments)
    IF material THEN
        DELETE FROM privacy.consent c WHERE c.granted_at OPERATOR(pg_catalog.<) t;
    END IF;
    PERFORM privacy.audit_append('policy', pg_catalog.format('policy %s', version),
                                 pg_catalog.jsonb_build_object('material', material));
    RETURN t;
END
$$;
COMMENT ON FUNCTION privacy.publish_policy(text, boolean) IS
    'publish a privacy policy version; a material change voids consent given under older versions';
-- Administrators only.
REVOKE ALL ON FUNCTION privacy.publish_policy(text, boolean) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Consent: an append-only ledger, and the consents in force
-------------------------------------------------------------------------------
CREATE SEQUENCE privacy.consent_event_seq;
CREATE TABLE privacy.consent_event (
    seq            bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('privacy.consent_event_seq'),
    subject        text        NOT NULL,
    purpose        text        NOT NULL,
    granted        boolean     NOT NULL,
    at             timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    policy_version text,
    evidence       jsonb,
    by_guardian    boolean     NOT NULL DEFAULT false,
    actor          name        NOT NULL DEFAULT SESSION_USER
);
ALTER SEQUENCE privacy.consent_event_seq OWNED BY privacy.consent_event.seq;
COMMENT ON SEQUENCE privacy.consent_event_seq IS 'numbers the consent ledger''s entries';
CREATE INDEX consent_event_lookup ON privacy.consent_event (subject, purpose, at);
COMMENT ON TABLE privacy.consent_event IS
    'consent ledger: every grant (granted) and withdrawal, append-only; has_consent reads it at any moment';
-- The ledger is personal data: its owner and granted auditors only.
REVOKE ALL ON privacy.consent_event FROM PUBLIC;
-- (its trigger function, which lets cancellation pseudonymize, comes with cancellation)
CREATE TRIGGER consent_event_no_truncate BEFORE TRUNCATE ON privacy.consent_event
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.audit_log_refuse();

CREATE TABLE privacy.consent (
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
    PRIMARY KEY (subject, purpose)
);
-- what a purpose view reads, all in the index: an index-only scan
CREATE INDEX consent_subject_key ON privacy.consent (subject_key, purpose) INCLUDE (by_guardian, minor_setting);
COMMENT ON TABLE privacy.consent IS
    'the consents in force (the latest grant of each subject and purpose, not withdrawn since and not voided by a material policy change), with the subject''s explicit minor setting, kept by grant_consent, withdraw_consent, publish_policy and set_minor; purpose views read it';
-- As the ledger.
REVOKE ALL ON privacy.consent FROM PUBLIC;

CREATE TABLE privacy.subject_minor (
    subject     text        PRIMARY KEY,
    minor       boolean     NOT NULL,
    set_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE privacy.subject_minor IS
    'explicit settings of whether a subject is a minor, over what a birth date column says';
-- As the ledger.
REVOKE ALL ON privacy.subject_minor FROM PUBLIC;

CREATE FUNCTION privacy.set_minor(subject text, minor boolean) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF subject IS NULL THEN
        RAISE EXCEPTION 'subject must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF minor IS NULL THEN
        DELETE FROM privacy.subject_minor m WHERE m.subject OPERATOR(pg_catalog.=) set_minor.subject;
    ELSE
        INSERT INTO privacy.subject_minor AS m (subject, minor) VALUES (subject, minor)
        ON CONFLICT ON CONSTRAINT subject_minor_pkey DO UPDATE SET minor = EXCLUDED.minor, set_at = pg_catalog.now();
    END IF;
    -- the consents in force carry the setting for the purpose views
    UPDATE privacy.consent c SET minor_setting = set_minor.minor
     WHERE c.subject OPERATOR(pg_catalog.=) set_minor.subject;
    PERFORM privacy.audit_append('minor', pg_catalog.format('subject %s', privacy.subject_pseudonym(subject)),
                                 pg_catalog.jsonb_build_object('minor', minor));
END
$$;
COMMENT ON FUNCTION privacy.set_minor(text, boolean) IS
    'say explicitly whether a subject is a minor (NULL: go back to the birth date column)';
-- Administrators and the application's registration code: granted explicitly.
REVOKE ALL ON FUNCTION privacy.set_minor(text, boolean) FROM PUBLIC;

-- Whether a subject is a minor at a moment: the explicit setting, else a
-- CATEGORY identity.birth_date column of a table whose single SUBJECT column
-- holds the subject, under privacy.minor_age.
CREATE FUNCTION privacy.is_minor(subject text, at timestamptz DEFAULT pg_catalog.now()) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    explicit boolean;
    t record;
    born date;
BEGIN
    IF subject IS NULL THEN
        RAISE EXCEPTION 'subject must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT m.minor INTO explicit FROM privacy.subject_minor m WHERE m.subject OPERATOR(pg_catalog.=) is_minor.subject;
    IF FOUND THEN
        RETURN explicit;
    END IF;
    FOR t IN
        SELECT b.relation, s.column_name AS subject_column, b.column_name AS birth_column
          FROM privacy.labels b
          JOIN privacy.labels s ON s.relation OPERATOR(pg_catalog.=) b.relation AND s.subject
         WHERE b.category OPERATOR(pg_catalog.=) 'identity.birth_date'
           AND (SELECT pg_catalog.count(*) FROM privacy.labels x
                 WHERE x.relation OPERATOR(pg_catalog.=) b.relation AND x.subject) OPERATOR(pg_catalog.=) 1
         ORDER BY b.relation::text
    LOOP
        EXECUTE pg_catalog.format('SELECT %I::date FROM %s WHERE %I::text OPERATOR(pg_catalog.=) $1 LIMIT 1',
                                  t.birth_column, t.relation, t.subject_column)
           INTO born USING subject;
        IF born IS NOT NULL THEN
            RETURN born OPERATOR(pg_catalog.>) (at OPERATOR(pg_catalog.-)
                       pg_catalog.make_interval(years => pg_catalog.current_setting('privacy.minor_age')::integer))::date;
        END IF;
    END LOOP;
    RETURN false;
END
$$;
COMMENT ON FUNCTION privacy.is_minor(text, timestamptz) IS
    'whether the subject is under privacy.minor_age at the moment: the explicit setting, else the identity.birth_date column of its subject table';
-- Reads personal data: granted explicitly.
REVOKE ALL ON FUNCTION privacy.is_minor(text, timestamptz) FROM PUBLIC;

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
                                      by_guardian boolean DEFAULT false)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'privacy_grant_consent'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.grant_consent(text, text, jsonb, boolean) IS
    'record that the subject consents to the purpose (one purpose per grant, so a sensitive purpose is always consented to on its own); returns the ledger entry';
-- The application records consent through an explicit grant.
REVOKE ALL ON FUNCTION privacy.grant_consent(text, text, jsonb, boolean) FROM PUBLIC;

CREATE FUNCTION privacy.withdraw_consent(subject text, purpose text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_withdraw_consent'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.withdraw_consent(text, text) IS
    'record the withdrawal of the subject''s consent to the purpose; true if a consent was in force (a withdrawal of nothing is recorded too)';
-- As grant_consent.
REVOKE ALL ON FUNCTION privacy.withdraw_consent(text, text) FROM PUBLIC;

CREATE FUNCTION privacy.has_consent(subject text, purpose text, at timestamptz DEFAULT NULL)
    RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    e record;
    -- no moment: now, counting everything recorded so far (this transaction too)
    v_at timestamptz := COALESCE(at, 'infinity');
BEGIN
    IF subject IS NULL THEN
        RAISE EXCEPTION 'subject must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM privacy.consent_purpose(purpose);
    SELECT c.granted, c.at, c.by_guardian INTO e
      FROM privacy.consent_event c
     WHERE c.subject OPERATOR(pg_catalog.=) has_consent.subject
       AND c.purpose OPERATOR(pg_catalog.=) has_consent.purpose
       AND c.at OPERATOR(pg_catalog.<=) v_at
     ORDER BY c.at DESC, c.seq DESC
     LIMIT 1;
    IF NOT FOUND OR NOT e.granted THEN
        RETURN false;
    END IF;
    -- a material policy change between the grant and the moment voids it
    IF EXISTS (SELECT 1 FROM privacy.policy_version v
                WHERE v.material
                  AND v.published_at OPERATOR(pg_catalog.>) e.at
                  AND v.published_at OPERATOR(pg_catalog.<=) v_at) THEN
        RETURN false;
    END IF;
    -- a minor's consent counts only when a guardian gave it
    IF NOT e.by_guardian AND privacy.is_minor(subject, COALESCE(at, pg_catalog.clock_timestamp())) THEN
        RETURN false;
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION privacy.has_consent(text, text, timestamptz) IS
    'whether the subject''s consent to the purpose was in force at the moment (omitted or NULL: now, counting everything recorded so far): granted and not withdrawn since, not voided by a material policy change, given by a guardian for a minor';
-- Consent status is personal data: granted explicitly.
REVOKE ALL ON FUNCTION privacy.has_consent(text, text, timestamptz) FROM PUBLIC;

CREATE FUNCTION privacy.may_process(subject text, purpose text, at timestamptz DEFAULT NULL)
    RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    basis text;
BEGIN
    IF subject IS NULL OR purpose IS NULL THEN
        RAISE EXCEPTION 'subject and purpose must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT p.legal_basis INTO basis FROM privacy.purpose p WHERE p.name OPERATOR(pg_catalog.=) may_process.purpose;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown purpose "%"', purpose USING ERRCODE = 'undefined_object';
    END IF;
    IF basis OPERATOR(pg_catalog.<>) 'consent' THEN
        RETURN true;
    END IF;
    RETURN privacy.has_consent(subject, purpose, at);
END
$$;
COMMENT ON FUNCTION privacy.may_process(text, text, timestamptz) IS
    'whether the subject''s data may be processed for the purpose at the moment: always for purposes on another legal basis, else has_consent';
-- As has_consent.
REVOKE ALL ON FUNCTION privacy.may_process(text, text, timestamptz) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Purpose views: a security_barrier view per table and purpose
-------------------------------------------------------------------------------
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
    subject       text        PRIMARY KEY,
    subject_key   bigint      GENERATED ALWAYS AS
                  (CASE WHEN subject OPERATOR(pg_catalog.~) '^-?[0-9]{1,18}$' THEN subject::bigint END) STORED,
    restricted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    request_id    bigint
);
CREATE INDEX restricted_subject_key ON privacy.restricted_subject (subject_key);
COMMENT ON TABLE privacy.restricted_subject IS
    'subjects whose account was cancelled but some of whose rows are kept until retention: no purpose view shows their rows (PIPL Art. 47); the subject is named as in the kept rows, and the entry goes with them';
-- As the ledger.
REVOKE ALL ON privacy.restricted_subject FROM PUBLIC;

-- the condition that a row of the alias names, in one of its subject
-- columns, a subject listed in table list (restricted subjects, holds),
-- with an extra condition on the list's alias r
CREATE FUNCTION privacy.listed_condition(list text, alias text, subject_columns name[], integer_columns name[],
                                         extra text DEFAULT '')
    RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT '(' OPERATOR(pg_catalog.||) pg_catalog.string_agg(
                   CASE WHEN c OPERATOR(pg_catalog.=) ANY (integer_columns)
                        THEN pg_catalog.format('EXISTS (SELECT 1 FROM %s r WHERE r.subject_key OPERATOR(pg_catalog.=) %I.%I%s)', list, alias, c, extra)
                        ELSE pg_catalog.format('EXISTS (SELECT 1 FROM %s r WHERE r.subject OPERATOR(pg_catalog.=) %I.%I::text%s)', list, alias, c, extra)
                   END, ' OR ') OPERATOR(pg_catalog.||) ')'
          FROM pg_catalog.unnest(subject_columns) c
    $$;
COMMENT ON FUNCTION privacy.listed_condition(text, text, name[], name[], text) IS
    'internal: the SQL condition that a row names, in one of its subject columns, a subject of a list (restricted subjects, legal holds)';

-- the consent condition on subject columns of the alias, as SQL
CREATE FUNCTION privacy.consent_condition(alias text, subject_columns name[], birth_column name, purpose text,
                                          integer_columns name[] DEFAULT '{}')
    RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    col name;
    match text;
    parts text[] := ARRAY[]::text[];
    minor text;
    check_sql text;
    single boolean := pg_catalog.cardinality(subject_columns) OPERATOR(pg_catalog.=) 1;
BEGIN
    FOREACH col IN ARRAY subject_columns LOOP
        -- the explicit setting (carried by the consent row), else the birth
        -- date (IS TRUE: the planner estimates it from the column's statistics)
        minor := '(c.minor_setting IS TRUE)';
        IF birth_column IS NOT NULL AND single THEN
            minor := pg_catalog.format(
                'COALESCE(c.minor_setting, %I.%I OPERATOR(pg_catalog.>) (SELECT (pg_catalog.now() OPERATOR(pg_catalog.-)'
                ' pg_catalog.make_interval(years => pg_catalog.current_setting(''privacy.minor_age'')::integer))::date))',
                alias, birth_column);
        END IF;
        -- integer subject columns compare with the integer key (same btree
        -- family, so the planner carries a constant across); others as text
        IF col OPERATOR(pg_catalog.=) ANY (integer_columns) THEN
            match := pg_catalog.format('c.subject_key OPERATOR(pg_catalog.=) %I.%I', alias, col);
        ELSE
            match := pg_catalog.format('c.subject OPERATOR(pg_catalog.=) %I.%I::text', alias, col);
        END IF;
        check_sql := pg_catalog.format(
            'EXISTS (SELECT 1 FROM privacy.consent c'
            ' WHERE %5$s'
            ' AND c.purpose OPERATOR(pg_catalog.=) %3$L'
            ' AND (c.by_guardian OR NOT %4$s))',
            alias, col, purpose, minor, match);
        IF single THEN
            -- a bare EXISTS becomes a semi-join; a NULL subject fails it
            parts := parts OPERATOR(pg_catalog.||) check_sql;
        ELSE
            parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('(%I.%I IS NULL OR %s)', alias, col, check_sql);
        END IF;
    END LOOP;
    IF NOT single THEN
        -- the row must have a subject at all
        parts := parts OPERATOR(pg_catalog.||) (SELECT pg_catalog.format('(%s)', pg_catalog.string_agg(pg_catalog.format('%I.%I IS NOT NULL', alias, c2), ' OR '))
                                                  FROM pg_catalog.unnest(subject_columns) c2);
    END IF;
    RETURN pg_catalog.array_to_string(parts, ' AND ');
END
$$;
COMMENT ON FUNCTION privacy.consent_condition(text, name[], name, text, name[]) IS
    'internal: the SQL condition that every non-NULL subject column of a row has consent in force for the purpose';

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
    ints name[];
BEGIN
    SELECT * INTO p FROM privacy.purpose d WHERE d.name OPERATOR(pg_catalog.=) purpose;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown purpose "%"', purpose USING ERRCODE = 'undefined_object';
    END IF;
    SELECT * INTO sp FROM privacy.subject_path s WHERE s.relation OPERATOR(pg_catalog.=) source;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table % holds no subject''s data', source
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A purpose view filters rows by their subject''s consent: the table needs a SUBJECT column, or a foreign key chain to a table with one.',
                  HINT = 'Label the subject key with SECURITY LABEL FOR privacy ... IS ''SUBJECT''.';
    END IF;

    -- columns: covered or unlabelled in clear, the others masked or NULL
    FOR col IN
        SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ, t.typcategory,
               l.category, l.mask AS label_mask, c.mask AS category_mask
          FROM pg_catalog.pg_attribute a
          JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
          LEFT JOIN privacy.labels l ON l.relation OPERATOR(pg_catalog.=) source AND l.column_name OPERATOR(pg_catalog.=) a.attname
          LEFT JOIN privacy.category c ON c.name OPERATOR(pg_catalog.=) l.category
         WHERE a.attrelid OPERATOR(pg_catalog.=) source AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
         ORDER BY a.attnum
    LOOP
        IF col.category IS NULL OR privacy.purpose_covers(purpose, col.category) THEN
            expr := pg_catalog.format('t.%I', col.attname);
        ELSE
            m := col.label_mask;
            IF m IS NULL AND col.typcategory OPERATOR(pg_catalog.=) 'S' THEN
                m := col.category_mask;
            END IF;
            IF m IS NOT NULL THEN
                expr := pg_catalog.format('%s(t.%I)::%s', m, col.attname, col.typ);
            ELSE
                expr := pg_catalog.format('NULL::%s', col.typ);
            END IF;
        END IF;
        cols := cols OPERATOR(pg_catalog.||) pg_catalog.format('%s AS %I', expr, col.attname);
    END LOOP;

    SELECT pg_catalog.array_agg(a.attname) INTO ints
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) sp.subject_relation
       AND a.attname OPERATOR(pg_catalog.=) ANY (sp.subject_columns)
       AND a.atttypid OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.int2'::pg_catalog.regtype,
                                                        'pg_catalog.int4'::pg_catalog.regtype,
                                                        'pg_catalog.int8'::pg_catalog.regtype]::oid[]);
    ints := COALESCE(ints, '{}');
    hops := pg_catalog.cardinality(sp.constraints);
    root := CASE WHEN hops OPERATOR(pg_catalog.=) 0 THEN 't' ELSE 'a' OPERATOR(pg_catalog.||) hops END;
    IF p.legal_basis OPERATOR(pg_catalog.<>) 'consent' THEN
        -- every subject, except those whose data is only kept (PIPL Art. 47)
        filter := 'NOT ' OPERATOR(pg_catalog.||)
                  privacy.path_condition(sp.constraints, privacy.listed_condition('privacy.restricted_subject', root, sp.subject_columns, ints));
    ELSE
        SELECT l.column_name INTO birth FROM privacy.labels l
         WHERE l.relation OPERATOR(pg_catalog.=) sp.subject_relation
           AND l.category OPERATOR(pg_catalog.=) 'identity.birth_date' LIMIT 1;
        -- through the foreign keys, child first: t -> a1 -> a2 ... -> the subject table
        filter := privacy.path_condition(sp.constraints,
                      privacy.consent_condition(root, sp.subject_columns, birth, purpose, ints));
    END IF;
    RETURN pg_catalog.format('SELECT %s FROM %s t WHERE %s',
                             pg_catalog.array_to_string(cols, ', '), source, filter);
END
$$;
COMMENT ON FUNCTION privacy.purpose_view_query(regclass, text) IS
    'the query of the purpose view of a table: subjects whose consent covers the purpose (through foreign keys too), labelled columns outside the purpose masked';
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
BEGIN
    IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', view_schema, view_name)) IS NOT NULL THEN
        EXECUTE pg_catalog.format('DROP VIEW %I.%I', view_schema, view_name);
    END IF;
    EXECUTE pg_catalog.format('CREATE VIEW %I.%I WITH (security_barrier) AS %s',
                              view_schema, view_name, privacy.purpose_view_query(source, purpose));
    v := pg_catalog.format('%I.%I', view_schema, view_name)::regclass;
    EXECUTE pg_catalog.format('COMMENT ON VIEW %s IS %L', v,
                              pg_catalog.format('privacy purpose view of %s for purpose %s', source, purpose));
    EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM PUBLIC', v);
    FOR r IN SELECT g.role_name FROM privacy.purpose_grant g WHERE g.purpose OPERATOR(pg_catalog.=) build_purpose_view.purpose LOOP
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', view_schema, r);
        EXECUTE pg_catalog.format('GRANT SELECT ON %s TO %I', v, r);
    END LOOP;
    RETURN v;
END
$$;
COMMENT ON FUNCTION privacy.build_purpose_view(name, name, regclass, text) IS
    'internal: create or rebuild one purpose view and grant it to the purpose''s roles';
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
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE c.oid OPERATOR(pg_catalog.=) source;
    IF view_name IS NULL THEN
        v_schema := src_schema::text;
        v_name := src_name::text OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||) purpose;
    ELSE
        parts := pg_catalog.parse_ident(view_name);
        IF pg_catalog.cardinality(parts) OPERATOR(pg_catalog.=) 1 THEN
            v_schema := src_schema::text;
            v_name := parts[1];
        ELSIF pg_catalog.cardinality(parts) OPERATOR(pg_catalog.=) 2 THEN
            v_schema := parts[1];
            v_name := parts[2];
        ELSE
            RAISE EXCEPTION 'improper view name "%"', view_name USING ERRCODE = 'invalid_name';
        END IF;
    END IF;
    -- a longer name would be cut (and could then be another view's)
    IF pg_catalog.octet_length(v_schema) OPERATOR(pg_catalog.>) 63 OR pg_catalog.octet_length(v_name) OPERATOR(pg_catalog.>) 63 THEN
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
             WHERE v.view_schema OPERATOR(pg_catalog.=) r.view_schema AND v.view_name OPERATOR(pg_catalog.=) r.view_name;
            CONTINUE;
        END IF;
        IF (refresh_purpose_views.source IS NULL OR src OPERATOR(pg_catalog.=) refresh_purpose_views.source)
           AND (refresh_purpose_views.purpose IS NULL OR r.purpose OPERATOR(pg_catalog.=) refresh_purpose_views.purpose) THEN
            IF NOT EXISTS (SELECT 1 FROM privacy.purpose p WHERE p.name OPERATOR(pg_catalog.=) r.purpose) THEN
                IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', r.view_schema, r.view_name)) IS NOT NULL THEN
                    EXECUTE pg_catalog.format('DROP VIEW %I.%I', r.view_schema, r.view_name);
                END IF;
                DELETE FROM privacy.purpose_view v
                 WHERE v.view_schema OPERATOR(pg_catalog.=) r.view_schema AND v.view_name OPERATOR(pg_catalog.=) r.view_name;
                CONTINUE;
            END IF;
            BEGIN
                PERFORM privacy.build_purpose_view(r.view_schema, r.view_name, src, r.purpose);
                n := n OPERATOR(pg_catalog.+) 1;
            EXCEPTION WHEN object_not_in_prerequisite_state THEN
                -- the table no longer holds a subject's data: no lawful view of it remains
                IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', r.view_schema, r.view_name)) IS NOT NULL THEN
                    EXECUTE pg_catalog.format('DROP VIEW %I.%I', r.view_schema, r.view_name);
                END IF;
                DELETE FROM privacy.purpose_view v
                 WHERE v.view_schema OPERATOR(pg_catalog.=) r.view_schema AND v.view_name OPERATOR(pg_catalog.=) r.view_name;
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
    IF NOT EXISTS (SELECT 1 FROM privacy.purpose p WHERE p.name OPERATOR(pg_catalog.=) grant_purpose.purpose) THEN
        RAISE EXCEPTION 'unknown purpose "%"', purpose USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles x WHERE x.rolname OPERATOR(pg_catalog.=) role_name) THEN
        RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = 'undefined_object';
    END IF;
    INSERT INTO privacy.purpose_grant AS g (purpose, role_name) VALUES (purpose, role_name)
    ON CONFLICT ON CONSTRAINT purpose_grant_pkey DO NOTHING;
    FOR r IN SELECT * FROM privacy.purpose_view v WHERE v.purpose OPERATOR(pg_catalog.=) grant_purpose.purpose LOOP
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', r.view_schema, role_name);
        EXECUTE pg_catalog.format('GRANT SELECT ON %I.%I TO %I', r.view_schema, r.view_name, role_name);
        n := n OPERATOR(pg_catalog.+) 1;
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
        IF cmd.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
           AND cmd.command_tag OPERATOR(pg_catalog.=) ANY (ARRAY['ALTER TABLE', 'SECURITY LABEL']) THEN
            src := cmd.objid::regclass;
            IF EXISTS (SELECT 1 FROM privacy.purpose_view v
                        WHERE pg_catalog.to_regclass(pg_catalog.format('%I.%I', v.source_schema, v.source_name)) OPERATOR(pg_catalog.=) src) THEN
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

-------------------------------------------------------------------------------
-- Subject rights: cancellation, the request register, export
-------------------------------------------------------------------------------
CREATE FUNCTION privacy.owner_exec(rel pg_catalog.regclass, statement text, tids pg_catalog.tid[], subject text)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'privacy_owner_exec'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.owner_exec(pg_catalog.regclass, text, pg_catalog.tid[], text) IS
    'internal: run one statement ($1 the rows'' ctids, $2 the subject) as the owner of the table, so that its triggers and defaults never run with the extension owner''s rights';
-- Runs SQL as another role: only the extension's own functions (it checks).
REVOKE ALL ON FUNCTION privacy.owner_exec(pg_catalog.regclass, text, pg_catalog.tid[], text) FROM PUBLIC;

CREATE FUNCTION privacy.locate_rows(statement text, subject text, OUT parts oid[], OUT tids pg_catalog.tid[])
    AS 'MODULE_PATHNAME', 'privacy_locate_rows'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.locate_rows(text, text) IS
    'internal: run a statement ($1 the subject) that returns (tableoid, ctid) rows, with a plan kept per backend; the rows as two arrays';
-- Runs SQL: only the extension's own functions (it checks).
REVOKE ALL ON FUNCTION privacy.locate_rows(text, text) FROM PUBLIC;

CREATE FUNCTION privacy.owner_exec_value(rel pg_catalog.regclass, statement text, tids pg_catalog.tid[], subject text)
    RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_owner_exec'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.owner_exec_value(pg_catalog.regclass, text, pg_catalog.tid[], text) IS
    'internal: owner_exec, returning the first column of the statement''s first row as text';
-- As owner_exec.
REVOKE ALL ON FUNCTION privacy.owner_exec_value(pg_catalog.regclass, text, pg_catalog.tid[], text) FROM PUBLIC;

-- a tombstone per cancelled subject, by pseudonym
CREATE TABLE privacy.cancelled_subject (
    subject_id   text        PRIMARY KEY,
    cancelled_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    request_id   bigint
);
COMMENT ON TABLE privacy.cancelled_subject IS
    'tombstones: subjects whose account was cancelled, by subject_id = privacy.subject_pseudonym(subject); holds no personal data';
REVOKE ALL ON privacy.cancelled_subject FROM PUBLIC;
-- every session's set of tombstones (privacy.refuse_cancelled) is dropped when they change
CREATE TRIGGER tombstone_cache_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON privacy.cancelled_subject
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.key_cache_invalidate();

-- The ledger's only permitted change: cancellation replaces the subject by
-- its pseudonym, so that the history stays provable and names nobody.
CREATE FUNCTION privacy.consent_event_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
       AND NEW.subject OPERATOR(pg_catalog.=) ('cancelled:' OPERATOR(pg_catalog.||) privacy.subject_pseudonym(OLD.subject))
       AND (NEW.seq, NEW.purpose, NEW.granted, NEW.at, NEW.policy_version, NEW.by_guardian, NEW.actor)
           IS NOT DISTINCT FROM (OLD.seq, OLD.purpose, OLD.granted, OLD.at, OLD.policy_version, OLD.by_guardian, OLD.actor)
       AND NEW.evidence IS NOT DISTINCT FROM OLD.evidence THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_SCHEMA OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = pg_catalog.format('%s is not allowed on this table, for any role; cancellation only replaces a subject by its pseudonym.', TG_OP);
END
$$;
COMMENT ON FUNCTION privacy.consent_event_guard() IS
    'trigger: keeps the consent ledger append-only, except that cancellation replaces a subject by its pseudonym';
CREATE TRIGGER consent_event_append_only BEFORE UPDATE OR DELETE ON privacy.consent_event
    FOR EACH ROW EXECUTE FUNCTION privacy.consent_event_guard();


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
    SELECT t.typcategory, CASE WHEN t.typtype OPERATOR(pg_catalog.=) 'd' THEN t.typbasetype ELSE t.oid END
      INTO tc, b
      FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) typ;
    IF tc OPERATOR(pg_catalog.=) 'S' THEN
        -- e-mail form for e-mail addresses; digits stay digits (check constraints)
        v := CASE WHEN category OPERATOR(pg_catalog.~) '^contact\.email' THEN '''anonymized@anonymized.invalid'''
                  ELSE pg_catalog.format('CASE WHEN (%1$s)::pg_catalog.text OPERATOR(pg_catalog.~) ''@'' THEN ''anonymized@anonymized.invalid'' '
                                         'WHEN (%1$s)::pg_catalog.text OPERATOR(pg_catalog.~) ''^[0-9]+$'' THEN pg_catalog.repeat(''0'', pg_catalog.length((%1$s)::pg_catalog.text)) '
                                         'ELSE ''anonymized'' END', expr) END;
    ELSIF tc OPERATOR(pg_catalog.=) 'N' THEN
        v := '0';
    ELSIF tc OPERATOR(pg_catalog.=) 'D' THEN
        v := CASE WHEN b OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.time'::pg_catalog.regtype, 'pg_catalog.timetz'::pg_catalog.regtype]::oid[])
                  THEN '''00:00''' ELSE '''1970-01-01''' END;
    ELSIF tc OPERATOR(pg_catalog.=) 'T' THEN
        v := '''0''';
    ELSIF tc OPERATOR(pg_catalog.=) 'B' THEN
        v := 'false';
    ELSIF tc OPERATOR(pg_catalog.=) 'A' THEN
        v := '''{}''';
    ELSIF tc OPERATOR(pg_catalog.=) 'I' THEN
        v := pg_catalog.format('CASE pg_catalog.family((%s)::pg_catalog.text::pg_catalog.inet) WHEN 6 THEN ''::'' ELSE ''0.0.0.0'' END', expr);
    ELSIF b OPERATOR(pg_catalog.=) 'pg_catalog.uuid'::pg_catalog.regtype THEN
        v := '''00000000-0000-0000-0000-000000000000''';
    ELSIF b OPERATOR(pg_catalog.=) 'pg_catalog.bytea'::pg_catalog.regtype THEN
        v := '''\x''';
    ELSIF b OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.json'::pg_catalog.regtype, 'pg_catalog.jsonb'::pg_catalog.regtype]::oid[]) THEN
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
    SELECT t.typcategory INTO tc FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) typ;
    -- a unique column gets a random value of the same shape
    IF is_unique THEN
        token := pg_catalog.encode(pg_catalog.uuid_send(pg_catalog.gen_random_uuid()), 'hex');
        IF tc OPERATOR(pg_catalog.=) 'S' THEN
            v := value::text;
            IF category OPERATOR(pg_catalog.~) '^contact\.email' OR v OPERATOR(pg_catalog.~) '@' THEN
                RETURN 'anonymized-' OPERATOR(pg_catalog.||) token OPERATOR(pg_catalog.||) '@anonymized.invalid';
            ELSIF v OPERATOR(pg_catalog.~) '^[0-9]+$' THEN
                -- digits stay digits (check constraints), none of them the original's
                RETURN (SELECT pg_catalog.string_agg(pg_catalog.floor(pg_catalog.random() OPERATOR(pg_catalog.*) 10)::integer::text, '')
                          FROM pg_catalog.generate_series(1, pg_catalog.length(v)));
            END IF;
            RETURN 'anonymized-' OPERATOR(pg_catalog.||) token;
        ELSIF tc OPERATOR(pg_catalog.=) 'N' THEN
            RETURN (pg_catalog.random() OPERATOR(pg_catalog.*) (CASE WHEN typ OPERATOR(pg_catalog.=) 'pg_catalog.int2'::regtype THEN 32767 ELSE 2147483647 END))::integer;
        ELSIF typ OPERATOR(pg_catalog.=) 'pg_catalog.uuid'::regtype THEN
            RETURN pg_catalog.gen_random_uuid();
        ELSIF typ OPERATOR(pg_catalog.=) 'pg_catalog.bytea'::regtype THEN
            RETURN pg_catalog.decode(token, 'hex');
        END IF;
    END IF;
    placeholder := privacy.placeholder_sql('$1', typ, category);
    IF placeholder IS NULL THEN
        RAISE EXCEPTION 'no anonymous value for a NOT NULL column of type %', typ
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Make the column nullable (it is then set to NULL), or use ON CANCEL DELETE for its table.';
    END IF;
    EXECUTE 'SELECT ' OPERATOR(pg_catalog.||) placeholder INTO result USING value;
    RETURN result;
END
$$;
COMMENT ON FUNCTION privacy.anonymous_value(anyelement, text, boolean) IS
    'a value that identifies nobody and keeps nothing of the original, of the same type: a placeholder chosen by category (e-mail form for contact.email, zeros for digit strings, zero, the epoch, ...), random when the column is unique';
GRANT EXECUTE ON FUNCTION privacy.anonymous_value(anyelement, text, boolean) TO PUBLIC;

-- what cancellation does to a table's rows
CREATE FUNCTION privacy.cancel_action(rel pg_catalog.regclass) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT COALESCE(
            (SELECT l.on_cancel FROM privacy.labels l
              WHERE l.relation OPERATOR(pg_catalog.=) rel AND l.column_name IS NULL),
            (SELECT CASE WHEN pg_catalog.bool_or(c.on_cancel OPERATOR(pg_catalog.=) 'keep until retention') THEN 'keep until retention'
                         WHEN pg_catalog.bool_or(c.on_cancel OPERATOR(pg_catalog.=) 'anonymize') THEN 'anonymize'
                         WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 THEN 'delete' END
               FROM privacy.labels l
               LEFT JOIN privacy.category c ON c.name OPERATOR(pg_catalog.=) l.category
              WHERE l.relation OPERATOR(pg_catalog.=) rel AND l.column_name IS NOT NULL))
    $$;
COMMENT ON FUNCTION privacy.cancel_action(pg_catalog.regclass) IS
    'what cancellation does to the subject''s rows of a table: its ON CANCEL label, else what its columns'' categories need (keep until retention over anonymize over delete); NULL for a table without labels';
GRANT EXECUTE ON FUNCTION privacy.cancel_action(pg_catalog.regclass) TO PUBLIC;

-- the SET list that anonymizes rows of rel: labelled columns replaced and
-- the subject's own SUBJECT columns cleared (skip_columns aside); side_only:
-- only the subject's SUBJECT columns, the row being somebody else's too
CREATE FUNCTION privacy.anonymize_set_list(rel oid, subject text, skip_columns name[], side_only boolean)
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    c record;
    sets text[] := ARRAY[]::text[];
    cleared text;
    ok boolean;
BEGIN
    FOR c IN
        SELECT a.attname, a.attnotnull, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ,
               pg_catalog.format_type(a.atttypid, NULL) AS btyp, a.atttypid, a.atttypmod,
               l.subject, l.category,
               EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                        WHERE i.indrelid OPERATOR(pg_catalog.=) rel AND i.indisunique
                          AND a.attnum OPERATOR(pg_catalog.=) ANY (i.indkey::smallint[])) AS is_unique,
               EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                        WHERE k.conrelid OPERATOR(pg_catalog.=) rel AND k.contype OPERATOR(pg_catalog.=) 'f'
                          AND a.attnum OPERATOR(pg_catalog.=) ANY (k.conkey)) AS in_fk,
               EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                        WHERE k.confrelid OPERATOR(pg_catalog.=) rel AND k.contype OPERATOR(pg_catalog.=) 'f'
                          AND a.attnum OPERATOR(pg_catalog.=) ANY (k.confkey)) AS referenced
          FROM pg_catalog.pg_attribute a
          LEFT JOIN privacy.labels l
            ON l.relation OPERATOR(pg_catalog.=) rel::pg_catalog.regclass AND l.column_name OPERATOR(pg_catalog.=) a.attname
         WHERE a.attrelid OPERATOR(pg_catalog.=) rel AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
           AND a.attgenerated OPERATOR(pg_catalog.=) '' AND a.attidentity OPERATOR(pg_catalog.=) ''
           AND l.relation IS NOT NULL
           AND NOT a.attname OPERATOR(pg_catalog.=) ANY (skip_columns)
         ORDER BY a.attnum
    LOOP
        -- what clears the column: NULL, else (outside foreign keys) an anonymous value
        IF c.referenced THEN
            cleared := NULL;    -- a key other rows point to: the row stays as an anonymous stub
        ELSIF NOT c.attnotnull THEN
            cleared := pg_catalog.format('NULL::%s', c.typ);
        ELSIF c.in_fk THEN
            cleared := NULL;    -- cannot be cleared; the parent row decides
        ELSIF c.is_unique THEN
            cleared := pg_catalog.format('privacy.anonymous_value(t.%I, %L, true)::%s', c.attname, c.category, c.typ);
        ELSE
            cleared := COALESCE(privacy.placeholder_sql(pg_catalog.format('t.%I', c.attname), c.atttypid::pg_catalog.regtype, c.category, c.atttypmod),
                                pg_catalog.format('privacy.anonymous_value(t.%I, %L, false)::%s', c.attname, c.category, c.typ));
        END IF;
        CONTINUE WHEN cleared IS NULL;
        IF COALESCE(c.subject, false) THEN
            -- only the cancelled subject's side
            BEGIN
                IF subject IS NOT NULL THEN
                    EXECUTE pg_catalog.format('SELECT $1::%s', c.btyp) USING subject;
                END IF;
                ok := true;
            EXCEPTION WHEN data_exception THEN
                ok := false;
            END;
            CONTINUE WHEN NOT ok;
            sets := sets OPERATOR(pg_catalog.||) pg_catalog.format('%I = CASE WHEN t.%I OPERATOR(pg_catalog.=) $2::%s THEN %s ELSE t.%I END',
                                                                   c.attname, c.attname, c.btyp, cleared, c.attname);
        ELSIF side_only THEN
            CONTINUE;
        ELSE
            sets := sets OPERATOR(pg_catalog.||) pg_catalog.format('%I = %s', c.attname, cleared);
        END IF;
    END LOOP;
    RETURN pg_catalog.array_to_string(sets, ', ');
END
$$;
COMMENT ON FUNCTION privacy.anonymize_set_list(oid, text, name[], boolean) IS
    'internal: the SET list of the UPDATE that anonymizes a table''s rows on cancellation';
REVOKE ALL ON FUNCTION privacy.anonymize_set_list(oid, text, name[], boolean) FROM PUBLIC;

-- the rows cancellation chose in one table, through one chain of foreign keys
CREATE TYPE privacy.cancel_target AS (
    relid   oid,
    root    oid,
    hops    integer,
    path    oid[],
    parts   oid[],
    tids    pg_catalog.tid[]
);
COMMENT ON TYPE privacy.cancel_target IS
    'internal: the rows (partition and ctid) of one table that cancellation chose and locked, with the chain of foreign keys that reached them';

-- the subject's rows of a table reached through one chain, locked; NULL when none
CREATE FUNCTION privacy.cancel_rows(relid oid, root oid, hops integer, path oid[], subject text)
    RETURNS privacy.cancel_target
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cond text;
    v_parts oid[];
    v_tids pg_catalog.tid[];
BEGIN
    -- through a table that two subjects share, only rows that are this subject's alone
    cond := privacy.subject_condition(root, CASE WHEN hops OPERATOR(pg_catalog.=) 0 THEN 't' ELSE 'a' OPERATOR(pg_catalog.||) hops END,
                                      subject, '$1', hops OPERATOR(pg_catalog.>) 0);
    IF cond IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT l.parts, l.tids INTO v_parts, v_tids
      FROM privacy.locate_rows(pg_catalog.format('SELECT t.tableoid, t.ctid FROM %s t WHERE %s FOR UPDATE OF t',
                                                 relid::pg_catalog.regclass, privacy.path_condition(path, cond)),
                               subject) l;
    IF v_tids IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN ROW(relid, root, hops, path, v_parts, v_tids)::privacy.cancel_target;
END
$$;
COMMENT ON FUNCTION privacy.cancel_rows(oid, oid, integer, oid[], text) IS
    'internal: the subject''s rows of a table reached through one chain of foreign keys, locked FOR UPDATE';
REVOKE ALL ON FUNCTION privacy.cancel_rows(oid, oid, integer, oid[], text) FROM PUBLIC;

-- how many rows of the constraint's referencing table point to the given rows of part
CREATE FUNCTION privacy.referencing_rows(con oid, part pg_catalog.regclass, tids pg_catalog.tid[]) RETURNS bigint
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k record;
    joins text;
    n bigint;
BEGIN
    SELECT c.conrelid, c.conkey, c.confkey INTO k FROM pg_catalog.pg_constraint c WHERE c.oid OPERATOR(pg_catalog.=) con;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.format('p.%I OPERATOR(pg_catalog.=) c.%I', pa.attname, ca.attname), ' AND ')
      INTO joins
      FROM ROWS FROM (pg_catalog.unnest(k.conkey), pg_catalog.unnest(k.confkey)) AS u(ck, pk)
      JOIN pg_catalog.pg_attribute ca ON ca.attrelid OPERATOR(pg_catalog.=) k.conrelid AND ca.attnum OPERATOR(pg_catalog.=) u.ck
      JOIN pg_catalog.pg_attribute pa ON pa.attrelid OPERATOR(pg_catalog.=) part AND pa.attname OPERATOR(pg_catalog.=)
           (SELECT x.attname FROM pg_catalog.pg_constraint y JOIN pg_catalog.pg_attribute x
               ON x.attrelid OPERATOR(pg_catalog.=) y.confrelid AND x.attnum OPERATOR(pg_catalog.=) u.pk
             WHERE y.oid OPERATOR(pg_catalog.=) con);
    EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s c WHERE EXISTS (SELECT 1 FROM ONLY %s p WHERE p.ctid OPERATOR(pg_catalog.=) ANY ($1) AND %s)',
                              k.conrelid::pg_catalog.regclass, part, joins)
       INTO n USING tids;
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.referencing_rows(oid, pg_catalog.regclass, pg_catalog.tid[]) IS
    'internal: how many rows of a foreign key''s table reference the given rows';
REVOKE ALL ON FUNCTION privacy.referencing_rows(oid, pg_catalog.regclass, pg_catalog.tid[]) FROM PUBLIC;

-- The cancellation plan: what cancel_subject runs, derived from the labels
-- and the catalogs only (any subject), compiled once and kept per backend by
-- privacy.cancel_plan() until a relation or label changes.
CREATE FUNCTION privacy.compile_cancel_plan() RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    w record;
    t record;
    paths jsonb := '[]'::jsonb;
    tables jsonb := '[]'::jsonb;
    rels oid[] := '{}'::oid[];
    multi boolean;
    excl text;
    sets text;
    side text;
    sever text[];
    sever_cols name[];
    dynamic boolean;
    recollect boolean;
    leaf boolean;
    cond text;
    direct text;
    act text;
    x record;
BEGIN
    -- 1. the chains, subject tables first (the order rows are locked in)
    FOR w IN
        SELECT s.relid, s.root, s.hops, s.path
          FROM privacy.subject_walk() s
         WHERE privacy.cancel_action(s.relid::regclass) IS NOT NULL
         ORDER BY s.hops, s.relid::regclass::text, s.path::text
    LOOP
        paths := paths OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
            'relid', w.relid, 'root', w.root, 'hops', w.hops, 'path', w.path::text,
            'types', (SELECT COALESCE(pg_catalog.jsonb_agg(DISTINCT pg_catalog.format_type(a.atttypid, NULL)), '[]')
                        FROM privacy.labels l
                        JOIN pg_catalog.pg_attribute a
                          ON a.attrelid OPERATOR(pg_catalog.=) w.root AND a.attname OPERATOR(pg_catalog.=) l.column_name
                       WHERE l.relation OPERATOR(pg_catalog.=) w.root::regclass AND l.subject),
            'locate', pg_catalog.format('SELECT t.tableoid, t.ctid FROM %s t WHERE %s FOR UPDATE OF t', w.relid::regclass,
                          privacy.path_condition(w.path,
                              privacy.subject_condition(w.root, CASE WHEN w.hops OPERATOR(pg_catalog.=) 0 THEN 't' ELSE 'a' OPERATOR(pg_catalog.||) w.hops END,
                                                        NULL, '$1', w.hops OPERATOR(pg_catalog.>) 0)))));
        rels := rels OPERATOR(pg_catalog.||) w.relid;
    END LOOP;

    -- whether a step can change rows of a later step (a trigger, or a
    -- foreign key action): then each step reads its rows again.  Our own
    -- guard, privacy_cancelled_subject, changes no row (and does not check
    -- our erasures)
    recollect :=
        EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                 WHERE NOT g.tgisinternal
                   AND g.tgfoid OPERATOR(pg_catalog.<>) 'privacy.refuse_cancelled()'::pg_catalog.regprocedure
                   AND g.tgrelid OPERATOR(pg_catalog.=) ANY (
                       SELECT pt.relid FROM pg_catalog.unnest(rels) r, pg_catalog.pg_partition_tree(r) pt))
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                    WHERE c.contype OPERATOR(pg_catalog.=) 'f'
                      AND (c.conrelid OPERATOR(pg_catalog.=) ANY (rels) OR c.confrelid OPERATOR(pg_catalog.=) ANY (rels))
                      AND (c.confdeltype OPERATOR(pg_catalog.<>) ALL (ARRAY['a', 'r']::"char"[])
                           OR c.confupdtype OPERATOR(pg_catalog.<>) ALL (ARRAY['a', 'r']::"char"[])));

    -- 2. the tables, deepest chain first (children before parents)
    FOR t IN
        SELECT (p->>'relid')::oid AS relid, pg_catalog.max((p->>'hops')::integer) AS hops,
               pg_catalog.count(*) FILTER (WHERE (p->>'hops')::integer OPERATOR(pg_catalog.>) 0) AS chains
          FROM pg_catalog.jsonb_array_elements(paths) p
         GROUP BY 1
         ORDER BY 2 DESC, (p->>'relid')::oid::regclass::text
    LOOP
        multi := t.hops OPERATOR(pg_catalog.=) 0 AND
                 (SELECT pg_catalog.count(*) FROM privacy.labels l
                   WHERE l.relation OPERATOR(pg_catalog.=) t.relid::regclass AND l.subject) OPERATOR(pg_catalog.>) 1;
        excl := CASE WHEN multi THEN privacy.subject_condition(t.relid, 't', NULL, '$2', true) END;
        -- the nullable foreign key columns through which rows were reached: one
        -- chain, cleared outright; several, decided per row at run time
        sever := ARRAY[]::text[];
        sever_cols := ARRAY[]::name[];
        FOR x IN
            SELECT DISTINCT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ
              FROM pg_catalog.jsonb_array_elements(paths) p
              JOIN pg_catalog.pg_constraint k ON k.oid OPERATOR(pg_catalog.=) ((p->>'path')::oid[])[1]
              JOIN pg_catalog.pg_attribute a
                ON a.attrelid OPERATOR(pg_catalog.=) k.conrelid AND a.attnum OPERATOR(pg_catalog.=) ANY (k.conkey)
             WHERE (p->>'relid')::oid OPERATOR(pg_catalog.=) t.relid AND (p->>'hops')::integer OPERATOR(pg_catalog.>) 0
               AND NOT a.attnotnull
        LOOP
            sever := sever OPERATOR(pg_catalog.||) pg_catalog.format('%I = NULL::%s', x.attname, x.typ);
            sever_cols := sever_cols OPERATOR(pg_catalog.||) x.attname;
        END LOOP;
        dynamic := t.chains OPERATOR(pg_catalog.>) 1 AND pg_catalog.cardinality(sever) OPERATOR(pg_catalog.>) 0;
        sets := privacy.anonymize_set_list(t.relid, NULL, sever_cols, false);
        sets := pg_catalog.array_to_string(ARRAY[NULLIF(sets, '')] OPERATOR(pg_catalog.||) sever, ', ');
        side := CASE WHEN multi THEN NULLIF(privacy.anonymize_set_list(t.relid, NULL, '{}', true), '') END;
        act := privacy.cancel_action(t.relid::regclass);
        -- a table with its own single SUBJECT column that no foreign key
        -- references, when no step can change another's rows: one statement
        -- finds and changes its rows (no other insert can wait on them)
        leaf := NOT recollect AND t.hops OPERATOR(pg_catalog.=) 0 AND NOT multi
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                                 WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.confrelid OPERATOR(pg_catalog.=) t.relid);
        direct := NULL;
        IF leaf THEN
            cond := privacy.subject_condition(t.relid, 't', NULL, '$2', false);
            direct := CASE WHEN act OPERATOR(pg_catalog.=) 'delete' THEN pg_catalog.format('DELETE FROM %s t WHERE %s', t.relid::regclass, cond)
                           WHEN act OPERATOR(pg_catalog.=) 'anonymize' AND NULLIF(sets, '') IS NOT NULL
                                THEN pg_catalog.format('UPDATE %s t SET %s WHERE %s', t.relid::regclass, sets, cond)
                           ELSE pg_catalog.format('SELECT 1 FROM %s t WHERE %s', t.relid::regclass, cond) END;
        END IF;
        tables := tables OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
            'relid', t.relid, 'hops', t.hops, 'action', act, 'direct', direct,
            'multi', multi, 'excl', excl, 'sets', NULLIF(sets, ''), 'side', side, 'dynamic', dynamic,
            'types', (SELECT COALESCE(pg_catalog.jsonb_agg(DISTINCT pg_catalog.format_type(a.atttypid, NULL)), '[]')
                        FROM privacy.labels l
                        JOIN pg_catalog.pg_attribute a
                          ON a.attrelid OPERATOR(pg_catalog.=) t.relid AND a.attname OPERATOR(pg_catalog.=) l.column_name
                       WHERE l.relation OPERATOR(pg_catalog.=) t.relid::regclass AND l.subject)));
    END LOOP;

    -- leaf tables' chains need no locating beforehand
    RETURN pg_catalog.jsonb_build_object(
        'recollect', recollect, 'tables', tables,
        'paths', (SELECT COALESCE(pg_catalog.jsonb_agg(e.pa OPERATOR(pg_catalog.||)
                                      pg_catalog.jsonb_build_object('leaf', EXISTS (
                                          SELECT 1 FROM pg_catalog.jsonb_array_elements(tables) tb
                                           WHERE (tb->>'relid') OPERATOR(pg_catalog.=) (e.pa->>'relid') AND (tb->>'direct') IS NOT NULL))
                                      ORDER BY e.i), '[]')
                    FROM pg_catalog.jsonb_array_elements(paths) WITH ORDINALITY e(pa, i)));
END
$$;
COMMENT ON FUNCTION privacy.compile_cancel_plan() IS
    'internal: the cancellation plan for any subject, from the labels and the catalogs: chains with their locating statements, tables in order with their actions and SET lists';
REVOKE ALL ON FUNCTION privacy.compile_cancel_plan() FROM PUBLIC;

CREATE FUNCTION privacy.cancel_plan() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'privacy_cancel_plan'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.cancel_plan() IS
    'the cancellation plan (privacy.compile_cancel_plan), kept per backend until a relation or a label changes';
REVOKE ALL ON FUNCTION privacy.cancel_plan() FROM PUBLIC;

-- the subject's rows of one chain of the plan, locked: the compiled statement
-- when the subject is a value of every subject column of the chain's end, a
-- statement made for this subject when of some, NULL when of none
CREATE FUNCTION privacy.cancel_locate(step jsonb, subject text, fits text[]) RETURNS privacy.cancel_target
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    all_fit boolean;
    any_fit boolean;
    v_path oid[];
    v_parts oid[];
    v_tids pg_catalog.tid[];
BEGIN
    SELECT pg_catalog.bool_and(y OPERATOR(pg_catalog.=) ANY (fits)), pg_catalog.bool_or(y OPERATOR(pg_catalog.=) ANY (fits))
      INTO all_fit, any_fit
      FROM pg_catalog.jsonb_array_elements_text(step->'types') y;
    IF NOT COALESCE(any_fit, false) THEN
        RETURN NULL;
    END IF;
    v_path := (step->>'path')::oid[];
    IF NOT all_fit THEN
        RETURN privacy.cancel_rows((step->>'relid')::oid, (step->>'root')::oid, (step->>'hops')::integer, v_path, subject);
    END IF;
    SELECT l.parts, l.tids INTO v_parts, v_tids FROM privacy.locate_rows(step->>'locate', subject) l;
    IF v_tids IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN ROW((step->>'relid')::oid, (step->>'root')::oid, (step->>'hops')::integer, v_path, v_parts, v_tids)::privacy.cancel_target;
END
$$;
COMMENT ON FUNCTION privacy.cancel_locate(jsonb, text, text[]) IS
    'internal: the subject''s rows of one chain of the cancellation plan, locked FOR UPDATE';
REVOKE ALL ON FUNCTION privacy.cancel_locate(jsonb, text, text[]) FROM PUBLIC;

-- The request register: access, correction, cancellation and consent withdrawal.
CREATE TABLE privacy.request (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text        NOT NULL
                            CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['access', 'correction', 'cancellation', 'withdrawal'])),
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

-- one step of a cancellation: a table's action on the given rows of one
-- partition; how many rows it changed, and how many it cleared only the
-- subject's side of
CREATE FUNCTION privacy.cancel_apply(relid oid, act text, multi boolean, excl text, compiled boolean,
                                     compiled_sets text, compiled_side text, part oid, tids pg_catalog.tid[],
                                     cur privacy.cancel_target[], subject text, direct text)
    RETURNS bigint[]
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n_main bigint := 0;
    n_side bigint := 0;
    stmt text;
    sets text;
    side text;
    sever text[];
    sever_cols name[];
    x record;
BEGIN
        IF direct IS NOT NULL THEN
            -- a leaf table: the statement finds the subject's rows itself
            RETURN ARRAY[privacy.owner_exec(relid, direct, NULL, subject), 0];
        END IF;
        IF act OPERATOR(pg_catalog.=) 'keep until retention' THEN
            n_main := pg_catalog.cardinality(tids);
        ELSIF act OPERATOR(pg_catalog.=) 'delete' THEN
            stmt := pg_catalog.format('DELETE FROM ONLY %s t WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($1)', part::regclass);
            IF multi THEN
                stmt := stmt OPERATOR(pg_catalog.||) ' AND ' OPERATOR(pg_catalog.||) excl;
            END IF;
            n_main := privacy.owner_exec(part, stmt, tids, subject);
        ELSIF compiled THEN
            sets := COALESCE(compiled_sets, '');
        ELSE
            -- sever the foreign keys through which the rows were reached (nullable ones)
            sever := ARRAY[]::text[];
            sever_cols := ARRAY[]::name[];
            FOR x IN
                SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ,
                       pg_catalog.array_agg(DISTINCT u.c) AS tids
                  FROM pg_catalog.unnest(cur) y
                  CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(y.parts), pg_catalog.unnest(y.tids)) AS u(o, c)
                  JOIN pg_catalog.pg_constraint k ON k.oid OPERATOR(pg_catalog.=) y.path[1]
                  JOIN pg_catalog.pg_attribute a
                    ON a.attrelid OPERATOR(pg_catalog.=) k.conrelid AND a.attnum OPERATOR(pg_catalog.=) ANY (k.conkey)
                 WHERE y.relid OPERATOR(pg_catalog.=) cancel_apply.relid AND y.hops OPERATOR(pg_catalog.>) 0
                   AND u.o OPERATOR(pg_catalog.=) cancel_apply.part AND NOT a.attnotnull
                 GROUP BY a.attname, a.atttypid, a.atttypmod
            LOOP
                sever := sever OPERATOR(pg_catalog.||) pg_catalog.format(
                    '%I = CASE WHEN t.ctid OPERATOR(pg_catalog.=) ANY (%L::pg_catalog.tid[]) THEN NULL::%s ELSE t.%I END',
                    x.attname, x.tids, x.typ, x.attname);
                sever_cols := sever_cols OPERATOR(pg_catalog.||) x.attname;
            END LOOP;
            sets := privacy.anonymize_set_list(relid, subject, sever_cols, false);
            sets := pg_catalog.array_to_string(ARRAY[NULLIF(sets, '')] OPERATOR(pg_catalog.||) sever, ', ');
        END IF;
        IF act OPERATOR(pg_catalog.=) 'anonymize' THEN
            IF sets OPERATOR(pg_catalog.<>) '' THEN
                stmt := pg_catalog.format('UPDATE ONLY %s t SET %s WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($1)', part::regclass, sets);
                IF multi THEN
                    stmt := stmt OPERATOR(pg_catalog.||) ' AND ' OPERATOR(pg_catalog.||) excl;
                END IF;
                n_main := privacy.owner_exec(part, stmt, tids, subject);
            ELSE
                n_main := pg_catalog.cardinality(tids);
            END IF;
        END IF;
        IF multi AND act OPERATOR(pg_catalog.<>) 'keep until retention' THEN
            -- rows that are somebody else's too: clear the subject's side only
            side := CASE WHEN compiled THEN COALESCE(compiled_side, '')
                         ELSE privacy.anonymize_set_list(relid, subject, '{}', true) END;
            IF side OPERATOR(pg_catalog.<>) '' THEN
                stmt := pg_catalog.format('UPDATE ONLY %s t SET %s WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($1) AND NOT (%s)',
                                          part::regclass, side, excl);
                n_side := privacy.owner_exec(part, stmt, tids, subject);
            END IF;
        END IF;
    RETURN ARRAY[n_main, n_side];
END
$$;
COMMENT ON FUNCTION privacy.cancel_apply(oid, text, boolean, text, boolean, text, text, oid, pg_catalog.tid[], privacy.cancel_target[], text, text) IS
    'internal: one step of a cancellation, a table''s action on the subject''s rows of one partition, run as the table''s owner';
REVOKE ALL ON FUNCTION privacy.cancel_apply(oid, text, boolean, text, boolean, text, text, oid, pg_catalog.tid[], privacy.cancel_target[], text, text) FROM PUBLIC;

-- what blocked a step, by name only
CREATE FUNCTION privacy.cancel_blocked(e_state text, e_con text, e_schema text, e_table text,
                                       relid oid, act text, part oid, tids pg_catalog.tid[],
                                       OUT blocker pg_catalog.regclass, OUT rows bigint, OUT message text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF e_schema OPERATOR(pg_catalog.<>) '' AND e_table OPERATOR(pg_catalog.<>) '' THEN
        blocker := pg_catalog.to_regclass(pg_catalog.format('%I.%I', e_schema, e_table));
    END IF;
    IF e_state OPERATOR(pg_catalog.=) '23503' AND blocker IS NOT NULL AND part IS NOT NULL THEN
        rows := privacy.referencing_rows(
            (SELECT k.oid FROM pg_catalog.pg_constraint k
              WHERE k.conrelid OPERATOR(pg_catalog.=) blocker AND k.conname OPERATOR(pg_catalog.=) e_con),
            part::pg_catalog.regclass, tids);
        blocker := COALESCE(pg_catalog.pg_partition_root(blocker), blocker);
        message := pg_catalog.format('cancellation is blocked: table %s references the subject''s rows of %s through foreign key "%s"',
                                     blocker, relid::pg_catalog.regclass, e_con);
    ELSE
        rows := pg_catalog.cardinality(tids);
        blocker := COALESCE(pg_catalog.pg_partition_root(blocker), blocker, relid::pg_catalog.regclass);
        message := pg_catalog.format('cancellation is blocked: %s the subject''s rows of %s violates constraint "%s" of %s',
                                     CASE act WHEN 'delete' THEN 'deleting' ELSE 'anonymizing' END,
                                     relid::pg_catalog.regclass, e_con, blocker);
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.cancel_blocked(text, text, text, text, oid, text, oid, pg_catalog.tid[]) IS
    'internal: the table, row count and message (names only, no values) of what blocked a cancellation step';
REVOKE ALL ON FUNCTION privacy.cancel_blocked(text, text, text, text, oid, text, oid, pg_catalog.tid[]) FROM PUBLIC;

-- the work of a cancellation (cancel_subject and run_due_requests)
CREATE FUNCTION privacy.cancel_work(subject text, dry_run boolean, request_id bigint, replay boolean DEFAULT false)
    RETURNS TABLE (relation pg_catalog.regclass, action text, rows bigint, detail text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pseud text;
    done_at timestamptz;
    w record;
    r record;
    p record;
    tg privacy.cancel_target;
    targets privacy.cancel_target[] := '{}'::privacy.cancel_target[];
    cur privacy.cancel_target[];
    out_rel regclass[] := '{}'::regclass[];
    out_act text[] := '{}'::text[];
    out_rows bigint[] := '{}'::bigint[];
    out_detail text[] := '{}'::text[];
    act text;
    multi boolean;
    excl text;
    n_main bigint;
    n_side bigint;
    n_events bigint;
    key_destroyed boolean;
    req bigint := request_id;
    e_state text;
    e_con text;
    e_schema text;
    e_table text;
    plan jsonb;
    typ text;
    fits text[] := '{}'::text[];
    fits_json jsonb;
    cur_part oid;
    cur_tids pg_catalog.tid[];
    counts bigint[];
    in_step boolean := false;
    blocked record;
BEGIN
    IF subject IS NULL THEN
        RAISE EXCEPTION 'subject must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    pseud := privacy.subject_pseudonym(subject);
    -- one cancellation of a subject at a time; different subjects never wait for each other
    PERFORM pg_catalog.pg_advisory_xact_lock(('x' OPERATOR(pg_catalog.||) pg_catalog.substr(pseud, 1, 16))::bit(64)::bigint);
    SELECT c.cancelled_at INTO done_at FROM privacy.cancelled_subject c WHERE c.subject_id OPERATOR(pg_catalog.=) pseud;
    -- (a replay erases again a subject whose tombstone is older than the restored data)
    IF FOUND AND NOT replay THEN
        RETURN QUERY SELECT NULL::regclass, 'already cancelled'::text, 0::bigint,
                            pg_catalog.format('cancelled at %s; nothing was changed', done_at);
        RETURN;
    END IF;
    -- a blocking reference must surface here, where it is reported without the key's value
    SET CONSTRAINTS ALL IMMEDIATE;

    BEGIN
        -- 1. choose and lock the subject's rows: subject tables first, so that
        --    inserts that reference them wait for us
        plan := privacy.cancel_plan();
        FOR typ IN SELECT DISTINCT pg_catalog.jsonb_array_elements_text(ps->'types')
                     FROM pg_catalog.jsonb_array_elements(plan->'paths') ps LOOP
            -- which subject column types the subject is a value of: the
            -- usual ones at a glance, others by trying (the error, which
            -- would name the value, is swallowed)
            IF typ OPERATOR(pg_catalog.=) ANY (ARRAY['text', 'character varying', 'character'])
               OR (typ OPERATOR(pg_catalog.=) 'integer' AND subject OPERATOR(pg_catalog.~) '^-?[0-9]{1,9}$')
               OR (typ OPERATOR(pg_catalog.=) 'bigint' AND subject OPERATOR(pg_catalog.~) '^-?[0-9]{1,18}$')
               OR (typ OPERATOR(pg_catalog.=) 'smallint' AND subject OPERATOR(pg_catalog.~) '^-?[0-9]{1,4}$') THEN
                fits := fits OPERATOR(pg_catalog.||) typ;
            ELSE
                BEGIN
                    EXECUTE pg_catalog.format('SELECT $1::%s', typ) USING subject;
                    fits := fits OPERATOR(pg_catalog.||) typ;
                EXCEPTION WHEN data_exception THEN
                    NULL;
                END;
            END IF;
        END LOOP;
        fits_json := pg_catalog.to_jsonb(fits);
        -- the chains whose end the subject fits entirely, in one statement, in order
        SELECT COALESCE(pg_catalog.array_agg(ROW((e.ps->>'relid')::oid, (e.ps->>'root')::oid, (e.ps->>'hops')::integer,
                                                 (e.ps->>'path')::oid[], l.parts, l.tids)::privacy.cancel_target ORDER BY e.i), '{}')
          INTO targets
          FROM pg_catalog.jsonb_array_elements(plan->'paths') WITH ORDINALITY AS e(ps, i)
         CROSS JOIN LATERAL privacy.locate_rows(e.ps->>'locate', subject) l
         WHERE NOT (e.ps->>'leaf')::boolean AND (e.ps->'types') OPERATOR(pg_catalog.<@) fits_json AND l.tids IS NOT NULL;
        -- the others, made for this subject (rare: it fits some columns only)
        FOR w IN SELECT e.ps AS step FROM pg_catalog.jsonb_array_elements(plan->'paths') WITH ORDINALITY AS e(ps, i)
                  WHERE NOT (e.ps->'types') OPERATOR(pg_catalog.<@) fits_json ORDER BY e.i LOOP
            tg := privacy.cancel_locate(w.step, subject, fits);
            IF tg IS NOT NULL THEN
                targets := targets OPERATOR(pg_catalog.||) tg;
            END IF;
        END LOOP;


        -- 2. act, children before parents
        FOR r IN
            SELECT (ts->>'relid')::oid AS relid, (ts->>'hops')::integer AS hops, ts->>'action' AS action,
                   (ts->>'multi')::boolean AS multi, ts->>'excl' AS excl, ts->>'sets' AS sets, ts->>'side' AS side,
                   -- compiled statements serve when the subject is a value of every subject column
                   NOT (ts->>'dynamic')::boolean
                       AND (SELECT pg_catalog.bool_and(y OPERATOR(pg_catalog.=) ANY (fits))
                              FROM pg_catalog.jsonb_array_elements_text(ts->'types') y) IS NOT false AS compiled,
                   ts->>'direct' AS direct
              FROM pg_catalog.jsonb_array_elements(plan->'tables') WITH ORDINALITY AS e(ts, i)
             WHERE ts->>'direct' IS NOT NULL
                OR (ts->>'relid')::oid OPERATOR(pg_catalog.=) ANY (SELECT y.relid FROM pg_catalog.unnest(targets) y)
             ORDER BY e.i
        LOOP
            -- a leaf table whose only subject column's type the subject is not
            -- a value of holds none of its rows
            CONTINUE WHEN r.direct IS NOT NULL AND NOT r.compiled;
            act := r.action;
            multi := r.multi;
            excl := CASE WHEN NOT multi THEN NULL WHEN r.compiled THEN r.excl
                         ELSE privacy.subject_condition(r.relid, 't', subject, '$2', true) END;
            IF r.direct IS NOT NULL THEN
                -- a leaf table: one statement, in the step below, finds its rows itself
                cur := '{}'::privacy.cancel_target[];
            ELSIF (plan->>'recollect')::boolean THEN
                -- the rows again, as they are now: a foreign key action or a
                -- trigger of an earlier step may have updated some
                cur := '{}'::privacy.cancel_target[];
                FOR w IN SELECT ps AS step FROM pg_catalog.jsonb_array_elements(plan->'paths') ps
                          WHERE (ps->>'relid')::oid OPERATOR(pg_catalog.=) r.relid LOOP
                    tg := privacy.cancel_locate(w.step, subject, fits);
                    IF tg IS NOT NULL THEN
                        cur := cur OPERATOR(pg_catalog.||) tg;
                    END IF;
                END LOOP;
            ELSE
                cur := targets;
            END IF;
            n_main := 0;
            n_side := 0;
            FOR p IN
                SELECT r.relid AS part, NULL::pg_catalog.tid[] AS tids WHERE r.direct IS NOT NULL
                UNION ALL
                (SELECT u.o, pg_catalog.array_agg(DISTINCT u.c)
                   FROM pg_catalog.unnest(cur) y, ROWS FROM (pg_catalog.unnest(y.parts), pg_catalog.unnest(y.tids)) AS u(o, c)
                  WHERE y.relid OPERATOR(pg_catalog.=) r.relid
                  GROUP BY u.o
                  ORDER BY u.o)
            LOOP
                cur_part := p.part;
                cur_tids := p.tids;
                in_step := true;
                IF dry_run THEN
                    -- a blocked step is shown, and the plan goes on
                    BEGIN
                        counts := privacy.cancel_apply(r.relid, act, multi, excl, r.compiled, r.sets, r.side,
                                                       p.part, p.tids, cur, subject, r.direct);
                    EXCEPTION WHEN integrity_constraint_violation THEN
                        GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_con = CONSTRAINT_NAME,
                                                e_schema = SCHEMA_NAME, e_table = TABLE_NAME;
                        SELECT * INTO blocked FROM privacy.cancel_blocked(e_state, e_con, e_schema, e_table,
                                                                        r.relid, act, p.part, p.tids);
                        -- the plan counts the rows the step would have changed
                        n_main := n_main OPERATOR(pg_catalog.+) COALESCE(pg_catalog.cardinality(p.tids), 0);
                        out_rel := out_rel OPERATOR(pg_catalog.||) blocked.blocker;
                        out_act := out_act OPERATOR(pg_catalog.||) 'blocked'::text;
                        out_rows := out_rows OPERATOR(pg_catalog.||) blocked.rows;
                        out_detail := out_detail OPERATOR(pg_catalog.||) blocked.message;
                        in_step := false;
                        CONTINUE;
                    END;
                ELSE
                    -- a blocked step fails the whole cancellation (the handler below)
                    counts := privacy.cancel_apply(r.relid, act, multi, excl, r.compiled, r.sets, r.side,
                                                   p.part, p.tids, cur, subject, r.direct);
                END IF;
                in_step := false;
                n_main := n_main OPERATOR(pg_catalog.+) counts[1];
                n_side := n_side OPERATOR(pg_catalog.+) counts[2];
            END LOOP;
            -- (a leaf table that held none of the subject's rows says nothing)
            IF r.direct IS NULL OR n_main OPERATOR(pg_catalog.>) 0 THEN
                out_rel := out_rel OPERATOR(pg_catalog.||) r.relid::regclass;
                out_act := out_act OPERATOR(pg_catalog.||) CASE act WHEN 'delete' THEN 'deleted' WHEN 'anonymize' THEN 'anonymized'
                                                                     ELSE 'kept until retention' END;
                out_rows := out_rows OPERATOR(pg_catalog.||) n_main;
                out_detail := out_detail OPERATOR(pg_catalog.||) CASE WHEN r.hops OPERATOR(pg_catalog.>) 0 THEN 'through foreign keys' END;
            END IF;
            IF n_side OPERATOR(pg_catalog.>) 0 THEN
                out_rel := out_rel OPERATOR(pg_catalog.||) r.relid::regclass;
                out_act := out_act OPERATOR(pg_catalog.||) 'anonymized'::text;
                out_rows := out_rows OPERATOR(pg_catalog.||) n_side;
                out_detail := out_detail OPERATOR(pg_catalog.||) 'rows shared with another subject: only this subject''s side cleared'::text;
            END IF;
        END LOOP;

        SELECT pg_catalog.count(*) INTO n_events FROM privacy.consent_event e WHERE e.subject OPERATOR(pg_catalog.=) cancel_work.subject;
        IF pg_catalog.cardinality(out_rel) OPERATOR(pg_catalog.=) 0 AND n_events OPERATOR(pg_catalog.=) 0
           AND NOT EXISTS (SELECT 1 FROM privacy.subject_minor m WHERE m.subject OPERATOR(pg_catalog.=) cancel_work.subject) THEN
            -- nothing found, so nothing was changed
            RETURN QUERY SELECT NULL::regclass, 'not found'::text, 0::bigint, 'no labelled table holds the subject; nothing was changed'::text;
            RETURN;
        END IF;

        -- 3. the consent ledger keeps its history under the subject's pseudonym
        UPDATE privacy.consent_event e SET subject = 'cancelled:' OPERATOR(pg_catalog.||) pseud
         WHERE e.subject OPERATOR(pg_catalog.=) cancel_work.subject;
        GET DIAGNOSTICS n_events = ROW_COUNT;
        DELETE FROM privacy.consent c WHERE c.subject OPERATOR(pg_catalog.=) cancel_work.subject;
        DELETE FROM privacy.subject_minor m WHERE m.subject OPERATOR(pg_catalog.=) cancel_work.subject;
        IF n_events OPERATOR(pg_catalog.>) 0 THEN
            out_rel := out_rel OPERATOR(pg_catalog.||) 'privacy.consent_event'::regclass;
            out_act := out_act OPERATOR(pg_catalog.||) 'pseudonymized'::text;
            out_rows := out_rows OPERATOR(pg_catalog.||) n_events;
            out_detail := out_detail OPERATOR(pg_catalog.||) 'consent history kept under the subject''s pseudonym'::text;
        END IF;

        -- 4. the subject's data key, the tombstone, the request and the receipt
        key_destroyed := privacy.shred_subject(subject, false);
        IF req IS NULL THEN
            INSERT INTO privacy.request (kind, subject, subject_id, due_at, status, closed_at)
            VALUES ('cancellation', NULL, pseud, pg_catalog.now(), 'completed', pg_catalog.now())
            RETURNING privacy.request.id INTO req;
            IF replay THEN
                UPDATE privacy.request q SET note = 'replayed after a restore' WHERE q.id OPERATOR(pg_catalog.=) req;
            END IF;
        ELSE
            UPDATE privacy.request q SET status = 'completed', subject = NULL, closed_at = pg_catalog.now(), note = NULL
             WHERE q.id OPERATOR(pg_catalog.=) req;
        END IF;
        INSERT INTO privacy.cancelled_subject AS c (subject_id, request_id) VALUES (pseud, req)
        ON CONFLICT (subject_id) DO NOTHING;
        IF FOUND THEN
            -- and, when the transaction commits, in the journal outside the database
            PERFORM privacy.journal_tombstone(pseud, pg_catalog.now());
        END IF;
        -- rows kept until retention are stored and secured, and shown by no purpose view
        IF 'kept until retention' OPERATOR(pg_catalog.=) ANY (out_act) THEN
            INSERT INTO privacy.restricted_subject (subject, request_id) VALUES (subject, req)
            ON CONFLICT ON CONSTRAINT restricted_subject_pkey DO NOTHING;
        END IF;
        PERFORM privacy.audit_append('cancellation', pg_catalog.format('subject %s', pseud),
            pg_catalog.jsonb_build_object(
                'request', req,
                'tables', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('relation', o.rel::text, 'action', o.act, 'rows', o.n) ORDER BY o.i)
                             FROM ROWS FROM (pg_catalog.unnest(out_rel), pg_catalog.unnest(out_act), pg_catalog.unnest(out_rows)) WITH ORDINALITY AS o(rel, act, n, i)),
                'key_destroyed', key_destroyed,
                'erasure', 'logical: deleted and overwritten values stay in dead tuples until VACUUM, in WAL until it is recycled and in backups until they expire; values encrypted with the subject''s key are unreadable everywhere')
            -- a replay after a restore says so
            OPERATOR(pg_catalog.||) CASE WHEN replay THEN '{"replayed": true}'::jsonb ELSE '{}'::jsonb END);

        IF dry_run THEN
            -- undo everything; the plan stays in the variables
            RAISE EXCEPTION USING ERRCODE = 'PVDRY';
        END IF;
    EXCEPTION
        WHEN SQLSTATE 'PVDRY' THEN
            NULL;
        WHEN integrity_constraint_violation THEN
            GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_con = CONSTRAINT_NAME,
                                    e_schema = SCHEMA_NAME, e_table = TABLE_NAME;
            IF NOT in_step THEN
                RAISE;
            END IF;
            -- the server's message would show key values: names only
            SELECT * INTO blocked FROM privacy.cancel_blocked(e_state, e_con, e_schema, e_table,
                                                            r.relid, act, cur_part, cur_tids);
            RAISE EXCEPTION '%', blocked.message
                USING ERRCODE = e_state,
                      DETAIL = 'Nothing was changed: the whole cancellation was rolled back.',
                      HINT = CASE WHEN e_state OPERATOR(pg_catalog.=) '23503'
                                  THEN 'privacy.cancel_subject(subject, dry_run => true) shows the plan. Label the referencing table with ON CANCEL, give the foreign key ON DELETE CASCADE or SET NULL, or make its columns nullable.'
                                  ELSE 'privacy.cancel_subject(subject, dry_run => true) shows the plan. An anonymized column gets NULL, or privacy.anonymous_value when it is NOT NULL: relax the constraint, make the column nullable, or use ON CANCEL DELETE.' END;
    END;
    RETURN QUERY SELECT * FROM ROWS FROM (pg_catalog.unnest(out_rel), pg_catalog.unnest(out_act), pg_catalog.unnest(out_rows), pg_catalog.unnest(out_detail));
END
$$;
COMMENT ON FUNCTION privacy.cancel_work(text, boolean, bigint, boolean) IS
    'internal: carry out (or, dry_run, plan) the cancellation of a subject for cancel_subject, run_due_requests and (replay, past its tombstone) replay_cancellations';
REVOKE ALL ON FUNCTION privacy.cancel_work(text, boolean, bigint, boolean) FROM PUBLIC;

CREATE FUNCTION privacy.cancel_subject(subject text, dry_run boolean DEFAULT false)
    RETURNS TABLE (relation pg_catalog.regclass, action text, rows bigint, detail text)
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT * FROM privacy.cancel_work(subject, dry_run, NULL) $$;
COMMENT ON FUNCTION privacy.cancel_subject(text, boolean) IS
    'cancel a subject''s account: delete, anonymize or keep (per ON CANCEL) its rows in every labelled table, through foreign keys, shred its data key, pseudonymize its consent history and write a receipt, in one transaction; dry_run shows the same plan and changes nothing';
-- Destroys data: administrators, granted explicitly.
REVOKE ALL ON FUNCTION privacy.cancel_subject(text, boolean) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Tombstones: the journal outside the database, the guard on subject tables,
-- the replay after a restore
-------------------------------------------------------------------------------
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

-- give a table the trigger privacy_cancelled_subject on its SUBJECT columns,
-- change it when they change, drop it when it has none
CREATE FUNCTION privacy.sync_subject_guard(rel pg_catalog.regclass) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    want smallint[];
    have smallint[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                    WHERE c.oid OPERATOR(pg_catalog.=) rel
                      AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])
                      AND NOT c.relispartition) THEN
        RETURN;
    END IF;
    SELECT pg_catalog.array_agg(s.objsubid::smallint ORDER BY s.objsubid) INTO want
      FROM pg_catalog.pg_seclabel s
     CROSS JOIN LATERAL privacy.parse_label(s.label, false) p
     WHERE s.provider OPERATOR(pg_catalog.=) 'privacy'
       AND s.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND s.objoid OPERATOR(pg_catalog.=) rel AND s.objsubid OPERATOR(pg_catalog.>) 0 AND p.subject;
    SELECT (SELECT pg_catalog.array_agg(x ORDER BY x) FROM pg_catalog.unnest(t.tgattr::smallint[]) x) INTO have
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid OPERATOR(pg_catalog.=) rel AND t.tgname OPERATOR(pg_catalog.=) 'privacy_cancelled_subject'
       AND NOT t.tgisinternal AND t.tgparentid OPERATOR(pg_catalog.=) 0;
    IF want IS NOT DISTINCT FROM have THEN
        RETURN;
    END IF;
    IF have IS NOT NULL THEN
        EXECUTE pg_catalog.format('DROP TRIGGER privacy_cancelled_subject ON %s', rel);
    END IF;
    IF want IS NOT NULL THEN
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER privacy_cancelled_subject BEFORE INSERT OR UPDATE OF %s ON %s FOR EACH ROW EXECUTE FUNCTION privacy.refuse_cancelled()',
            (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
               FROM pg_catalog.pg_attribute a
              WHERE a.attrelid OPERATOR(pg_catalog.=) rel AND a.attnum OPERATOR(pg_catalog.=) ANY (want)),
            rel);
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.sync_subject_guard(pg_catalog.regclass) IS
    'internal: keep the trigger privacy_cancelled_subject (privacy.refuse_cancelled) on a table''s SUBJECT columns';
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
        IF cmd.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
           AND cmd.command_tag OPERATOR(pg_catalog.=) 'SECURITY LABEL' THEN
            PERFORM privacy.sync_subject_guard(cmd.objid::pg_catalog.regclass);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.subject_guard_ddl() IS
    'event trigger: a SECURITY LABEL on a table or column keeps the table''s trigger privacy_cancelled_subject in step with its SUBJECT columns (not during a restore, which brings it back as dumped)';
CREATE EVENT TRIGGER privacy_subject_guard ON ddl_command_end
    WHEN TAG IN ('SECURITY LABEL')
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
    subjects text[] := '{}'::text[];
    found text[];
    l record;
    subj text;
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
              WHERE NOT c.subject_id OPERATOR(pg_catalog.=) ANY (j_ids) LOOP
        PERFORM privacy.journal_tombstone(l.subject_id, l.cancelled_at);
        n_written := n_written OPERATOR(pg_catalog.+) 1;
    END LOOP;
    SELECT pg_catalog.count(*) INTO n_tombstones FROM privacy.cancelled_subject;

    -- 3. every table with a SUBJECT column refuses cancelled subjects
    FOR l IN SELECT DISTINCT x.relation FROM privacy.labels x WHERE x.subject AND x.column_name IS NOT NULL LOOP
        PERFORM privacy.sync_subject_guard(l.relation);
    END LOOP;

    -- 4. the cancelled subjects that are back: in a SUBJECT column (by its
    --    output function, as the trigger sees it, never a cast an owner may
    --    have written) or in the consent records, but not those whose rows
    --    are kept until retention
    FOR l IN SELECT x.relation, x.column_name FROM privacy.labels x
               JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) x.relation
              WHERE x.subject AND x.column_name IS NOT NULL AND NOT k.relispartition
              ORDER BY x.relation::text, x.column_name LOOP
        EXECUTE pg_catalog.format(
            'SELECT pg_catalog.array_agg(DISTINCT s.v) FROM (SELECT pg_catalog.format(''%%s'', t.%I) AS v FROM %s t WHERE t.%I IS NOT NULL) s'
            ' JOIN privacy.cancelled_subject c ON c.subject_id OPERATOR(pg_catalog.=) privacy.subject_pseudonym(s.v)',
            l.column_name, l.relation, l.column_name)
        INTO found;
        subjects := subjects OPERATOR(pg_catalog.||) COALESCE(found, '{}');
    END LOOP;
    SELECT pg_catalog.array_agg(DISTINCT s.v) INTO found
      FROM (SELECT e.subject AS v FROM privacy.consent_event e WHERE e.subject NOT LIKE 'cancelled:%'
            UNION SELECT c.subject FROM privacy.consent c
            UNION SELECT m.subject FROM privacy.subject_minor m
            UNION SELECT q.subject FROM privacy.request q
                   WHERE q.status OPERATOR(pg_catalog.=) 'open' AND q.subject IS NOT NULL) s
      JOIN privacy.cancelled_subject c ON c.subject_id OPERATOR(pg_catalog.=) privacy.subject_pseudonym(s.v);
    subjects := subjects OPERATOR(pg_catalog.||) COALESCE(found, '{}');
    -- rows kept until retention by a cancellation of this database's history
    -- are meant to be there
    subjects := ARRAY(SELECT u FROM pg_catalog.unnest(subjects) u
                       WHERE NOT EXISTS (SELECT 1 FROM privacy.restricted_subject r
                                          WHERE r.subject OPERATOR(pg_catalog.=) u));

    -- 5. erase each of them again, closing the open cancellation request the
    --    backup still had, if any
    FOR subj IN SELECT DISTINCT u FROM pg_catalog.unnest(subjects) u ORDER BY 1 LOOP
        pseud := privacy.subject_pseudonym(subj);
        SELECT q.id INTO req FROM privacy.request q
         WHERE q.subject_id OPERATOR(pg_catalog.=) pseud AND q.kind OPERATOR(pg_catalog.=) 'cancellation'
           AND q.status OPERATOR(pg_catalog.=) 'open';
        RETURN QUERY SELECT pseud, w.relation, w.action, w.rows, w.detail
                       FROM privacy.cancel_work(subj, false, req, true) w;
    END LOOP;

    PERFORM privacy.audit_append('replay', 'cancellations',
        pg_catalog.jsonb_build_object('tombstones', n_tombstones, 'restored_from_journal', n_restored,
                                      'written_to_journal', n_written,
                                      'subjects_erased', (SELECT pg_catalog.count(DISTINCT u) FROM pg_catalog.unnest(subjects) u)));
    RAISE NOTICE 'replayed cancellations: % tombstones, % restored from the journal, % written to it, % subjects erased again',
        n_tombstones, n_restored, n_written, (SELECT pg_catalog.count(DISTINCT u) FROM pg_catalog.unnest(subjects) u);
END
$$;
COMMENT ON FUNCTION privacy.replay_cancellations() IS
    'after restoring an older backup: bring back the tombstones of later cancellations from the journal outside the database, and cancel again every cancelled subject found in a labelled table or the consent records; one row per table changed, as cancel_subject';
-- Destroys data: administrators, granted explicitly.
REVOKE ALL ON FUNCTION privacy.replay_cancellations() FROM PUBLIC;

-- The request register's functions
CREATE FUNCTION privacy.register_request(subject text, kind text, note text DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rid bigint;
BEGIN
    IF subject IS NULL OR kind IS NULL THEN
        RAISE EXCEPTION 'subject and kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF kind OPERATOR(pg_catalog.=) 'cancellation' THEN
        RAISE EXCEPTION 'cancellation requests are made with privacy.request_cancellation'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'privacy.request_cancellation(subject, cooling_off) registers the request and schedules the cancellation.';
    END IF;
    IF NOT kind OPERATOR(pg_catalog.=) ANY (ARRAY['access', 'correction', 'withdrawal']) THEN
        RAISE EXCEPTION 'unknown request kind "%"', kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The kinds are access, correction, cancellation and withdrawal.';
    END IF;
    INSERT INTO privacy.request (kind, subject, subject_id, due_at, note)
    VALUES (kind, subject, privacy.subject_pseudonym(subject),
            pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(days => pg_catalog.current_setting('privacy.response_days')::integer),
            note)
    RETURNING privacy.request.id INTO rid;
    PERFORM privacy.audit_append('request', pg_catalog.format('request %s', rid),
        pg_catalog.jsonb_build_object('operation', 'received', 'kind', kind,
                                      'subject', privacy.subject_pseudonym(subject)));
    RETURN rid;
END
$$;
COMMENT ON FUNCTION privacy.register_request(text, text, text) IS
    'register a subject''s request for access (a copy), correction or consent withdrawal, due in privacy.response_days; returns its id';
-- The application's support desk: granted explicitly.
REVOKE ALL ON FUNCTION privacy.register_request(text, text, text) FROM PUBLIC;

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
    SELECT * INTO q FROM privacy.request r WHERE r.id OPERATOR(pg_catalog.=) request_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'request % does not exist', request_id USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT q.kind OPERATOR(pg_catalog.=) ANY (kinds) THEN
        RAISE EXCEPTION 'request % is a % request', request_id, q.kind
            USING ERRCODE = 'wrong_object_type',
                  HINT = CASE WHEN q.kind OPERATOR(pg_catalog.=) 'cancellation'
                              THEN 'A cancellation is completed by carrying it out (privacy.run_due_requests), or revoked with privacy.revoke_cancellation.'
                              ELSE 'privacy.complete_request closes access, correction and withdrawal requests.' END;
    END IF;
    IF q.status OPERATOR(pg_catalog.<>) 'open' THEN
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
     WHERE r.id OPERATOR(pg_catalog.=) q.id;
    PERFORM privacy.audit_append('request', pg_catalog.format('request %s', q.id),
        pg_catalog.jsonb_build_object('operation', 'completed', 'kind', q.kind, 'subject', q.subject_id,
                                      'late', pg_catalog.now() OPERATOR(pg_catalog.>) q.due_at));
END
$$;
COMMENT ON FUNCTION privacy.complete_request(bigint, text) IS
    'close an open access, correction or withdrawal request as answered';
-- As register_request.
REVOKE ALL ON FUNCTION privacy.complete_request(bigint, text) FROM PUBLIC;

CREATE UNIQUE INDEX request_one_open_cancellation ON privacy.request (subject_id)
    WHERE kind OPERATOR(pg_catalog.=) 'cancellation' AND status OPERATOR(pg_catalog.=) 'open';

CREATE FUNCTION privacy.request_cancellation(subject text, cooling_off interval DEFAULT '15 days') RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pseud text;
    rid bigint;
    t timestamptz := pg_catalog.now();
BEGIN
    IF subject IS NULL OR cooling_off IS NULL THEN
        RAISE EXCEPTION 'subject and cooling-off period must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF cooling_off OPERATOR(pg_catalog.<) '0'::interval THEN
        RAISE EXCEPTION 'cooling-off period must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    pseud := privacy.subject_pseudonym(subject);
    IF EXISTS (SELECT 1 FROM privacy.cancelled_subject c WHERE c.subject_id OPERATOR(pg_catalog.=) pseud) THEN
        RAISE EXCEPTION 'the subject''s account is already cancelled' USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    INSERT INTO privacy.request AS r (kind, subject, subject_id, not_before, due_at)
    VALUES ('cancellation', subject, pseud, t OPERATOR(pg_catalog.+) cooling_off,
            GREATEST(t OPERATOR(pg_catalog.+) pg_catalog.make_interval(days => pg_catalog.current_setting('privacy.response_days')::integer),
                                t OPERATOR(pg_catalog.+) cooling_off))
    ON CONFLICT (subject_id) WHERE kind OPERATOR(pg_catalog.=) 'cancellation' AND status OPERATOR(pg_catalog.=) 'open' DO NOTHING
    RETURNING r.id INTO rid;
    IF rid IS NULL THEN
        -- one open cancellation request per subject: that one
        SELECT r.id INTO rid FROM privacy.request r
         WHERE r.subject_id OPERATOR(pg_catalog.=) pseud AND r.kind OPERATOR(pg_catalog.=) 'cancellation'
           AND r.status OPERATOR(pg_catalog.=) 'open';
        RETURN rid;
    END IF;
    PERFORM privacy.audit_append('request', pg_catalog.format('request %s', rid),
        pg_catalog.jsonb_build_object('operation', 'received', 'kind', 'cancellation', 'subject', pseud,
                                      'cooling_off', cooling_off::text));
    RETURN rid;
END
$$;
COMMENT ON FUNCTION privacy.request_cancellation(text, interval) IS
    'register a request to cancel the subject''s account, carried out by privacy.run_due_requests once the cooling-off period is over; returns its id (the open one if the subject already has one)';
-- The application's account code: granted explicitly.
REVOKE ALL ON FUNCTION privacy.request_cancellation(text, interval) FROM PUBLIC;

CREATE FUNCTION privacy.revoke_cancellation(request_id bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q privacy.request := privacy.open_request(request_id, ARRAY['cancellation']);
BEGIN
    UPDATE privacy.request r SET status = 'revoked', subject = NULL, closed_at = pg_catalog.now()
     WHERE r.id OPERATOR(pg_catalog.=) q.id;
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
    SELECT r.id, r.subject, r.subject_id INTO q FROM privacy.request r
     WHERE r.status OPERATOR(pg_catalog.=) 'open' AND r.kind OPERATOR(pg_catalog.=) 'cancellation'
       AND r.not_before OPERATOR(pg_catalog.<=) pg_catalog.now()
       AND NOT r.id OPERATOR(pg_catalog.=) ANY (COALESCE(skip, '{}'))
     ORDER BY r.not_before, r.id
     LIMIT 1
     FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    BEGIN
        SELECT pg_catalog.string_agg(c.action, ', ') INTO outcome
          FROM privacy.cancel_work(q.subject, false, q.id) c WHERE c.relation IS NULL;
        -- already cancelled, or nothing held: the request is answered all the same
        UPDATE privacy.request r SET status = 'completed', subject = NULL, closed_at = pg_catalog.now(), note = outcome
         WHERE r.id OPERATOR(pg_catalog.=) q.id AND r.status OPERATOR(pg_catalog.=) 'open';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        -- our own messages name tables and constraints only; others may quote data
        IF pg_catalog.left(state, 2) OPERATOR(pg_catalog.<>) '23' THEN
            msg := pg_catalog.format('failed with SQLSTATE %s', state);
        END IF;
        UPDATE privacy.request r SET note = msg WHERE r.id OPERATOR(pg_catalog.=) q.id;
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

-- Export (right of access and copy)
CREATE FUNCTION privacy.export_value(value anyelement, category text, subject text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    b bytea;
BEGIN
    IF value IS NOT NULL AND pg_catalog.pg_typeof(value) OPERATOR(pg_catalog.=) 'pg_catalog.bytea'::regtype THEN
        b := value::text::bytea;
        IF pg_catalog.length(b) OPERATOR(pg_catalog.>) 0 AND pg_catalog.get_byte(b, 0) OPERATOR(pg_catalog.=) 3 THEN
            -- the subject's own ciphertext: the copy holds the plain value
            BEGIN
                RETURN pg_catalog.jsonb_build_object('category', category, 'value', privacy.subject_decrypt(subject, b),
                                                     'decrypted', true);
            EXCEPTION WHEN OTHERS THEN
                NULL;
            END;
            BEGIN
                RETURN pg_catalog.jsonb_build_object('category', category,
                                                     'value', pg_catalog.encode(privacy.subject_decrypt_bytea(subject, b), 'base64'),
                                                     'encoding', 'base64', 'decrypted', true);
            EXCEPTION WHEN OTHERS THEN
                NULL;
            END;
        END IF;
        RETURN pg_catalog.jsonb_build_object('category', category, 'value', pg_catalog.encode(b, 'base64'), 'encoding', 'base64');
    END IF;
    RETURN pg_catalog.jsonb_build_object('category', category, 'value', pg_catalog.to_jsonb(value));
END
$$;
COMMENT ON FUNCTION privacy.export_value(anyelement, text, text) IS
    'internal: one exported value with its category; bytea as base64, the subject''s own ciphertexts decrypted';
REVOKE ALL ON FUNCTION privacy.export_value(anyelement, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.export_subject_rows(subject text)
    RETURNS TABLE (relation pg_catalog.regclass, data jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t record;
    w record;
    conds text[];
    cond text;
    cols text[];
    objs text[];
    col record;
    n bigint;
    total bigint := 0;
    tables integer := 0;
    pseud text;
BEGIN
    IF subject IS NULL THEN
        RAISE EXCEPTION 'subject must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    pseud := privacy.subject_pseudonym(subject);
    FOR t IN
        SELECT DISTINCT s.relid FROM privacy.subject_walk() s
         WHERE privacy.cancel_action(s.relid::regclass) IS NOT NULL
         ORDER BY 1
    LOOP
        conds := ARRAY[]::text[];
        FOR w IN SELECT s.root, s.hops, s.path FROM privacy.subject_walk() s WHERE s.relid OPERATOR(pg_catalog.=) t.relid LOOP
            cond := privacy.subject_condition(w.root, CASE WHEN w.hops OPERATOR(pg_catalog.=) 0 THEN 't' ELSE 'a' OPERATOR(pg_catalog.||) w.hops END,
                                              subject, '$1', false);
            IF cond IS NOT NULL THEN
                conds := conds OPERATOR(pg_catalog.||) privacy.path_condition(w.path, cond);
            END IF;
        END LOOP;
        CONTINUE WHEN pg_catalog.cardinality(conds) OPERATOR(pg_catalog.=) 0;
        -- every column, annotated with its category; 40 to a jsonb_build_object
        cols := ARRAY[]::text[];
        objs := ARRAY[]::text[];
        FOR col IN
            SELECT a.attname, l.category
              FROM pg_catalog.pg_attribute a
              LEFT JOIN privacy.labels l
                ON l.relation OPERATOR(pg_catalog.=) t.relid::pg_catalog.regclass AND l.column_name OPERATOR(pg_catalog.=) a.attname
             WHERE a.attrelid OPERATOR(pg_catalog.=) t.relid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
             ORDER BY a.attnum
        LOOP
            cols := cols OPERATOR(pg_catalog.||) pg_catalog.format('%L, privacy.export_value(t.%I, %L, $1)', col.attname, col.attname, col.category);
            IF pg_catalog.cardinality(cols) OPERATOR(pg_catalog.=) 40 THEN
                objs := objs OPERATOR(pg_catalog.||) pg_catalog.format('pg_catalog.jsonb_build_object(%s)', pg_catalog.array_to_string(cols, ', '));
                cols := ARRAY[]::text[];
            END IF;
        END LOOP;
        IF pg_catalog.cardinality(cols) OPERATOR(pg_catalog.>) 0 THEN
            objs := objs OPERATOR(pg_catalog.||) pg_catalog.format('pg_catalog.jsonb_build_object(%s)', pg_catalog.array_to_string(cols, ', '));
        END IF;
        RETURN QUERY EXECUTE pg_catalog.format('SELECT %L::pg_catalog.regclass, %s FROM %s t WHERE %s',
                                               t.relid::pg_catalog.regclass,
                                               pg_catalog.array_to_string(objs, ' OPERATOR(pg_catalog.||) '),
                                               t.relid::pg_catalog.regclass,
                                               pg_catalog.array_to_string(conds, ' OR '))
                     USING subject;
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total OPERATOR(pg_catalog.+) n;
        IF n OPERATOR(pg_catalog.>) 0 THEN
            tables := tables OPERATOR(pg_catalog.+) 1;
        END IF;
    END LOOP;

    -- the consent history and the subject's requests
    RETURN QUERY
        SELECT 'privacy.consent_event'::pg_catalog.regclass,
               pg_catalog.jsonb_build_object('purpose', e.purpose, 'granted', e.granted, 'at', e.at,
                                             'policy_version', e.policy_version, 'by_guardian', e.by_guardian,
                                             'evidence', e.evidence)
          FROM privacy.consent_event e
         WHERE e.subject OPERATOR(pg_catalog.=) export_subject_rows.subject
         ORDER BY e.seq;
    RETURN QUERY
        SELECT 'privacy.request'::pg_catalog.regclass,
               pg_catalog.jsonb_build_object('id', q.id, 'kind', q.kind, 'received_at', q.received_at,
                                             'due_at', q.due_at, 'status', q.status)
          FROM privacy.request q
         WHERE q.subject_id OPERATOR(pg_catalog.=) pseud
         ORDER BY q.id;

    PERFORM privacy.audit_append('export', pg_catalog.format('subject %s', pseud),
        pg_catalog.jsonb_build_object('tables', tables, 'rows', total));
END
$$;
COMMENT ON FUNCTION privacy.export_subject_rows(text) IS
    'everything held about the subject, one row per table row (each column with its value and category; bytea as base64; the subject''s ciphertexts decrypted), then its consent history and requests; for subjects with very many rows';
-- Reads personal data: granted explicitly.
REVOKE ALL ON FUNCTION privacy.export_subject_rows(text) FROM PUBLIC;

CREATE FUNCTION privacy.export_subject(subject text) RETURNS jsonb
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        WITH x AS MATERIALIZED (SELECT r.relation, r.data FROM privacy.export_subject_rows(subject) r)
        SELECT pg_catalog.jsonb_build_object(
                   'exported_at', pg_catalog.now(),
                   'tables', COALESCE((SELECT pg_catalog.jsonb_object_agg(g.relation, g.rows)
                                         FROM (SELECT x.relation::text AS relation,
                                                      pg_catalog.jsonb_agg(x.data ORDER BY x.data::text) AS rows
                                                 FROM x
                                                WHERE x.relation::text OPERATOR(pg_catalog.<>) ALL (ARRAY['privacy.consent_event', 'privacy.request'])
                                                GROUP BY 1) g), '{}'),
                   'consent_history', COALESCE((SELECT pg_catalog.jsonb_agg(x.data) FROM x
                                                 WHERE x.relation OPERATOR(pg_catalog.=) 'privacy.consent_event'::pg_catalog.regclass), '[]'),
                   'requests', COALESCE((SELECT pg_catalog.jsonb_agg(x.data) FROM x
                                          WHERE x.relation OPERATOR(pg_catalog.=) 'privacy.request'::pg_catalog.regclass), '[]'))
    $$;
COMMENT ON FUNCTION privacy.export_subject(text) IS
    'everything held about the subject as one jsonb document: rows of every labelled table by table (values with their categories), consent history and requests; audited';
-- As export_subject_rows.
REVOKE ALL ON FUNCTION privacy.export_subject(text) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Retention: expired rows deleted or anonymized in batches, legal holds
-------------------------------------------------------------------------------
CREATE TABLE privacy.hold (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject      text,
    subject_key  bigint      GENERATED ALWAYS AS
                 (CASE WHEN subject OPERATOR(pg_catalog.~) '^-?[0-9]{1,18}$' THEN subject::bigint END) STORED,
    table_schema name,
    table_name   name,
    until        timestamptz NOT NULL,
    reason       text        NOT NULL,
    placed_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    placed_by    name        NOT NULL DEFAULT SESSION_USER,
    released_at  timestamptz,
    CHECK ((subject IS NULL) OPERATOR(pg_catalog.<>) (table_name IS NULL)),
    CHECK ((table_schema IS NULL) OPERATOR(pg_catalog.=) (table_name IS NULL))
);
CREATE INDEX hold_subject ON privacy.hold (subject_key);
COMMENT ON TABLE privacy.hold IS
    'legal holds: a subject''s rows, or a whole table, that retention must not delete or anonymize until the hold ends or is released';
COMMENT ON SEQUENCE privacy.hold_id_seq IS 'numbers the legal holds';
-- Names subjects: administrators, granted explicitly.
REVOKE ALL ON privacy.hold FROM PUBLIC;

CREATE FUNCTION privacy.place_hold(subject text, until timestamptz, reason text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    hid bigint;
BEGIN
    IF subject IS NULL OR until IS NULL OR reason IS NULL THEN
        RAISE EXCEPTION 'subject, until and reason must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
        RAISE EXCEPTION 'a hold must end in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO privacy.hold (subject, until, reason) VALUES (subject, until, reason)
    RETURNING privacy.hold.id INTO hid;
    PERFORM privacy.audit_append('hold', pg_catalog.format('hold %s', hid),
        pg_catalog.jsonb_build_object('operation', 'place', 'subject', privacy.subject_pseudonym(subject),
                                      'until', until, 'reason', reason));
    RETURN hid;
END
$$;
COMMENT ON FUNCTION privacy.place_hold(text, timestamptz, text) IS
    'place a legal hold on a subject''s rows (in every table, through foreign keys too): retention leaves them until the hold ends; returns its id';
-- Administrators: granted explicitly.
REVOKE ALL ON FUNCTION privacy.place_hold(text, timestamptz, text) FROM PUBLIC;

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
    IF until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
        RAISE EXCEPTION 'a hold must end in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    root := COALESCE(pg_catalog.pg_partition_root(rel), rel);
    INSERT INTO privacy.hold (table_schema, table_name, until, reason)
    SELECT n.nspname, c.relname, until, reason
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE c.oid OPERATOR(pg_catalog.=) root
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
    SELECT * INTO h FROM privacy.hold x WHERE x.id OPERATOR(pg_catalog.=) hold_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'hold % does not exist', hold_id USING ERRCODE = 'undefined_object';
    END IF;
    IF h.released_at IS NOT NULL THEN
        RAISE EXCEPTION 'hold % is already released', hold_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE privacy.hold x SET released_at = pg_catalog.now() WHERE x.id OPERATOR(pg_catalog.=) hold_id;
    PERFORM privacy.audit_append('hold', pg_catalog.format('hold %s', hold_id),
        pg_catalog.jsonb_build_object('operation', 'release'));
END
$$;
COMMENT ON FUNCTION privacy.release_hold(bigint) IS 'end a legal hold before its time';
REVOKE ALL ON FUNCTION privacy.release_hold(bigint) FROM PUBLIC;

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

-- refuses unless the role that called (SET ROLE's, else the session's: inside a
-- SECURITY DEFINER function) is the table's owner or one of its members
CREATE FUNCTION privacy.require_table_owner(rel pg_catalog.regclass) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT pg_catalog.pg_has_role(CASE pg_catalog.current_setting('role') WHEN 'none' THEN SESSION_USER
                                       ELSE pg_catalog.current_setting('role')::name END,
                                  (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) rel),
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
     WHERE a.attrelid OPERATOR(pg_catalog.=) rel AND a.attname OPERATOR(pg_catalog.=) after_column AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', after_column, rel USING ERRCODE = 'undefined_column';
    END IF;
    IF NOT typ OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.date'::regtype, 'pg_catalog.timestamp'::regtype,
                                                  'pg_catalog.timestamptz'::regtype]::oid[]) THEN
        RAISE EXCEPTION 'column "%" is not a date or timestamp', after_column USING ERRCODE = 'datatype_mismatch';
    END IF;
    INSERT INTO privacy.category_retention AS c (table_schema, table_name, after_column)
    SELECT n.nspname, k.relname, after_column
      FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
     WHERE k.oid OPERATOR(pg_catalog.=) COALESCE(pg_catalog.pg_partition_root(rel), rel)
    ON CONFLICT ON CONSTRAINT category_retention_pkey DO UPDATE SET after_column = EXCLUDED.after_column;
    PERFORM privacy.audit_append('retention', pg_catalog.format('table %s', rel),
        pg_catalog.jsonb_build_object('operation', 'enable category retention', 'after', after_column));
    SELECT pg_catalog.count(*)::integer INTO n FROM privacy.retention_rule r
     WHERE r.relation OPERATOR(pg_catalog.=) COALESCE(pg_catalog.pg_partition_root(rel), rel) AND r.from_category;
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
           OPERATOR(pg_catalog.=) COALESCE(pg_catalog.pg_partition_root(rel), rel);
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

-- the SQL of one rule: the SET list (anonymize), the condition that a row
-- still needs it (expired, not yet anonymized, not held), as text on alias t;
-- $1 is the cutoff time
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
    w record;
    ints name[];
    subj name[];
    held text[] := ARRAY[]::text[];
BEGIN
    pending := pg_catalog.format('t.%I OPERATOR(pg_catalog.<) $1', retain_after);
    IF action OPERATOR(pg_catalog.=) 'anonymize' THEN
        FOR c IN
            SELECT a.attname, a.attnotnull, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ, a.atttypid, a.atttypmod, l.category,
                   EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                            WHERE i.indrelid OPERATOR(pg_catalog.=) rel AND i.indisunique
                              AND a.attnum OPERATOR(pg_catalog.=) ANY (i.indkey::smallint[])) AS is_unique,
                   EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                            WHERE k.contype OPERATOR(pg_catalog.=) 'f'
                              AND ((k.conrelid OPERATOR(pg_catalog.=) rel AND a.attnum OPERATOR(pg_catalog.=) ANY (k.conkey))
                                OR (k.confrelid OPERATOR(pg_catalog.=) rel AND a.attnum OPERATOR(pg_catalog.=) ANY (k.confkey)))) AS keyed
              FROM pg_catalog.pg_attribute a
              JOIN privacy.labels l
                ON l.relation OPERATOR(pg_catalog.=) rel AND l.column_name OPERATOR(pg_catalog.=) a.attname
             WHERE a.attrelid OPERATOR(pg_catalog.=) rel AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
               AND a.attgenerated OPERATOR(pg_catalog.=) '' AND a.attidentity OPERATOR(pg_catalog.=) ''
               AND (retention_sql.column_name IS NULL OR a.attname OPERATOR(pg_catalog.=) retention_sql.column_name)
             ORDER BY a.attnum
        LOOP
            IF c.atttypid OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.inet'::regtype, 'pg_catalog.cidr'::regtype]::oid[])
               AND retention_sql.column_name IS NOT NULL THEN
                -- an address column keeps its network: 24 bits of IPv4, 48 of IPv6
                v := pg_catalog.format('privacy.generalize(t.%1$I::inet, CASE pg_catalog.family(t.%1$I) WHEN 4 THEN 24 ELSE 48 END)::%2$s',
                                       c.attname, c.typ);
            ELSIF NOT c.attnotnull THEN
                v := pg_catalog.format('NULL::%s', c.typ);
            ELSIF c.keyed THEN
                CONTINUE;    -- a NOT NULL key: its row keeps it
            ELSIF c.is_unique THEN
                RAISE EXCEPTION 'column %.% is NOT NULL and unique: anonymizing it would give each row a random value, which a later run cannot tell from an original', rel, c.attname
                    USING ERRCODE = 'feature_not_supported',
                          HINT = 'Make the column nullable, or retain the whole row with THEN DELETE.';
            ELSE
                -- the placeholder inline: no function call per row
                v := COALESCE(privacy.placeholder_sql(pg_catalog.format('t.%I', c.attname), c.atttypid::pg_catalog.regtype, c.category, c.atttypmod),
                              pg_catalog.format('privacy.anonymous_value(t.%I, %L)::%s', c.attname, c.category, c.typ));
            END IF;
            assign := assign OPERATOR(pg_catalog.||) pg_catalog.format('%I = %s', c.attname, v);
            differing := differing OPERATOR(pg_catalog.||) pg_catalog.format('t.%I IS DISTINCT FROM %s', c.attname, v);
        END LOOP;
        IF pg_catalog.cardinality(assign) OPERATOR(pg_catalog.=) 0 THEN
            RAISE EXCEPTION 'nothing of % can be anonymized', rel
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Label the columns that hold personal data, or use THEN DELETE.';
        END IF;
        sets := pg_catalog.array_to_string(assign, ', ');
        -- rows already anonymized are done: a later run does not touch them again
        retention_sql.differs := pg_catalog.array_to_string(differing, ' OR ');
        pending := pending OPERATOR(pg_catalog.||) ' AND (' OPERATOR(pg_catalog.||) retention_sql.differs OPERATOR(pg_catalog.||) ')';
    END IF;
    -- rows of a subject under a legal hold are left, through every chain
    FOR w IN SELECT s.root, s.hops, s.path FROM privacy.subject_walk() s WHERE s.relid OPERATOR(pg_catalog.=) rel LOOP
        SELECT pg_catalog.array_agg(l.column_name) FILTER (WHERE a.atttypid OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype]::oid[])),
               pg_catalog.array_agg(l.column_name)
          INTO ints, subj
          FROM privacy.labels l
          JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) w.root AND a.attname OPERATOR(pg_catalog.=) l.column_name
         WHERE l.relation OPERATOR(pg_catalog.=) w.root::regclass AND l.subject;
        held := held OPERATOR(pg_catalog.||) privacy.path_condition(w.path,
                    privacy.listed_condition('privacy.hold', CASE WHEN w.hops OPERATOR(pg_catalog.=) 0 THEN 't' ELSE 'a' OPERATOR(pg_catalog.||) w.hops END,
                                             subj, COALESCE(ints, '{}'),
                                             ' AND r.released_at IS NULL AND r.until OPERATOR(pg_catalog.>) pg_catalog.now()'));
    END LOOP;
    IF pg_catalog.cardinality(held) OPERATOR(pg_catalog.>) 0 THEN
        pending := pending OPERATOR(pg_catalog.||) ' AND NOT (' OPERATOR(pg_catalog.||) pg_catalog.array_to_string(held, ' OR ') OPERATOR(pg_catalog.||) ')';
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.retention_sql(pg_catalog.regclass, name, name, text) IS
    'internal: the SET list, the condition (expired, not yet anonymized, not held) and its not-yet-anonymized part, of one RETAIN clause';
REVOKE ALL ON FUNCTION privacy.retention_sql(pg_catalog.regclass, name, name, text) FROM PUBLIC;

-- whether a table is under a legal hold now
CREATE FUNCTION privacy.table_held(rel pg_catalog.regclass) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT EXISTS (SELECT 1 FROM privacy.hold h
                        WHERE h.table_name IS NOT NULL
                          AND pg_catalog.to_regclass(pg_catalog.format('%I.%I', h.table_schema, h.table_name))
                              OPERATOR(pg_catalog.=) COALESCE(pg_catalog.pg_partition_root(rel), rel)
                          AND h.released_at IS NULL AND h.until OPERATOR(pg_catalog.>) pg_catalog.now())
    $$;
COMMENT ON FUNCTION privacy.table_held(pg_catalog.regclass) IS 'whether a legal hold on the whole table is in force';
REVOKE ALL ON FUNCTION privacy.table_held(pg_catalog.regclass) FROM PUBLIC;

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
    held         boolean     NOT NULL DEFAULT false,
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
    'per run and RETAIN clause: the action, rows and batches done so far (committed with each batch), the longest batch, rows due (dry run), whether a hold kept the table, the error that stopped it, and the statements the batches run';
GRANT SELECT ON privacy.retention_run_table TO PUBLIC;

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
    'every retention run with its status (running, finished, stopped at max_duration, interrupted) and, per RETAIN clause, action, rows, batches, hold and error';
GRANT SELECT ON privacy.retention_log TO PUBLIC;

-- start a run: its log row, its audit entry
CREATE FUNCTION privacy.retention_start(batch_size integer, max_duration interval, dry_run boolean) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rid bigint;
BEGIN
    INSERT INTO privacy.retention_run (batch_size, max_duration, dry_run, backend_start)
    SELECT batch_size, max_duration, dry_run, a.backend_start
      FROM pg_catalog.pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
    RETURNING privacy.retention_run.id INTO rid;
    PERFORM privacy.audit_append('retention', pg_catalog.format('run %s', rid),
        pg_catalog.jsonb_build_object('operation', 'start', 'batch_size', batch_size,
                                      'max_duration', max_duration::text, 'dry_run', dry_run));
    RETURN rid;
END
$$;
COMMENT ON FUNCTION privacy.retention_start(integer, interval, boolean) IS 'internal: log and audit the start of a retention run';
REVOKE ALL ON FUNCTION privacy.retention_start(integer, interval, boolean) FROM PUBLIC;

CREATE FUNCTION privacy.retention_finish(run_id bigint, stopped_early boolean) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE privacy.retention_run r SET ended_at = pg_catalog.clock_timestamp(), stopped_early = retention_finish.stopped_early
     WHERE r.id OPERATOR(pg_catalog.=) run_id;
    PERFORM privacy.audit_append('retention', pg_catalog.format('run %s', run_id),
        pg_catalog.jsonb_build_object('operation', 'finish', 'stopped_early', stopped_early,
            'tables', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                'relation', t.relation, 'column', t.column_name, 'action', t.action,
                                'rows', t.rows, 'batches', t.batches, 'held', t.held, 'failed', t.error IS NOT NULL)
                                ORDER BY t.relation, t.column_name), '[]')
                         FROM privacy.retention_run_table t WHERE t.run_id OPERATOR(pg_catalog.=) retention_finish.run_id)));
END
$$;
COMMENT ON FUNCTION privacy.retention_finish(bigint, boolean) IS 'internal: log and audit the end of a retention run, with what it did per table';
REVOKE ALL ON FUNCTION privacy.retention_finish(bigint, boolean) FROM PUBLIC;

-- one batch of one rule: at most batch_size expired rows, locked with SKIP
-- LOCKED, deleted or anonymized as the table's owner; how many, or -1 when
-- the rule failed (the error is in the log) or is held
CREATE FUNCTION privacy.retention_batch(run_id bigint, rel pg_catalog.regclass, column_name name, retain interval,
                                        retain_after name, action text, batch_size integer, dry_run boolean)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q record;
    p record;
    v_parts oid[];
    v_tids pg_catalog.tid[];
    n bigint := 0;
    cutoff timestamptz := pg_catalog.now() OPERATOR(pg_catalog.-) retain;
    msg text;
    state text;
    mark text;
    new_mark text;
    bound text;
    stmt text;
    lock_timeout_was text := pg_catalog.current_setting('lock_timeout');
BEGIN
    -- a batch need not wait for its WAL to reach disk: a crash loses at most
    -- the last batches, their counts with them, and the next run does them again
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    -- this rule's line in the log, with its statements (made on the first batch)
    SELECT t.sets_sql AS sets, t.pending_sql AS pending, t.differs_sql AS differs, t.watermark INTO q FROM privacy.retention_run_table t
     WHERE t.run_id OPERATOR(pg_catalog.=) retention_batch.run_id AND t.relation OPERATOR(pg_catalog.=) rel::text
       AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
    IF NOT FOUND THEN
        INSERT INTO privacy.retention_run_table (run_id, relation, column_name, action)
        VALUES (run_id, rel::text, column_name, action);
    END IF;
    IF privacy.table_held(rel) THEN
        UPDATE privacy.retention_run_table t SET held = true, updated_at = pg_catalog.clock_timestamp()
         WHERE t.run_id OPERATOR(pg_catalog.=) retention_batch.run_id AND t.relation OPERATOR(pg_catalog.=) rel::text
           AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
        RETURN -1;
    END IF;
    BEGIN
        IF q.pending IS NULL THEN
            SELECT * INTO q FROM privacy.retention_sql(rel, column_name, retain_after, action);
            UPDATE privacy.retention_run_table t SET sets_sql = q.sets, pending_sql = q.pending, differs_sql = q.differs
             WHERE t.run_id OPERATOR(pg_catalog.=) retention_batch.run_id AND t.relation OPERATOR(pg_catalog.=) rel::text
               AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
            SELECT q.sets AS sets, q.pending AS pending, q.differs AS differs, NULL::text AS watermark INTO q;
        END IF;
        IF dry_run THEN
            EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s t WHERE %s', rel, q.pending) INTO n USING cutoff;
            UPDATE privacy.retention_run_table t SET due = n, updated_at = pg_catalog.clock_timestamp()
             WHERE t.run_id OPERATOR(pg_catalog.=) retention_batch.run_id AND t.relation OPERATOR(pg_catalog.=) rel::text
               AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
            RETURN 0;
        END IF;
        -- the oldest expired rows first, by the index on the AFTER column;
        -- rows a live writer holds are left for the next batch or run
        IF NOT EXISTS (SELECT 1 FROM privacy.hold h
                        WHERE h.subject IS NOT NULL AND h.released_at IS NULL AND h.until OPERATOR(pg_catalog.>) pg_catalog.now())
           AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) rel) OPERATOR(pg_catalog.=) 'r' THEN
            -- no subject is held: one statement, as the table's owner, finds
            -- and changes the batch
            -- $2: the cutoff, then where the last batch ended (rows before it are
            -- done, or were skipped and are left for the next run): the index
            -- scan starts there rather than among the dead entries of earlier batches
            stmt := pg_catalog.format(
                     'WITH done AS ('
                     OPERATOR(pg_catalog.||)
                     CASE WHEN action OPERATOR(pg_catalog.=) 'delete'
                          THEN 'DELETE FROM ONLY %1$s t WHERE t.ctid OPERATOR(pg_catalog.=) ANY (ARRAY('
                          ELSE 'UPDATE ONLY %1$s t SET %4$s WHERE t.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(' END
                     OPERATOR(pg_catalog.||)
                     'SELECT t.ctid FROM ONLY %1$s t WHERE t.%2$I OPERATOR(pg_catalog.<) (pg_catalog.split_part($2, ''|'', 1))::timestamptz'
                     ' AND t.%2$I OPERATOR(pg_catalog.>=) COALESCE(NULLIF(pg_catalog.split_part($2, ''|'', 2), ''''), ''-infinity'')::timestamptz%3$s'
                     ' ORDER BY t.%2$I LIMIT %5$s%%s)) RETURNING t.%2$I)'
                     ' SELECT pg_catalog.count(*) OPERATOR(pg_catalog.||) ''|'' OPERATOR(pg_catalog.||) COALESCE(pg_catalog.max(done.%2$I)::timestamptz::text, '''') FROM done',
                     rel, retain_after, COALESCE(' AND (' OPERATOR(pg_catalog.||) q.differs OPERATOR(pg_catalog.||) ')', ''),
                     q.sets, batch_size);
            -- most batches meet no writer: change the rows without locking them
            -- first (one WAL record a row, not two), and give up at once on a row a
            -- writer holds, to take the batch again with SKIP LOCKED
            BEGIN
                PERFORM pg_catalog.set_config('lock_timeout', '50ms', true);
                mark := NULL;
                IF action OPERATOR(pg_catalog.=) 'delete' THEN
                    -- a deletion takes the range from the watermark to the AFTER
                    -- value batch_size rows on (read from the index): each row is
                    -- visited once, by the DELETE's own index scan
                    bound := privacy.owner_exec_value(rel, pg_catalog.format(
                                 'SELECT t.%1$I::timestamptz::text FROM ONLY %2$s t'
                                 ' WHERE t.%1$I OPERATOR(pg_catalog.<) (pg_catalog.split_part($2, ''|'', 1))::timestamptz'
                                 ' AND t.%1$I OPERATOR(pg_catalog.>=) COALESCE(NULLIF(pg_catalog.split_part($2, ''|'', 2), ''''), ''-infinity'')::timestamptz'
                                 ' ORDER BY t.%1$I OFFSET %3$s LIMIT 1', retain_after, rel, batch_size), NULL,
                                 cutoff::text OPERATOR(pg_catalog.||) '|' OPERATOR(pg_catalog.||) COALESCE(q.watermark, ''));
                    -- NULL: fewer rows than a batch are left, all of them go; when
                    -- the range holds nothing (a batch of equal values), rows go as below
                    IF bound IS NULL
                       OR bound::timestamptz OPERATOR(pg_catalog.>) COALESCE(q.watermark, '-infinity')::timestamptz THEN
                        n := privacy.owner_exec(rel, pg_catalog.format(
                                 'DELETE FROM ONLY %2$s t'
                                 ' WHERE t.%1$I OPERATOR(pg_catalog.<) (pg_catalog.split_part($2, ''|'', 1))::timestamptz'
                                 ' AND t.%1$I OPERATOR(pg_catalog.>=) COALESCE(NULLIF(pg_catalog.split_part($2, ''|'', 2), ''''), ''-infinity'')::timestamptz',
                                 retain_after, rel), NULL,
                                 COALESCE(bound, cutoff::text) OPERATOR(pg_catalog.||) '|' OPERATOR(pg_catalog.||) COALESCE(q.watermark, ''));
                        IF n OPERATOR(pg_catalog.>) 0 OR bound IS NULL THEN
                            mark := n::text OPERATOR(pg_catalog.||) '|' OPERATOR(pg_catalog.||) COALESCE(bound, cutoff::text);
                        END IF;
                    END IF;
                END IF;
                IF mark IS NULL THEN
                    mark := privacy.owner_exec_value(rel, pg_catalog.format(stmt, ''), NULL,
                                cutoff::text OPERATOR(pg_catalog.||) '|' OPERATOR(pg_catalog.||) COALESCE(q.watermark, ''));
                END IF;
            EXCEPTION WHEN lock_not_available THEN
                mark := privacy.owner_exec_value(rel, pg_catalog.format(stmt, ' FOR UPDATE OF t SKIP LOCKED'), NULL,
                            cutoff::text OPERATOR(pg_catalog.||) '|' OPERATOR(pg_catalog.||) COALESCE(q.watermark, ''));
            END;
            PERFORM pg_catalog.set_config('lock_timeout', lock_timeout_was, true);
            n := pg_catalog.split_part(mark, '|', 1)::bigint;
            IF pg_catalog.split_part(mark, '|', 2) OPERATOR(pg_catalog.<>) '' THEN
                new_mark := pg_catalog.split_part(mark, '|', 2);
            END IF;
        ELSE
        EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(x.o), pg_catalog.array_agg(x.c) FROM'
                                  ' (SELECT t.tableoid AS o, t.ctid AS c FROM %s t WHERE %s ORDER BY t.%I LIMIT %s'
                                  ' FOR UPDATE OF t SKIP LOCKED) x',
                                  rel, q.pending, retain_after, batch_size)
           INTO v_parts, v_tids USING cutoff;
        IF v_tids IS NOT NULL THEN
            FOR p IN
                SELECT u.o AS part, pg_catalog.array_agg(u.c) AS tids
                  FROM ROWS FROM (pg_catalog.unnest(v_parts), pg_catalog.unnest(v_tids)) AS u(o, c)
                 GROUP BY u.o
            LOOP
                n := n OPERATOR(pg_catalog.+) privacy.owner_exec(p.part,
                         CASE WHEN action OPERATOR(pg_catalog.=) 'delete'
                              THEN pg_catalog.format('DELETE FROM ONLY %s t WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($1)', p.part::regclass)
                              ELSE pg_catalog.format('UPDATE ONLY %s t SET %s WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($1)', p.part::regclass, q.sets) END,
                         p.tids, NULL);
            END LOOP;
        END IF;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        -- the error names tables and constraints; a data value it might quote is cut
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        IF pg_catalog.left(state, 2) OPERATOR(pg_catalog.=) '23' THEN
            msg := pg_catalog.format('%s: constraint %s', state,
                       COALESCE(NULLIF(pg_catalog.substring(msg, 'constraint "([^"]+)"'), ''), 'violated'));
        ELSIF state OPERATOR(pg_catalog.<>) '0A000' THEN
            msg := pg_catalog.format('failed with SQLSTATE %s', state);
        END IF;
        UPDATE privacy.retention_run_table t SET error = msg, updated_at = pg_catalog.clock_timestamp()
         WHERE t.run_id OPERATOR(pg_catalog.=) retention_batch.run_id AND t.relation OPERATOR(pg_catalog.=) rel::text
           AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
        RAISE WARNING 'retention of % stopped: %', rel, msg;
        RETURN -1;
    END;
    UPDATE privacy.retention_run_table t
       SET rows = t.rows OPERATOR(pg_catalog.+) n, batches = t.batches OPERATOR(pg_catalog.+) 1,
           watermark = COALESCE(new_mark, t.watermark),
           -- the batch is its transaction: from its start to now
           longest_batch = GREATEST(t.longest_batch, pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) pg_catalog.now()),
           updated_at = pg_catalog.clock_timestamp()
     WHERE t.run_id OPERATOR(pg_catalog.=) retention_batch.run_id AND t.relation OPERATOR(pg_catalog.=) rel::text
       AND t.column_name IS NOT DISTINCT FROM retention_batch.column_name;
    RETURN n;
END
$$;
COMMENT ON FUNCTION privacy.retention_batch(bigint, pg_catalog.regclass, name, interval, name, text, integer, boolean) IS
    'internal: one batch of one RETAIN clause, its progress logged; -1 when held or failed';
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
    -- one run at a time: a second one says so and leaves
    IF NOT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext('privacy.run_retention')::bigint) THEN
        RAISE NOTICE 'another retention run is in progress; this one does nothing';
        RETURN;
    END IF;
    deadline := pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) max_duration;
    run_id := privacy.retention_start(batch_size, max_duration, dry_run);
    COMMIT;
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
    PERFORM pg_catalog.pg_advisory_unlock(pg_catalog.hashtext('privacy.run_retention')::bigint);
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
                   due bigint, held boolean, problem text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
    q record;
    n bigint;
    msg text;
BEGIN
    FOR r IN SELECT * FROM privacy.retention_rule x ORDER BY x.relation::text, x.column_name NULLS FIRST LOOP
        BEGIN
            SELECT * INTO q FROM privacy.retention_sql(r.relation, r.column_name, r.retain_after, r.action);
            EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s t WHERE %s', r.relation, q.pending)
               INTO n USING pg_catalog.now() OPERATOR(pg_catalog.-) r.retain;
            msg := NULL;
        EXCEPTION WHEN feature_not_supported THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
            n := NULL;
        END;
        RETURN QUERY SELECT r.relation, r.column_name, r.action, r.retain, r.retain_after::name, n,
                            privacy.table_held(r.relation), msg;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.retention_preview() IS
    'what a retention run would do now, per RETAIN clause: rows due (expired, not yet anonymized, not under a subject''s hold), whether a hold keeps the whole table, and what stops the clause; changes nothing';
-- Reads every labelled table: granted explicitly.
REVOKE ALL ON FUNCTION privacy.retention_preview() FROM PUBLIC;

-------------------------------------------------------------------------------
-- Discovery: suggested labels from column names, comments and sampled values
-------------------------------------------------------------------------------
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
                              'xm', '姓名']),
 ('identity.nickname', 0.60, ARRAY['nickname', 'nick_name', 'nicheng', '昵称']),
 ('account.username', 0.60, ARRAY['username', 'user_name', 'login_name', 'loginname', 'yonghuming', '用户名']),
 ('identity.id_number', 0.75, ARRAY['id_card', 'idcard', 'id_no', 'id_number', 'idno', 'national_id', 'ssn', 'sfz',
                                   'sfzh', 'sfzhm', 'shenfenzheng', 'zjhm', '身份证', '证件号']),
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
 ('financial.bank_account', 0.70, ARRAY['bank_card', 'bankcard', 'card_no', 'card_number', 'bank_account', 'yhk',
                                       'yhkh', '银行卡', '卡号']),
 ('financial.income', 0.60, ARRAY['salary', 'income', 'shouru', 'gongzi', '收入', '工资']),
 ('location.precise', 0.60, ARRAY['latitude', 'longitude', 'lat', 'lng', 'lon', 'gps', 'coordinates', 'weidu',
                                 'jingdu', '经度', '纬度', '定位']),
 ('credential.password', 0.80, ARRAY['password', 'passwd', 'pwd', 'mima', '密码']),
 ('credential.token', 0.60, ARRAY['token', 'api_key', 'apikey', 'access_token']),
 ('credential.verification_code', 0.60, ARRAY['verification_code', 'sms_code', 'otp', 'yzm', '验证码']),
 ('biometric.face', 0.60, ARRAY['face_image', 'face_feature', 'renlian', '人脸']),
 ('biometric.fingerprint', 0.70, ARRAY['fingerprint', 'zhiwen', '指纹']),
 ('health.medical', 0.60, ARRAY['diagnosis', 'medical', 'bingli', '病历', '诊断'])
  ) AS r(category, confidence, words)
 CROSS JOIN LATERAL pg_catalog.unnest(r.words) AS w(word);

CREATE FUNCTION privacy.discovery_rule_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
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
    IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NEW.seeded THEN
        RAISE EXCEPTION 'cannot mark discovery rule "%" as shipped with the extension', OLD.word
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN CASE WHEN TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN OLD ELSE NEW END;
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
    RETURNS TABLE (relation pg_catalog.regclass, column_name name, category text, confidence numeric, evidence text)
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH
    tabs AS (
        -- the schema's tables that can be labelled: partitions go with their root
        SELECT c.oid AS relid
          FROM pg_catalog.pg_class c
         WHERE c.relnamespace OPERATOR(pg_catalog.=) $1
           AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])
           AND NOT c.relispartition
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                            WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                              AND d.objid OPERATOR(pg_catalog.=) c.oid
                              AND d.deptype OPERATOR(pg_catalog.=) 'e')
    ),
    cols AS (
        -- their columns without a label, but for those of foreign keys (they
        -- point to the data; the referenced table is the one to label)
        SELECT t.relid, a.attnum, a.attname,
               privacy.discovery_words(a.attname) AS name_words,
               privacy.discovery_words(pg_catalog.col_description(t.relid, a.attnum)) AS comment_words
          FROM tabs t
          JOIN pg_catalog.pg_attribute a
            ON a.attrelid OPERATOR(pg_catalog.=) t.relid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_seclabel s
                            WHERE s.provider OPERATOR(pg_catalog.=) 'privacy'
                              AND s.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                              AND s.objoid OPERATOR(pg_catalog.=) t.relid
                              AND s.objsubid OPERATOR(pg_catalog.=) a.attnum)
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                            WHERE k.conrelid OPERATOR(pg_catalog.=) t.relid
                              AND k.contype OPERATOR(pg_catalog.=) 'f'
                              AND a.attnum OPERATOR(pg_catalog.=) ANY (k.conkey))
    ),
    names AS (
        -- the most confident rule per column and category; a comment counts 0.1 less
        SELECT DISTINCT ON (m.relid, m.attnum, m.category) m.*
          FROM (SELECT c.relid, c.attnum, r.category, r.word,
                       privacy.discovery_match(c.name_words, r.word) AS by_name,
                       CASE WHEN privacy.discovery_match(c.name_words, r.word) THEN r.confidence
                            ELSE r.confidence OPERATOR(pg_catalog.-) 0.1 END AS conf
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
         WHERE $2 OPERATOR(pg_catalog.>) 0
           AND EXISTS (SELECT 1 FROM cols c WHERE c.relid OPERATOR(pg_catalog.=) t.relid)
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
          JOIN privacy.validators() v ON v.name OPERATOR(pg_catalog.=) s.validator
         GROUP BY s.relid, s.column_name, v.category
    ),
    cands AS (
        SELECT c.relid, c.attnum, c.attname, k.category,
               n.conf AS name_conf, n.word, n.by_name, sm.sampled,
               CASE WHEN n.conf IS NULL THEN v.m_alone ELSE v.m_all END AS m,
               CASE WHEN n.conf IS NULL THEN v.st_alone ELSE v.st_all END AS st,
               CASE WHEN n.conf IS NULL THEN v.ev_alone ELSE v.ev_all END AS v_ev,
               EXISTS (SELECT 1 FROM privacy.validators() x
                        WHERE x.category OPERATOR(pg_catalog.=) k.category) AS checkable
          FROM cols c
          JOIN (SELECT n2.relid, n2.attnum, n2.category FROM names n2
                UNION
                SELECT c2.relid, c2.attnum, v2.category
                  FROM vals v2
                  JOIN cols c2 ON c2.relid OPERATOR(pg_catalog.=) v2.relid
                              AND c2.attname OPERATOR(pg_catalog.=) v2.column_name) k
            ON k.relid OPERATOR(pg_catalog.=) c.relid AND k.attnum OPERATOR(pg_catalog.=) c.attnum
          LEFT JOIN names n
            ON n.relid OPERATOR(pg_catalog.=) c.relid AND n.attnum OPERATOR(pg_catalog.=) c.attnum
           AND n.category OPERATOR(pg_catalog.=) k.category
          LEFT JOIN vals v
            ON v.relid OPERATOR(pg_catalog.=) c.relid AND v.column_name OPERATOR(pg_catalog.=) c.attname
           AND v.category OPERATOR(pg_catalog.=) k.category
          LEFT JOIN sampled sm
            ON sm.relid OPERATOR(pg_catalog.=) c.relid AND sm.column_name OPERATOR(pg_catalog.=) c.attname
    ),
    valued AS (
        -- values speak when at least half of those sampled pass; few values speak softly
        SELECT x.*,
               CASE WHEN x.m IS NOT NULL AND x.sampled OPERATOR(pg_catalog.>) 0
                         AND (x.m OPERATOR(pg_catalog.*) 2) OPERATOR(pg_catalog.>=) x.sampled
                    THEN (x.st OPERATOR(pg_catalog.*) x.m) OPERATOR(pg_catalog./) (x.sampled OPERATOR(pg_catalog.+) 2)
               END AS value_conf
          FROM cands x
    ),
    scored AS (
        SELECT y.*,
               CASE WHEN y.value_conf IS NOT NULL
                        THEN 1 OPERATOR(pg_catalog.-) ((1 OPERATOR(pg_catalog.-) COALESCE(y.name_conf, 0))
                                                       OPERATOR(pg_catalog.*) (1 OPERATOR(pg_catalog.-) y.value_conf))
                    -- a name whose values could be checked, and enough of them failed
                    WHEN y.checkable AND y.sampled OPERATOR(pg_catalog.>=) 20
                        THEN y.name_conf OPERATOR(pg_catalog.*) 0.5
                    ELSE y.name_conf
               END AS conf
          FROM valued y
    ),
    best AS (
        SELECT DISTINCT ON (z.relid, z.attnum) z.*
          FROM scored z
         WHERE z.conf IS NOT NULL
         ORDER BY z.relid, z.attnum, z.conf DESC, z.category
    )
    SELECT b.relid::pg_catalog.regclass, b.attname, b.category, pg_catalog.round(b.conf, 2),
           pg_catalog.concat_ws('; ',
               CASE WHEN b.name_conf IS NULL THEN NULL
                    WHEN b.by_name THEN pg_catalog.format('column name matches "%s"', b.word)
                    ELSE pg_catalog.format('comment matches "%s"', b.word) END,
               CASE WHEN b.value_conf IS NOT NULL
                        THEN pg_catalog.format('values: %s of %s sampled', b.v_ev, b.sampled)
                    WHEN b.sampled IS NULL THEN 'values not sampled'
                    WHEN b.sampled OPERATOR(pg_catalog.=) 0 THEN 'no values to sample'
                    WHEN b.checkable
                        THEN pg_catalog.format('values: %s of %s sampled pass the %s validators',
                                               COALESCE(b.m, 0), b.sampled, b.category)
               END)
      FROM best b
     ORDER BY b.relid::pg_catalog.regclass::text, b.attnum
    $$;
COMMENT ON FUNCTION privacy.discovery_suggestions(oid, integer) IS
    'the suggestions of privacy.discover() for the tables of one schema, read as the caller (internal: privacy.discover() checks its arguments)';
GRANT EXECUTE ON FUNCTION privacy.discovery_suggestions(oid, integer) TO PUBLIC;

CREATE FUNCTION privacy.discover(schema name DEFAULT 'public', sample_rows integer DEFAULT 1000)
    RETURNS TABLE (relation pg_catalog.regclass, column_name name, category text, confidence numeric, evidence text)
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
    IF discover.sample_rows OPERATOR(pg_catalog.<) 0 OR discover.sample_rows OPERATOR(pg_catalog.>) 100000 THEN
        RAISE EXCEPTION 'sample_rows must be between 0 and 100000'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'With 0, only column names and comments are read.';
    END IF;
    SELECT n.oid INTO nsp FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) discover.schema;
    IF nsp IS NULL THEN
        RAISE EXCEPTION 'schema "%" does not exist', discover.schema
            USING ERRCODE = 'invalid_schema_name';
    END IF;
    IF discover.schema OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog', 'information_schema', 'privacy', 'pg_toast']::name[])
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
    'suggested labels for the unlabelled columns of a schema''s tables: category, confidence (0 to 1) and evidence (name rule, validators and how many sampled values they accepted); reads names, comments and a bounded sample of values as the caller; never returns a value';
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
    IF min_confidence IS NULL OR min_confidence OPERATOR(pg_catalog.<=) 0 OR min_confidence OPERATOR(pg_catalog.>) 1 THEN
        RAISE EXCEPTION 'min_confidence must be greater than 0 and at most 1'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Read privacy.discover() first; 0.8 keeps suggestions that values confirm.';
    END IF;
    FOR s IN SELECT d.* FROM privacy.discover(apply_suggestions.schema, apply_suggestions.sample_rows) d
              WHERE d.confidence OPERATOR(pg_catalog.>=) min_confidence
    LOOP
        relation := s.relation;
        column_name := s.column_name;
        label := 'CATEGORY ' OPERATOR(pg_catalog.||) s.category;
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

CREATE FUNCTION privacy.key_storage_problems()
    RETURNS TABLE (setting text, problem text, hint text)
    AS 'MODULE_PATHNAME', 'privacy_key_storage_problems'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION privacy.key_storage_problems() IS
    'what is wrong with the master key file and the subject key directory (unset, missing, wrong owner, open to other users, wrong size, inside the data directory); reads metadata only and names no path';
GRANT EXECUTE ON FUNCTION privacy.key_storage_problems() TO PUBLIC;

-------------------------------------------------------------------------------
-- k-anonymity: the k of a table over its quasi-identifiers, and the
-- generalization levels that reach a target k
-------------------------------------------------------------------------------
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

-- one level of a column's generalization hierarchy: the SQL expression over
-- expr, and its name; NULL beyond the top (the top suppresses the column).
-- Each level coarsens the one below it, so a level that reaches k keeps it above.
CREATE FUNCTION privacy.generalization(expr text, typ pg_catalog.regtype, level integer,
                                       OUT sql text, OUT label text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t text := privacy.generalization_kind(typ);
BEGIN
    IF expr IS NULL OR t IS NULL OR level IS NULL OR level OPERATOR(pg_catalog.<) 0 THEN
        RETURN;
    END IF;
    IF level OPERATOR(pg_catalog.=) 0 THEN
        sql := expr;
        label := 'exact';
    ELSIF t OPERATOR(pg_catalog.=) 'date' AND level OPERATOR(pg_catalog.<=) 3 THEN
        label := (ARRAY['month', 'year', 'decade'])[level];
        sql := pg_catalog.format('pg_catalog.date_trunc(%L, (%s)::pg_catalog.timestamp)', label, expr);
    ELSIF t OPERATOR(pg_catalog.=) 'timestamp' AND level OPERATOR(pg_catalog.<=) 4 THEN
        label := (ARRAY['day', 'month', 'year', 'decade'])[level];
        sql := pg_catalog.format('pg_catalog.date_trunc(%L, (%s)::pg_catalog.timestamp)', label, expr);
    ELSIF t OPERATOR(pg_catalog.=) 'number' AND level OPERATOR(pg_catalog.<=) 4 THEN
        -- bands of 5, 10, 50, 100: each a union of bands of the level below
        label := pg_catalog.format('band of %s', (ARRAY[5, 10, 50, 100])[level]);
        sql := pg_catalog.format('(pg_catalog.floor((%s)::pg_catalog.numeric OPERATOR(pg_catalog./) %s) OPERATOR(pg_catalog.*) %2$s)',
                                 expr, (ARRAY[5, 10, 50, 100])[level]);
    ELSIF t OPERATOR(pg_catalog.=) 'inet' AND level OPERATOR(pg_catalog.<=) 3 THEN
        label := pg_catalog.format('network /%s (IPv6 /%s)', (ARRAY[24, 16, 8])[level], (ARRAY[64, 48, 32])[level]);
        sql := pg_catalog.format('pg_catalog.network(pg_catalog.set_masklen((%1$s)::pg_catalog.inet, CASE pg_catalog.family(%1$s) WHEN 4 THEN %2$s ELSE %3$s END))',
                                 expr, (ARRAY[24, 16, 8])[level], (ARRAY[64, 48, 32])[level]);
    ELSIF t OPERATOR(pg_catalog.=) 'text' AND level OPERATOR(pg_catalog.<=) 5 THEN
        -- the last characters dropped: postal codes, ID prefixes, addresses by region
        label := pg_catalog.format('last %s character%s dropped', level, CASE WHEN level OPERATOR(pg_catalog.>) 1 THEN 's' ELSE '' END);
        sql := pg_catalog.format('pg_catalog.left((%s)::pg_catalog.text, -%s)', expr, level);
    ELSIF level OPERATOR(pg_catalog.=) privacy.generalization_top(typ) THEN
        label := 'suppressed';
        sql := 'NULL::pg_catalog.text';
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.generalization(text, pg_catalog.regtype, integer) IS
    'one level of a column type''s generalization hierarchy: the SQL expression over expr and its name (dates: month, year, decade; timestamps: day, month, year, decade; numbers: bands of 5, 10, 50, 100; inet: /24, /16, /8 (IPv6 /64, /48, /32); text: 1 to 5 last characters dropped; any type: suppressed at the top); NULL beyond the top';
GRANT EXECUTE ON FUNCTION privacy.generalization(text, pg_catalog.regtype, integer) TO PUBLIC;

CREATE FUNCTION privacy.k_anonymity(rel pg_catalog.regclass, quasi_identifiers name[]) RETURNS bigint
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k bigint;
BEGIN
    PERFORM privacy.quasi_identifier_types(rel, quasi_identifiers);
    EXECUTE pg_catalog.format('SELECT pg_catalog.min(g.n) FROM (SELECT pg_catalog.count(*) AS n FROM %s t GROUP BY %s) g',
                              rel, (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', q), ', ')
                                      FROM pg_catalog.unnest(quasi_identifiers) q))
       INTO k;
    RETURN k;
END
$$;
COMMENT ON FUNCTION privacy.k_anonymity(pg_catalog.regclass, name[]) IS
    'the k of a table or view over its quasi-identifiers: the size of the smallest group of rows that share their values (NULLs count as one value); NULL for no rows; read as the caller';
GRANT EXECUTE ON FUNCTION privacy.k_anonymity(pg_catalog.regclass, name[]) TO PUBLIC;

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
    IF rel IS NULL OR quasi_identifiers IS NULL OR pg_catalog.cardinality(quasi_identifiers) OPERATOR(pg_catalog.=) 0
       OR pg_catalog.array_position(quasi_identifiers, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'a relation and at least one quasi-identifier column are needed, and no NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF (SELECT pg_catalog.count(DISTINCT x) FROM pg_catalog.unnest(quasi_identifiers) x)
       OPERATOR(pg_catalog.<>) pg_catalog.cardinality(quasi_identifiers) THEN
        RAISE EXCEPTION 'a quasi-identifier is named twice'
            USING ERRCODE = 'duplicate_column';
    END IF;
    FOREACH q IN ARRAY quasi_identifiers LOOP
        SELECT a.atttypid::pg_catalog.regtype INTO t FROM pg_catalog.pg_attribute a
         WHERE a.attrelid OPERATOR(pg_catalog.=) rel AND a.attname OPERATOR(pg_catalog.=) q
           AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'column "%" of relation % does not exist', q, rel
                USING ERRCODE = 'undefined_column';
        END IF;
        types := types OPERATOR(pg_catalog.||) t;
    END LOOP;
    RETURN types;
END
$$;
COMMENT ON FUNCTION privacy.quasi_identifier_types(pg_catalog.regclass, name[]) IS
    'the types of the named quasi-identifier columns, in order; errors for a missing, repeated or NULL name (internal, used by k_anonymity and generalize_until)';
GRANT EXECUTE ON FUNCTION privacy.quasi_identifier_types(pg_catalog.regclass, name[]) TO PUBLIC;

CREATE FUNCTION privacy.generalize_until(rel pg_catalog.regclass, quasi_identifiers name[], k integer)
    RETURNS TABLE (levels integer[], generalizations text[], k_reached bigint, loss integer)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    types pg_catalog.regtype[];
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
    IF k IS NULL OR k OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'k must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    n := pg_catalog.cardinality(types);
    SELECT pg_catalog.array_agg(privacy.generalization_top(t) ORDER BY o) INTO tops
      FROM pg_catalog.unnest(types) WITH ORDINALITY u(t, o);
    FOR i IN 1 .. n LOOP
        nodes := nodes OPERATOR(pg_catalog.*) (tops[i] OPERATOR(pg_catalog.+) 1);
    END LOOP;
    IF nodes OPERATOR(pg_catalog.>) 10000 THEN
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
            g := privacy.generalization(pg_catalog.format('t.%I', quasi_identifiers[i]), types[i], cur[i]);
            exprs := exprs OPERATOR(pg_catalog.||) g.sql;
            names := names OPERATOR(pg_catalog.||) pg_catalog.format('%s: %s', quasi_identifiers[i], g.label);
        END LOOP;
        -- a combination above one that reaches k reaches it too: skip the query
        dominated := false;
        FOR j IN 1 .. COALESCE(pg_catalog.array_length(found_k, 1), 0) LOOP
            IF (SELECT pg_catalog.bool_and(found_levels[j][x] OPERATOR(pg_catalog.<=) cur[x]) FROM pg_catalog.generate_series(1, n) x) THEN
                dominated := true;
                EXIT;
            END IF;
        END LOOP;
        IF NOT dominated THEN
            EXECUTE pg_catalog.format('SELECT pg_catalog.min(g.n) FROM (SELECT pg_catalog.count(*) AS n FROM %s t GROUP BY %s) g',
                                      rel, pg_catalog.array_to_string(exprs, ', '))
               INTO reached;
            IF reached OPERATOR(pg_catalog.>=) k THEN
                found_levels := found_levels OPERATOR(pg_catalog.||) ARRAY[cur];
                found_k := found_k OPERATOR(pg_catalog.||) reached;
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
            EXIT WHEN i OPERATOR(pg_catalog.>) n;
            IF cur[i] OPERATOR(pg_catalog.<) tops[i] THEN
                cur[i] := cur[i] OPERATOR(pg_catalog.+) 1;
                EXIT;
            END IF;
            cur[i] := 0;
            i := i OPERATOR(pg_catalog.+) 1;
        END LOOP;
        EXIT WHEN i OPERATOR(pg_catalog.>) n;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.generalize_until(pg_catalog.regclass, name[], integer) IS
    'the minimal combinations of generalization levels (privacy.generalization) of the quasi-identifiers that make the table k-anonymous: levels, their names, the k reached and the loss (sum of levels); read as the caller';
GRANT EXECUTE ON FUNCTION privacy.generalize_until(pg_catalog.regclass, name[], integer) TO PUBLIC;

-------------------------------------------------------------------------------
-- Static anonymization: anonymize_table and anonymize_database rewrite every
-- labelled column of whole tables, in batches that commit
-------------------------------------------------------------------------------
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
     WHERE k.relkind OPERATOR(pg_catalog.=) 'r'
       AND (k.oid OPERATOR(pg_catalog.=) rel
            OR k.oid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT t.relid FROM pg_catalog.pg_partition_tree(rel) t)))
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
    SELECT CASE WHEN y.typtype OPERATOR(pg_catalog.=) 'd' THEN y.typbasetype ELSE y.oid END INTO b
      FROM pg_catalog.pg_type y WHERE y.oid OPERATOR(pg_catalog.=) typ;
    IF b OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.bpchar'::pg_catalog.regtype]::oid[])
       AND typmod OPERATOR(pg_catalog.>) 4 THEN
        maxlen := typmod OPERATOR(pg_catalog.-) 4;
    END IF;
    injective := false;
    IF method OPERATOR(pg_catalog.=) 'null' THEN
        sql := pg_catalog.format('NULL::%s', t);
    ELSIF method OPERATOR(pg_catalog.=) 'placeholder' THEN
        sql := privacy.placeholder_sql(expr, typ, category, typmod);
        IF sql IS NULL THEN
            RAISE EXCEPTION 'ANONYMIZE WITH PLACEHOLDER has no placeholder for type %', t
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Label the column ANONYMIZE WITH NULL (when it is nullable) or another method.';
        END IF;
    ELSIF method OPERATOR(pg_catalog.~) '^generalize ' THEN
        sql := pg_catalog.format('(%s)::%s', (privacy.generalization(expr, typ, pg_catalog.substr(method, 12)::integer)).sql, t);
    ELSIF b OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
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
    ELSIF method OPERATOR(pg_catalog.=) 'ff1' THEN
        -- the digits encrypted in place: same length, same format
        sql := pg_catalog.format('privacy.fpe_encrypt((%s)::pg_catalog.text, %L)::%s', expr, key, t);
        injective := true;
    ELSIF b OPERATOR(pg_catalog.=) 'pg_catalog.uuid'::pg_catalog.regtype THEN
        sql := pg_catalog.format('pg_catalog.left(privacy.pseudonym((%s)::pg_catalog.text, %L), 32)::pg_catalog.uuid::%s', expr, key, t);
        injective := true;
        bits := 128;
    ELSIF b OPERATOR(pg_catalog.=) 'pg_catalog.bytea'::pg_catalog.regtype THEN
        sql := pg_catalog.format('privacy.pseudonym((%s)::pg_catalog.bytea, %L)::%s', expr, key, t);
        injective := true;
        bits := 256;
    ELSIF category OPERATOR(pg_catalog.~) '^contact\.email' AND COALESCE(maxlen, 51) OPERATOR(pg_catalog.>=) 27 THEN
        -- an e-mail address stays one: hex@anonymized.invalid
        hexlen := LEAST(32, COALESCE(maxlen, 51) OPERATOR(pg_catalog.-) 19);
        sql := pg_catalog.format('(pg_catalog.left(privacy.pseudonym((%s)::pg_catalog.text, %L), %s) OPERATOR(pg_catalog.||) ''@anonymized.invalid'')::%s',
                                 expr, key, hexlen, t);
        injective := true;
        bits := 4 OPERATOR(pg_catalog.*) hexlen;
    ELSE
        hexlen := LEAST(64, COALESCE(maxlen, 64));
        sql := pg_catalog.format('pg_catalog.left(privacy.pseudonym((%s)::pg_catalog.text, %L), %s)::%s', expr, key, hexlen, t);
        injective := true;
        bits := 4 OPERATOR(pg_catalog.*) hexlen;
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
                WHEN x OPERATOR(pg_catalog.<) 1e-6 THEN x
                ELSE 1 OPERATOR(pg_catalog.-) pg_catalog.exp(OPERATOR(pg_catalog.-) x) END
      FROM (SELECT n OPERATOR(pg_catalog.*) GREATEST(n OPERATOR(pg_catalog.-) 1, 0) OPERATOR(pg_catalog./) 2
                   OPERATOR(pg_catalog./) pg_catalog.power(2::double precision, bits) AS x) s
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
                    WHERE i.indrelid OPERATOR(pg_catalog.=) root AND i.indisunique
                      AND a.attnum OPERATOR(pg_catalog.=) ANY (i.indkey::smallint[])) AS uniq,
           EXISTS (SELECT 1 FROM pg_catalog.pg_constraint f
                    WHERE f.contype OPERATOR(pg_catalog.=) 'f'
                      AND ((f.conrelid OPERATOR(pg_catalog.=) root AND a.attnum OPERATOR(pg_catalog.=) ANY (f.conkey))
                        OR (f.confrelid OPERATOR(pg_catalog.=) root AND a.attnum OPERATOR(pg_catalog.=) ANY (f.confkey)))) AS in_fk
      INTO c
      FROM pg_catalog.pg_attribute a
      JOIN privacy.labels l
        ON l.relation OPERATOR(pg_catalog.=) root::pg_catalog.regclass AND l.column_name OPERATOR(pg_catalog.=) a.attname
      LEFT JOIN privacy.category k ON k.name OPERATOR(pg_catalog.=) l.category
     WHERE a.attrelid OPERATOR(pg_catalog.=) root AND a.attname OPERATOR(pg_catalog.=) anonymize_choice.attname
       AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
    is_unique := c.uniq;
    IF NOT FOUND OR c.attgenerated OPERATOR(pg_catalog.<>) '' OR c.attidentity OPERATOR(pg_catalog.<>) '' THEN
        RETURN;
    END IF;
    IF c.by_label IS NOT NULL THEN
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
    SELECT k.relkind INTO kind FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) rel;
    IF kind IS NULL OR NOT kind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[]) THEN
        RAISE EXCEPTION '% is not a table', rel USING ERRCODE = 'wrong_object_type';
    END IF;
    root := COALESCE(pg_catalog.pg_partition_root(rel), rel);
    -- rows, for the collision risk: the planner's estimate, else a count
    SELECT pg_catalog.sum(GREATEST(k.reltuples, 0))::double precision INTO n
      FROM privacy.leaf_tables(rel) p JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) p;
    IF COALESCE(n, 0) OPERATOR(pg_catalog.=) 0 THEN
        EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s', rel) INTO n;
    END IF;

    FOR c IN
        SELECT a.attnum, a.attname, a.atttypid::pg_catalog.regtype AS typ, a.atttypmod, a.attnotnull,
               a.attgenerated, a.attidentity, l.category,
               (SELECT f.conname FROM pg_catalog.pg_constraint f
                 WHERE f.confrelid OPERATOR(pg_catalog.=) root AND f.contype OPERATOR(pg_catalog.=) 'f'
                   AND a.attnum OPERATOR(pg_catalog.=) ANY (f.confkey)
                 ORDER BY f.conname LIMIT 1) AS referenced_by
          FROM pg_catalog.pg_attribute a
          JOIN privacy.labels l
            ON l.relation OPERATOR(pg_catalog.=) root::pg_catalog.regclass AND l.column_name OPERATOR(pg_catalog.=) a.attname
         WHERE a.attrelid OPERATOR(pg_catalog.=) root AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
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
        IF c.attgenerated OPERATOR(pg_catalog.<>) '' THEN
            note := 'generated column: left alone';
            RETURN NEXT;
            CONTINUE;
        ELSIF c.attidentity OPERATOR(pg_catalog.<>) '' THEN
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
            ON pa.attrelid OPERATOR(pg_catalog.=) f.confrelid AND pa.attnum OPERATOR(pg_catalog.=) k.parent_att
         WHERE f.conrelid OPERATOR(pg_catalog.=) root AND f.contype OPERATOR(pg_catalog.=) 'f'
           AND k.child_att OPERATOR(pg_catalog.=) c.attnum
         ORDER BY f.conname LIMIT 1;
        IF FOUND THEN
            SELECT * INTO pc FROM privacy.anonymize_choice(fk.parent, fk.parent_column);
            joins := pg_catalog.format('%s.%I', fk.parent, fk.parent_column);
            IF fk.parent OPERATOR(pg_catalog.=) root::pg_catalog.regclass THEN
                RAISE EXCEPTION 'column %.% references its own table (foreign key %)', rel, c.attname, fk.conname
                    USING ERRCODE = 'feature_not_supported',
                          DETAIL = 'anonymize_table does not rewrite a self-referencing key.';
            ELSIF method OPERATOR(pg_catalog.=) 'null' AND NOT c.attnotnull THEN
                NULL;   -- emptied here; the foreign key holds
            ELSIF pc.method OPERATOR(pg_catalog.=) ANY (ARRAY['pseudonym', 'ff1']) THEN
                IF ch.chosen_by OPERATOR(pg_catalog.=) 'label' AND method OPERATOR(pg_catalog.<>) pc.method THEN
                    RAISE EXCEPTION 'column %.% is labelled ANONYMIZE WITH %, but it joins %, which is rewritten with %',
                                    rel, c.attname, pg_catalog.upper(method), joins, pg_catalog.upper(pc.method)
                        USING ERRCODE = 'invalid_object_definition',
                              HINT = 'A foreign key column takes the method of the key it references, or NULL.';
                END IF;
                method := pc.method;
                chosen_by := 'foreign key ' OPERATOR(pg_catalog.||) fk.conname;
                note := pg_catalog.format('rewritten with %s by anonymize_table(%s), with the same key', joins, fk.parent);
                RETURN NEXT;
                CONTINUE;
            ELSIF ch.chosen_by OPERATOR(pg_catalog.=) 'label' THEN
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

        -- what the constraints allow
        IF method OPERATOR(pg_catalog.=) 'null' AND c.attnotnull THEN
            RAISE EXCEPTION 'column %.% is NOT NULL: ANONYMIZE WITH NULL cannot rewrite it', rel, c.attname
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Label it ANONYMIZE WITH PLACEHOLDER, or drop the NOT NULL constraint.';
        ELSIF (method OPERATOR(pg_catalog.=) 'placeholder' OR method OPERATOR(pg_catalog.~) '^generalize ') AND ch.is_unique THEN
            RAISE EXCEPTION 'column %.% is unique: ANONYMIZE WITH % would make its values equal', rel, c.attname, pg_catalog.upper(method)
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Label it ANONYMIZE WITH PSEUDONYM or FF1, which keep distinct values distinct.';
        ELSIF NOT method OPERATOR(pg_catalog.=) ANY (ARRAY['pseudonym', 'ff1']) AND c.referenced_by IS NOT NULL THEN
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
         WHERE f.confrelid OPERATOR(pg_catalog.=) root AND f.contype OPERATOR(pg_catalog.=) 'f'
           AND f.conparentid OPERATOR(pg_catalog.=) 0 AND f.conrelid OPERATOR(pg_catalog.<>) root
         ORDER BY f.conrelid::pg_catalog.regclass::text, f.conname
    LOOP
        FOR c IN
            SELECT ca.attname AS child_column, ca.atttypid::pg_catalog.regtype AS child_typ, ca.atttypmod AS child_typmod,
                   pa.attname AS parent_column, pa.atttypid::pg_catalog.regtype AS typ, pa.atttypmod, l.category,
                   EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                            WHERE i.indrelid OPERATOR(pg_catalog.=) con.child AND i.indisunique
                              AND ca.attnum OPERATOR(pg_catalog.=) ANY (i.indkey::smallint[])) AS uniq
              FROM ROWS FROM (pg_catalog.unnest(con.conkey), pg_catalog.unnest(con.confkey)) AS k(child_att, parent_att)
              JOIN pg_catalog.pg_attribute ca
                ON ca.attrelid OPERATOR(pg_catalog.=) con.child AND ca.attnum OPERATOR(pg_catalog.=) k.child_att
              JOIN pg_catalog.pg_attribute pa
                ON pa.attrelid OPERATOR(pg_catalog.=) root AND pa.attnum OPERATOR(pg_catalog.=) k.parent_att
              LEFT JOIN privacy.labels l
                ON l.relation OPERATOR(pg_catalog.=) root::pg_catalog.regclass AND l.column_name OPERATOR(pg_catalog.=) pa.attname
        LOOP
            SELECT * INTO ch FROM privacy.anonymize_choice(root, c.parent_column);
            CONTINUE WHEN ch.method IS NULL OR NOT ch.method OPERATOR(pg_catalog.=) ANY (ARRAY['pseudonym', 'ff1']);
            SELECT * INTO e FROM privacy.anonymize_sql(pg_catalog.format('c.%I', c.child_column), c.typ, c.atttypmod,
                                                          ch.method, c.category, key);
            relation := con.child;
            column_name := c.child_column;
            category := c.category;
            method := ch.method;
            chosen_by := 'foreign key ' OPERATOR(pg_catalog.||) con.conname;
            is_unique := c.uniq;
            collision_risk := privacy.collision_risk(n, e.bits);
            expression := pg_catalog.format('(%s)::%s', e.sql, pg_catalog.format_type(c.child_typ, c.child_typmod));
            joins := pg_catalog.format('%s.%I', root::pg_catalog.regclass, c.parent_column);
            note := 'rewritten in the same transaction as the rows it joins';
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION privacy.anonymization_plan(pg_catalog.regclass, text) IS
    'what privacy.anonymize_table would do: each labelled column''s method (null, placeholder, pseudonym, ff1, generalize <level>), what chose it, uniqueness, collision risk, SQL; and the columns of other tables rewritten with a key they join; raises for what cannot be done';
GRANT EXECUTE ON FUNCTION privacy.anonymization_plan(pg_catalog.regclass, text) TO PUBLIC;

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
     WHERE p.relation OPERATOR(pg_catalog.=) rel AND p.expression IS NOT NULL;
    -- other tables' rows that join the batch's keys: one UPDATE per table
    -- (a row is updated once per statement), each column rewritten where its
    -- foreign key joins a row of the batch
    FOR l IN
        WITH p AS (
            SELECT q.relation, q.chosen_by, q.column_name, q.expression,
                   (pg_catalog.parse_ident(q.joins))[pg_catalog.cardinality(pg_catalog.parse_ident(q.joins))] AS parent_col
              FROM pg_catalog.jsonb_to_recordset(plan) AS q(relation pg_catalog.regclass, column_name name, chosen_by text, expression text, joins text)
             WHERE q.relation OPERATOR(pg_catalog.<>) rel),
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
          FROM fk JOIN p ON p.relation OPERATOR(pg_catalog.=) fk.relation AND p.chosen_by OPERATOR(pg_catalog.=) fk.chosen_by
         GROUP BY fk.relation
         ORDER BY fk.relation::text
    LOOP
        i := i OPERATOR(pg_catalog.+) 1;
        links := links OPERATOR(pg_catalog.||) pg_catalog.format(', l%s AS (UPDATE %s c SET %s WHERE %s)', i, l.relation, l.sets, l.cond);
    END LOOP;
    refs := ARRAY(SELECT DISTINCT pg_catalog.format('t.%I', (pg_catalog.parse_ident(q.joins))[pg_catalog.cardinality(pg_catalog.parse_ident(q.joins))])
                    FROM pg_catalog.jsonb_to_recordset(plan) AS q(relation pg_catalog.regclass, column_name name, chosen_by text, expression text, joins text)
                   WHERE q.relation OPERATOR(pg_catalog.<>) rel);
    IF key_column IS NOT NULL THEN
        SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) INTO ktype
          FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) part AND a.attname OPERATOR(pg_catalog.=) key_column;
    END IF;
    -- keyset with nothing else to rewrite: the next keys, then one UPDATE of
    -- them; a row another session changes meanwhile is found again by its key
    IF mode OPERATOR(pg_catalog.=) 'keyset' AND pg_catalog.cardinality(links) OPERATOR(pg_catalog.=) 0 THEN
        body := pg_catalog.format('WITH k AS MATERIALIZED (SELECT ARRAY(SELECT s.%3$I FROM ONLY %1$s s %%s ORDER BY s.%3$I LIMIT %4$s) AS ks), '
                                  'u AS (UPDATE ONLY %1$s t SET %2$s WHERE t.%3$I OPERATOR(pg_catalog.=) ANY ((SELECT k.ks FROM k)::%5$s[])) '
                                  'SELECT pg_catalog.cardinality(k.ks)::pg_catalog.text OPERATOR(pg_catalog.||) '':'' '
                                  'OPERATOR(pg_catalog.||) COALESCE((k.ks[pg_catalog.cardinality(k.ks)])::pg_catalog.text, '''') FROM k',
                                  part::pg_catalog.regclass, sets, key_column, batch_size, ktype);
        first_sql := pg_catalog.format(body, '');
        next_sql := pg_catalog.format(body, pg_catalog.format('WHERE s.%I OPERATOR(pg_catalog.>) $2::%s', key_column, ktype));
        RETURN;
    END IF;
    body := pg_catalog.format('%s%s SELECT pg_catalog.count(*)::pg_catalog.text OPERATOR(pg_catalog.||) '':'' OPERATOR(pg_catalog.||) COALESCE(%s, '''') FROM b',
                              CASE WHEN sets IS NULL THEN ''
                                   ELSE pg_catalog.format(', u AS (UPDATE ONLY %s t SET %s FROM b WHERE t.ctid OPERATOR(pg_catalog.=) b._privacy_tid)',
                                                          part::pg_catalog.regclass, sets) END,
                              pg_catalog.array_to_string(links, ''),
                              CASE WHEN mode OPERATOR(pg_catalog.=) 'keyset' THEN 'pg_catalog.max(b._privacy_k)::pg_catalog.text' ELSE 'NULL' END);
    src := pg_catalog.format('SELECT t.ctid AS _privacy_tid%s%s FROM ONLY %s t',
                             CASE WHEN key_column IS NOT NULL THEN pg_catalog.format(', t.%I AS _privacy_k', key_column) ELSE '' END,
                             (SELECT pg_catalog.string_agg(', ' OPERATOR(pg_catalog.||) x, '') FROM pg_catalog.unnest(refs) x),
                             part::pg_catalog.regclass);
    IF mode OPERATOR(pg_catalog.=) 'keyset' THEN
        first_sql := pg_catalog.format('WITH b AS MATERIALIZED (%s ORDER BY t.%I LIMIT %s FOR UPDATE OF t)%s',
                                       src, key_column, batch_size, body);
        next_sql := pg_catalog.format('WITH b AS MATERIALIZED (%1$s WHERE t.%2$I OPERATOR(pg_catalog.>) $2::%3$s ORDER BY t.%2$I LIMIT %4$s FOR UPDATE OF t)%5$s',
                                      src, key_column, ktype, batch_size, body);
    ELSIF key_column IS NOT NULL THEN
        first_sql := pg_catalog.format('WITH b AS MATERIALIZED (%s WHERE t.%I OPERATOR(pg_catalog.=) ANY ($2::%s[]) FOR UPDATE OF t)%s',
                                       src, key_column, ktype, body);
    ELSE
        first_sql := pg_catalog.format('WITH b AS MATERIALIZED (%s WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($1) FOR UPDATE OF t)%s',
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
BEGIN
    IF rel IS NULL OR batch_size IS NULL OR key IS NULL THEN
        RAISE EXCEPTION 'rel, batch_size and key must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF batch_size OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'batch_size must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                  AND d.objid OPERATOR(pg_catalog.=) rel AND d.deptype OPERATOR(pg_catalog.=) 'e') THEN
        RAISE EXCEPTION '% belongs to an extension', rel USING ERRCODE = 'wrong_object_type';
    END IF;
    PERFORM privacy.require_table_owner(rel);
    -- one start at a time per table
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('privacy.anonymize_table')::bigint);

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
    IF exprs OPERATOR(pg_catalog.~) '(privacy\.pseudonym|privacy\.fpe_encrypt)\('
       AND NOT EXISTS (SELECT 1 FROM privacy.key k WHERE k.name OPERATOR(pg_catalog.=) anonymize_start.key) THEN
        RAISE EXCEPTION 'key "%" does not exist', key
            USING ERRCODE = 'undefined_object',
                  HINT = pg_catalog.format('Create it with SELECT privacy.create_key(%L). Every table anonymized with the same key gets the same pseudonyms, so foreign keys still join; drop the key when the work is done.', key);
    END IF;
    -- the batches run as the table's owner: it needs the functions and the
    -- tables whose rows join this one's
    SELECT k.relowner INTO owner FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) rel;
    FOREACH fn IN ARRAY ARRAY['privacy.pseudonym(text, text)', 'privacy.pseudonym(bytea, text)',
                              'privacy.fpe_encrypt(text, text, text, integer)', 'privacy.fpe_encrypt(bigint, text, bigint, bigint)'] LOOP
        IF exprs OPERATOR(pg_catalog.~) (CASE fn WHEN 'privacy.pseudonym(text, text)' THEN 'privacy\.pseudonym\(\([^()]*\)::pg_catalog\.text, '
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
              WHERE p.relation OPERATOR(pg_catalog.<>) rel LOOP
        IF NOT pg_catalog.has_table_privilege(owner, r.relation, 'UPDATE') THEN
            RAISE EXCEPTION 'role % (owner of table %) may not update table %, whose rows join it', owner::pg_catalog.regrole, rel, r.relation
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'The batches run as the table''s owner and rewrite the joining rows with the same pseudonyms.';
        END IF;
    END LOOP;

    -- an unfinished run of this table continues where it stopped
    SELECT * INTO r FROM privacy.anonymize_run x
     WHERE x.relid OPERATOR(pg_catalog.=) rel AND x.ended_at IS NULL ORDER BY x.id DESC LIMIT 1;
    IF FOUND THEN
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                    WHERE a.pid OPERATOR(pg_catalog.=) r.pid AND a.backend_start OPERATOR(pg_catalog.=) r.backend_start
                      AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()) THEN
            RAISE NOTICE 'run % is anonymizing table % in another session; this call does nothing', r.id, rel;
            RETURN NULL;
        ELSIF r.key_name OPERATOR(pg_catalog.<>) key THEN
            RAISE EXCEPTION 'run % of table % uses key "%"', r.id, rel, r.key_name
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Continue it with the same key, so that the whole table gets the same pseudonyms.';
        END IF;
        run := r.id;
        resumed := true;
        UPDATE privacy.anonymize_run x SET batch_size = anonymize_start.batch_size, pid = pg_catalog.pg_backend_pid(),
               backend_start = (SELECT a.backend_start FROM pg_catalog.pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid())
         WHERE x.id OPERATOR(pg_catalog.=) run;
        FOR leaf IN SELECT p.part, p.mode, p.key_column FROM privacy.anonymize_part p
                     WHERE p.run_id OPERATOR(pg_catalog.=) run AND NOT p.finished LOOP
            SELECT * INTO q FROM privacy.anonymize_part_sql(leaf.part, rel, plan, batch_size, leaf.mode, leaf.key_column);
            UPDATE privacy.anonymize_part p SET first_sql = q.first_sql, next_sql = q.next_sql
             WHERE p.run_id OPERATOR(pg_catalog.=) run AND p.part OPERATOR(pg_catalog.=) leaf.part;
        END LOOP;
    ELSE
        IF EXISTS (SELECT 1 FROM privacy.leaf_tables(rel) t
                     JOIN privacy.anonymize_part p ON p.part OPERATOR(pg_catalog.=) t AND NOT p.finished) THEN
            RAISE EXCEPTION 'a partition of % is part of an unfinished run of another table', rel
                USING ERRCODE = 'object_in_use',
                      HINT = 'Finish that run first: privacy.anonymize_log names its table.';
        END IF;
        -- the tables (partitions) no earlier run has finished
        IF NOT EXISTS (SELECT 1 FROM privacy.leaf_tables(rel) t
                        WHERE NOT EXISTS (SELECT 1 FROM privacy.anonymize_part p
                                           WHERE p.part OPERATOR(pg_catalog.=) t AND p.finished)) THEN
            RAISE NOTICE 'table % is already anonymized; nothing to do', rel
                USING DETAIL = 'privacy.anonymize_log shows the run that did it.';
            RETURN NULL;
        END IF;
        INSERT INTO privacy.anonymize_run (relid, relation, batch_size, key_name, methods, run_by, pid, backend_start)
        SELECT rel, rel::text, batch_size, key, methods,
               CASE pg_catalog.current_setting('role') WHEN 'none' THEN SESSION_USER ELSE pg_catalog.current_setting('role')::name END,
               a.pid, a.backend_start
          FROM pg_catalog.pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
        RETURNING privacy.anonymize_run.id INTO run;
        FOR leaf IN
            SELECT t::oid AS part FROM privacy.leaf_tables(rel) t
             WHERE NOT EXISTS (SELECT 1 FROM privacy.anonymize_part p WHERE p.part OPERATOR(pg_catalog.=) t AND p.finished)
        LOOP
            -- a single-column key walks the rows: in its order when it is not
            -- rewritten, else from a list of its values made now
            SELECT a.attname INTO kc
              FROM pg_catalog.pg_index i
              JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid
              JOIN pg_catalog.pg_am am ON am.oid OPERATOR(pg_catalog.=) ic.relam
              JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attnum OPERATOR(pg_catalog.=) i.indkey[0]
             WHERE i.indrelid OPERATOR(pg_catalog.=) leaf.part AND i.indisunique AND i.indimmediate AND i.indisvalid
               AND i.indnkeyatts OPERATOR(pg_catalog.=) 1 AND i.indkey[0] OPERATOR(pg_catalog.>) 0
               AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attnotnull AND am.amname OPERATOR(pg_catalog.=) 'btree'
             ORDER BY i.indisprimary DESC, i.indexrelid
             LIMIT 1;
            mode := CASE WHEN kc IS NOT NULL AND NOT EXISTS (
                              SELECT 1 FROM pg_catalog.jsonb_to_recordset(plan) AS p(relation pg_catalog.regclass, column_name name)
                               WHERE p.relation OPERATOR(pg_catalog.=) rel AND p.column_name OPERATOR(pg_catalog.=) kc)
                         THEN 'keyset' ELSE 'queue' END;
            IF mode OPERATOR(pg_catalog.=) 'queue' THEN
                EXECUTE pg_catalog.format('INSERT INTO privacy.anonymize_queue (run_id, part, pos, item) '
                                          'SELECT $1, $2, pg_catalog.row_number() OVER (ORDER BY %1$s), (%1$s)::pg_catalog.text FROM ONLY %2$s t',
                                          CASE WHEN kc IS NULL THEN 't.ctid' ELSE pg_catalog.format('t.%I', kc) END,
                                          leaf.part::pg_catalog.regclass)
                  USING run, leaf.part;
                GET DIAGNOSTICS total = ROW_COUNT;
            ELSE
                EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM ONLY %s', leaf.part::pg_catalog.regclass) INTO total;
            END IF;
            SELECT * INTO q FROM privacy.anonymize_part_sql(leaf.part, rel, plan, batch_size, mode, kc);
            INSERT INTO privacy.anonymize_part (run_id, part, relation, mode, key_column, rows_total, first_sql, next_sql)
            VALUES (run, leaf.part, leaf.part::pg_catalog.regclass::text, mode, kc, total, q.first_sql, q.next_sql);
        END LOOP;
    END IF;
    PERFORM privacy.audit_append('anonymize', pg_catalog.format('table %s', rel),
        pg_catalog.jsonb_build_object('operation', CASE WHEN resumed THEN 'resume' ELSE 'start' END, 'run', run,
                                      'batch_size', batch_size, 'key', key, 'columns', methods,
                                      'rows', (SELECT pg_catalog.sum(p.rows_total OPERATOR(pg_catalog.-) p.rows_done)
                                                 FROM privacy.anonymize_part p WHERE p.run_id OPERATOR(pg_catalog.=) run)));
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
    SELECT * INTO r FROM privacy.anonymize_run x WHERE x.id OPERATOR(pg_catalog.=) run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'anonymize run % does not exist', run_id USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM privacy.require_table_owner(r.relid::pg_catalog.regclass);
    -- a crash loses at most the last batches, with their progress: the next
    -- call does them again
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    SELECT * INTO p FROM privacy.anonymize_part x
     WHERE x.run_id OPERATOR(pg_catalog.=) anonymize_batch.run_id AND NOT x.finished
     ORDER BY x.relation LIMIT 1;
    IF NOT FOUND THEN
        RETURN -1;
    END IF;
    IF p.mode OPERATOR(pg_catalog.=) 'keyset' THEN
        res := privacy.owner_exec_value(p.part::pg_catalog.regclass,
                                        CASE WHEN p.watermark IS NULL THEN p.first_sql ELSE p.next_sql END, NULL, p.watermark);
        n := pg_catalog.split_part(res, ':', 1)::bigint;
        IF n OPERATOR(pg_catalog.=) 0 THEN
            UPDATE privacy.anonymize_part x SET finished = true
             WHERE x.run_id OPERATOR(pg_catalog.=) p.run_id AND x.part OPERATOR(pg_catalog.=) p.part;
            RETURN 0;
        END IF;
        UPDATE privacy.anonymize_part x
           SET watermark = pg_catalog.substr(res, pg_catalog.strpos(res, ':') OPERATOR(pg_catalog.+) 1),
               rows_done = x.rows_done OPERATOR(pg_catalog.+) n, batches = x.batches OPERATOR(pg_catalog.+) 1
         WHERE x.run_id OPERATOR(pg_catalog.=) p.run_id AND x.part OPERATOR(pg_catalog.=) p.part;
        RETURN n;
    END IF;
    WITH d AS (
        DELETE FROM privacy.anonymize_queue q
         WHERE q.run_id OPERATOR(pg_catalog.=) p.run_id AND q.part OPERATOR(pg_catalog.=) p.part
           AND q.pos OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT q2.pos FROM privacy.anonymize_queue q2
                                                         WHERE q2.run_id OPERATOR(pg_catalog.=) p.run_id AND q2.part OPERATOR(pg_catalog.=) p.part
                                                         ORDER BY q2.pos LIMIT r.batch_size))
        RETURNING q.item)
    SELECT pg_catalog.array_agg(d.item) INTO items FROM d;
    IF items IS NULL THEN
        UPDATE privacy.anonymize_part x SET finished = true
         WHERE x.run_id OPERATOR(pg_catalog.=) p.run_id AND x.part OPERATOR(pg_catalog.=) p.part;
        RETURN 0;
    END IF;
    res := privacy.owner_exec_value(p.part::pg_catalog.regclass, p.first_sql,
                                    CASE WHEN p.key_column IS NULL THEN items::pg_catalog.tid[] END,
                                    CASE WHEN p.key_column IS NOT NULL THEN items::text END);
    n := pg_catalog.split_part(res, ':', 1)::bigint;
    UPDATE privacy.anonymize_part x
       SET rows_done = x.rows_done OPERATOR(pg_catalog.+) n, batches = x.batches OPERATOR(pg_catalog.+) 1
     WHERE x.run_id OPERATOR(pg_catalog.=) p.run_id AND x.part OPERATOR(pg_catalog.=) p.part;
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
    SELECT * INTO r FROM privacy.anonymize_run x WHERE x.id OPERATOR(pg_catalog.=) run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'anonymize run % does not exist', run_id USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM privacy.require_table_owner(r.relid::pg_catalog.regclass);
    IF EXISTS (SELECT 1 FROM privacy.anonymize_part p WHERE p.run_id OPERATOR(pg_catalog.=) r.id AND NOT p.finished) THEN
        RAISE EXCEPTION 'anonymize run % is not finished', run_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE privacy.anonymize_run x SET ended_at = pg_catalog.clock_timestamp() WHERE x.id OPERATOR(pg_catalog.=) r.id;
    UPDATE privacy.anonymize_part p SET first_sql = NULL, next_sql = NULL, watermark = NULL WHERE p.run_id OPERATOR(pg_catalog.=) r.id;
    PERFORM privacy.audit_append('anonymize', pg_catalog.format('table %s', r.relation),
        pg_catalog.jsonb_build_object('operation', 'finish', 'run', r.id,
            'erasure', 'logical: the old values stay in dead tuples until VACUUM, in WAL until it is recycled and in backups until they expire',
            'rows', (SELECT pg_catalog.sum(p.rows_done) FROM privacy.anonymize_part p WHERE p.run_id OPERATOR(pg_catalog.=) r.id),
            'batches', (SELECT pg_catalog.sum(p.batches) FROM privacy.anonymize_part p WHERE p.run_id OPERATOR(pg_catalog.=) r.id)));
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
        PERFORM pg_catalog.count(*) FROM privacy.anonymization_plan(t, key);
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

-------------------------------------------------------------------------------
-- privacy.check(): findings about the setup
-------------------------------------------------------------------------------
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
            ON a.attrelid OPERATOR(pg_catalog.=) l.relation::oid AND a.attname OPERATOR(pg_catalog.=) l.column_name
         WHERE l.subject
        UNION
        -- the referencing side of every foreign key on a subject path
        SELECT c.conrelid, c.conkey, c.conname
          FROM (SELECT DISTINCT pg_catalog.unnest(w.path) AS con FROM privacy.subject_walk() w) p
          JOIN pg_catalog.pg_constraint c ON c.oid OPERATOR(pg_catalog.=) p.con
    ),
    missing AS (
        SELECT n.*,
               (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.i)
                  FROM pg_catalog.unnest(n.cols) WITH ORDINALITY k(attnum, i)
                  JOIN pg_catalog.pg_attribute a
                    ON a.attrelid OPERATOR(pg_catalog.=) n.relid AND a.attnum OPERATOR(pg_catalog.=) k.attnum) AS col_list
          FROM needs n
         WHERE NOT EXISTS (
                   -- an index whose leading columns are these columns, in any order
                   SELECT 1 FROM pg_catalog.pg_index i
                    WHERE i.indrelid OPERATOR(pg_catalog.=) n.relid
                      AND i.indpred IS NULL
                      AND (SELECT pg_catalog.array_agg(x ORDER BY x)
                             FROM pg_catalog.unnest((i.indkey::smallint[])[0:pg_catalog.cardinality(n.cols) OPERATOR(pg_catalog.-) 1]) x)
                          OPERATOR(pg_catalog.=)
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
      JOIN privacy.category c ON c.name OPERATOR(pg_catalog.=) l.category
      JOIN pg_catalog.pg_attribute a
        ON a.attrelid OPERATOR(pg_catalog.=) l.relation::oid AND a.attname OPERATOR(pg_catalog.=) l.column_name
      JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
     WHERE c.sensitive
       AND CASE WHEN t.typtype OPERATOR(pg_catalog.=) 'd' THEN t.typbasetype ELSE t.oid END
           OPERATOR(pg_catalog.<>) 'pg_catalog.bytea'::pg_catalog.regtype
    UNION ALL
    -- personal data nobody can be found in
    SELECT 'warning', r.relation::text,
           pg_catalog.format('table %s holds labelled personal data but has no subject path: cancellation and export cannot find whose rows these are',
                             r.relation),
           'Label the column that says whose row it is SUBJECT, or add a foreign key to a table that has one (see doc/labels.md).'
      FROM (SELECT DISTINCT l.relation FROM privacy.labels l WHERE l.category IS NOT NULL) r
     WHERE NOT EXISTS (SELECT 1 FROM privacy.subject_walk() w WHERE w.relid OPERATOR(pg_catalog.=) r.relation::oid)
    UNION ALL
    -- purposes in use that see no labelled column
    SELECT 'warning', pg_catalog.format('purpose %s', p.name),
           CASE WHEN pg_catalog.cardinality(p.categories) OPERATOR(pg_catalog.=) 0
                THEN pg_catalog.format('purpose %s has no categories', p.name)
                ELSE pg_catalog.format('purpose %s covers no labelled column: its purpose views show every column masked', p.name) END,
           'Label the columns the purpose needs with its categories, or redefine it with privacy.define_purpose().'
      FROM privacy.purpose p
     WHERE (NOT p.seeded OR EXISTS (SELECT 1 FROM privacy.purpose_view v WHERE v.purpose OPERATOR(pg_catalog.=) p.name))
       AND NOT EXISTS (SELECT 1
                         FROM privacy.labels l, pg_catalog.unnest(p.categories) k(cat)
                        WHERE l.category OPERATOR(pg_catalog.=) k.cat
                           OR pg_catalog.starts_with(l.category, k.cat OPERATOR(pg_catalog.||) '.'))
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
        ON a.attrelid OPERATOR(pg_catalog.=) l.relation::oid AND a.attname OPERATOR(pg_catalog.=) l.retain_after
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                        WHERE i.indrelid OPERATOR(pg_catalog.=) l.relation::oid
                          AND i.indpred IS NULL
                          AND i.indkey[0] OPERATOR(pg_catalog.=) a.attnum)
    UNION ALL
    -- personal data discovery sees and nobody labelled
    SELECT 'notice', pg_catalog.format('%s.%I', d.relation, d.column_name),
           pg_catalog.format('column %I of %s looks like %s (confidence %s; %s) but has no label',
                             d.column_name, d.relation, d.category, d.confidence, d.evidence),
           pg_catalog.format('SECURITY LABEL FOR privacy ON COLUMN %s.%I IS %L;',
                             d.relation, d.column_name, 'CATEGORY ' OPERATOR(pg_catalog.||) d.category)
      FROM pg_catalog.pg_namespace n
     CROSS JOIN LATERAL privacy.discovery_suggestions(n.oid, 200) d
     WHERE n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema', 'privacy', 'pg_toast']::name[])
       AND NOT pg_catalog.starts_with(n.nspname, 'pg_temp_')
       AND NOT pg_catalog.starts_with(n.nspname, 'pg_toast_temp_')
       AND d.confidence OPERATOR(pg_catalog.>=) 0.7
    UNION ALL
    -- where the keys live
    SELECT CASE WHEN k.problem OPERATOR(pg_catalog.~) 'is not set$' THEN 'warning' ELSE 'error' END,
           k.setting, k.problem, k.hint
      FROM privacy.key_storage_problems() k
           ) f
     ORDER BY CASE f.severity WHEN 'error' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END, f.object, f.message
    $$;
COMMENT ON FUNCTION privacy.check() IS
    'findings about the setup (severity, object, message, hint): subject columns and foreign keys on subject paths without an index, sensitive categories in clear text, labelled tables with no subject path, purposes that see no labelled column, RETAIN without an index on its AFTER column, columns discovery would label that nobody did, and problems of the master key file and subject key directory';
GRANT EXECUTE ON FUNCTION privacy.check() TO PUBLIC;

-------------------------------------------------------------------------------
-- pg_dump keeps the configuration: custom categories, trusted schemas, audit
-- log, keys (wrapped), shredded and cancelled subject tombstones, the request register
-------------------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('privacy.category', 'WHERE NOT seeded');
SELECT pg_catalog.pg_extension_config_dump('privacy.trusted_schema', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.audit_head', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.key', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.key_version', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.shredded_subject', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.purpose_definition', 'WHERE NOT seeded');
SELECT pg_catalog.pg_extension_config_dump('privacy.policy_version', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent_event', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent_event_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.subject_minor', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.purpose_view', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.purpose_grant', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.cancelled_subject', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.request', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.request_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.restricted_subject', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.hold', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.hold_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.retention_run', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.retention_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.retention_run_table', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.category_retention', '');

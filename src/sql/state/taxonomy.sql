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

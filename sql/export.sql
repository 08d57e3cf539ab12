-- export: everything held about a subject (right of access and copy); uses
-- the store schema of the cancellation suite
\set VERBOSITY terse
CREATE TABLE store.documents (
    user_id integer NOT NULL REFERENCES store.users,
    kind    text NOT NULL,
    scan    bytea
);
SECURITY LABEL FOR privacy ON COLUMN store.documents.scan IS 'CATEGORY identity.id_document';
INSERT INTO store.documents VALUES (9003, 'passport', '\x89504e47'), (9005, 'passport', '\x00ff');
INSERT INTO store.id_verification VALUES
    (9003, '110105200103031234', privacy.subject_encrypt('9003', 'Carol face template'), true);
INSERT INTO store.devices VALUES (9003, 'dev-c1', NULL);
SELECT privacy.grant_consent('9003', 'marketing', '{"form": "signup"}') > 0 AS granted;
SELECT privacy.withdraw_consent('9003', 'marketing');

-- the document: rows by table (each value with its category; bytea as
-- base64; her own ciphertext decrypted), consent history, requests
SELECT privacy.export_subject('9003') AS e \gset
SELECT jsonb_pretty(:'e'::jsonb -> 'tables');
SELECT jsonb_pretty((SELECT jsonb_agg(c - 'at') FROM jsonb_array_elements(:'e'::jsonb -> 'consent_history') c));
SELECT r->>'kind' AS kind, r->>'status' AS status FROM jsonb_array_elements(:'e'::jsonb -> 'requests') r;
SELECT (:'e'::jsonb ->> 'exported_at')::timestamptz <= now() AS dated;
-- left out by default: the categories the taxonomy marks exported = false
-- (credentials, biometric templates), each with its reason; her face
-- template is not read, and the document says so
SELECT name, export_reason FROM privacy.category WHERE NOT exported AND parent IS NULL ORDER BY name;
SELECT count(*) FILTER (WHERE NOT exported) AS left_out, count(*) FILTER (WHERE exported) AS exported FROM privacy.category;
SELECT jsonb_pretty(:'e'::jsonb -> 'left_out');
-- withhold => '{}' hands out everything: her face template, decrypted
SELECT jsonb_pretty(privacy.export_subject('9003', withhold => '{}') -> 'tables' -> 'store.id_verification');
SELECT privacy.export_subject('9003', withhold => '{}') -> 'left_out' AS left_out;
-- withhold names the categories to leave out instead, with their sub-categories
SELECT jsonb_pretty(privacy.export_subject('9003', withhold => '{identity, contact.phone}') -> 'left_out');
SELECT jsonb_pretty(privacy.export_subject('9003', withhold => '{identity}') -> 'tables' -> 'store.users');
SELECT try($$SELECT privacy.export_subject('9003', withhold => '{identity.nosuch}')$$);
SELECT try($$SELECT privacy.export_subject('9003', withhold => ARRAY[NULL]::text[])$$);
-- a category added under one left out is left out too, with its reason; a
-- reason exactly when left out
SELECT privacy.add_category('biometric.vein', 'Finger vein pattern');
SELECT exported, export_reason = (SELECT export_reason FROM privacy.category WHERE name = 'biometric') AS parents_reason
  FROM privacy.category WHERE name = 'biometric.vein';
SELECT try($$UPDATE privacy.category SET export_reason = NULL WHERE name = 'biometric.vein'$$);
SELECT try($$UPDATE privacy.category SET exported = true WHERE name = 'biometric.vein'$$);
UPDATE privacy.category SET exported = true, export_reason = NULL WHERE name = 'biometric.vein';
SELECT exported, export_reason FROM privacy.category WHERE name = 'biometric.vein';
SELECT privacy.drop_category('biometric.vein');

-- consents given as a guardian: listed in the guardian's export apart from
-- their own; the minor's export shows them as its own, by_guardian, without
-- naming the guardian
SELECT privacy.set_minor('9100', true);
SELECT privacy.grant_consent('9200', 'analytics', '{"form": "app"}') > 0 AS own;
SELECT privacy.grant_consent('9100', 'marketing', '{"guardian": "verified by SMS"}', guardian => '9200') > 0 AS as_guardian;
SELECT privacy.export_subject('9200') AS g \gset
SELECT jsonb_pretty((SELECT jsonb_agg(c - 'at') FROM jsonb_array_elements(:'g'::jsonb -> 'consent_history') c)) AS own;
SELECT jsonb_pretty((SELECT jsonb_agg(c - 'at') FROM jsonb_array_elements(:'g'::jsonb -> 'consents_as_guardian') c)) AS as_guardian;
SELECT jsonb_pretty(privacy.export_subject('9100') - 'exported_at' #- '{consent_history,0,at}') AS minor;
SELECT relation, data ? 'for_subject' AS as_guardian, count(*) FROM privacy.export_subject_rows('9200') GROUP BY 1, 2 ORDER BY 1, 2;
-- the streaming form gives the same rows
SELECT relation, count(*) FROM privacy.export_subject_rows('9003') GROUP BY 1 ORDER BY relation::text;
-- a subject nobody holds: an empty document
SELECT privacy.export_subject('9999') - 'exported_at';
-- a cancelled subject: only what is kept until retention
SELECT jsonb_object_keys(privacy.export_subject('9001') -> 'tables');

-- every export is audited, without the data
SELECT kind, object = 'subject ' || privacy.subject_pseudonym('9003') AS by_pseudonym, detail
  FROM privacy.audit_log WHERE kind = 'export' ORDER BY seq;
SELECT try($$SELECT privacy.export_subject(NULL)$$);
SET ROLE regress_app;
SELECT try($$SELECT privacy.export_subject('9003')$$);
SELECT try($$SELECT * FROM privacy.export_subject_rows('9003')$$);
RESET ROLE;

-- test/demo/demo.sql: the guided tour of `make demo`
\pset footer off
\echo
\echo '== 1. Install the extension (the cluster preloads it: shared_preload_libraries = privacy)'
CREATE EXTENSION privacy;

\echo
\echo '== 2. A small application schema: users, identity verification, devices, login logs, orders'
CREATE TABLE users (
    id          bigint PRIMARY KEY,
    phone       text NOT NULL,
    email       text,
    nickname    text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE identity_verification (
    user_id     bigint PRIMARY KEY REFERENCES users,
    real_name   text,
    id_number   text,
    face_image  bytea
);
CREATE TABLE devices (
    id          bigint PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users,
    device_id   text,
    mac         macaddr
);
CREATE TABLE login_log (
    device_id   bigint REFERENCES devices,
    ip          inet,
    logged_at   timestamptz NOT NULL
);
CREATE TABLE orders (
    id          bigint PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users,
    address     text,
    placed_at   date NOT NULL
);
CREATE TABLE order_items (
    order_id    bigint REFERENCES orders,
    line        int,
    sku         text,
    PRIMARY KEY (order_id, line)
);

\echo
\echo '== 3. Say what each column holds and whose it is, with SECURITY LABEL FOR privacy'
SECURITY LABEL FOR privacy ON COLUMN users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN users.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN users.nickname IS 'CATEGORY identity.nickname';
SECURITY LABEL FOR privacy ON TABLE users IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN identity_verification.real_name IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON COLUMN identity_verification.id_number IS 'CATEGORY identity.id_number';
SECURITY LABEL FOR privacy ON COLUMN identity_verification.face_image IS 'CATEGORY biometric.face';
SECURITY LABEL FOR privacy ON COLUMN devices.device_id IS 'CATEGORY device.id';
SECURITY LABEL FOR privacy ON COLUMN devices.mac IS 'CATEGORY device.mac';
SECURITY LABEL FOR privacy ON COLUMN login_log.ip IS 'CATEGORY device.ip RETAIN 30 days AFTER logged_at';
SECURITY LABEL FOR privacy ON TABLE login_log IS 'RETAIN 6 months AFTER logged_at ON CANCEL KEEP UNTIL RETENTION';
SECURITY LABEL FOR privacy ON COLUMN orders.address IS 'CATEGORY contact.address';
SECURITY LABEL FOR privacy ON TABLE orders IS 'ON CANCEL ANONYMIZE RETAIN 3 years AFTER placed_at';
SECURITY LABEL FOR privacy ON COLUMN order_items.sku IS 'CATEGORY commerce.order';

\echo
\echo '== 4. Every label is checked when it is set; a bad one is refused and nothing is stored'
\set ON_ERROR_STOP 0
SECURITY LABEL FOR privacy ON COLUMN users.phone IS 'CATEGORY contact.fone';
SECURITY LABEL FOR privacy ON TABLE orders IS 'RETAIN 3 yeers AFTER placed_at';
SECURITY LABEL FOR privacy ON TABLE orders IS 'RETAIN 3 years AFTER address';
SECURITY LABEL FOR privacy ON COLUMN users.email IS 'CATEGORY contact.email MASK WITH pg_catalog.upper';
\set ON_ERROR_STOP 1
SELECT privacy.column_label('users', 'phone') AS "users.phone is still";

\echo
\echo '== 5. The inventory: the record of processing a DPO reads'
SELECT table_name, column_name, category, sensitive, subject_path, retention, on_cancel
  FROM privacy.inventory ORDER BY table_name::text, column_name;

\echo
\echo '== 6. Whose data each table holds: order_items and login_log reach users through foreign keys'
SELECT relation, hops, path FROM privacy.subject_path ORDER BY hops, relation::text;

\echo
\echo '== 7. Sensitive personal information (PIPL Art. 28) held here'
SELECT table_name, column_name, category FROM privacy.inventory WHERE sensitive ORDER BY 1, 2;

\echo
\echo '== 8. The taxonomy is extensible: add a category under an existing one'
SELECT privacy.add_category('contact.wechat', 'WeChat ID');
SELECT name, parent, sensitive, on_cancel FROM privacy.category WHERE name LIKE 'contact%' ORDER BY name;

\echo
\echo '== 9. Every change is in a hash-chained audit log, with no personal data in it'
SELECT seq, actor, kind, object, detail->>'label' AS label FROM privacy.audit_log ORDER BY seq DESC LIMIT 5;
SELECT * FROM privacy.verify_audit_log();

\echo
\echo '== 10. Keys live wrapped under a master key file outside SQL; SQL only names them'
SHOW privacy.master_key_file;
SELECT privacy.create_key('demo');
SELECT name, algorithm, current_version, versions FROM privacy.keys;

\echo
\echo '== 11. Some sample people'
INSERT INTO users (id, phone, email, nickname) VALUES
    (1, '13812345678', 'zhangsan@example.com', '张三丰'),
    (2, '+86 139 8765 4321', 'li.si@example.org', '李四'),
    (3, '+1 415 555 2671', 'john.doe@example.net', 'John Doe');
INSERT INTO identity_verification VALUES
    (1, '张三丰', '110105199001011234', NULL),
    (2, '李四', '11010519851212567X', NULL);

\echo
\echo '== 12. Masks for display: characters, not bytes; separators stay'
SELECT id, privacy.mask_phone(phone) AS phone, privacy.mask_email(email) AS email,
       privacy.mask_name(nickname) AS nickname
  FROM users ORDER BY id;
SELECT user_id, privacy.mask_name(real_name) AS real_name, privacy.mask_id_number(id_number) AS id_number
  FROM identity_verification ORDER BY user_id;

\echo
\echo '== 13. Pseudonyms (keyed HMAC-SHA-256): the same person gives the same token, in every table and session'
SELECT id, left(privacy.pseudonym(phone, 'demo'), 16) || '...' AS phone_pseudonym FROM users ORDER BY id;

\echo
\echo '== 14. Format-preserving encryption (FF1): digits stay digits, dashes and X stay in place, and it decrypts'
SELECT id_number, privacy.fpe_encrypt(id_number, 'demo') AS encrypted,
       privacy.fpe_decrypt(privacy.fpe_encrypt(id_number, 'demo'), 'demo') AS decrypted
  FROM identity_verification ORDER BY user_id;
SELECT privacy.fpe_encrypt('138-1234-5678', 'demo') AS phone_ff1;

\echo
\echo '== 15. Authenticated encryption: a changed byte is refused, nothing is returned'
SELECT privacy.decrypt(privacy.encrypt('110105199001011234', 'demo'), 'demo') AS round_trip;
\set ON_ERROR_STOP 0
SELECT privacy.decrypt(set_byte(privacy.encrypt('110105199001011234', 'demo'), 20, 0), 'demo');
\set ON_ERROR_STOP 1

\echo
\echo '== 16. Rotation: new values use version 2, old ones still decrypt'
SELECT privacy.encrypt('before', 'demo') AS old_ct \gset
SELECT privacy.rotate_key('demo');
SELECT get_byte(:'old_ct'::bytea, 4) AS old_version, privacy.decrypt(:'old_ct'::bytea, 'demo') AS old_value,
       get_byte(privacy.encrypt('after', 'demo'), 4) AS new_version;

\echo
\echo '== 17. Crypto-shredding: each person''s key is a file outside the database; destroying it makes their ciphertexts unreadable, in every backup too'
SELECT privacy.subject_encrypt('1', 'face template bytes') AS face \gset
SELECT count(*) AS subject_key_files FROM pg_ls_dir(current_setting('privacy.subject_key_dir'));
SELECT privacy.subject_decrypt('1', :'face'::bytea) AS before_shred;
SELECT privacy.shred_subject('1') AS shredded;
SELECT count(*) AS subject_key_files FROM pg_ls_dir(current_setting('privacy.subject_key_dir'));
\set ON_ERROR_STOP 0
SELECT privacy.subject_decrypt('1', :'face'::bytea);
\set ON_ERROR_STOP 1

\echo
\echo '== 18. Purposes, each on a legal basis; sensitive ones need separate consent (PIPL Art. 29)'
SELECT name, legal_basis, separate_consent FROM privacy.purpose ORDER BY legal_basis, name;

\echo
\echo '== 19. Consent is a ledger: withdrawal stops processing from that moment, and earlier processing stays lawful'
SELECT privacy.publish_policy('1.0', true) IS NOT NULL AS policy_published;
SELECT privacy.grant_consent('2', 'marketing', '{"form": "signup"}') AS ledger_entry;
SELECT clock_timestamp() AS while_consented \gset
SELECT privacy.withdraw_consent('2', 'marketing') AS withdrawn;
SELECT privacy.has_consent('2', 'marketing') AS now, privacy.has_consent('2', 'marketing', :'while_consented') AS while_consented;
SELECT privacy.may_process('2', 'service') AS service_needs_no_consent;
SELECT subject, purpose, granted, policy_version, evidence FROM privacy.consent_event ORDER BY seq;

\echo
\echo '== 20. A material policy change: consent given before it must be given again'
SELECT privacy.grant_consent('3', 'analytics') AS ledger_entry;
SELECT privacy.publish_policy('2.0', true) IS NOT NULL AS material_change;
SELECT privacy.has_consent('3', 'analytics') AS after_change;

\echo
\echo '== 21. Purpose views: the marketing team sees consented people only, and only what marketing covers'
SELECT privacy.grant_consent('1', 'marketing') > 0 AS user_1_consents;
SELECT privacy.create_purpose_view('users', 'marketing');
SELECT privacy.create_purpose_view('orders', 'marketing');
CREATE ROLE demo_marketing;
SELECT privacy.grant_purpose('marketing', 'demo_marketing') AS views_granted;
SET ROLE demo_marketing;
SELECT * FROM users_marketing;
\set ON_ERROR_STOP 0
SELECT * FROM users;
\set ON_ERROR_STOP 1
RESET ROLE;
SELECT privacy.withdraw_consent('1', 'marketing') AS user_1_withdraws;
SET ROLE demo_marketing;
SELECT count(*) AS visible_after_withdrawal FROM users_marketing;
RESET ROLE;

\echo
\echo '== 22. Every key operation, shred and consent is audited, naming people only by keyed pseudonym'
SELECT seq, kind, object, detail FROM privacy.audit_log WHERE kind IN ('key', 'shred', 'consent', 'policy') ORDER BY seq;

\echo
\echo '== 23. Cancelling an account: first the plan (a dry run changes nothing)'
INSERT INTO devices VALUES (21, 2, 'ios-8842', '08:00:2b:01:02:03'), (31, 3, 'android-77', NULL);
INSERT INTO login_log VALUES (21, '203.0.113.9', now() - interval '2 days'), (31, '198.51.100.7', now());
INSERT INTO orders VALUES (201, 2, 'No. 8 Lane 3, Shanghai', '2026-10-01'), (301, 3, '1 Main St', '2026-10-02');
INSERT INTO order_items VALUES (201, 1, 'SKU-TEA'), (201, 2, 'SKU-CUP'), (301, 1, 'SKU-PEN');
SELECT * FROM privacy.cancel_subject('2', dry_run => true);
\echo 'Blocked by the schema: the login rows to keep still point at the device to delete, so'
\echo 'the device cannot go, and the user cannot go while the device points at it.'

\echo
\echo '== 24. Fix the schema step by step: each dry run shows the next block, or the plan'
ALTER TABLE login_log DROP CONSTRAINT login_log_device_id_fkey,
    ADD FOREIGN KEY (device_id) REFERENCES devices ON DELETE SET NULL;
SELECT relation, action, rows, detail FROM privacy.cancel_subject('2', dry_run => true) WHERE action = 'blocked';
\echo 'orders.user_id is NOT NULL, so anonymizing an order cannot cut its link to the user.'
ALTER TABLE orders ALTER COLUMN user_id DROP NOT NULL;
SELECT * FROM privacy.cancel_subject('2', dry_run => true);

\echo
\echo '== 25. Cancel: one transaction; the order is kept for accounting, without the person'
SELECT * FROM privacy.cancel_subject('2');
SELECT * FROM users ORDER BY id;
SELECT * FROM orders ORDER BY id;
SELECT * FROM login_log ORDER BY logged_at;
SELECT privacy.has_consent('2', 'marketing') AS consent_after;
SELECT * FROM privacy.cancel_subject('2');
\echo 'The receipt: per-table counts and the subject''s pseudonym, no personal data'
SELECT kind, left(object, 24) || '...' AS object, jsonb_pretty(detail) AS receipt
  FROM privacy.audit_log WHERE kind = 'cancellation';

\echo
\echo '== 26. Requests with deadlines: cancellation after a cooling-off period, and a copy of the data'
SELECT privacy.request_cancellation('3', '15 days') AS cancellation_request;
SELECT privacy.register_request('3', 'access') AS access_request;
SELECT id, kind, status, not_before - received_at AS cooling_off, due_at - received_at AS due_in FROM privacy.request ORDER BY id;
CALL privacy.run_due_requests();
\echo 'Nothing was due yet: the cancellation waits for its cooling-off period (the subject may revoke it).'
SELECT count(*) AS users_left FROM users;
SELECT count(*) AS overdue FROM privacy.overdue_requests;

\echo
\echo '== 27. The right of access: everything held about a person, each value with its category'
SELECT jsonb_pretty(privacy.export_subject('3') -> 'tables');

\echo
\echo '== 28. Retention: expired rows go in committed batches; a legal hold keeps what the law needs'
INSERT INTO login_log SELECT 31, ('198.51.100.' || i)::inet, now() - (i * 3 || ' days')::interval FROM generate_series(1, 100) i;
SELECT privacy.place_hold('3', now() + interval '1 year', 'security incident 2026-42') AS hold \gset
SELECT relation, column_name, action, retain, due, held FROM privacy.retention_preview();
CALL privacy.run_retention(batch_size => 20);
SELECT status, relation, column_name, action, rows, batches FROM privacy.retention_log ORDER BY id, relation, column_name NULLS FIRST;
\echo 'User 3 is on hold: the expired login rows that reach them through their device stay.'
SELECT count(*) AS login_rows, count(*) FILTER (WHERE logged_at < now() - interval '6 months') AS older_than_6_months FROM login_log;
SELECT privacy.release_hold(:hold);
CALL privacy.run_retention(batch_size => 20);
SELECT count(*) AS login_rows, count(*) FILTER (WHERE logged_at < now() - interval '6 months') AS older_than_6_months FROM login_log;
SELECT count(*) FILTER (WHERE masklen(ip) < 32) AS addresses_cut_to_their_network FROM login_log;

\echo
\echo '== 29. Tampering with the audit log is detected (a superuser bypassing the append-only triggers)'
SET session_replication_role = replica;
UPDATE privacy.audit_log SET detail = '{"label": "CATEGORY log.access"}' WHERE seq = 2;
SET session_replication_role = DEFAULT;
SELECT * FROM privacy.verify_audit_log();

\echo
\echo '== 30. Discovery: a table imported from a marketing campaign, labelled by nobody'
CREATE TABLE campaign_leads (
    lead_no     bigint PRIMARY KEY,
    xingming    text,            -- pinyin: name
    "手机号"    text,            -- Chinese: mobile number
    contact     text,            -- a plain name, holding e-mail addresses
    sfzh        text,            -- pinyin initials: ID number
    source_ip   inet,
    app_version text             -- dotted quads that are not addresses
);
INSERT INTO campaign_leads
SELECT g, 'Lead ' || g,
       '13' || (5 + g % 5) || lpad((g * 7919 % 100000000)::text, 8, '0'),
       'lead' || g || '@example.cn',
       body || substr('10X98765432', (SELECT sum(substr(body, i, 1)::int * (ARRAY[7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2])[i]) % 11
                                        FROM generate_series(1, 17) i)::int + 1, 1),
       ('203.0.113.' || (g % 250 + 1))::inet,
       '2.' || (g % 12) || '.' || (g % 7) || '.0'
  FROM generate_series(1, 200) g,
       LATERAL (SELECT '110105' || to_char(date '1970-01-01' + g * 37, 'YYYYMMDD') || lpad((g % 1000)::text, 3, '0') AS body) b;
\echo 'Names in English, pinyin and Chinese, and sampled values run through validators (the ID number''s check character, a real birth date); no value is ever shown'
SELECT * FROM privacy.discover('public');
\echo 'Label what the values confirm; SUBJECT, MASK and RETAIN stay decisions for a person'
SELECT * FROM privacy.apply_suggestions(0.8, 'public');

\echo
\echo '== 31. The lint: is the setup sound? Each finding with its fix'
SELECT severity, object, message, hint FROM privacy.check();

\echo
\echo '== 32. A data set reaches its end: the campaign leads are anonymized in place, in committed batches'
SELECT privacy.create_key('anonymize');
\echo 'The plan first: each labelled column''s method, what chose it, and the collision risk of the pseudonyms'
SELECT column_name, category, method, chosen_by, is_unique, collision_risk, note FROM privacy.anonymization_plan('campaign_leads');
SELECT lead_no, xingming, "手机号", contact, sfzh, source_ip FROM campaign_leads ORDER BY lead_no LIMIT 3;
CALL privacy.anonymize_table('campaign_leads', batch_size => 50);
SELECT lead_no, xingming, "手机号", contact, sfzh, source_ip FROM campaign_leads ORDER BY lead_no LIMIT 3;
SELECT relation, status, rows_done, rows_total, batches FROM privacy.anonymize_log;
\echo 'Phone and ID numbers keep their format (FF1), e-mail addresses stay distinct, addresses keep their /24; the run is audited'
SELECT kind, object, detail->>'operation' AS operation, detail->>'rows' AS rows FROM privacy.audit_log WHERE kind = 'anonymize' ORDER BY seq;

-- purpose_views: rows by consent (directly and through foreign keys), columns
-- by purpose, kept in step with labels, and nothing more for the purpose role
CREATE SCHEMA pv AUTHORIZATION regress_owner;
SET ROLE regress_owner;
CREATE TABLE pv.users (id bigint PRIMARY KEY, phone text, email text, nickname text, born date,
                       id_number varchar(18));
CREATE TABLE pv.orders (id bigint PRIMARY KEY, user_id bigint REFERENCES pv.users, address text, total numeric);
CREATE INDEX ON pv.orders (user_id);
CREATE TABLE pv.order_items (order_id bigint REFERENCES pv.orders, line int, sku text, PRIMARY KEY (order_id, line));
CREATE TABLE pv.messages (id bigint PRIMARY KEY, sender_id bigint, recipient_id bigint, body text);
SECURITY LABEL FOR privacy ON COLUMN pv.users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN pv.users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN pv.users.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN pv.users.born IS 'CATEGORY identity.birth_date';
SECURITY LABEL FOR privacy ON COLUMN pv.users.id_number IS 'CATEGORY identity.id_number';
SECURITY LABEL FOR privacy ON COLUMN pv.orders.address IS 'CATEGORY contact.address';
SECURITY LABEL FOR privacy ON COLUMN pv.order_items.sku IS 'CATEGORY commerce.order';
SECURITY LABEL FOR privacy ON COLUMN pv.messages.sender_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN pv.messages.recipient_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN pv.messages.body IS 'CATEGORY content.message';
INSERT INTO pv.users VALUES
    (1, '13800000001', 'one@example.com', 'One', '1990-01-01', '110105199001011234'),
    (2, '13800000002', 'two@example.com', 'Two', '1991-02-02', '110105199102021234'),
    (3, '13800000003', 'kid@example.com', 'Kid', current_date - 3650, '110105201601011234'),
    (4, '13800000004', 'four@example.com', 'Four', '1980-04-04', '110105198004041234');
INSERT INTO pv.orders VALUES (10, 1, 'Road 1', 5), (20, 2, 'Road 2', 6), (30, 3, 'Road 3', 7), (40, 4, 'Road 4', 8);
INSERT INTO pv.order_items VALUES (10, 1, 'sku-a'), (20, 1, 'sku-b'), (30, 1, 'sku-c'), (40, 1, 'sku-d');
INSERT INTO pv.messages VALUES (100, 1, 4, 'hello'), (101, 1, 2, 'hi'), (102, 4, NULL, 'note');
RESET ROLE;
-- consent: 1 and 4 consented to marketing; 2 did not; 3 is a minor who consented alone
SELECT privacy.grant_consent('1', 'marketing') > 0, privacy.grant_consent('4', 'marketing') > 0,
       privacy.grant_consent('3', 'marketing') > 0;

SELECT privacy.create_purpose_view('pv.users', 'marketing');
SELECT privacy.create_purpose_view('pv.orders', 'marketing');
SELECT privacy.create_purpose_view('pv.order_items', 'marketing', 'pv.items_for_marketing');
SELECT privacy.create_purpose_view('pv.messages', 'marketing');
SELECT privacy.create_purpose_view('pv.users', 'service');
SELECT view_schema, view_name, source_name, purpose FROM privacy.purpose_view
 WHERE view_schema = 'pv' ORDER BY view_name;
SELECT c.relname, c.reloptions FROM pg_class c WHERE c.relnamespace = 'pv'::regnamespace AND c.relkind = 'v'
 ORDER BY 1;

-- rows: consented subjects only; columns: marketing (as consent.sql redefined it) covers email,
-- the rest labelled is masked (category mask) or NULL; unlabelled as is
SELECT * FROM pv.users_marketing ORDER BY id;
SELECT * FROM pv.orders_marketing ORDER BY id;
SELECT * FROM pv.items_for_marketing ORDER BY order_id;
-- two subjects: every subject in the row must have consented
SELECT * FROM pv.messages_marketing ORDER BY id;
-- a purpose on another legal basis shows every row; columns still by purpose
SELECT id, phone, email, born, id_number FROM pv.users_service ORDER BY id;

-- a purpose may hide a category altogether: its columns NULL of their own
-- type, whether the purpose covers the category (service covers contact) or
-- a mask would apply (identity.id_number); the view keeps its columns
SELECT privacy.hide_category('service', 'contact.phone') AS views, privacy.hide_category('service', 'identity.id_number') AS views;
SELECT id, phone, email, born, id_number FROM pv.users_service ORDER BY id;
SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
 WHERE a.attrelid = 'pv.users_service'::regclass AND a.attnum > 0 ORDER BY a.attnum;
SELECT purpose, category FROM privacy.purpose_hidden ORDER BY 1, 2;
-- a parent category hides its sub-categories; hidden => false undoes it
SELECT privacy.hide_category('service', 'contact.phone', false) AS views, privacy.hide_category('service', 'contact') AS views;
SELECT id, phone, email, born, id_number FROM pv.users_service ORDER BY id;
SELECT privacy.hide_category('service', 'contact', false) AS views, privacy.hide_category('service', 'identity.id_number', false) AS views;
SELECT id, phone, email, born, id_number FROM pv.users_service ORDER BY id;
SELECT count(*) AS hidden FROM privacy.purpose_hidden;
SELECT try($$SELECT privacy.hide_category('nosuch', 'contact')$$);
SELECT try($$SELECT privacy.hide_category('service', 'contact.nosuch')$$);
SELECT try($$SELECT privacy.hide_category('service', NULL)$$);

-- rows kept after cancellation (privacy.restricted_subject, PIPL Art. 47):
-- only a purpose resting on a legal obligation may see them; by default the
-- one that covers what the law keeps (security covers log.login and
-- log.security, kept until retention); identity verification does not
SELECT name, legal_basis, privacy.purpose_sees_kept_rows(name) AS sees_kept_rows FROM privacy.purpose ORDER BY name;
SELECT privacy.create_purpose_view('pv.users', 'security') IS NOT NULL AS made,
       privacy.create_purpose_view('pv.users', 'identity_verification') IS NOT NULL AS made;
INSERT INTO privacy.restricted_subject (subject) VALUES ('2');
SELECT (SELECT array_agg(id ORDER BY id) FROM pv.users_security) AS security,
       (SELECT array_agg(id ORDER BY id) FROM pv.users_identity_verification) AS identity_verification,
       (SELECT array_agg(id ORDER BY id) FROM pv.users_service) AS service;
-- the administrator decides per purpose (NULL: the default again)
SELECT privacy.show_kept_rows('security', false) AS views, privacy.show_kept_rows('identity_verification', true) AS views;
SELECT (SELECT array_agg(id ORDER BY id) FROM pv.users_security) AS security,
       (SELECT array_agg(id ORDER BY id) FROM pv.users_identity_verification) AS identity_verification;
SELECT purpose, shown FROM privacy.purpose_kept_rows ORDER BY 1;
SELECT privacy.show_kept_rows('security', NULL) AS views, privacy.show_kept_rows('identity_verification', NULL) AS views;
SELECT (SELECT array_agg(id ORDER BY id) FROM pv.users_security) AS security,
       (SELECT array_agg(id ORDER BY id) FROM pv.users_identity_verification) AS identity_verification;
SELECT count(*) AS settings FROM privacy.purpose_kept_rows;
-- no other purpose may: not on a contract, nor on consent
SELECT try($$SELECT privacy.show_kept_rows('service', true)$$);
SELECT try($$SELECT privacy.show_kept_rows('marketing', true)$$);
SELECT try($$SELECT privacy.show_kept_rows('nosuch', true)$$);
SELECT privacy.show_kept_rows('service', false) AS views, privacy.purpose_sees_kept_rows('service') AS sees;
SELECT privacy.show_kept_rows('service', NULL) AS views;
DELETE FROM privacy.restricted_subject WHERE subject = '2';
SELECT privacy.drop_purpose_view('pv', 'users_security'), privacy.drop_purpose_view('pv', 'users_identity_verification');
DELETE FROM privacy.purpose_view WHERE view_name IN ('users_security', 'users_identity_verification');
SELECT kind, object, detail FROM privacy.audit_log WHERE kind IN ('purpose hide', 'purpose kept rows') ORDER BY seq;
SET ROLE regress_app;
SELECT try($$SELECT privacy.hide_category('service', 'contact')$$);
SELECT try($$SELECT privacy.show_kept_rows('security', false)$$);
RESET ROLE;

-- PIPL Art. 31: a minor's data needs a guardian's consent even for a purpose on
-- a contract (privacy.guardian_consent = contract, the default): the minor 3 is
-- not in the service views, directly or through foreign keys, until a
-- guardian consents to the purpose
SHOW privacy.guardian_consent;
SELECT privacy.create_purpose_view('pv.orders', 'service');
SELECT id, user_id FROM pv.orders_service ORDER BY id;
SELECT privacy.may_process('3', 'service') AS minor_alone, privacy.may_process('1', 'service') AS adult;
-- one query over a whole table: the minors whose data lacks a guardian's consent
-- (3 consented to marketing alone, and no guardian consented to a contract purpose)
SELECT * FROM privacy.minors_without_guardian_consent('pv.users') ORDER BY subject, purpose;
SELECT * FROM privacy.minors_without_guardian_consent('pv.users', 'service');
SELECT privacy.grant_consent('3', 'service', '{"form": "guardian signup"}', guardian => '1') > 0 AS guardian_service;
SELECT id FROM pv.users_service ORDER BY id;
SELECT id, user_id FROM pv.orders_service ORDER BY id;
SELECT privacy.may_process('3', 'service') AS with_guardian;
SELECT * FROM privacy.minors_without_guardian_consent('pv.users', 'service');
-- the guardian withdraws it (a withdrawal of a purpose on a contract that was
-- not consented to is still refused)
SELECT privacy.withdraw_consent('3', 'service') AS withdrawn;
SELECT try($$SELECT privacy.withdraw_consent('3', 'service')$$);
SELECT id FROM pv.users_service ORDER BY id;
SELECT privacy.may_process('3', 'service') AS after_withdrawal;
-- an explicit setting wins over the birth date
SELECT privacy.set_minor('2', true), privacy.set_minor('3', false);
SELECT id FROM pv.users_service ORDER BY id;
SELECT subject, purpose, reason FROM privacy.minors_without_guardian_consent('pv.users', 'service');
SELECT privacy.set_minor('2', NULL), privacy.set_minor('3', NULL);
-- the setting is read when the view is read: consent leaves contract purposes
-- alone; all reaches purposes on a legal obligation too
SET privacy.guardian_consent = 'consent';
SELECT id FROM pv.users_service ORDER BY id;
SELECT privacy.may_process('3', 'service') AS consent_only;
SELECT count(*) AS lacking FROM privacy.minors_without_guardian_consent('pv.users', 'service');
SELECT privacy.purpose_view_query('pv.users', 'security') AS security_query \gset
SET privacy.guardian_consent = 'contract';
SELECT v.id FROM (:security_query) v ORDER BY v.id;
SET privacy.guardian_consent = 'all';
SELECT v.id FROM (:security_query) v ORDER BY v.id;
SELECT privacy.may_process('3', 'security') AS legal_obligation_under_all;
RESET privacy.guardian_consent;
SELECT try($$SET privacy.guardian_consent = 'none'$$);
SET ROLE regress_app;
SELECT try($$SET privacy.guardian_consent = 'consent'$$);
SELECT try($$SELECT * FROM privacy.minors_without_guardian_consent('pg_catalog.pg_class')$$);
RESET ROLE;
SELECT try($$SELECT * FROM privacy.minors_without_guardian_consent('pv.messages')$$);
SELECT try($$SELECT * FROM privacy.minors_without_guardian_consent('pv.orders')$$);
SELECT try($$SELECT * FROM privacy.minors_without_guardian_consent('pv.users', 'nosuch')$$);
SELECT try($$SELECT * FROM privacy.minors_without_guardian_consent(NULL)$$);

-- a guardian's consent makes the minor visible; a withdrawal hides the subject at once
SELECT privacy.grant_consent('3', 'marketing', guardian => '1') > 0 AS guardian;
SELECT privacy.withdraw_consent('4', 'marketing') AS withdrawn;
SELECT id FROM pv.users_marketing ORDER BY id;
SELECT id FROM pv.messages_marketing ORDER BY id;
-- an explicit minor setting counts too
SELECT privacy.set_minor('1', true);
SELECT id FROM pv.users_marketing ORDER BY id;
SELECT privacy.set_minor('1', NULL);
-- a material policy change hides everyone until they consent again
SELECT privacy.publish_policy('pv-3.0', true) IS NOT NULL AS material;
SELECT count(*) AS visible_after_material_change FROM pv.users_marketing;
SELECT privacy.grant_consent('1', 'marketing') > 0 AS reconsented;
SELECT id FROM pv.users_marketing ORDER BY id;

-- views stay in step: a label change, a new column, a purpose change
SET ROLE regress_owner;
SECURITY LABEL FOR privacy ON COLUMN pv.users.nickname IS 'CATEGORY identity.nickname';
ALTER TABLE pv.users ADD COLUMN city text;
RESET ROLE;
SELECT id, nickname, city FROM pv.users_marketing ORDER BY id;
SELECT privacy.define_purpose('marketing', 'consent', ARRAY['contact', 'identity.nickname'], 'Offers by any channel, by name');
SELECT id, phone, nickname FROM pv.users_marketing ORDER BY id;
SELECT privacy.refresh_purpose_views() AS rebuilt;

-- the purpose role reads its views, and nothing else
CREATE ROLE regress_marketer;
SELECT privacy.grant_purpose('marketing', 'regress_marketer') AS views_granted;
SET ROLE regress_marketer;
SELECT id, phone FROM pv.users_marketing ORDER BY id;
SELECT try($$SELECT * FROM pv.users$$);
SELECT try($$SELECT * FROM pv.users_service$$);
SELECT try($$SELECT * FROM privacy.consent$$);
SELECT try($$SELECT * FROM privacy.consent_event$$);
SELECT try($$UPDATE pv.users_marketing SET phone = 'x'$$);
RESET ROLE;
-- a view made later is granted to the purpose's roles too
SELECT privacy.create_purpose_view('pv.orders', 'marketing', 'pv.orders_marketing_2') IS NOT NULL AS made;
SET ROLE regress_marketer;
SELECT count(*) FROM pv.orders_marketing_2;
RESET ROLE;

-- a leaky function in the purpose role's WHERE sees no filtered row
CREATE FUNCTION pv.leak(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
$$BEGIN RAISE NOTICE 'saw %', $1; RETURN true; END$$;
GRANT USAGE ON SCHEMA pv TO regress_marketer;
SET ROLE regress_marketer;
SELECT id FROM pv.users_marketing WHERE pv.leak(email) ORDER BY id;
RESET ROLE;

-- EXPLAIN ANALYZE through a purpose view (doc/security.md, "What a purpose
-- role can learn"): a leakproof condition such as = on text is pushed below
-- the view's barrier, so the row counts of the plan's scan nodes count rows of
-- subjects without consent that match it; the rows themselves, and every
-- column value, stay hidden.  User 2 has no marketing consent.
SET ROLE regress_marketer;
SELECT count(*) AS rows_returned FROM pv.users_marketing WHERE email = 'two@example.com';
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM pv.users_marketing WHERE email = 'two@example.com';
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM pv.users_marketing WHERE email = 'nobody@example.com';
RESET ROLE;

-- one subject's rows: with realistic statistics (thousands of subjects), the
-- plan uses the base table's index and the consent key
INSERT INTO pv.users SELECT i, NULL, NULL, NULL, '1980-01-01', NULL FROM generate_series(1000, 5999) i;
INSERT INTO pv.orders SELECT i, i, NULL, 1 FROM generate_series(1000, 5999) i;
INSERT INTO privacy.consent (subject, purpose, granted_at, policy_version, by_guardian)
SELECT i::text, 'marketing', now(), NULL, false FROM generate_series(1000, 5999, 2) i;
ANALYZE pv.users;
ANALYZE pv.orders;
ANALYZE privacy.consent;
EXPLAIN (COSTS OFF) SELECT * FROM pv.users_marketing WHERE id = 1;
EXPLAIN (COSTS OFF) SELECT * FROM pv.orders_marketing WHERE user_id = 1;

-- a partitioned table: one view over the root filters every partition, also
-- one created after the view
SET ROLE regress_owner;
CREATE TABLE pv.events (user_id bigint, at date, ip inet) PARTITION BY RANGE (at);
CREATE TABLE pv.events_2026 PARTITION OF pv.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SECURITY LABEL FOR privacy ON COLUMN pv.events.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN pv.events.ip IS 'CATEGORY device.ip';
INSERT INTO pv.events VALUES (1, '2026-05-01', '10.0.0.1'), (2, '2026-05-02', '10.0.0.2');
RESET ROLE;
SELECT privacy.create_purpose_view('pv.events', 'marketing') IS NOT NULL AS made;
SET ROLE regress_owner;
CREATE TABLE pv.events_2027 PARTITION OF pv.events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
INSERT INTO pv.events VALUES (1, '2027-05-01', '10.0.0.3'), (2, '2027-05-02', '10.0.0.4');
RESET ROLE;
SELECT user_id, at, ip FROM pv.events_marketing ORDER BY at;

-- bad input
SELECT try($$SELECT privacy.create_purpose_view('pv.users', 'nosuch')$$);
SELECT try($$SELECT privacy.create_purpose_view('pv.users', 'marketing')$$);
SELECT try($$SELECT privacy.create_purpose_view(NULL, 'marketing')$$);
SELECT try($$SELECT privacy.create_purpose_view('pv.users', 'marketing', 'a.b.c')$$);
-- a name of more than 63 bytes would be cut (and could then be another view's)
SELECT try($$SELECT privacy.create_purpose_view('pv.users', 'marketing', repeat('v', 64))$$);
CREATE TABLE pv.unlabelled (x int);
SELECT try($$SELECT privacy.create_purpose_view('pv.unlabelled', 'marketing')$$);
SELECT try($$SELECT privacy.grant_purpose('nosuch', 'regress_marketer')$$);
SELECT try($$SELECT privacy.grant_purpose('marketing', 'no_such_role')$$);
SET ROLE regress_app;
SELECT try($$SELECT privacy.create_purpose_view('pv.users', 'analytics')$$);
SELECT try($$SELECT privacy.grant_purpose('marketing', 'regress_app')$$);
RESET ROLE;
-- an administrator who cannot read the table cannot make a view of it
CREATE ROLE regress_view_admin;
GRANT EXECUTE ON FUNCTION privacy.create_purpose_view(regclass, text, text) TO regress_view_admin;
GRANT USAGE ON SCHEMA pv TO regress_view_admin;
SET ROLE regress_view_admin;
SELECT try($$SELECT privacy.create_purpose_view('pv.users', 'analytics')$$);
RESET ROLE;

-- dropping a purpose drops its views, the categories it hides and its setting
-- for kept rows; another purpose's stay
SELECT privacy.hide_category('service', 'contact.phone') AS views, privacy.show_kept_rows('service', false) AS views;
SELECT privacy.hide_category('security', 'contact.email') AS views, privacy.show_kept_rows('security', true) AS views;
SELECT purpose, category FROM privacy.purpose_hidden ORDER BY 1, 2;
SELECT purpose, shown FROM privacy.purpose_kept_rows ORDER BY 1;
SELECT privacy.drop_purpose('service');
SELECT purpose, category FROM privacy.purpose_hidden ORDER BY 1, 2;
SELECT purpose, shown FROM privacy.purpose_kept_rows ORDER BY 1;
SELECT privacy.hide_category('security', 'contact.email', false) AS views, privacy.show_kept_rows('security', NULL) AS views;
SELECT count(*) AS service_views FROM privacy.purpose_view WHERE purpose = 'service';
SELECT to_regclass('pv.users_service') AS gone;
DROP TABLE pv.users CASCADE;
-- orders and order_items lost their subject with users: their views go, with a warning
SELECT privacy.refresh_purpose_views();
SELECT view_name FROM privacy.purpose_view WHERE view_schema = 'pv' ORDER BY 1;
SELECT kind, object, detail->>'operation' AS op, detail->>'purpose' AS purpose FROM privacy.audit_log
 WHERE kind IN ('purpose view', 'purpose grant') ORDER BY seq;


-- attacks (part of #10): code planted by a table owner, and objects planted in
-- public and pg_temp, gain nothing when our functions run, even as a superuser
\set VERBOSITY terse

-- 1. a table owner's trigger, domain check, generated column and default try
-- to become superuser, and
-- record who they run as, while a superuser cancels, expires and anonymizes
CREATE SCHEMA atk;
GRANT USAGE, CREATE ON SCHEMA atk TO regress_owner;
CREATE TABLE atk.marker (who name, what text);
GRANT INSERT ON atk.marker TO PUBLIC;
SET ROLE regress_owner;
CREATE FUNCTION atk.escalate(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO atk.marker VALUES (current_user, what);
    BEGIN
        EXECUTE 'ALTER ROLE regress_owner SUPERUSER';
        INSERT INTO atk.marker VALUES (current_user, what || ': became superuser');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO atk.marker VALUES (current_user, what || ': refused ' || SQLSTATE);
    END;
    RETURN true;
END
$$;
CREATE FUNCTION atk.on_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM atk.escalate(TG_OP || ' trigger');
    RETURN COALESCE(NEW, OLD);
END
$$;
CREATE DOMAIN atk.watched_text AS text CHECK (atk.escalate('domain check'));
-- a generated column is computed again by every UPDATE; a default only by an
-- INSERT, which none of our functions makes in a user's table
CREATE FUNCTION atk.generated(v text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN atk.escalate('generated column');
END
$$;
CREATE FUNCTION atk.default_note() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM atk.escalate('default');
    RETURN 'n';
END
$$;
CREATE TABLE atk.people (id int PRIMARY KEY, phone atk.watched_text, seen_at timestamptz NOT NULL,
                         note text DEFAULT atk.default_note(),
                         checked boolean GENERATED ALWAYS AS (atk.generated(phone)) STORED);
CREATE TRIGGER people_change BEFORE UPDATE OR DELETE ON atk.people FOR EACH ROW EXECUTE FUNCTION atk.on_change();
SECURITY LABEL FOR privacy ON COLUMN atk.people.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN atk.people.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON TABLE atk.people IS 'ON CANCEL DELETE RETAIN 30 days AFTER seen_at';
INSERT INTO atk.people (id, phone, seen_at)
VALUES (900001, '13800000001', now()), (900002, '13800000002', now() - interval '90 days'),
       (900003, '13800000003', now());
RESET ROLE;
TRUNCATE atk.marker;
SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
-- (the batches run as the owner, which may pseudonymize its own keys)
GRANT EXECUTE ON FUNCTION privacy.fpe_encrypt(bigint, text, bigint, bigint) TO regress_owner;
SELECT c.relation, c.action, c.rows FROM privacy.cancel_subject('900001') c WHERE c.relation = 'atk.people'::regclass;
SET client_min_messages = error;   -- other suites' tables are expired too
CALL privacy.run_retention();
RESET client_min_messages;
CALL privacy.anonymize_table('atk.people');
SELECT phone = privacy.fpe_encrypt('13800000003', 'anonymize') AS anonymized,
       id = privacy.fpe_encrypt(900003, 'anonymize', -2147483648, 2147483647) AS key_pseudonymized
  FROM atk.people;
-- every piece of the owner's code ran as the owner, and could not escalate
SELECT who, what, count(*) FROM atk.marker GROUP BY who, what ORDER BY what;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_owner';

-- 2. objects planted where a careless function would find them: an = on
-- text, lower(), now(), and tables named like ours, in public and pg_temp
CREATE TABLE public.hostile_calls (fn text, statement text);
GRANT INSERT ON public.hostile_calls TO PUBLIC;
CREATE FUNCTION public.hostile_eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.hostile_calls VALUES ('=', current_query());
    RETURN a OPERATOR(pg_catalog.=) b;
END
$$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hostile_eq);
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.hostile_calls VALUES ('lower', current_query());
    RETURN pg_catalog.lower($1);
END
$$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.hostile_calls VALUES ('now', current_query());
    RETURN pg_catalog.now();
END
$$;
CREATE TABLE public.category (name text);
CREATE TABLE public.audit_log (seq bigint);
CREATE TEMP TABLE labels (relation regclass);
CREATE TEMP TABLE key (name text);
CREATE TABLE atk.shop (id int PRIMARY KEY, email text UNIQUE, phone text, visited date);
SECURITY LABEL FOR privacy ON COLUMN atk.shop.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN atk.shop.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN atk.shop.phone IS 'CATEGORY contact.phone';
INSERT INTO atk.shop SELECT i, 'u' || i || '@example.com', '1390000' || lpad(i::text, 4, '0'), date '2026-01-01' + i
  FROM generate_series(1, 20) i;
-- the planted objects come first for unqualified names (pg_catalog last)
SET search_path = public, pg_temp, pg_catalog;
SELECT 'x' = 'x' AS planted_operator_works, lower('X') AS planted_lower_works;
TRUNCATE public.hostile_calls;
SELECT count(*) > 0 AS labels FROM privacy.labels;
SELECT count(*) > 0 AS inventory FROM privacy.inventory;
SELECT count(*) >= 0 AS findings FROM privacy.check();
SELECT count(*) AS suggestions FROM privacy.discover('atk', 50);
SELECT count(*) AS plan_rows FROM privacy.anonymization_plan('atk.shop');
SELECT privacy.k_anonymity('atk.shop', '{visited}') AS k;
SELECT privacy.mask_phone('13912345678') AS masked, privacy.mask_email('ab@example.com') AS masked_email;
SELECT privacy.pseudonym('x', 'anonymize') OPERATOR(pg_catalog.=) privacy.pseudonym('x', 'anonymize') AS pseudonym_stable;
SELECT privacy.grant_consent('7', 'marketing', '{"form": "attack"}') IS NOT NULL AS granted,
       privacy.has_consent('7', 'marketing') AS consent,
       privacy.withdraw_consent('7', 'marketing') AS withdrawn;
SELECT count(*) > 0 AS export_keys FROM jsonb_object_keys(privacy.export_subject('5'));
SELECT count(*) AS planned_actions FROM privacy.cancel_subject('5', dry_run => true);
SELECT count(*) >= 0 AS preview FROM privacy.retention_preview();
SELECT valid FROM privacy.verify_audit_log();
CALL privacy.anonymize_table('atk.shop', 7);
SET client_min_messages = error;
CALL privacy.run_retention();
RESET client_min_messages;
RESET search_path;
-- none of the planted objects was called by any of them
SELECT fn, statement, count(*) FROM public.hostile_calls GROUP BY fn, statement;
SELECT count(*) AS shop_rows_anonymized FROM atk.shop s
 WHERE s.email LIKE '%@anonymized.invalid' AND s.phone ~ '^[0-9]{11}$';
-- and the same functions as an unprivileged role with that search path
GRANT USAGE ON SCHEMA atk TO regress_app;
SET ROLE regress_app;
SET search_path = public, pg_temp, pg_catalog;
SELECT count(*) > 0 AS labels FROM privacy.labels;
SELECT count(*) >= 0 AS findings FROM privacy.check();
SELECT privacy.mask_phone('13912345678') AS masked;
RESET search_path;
RESET ROLE;
SELECT fn, statement, count(*) FROM public.hostile_calls GROUP BY fn, statement;

-- 3. a purpose role reads exactly what its view shows, however it reads:
-- a cursor, COPY, a prepared statement (custom and generic plans); it cannot
-- lock rows, nor read the table or its partitions directly
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_reader;
RESET client_min_messages;
CREATE ROLE regress_reader;
CREATE SCHEMA atk2;
CREATE TABLE atk2.members (id bigint, email text, phone text, joined date) PARTITION BY RANGE (joined);
CREATE TABLE atk2.members_2025 PARTITION OF atk2.members FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE atk2.members_2026 PARTITION OF atk2.members FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SECURITY LABEL FOR privacy ON COLUMN atk2.members.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN atk2.members.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN atk2.members.phone IS 'CATEGORY contact.phone';
INSERT INTO atk2.members SELECT 900100 + i, 'm' || i || '@example.com', '1370000000' || i, date '2025-10-01' + i * 40
  FROM generate_series(1, 6) i;
SELECT privacy.define_purpose('atk_offers', 'consent', ARRAY['contact.email'], 'offers by e-mail');
SELECT privacy.grant_consent('900101', 'atk_offers') > 0 AS g1, privacy.grant_consent('900104', 'atk_offers') > 0 AS g4;
SELECT privacy.create_purpose_view('atk2.members', 'atk_offers') AS view;
SELECT privacy.grant_purpose('atk_offers', 'regress_reader') AS granted;
SET ROLE regress_reader;
SELECT id, email, phone, joined FROM atk2.members_atk_offers ORDER BY id;
BEGIN;
DECLARE c CURSOR FOR SELECT id, email, phone FROM atk2.members_atk_offers ORDER BY id;
FETCH ALL FROM c;
COMMIT;
COPY (SELECT id, email, phone FROM atk2.members_atk_offers ORDER BY id) TO STDOUT;
PREPARE one(bigint) AS SELECT count(*) FROM atk2.members_atk_offers WHERE id = $1;
EXECUTE one(900102);
EXECUTE one(900102);
EXECUTE one(900102);
EXECUTE one(900102);
EXECUTE one(900102);
EXECUTE one(900102);
EXECUTE one(900101);
DEALLOCATE one;
SELECT try($$SELECT id FROM atk2.members_atk_offers FOR UPDATE$$) AS lock_rows
UNION ALL SELECT try($$SELECT id FROM atk2.members$$)
UNION ALL SELECT try($$SELECT id FROM atk2.members_2025$$)
UNION ALL SELECT try($$SELECT id FROM ONLY atk2.members_2026$$);
COPY atk2.members_2026 TO STDOUT;
RESET ROLE;

-- 5. names with quotes, ;, $$ and a newline, through every generator of SQL:
-- labels, purpose views, cancellation, retention, anonymization, discovery
CREATE SCHEMA "atk ""3"";$$";
CREATE TABLE "atk ""3"";$$"."Users
 ""x""; DROP TABLE atk.marker; --" ("Id $$" int PRIMARY KEY, "e;mail" text, "when
seen" timestamptz NOT NULL);
CREATE TABLE "atk ""3"";$$"."Orders'" (id int PRIMARY KEY, "user ""id""" int REFERENCES "atk ""3"";$$"."Users
 ""x""; DROP TABLE atk.marker; --" ("Id $$") ON DELETE SET NULL, "ship;to" text);
SECURITY LABEL FOR privacy ON COLUMN "atk ""3"";$$"."Users
 ""x""; DROP TABLE atk.marker; --"."Id $$" IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN "atk ""3"";$$"."Users
 ""x""; DROP TABLE atk.marker; --"."e;mail" IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON TABLE "atk ""3"";$$"."Users
 ""x""; DROP TABLE atk.marker; --" IS 'RETAIN 30 days AFTER "when
seen"';
SECURITY LABEL FOR privacy ON COLUMN "atk ""3"";$$"."Orders'"."user ""id""" IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN "atk ""3"";$$"."Orders'"."ship;to" IS 'CATEGORY contact.address';
SECURITY LABEL FOR privacy ON TABLE "atk ""3"";$$"."Orders'" IS 'ON CANCEL ANONYMIZE';
INSERT INTO "atk ""3"";$$"."Users
 ""x""; DROP TABLE atk.marker; --" SELECT 900200 + i, 'q' || i || '@example.com', now() - (i * 20 || ' days')::interval
  FROM generate_series(1, 4) i;
INSERT INTO "atk ""3"";$$"."Orders'" SELECT i, 900200 + i, 'Pier ' || i FROM generate_series(1, 4) i;
SELECT privacy.grant_consent('900201', 'atk_offers') > 0 AS consented;
SELECT privacy.create_purpose_view((SELECT c.oid FROM pg_class c WHERE c.relname LIKE 'Users%' AND c.relkind = 'r')::regclass,
                                   'atk_offers') IS NOT NULL AS view_made;
SELECT count(*) AS rows_in_view FROM "atk ""3"";$$"."Users
 ""x""; DROP TABLE atk.marker; --_atk_offers";
SELECT c.action, c.rows FROM privacy.cancel_subject('900201') c
 WHERE c.relation::text LIKE '%atk%3%' ORDER BY c.action;
SET client_min_messages = error;
CALL privacy.run_retention();
RESET client_min_messages;
SELECT count(*) AS users_left FROM "atk ""3"";$$"."Users
 ""x""; DROP TABLE atk.marker; --";
INSERT INTO "atk ""3"";$$"."Users
 ""x""; DROP TABLE atk.marker; --" SELECT 900210 + i, 'r' || i || '@example.com', now() FROM generate_series(1, 3) i;
UPDATE "atk ""3"";$$"."Orders'" SET "user ""id""" = 900210 + id WHERE id <= 3;
CALL privacy.anonymize_table('"atk ""3"";$$"."Users
 ""x""; DROP TABLE atk.marker; --"');
SELECT "e;mail" LIKE '%@anonymized.invalid' AS email_pseudonymized, count(*)
  FROM "atk ""3"";$$"."Users
 ""x""; DROP TABLE atk.marker; --" GROUP BY 1;
SELECT count(*) AS orders_still_joining FROM "atk ""3"";$$"."Orders'" o
  JOIN "atk ""3"";$$"."Users
 ""x""; DROP TABLE atk.marker; --" u ON u."Id $$" = o."user ""id""";
SELECT count(*) >= 0 AS discovered FROM privacy.discover('atk "3";$$');
SELECT to_regclass('atk.marker') IS NOT NULL AS marker_table_still_there;
DROP SCHEMA "atk ""3"";$$" CASCADE;

-- 4. where a role with no grants could look for key bytes: the settings
-- that name the key files are hidden, no catalog text of ours holds a long
-- hex or base64 run, and no database or role setting is ours
SET ROLE regress_app;
SELECT name FROM pg_settings WHERE name LIKE 'privacy.%' ORDER BY name;
SELECT try($$SHOW privacy.master_key_file$$) AS master_key_file
UNION ALL SELECT try($$SHOW privacy.subject_key_dir$$);
SELECT md5('k') ~ '[0-9A-Fa-f]{32}|[A-Za-z0-9+/]{40}' AS the_pattern_finds_a_128_bit_hex_key;
SELECT count(*) AS function_bodies_with_key_like_text FROM pg_proc
 WHERE pronamespace = 'privacy'::regnamespace AND prosrc ~ '[0-9A-Fa-f]{32}|[A-Za-z0-9+/]{40}';
SELECT count(*) AS view_definitions_with_key_like_text FROM pg_views
 WHERE schemaname = 'privacy' AND definition ~ '[0-9A-Fa-f]{32}|[A-Za-z0-9+/]{40}';
SELECT count(*) AS privacy_role_or_database_settings FROM pg_db_role_setting s, unnest(s.setconfig) c
 WHERE c LIKE 'privacy.%';
SELECT try($$SELECT * FROM privacy.key$$) AS key_table
UNION ALL SELECT try($$SELECT * FROM privacy.key_version$$);
RESET ROLE;

-- 5. the extension's SECURITY DEFINER row and statement triggers that PUBLIC
-- may execute (catalog lists them) refuse a table of an ordinary role's own,
-- even one named like the table they serve
SET ROLE regress_owner;
CREATE TABLE atk.citus_mirror (relation name, old_rows jsonb, new_rows jsonb);
CREATE TRIGGER planted_in BEFORE INSERT ON atk.citus_mirror FOR EACH ROW EXECUTE FUNCTION privacy.citus_mirror_in();
SELECT try($$INSERT INTO atk.citus_mirror VALUES ('cancelled_subject', NULL, '[{"subject": "1"}]')$$);
CREATE TABLE atk.consent (subject text, purpose text);
CREATE TRIGGER planted_out AFTER INSERT ON atk.consent REFERENCING NEW TABLE AS mirror_new
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.citus_mirror_out();
SELECT try($$INSERT INTO atk.consent VALUES ('1', 'marketing')$$);
SELECT count(*) AS rows_kept FROM atk.citus_mirror;
DROP TABLE atk.citus_mirror, atk.consent;
RESET ROLE;

DROP OPERATOR public.= (text, text);
DROP FUNCTION public.hostile_eq(text, text), public.lower(text), public.now();
DROP TABLE public.hostile_calls, public.category, public.audit_log;
DROP TABLE pg_temp.labels, pg_temp.key;

-- boundary (#18): no owner's or administrator's code ever runs with the
-- extension's rights.  A table owner (regress_owner, no superuser) plants
-- code in every kind of object a user may own: a domain's check and default
-- on a SUBJECT column, a cast, an operator, an operator class's support
-- function, a view's rule, a row-level security policy, a trigger, a
-- generated column, an index expression; then a superuser runs every entry
-- point that touches those tables.  Each piece of planted code records who
-- it ran as and tries to become superuser.
\set VERBOSITY terse
CREATE SCHEMA bnd;
GRANT USAGE, CREATE ON SCHEMA bnd TO regress_owner;
CREATE TABLE bnd.marker (who name, what text);
GRANT INSERT ON bnd.marker TO PUBLIC;
SET ROLE regress_owner;
CREATE FUNCTION bnd.trap(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bnd.marker VALUES (current_user, what);
    BEGIN
        EXECUTE 'ALTER ROLE regress_owner SUPERUSER';
        INSERT INTO bnd.marker VALUES (current_user, what || ': became superuser');
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    RETURN true;
END
$$;
-- 1. a domain on a SUBJECT column, whose check and default call the owner
CREATE FUNCTION bnd.default_id() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bnd.trap('domain default');
    RETURN 0;
END
$$;
CREATE DOMAIN bnd.member_id AS integer DEFAULT bnd.default_id() CHECK (bnd.trap('domain check'));
-- 2. an enum of the owner's with its cast to text and = operator: a column of
--    it cannot be a SUBJECT column (its casts would run wherever subjects are
--    read); labelled with a category, it is read as the owner only
CREATE TYPE bnd.badge AS ENUM ('b1', 'b2', 'b3');
CREATE FUNCTION bnd.badge_text(bnd.badge) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bnd.trap('cast');
    RETURN pg_catalog.textin(pg_catalog.enum_out($1));
END
$$;
CREATE CAST (bnd.badge AS text) WITH FUNCTION bnd.badge_text(bnd.badge);
CREATE FUNCTION bnd.badge_eq(bnd.badge, bnd.badge) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bnd.trap('operator');
    RETURN pg_catalog.enum_cmp($1, $2) = 0;
END
$$;
CREATE OPERATOR bnd.= (LEFTARG = bnd.badge, RIGHTARG = bnd.badge, FUNCTION = bnd.badge_eq);
-- 3. an index expression
CREATE FUNCTION bnd.indexed(v text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM bnd.trap('index expression');
    RETURN v;
END
$$;
-- 4. a policy
CREATE FUNCTION bnd.policy() RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN bnd.trap('policy');
END
$$;
-- 5. a trigger and a generated column
CREATE FUNCTION bnd.on_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bnd.trap(TG_OP || ' trigger');
    RETURN COALESCE(NEW, OLD);
END
$$;
CREATE FUNCTION bnd.generated(v text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN bnd.trap('generated column');
END
$$;
CREATE TABLE bnd.members (id bnd.member_id PRIMARY KEY, name text,
                          checked boolean GENERATED ALWAYS AS (bnd.generated(name)) STORED);
CREATE INDEX ON bnd.members (bnd.indexed(name));
CREATE TRIGGER members_change BEFORE UPDATE OR DELETE ON bnd.members FOR EACH ROW EXECUTE FUNCTION bnd.on_change();
CREATE POLICY members_policy ON bnd.members USING (bnd.policy());
ALTER TABLE bnd.members ENABLE ROW LEVEL SECURITY;
SECURITY LABEL FOR privacy ON COLUMN bnd.members.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN bnd.members.name IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON TABLE bnd.members IS 'ON CANCEL DELETE';
CREATE TABLE bnd.visits (id int PRIMARY KEY, member bnd.member_id NOT NULL REFERENCES bnd.members, note text,
                         at timestamptz NOT NULL DEFAULT now());
SECURITY LABEL FOR privacy ON COLUMN bnd.visits.note IS 'CATEGORY content.feedback';
SECURITY LABEL FOR privacy ON TABLE bnd.visits IS 'ON CANCEL ANONYMIZE RETAIN 30 days AFTER at THEN ANONYMIZE';
CREATE TABLE bnd.badges (badge bnd.badge PRIMARY KEY, holder text);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN bnd.badges.badge IS 'SUBJECT badge'$$);
SECURITY LABEL FOR privacy ON COLUMN bnd.badges.badge IS 'CATEGORY account.id';
-- nor an array of a domain, whose input runs the domain's check, nor a composite
CREATE TABLE bnd.groups (members bnd.member_id[], pair bnd.marker);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN bnd.groups.members IS 'SUBJECT'$$);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN bnd.groups.pair IS 'SUBJECT pair'$$);
-- 6. a trigger that changes search_path, and one that labels in restore mode
CREATE TABLE bnd.notes (id int PRIMARY KEY, owner_id bnd.member_id NOT NULL REFERENCES bnd.members, note text);
SECURITY LABEL FOR privacy ON COLUMN bnd.notes.note IS 'CATEGORY content.message';
SECURITY LABEL FOR privacy ON TABLE bnd.notes IS 'ON CANCEL DELETE';
CREATE FUNCTION bnd.notes_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'bnd, pg_catalog', false);
    PERFORM pg_catalog.set_config('check_function_bodies', 'off', false);
    BEGIN
        EXECUTE 'SECURITY LABEL FOR privacy ON COLUMN bnd.notes.note IS ''CATEGORY no_such.category MASK WITH bnd.indexed''';
        INSERT INTO bnd.marker VALUES (current_user, 'restore mode label: stored');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO bnd.marker VALUES (current_user, 'restore mode label: refused ' || SQLSTATE);
    END;
    RETURN OLD;
END
$$;
CREATE TRIGGER notes_change BEFORE DELETE ON bnd.notes FOR EACH ROW EXECUTE FUNCTION bnd.notes_change();
SECURITY LABEL FOR privacy ON COLUMN bnd.badges.holder IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON TABLE bnd.badges IS 'ON CANCEL DELETE';
INSERT INTO bnd.members (id, name) VALUES (700001, 'Ann'), (700002, 'Ben'), (700003, 'Cy');
INSERT INTO bnd.visits VALUES (1, 700001, 'Ann came', now() - interval '60 days'), (2, 700002, 'Ben came', now());
INSERT INTO bnd.badges VALUES ('b1', 'Ann'), ('b2', 'Ben');
INSERT INTO bnd.notes VALUES (1, 700001, 'a note');
-- the owner's operator class support function (an operator class needs a
-- superuser, who here installs one whose support function the owner wrote)
CREATE FUNCTION bnd.text_cmp(text, text) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM bnd.trap('operator class');
    RETURN pg_catalog.bttextcmp($1, $2);
END
$$;
RESET ROLE;
CREATE OPERATOR CLASS bnd.trapped_text_ops FOR TYPE text USING btree AS
    OPERATOR 1 pg_catalog.<, OPERATOR 2 pg_catalog.<=, OPERATOR 3 pg_catalog.=, OPERATOR 4 pg_catalog.>=,
    OPERATOR 5 pg_catalog.>, FUNCTION 1 bnd.text_cmp(text, text);
ALTER OPERATOR FAMILY bnd.trapped_text_ops USING btree OWNER TO regress_owner;
ALTER OPERATOR CLASS bnd.trapped_text_ops USING btree OWNER TO regress_owner;
SET ROLE regress_owner;
CREATE INDEX ON bnd.visits (note bnd.trapped_text_ops);
RESET ROLE;
TRUNCATE bnd.marker;

-- a superuser runs every entry point over these tables
SELECT rolsuper AS caller_is_superuser FROM pg_roles WHERE rolname = current_user;
SELECT relation, action, rows FROM privacy.cancel_subject('700001', dry_run => true) WHERE relation::text LIKE 'bnd.%';
SELECT count(*) AS exported_rows FROM privacy.export_subject_rows('700002') WHERE relation::text LIKE 'bnd.%';
SELECT count(*) >= 0 AS previewed FROM privacy.retention_preview();
SELECT privacy.place_hold('700002', now() + interval '1 day', 'investigation') > 0 AS held;
SET client_min_messages = error;   -- other suites' tables are expired too
CALL privacy.run_retention();
RESET client_min_messages;
SELECT relation, action, rows FROM privacy.cancel_subject('700001') WHERE relation::text LIKE 'bnd.%';
SHOW search_path;
SHOW check_function_bodies;
SELECT count(*) >= 0 AS checked FROM privacy.check();
SET client_min_messages = warning;
SELECT count(*) >= 0 AS replayed FROM privacy.replay_cancellations();
RESET client_min_messages;
SELECT privacy.release_hold(h.id) FROM privacy.hold h WHERE h.reason = 'investigation';
-- the state the calls left: Ann cancelled, Ben kept (his hold)
SELECT id, name FROM bnd.members ORDER BY id;
SELECT id, member, note FROM bnd.visits ORDER BY id;
SELECT holder FROM bnd.badges ORDER BY 1;   -- (badge::text would run the owner's cast as this superuser)
-- every planted piece that ran, ran as its owner; none became superuser
SELECT who, what, count(*) > 0 AS ran FROM bnd.marker GROUP BY who, what ORDER BY what;
SELECT count(*) AS ran_as_superuser FROM bnd.marker WHERE who <> 'regress_owner';
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_owner';

-- the relation kind is checked before any read: a labelled table turned
-- into a view (its _RETURN rule runs the owner's code) is read by nothing
SET ROLE regress_owner;
CREATE TABLE bnd.turned (id integer, secret text);
SECURITY LABEL FOR privacy ON COLUMN bnd.turned.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON TABLE bnd.turned IS 'ON CANCEL DELETE';
DROP TRIGGER privacy_cancelled_subject ON bnd.turned;
VACUUM bnd.turned;
CREATE RULE "_RETURN" AS ON SELECT TO bnd.turned DO INSTEAD
    SELECT 700003 AS id, 'x'::text AS secret WHERE bnd.trap('view rule');
RESET ROLE;
SELECT relkind FROM pg_class WHERE oid = 'bnd.turned'::regclass;
TRUNCATE bnd.marker;
SELECT relation, action, rows FROM privacy.cancel_subject('700003', dry_run => true) WHERE relation::text LIKE 'bnd.%';
SELECT count(*) AS exported_rows FROM privacy.export_subject_rows('700003') WHERE relation::text LIKE 'bnd.%';
SET client_min_messages = warning;
SELECT count(*) >= 0 AS replayed FROM privacy.replay_cancellations();
RESET client_min_messages;
SELECT severity, object, message FROM privacy.check() WHERE object LIKE 'bnd.turned%';
SELECT count(*) FILTER (WHERE what LIKE 'view rule%') AS view_body_ran,
       count(*) FILTER (WHERE who <> 'regress_owner') AS ran_as_superuser FROM bnd.marker;
DROP VIEW bnd.turned;

-- forced row-level security: cancellation never reports done while rows
-- remain; it refuses, naming the table
ALTER TABLE bnd.members FORCE ROW LEVEL SECURITY;
SELECT try($$SELECT * FROM privacy.cancel_subject('700003')$$);
SELECT id FROM bnd.members ORDER BY id;
ALTER TABLE bnd.members NO FORCE ROW LEVEL SECURITY;

-- base types' input and output functions are C: only a superuser installs
-- them, so a type's I/O is as trusted as the server (doc/security.md)
SET ROLE regress_owner;
SELECT try($$CREATE TYPE bnd.shell$$);
SELECT try($$CREATE TYPE bnd.shell (INPUT = pg_catalog.int4in, OUTPUT = pg_catalog.int4out)$$);
RESET ROLE;

-- event triggers: only a superuser creates one; ours fire on an owner's DDL
-- and run no code of the owner's (the DDL below relabels and alters the
-- planted table; nothing planted runs)
TRUNCATE bnd.marker;
SET ROLE regress_owner;
SECURITY LABEL FOR privacy ON COLUMN bnd.members.name IS 'CATEGORY identity.name MASK WITH privacy.mask_name';
ALTER TABLE bnd.members ADD COLUMN extra text;
SELECT try($$CREATE EVENT TRIGGER bnd_et ON ddl_command_end EXECUTE FUNCTION bnd.on_change()$$);
RESET ROLE;
SELECT who, what FROM bnd.marker ORDER BY what;

-- medium: the audit trigger is not PUBLIC's to attach (it would forge
-- entries); the guard may be attached (partitions clone it) but guards only
-- SUBJECT columns, and says whether a subject has a tombstone, never when
SET ROLE regress_app;
CREATE TEMP TABLE forged (id integer, category text);
SELECT try($$CREATE TRIGGER forge AFTER INSERT ON forged FOR EACH ROW EXECUTE FUNCTION privacy.category_audit()$$);
CREATE TRIGGER probe BEFORE INSERT ON forged FOR EACH ROW EXECUTE FUNCTION privacy.refuse_cancelled('id');
SELECT try($$INSERT INTO forged VALUES (700001, 'x')$$);
RESET ROLE;

-- medium: check_function_bodies = off gives a non-superuser no restore mode:
-- labels are still validated and audited
SET ROLE regress_owner;
SET check_function_bodies = off;
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN bnd.members.extra IS 'CATEGORY no.such_category'$$);
RESET ROLE;
SELECT count(*) AS audit_before FROM privacy.audit_log WHERE object LIKE '%bnd.members.extra%' \gset
SET ROLE regress_owner;
SET check_function_bodies = off;
SECURITY LABEL FOR privacy ON COLUMN bnd.members.extra IS 'CATEGORY identity.name';
RESET check_function_bodies;
RESET ROLE;
SELECT count(*) - :audit_before AS audited FROM privacy.audit_log WHERE object LIKE '%bnd.members.extra%';

-- medium: an audited transaction cannot be prepared
BEGIN;
SECURITY LABEL FOR privacy ON COLUMN bnd.members.extra IS NULL;
PREPARE TRANSACTION 'audited';
SELECT count(*) AS prepared FROM pg_prepared_xacts WHERE gid = 'audited';

-- medium: no lock of ours is one an ordinary role can take (no advisory locks)
SELECT count(*) AS functions_taking_advisory_locks FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'privacy'
 WHERE p.prosrc LIKE '%advisory%';

-- medium: a cancelled subject gets no consent; reserved keys are refused
SELECT try($$SELECT privacy.grant_consent('700001', 'analytics')$$);
SELECT try($$SELECT privacy.pseudonym('x', 'privacy.subjects')$$);
SELECT try($$SELECT privacy.encrypt('x', 'privacy.subjects')$$);

-- medium: a subject that is no value of its kind is refused without its value
CREATE TABLE bnd.devices (id uuid PRIMARY KEY);
SECURITY LABEL FOR privacy ON COLUMN bnd.devices.id IS 'SUBJECT device';
SELECT try($$SELECT * FROM privacy.cancel_subject('5', kind => 'device')$$);
PREPARE cancel_bound(text) AS SELECT * FROM privacy.cancel_subject($1, true);
SELECT try($$EXECUTE cancel_bound('x5x')$$);
DEALLOCATE cancel_bound;

-- medium: the guard against cancelled subjects covers an inheritance child
-- and a generated SUBJECT column
CREATE TABLE bnd.base (id integer);
SECURITY LABEL FOR privacy ON COLUMN bnd.base.id IS 'SUBJECT';
CREATE TABLE bnd.child (extra text) INHERITS (bnd.base);
SELECT try($$INSERT INTO bnd.child VALUES (700001, 'back')$$);
CREATE TABLE bnd.computed (raw integer, id integer GENERATED ALWAYS AS (raw + 1) STORED);
SECURITY LABEL FOR privacy ON COLUMN bnd.computed.id IS 'SUBJECT';
SELECT try($$INSERT INTO bnd.computed (raw) VALUES (700000)$$);
SELECT try($$INSERT INTO bnd.computed (raw) VALUES (5)$$) AS other_subject;
SELECT (SELECT count(*) FROM bnd.child) AS child_rows, (SELECT count(*) FROM bnd.computed) AS computed_rows;

-- medium: 18 tables, each with three foreign keys to the one before (3^17
-- chains): whose data each holds is found once per table
SET statement_timeout = '60s';
DO $$
BEGIN
    EXECUTE 'CREATE TABLE bnd.chain0 (id integer PRIMARY KEY)';
    EXECUTE 'SECURITY LABEL FOR privacy ON COLUMN bnd.chain0.id IS ''SUBJECT''';
    EXECUTE 'SECURITY LABEL FOR privacy ON TABLE bnd.chain0 IS ''ON CANCEL DELETE''';
    EXECUTE 'INSERT INTO bnd.chain0 VALUES (700009)';
    FOR i IN 1 .. 17 LOOP
        EXECUTE format('CREATE TABLE bnd.chain%s (id integer PRIMARY KEY, a integer NOT NULL REFERENCES bnd.chain%s, '
                       'b integer NOT NULL REFERENCES bnd.chain%s, c integer NOT NULL REFERENCES bnd.chain%s)', i, i - 1, i - 1, i - 1);
        EXECUTE format('SECURITY LABEL FOR privacy ON TABLE bnd.chain%s IS ''ON CANCEL DELETE''', i);
        EXECUTE format('INSERT INTO bnd.chain%s VALUES (1%s, %s, %s, %s)', i, i,
                       CASE WHEN i = 1 THEN 700009 ELSE ('1' || (i - 1))::integer END,
                       CASE WHEN i = 1 THEN 700009 ELSE ('1' || (i - 1))::integer END,
                       CASE WHEN i = 1 THEN 700009 ELSE ('1' || (i - 1))::integer END);
    END LOOP;
END
$$;
SELECT count(*) AS tables, max(hops) AS deepest FROM privacy.subject_path WHERE relation::text LIKE 'bnd.chain%';
SELECT count(*) AS tables_emptied, sum(rows) AS rows FROM privacy.cancel_subject('700009') WHERE relation::text LIKE 'bnd.chain%';
RESET statement_timeout;

-- escalation 4: a category's mask is held to the label's rule (a function
-- name in a trusted schema that takes and returns the column's type), so no
-- text of it reaches CREATE VIEW
SELECT try($$SELECT privacy.add_category('bnd_evil', 'x', mask => 'privacy.mask_name(x)) FROM pg_class; ALTER ROLE regress_owner SUPERUSER; --')$$);
SELECT try($$SELECT privacy.add_category('bnd_evil', 'x', mask => 'public.nosuch')$$);
SELECT privacy.add_category('bnd_fine', 'x', mask => 'mask_name') AS added;
SELECT mask FROM privacy.category WHERE name = 'bnd_fine';
SELECT count(*) AS evil_categories FROM privacy.category WHERE name = 'bnd_evil';

-- the plan of a table its owner reads, before statistics: counted as the owner
SET ROLE regress_owner;
CREATE TABLE bnd.fresh (id integer PRIMARY KEY, phone text);
SECURITY LABEL FOR privacy ON COLUMN bnd.fresh.phone IS 'CATEGORY contact.phone';
SELECT column_name, method FROM privacy.anonymization_plan('bnd.fresh');
RESET ROLE;

-- a temporary table is no one's to label (its session alone could read it:
-- every cancellation would stop at it, and its guard would answer probes)
SET ROLE regress_app;
CREATE TEMP TABLE probe (id integer);
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN probe.id IS 'SUBJECT'$$);
-- whether a subject is under a legal hold is not PUBLIC's to ask
SELECT try($$SELECT * FROM privacy.table_holds('pg_temp.probe')$$);
RESET ROLE;

-- a view built on a purpose view does not stop its table from changing: the
-- purpose view is replaced in place (its columns only grow or change their
-- expressions: PostgreSQL itself refuses to drop or retype a column a view
-- reads), so a label or a new column rebuilds it
SET ROLE regress_owner;
CREATE TABLE bnd.clients (id integer PRIMARY KEY, phone text);
SECURITY LABEL FOR privacy ON COLUMN bnd.clients.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN bnd.clients.phone IS 'CATEGORY contact.phone';
RESET ROLE;
SELECT privacy.create_purpose_view('bnd.clients', 'marketing') IS NOT NULL AS made;
CREATE VIEW bnd.on_top AS SELECT id FROM bnd.clients_marketing;
SET ROLE regress_owner;
ALTER TABLE bnd.clients ADD COLUMN email text;
RESET ROLE;
SELECT to_regclass('bnd.on_top') IS NOT NULL AS still_there;
SET ROLE regress_owner;
SECURITY LABEL FOR privacy ON COLUMN bnd.clients.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN bnd.clients.phone IS 'CATEGORY identity.name';
RESET ROLE;
SELECT to_regclass('bnd.on_top') IS NOT NULL AS still_there,
       (SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'bnd.clients_marketing'::regclass AND attnum > 0) AS view_columns;

-- a purpose view casts no column to a domain: a domain's CHECK is the table
-- owner's code, and a cast in the view would run it as whoever reads the view
-- (over Citus, as the extension's owner on a worker: TAP 014).  Masked,
-- hidden and clear columns of a domain type (an array of one too) come out as
-- the base type; reading the view runs none of the owner's code.
CREATE ROLE regress_bnd_reader;
SELECT privacy.define_purpose('bnd_reading', 'consent', ARRAY['contact.phone'], 'reads the boundary test''s clients') IS NOT NULL AS defined;
SELECT privacy.hide_category('bnd_reading', 'identity.nationality') AS hidden;
SET ROLE regress_owner;
CREATE DOMAIN bnd.text_d AS text CHECK (bnd.trap('view domain check'));
CREATE TABLE bnd.dclients (id integer PRIMARY KEY, phone bnd.text_d, name bnd.text_d,
                           nationality bnd.text_d, tags bnd.text_d[]);
SECURITY LABEL FOR privacy ON COLUMN bnd.dclients.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN bnd.dclients.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN bnd.dclients.name IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON COLUMN bnd.dclients.nationality IS 'CATEGORY identity.nationality';
INSERT INTO bnd.dclients VALUES (880001, '13800000001', 'Wang Fang', 'CN', ARRAY['vip']),
                                (880002, '13800000002', 'Li Lei', 'CN', NULL);
RESET ROLE;
SELECT privacy.grant_consent('880001', 'bnd_reading') > 0 AS consented;
SELECT privacy.create_purpose_view('bnd.dclients', 'bnd_reading') AS view;
SELECT privacy.grant_purpose('bnd_reading', 'regress_bnd_reader') AS views_granted;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'bnd.dclients_bnd_reading'::regclass AND attnum > 0 ORDER BY attnum;
DELETE FROM bnd.marker;
SET ROLE regress_bnd_reader;
SELECT * FROM bnd.dclients_bnd_reading;
RESET ROLE;
SELECT who, what FROM bnd.marker ORDER BY 1, 2;
SELECT privacy.view_column_type('bnd.dclients'::regclass, 2) AS phone_type,
       privacy.view_column_type('bnd.dclients'::regclass, 5) AS tags_type,
       privacy.view_column_type('bnd.marker'::regclass, 1) AS plain_type,
       privacy.view_column_type('bnd.dclients'::regclass, 9) AS no_column;
-- a purpose view made by 0.1.0 cast to the domain: privacy.check() names it
-- and its hint rebuilds it
DROP VIEW bnd.dclients_bnd_reading;
CREATE VIEW bnd.dclients_bnd_reading WITH (security_barrier) AS
    SELECT id, phone, privacy.mask_name(name)::bnd.text_d AS name, NULL::bnd.text_d AS nationality, tags FROM bnd.dclients;
GRANT SELECT ON bnd.dclients_bnd_reading TO regress_bnd_reader;
DELETE FROM bnd.marker;
SET ROLE regress_bnd_reader;
SELECT id, name FROM bnd.dclients_bnd_reading ORDER BY id;
RESET ROLE;
-- (what the fix prevents: the owner's check ran as the reader)
SELECT who, what, count(*) FROM bnd.marker GROUP BY 1, 2 ORDER BY 1, 2;
SELECT severity, object, message, hint FROM privacy.check() WHERE object = 'bnd.dclients_bnd_reading' ORDER BY message;
SELECT privacy.refresh_purpose_views('bnd.dclients') AS refreshed;
SELECT count(*) AS findings FROM privacy.check() WHERE object = 'bnd.dclients_bnd_reading';
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'bnd.dclients_bnd_reading'::regclass AND attnum > 0 ORDER BY attnum;
DELETE FROM bnd.marker;
SET ROLE regress_bnd_reader;
SELECT id, name FROM bnd.dclients_bnd_reading ORDER BY id;
RESET ROLE;
SELECT count(*) AS checks_run FROM bnd.marker;
-- a domain over an array of a domain, and a typmod kept through a domain
SET ROLE regress_owner;
CREATE DOMAIN bnd.text_dd AS bnd.text_d[];
CREATE DOMAIN bnd.short_d AS varchar(10);
CREATE TABLE bnd.dtypes (id integer, nested bnd.text_dd, short bnd.short_d, shorts bnd.short_d[], n numeric(10,2)[]);
RESET ROLE;
SELECT attname, privacy.view_column_type('bnd.dtypes'::regclass, attnum) FROM pg_attribute
 WHERE attrelid = 'bnd.dtypes'::regclass AND attnum > 0 ORDER BY attnum;

-- a birth date column of the owner's type with an implicit cast to date:
-- the view's minor condition would call the cast as the reader; purpose
-- views read only a birth date of type date, timestamp or timestamptz (or a
-- domain over one), so this one is not read
SET ROLE regress_owner;
CREATE TYPE bnd.birthday AS ENUM ('1990-01-01', '2015-06-01');
CREATE FUNCTION bnd.birthday_date(bnd.birthday) RETURNS date LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM bnd.trap('birth date cast');
    RETURN pg_catalog.enum_out($1)::text::date;
END
$$;
CREATE CAST (bnd.birthday AS date) WITH FUNCTION bnd.birthday_date(bnd.birthday) AS IMPLICIT;
CREATE TABLE bnd.kids (id integer PRIMARY KEY, born bnd.birthday, born_d date);
SECURITY LABEL FOR privacy ON COLUMN bnd.kids.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN bnd.kids.born IS 'CATEGORY identity.birth_date';
INSERT INTO bnd.kids VALUES (880001, '1990-01-01', NULL), (880003, '2015-06-01', NULL);
RESET ROLE;
SELECT privacy.view_birth_column('bnd.kids'::regclass) AS birth_column_read;
SELECT privacy.create_purpose_view('bnd.kids', 'bnd_reading') AS view;
DELETE FROM bnd.marker;
SET ROLE regress_bnd_reader;
SELECT id FROM bnd.kids_bnd_reading ORDER BY id;
RESET ROLE;
SELECT count(*) AS casts_run FROM bnd.marker;
-- a date column labelled too: that one is read (the first by name of a date type)
SET ROLE regress_owner;
SECURITY LABEL FOR privacy ON COLUMN bnd.kids.born_d IS 'CATEGORY identity.birth_date';
RESET ROLE;
SELECT privacy.view_birth_column('bnd.kids'::regclass) AS birth_column_read;

SELECT privacy.withdraw_consent('880001', 'bnd_reading') AS withdrawn;
SELECT privacy.drop_purpose('bnd_reading');
SELECT to_regclass('bnd.dclients_bnd_reading') AS view_after_drop;
DROP OWNED BY regress_bnd_reader;
DROP ROLE regress_bnd_reader;

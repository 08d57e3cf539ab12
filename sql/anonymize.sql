-- anonymize: whole tables rewritten by each column's method (ANONYMIZE WITH,
-- the category's default, or the constraints), in committed batches, with
-- unique and NOT NULL constraints holding and foreign keys still joining
\set VERBOSITY terse
SELECT privacy.create_key('anonymize');

-- 1. the label clause and its checks
CREATE SCHEMA anon;
CREATE TABLE anon.t (id int, d date, b boolean, s text, n numeric, u uuid);
SECURITY LABEL FOR privacy ON COLUMN anon.t.s IS 'CATEGORY contact.phone ANONYMIZE WITH FF1';
SECURITY LABEL FOR privacy ON COLUMN anon.t.d IS 'category identity.birth_date anonymize with generalize 3';
SECURITY LABEL FOR privacy ON COLUMN anon.t.id IS 'SUBJECT ANONYMIZE WITH PSEUDONYM';
SECURITY LABEL FOR privacy ON COLUMN anon.t.u IS 'CATEGORY device.id ANONYMIZE WITH PSEUDONYM';
SECURITY LABEL FOR privacy ON COLUMN anon.t.n IS 'CATEGORY financial.income ANONYMIZE WITH GENERALIZE 4';
SECURITY LABEL FOR privacy ON COLUMN anon.t.b IS 'CATEGORY identity.gender ANONYMIZE WITH PLACEHOLDER';
SELECT column_name, category, subject, anonymize FROM privacy.labels
 WHERE relation = 'anon.t'::regclass ORDER BY column_name;
SELECT try($$SECURITY LABEL FOR privacy ON COLUMN anon.t.b IS 'CATEGORY identity.gender ANONYMIZE WITH SCRAMBLE'$$) AS unknown_method
UNION ALL SELECT try($$SECURITY LABEL FOR privacy ON COLUMN anon.t.b IS 'CATEGORY identity.gender ANONYMIZE PSEUDONYM'$$)
UNION ALL SELECT try($$SECURITY LABEL FOR privacy ON COLUMN anon.t.d IS 'CATEGORY identity.birth_date ANONYMIZE WITH GENERALIZE 0'$$)
UNION ALL SELECT try($$SECURITY LABEL FOR privacy ON COLUMN anon.t.d IS 'CATEGORY identity.birth_date ANONYMIZE WITH GENERALIZE 10'$$)
UNION ALL SELECT try($$SECURITY LABEL FOR privacy ON COLUMN anon.t.d IS 'CATEGORY identity.birth_date ANONYMIZE WITH GENERALIZE'$$)
UNION ALL SELECT try($$SECURITY LABEL FOR privacy ON COLUMN anon.t.d IS 'CATEGORY identity.birth_date ANONYMIZE WITH NULL ANONYMIZE WITH NULL'$$)
UNION ALL SELECT try($$SECURITY LABEL FOR privacy ON TABLE anon.t IS 'ANONYMIZE WITH NULL'$$)
UNION ALL SELECT try($$SECURITY LABEL FOR privacy ON COLUMN anon.t.d IS 'ANONYMIZE WITH NULL'$$)
UNION ALL SELECT try($$SECURITY LABEL FOR privacy ON COLUMN anon.t.d IS 'CATEGORY identity.birth_date ANONYMIZE WITH PSEUDONYM'$$)
UNION ALL SELECT try($$SECURITY LABEL FOR privacy ON COLUMN anon.t.d IS 'CATEGORY identity.birth_date ANONYMIZE WITH FF1'$$)
UNION ALL SELECT try($$SECURITY LABEL FOR privacy ON COLUMN anon.t.b IS 'CATEGORY identity.gender ANONYMIZE WITH GENERALIZE 1'$$)
UNION ALL SELECT try($$SECURITY LABEL FOR privacy ON COLUMN anon.t.d IS 'CATEGORY identity.birth_date ANONYMIZE WITH GENERALIZE 4'$$);
-- a failed label changed nothing
SELECT column_name, anonymize FROM privacy.labels WHERE relation = 'anon.t'::regclass AND column_name IN ('b', 'd') ORDER BY 1;
-- each method against each type, as anonymization_plan checks a category's default
SELECT m, t, privacy.anonymize_method_problem(m, t::regtype) AS problem
  FROM unnest(ARRAY['null', 'placeholder', 'pseudonym', 'ff1', 'generalize 2', 'generalize 5', 'scramble']) m,
       unnest(ARRAY['text', 'varchar', 'bigint', 'uuid', 'bytea', 'date', 'timestamptz', 'inet', 'numeric', 'boolean']) t
 WHERE privacy.anonymize_method_problem(m, t::regtype) IS NOT NULL
 ORDER BY m, t;
-- the categories' defaults
SELECT name, anonymize FROM privacy.category WHERE anonymize IS NOT NULL ORDER BY name;
DROP TABLE anon.t;

-- 2. FF1 over an integer range: a permutation of the range
-- NIST SP 800-38G FF1 sample 1 (AES-128, radix 10, empty tweak): 0123456789 -> 2433477484;
-- over 0..9999999999 the integer 123456789 is that numeral string
SELECT privacy.import_key('anon-ff1-nist', '\x2B7E151628AED2A6ABF7158809CF4F3C', 'ff1');
SELECT privacy.fpe_encrypt(123456789, 'anon-ff1-nist', 0, 9999999999) AS nist_sample_1,
       privacy.fpe_decrypt(2433477484, 'anon-ff1-nist', 0, 9999999999) AS back;
-- 10,000 integers map onto the same 10,000, and back
SELECT count(DISTINCT e) AS distinct_values, min(e), max(e),
       bool_and(privacy.fpe_decrypt(e, 'anonymize', 5000, 14999) = i) AS decrypts
  FROM (SELECT i, privacy.fpe_encrypt(i, 'anonymize', 5000, 14999) AS e FROM generate_series(5000, 14999) i) s;
-- the full ranges of smallint and bigint
SELECT privacy.fpe_encrypt(-32768, 'anonymize', -32768, 32767) BETWEEN -32768 AND 32767 AS int2_in_range,
       privacy.fpe_decrypt(privacy.fpe_encrypt(-9223372036854775808, 'anonymize', -9223372036854775808, 9223372036854775807),
                           'anonymize', -9223372036854775808, 9223372036854775807) AS int8_min_back,
       privacy.fpe_encrypt(NULL::bigint, 'anonymize', 0, 99999) AS null_stays_null;
SELECT try($$SELECT privacy.fpe_encrypt(5, 'anonymize', 10, 1)$$) AS errors
UNION ALL SELECT try($$SELECT privacy.fpe_encrypt(5, 'anonymize', 0, 9998)$$)
UNION ALL SELECT try($$SELECT privacy.fpe_encrypt(424242, 'anonymize', 0, 99999)$$)
UNION ALL SELECT try($$SELECT privacy.fpe_encrypt(5, 'no such key', 0, 99999)$$);

-- 3. the plan: each column's method, what chose it, the collision risk
CREATE TABLE anon.users (
    n        integer GENERATED ALWAYS AS IDENTITY,
    id       integer PRIMARY KEY,
    email    varchar(60) NOT NULL UNIQUE,
    phone    text NOT NULL,
    handle   char(8) UNIQUE,
    nick     text,
    address  text NOT NULL,
    birth    date,
    ip       inet,
    income   numeric,
    token    uuid,
    photo    bytea,
    initials text GENERATED ALWAYS AS (left(nick, 1)) STORED,
    note     text
);
SECURITY LABEL FOR privacy ON COLUMN anon.users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN anon.users.n IS 'CATEGORY account.id';
SECURITY LABEL FOR privacy ON COLUMN anon.users.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN anon.users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN anon.users.handle IS 'CATEGORY account.username';
SECURITY LABEL FOR privacy ON COLUMN anon.users.nick IS 'CATEGORY identity.nickname';
SECURITY LABEL FOR privacy ON COLUMN anon.users.address IS 'CATEGORY contact.address';
SECURITY LABEL FOR privacy ON COLUMN anon.users.birth IS 'CATEGORY identity.birth_date';
SECURITY LABEL FOR privacy ON COLUMN anon.users.ip IS 'CATEGORY device.ip ANONYMIZE WITH GENERALIZE 2';
SECURITY LABEL FOR privacy ON COLUMN anon.users.income IS 'CATEGORY financial.income ANONYMIZE WITH GENERALIZE 3';
SECURITY LABEL FOR privacy ON COLUMN anon.users.token IS 'CATEGORY device.id ANONYMIZE WITH PSEUDONYM';
SECURITY LABEL FOR privacy ON COLUMN anon.users.photo IS 'CATEGORY account.avatar ANONYMIZE WITH PSEUDONYM';
SECURITY LABEL FOR privacy ON COLUMN anon.users.initials IS 'CATEGORY identity.name';
CREATE TABLE anon.orders (
    id         serial PRIMARY KEY,
    user_id    integer NOT NULL REFERENCES anon.users (id),
    user_email varchar(60) REFERENCES anon.users (email),
    courier    text,
    amount     numeric NOT NULL
);
SECURITY LABEL FOR privacy ON COLUMN anon.orders.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN anon.orders.courier IS 'CATEGORY contact.phone';
INSERT INTO anon.users (id, email, phone, handle, nick, address, birth, ip, income, token, photo, note)
SELECT i, 'user' || i || '@example.com', '138' || lpad(i::text, 8, '0'), 'h' || lpad(i::text, 7, '0'),
       CASE WHEN i % 5 <> 0 THEN 'nick' || i END, i || ' Garden Road', date '1980-03-15' + i * 97,
       ('192.168.' || i % 7 || '.' || i)::inet, 1000 + i * 37,
       md5(i::text)::uuid, decode(md5('p' || i), 'hex'), 'note ' || i
  FROM generate_series(1, 40) i;
INSERT INTO anon.orders (user_id, user_email, courier, amount)
SELECT i % 40 + 1, CASE WHEN i % 3 = 0 THEN 'user' || (i % 40 + 1) || '@example.com' END, '1390000' || lpad(i::text, 4, '0'), i
  FROM generate_series(1, 100) i;
ANALYZE anon.users, anon.orders;
SELECT relation, column_name, category, method, chosen_by, is_unique,
       CASE WHEN collision_risk = 0 THEN '0' WHEN collision_risk < 1e-20 THEN '< 1e-20' ELSE collision_risk::text END AS collision_risk,
       joins, note
  FROM privacy.anonymization_plan('anon.users');
-- the SQL of three methods (the key goes in by name)
SELECT column_name, expression FROM privacy.anonymization_plan('anon.users')
 WHERE column_name IN ('phone', 'birth', 'nick') ORDER BY column_name;
-- the child's own plan: its key columns follow the parent
SELECT relation, column_name, method, chosen_by, joins, note FROM privacy.anonymization_plan('anon.orders');

-- what cannot be done is refused before anything changes
CREATE TABLE anon.bad (id int PRIMARY KEY, a text NOT NULL, b text UNIQUE, c text, parent int REFERENCES anon.bad (id));
SECURITY LABEL FOR privacy ON COLUMN anon.bad.a IS 'CATEGORY identity.nickname ANONYMIZE WITH NULL';
SELECT try($$SELECT * FROM privacy.anonymization_plan('anon.bad')$$) AS not_null;
SECURITY LABEL FOR privacy ON COLUMN anon.bad.a IS NULL;
SECURITY LABEL FOR privacy ON COLUMN anon.bad.b IS 'CATEGORY identity.nickname ANONYMIZE WITH PLACEHOLDER';
SELECT try($$SELECT * FROM privacy.anonymization_plan('anon.bad')$$) AS unique_placeholder;
SECURITY LABEL FOR privacy ON COLUMN anon.bad.b IS 'CATEGORY identity.nickname ANONYMIZE WITH GENERALIZE 1';
SELECT try($$SELECT * FROM privacy.anonymization_plan('anon.bad')$$) AS unique_generalized;
SECURITY LABEL FOR privacy ON COLUMN anon.bad.b IS NULL;
SECURITY LABEL FOR privacy ON COLUMN anon.bad.parent IS 'SUBJECT';
SELECT try($$SELECT * FROM privacy.anonymization_plan('anon.bad')$$) AS self_reference;
SECURITY LABEL FOR privacy ON COLUMN anon.bad.parent IS NULL;
CREATE TABLE anon.bad_child (b text REFERENCES anon.bad (b));
SECURITY LABEL FOR privacy ON COLUMN anon.bad.b IS 'CATEGORY account.username ANONYMIZE WITH NULL';
SELECT try($$SELECT * FROM privacy.anonymization_plan('anon.bad')$$) AS referenced_nulled;
DROP TABLE anon.bad_child, anon.bad;
CREATE TABLE anon.plain (code text PRIMARY KEY);
CREATE TABLE anon.refers (code text REFERENCES anon.plain (code));
SECURITY LABEL FOR privacy ON COLUMN anon.refers.code IS 'CATEGORY account.id ANONYMIZE WITH PSEUDONYM';
SELECT try($$SELECT * FROM privacy.anonymization_plan('anon.refers')$$) AS joins_unrewritten;
SECURITY LABEL FOR privacy ON COLUMN anon.refers.code IS 'CATEGORY account.id ANONYMIZE WITH NULL';
SELECT column_name, method, chosen_by, joins FROM privacy.anonymization_plan('anon.refers') AS nullable_fk_emptied;
SECURITY LABEL FOR privacy ON COLUMN anon.refers.code IS 'CATEGORY account.id';
SELECT column_name, method, note FROM privacy.anonymization_plan('anon.refers') AS fk_kept;
DROP TABLE anon.refers, anon.plain;
SELECT try($$SELECT * FROM privacy.anonymization_plan('privacy.labels')$$) AS a_view
UNION ALL SELECT try($$SELECT * FROM privacy.anonymization_plan(NULL)$$);

-- 4. anonymize_table: the originals, kept aside to check every value
CREATE TABLE anon.users_before AS SELECT * FROM anon.users;
CREATE TABLE anon.orders_before AS SELECT * FROM anon.orders;
SELECT count(*) AS joined_before FROM anon.orders o JOIN anon.users u ON u.id = o.user_id;
SELECT count(*) AS joined_by_email_before FROM anon.orders o JOIN anon.users u ON u.email = o.user_email;
-- the streamed copy of privacy_anonymized_dump reads each table by the same
-- plan and key: the rows it gives are the rows anonymize_table leaves
SELECT relation, owner = current_user AS owner_is_caller, columns
  FROM privacy.anonymized_copy('anonymize') WHERE relation::text LIKE 'anon.%' ORDER BY relation::text;
SELECT select_sql FROM privacy.anonymized_copy('anonymize') WHERE relation = 'anon.orders'::regclass;
SELECT format('CREATE TABLE anon.%I AS %s', split_part(c.relation::text, '.', 2) || '_copy', c.select_sql)
  FROM privacy.anonymized_copy('anonymize') c WHERE c.relation IN ('anon.users'::regclass, 'anon.orders'::regclass) \gexec
SELECT try($$SELECT * FROM privacy.anonymized_copy(NULL)$$);
CALL privacy.anonymize_table('anon.users', batch_size => 7);
SELECT format('SELECT count(*) AS users_differing FROM (SELECT %s FROM anon.users EXCEPT ALL SELECT * FROM anon.users_copy) x', c.columns)
  FROM privacy.anonymized_copy('anonymize') c WHERE c.relation = 'anon.users'::regclass \gexec
-- each column holds exactly what its method makes of the original
SELECT count(*) AS rows,
       count(*) FILTER (WHERE u.id = privacy.fpe_encrypt(b.id, 'anonymize', -2147483648, 2147483647)) AS id_permuted,
       count(*) FILTER (WHERE u.email = left(privacy.pseudonym(b.email, 'anonymize'), 32) || '@anonymized.invalid') AS email_pseudonym,
       count(*) FILTER (WHERE u.phone = privacy.fpe_encrypt(b.phone, 'anonymize') AND length(u.phone) = 11) AS phone_ff1,
       count(*) FILTER (WHERE u.handle = left(privacy.pseudonym(b.handle, 'anonymize'), 8)) AS handle_pseudonym,
       count(*) FILTER (WHERE u.nick IS NULL AND u.initials IS NULL) AS nick_null,
       count(*) FILTER (WHERE u.address = 'anonymized') AS address_placeholder,
       count(*) FILTER (WHERE u.birth = date_trunc('year', b.birth)::date) AS birth_year,
       count(*) FILTER (WHERE u.ip = network(set_masklen(b.ip, 16))) AS ip_16,
       count(*) FILTER (WHERE u.income = floor(b.income / 50) * 50) AS income_band_50,
       count(*) FILTER (WHERE u.token = left(privacy.pseudonym(b.token::text, 'anonymize'), 32)::uuid) AS token_pseudonym,
       count(*) FILTER (WHERE u.photo = privacy.pseudonym(b.photo, 'anonymize')) AS photo_pseudonym,
       count(*) FILTER (WHERE u.n = b.n AND u.note = b.note) AS identity_and_unlabelled_kept
  FROM anon.users u JOIN anon.users_before b ON b.n = u.n;
-- unique columns stay unique, NOT NULL ones filled, and no original value is left
SELECT count(DISTINCT id) AS ids, count(DISTINCT email) AS emails, count(DISTINCT handle) AS handles,
       count(*) FILTER (WHERE phone IS NULL OR address IS NULL OR email IS NULL) AS nulls
  FROM anon.users;
SELECT count(*) AS originals_left
  FROM anon.users u JOIN anon.users_before b ON b.n = u.n
 WHERE u.id = b.id OR u.email = b.email OR u.phone = b.phone OR u.handle = b.handle OR u.address = b.address
    OR u.token = b.token OR u.photo = b.photo OR u.ip = b.ip;
-- the orders still join their users, through both foreign keys, with the same pseudonyms
SELECT count(*) AS joined_after FROM anon.orders o JOIN anon.users u ON u.id = o.user_id;
SELECT count(*) AS joined_by_email_after FROM anon.orders o JOIN anon.users u ON u.email = o.user_email;
SELECT count(*) FILTER (WHERE o.user_id = privacy.fpe_encrypt(b.user_id, 'anonymize', -2147483648, 2147483647)) AS user_ids_rewritten,
       count(*) FILTER (WHERE o.courier = b.courier AND o.amount = b.amount) AS own_columns_untouched
  FROM anon.orders o JOIN anon.orders_before b ON b.id = o.id;
-- the run: in the log, in the audit log (methods and counts, no values)
SELECT relation, status, rows_done, rows_total, batches, batch_size, key_name FROM privacy.anonymize_log;
SELECT p.relation, p.mode, p.key_column, p.rows_done, p.finished FROM privacy.anonymize_part p;
SELECT object, detail->>'operation' AS operation, detail->>'rows' AS rows, detail->>'batches' AS batches,
       jsonb_array_length(detail->'columns') AS columns, detail->>'erasure' AS erasure
  FROM privacy.audit_log WHERE kind = 'anonymize' ORDER BY seq;
SELECT count(*) AS values_in_audit FROM privacy.audit_log a, anon.users_before b
 WHERE a.kind = 'anonymize' AND (a.detail::text LIKE '%' || b.email || '%' OR a.detail::text LIKE '%' || b.phone || '%');
-- a second call has nothing to do
CALL privacy.anonymize_table('anon.users');
-- the orders: their user_id was rewritten with the users; the courier now
CALL privacy.anonymize_table('anon.orders', 30);
SELECT count(*) AS orders_differing
  FROM (SELECT id, user_id, user_email, courier, amount FROM anon.orders EXCEPT ALL SELECT * FROM anon.orders_copy) x;
DROP TABLE anon.users_copy, anon.orders_copy;
SELECT count(*) FILTER (WHERE o.courier = privacy.fpe_encrypt(b.courier, 'anonymize')) AS courier_ff1,
       count(*) FILTER (WHERE o.user_id = privacy.fpe_encrypt(b.user_id, 'anonymize', -2147483648, 2147483647)) AS user_id_once
  FROM anon.orders o JOIN anon.orders_before b ON b.id = o.id;
SELECT relation, status, rows_done, batches FROM privacy.anonymize_log ORDER BY id;

-- 5. a stopped run continues where it left off, each row rewritten once:
-- keyset (the key is not rewritten) and queue (it is) walks
CREATE TABLE anon.visits (id bigint PRIMARY KEY, phone text NOT NULL, city text);
SECURITY LABEL FOR privacy ON COLUMN anon.visits.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN anon.visits.city IS 'CATEGORY location.coarse';
CREATE TABLE anon.members (id bigint PRIMARY KEY, phone text NOT NULL);
SECURITY LABEL FOR privacy ON COLUMN anon.members.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN anon.members.phone IS 'CATEGORY contact.phone';
INSERT INTO anon.visits SELECT i, '1370000' || lpad(i::text, 4, '0'), 'city ' || i FROM generate_series(1, 50) i;
INSERT INTO anon.members SELECT i, '1360000' || lpad(i::text, 4, '0') FROM generate_series(1, 50) i;
CREATE TABLE anon.visits_before AS SELECT * FROM anon.visits;
CREATE TABLE anon.members_before AS SELECT * FROM anon.members;
-- start each run and do two batches of 10, as a call that was stopped would
SELECT privacy.anonymize_start('anon.visits', 10, 'anonymize') IS NOT NULL AS visits_started,
       privacy.anonymize_start('anon.members', 10, 'anonymize') IS NOT NULL AS members_started;
SELECT privacy.anonymize_batch(r.id) AS first, privacy.anonymize_batch(r.id) AS second
  FROM privacy.anonymize_run r WHERE r.relation IN ('anon.visits', 'anon.members') ORDER BY r.id;
SELECT relation, status, rows_done, rows_total, batches FROM privacy.anonymize_log
 WHERE relation IN ('anon.visits', 'anon.members') ORDER BY id;
SELECT p.relation, p.mode, p.key_column, p.rows_done FROM privacy.anonymize_part p
 WHERE p.relation IN ('anon.visits', 'anon.members') ORDER BY 1;
SELECT count(*) AS queued FROM privacy.anonymize_queue;
CALL privacy.anonymize_table('anon.visits', 10);
CALL privacy.anonymize_table('anon.members', 10);
SELECT count(*) FILTER (WHERE v.phone = privacy.fpe_encrypt(b.phone, 'anonymize') AND v.city IS NULL) AS visits_once
  FROM anon.visits v JOIN anon.visits_before b ON b.id = v.id;
SELECT count(*) FILTER (WHERE m.phone = privacy.fpe_encrypt(b.phone, 'anonymize')) AS members_once
  FROM anon.members m JOIN anon.members_before b ON m.id = privacy.fpe_encrypt(b.id, 'anonymize', -9223372036854775808, 9223372036854775807);
SELECT relation, status, rows_done, rows_total, batches FROM privacy.anonymize_log
 WHERE relation IN ('anon.visits', 'anon.members') ORDER BY id;
SELECT count(*) AS queued FROM privacy.anonymize_queue;
SELECT detail->>'operation' AS operation, count(*) FROM privacy.audit_log
 WHERE kind = 'anonymize' AND object IN ('table anon.visits', 'table anon.members') GROUP BY 1 ORDER BY 1;

-- 6. partitions: the parent's labels bind them, each is walked in turn;
-- a table with no single-column key is walked by a queue of its rows
CREATE TABLE anon.calls (at date NOT NULL, caller text NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE anon.calls_2025 PARTITION OF anon.calls FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE anon.calls_2026 PARTITION OF anon.calls FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SECURITY LABEL FOR privacy ON COLUMN anon.calls.caller IS 'CATEGORY contact.phone';
INSERT INTO anon.calls SELECT date '2025-06-01' + i * 10, '1350000' || lpad(i::text, 4, '0') FROM generate_series(1, 40) i;
CREATE TABLE anon.calls_before AS SELECT tableoid::regclass AS part, * FROM anon.calls;
CALL privacy.anonymize_table('anon.calls', 8);
SELECT b.part, count(*) FILTER (WHERE c.caller = privacy.fpe_encrypt(b.caller, 'anonymize')) AS rewritten, count(*)
  FROM anon.calls_before b JOIN anon.calls c ON c.at = b.at GROUP BY 1 ORDER BY 1;
SELECT p.relation, p.mode, p.key_column, p.rows_total, p.rows_done, p.batches FROM privacy.anonymize_part p
  JOIN privacy.anonymize_run r ON r.id = p.run_id WHERE r.relation = 'anon.calls' ORDER BY 1;
-- a partition already done is not done again
CALL privacy.anonymize_table('anon.calls_2025');

-- 7. who may run it, and the errors
CREATE TABLE anon.owned (id int PRIMARY KEY, phone text);
ALTER TABLE anon.owned OWNER TO regress_owner;
SECURITY LABEL FOR privacy ON COLUMN anon.owned.phone IS 'CATEGORY contact.phone';
INSERT INTO anon.owned VALUES (1, '13812345678');
GRANT USAGE ON SCHEMA anon TO regress_owner, regress_app;
GRANT regress_anonymizer TO regress_app, regress_owner;   -- EXECUTE on anonymize_table and its functions
SET ROLE regress_app;
SELECT try($$CALL privacy.anonymize_table('anon.owned')$$) AS not_owner;
RESET ROLE;
-- the owner runs the batches: it needs the function its methods call
SET ROLE regress_owner;
SELECT try($$CALL privacy.anonymize_table('anon.owned')$$) AS owner_without_ff1;
RESET ROLE;
GRANT EXECUTE ON FUNCTION privacy.fpe_encrypt(text, text, text, integer) TO regress_owner;
SET ROLE regress_owner;
CALL privacy.anonymize_table('anon.owned');
RESET ROLE;
SELECT phone = privacy.fpe_encrypt('13812345678', 'anonymize') AS owner_anonymized FROM anon.owned;
SELECT run_by FROM privacy.anonymize_log WHERE relation = 'anon.owned';
CREATE TABLE anon.nothing (id int);
SELECT try($$CALL privacy.anonymize_table('anon.visits', 0)$$) AS errors
UNION ALL SELECT try($$CALL privacy.anonymize_table(NULL)$$)
UNION ALL SELECT try($$CALL privacy.anonymize_table('anon.visits_before', 10, NULL)$$)
UNION ALL SELECT try($$CALL privacy.anonymize_table('privacy.category')$$)
UNION ALL SELECT try($$CALL privacy.anonymize_table('privacy.inventory')$$);
CALL privacy.anonymize_table('anon.nothing');
CREATE TABLE anon.needs_key (phone text);
SECURITY LABEL FOR privacy ON COLUMN anon.needs_key.phone IS 'CATEGORY contact.phone';
SELECT try($$CALL privacy.anonymize_table('anon.needs_key', 10, 'no_such_key')$$) AS missing_key;
SELECT count(*) AS runs_of_needs_key FROM privacy.anonymize_run WHERE relation = 'anon.needs_key';

-- 8. anonymize_database: every labelled table of the schemas, each checked first
CREATE SCHEMA anon2;
CREATE TABLE anon2."Odd ""name""; x" ("e-mail" text UNIQUE, "$$phone" text);
SECURITY LABEL FOR privacy ON COLUMN anon2."Odd ""name""; x"."e-mail" IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN anon2."Odd ""name""; x"."$$phone" IS 'CATEGORY contact.phone ANONYMIZE WITH PLACEHOLDER';
INSERT INTO anon2."Odd ""name""; x" VALUES ('a@example.com', '13800000001'), ('b@example.com', '13800000002');
CREATE TABLE anon2.blocked (a text NOT NULL);
SECURITY LABEL FOR privacy ON COLUMN anon2.blocked.a IS 'CATEGORY identity.nickname ANONYMIZE WITH NULL';
INSERT INTO anon2.blocked VALUES ('kept');
SELECT try($$CALL privacy.anonymize_database(ARRAY['anon2'])$$) AS one_table_cannot;
SELECT * FROM anon2."Odd ""name""; x" ORDER BY 1;
SECURITY LABEL FOR privacy ON COLUMN anon2.blocked.a IS 'CATEGORY identity.nickname';
CALL privacy.anonymize_database(ARRAY['anon2']);
SELECT "e-mail" = left(privacy.pseudonym(o, 'anonymize'), 32) || '@anonymized.invalid' AS pseudonym, "$$phone"
  FROM anon2."Odd ""name""; x", unnest(ARRAY['a@example.com', 'b@example.com']) o
 WHERE "e-mail" = left(privacy.pseudonym(o, 'anonymize'), 32) || '@anonymized.invalid' ORDER BY 2;
SELECT a FROM anon2.blocked;
SELECT try($$CALL privacy.anonymize_database(ARRAY['anon2', 'no_such_schema'])$$) AS unknown_schema;
SELECT relation, status FROM privacy.anonymize_log WHERE relation LIKE 'anon2.%' ORDER BY id;
SELECT valid FROM privacy.verify_audit_log();
DROP SCHEMA anon2 CASCADE;

-- 9. more of what is refused before anything changes
-- a foreign key column labelled with another method than the key it joins
CREATE TABLE anon.kp (code text PRIMARY KEY);
CREATE TABLE anon.kc (code text REFERENCES anon.kp (code));
SECURITY LABEL FOR privacy ON COLUMN anon.kp.code IS 'CATEGORY account.id ANONYMIZE WITH PSEUDONYM';
SECURITY LABEL FOR privacy ON COLUMN anon.kc.code IS 'CATEGORY account.id ANONYMIZE WITH FF1';
SELECT try($$SELECT * FROM privacy.anonymization_plan('anon.kc')$$) AS other_method;
DROP TABLE anon.kc, anon.kp;
-- a method that no longer suits its column, whose type changed since it was labelled
CREATE TABLE anon.retyped (v text);
SECURITY LABEL FOR privacy ON COLUMN anon.retyped.v IS 'CATEGORY contact.phone ANONYMIZE WITH FF1';
ALTER TABLE anon.retyped ALTER COLUMN v TYPE date USING NULL;
SELECT try($$SELECT * FROM privacy.anonymization_plan('anon.retyped')$$) AS method_no_longer_fits;
DROP TABLE anon.retyped;
-- a placeholder for a type that has none
CREATE TABLE anon.shapes (p point NOT NULL);
SECURITY LABEL FOR privacy ON COLUMN anon.shapes.p IS 'CATEGORY location.precise ANONYMIZE WITH PLACEHOLDER';
SELECT try($$SELECT * FROM privacy.anonymization_plan('anon.shapes')$$) AS no_placeholder;
DROP TABLE anon.shapes;
-- the owner runs the batches: it must be able to update the tables whose rows join its table
CREATE TABLE anon.o_users (id int PRIMARY KEY, phone text);
CREATE TABLE anon.o_orders (id int PRIMARY KEY, user_id int REFERENCES anon.o_users);
ALTER TABLE anon.o_users OWNER TO regress_owner;
SECURITY LABEL FOR privacy ON COLUMN anon.o_users.id IS 'SUBJECT';
INSERT INTO anon.o_users VALUES (1, '13800000001');
INSERT INTO anon.o_orders VALUES (1, 1);
GRANT EXECUTE ON FUNCTION privacy.fpe_encrypt(bigint, text, bigint, bigint) TO regress_owner;
SET ROLE regress_owner;
SELECT try($$CALL privacy.anonymize_table('anon.o_users')$$) AS joining_table_not_updatable;
-- and only its owner anonymizes a table, also in anonymize_database
SELECT try($$CALL privacy.anonymize_database(ARRAY['anon'])$$) AS not_owner_of_every_table;
RESET ROLE;
SELECT (SELECT count(*) FROM anon.o_users WHERE id = 1) AS users_kept, (SELECT count(*) FROM anon.o_orders WHERE user_id = 1) AS orders_kept;
DROP TABLE anon.o_orders, anon.o_users;
-- a stopped run continues only with its own key; a partition of a table in
-- another unfinished run is refused
SELECT privacy.create_key('anon-other') AS other_key;
CREATE TABLE anon.k1 (id int PRIMARY KEY, phone text);
SECURITY LABEL FOR privacy ON COLUMN anon.k1.phone IS 'CATEGORY contact.phone';
INSERT INTO anon.k1 SELECT i, '1380000' || lpad(i::text, 4, '0') FROM generate_series(1, 5) i;
SELECT privacy.anonymize_start('anon.k1', 2, 'anonymize') AS k1_run \gset
SELECT try($$CALL privacy.anonymize_table('anon.k1', 2, 'anon-other')$$) AS other_key_on_resume;
SELECT try(format('SELECT privacy.anonymize_finish(%s)', :k1_run)) LIKE '55000: anonymize run % is not finished' AS not_finished;
CALL privacy.anonymize_table('anon.k1', 2);
SELECT count(*) FILTER (WHERE phone = privacy.fpe_encrypt('1380000' || lpad(id::text, 4, '0'), 'anonymize')) AS k1_done FROM anon.k1;
CREATE TABLE anon.p2 (at date NOT NULL, caller text) PARTITION BY RANGE (at);
CREATE TABLE anon.p2_a PARTITION OF anon.p2 FOR VALUES FROM (MINVALUE) TO ('2000-01-01');
CREATE TABLE anon.p2_b PARTITION OF anon.p2 FOR VALUES FROM ('2000-01-01') TO (MAXVALUE);
SECURITY LABEL FOR privacy ON COLUMN anon.p2.caller IS 'CATEGORY contact.phone';
INSERT INTO anon.p2 VALUES (date '1999-01-01', '13800000001'), (date '2001-01-01', '13800000002');
SELECT privacy.anonymize_start('anon.p2_a', 10, 'anonymize') IS NOT NULL AS partition_started;
SELECT try($$CALL privacy.anonymize_table('anon.p2')$$) AS partition_in_another_run;
CALL privacy.anonymize_table('anon.p2_a');
CALL privacy.anonymize_table('anon.p2');
SELECT count(*) FILTER (WHERE caller IN (privacy.fpe_encrypt('13800000001', 'anonymize'), privacy.fpe_encrypt('13800000002', 'anonymize'))) AS p2_done
  FROM anon.p2;
-- runs that do not exist
SELECT try($$SELECT privacy.anonymize_batch(-1)$$) AS errors
UNION ALL SELECT try($$SELECT privacy.anonymize_finish(-1)$$);
SELECT privacy.drop_key('anon-other');
DROP TABLE anon.k1, anon.p2;

-- 10. a table walked by its key (not rewritten) whose rewritten unique column
-- other rows join: each batch rewrites the joining rows with it
CREATE TABLE anon.accounts (id int PRIMARY KEY, login text NOT NULL UNIQUE);
CREATE TABLE anon.sessions (id int PRIMARY KEY, login text REFERENCES anon.accounts (login));
SECURITY LABEL FOR privacy ON COLUMN anon.accounts.login IS 'CATEGORY contact.email';
INSERT INTO anon.accounts SELECT i, 'a' || i || '@example.com' FROM generate_series(1, 9) i;
INSERT INTO anon.sessions SELECT i, 'a' || (i % 9 + 1) || '@example.com' FROM generate_series(1, 20) i;
CALL privacy.anonymize_table('anon.accounts', 4);
SELECT p.mode, p.key_column, p.rows_done, p.batches FROM privacy.anonymize_part p
  JOIN privacy.anonymize_run r ON r.id = p.run_id WHERE r.relation = 'anon.accounts';
SELECT count(*) AS sessions_joined,
       count(*) FILTER (WHERE s.login = left(privacy.pseudonym('a' || a.id || '@example.com', 'anonymize'), 32) || '@anonymized.invalid') AS rewritten
  FROM anon.sessions s JOIN anon.accounts a ON a.login = s.login;
DROP TABLE anon.sessions, anon.accounts;

-- 11. the caller's application_name is theirs again after a run, also after
-- one that fails in the middle (here a table owner's trigger refuses batch 2)
CREATE TABLE anon.fails (id int PRIMARY KEY, phone text);
SECURITY LABEL FOR privacy ON COLUMN anon.fails.phone IS 'CATEGORY contact.phone';
INSERT INTO anon.fails SELECT i, '1380000' || lpad(i::text, 4, '0') FROM generate_series(1, 6) i;
CREATE FUNCTION anon.refuse_late() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id > 2 THEN
        RAISE EXCEPTION 'row % is kept', NEW.id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_late BEFORE UPDATE ON anon.fails FOR EACH ROW EXECUTE FUNCTION anon.refuse_late();
SET application_name = 'nightly copy';
CALL privacy.anonymize_table('anon.fails', 2);
SHOW application_name;
SELECT relation, status, rows_done, rows_total FROM privacy.anonymize_log WHERE relation = 'anon.fails';
DROP TRIGGER refuse_late ON anon.fails;
CALL privacy.anonymize_table('anon.fails', 2);
SHOW application_name;
RESET application_name;
SELECT relation, status, rows_done, rows_total FROM privacy.anonymize_log WHERE relation = 'anon.fails';
DROP TABLE anon.fails;
DROP FUNCTION anon.refuse_late();

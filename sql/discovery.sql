-- discovery: validators, privacy.discover() on a generated corpus (personal
-- data, near misses, noise) with precision and recall, apply_suggestions(),
-- discovery rules, privileges, bounded sampling, bad arguments
\set VERBOSITY terse

-- the validators, and published or constructed vectors for each
SELECT name, category, supporting, strength FROM privacy.validators();
SELECT k AS validator, v AS value, privacy.validate(k, v) AS valid
  FROM (VALUES
    -- GB 11643-1999's own example, upper and lower case check character
    ('id_number', '11010519491231002X'), ('id_number', '11010519491231002x'),
    ('id_number', '110105194912310021'),   -- wrong check character
    ('id_number', '440524188001010014'),   -- right check character, born before 1900
    ('id_number', '990105194912310029'),   -- no such province
    ('id_number', '110105199902300025'),   -- 30 February
    ('mobile', '13812345678'), ('mobile', '+86 138 1234 5678'), ('mobile', '0086-13812345678'),
    ('mobile', '8613812345678'), ('mobile', '  13812345678 '),
    ('mobile', '12812345678'),             -- no 12x segment
    ('mobile', '15412345678'),             -- 154 is not allocated
    ('mobile', '1381234567'), ('mobile', '138-1234 5678'), ('mobile', '1381 234 5678'),
    ('landline', '010-62345678'), ('landline', '0571-88886666-123'), ('landline', '(021)62345678'),
    ('landline', '01062345678'),           -- no separator: any 11 digits would do
    ('landline', '010-12345678'),          -- local numbers do not start with 1
    ('email', 'a.b+tag@example.com'), ('email', 'a..b@example.com'), ('email', '.ab@example.com'),
    ('email', 'ab@localhost'), ('email', 'x@1.2.3.4'), ('email', 'a@b@example.com'),
    ('ip', '192.168.1.1'), ('ip', '203.0.113.0/24'), ('ip', '2001:db8::1'), ('ip', '::ffff:192.0.2.1'),
    ('ip', '1.2.3.4'), ('ip_low', '1.2.3.4'), ('ip', '256.1.1.1'), ('ip', '01.2.3.4'), ('ip', '12:30:45'),
    ('mac', '08:00:2b:01:02:03'), ('mac', '08-00-2B-01-02-03'), ('mac', '0800.2b01.0203'),
    ('mac', '08:00:2b:01:02:03:04:05'), ('mac', '08:00-2b:01:02:03'), ('mac', '08002b010203'),
    -- card brands' published test numbers
    ('bank_card', '4111111111111111'), ('bank_card', '4111 1111 1111 1111'), ('bank_card', '5555555555554444'),
    ('bank_card', '378282246310005'), ('bank_card', '6200000000000005'),
    ('bank_card', '4111111111111112'),     -- fails Luhn
    ('bank_card', '79927398713'),          -- Luhn's textbook number: too short for a card
    ('bank_card', '0000000000000000'),
    -- more than 19 digits in groups of four: once read past the table of group
    -- boundaries (found by the fuzz harness, test/fuzz/regressions/validators)
    ('bank_card', '4111 1111 1111 1111 1111 1111'), ('bank_card', '4111-1111-1111-1111-1111-1111-1111-1111'),
    ('passport', 'E12345678'), ('passport', 'EA1234567'), ('passport', 'G12345678'), ('passport', 'DE1234567'),
    ('passport', 'EI1234567'), ('passport', 'E1234567'), ('passport', 'e12345678'),
    ('gps_pair', '39.9042,116.4074'), ('gps_pair', '(116.40740,39.90420)'), ('gps_pair', '-33.8688, 151.2093'),
    ('gps_pair', '3.14,2.71'), ('gps_pair', '139.9042,116.4074'), ('gps_pair', '0.0000,0.0000'),
    ('coordinate', '116.4074'), ('coordinate', '-73.98570'), ('coordinate', '181.0000'), ('coordinate', '42'),
    ('birth_date', '1990-05-01'), ('birth_date', '1990/05/01'), ('birth_date', '19900501'),
    ('birth_date', '1990-02-30'), ('birth_date', '1880-01-01'), ('birth_date', '2990-05-01')) t(k, v);
-- today counts: a birth date or ID number from the future is refused
SELECT privacy.validate('birth_date', to_char(current_date, 'YYYY-MM-DD')) AS today,
       privacy.validate('birth_date', to_char(current_date + 1, 'YYYY-MM-DD')) AS tomorrow;
SELECT try($$SELECT privacy.validate('phone', '13812345678')$$);
-- the arguments swapped: the error does not repeat the value
SELECT try($$SELECT privacy.validate('13812345678', 'mobile')$$);
SELECT privacy.validate('mobile', NULL) IS NULL AS strict;

SELECT setseed(0.42);
CREATE SCHEMA disco;
-- helpers that make valid check characters
CREATE FUNCTION disco.id_check(body text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT substr('10X98765432', (sum(substr(body, i, 1)::int * (ARRAY[7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2])[i]) % 11)::int + 1, 1)
      FROM generate_series(1, 17) i $$;
CREATE FUNCTION disco.luhn_sum(digits text) RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT sum(CASE WHEN i % 2 = 0 THEN (d * 2) - CASE WHEN d * 2 > 9 THEN 9 ELSE 0 END ELSE d END)::int
      FROM (SELECT i, substr(reverse(digits), i, 1)::int AS d FROM generate_series(1, length(digits)) i) x $$;
CREATE FUNCTION disco.luhn_complete(body text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT body || ((10 - disco.luhn_sum(body || '0') % 10) % 10)::text $$;
CREATE FUNCTION disco.digits(n int) RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT string_agg(floor(random() * 10)::int::text, '') FROM generate_series(1, n) $$;

-- personal data under plain names, Chinese names and pinyin
CREATE TABLE disco.customers (
    id          serial PRIMARY KEY,
    contact     text,          -- mobile numbers, neutral name
    shouji      bigint,        -- mobile numbers stored as numbers, pinyin name
    "手机号"    text,
    c_ref       text,          -- ID numbers, neutral name
    "身份证号"  text,
    info        text,          -- e-mail, neutral name
    real_name   text,          -- names: no validator, name only
    birthday    date,
    csrq        text,          -- birth date as text, pinyin initials
    acct        text,          -- bank cards
    doc         text,          -- passports
    office_tel  text           -- landlines
);
INSERT INTO disco.customers (contact, shouji, "手机号", c_ref, "身份证号", info, real_name, birthday, csrq, acct, doc, office_tel)
SELECT '1' || (ARRAY['38','39','50','86','88','77','99','35','58','66'])[1 + floor(random() * 10)::int] || disco.digits(8),
       ('1' || (ARRAY['38','39','50','86','88'])[1 + floor(random() * 5)::int] || disco.digits(8))::bigint,
       '+86 1' || (ARRAY['38','39','50'])[1 + floor(random() * 3)::int] || ' ' || disco.digits(4) || ' ' || disco.digits(4),
       b || disco.id_check(b),
       b2 || disco.id_check(b2),
       'user' || g || '@' || (ARRAY['example.com', 'mail.example.cn', 'corp.example.org'])[1 + floor(random() * 3)::int],
       'Name ' || g,
       bd,
       to_char(bd, 'YYYYMMDD'),
       disco.luhn_complete('62' || disco.digits(15)),
       CASE WHEN random() < 0.5 THEN 'E' || disco.digits(8) ELSE 'E' || chr(65 + floor(random() * 8)::int) || disco.digits(7) END,
       '0' || (ARRAY['10','21','571','755'])[1 + floor(random() * 4)::int] || '-' || (2 + floor(random() * 7)::int)::text || disco.digits(7)
  FROM generate_series(1, 400) g,
       LATERAL (SELECT date '1950-01-01' + floor(random() * 20000)::int AS bd) d,
       LATERAL (SELECT (ARRAY['110105','310104','440305','330106','510107'])[1 + floor(random() * 5)::int]
                       || to_char(d.bd, 'YYYYMMDD') || disco.digits(3) AS b,
                       (ARRAY['110101','320102'])[1 + floor(random() * 2)::int]
                       || to_char(d.bd + 7, 'YYYYMMDD') || disco.digits(3) AS b2) i;

CREATE TABLE disco.sessions (
    id          bigserial PRIMARY KEY,
    src         text,          -- IPv4 addresses, neutral name
    client      inet,          -- addresses as inet
    v6          text,          -- IPv6 addresses
    hw          text,          -- MAC addresses
    hw2         macaddr,
    pos         text,          -- GPS pairs
    lat         numeric(9,6),
    lng         double precision,
    ip          text,          -- a small private network: low octets, but the name says so
    started_at  timestamptz
);
INSERT INTO disco.sessions (src, client, v6, hw, hw2, pos, lat, lng, ip, started_at)
SELECT format('%s.%s.%s.%s', 1 + floor(random() * 223)::int, floor(random() * 256)::int, floor(random() * 256)::int, 1 + floor(random() * 254)::int),
       format('%s.%s.%s.%s', 1 + floor(random() * 223)::int, floor(random() * 256)::int, floor(random() * 256)::int, 1 + floor(random() * 254)::int)::inet,
       format('2001:db8:%s::%s', to_hex(floor(random() * 65536)::int), to_hex(floor(random() * 65536)::int)),
       (SELECT string_agg(lpad(to_hex(floor(random() * 256)::int), 2, '0'), ':') FROM generate_series(1, 6) WHERE g > 0),
       (SELECT string_agg(lpad(to_hex(floor(random() * 256)::int), 2, '0'), ':') FROM generate_series(1, 6) WHERE g > 0)::macaddr,
       format('%s,%s', round((20 + random() * 25)::numeric, 6), round((75 + random() * 60)::numeric, 6)),
       round((20 + random() * 25)::numeric, 6),
       round((75 + random() * 60)::numeric, 6)::double precision + 0.0000001,
       format('10.0.%s.%s', floor(random() * 4)::int, 1 + floor(random() * 60)::int),
       now() - random() * interval '300 days'
  FROM generate_series(1, 400) g;

-- near misses: they look like personal data and are not
CREATE TABLE disco.orders (
    order_no     text,         -- 18 digits, like an ID number
    tracking_no  text,         -- 16 digits, failing Luhn
    app_version  text,         -- dotted quads, like IPv4
    batch        text,         -- E + 7 digits + letter: not a passport
    ratio_pair   text,         -- decimal pairs with two decimals
    created_on   date,         -- dates in the last 120 years: no birth name
    amount       numeric(10,2),
    phone_model  text          -- a phone word, no phone number
);
INSERT INTO disco.orders
SELECT (1 + floor(random() * 9)::int)::text || disco.digits(17),
       CASE WHEN disco.luhn_sum(t) % 10 = 0 THEN overlay(t placing ((substr(t, 16, 1)::int + 1) % 10)::text from 16 for 1) ELSE t END,
       format('%s.%s.%s.%s', 1 + floor(random() * 12)::int, floor(random() * 20)::int, floor(random() * 30)::int, floor(random() * 60)::int),
       'E' || disco.digits(7) || chr(65 + floor(random() * 26)::int),
       format('%s,%s', round((random() * 90)::numeric, 2), round((random() * 180)::numeric, 2)),
       date '2000-01-01' + floor(random() * 9000)::int,
       round((random() * 1000)::numeric, 2),
       (ARRAY['Mate 60', 'iPhone 15', 'Mi 14', 'Reno 11'])[1 + floor(random() * 4)::int]
  FROM generate_series(1, 400) g, LATERAL (SELECT (3 + floor(random() * 4)::int)::text || disco.digits(15) AS t) x;

-- random noise
CREATE TABLE disco.noise (
    h      text,
    n      bigint,
    d11    text,
    f      double precision,
    s      text
);
INSERT INTO disco.noise
SELECT md5(random()::text), floor(random() * 1e15)::bigint, disco.digits(11), random() * 360 - 180,
       substr(md5(random()::text), 1, 9)
  FROM generate_series(1, 400);
-- personal data inside free text, and columns earlier releases missed
CREATE TABLE disco.support (
    id             serial PRIMARY KEY,
    body           text,          -- every ticket holds a phone number, some an e-mail or ID number
    notes          text,          -- one in ten holds a phone number: too few
    wifi_ssid      text,
    guest_name     text,
    tax_no         text,          -- a person's taxpayer number is their ID number
    hw_serial      text,          -- IMEI values, neutral name
    face_template  bytea          -- not sampled: its name speaks
);
INSERT INTO disco.support (body, notes, wifi_ssid, guest_name, tax_no, hw_serial, face_template)
SELECT format('工单 %s: 客户来电 %s，订单 %s 未送达。', g, '1' || (ARRAY['38','39','86'])[1 + g % 3] || disco.digits(8), disco.digits(12))
       || CASE WHEN g % 4 = 0 THEN format(' Reply to user%s@example.com.', g) ELSE '' END
       || CASE WHEN g % 10 = 0 THEN ' 身份证 ' || b || disco.id_check(b) ELSE '' END,
       CASE WHEN g % 10 = 0 THEN 'call back on 139 ' || disco.digits(4) || ' ' || disco.digits(4) ELSE 'resolved in ' || g || ' minutes' END,
       'CMCC-' || disco.digits(4),
       'Guest ' || g,
       b || disco.id_check(b),
       disco.luhn_complete((ARRAY['35','86'])[1 + g % 2] || disco.digits(12)),
       '\x0102'::bytea
  FROM generate_series(1, 400) g,
       LATERAL (SELECT '110105' || to_char(date '1960-01-01' + g * 20, 'YYYYMMDD') || disco.digits(3) AS b) i;
ANALYZE disco.customers, disco.sessions, disco.orders, disco.noise, disco.support;

-- the suggestions: every column of personal data, none of the near misses or
-- the noise; evidence says which rule and validators, and how many values
SELECT * FROM privacy.discover('disco');

-- precision and recall against what the corpus holds
CREATE TABLE disco_truth (relation regclass, column_name name, category text);
INSERT INTO disco_truth VALUES
    ('disco.customers', 'contact', 'contact.phone'), ('disco.customers', 'shouji', 'contact.phone'),
    ('disco.customers', '手机号', 'contact.phone'), ('disco.customers', 'c_ref', 'identity.id_number'),
    ('disco.customers', '身份证号', 'identity.id_number'), ('disco.customers', 'info', 'contact.email'),
    ('disco.customers', 'real_name', 'identity.name'), ('disco.customers', 'birthday', 'identity.birth_date'),
    ('disco.customers', 'csrq', 'identity.birth_date'), ('disco.customers', 'acct', 'financial.bank_account'),
    ('disco.customers', 'doc', 'identity.id_document'), ('disco.customers', 'office_tel', 'contact.phone'),
    ('disco.sessions', 'src', 'device.ip'), ('disco.sessions', 'client', 'device.ip'),
    ('disco.sessions', 'v6', 'device.ip'), ('disco.sessions', 'hw', 'device.mac'),
    ('disco.sessions', 'hw2', 'device.mac'), ('disco.sessions', 'pos', 'location.precise'),
    ('disco.sessions', 'lat', 'location.precise'), ('disco.sessions', 'lng', 'location.precise'),
    ('disco.sessions', 'ip', 'device.ip'), ('disco.orders', 'phone_model', 'device.model'),
    ('disco.support', 'body', 'content.message'), ('disco.support', 'wifi_ssid', 'device.network'),
    ('disco.support', 'guest_name', 'identity.name'), ('disco.support', 'tax_no', 'identity.id_number'),
    ('disco.support', 'hw_serial', 'device.id'), ('disco.support', 'face_template', 'biometric.face');
CREATE TEMP TABLE disco_found AS SELECT * FROM privacy.discover('disco');
SELECT t.threshold,
       count(f.*) AS suggested,
       count(f.*) FILTER (WHERE tr.category IS NOT NULL) AS correct,
       (SELECT count(*) FROM disco_truth) AS personal_columns,
       round(count(f.*) FILTER (WHERE tr.category IS NOT NULL)::numeric / NULLIF(count(f.*), 0), 2) AS precision,
       round(count(f.*) FILTER (WHERE tr.category IS NOT NULL)::numeric / (SELECT count(*) FROM disco_truth), 2) AS recall
  FROM (VALUES (0.6), (0.8), (0.9)) t(threshold)
  LEFT JOIN disco_found f ON f.confidence >= t.threshold
  LEFT JOIN disco_truth tr ON tr.relation = f.relation AND tr.column_name = f.column_name AND tr.category = f.category
 GROUP BY t.threshold ORDER BY t.threshold;
-- what the near misses and the noise matched, and why it was not enough
SELECT s.column_name, s.sampled, s.validator, s.matched
  FROM privacy.sample_matches('disco.orders', 1000) s ORDER BY s.column_name, s.validator;
SELECT s.column_name, s.sampled, s.validator, s.matched
  FROM privacy.sample_matches('disco.noise', 1000) s ORDER BY s.column_name, s.validator;

-- inside text: the share of values holding each kind, and the label with its mask
SELECT s.column_name, s.sampled, s.validator, s.matched
  FROM privacy.sample_matches('disco.support', 1000) s
 WHERE s.column_name IN ('body', 'notes') ORDER BY s.column_name, s.validator;
SELECT column_name, category, label FROM disco_found WHERE relation = 'disco.support'::regclass ORDER BY column_name;
-- masked, a ticket keeps its text and loses the numbers and addresses in it
SELECT count(*) AS tickets,
       count(*) FILTER (WHERE privacy.text_contains(privacy.mask_text(body)) = '{}') AS nothing_left,
       count(*) FILTER (WHERE length(privacy.mask_text(body)) = length(body)) AS same_length,
       count(*) FILTER (WHERE privacy.mask_text(body) ~ '^工单 [0-9]+: 客户来电 1[0-9]{2}\*{4}[0-9]{4}，订单 [0-9]{12} 未送达。') AS phone_masked
  FROM disco.support;
-- apply_suggestions sets the label, mask included
BEGIN;
SELECT * FROM privacy.apply_suggestions(0.9, 'disco') WHERE relation = 'disco.support'::regclass;
SELECT privacy.column_label('disco.support', 'body');
ROLLBACK;

-- no sampled value appears in what discovery returns
SELECT count(*) AS values_in_evidence
  FROM disco_found f,
       LATERAL (SELECT contact AS v FROM disco.customers UNION ALL SELECT c_ref FROM disco.customers
                UNION ALL SELECT info FROM disco.customers UNION ALL SELECT acct FROM disco.customers
                UNION ALL SELECT doc FROM disco.customers UNION ALL SELECT src FROM disco.sessions
                UNION ALL SELECT hw FROM disco.sessions UNION ALL SELECT pos FROM disco.sessions
                UNION ALL SELECT order_no FROM disco.orders UNION ALL SELECT hw_serial FROM disco.support
                UNION ALL SELECT tax_no FROM disco.support) x
 WHERE strpos(f.evidence, x.v) > 0 OR strpos(f.category, x.v) > 0;

-- sample_rows 0: names and comments only; a comment counts 0.1 less
COMMENT ON COLUMN disco.orders.batch IS 'Customer''s mobile phone (手机号)';
SELECT * FROM privacy.discover('disco', 0) WHERE relation = 'disco.orders'::regclass;
COMMENT ON COLUMN disco.orders.batch IS NULL;

-- a name whose values fail its validators counts half
CREATE TABLE disco.contacts (phone text);
INSERT INTO disco.contacts SELECT 'ask at the desk ' || g FROM generate_series(1, 50) g;
SELECT * FROM privacy.discover('disco') WHERE relation = 'disco.contacts'::regclass;
-- few values speak softly: two numbers out of two
TRUNCATE disco.contacts;
INSERT INTO disco.contacts VALUES ('13812345678'), ('13912345678'), (NULL);
SELECT * FROM privacy.discover('disco') WHERE relation = 'disco.contacts'::regclass;
TRUNCATE disco.contacts;
SELECT * FROM privacy.discover('disco') WHERE relation = 'disco.contacts'::regclass;
DROP TABLE disco.contacts;

-- partitioned tables: the root is sampled through its partitions and suggested once
CREATE TABLE disco.visits (at date NOT NULL, remote_addr text) PARTITION BY RANGE (at);
CREATE TABLE disco.visits_2024 PARTITION OF disco.visits FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE disco.visits_2025 PARTITION OF disco.visits FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO disco.visits SELECT date '2024-01-01' + g, format('198.51.100.%s', g % 250 + 1) FROM generate_series(0, 700) g;
SELECT * FROM privacy.discover('disco') WHERE relation::text LIKE 'disco.visits%';
-- columns of types not sampled (bytea, json, arrays) are judged by name only
CREATE TABLE disco.secrets (email_enc bytea, prefs jsonb, phones text[]);
INSERT INTO disco.secrets VALUES ('\x00'::bytea, '{"phone": "13812345678"}', ARRAY['13812345678']);
SELECT * FROM privacy.discover('disco') WHERE relation = 'disco.secrets'::regclass;
SELECT * FROM privacy.sample_matches('disco.secrets', 10);
DROP TABLE disco.secrets;
-- the columns of a foreign key point to the data: the referenced table is the one to label
CREATE TABLE disco.tickets (phone_id integer REFERENCES disco.customers, phone text);
SELECT * FROM privacy.discover('disco', 0) WHERE relation = 'disco.tickets'::regclass;
DROP TABLE disco.tickets;

-- a large table: the sample is bounded, pages are picked at random
CREATE TABLE disco.big (id bigint, phone text);
INSERT INTO disco.big SELECT g, '138' || lpad(g::text, 8, '0') FROM generate_series(1, 200000) g;
ANALYZE disco.big;
SELECT column_name, sampled BETWEEN 25 AND 100 AS bounded, validator, matched = sampled AS all_matched
  FROM privacy.sample_matches('disco.big', 100) ORDER BY column_name, validator;
DROP TABLE disco.big;

-- privileges: discovery reads as the caller; what it may not read, it judges by name
CREATE ROLE regress_disco LOGIN;
GRANT USAGE ON SCHEMA disco TO regress_disco;
GRANT SELECT (contact) ON disco.customers TO regress_disco;
SET ROLE regress_disco;
SELECT * FROM privacy.discover('disco') WHERE relation = 'disco.customers'::regclass;
RESET ROLE;
-- row-level security policies are the table owner's code and run as the reader:
-- a table whose policies apply to the caller is judged by name, its policy never runs
CREATE TABLE disco.policy_calls (n integer);
GRANT INSERT ON disco.policy_calls TO PUBLIC;
CREATE FUNCTION disco.planted() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO disco.policy_calls VALUES (1);
    RETURN true;
END $$;
CREATE TABLE disco.guarded (phone text);
INSERT INTO disco.guarded SELECT '1391234' || lpad(g::text, 4, '0') FROM generate_series(1, 30) g;
ALTER TABLE disco.guarded ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON disco.guarded USING (disco.planted());
GRANT SELECT ON disco.guarded TO regress_disco;
SET ROLE regress_disco;
SELECT * FROM privacy.discover('disco') WHERE relation = 'disco.guarded'::regclass;
RESET ROLE;
SELECT count(*) AS policy_calls FROM disco.policy_calls;
-- the owner (here a superuser) is not subject to them: values are read
SELECT * FROM privacy.discover('disco') WHERE relation = 'disco.guarded'::regclass;
SELECT count(*) AS policy_calls FROM disco.policy_calls;
-- the trap was armed: the same role reading the table runs the policy
SET ROLE regress_disco;
SELECT count(*) AS rows_read FROM disco.guarded;
RESET ROLE;
SELECT count(*) > 0 AS policy_ran FROM disco.policy_calls;
DROP TABLE disco.guarded, disco.policy_calls;
DROP FUNCTION disco.planted();

-- discovery rules: administrators add words; the shipped ones stay
INSERT INTO privacy.discovery_rule (word, category, confidence) VALUES ('kehu_dh', 'contact.phone', 0.75);
CREATE TABLE disco.kehu (kehu_dh text, kehuDh2 text);
SELECT privacy.discovery_words('kehuDh'), privacy.discovery_words('Kehu-DH (mobile)'),
       privacy.discovery_words(NULL);
SELECT * FROM privacy.discover('disco', 0) WHERE relation = 'disco.kehu'::regclass;
SELECT try($$DELETE FROM privacy.discovery_rule WHERE word = 'phone'$$);
SELECT try($$UPDATE privacy.discovery_rule SET confidence = 0.1 WHERE word = 'phone'$$);
SELECT try($$INSERT INTO privacy.discovery_rule VALUES ('Phone2', 'contact.phone', 0.5)$$);
SELECT try($$INSERT INTO privacy.discovery_rule VALUES ('phone2', 'contact.phone', 1.5)$$);
SELECT try($$INSERT INTO privacy.discovery_rule VALUES ('phone2', 'contact.fax', 0.5)$$);
SELECT try($$INSERT INTO privacy.discovery_rule VALUES ('phone2', 'contact.phone', 0.5, true)$$);
SELECT try($$INSERT INTO privacy.discovery_rule VALUES ('phone no', 'contact.phone', 0.5)$$);
DELETE FROM privacy.discovery_rule WHERE word = 'kehu_dh';
DROP TABLE disco.kehu;
SELECT count(*) AS rules, count(DISTINCT category) AS categories FROM privacy.discovery_rule;

-- bad arguments: a clear error, nothing read
SELECT try($$SELECT * FROM privacy.discover('no_such_schema')$$);
SELECT try($$SELECT * FROM privacy.discover('pg_catalog')$$);
SELECT try($$SELECT * FROM privacy.discover('privacy')$$);
SELECT try($$SELECT * FROM privacy.discover(NULL)$$);
SELECT try($$SELECT * FROM privacy.discover('disco', -1)$$);
SELECT try($$SELECT * FROM privacy.discover('disco', 100001)$$);
SELECT try($$SELECT * FROM privacy.sample_matches('disco.customers', 0)$$);
CREATE VIEW disco.v AS SELECT 1 AS phone;
SELECT try($$SELECT * FROM privacy.sample_matches('disco.v', 10)$$);
DROP VIEW disco.v;
SELECT try($$SELECT * FROM privacy.apply_suggestions(0)$$);
SELECT try($$SELECT * FROM privacy.apply_suggestions(1.5)$$);
SELECT try($$SELECT * FROM privacy.apply_suggestions(NULL)$$);

-- apply_suggestions: all or nothing, as the caller; a role that owns none of the tables labels none
SET ROLE regress_disco;
SELECT try($$SELECT * FROM privacy.apply_suggestions(0.8, 'disco')$$);
RESET ROLE;
SELECT count(*) AS labels FROM privacy.labels WHERE relation::text LIKE 'disco.%';
-- the owner applies what values confirm: audited and listed like any label
SELECT count(*) AS audit_before FROM privacy.audit_log WHERE kind = 'label' \gset
SELECT * FROM privacy.apply_suggestions(0.8, 'disco');
SELECT relation, column_name, label FROM privacy.labels WHERE relation::text LIKE 'disco.%'
 ORDER BY relation::text, column_name;
SELECT count(*) - :audit_before AS label_entries FROM privacy.audit_log WHERE kind = 'label';
-- what is left to decide
SELECT * FROM privacy.discover('disco');
-- nothing left at this confidence: nothing done
SELECT * FROM privacy.apply_suggestions(0.8, 'disco');

DROP TABLE disco_truth;
REVOKE ALL ON SCHEMA disco FROM regress_disco;
REVOKE ALL ON disco.customers FROM regress_disco;
DROP ROLE regress_disco;

-- k_anonymity: the k of a table over its quasi-identifiers, each type's
-- generalization hierarchy, and the minimal generalizations that reach a k,
-- on generated data whose k is known
\set VERBOSITY terse
CREATE SCHEMA kanon;
-- 4 decades x 2 postal areas x 6 people: within a (decade, area) group the
-- ages and the last digit of the postal code differ
CREATE TABLE kanon.people (id serial PRIMARY KEY, age integer, zip text, sex text);
INSERT INTO kanon.people (age, zip, sex)
SELECT d + i, p || i, CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END
  FROM unnest(ARRAY[20, 30, 40, 50]) d, unnest(ARRAY['10001', '10002']) p, generate_series(0, 5) i;
-- every (age, zip) is unique; a zip is shared by the 4 decades; an age by the 2 areas
SELECT privacy.k_anonymity('kanon.people', '{age,zip}') AS age_zip,
       privacy.k_anonymity('kanon.people', '{zip}') AS zip,
       privacy.k_anonymity('kanon.people', '{age}') AS age,
       privacy.k_anonymity('kanon.people', '{sex}') AS sex;
-- ages in bands of 10 and the last digit of the zip dropped: the 8 groups of 6
SELECT * FROM privacy.generalize_until('kanon.people', '{age,zip}', 6);
-- k = 4: that, or ages suppressed to one band of 100 with the zip exact
SELECT * FROM privacy.generalize_until('kanon.people', '{age,zip}', 4) ORDER BY loss, levels;
-- k = 1 holds as it is; k = 48 needs everything in one group; 49 rows are not there
SELECT * FROM privacy.generalize_until('kanon.people', '{age,zip}', 1);
SELECT * FROM privacy.generalize_until('kanon.people', '{age,zip}', 48) ORDER BY loss, levels;
SELECT count(*) FROM privacy.generalize_until('kanon.people', '{age,zip}', 49);
-- the levels it names give the k it says, applied by hand
SELECT min(n) AS k_by_hand FROM (
    SELECT count(*) AS n FROM kanon.people
     GROUP BY floor(age::numeric / 10) * 10, left(zip, -1)) g;
-- three quasi-identifiers
SELECT * FROM privacy.generalize_until('kanon.people', '{age,zip,sex}', 12) ORDER BY loss, levels;

-- each type's hierarchy, every level up to the top (suppressed) and beyond
CREATE DOMAIN kanon.postcode AS text;
SELECT t AS type, l AS level, g.label, g.sql
  FROM unnest(ARRAY['date', 'timestamptz', 'integer', 'numeric', 'inet', 'text', 'kanon.postcode', 'boolean']::regtype[]) t,
       generate_series(0, 7) l,
       LATERAL privacy.generalization('x', t, l) g
 WHERE g.sql IS NOT NULL
 ORDER BY t::text, l;
SELECT t AS type, privacy.generalization_kind(t) AS kind, privacy.generalization_top(t) AS top
  FROM unnest(ARRAY['date', 'timestamp', 'smallint', 'float8', 'cidr', 'varchar', 'kanon.postcode', 'uuid']::regtype[]) t;
-- applied to values
CREATE TABLE kanon.samples (d date, ts timestamptz, n numeric, a inet, s text);
INSERT INTO kanon.samples VALUES ('2024-05-17', '2024-05-17 13:45:00+00', 37.5, '192.168.77.12', '100101'),
                                 (NULL, NULL, NULL, '2001:db8:abcd:12::1', 'ab');
SET TIME ZONE 'UTC';
DO $$
DECLARE
    c record;
    l integer;
    g record;
    v text;
BEGIN
    FOR c IN SELECT a.attname, a.atttypid::regtype AS typ FROM pg_attribute a
              WHERE a.attrelid = 'kanon.samples'::regclass AND a.attnum > 0 ORDER BY a.attnum LOOP
        FOR l IN 0 .. privacy.generalization_top(c.typ) LOOP
            g := privacy.generalization(format('s.%I', c.attname), c.typ, l);
            EXECUTE format('SELECT string_agg(coalesce((%s)::text, ''NULL''), '' | '' ORDER BY s.ctid) FROM kanon.samples s', g.sql) INTO v;
            RAISE NOTICE '% level % (%): %', c.attname, l, g.label, v;
        END LOOP;
    END LOOP;
END
$$;
RESET TIME ZONE;

-- a DBA's hierarchy: district -> city -> province.  Dropping characters means
-- nothing for Chinese place names; the hierarchy says what each level is
INSERT INTO privacy.hierarchy (hierarchy, value, ancestors) VALUES
    ('cn_region', '西湖区', '{杭州市,浙江省}'), ('cn_region', '上城区', '{杭州市,浙江省}'),
    ('cn_region', '鄞州区', '{宁波市,浙江省}'), ('cn_region', '海曙区', '{宁波市,浙江省}'),
    ('cn_region', '玄武区', '{南京市,江苏省}'), ('cn_region', '秦淮区', '{南京市,江苏省}'),
    ('cn_region', '姑苏区', '{苏州市,江苏省}'), ('cn_region', '吴中区', '{苏州市,江苏省}');
SELECT privacy.hierarchy_levels('cn_region');
-- two residents per district: four per city, eight per province
CREATE TABLE kanon.residents (id serial PRIMARY KEY, district text, sex text);
INSERT INTO kanon.residents (district, sex)
SELECT h.value, s FROM privacy.hierarchy h, unnest(ARRAY['F', 'M']) s WHERE h.hierarchy = 'cn_region';
SELECT privacy.k_anonymity('kanon.residents', '{district}') AS districts,
       privacy.k_anonymity('kanon.residents', '{district}', '{1}', '{"district": "cn_region"}') AS cities,
       privacy.k_anonymity('kanon.residents', '{district}', '{2}', '{"district": "cn_region"}') AS provinces,
       privacy.k_anonymity('kanon.residents', '{district}', '{3}', '{"district": "cn_region"}') AS suppressed,
       privacy.k_anonymity('kanon.residents', '{district,sex}', '{2,0}', '{"district": "cn_region"}') AS province_sex;
-- generalize_until climbs the hierarchy; without it, characters are dropped
SELECT * FROM privacy.generalize_until('kanon.residents', '{district}', 4, '{"district": "cn_region"}');
SELECT * FROM privacy.generalize_until('kanon.residents', '{district,sex}', 4, '{"district": "cn_region"}') ORDER BY loss, levels;
SELECT * FROM privacy.generalize_until('kanon.residents', '{district}', 4);
-- the levels, as SQL; a value the hierarchy does not list is suppressed
SELECT l, g.label, g.sql FROM generate_series(0, 4) l, LATERAL privacy.generalization('x', 'text', l, 'cn_region') g;
SELECT format('SELECT t.x, %s AS level_1, %s AS level_2 FROM (VALUES (''西湖区''), (''未知区'')) t(x)',
              (privacy.generalization('t.x', 'text', 1, 'cn_region')).sql,
              (privacy.generalization('t.x', 'text', 2, 'cn_region')).sql) AS q \gset
:q;
-- bad input: nothing is counted, nothing changes
SELECT try($$SELECT privacy.hierarchy_levels('no_such')$$);
SELECT try($$SELECT * FROM privacy.generalize_until('kanon.residents', '{district}', 4, '{"district": "no_such"}')$$);
SELECT try($$SELECT * FROM privacy.generalize_until('kanon.residents', '{district}', 4, '{"sex": "cn_region"}')$$);
SELECT try($$SELECT * FROM privacy.generalize_until('kanon.residents', '{district}', 4, '{"nope": "cn_region"}')$$);
SELECT try($$SELECT * FROM privacy.generalize_until('kanon.residents', '{district}', 4, '{"district": 1}')$$);
SELECT try($$SELECT * FROM privacy.generalize_until('kanon.residents', '{district}', 4, '["cn_region"]')$$);
SELECT try($$SELECT privacy.k_anonymity('kanon.residents', '{district}', '{1,1}', '{"district": "cn_region"}')$$);
SELECT try($$SELECT privacy.k_anonymity('kanon.residents', '{district}', '{4}', '{"district": "cn_region"}')$$);
SELECT try($$SELECT privacy.k_anonymity('kanon.residents', '{district}', '{-1}')$$);
SELECT try($$SELECT privacy.k_anonymity('kanon.residents', '{district}', '{NULL}')$$);
SELECT try($$INSERT INTO privacy.hierarchy VALUES ('cn_region', '余杭区', '{}')$$);
SELECT try($$INSERT INTO privacy.hierarchy VALUES ('cn_region', '余杭区', '{杭州市,NULL}')$$);
SELECT try($$INSERT INTO privacy.hierarchy VALUES ('CN Region', '余杭区', '{杭州市,浙江省}')$$);
BEGIN;
INSERT INTO privacy.hierarchy VALUES ('cn_region', '余杭区', '{杭州市}');
SELECT try($$SELECT privacy.hierarchy_levels('cn_region')$$);
ROLLBACK;
BEGIN;
INSERT INTO privacy.hierarchy VALUES ('cn_region', '余杭区', '{杭州市,江苏省}');
SELECT try($$SELECT * FROM privacy.generalize_until('kanon.residents', '{district}', 4, '{"district": "cn_region"}')$$);
ROLLBACK;
SELECT count(*) AS hierarchy_rows FROM privacy.hierarchy;
-- everybody may read hierarchies and use them; only the DBA writes them
SET ROLE regress_app;
SELECT privacy.hierarchy_levels('cn_region') AS levels_as_app;
SELECT try($$INSERT INTO privacy.hierarchy VALUES ('mine', 'a', '{b}')$$);
RESET ROLE;

-- a view, an empty table
CREATE VIEW kanon.adults AS SELECT * FROM kanon.people WHERE age >= 30;
SELECT privacy.k_anonymity('kanon.adults', '{zip}') AS view_k;
CREATE TABLE kanon.empty (age integer);
SELECT privacy.k_anonymity('kanon.empty', '{age}') AS empty_k;
SELECT count(*) FROM privacy.generalize_until('kanon.empty', '{age}', 2);
-- NULLs count as one value
INSERT INTO kanon.empty VALUES (NULL), (NULL), (7);
SELECT privacy.k_anonymity('kanon.empty', '{age}') AS with_nulls;

-- it reads as the caller
SET ROLE regress_app;
SELECT try($$SELECT privacy.k_anonymity('kanon.people', '{age}')$$);
RESET ROLE;

-- bad arguments
SELECT try($$SELECT privacy.k_anonymity('kanon.people', '{birthday}')$$);
SELECT try($$SELECT privacy.k_anonymity('kanon.people', '{age,age}')$$);
SELECT try($$SELECT privacy.k_anonymity('kanon.people', '{}')$$);
SELECT try($$SELECT privacy.k_anonymity('kanon.people', NULL)$$);
SELECT try($$SELECT privacy.k_anonymity('kanon.people', '{age,NULL}')$$);
SELECT try($$SELECT privacy.k_anonymity('kanon.nope', '{age}')$$);
SELECT try($$SELECT * FROM privacy.generalize_until('kanon.people', '{age}', 0)$$);
SELECT try($$SELECT * FROM privacy.generalize_until('kanon.people', '{age}', NULL)$$);
CREATE TABLE kanon.wide (a text, b text, c text, d text, e text, f text);
SELECT try($$SELECT * FROM privacy.generalize_until('kanon.wide', '{a,b,c,d,e}', 2)$$);
-- names that need quoting reach the generated SQL quoted
CREATE TABLE kanon."we""ird" ("a b" integer, "x;y" text);
INSERT INTO kanon."we""ird" VALUES (1, 'p'), (2, 'p'), (11, 'q');
SELECT privacy.k_anonymity('kanon."we""ird"', ARRAY['a b', 'x;y']) AS quoted_k;
SELECT * FROM privacy.generalize_until('kanon."we""ird"', ARRAY['a b', 'x;y'], 3);

DROP SCHEMA kanon CASCADE;

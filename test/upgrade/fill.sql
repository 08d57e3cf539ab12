-- test/upgrade/fill.sql: a shop database as a user of the old version has
-- it (run on the release installed, before ALTER EXTENSION privacy UPDATE):
-- labels, custom categories, purposes, policies, consents (with moments
-- between them, public.moment), keys (one rotated) and ciphertexts of every
-- kind (public.secret), tombstones, requests, holds, a retention run, an
-- export and the audit entries of all of it.  Uses only what 0.1.0 has.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE TABLE public.moment (n int PRIMARY KEY, at timestamptz NOT NULL);
CREATE FUNCTION public.mark(n int) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO public.moment VALUES (n, clock_timestamp()); SELECT pg_sleep(0.01) $$;

CREATE SCHEMA masks;
CREATE FUNCTION masks.card(text) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$SELECT '****' || right($1, 4)$$;
SELECT privacy.trust_schema('masks');
SELECT privacy.add_category('contact.wechat', 'WeChat ID');
SELECT privacy.add_category('marketing', 'Marketing preferences', retention => '2 years');
SELECT privacy.add_category('marketing.segment', 'Marketing segment', on_cancel => 'anonymize');

CREATE TABLE users (id bigint PRIMARY KEY, phone text, wechat text, card text, created_at timestamptz);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users, placed_at date);
CREATE TABLE order_items (order_id bigint REFERENCES orders, line int, sku text, PRIMARY KEY (order_id, line));
CREATE TABLE events (user_id bigint, at timestamptz NOT NULL, ip inet, segment text) PARTITION BY RANGE (at);
CREATE TABLE events_old PARTITION OF events FOR VALUES FROM ('2000-01-01') TO ('2026-01-01');
CREATE TABLE events_new PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2100-01-01');
CREATE TABLE "odd ""name""; $$" ("col; $$" text);

SECURITY LABEL FOR privacy ON COLUMN users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN users.wechat IS 'CATEGORY contact.wechat';
SECURITY LABEL FOR privacy ON COLUMN users.card IS 'CATEGORY financial.bank_account MASK WITH masks.card';
SECURITY LABEL FOR privacy ON TABLE users IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON TABLE orders IS 'ON CANCEL ANONYMIZE RETAIN 3 years AFTER placed_at';
SECURITY LABEL FOR privacy ON COLUMN order_items.sku IS 'CATEGORY commerce.order';
SECURITY LABEL FOR privacy ON COLUMN events.user_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN events.ip IS 'CATEGORY device.ip RETAIN 30 days AFTER at';
SECURITY LABEL FOR privacy ON COLUMN events.segment IS 'CATEGORY marketing.segment';
SECURITY LABEL FOR privacy ON TABLE events IS 'RETAIN 6 months AFTER at ON CANCEL KEEP UNTIL RETENTION';
SECURITY LABEL FOR privacy ON COLUMN "odd ""name""; $$"."col; $$" IS 'CATEGORY content.file';

-- purposes, policies, consents, with the moments between them
SELECT privacy.define_purpose('newsletter', 'consent', ARRAY['contact.email'], 'Weekly newsletter');
SELECT privacy.define_purpose('marketing', 'consent', ARRAY['contact.phone'], 'SMS offers only');
SELECT public.mark(0);
SELECT privacy.publish_policy('1.0', true);
SELECT public.mark(1);
SELECT privacy.grant_consent('1', 'newsletter', '{"form": "signup"}');
SELECT privacy.grant_consent('2', 'marketing');
SELECT privacy.grant_consent('4', 'marketing');
SELECT public.mark(2);
SELECT privacy.withdraw_consent('2', 'marketing');
SELECT public.mark(3);
SELECT privacy.publish_policy('1.1', true, ARRAY['newsletter']);
SELECT public.mark(4);
SELECT privacy.grant_consent('1', 'newsletter');
SELECT privacy.set_minor('3', true);
SELECT privacy.grant_consent('3', 'marketing', by_guardian => true, guardian => '9');
SELECT public.mark(5);
SELECT privacy.hide_category('marketing', 'contact.wechat');
SELECT privacy.show_kept_rows('security', false);

-- keys and ciphertexts of every kind (k1 rotated after its first ciphertexts)
SELECT privacy.create_key('k1');
SELECT privacy.create_key('k2');
CREATE TABLE public.secret (n int PRIMARY KEY, kind text NOT NULL, plain text NOT NULL, cipher bytea, cipher_text text, cipher_int bigint);
INSERT INTO public.secret (n, kind, plain, cipher) VALUES
    (1, 'gcm', 'hello 1', privacy.encrypt('hello 1', 'k1')),
    (2, 'siv', 'hello 2', privacy.encrypt_deterministic('hello 2', 'k2', ARRAY['users'::bytea])),
    (3, 'subject', 'hello 3', privacy.subject_encrypt('1', 'hello 3')),
    (4, 'subject', 'hello 4', privacy.subject_encrypt('2', 'hello 4'));
INSERT INTO public.secret (n, kind, plain, cipher_text) VALUES
    (5, 'fpe', '13800000001', privacy.fpe_encrypt('13800000001', 'k2', 'phone'));
INSERT INTO public.secret (n, kind, plain, cipher_int) VALUES
    (6, 'fpe int', '4242', privacy.fpe_encrypt(4242::bigint, 'k2', 0, 99999));
SELECT privacy.rotate_key('k1');
INSERT INTO public.secret (n, kind, plain, cipher) VALUES
    (7, 'gcm', 'hello 7', privacy.encrypt('hello 7', 'k1')),
    (8, 'gcm', 'hello 8', privacy.encrypt('hello 8'::bytea, 'k2'));
CREATE TABLE public.pseudonym_then (n int PRIMARY KEY, value text, key text, pseudonym text);
INSERT INTO public.pseudonym_then VALUES
    (1, '13800000001', 'k1', privacy.pseudonym('13800000001', 'k1')),
    (2, 'user@example.com', 'k2', privacy.pseudonym('user@example.com', 'k2')),
    (3, '1', NULL, privacy.subject_pseudonym('1')),
    (4, '2', NULL, privacy.subject_pseudonym('2'));

-- the shop's rows
INSERT INTO users VALUES (1, '13800000001', 'wx1', '6222000011112222', now()),
                         (2, '13800000002', 'wx2', NULL, now()),
                         (3, '13800000003', 'wx3', NULL, now()),
                         (5, '13800000005', 'wx5', NULL, now());
INSERT INTO orders VALUES (10, 1, current_date), (11, 2, current_date), (12, 5, '2001-01-01');
INSERT INTO order_items VALUES (10, 1, 'SKU-1'), (11, 1, 'SKU-2'), (12, 1, 'SKU-3');
INSERT INTO events VALUES (1, '2100-01-01'::timestamptz - interval '1 day', '10.0.0.1', 'gold'),
                          (2, '2099-06-02', '10.0.0.2', 'silver'),
                          (5, '2001-06-02', '10.0.0.5', 'bronze');

-- holds, a cancellation (a tombstone; its events kept until retention),
-- requests, a retention run, an export
SELECT privacy.place_hold('3', '2099-01-01', 'litigation 2026-17');
SELECT privacy.place_hold('events'::regclass, now() + interval '10 years', 'regulator inquiry');
SELECT * FROM privacy.cancel_subject('2');
SELECT privacy.request_cancellation('1', '15 days');
SELECT privacy.request_cancellation('5', '0 days');
CALL privacy.run_due_requests();
SELECT privacy.release_hold(h.id) FROM privacy.hold h WHERE h.reason = 'regulator inquiry';
CALL privacy.run_retention();
SELECT privacy.export_subject('1') IS NOT NULL AS exported;

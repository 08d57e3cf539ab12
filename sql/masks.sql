-- masks and generalization: exact outputs, UTF-8, errors
SELECT v, privacy.mask_phone(v) FROM (VALUES
    ('13812345678'), ('138-1234-5678'), ('+8613812345678'), ('+86 138 1234 5678'),
    ('+1 415 555 2671'), ('+44 20 7946 0958'), ('+852 2123 4567'), ('010-12345678'),
    ('5551234'), ('12345'), (''), ('电话13812345678')) t(v);
SELECT v, privacy.mask_email(v) FROM (VALUES
    ('zhangsan@example.com'), ('a@example.com'), ('张三@例子.中国'), ('no-at-sign'),
    ('first.last+tag@mail.example.org'), ('@example.com'), ('')) t(v);
SELECT v, privacy.mask_id_number(v) FROM (VALUES
    ('110105199001011234'), ('11010519900101123X'), ('110105900101123'), ('E12345678'),
    ('G1234'), ('abc')) t(v);
SELECT v, privacy.mask_bank_card(v) FROM (VALUES
    ('6222021234567890123'), ('6222 0212 3456 7890 123'), ('4111-1111-1111-1111'), ('1234567')) t(v);
-- inside free text: each phone number, ID number, e-mail and card found is masked, the rest stays
SELECT v, privacy.mask_text(v), privacy.text_contains(v) FROM (VALUES
    ('请拨打13800138000联系'), ('call me on +86 138 0013 8000 today'),
    ('身份证11010519491231002X号, mail zhang.san@example.com.'), ('a@b.cn'),
    ('card 4111 1111 1111 1111 ok, 4111111111111111;'), ('tel 138-0013-8000, 0086 13900139000'),
    ('12 13800138000'), ('ids 11010519491231002X 13800138000'),
    -- not personal data of these kinds: glued to letters or digits, a failing check, dates, order numbers
    ('user13800138000'), ('13800138000123'), ('11010519491231002Y'), ('4111 1111 1111 1112'),
    ('order 20240105123456789 on 2024-01-05'), ('12812345678'), ('no data here'), ('')) t(v);
SELECT privacy.mask_text(NULL) IS NULL AND privacy.text_contains(NULL) IS NULL AS strict,
       length(privacy.mask_text('电话13800138000，邮箱 张三 a.b@example.com')) = length('电话13800138000，邮箱 张三 a.b@example.com') AS same_length;
SELECT v, privacy.mask_name(v) FROM (VALUES
    ('张三'), ('张三丰'), ('欧阳娜娜'), ('张'), ('张 '), ('John Doe'), ('Mary Ann Smith'), ('John D'), ('李 四'), ('')) t(v);
SELECT privacy.mask_partial('abcdefgh', 2, 2) AS default_fill,
       privacy.mask_partial('abcdefgh', 2, 2, '#') AS hash_fill,
       privacy.mask_partial('身份证号码', 1, 1, '＊') AS utf8,
       privacy.mask_partial('abcdefgh', 0, 0) AS all_masked,
       privacy.mask_partial('abcd', 2, 2) AS never_whole,
       privacy.mask_partial('abcd', 5, 0) AS over_keep,
       privacy.mask_partial('', 1, 1) AS empty;
SELECT try($$SELECT privacy.mask_partial('abc', -1, 0)$$);
SELECT try($$SELECT privacy.mask_partial('abc', 0, -1)$$);
SELECT try($$SELECT privacy.mask_partial('abc', 1, 1, '')$$);
SELECT try($$SELECT privacy.mask_partial('abc', 1, 1, '**')$$);
SELECT privacy.mask_phone(NULL) IS NULL AND privacy.mask_email(NULL) IS NULL
   AND privacy.mask_name(NULL) IS NULL AND privacy.mask_partial(NULL, 1, 1) IS NULL AS strict;
-- characters, not bytes: masked values have as many characters as the input
SELECT length(privacy.mask_name('欧阳娜娜')) = 4 AS name_len, length(privacy.mask_email('张三@例子.中国')) = 8 AS email_len;

-- generalization
SELECT l, privacy.generalize(date '2026-11-24', l) FROM unnest(ARRAY['decade', 'year', 'quarter', 'month', 'week']) l;
SET timezone = 'Asia/Shanghai';
SELECT l, privacy.generalize(timestamptz '2026-11-24 15:47:12+08', l)
  FROM unnest(ARRAY['decade', 'year', 'quarter', 'month', 'week', 'day', 'hour']) l;
RESET timezone;
SELECT privacy.generalize(inet '192.168.1.77', 24) AS v4_24, privacy.generalize(inet '192.168.1.77', 16) AS v4_16,
       privacy.generalize(inet '192.168.1.77', 0) AS v4_0, privacy.generalize(inet '192.168.1.77', 32) AS v4_32,
       privacy.generalize(inet '2001:db8:85a3::8a2e:370:7334', 48) AS v6_48;
SELECT try($$SELECT privacy.generalize(date '2026-11-24', 'century')$$);
SELECT try($$SELECT privacy.generalize(now(), 'minute')$$);
SELECT try($$SELECT privacy.generalize(inet '10.0.0.1', 33)$$);
SELECT try($$SELECT privacy.generalize(inet '::1', 129)$$);
SELECT try($$SELECT privacy.generalize(inet '10.0.0.1', -1)$$);
SELECT privacy.age_band('1990-05-01', 10, '2026-11-24') AS tens, privacy.age_band('1990-05-01', 5, '2026-11-24') AS fives,
       privacy.age_band('2012-11-25', 14, '2026-11-24') AS under_14, privacy.age_band('2012-11-24', 14, '2026-11-24') AS turns_14,
       privacy.age_band('2026-11-24', 1, '2026-11-24') AS newborn;
SELECT privacy.age_band(current_date - 365 * 30, 10) IN ('20-29', '30-39') AS defaults_to_today;
SELECT try($$SELECT privacy.age_band('1990-05-01', 0)$$);
SELECT try($$SELECT privacy.age_band('2030-01-01', 10, '2026-11-24')$$);
SELECT try($$SELECT privacy.age_band('-infinity', 10)$$);
-- noise: within the ratio, same scale, varies
SELECT bool_and(v BETWEEN 90 AND 110) AS within, bool_and(scale(v) = 2) AS scale_kept, count(DISTINCT v) > 10 AS varies
  FROM (SELECT privacy.noise(100.00, 0.1) AS v FROM generate_series(1, 200)) s;
SELECT privacy.noise(42.5, 0) AS zero_ratio;
SELECT try($$SELECT privacy.noise(1, 1.5)$$);
SELECT try($$SELECT privacy.noise(1, -0.1)$$);
SELECT try($$SELECT privacy.noise(1, 'NaN')$$);
-- masks and generalization need no grant; they are for everybody
SET ROLE regress_app;
SELECT privacy.mask_phone('13812345678'), privacy.generalize(date '2026-11-24', 'year');
RESET ROLE;
-- declared volatility and parallel safety
SELECT p.oid::regprocedure, p.provolatile, p.proparallel, p.proisstrict
  FROM pg_proc p WHERE p.pronamespace = 'privacy'::regnamespace
   AND p.proname IN ('mask_phone', 'mask_email', 'mask_id_number', 'mask_bank_card', 'mask_name', 'mask_text', 'text_contains',
                     'mask_partial', 'generalize', 'age_band', 'noise', 'pseudonym', 'fpe_encrypt',
                     'fpe_decrypt', 'encrypt', 'decrypt', 'encrypt_deterministic', 'subject_encrypt',
                     'shred_subject', 'date_shift')
 ORDER BY 1::text;

-- taxonomy: the seeded categories, and administering custom ones
SELECT COALESCE(max(seq), 0) AS audit_start FROM privacy.audit_log \gset
SELECT count(*) AS categories, count(*) FILTER (WHERE sensitive) AS sensitive,
       count(*) FILTER (WHERE parent IS NULL) AS top_level
  FROM privacy.category;
SELECT name, sensitive, description FROM privacy.category WHERE parent IS NULL ORDER BY name;
-- every kind of personal information the seed policies name has a category
SELECT n AS missing FROM unnest(ARRAY[
    'identity.name', 'identity.id_number', 'identity.id_document', 'identity.birth_date',
    'identity.verification', 'biometric.face', 'biometric.fingerprint', 'contact.phone',
    'contact.email', 'contact.address', 'contact.address_book', 'account.avatar',
    'account.username', 'credential.password', 'credential.verification_code', 'device.id',
    'device.ip', 'device.mac', 'device.model', 'device.app_list', 'location.precise',
    'location.track', 'location.accommodation', 'log.login', 'log.access', 'log.security',
    'log.search', 'financial.bank_account', 'financial.transaction', 'financial.credit',
    'commerce.order', 'content.message', 'content.photo', 'content.video', 'content.file',
    'content.meeting', 'health.medical', 'minor', 'minor.guardian', 'work.organization',
    'work.department', 'work.job_title', 'work.employee_id', 'identity.criminal_record',
    'identity.religion']) n
 WHERE n NOT IN (SELECT name FROM privacy.category);
-- PIPL Art. 28 sensitive personal information is marked so, and the children
-- of a sensitive category are sensitive
SELECT name FROM privacy.category WHERE sensitive AND parent IS NULL ORDER BY name;
SELECT c.name FROM privacy.category c JOIN privacy.category p ON p.name = c.parent
 WHERE p.sensitive AND NOT c.sensitive;
SELECT name, retention, on_cancel FROM privacy.category
 WHERE retention IS NOT NULL OR on_cancel <> 'delete' ORDER BY name;
-- every category but the top level has its parent
SELECT count(*) AS orphans FROM privacy.category c
 WHERE c.parent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM privacy.category p WHERE p.name = c.parent);

-- adding categories: properties left out are inherited from the parent
SELECT privacy.add_category('contact.wechat', 'WeChat ID');
SELECT privacy.add_category('biometric.face.template', 'Face recognition template');
SELECT privacy.add_category('log.security.waf', 'Web application firewall logs', retention => '1 year');
SELECT privacy.add_category('marketing', 'Marketing preferences', sensitive => false,
                            retention => '2 years', on_cancel => 'delete');
SELECT privacy.add_category('marketing.segment', 'Marketing segment', on_cancel => 'anonymize');
SELECT name, parent, sensitive, retention, on_cancel, seeded FROM privacy.category
 WHERE NOT seeded ORDER BY name;
-- a label may use a custom category at once
SET ROLE regress_owner;
CREATE TABLE profiles (user_id bigint, wechat text, segment text);
SECURITY LABEL FOR privacy ON COLUMN profiles.wechat IS 'CATEGORY contact.wechat';
SECURITY LABEL FOR privacy ON COLUMN profiles.segment IS 'CATEGORY marketing.segment';
RESET ROLE;

-- bad input: each refused, nothing added
SELECT try($$SELECT privacy.add_category('Contact.QQ', 'QQ number')$$);
SELECT try($$SELECT privacy.add_category('contact..qq', 'QQ number')$$);
SELECT try($$SELECT privacy.add_category('contact.wechat', 'again')$$);
SELECT try($$SELECT privacy.add_category('contact.phone', 'again')$$);
SELECT try($$SELECT privacy.add_category('nosuch.thing', 'no parent')$$);
SELECT try($$SELECT privacy.add_category('biometric.retina', 'not sensitive?', sensitive => false)$$);
SELECT try($$SELECT privacy.add_category('contact.fax', 'Fax', on_cancel => 'shred')$$);
SELECT try($$SELECT privacy.add_category('contact.fax', 'Fax', retention => '0 days')$$);
SELECT try($$SELECT privacy.add_category('contact.fax', 'Fax', retention => '-1 days')$$);
SELECT try($$SELECT privacy.add_category('contact.fax', 'Fax', on_cancel => 'keep until retention')$$);
SELECT try($$SELECT privacy.add_category(NULL, 'Fax')$$);
SELECT try($$SELECT privacy.add_category('contact.fax', NULL)$$);
SELECT count(*) AS custom FROM privacy.category WHERE NOT seeded;

-- removing: in use, with sub-categories, or seeded is refused
SELECT try($$SELECT privacy.drop_category('contact.wechat')$$);
SELECT try($$SELECT privacy.drop_category('marketing')$$);
SELECT try($$SELECT privacy.drop_category('contact.phone')$$);
SELECT try($$SELECT privacy.drop_category('contact')$$);
SELECT try($$SELECT privacy.drop_category('nosuch')$$);
-- the same rules hold for direct DML by a superuser
SELECT try($$DELETE FROM privacy.category WHERE name = 'contact.wechat'$$);
SELECT try($$DELETE FROM privacy.category WHERE name = 'identity'$$);
SELECT try($$UPDATE privacy.category SET sensitive = false WHERE name = 'biometric.face'$$);
SELECT try($$UPDATE privacy.category SET name = 'contact.weixin' WHERE name = 'contact.wechat'$$);
SELECT try($$UPDATE privacy.category SET seeded = true WHERE name = 'contact.wechat'$$);
SELECT try($$INSERT INTO privacy.category (name, parent, description) VALUES ('contact.qq', 'contact.phone', 'QQ')$$);
SELECT try($$INSERT INTO privacy.category (name, parent, description) VALUES ('health.steps', 'health', 'Step count')$$);
SELECT try($$UPDATE privacy.category SET sensitive = false WHERE name = 'biometric.face.template'$$);
SELECT count(*) AS custom FROM privacy.category WHERE NOT seeded;
-- a custom category that is not seeded may change its description
UPDATE privacy.category SET description = 'WeChat or Weixin ID' WHERE name = 'contact.wechat';
-- once unused it can be removed
SET ROLE regress_owner;
SECURITY LABEL FOR privacy ON COLUMN profiles.wechat IS NULL;
RESET ROLE;
SELECT privacy.drop_category('contact.wechat');
SELECT privacy.drop_category('log.security.waf');
SELECT name FROM privacy.category WHERE NOT seeded ORDER BY name;

-- only administrators change the taxonomy; everybody can read it
SET ROLE regress_app;
SELECT try($$SELECT privacy.add_category('contact.line', 'LINE ID')$$);
SELECT try($$SELECT privacy.drop_category('marketing.segment')$$);
SELECT try($$INSERT INTO privacy.category (name, parent, description) VALUES ('contact.line', 'contact', 'x')$$);
SELECT count(*) > 90 AS readable FROM privacy.category;
RESET ROLE;
-- an administrator role gets the functions by an explicit GRANT
CREATE ROLE regress_privacy_admin;
GRANT EXECUTE ON FUNCTION privacy.add_category(text, text, boolean, interval, text, text),
                          privacy.drop_category(text) TO regress_privacy_admin;
SET ROLE regress_privacy_admin;
SELECT privacy.add_category('contact.line', 'LINE ID');
SELECT privacy.drop_category('contact.line');
RESET ROLE;

-- every change of the taxonomy is in the audit log
SELECT seq - :audit_start AS n, kind, object, detail->>'operation' AS op,
       detail->'new'->>'sensitive' AS new_sensitive, detail->'old'->>'description' AS old_description
  FROM privacy.audit_log WHERE seq > :audit_start AND kind = 'category' ORDER BY seq;

-- src/sql/state/discovery.sql: discovery's column-name rules with their seeds

CREATE TABLE privacy.discovery_rule (
    word        text         PRIMARY KEY
                             CHECK (word OPERATOR(pg_catalog.=) pg_catalog.lower(word)
                                    AND word OPERATOR(pg_catalog.~) '^[^\x01-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]+$'),
    category    text         NOT NULL REFERENCES privacy.category (name),
    confidence  numeric(3,2) NOT NULL CHECK (confidence OPERATOR(pg_catalog.>) 0 AND confidence OPERATOR(pg_catalog.<) 1),
    seeded      boolean      NOT NULL DEFAULT false
);
COMMENT ON TABLE privacy.discovery_rule IS
    'column-name rules of discovery: a word (English, pinyin or Chinese) found in a column''s name or comment suggests a category with a confidence; administrators add their own rows';
COMMENT ON COLUMN privacy.discovery_rule.word IS
    'lower case; words of letters and digits of five or more characters match anywhere in the name, shorter ones and words with _ only as whole words between _ (or the ends), other scripts anywhere';
COMMENT ON COLUMN privacy.discovery_rule.confidence IS 'confidence of a name match; a comment match counts 0.1 less';
COMMENT ON COLUMN privacy.discovery_rule.seeded IS 'shipped with the extension (read-only); false for rules an administrator added';
GRANT SELECT ON privacy.discovery_rule TO PUBLIC;

INSERT INTO privacy.discovery_rule (word, category, confidence, seeded)
SELECT w.word, r.category, r.confidence, true
  FROM (VALUES
 ('contact.phone', 0.70, ARRAY['phone', 'mobile', 'cellphone', 'telephone', 'tel', 'phone_no', 'shouji', 'shoujihao',
                              'sjh', 'sjhm', 'dianhua', 'lxdh', 'lianxidianhua', '手机', '电话', '联系方式']),
 ('contact.email', 0.70, ARRAY['email', 'e_mail', 'mail', 'youxiang', 'dzyx', '邮箱', '电子邮件']),
 ('contact.address', 0.60, ARRAY['address', 'addr', 'dizhi', 'zhuzhi', 'street', '地址', '住址']),
 ('contact.im_account', 0.60, ARRAY['wechat', 'weixin', 'qq', 'openid', 'unionid', '微信']),
 ('contact.emergency', 0.70, ARRAY['emergency', 'jinji', '紧急联系']),
 ('identity.name', 0.70, ARRAY['real_name', 'realname', 'full_name', 'fullname', 'first_name', 'firstname', 'last_name',
                              'lastname', 'surname', 'given_name', 'family_name', 'true_name', 'truename', 'xingming',
                              'xm', '姓名', 'guest_name', 'customer_name', 'contact_name', 'holder_name',
                              'passenger_name', 'kehu_xingming', '客户姓名', '住客']),
 ('identity.nickname', 0.60, ARRAY['nickname', 'nick_name', 'nicheng', '昵称']),
 ('account.username', 0.60, ARRAY['username', 'user_name', 'login_name', 'loginname', 'yonghuming', '用户名']),
 ('identity.id_number', 0.75, ARRAY['id_card', 'idcard', 'id_no', 'id_number', 'idno', 'national_id', 'ssn', 'sfz',
                                   'sfzh', 'sfzhm', 'shenfenzheng', 'zjhm', '身份证', '证件号']),
 ('identity.id_number', 0.65, ARRAY['tax_no', 'tax_id', 'tax_number', 'taxpayer_id', 'taxpayer_no', 'tin', 'nsrsbh',
                                   '纳税人识别号', '税号']),
 ('identity.id_document', 0.70, ARRAY['passport', 'huzhao', '护照']),
 ('identity.birth_date', 0.70, ARRAY['birthday', 'birth_date', 'birthdate', 'date_of_birth', 'dob', 'shengri', 'csrq',
                                    'chusheng', '生日', '出生']),
 ('identity.gender', 0.60, ARRAY['gender', 'sex', 'xingbie', 'xb', '性别']),
 ('identity.ethnicity', 0.60, ARRAY['ethnicity', 'minzu', '民族']),
 ('identity.religion', 0.60, ARRAY['religion', 'zongjiao', '宗教']),
 ('device.ip', 0.70, ARRAY['ip', 'ip_addr', 'ipaddr', 'ip_address', 'remote_addr']),
 ('device.mac', 0.70, ARRAY['mac', 'mac_addr', 'macaddr', 'mac_address']),
 ('device.id', 0.70, ARRAY['imei', 'imsi', 'idfa', 'idfv', 'oaid', 'android_id', 'device_id', 'udid']),
 ('device.model', 0.75, ARRAY['phone_model', 'device_model']),
 ('device.network', 0.65, ARRAY['ssid', 'bssid', 'wifi', 'wifi_name', 'wlan', 'wuxian', '无线网络']),
 ('financial.bank_account', 0.70, ARRAY['bank_card', 'bankcard', 'card_no', 'card_number', 'bank_account', 'yhk',
                                       'yhkh', '银行卡', '卡号']),
 ('financial.income', 0.60, ARRAY['salary', 'income', 'shouru', 'gongzi', '收入', '工资']),
 ('location.precise', 0.60, ARRAY['latitude', 'longitude', 'lat', 'lng', 'lon', 'gps', 'coordinates', 'weidu',
                                 'jingdu', '经度', '纬度', '定位']),
 ('credential.password', 0.80, ARRAY['password', 'passwd', 'pwd', 'mima', '密码']),
 ('credential.token', 0.60, ARRAY['token', 'api_key', 'apikey', 'access_token']),
 ('credential.verification_code', 0.60, ARRAY['verification_code', 'sms_code', 'otp', 'yzm', '验证码']),
 ('biometric.face', 0.60, ARRAY['face_image', 'face_feature', 'renlian', '人脸']),
 ('biometric.face', 0.75, ARRAY['face_template', 'facial_template', 'face_embedding', 'face_vector']),
 ('biometric', 0.50, ARRAY['template', 'biometric', 'shengwu', '特征模板', '生物特征']),
 ('biometric.fingerprint', 0.70, ARRAY['fingerprint', 'zhiwen', '指纹']),
 ('health.medical', 0.60, ARRAY['diagnosis', 'medical', 'bingli', '病历', '诊断'])
  ) AS r(category, confidence, words)
 CROSS JOIN LATERAL pg_catalog.unnest(r.words) AS w(word);

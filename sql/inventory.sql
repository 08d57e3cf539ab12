-- inventory: the record of processing over a realistic schema
CREATE FUNCTION masks.idno(bpchar) RETURNS bpchar LANGUAGE sql IMMUTABLE
    AS $$SELECT (left($1, 6) || '********' || right($1, 4))::bpchar$$;
CREATE SCHEMA shop AUTHORIZATION regress_owner;
SET ROLE regress_owner;
CREATE TABLE shop.users (
    id          bigint PRIMARY KEY,
    phone       text NOT NULL,
    email       text,
    nickname    text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE shop.identity_verification (
    user_id     bigint PRIMARY KEY REFERENCES shop.users,
    real_name   text,
    id_number   char(18),
    face_image  bytea,
    verified_at timestamptz
);
CREATE TABLE shop.devices (
    id          bigint PRIMARY KEY,
    user_id     bigint REFERENCES shop.users,
    device_id   text,
    mac         macaddr,
    model       text
);
CREATE TABLE shop.login_log (
    device_id   bigint REFERENCES shop.devices,
    ip          inet,
    logged_at   timestamptz NOT NULL
);
CREATE TABLE shop.orders (
    id          bigint PRIMARY KEY,
    user_id     bigint REFERENCES shop.users,
    address     text,
    placed_at   date NOT NULL
);
CREATE TABLE shop.order_items (
    order_id    bigint REFERENCES shop.orders,
    line        int,
    sku         text,
    price       numeric,
    PRIMARY KEY (order_id, line)
);
CREATE TABLE shop.carts (user_id bigint REFERENCES shop.users, sku text);
SECURITY LABEL FOR privacy ON COLUMN shop.users.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN shop.users.phone IS 'CATEGORY contact.phone';
SECURITY LABEL FOR privacy ON COLUMN shop.users.email IS 'CATEGORY contact.email';
SECURITY LABEL FOR privacy ON COLUMN shop.users.nickname IS 'CATEGORY identity.nickname';
SECURITY LABEL FOR privacy ON TABLE shop.users IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN shop.identity_verification.real_name IS 'CATEGORY identity.name';
SECURITY LABEL FOR privacy ON COLUMN shop.identity_verification.id_number IS 'CATEGORY identity.id_number MASK WITH masks.idno';
SECURITY LABEL FOR privacy ON COLUMN shop.identity_verification.face_image IS 'CATEGORY biometric.face';
SECURITY LABEL FOR privacy ON TABLE shop.identity_verification IS 'ON CANCEL DELETE';
SECURITY LABEL FOR privacy ON COLUMN shop.devices.device_id IS 'CATEGORY device.id';
SECURITY LABEL FOR privacy ON COLUMN shop.devices.mac IS 'CATEGORY device.mac';
SECURITY LABEL FOR privacy ON COLUMN shop.devices.model IS 'CATEGORY device.model';
SECURITY LABEL FOR privacy ON COLUMN shop.login_log.ip IS 'CATEGORY device.ip RETAIN 30 days AFTER logged_at';
SECURITY LABEL FOR privacy ON TABLE shop.login_log IS 'RETAIN 6 months AFTER logged_at ON CANCEL KEEP UNTIL RETENTION';
SECURITY LABEL FOR privacy ON COLUMN shop.orders.address IS 'CATEGORY contact.address';
SECURITY LABEL FOR privacy ON TABLE shop.orders IS 'ON CANCEL ANONYMIZE RETAIN 3 years AFTER placed_at THEN ANONYMIZE';
SECURITY LABEL FOR privacy ON COLUMN shop.order_items.sku IS 'CATEGORY commerce.order';
RESET ROLE;

SELECT table_name, column_name, category, sensitive, subject_key, subject_relation,
       subject_columns, subject_path
  FROM privacy.inventory WHERE table_name::text LIKE 'shop.%'
 ORDER BY table_name::text, column_name;
SELECT table_name, column_name, retention, retention_after, retention_action,
       category_retention, on_cancel, mask
  FROM privacy.inventory WHERE table_name::text LIKE 'shop.%'
 ORDER BY table_name::text, column_name;
-- the sensitive personal information a DPO must justify (PIPL Art. 28)
SELECT table_name, column_name, category FROM privacy.inventory
 WHERE sensitive AND table_name::text LIKE 'shop.%' ORDER BY 1, 2;
-- an unlabelled table that references a subject table still shows up in
-- subject_path (cancellation must reach it), but not in the inventory
SELECT relation, hops, path FROM privacy.subject_path
 WHERE relation::text LIKE 'shop.%' ORDER BY hops, relation::text;
-- any role can read the inventory; it holds names and labels, never values
SET ROLE regress_app;
SELECT count(*) FROM privacy.inventory WHERE table_name::text LIKE 'shop.%';
RESET ROLE;
-- dropping a column or a table drops its labels from the inventory
ALTER TABLE shop.devices DROP COLUMN model;
SELECT count(*) FROM privacy.inventory WHERE table_name = 'shop.devices'::regclass;

-- subject_paths: whose data a table holds, directly or through foreign keys
SET ROLE regress_owner;
CREATE TABLE customers (id bigint PRIMARY KEY, name text);
SECURITY LABEL FOR privacy ON COLUMN customers.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN customers.name IS 'CATEGORY identity.name';
-- orders -> customers; order_items has a composite key; item_notes references it
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers, placed_at date);
CREATE TABLE order_items (
    order_id bigint REFERENCES orders, line int, sku text,
    PRIMARY KEY (order_id, line));
CREATE TABLE item_notes (
    order_id bigint, line int, note text,
    FOREIGN KEY (order_id, line) REFERENCES order_items);
SECURITY LABEL FOR privacy ON COLUMN item_notes.note IS 'CATEGORY content.feedback';
-- a message has two subjects: sender and recipient
CREATE TABLE messages (
    id bigint PRIMARY KEY,
    sender_id bigint REFERENCES customers,
    recipient_id bigint REFERENCES customers,
    body text);
SECURITY LABEL FOR privacy ON COLUMN messages.sender_id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN messages.recipient_id IS 'SUBJECT';
CREATE TABLE attachments (message_id bigint REFERENCES messages, file bytea);
-- a composite subject key: (tenant, member) identifies the person
CREATE TABLE members (tenant int, member int, email text, PRIMARY KEY (tenant, member));
SECURITY LABEL FOR privacy ON COLUMN members.tenant IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN members.member IS 'SUBJECT';
CREATE TABLE member_devices (tenant int, member int, device_id text,
    FOREIGN KEY (tenant, member) REFERENCES members);
-- a cycle: documents and revisions reference each other, and documents
-- reference themselves; both reach the subject through documents.owner_id
CREATE TABLE documents (id bigint PRIMARY KEY, owner_id bigint REFERENCES customers,
    parent_id bigint REFERENCES documents, current_revision bigint);
SECURITY LABEL FOR privacy ON COLUMN documents.owner_id IS 'SUBJECT';
CREATE TABLE revisions (id bigint PRIMARY KEY, document_id bigint REFERENCES documents, body text);
ALTER TABLE documents ADD FOREIGN KEY (current_revision) REFERENCES revisions;
-- a cycle with no subject anywhere: neither table belongs to a subject
CREATE TABLE cyc_a (id int PRIMARY KEY, b_id int);
CREATE TABLE cyc_b (id int PRIMARY KEY, a_id int REFERENCES cyc_a);
ALTER TABLE cyc_a ADD FOREIGN KEY (b_id) REFERENCES cyc_b;
-- two routes to the subject: the shortest wins
CREATE TABLE shipments (id bigint PRIMARY KEY, order_id bigint REFERENCES orders,
    customer_id bigint REFERENCES customers);
RESET ROLE;

SELECT relation, subject_relation, subject_columns, hops, path
  FROM privacy.subject_path
 WHERE relation::text IN ('customers', 'orders', 'order_items', 'item_notes', 'messages',
                          'attachments', 'members', 'member_devices', 'documents',
                          'revisions', 'cyc_a', 'cyc_b', 'shipments')
 ORDER BY hops, relation::text;
-- the chain is a list of foreign-key constraints, child first
SELECT relation, array_length(constraints, 1) AS links,
       (SELECT string_agg(conname, ' -> ' ORDER BY i)
          FROM unnest(constraints) WITH ORDINALITY u(c, i) JOIN pg_constraint k ON k.oid = u.c) AS names
  FROM privacy.subject_path WHERE relation = 'item_notes'::regclass;
-- labelling a table's own SUBJECT column makes its path direct
SET ROLE regress_owner;
ALTER TABLE orders ADD COLUMN dummy int;
SECURITY LABEL FOR privacy ON COLUMN orders.customer_id IS 'SUBJECT';
RESET ROLE;
SELECT relation, subject_relation, hops, path FROM privacy.subject_path
 WHERE relation::text IN ('orders', 'order_items', 'item_notes') ORDER BY hops, relation::text;
-- a partitioned table with a foreign key reaches the subject as one table
SET ROLE regress_owner;
CREATE TABLE visits (customer_id bigint REFERENCES customers, at date) PARTITION BY RANGE (at);
CREATE TABLE visits_2026 PARTITION OF visits FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
RESET ROLE;
SELECT relation, subject_relation, hops, path FROM privacy.subject_path
 WHERE relation::text LIKE 'visits%';

-- src/sql/state/purpose_views.sql: the registered purpose views, the roles granted each purpose, the subjects whose data is only kept

CREATE TABLE privacy.purpose_view (
    view_schema   name NOT NULL,
    view_name     name NOT NULL,
    source_schema name NOT NULL,
    source_name   name NOT NULL,
    purpose       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (view_schema, view_name)
);
COMMENT ON TABLE privacy.purpose_view IS
    'the purpose views privacy.create_purpose_view made, by name (so that pg_dump and renames keep them)';
GRANT SELECT ON privacy.purpose_view TO PUBLIC;

CREATE TABLE privacy.purpose_grant (
    purpose   text NOT NULL,
    role_name name NOT NULL,
    PRIMARY KEY (purpose, role_name)
);
COMMENT ON TABLE privacy.purpose_grant IS
    'roles privacy.grant_purpose gave a purpose''s views to; views made later are granted to them too';
GRANT SELECT ON privacy.purpose_grant TO PUBLIC;

-- Subjects whose data is only kept (cancelled, with rows kept until
-- retention): PIPL Art. 47 lets such data be stored and secured, nothing else.
CREATE TABLE privacy.restricted_subject (
    subject_kind  text        NOT NULL DEFAULT 'person',
    subject       text        NOT NULL,
    subject_key   bigint      GENERATED ALWAYS AS
                  (CASE WHEN subject OPERATOR(pg_catalog.~) '^-?[0-9]{1,18}$' THEN subject::bigint END) STORED,
    restricted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    request_id    bigint,
    PRIMARY KEY (subject, subject_kind)
);
CREATE INDEX restricted_subject_key ON privacy.restricted_subject (subject_key);
COMMENT ON TABLE privacy.restricted_subject IS
    'subjects whose account was cancelled but some of whose rows are kept (until retention, as anonymous stubs other rows still reference, or under a legal hold on a table): only the views of a purpose that sees kept rows show them (PIPL Art. 47; privacy.purpose_sees_kept_rows); the subject in its canonical form and kind';
-- As the ledger.
REVOKE ALL ON privacy.restricted_subject FROM PUBLIC;

-- Categories a purpose hides altogether: its views show their columns as
-- NULL, whether the purpose covers them or a mask would apply (no foreign
-- key to privacy.category: pg_restore -j loads the two tables' rows in
-- parallel; hide_category checks the category)
CREATE TABLE privacy.purpose_hidden (
    purpose   text        NOT NULL,
    category  text        NOT NULL,
    hidden_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    hidden_by name        NOT NULL DEFAULT SESSION_USER,
    PRIMARY KEY (purpose, category)
);
COMMENT ON TABLE privacy.purpose_hidden IS
    'categories a purpose hides altogether (privacy.hide_category): its views show their columns, and their sub-categories'', as NULL';
GRANT SELECT ON privacy.purpose_hidden TO PUBLIC;

-- Whether a purpose's views show the rows of subjects whose data is only kept
-- (privacy.restricted_subject): the administrator's choice per purpose; a
-- purpose without a row follows the default of privacy.purpose_sees_kept_rows
CREATE TABLE privacy.purpose_kept_rows (
    purpose text        PRIMARY KEY,
    shown   boolean     NOT NULL,
    set_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    set_by  name        NOT NULL DEFAULT SESSION_USER
);
COMMENT ON TABLE privacy.purpose_kept_rows IS
    'per purpose, whether its views show the rows kept after cancellation (PIPL Art. 47: only a legal obligation''s purpose may), as set by privacy.show_kept_rows; other purposes follow the default';
GRANT SELECT ON privacy.purpose_kept_rows TO PUBLIC;

-- pg_dump keeps what these hold (pg_extension_config_dump)
SELECT pg_catalog.pg_extension_config_dump('privacy.purpose_view', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.purpose_grant', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.purpose_hidden', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.purpose_kept_rows', '');

SELECT pg_catalog.pg_extension_config_dump('privacy.restricted_subject', '');

-- src/sql/code/taxonomy.sql: administering the taxonomy and the trusted schemas: its guard and audit triggers, add/drop_category, trust/untrust_schema

CREATE FUNCTION privacy.category_in_use(category_name text) RETURNS bigint
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT pg_catalog.count(*)
          FROM privacy.labels l
         WHERE l.category = category_name
            OR pg_catalog.starts_with(l.category, category_name || '.')
    $$;
COMMENT ON FUNCTION privacy.category_in_use(text) IS
    'how many column labels name the category or one of its sub-categories';
GRANT EXECUTE ON FUNCTION privacy.category_in_use(text) TO PUBLIC;

CREATE FUNCTION privacy.category_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.seeded THEN
            RAISE EXCEPTION 'cannot remove category "%": it ships with the extension', OLD.name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Only categories added with privacy.add_category() can be removed.';
        END IF;
        n := privacy.category_in_use(OLD.name);
        IF n > 0 THEN
            RAISE EXCEPTION 'cannot remove category "%": % column label(s) use it', OLD.name, n
                USING ERRCODE = 'dependent_objects_still_exist',
                      HINT = 'See privacy.inventory for the columns; relabel them first.';
        END IF;
        IF EXISTS (SELECT 1 FROM privacy.category c WHERE c.parent = OLD.name) THEN
            RAISE EXCEPTION 'cannot remove category "%": it has sub-categories', OLD.name
                USING ERRCODE = 'dependent_objects_still_exist',
                      HINT = 'Remove its sub-categories first.';
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.seeded THEN
            RAISE EXCEPTION 'cannot change category "%": it ships with the extension', OLD.name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Add a sub-category with privacy.add_category() to record different defaults.';
        END IF;
        IF NEW.seeded THEN
            RAISE EXCEPTION 'cannot mark category "%" as shipped with the extension', OLD.name
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        IF NEW.name <> OLD.name THEN
            RAISE EXCEPTION 'cannot rename category "%"', OLD.name
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Labels refer to categories by name: add a new category and relabel.';
        END IF;
    END IF;
    -- INSERT or UPDATE: the children of a sensitive category are sensitive
    IF NOT NEW.sensitive AND EXISTS (SELECT 1 FROM privacy.category p
                                      WHERE p.name = NEW.parent AND p.sensitive) THEN
        RAISE EXCEPTION 'category "%" must be sensitive, as its parent "%" is', NEW.name, NEW.parent
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION privacy.category_guard() IS
    'trigger: seeded categories are read-only; a category in use or with sub-categories cannot be removed; names do not change; children of sensitive categories are sensitive';

CREATE TRIGGER category_guard BEFORE INSERT OR UPDATE OR DELETE ON privacy.category
    FOR EACH ROW EXECUTE FUNCTION privacy.category_guard();

CREATE FUNCTION privacy.invalidate_cancel_plans(rel pg_catalog.regclass) RETURNS void
    AS 'MODULE_PATHNAME', 'privacy_invalidate_cancel_plans'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION privacy.invalidate_cancel_plans(pg_catalog.regclass) IS
    'internal: make every backend compile its cancellation plan again, at commit (a category''s action on cancellation changed)';
REVOKE ALL ON FUNCTION privacy.invalidate_cancel_plans(pg_catalog.regclass) FROM PUBLIC;

CREATE FUNCTION privacy.category_audit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- only the taxonomy's own trigger: attached to another table it would
    -- write audit entries of that table's rows
    IF TG_RELID <> 'privacy.category'::pg_catalog.regclass OR TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' THEN
        RAISE EXCEPTION 'privacy.category_audit() is the trigger of privacy.category only'
            USING ERRCODE = 'trigger_protocol_violated';
    END IF;
    PERFORM privacy.invalidate_cancel_plans(TG_RELID);
    IF NOT privacy.restoring() THEN
        PERFORM privacy.audit_append('category',
                    pg_catalog.format('category %s', COALESCE(NEW.name, OLD.name)),
                    pg_catalog.jsonb_build_object('operation', pg_catalog.lower(TG_OP),
                        'old', CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) END,
                        'new', CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) END));
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION privacy.category_audit() IS 'trigger: records every change of the taxonomy in the audit log';
-- The trigger of privacy.category only (a trigger's function is not checked
-- for EXECUTE when it fires): nobody may attach it to another table.
REVOKE ALL ON FUNCTION privacy.category_audit() FROM PUBLIC;

CREATE TRIGGER category_audit AFTER INSERT OR UPDATE OR DELETE ON privacy.category
    FOR EACH ROW EXECUTE FUNCTION privacy.category_audit();

CREATE FUNCTION privacy.check_mask(mask text, typ pg_catalog.regtype) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_check_mask'
    LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION privacy.check_mask(text, pg_catalog.regtype) IS
    'a mask function''s name checked as a label''s MASK WITH is (one function, in schema privacy or a trusted schema, taking and returning the type), quoted and qualified; an error otherwise';
GRANT EXECUTE ON FUNCTION privacy.check_mask(text, pg_catalog.regtype) TO PUBLIC;

CREATE FUNCTION privacy.add_category(name text, description text,
                                     sensitive boolean DEFAULT NULL,
                                     retention interval DEFAULT NULL,
                                     on_cancel text DEFAULT NULL,
                                     mask text DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_parent text := pg_catalog.substring(name, '^(.*)\.[^.]+$');
    p        privacy.category;
BEGIN
    IF name IS NULL OR description IS NULL THEN
        RAISE EXCEPTION 'a category needs a name and a description'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF name !~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' THEN
        RAISE EXCEPTION 'invalid category name "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Category names are lower-case words of letters, digits and underscores joined by dots, such as contact.phone.';
    END IF;
    IF EXISTS (SELECT 1 FROM privacy.category c WHERE c.name = add_category.name) THEN
        RAISE EXCEPTION 'category "%" already exists', name
            USING ERRCODE = 'duplicate_object';
    END IF;
    IF v_parent IS NOT NULL THEN
        SELECT * INTO p FROM privacy.category c WHERE c.name = v_parent;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'parent category "%" does not exist', v_parent
                USING ERRCODE = 'undefined_object',
                      HINT = 'Add the parent category first.';
        END IF;
        IF p.sensitive AND sensitive IS NOT NULL AND NOT sensitive THEN
            RAISE EXCEPTION 'category "%" must be sensitive, as its parent "%" is', name, v_parent
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    IF on_cancel IS NOT NULL
       AND NOT on_cancel = ANY (ARRAY['delete', 'anonymize', 'keep until retention']) THEN
        RAISE EXCEPTION 'invalid on_cancel action "%"', on_cancel
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use delete, anonymize or keep until retention.';
    END IF;
    IF retention IS NOT NULL AND retention <= interval '0' THEN
        RAISE EXCEPTION 'retention must be longer than zero'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- a mask is pasted into purpose views: a function's name, checked as a label's is
    IF mask IS NOT NULL THEN
        mask := privacy.check_mask(mask, 'pg_catalog.text');
    END IF;
    IF on_cancel = 'keep until retention'
       AND COALESCE(retention, p.retention) IS NULL THEN
        RAISE EXCEPTION 'on_cancel "keep until retention" needs a retention period'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO privacy.category (name, parent, description, sensitive, retention, on_cancel, mask, seeded,
                                  exported, export_reason)
    VALUES (name, v_parent, description,
            COALESCE(sensitive, p.sensitive, false),
            COALESCE(retention, p.retention),
            COALESCE(on_cancel, p.on_cancel, 'delete'),
            COALESCE(mask, p.mask),
            false,
            COALESCE(p.exported, true),
            p.export_reason);
    RETURN name;
END
$$;
COMMENT ON FUNCTION privacy.add_category(text, text, boolean, interval, text, text) IS
    'add a category under an existing parent; unset properties are inherited from the parent, and whether exports leave it out (exported, export_reason) always is';
-- Changing the taxonomy is an administrator's job.
REVOKE ALL ON FUNCTION privacy.add_category(text, text, boolean, interval, text, text) FROM PUBLIC;

CREATE FUNCTION privacy.drop_category(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    DELETE FROM privacy.category c WHERE c.name = drop_category.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'category "%" does not exist', name
            USING ERRCODE = 'undefined_object';
    END IF;
END
$$;
COMMENT ON FUNCTION privacy.drop_category(text) IS
    'remove a category an administrator added; refused while a label uses it or it has sub-categories';
-- Changing the taxonomy is an administrator's job.
REVOKE ALL ON FUNCTION privacy.drop_category(text) FROM PUBLIC;

CREATE FUNCTION privacy.trust_schema(schema_name name) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF schema_name IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
                                           WHERE n.nspname = schema_name) THEN
        RAISE EXCEPTION 'schema "%" does not exist', schema_name
            USING ERRCODE = 'invalid_schema_name';
    END IF;
    IF EXISTS (SELECT 1 FROM privacy.trusted_schema t WHERE t.schema_name = trust_schema.schema_name) THEN
        RAISE EXCEPTION 'schema "%" is already trusted', schema_name
            USING ERRCODE = 'duplicate_object';
    END IF;
    INSERT INTO privacy.trusted_schema (schema_name) VALUES (schema_name);
    PERFORM privacy.audit_append('trust', pg_catalog.format('schema %s', pg_catalog.quote_ident(schema_name)),
                                 '{"trusted": true}');
END
$$;
COMMENT ON FUNCTION privacy.trust_schema(name) IS
    'allow MASK WITH to name functions of this schema; whoever can create functions there decides what masks do';
-- Trusting a schema lets its functions see personal data: superusers only.
REVOKE ALL ON FUNCTION privacy.trust_schema(name) FROM PUBLIC;

CREATE FUNCTION privacy.untrust_schema(schema_name name) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    SELECT pg_catalog.count(*) INTO n FROM privacy.labels l
     WHERE pg_catalog.starts_with(l.mask, pg_catalog.quote_ident(schema_name) || '.');
    IF n > 0 THEN
        RAISE EXCEPTION 'cannot stop trusting schema "%": % label(s) mask with its functions', schema_name, n
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'See privacy.labels for the labels; relabel them first.';
    END IF;
    DELETE FROM privacy.trusted_schema t WHERE t.schema_name = untrust_schema.schema_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schema "%" is not trusted', schema_name
            USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM privacy.audit_append('trust', pg_catalog.format('schema %s', pg_catalog.quote_ident(schema_name)),
                                 '{"trusted": false}');
END
$$;
COMMENT ON FUNCTION privacy.untrust_schema(name) IS
    'stop trusting a schema for MASK WITH; refused while a label masks with one of its functions';
-- Superusers only, like trust_schema.
REVOKE ALL ON FUNCTION privacy.untrust_schema(name) FROM PUBLIC;

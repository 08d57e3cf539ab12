/*-------------------------------------------------------------------------
 * labels.c
 *	  The security label provider "privacy": validates every label when it is
 *	  set, records the change in the audit log, and decodes labels for SQL.
 *
 * A label is parsed by label_parse.c, then checked against the catalogs:
 * the object must be a table, a partitioned table or one of their columns;
 * the category must exist; a MASK function must exist in a trusted schema
 * and take and return the column's type; a RETAIN column must exist and be a
 * date or timestamp; an ANONYMIZE WITH method must suit the column's type.
 * Any failure raises an error and nothing is stored.
 *
 * Restore mode: pg_dump scripts run with check_function_bodies = off and
 * restore security labels before the extension's configuration tables
 * (custom categories, trusted schemas, the audit log).  When a superuser
 * sets a label with check_function_bodies = off, only the checks that do not
 * depend on that configuration run, and the change is not audited again:
 * the restored audit log already holds it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/objectaddress.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/seclabel.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/catcache.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "kinds.h"
#include "label_parse.h"
#include "privacy.h"

static void lbl_object_relabel(const ObjectAddress *object, const char *seclabel);
static void lbl_object_access(ObjectAccessType access, Oid classId, Oid objectId,
							  int subId, void *arg);

static object_access_hook_type prev_object_access_hook = NULL;
static char *lbl_change_detail(const char *label, const char *previous, bool dropped);

void
privacy_labels_init(void)
{
	register_label_provider(PRIVACY_PROVIDER, lbl_object_relabel);
	prev_object_access_hook = object_access_hook;
	object_access_hook = lbl_object_access;
}

/*
 * true while a superuser restores a dump (see the file header): the role
 * that called (SET ROLE's, else the session's), not the current user, which
 * inside a SECURITY DEFINER function is its owner
 */
static bool
lbl_restore_mode(void)
{
	/*
	 * Not inside a security-restricted operation: there the outer user is
	 * still the superuser who called the extension, while the code running
	 * is a table owner's (the gate of rights.c, an index build).
	 */
	return !check_function_bodies && superuser_arg(GetOuterUserId()) &&
		!InSecurityRestrictedOperation();
}

PG_FUNCTION_INFO_V1(privacy_restoring);

/* privacy.restoring(): restore mode, as the label provider decides it */
Datum
privacy_restoring(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(lbl_restore_mode());
}

/* raise the parser's error with the errcode of its kind */
static void
lbl_report(const PrivacyLabelError *error)
{
	int			code;

	switch (error->kind)
	{
		case PRIVACY_LABEL_INTERVAL:
			code = ERRCODE_INVALID_DATETIME_FORMAT;
			break;
		case PRIVACY_LABEL_CONFLICT:
			code = ERRCODE_INVALID_OBJECT_DEFINITION;
			break;
		default:
			code = ERRCODE_SYNTAX_ERROR;
			break;
	}
	ereport(ERROR,
			(errcode(code),
			 errmsg_internal("%s", error->message),
			 error->detail ? errdetail_internal("%s", error->detail) : 0));
}

/* one-row, one-parameter existence query over the extension's tables */
static bool
lbl_exists(const char *sql, const char *arg)
{
	Oid			argtype = TEXTOID;
	Datum		value = CStringGetTextDatum(arg);
	bool		found;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(sql, 1, &argtype, &value, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed");
	found = SPI_processed > 0;
	SPI_finish();
	return found;
}

static void
lbl_check_category(const char *category)
{
	if (!lbl_exists("SELECT 1 FROM privacy.category WHERE name OPERATOR(pg_catalog.=) $1",
					category))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown privacy category \"%s\"", category),
				 errhint("The categories are listed in privacy.category; add one with privacy.add_category().")));
}

/*
 * The MASK function: it must exist, be a plain function in the privacy schema
 * or a schema listed in privacy.trusted_schema, and take and return the
 * column's type (binary-coercible types count as the same).
 */
static void
lbl_check_mask(const PrivacyLabel *label, Oid coltype, bool restoring)
{
	const char *nspname = label->mask_schema ? label->mask_schema : PRIVACY_SCHEMA;
	Oid			nspid = get_namespace_oid(nspname, true);
	CatCList   *procs;
	bool		named = false;
	bool		matched = false;
	int			i;

	if (OidIsValid(nspid))
	{
		procs = SearchSysCacheList1(PROCNAMEARGSNSP, CStringGetDatum(label->mask_name));
		for (i = 0; i < procs->n_members; i++)
		{
			Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(&procs->members[i]->tuple);

			if (proc->pronamespace != nspid)
				continue;
			named = true;
			if (proc->prokind == PROKIND_FUNCTION && proc->pronargs == 1 &&
				!proc->proretset &&
				IsBinaryCoercible(coltype, proc->proargtypes.values[0]) &&
				IsBinaryCoercible(proc->prorettype, coltype))
				matched = true;
		}
		ReleaseSysCacheList(procs);
	}

	if (!named)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("mask function %s does not exist",
						quote_qualified_identifier(nspname, label->mask_name)),
				 label->mask_schema ? 0 :
				 errhint("An unqualified MASK function is looked up in schema privacy; qualify it with its schema.")));
	if (!matched)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("mask function %s must take and return type %s",
						quote_qualified_identifier(nspname, label->mask_name),
						format_type_be(coltype)),
				 errdetail("A mask replaces the column's value, so it takes one argument of the column's type and returns that type.")));
	if (!restoring && strcmp(nspname, PRIVACY_SCHEMA) != 0 &&
		!lbl_exists("SELECT 1 FROM privacy.trusted_schema WHERE schema_name OPERATOR(pg_catalog.=) $1",
					nspname))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("mask function %s is not in a trusted schema",
						quote_qualified_identifier(nspname, label->mask_name)),
				 errdetail("Mask functions run over personal data, so they must live in schema privacy or in a schema a superuser trusts."),
				 errhint("A superuser can trust the schema with SELECT privacy.trust_schema(%s).",
						 quote_literal_cstr(nspname))));
}

/*
 * The generalization hierarchy a type follows (a domain follows its base
 * type), and its top level, where the column is suppressed.  Shared by the
 * ANONYMIZE WITH GENERALIZE check and privacy.generalization().
 */
typedef struct GeneralizationKind
{
	const char *name;
	int			top;
} GeneralizationKind;

static const GeneralizationKind *
lbl_generalization_kind(Oid typid)
{
	static const GeneralizationKind kinds[] = {
		{"date", 4}, {"timestamp", 5}, {"number", 5}, {"inet", 4}, {"text", 6}, {"other", 1}
	};

	switch (getBaseType(typid))
	{
		case DATEOID:
			return &kinds[0];
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return &kinds[1];
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case FLOAT4OID:
		case FLOAT8OID:
			return &kinds[2];
		case INETOID:
		case CIDROID:
			return &kinds[3];
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return &kinds[4];
		default:
			return &kinds[5];
	}
}

PG_FUNCTION_INFO_V1(privacy_generalization_kind);
/* privacy.generalization_kind(regtype) -> text */
Datum
privacy_generalization_kind(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(lbl_generalization_kind(PG_GETARG_OID(0))->name));
}

PG_FUNCTION_INFO_V1(privacy_generalization_top);
/* privacy.generalization_top(regtype) -> integer */
Datum
privacy_generalization_top(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(lbl_generalization_kind(PG_GETARG_OID(0))->top);
}

/*
 * ANONYMIZE WITH: whether the method suits the column's type.  Returns NULL
 * when it does, else the error message, with its code and detail in *code
 * and *detail (and a hint, or NULL, in *hint).
 */
static char *
lbl_anonymize_problem(PrivacyAnonymize method, int level, Oid coltype,
					  int *code, char **detail, char **hint)
{
	Oid			base = getBaseType(coltype);
	bool		integer = (base == INT2OID || base == INT4OID || base == INT8OID);
	bool		string = (base == TEXTOID || base == VARCHAROID || base == BPCHAROID);

	*code = ERRCODE_DATATYPE_MISMATCH;
	*hint = NULL;
	if (method == PRIVACY_ANON_PSEUDONYM &&
		!(integer || string || base == UUIDOID || base == BYTEAOID))
	{
		*detail = pstrdup("Pseudonyms are made for text, varchar, char, smallint, integer, bigint, uuid and bytea columns.");
		return psprintf("ANONYMIZE WITH PSEUDONYM cannot rewrite a column of type %s", format_type_be(coltype));
	}
	if (method == PRIVACY_ANON_FF1 && !(integer || string))
	{
		*detail = pstrdup("FF1 encrypts the digits of text, varchar and char columns and the value of smallint, integer and bigint columns.");
		return psprintf("ANONYMIZE WITH FF1 cannot rewrite a column of type %s", format_type_be(coltype));
	}
	if (method == PRIVACY_ANON_GENERALIZE)
	{
		const GeneralizationKind *kind = lbl_generalization_kind(coltype);

		if (kind->top == 1)
		{
			*detail = pstrdup("Dates, timestamps, numbers, inet and text columns have generalization hierarchies.");
			*hint = pstrdup("Use ANONYMIZE WITH NULL or PLACEHOLDER.");
			return psprintf("ANONYMIZE WITH GENERALIZE cannot rewrite a column of type %s", format_type_be(coltype));
		}
		if (level >= kind->top)
		{
			*code = ERRCODE_INVALID_PARAMETER_VALUE;
			*detail = NULL;
			*hint = psprintf("Level %d suppresses the column: use ANONYMIZE WITH NULL.", kind->top);
			return psprintf("%s columns generalize to levels 1 to %d, not %d", kind->name, kind->top - 1, level);
		}
	}
	return NULL;
}

static void
lbl_check_anonymize(const PrivacyLabel *label, Oid coltype)
{
	int			code;
	char	   *detail;
	char	   *hint;
	char	   *message = lbl_anonymize_problem(label->anonymize, label->anonymize_level, coltype,
											   &code, &detail, &hint);

	if (message)
		ereport(ERROR,
				(errcode(code),
				 errmsg_internal("%s", message),
				 detail ? errdetail_internal("%s", detail) : 0,
				 hint ? errhint("%s", hint) : 0));
}

PG_FUNCTION_INFO_V1(privacy_anonymize_method_problem);
/*
 * privacy.anonymize_method_problem(method text, typ regtype) -> text: NULL
 * when the method (as privacy.labels shows it) suits the type, else why not.
 */
Datum
privacy_anonymize_method_problem(PG_FUNCTION_ARGS)
{
	char	   *method = text_to_cstring(PG_GETARG_TEXT_PP(0));
	PrivacyLabel label;
	PrivacyLabelError error;
	int			code;
	char	   *detail;
	char	   *hint;
	char	   *message;

	if (!privacy_label_parse(psprintf("SUBJECT ANONYMIZE WITH %s", method), false, &label, &error) ||
		label.anonymize == PRIVACY_ANON_NONE)
		PG_RETURN_TEXT_P(cstring_to_text("unknown anonymization method"));
	message = lbl_anonymize_problem(label.anonymize, label.anonymize_level, PG_GETARG_OID(1),
									&code, &detail, &hint);
	if (message == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(message));
}

/*
 * SUBJECT <kind>: every SUBJECT column of one kind is of one type family
 * (kinds.c), so that a subject has one canonical form.
 */
static void
lbl_check_kind(Oid relid, int attnum, const char *kind, Oid coltype)
{
	Oid			types[3] = {TEXTOID, OIDOID, INT4OID};
	Datum		values[3];
	Oid			base;
	PrivacyFamily family = privacy_subject_family(coltype, &base);
	uint64		i;

	values[0] = CStringGetTextDatum(kind);
	values[1] = ObjectIdGetDatum(relid);
	values[2] = Int32GetDatum(attnum);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT a.attrelid::pg_catalog.regclass::text, a.attname::text, a.atttypid"
							  PRIVACY_SUBJECT_LABELS_SQL
							  "   AND p.subject_kind OPERATOR(pg_catalog.=) $1"
							  "   AND NOT (s.objoid OPERATOR(pg_catalog.=) $2 AND s.objsubid OPERATOR(pg_catalog.=) $3)"
							  " ORDER BY 1, 2",
							  3, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the SUBJECT labels");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			other = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
		Oid			otherbase;
		PrivacyFamily otherfamily = privacy_subject_family(other, &otherbase);

		if (otherfamily != family || (family == PRIVACY_FAMILY_OTHER && otherbase != base))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("SUBJECT columns of kind \"%s\" must be of one type family", kind),
					 errdetail("Column %s of %s is of type %s (%s); this column is of type %s (%s).",
							   SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2),
							   SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
							   format_type_be(other),
							   otherfamily == PRIVACY_FAMILY_OTHER ? format_type_be(otherbase) : privacy_family_name(otherfamily),
							   format_type_be(coltype),
							   family == PRIVACY_FAMILY_OTHER ? format_type_be(base) : privacy_family_name(family)),
					 errhint("A subject has one canonical form per kind: give one of them another kind, as SUBJECT <kind>.")));
	}
	SPI_finish();
}

/* OWNER or REFERENCE: the column is one of a foreign key's */
static void
lbl_check_link(Oid relid, int attnum, PrivacyLink link)
{
	Oid			types[2] = {OIDOID, INT2OID};
	Datum		values[2];
	bool		found;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = Int16GetDatum((int16) attnum);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_constraint k"
							  " WHERE k.conrelid OPERATOR(pg_catalog.=) $1 AND k.contype OPERATOR(pg_catalog.=) 'f'"
							  "   AND $2 OPERATOR(pg_catalog.=) ANY (k.conkey)",
							  2, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the foreign keys");
	found = SPI_processed > 0;
	SPI_finish();
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("%s applies to a column of a foreign key, and column \"%s\" is in none",
						link == PRIVACY_LINK_OWNER ? "OWNER" : "REFERENCE", get_attname(relid, attnum, false)),
				 errdetail("OWNER says that the foreign key tells whose row it is; REFERENCE, that it only refers to a subject.")));
}

/* The AFTER column of RETAIN: it must exist and hold a date or timestamp. */
static void
lbl_check_retain_column(Oid relid, const char *colname)
{
	AttrNumber	attnum = get_attnum(relid, colname);
	Oid			type;

	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("RETAIN column \"%s\" of relation \"%s\" does not exist",
						colname, get_rel_name(relid))));
	type = getBaseType(get_atttype(relid, attnum));
	if (type != DATEOID && type != TIMESTAMPOID && type != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("RETAIN column \"%s\" must be of type date, timestamp or timestamp with time zone, not %s",
						colname, format_type_be(get_atttype(relid, attnum)))));
}

/* The kinds of relation a label may be put on, and where. */
static void
lbl_check_object(const ObjectAddress *object)
{
	Oid			relid = object->objectId;
	char		relkind;

	if (object->classId != RelationRelationId)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("privacy labels apply only to tables, partitioned tables and their columns"),
				 errdetail("Cannot label %s.", getObjectDescription(object, false))));

	relkind = get_rel_relkind(relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("privacy labels apply only to tables, partitioned tables and their columns"),
				 errdetail_relkind_not_supported(relkind)));

	/*
	 * A temporary table is one session's: other sessions cannot read it, so
	 * a label on it would put in every cancellation plan a table the others
	 * cannot touch (any role could stop every cancellation), and its guard
	 * would answer a stranger's probes (test/review 04, 05).
	 */
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot put a privacy label on temporary table \"%s\"", get_rel_name(relid)),
				 errdetail("A temporary table belongs to one session; the extension's work spans every session.")));

	if (IsCatalogRelationOid(relid) || get_rel_namespace(relid) == get_namespace_oid(PRIVACY_SCHEMA, true))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot put a privacy label on \"%s\"", get_rel_name(relid)),
				 errdetail("System catalogs and the extension's own tables cannot be labelled.")));

	if (get_rel_relispartition(relid))
	{
		List	   *ancestors = get_partition_ancestors(relid);
		Oid			root = llast_oid(ancestors);

		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot put a privacy label on partition \"%s\"", get_rel_name(relid)),
				 errdetail("Labels on a partitioned table apply to all of its partitions, present and future."),
				 errhint("Label the partitioned table \"%s\" instead.", get_rel_name(root))));
	}

	if (object->objectSubId < 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot put a privacy label on a system column")));
}

/*
 * lbl_object_relabel: the provider hook.  Called by SECURITY LABEL before the
 * label is stored (seclabel NULL removes it); raising an error stores nothing.
 */
static void
lbl_object_relabel(const ObjectAddress *object, const char *seclabel)
{
	bool		restoring;
	char	   *previous;

	privacy_require_preload();
	privacy_require_extension();
	lbl_check_object(object);
	restoring = lbl_restore_mode();

	if (seclabel != NULL)
	{
		bool		is_table = (object->objectSubId == 0);
		PrivacyLabel label;
		PrivacyLabelError error;

		if (!privacy_label_parse(seclabel, is_table, &label, &error))
			lbl_report(&error);

		if (!is_table)
		{
			Oid			coltype = get_atttype(object->objectId, object->objectSubId);

			if (label.category && !restoring)
				lbl_check_category(label.category);
			if (label.mask_name)
				lbl_check_mask(&label, coltype, restoring);
			if (label.anonymize != PRIVACY_ANON_NONE)
				lbl_check_anonymize(&label, coltype);
			if (label.subject)
			{
				const char *why = privacy_subject_type_problem(coltype);

				if (why != NULL)
					ereport(ERROR,
							(errcode(ERRCODE_DATATYPE_MISMATCH),
							 errmsg("column of type %s cannot be a SUBJECT column", format_type_be(coltype)),
							 errdetail("Its type is %s.", why),
							 errhint("Label a column of a built-in type (an integer, text, uuid, ...) or a domain over one as SUBJECT.")));
			}
			if (label.subject && !restoring)
				lbl_check_kind(object->objectId, object->objectSubId,
							   label.subject_kind ? label.subject_kind : PRIVACY_DEFAULT_KIND, coltype);
			if (label.link != PRIVACY_LINK_NONE && !restoring)
				lbl_check_link(object->objectId, object->objectSubId, label.link);
		}
		if (label.has_retain)
			lbl_check_retain_column(object->objectId, label.retain_after);
	}

	/* every backend's cancellation plan depends on the labels */
	CacheInvalidateRelcacheByRelid(object->objectId);

	if (restoring)
		return;

	previous = GetSecurityLabel(object, PRIVACY_PROVIDER);
	privacy_audit_write("label",
						psprintf("%s %s",
								 object->objectSubId == 0 ? "table" : "column",
								 getObjectIdentity(object, false)),
						lbl_change_detail(seclabel, previous, false));
}

/* the audit detail of a label change: the new and the previous label */
static char *
lbl_change_detail(const char *label, const char *previous, bool dropped)
{
	StringInfoData d;

	initStringInfo(&d);
	appendStringInfoString(&d, "{\"label\": ");
	if (label)
		escape_json(&d, label);
	else
		appendStringInfoString(&d, "null");
	appendStringInfoString(&d, ", \"previous\": ");
	if (previous)
		escape_json(&d, previous);
	else
		appendStringInfoString(&d, "null");
	if (dropped)
		appendStringInfoString(&d, ", \"dropped\": true");
	appendStringInfoChar(&d, '}');
	return d.data;
}

/*
 * Inside privacy_as_owner: audit the removal of every label of a table being
 * dropped (the table's and its columns').
 */
static void
lbl_dropped_spi(void *arg)
{
	Oid			relid = *(Oid *) arg;
	Oid			type = OIDOID;
	Datum		value = ObjectIdGetDatum(relid);
	uint64		n;
	uint64		i;
	int		   *subids;
	char	  **labels;
	ObjectAddress object;

	if (SPI_execute_with_args("SELECT objsubid, label FROM pg_catalog.pg_seclabel"
							  " WHERE classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
							  "   AND objoid OPERATOR(pg_catalog.=) $1"
							  "   AND provider OPERATOR(pg_catalog.=) 'privacy'"
							  " ORDER BY objsubid",
							  1, &type, &value, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_seclabel");
	/* copy first: the audit appends below replace SPI_tuptable */
	n = SPI_processed;
	subids = palloc(sizeof(int) * (n + 1));
	labels = palloc(sizeof(char *) * (n + 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		subids[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		labels[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	object.classId = RelationRelationId;
	object.objectId = relid;
	for (i = 0; i < n; i++)
	{
		object.objectSubId = subids[i];
		privacy_audit_write_spi("label",
								psprintf("%s %s", subids[i] == 0 ? "table" : "column",
										 getObjectIdentity(&object, false)),
								lbl_change_detail(NULL, labels[i], true));
	}
}

/*
 * A RETAIN clause names its column: dropping that column would leave the label
 * pointing at nothing, so it is refused until the label changes.
 */
static void
lbl_check_retain_column_drop(Oid relid, AttrNumber attnum)
{
	char	   *colname = get_attname(relid, attnum, true);
	ObjectAddress object;
	AttrNumber	a;
	int			natts;

	if (colname == NULL)
		return;
	object.classId = RelationRelationId;
	object.objectId = relid;
	{
		/* ALTER TABLE holds the table's lock already */
		Relation	rel = relation_open(relid, NoLock);

		natts = RelationGetNumberOfAttributes(rel);
		relation_close(rel, NoLock);
	}
	for (a = 0; a <= natts; a++)
	{
		char	   *label;
		PrivacyLabel parsed;
		PrivacyLabelError error;

		object.objectSubId = a;
		label = GetSecurityLabel(&object, PRIVACY_PROVIDER);
		if (label == NULL || !privacy_label_parse(label, a == 0, &parsed, &error))
			continue;
		if (parsed.has_retain && strcmp(parsed.retain_after, colname) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot drop column \"%s\": the privacy label of %s names it in RETAIN ... AFTER",
							colname, a == 0 ? psprintf("table %s", get_rel_name(relid))
							: psprintf("column %s", get_attname(relid, a, false))),
					 errhint("Change or remove that label first (SECURITY LABEL FOR privacy ...).")));
	}
}

/*
 * lbl_object_access: a labelled table or column is about to be dropped.
 * PostgreSQL removes its labels with it; record that in the audit log, as
 * any other label change.  Runs before the deletion, while the labels and
 * names are still in the catalogs.
 */
static void
lbl_object_access(ObjectAccessType access, Oid classId, Oid objectId, int subId, void *arg)
{
	ObjectAccessDrop *drop = (ObjectAccessDrop *) arg;
	ObjectAddress object;

	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access != OAT_DROP || classId != RelationRelationId || !privacy_preloaded)
		return;
	if (drop && (drop->dropflags & PERFORM_DELETION_INTERNAL))
		return;					/* temporary tables at session end, and the like */
	if (!OidIsValid(get_extension_oid("privacy", true)))
		return;					/* labels left from a dropped extension: nothing to audit to */

	object.classId = RelationRelationId;
	object.objectId = objectId;
	if (subId != 0)
	{
		/* ALTER TABLE ... DROP COLUMN */
		char	   *label;

		lbl_check_retain_column_drop(objectId, subId);
		object.objectSubId = subId;
		label = GetSecurityLabel(&object, PRIVACY_PROVIDER);
		if (label)
			privacy_audit_write("label",
								psprintf("column %s", getObjectIdentity(&object, false)),
								lbl_change_detail(NULL, label, true));
	}
	else
	{
		/* DROP TABLE: every label of the table and of its columns goes */
		char		relkind = get_rel_relkind(objectId);

		if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
			return;
		privacy_as_owner(lbl_dropped_spi, &objectId);
	}
}

PG_FUNCTION_INFO_V1(privacy_check_mask);

/*
 * privacy.check_mask(mask text, typ regtype) -> text: a category's MASK
 * function held to the rule of a label's MASK WITH (one function, existing,
 * in schema privacy or a trusted schema, taking and returning the type): its
 * name, quoted and qualified, the only form in which a purpose view pastes
 * it.  Anything else is refused.
 */
Datum
privacy_check_mask(PG_FUNCTION_ARGS)
{
	char	   *mask = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			typid = PG_GETARG_OID(1);
	PrivacyLabel label;
	PrivacyLabelError error;

	if (!privacy_label_parse(psprintf("CATEGORY x MASK WITH %s", mask), false, &label, &error) ||
		label.mask_name == NULL || label.subject || label.has_retain ||
		label.anonymize != PRIVACY_ANON_NONE || label.link != PRIVACY_LINK_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid mask function name"),
				 errdetail("A mask is the name of one function, optionally qualified by its schema, as in MASK WITH of a label.")));
	lbl_check_mask(&label, typid, false);
	PG_RETURN_TEXT_P(cstring_to_text(quote_qualified_identifier(label.mask_schema ? label.mask_schema : PRIVACY_SCHEMA,
																label.mask_name)));
}

PG_FUNCTION_INFO_V1(privacy_parse_label);

/*
 * privacy.parse_label(label text, is_table boolean): decode a label into its
 * clauses, for the inventory and the jobs that act on labels.  Raises the same
 * error as SECURITY LABEL for a malformed label.
 */
Datum
privacy_parse_label(PG_FUNCTION_ARGS)
{
	char	   *source = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		is_table = PG_GETARG_BOOL(1);
	PrivacyLabel label;
	PrivacyLabelError error;
	TupleDesc	tupdesc;
	Datum		values[10];
	bool		nulls[10];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	if (!privacy_label_parse(source, is_table, &label, &error))
		lbl_report(&error);

	memset(nulls, true, sizeof(nulls));
	values[0] = BoolGetDatum(label.subject);
	nulls[0] = false;
	if (label.category)
	{
		values[1] = CStringGetTextDatum(label.category);
		nulls[1] = false;
	}
	if (label.mask_name)
	{
		values[2] = CStringGetTextDatum(quote_qualified_identifier(label.mask_schema ? label.mask_schema : PRIVACY_SCHEMA,
																   label.mask_name));
		nulls[2] = false;
	}
	if (label.has_retain)
	{
		Interval   *iv = (Interval *) palloc(sizeof(Interval));

		iv->month = label.retain_months;
		iv->day = label.retain_days;
		iv->time = label.retain_usecs;
		values[3] = IntervalPGetDatum(iv);
		values[4] = CStringGetTextDatum(label.retain_after);
		values[5] = CStringGetTextDatum(privacy_action_name(label.retain_then));
		nulls[3] = nulls[4] = nulls[5] = false;
	}
	if (label.on_cancel != PRIVACY_ACTION_NONE)
	{
		values[6] = CStringGetTextDatum(privacy_action_name(label.on_cancel));
		nulls[6] = false;
	}
	if (label.anonymize != PRIVACY_ANON_NONE)
	{
		values[7] = CStringGetTextDatum(privacy_anonymize_text(&label));
		nulls[7] = false;
	}
	if (label.subject)
	{
		values[8] = CStringGetTextDatum(label.subject_kind ? label.subject_kind : PRIVACY_DEFAULT_KIND);
		nulls[8] = false;
	}
	if (label.link != PRIVACY_LINK_NONE)
	{
		values[9] = CStringGetTextDatum(label.link == PRIVACY_LINK_OWNER ? "owner" : "reference");
		nulls[9] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

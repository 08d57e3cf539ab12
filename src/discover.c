/*-------------------------------------------------------------------------
 * discover.c
 *	  Discovery's sampling: reads a bounded sample of a table's values as the
 *	  caller and counts, per column, how many each validator accepts.
 *
 * Values never leave this file: the functions return counts, and no message
 * quotes a value.  The sample is TABLESAMPLE SYSTEM sized from the planner's
 * estimate of the table, so it reads about the same number of pages however
 * large the table is.  Only columns of built-in types are read, and no table
 * whose row-level security policies apply to the caller, so sampling runs no
 * user-defined code (a privileged role may run privacy.check()).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "parser/parse_coerce.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "optimizer/plancat.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/timestamp.h"

#include "keys.h"
#include "privacy.h"
#include "validators.h"

/* the largest sample privacy.discover() takes per table */
#define DISCOVER_MAX_SAMPLE 100000

/* today in the session's time zone, for the date validators */
static void
disc_today(ValidatorDate *today)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;

	if (timestamp2tm(GetCurrentTransactionStartTimestamp(), &tz, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "could not convert the transaction start time");
	today->year = tm.tm_year;
	today->month = tm.tm_mon;
	today->day = tm.tm_mday;
}

/* a value without its surrounding blanks; false when nothing could match it */
static bool
disc_trim(const char **s, int *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t'))
	{
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
	return *len > 0 && *len <= VALIDATOR_MAX_LEN;
}

/*
 * privacy.validators() -> setof (name, category, supporting, strength,
 * description)
 */
PG_FUNCTION_INFO_V1(privacy_validators_list);
Datum
privacy_validators_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < privacy_validator_count; i++)
	{
		const Validator *v = &privacy_validators[i];
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = CStringGetTextDatum(v->name);
		values[1] = CStringGetTextDatum(v->category);
		values[2] = BoolGetDatum(v->supporting);
		values[3] = DirectFunctionCall3(numeric_in, CStringGetDatum(psprintf("%.2f", v->strength)),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		values[4] = CStringGetTextDatum(v->description);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* privacy.validate(validator text, value text) -> boolean */
PG_FUNCTION_INFO_V1(privacy_validate);
Datum
privacy_validate(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *value = PG_GETARG_TEXT_PP(1);
	const Validator *v = privacy_validator_find(name);
	ValidatorDate today;
	const char *s = VARDATA_ANY(value);
	int			len = VARSIZE_ANY_EXHDR(value);

	if (v == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown validator"),
				 errdetail("The name is not repeated here: a value passed in its place would be."),
				 errhint("The validators are listed by privacy.validators(); the validator comes first, the value second.")));
	disc_today(&today);
	PG_RETURN_BOOL(disc_trim(&s, &len) && v->fn(s, len, &today));
}

/* ------------------------------------------------------------------------
 * Sampling
 * ------------------------------------------------------------------------
 */

/* the SQL expression that renders a column for the validators, or NULL */
static char *
disc_column_expr(Form_pg_attribute att)
{
	Oid			type = getBaseType(att->atttypid);
	const char *col = quote_identifier(NameStr(att->attname));
	char		category;
	bool		preferred;

	/* built-in types only: their output functions run no user code */
	if (type >= FirstNormalObjectId)
		return NULL;
	switch (type)
	{
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return psprintf("pg_catalog.to_char(%s, 'YYYY-MM-DD')", col);
		case MACADDROID:
		case MACADDR8OID:
		case POINTOID:
			return psprintf("CAST(%s AS pg_catalog.text)", col);
		default:
			break;
	}
	get_type_category_preferred(type, &category, &preferred);
	if (category == TYPCATEGORY_STRING || category == TYPCATEGORY_NUMERIC ||
		category == TYPCATEGORY_NETWORK)
		return psprintf("CAST(%s AS pg_catalog.text)", col);
	return NULL;
}

/*
 * How many rows the table holds, by the planner's estimate (partitions and
 * children included); false when some part of it cannot be sampled.
 */
static bool
disc_estimate(Oid relid, double *rows)
{
	List	   *rels = find_all_inheritors(relid, AccessShareLock, NULL);
	ListCell   *lc;

	*rows = 0;
	foreach(lc, rels)
	{
		Relation	r = table_open(lfirst_oid(lc), AccessShareLock);
		BlockNumber pages;
		double		tuples;
		double		allvisfrac;

		if (r->rd_rel->relkind == RELKIND_FOREIGN_TABLE)
		{
			table_close(r, AccessShareLock);
			return false;
		}
		if (RELKIND_HAS_STORAGE(r->rd_rel->relkind))
		{
			estimate_rel_size(r, NULL, &pages, &tuples, &allvisfrac);
			*rows += tuples;
		}
		table_close(r, AccessShareLock);
	}
	return true;
}

/*
 * privacy.sample_matches(rel regclass, sample_rows integer)
 *	 -> setof (column_name name, sampled integer, validator text, matched integer)
 *
 * One row per column and validator that accepted at least one value, and one
 * row with validator NULL for a sampled column nothing accepted.  A column
 * that was not read (a type not sampled, no SELECT privilege) gives one row
 * with sampled NULL.  sampled counts the non-null values read.
 */
PG_FUNCTION_INFO_V1(privacy_sample_matches);
Datum
privacy_sample_matches(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	int32		sample_rows = PG_GETARG_INT32(1);
	Relation	rel;
	TupleDesc	desc;
	int			natts;
	int		   *attnos;			/* sampled column i is attribute attnos[i] */
	char	  **names;
	int			nsampled = 0;
	int		   *sampled;
	int		   *matched;		/* [column * validators + validator] */
	bool	   *is_text;		/* sampled column i is of a string type */
	int		   *in_text;		/* [column * (TEXT_KINDS + 1) + kind]: values holding one */
	bool		readable;
	bool		can_sample;
	bool		table_select;
	double		rows = 0;
	StringInfoData sql;
	ValidatorDate today;
	int			i;
	int			a;

	if (sample_rows < 1 || sample_rows > DISCOVER_MAX_SAMPLE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample_rows must be between 1 and %d", DISCOVER_MAX_SAMPLE)));
	InitMaterializedSRF(fcinfo, 0);

	rel = table_open(relid, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel))));
	desc = RelationGetDescr(rel);
	natts = desc->natts;
	attnos = palloc(sizeof(int) * natts);
	names = palloc(sizeof(char *) * natts);
	is_text = palloc0(sizeof(bool) * natts);

	readable = pg_namespace_aclcheck(RelationGetNamespace(rel), GetUserId(), ACL_USAGE) == ACLCHECK_OK;

	/*
	 * Row-level security policies are the table owner's code, and they run
	 * as the reader: a table whose policies apply to the caller is judged by
	 * its column names only.  (Superusers and the owner are not subject to
	 * them, unless the owner forced them on itself.)
	 */
	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		readable = false;
	can_sample = readable && disc_estimate(relid, &rows);
	table_select = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (a = 0; a < natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		char	   *expr;

		if (att->attisdropped)
			continue;
		expr = NULL;
		/* the table's SELECT privilege, or the column's */
		if (can_sample &&
			(table_select ||
			 pg_attribute_aclcheck(relid, att->attnum, GetUserId(), ACL_SELECT) == ACLCHECK_OK))
			expr = disc_column_expr(att);
		if (expr == NULL)
		{
			/* not read: say so */
			Datum		values[4];
			bool		nulls[4] = {false, true, true, true};

			values[0] = NameGetDatum(&att->attname);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			continue;
		}
		if (nsampled > 0)
			appendStringInfoString(&sql, ", ");
		appendStringInfoString(&sql, expr);
		attnos[nsampled] = a;
		names[nsampled] = pstrdup(NameStr(att->attname));
		is_text[nsampled] = TypeCategory(getBaseType(att->atttypid)) == TYPCATEGORY_STRING;
		nsampled++;
	}
	if (nsampled == 0)
	{
		table_close(rel, AccessShareLock);
		return (Datum) 0;
	}
	appendStringInfo(&sql, " FROM %s",
					 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												RelationGetRelationName(rel)));
	table_close(rel, AccessShareLock);

	sampled = palloc0(sizeof(int) * nsampled);
	matched = palloc0(sizeof(int) * nsampled * privacy_validator_count);
	in_text = palloc0(sizeof(int) * nsampled * (TEXT_KINDS + 1));
	disc_today(&today);

	SPI_connect();
	{
		/*
		 * Pages are picked at random with a probability sized to give twice the
		 * rows wanted; a thin draw (a small table's few pages) is drawn again
		 * with a larger probability.  Past half the table, read it all.
		 */
		double		percent = rows > 0 ? 100.0 * 2.0 * sample_rows / rows : 100.0;
		int			attempt;
		uint64		got = 0;

		for (attempt = 0; attempt < 3; attempt++)
		{
			char	   *query;
			int			rc;

			if (percent >= 50.0)
				query = psprintf("%s LIMIT %d", sql.data, sample_rows);
			else
				query = psprintf("%s TABLESAMPLE SYSTEM (%.6f) LIMIT %d", sql.data,
								 Max(percent, 0.000001), sample_rows);
			rc = SPI_execute(query, true, sample_rows);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "sampling failed: %s", SPI_result_code_string(rc));
			got = SPI_processed;
			if (percent >= 50.0 || got * 4 >= (uint64) sample_rows)
				break;
			percent *= 8.0;
		}

		for (i = 0; i < (int) got; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			int			c;

			CHECK_FOR_INTERRUPTS();
			for (c = 0; c < nsampled; c++)
			{
				bool		isnull;
				Datum		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, c + 1, &isnull);
				text	   *t;
				const char *s;
				int			len;
				int			v;

				if (isnull)
					continue;
				t = DatumGetTextPP(d);
				s = VARDATA_ANY(t);
				len = VARSIZE_ANY_EXHDR(t);
				sampled[c]++;
				if (is_text[c])
				{
					/* personal data inside the text, of each kind and of any */
					int			found = privacy_text_scan(s, len, &today, NULL, NULL);
					int			k;

					for (k = 0; k < TEXT_KINDS; k++)
						if (found & (1 << k))
							in_text[c * (TEXT_KINDS + 1) + k]++;
					if (found)
						in_text[c * (TEXT_KINDS + 1) + TEXT_KINDS]++;
				}
				if (disc_trim(&s, &len))
					for (v = 0; v < privacy_validator_count; v++)
						if (privacy_validators[v].fn(s, len, &today))
							matched[c * privacy_validator_count + v]++;
				if ((Pointer) t != DatumGetPointer(d))
					pfree(t);
			}
		}
	}
	SPI_finish();

	for (i = 0; i < nsampled; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		NameData	name;
		bool		any = false;
		int			v;

		namestrcpy(&name, names[i]);
		values[0] = NameGetDatum(&name);
		values[1] = Int32GetDatum(sampled[i]);
		for (v = 0; v < privacy_validator_count; v++)
		{
			int			m = matched[i * privacy_validator_count + v];

			if (m == 0)
				continue;
			values[2] = CStringGetTextDatum(privacy_validators[v].name);
			values[3] = Int32GetDatum(m);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			any = true;
		}
		for (v = 0; v <= TEXT_KINDS; v++)
		{
			static const char *const text_kinds[TEXT_KINDS + 1] = {
				"text:mobile", "text:id_number", "text:email", "text:bank_card", "text:any"
			};
			int			m = in_text[i * (TEXT_KINDS + 1) + v];

			if (m == 0)
				continue;
			values[2] = CStringGetTextDatum(text_kinds[v]);
			values[3] = Int32GetDatum(m);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			any = true;
		}
		if (!any)
		{
			nulls[2] = true;
			values[3] = Int32GetDatum(0);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

/*
 * privacy.key_storage_problems() -> setof (setting, problem, hint): what is
 * wrong with the master key file and the subject key directory.  Metadata
 * only; no path and nothing of a key in the result.
 */
PG_FUNCTION_INFO_V1(privacy_key_storage_problems);
Datum
privacy_key_storage_problems(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *hint;
	const char *detail;
	const char *problem;

	InitMaterializedSRF(fcinfo, 0);
	problem = privacy_master_key_problem(&hint);
	if (problem != NULL)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, hint == NULL};

		values[0] = CStringGetTextDatum("privacy.master_key_file");
		values[1] = CStringGetTextDatum(problem);
		values[2] = hint ? CStringGetTextDatum(hint) : (Datum) 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	problem = privacy_subject_key_dir_problem(&hint, &detail);
	if (problem != NULL)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, hint == NULL && detail == NULL};

		values[0] = CStringGetTextDatum("privacy.subject_key_dir");
		values[1] = CStringGetTextDatum(problem);
		values[2] = hint ? CStringGetTextDatum(hint) :
			detail ? CStringGetTextDatum(detail) : (Datum) 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

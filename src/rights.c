/*-------------------------------------------------------------------------
 * rights.c
 *	  Subject rights: changing a user table as that table's owner.
 *
 * Cancellation deletes and anonymizes rows of tables that belong to other
 * roles.  Their triggers, defaults, domain checks and index expressions are
 * the table owner's code: running them with the rights of the extension's
 * owner (usually a superuser) would hand that code those rights.  So the
 * statement that changes a table runs here as the table's owner, in a
 * restricted security context (no SET ROLE, no SET SESSION AUTHORIZATION),
 * the way VACUUM and REFRESH MATERIALIZED VIEW run index expressions.  The
 * rows to change were chosen and locked beforehand, by the extension, and are
 * passed as ctids, so the owner needs no privilege on any other table.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "privacy.h"

/*
 * Plans of the statements cancellation runs, prepared once per backend and
 * kept by their text (the plan cache revalidates them after DDL).  The
 * statements are generated from the catalogs and carry no data, so their
 * number is bounded by the schema; the cache is emptied if it ever grows
 * past RIGHTS_MAX_PLANS.
 */
#define RIGHTS_MAX_PLANS 1000

typedef struct RightsPlan
{
	uint64		hash;			/* key: hash of the statement text */
	char	   *sql;			/* the text, to tell collisions apart */
	SPIPlanPtr	plan;
} RightsPlan;

static HTAB *rights_plans = NULL;

/* the kept plan of a statement (inside an SPI connection) */
static SPIPlanPtr
rights_plan(const char *sql, int nargs, Oid *types)
{
	uint64		hash = hash_bytes_extended((const unsigned char *) sql, strlen(sql), 0);
	RightsPlan *entry;
	bool		found;
	SPIPlanPtr	plan;

	if (rights_plans == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(RightsPlan);
		rights_plans = hash_create("privacy cancellation plans", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(rights_plans, &hash, HASH_FIND, NULL);
	if (entry != NULL && strcmp(entry->sql, sql) == 0)
		return entry->plan;

	plan = SPI_prepare(sql, nargs, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare a statement of the privacy extension: %s",
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);

	if (entry == NULL && hash_get_num_entries(rights_plans) >= RIGHTS_MAX_PLANS)
	{
		HASH_SEQ_STATUS st;
		RightsPlan *e;

		hash_seq_init(&st, rights_plans);
		while ((e = hash_seq_search(&st)) != NULL)
		{
			SPI_freeplan(e->plan);
			pfree(e->sql);
			hash_search(rights_plans, &e->hash, HASH_REMOVE, NULL);
		}
	}
	entry = hash_search(rights_plans, &hash, HASH_ENTER, &found);
	if (found)
	{
		/* a collision: the newer statement takes the slot */
		SPI_freeplan(entry->plan);
		pfree(entry->sql);
	}
	entry->sql = MemoryContextStrdup(TopMemoryContext, sql);
	entry->plan = plan;
	return plan;
}

/* only the extension's own functions, running as its owner, may call these */
static void
rights_check_caller(const char *fn)
{
	if (GetUserId() != privacy_extension_owner())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", fn),
				 errdetail("Only the functions of extension \"privacy\" run these statements.")));
}

/* the owner of a relation */
static Oid
rights_rel_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

Oid			privacy_erasing_relid = InvalidOid;

/*
 * The one place through which every statement on a user's table goes: the
 * statement runs as the table's owner, in a restricted security context (no
 * SET ROLE, no SET SESSION AUTHORIZATION), with row_security off, and only
 * on a table (a labelled table turned into a view is refused before it is
 * read: its rule is its owner's code).  Triggers, defaults, domain checks,
 * casts, operators, index expressions and generated columns in it then run
 * with the owner's rights, never with the extension owner's.  A table that
 * forces row-level security on its owner is refused by name: the statement
 * would not see every row, and nothing may report done while rows remain.
 */
typedef struct OwnerRun
{
	Oid			relid;
	const char *sql;
	int			nargs;
	Oid		   *types;
	Datum	   *values;
	char	   *nulls;
	bool		want_value;		/* the first column of the first row */
	bool		want_rows;		/* every row: (oid, tid, text...) */
	MemoryContext caller;
	/* out */
	uint64		processed;
	char	   *value;
	int			nrows;
	Datum	   *parts;
	Datum	   *tids;
	Datum	   *vals;
	bool	   *valnulls;
} OwnerRun;

static void
rights_check_table(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class cls;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	cls = (Form_pg_class) GETSTRUCT(tup);
	if (cls->relkind != RELKIND_RELATION && cls->relkind != RELKIND_PARTITIONED_TABLE)
	{
		char		relkind = cls->relkind;
		char	   *name = pstrdup(NameStr(cls->relname));

		ReleaseSysCache(tup);
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("relation \"%s\" is not a table", name),
				 errdetail_relkind_not_supported(relkind),
				 errhint("Its privacy labels are ignored; privacy.check() names it.")));
	}
	if (cls->relrowsecurity && cls->relforcerowsecurity && !has_bypassrls_privilege(cls->relowner))
	{
		char	   *name = pstrdup(NameStr(cls->relname));

		ReleaseSysCache(tup);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("table \"%s\" forces row-level security on its owner", name),
				 errdetail("Its policies would hide rows from the statements the extension runs as the owner, and rows would remain unseen."),
				 errhint("ALTER TABLE ... NO FORCE ROW LEVEL SECURITY, or give the table's owner BYPASSRLS.")));
	}
	ReleaseSysCache(tup);
}

static void
rights_run(OwnerRun *r)
{
	Oid			owner = rights_rel_owner(r->relid);
	Oid			save_userid;
	int			save_sec;
	Oid			save_erasing = privacy_erasing_relid;
	int			save_nestlevel;

	rights_check_table(r->relid);
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	PG_TRY();
	{
		int			rc;

		(void) set_config_option("row_security", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		privacy_erasing_relid = r->relid;
		rc = SPI_execute_plan(rights_plan(r->sql, r->nargs, r->types), r->values, r->nulls, false, 0);
		privacy_erasing_relid = save_erasing;
		if (rc < 0)
			elog(ERROR, "could not run a statement as the table's owner: %s",
				 SPI_result_code_string(rc));
		r->processed = SPI_processed;
		if (r->want_value && SPI_tuptable != NULL && SPI_processed > 0)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			if (v != NULL)
				r->value = MemoryContextStrdup(r->caller, v);
		}
		if (r->want_rows && SPI_tuptable != NULL && SPI_processed > 0)
		{
			TupleDesc	desc = SPI_tuptable->tupdesc;
			int			nv = desc->natts - 2;
			int			n = (int) SPI_processed;
			int			i;
			int			j;
			MemoryContext spi = MemoryContextSwitchTo(r->caller);

			if (nv < 0)
				elog(ERROR, "a statement for owner_rows returns (oid, tid, text...)");
			r->nrows = n;
			r->parts = palloc(sizeof(Datum) * n);
			r->tids = palloc(sizeof(Datum) * n);
			r->vals = palloc(sizeof(Datum) * n);
			for (i = 0; i < n; i++)
			{
				HeapTuple	t = SPI_tuptable->vals[i];
				bool		isnull;
				ItemPointer tid = palloc(sizeof(ItemPointerData));
				Datum	   *v = palloc(sizeof(Datum) * Max(nv, 1));
				bool	   *vn = palloc(sizeof(bool) * Max(nv, 1));
				int			dims[1];
				int			lbs[1] = {1};

				r->parts[i] = SPI_getbinval(t, desc, 1, &isnull);
				ItemPointerCopy((ItemPointer) DatumGetPointer(SPI_getbinval(t, desc, 2, &isnull)), tid);
				r->tids[i] = PointerGetDatum(tid);
				for (j = 0; j < nv; j++)
				{
					char	   *txt = SPI_getvalue(t, desc, j + 3);

					vn[j] = (txt == NULL);
					v[j] = txt ? CStringGetTextDatum(txt) : (Datum) 0;
				}
				dims[0] = nv;
				r->vals[i] = PointerGetDatum(construct_md_array(v, vn, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
			}
			MemoryContextSwitchTo(spi);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		privacy_erasing_relid = save_erasing;
		/*
		 * Every setting the owner's code changed goes back, a plain SET
		 * too: kept (isCommit true), a search_path set by the owner's trigger
		 * would outlive the statement and override the SET clause of the
		 * extension's function that called it (test/review 02).
		 */
		AtEOXact_GUC(false, save_nestlevel);
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
}

PG_FUNCTION_INFO_V1(privacy_owner_exec);

/*
 * privacy.owner_exec(rel regclass, statement text, tids tid[], subject text)
 * -> bigint: run one statement, whose $1 is tids and $2 the subject, as the
 * owner of rel (rights_run); returns how many rows it processed.
 * privacy.owner_exec_value(...) -> text: the first column of its first row.
 * privacy.owner_exec_args(rel regclass, statement text, args text[]) ->
 * bigint: the same, with $1 the array args.
 *
 * Only the extension's own functions may call them: they run arbitrary SQL
 * as another role, so the caller must already be the extension's owner
 * (inside one of its SECURITY DEFINER functions).
 */
Datum
privacy_owner_exec(PG_FUNCTION_ARGS)
{
	OwnerRun	r;
	Oid			types[2] = {TIDARRAYOID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	bool		args = PG_NARGS() == 3;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation and statement must not be NULL")));
	rights_check_caller("owner_exec");
	memset(&r, 0, sizeof(r));
	r.relid = PG_GETARG_OID(0);
	r.sql = text_to_cstring(PG_GETARG_TEXT_PP(1));
	r.caller = CurrentMemoryContext;
	r.want_value = get_fn_expr_rettype(fcinfo->flinfo) == TEXTOID;
	if (args)
	{
		types[0] = TEXTARRAYOID;
		values[0] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
		nulls[0] = PG_ARGISNULL(2) ? 'n' : ' ';
		r.nargs = 1;
	}
	else
	{
		values[0] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
		nulls[0] = PG_ARGISNULL(2) ? 'n' : ' ';
		values[1] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
		nulls[1] = PG_ARGISNULL(3) ? 'n' : ' ';
		r.nargs = 2;
	}
	r.types = types;
	r.values = values;
	r.nulls = nulls;
	rights_run(&r);
	if (r.want_value)
	{
		if (r.value == NULL)
			PG_RETURN_NULL();
		PG_RETURN_TEXT_P(cstring_to_text(r.value));
	}
	PG_RETURN_INT64((int64) r.processed);
}

PG_FUNCTION_INFO_V1(privacy_owner_rows);

/*
 * privacy.owner_rows(rel regclass, statement text, args text[]) -> TABLE
 * (part oid, tid tid, vals text[]): run a statement whose $1 is args and
 * that returns (tableoid, ctid, text...) rows as the owner of rel
 * (rights_run); its rows, the text columns as one array.  Values cross from
 * the owner's statement to the extension as text made by the types' output
 * functions, and go back to another owner's statement as text that owner's
 * statement converts.
 */
Datum
privacy_owner_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OwnerRun	r;
	Oid			type = TEXTARRAYOID;
	Datum		value;
	char		null;
	int			i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation and statement must not be NULL")));
	rights_check_caller("owner_rows");
	InitMaterializedSRF(fcinfo, 0);
	memset(&r, 0, sizeof(r));
	r.relid = PG_GETARG_OID(0);
	r.sql = text_to_cstring(PG_GETARG_TEXT_PP(1));
	r.caller = CurrentMemoryContext;
	r.want_rows = true;
	value = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	null = PG_ARGISNULL(2) ? 'n' : ' ';
	r.nargs = 1;
	r.types = &type;
	r.values = &value;
	r.nulls = &null;
	rights_run(&r);
	for (i = 0; i < r.nrows; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = r.parts[i];
		values[1] = r.tids[i];
		values[2] = r.vals[i];
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * The cancellation plan, compiled by privacy.compile_cancel_plan() from the
 * labels and the catalogs, kept until any relation's cache entry is
 * invalidated: DDL on a table, an index, a trigger, a foreign key, a label
 * (the label provider invalidates the labelled relation) or a category (its
 * trigger invalidates privacy.category) all do that, in every backend.
 */
static Jsonb *rights_cancel_plan = NULL;
static uint64 rights_invalidations = 0;
static uint64 rights_plan_generation = 0;

/* privacy.cancelled_subject: its invalidations (the tombstone set) leave the plan alone */
static Oid	rights_tombstone_relid = InvalidOid;

void
privacy_rights_relcache(Datum arg, Oid relid)
{
	if (OidIsValid(relid) && relid == rights_tombstone_relid)
		return;
	if (!OidIsValid(relid))
		rights_tombstone_relid = InvalidOid;	/* learned again */
	rights_invalidations++;
}

PG_FUNCTION_INFO_V1(privacy_cancel_plan);

/* privacy.cancel_plan() -> jsonb: the kept plan, compiled again when stale */
Datum
privacy_cancel_plan(PG_FUNCTION_ARGS)
{
	rights_check_caller("cancel_plan");
	if (!OidIsValid(rights_tombstone_relid))
		rights_tombstone_relid = get_relname_relid("cancelled_subject", get_namespace_oid("privacy", true));
	AcceptInvalidationMessages();
	if (rights_cancel_plan == NULL || rights_plan_generation != rights_invalidations)
	{
		uint64		before = rights_invalidations;
		bool		isnull;
		Datum		d;
		Jsonb	   *plan;
		Jsonb	   *copy;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute("SELECT privacy.compile_cancel_plan()", true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not compile the cancellation plan");
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			elog(ERROR, "could not compile the cancellation plan");
		/* the detoasted value's own size: a compressed datum's is smaller */
		plan = DatumGetJsonbP(d);
		if (rights_cancel_plan != NULL)
			pfree(rights_cancel_plan);
		rights_cancel_plan = NULL;
		copy = (Jsonb *) MemoryContextAlloc(TopMemoryContext, VARSIZE(plan));
		memcpy(copy, plan, VARSIZE(plan));
		rights_cancel_plan = copy;
		SPI_finish();
		/* an invalidation that came in while compiling leaves it stale */
		rights_plan_generation = before;
	}
	PG_RETURN_JSONB_P(DatumGetJsonbPCopy(JsonbPGetDatum(rights_cancel_plan)));
}

PG_FUNCTION_INFO_V1(privacy_invalidate_cancel_plans);

/* privacy.invalidate_cancel_plans(rel regclass): make every backend compile its plan again */
Datum
privacy_invalidate_cancel_plans(PG_FUNCTION_ARGS)
{
	CacheInvalidateRelcacheByRelid(PG_GETARG_OID(0));
	PG_RETURN_VOID();
}

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

PG_FUNCTION_INFO_V1(privacy_owner_exec);

/*
 * privacy.owner_exec(rel regclass, statement text, tids tid[], subject text)
 * -> bigint: run one statement, whose $1 is tids and $2 the subject, as the
 * owner of rel; returns how many rows it processed.
 *
 * Only the extension's own functions may call it: it runs arbitrary SQL as
 * another role, so the caller must already be the extension's owner (inside
 * one of its SECURITY DEFINER functions).
 */
Datum
privacy_owner_exec(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *sql;
	Oid			types[2] = {TIDARRAYOID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	Oid			save_erasing = privacy_erasing_relid;
	volatile uint64 processed = 0;
	/* privacy.owner_exec_value: the first column of the first row, as text */
	bool		want_value = get_fn_expr_rettype(fcinfo->flinfo) == TEXTOID;
	char	   *volatile value = NULL;
	MemoryContext caller = CurrentMemoryContext;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation and statement must not be NULL")));
	rights_check_caller("owner_exec");

	relid = PG_GETARG_OID(0);
	sql = text_to_cstring(PG_GETARG_TEXT_PP(1));
	values[0] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[0] = PG_ARGISNULL(2) ? 'n' : ' ';
	values[1] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[1] = PG_ARGISNULL(3) ? 'n' : ' ';
	owner = rights_rel_owner(relid);

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		privacy_erasing_relid = relid;
		rc = SPI_execute_plan(rights_plan(sql, 2, types), values, nulls, false, 0);
		privacy_erasing_relid = save_erasing;
		if (rc < 0)
			elog(ERROR, "could not run a statement as the table's owner: %s",
				 SPI_result_code_string(rc));
		processed = SPI_processed;
		if (want_value && SPI_tuptable != NULL && SPI_processed > 0)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			if (v != NULL)
				value = MemoryContextStrdup(caller, v);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		privacy_erasing_relid = save_erasing;
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	if (want_value)
	{
		if (value == NULL)
			PG_RETURN_NULL();
		PG_RETURN_TEXT_P(cstring_to_text(value));
	}
	PG_RETURN_INT64((int64) processed);
}

PG_FUNCTION_INFO_V1(privacy_locate_rows);

/*
 * privacy.locate_rows(statement text, subject text, OUT parts oid[], OUT tids
 * tid[]): run a statement whose $1 is the subject and that returns
 * (tableoid, ctid) rows; returns them as two arrays, NULLs when none.  The
 * statement runs as the caller (the extension's owner), with a kept plan.
 */
Datum
privacy_locate_rows(PG_FUNCTION_ARGS)
{
	char	   *sql;
	Oid			type = TEXTOID;
	Datum		subject;
	TupleDesc	tupdesc;
	Datum		result[2] = {0, 0};
	bool		isnull[2] = {true, true};
	MemoryContext caller = CurrentMemoryContext;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("statement and subject must not be NULL")));
	rights_check_caller("locate_rows");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "locate_rows must return a record");
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	subject = PG_GETARG_DATUM(1);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_plan(rights_plan(sql, 1, &type), &subject, NULL, false, 0) < 0)
		elog(ERROR, "could not locate a subject's rows");
	if (SPI_processed > 0)
	{
		int			n = (int) SPI_processed;
		Datum	   *oids;
		Datum	   *tids;
		int			i;
		MemoryContext spi = MemoryContextSwitchTo(caller);

		oids = palloc(sizeof(Datum) * n);
		tids = palloc(sizeof(Datum) * n);
		for (i = 0; i < n; i++)
		{
			bool		nul;
			ItemPointer tid;

			oids[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &nul);
			tid = (ItemPointer) palloc(sizeof(ItemPointerData));
			ItemPointerCopy((ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[i],
															  SPI_tuptable->tupdesc, 2, &nul)), tid);
			tids[i] = PointerGetDatum(tid);
		}
		result[0] = PointerGetDatum(construct_array(oids, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
		result[1] = PointerGetDatum(construct_array(tids, n, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT));
		isnull[0] = isnull[1] = false;
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), result, isnull)));
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

static void
rights_relcache_callback(Datum arg, Oid relid)
{
	if (OidIsValid(relid) && relid == rights_tombstone_relid)
		return;
	if (!OidIsValid(relid))
		rights_tombstone_relid = InvalidOid;	/* learned again */
	rights_invalidations++;
}

void
privacy_rights_init(void)
{
	CacheRegisterRelcacheCallback(rights_relcache_callback, (Datum) 0);
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

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute("SELECT privacy.compile_cancel_plan()", true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not compile the cancellation plan");
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (rights_cancel_plan != NULL)
			pfree(rights_cancel_plan);
		rights_cancel_plan = (Jsonb *) MemoryContextAlloc(TopMemoryContext, VARSIZE(DatumGetPointer(d)));
		memcpy(rights_cancel_plan, DatumGetJsonbP(d), VARSIZE(DatumGetPointer(d)));
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

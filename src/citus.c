/*-------------------------------------------------------------------------
 * citus.c
 *	  Where this backend stands in a Citus cluster, and the guard of what only
 *	  the coordinator may do.
 *
 * The coordinator holds the truth: keys, subject keys, the consent ledger,
 * tombstones and the audit log.  A Citus worker node holds shards and empty
 * copies of the extension's tables, so a keyed or consent-reading function
 * that Citus pushes down to a worker would answer from nothing: a pseudonym
 * under another node's key, false for a consented subject, a subject key that
 * a shred on the coordinator did not reach.  Such functions refuse to run
 * anywhere but on the coordinator.  Nothing here links against Citus: it
 * reads Citus's catalog pg_dist_local_group when it exists.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "citus.h"
#include "privacy.h"

/* what Citus names the connections it opens to run its tasks */
#define CITUS_INTERNAL_PREFIX "citus_internal gpid="

static bool citus_known = false;	/* citus_worker is up to date */
static bool citus_worker = false;
static Oid	citus_local_group_relid = InvalidOid;

/*
 * Citus invalidates pg_dist_local_group's relcache entry whenever it changes
 * the node's group (citus_add_node on the coordinator does so on the worker).
 */
void
privacy_citus_relcache(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == citus_local_group_relid)
		citus_known = false;
}

/* true when this node is a Citus worker: its group (pg_dist_local_group) is not 0 */
bool
privacy_citus_worker(void)
{
	Oid			relid;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	if (citus_known && OidIsValid(citus_local_group_relid))
		return citus_worker;
	relid = get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE);
	citus_local_group_relid = relid;
	citus_worker = false;
	if (OidIsValid(relid))
	{
		rel = table_open(relid, AccessShareLock);
		scan = table_beginscan_catalog(rel, 0, NULL);
		tup = heap_getnext(scan, ForwardScanDirection);
		if (HeapTupleIsValid(tup))
		{
			bool		isnull;
			Datum		group = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);

			citus_worker = !isnull && DatumGetInt32(group) != 0;
		}
		table_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	/* without Citus there is nothing to watch: look again next time */
	citus_known = OidIsValid(relid);
	return citus_worker;
}

/* true when Citus opened this backend to run a task or a command of a distributed query */
bool
privacy_citus_task(void)
{
	const char *name = GetConfigOption("application_name", true, false);

	return name != NULL &&
		strncmp(name, CITUS_INTERNAL_PREFIX, strlen(CITUS_INTERNAL_PREFIX)) == 0;
}

/*
 * privacy_require_coordinator: refuse what needs the coordinator's keys,
 * ledger or tombstones when this backend is not the coordinator's own: on a
 * worker node, or in a task Citus pushed down.  what names the function.
 */
void
privacy_require_coordinator(const char *what)
{
	if (privacy_citus_task() || privacy_citus_worker())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s runs on the Citus coordinator only", what),
				 errdetail("Keys, subject keys, the consent ledger and tombstones are the coordinator's; a worker node holds none of them."),
				 errhint("Call it in a query the coordinator evaluates: select the distributed rows in a MATERIALIZED CTE and call it in the outer query (doc/citus.md).")));
}

/* the same, naming the SQL function being called */
void
privacy_require_coordinator_fn(FunctionCallInfo fcinfo)
{
	if (privacy_citus_task() || privacy_citus_worker())
	{
		char	   *name = get_func_name(fcinfo->flinfo->fn_oid);

		privacy_require_coordinator(psprintf("privacy.%s", name ? name : "?"));
	}
}

PG_FUNCTION_INFO_V1(privacy_require_coordinator_sql);

/* privacy.require_coordinator(what text) -> void: the guard, for PL/pgSQL */
Datum
privacy_require_coordinator_sql(PG_FUNCTION_ARGS)
{
	privacy_require_coordinator(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(privacy_citus_worker_sql);

/* privacy.citus_worker() -> boolean: this node is a Citus worker */
Datum
privacy_citus_worker_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(privacy_citus_worker() || privacy_citus_task());
}

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
 * a shred on the coordinator did not reach.  privacy.citus_setup() mirrors
 * the keys, the consent ledger and the tombstones to every worker, in the
 * coordinator's transactions (a reference table, privacy.citus_mirror): on a
 * mirrored node the functions that only read them run everywhere; the others
 * (writes, subject keys, which are files of the coordinator) refuse to run
 * anywhere but on the coordinator.  Nothing here links against Citus: it
 * reads Citus's catalogs pg_dist_local_group and pg_dist_partition when they
 * exist.
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
static bool mirror_known = false;	/* mirror_on is up to date */
static bool mirror_on = false;
static Oid	mirror_relid = InvalidOid;

/*
 * Citus invalidates pg_dist_local_group's relcache entry whenever it changes
 * the node's group (citus_add_node on the coordinator does so on the worker).
 */
void
privacy_citus_relcache(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == citus_local_group_relid)
		citus_known = false;
	/* Citus invalidates a table's entry when its pg_dist_partition row changes */
	if (relid == InvalidOid || relid == mirror_relid)
		mirror_known = false;
}

/*
 * true when privacy.citus_mirror is a Citus table on this node
 * (privacy.citus_setup() made it a reference table): the coordinator's keys,
 * consents and tombstones are mirrored here
 */
bool
privacy_citus_mirrored(void)
{
	Oid			nsp;
	Oid			dist;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	if (mirror_known)
		return mirror_on;
	mirror_on = false;
	nsp = get_namespace_oid(PRIVACY_SCHEMA, true);
	mirror_relid = OidIsValid(nsp) ? get_relname_relid("citus_mirror", nsp) : InvalidOid;
	dist = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	if (OidIsValid(mirror_relid) && OidIsValid(dist))
	{
		/* a few rows: one per Citus table */
		rel = table_open(dist, AccessShareLock);
		scan = table_beginscan_catalog(rel, 0, NULL);
		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			bool		isnull;
			Datum		logical = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);

			if (!isnull && DatumGetObjectId(logical) == mirror_relid)
			{
				mirror_on = true;
				break;
			}
		}
		table_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	/* without Citus or the extension's table there is nothing to watch */
	mirror_known = OidIsValid(mirror_relid) && OidIsValid(dist);
	return mirror_on;
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

/*
 * privacy_require_mirror: refuse what reads the coordinator's keys, ledger
 * or tombstones on a worker node, or in a task Citus pushed down, unless
 * they are mirrored there (privacy.citus_setup()).
 */
void
privacy_require_mirror(const char *what)
{
	if ((privacy_citus_task() || privacy_citus_worker()) && !privacy_citus_mirrored())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s runs on the Citus coordinator only until privacy.citus_setup() has run", what),
				 errdetail("Keys, the consent ledger and tombstones are the coordinator's; this worker node holds no mirror of them."),
				 errhint("Run SELECT privacy.citus_setup() on the coordinator (doc/citus.md).")));
}

/* the same, naming the SQL function being called */
void
privacy_require_mirror_fn(FunctionCallInfo fcinfo)
{
	if ((privacy_citus_task() || privacy_citus_worker()) && !privacy_citus_mirrored())
	{
		char	   *name = get_func_name(fcinfo->flinfo->fn_oid);

		privacy_require_mirror(psprintf("privacy.%s", name ? name : "?"));
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

PG_FUNCTION_INFO_V1(privacy_require_mirror_sql);

/* privacy.require_mirror(what text) -> void: the mirror's guard, for PL/pgSQL */
Datum
privacy_require_mirror_sql(PG_FUNCTION_ARGS)
{
	privacy_require_mirror(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(privacy_citus_mirrored_sql);

/* privacy.citus_mirrored() -> boolean: privacy.citus_mirror is a Citus table here */
Datum
privacy_citus_mirrored_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(privacy_citus_mirrored());
}

PG_FUNCTION_INFO_V1(privacy_citus_worker_sql);

/*
 * privacy.citus_worker() -> boolean: this node is a Citus worker.  The node,
 * not the backend: what decides whether the coordinator's changes are sent to
 * the workers (citus_mirror_out) or a worker's copy is written
 * (citus_mirror_in) must not follow application_name, which any session sets
 * (a coordinator session calling itself "citus_internal gpid=..." kept its
 * consent changes from the workers).
 */
Datum
privacy_citus_worker_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(privacy_citus_worker());
}

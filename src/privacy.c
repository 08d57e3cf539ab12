/*-------------------------------------------------------------------------
 * privacy.c
 *	  Entry point of the privacy extension: _PG_init and the set-up guards.
 *
 * The library must be loaded through shared_preload_libraries: the security
 * label provider has to be registered in every backend, including the ones
 * that pg_restore and autovacuum-triggered code run in.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "storage/proc.h"
#include "utils/rel.h"

#include "citus.h"
#include "compat.h"
#include "privacy.h"
#include "wal.h"

PG_MODULE_MAGIC;

bool		privacy_preloaded = false;
int			privacy_minor_age = 14;
int			privacy_response_days = 15;
int			privacy_guardian_consent = PRIVACY_GUARDIAN_CONTRACT;

/* privacy.guardian_consent: the purposes a minor's data needs a guardian's consent for */
static const struct config_enum_entry pv_guardian_consent_options[] = {
	{"consent", PRIVACY_GUARDIAN_CONSENT, false},
	{"contract", PRIVACY_GUARDIAN_CONTRACT, false},
	{"all", PRIVACY_GUARDIAN_ALL, false},
	{NULL, 0, false}
};

void		_PG_init(void);

/* the one relcache callback of the extension: each module's handler in turn */
static void
pv_relcache_callback(Datum arg, Oid relid)
{
	privacy_keys_relcache(arg, relid);
	privacy_kinds_relcache(arg, relid);
	privacy_rights_relcache(arg, relid);
	privacy_subjects_relcache(arg, relid);
	privacy_citus_relcache(arg, relid);
}

void
_PG_init(void)
{
	if (process_shared_preload_libraries_in_progress)
		privacy_preloaded = true;

	DefineCustomIntVariable("privacy.minor_age",
							"Age under which a subject is a minor whose consent must come from a guardian.",
							"PIPL Art. 28 and 31: 14. Lowering it weakens protection, so it is superuser-only.",
							&privacy_minor_age,
							14, 1, 25,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("privacy.response_days",
							"Days within which a subject's request must be answered.",
							"The seeded policies promise 15. Lengthening it weakens protection, so it is superuser-only.",
							&privacy_response_days,
							15, 1, 90,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("privacy.guardian_consent",
							 "Purposes for which a minor's data needs a guardian's consent: consent, contract or all.",
							 "PIPL Art. 31. consent: purposes resting on consent; contract (the default): those and purposes resting on a contract; all: every purpose. Narrowing it weakens protection, so it is superuser-only.",
							 &privacy_guardian_consent,
							 PRIVACY_GUARDIAN_CONTRACT, pv_guardian_consent_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	privacy_labels_init();
	privacy_keys_init();
	privacy_subjects_init();
	CacheRegisterRelcacheCallback(pv_relcache_callback, (Datum) 0);
	privacy_wal_init();

	privacy_reserve_guc_prefix("privacy");
}

/*
 * privacy_require_preload: refuse to work when the library was loaded on
 * demand rather than from shared_preload_libraries.
 */
void
privacy_require_preload(void)
{
	if (!privacy_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("privacy must be loaded via shared_preload_libraries"),
				 errdetail("The security label provider \"privacy\" is registered only when the library is preloaded."),
				 errhint("Add privacy to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * privacy_require_extension: the catalog objects of the extension must exist
 * in the current database.  Returns the extension's OID.
 */
Oid
privacy_require_extension(void)
{
	Oid			extoid = get_extension_oid("privacy", true);

	if (!OidIsValid(extoid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"privacy\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION privacy in this database first.")));
	return extoid;
}

/* the role that owns extension "privacy" in this database */
static Oid
pv_extension_owner(Oid extoid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			owner;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "could not find extension with OID %u", extoid);
	owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/*
 * privacy_extension_owner: the role that owns extension "privacy" in this
 * database, looked up once per transaction.
 *
 * privacy_as_owner: run fn(arg) inside an SPI connection as the extension's
 * owner, in a restricted security context, the way pg_cron acts as its owner.
 * The caller's identity is restored on the way out, on error too.  This is how
 * C code reads and writes the extension's tables (keys, audit log) that the
 * calling role has no privilege on.
 */
Oid
privacy_extension_owner(void)
{
	/* the extension and its owner cannot change under a running transaction */
	static LocalTransactionId cached_lxid = InvalidLocalTransactionId;
	static Oid	cached_owner = InvalidOid;

	if (cached_lxid != MyProc->lxid || !OidIsValid(cached_owner))
	{
		cached_owner = pv_extension_owner(privacy_require_extension());
		cached_lxid = MyProc->lxid;
	}
	return cached_owner;
}

void
privacy_as_owner(void (*fn) (void *arg), void *arg)
{
	Oid			owner = privacy_extension_owner();
	Oid			save_userid;
	int			save_sec;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		fn(arg);
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
}

/*
 * privacy_keep_plan: the plan in *slot, prepared and kept on first use, for C
 * code that runs the same statement on every call (inside an SPI connection).
 */
SPIPlanPtr
privacy_keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

		if (plan == NULL)
			elog(ERROR, "could not prepare a statement of the privacy extension: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		*slot = plan;
	}
	return *slot;
}

PG_FUNCTION_INFO_V1(privacy_check_preload);

/*
 * privacy_check_preload: called by the install script, so that CREATE
 * EXTENSION fails early, with the fix in its hint, when the library is not
 * preloaded.
 */
Datum
privacy_check_preload(PG_FUNCTION_ARGS)
{
	privacy_require_preload();
	PG_RETURN_VOID();
}

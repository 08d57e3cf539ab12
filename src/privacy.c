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

#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "compat.h"
#include "privacy.h"

PG_MODULE_MAGIC;

bool		privacy_preloaded = false;

void		_PG_init(void);

void
_PG_init(void)
{
	if (process_shared_preload_libraries_in_progress)
		privacy_preloaded = true;

	privacy_labels_init();

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

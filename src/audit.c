/*-------------------------------------------------------------------------
 * audit.c
 *	  Appending to privacy.audit_log from C code.
 *
 * The chain itself (sequence numbers, SHA-256 links, the lock that orders
 * concurrent writers) is kept by the SQL function privacy.audit_append, so
 * that C and SQL callers share one implementation.  That function is not
 * executable by PUBLIC; C callers act as the extension's owner to call it,
 * in a restricted security context, the way pg_cron acts as its owner.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "audit.h"
#include "privacy.h"

/* the role that owns extension "privacy" in this database */
static Oid
aud_extension_owner(Oid extoid)
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

void
privacy_audit_write(const char *kind, const char *object, const char *detail_json)
{
	Oid			owner = aud_extension_owner(privacy_require_extension());
	Oid			save_userid;
	int			save_sec;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];

	values[0] = CStringGetTextDatum(kind);
	values[1] = CStringGetTextDatum(object);
	values[2] = CStringGetTextDatum(detail_json);

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args("SELECT privacy.audit_append($1, $2, $3::pg_catalog.jsonb)",
								  3, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not append to privacy.audit_log");
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
}

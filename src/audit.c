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

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "audit.h"
#include "privacy.h"

typedef struct AuditArgs
{
	Datum		values[3];
} AuditArgs;

static void
aud_append(void *arg)
{
	AuditArgs  *a = (AuditArgs *) arg;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};

	if (SPI_execute_with_args("SELECT privacy.audit_append($1, $2, $3::pg_catalog.jsonb)",
							  3, argtypes, a->values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not append to privacy.audit_log");
}

void
privacy_audit_write(const char *kind, const char *object, const char *detail_json)
{
	AuditArgs	a;

	a.values[0] = CStringGetTextDatum(kind);
	a.values[1] = CStringGetTextDatum(object);
	a.values[2] = CStringGetTextDatum(detail_json);
	privacy_as_owner(aud_append, &a);
}

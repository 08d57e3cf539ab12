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
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "privacy.h"

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
	volatile uint64 processed = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation and statement must not be NULL")));
	if (GetUserId() != privacy_extension_owner())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function owner_exec"),
				 errdetail("Only the functions of extension \"privacy\" run statements as a table's owner.")));

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
		rc = SPI_execute_with_args(sql, 2, types, values, nulls, false, 0);
		if (rc < 0)
			elog(ERROR, "could not run a statement as the table's owner: %s",
				 SPI_result_code_string(rc));
		processed = SPI_processed;
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	PG_RETURN_INT64((int64) processed);
}

/*-------------------------------------------------------------------------
 * audit.c
 *	  Appending to the hash-chained audit log, privacy.audit_log.
 *
 * One UPDATE of privacy.audit_head takes the next sequence number and
 * computes the new hash, SHA-256(previous hash || canonical entry), from the
 * row it locks; concurrent writers queue on that row lock, so the chain
 * never forks.  The entry is then inserted into privacy.audit_log.  Callers
 * may lack any privilege on these tables: the work runs as the extension's
 * owner, in a restricted security context (privacy_as_owner), with plans
 * prepared once per backend.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "privacy.h"

static SPIPlanPtr head_plan = NULL;
static SPIPlanPtr create_head_plan = NULL;
static SPIPlanPtr insert_plan = NULL;

typedef struct AuditEntry
{
	Datum		values[5];		/* at, actor, kind, object, detail */
	int64		seq;			/* out */
} AuditEntry;

static bool
aud_advance_head(AuditEntry *e, Datum *prev, Datum *hash)
{
	Oid			types[5] = {TIMESTAMPTZOID, NAMEOID, TEXTOID, TEXTOID, JSONBOID};
	SPIPlanPtr	plan = privacy_keep_plan(&head_plan,
								"UPDATE privacy.audit_head h"
								"   SET seq = h.seq OPERATOR(pg_catalog.+) 1,"
								"       prev = h.hash,"
								"       hash = pg_catalog.sha256(h.hash OPERATOR(pg_catalog.||) pg_catalog.convert_to("
								"              privacy.audit_canonical(h.seq OPERATOR(pg_catalog.+) 1, $1, $2, $3, $4, $5), 'UTF8'))"
								" RETURNING h.seq, h.prev, h.hash",
								5, types);
	bool		isnull;

	if (SPI_execute_plan(plan, e->values, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not advance the audit log head");
	if (SPI_processed == 0)
		return false;
	e->seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*prev = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	*hash = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	return true;
}

static void
aud_append_spi(void *arg)
{
	AuditEntry *e = (AuditEntry *) arg;
	Datum		prev;
	Datum		hash;
	Oid			types[8] = {INT8OID, TIMESTAMPTZOID, NAMEOID, TEXTOID, TEXTOID, JSONBOID, BYTEAOID, BYTEAOID};
	Datum		values[8];

	if (!aud_advance_head(e, &prev, &hash))
	{
		/* the first entry: create the head (once, whoever comes first) */
		if (SPI_execute_plan(privacy_keep_plan(&create_head_plan,
									  "INSERT INTO privacy.audit_head (id, seq, hash)"
									  " VALUES (true, 0, pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex'))"
									  " ON CONFLICT (id) DO NOTHING", 0, NULL),
							 NULL, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not create the audit log head");
		if (!aud_advance_head(e, &prev, &hash))
			elog(ERROR, "the audit log head is missing");
	}
	values[0] = Int64GetDatum(e->seq);
	memcpy(&values[1], e->values, sizeof(e->values));
	values[6] = prev;
	values[7] = hash;
	if (SPI_execute_plan(privacy_keep_plan(&insert_plan,
								  "INSERT INTO privacy.audit_log (seq, at, actor, kind, object, detail, prev_hash, hash)"
								  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", 8, types),
						 values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not append to privacy.audit_log");
}

static void
aud_entry(AuditEntry *e, text *kind, text *object, Jsonb *detail)
{
	Name		actor = (Name) palloc0(NAMEDATALEN);

	if (!JB_ROOT_IS_OBJECT(detail) || JB_ROOT_IS_SCALAR(detail))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("audit entry detail must be a JSON object")));
	namestrcpy(actor, GetUserNameFromId(GetSessionUserId(), false));
	e->values[0] = TimestampTzGetDatum(GetCurrentTimestamp());
	e->values[1] = NameGetDatum(actor);
	e->values[2] = PointerGetDatum(kind);
	e->values[3] = PointerGetDatum(object);
	e->values[4] = JsonbPGetDatum(detail);
	e->seq = 0;
}

static int64
aud_append(text *kind, text *object, Jsonb *detail)
{
	AuditEntry	e;

	aud_entry(&e, kind, object, detail);
	privacy_as_owner(aud_append_spi, &e);
	return e.seq;
}

/*
 * privacy_audit_write_spi: for C code already running as the extension owner
 * inside an SPI connection (privacy_as_owner): append in the same context.
 */
int64
privacy_audit_write_spi(const char *kind, const char *object, const char *detail_json)
{
	AuditEntry	e;

	aud_entry(&e, cstring_to_text(kind), cstring_to_text(object),
			  DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(detail_json))));
	aud_append_spi(&e);
	return e.seq;
}

void
privacy_audit_write(const char *kind, const char *object, const char *detail_json)
{
	Jsonb	   *detail = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(detail_json)));

	(void) aud_append(cstring_to_text(kind), cstring_to_text(object), detail);
}

PG_FUNCTION_INFO_V1(privacy_audit_append);

/*
 * privacy.audit_append(kind text, object text, detail jsonb) -> bigint: append
 * one entry and return its sequence number.  The detail must hold no
 * personal data.
 */
Datum
privacy_audit_append(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("audit entries need a kind, an object and a detail")));
	PG_RETURN_INT64(aud_append(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), PG_GETARG_JSONB_P(2)));
}

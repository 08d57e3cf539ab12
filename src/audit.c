/*-------------------------------------------------------------------------
 * audit.c
 *	  Appending to the hash-chained audit log, privacy.audit_log.
 *
 * An entry is recorded when its action happens, but written when its
 * transaction commits: entries wait in a per-transaction queue (those of a
 * rolled-back subtransaction are dropped with it), and the pre-commit
 * callback writes them in order.  It first locks privacy.audit_head in SHARE
 * ROW EXCLUSIVE mode, so committing writers take turns, and the chain never
 * forks; then each UPDATE of the head, run with the latest snapshot, takes
 * the next sequence number and computes the new hash, SHA-256(previous hash
 * || canonical entry).  The lock is held only while the transaction commits,
 * so a long transaction that audits something never makes other writers wait
 * for it, and a REPEATABLE READ transaction does not fail because another
 * one audited in the meantime.  Callers may lack any privilege on these
 * tables: the work runs as the extension's owner, in a restricted security
 * context (privacy_as_owner), with plans prepared once per backend.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "mb/pg_wchar.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "citus.h"
#include "privacy.h"

static SPIPlanPtr head_plan = NULL;
static SPIPlanPtr update_plan = NULL;
static SPIPlanPtr create_head_plan = NULL;
static SPIPlanPtr insert_plan = NULL;

typedef struct AuditEntry
{
	Datum		values[5];		/* at, actor, kind, object, detail */
	SubTransactionId subid;		/* the subtransaction that recorded it */
} AuditEntry;

/* entries of the current transaction, oldest first (in TopTransactionContext) */
static List *aud_pending = NIL;
static bool aud_callbacks = false;

/*
 * run one statement of the writer with the latest snapshot (an error aborts
 * the transaction, which pops the snapshot)
 */
static int
aud_exec(SPIPlanPtr plan, Datum *values)
{
	int			rc;

	PushActiveSnapshot(GetLatestSnapshot());
	rc = SPI_execute_snapshot(plan, values, NULL, GetActiveSnapshot(),
							  InvalidSnapshot, false, false, 0);
	PopActiveSnapshot();
	return rc;
}

/*
 * The canonical text of an entry, the input of its hash: exactly what SQL's
 * privacy.audit_canonical() returns (verify_audit_log recomputes with it),
 * a JSON array of seq, UTC time, actor, kind, object, detail.
 */
static char *
aud_canonical(int64 seq, AuditEntry *e)
{
	JsonbParseState *st = NULL;
	JsonbValue	v;
	JsonbValue *res;
	Jsonb	   *j;
	struct pg_tm tm;
	fsec_t		fsec;
	char		when[64];
	Jsonb	   *detail = DatumGetJsonbP(e->values[4]);

	if (timestamp2tm(DatumGetTimestampTz(e->values[0]), NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "audit entry time out of range");
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
			 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);

	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(seq);
	pushJsonbValue(&st, WJB_ELEM, &v);
	v.type = jbvString;
	v.val.string.val = when;
	v.val.string.len = strlen(when);
	pushJsonbValue(&st, WJB_ELEM, &v);
	v.val.string.val = NameStr(*DatumGetName(e->values[1]));
	v.val.string.len = strlen(v.val.string.val);
	pushJsonbValue(&st, WJB_ELEM, &v);
	v.val.string.val = VARDATA_ANY(DatumGetTextPP(e->values[2]));
	v.val.string.len = VARSIZE_ANY_EXHDR(DatumGetTextPP(e->values[2]));
	pushJsonbValue(&st, WJB_ELEM, &v);
	v.val.string.val = VARDATA_ANY(DatumGetTextPP(e->values[3]));
	v.val.string.len = VARSIZE_ANY_EXHDR(DatumGetTextPP(e->values[3]));
	pushJsonbValue(&st, WJB_ELEM, &v);
	v.type = jbvBinary;
	v.val.binary.data = &detail->root;
	v.val.binary.len = VARSIZE(detail) - VARHDRSZ;
	pushJsonbValue(&st, WJB_ELEM, &v);
	res = pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	j = JsonbValueToJsonb(res);
	return JsonbToCString(NULL, &j->root, VARSIZE(j));
}

/* SHA-256(prev || canonical text in UTF-8) into out */
static void
aud_hash(const uint8 *prev, int prevlen, const char *canonical, uint8 *out)
{
	char	   *utf8 = pg_server_to_any(canonical, strlen(canonical), PG_UTF8);
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, prev, prevlen) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) utf8, strlen(utf8)) < 0 ||
		pg_cryptohash_final(ctx, out, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute an audit hash");
	pg_cryptohash_free(ctx);
}

/* write the queue, inside privacy_as_owner */
static void
aud_flush_spi(void *arg)
{
	List	   *entries = (List *) arg;
	ListCell   *lc;
	int64		seq;
	bytea	   *hash;
	bytea	   *last_prev = NULL;
	bool		isnull;
	Oid			types[8] = {INT8OID, TIMESTAMPTZOID, NAMEOID, TEXTOID, TEXTOID, JSONBOID, BYTEAOID, BYTEAOID};

	/* committing writers take turns; held until this commit ends */
	LockRelationOid(get_relname_relid("audit_head", get_namespace_oid(PRIVACY_SCHEMA, false)),
					ShareRowExclusiveLock);

	/* where the chain ends (the first entry ever: create the head) */
	if (aud_exec(privacy_keep_plan(&head_plan, "SELECT h.seq, h.hash FROM privacy.audit_head h", 0, NULL),
				 NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not read the audit log head");
	if (SPI_processed == 0)
	{
		if (aud_exec(privacy_keep_plan(&create_head_plan,
									   "INSERT INTO privacy.audit_head (id, seq, hash)"
									   " VALUES (true, 0, pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex'))"
									   " ON CONFLICT (id) DO NOTHING", 0, NULL),
					 NULL) != SPI_OK_INSERT)
			elog(ERROR, "could not create the audit log head");
		seq = 0;
		hash = (bytea *) palloc0(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
		SET_VARSIZE(hash, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	}
	else
	{
		seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		hash = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}

	foreach(lc, entries)
	{
		AuditEntry *e = (AuditEntry *) lfirst(lc);
		bytea	   *next = (bytea *) palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
		Datum		values[8];

		seq++;
		SET_VARSIZE(next, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
		aud_hash((uint8 *) VARDATA(hash), VARSIZE(hash) - VARHDRSZ, aud_canonical(seq, e),
				 (uint8 *) VARDATA(next));
		values[0] = Int64GetDatum(seq);
		memcpy(&values[1], e->values, sizeof(e->values));
		values[6] = PointerGetDatum(hash);
		values[7] = PointerGetDatum(next);
		last_prev = hash;
		if (SPI_execute_plan(privacy_keep_plan(&insert_plan,
									  "INSERT INTO privacy.audit_log (seq, at, actor, kind, object, detail, prev_hash, hash)"
									  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", 8, types),
							 values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not append to privacy.audit_log");
		hash = next;
	}

	/* the head records the last entry and the hash before it */
	{
		Datum		values[3];
		Oid			update_types[3] = {INT8OID, BYTEAOID, BYTEAOID};

		values[0] = Int64GetDatum(seq);
		values[1] = PointerGetDatum(last_prev);
		values[2] = PointerGetDatum(hash);
		if (aud_exec(privacy_keep_plan(&update_plan,
									   "UPDATE privacy.audit_head h SET seq = $1, prev = $2, hash = $3",
									   3, update_types), values) != SPI_OK_UPDATE)
			elog(ERROR, "could not advance the audit log head");
	}
}

static void
aud_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			/*
			 * A prepared transaction would hold the head's lock until COMMIT
			 * PREPARED or ROLLBACK PREPARED, and every audited commit of the
			 * database would wait for it: an audited transaction is not
			 * preparable.
			 */
			if (aud_pending != NIL && OidIsValid(get_extension_oid("privacy", true)))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that writes to the privacy audit log"),
						 errdetail("Its entry is chained to the log when it commits; a prepared transaction would keep every other audited commit waiting."),
						 errhint("Commit the audited work in a transaction of its own.")));
			aud_pending = NIL;
			break;
		case XACT_EVENT_PRE_COMMIT:
			/* an extension dropped in this transaction took its log along */
			if (aud_pending != NIL && !OidIsValid(get_extension_oid("privacy", true)))
				aud_pending = NIL;
			if (aud_pending != NIL)
			{
				List	   *entries = aud_pending;

				aud_pending = NIL;
				/* commit has no active snapshot left; SPI needs one */
				PushActiveSnapshot(GetTransactionSnapshot());
				privacy_as_owner(aud_flush_spi, entries);
				PopActiveSnapshot();
			}
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			/* the memory went with TopTransactionContext */
			aud_pending = NIL;
			break;
	}
}

static void
aud_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, aud_pending)
		{
			AuditEntry *e = (AuditEntry *) lfirst(lc);

			if (e->subid == mySubid)
				e->subid = parentSubid;
		}
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, aud_pending)
		{
			AuditEntry *e = (AuditEntry *) lfirst(lc);

			if (e->subid == mySubid)
				aud_pending = foreach_delete_current(aud_pending, lc);
		}
	}
}

/* record an entry; it is written when the transaction commits */
static void
aud_record(text *kind, text *object, Jsonb *detail)
{
	MemoryContext old;
	AuditEntry *e;
	Name		actor;

	if (!JB_ROOT_IS_OBJECT(detail) || JB_ROOT_IS_SCALAR(detail))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("audit entry detail must be a JSON object")));

	/*
	 * A Citus cluster keeps one audit chain, the coordinator's.  What reaches
	 * a worker node is the coordinator's doing, audited there (a label Citus
	 * copies to a shell table or a shard); what would write anything else on
	 * a worker is refused there (privacy_require_coordinator).
	 */
	if (privacy_citus_worker())
		return;
	if (!aud_callbacks)
	{
		RegisterXactCallback(aud_xact_callback, NULL);
		RegisterSubXactCallback(aud_subxact_callback, NULL);
		aud_callbacks = true;
	}
	/* the extension must be there, and its owner known, before commit */
	(void) privacy_extension_owner();

	old = MemoryContextSwitchTo(TopTransactionContext);
	e = (AuditEntry *) palloc0(sizeof(AuditEntry));
	actor = (Name) palloc0(NAMEDATALEN);
	namestrcpy(actor, GetUserNameFromId(GetSessionUserId(), false));
	e->values[0] = TimestampTzGetDatum(GetCurrentTimestamp());
	e->values[1] = NameGetDatum(actor);
	e->values[2] = PointerGetDatum(DatumGetTextPCopy(PointerGetDatum(kind)));
	e->values[3] = PointerGetDatum(DatumGetTextPCopy(PointerGetDatum(object)));
	e->values[4] = PointerGetDatum(DatumGetJsonbPCopy(JsonbPGetDatum(detail)));
	e->subid = GetCurrentSubTransactionId();
	aud_pending = lappend(aud_pending, e);
	MemoryContextSwitchTo(old);
}

/*
 * privacy_audit_write_spi: for C code already running as the extension owner
 * inside an SPI connection (privacy_as_owner).  Recording needs no SPI, so it
 * is the same as privacy_audit_write.
 */
void
privacy_audit_write_spi(const char *kind, const char *object, const char *detail_json)
{
	privacy_audit_write(kind, object, detail_json);
}

void
privacy_audit_write(const char *kind, const char *object, const char *detail_json)
{
	Jsonb	   *detail = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(detail_json)));

	aud_record(cstring_to_text(kind), cstring_to_text(object), detail);
}

PG_FUNCTION_INFO_V1(privacy_audit_append);

/*
 * privacy.audit_append(kind text, object text, detail jsonb): record one
 * entry, written to the log when the transaction commits.  The detail must
 * hold no personal data.
 */
Datum
privacy_audit_append(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("audit entries need a kind, an object and a detail")));
	aud_record(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), PG_GETARG_JSONB_P(2));
	PG_RETURN_VOID();
}

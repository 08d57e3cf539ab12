/*-------------------------------------------------------------------------
 * consent.c
 *	  Recording consent: privacy.grant_consent and privacy.withdraw_consent.
 *
 * Applications call these on every consent change, so they run as C with
 * plans prepared once per backend.  Each call checks the purpose, writes the
 * append-only ledger (privacy.consent_event), keeps the consents in force
 * (privacy.consent) and appends an audit entry that names the subject only by
 * its keyed pseudonym.  A grant may come from the subject's guardian, who
 * is a subject too (of a kind) and is named in the ledger; the audit entry
 * names the guardian by pseudonym as well.  A guardian may also consent to a
 * purpose on another legal basis (PIPL Art. 31: a minor's data needs a
 * guardian's consent whatever the purpose, privacy.guardian_consent).  The
 * work runs as the extension's owner: the calling role needs EXECUTE on the
 * function and nothing on the tables.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "citus.h"
#include "crypto.h"
#include "keys.h"
#include "kinds.h"
#include "privacy.h"

static SPIPlanPtr purpose_plan = NULL;
static SPIPlanPtr grant_plan = NULL;
static SPIPlanPtr withdraw_plan = NULL;
static SPIPlanPtr cancelled_plan = NULL;
static SPIPlanPtr in_force_plan = NULL;
static SPIPlanPtr guardian_minor_plan = NULL;

typedef struct ConsentCall
{
	char	   *object;			/* the audit object: the subject's pseudonym */
	char	   *pseudonym;		/* its hex: the key of its tombstone */
	bool		grant;
	Datum		subject;		/* canonical, as text */
	Datum		kind;
	Datum		purpose;
	Datum		evidence;		/* jsonb or 0 */
	bool		by_guardian;
	Datum		guardian;		/* canonical, as text, when by_guardian */
	Datum		guardian_kind;
	char	   *guardian_pseudonym;	/* its hex */
	/* out */
	int64		seq;
	char	   *policy;			/* NULL: none published */
	bool		was_in_force;
} ConsentCall;

static bool cons_in_force(ConsentCall *c);

/*
 * The purpose must exist (an administrator's definition over a seeded one)
 * and rest on consent, except for a guardian's grant (PIPL Art. 31) and the
 * withdrawal of a consent in force (one such a grant recorded).
 */
static void
cons_check_purpose(ConsentCall *c)
{
	Datum		purpose = c->purpose;
	Oid			type = TEXTOID;
	bool		isnull;
	char	   *name = TextDatumGetCString(purpose);
	char	   *basis;

	if (SPI_execute_plan(privacy_keep_plan(&purpose_plan,
								   "SELECT p.legal_basis, p.dropped FROM privacy.purpose_definition p"
								   " WHERE p.name OPERATOR(pg_catalog.=) $1 ORDER BY p.seeded LIMIT 1",
								   1, &type),
						 &purpose, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read privacy.purpose_definition");
	if (SPI_processed == 0 ||
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown purpose \"%s\"", name),
				 errhint("The purposes are listed in privacy.purpose.")));
	basis = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(basis, "consent") != 0 &&
		!(c->grant && c->by_guardian) &&
		!(!c->grant && cons_in_force(c)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("purpose \"%s\" rests on %s, not on consent", name, basis),
				 errhint("Only consent-based purposes take the subject's own grants; a minor's guardian consents to any purpose (guardian =>); privacy.may_process() answers for every purpose.")));
}

/* whether the subject's consent to the purpose is in force */
static bool
cons_in_force(ConsentCall *c)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];

	values[0] = c->subject;
	values[1] = c->purpose;
	values[2] = c->kind;
	if (SPI_execute_plan(privacy_keep_plan(&in_force_plan,
								   "SELECT 1 FROM privacy.consent c WHERE c.subject OPERATOR(pg_catalog.=) $1"
								   " AND c.purpose OPERATOR(pg_catalog.=) $2 AND c.subject_kind OPERATOR(pg_catalog.=) $3",
								   3, types),
						 values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read privacy.consent");
	return SPI_processed > 0;
}

/* the audit entry, in the same owner context as the writes */
static void
cons_audit(ConsentCall *c)
{
	StringInfoData detail;

	initStringInfo(&detail);
	if (c->grant)
	{
		appendStringInfo(&detail, "{\"operation\": \"grant\", \"purpose\": ");
		escape_json(&detail, TextDatumGetCString(c->purpose));
		appendStringInfo(&detail, ", \"event\": " INT64_FORMAT ", \"by_guardian\": %s, ",
						 c->seq, c->by_guardian ? "true" : "false");
		if (c->by_guardian)
		{
			/* the guardian by pseudonym, never by key */
			appendStringInfo(&detail, "\"guardian\": \"%s\", ", c->guardian_pseudonym);
			if (strcmp(TextDatumGetCString(c->guardian_kind), "person") != 0)
			{
				appendStringInfoString(&detail, "\"guardian_kind\": ");
				escape_json(&detail, TextDatumGetCString(c->guardian_kind));
				appendStringInfoString(&detail, ", ");
			}
		}
		appendStringInfoString(&detail, "\"policy_version\": ");
		if (c->policy)
			escape_json(&detail, c->policy);
		else
			appendStringInfoString(&detail, "null");
		appendStringInfoChar(&detail, '}');
	}
	else
	{
		appendStringInfo(&detail, "{\"operation\": \"withdraw\", \"purpose\": ");
		escape_json(&detail, TextDatumGetCString(c->purpose));
		appendStringInfo(&detail, ", \"event\": " INT64_FORMAT ", \"was_in_force\": %s}",
						 c->seq, c->was_in_force ? "true" : "false");
	}
	privacy_audit_write_spi("consent", c->object, detail.data);
}

/*
 * A cancelled subject's history is kept under its pseudonym, and rows kept
 * after its cancellation may only be stored and secured (PIPL Art. 47): no
 * grant or withdrawal is recorded for it any more.
 */
static bool
cons_cancelled(const char *pseudonym)
{
	Oid			type = TEXTOID;
	Datum		value = CStringGetTextDatum(pseudonym);

	if (SPI_execute_plan(privacy_keep_plan(&cancelled_plan,
								   "SELECT 1 FROM privacy.cancelled_subject c WHERE c.subject_id OPERATOR(pg_catalog.=) $1",
								   1, &type),
						 &value, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read privacy.cancelled_subject");
	return SPI_processed > 0;
}

static void
cons_refuse_cancelled(ConsentCall *c)
{
	if (cons_cancelled(c->pseudonym))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the subject has cancelled their account: no consent is recorded for it"),
				 errdetail("Its consent history is kept under its pseudonym, and rows kept after a cancellation may only be stored and secured."),
				 errhint("A new account is a new subject.")));
}

/*
 * A guardian who cancelled their account is no one the ledger may name, and
 * a minor is no one's guardian.
 */
static void
cons_check_guardian(ConsentCall *c)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		isnull;

	if (cons_cancelled(c->guardian_pseudonym))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the guardian has cancelled their account: no consent is recorded from them"),
				 errhint("Another guardian of the subject can give the consent.")));
	values[0] = c->guardian;
	values[1] = c->guardian_kind;
	if (SPI_execute_plan(privacy_keep_plan(&guardian_minor_plan,
								   "SELECT privacy.is_minor($1, pg_catalog.now(), $2)", 2, types),
						 values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read whether the guardian is a minor");
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) && !isnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the guardian is a minor: a minor cannot consent as a guardian"),
				 errdetail("privacy.is_minor() answers true for the guardian (privacy.minor_age, its birth date or privacy.set_minor())."),
				 errhint("The consent must come from a parent or other guardian of full age.")));
}

static void
cons_record_spi(void *arg)
{
	ConsentCall *c = (ConsentCall *) arg;
	bool		isnull;

	cons_check_purpose(c);
	cons_refuse_cancelled(c);
	if (c->grant && c->by_guardian)
		cons_check_guardian(c);
	if (c->grant)
	{
		Oid			types[7] = {TEXTOID, TEXTOID, JSONBOID, BOOLOID, TEXTOID, TEXTOID, TEXTOID};
		Datum		values[7];
		char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
		char	   *v;

		values[0] = c->subject;
		values[1] = c->purpose;
		values[2] = c->evidence;
		nulls[2] = c->evidence ? ' ' : 'n';
		values[3] = BoolGetDatum(c->by_guardian);
		values[4] = c->kind;
		values[5] = c->guardian;
		values[6] = c->guardian_kind;
		nulls[5] = nulls[6] = c->by_guardian ? ' ' : 'n';
		/* one statement: the ledger entry (under the policy in force) and the consent in force */
		if (SPI_execute_plan(privacy_keep_plan(&grant_plan,
									   "WITH e AS ("
									   "  INSERT INTO privacy.consent_event (subject_kind, subject, purpose, granted, policy_version, evidence, by_guardian,"
									   "                                     guardian, guardian_kind)"
									   "  VALUES ($5, $1, $2, true,"
									   "          (SELECT v.version FROM privacy.policy_version v ORDER BY v.published_at DESC LIMIT 1),"
									   "          $3, $4, $6, $7)"
									   "  RETURNING seq, at, policy_version)"
									   " INSERT INTO privacy.consent AS c (subject_kind, subject, purpose, granted_at, policy_version, by_guardian, minor_setting)"
									   " SELECT $5, $1, $2, e.at, e.policy_version, $4,"
									   "        (SELECT m.minor FROM privacy.subject_minor m"
									   "          WHERE m.subject OPERATOR(pg_catalog.=) $1 AND m.subject_kind OPERATOR(pg_catalog.=) $5)"
									   "   FROM e"
									   " ON CONFLICT ON CONSTRAINT consent_pkey DO UPDATE"
									   "    SET granted_at = EXCLUDED.granted_at, policy_version = EXCLUDED.policy_version,"
									   "        by_guardian = EXCLUDED.by_guardian, minor_setting = EXCLUDED.minor_setting"
									   " RETURNING (SELECT e.seq FROM e), c.policy_version",
									   7, types),
							 values, nulls, false, 0) != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
			elog(ERROR, "could not record a consent");
		c->seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		if (v)
		{
			/* outlives SPI_finish: allocated in the caller's context */
			c->policy = SPI_palloc(strlen(v) + 1);
			strcpy(c->policy, v);
		}
	}
	else
	{
		Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
		Datum		values[3];

		values[0] = c->subject;
		values[1] = c->purpose;
		values[2] = c->kind;
		/* one statement: the ledger entry and the end of the consent in force, if any */
		if (SPI_execute_plan(privacy_keep_plan(&withdraw_plan,
									   "WITH e AS ("
									   "  INSERT INTO privacy.consent_event (subject_kind, subject, purpose, granted) VALUES ($3, $1, $2, false)"
									   "  RETURNING seq),"
									   " d AS ("
									   "  DELETE FROM privacy.consent c"
									   "   WHERE c.subject OPERATOR(pg_catalog.=) $1 AND c.purpose OPERATOR(pg_catalog.=) $2"
									   "     AND c.subject_kind OPERATOR(pg_catalog.=) $3"
									   "  RETURNING 1)"
									   " SELECT e.seq, EXISTS (SELECT 1 FROM d) FROM e",
									   3, types),
							 values, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not record a withdrawal");
		c->seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		c->was_in_force = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	cons_audit(c);
}

/*
 * The subject in its canonical form, and its pseudonym: the audit object and
 * the key of its tombstone, as privacy.subject_pseudonym(subject, kind) gives
 * it; never the subject itself.
 */
static char *
cons_canonical(FunctionCallInfo fcinfo, int value_arg, int kind_arg, const char *what,
			   char **pseudonym, Datum *kind_out)
{
	char	   *kind = PG_ARGISNULL(kind_arg) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(kind_arg));
	char	   *canonical;
	uint8		id[32];
	StringInfoData s;
	int			i;

	if (kind == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
	canonical = privacy_subject_canonical(kind, text_to_cstring(PG_GETARG_TEXT_PP(value_arg)));
	privacy_subject_id(kind, canonical, id);
	initStringInfo(&s);
	for (i = 0; i < 32; i++)
		appendStringInfo(&s, "%02x", id[i]);
	*pseudonym = s.data;
	*kind_out = CStringGetTextDatum(kind);
	return canonical;
}

static void
cons_subject(ConsentCall *c, FunctionCallInfo fcinfo, int kind_arg)
{
	char	   *canonical = cons_canonical(fcinfo, 0, kind_arg, "kind", &c->pseudonym, &c->kind);

	c->object = psprintf("subject %s", c->pseudonym);
	c->subject = CStringGetTextDatum(canonical);
}

/*
 * The guardian (arguments by_guardian 3, guardian 5, guardian_kind 6): named
 * when the consent is a guardian's; by_guardian alone names nobody.
 */
static void
cons_guardian(ConsentCall *c, FunctionCallInfo fcinfo)
{
	char	   *canonical;

	if (PG_ARGISNULL(5))
	{
		if (!PG_ARGISNULL(3) && PG_GETARG_BOOL(3))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a guardian's consent must name the guardian"),
					 errdetail("by_guardian => true alone records nothing about who gave the consent."),
					 errhint("Pass guardian => the guardian's subject key, and guardian_kind => its kind when the guardian is not a person.")));
		c->by_guardian = false;
		return;
	}
	if (!PG_ARGISNULL(3) && !PG_GETARG_BOOL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("by_guardian => false contradicts guardian"),
				 errhint("A consent that names a guardian is the guardian's: leave by_guardian out.")));
	canonical = cons_canonical(fcinfo, 5, 6, "guardian_kind", &c->guardian_pseudonym, &c->guardian_kind);
	if (strcmp(c->guardian_pseudonym, c->pseudonym) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a subject cannot be its own guardian")));
	c->guardian = CStringGetTextDatum(canonical);
	c->by_guardian = true;
}

static void
cons_check_args(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("subject must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("purpose must not be NULL")));
}

PG_FUNCTION_INFO_V1(privacy_grant_consent);

/*
 * privacy.grant_consent(subject text, purpose text, evidence jsonb, by_guardian
 * boolean, kind text, guardian text, guardian_kind text) -> bigint: record a
 * grant, the subject's own or its guardian's; returns the ledger entry's seq.
 */
Datum
privacy_grant_consent(PG_FUNCTION_ARGS)
{
	ConsentCall c;

	/* the ledger is the coordinator's (doc/citus.md) */
	privacy_require_coordinator_fn(fcinfo);
	cons_check_args(fcinfo);
	memset(&c, 0, sizeof(c));
	c.grant = true;
	c.purpose = PG_GETARG_DATUM(1);
	c.evidence = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	cons_subject(&c, fcinfo, 4);
	cons_guardian(&c, fcinfo);
	privacy_as_owner(cons_record_spi, &c);
	PG_RETURN_INT64(c.seq);
}

PG_FUNCTION_INFO_V1(privacy_withdraw_consent);

/*
 * privacy.withdraw_consent(subject text, purpose text, kind text) -> boolean:
 * record a withdrawal (always); true if a consent was in force.
 */
Datum
privacy_withdraw_consent(PG_FUNCTION_ARGS)
{
	ConsentCall c;

	/* the ledger is the coordinator's (doc/citus.md) */
	privacy_require_coordinator_fn(fcinfo);
	cons_check_args(fcinfo);
	memset(&c, 0, sizeof(c));
	c.grant = false;
	c.purpose = PG_GETARG_DATUM(1);
	cons_subject(&c, fcinfo, 2);
	privacy_as_owner(cons_record_spi, &c);
	PG_RETURN_BOOL(c.was_in_force);
}

/*-------------------------------------------------------------------------
 * kinds.c
 *	  Subject kinds and the canonical form of a subject.
 *
 * A SUBJECT label names a kind of subject (person by default; an
 * organization, a device owner, ...).  Every SUBJECT column of one kind
 * belongs to one type family, and a subject of that kind has one canonical
 * form, the text every part of the extension uses for it (consent, holds,
 * tombstones, keys, lookups):
 *
 *	integer  smallint, integer, bigint: the number, in decimal (' 091', '+91'
 *			 and '0091' are all 91); it must fit a bigint
 *	text	 text, varchar: the text as it is
 *	bpchar	 character(n): the text without trailing blanks, as char(n)
 *			 compares
 *	uuid	 the uuid in its standard lower-case form
 *	numeric  the number without trailing zeros of its fraction
 *	other	 one base type: its output of its input (its own I/O functions,
 *			 which only a superuser can install)
 *
 * A domain belongs to its base type's family; its checks are the column's
 * constraints and never run here.  The form is computed from the text with
 * the family's rules, never with a cast a table owner may have written.
 *
 * A subject's id (the key of its tombstone, its key file, its pseudonym) is
 * HMAC(privacy.subjects, canonical) for the default kind, and
 * HMAC(privacy.subjects, kind || NUL || canonical) for the others: text
 * never holds a NUL, so ids of different kinds never collide.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "crypto.h"
#include "keys.h"
#include "kinds.h"
#include "label_parse.h"
#include "privacy.h"

/* the family of a column type (a domain: of its base type) */
PrivacyFamily
privacy_subject_family(Oid typid, Oid *basetype)
{
	Oid			base = getBaseType(typid);

	if (basetype)
		*basetype = base;
	switch (base)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return PRIVACY_FAMILY_INTEGER;
		case TEXTOID:
		case VARCHAROID:
			return PRIVACY_FAMILY_TEXT;
		case BPCHAROID:
			return PRIVACY_FAMILY_BPCHAR;
		case UUIDOID:
			return PRIVACY_FAMILY_UUID;
		case NUMERICOID:
			return PRIVACY_FAMILY_NUMERIC;
		default:
			return PRIVACY_FAMILY_OTHER;
	}
}

const char *
privacy_family_name(PrivacyFamily family)
{
	switch (family)
	{
		case PRIVACY_FAMILY_INTEGER:
			return "integer";
		case PRIVACY_FAMILY_TEXT:
			return "text";
		case PRIVACY_FAMILY_BPCHAR:
			return "bpchar";
		case PRIVACY_FAMILY_UUID:
			return "uuid";
		case PRIVACY_FAMILY_NUMERIC:
			return "numeric";
		case PRIVACY_FAMILY_OTHER:
			break;
	}
	return "other";
}

/*
 * The kinds in use: each with its family and (for "other") base type, read
 * from the SUBJECT labels once per backend and dropped at any relcache
 * invalidation (a label change sends one for its table).
 */
typedef struct KindEntry
{
	char		name[PRIVACY_KIND_MAXLEN + 1];
	PrivacyFamily family;
	Oid			basetype;
} KindEntry;

static MemoryContext kinds_cxt = NULL;
static KindEntry *kinds = NULL;
static int	nkinds = 0;
static bool kinds_valid = false;
/* the tombstones' table, whose every change sends an invalidation (keys.c) */
static Oid	kinds_tombstone_relid = InvalidOid;

void
privacy_kinds_relcache(Datum arg, Oid relid)
{
	/* a cancellation's tombstone changes no label: every cancellation would
	 * read the kinds again otherwise */
	if (OidIsValid(relid) && relid == kinds_tombstone_relid)
		return;
	kinds_valid = false;
}

static void
kinds_load(void)
{
	int			i;
	int			n;

	if (kinds_cxt == NULL)
		kinds_cxt = AllocSetContextCreate(TopMemoryContext, "privacy subject kinds", ALLOCSET_SMALL_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT DISTINCT ON (p.subject_kind) p.subject_kind, a.atttypid"
					PRIVACY_SUBJECT_LABELS_SQL
					" ORDER BY p.subject_kind, a.attrelid, a.attnum",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the subject kinds");
	MemoryContextReset(kinds_cxt);
	n = (int) SPI_processed;
	kinds = MemoryContextAllocZero(kinds_cxt, sizeof(KindEntry) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		Oid			typid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

		strlcpy(kinds[i].name, name, sizeof(kinds[i].name));
		kinds[i].family = privacy_subject_family(typid, &kinds[i].basetype);
	}
	nkinds = n;
	SPI_finish();
	kinds_tombstone_relid = get_relname_relid("cancelled_subject", get_namespace_oid(PRIVACY_SCHEMA, true));
	kinds_valid = true;
}

/* the family of a kind; false when no SUBJECT column is of that kind */
static bool
kinds_lookup(const char *kind, PrivacyFamily *family, Oid *basetype)
{
	int			i;

	AcceptInvalidationMessages();
	if (!kinds_valid)
		kinds_load();
	for (i = 0; i < nkinds; i++)
		if (strcmp(kinds[i].name, kind) == 0)
		{
			*family = kinds[i].family;
			*basetype = kinds[i].basetype;
			return true;
		}
	return false;
}

/* a subject kind as written: a lower-case word */
void
privacy_check_kind_name(const char *kind)
{
	const char *c;

	if (kind[0] == '\0' || strlen(kind) > PRIVACY_KIND_MAXLEN || !(kind[0] >= 'a' && kind[0] <= 'z'))
		goto bad;
	for (c = kind; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
			goto bad;
	return;
bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid subject kind"),
			 errdetail("A subject kind is a lower-case word of letters, digits and underscores, starting with a letter, such as org.")));
}

/* an integer subject: blanks, a sign, digits, blanks; within bigint */
static char *
kinds_integer(const char *s)
{
	const char *p = s;
	bool		neg = false;
	uint64		v = 0;
	bool		digits = false;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p == '+' || *p == '-')
		neg = (*p++ == '-');
	for (; *p >= '0' && *p <= '9'; p++)
	{
		digits = true;
		if (v > (PG_UINT64_MAX - 9) / 10)
			return NULL;
		v = v * 10 + (uint64) (*p - '0');
		if (v > (uint64) PG_INT64_MAX + (neg ? 1 : 0))
			return NULL;
	}
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (!digits || *p != '\0')
		return NULL;
	if (neg)
		return v == (uint64) PG_INT64_MAX + 1 ? pstrdup("-9223372036854775808") : psprintf("-" UINT64_FORMAT, v);
	return psprintf(UINT64_FORMAT, v);
}

/* a uuid subject, in the forms uuid_in takes; its standard form */
static char *
kinds_uuid(const char *s)
{
	const char *p = s;
	char		hex[33];
	int			n = 0;
	bool		braces = false;
	char	   *out;

	if (*p == '{')
	{
		braces = true;
		p++;
	}
	while (*p && *p != '}')
	{
		if (isxdigit((unsigned char) *p) && n < 32)
			hex[n++] = pg_ascii_tolower((unsigned char) *p);
		else if (!(*p == '-' && n > 0 && n % 4 == 0 && p[1] != '-' && p[1] != '\0' && p[1] != '}'))
			return NULL;
		p++;
	}
	if (braces != (*p == '}') || (braces && p[1] != '\0') || n != 32)
		return NULL;
	hex[32] = '\0';
	out = psprintf("%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
	return out;
}

/*
 * The output of a base type's input of s, or NULL when its input refuses it.
 * The input runs in a subtransaction, its error (which would quote the
 * value) swallowed.
 */
static char *
kinds_through_type(const char *s, Oid basetype, bool trim_scale)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *volatile result = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		Oid			in;
		Oid			ioparam;
		Oid			out;
		bool		varlena;
		Datum		d;

		getTypeInputInfo(basetype, &in, &ioparam);
		getTypeOutputInfo(basetype, &out, &varlena);
		d = OidInputFunctionCall(in, unconstify(char *, s), ioparam, -1);
		if (trim_scale)
			d = DirectFunctionCall1(numeric_trim_scale, d);
		result = MemoryContextStrdup(caller, OidOutputFunctionCall(out, d));
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		result = NULL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	CurrentResourceOwner = owner;
	return result;
}

/* the canonical form of value in a family; NULL when it is not a value of it */
char *
privacy_family_canonical(PrivacyFamily family, Oid basetype, const char *value)
{
	size_t		len;

	switch (family)
	{
		case PRIVACY_FAMILY_INTEGER:
			return kinds_integer(value);
		case PRIVACY_FAMILY_TEXT:
			return pstrdup(value);
		case PRIVACY_FAMILY_BPCHAR:
			len = strlen(value);
			while (len > 0 && value[len - 1] == ' ')
				len--;
			return pnstrdup(value, len);
		case PRIVACY_FAMILY_UUID:
			return kinds_uuid(value);
		case PRIVACY_FAMILY_NUMERIC:
			return kinds_through_type(value, NUMERICOID, true);
		case PRIVACY_FAMILY_OTHER:
			break;
	}
	{
		/*
		 * A type's input function is the server's own only for the types
		 * privacy_subject_type_problem allows (a label of another type can
		 * come back with a restored dump, which skips the label checks).
		 */
		const char *why = privacy_subject_type_problem(basetype);

		if (why != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("type %s cannot hold subjects", format_type_be(basetype)),
					 errdetail("It is %s.", why),
					 errhint("Label a column of a built-in type (an integer, text, uuid, ...) or a domain over one as SUBJECT.")));
	}
	return kinds_through_type(value, basetype, false);
}

/*
 * Why a column type cannot hold subjects, or NULL.  A subject is read by its
 * type's own input and output functions and compared, cast and indexed by its
 * operators and casts, sometimes in the extension's context: only types whose
 * code is the server's own qualify.  A domain is its base type here (its
 * checks are never run by the extension); an array or composite type's input
 * runs its elements' domain checks; a type a role other than a superuser owns
 * (an enum) brings that role's casts and operators.
 */
const char *
privacy_subject_type_problem(Oid typid)
{
	Oid			base = getBaseType(typid);
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(base));
	Form_pg_type t;
	const char *why = NULL;

	if (!HeapTupleIsValid(tup))
		return "an unknown type";
	t = (Form_pg_type) GETSTRUCT(tup);
	if (t->typtype != TYPTYPE_BASE && t->typtype != TYPTYPE_ENUM)
		why = "not a base or enum type (a composite, range or pseudo-type)";
	else if (IsTrueArrayType(t))
		why = "an array type";
	else if (!superuser_arg(t->typowner))
		why = "owned by a role that is not a superuser, whose casts and operators would run when the extension reads it";
	ReleaseSysCache(tup);
	return why;
}

/*
 * The canonical form of a subject of a kind.  A kind no SUBJECT column has
 * yet: the default kind takes the text as it is, another is an error.  A
 * subject that is no value of the kind's family is an error that names the
 * kind and the family, never the value.
 */
char *
privacy_subject_canonical(const char *kind, const char *value)
{
	PrivacyFamily family;
	Oid			basetype;
	char	   *canonical;

	privacy_check_kind_name(kind);
	if (!kinds_lookup(kind, &family, &basetype))
	{
		if (strcmp(kind, PRIVACY_DEFAULT_KIND) == 0)
			return pstrdup(value);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown subject kind \"%s\"", kind),
				 errdetail("No column is labelled SUBJECT %s.", kind),
				 errhint("The kinds in use are listed in privacy.subject_kinds.")));
	}
	canonical = privacy_family_canonical(family, basetype, value);
	if (canonical == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("the subject is not a value of subject kind \"%s\"", kind),
				 errdetail("The SUBJECT columns of kind %s are of type %s.", kind,
						   family == PRIVACY_FAMILY_OTHER ? format_type_be(basetype) : privacy_family_name(family))));
	return canonical;
}

/* a subject's id: HMAC(privacy.subjects, [kind NUL] canonical) */
void
privacy_subject_id(const char *kind, const char *canonical, uint8 *id)
{
	if (kind == NULL || strcmp(kind, PRIVACY_DEFAULT_KIND) == 0)
		privacy_hmac(privacy_subjects_key(), (const uint8 *) canonical, strlen(canonical), id);
	else
	{
		size_t		klen = strlen(kind);
		size_t		clen = strlen(canonical);
		uint8	   *msg = palloc(klen + 1 + clen);

		memcpy(msg, kind, klen);
		msg[klen] = '\0';
		memcpy(msg + klen + 1, canonical, clen);
		privacy_hmac(privacy_subjects_key(), msg, klen + 1 + clen, id);
		pfree(msg);
	}
}

PG_FUNCTION_INFO_V1(privacy_subject_canonical_sql);

/* privacy.subject_canonical(subject text, kind text) -> text */
Datum
privacy_subject_canonical_sql(PG_FUNCTION_ARGS)
{
	char	   *value = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(1));

	PG_RETURN_TEXT_P(cstring_to_text(privacy_subject_canonical(kind, value)));
}

PG_FUNCTION_INFO_V1(privacy_subject_family_sql);

/* privacy.subject_family(typ regtype) -> text */
Datum
privacy_subject_family_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(privacy_family_name(privacy_subject_family(PG_GETARG_OID(0), NULL))));
}

PG_FUNCTION_INFO_V1(privacy_family_canonical_sql);

/*
 * privacy.family_canonical(value text, typ regtype) -> text: the canonical
 * form of a value of a column of that type (NULL when it is none): what a
 * subject column's value is as a subject
 */
Datum
privacy_family_canonical_sql(PG_FUNCTION_ARGS)
{
	char	   *value = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			base;
	PrivacyFamily family = privacy_subject_family(PG_GETARG_OID(1), &base);
	char	   *canonical = privacy_family_canonical(family, base, value);

	if (canonical == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(canonical));
}

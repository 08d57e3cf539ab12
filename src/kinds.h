/*-------------------------------------------------------------------------
 * kinds.h
 *	  Subject kinds, the type families of SUBJECT columns, canonical subjects.
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_KINDS_H
#define PRIVACY_KINDS_H

typedef enum PrivacyFamily
{
	PRIVACY_FAMILY_INTEGER,
	PRIVACY_FAMILY_TEXT,
	PRIVACY_FAMILY_BPCHAR,
	PRIVACY_FAMILY_UUID,
	PRIVACY_FAMILY_NUMERIC,
	PRIVACY_FAMILY_OTHER
} PrivacyFamily;

extern PrivacyFamily privacy_subject_family(Oid typid, Oid *basetype);
extern const char *privacy_family_name(PrivacyFamily family);
extern char *privacy_family_canonical(PrivacyFamily family, Oid basetype, const char *value);
extern const char *privacy_subject_type_problem(Oid typid);
extern char *privacy_subject_canonical(const char *kind, const char *value);
extern void privacy_check_kind_name(const char *kind);
extern void privacy_subject_id(const char *kind, const char *canonical, uint8 *id);


/*
 * The FROM and WHERE of a query over every SUBJECT label of a plain or
 * partitioned table's live column: aliases s (pg_seclabel), c (pg_class),
 * a (pg_attribute), p (the parsed label); a query adds its select list, any
 * further AND, and its ORDER BY.
 */
#define PRIVACY_SUBJECT_LABELS_SQL \
	"  FROM pg_catalog.pg_seclabel s" \
	"  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.objoid" \
	"   AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::\"char\"[])" \
	"  JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) s.objoid" \
	"   AND a.attnum OPERATOR(pg_catalog.=) s.objsubid AND NOT a.attisdropped" \
	" CROSS JOIN LATERAL privacy.parse_label(s.label, false) p" \
	" WHERE s.provider OPERATOR(pg_catalog.=) 'privacy'" \
	"   AND s.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass" \
	"   AND s.objsubid OPERATOR(pg_catalog.>) 0 AND p.subject"

#endif							/* PRIVACY_KINDS_H */

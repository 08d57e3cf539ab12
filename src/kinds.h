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

#endif							/* PRIVACY_KINDS_H */

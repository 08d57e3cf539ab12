/*-------------------------------------------------------------------------
 * label_parse.h
 *	  The grammar of privacy security labels: a pure parser, no catalog access.
 *
 * Column labels:  SUBJECT [<kind>] [ANONYMIZE WITH <method>] [OWNER | REFERENCE]
 *                 CATEGORY <name> [MASK WITH <function>]
 *                             [RETAIN <interval> AFTER <column> [THEN ANONYMIZE]]
 *                             [ANONYMIZE WITH <method>] [OWNER | REFERENCE]
 *                 OWNER | REFERENCE (on a foreign key's column: whether the
 *                             key says whose row it is, or only refers to a subject)
 *   <kind>:       a lower-case word, the kind of subject (default person)
 *   <method>:     NULL | PLACEHOLDER | PSEUDONYM | FF1 | GENERALIZE <level> | KEEP
 * Table labels:   ON CANCEL { DELETE | ANONYMIZE | KEEP UNTIL RETENTION }
 *                 RETAIN <interval> AFTER <column> [THEN { DELETE | ANONYMIZE }]
 * Keywords are case-insensitive; clauses may come in any order, once each.
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_LABEL_PARSE_H
#define PRIVACY_LABEL_PARSE_H

typedef enum PrivacyAction
{
	PRIVACY_ACTION_NONE = 0,
	PRIVACY_ACTION_DELETE,
	PRIVACY_ACTION_ANONYMIZE,
	PRIVACY_ACTION_KEEP			/* KEEP UNTIL RETENTION */
} PrivacyAction;

/* how anonymize_table rewrites a column (ANONYMIZE WITH) */
typedef enum PrivacyAnonymize
{
	PRIVACY_ANON_NONE = 0,
	PRIVACY_ANON_NULL,
	PRIVACY_ANON_PLACEHOLDER,
	PRIVACY_ANON_PSEUDONYM,
	PRIVACY_ANON_FF1,
	PRIVACY_ANON_GENERALIZE,
	PRIVACY_ANON_KEEP
} PrivacyAnonymize;

/* what a foreign key through a column means (OWNER, REFERENCE) */
typedef enum PrivacyLink
{
	PRIVACY_LINK_NONE = 0,		/* decided from the schema */
	PRIVACY_LINK_OWNER,
	PRIVACY_LINK_REFERENCE
} PrivacyLink;

#define PRIVACY_DEFAULT_KIND "person"
#define PRIVACY_KIND_MAXLEN 63
/* the longest retention a label may give, in years */
#define PRIVACY_RETAIN_MAX_YEARS 200

#define PRIVACY_GENERALIZE_MAX 9

typedef struct PrivacyLabel
{
	bool		is_table;
	bool		subject;		/* SUBJECT */
	char	   *subject_kind;	/* SUBJECT <kind>, lower case; NULL: the default */
	PrivacyLink link;			/* OWNER or REFERENCE */
	char	   *category;		/* CATEGORY, lower case; NULL if absent */
	char	   *mask_schema;	/* MASK WITH schema, NULL if unqualified */
	char	   *mask_name;		/* MASK WITH function; NULL if absent */
	bool		has_retain;		/* RETAIN ... AFTER ... */
	int32		retain_months;
	int32		retain_days;
	int64		retain_usecs;
	char	   *retain_after;	/* the AFTER column */
	PrivacyAction retain_then;	/* DELETE or ANONYMIZE */
	PrivacyAction on_cancel;	/* tables only */
	PrivacyAnonymize anonymize; /* ANONYMIZE WITH; columns only */
	int32		anonymize_level;	/* GENERALIZE <level>, 1..9 */
} PrivacyLabel;

typedef enum PrivacyLabelErrorKind
{
	PRIVACY_LABEL_OK = 0,
	PRIVACY_LABEL_SYNTAX,		/* unknown keyword, missing token, duplicate */
	PRIVACY_LABEL_INTERVAL,		/* malformed RETAIN interval */
	PRIVACY_LABEL_CONFLICT		/* clauses that cannot go together */
} PrivacyLabelErrorKind;

typedef struct PrivacyLabelError
{
	PrivacyLabelErrorKind kind;
	char	   *message;		/* lower case, no period */
	char	   *detail;			/* a full sentence, or NULL */
} PrivacyLabelError;

extern bool privacy_label_parse(const char *text, bool is_table,
								PrivacyLabel *label, PrivacyLabelError *error);
extern const char *privacy_action_name(PrivacyAction action);
extern char *privacy_anonymize_text(const PrivacyLabel *label);

#endif							/* PRIVACY_LABEL_PARSE_H */

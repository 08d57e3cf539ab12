/*-------------------------------------------------------------------------
 * validators.h
 *	  Value validators used by discovery: pure functions over a byte string,
 *	  no server state (today's date is passed in), so a fuzzer can drive them.
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_VALIDATORS_H
#define PRIVACY_VALIDATORS_H

/* values longer than this are not personal identifiers of any kind here */
#define VALIDATOR_MAX_LEN 254

typedef struct ValidatorDate
{
	int			year;
	int			month;
	int			day;
} ValidatorDate;

typedef bool (*ValidatorFn) (const char *s, int len, const ValidatorDate *today);

typedef struct Validator
{
	const char *name;
	const char *category;
	/* a match counts only when a name rule suggests the same category */
	bool		supporting;
	/* confidence that a column of such values holds this category */
	double		strength;
	ValidatorFn fn;
	const char *description;
} Validator;

extern const Validator privacy_validators[];
extern const int privacy_validator_count;

extern const Validator *privacy_validator_find(const char *name);

/* the kinds of personal data privacy_text_scan finds inside a text */
#define TEXT_MOBILE		0x01
#define TEXT_ID_NUMBER	0x02
#define TEXT_EMAIL		0x04
#define TEXT_BANK_CARD	0x08
#define TEXT_KINDS		4

/* called for each span [start, end) found, in order, never overlapping */
typedef void (*TextSpanFn) (int kind, int start, int end, void *arg);

extern int	privacy_text_scan(const char *s, int len, const ValidatorDate *today,
							  TextSpanFn fn, void *arg);

#endif							/* PRIVACY_VALIDATORS_H */

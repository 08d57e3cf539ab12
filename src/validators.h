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

#endif							/* PRIVACY_VALIDATORS_H */

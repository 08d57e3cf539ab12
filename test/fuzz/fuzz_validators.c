/*-------------------------------------------------------------------------
 * test/fuzz/fuzz_validators.c
 *	  Every discovery validator (src/validators.c) on one value.  Input: two
 *	  bytes for the day it runs ("today", as birth-date checks need one),
 *	  then the value, given by length without a terminating NUL, 1 to
 *	  VALIDATOR_MAX_LEN bytes, as discovery passes it.  A validator must read
 *	  nothing past the value and give the same answer every time; so must the
 *	  scanner of personal data inside text (privacy_text_scan).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "validators.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ValidatorDate today;
	char	   *value;
	int			len;
	int			i;

	if (size < 3 || size - 2 > VALIDATOR_MAX_LEN)
		return 0;
	today.year = 1990 + data[0] % 100;
	today.month = 1 + data[1] % 12;
	today.day = 1 + (data[1] / 12) % 28;
	len = size - 2;
	/* exactly len bytes: a read past the value is caught */
	value = malloc(len);
	memcpy(value, data + 2, len);
	for (i = 0; i < privacy_validator_count; i++)
	{
		const Validator *v = &privacy_validators[i];
		bool		first = v->fn(value, len, &today);

		FUZZ_CHECK(v->fn(value, len, &today) == first);
		FUZZ_CHECK(privacy_validator_find(v->name) == v);
	}
	/* the text scanner: the same kinds every time, spans inside the value */
	{
		int			found = privacy_text_scan(value, len, &today, NULL, NULL);

		FUZZ_CHECK(privacy_text_scan(value, len, &today, NULL, NULL) == found);
		FUZZ_CHECK((found & ~((1 << TEXT_KINDS) - 1)) == 0);
	}
	free(value);
	return 0;
}

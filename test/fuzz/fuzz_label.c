/*-------------------------------------------------------------------------
 * test/fuzz/fuzz_label.c
 *	  The label grammar (src/label_parse.c).  Input: one byte, odd for a table
 *	  label, then the label text.  The parser must never crash or raise, and
 *	  what it accepts must be consistent: a category is a lower-case dotted
 *	  name, a level is 1..9, a retention is positive, a table label has no
 *	  column clauses and a column label no table clauses; an error has a
 *	  message.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "label_parse.h"

#include "fuzz.h"

typedef struct LabelCall
{
	const char *text;
	bool		is_table;
	bool		ok;
	PrivacyLabel label;
	PrivacyLabelError error;
	char	   *anonymize;
} LabelCall;

static void
label_call(void *arg)
{
	LabelCall  *c = (LabelCall *) arg;

	c->ok = privacy_label_parse(c->text, c->is_table, &c->label, &c->error);
	c->anonymize = c->ok ? privacy_anonymize_text(&c->label) : NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	LabelCall	c;
	char	   *text;
	const char *p;

	if (size < 1 || !fuzz_valid_utf8(data + 1, size - 1))
		return 0;
	text = palloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	memset(&c, 0, sizeof(c));
	c.text = text;
	c.is_table = data[0] & 1;

	/* the parser reports errors in its result, never by raising */
	FUZZ_CHECK(fuzz_call(label_call, &c));
	if (!c.ok)
	{
		FUZZ_CHECK(c.error.kind != PRIVACY_LABEL_OK);
		FUZZ_CHECK(c.error.message != NULL && c.error.message[0] != '\0');
	}
	else if (c.is_table)
	{
		FUZZ_CHECK(!c.label.subject && c.label.category == NULL && c.label.mask_name == NULL);
		FUZZ_CHECK(c.label.anonymize == PRIVACY_ANON_NONE);
	}
	else
	{
		FUZZ_CHECK(c.label.on_cancel == PRIVACY_ACTION_NONE);
		if (c.label.category)
		{
			FUZZ_CHECK(c.label.category[0] != '\0');
			for (p = c.label.category; *p; p++)
				FUZZ_CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.');
		}
		if (c.label.anonymize == PRIVACY_ANON_GENERALIZE)
			FUZZ_CHECK(c.label.anonymize_level >= 1 && c.label.anonymize_level <= PRIVACY_GENERALIZE_MAX);
		FUZZ_CHECK((c.label.anonymize == PRIVACY_ANON_NONE) == (c.anonymize == NULL));
	}
	if (c.ok && c.label.has_retain)
	{
		FUZZ_CHECK(c.label.retain_months >= 0 && c.label.retain_days >= 0 && c.label.retain_usecs >= 0);
		FUZZ_CHECK(c.label.retain_months > 0 || c.label.retain_days > 0 || c.label.retain_usecs > 0);
		FUZZ_CHECK(c.label.retain_after != NULL && c.label.retain_after[0] != '\0');
	}
	fuzz_reset();
	return 0;
}

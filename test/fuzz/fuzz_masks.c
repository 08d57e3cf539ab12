/*-------------------------------------------------------------------------
 * test/fuzz/fuzz_masks.c
 *	  The masks (src/masks.c; mask_text with the scanner of validators.c),
 *	  called as the server calls them.  Input: one byte choosing the mask
 *	  (0xF0 and above: mask_text), two more (for mask_partial: keep_left
 *	  and keep_right), then the value, valid UTF-8 as the server would pass
 *	  it.  A mask must never raise on a valid value, must return valid UTF-8
 *	  of as many characters as the value, and must keep no more of it than
 *	  its documentation says.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "fuzz.h"

extern Datum privacy_mask_phone(PG_FUNCTION_ARGS);
extern Datum privacy_mask_bank_card(PG_FUNCTION_ARGS);
extern Datum privacy_mask_id_number(PG_FUNCTION_ARGS);
extern Datum privacy_mask_email(PG_FUNCTION_ARGS);
extern Datum privacy_mask_name(PG_FUNCTION_ARGS);
extern Datum privacy_mask_partial(PG_FUNCTION_ARGS);
extern Datum privacy_mask_text(PG_FUNCTION_ARGS);

typedef struct MaskCall
{
	PGFunction	fn;
	text	   *value;
	int32		left;
	int32		right;
	text	   *result;
} MaskCall;

static void
mask_call(void *arg)
{
	MaskCall   *c = (MaskCall *) arg;
	LOCAL_FCINFO(fcinfo, 4);

	InitFunctionCallInfoData(*fcinfo, NULL, 4, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = PointerGetDatum(c->value);
	fcinfo->args[1].value = Int32GetDatum(c->left);
	fcinfo->args[2].value = Int32GetDatum(c->right);
	fcinfo->args[3].value = PointerGetDatum(cstring_to_text("*"));
	fcinfo->args[0].isnull = fcinfo->args[1].isnull = fcinfo->args[2].isnull = fcinfo->args[3].isnull = false;
	c->result = (text *) DatumGetPointer(c->fn(fcinfo));
}

/* characters of s[0..len) */
static int
chars(const char *s, int len)
{
	int			n = 0;
	int			i = 0;

	while (i < len)
	{
		i += fuzz_utf8_len((unsigned char) s[i]);
		n++;
	}
	return n;
}

/*
 * r is v with its first left and last right characters kept and every other
 * one '*', or all '*' when that would keep everything
 */
static bool
keeps_ends(const char *v, int vlen, const char *r, int rlen, int left, int right)
{
	int			n = chars(v, vlen);
	int			i = 0;
	int			j = 0;
	int			k;

	if (left + right >= n)
		left = right = 0;
	for (k = 0; k < n; k++)
	{
		int			l = fuzz_utf8_len((unsigned char) v[i]);

		if (k < left || k >= n - right)
		{
			if (j + l > rlen || memcmp(v + i, r + j, l) != 0)
				return false;
			j += l;
		}
		else
		{
			if (j >= rlen || r[j] != '*')
				return false;
			j++;
		}
		i += l;
	}
	return j == rlen;
}

/* digits of s[0..len) */
static int
digits(const char *s, int len)
{
	int			n = 0;
	int			i;

	for (i = 0; i < len; i++)
		if (s[i] >= '0' && s[i] <= '9')
			n++;
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const PGFunction masks[] = {
		privacy_mask_phone, privacy_mask_bank_card, privacy_mask_id_number,
		privacy_mask_email, privacy_mask_name, privacy_mask_partial, privacy_mask_text
	};
	MaskCall	c;
	int			which;
	const char *v;
	const char *r;
	int			vlen;
	int			rlen;

	if (size < 3 || !fuzz_valid_utf8(data + 3, size - 3))
		return 0;
	/* (the first six keep the choice they had before mask_text came) */
	which = data[0] >= 0xF0 ? lengthof(masks) - 1 : data[0] % (lengthof(masks) - 1);
	memset(&c, 0, sizeof(c));
	c.fn = masks[which];
	c.left = data[1] % 32;
	c.right = data[2] % 32;
	c.value = cstring_to_text_with_len((const char *) data + 3, size - 3);

	FUZZ_CHECK(fuzz_call(mask_call, &c));
	v = VARDATA_ANY(c.value);
	vlen = VARSIZE_ANY_EXHDR(c.value);
	r = VARDATA_ANY(c.result);
	rlen = VARSIZE_ANY_EXHDR(c.result);
	FUZZ_CHECK(fuzz_valid_utf8((const uint8 *) r, rlen));
	FUZZ_CHECK(chars(r, rlen) == chars(v, vlen));
	if (c.fn == privacy_mask_phone || c.fn == privacy_mask_bank_card)
	{
		/* digits masked in place; at most 7 digits kept (a country code of 3 and 4) */
		FUZZ_CHECK(rlen == vlen);
		FUZZ_CHECK(digits(r, rlen) <= 7);
		FUZZ_CHECK(digits(r, rlen) == 0 || digits(r, rlen) < digits(v, vlen));
	}
	if (c.fn == privacy_mask_id_number)
	{
		int			n = chars(v, vlen);

		FUZZ_CHECK(keeps_ends(v, vlen, r, rlen, n >= 10 ? 3 : n >= 4 ? 1 : 0, n >= 10 ? 4 : n >= 4 ? 1 : 0));
	}
	if (c.fn == privacy_mask_partial)
		FUZZ_CHECK(keeps_ends(v, vlen, r, rlen, c.left, c.right));
	if (c.fn == privacy_mask_text)
	{
		/* masked in place: only ASCII digits and e-mail local parts become '*' */
		int			i;

		FUZZ_CHECK(rlen == vlen);
		for (i = 0; i < vlen; i++)
			FUZZ_CHECK(r[i] == v[i] ||
					   (r[i] == '*' && ((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'z') ||
										(v[i] >= 'A' && v[i] <= 'Z') || v[i] == '.' || v[i] == '_' ||
										v[i] == '%' || v[i] == '+' || v[i] == '-' || v[i] == 'X')));
	}
	fuzz_reset();
	return 0;
}

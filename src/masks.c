/*-------------------------------------------------------------------------
 * masks.c
 *	  Display masks: phone numbers, e-mail addresses, resident ID numbers, bank
 *	  cards, names, and a general partial mask.
 *
 * Masks count characters, not bytes (any server encoding), keep separators
 * such as spaces and dashes where they are, and never reveal a whole value:
 * a value too short to mask partly is masked entirely.  They are display
 * masks: what they keep (the last digits of a card, the first character of a
 * name) is meant to be seen.  Anonymization uses other transforms.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "privacy.h"
#include "validators.h"

/* a text split into characters: byte offset and length of each */
typedef struct MaskChars
{
	const char *s;
	int			n;
	int		   *off;
	int		   *len;
} MaskChars;

static void
mask_split(text *t, MaskChars *mc)
{
	const char *s = VARDATA_ANY(t);
	int			bytes = VARSIZE_ANY_EXHDR(t);
	int			i = 0;

	mc->s = s;
	mc->off = palloc(sizeof(int) * (bytes + 1));
	mc->len = palloc(sizeof(int) * (bytes + 1));
	mc->n = 0;
	while (i < bytes)
	{
		int			l = pg_mblen(s + i);

		if (l > bytes - i)
			l = bytes - i;
		mc->off[mc->n] = i;
		mc->len[mc->n] = l;
		mc->n++;
		i += l;
	}
}

/* build the output: characters with keep[i] stay, others become fill */
static text *
mask_build(const MaskChars *mc, const bool *keep, const char *fill, int filllen)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < mc->n; i++)
	{
		if (keep[i])
			appendBinaryStringInfo(&buf, mc->s + mc->off[i], mc->len[i]);
		else
			appendBinaryStringInfo(&buf, fill, filllen);
	}
	return cstring_to_text_with_len(buf.data, buf.len);
}

/*
 * Mask the digits of the value, keeping the first keep_first and the last
 * keep_last of them; every other character is kept.  Byte-wise: in every
 * server encoding an ASCII byte is always a whole character, so a digit byte
 * is a digit and replacing it by '*' keeps the text valid.
 */
static text *
mask_digits(text *t, int keep_first, int keep_last)
{
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	text	   *out = (text *) palloc(VARHDRSZ + len);
	char	   *d = VARDATA(out);
	int			ndigits = 0;
	int			seen = 0;
	int			i;

	for (i = 0; i < len; i++)
		if (s[i] >= '0' && s[i] <= '9')
			ndigits++;
	if (keep_first + keep_last >= ndigits)
		keep_first = keep_last = 0;
	SET_VARSIZE(out, VARHDRSZ + len);
	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c >= '0' && c <= '9')
		{
			d[i] = (seen < keep_first || seen >= ndigits - keep_last) ? c : '*';
			seen++;
		}
		else
			d[i] = c;
	}
	return out;
}

/* length of the E.164 country code that starts the digit string d */
static int
mask_country_code_len(const char *d, int n)
{
	static const char *const two[] = {
		"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44",
		"45", "46", "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58",
		"60", "61", "62", "63", "64", "65", "66", "81", "82", "84", "86", "90", "91",
		"92", "93", "94", "95", "98"
	};
	int			i;

	if (n >= 1 && (d[0] == '1' || d[0] == '7'))
		return 1;
	for (i = 0; i < lengthof(two); i++)
		if (n >= 2 && d[0] == two[i][0] && d[1] == two[i][1])
			return 2;
	return 3;
}

PG_FUNCTION_INFO_V1(privacy_mask_phone);

/*
 * privacy.mask_phone(text): E.164 numbers (+...) keep the country code and the
 * last 4 digits; 11 or more digits keep the first 3 and last 4 (mainland
 * mobile: 138****5678); 7 to 10 digits keep the last 4; shorter: all masked.
 */
Datum
privacy_mask_phone(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	char		digits[3];
	int			nd = 0;
	int			i;
	bool		plus = false;

	for (i = 0; i < len; i++)
	{
		if (s[i] >= '0' && s[i] <= '9')
		{
			if (nd < (int) sizeof(digits))
				digits[nd] = s[i];
			nd++;
		}
		else if (nd == 0 && s[i] == '+')
			plus = true;
	}
	if (plus && nd >= 8)
		PG_RETURN_TEXT_P(mask_digits(t, mask_country_code_len(digits, Min(nd, 3)), 4));
	if (nd >= 11)
		PG_RETURN_TEXT_P(mask_digits(t, 3, 4));
	if (nd >= 7)
		PG_RETURN_TEXT_P(mask_digits(t, 0, 4));
	PG_RETURN_TEXT_P(mask_digits(t, 0, 0));
}

PG_FUNCTION_INFO_V1(privacy_mask_bank_card);

/* privacy.mask_bank_card(text): only the last 4 digits stay (8 digits or more) */
Datum
privacy_mask_bank_card(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	int			nd = 0;
	int			i;

	for (i = 0; i < len; i++)
		if (s[i] >= '0' && s[i] <= '9')
			nd++;
	PG_RETURN_TEXT_P(mask_digits(t, 0, nd >= 8 ? 4 : 0));
}

/* keep the first left and last right characters; mask all if that is everything */
static text *
mask_keep_ends(const MaskChars *mc, int left, int right, const char *fill, int filllen)
{
	bool	   *keep = palloc(sizeof(bool) * (mc->n + 1));
	int			i;

	if ((int64) left + right >= mc->n)
		left = right = 0;
	for (i = 0; i < mc->n; i++)
		keep[i] = i < left || i >= mc->n - right;
	return mask_build(mc, keep, fill, filllen);
}

PG_FUNCTION_INFO_V1(privacy_mask_id_number);

/*
 * privacy.mask_id_number(text): 10 characters or more keep the first 3 and the
 * last 4 (110***********1234 for an 18-character resident ID, hiding region
 * detail and birth date); 4 to 9 keep the first and the last; shorter: all.
 */
Datum
privacy_mask_id_number(PG_FUNCTION_ARGS)
{
	MaskChars	mc;

	mask_split(PG_GETARG_TEXT_PP(0), &mc);
	if (mc.n >= 10)
		PG_RETURN_TEXT_P(mask_keep_ends(&mc, 3, 4, "*", 1));
	if (mc.n >= 4)
		PG_RETURN_TEXT_P(mask_keep_ends(&mc, 1, 1, "*", 1));
	PG_RETURN_TEXT_P(mask_keep_ends(&mc, 0, 0, "*", 1));
}

PG_FUNCTION_INFO_V1(privacy_mask_email);

/*
 * privacy.mask_email(text): the local part keeps its first character, the
 * domain stays (z*******@example.com); a one-character local part is masked
 * whole; a value without @ keeps only its first character.
 */
Datum
privacy_mask_email(PG_FUNCTION_ARGS)
{
	MaskChars	mc;
	bool	   *keep;
	int			at = -1;
	int			i;

	mask_split(PG_GETARG_TEXT_PP(0), &mc);
	for (i = 0; i < mc.n; i++)
		if (mc.len[i] == 1 && mc.s[mc.off[i]] == '@')
			at = i;
	if (at < 0)
		PG_RETURN_TEXT_P(mask_keep_ends(&mc, 1, 0, "*", 1));
	keep = palloc(sizeof(bool) * (mc.n + 1));
	for (i = 0; i < mc.n; i++)
		keep[i] = i >= at || (i == 0 && at > 1);
	PG_RETURN_TEXT_P(mask_build(&mc, keep, "*", 1));
}

static inline bool
mask_is_space(const MaskChars *mc, int i)
{
	char		c = mc->s[mc->off[i]];

	return mc->len[i] == 1 && (c == ' ' || c == '\t' || c == '\n' || c == '\r');
}

PG_FUNCTION_INFO_V1(privacy_mask_name);

/*
 * privacy.mask_name(text): the first word keeps its first character, later
 * words keep theirs only when they are longer than one character (张** for
 * 张三丰, J*** D** for John Doe, 李 * for 李 四); a one-character name is
 * masked whole.
 */
Datum
privacy_mask_name(PG_FUNCTION_ARGS)
{
	MaskChars	mc;
	bool	   *keep;
	int			words = 0;
	int			letters = 0;
	int			i;

	mask_split(PG_GETARG_TEXT_PP(0), &mc);
	keep = palloc(sizeof(bool) * (mc.n + 1));
	for (i = 0; i < mc.n; i++)
		if (!mask_is_space(&mc, i))
			letters++;
	for (i = 0; i < mc.n; i++)
	{
		bool		word_start;
		bool		longer;

		if (mask_is_space(&mc, i))
		{
			keep[i] = true;
			continue;
		}
		word_start = i == 0 || mask_is_space(&mc, i - 1);
		if (!word_start)
		{
			keep[i] = false;
			continue;
		}
		longer = i + 1 < mc.n && !mask_is_space(&mc, i + 1);
		keep[i] = words == 0 ? letters > 1 : longer;
		words++;
	}
	PG_RETURN_TEXT_P(mask_build(&mc, keep, "*", 1));
}

PG_FUNCTION_INFO_V1(privacy_mask_partial);

/*
 * privacy.mask_partial(value text, keep_left int, keep_right int, fill text):
 * keep keep_left characters on the left and keep_right on the right, and put
 * one fill character for each character between; when nothing would be
 * masked, everything is.
 */
Datum
privacy_mask_partial(PG_FUNCTION_ARGS)
{
	MaskChars	mc;
	int32		left = PG_GETARG_INT32(1);
	int32		right = PG_GETARG_INT32(2);
	text	   *fill = PG_GETARG_TEXT_PP(3);
	int			filllen = VARSIZE_ANY_EXHDR(fill);

	if (left < 0 || right < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep_left and keep_right must not be negative")));
	if (filllen == 0 || pg_mbstrlen_with_len(VARDATA_ANY(fill), filllen) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fill must be exactly one character")));
	mask_split(PG_GETARG_TEXT_PP(0), &mc);
	PG_RETURN_TEXT_P(mask_keep_ends(&mc, left, right, VARDATA_ANY(fill), filllen));
}

/* ------------------------------------------------------------------------
 * Personal data inside free text (privacy.mask_text, privacy.text_contains):
 * the spans validators.c finds, each masked as its own mask would
 * ------------------------------------------------------------------------
 */

/*
 * The day the scanner takes for "today": none, so that an ID number with a
 * birth date in the future is masked too, and the masks do not depend on
 * the date (they stay IMMUTABLE).
 */
static const ValidatorDate mask_no_today = {9999, 12, 31};

typedef struct MaskTextState
{
	const char *s;
	char	   *out;			/* a copy of s, masked in place */
} MaskTextState;

/*
 * Mask one span in place, byte-wise (all ASCII): a mobile number keeps its
 * country code, first three and last four digits; an ID number its first
 * three and last four characters; a card its last four digits; an e-mail
 * address the first character of its local part and its domain.
 */
static void
mask_text_span(int kind, int start, int end, void *arg)
{
	MaskTextState *st = (MaskTextState *) arg;
	char	   *d = st->out;
	int			ndigits = 0;
	int			seen = 0;
	int			keep_first = 0;
	int			keep_last = 0;
	int			i;

	if (kind == TEXT_EMAIL)
	{
		for (i = start; i < end && d[i] != '@'; i++)
			if (i > start || (i + 1 < end && d[i + 1] == '@'))
				d[i] = '*';
		return;
	}
	if (kind == TEXT_ID_NUMBER)
	{
		for (i = start + 3; i < end - 4; i++)
			d[i] = '*';
		return;
	}
	for (i = start; i < end; i++)
		if (d[i] >= '0' && d[i] <= '9')
			ndigits++;
	if (kind == TEXT_MOBILE)
	{
		keep_first = ndigits - 8;
		keep_last = 4;
	}
	else
		keep_last = 4;
	for (i = start; i < end; i++)
		if (d[i] >= '0' && d[i] <= '9')
		{
			if (!(seen < keep_first || seen >= ndigits - keep_last))
				d[i] = '*';
			seen++;
		}
}

/* quick reject: text with neither a digit nor an @ holds nothing of these */
static bool
mask_text_candidate(const char *s, int len)
{
	int			i;

	for (i = 0; i < len; i++)
		if ((s[i] >= '0' && s[i] <= '9') || s[i] == '@')
			return true;
	return false;
}

/*
 * privacy.mask_text(value text) -> text: the text with every mobile number,
 * resident ID number, e-mail address and bank card inside it masked, the
 * rest as it was.
 */
PG_FUNCTION_INFO_V1(privacy_mask_text);

Datum
privacy_mask_text(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	MaskTextState st;
	text	   *out;

	if (!mask_text_candidate(s, len))
		PG_RETURN_TEXT_P(t);
	out = (text *) palloc(VARHDRSZ + len);
	SET_VARSIZE(out, VARHDRSZ + len);
	memcpy(VARDATA(out), s, len);
	st.s = s;
	st.out = VARDATA(out);
	privacy_text_scan(s, len, &mask_no_today, mask_text_span, &st);
	PG_RETURN_TEXT_P(out);
}

/*
 * privacy.text_contains(value text) -> text[]: the kinds of personal data
 * found inside the text (mobile, id_number, email, bank_card), in that order;
 * an empty array when none.  Never the values.
 */
PG_FUNCTION_INFO_V1(privacy_text_contains);

Datum
privacy_text_contains(PG_FUNCTION_ARGS)
{
	static const char *const names[TEXT_KINDS] = {"mobile", "id_number", "email", "bank_card"};
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	Datum		kinds[TEXT_KINDS];
	int			n = 0;
	int			found = 0;
	int			i;

	if (mask_text_candidate(s, len))
		found = privacy_text_scan(s, len, &mask_no_today, NULL, NULL);
	for (i = 0; i < TEXT_KINDS; i++)
		if (found & (1 << i))
			kinds[n++] = CStringGetTextDatum(names[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(kinds, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*-------------------------------------------------------------------------
 * label_parse.c
 *	  Parser for the text of privacy security labels (grammar in label_parse.h).
 *
 * The parser only reads the text: it does not look at catalogs, so the same
 * code validates labels in the provider hook, decodes them for the inventory
 * views, and can be driven by a standalone fuzzer.  Errors are returned, not
 * raised, with the character position of the offending token.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

#include "label_parse.h"

typedef enum LpTokType
{
	LP_END,
	LP_WORD,					/* unquoted word: letters, digits, _, $ */
	LP_QIDENT,					/* "quoted identifier" */
	LP_DOT,
	LP_BAD						/* any other character */
} LpTokType;

typedef struct LpToken
{
	LpTokType	type;
	char	   *text;			/* WORD as written; QIDENT unescaped */
	int			pos;			/* 1-based character position */
} LpToken;

typedef struct LpState
{
	const char *input;
	const char *p;
	LpToken		tok;			/* current token */
	PrivacyLabelError *error;
} LpState;

#define LP_COLUMN_GRAMMAR \
	"Column labels are SUBJECT [<kind>], CATEGORY <name> [MASK WITH <function>], RETAIN <interval> AFTER <column> [THEN ANONYMIZE], ANONYMIZE WITH { NULL | PLACEHOLDER | PSEUDONYM | FF1 | GENERALIZE <level> | KEEP } and OWNER or REFERENCE."
#define LP_TABLE_GRAMMAR \
	"Table labels are ON CANCEL { DELETE | ANONYMIZE | KEEP UNTIL RETENTION } and RETAIN <interval> AFTER <column> [THEN { DELETE | ANONYMIZE }]."
#define LP_INTERVAL_FORM \
	"A retention interval is one or more pairs of a whole number and a unit (years, months, weeks, days, hours, minutes), such as \"6 months\" or \"1 year 6 months\"."

/* character position (1-based, counting UTF-8 characters) of a pointer */
static int
lp_charpos(const char *start, const char *at)
{
	int			n = 1;

	for (; start < at; start++)
		if ((*start & 0xC0) != 0x80)
			n++;
	return n;
}

static bool
lp_is_word_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

static void
lp_next(LpState *st)
{
	const char *p = st->p;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v')
		p++;
	st->tok.pos = lp_charpos(st->input, p);
	st->tok.text = NULL;

	if (*p == '\0')
		st->tok.type = LP_END;
	else if (*p == '.')
	{
		st->tok.type = LP_DOT;
		st->tok.text = ".";
		p++;
	}
	else if (*p == '"')
	{
		StringInfoData buf;

		initStringInfo(&buf);
		p++;
		for (;;)
		{
			if (*p == '\0')
			{
				st->tok.type = LP_BAD;
				st->tok.text = "\"";
				st->p = p;
				return;
			}
			if (*p == '"')
			{
				if (p[1] == '"')
				{
					appendStringInfoChar(&buf, '"');
					p += 2;
					continue;
				}
				p++;
				break;
			}
			appendStringInfoChar(&buf, *p++);
		}
		st->tok.type = buf.len > 0 ? LP_QIDENT : LP_BAD;
		st->tok.text = buf.len > 0 ? buf.data : "\"\"";
	}
	else if (lp_is_word_char((unsigned char) *p))
	{
		const char *s = p;

		while (lp_is_word_char((unsigned char) *p))
			p++;
		st->tok.type = LP_WORD;
		st->tok.text = pnstrdup(s, p - s);
	}
	else
	{
		int			len = pg_mblen(p);
		int			i;

		/* keep a multibyte character whole; never run past the string */
		for (i = 0; i < len && p[i] != '\0'; i++)
			;
		st->tok.type = LP_BAD;
		st->tok.text = pnstrdup(p, i);
		p += i;
	}
	st->p = p;
}

static bool
lp_fail(LpState *st, PrivacyLabelErrorKind kind, char *message, char *detail)
{
	st->error->kind = kind;
	st->error->message = message;
	st->error->detail = detail;
	return false;
}

static bool
lp_keyword_is(const LpToken *tok, const char *kw)
{
	return tok->type == LP_WORD && pg_strcasecmp(tok->text, kw) == 0;
}

static const char *
lp_describe(const LpToken *tok)
{
	if (tok->type == LP_END)
		return "end of label";
	if (tok->type == LP_BAD && strcmp(tok->text, "\"") == 0)
		return "an unterminated quoted identifier";
	if (tok->type == LP_BAD && strcmp(tok->text, "\"\"") == 0)
		return "an empty quoted identifier";
	return psprintf("\"%s\"", tok->text);
}

/* expect a keyword, else a syntax error naming what was expected */
static bool
lp_expect(LpState *st, const char *kw, const char *after)
{
	if (!lp_keyword_is(&st->tok, kw))
		return lp_fail(st, PRIVACY_LABEL_SYNTAX,
					   psprintf("expected %s after %s at character %d of privacy label, found %s",
								kw, after, st->tok.pos, lp_describe(&st->tok)),
					   NULL);
	lp_next(st);
	return true;
}

/* an identifier: an unquoted word (folded to lower case) or a quoted one */
static bool
lp_ident(LpState *st, const char *what, char **out)
{
	if (st->tok.type == LP_QIDENT)
		*out = st->tok.text;
	else if (st->tok.type == LP_WORD && !isdigit((unsigned char) st->tok.text[0]))
	{
		char	   *s = pstrdup(st->tok.text);
		char	   *c;

		for (c = s; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c += 'a' - 'A';
		*out = s;
	}
	else
		return lp_fail(st, PRIVACY_LABEL_SYNTAX,
					   psprintf("expected %s at character %d of privacy label, found %s",
								what, st->tok.pos, lp_describe(&st->tok)),
					   NULL);
	lp_next(st);
	return true;
}

/* a category name: lower-case words joined by dots, e.g. contact.phone */
static bool
lp_category(LpState *st, char **out)
{
	StringInfoData buf;
	int			start = st->tok.pos;

	initStringInfo(&buf);
	for (;;)
	{
		const char *c;

		if (st->tok.type != LP_WORD || !isalpha((unsigned char) st->tok.text[0]))
			return lp_fail(st, PRIVACY_LABEL_SYNTAX,
						   psprintf("expected a category name at character %d of privacy label, found %s",
									st->tok.pos, lp_describe(&st->tok)),
						   pstrdup("Category names are words of letters, digits and underscores joined by dots, such as contact.phone."));
		for (c = st->tok.text; *c; c++)
		{
			if (!(isalnum((unsigned char) *c) || *c == '_'))
				return lp_fail(st, PRIVACY_LABEL_SYNTAX,
							   psprintf("invalid category name at character %d of privacy label", start),
							   pstrdup("Category names are words of letters, digits and underscores joined by dots, such as contact.phone."));
			appendStringInfoChar(&buf, pg_ascii_tolower((unsigned char) *c));
		}
		lp_next(st);
		if (st->tok.type != LP_DOT)
			break;
		appendStringInfoChar(&buf, '.');
		lp_next(st);
	}
	*out = buf.data;
	return true;
}

/* <interval>: one or more "<number> <unit>" pairs, up to AFTER */
static bool
lp_interval(LpState *st, PrivacyLabel *label)
{
	int64		months = 0;
	int64		days = 0;
	int64		usecs = 0;
	int			pairs = 0;
	int			start = st->tok.pos;

	while (!lp_keyword_is(&st->tok, "AFTER"))
	{
		int64		n = 0;
		const char *c;
		const char *u;

		if (st->tok.type == LP_END)
			break;
		if (st->tok.type != LP_WORD || !isdigit((unsigned char) st->tok.text[0]))
			return lp_fail(st, PRIVACY_LABEL_INTERVAL,
						   psprintf("malformed retention interval at character %d of privacy label: expected a whole number, found %s",
									st->tok.pos, lp_describe(&st->tok)),
						   pstrdup(LP_INTERVAL_FORM));
		for (c = st->tok.text; *c; c++)
		{
			if (!isdigit((unsigned char) *c))
				return lp_fail(st, PRIVACY_LABEL_INTERVAL,
							   psprintf("malformed retention interval at character %d of privacy label: expected a whole number, found %s",
										st->tok.pos, lp_describe(&st->tok)),
							   pstrdup(LP_INTERVAL_FORM));
			n = n * 10 + (*c - '0');
			if (n > 1000000)
				return lp_fail(st, PRIVACY_LABEL_INTERVAL,
							   psprintf("retention interval out of range at character %d of privacy label",
										st->tok.pos),
							   pstrdup("Each number in a retention interval must be at most 1000000."));
		}
		lp_next(st);
		if (st->tok.type != LP_WORD || lp_keyword_is(&st->tok, "AFTER"))
			return lp_fail(st, PRIVACY_LABEL_INTERVAL,
						   psprintf("malformed retention interval at character %d of privacy label: expected a unit, found %s",
									st->tok.pos, lp_describe(&st->tok)),
						   pstrdup(LP_INTERVAL_FORM));
		u = st->tok.text;
		if (pg_strcasecmp(u, "year") == 0 || pg_strcasecmp(u, "years") == 0)
			months += n * 12;
		else if (pg_strcasecmp(u, "month") == 0 || pg_strcasecmp(u, "months") == 0)
			months += n;
		else if (pg_strcasecmp(u, "week") == 0 || pg_strcasecmp(u, "weeks") == 0)
			days += n * 7;
		else if (pg_strcasecmp(u, "day") == 0 || pg_strcasecmp(u, "days") == 0)
			days += n;
		else if (pg_strcasecmp(u, "hour") == 0 || pg_strcasecmp(u, "hours") == 0)
			usecs += n * INT64CONST(3600000000);
		else if (pg_strcasecmp(u, "minute") == 0 || pg_strcasecmp(u, "minutes") == 0)
			usecs += n * INT64CONST(60000000);
		else
			return lp_fail(st, PRIVACY_LABEL_INTERVAL,
						   psprintf("malformed retention interval at character %d of privacy label: unknown unit %s",
									st->tok.pos, lp_describe(&st->tok)),
						   pstrdup(LP_INTERVAL_FORM));
		if (months > PG_INT32_MAX || days > PG_INT32_MAX)
			return lp_fail(st, PRIVACY_LABEL_INTERVAL,
						   psprintf("retention interval out of range at character %d of privacy label", start),
						   NULL);
		lp_next(st);
		pairs++;
	}
	if (pairs == 0)
		return lp_fail(st, PRIVACY_LABEL_INTERVAL,
					   psprintf("malformed retention interval at character %d of privacy label: expected an interval, found %s",
								st->tok.pos, lp_describe(&st->tok)),
					   pstrdup(LP_INTERVAL_FORM));
	if (months == 0 && days == 0 && usecs == 0)
		return lp_fail(st, PRIVACY_LABEL_INTERVAL,
					   psprintf("retention interval at character %d of privacy label must be longer than zero", start),
					   NULL);
	/* a cutoff of now minus the interval must stay a valid time */
	if ((double) months / 12.0 + (double) days / 365.25 + (double) usecs / (365.25 * 86400.0 * 1000000.0) >
		PRIVACY_RETAIN_MAX_YEARS)
		return lp_fail(st, PRIVACY_LABEL_INTERVAL,
					   psprintf("retention interval at character %d of privacy label is longer than %d years",
								start, PRIVACY_RETAIN_MAX_YEARS),
					   psprintf("A retention interval may be at most %d years.", PRIVACY_RETAIN_MAX_YEARS));
	label->retain_months = (int32) months;
	label->retain_days = (int32) days;
	label->retain_usecs = usecs;
	return true;
}

#define LP_KIND_FORM \
	"A subject kind is a lower-case word of letters, digits and underscores, starting with a letter, such as org."

/* the words that start a clause (and so cannot be a subject kind) */
static bool
lp_clause_keyword(const LpToken *tok)
{
	static const char *const kws[] = {"SUBJECT", "CATEGORY", "MASK", "RETAIN", "ANONYMIZE",
	"OWNER", "REFERENCE", "ON", NULL};
	int			i;

	for (i = 0; kws[i]; i++)
		if (lp_keyword_is(tok, kws[i]))
			return true;
	return false;
}

/* SUBJECT <kind>: the current token is a word */
static bool
lp_kind(LpState *st, char **out)
{
	const char *c;
	char	   *s;
	char	   *d;

	if (!isalpha((unsigned char) st->tok.text[0]) || strlen(st->tok.text) > PRIVACY_KIND_MAXLEN)
		return lp_fail(st, PRIVACY_LABEL_SYNTAX,
					   psprintf("invalid subject kind at character %d of privacy label", st->tok.pos),
					   pstrdup(LP_KIND_FORM));
	s = palloc(strlen(st->tok.text) + 1);
	d = s;
	for (c = st->tok.text; *c; c++)
	{
		if (!(isalnum((unsigned char) *c) || *c == '_') || (unsigned char) *c >= 0x80)
			return lp_fail(st, PRIVACY_LABEL_SYNTAX,
						   psprintf("invalid subject kind at character %d of privacy label", st->tok.pos),
						   pstrdup(LP_KIND_FORM));
		*d++ = pg_ascii_tolower((unsigned char) *c);
	}
	*d = '\0';
	*out = s;
	lp_next(st);
	return true;
}

static bool
lp_duplicate(LpState *st, const char *clause, int pos)
{
	return lp_fail(st, PRIVACY_LABEL_SYNTAX,
				   psprintf("%s appears more than once in privacy label (character %d)", clause, pos),
				   pstrdup("Each clause may be given once."));
}

static bool
lp_misplaced(LpState *st, const char *clause, bool is_table)
{
	return lp_fail(st, PRIVACY_LABEL_SYNTAX,
				   psprintf("%s at character %d belongs on a %s, not on a %s",
							clause, st->tok.pos,
							is_table ? "column" : "table",
							is_table ? "table" : "column"),
				   pstrdup(is_table ? LP_TABLE_GRAMMAR : LP_COLUMN_GRAMMAR));
}

/* RETAIN <interval> AFTER <column> [THEN ...]; the current token is RETAIN */
static bool
lp_retain(LpState *st, PrivacyLabel *label)
{
	lp_next(st);
	if (!lp_interval(st, label))
		return false;
	if (!lp_expect(st, "AFTER", "the retention interval"))
		return false;
	if (!lp_ident(st, "a column name after AFTER", &label->retain_after))
		return false;
	label->has_retain = true;
	label->retain_then = label->is_table ? PRIVACY_ACTION_DELETE : PRIVACY_ACTION_ANONYMIZE;
	if (lp_keyword_is(&st->tok, "THEN"))
	{
		lp_next(st);
		if (lp_keyword_is(&st->tok, "DELETE"))
		{
			if (!label->is_table)
				return lp_fail(st, PRIVACY_LABEL_CONFLICT,
							   psprintf("RETAIN on a column cannot DELETE (character %d of privacy label)", st->tok.pos),
							   pstrdup("Column retention anonymizes the column and keeps the row; to delete whole rows, put RETAIN on the table."));
			label->retain_then = PRIVACY_ACTION_DELETE;
		}
		else if (lp_keyword_is(&st->tok, "ANONYMIZE"))
			label->retain_then = PRIVACY_ACTION_ANONYMIZE;
		else
			return lp_fail(st, PRIVACY_LABEL_SYNTAX,
						   psprintf("expected DELETE or ANONYMIZE after THEN at character %d of privacy label, found %s",
									st->tok.pos, lp_describe(&st->tok)),
						   NULL);
		lp_next(st);
	}
	return true;
}

/* ON CANCEL { DELETE | ANONYMIZE | KEEP UNTIL RETENTION }; current token is ON */
static bool
lp_on_cancel(LpState *st, PrivacyLabel *label)
{
	lp_next(st);
	if (!lp_expect(st, "CANCEL", "ON"))
		return false;
	if (lp_keyword_is(&st->tok, "DELETE"))
		label->on_cancel = PRIVACY_ACTION_DELETE;
	else if (lp_keyword_is(&st->tok, "ANONYMIZE"))
		label->on_cancel = PRIVACY_ACTION_ANONYMIZE;
	else if (lp_keyword_is(&st->tok, "KEEP"))
	{
		lp_next(st);
		if (!lp_expect(st, "UNTIL", "KEEP"))
			return false;
		if (!lp_keyword_is(&st->tok, "RETENTION"))
			return lp_expect(st, "RETENTION", "KEEP UNTIL");
		label->on_cancel = PRIVACY_ACTION_KEEP;
	}
	else
		return lp_fail(st, PRIVACY_LABEL_SYNTAX,
					   psprintf("expected DELETE, ANONYMIZE or KEEP UNTIL RETENTION after ON CANCEL at character %d of privacy label, found %s",
								st->tok.pos, lp_describe(&st->tok)),
					   NULL);
	lp_next(st);
	return true;
}

/* ANONYMIZE WITH <method>; the current token is ANONYMIZE */
static bool
lp_anonymize(LpState *st, PrivacyLabel *label)
{
	lp_next(st);
	if (!lp_expect(st, "WITH", "ANONYMIZE"))
		return false;
	if (lp_keyword_is(&st->tok, "NULL"))
		label->anonymize = PRIVACY_ANON_NULL;
	else if (lp_keyword_is(&st->tok, "PLACEHOLDER"))
		label->anonymize = PRIVACY_ANON_PLACEHOLDER;
	else if (lp_keyword_is(&st->tok, "PSEUDONYM"))
		label->anonymize = PRIVACY_ANON_PSEUDONYM;
	else if (lp_keyword_is(&st->tok, "FF1"))
		label->anonymize = PRIVACY_ANON_FF1;
	else if (lp_keyword_is(&st->tok, "KEEP"))
		label->anonymize = PRIVACY_ANON_KEEP;
	else if (lp_keyword_is(&st->tok, "GENERALIZE"))
	{
		const char *t;

		lp_next(st);
		t = st->tok.text;
		if (st->tok.type != LP_WORD || strlen(t) != 1 || t[0] < '1' || t[0] > '0' + PRIVACY_GENERALIZE_MAX)
			return lp_fail(st, PRIVACY_LABEL_SYNTAX,
						   psprintf("expected a level from 1 to %d after GENERALIZE at character %d of privacy label, found %s",
									PRIVACY_GENERALIZE_MAX, st->tok.pos, lp_describe(&st->tok)),
						   pstrdup("The level is a step of the column type's generalization hierarchy (see privacy.generalization)."));
		label->anonymize = PRIVACY_ANON_GENERALIZE;
		label->anonymize_level = t[0] - '0';
	}
	else
		return lp_fail(st, PRIVACY_LABEL_SYNTAX,
					   psprintf("expected NULL, PLACEHOLDER, PSEUDONYM, FF1, GENERALIZE or KEEP after ANONYMIZE WITH at character %d of privacy label, found %s",
								st->tok.pos, lp_describe(&st->tok)),
					   NULL);
	lp_next(st);
	return true;
}

/*
 * privacy_label_parse: parse a column label (is_table false) or a table label.
 * On success fills *label and returns true; otherwise fills *error.
 */
bool
privacy_label_parse(const char *text, bool is_table,
					PrivacyLabel *label, PrivacyLabelError *error)
{
	LpState		st;
	int			clauses = 0;
	int			mask_pos = 0;
	int			retain_pos = 0;
	int			anonymize_pos = 0;

	memset(label, 0, sizeof(*label));
	memset(error, 0, sizeof(*error));
	label->is_table = is_table;
	st.input = text;
	st.p = text;
	st.error = error;
	lp_next(&st);

	while (st.tok.type != LP_END)
	{
		int			pos = st.tok.pos;

		if (lp_keyword_is(&st.tok, "SUBJECT"))
		{
			if (is_table)
				return lp_misplaced(&st, "SUBJECT", is_table);
			if (label->subject)
				return lp_duplicate(&st, "SUBJECT", pos);
			label->subject = true;
			lp_next(&st);
			/* SUBJECT <kind>: a word that starts no clause */
			if (st.tok.type == LP_WORD && !lp_clause_keyword(&st.tok))
			{
				if (!lp_kind(&st, &label->subject_kind))
					return false;
			}
			else if (st.tok.type == LP_QIDENT)
				return lp_fail(&st, PRIVACY_LABEL_SYNTAX,
							   psprintf("invalid subject kind at character %d of privacy label", st.tok.pos),
							   pstrdup(LP_KIND_FORM));
		}
		else if (lp_keyword_is(&st.tok, "OWNER") || lp_keyword_is(&st.tok, "REFERENCE"))
		{
			bool		owner = lp_keyword_is(&st.tok, "OWNER");

			if (is_table)
				return lp_misplaced(&st, owner ? "OWNER" : "REFERENCE", is_table);
			if (label->link != PRIVACY_LINK_NONE)
				return lp_fail(&st, PRIVACY_LABEL_SYNTAX,
							   psprintf("OWNER or REFERENCE appears more than once in privacy label (character %d)", pos),
							   pstrdup("A foreign key column either says whose row it is (OWNER) or only refers to a subject (REFERENCE)."));
			label->link = owner ? PRIVACY_LINK_OWNER : PRIVACY_LINK_REFERENCE;
			lp_next(&st);
		}
		else if (lp_keyword_is(&st.tok, "CATEGORY"))
		{
			if (is_table)
				return lp_misplaced(&st, "CATEGORY", is_table);
			if (label->category)
				return lp_duplicate(&st, "CATEGORY", pos);
			lp_next(&st);
			if (!lp_category(&st, &label->category))
				return false;
		}
		else if (lp_keyword_is(&st.tok, "MASK"))
		{
			char	   *first;

			if (is_table)
				return lp_misplaced(&st, "MASK WITH", is_table);
			if (label->mask_name)
				return lp_duplicate(&st, "MASK WITH", pos);
			lp_next(&st);
			if (!lp_expect(&st, "WITH", "MASK"))
				return false;
			if (!lp_ident(&st, "a function name after MASK WITH", &first))
				return false;
			if (st.tok.type == LP_DOT)
			{
				lp_next(&st);
				label->mask_schema = first;
				if (!lp_ident(&st, "a function name after the schema name", &label->mask_name))
					return false;
				if (st.tok.type == LP_DOT)
					return lp_fail(&st, PRIVACY_LABEL_SYNTAX,
								   psprintf("improper qualified function name at character %d of privacy label", pos),
								   pstrdup("Name the mask function as function or schema.function."));
			}
			else
				label->mask_name = first;
			mask_pos = pos;
		}
		else if (lp_keyword_is(&st.tok, "RETAIN"))
		{
			if (label->has_retain)
				return lp_duplicate(&st, "RETAIN", pos);
			if (!lp_retain(&st, label))
				return false;
			retain_pos = pos;
		}
		else if (lp_keyword_is(&st.tok, "ANONYMIZE"))
		{
			if (is_table)
				return lp_misplaced(&st, "ANONYMIZE WITH", is_table);
			if (label->anonymize != PRIVACY_ANON_NONE)
				return lp_duplicate(&st, "ANONYMIZE WITH", pos);
			if (!lp_anonymize(&st, label))
				return false;
			anonymize_pos = pos;
		}
		else if (lp_keyword_is(&st.tok, "ON"))
		{
			if (!is_table)
				return lp_misplaced(&st, "ON CANCEL", is_table);
			if (label->on_cancel != PRIVACY_ACTION_NONE)
				return lp_duplicate(&st, "ON CANCEL", pos);
			if (!lp_on_cancel(&st, label))
				return false;
		}
		else if (st.tok.type == LP_WORD)
			return lp_fail(&st, PRIVACY_LABEL_SYNTAX,
						   psprintf("unknown keyword \"%s\" at character %d of privacy label",
									st.tok.text, pos),
						   pstrdup(is_table ? LP_TABLE_GRAMMAR : LP_COLUMN_GRAMMAR));
		else
			return lp_fail(&st, PRIVACY_LABEL_SYNTAX,
						   psprintf("syntax error at character %d of privacy label, found %s",
									pos, lp_describe(&st.tok)),
						   pstrdup(is_table ? LP_TABLE_GRAMMAR : LP_COLUMN_GRAMMAR));
		clauses++;
	}

	if (clauses == 0)
		return lp_fail(&st, PRIVACY_LABEL_SYNTAX,
					   pstrdup("empty privacy label"),
					   pstrdup(is_table ? LP_TABLE_GRAMMAR : LP_COLUMN_GRAMMAR));

	/* clauses that cannot go together */
	if (!is_table)
	{
		if (label->subject && (label->mask_name || label->has_retain))
			return lp_fail(&st, PRIVACY_LABEL_CONFLICT,
						   psprintf("SUBJECT cannot be combined with %s (character %d of privacy label)",
									label->mask_name ? "MASK WITH" : "RETAIN",
									label->mask_name ? mask_pos : retain_pos),
						   pstrdup("The subject key identifies whose row it is; it is never masked or expired on its own."));
		if (label->mask_name && !label->category)
			return lp_fail(&st, PRIVACY_LABEL_CONFLICT,
						   psprintf("MASK WITH needs a CATEGORY (character %d of privacy label)", mask_pos),
						   pstrdup("Say what the column holds with CATEGORY <name>, then how to mask it."));
		if (label->has_retain && !label->category)
			return lp_fail(&st, PRIVACY_LABEL_CONFLICT,
						   psprintf("RETAIN on a column needs a CATEGORY (character %d of privacy label)", retain_pos),
						   pstrdup("The category chooses how the column is anonymized when it expires."));
		if (label->anonymize != PRIVACY_ANON_NONE && !label->category && !label->subject)
			return lp_fail(&st, PRIVACY_LABEL_CONFLICT,
						   psprintf("ANONYMIZE WITH needs a CATEGORY or SUBJECT (character %d of privacy label)", anonymize_pos),
						   pstrdup("Only personal data is anonymized: say what the column holds first."));
	}
	else if (label->on_cancel == PRIVACY_ACTION_KEEP && !label->has_retain)
		return lp_fail(&st, PRIVACY_LABEL_CONFLICT,
					   pstrdup("ON CANCEL KEEP UNTIL RETENTION needs a RETAIN clause on the same table"),
					   pstrdup("Without RETAIN nothing would ever remove the kept rows."));
	return true;
}

/* the ANONYMIZE WITH method as privacy.labels shows it, or NULL */
char *
privacy_anonymize_text(const PrivacyLabel *label)
{
	switch (label->anonymize)
	{
		case PRIVACY_ANON_NULL:
			return pstrdup("null");
		case PRIVACY_ANON_PLACEHOLDER:
			return pstrdup("placeholder");
		case PRIVACY_ANON_PSEUDONYM:
			return pstrdup("pseudonym");
		case PRIVACY_ANON_FF1:
			return pstrdup("ff1");
		case PRIVACY_ANON_GENERALIZE:
			return psprintf("generalize %d", label->anonymize_level);
		case PRIVACY_ANON_KEEP:
			return pstrdup("keep");
		case PRIVACY_ANON_NONE:
			break;
	}
	return NULL;
}

const char *
privacy_action_name(PrivacyAction action)
{
	switch (action)
	{
		case PRIVACY_ACTION_DELETE:
			return "delete";
		case PRIVACY_ACTION_ANONYMIZE:
			return "anonymize";
		case PRIVACY_ACTION_KEEP:
			return "keep until retention";
		case PRIVACY_ACTION_NONE:
			break;
	}
	return NULL;
}

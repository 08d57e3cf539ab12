/*-------------------------------------------------------------------------
 * journal.c
 *	  Parse and format the lines of the tombstone journal (see journal.h).
 *	  The journal is a file outside the database that anyone with access to
 *	  the directory could damage: every byte of a line is checked, by length,
 *	  never by a terminating NUL.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "datatype/timestamp.h"

#include "journal.h"

static int
journal_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* exactly 64 lowercase hex digits into id; false when s[0..len) is not that */
bool
privacy_hex_id(const char *s, size_t len, uint8 *id)
{
	int			i;

	if (len != 2 * JOURNAL_ID_BYTES)
		return false;
	for (i = 0; i < JOURNAL_ID_BYTES; i++)
	{
		int			hi = journal_hexval(s[2 * i]);
		int			lo = journal_hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		id[i] = (uint8) ((hi << 4) | lo);
	}
	return true;
}

/*
 * One line, its newline removed, of len bytes.  JOURNAL_LINE_OK fills id and
 * *at when the line is this database's (fingerprint fp, 16 hex digits).
 */
JournalLine
privacy_journal_parse(const char *line, size_t len, const char *fp, uint8 *id, int64 *at)
{
	const char *t;
	size_t		tlen;
	size_t		i;
	bool		neg;
	uint64		v = 0;

	if (len < JOURNAL_FP_LEN + 1 || line[JOURNAL_FP_LEN] != ' ')
		return JOURNAL_LINE_BAD;
	for (i = 0; i < JOURNAL_FP_LEN; i++)
		if (journal_hexval(line[i]) < 0)
			return JOURNAL_LINE_BAD;
	if (memcmp(line, fp, JOURNAL_FP_LEN) != 0)
		return JOURNAL_LINE_OTHER;
	line += JOURNAL_FP_LEN + 1;
	len -= JOURNAL_FP_LEN + 1;
	if (len < 2 * JOURNAL_ID_BYTES + 2 || line[2 * JOURNAL_ID_BYTES] != ' ' ||
		!privacy_hex_id(line, 2 * JOURNAL_ID_BYTES, id))
		return JOURNAL_LINE_BAD;
	t = line + 2 * JOURNAL_ID_BYTES + 1;
	tlen = len - (2 * JOURNAL_ID_BYTES + 1);
	neg = t[0] == '-';
	if (neg)
	{
		t++;
		tlen--;
	}
	/* 1 to 19 digits: below 10^19, no overflow of uint64 */
	if (tlen == 0 || tlen > 19)
		return JOURNAL_LINE_BAD;
	for (i = 0; i < tlen; i++)
	{
		if (t[i] < '0' || t[i] > '9')
			return JOURNAL_LINE_BAD;
		v = v * 10 + (uint64) (t[i] - '0');
	}
	if (v > (uint64) PG_INT64_MAX)
		return JOURNAL_LINE_BAD;
	*at = neg ? -(int64) v : (int64) v;
	if (!IS_VALID_TIMESTAMP(*at))
		return JOURNAL_LINE_BAD;
	return JOURNAL_LINE_OK;
}

/* the line of a tombstone, newline included, into buf; its length */
int
privacy_journal_format(char *buf, size_t size, const char *fp, const uint8 *id, int64 at)
{
	static const char hex[] = "0123456789abcdef";
	char		idhex[2 * JOURNAL_ID_BYTES + 1];
	int			i;

	for (i = 0; i < JOURNAL_ID_BYTES; i++)
	{
		idhex[2 * i] = hex[id[i] >> 4];
		idhex[2 * i + 1] = hex[id[i] & 0xf];
	}
	idhex[2 * JOURNAL_ID_BYTES] = '\0';
	return snprintf(buf, size, "%.*s %s " INT64_FORMAT "\n", JOURNAL_FP_LEN, fp, idhex, at);
}

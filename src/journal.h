/*-------------------------------------------------------------------------
 * journal.h
 *	  The line format of the tombstone journal (cancelled.journal in
 *	  privacy.subject_key_dir), with no server calls: subjects.c reads and
 *	  writes the file, the fuzz harness (test/fuzz) feeds the parser.
 *
 * A line:  <fingerprint: 16 hex> ' ' <pseudonym: 64 hex> ' ' <time> '\n'
 * The time is a timestamptz in microseconds since 2000-01-01 UTC, in
 * decimal.  Hex digits are lower case.
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_JOURNAL_H
#define PRIVACY_JOURNAL_H

#define JOURNAL_FP_LEN 16
#define JOURNAL_ID_BYTES 32
/* the longest valid line, its newline included */
#define JOURNAL_LINE_MAX (JOURNAL_FP_LEN + 1 + 2 * JOURNAL_ID_BYTES + 1 + 20 + 1)

typedef enum JournalLine
{
	JOURNAL_LINE_OK,			/* this database's tombstone */
	JOURNAL_LINE_OTHER,			/* another database's line */
	JOURNAL_LINE_BAD			/* malformed */
} JournalLine;

extern bool privacy_hex_id(const char *s, size_t len, uint8 *id);
extern JournalLine privacy_journal_parse(const char *line, size_t len, const char *fp,
										 uint8 *id, int64 *at);
extern int	privacy_journal_format(char *buf, size_t size, const char *fp,
								   const uint8 *id, int64 at);

#endif							/* PRIVACY_JOURNAL_H */

/*-------------------------------------------------------------------------
 * test/fuzz/fuzz_journal.c
 *	  The tombstone journal's line parser (src/journal.c): the journal is a
 *	  file outside the database, so any bytes may be in it.  Input: one line
 *	  (no newline).  A line accepted as this database's gives a valid
 *	  timestamp, and formatting what was read and reading it again gives the
 *	  same tombstone.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "datatype/timestamp.h"

#include "journal.h"

#include "fuzz.h"

static const char fp[] = "0123456789abcdef";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8		id[JOURNAL_ID_BYTES];
	uint8		id2[JOURNAL_ID_BYTES];
	int64		at;
	int64		at2;
	char		line[JOURNAL_LINE_MAX + 1];
	int			len;
	/* a copy of exactly size bytes, so that a read past it shows */
	char	   *copy = malloc(size ? size : 1);
	JournalLine kind;

	memcpy(copy, data, size);
	kind = privacy_journal_parse(copy, size, fp, id, &at);
	free(copy);
	if (kind != JOURNAL_LINE_OK)
		return 0;
	FUZZ_CHECK(IS_VALID_TIMESTAMP(at));
	len = privacy_journal_format(line, sizeof(line), fp, id, at);
	FUZZ_CHECK(len > 0 && len <= JOURNAL_LINE_MAX && line[len - 1] == '\n');
	FUZZ_CHECK(privacy_journal_parse(line, len - 1, fp, id2, &at2) == JOURNAL_LINE_OK);
	FUZZ_CHECK(memcmp(id, id2, sizeof(id)) == 0 && at == at2);
	return 0;
}

/*-------------------------------------------------------------------------
 * test/fuzz/stubs.c
 *	  Just enough of the server for privacy's pure C code to run in a
 *	  standalone fuzz target: palloc into an arena freed after every input,
 *	  psprintf, StringInfo, UTF-8 pg_mblen, text helpers, and ereport, which
 *	  at ERROR jumps back to fuzz_call() as the server's PG_TRY would.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <setjmp.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "fuzz.h"

/* ---- memory: every chunk goes on a list, freed by fuzz_reset() ---- */
typedef struct Chunk
{
	struct Chunk *next;
	size_t		size;
	max_align_t data[];
} Chunk;

static Chunk *chunks = NULL;

static Chunk *
chunk_of(void *p)
{
	return (Chunk *) ((char *) p - offsetof(Chunk, data));
}

void *
palloc(Size size)
{
	Chunk	   *c = malloc(sizeof(Chunk) + size);

	if (c == NULL)
		abort();
	c->next = chunks;
	c->size = size;
	chunks = c;
	return c->data;
}

void *
palloc0(Size size)
{
	void	   *p = palloc(size);

	memset(p, 0, size);
	return p;
}

void *
palloc_extended(Size size, int flags)
{
	return (flags & MCXT_ALLOC_ZERO) ? palloc0(size) : palloc(size);
}

void
pfree(void *p)
{
	/* freed with the arena; poison it so that a use after pfree shows */
	memset(p, 0x7f, chunk_of(p)->size);
}

void *
repalloc(void *p, Size size)
{
	void	   *n = palloc(size);
	Size		old = chunk_of(p)->size;

	memcpy(n, p, Min(old, size));
	return n;
}

void
fuzz_reset(void)
{
	while (chunks)
	{
		Chunk	   *next = chunks->next;

		free(chunks);
		chunks = next;
	}
}

char *
pstrdup(const char *s)
{
	size_t		len = strlen(s);
	char	   *p = palloc(len + 1);

	memcpy(p, s, len + 1);
	return p;
}

char *
pnstrdup(const char *s, Size len)
{
	char	   *p;

	len = strnlen(s, len);
	p = palloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
psprintf(const char *fmt,...)
{
	va_list		ap;
	int			len;
	char	   *p;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		abort();
	p = palloc(len + 1);
	va_start(ap, fmt);
	vsnprintf(p, len + 1, fmt, ap);
	va_end(ap);
	return p;
}

/* ---- StringInfo ---- */
void
initStringInfo(StringInfo str)
{
	str->maxlen = 64;
	str->data = palloc(str->maxlen);
	resetStringInfo(str);
}

void
resetStringInfo(StringInfo str)
{
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			want = str->len + needed + 1;

	if (needed < 0 || want > 0x3fffffff)
		abort();
	if (want <= str->maxlen)
		return;
	while (str->maxlen < want)
		str->maxlen *= 2;
	str->data = repalloc(str->data, str->maxlen);
}

void
appendBinaryStringInfo(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendBinaryStringInfo(str, s, strlen(s));
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	appendBinaryStringInfo(str, &ch, 1);
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	va_list		ap;
	int			len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	enlargeStringInfo(str, len);
	va_start(ap, fmt);
	vsnprintf(str->data + str->len, len + 1, fmt, ap);
	va_end(ap);
	str->len += len;
}

void
appendStringInfoSpaces(StringInfo str, int count)
{
	while (count-- > 0)
		appendStringInfoChar(str, ' ');
}

/* ---- encoding: the database's, UTF-8 ---- */
int
fuzz_utf8_len(unsigned char c)
{
	if ((c & 0x80) == 0)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	if ((c & 0xf8) == 0xf0)
		return 4;
	return 1;
}

int
pg_mblen(const char *mbstr)
{
	return fuzz_utf8_len((unsigned char) *mbstr);
}

int
pg_mbstrlen_with_len(const char *mbstr, int limit)
{
	int			n = 0;

	while (limit > 0 && *mbstr)
	{
		int			l = pg_mblen(mbstr);

		limit -= l;
		mbstr += l;
		n++;
	}
	return n;
}

/* valid UTF-8 with no NUL: what the server lets into a text value */
bool
fuzz_valid_utf8(const uint8 *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		uint8		c = s[i];
		int			l = fuzz_utf8_len(c);
		int			k;

		if (c == 0 || (c & 0xc0) == 0x80 || c >= 0xf5 || c == 0xc0 || c == 0xc1 || i + l > len)
			return false;
		for (k = 1; k < l; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		/* overlong 3- and 4-byte forms, surrogates, beyond U+10FFFF */
		if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] > 0x9f) ||
			(c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] > 0x8f))
			return false;
		i += l;
	}
	return true;
}

/* ---- text ---- */
text *
cstring_to_text_with_len(const char *s, int len)
{
	text	   *t = palloc(VARHDRSZ + len);

	SET_VARSIZE(t, VARHDRSZ + len);
	memcpy(VARDATA(t), s, len);
	return t;
}

text *
cstring_to_text(const char *s)
{
	return cstring_to_text_with_len(s, strlen(s));
}

char *
text_to_cstring(const text *t)
{
	return pnstrdup(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

struct varlena *
pg_detoast_datum_packed(struct varlena *datum)
{
	/* the targets build plain 4-byte-header values: nothing to detoast */
	return datum;
}

struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	return datum;
}

/* ---- errors ---- */
static sigjmp_buf *fuzz_jump = NULL;
static int	error_level;
int			fuzz_errors = 0;

bool
errstart(int elevel, const char *domain)
{
	error_level = elevel;
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (error_level < ERROR)
		return;
	if (fuzz_jump == NULL)
		abort();				/* an ERROR outside fuzz_call: a bug */
	fuzz_errors++;
	siglongjmp(*fuzz_jump, 1);
}

int
errcode(int sqlerrcode)
{
	return 0;
}

int
errmsg(const char *fmt,...)
{
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	return 0;
}

int
errdetail(const char *fmt,...)
{
	return 0;
}

int
errhint(const char *fmt,...)
{
	return 0;
}

/* fn(arg), as inside PG_TRY: false when it raised an ERROR */
bool
fuzz_call(void (*fn) (void *), void *arg)
{
	sigjmp_buf	jump;
	sigjmp_buf *save = fuzz_jump;

	if (sigsetjmp(jump, 0) != 0)
	{
		fuzz_jump = save;
		return false;
	}
	fuzz_jump = &jump;
	fn(arg);
	fuzz_jump = save;
	return true;
}

/* ---- arrays: privacy_text_contains builds one; no target calls it ---- */
ArrayType *
construct_array(Datum *elems, int nelems, Oid elmtype, int elmlen, bool elmbyval, char elmalign)
{
	abort();
}

/*-------------------------------------------------------------------------
 * fpe.c
 *	  Format-preserving encryption: FF1 (NIST SP 800-38G) over AES.
 *
 * The characters of the value that belong to the alphabet of the radix are
 * encrypted as one numeral string; every other character stays where it is
 * ("138-1234-5678" keeps its dashes).  Alphabets:
 *   radix 10: 0-9
 *   radix 36: 0-9 a-z
 *   radix 62: 0-9 a-z A-Z
 * Each half of the numeral string must fit in 64 bits (at most 38 digits in
 * radix 10, 24 characters in radix 36, 20 in radix 62), so that all FF1
 * arithmetic is exact in 128-bit integers; the domain must hold at least
 * 1,000,000 values (SP 800-38G Rev. 1).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "fmgr.h"
#include "utils/builtins.h"

#include "ff1.h"
#include "keys.h"
#include "privacy.h"

static Datum
ff1_sql(FunctionCallInfo fcinfo, bool encrypt)
{
	text	   *value = PG_GETARG_TEXT_PP(0);
	text	   *tweak = PG_GETARG_TEXT_PP(2);
	int32		radix = PG_GETARG_INT32(3);
	int			len = VARSIZE_ANY_EXHDR(value);
	const unsigned char *src = (const unsigned char *) VARDATA_ANY(value);
	uint8		numerals[FF1_MAX_NUMERALS];
	int			n = 0;
	int			maxlen;
	int			i;
	text	   *out;
	char	   *dst;
	PrivacyKey *k;
	uint64		domain;

	if (radix != 10 && radix != 36 && radix != 62)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("radix must be 10, 36 or 62")));
	if (VARSIZE_ANY_EXHDR(tweak) > FF1_MAX_TWEAK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tweak must be at most %d bytes", FF1_MAX_TWEAK)));
	maxlen = radix == 10 ? 38 : radix == 36 ? 24 : 20;

	for (i = 0; i < len; i++)
	{
		int			d = privacy_ff1_numeral(src[i], radix);

		if (d < 0)
			continue;
		if (n == maxlen)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("value has more than %d characters of the radix-%d alphabet", maxlen, radix),
					 errdetail("FF1 here handles at most %d numerals in radix %d.", maxlen, radix)));
		numerals[n++] = (uint8) d;
	}
	domain = privacy_ff1_pow(radix, n);	/* 0: beyond 2^64, large enough */
	if (n < 2 || (domain != 0 && domain < 1000000))
	{
		explicit_bzero(numerals, sizeof(numerals));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value has too few characters of the radix-%d alphabet for format-preserving encryption", radix),
				 errdetail("The values it can take must number at least 1000000 (NIST SP 800-38G); it has %d such characters.", n),
				 errhint("Use privacy.encrypt_deterministic() or privacy.pseudonym() for short values.")));
	}

	k = privacy_key_for_call(fcinfo, 1, PRIVACY_USE_FF1);
	if (!privacy_ff1_crypt(privacy_key_ff1_cipher(k), radix, (const uint8 *) VARDATA_ANY(tweak),
						   VARSIZE_ANY_EXHDR(tweak), numerals, n, encrypt))
	{
		explicit_bzero(numerals, sizeof(numerals));
		privacy_openssl_error("encrypt an FF1 block");
	}

	out = (text *) palloc(VARHDRSZ + len);
	SET_VARSIZE(out, VARHDRSZ + len);
	dst = VARDATA(out);
	n = 0;
	for (i = 0; i < len; i++)
		dst[i] = privacy_ff1_numeral(src[i], radix) < 0 ? (char) src[i] : privacy_ff1_alphabet[numerals[n++]];
	explicit_bzero(numerals, sizeof(numerals));
	PG_RETURN_TEXT_P(out);
}

PG_FUNCTION_INFO_V1(privacy_fpe_encrypt);
/* privacy.fpe_encrypt(value text, key text, tweak text, radix int) -> text */
Datum
privacy_fpe_encrypt(PG_FUNCTION_ARGS)
{
	return ff1_sql(fcinfo, true);
}

PG_FUNCTION_INFO_V1(privacy_fpe_decrypt);
/* privacy.fpe_decrypt(value text, key text, tweak text, radix int) -> text */
Datum
privacy_fpe_decrypt(PG_FUNCTION_ARGS)
{
	return ff1_sql(fcinfo, false);
}

/* FF1 over the integers min..max: privacy_ff1_walk over value - min */
static Datum
ff1_integer(FunctionCallInfo fcinfo, bool encrypt)
{
	int64		value = PG_GETARG_INT64(0);
	int64		lo = PG_GETARG_INT64(2);
	int64		hi = PG_GETARG_INT64(3);
	uint64		span;
	uint64		x;
	PrivacyKey *k;

	if (lo > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min must not be greater than max")));
	span = (uint64) hi - (uint64) lo;
	if (span < 9999)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the range min..max must hold at least 10000 integers")));
	if (value < lo || value > hi)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value is outside the range min..max")));

	k = privacy_key_for_call(fcinfo, 1, PRIVACY_USE_FF1);
	x = (uint64) value - (uint64) lo;
	if (!privacy_ff1_walk(privacy_key_ff1_cipher(k), span, &x, encrypt))
		privacy_openssl_error("encrypt an FF1 block");
	PG_RETURN_INT64((int64) ((uint64) lo + x));
}

PG_FUNCTION_INFO_V1(privacy_fpe_encrypt_integer);
/* privacy.fpe_encrypt(value bigint, key text, min bigint, max bigint) -> bigint */
Datum
privacy_fpe_encrypt_integer(PG_FUNCTION_ARGS)
{
	return ff1_integer(fcinfo, true);
}

PG_FUNCTION_INFO_V1(privacy_fpe_decrypt_integer);
/* privacy.fpe_decrypt(value bigint, key text, min bigint, max bigint) -> bigint */
Datum
privacy_fpe_decrypt_integer(PG_FUNCTION_ARGS)
{
	return ff1_integer(fcinfo, false);
}

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

#include "keys.h"
#include "privacy.h"

#ifndef HAVE_INT128
#error "privacy's FF1 needs a 128-bit integer type"
#endif

#define FF1_MAX_NUMERALS 64
#define FF1_MAX_TWEAK 256

static const char ff1_alphabet[] =
"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/* numeral value of c in the radix, or -1 when c is not in its alphabet */
static inline int
ff1_numeral(unsigned char c, int radix)
{
	int			v;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'z')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'Z')
		v = c - 'A' + 36;
	else
		return -1;
	return v < radix ? v : -1;
}

/* radix^n, or 0 when it does not fit in 64 bits */
static uint64
ff1_pow(int radix, int n)
{
	uint64		r = 1;

	while (n-- > 0)
	{
		if (r > PG_UINT64_MAX / (uint64) radix)
			return 0;
		r *= radix;
	}
	return r;
}

static uint64
ff1_num(const uint8 *x, int n, int radix)
{
	uint64		r = 0;
	int			i;

	for (i = 0; i < n; i++)
		r = r * radix + x[i];
	return r;
}

static void
ff1_str(uint64 v, uint8 *x, int n, int radix)
{
	int			i;

	for (i = n - 1; i >= 0; i--)
	{
		x[i] = (uint8) (v % radix);
		v /= radix;
	}
}

static void
ff1_block(EVP_CIPHER_CTX *ctx, const uint8 *in, uint8 *out)
{
	int			n;

	if (EVP_EncryptUpdate(ctx, out, &n, in, 16) != 1 || n != 16)
		privacy_openssl_error("encrypt an FF1 block");
}

/*
 * FF1.Encrypt (encrypt true) or FF1.Decrypt over numerals x[0..n), in place.
 * Steps are numbered as in SP 800-38G, section 5.1.
 */
static void
ff1_crypt(EVP_CIPHER_CTX *ctx, int radix, const uint8 *tweak, int t,
		  uint8 *x, int n, bool encrypt)
{
	int			u = n / 2;
	int			v = n - u;
	uint64		pu = ff1_pow(radix, u);
	uint64		pv = ff1_pow(radix, v);
	int			bits;
	int			b;
	int			d;
	uint8		P[16];
	uint8		Y0[16];
	int			qlen;
	uint8		Q[FF1_MAX_TWEAK + 32];
	uint64		A;
	uint64		B;
	int			i;

	/* step 3: b = ceil(ceil(v * log2(radix)) / 8); radix is never a power of 2 */
	bits = 64 - __builtin_clzll(pv);
	b = (bits + 7) / 8;
	/* step 4 */
	d = 4 * ((b + 3) / 4) + 4;
	Assert(b <= 8 && d <= 16);

	/* step 5: P = [1]^1 [2]^1 [1]^1 [radix]^3 [10]^1 [u mod 256]^1 [n]^4 [t]^4 */
	P[0] = 1;
	P[1] = 2;
	P[2] = 1;
	P[3] = (uint8) (radix >> 16);
	P[4] = (uint8) (radix >> 8);
	P[5] = (uint8) radix;
	P[6] = 10;
	P[7] = (uint8) (u & 0xff);
	P[8] = (uint8) (n >> 24);
	P[9] = (uint8) (n >> 16);
	P[10] = (uint8) (n >> 8);
	P[11] = (uint8) n;
	P[12] = (uint8) (t >> 24);
	P[13] = (uint8) (t >> 16);
	P[14] = (uint8) (t >> 8);
	P[15] = (uint8) t;
	/* PRF(P || Q) is CBC-MAC: its first block is the same every round */
	ff1_block(ctx, P, Y0);

	/* Q = T || [0]^((-t-b-1) mod 16) || [i]^1 || [NUM(B)]^b */
	qlen = t + ((((-t - b - 1) % 16) + 16) % 16) + 1 + b;
	memset(Q, 0, qlen);
	memcpy(Q, tweak, t);

	A = ff1_num(x, u, radix);
	B = ff1_num(x + u, v, radix);
	for (i = 0; i < 10; i++)
	{
		int			round = encrypt ? i : 9 - i;
		uint64		m = (round % 2 == 0) ? pu : pv;
		uint64		in = encrypt ? B : A;
		uint8		R[16];
		uint128		y = 0;
		uint64		ymod;
		uint64		c;
		int			j;
		int			blk;

		Q[qlen - b - 1] = (uint8) round;
		for (j = 0; j < b; j++)
			Q[qlen - 1 - j] = (uint8) (in >> (8 * j));

		/* R = PRF(P || Q) */
		memcpy(R, Y0, 16);
		for (blk = 0; blk < qlen; blk += 16)
		{
			uint8		xb[16];

			for (j = 0; j < 16; j++)
				xb[j] = R[j] ^ Q[blk + j];
			ff1_block(ctx, xb, R);
		}
		/* S = first d bytes of R (d <= 16 here); y = NUM(S) */
		for (j = 0; j < d; j++)
			y = (y << 8) | R[j];
		ymod = (uint64) (y % m);

		if (encrypt)
		{
			/* c = (NUM(A) + y) mod radix^m; A = B; B = C */
			c = (uint64) (((uint128) A + ymod) % m);
			A = B;
			B = c;
		}
		else
		{
			/* c = (NUM(B) - y) mod radix^m; B = A; A = C */
			c = (uint64) (((uint128) B + m - ymod) % m);
			B = A;
			A = c;
		}
	}
	explicit_bzero(Q, sizeof(Q));
	ff1_str(A, x, u, radix);
	ff1_str(B, x + u, v, radix);
}

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
		int			d = ff1_numeral(src[i], radix);

		if (d < 0)
			continue;
		if (n == maxlen)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("value has more than %d characters of the radix-%d alphabet", maxlen, radix),
					 errdetail("FF1 here handles at most %d numerals in radix %d.", maxlen, radix)));
		numerals[n++] = (uint8) d;
	}
	domain = ff1_pow(radix, n);	/* 0: beyond 2^64, large enough */
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
	ff1_crypt(privacy_key_ff1_cipher(k), radix, (const uint8 *) VARDATA_ANY(tweak),
			  VARSIZE_ANY_EXHDR(tweak), numerals, n, encrypt);

	out = (text *) palloc(VARHDRSZ + len);
	SET_VARSIZE(out, VARHDRSZ + len);
	dst = VARDATA(out);
	n = 0;
	for (i = 0; i < len; i++)
		dst[i] = ff1_numeral(src[i], radix) < 0 ? (char) src[i] : ff1_alphabet[numerals[n++]];
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

/*
 * FF1 over the integers min..max.  The offset value - min is written as w
 * decimal digits (w: the digits of max - min, at least 6, so that the FF1
 * domain holds at least 1,000,000 values) and encrypted again until the
 * result falls inside the range ("cycle walking"): the map is a permutation
 * of min..max, so distinct values stay distinct and the result fits the
 * column.  Decryption walks back the same way.
 */
static Datum
ff1_integer(FunctionCallInfo fcinfo, bool encrypt)
{
	int64		value = PG_GETARG_INT64(0);
	int64		lo = PG_GETARG_INT64(2);
	int64		hi = PG_GETARG_INT64(3);
	uint64		span;
	uint128		x;
	uint8		numerals[20];
	int			w = 0;
	int			i;
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
	for (x = span; x > 0; x /= 10)
		w++;
	if (w < 6)
		w = 6;

	k = privacy_key_for_call(fcinfo, 1, PRIVACY_USE_FF1);
	x = (uint64) value - (uint64) lo;
	do
	{
		uint128		v = x;

		for (i = w - 1; i >= 0; i--)
		{
			numerals[i] = (uint8) (v % 10);
			v /= 10;
		}
		ff1_crypt(privacy_key_ff1_cipher(k), 10, (const uint8 *) "", 0, numerals, w, encrypt);
		x = 0;
		for (i = 0; i < w; i++)
			x = x * 10 + numerals[i];
	} while (x > span);
	explicit_bzero(numerals, sizeof(numerals));
	PG_RETURN_INT64((int64) ((uint64) lo + (uint64) x));
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

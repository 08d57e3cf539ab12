/*-------------------------------------------------------------------------
 * ff1.c
 *	  FF1 (NIST SP 800-38G) over AES: the algorithm alone, with no server
 *	  calls, so that the fuzz harness (test/fuzz) runs it as the server does.
 *	  fpe.c gives it its SQL functions, keys and errors.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "ff1.h"

#ifndef HAVE_INT128
#error "privacy's FF1 needs a 128-bit integer type"
#endif

const char privacy_ff1_alphabet[] =
"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/* numeral value of c in the radix, or -1 when c is not in its alphabet */
int
privacy_ff1_numeral(unsigned char c, int radix)
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
uint64
privacy_ff1_pow(int radix, int n)
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

static bool
ff1_block(EVP_CIPHER_CTX *ctx, const uint8 *in, uint8 *out)
{
	int			n;

	return EVP_EncryptUpdate(ctx, out, &n, in, 16) == 1 && n == 16;
}

/*
 * FF1.Encrypt (encrypt true) or FF1.Decrypt over numerals x[0..n), in place.
 * Steps are numbered as in SP 800-38G, section 5.1.  The caller has checked
 * the limits of ff1.h.  False when OpenSSL fails (x is then undefined).
 */
bool
privacy_ff1_crypt(EVP_CIPHER_CTX *ctx, int radix, const uint8 *tweak, int t,
				  uint8 *x, int n, bool encrypt)
{
	int			u = n / 2;
	int			v = n - u;
	uint64		pu = privacy_ff1_pow(radix, u);
	uint64		pv = privacy_ff1_pow(radix, v);
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
	if (!ff1_block(ctx, P, Y0))
		return false;

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
			if (!ff1_block(ctx, xb, R))
			{
				explicit_bzero(Q, sizeof(Q));
				return false;
			}
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
	return true;
}

/*
 * FF1 over the integers 0..span (span >= 9999): x written as w decimal digits
 * (the digits of span, at least 6, so that the FF1 domain holds at least
 * 1,000,000 values) and encrypted again until the result falls inside the
 * range ("cycle walking"), a permutation of 0..span.  Decryption walks back
 * the same way.  False when OpenSSL fails.
 */
bool
privacy_ff1_walk(EVP_CIPHER_CTX *ctx, uint64 span, uint64 *x, bool encrypt)
{
	uint8		numerals[20];
	uint128		cur = *x;
	uint128		v;
	int			w = 0;
	int			i;

	for (v = span; v > 0; v /= 10)
		w++;
	if (w < 6)
		w = 6;
	do
	{
		/* w digits: cur may pass 2^64 (10^20 > 2^64), never 2^128 */
		v = cur;
		for (i = w - 1; i >= 0; i--)
		{
			numerals[i] = (uint8) (v % 10);
			v /= 10;
		}
		if (!privacy_ff1_crypt(ctx, 10, (const uint8 *) "", 0, numerals, w, encrypt))
		{
			explicit_bzero(numerals, sizeof(numerals));
			return false;
		}
		cur = 0;
		for (i = 0; i < w; i++)
			cur = cur * 10 + numerals[i];
	} while (cur > span);
	explicit_bzero(numerals, sizeof(numerals));
	*x = (uint64) cur;
	return true;
}

/*-------------------------------------------------------------------------
 * test/fuzz/fuzz_ff1.c
 *	  FF1 (src/ff1.c) under random keys, tweaks, radixes and values, within
 *	  the limits fpe.c enforces.  Input: a byte for the radix and key size,
 *	  the key, a tweak length and the tweak, eight bytes for an integer
 *	  range, then the value.  Encryption gives numerals of the radix,
 *	  decryption gives the value back; the integer walk stays in its range
 *	  and walks back.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "ff1.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int radixes[] = {10, 36, 62};
	static const int keylens[] = {16, 24, 32};
	static const EVP_CIPHER *(*const ciphers[]) (void) = {EVP_aes_128_ecb, EVP_aes_192_ecb, EVP_aes_256_ecb};
	EVP_CIPHER_CTX *ctx;
	int			radix;
	int			keylen;
	int			t;
	const uint8 *tweak;
	uint64		span;
	uint8		x[FF1_MAX_NUMERALS];
	uint8		y[FF1_MAX_NUMERALS];
	int			n = 0;
	int			maxlen;
	size_t		pos;
	size_t		i;

	if (size < 1)
		return 0;
	radix = radixes[data[0] % 3];
	keylen = keylens[(data[0] / 3) % 3];
	pos = 1;
	if (size < pos + keylen + 1)
		return 0;
	ctx = EVP_CIPHER_CTX_new();
	FUZZ_CHECK(ctx != NULL);
	FUZZ_CHECK(EVP_EncryptInit_ex(ctx, ciphers[(data[0] / 3) % 3](), NULL, data + pos, NULL) == 1);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	pos += keylen;
	t = Min((size_t) data[pos], size - pos - 1);
	t = Min(t, FF1_MAX_TWEAK);
	tweak = data + pos + 1;
	pos += 1 + t;
	span = 0;
	for (i = 0; i < 8 && pos < size; i++, pos++)
		span = (span << 8) | data[pos];

	/* the value: its characters of the radix's alphabet, as fpe.c takes them */
	maxlen = radix == 10 ? 38 : radix == 36 ? 24 : 20;
	for (; pos < size && n < maxlen; pos++)
	{
		int			d = privacy_ff1_numeral(data[pos], radix);

		if (d >= 0)
			x[n++] = (uint8) d;
	}
	if (n >= 2 && (privacy_ff1_pow(radix, n) == 0 || privacy_ff1_pow(radix, n) >= 1000000))
	{
		memcpy(y, x, n);
		FUZZ_CHECK(privacy_ff1_crypt(ctx, radix, tweak, t, y, n, true));
		for (i = 0; i < (size_t) n; i++)
			FUZZ_CHECK(y[i] < radix);
		FUZZ_CHECK(privacy_ff1_crypt(ctx, radix, tweak, t, y, n, false));
		FUZZ_CHECK(memcmp(x, y, n) == 0);
	}

	/* the integer walk over 0..span, span >= 9999, from a value taken from x */
	if (span >= 9999)
	{
		uint64		v = 0;
		uint64		w;

		for (i = 0; i < (size_t) n; i++)
			v = v * 31 + x[i];
		v = span == PG_UINT64_MAX ? v : v % (span + 1);
		w = v;
		FUZZ_CHECK(privacy_ff1_walk(ctx, span, &w, true));
		FUZZ_CHECK(w <= span);
		FUZZ_CHECK(privacy_ff1_walk(ctx, span, &w, false));
		FUZZ_CHECK(w == v);
	}
	EVP_CIPHER_CTX_free(ctx);
	return 0;
}

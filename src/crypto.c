/*-------------------------------------------------------------------------
 * crypto.c
 *	  Pseudonyms (HMAC-SHA-256), authenticated encryption (AES-256-GCM),
 *	  deterministic encryption (AES-SIV, RFC 5297), per-subject keys with
 *	  crypto-shredding, and keyed date shifting.
 *
 * Keys are named, never passed as values; see keys.c.  Ciphertexts start
 * with a format byte and, for named keys, the key version, so decryption
 * needs only the key's name after a rotation.  No message says anything
 * about a key or a value beyond what went wrong.
 *-------------------------------------------------------------------------
 */
/* SHA256_Init and friends: the per-key precomputed HMAC states need them */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "postgres.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"

#include "crypto.h"
#include "keys.h"
#include "privacy.h"


/* ------------------------------------------------------------------------
 * HMAC-SHA-256 with the key's inner and outer states computed once
 * ------------------------------------------------------------------------
 */
void
privacy_hmac(PrivacyKey *k, const uint8 *msg, size_t len, uint8 *out)
{
	SHA256_CTX	ctx;
	uint8		inner[SHA256_DIGEST_LENGTH];

	if (!k->have_hmac_state)
	{
		int			klen;
		const uint8 *key = privacy_key_bytes(k, PRIVACY_USE_HMAC, &klen);
		uint8		block[SHA256_CBLOCK];
		uint8		pad[SHA256_CBLOCK];
		int			i;

		memset(block, 0, sizeof(block));
		if (klen > SHA256_CBLOCK)
			SHA256(key, klen, block);
		else
			memcpy(block, key, klen);
		for (i = 0; i < SHA256_CBLOCK; i++)
			pad[i] = block[i] ^ 0x36;
		SHA256_Init(&k->hmac_inner);
		SHA256_Update(&k->hmac_inner, pad, SHA256_CBLOCK);
		for (i = 0; i < SHA256_CBLOCK; i++)
			pad[i] = block[i] ^ 0x5c;
		SHA256_Init(&k->hmac_outer);
		SHA256_Update(&k->hmac_outer, pad, SHA256_CBLOCK);
		OPENSSL_cleanse(block, sizeof(block));
		OPENSSL_cleanse(pad, sizeof(pad));
		k->have_hmac_state = true;
	}
	ctx = k->hmac_inner;
	SHA256_Update(&ctx, msg, len);
	SHA256_Final(inner, &ctx);
	ctx = k->hmac_outer;
	SHA256_Update(&ctx, inner, sizeof(inner));
	SHA256_Final(out, &ctx);
	OPENSSL_cleanse(&ctx, sizeof(ctx));
}

PG_FUNCTION_INFO_V1(privacy_pseudonym_text);

/* privacy.pseudonym(value text, key text) -> text: lower-case hex HMAC-SHA-256 */
Datum
privacy_pseudonym_text(PG_FUNCTION_ARGS)
{
	text	   *value = PG_GETARG_TEXT_PP(0);
	PrivacyKey *k = privacy_key_for_call(fcinfo, 1, PRIVACY_USE_HMAC);
	uint8		mac[SHA256_DIGEST_LENGTH];
	static const char hex[] = "0123456789abcdef";
	text	   *out = (text *) palloc(VARHDRSZ + 2 * SHA256_DIGEST_LENGTH);
	char	   *p = VARDATA(out);
	int			i;

	privacy_hmac(k, (const uint8 *) VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), mac);
	SET_VARSIZE(out, VARHDRSZ + 2 * SHA256_DIGEST_LENGTH);
	for (i = 0; i < SHA256_DIGEST_LENGTH; i++)
	{
		*p++ = hex[mac[i] >> 4];
		*p++ = hex[mac[i] & 0xf];
	}
	PG_RETURN_TEXT_P(out);
}

PG_FUNCTION_INFO_V1(privacy_pseudonym_bytea);

/* privacy.pseudonym(value bytea, key text) -> bytea: the 32-byte HMAC */
Datum
privacy_pseudonym_bytea(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_BYTEA_PP(0);
	PrivacyKey *k = privacy_key_for_call(fcinfo, 1, PRIVACY_USE_HMAC);
	bytea	   *out = (bytea *) palloc(VARHDRSZ + SHA256_DIGEST_LENGTH);

	privacy_hmac(k, (const uint8 *) VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value),
				(uint8 *) VARDATA(out));
	SET_VARSIZE(out, VARHDRSZ + SHA256_DIGEST_LENGTH);
	PG_RETURN_BYTEA_P(out);
}

/* ------------------------------------------------------------------------
 * Ciphertext headers
 * ------------------------------------------------------------------------
 */
static void
crypto_put_header(uint8 *p, uint8 format, int32 version)
{
	p[0] = format;
	p[1] = (uint8) (version >> 24);
	p[2] = (uint8) (version >> 16);
	p[3] = (uint8) (version >> 8);
	p[4] = (uint8) version;
}

int32
privacy_ct_header(const bytea *ct, uint8 format, int minlen, const char *fn)
{
	const uint8 *p = (const uint8 *) VARDATA_ANY(ct);

	if (VARSIZE_ANY_EXHDR(ct) < minlen || p[0] != format)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value is not a ciphertext of %s", fn),
				 errdetail("It is too short or its format byte is wrong.")));
	return (int32) (((uint32) p[1] << 24) | ((uint32) p[2] << 16) | ((uint32) p[3] << 8) | p[4]);
}

static void
crypto_auth_failed(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("ciphertext failed authentication"),
			 errdetail("It was altered, truncated, or encrypted under another key.")));
}

static Datum
crypto_plain_text(uint8 *plain, int len)
{
	text	   *out = (text *) palloc(VARHDRSZ + len);

	memcpy(VARDATA(out), plain, len);
	SET_VARSIZE(out, VARHDRSZ + len);
	OPENSSL_cleanse(plain, len);
	if (!pg_verifymbstr(VARDATA(out), len, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("decrypted value is not valid text in the database encoding"),
				 errhint("It was encrypted as bytea: use the _bytea variant of the function.")));
	return PointerGetDatum(out);
}

static Datum
crypto_plain_bytea(uint8 *plain, int len)
{
	bytea	   *out = (bytea *) palloc(VARHDRSZ + len);

	memcpy(VARDATA(out), plain, len);
	SET_VARSIZE(out, VARHDRSZ + len);
	OPENSSL_cleanse(plain, len);
	return PointerGetDatum(out);
}

/*
 * privacy_plain_result: the plaintext as the calling SQL function returns it.
 * One C function serves both decrypt (text: checked to be valid in the
 * database encoding) and decrypt_bytea (bytea).
 */
Datum
privacy_plain_result(FunctionCallInfo fcinfo, uint8 *plain, int len)
{
	if (get_func_rettype(fcinfo->flinfo->fn_oid) == BYTEAOID)
		return crypto_plain_bytea(plain, len);
	return crypto_plain_text(plain, len);
}

/* ------------------------------------------------------------------------
 * AES-256-GCM with a random nonce
 * ------------------------------------------------------------------------
 */
static EVP_CIPHER_CTX *gcm_ctx = NULL;
static EVP_CIPHER_CTX *siv_ctx = NULL;

static EVP_CIPHER_CTX *
crypto_ctx(EVP_CIPHER_CTX **slot)
{
	if (*slot == NULL)
	{
		*slot = EVP_CIPHER_CTX_new();
		if (*slot == NULL)
			privacy_openssl_error("allocate a cipher context");
	}
	return *slot;
}

/* encrypt into header || nonce || ciphertext || tag; aad2 is bound too */
bytea *
privacy_gcm_encrypt(const uint8 *key, uint8 format, int32 version,
				   const uint8 *aad2, int aad2len, const uint8 *plain, int len)
{
	EVP_CIPHER_CTX *ctx = crypto_ctx(&gcm_ctx);
	int			total = HEADER_LEN + GCM_NONCE + len + GCM_TAG;
	bytea	   *out = (bytea *) palloc(VARHDRSZ + total);
	uint8	   *p = (uint8 *) VARDATA(out);
	int			n;

	SET_VARSIZE(out, VARHDRSZ + total);
	crypto_put_header(p, format, version);
	if (RAND_bytes(p + HEADER_LEN, GCM_NONCE) != 1)
		privacy_openssl_error("generate a nonce");
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, p + HEADER_LEN) != 1 ||
		EVP_EncryptUpdate(ctx, NULL, &n, p, HEADER_LEN) != 1 ||
		(aad2len > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad2, aad2len) != 1) ||
		EVP_EncryptUpdate(ctx, p + HEADER_LEN + GCM_NONCE, &n, plain, len) != 1 ||
		EVP_EncryptFinal_ex(ctx, p + HEADER_LEN + GCM_NONCE + n, &n) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG,
							p + HEADER_LEN + GCM_NONCE + len) != 1)
		privacy_openssl_error("encrypt");
	return out;
}

/* decrypt; returns palloc'd plaintext and its length, or raises */
uint8 *
privacy_gcm_decrypt(const uint8 *key, const bytea *ct, const uint8 *aad2, int aad2len, int *outlen)
{
	EVP_CIPHER_CTX *ctx = crypto_ctx(&gcm_ctx);
	const uint8 *p = (const uint8 *) VARDATA_ANY(ct);
	int			len = VARSIZE_ANY_EXHDR(ct) - HEADER_LEN - GCM_NONCE - GCM_TAG;
	uint8	   *plain = palloc(len + 1);
	int			n;
	bool		ok;

	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, p + HEADER_LEN) == 1 &&
		EVP_DecryptUpdate(ctx, NULL, &n, p, HEADER_LEN) == 1 &&
		(aad2len == 0 || EVP_DecryptUpdate(ctx, NULL, &n, aad2, aad2len) == 1) &&
		EVP_DecryptUpdate(ctx, plain, &n, p + HEADER_LEN + GCM_NONCE, len) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG,
							(void *) (p + HEADER_LEN + GCM_NONCE + len)) == 1 &&
		EVP_DecryptFinal_ex(ctx, plain + n, &n) == 1;
	if (!ok)
	{
		OPENSSL_cleanse(plain, len + 1);
		crypto_auth_failed();
	}
	*outlen = len;
	return plain;
}

static bytea *
crypto_encrypt(FunctionCallInfo fcinfo)
{
	bytea	   *value = PG_GETARG_BYTEA_PP(0);
	PrivacyKey *k = privacy_key_for_call(fcinfo, 1, PRIVACY_USE_GCM);
	int			klen;
	const uint8 *key = privacy_key_bytes(k, PRIVACY_USE_GCM, &klen);

	return privacy_gcm_encrypt(key, FORMAT_GCM, k->version, NULL, 0,
							  (const uint8 *) VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
}

static uint8 *
crypto_decrypt(FunctionCallInfo fcinfo, int *len)
{
	bytea	   *ct = PG_GETARG_BYTEA_PP(0);
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int32		version = privacy_ct_header(ct, FORMAT_GCM, HEADER_LEN + GCM_NONCE + GCM_TAG,
											 "privacy.encrypt");
	PrivacyKey *k = privacy_key_get(name, version, PRIVACY_USE_GCM);
	int			klen;
	const uint8 *key = privacy_key_bytes(k, PRIVACY_USE_GCM, &klen);

	return privacy_gcm_decrypt(key, ct, NULL, 0, len);
}

PG_FUNCTION_INFO_V1(privacy_encrypt);
/* privacy.encrypt(value text|bytea, key text) -> bytea */
Datum
privacy_encrypt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(crypto_encrypt(fcinfo));
}

PG_FUNCTION_INFO_V1(privacy_decrypt);
/* privacy.decrypt(ciphertext bytea, key text) -> text, and decrypt_bytea -> bytea */
Datum
privacy_decrypt(PG_FUNCTION_ARGS)
{
	int			len;
	uint8	   *plain = crypto_decrypt(fcinfo, &len);

	return privacy_plain_result(fcinfo, plain, len);
}

/* ------------------------------------------------------------------------
 * AES-SIV (RFC 5297): deterministic authenticated encryption
 * ------------------------------------------------------------------------
 */
static EVP_CIPHER *siv_ciphers[3];

static EVP_CIPHER *
crypto_siv_cipher(int keylen)
{
	int			i = keylen == 32 ? 0 : keylen == 48 ? 1 : 2;
	static const char *names[3] = {"AES-128-SIV", "AES-192-SIV", "AES-256-SIV"};

	if (siv_ciphers[i] == NULL)
	{
		siv_ciphers[i] = EVP_CIPHER_fetch(NULL, names[i], NULL);
		if (siv_ciphers[i] == NULL)
			privacy_openssl_error("load AES-SIV");
	}
	return siv_ciphers[i];
}

/* the associated data: a one-dimensional bytea array without NULLs */
static void
crypto_ad(ArrayType *arr, Datum **elems, int *n)
{
	bool	   *nulls;
	int			i;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("associated data must be a one-dimensional array")));
	deconstruct_array(arr, BYTEAOID, -1, false, TYPALIGN_INT, elems, &nulls, n);
	for (i = 0; i < *n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("associated data must not contain NULL")));
	if (*n > 126)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("at most 126 associated data components are allowed"),
				 errdetail("RFC 5297 allows 126 components besides the plaintext.")));
}

/*
 * RFC 5297 S2V: the synthetic IV of the associated data ad[0..nad) and the
 * plaintext, under K1, the first half of the SIV key (AES-CMAC).  OpenSSL 3.0
 * computes it for non-empty plaintexts only (openssl/openssl#17268); the SQL
 * functions use this for the empty one, and the fuzz harness checks it
 * against OpenSSL for the others.  False when OpenSSL fails.
 */
static void
crypto_dbl(uint8 *d)
{
	uint8		carry = d[0] >> 7;
	int			i;

	for (i = 0; i < SIV_TAG - 1; i++)
		d[i] = (uint8) ((d[i] << 1) | (d[i + 1] >> 7));
	d[SIV_TAG - 1] = (uint8) (d[SIV_TAG - 1] << 1);
	if (carry)
		d[SIV_TAG - 1] ^= 0x87;
}

static bool
crypto_cmac(EVP_MAC_CTX *m, const uint8 *k1, int k1len, const uint8 *msg, size_t len, uint8 *out)
{
	size_t		outlen;

	return EVP_MAC_init(m, k1, k1len, NULL) == 1 &&
		EVP_MAC_update(m, msg, len) == 1 &&
		EVP_MAC_final(m, out, &outlen, SIV_TAG) == 1 && outlen == SIV_TAG;
}

bool
privacy_s2v(const uint8 *k1, int k1len, const uint8 *const *ad, const int *adlen, int nad,
			const uint8 *plain, int len, uint8 *v)
{
	static const uint8 zero[SIV_TAG] = {0};
	EVP_MAC    *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
	EVP_MAC_CTX *m = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM	params[2];
	uint8		d[SIV_TAG];
	uint8		x[SIV_TAG];
	uint8	   *t = NULL;
	bool		ok;
	int			i;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
												 k1len == 16 ? "AES-128-CBC" : k1len == 24 ? "AES-192-CBC" : "AES-256-CBC", 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = m != NULL && EVP_MAC_CTX_set_params(m, params) == 1 &&
		crypto_cmac(m, k1, k1len, zero, SIV_TAG, d);
	for (i = 0; ok && i < nad; i++)
	{
		int			j;

		crypto_dbl(d);
		ok = crypto_cmac(m, k1, k1len, ad[i], adlen[i], x);
		for (j = 0; ok && j < SIV_TAG; j++)
			d[j] ^= x[j];
	}
	if (ok && len >= SIV_TAG)
	{
		/* T = plaintext xorend D */
		t = palloc(len);
		memcpy(t, plain, len);
		for (i = 0; i < SIV_TAG; i++)
			t[len - SIV_TAG + i] ^= d[i];
		ok = crypto_cmac(m, k1, k1len, t, len, v);
		OPENSSL_cleanse(t, len);
	}
	else if (ok)
	{
		/* T = dbl(D) xor pad(plaintext) */
		crypto_dbl(d);
		memset(x, 0, SIV_TAG);
		if (len > 0)
			memcpy(x, plain, len);
		x[len] = 0x80;
		for (i = 0; i < SIV_TAG; i++)
			d[i] ^= x[i];
		ok = crypto_cmac(m, k1, k1len, d, SIV_TAG, v);
	}
	OPENSSL_cleanse(d, sizeof(d));
	OPENSSL_cleanse(x, sizeof(x));
	EVP_MAC_CTX_free(m);
	EVP_MAC_free(mac);
	return ok;
}

/* the associated data's components as S2V takes them */
static void
crypto_ad_parts(Datum *ad, int nad, const uint8 ***parts, int **lens)
{
	int			i;

	*parts = palloc(sizeof(uint8 *) * Max(nad, 1));
	*lens = palloc(sizeof(int) * Max(nad, 1));
	for (i = 0; i < nad; i++)
	{
		bytea	   *a = DatumGetByteaPP(ad[i]);

		(*parts)[i] = (const uint8 *) VARDATA_ANY(a);
		(*lens)[i] = VARSIZE_ANY_EXHDR(a);
	}
}

PG_FUNCTION_INFO_V1(privacy_encrypt_deterministic);

/*
 * privacy.encrypt_deterministic(value text|bytea, key text, associated_data
 * bytea[]) -> bytea: header || SIV || ciphertext.  Equal inputs under the same
 * key version give equal outputs, so the result can be indexed and joined.
 */
Datum
privacy_encrypt_deterministic(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_BYTEA_PP(0);
	PrivacyKey *k = privacy_key_for_call(fcinfo, 1, PRIVACY_USE_SIV);
	ArrayType  *adarr = PG_GETARG_ARRAYTYPE_P(2);
	int			klen;
	const uint8 *key = privacy_key_bytes(k, PRIVACY_USE_SIV, &klen);
	EVP_CIPHER_CTX *ctx = crypto_ctx(&siv_ctx);
	int			len = VARSIZE_ANY_EXHDR(value);
	int			total = HEADER_LEN + SIV_TAG + len;
	bytea	   *out = (bytea *) palloc(VARHDRSZ + total);
	uint8	   *p = (uint8 *) VARDATA(out);
	Datum	   *ad;
	int			nad;
	int			n;
	int			i;

	crypto_ad(adarr, &ad, &nad);
	SET_VARSIZE(out, VARHDRSZ + total);
	crypto_put_header(p, FORMAT_SIV, k->version);
	if (len == 0)
	{
		/* the tag alone: S2V of the associated data and the empty plaintext */
		const uint8 **parts;
		int		   *lens;

		crypto_ad_parts(ad, nad, &parts, &lens);
		if (!privacy_s2v(key, klen / 2, parts, lens, nad, NULL, 0, p + HEADER_LEN))
			privacy_openssl_error("encrypt");
		PG_RETURN_BYTEA_P(out);
	}
	if (EVP_EncryptInit_ex(ctx, crypto_siv_cipher(klen), NULL, key, NULL) != 1)
		privacy_openssl_error("set up AES-SIV");
	for (i = 0; i < nad; i++)
	{
		bytea	   *a = DatumGetByteaPP(ad[i]);

		if (EVP_EncryptUpdate(ctx, NULL, &n, (const uint8 *) VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a)) != 1)
			privacy_openssl_error("encrypt");
	}
	if (EVP_EncryptUpdate(ctx, p + HEADER_LEN + SIV_TAG, &n,
						  (const uint8 *) VARDATA_ANY(value), len) != 1 ||
		EVP_EncryptFinal_ex(ctx, p + HEADER_LEN + SIV_TAG + n, &n) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SIV_TAG, p + HEADER_LEN) != 1)
		privacy_openssl_error("encrypt");
	PG_RETURN_BYTEA_P(out);
}

static uint8 *
crypto_siv_decrypt(FunctionCallInfo fcinfo, int *outlen)
{
	bytea	   *ct = PG_GETARG_BYTEA_PP(0);
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ArrayType  *adarr = PG_GETARG_ARRAYTYPE_P(2);
	int32		version = privacy_ct_header(ct, FORMAT_SIV, HEADER_LEN + SIV_TAG,
											 "privacy.encrypt_deterministic");
	PrivacyKey *k = privacy_key_get(name, version, PRIVACY_USE_SIV);
	int			klen;
	const uint8 *key = privacy_key_bytes(k, PRIVACY_USE_SIV, &klen);
	EVP_CIPHER_CTX *ctx = crypto_ctx(&siv_ctx);
	const uint8 *p = (const uint8 *) VARDATA_ANY(ct);
	int			len = VARSIZE_ANY_EXHDR(ct) - HEADER_LEN - SIV_TAG;
	uint8	   *plain = palloc(len + 1);
	Datum	   *ad;
	int			nad;
	int			n;
	int			i;
	bool		ok;

	crypto_ad(adarr, &ad, &nad);
	if (len == 0)
	{
		/* an empty plaintext: its tag is S2V of the associated data alone */
		const uint8 **parts;
		int		   *lens;
		uint8		v[SIV_TAG];

		crypto_ad_parts(ad, nad, &parts, &lens);
		if (!privacy_s2v(key, klen / 2, parts, lens, nad, NULL, 0, v))
			privacy_openssl_error("decrypt");
		if (CRYPTO_memcmp(v, p + HEADER_LEN, SIV_TAG) != 0)
			crypto_auth_failed();
		*outlen = 0;
		return plain;
	}
	ok = EVP_DecryptInit_ex(ctx, crypto_siv_cipher(klen), NULL, key, NULL) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SIV_TAG, (void *) (p + HEADER_LEN)) == 1;
	for (i = 0; ok && i < nad; i++)
	{
		bytea	   *a = DatumGetByteaPP(ad[i]);

		ok = EVP_DecryptUpdate(ctx, NULL, &n, (const uint8 *) VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a)) == 1;
	}
	ok = ok && EVP_DecryptUpdate(ctx, plain, &n, p + HEADER_LEN + SIV_TAG, len) == 1 &&
		EVP_DecryptFinal_ex(ctx, plain + n, &n) == 1;
	if (!ok)
	{
		OPENSSL_cleanse(plain, len + 1);
		crypto_auth_failed();
	}
	*outlen = len;
	return plain;
}

PG_FUNCTION_INFO_V1(privacy_decrypt_deterministic);
/*
 * privacy.decrypt_deterministic(ciphertext bytea, key text, associated_data
 * bytea[]) -> text, and decrypt_deterministic_bytea -> bytea
 */
Datum
privacy_decrypt_deterministic(PG_FUNCTION_ARGS)
{
	int			len;
	uint8	   *plain = crypto_siv_decrypt(fcinfo, &len);

	return privacy_plain_result(fcinfo, plain, len);
}

/* ------------------------------------------------------------------------
 * Keyed date shifting
 * ------------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(privacy_date_shift);

/*
 * privacy.date_shift(value date, subject text, max_days int, key text) -> date:
 * every date of one subject moves by the same amount in [-max_days, max_days],
 * chosen by HMAC(key, subject).
 */
Datum
privacy_date_shift(PG_FUNCTION_ARGS)
{
	DateADT		value = PG_GETARG_DATEADT(0);
	text	   *subject = PG_GETARG_TEXT_PP(1);
	int32		max_days = PG_GETARG_INT32(2);
	PrivacyKey *k;
	uint8		mac[SHA256_DIGEST_LENGTH];
	uint64		r = 0;
	int			i;
	int64		shifted;

	if (max_days < 1 || max_days > 3650)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_days must be between 1 and 3650")));
	k = privacy_key_for_call(fcinfo, 3, PRIVACY_USE_HMAC);
	if (DATE_NOT_FINITE(value))
		PG_RETURN_DATEADT(value);
	privacy_hmac(k, (const uint8 *) VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject), mac);
	for (i = 0; i < 8; i++)
		r = (r << 8) | mac[i];
	shifted = (int64) value + (int64) (r % (uint64) (2 * max_days + 1)) - max_days;
	if (!IS_VALID_DATE(shifted))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("date out of range after shifting")));
	PG_RETURN_DATEADT((DateADT) shifted);
}

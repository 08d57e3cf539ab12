/*-------------------------------------------------------------------------
 * test/fuzz/fuzz_ciphertext.c
 *	  The ciphertext formats (src/crypto.c): the header, AES-256-GCM and
 *	  AES-SIV, decrypted as privacy.decrypt and privacy.decrypt_deterministic
 *	  decrypt what a table holds, which anyone who can write the table may
 *	  have altered.  Input: a mode byte, a position byte, then bytes.
 *	    mode 0, 1: the bytes as a GCM or SIV ciphertext: decrypting them must
 *	      fail cleanly (a forgery would be a success);
 *	    mode 2, 3: the bytes as a plaintext: encrypted with GCM or SIV, they
 *	      decrypt to themselves, and with the byte at the position changed
 *	      the ciphertext fails authentication; the SIV tag equals privacy_s2v
 *	      (which serves the empty plaintext OpenSSL 3.0 refuses), itself
 *	      checked once against RFC 5297 A.1.
 *	  Keys are fixed here (the key store is not under test).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "crypto.h"
#include "keys.h"

#include "fuzz.h"

extern Datum privacy_decrypt(PG_FUNCTION_ARGS);
extern Datum privacy_encrypt_deterministic(PG_FUNCTION_ARGS);
extern Datum privacy_decrypt_deterministic(PG_FUNCTION_ARGS);

/* ---- the key store, fixed ---- */
static PrivacyKey fuzz_key;
static const uint8 fuzz_bytes[64] = {
	0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c,
	0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7, 0xf6, 0xf5, 0xf4, 0xf3, 0xf2, 0xf1, 0xf0,
	0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f
};

PrivacyKey *
privacy_key_get(const char *name, int32 version, PrivacyKeyUse use)
{
	fuzz_key.version = version;
	return &fuzz_key;
}

PrivacyKey *
privacy_key_for_call(FunctionCallInfo fcinfo, int argno, PrivacyKeyUse use)
{
	fuzz_key.version = 1;
	return &fuzz_key;
}

/* each version its own key, as in the key store */
const uint8 *
privacy_key_bytes(PrivacyKey *key, PrivacyKeyUse use, int *len)
{
	static uint8 k[64];
	int			i;

	for (i = 0; i < 64; i++)
		k[i] = fuzz_bytes[i] ^ (uint8) (key->version >> (8 * (i % 4)));
	*len = use == PRIVACY_USE_SIV ? 64 : 32;
	return k;
}

void
privacy_openssl_error(const char *what)
{
	ereport(ERROR, (errmsg("OpenSSL failed to %s", what)));
	pg_unreachable();
}

/* ---- what crypto.c asks of the server ---- */
Oid
get_func_rettype(Oid funcid)
{
	return BYTEAOID;
}

bool
pg_verifymbstr(const char *mbstr, int len, bool noError)
{
	return fuzz_valid_utf8((const uint8 *) mbstr, len);
}

void
deconstruct_array(ArrayType *array, Oid elmtype, int elmlen, bool elmbyval, char elmalign,
				  Datum **elemsp, bool **nullsp, int *nelemsp)
{
	/* the associated data: always the empty array built below */
	*elemsp = NULL;
	*nullsp = NULL;
	*nelemsp = 0;
}

/* ---- calls ---- */
typedef struct CryptoCall
{
	PGFunction	fn;
	bytea	   *value;
	bytea	   *result;
	bool		gcm_encrypt;	/* privacy_gcm_encrypt directly (the SQL
								 * function asks the key store for the key) */
} CryptoCall;

static ArrayType *
empty_array(void)
{
	ArrayType  *a = palloc0(sizeof(ArrayType));

	SET_VARSIZE(a, sizeof(ArrayType));
	a->ndim = 0;
	a->dataoffset = 0;
	a->elemtype = BYTEAOID;
	return a;
}

static void
crypto_call(void *arg)
{
	CryptoCall *c = (CryptoCall *) arg;
	LOCAL_FCINFO(fcinfo, 3);
	FmgrInfo	flinfo;

	if (c->gcm_encrypt)
	{
		int			klen;

		c->result = privacy_gcm_encrypt(privacy_key_bytes(privacy_key_get("fuzz", 1, PRIVACY_USE_GCM),
														  PRIVACY_USE_GCM, &klen),
										FORMAT_GCM, 1, NULL, 0,
										(const uint8 *) VARDATA_ANY(c->value), VARSIZE_ANY_EXHDR(c->value));
		return;
	}
	memset(&flinfo, 0, sizeof(flinfo));
	InitFunctionCallInfoData(*fcinfo, &flinfo, 3, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = PointerGetDatum(c->value);
	fcinfo->args[1].value = PointerGetDatum(cstring_to_text("fuzz"));
	fcinfo->args[2].value = PointerGetDatum(empty_array());
	fcinfo->args[0].isnull = fcinfo->args[1].isnull = fcinfo->args[2].isnull = false;
	c->result = (bytea *) DatumGetPointer(c->fn(fcinfo));
}

static bytea *
to_bytea(const uint8 *data, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

/*
 * privacy_s2v, which serves the empty plaintext OpenSSL 3.0 refuses, against
 * RFC 5297 A.1 verbatim (its 14-byte plaintext takes the same padded branch)
 */
static void
check_rfc5297_a1(void)
{
	static const uint8 key[] = {
		0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7, 0xf6, 0xf5, 0xf4, 0xf3, 0xf2, 0xf1, 0xf0
	};
	static const uint8 ad[] = {
		0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
		0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27
	};
	static const uint8 plain[] = {
		0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee
	};
	static const uint8 siv[] = {
		0x85, 0x63, 0x2d, 0x07, 0xc6, 0xe8, 0xf3, 0x7f, 0x95, 0x0a, 0xcd, 0x32, 0x0a, 0x2e, 0xcc, 0x93
	};
	const uint8 *parts[1] = {ad};
	int			lens[1] = {sizeof(ad)};
	uint8		v[SIV_TAG];

	FUZZ_CHECK(privacy_s2v(key, sizeof(key), parts, lens, 1, plain, sizeof(plain), v));
	FUZZ_CHECK(memcmp(v, siv, SIV_TAG) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool checked = false;
	CryptoCall	c;
	int			mode;
	size_t		pos;

	if (!checked)
	{
		check_rfc5297_a1();
		checked = true;
	}
	if (size < 2)
		return 0;
	mode = data[0] % 4;
	pos = data[1];
	memset(&c, 0, sizeof(c));
	c.value = to_bytea(data + 2, size - 2);
	if (mode < 2)
	{
		/* arbitrary bytes never pass for a ciphertext */
		c.fn = mode == 0 ? privacy_decrypt : privacy_decrypt_deterministic;
		FUZZ_CHECK(!fuzz_call(crypto_call, &c));
	}
	else
	{
		bytea	   *ct;
		bytea	   *plain = c.value;
		int			ctlen;

		if (mode == 2)
			c.gcm_encrypt = true;
		else
			c.fn = privacy_encrypt_deterministic;
		FUZZ_CHECK(fuzz_call(crypto_call, &c));
		ct = c.result;
		if (mode == 3)
		{
			/* the synthetic IV is RFC 5297's S2V, computed here as for the empty plaintext */
			int			klen;
			const uint8 *key = privacy_key_bytes(privacy_key_get("fuzz", 1, PRIVACY_USE_SIV), PRIVACY_USE_SIV, &klen);
			uint8		v[SIV_TAG];

			FUZZ_CHECK(privacy_s2v(key, klen / 2, NULL, NULL, 0, (const uint8 *) VARDATA_ANY(plain),
								   VARSIZE_ANY_EXHDR(plain), v));
			FUZZ_CHECK(memcmp(v, (const uint8 *) VARDATA_ANY(ct) + HEADER_LEN, SIV_TAG) == 0);
		}
		/* it decrypts to the plaintext */
		memset(&c, 0, sizeof(c));
		c.fn = mode == 2 ? privacy_decrypt : privacy_decrypt_deterministic;
		c.value = ct;
		FUZZ_CHECK(fuzz_call(crypto_call, &c));
		FUZZ_CHECK(VARSIZE_ANY_EXHDR(c.result) == VARSIZE_ANY_EXHDR(plain));
		FUZZ_CHECK(memcmp(VARDATA_ANY(c.result), VARDATA_ANY(plain), VARSIZE_ANY_EXHDR(plain)) == 0);
		/* one byte changed anywhere (the header too): refused */
		ctlen = VARSIZE_ANY_EXHDR(ct);
		ct = to_bytea((const uint8 *) VARDATA_ANY(ct), ctlen);
		((uint8 *) VARDATA(ct))[pos % ctlen] ^= (uint8) (1 + data[0] / 4 % 255);
		memset(&c, 0, sizeof(c));
		c.fn = mode == 2 ? privacy_decrypt : privacy_decrypt_deterministic;
		c.value = ct;
		FUZZ_CHECK(!fuzz_call(crypto_call, &c));
	}
	fuzz_reset();
	return 0;
}

/*-------------------------------------------------------------------------
 * crypto.h
 *	  Primitives shared by the encryption modules: HMAC with cached states,
 *	  AES-256-GCM with a versioned header, and plaintext results.
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_CRYPTO_H
#define PRIVACY_CRYPTO_H

#include "keys.h"

#define FORMAT_GCM 1
#define FORMAT_SIV 2
#define FORMAT_SUBJECT 3
#define HEADER_LEN 5			/* format byte + key version (big-endian) */
#define GCM_NONCE 12
#define GCM_TAG 16
#define SIV_TAG 16

extern void privacy_hmac(PrivacyKey *k, const uint8 *msg, size_t len, uint8 *out);
extern bytea *privacy_gcm_encrypt(const uint8 *key, uint8 format, int32 version,
								  const uint8 *aad2, int aad2len, const uint8 *plain, int len);
extern uint8 *privacy_gcm_decrypt(const uint8 *key, const bytea *ct, const uint8 *aad2,
								  int aad2len, int *outlen);
extern bool privacy_s2v(const uint8 *k1, int k1len, const uint8 *const *ad, const int *adlen, int nad,
						const uint8 *plain, int len, uint8 *v);
extern int32 privacy_ct_header(const bytea *ct, uint8 format, int minlen, const char *fn);
/* the plaintext as text or bytea, as the calling SQL function declares */
extern Datum privacy_plain_result(FunctionCallInfo fcinfo, uint8 *plain, int len);

#endif							/* PRIVACY_CRYPTO_H */

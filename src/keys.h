/*-------------------------------------------------------------------------
 * keys.h
 *	  Named, versioned keys wrapped under a master key held outside SQL.
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_KEYS_H
#define PRIVACY_KEYS_H

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "fmgr.h"

#define PRIVACY_KEY_BYTES 32
#define PRIVACY_MAX_KEY_BYTES 64

/* what a key may be used for */
typedef enum PrivacyKeyUse
{
	PRIVACY_USE_ANY,			/* no use check: key administration */
	PRIVACY_USE_HMAC,			/* pseudonym, date_shift */
	PRIVACY_USE_FF1,			/* fpe_encrypt / fpe_decrypt */
	PRIVACY_USE_SIV,			/* encrypt_deterministic */
	PRIVACY_USE_GCM				/* encrypt, and wrapping subject keys */
} PrivacyKeyUse;

/*
 * One unwrapped key version, cached per backend.  A key made by create_key()
 * is a root key: each use gets its own subkey, HMAC-SHA-256(root, label).  A
 * key made by import_key() is bound to one use and used as given.
 */
typedef struct PrivacyKey
{
	char		name[NAMEDATALEN];	/* hash key: name and version */
	int32		version;
	char		algorithm[16];	/* any, hmac-sha256, ff1, aes-siv, aes-gcm */
	int			material_len;
	uint8		material[PRIVACY_MAX_KEY_BYTES];
	/* subkeys, derived on first use */
	bool		have_hmac;
	uint8		hmac_key[PRIVACY_MAX_KEY_BYTES];
	int			hmac_len;
	bool		have_ff1;
	EVP_CIPHER_CTX *ff1_ecb;	/* AES-ECB encryptor for FF1's PRF */
	bool		have_siv;
	uint8		siv_key[PRIVACY_MAX_KEY_BYTES];
	int			siv_len;
	bool		have_gcm;
	uint8		gcm_key[PRIVACY_KEY_BYTES];
	bool		have_hmac_state;
	SHA256_CTX	hmac_inner;		/* SHA-256 state after key XOR ipad */
	SHA256_CTX	hmac_outer;		/* SHA-256 state after key XOR opad */
} PrivacyKey;

/* bumped whenever the cache is flushed: cached PrivacyKey pointers expire */
extern uint64 privacy_key_generation;

/* the extension's own key naming subjects */
#define PRIVACY_SUBJECTS_KEY "privacy.subjects"

extern void privacy_keys_init(void);
extern PrivacyKey *privacy_subjects_key(void);

/* version 0: the current version; raises a clear error if missing */
extern PrivacyKey *privacy_key_get(const char *name, int32 version, PrivacyKeyUse use);

/* the current version of the key named by argument argno, cached in fn_extra */
extern PrivacyKey *privacy_key_for_call(FunctionCallInfo fcinfo, int argno, PrivacyKeyUse use);

/* the subkey for a use (derived and cached on first call) */
extern const uint8 *privacy_key_bytes(PrivacyKey *key, PrivacyKeyUse use, int *len);
extern EVP_CIPHER_CTX *privacy_key_ff1_cipher(PrivacyKey *key);

/* AES-256-GCM under the master key, for wrapping other keys */
extern bytea *privacy_master_wrap(const uint8 *secret, int len, const char *aad);
extern int	privacy_master_unwrap(const bytea *wrapped, const char *aad,
								  uint8 *out, int outlen, const char *what);

/* every OpenSSL failure goes through here: no key or data in the message */
/* what is wrong with the master key file (metadata only), or NULL */
extern const char *privacy_master_key_problem(const char **hint);

extern void privacy_openssl_error(const char *operation) pg_attribute_noreturn();

#endif							/* PRIVACY_KEYS_H */

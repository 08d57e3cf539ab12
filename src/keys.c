/*-------------------------------------------------------------------------
 * keys.c
 *	  Named, versioned keys: created from OpenSSL's CSPRNG, stored only wrapped
 *	  (AES-256-GCM) under a master key that lives in a file outside SQL,
 *	  unwrapped into a per-backend cache that every session invalidates when a
 *	  key changes, and wiped when dropped from the cache.
 *
 * The master key file is named by the superuser-only setting
 * privacy.master_key_file.  It must hold exactly 32 bytes and be readable by
 * the server's OS user only.  Neither the file's content nor any key is ever
 * returned by a function, put in a message, or logged.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "audit.h"
#include "keys.h"
#include "citus.h"
#include "privacy.h"

#define WRAP_FORMAT 1
#define WRAP_NONCE 12
#define WRAP_TAG 16

static char *master_key_file = NULL;
static uint8 master_key[PRIVACY_KEY_BYTES];
static bool master_loaded = false;

uint64		privacy_key_generation = 1;
static HTAB *key_cache = NULL;		/* (name, version) -> PrivacyKey */
static HTAB *current_cache = NULL;	/* name -> current version */

typedef struct CurrentVersion
{
	char		name[NAMEDATALEN];
	int32		version;
} CurrentVersion;

typedef struct KeyHashKey
{
	char		name[NAMEDATALEN];
	int32		version;
} KeyHashKey;

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------
 */
void
privacy_openssl_error(const char *operation)
{
	unsigned long e = ERR_get_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("OpenSSL failed to %s", operation),
			 reason ? errdetail("OpenSSL reports: %s.", reason) : 0));
}

/* ------------------------------------------------------------------------
 * The cache
 * ------------------------------------------------------------------------
 */
static void
keys_wipe_entry(PrivacyKey *k)
{
	if (k->ff1_ecb)
		EVP_CIPHER_CTX_free(k->ff1_ecb);
	OPENSSL_cleanse(k, sizeof(PrivacyKey));
}

static Oid	key_table_oid;
static Oid	key_version_table_oid;

static void
keys_flush_cache(void)
{
	privacy_key_generation++;
	/* re-learned on the next load: the extension may have been recreated */
	key_table_oid = InvalidOid;
	key_version_table_oid = InvalidOid;
	if (key_cache)
	{
		HASH_SEQ_STATUS status;
		PrivacyKey *k;

		hash_seq_init(&status, key_cache);
		while ((k = (PrivacyKey *) hash_seq_search(&status)) != NULL)
			keys_wipe_entry(k);
		hash_destroy(key_cache);
		key_cache = NULL;
	}
	if (current_cache)
	{
		hash_destroy(current_cache);
		current_cache = NULL;
	}
}

static void keys_learn_table_oids(void);

static void
keys_forget_master(void)
{
	OPENSSL_cleanse(master_key, sizeof(master_key));
	master_loaded = false;
	keys_flush_cache();
}

/* privacy.master_key_file changed: forget everything derived from the old one */
static void
keys_master_assign(const char *newval, void *extra)
{
	keys_forget_master();
}

/*
 * Which version is current depends on the snapshot it was read under, so that
 * map lives for one transaction; unwrapped versions never change and stay.
 */
static void
keys_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (current_cache)
			{
				hash_destroy(current_cache);
				current_cache = NULL;
			}
			privacy_key_generation++;
			break;
		default:
			break;
	}
}

/* the key tables' OIDs (declared above) are learned when a key is loaded */

/*
 * A key table changed, here or in another session (see key_cache_invalidate),
 * or every relcache entry is being reset.  Invalidations of other tables
 * (any DDL, ANALYZE) leave the cache alone.
 */
void
privacy_keys_relcache(Datum arg, Oid relid)
{
	if (relid == InvalidOid || !OidIsValid(key_table_oid) ||
		relid == key_table_oid || relid == key_version_table_oid)
		keys_flush_cache();
}

static void
keys_learn_table_oids(void)
{
	Oid			nsp = get_namespace_oid(PRIVACY_SCHEMA, true);

	if (OidIsValid(nsp))
	{
		key_table_oid = get_relname_relid("key", nsp);
		key_version_table_oid = get_relname_relid("key_version", nsp);
	}
}

void
privacy_keys_init(void)
{
	DefineCustomStringVariable("privacy.master_key_file",
							   "File holding the 32-byte master key that wraps every key.",
							   "Relative paths are relative to the data directory. "
							   "The file must be readable by the server's OS user only.",
							   &master_key_file,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY,
							   NULL,
							   keys_master_assign,
							   NULL);
	RegisterXactCallback(keys_xact_callback, NULL);
}

static void
keys_ensure_cache(void)
{
	HASHCTL		ctl;

	if (key_cache == NULL)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(KeyHashKey);
		ctl.entrysize = sizeof(PrivacyKey);
		ctl.hcxt = TopMemoryContext;
		key_cache = hash_create("privacy keys", 16, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (current_cache == NULL)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(CurrentVersion);
		ctl.hcxt = TopMemoryContext;
		current_cache = hash_create("privacy current key versions", 16, &ctl,
									HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
}

/* ------------------------------------------------------------------------
 * The master key
 * ------------------------------------------------------------------------
 */
/*
 * What is wrong with an opened master key file, or NULL: the file must be a
 * regular file of exactly 32 bytes, owned by the server's OS user and closed
 * to everyone else.  *hint gets what to do.
 */
static const char *
keys_master_stat_problem(const struct stat *st, const char **hint)
{
	*hint = NULL;
	if (!S_ISREG(st->st_mode))
		return "the master key file is not a regular file";
	if (st->st_uid != geteuid())
		return "the master key file is not owned by the database server's OS user";
	if ((st->st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		*hint = "Make it readable by its owner only: chmod 600.";
		return "the master key file is accessible by other users than its owner";
	}
	if (st->st_size != PRIVACY_KEY_BYTES)
	{
		*hint = "Create it with: head -c 32 /dev/urandom > FILE";
		return "the master key file must hold exactly 32 bytes";
	}
	return NULL;
}

/*
 * What is wrong with the master key file, or NULL; for privacy.check().  It
 * looks at the file's metadata only, never at its contents, and the message
 * does not name the path.
 */
const char *
privacy_master_key_problem(const char **hint)
{
	struct stat st;

	*hint = NULL;
	if (master_key_file == NULL || master_key_file[0] == '\0')
	{
		*hint = "Create a file of 32 random bytes readable only by the server's OS user and name it in privacy.master_key_file (see doc/keys.md).";
		return "privacy.master_key_file is not set";
	}
	if (stat(master_key_file, &st) != 0)
		return psprintf("could not access the master key file named by privacy.master_key_file: %s",
						strerror(errno));
	return keys_master_stat_problem(&st, hint);
}

static void
keys_load_master(void)
{
	int			fd;
	struct stat st;
	ssize_t		got;
	const char *problem;
	const char *hint;

	if (master_loaded)
		return;
	if (master_key_file == NULL || master_key_file[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("privacy.master_key_file is not set"),
				 errhint("Create a file of 32 random bytes readable only by the server's OS user and name it in privacy.master_key_file (see doc/keys.md).")));

	fd = open(master_key_file, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not open the master key file named by privacy.master_key_file: %m")));
	if (fstat(fd, &st) != 0)
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not stat the master key file: %m")));
	}
	problem = keys_master_stat_problem(&st, &hint);
	if (problem != NULL)
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s", problem),
				 S_ISREG(st.st_mode) && st.st_size != PRIVACY_KEY_BYTES ?
				 errdetail("It holds %lld bytes.", (long long) st.st_size) : 0,
				 hint ? errhint("%s", hint) : 0));
	}
	got = read(fd, master_key, PRIVACY_KEY_BYTES);
	close(fd);
	if (got != PRIVACY_KEY_BYTES)
	{
		OPENSSL_cleanse(master_key, sizeof(master_key));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not read the master key file")));
	}
	master_loaded = true;
}

/*
 * privacy_master_wrap: AES-256-GCM under the master key.  The result is
 * format byte || nonce || ciphertext || tag; aad binds it to what it wraps.
 */
bytea *
privacy_master_wrap(const uint8 *secret, int len, const char *aad)
{
	EVP_CIPHER_CTX *ctx;
	bytea	   *out = palloc(VARHDRSZ + 1 + WRAP_NONCE + len + WRAP_TAG);
	uint8	   *p = (uint8 *) VARDATA(out);
	int			n;

	keys_load_master();
	SET_VARSIZE(out, VARHDRSZ + 1 + WRAP_NONCE + len + WRAP_TAG);
	p[0] = WRAP_FORMAT;
	if (RAND_bytes(p + 1, WRAP_NONCE) != 1)
		privacy_openssl_error("generate a nonce");
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		privacy_openssl_error("allocate a cipher context");
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, master_key, p + 1) != 1 ||
		EVP_EncryptUpdate(ctx, NULL, &n, (const uint8 *) aad, strlen(aad)) != 1 ||
		EVP_EncryptUpdate(ctx, p + 1 + WRAP_NONCE, &n, secret, len) != 1 ||
		EVP_EncryptFinal_ex(ctx, p + 1 + WRAP_NONCE + n, &n) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, WRAP_TAG, p + 1 + WRAP_NONCE + len) != 1)
	{
		EVP_CIPHER_CTX_free(ctx);
		privacy_openssl_error("wrap a key");
	}
	EVP_CIPHER_CTX_free(ctx);
	return out;
}

/* returns the unwrapped length; raises a clear error if it does not verify */
int
privacy_master_unwrap(const bytea *wrapped, const char *aad, uint8 *out, int outlen,
					  const char *what)
{
	const uint8 *p = (const uint8 *) VARDATA_ANY(wrapped);
	int			len = VARSIZE_ANY_EXHDR(wrapped) - 1 - WRAP_NONCE - WRAP_TAG;
	EVP_CIPHER_CTX *ctx;
	int			n;
	int			ok;

	keys_load_master();
	if (len <= 0 || len > outlen || p[0] != WRAP_FORMAT)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the stored %s is malformed", what)));
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		privacy_openssl_error("allocate a cipher context");
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, master_key, p + 1) == 1 &&
		EVP_DecryptUpdate(ctx, NULL, &n, (const uint8 *) aad, strlen(aad)) == 1 &&
		EVP_DecryptUpdate(ctx, out, &n, p + 1 + WRAP_NONCE, len) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, WRAP_TAG,
							(void *) (p + 1 + WRAP_NONCE + len)) == 1 &&
		EVP_DecryptFinal_ex(ctx, out + n, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	ERR_clear_error();
	if (!ok)
	{
		OPENSSL_cleanse(out, outlen);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot unwrap the %s: it was wrapped under a different master key, or altered", what),
				 errhint("Check privacy.master_key_file: it must name the master key file this database's keys were created under.")));
	}
	return len;
}

/* ------------------------------------------------------------------------
 * Loading a key version
 * ------------------------------------------------------------------------
 */
typedef struct KeyLoad
{
	const char *name;
	int32		version;		/* 0: current */
	bool		found;
	char		algorithm[16];
	int32		current_version;
	int32		loaded_version;
	bytea	   *wrapped;
} KeyLoad;

static void
keys_load_spi(void *arg)
{
	KeyLoad    *kl = (KeyLoad *) arg;
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	bool		isnull;

	values[0] = CStringGetTextDatum(kl->name);
	values[1] = Int32GetDatum(kl->version);
	if (kl->version == 0)
		nulls[1] = 'n';
	if (SPI_execute_with_args(
							  "SELECT k.algorithm, k.current_version, v.version, v.wrapped"
							  "  FROM privacy.key k JOIN privacy.key_version v"
							  "    ON v.name OPERATOR(pg_catalog.=) k.name"
							  " WHERE k.name OPERATOR(pg_catalog.=) $1"
							  "   AND v.version OPERATOR(pg_catalog.=) COALESCE($2, k.current_version)",
							  2, types, values, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read privacy.key");
	kl->found = SPI_processed > 0;
	if (kl->found)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *alg = SPI_getvalue(tup, desc, 1);
		bytea	   *w;

		strlcpy(kl->algorithm, alg, sizeof(kl->algorithm));
		kl->current_version = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		kl->loaded_version = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		w = DatumGetByteaPP(SPI_getbinval(tup, desc, 4, &isnull));
		kl->wrapped = (bytea *) SPI_palloc(VARSIZE_ANY(w));
		memcpy(kl->wrapped, w, VARSIZE_ANY(w));
	}
}

static char *
keys_wrap_aad(const char *name, int32 version)
{
	return psprintf("privacy:key:%s:%d", name, version);
}

static const char *
keys_use_algorithm(PrivacyKeyUse use)
{
	switch (use)
	{
		case PRIVACY_USE_ANY:
			return "any";
		case PRIVACY_USE_HMAC:
			return "hmac-sha256";
		case PRIVACY_USE_FF1:
			return "ff1";
		case PRIVACY_USE_SIV:
			return "aes-siv";
		case PRIVACY_USE_GCM:
			return "aes-gcm";
	}
	return "?";
}

PrivacyKey *
privacy_key_get(const char *name, int32 version, PrivacyKeyUse use)
{
	KeyHashKey	hk;
	PrivacyKey *k;
	bool		found;
	KeyLoad		kl;

	/*
	 * one set of keys for a Citus cluster: the coordinator's, mirrored to
	 * every worker by privacy.citus_setup() (src/sql/code/citus.sql)
	 */
	privacy_require_mirror("a function that uses a key");
	if (strlen(name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("key \"%s\" does not exist", name)));
	keys_ensure_cache();
	if (version == 0)
	{
		CurrentVersion *cv = hash_search(current_cache, name, HASH_FIND, NULL);

		if (cv)
			version = cv->version;
	}
	memset(&hk, 0, sizeof(hk));
	strlcpy(hk.name, name, NAMEDATALEN);
	hk.version = version;
	k = version ? hash_search(key_cache, &hk, HASH_FIND, NULL) : NULL;

	if (k == NULL)
	{
		uint8		material[PRIVACY_MAX_KEY_BYTES];
		int			len;
		CurrentVersion *cv;

		memset(&kl, 0, sizeof(kl));
		kl.name = name;
		kl.version = version;
		privacy_as_owner(keys_load_spi, &kl);
		if (!kl.found)
		{
			if (version == 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("key \"%s\" does not exist", name),
						 errhint("Create it with privacy.create_key().")));
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("version %d of key \"%s\" does not exist", version, name),
					 errdetail("The value was produced under a key version that was dropped, or under another key.")));
		}
		len = privacy_master_unwrap(kl.wrapped, keys_wrap_aad(name, kl.loaded_version),
									material, sizeof(material), psprintf("key \"%s\"", name));
		if (!OidIsValid(key_table_oid))
			keys_learn_table_oids();

		/* SPI is done: no invalidation can arrive until we return */
		keys_ensure_cache();
		hk.version = kl.loaded_version;
		k = hash_search(key_cache, &hk, HASH_ENTER, &found);
		if (found)
			keys_wipe_entry(k);
		memset(((char *) k) + sizeof(KeyHashKey), 0, sizeof(PrivacyKey) - sizeof(KeyHashKey));
		strlcpy(k->name, name, NAMEDATALEN);
		k->version = kl.loaded_version;
		strlcpy(k->algorithm, kl.algorithm, sizeof(k->algorithm));
		memcpy(k->material, material, len);
		k->material_len = len;
		OPENSSL_cleanse(material, sizeof(material));
		cv = hash_search(current_cache, name, HASH_ENTER, &found);
		cv->version = kl.current_version;
	}

	if (use != PRIVACY_USE_ANY && strcmp(k->algorithm, "any") != 0 &&
		strcmp(k->algorithm, keys_use_algorithm(use)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("key \"%s\" was imported for %s and cannot be used for %s",
						name, k->algorithm, keys_use_algorithm(use))));
	return k;
}

/* ------------------------------------------------------------------------
 * Keys per call site: the key named by argument argno, looked up once and
 * kept in fn_extra until the key cache is flushed.
 * ------------------------------------------------------------------------
 */
typedef struct CallKey
{
	uint64		generation;
	PrivacyKeyUse use;
	char		name[NAMEDATALEN];
	PrivacyKey *key;
} CallKey;

PrivacyKey *
privacy_key_for_call(FunctionCallInfo fcinfo, int argno, PrivacyKeyUse use)
{
	text	   *t = PG_GETARG_TEXT_PP(argno);
	int			len = VARSIZE_ANY_EXHDR(t);
	CallKey    *ck = (CallKey *) fcinfo->flinfo->fn_extra;
	char		name[NAMEDATALEN];

	if (ck == NULL)
		privacy_require_mirror_fn(fcinfo);
	if (len >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("key \"%s\" does not exist", text_to_cstring(t))));
	if (ck != NULL && ck->generation == privacy_key_generation && ck->use == use &&
		strncmp(ck->name, VARDATA_ANY(t), len) == 0 && ck->name[len] == '\0')
		return ck->key;

	memcpy(name, VARDATA_ANY(t), len);
	name[len] = '\0';
	/* the extension's own keys (privacy.subjects names subjects) are its own */
	if (strncmp(name, "privacy.", 8) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("key names starting with \"privacy.\" are reserved"),
				 errdetail("The extension keeps its own keys under that prefix; no function takes them by name.")));
	if (ck == NULL)
	{
		ck = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CallKey));
		fcinfo->flinfo->fn_extra = ck;
	}
	ck->key = privacy_key_get(name, 0, use);
	ck->generation = privacy_key_generation;
	ck->use = use;
	strlcpy(ck->name, name, NAMEDATALEN);
	return ck->key;
}

/* HMAC-SHA-256(root, label): one subkey per use of a root key */
static void
keys_derive(const PrivacyKey *k, const char *label, uint8 *out)
{
	unsigned int len = PRIVACY_KEY_BYTES;

	if (HMAC(EVP_sha256(), k->material, k->material_len,
			 (const uint8 *) label, strlen(label), out, &len) == NULL)
		privacy_openssl_error("derive a subkey");
}

const uint8 *
privacy_key_bytes(PrivacyKey *k, PrivacyKeyUse use, int *len)
{
	bool		root = strcmp(k->algorithm, "any") == 0;

	switch (use)
	{
		case PRIVACY_USE_HMAC:
			if (!k->have_hmac)
			{
				if (root)
				{
					keys_derive(k, "privacy/hmac-sha256", k->hmac_key);
					k->hmac_len = PRIVACY_KEY_BYTES;
				}
				else
				{
					memcpy(k->hmac_key, k->material, k->material_len);
					k->hmac_len = k->material_len;
				}
				k->have_hmac = true;
			}
			*len = k->hmac_len;
			return k->hmac_key;
		case PRIVACY_USE_SIV:
			if (!k->have_siv)
			{
				if (root)
				{
					/* AES-256-SIV: two 256-bit keys */
					keys_derive(k, "privacy/aes-siv/1", k->siv_key);
					keys_derive(k, "privacy/aes-siv/2", k->siv_key + PRIVACY_KEY_BYTES);
					k->siv_len = 2 * PRIVACY_KEY_BYTES;
				}
				else
				{
					memcpy(k->siv_key, k->material, k->material_len);
					k->siv_len = k->material_len;
				}
				k->have_siv = true;
			}
			*len = k->siv_len;
			return k->siv_key;
		case PRIVACY_USE_GCM:
			if (!k->have_gcm)
			{
				if (root)
					keys_derive(k, "privacy/aes-gcm", k->gcm_key);
				else
					memcpy(k->gcm_key, k->material, PRIVACY_KEY_BYTES);
				k->have_gcm = true;
			}
			*len = PRIVACY_KEY_BYTES;
			return k->gcm_key;
		case PRIVACY_USE_FF1:
		case PRIVACY_USE_ANY:
			break;
	}
	elog(ERROR, "unexpected key use %d", (int) use);
	return NULL;
}

/* the AES-ECB encryptor FF1 uses as its round function, cached with the key */
EVP_CIPHER_CTX *
privacy_key_ff1_cipher(PrivacyKey *k)
{
	if (!k->have_ff1)
	{
		uint8		sub[PRIVACY_KEY_BYTES];
		const uint8 *key = k->material;
		const EVP_CIPHER *cipher;
		int			len = k->material_len;

		if (strcmp(k->algorithm, "any") == 0)
		{
			keys_derive(k, "privacy/ff1", sub);
			key = sub;
			len = PRIVACY_KEY_BYTES;
		}
		cipher = len == 16 ? EVP_aes_128_ecb() : len == 24 ? EVP_aes_192_ecb() : EVP_aes_256_ecb();
		k->ff1_ecb = EVP_CIPHER_CTX_new();
		if (k->ff1_ecb == NULL ||
			EVP_EncryptInit_ex(k->ff1_ecb, cipher, NULL, key, NULL) != 1 ||
			EVP_CIPHER_CTX_set_padding(k->ff1_ecb, 0) != 1)
		{
			OPENSSL_cleanse(sub, sizeof(sub));
			if (k->ff1_ecb)
				EVP_CIPHER_CTX_free(k->ff1_ecb);
			k->ff1_ecb = NULL;
			privacy_openssl_error("set up AES for FF1");
		}
		OPENSSL_cleanse(sub, sizeof(sub));
		k->have_ff1 = true;
	}
	return k->ff1_ecb;
}

/* ------------------------------------------------------------------------
 * SQL: create_key, rotate_key, drop_key, import_key
 * ------------------------------------------------------------------------
 */
typedef struct KeyWrite
{
	const char *sql;
	int			nargs;
	Oid			types[4];
	Datum		values[4];
	int64		processed;
	int32		result;
	bool		has_result;
} KeyWrite;

static void
keys_write_spi(void *arg)
{
	KeyWrite   *kw = (KeyWrite *) arg;
	int			rc = SPI_execute_with_args(kw->sql, kw->nargs, kw->types, kw->values,
										   NULL, false, 0);

	if (rc < 0)
		elog(ERROR, "could not write privacy.key");
	kw->processed = SPI_processed;
	kw->has_result = false;
	if (SPI_processed > 0 && SPI_tuptable != NULL)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			kw->result = DatumGetInt32(d);
			kw->has_result = true;
		}
	}
}

static KeyWrite
keys_sql(const char *sql, int nargs, Oid t0, Datum v0, Oid t1, Datum v1,
		 Oid t2, Datum v2, Oid t3, Datum v3)
{
	KeyWrite	kw;

	memset(&kw, 0, sizeof(kw));
	kw.sql = sql;
	kw.nargs = nargs;
	kw.types[0] = t0;
	kw.values[0] = v0;
	kw.types[1] = t1;
	kw.values[1] = v1;
	kw.types[2] = t2;
	kw.values[2] = v2;
	kw.types[3] = t3;
	kw.values[3] = v3;
	privacy_as_owner(keys_write_spi, &kw);
	return kw;
}

static void
keys_check_name(const char *name)
{
	const char *c;

	if (strncmp(name, "privacy.", 8) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("key names starting with \"privacy.\" are reserved"),
				 errdetail("The extension keeps its own keys under that prefix.")));

	if (name[0] == '\0' || strlen(name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid key name"),
				 errdetail("Key names are 1 to %d characters: lower-case letters, digits, _ . and -, starting with a letter.",
						   NAMEDATALEN - 1)));
	for (c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (c > name && ((*c >= '0' && *c <= '9') ||
														*c == '_' || *c == '.' || *c == '-'))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid key name \"%s\"", name),
					 errdetail("Key names are 1 to %d characters: lower-case letters, digits, _ . and -, starting with a letter.",
							   NAMEDATALEN - 1)));
}

/* store a new version of a key; the material is wiped by the caller */
static void
keys_store(const char *name, int32 version, const uint8 *material, int len)
{
	bytea	   *wrapped = privacy_master_wrap(material, len, keys_wrap_aad(name, version));

	keys_sql("INSERT INTO privacy.key_version (name, version, wrapped) VALUES ($1, $2, $3)",
			 3, TEXTOID, CStringGetTextDatum(name), INT4OID, Int32GetDatum(version),
			 BYTEAOID, PointerGetDatum(wrapped), InvalidOid, (Datum) 0);
}

static void
keys_audit(const char *operation, const char *name, int32 version, const char *algorithm)
{
	StringInfoData d;

	initStringInfo(&d);
	appendStringInfo(&d, "{\"operation\": \"%s\", \"version\": %d, \"algorithm\": \"%s\"}",
					 operation, version, algorithm);
	privacy_audit_write("key", psprintf("key %s", name), d.data);
}

static int32
keys_create(const char *name, const char *algorithm, const uint8 *given, int len)
{
	uint8		material[PRIVACY_MAX_KEY_BYTES];
	KeyWrite	kw;

	/* keys are made on the coordinator only; a worker has its mirror */
	privacy_require_coordinator("a function that creates a key");
	if (given || strcmp(name, PRIVACY_SUBJECTS_KEY) != 0)
		keys_check_name(name);
	kw = keys_sql("SELECT 1 FROM privacy.key WHERE name OPERATOR(pg_catalog.=) $1",
				  1, TEXTOID, CStringGetTextDatum(name), InvalidOid, 0, InvalidOid, 0, InvalidOid, 0);
	if (kw.processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("key \"%s\" already exists", name),
				 errhint("Use privacy.rotate_key() to give it a new version.")));
	if (given)
		memcpy(material, given, len);
	else if (RAND_bytes(material, len) != 1)
		privacy_openssl_error("generate key material");

	PG_TRY();
	{
		keys_sql("INSERT INTO privacy.key (name, algorithm, current_version) VALUES ($1, $2, 1)",
				 2, TEXTOID, CStringGetTextDatum(name), TEXTOID, CStringGetTextDatum(algorithm),
				 InvalidOid, 0, InvalidOid, 0);
		keys_store(name, 1, material, len);
	}
	PG_FINALLY();
	{
		OPENSSL_cleanse(material, sizeof(material));
	}
	PG_END_TRY();
	keys_audit(given ? "import" : "create", name, 1, algorithm);
	return 1;
}

/*
 * The extension's own key that names subjects (privacy.subject_key and
 * receipts use HMAC(privacy.subjects, subject)), created on first use.
 */
PrivacyKey *
privacy_subjects_key(void)
{
	KeyWrite	kw;
	KeyHashKey	hk;
	PrivacyKey *k;

	privacy_require_mirror("a function that names subjects");
	/* after the first use, the unwrapped key is in the cache */
	keys_ensure_cache();
	memset(&hk, 0, sizeof(hk));
	strlcpy(hk.name, PRIVACY_SUBJECTS_KEY, NAMEDATALEN);
	hk.version = 1;
	k = hash_search(key_cache, &hk, HASH_FIND, NULL);
	if (k != NULL)
		return k;

	kw = keys_sql("SELECT 1 FROM privacy.key WHERE name OPERATOR(pg_catalog.=) $1",
				  1, TEXTOID, CStringGetTextDatum(PRIVACY_SUBJECTS_KEY),
				  InvalidOid, 0, InvalidOid, 0, InvalidOid, 0);
	if (kw.processed == 0)
	{
		/*
		 * Two sessions may both find no key: the second waits for the first
		 * to commit (a lock on privacy.key that no role without UPDATE on it
		 * can take or hold, unlike an advisory lock), then finds its key
		 * instead of creating another.
		 */
		LockRelationOid(get_relname_relid("key", get_namespace_oid(PRIVACY_SCHEMA, false)),
						ShareRowExclusiveLock);
		kw = keys_sql("SELECT 1 FROM privacy.key WHERE name OPERATOR(pg_catalog.=) $1",
					  1, TEXTOID, CStringGetTextDatum(PRIVACY_SUBJECTS_KEY),
					  InvalidOid, 0, InvalidOid, 0, InvalidOid, 0);
		if (kw.processed == 0)
			keys_create(PRIVACY_SUBJECTS_KEY, "hmac-sha256", NULL, PRIVACY_KEY_BYTES);
	}
	return privacy_key_get(PRIVACY_SUBJECTS_KEY, 1, PRIVACY_USE_HMAC);
}

PG_FUNCTION_INFO_V1(privacy_create_key);

/* privacy.create_key(name): a new root key of 32 random bytes */
Datum
privacy_create_key(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_INT32(keys_create(name, "any", NULL, PRIVACY_KEY_BYTES));
}

PG_FUNCTION_INFO_V1(privacy_import_key);

/*
 * privacy.import_key(name, material bytea, algorithm): for migrations, a key
 * that another system already uses, bound to that one algorithm.  Superusers
 * only: the material passes through SQL once.
 */
Datum
privacy_import_key(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bytea	   *material = PG_GETARG_BYTEA_PP(1);
	char	   *algorithm = text_to_cstring(PG_GETARG_TEXT_PP(2));
	int			len = VARSIZE_ANY_EXHDR(material);
	bool		ok;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers can import keys")));
	if (strcmp(algorithm, "hmac-sha256") == 0)
		ok = len >= 16 && len <= PRIVACY_MAX_KEY_BYTES;
	else if (strcmp(algorithm, "ff1") == 0)
		ok = len == 16 || len == 24 || len == 32;
	else if (strcmp(algorithm, "aes-siv") == 0)
		ok = len == 32 || len == 48 || len == 64;
	else if (strcmp(algorithm, "aes-gcm") == 0)
		ok = len == 32;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown key algorithm \"%s\"", algorithm),
				 errhint("Use hmac-sha256, ff1, aes-siv or aes-gcm.")));
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wrong key length for %s", algorithm),
				 errdetail("hmac-sha256 takes 16 to 64 bytes, ff1 16, 24 or 32, aes-siv 32, 48 or 64, aes-gcm 32.")));
	PG_RETURN_INT32(keys_create(name, algorithm, (const uint8 *) VARDATA_ANY(material), len));
}

PG_FUNCTION_INFO_V1(privacy_rotate_key);

/* privacy.rotate_key(name): a new current version; old versions still decrypt */
Datum
privacy_rotate_key(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	PrivacyKey *current;
	int			len;
	char		algorithm[16];
	uint8		material[PRIVACY_MAX_KEY_BYTES];
	KeyWrite	kw;
	int32		version;

	privacy_require_coordinator("privacy.rotate_key");
	keys_check_name(name);
	current = privacy_key_get(name, 0, PRIVACY_USE_ANY);
	len = current->material_len;
	strlcpy(algorithm, current->algorithm, sizeof(algorithm));
	kw = keys_sql("UPDATE privacy.key SET current_version = current_version OPERATOR(pg_catalog.+) 1,"
				  " rotated_at = pg_catalog.now() WHERE name OPERATOR(pg_catalog.=) $1"
				  " RETURNING current_version",
				  1, TEXTOID, CStringGetTextDatum(name), InvalidOid, 0, InvalidOid, 0, InvalidOid, 0);
	version = kw.result;
	if (RAND_bytes(material, len) != 1)
		privacy_openssl_error("generate key material");
	PG_TRY();
	{
		keys_store(name, version, material, len);
	}
	PG_FINALLY();
	{
		OPENSSL_cleanse(material, sizeof(material));
	}
	PG_END_TRY();
	keys_audit("rotate", name, version, algorithm);
	PG_RETURN_INT32(version);
}

PG_FUNCTION_INFO_V1(privacy_drop_key);

/* privacy.drop_key(name): every version goes; what it protected is unreadable */
Datum
privacy_drop_key(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	KeyWrite	kw;

	privacy_require_coordinator("privacy.drop_key");
	keys_check_name(name);
	kw = keys_sql("DELETE FROM privacy.key WHERE name OPERATOR(pg_catalog.=) $1 RETURNING current_version",
				  1, TEXTOID, CStringGetTextDatum(name), InvalidOid, 0, InvalidOid, 0, InvalidOid, 0);
	if (kw.processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("key \"%s\" does not exist", name)));
	keys_sql("DELETE FROM privacy.key_version WHERE name OPERATOR(pg_catalog.=) $1",
			 1, TEXTOID, CStringGetTextDatum(name), InvalidOid, 0, InvalidOid, 0, InvalidOid, 0);
	keys_audit("drop", name, kw.result, "");
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(privacy_key_cache_invalidate);

/*
 * Statement trigger on the key tables: tell every session (this one at the
 * next command, the others at their next transaction) to drop cached keys.
 */
Datum
privacy_key_cache_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "key_cache_invalidate must be called as a trigger");
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}

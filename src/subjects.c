/*-------------------------------------------------------------------------
 * subjects.c
 *	  Per-subject data keys and crypto-shredding.
 *
 * Each subject's data key lives outside the database, as one file in the
 * directory named by the superuser-only setting privacy.subject_key_dir,
 * wrapped (AES-256-GCM) under the master key and named by the subject's
 * keyed pseudonym, HMAC(privacy.subjects, subject).  The database holds no
 * subject key, so no database backup (pg_dump, base backup, WAL archive) does
 * either.  privacy.shred_subject() writes a tombstone row (transactional,
 * dumped, replicated) and deletes the key file when its transaction commits;
 * from then on every copy of that subject's ciphertexts, in every backup of
 * the database, is unreadable.  A file whose subject has a tombstone (left by
 * a crash between commit and deletion) is refused and removed on sight and by
 * privacy.sweep_subject_keys().
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "audit.h"
#include "crypto.h"
#include "keys.h"
#include "privacy.h"

#define WRAPPED_LEN (1 + 12 + PRIVACY_KEY_BYTES + 16)

static char *subject_key_dir = NULL;
static bool dir_checked = false;

/* key files to delete when the transaction that shredded them commits */
typedef struct PendingUnlink
{
	char		path[MAXPGPATH];
	SubTransactionId subid;
	struct PendingUnlink *next;
} PendingUnlink;

static PendingUnlink *pending = NULL;

static void
subj_free_pending(void)
{
	while (pending)
	{
		PendingUnlink *next = pending->next;

		pfree(pending);
		pending = next;
	}
}

static void
subj_xact_callback(XactEvent event, void *arg)
{
	PendingUnlink *p;

	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (pending)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that shredded a subject key")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			for (p = pending; p; p = p->next)
			{
				if (unlink(p->path) != 0 && errno != ENOENT)
					ereport(WARNING,
							(errcode_for_file_access(),
							 errmsg("could not remove a shredded subject key file: %m"),
							 errhint("Run SELECT privacy.sweep_subject_keys() to remove it.")));
			}
			if (pending && subject_key_dir && subject_key_dir[0])
				(void) fsync_fname_ext(subject_key_dir, true, false, WARNING);
			subj_free_pending();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			subj_free_pending();
			break;
		default:
			break;
	}
}

static void
subj_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	PendingUnlink **link = &pending;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		while (*link)
		{
			if ((*link)->subid == mySubid)
			{
				PendingUnlink *gone = *link;

				*link = gone->next;
				pfree(gone);
			}
			else
				link = &(*link)->next;
		}
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		PendingUnlink *p;

		for (p = pending; p; p = p->next)
			if (p->subid == mySubid)
				p->subid = parentSubid;
	}
}

static void
subj_dir_assign(const char *newval, void *extra)
{
	dir_checked = false;
}

void
privacy_subjects_init(void)
{
	DefineCustomStringVariable("privacy.subject_key_dir",
							   "Directory holding one wrapped data key per subject, outside the database.",
							   "Relative paths are relative to the data directory. It must be accessible by the server's OS user only.",
							   &subject_key_dir,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY,
							   NULL,
							   subj_dir_assign,
							   NULL);
	RegisterXactCallback(subj_xact_callback, NULL);
	RegisterSubXactCallback(subj_subxact_callback, NULL);
}

/*
 * What is wrong with the subject key directory, or NULL: it must be a
 * directory owned by the server's OS user, closed to everyone else, outside
 * the data directory.  *hint and *detail get what to do and why.
 */
const char *
privacy_subject_key_dir_problem(const char **hint, const char **detail)
{
	struct stat st;
	char	   *dir;
	char	   *data;
	bool		inside;

	*hint = NULL;
	*detail = NULL;
	if (subject_key_dir == NULL || subject_key_dir[0] == '\0')
	{
		*hint = "Create a directory outside the data directory, accessible by the server's OS user only (chmod 700), and name it in privacy.subject_key_dir (see doc/keys.md).";
		return "privacy.subject_key_dir is not set";
	}
	if (stat(subject_key_dir, &st) != 0)
		return psprintf("could not access the directory named by privacy.subject_key_dir: %s",
						strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return "privacy.subject_key_dir does not name a directory";
	if (st.st_uid != geteuid())
		return "the subject key directory is not owned by the database server's OS user";
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		*hint = "Make it accessible by its owner only: chmod 700.";
		return "the subject key directory is accessible by other users than its owner";
	}
	dir = realpath(subject_key_dir, NULL);
	data = realpath(DataDir, NULL);
	if (dir == NULL || data == NULL)
	{
		const char *problem = psprintf("could not resolve the subject key directory: %s",
									   strerror(errno));

		free(dir);
		free(data);
		return problem;
	}
	inside = strcmp(dir, data) == 0 ||
		(strncmp(dir, data, strlen(data)) == 0 && dir[strlen(data)] == '/');
	free(dir);
	free(data);
	if (inside)
	{
		*detail = "Base backups copy the data directory: keys kept there would outlive a shred in every backup.";
		return "the subject key directory must be outside the data directory";
	}
	return NULL;
}

static void
subj_check_dir(void)
{
	const char *problem;
	const char *hint;
	const char *detail;

	if (dir_checked && subject_key_dir != NULL && subject_key_dir[0] != '\0')
		return;
	problem = privacy_subject_key_dir_problem(&hint, &detail);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s", problem),
				 detail ? errdetail("%s", detail) : 0,
				 hint ? errhint("%s", hint) : 0));
	dir_checked = true;
}

/* ------------------------------------------------------------------------
 * Subject ids, tombstones and key files
 * ------------------------------------------------------------------------
 */
static void
subj_id(text *subject, uint8 *id)
{
	privacy_hmac(privacy_subjects_key(), (const uint8 *) VARDATA_ANY(subject),
				 VARSIZE_ANY_EXHDR(subject), id);
}

static int
subj_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static char *
subj_hex(const uint8 *id)
{
	static const char hex[] = "0123456789abcdef";
	char	   *s = palloc(2 * SHA256_DIGEST_LENGTH + 1);
	int			i;

	for (i = 0; i < SHA256_DIGEST_LENGTH; i++)
	{
		s[2 * i] = hex[id[i] >> 4];
		s[2 * i + 1] = hex[id[i] & 0xf];
	}
	s[2 * SHA256_DIGEST_LENGTH] = '\0';
	return s;
}

static char *
subj_path(const uint8 *id)
{
	return psprintf("%s/%s.key", subject_key_dir, subj_hex(id));
}

typedef struct Tombstone
{
	bytea	   *id;
	bool		insert;			/* write one */
	bool		found;			/* out: there is one */
} Tombstone;

static void
subj_tombstone_spi(void *arg)
{
	Tombstone  *t = (Tombstone *) arg;
	Oid			type = BYTEAOID;
	Datum		value = PointerGetDatum(t->id);

	if (t->insert &&
		SPI_execute_with_args("INSERT INTO privacy.shredded_subject (subject_id) VALUES ($1)"
							  " ON CONFLICT (subject_id) DO NOTHING",
							  1, &type, &value, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record a shredded subject");
	if (SPI_execute_with_args("SELECT 1 FROM privacy.shredded_subject WHERE subject_id OPERATOR(pg_catalog.=) $1",
							  1, &type, &value, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read privacy.shredded_subject");
	t->found = SPI_processed > 0;
}

static bool
subj_tombstoned(const uint8 *id, bool insert)
{
	Tombstone	t;
	bytea	   *b = (bytea *) palloc(VARHDRSZ + SHA256_DIGEST_LENGTH);

	memcpy(VARDATA(b), id, SHA256_DIGEST_LENGTH);
	SET_VARSIZE(b, VARHDRSZ + SHA256_DIGEST_LENGTH);
	t.id = b;
	t.insert = insert;
	t.found = false;
	privacy_as_owner(subj_tombstone_spi, &t);
	return t.found;
}

/* is this key file to be deleted when the current transaction commits? */
static bool
subj_pending(const char *path)
{
	PendingUnlink *p;

	for (p = pending; p; p = p->next)
		if (strcmp(p->path, path) == 0)
			return true;
	return false;
}

/*
 * A key file whose subject has a tombstone that is not this transaction's own
 * (uncommitted) shred is a leftover: a crash came between a shred's commit and
 * the deletion, or the directory was restored from a backup.  It goes now.
 */
static bool
subj_remove_leftover(const uint8 *id)
{
	char	   *path = subj_path(id);

	if (subj_pending(path))
		return false;
	return unlink(path) == 0;
}

static void
subj_shredded_error(const uint8 *id)
{
	(void) subj_remove_leftover(id);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the subject's key was shredded"),
			 errdetail("Values encrypted for this subject can no longer be decrypted, and no new ones are accepted.")));
}

/* read the wrapped key file; false when there is none */
static bool
subj_read_file(const char *path, bytea **wrapped)
{
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	bytea	   *b;
	int			got;

	if (fd < 0)
	{
		if (errno == ENOENT)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open a subject key file: %m")));
	}
	b = (bytea *) palloc(VARHDRSZ + WRAPPED_LEN + 1);
	got = read(fd, VARDATA(b), WRAPPED_LEN + 1);
	CloseTransientFile(fd);
	if (got != WRAPPED_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a subject key file is malformed")));
	SET_VARSIZE(b, VARHDRSZ + WRAPPED_LEN);
	*wrapped = b;
	return true;
}

/* write a new wrapped key file; if another session won the race, keep its */
static void
subj_write_file(const char *path, const bytea *wrapped)
{
	char	   *tmp = psprintf("%s.%d.tmp", path, MyProcPid);
	int			fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY);

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create a subject key file: %m")));
	if (write(fd, VARDATA_ANY(wrapped), WRAPPED_LEN) != WRAPPED_LEN || pg_fsync(fd) != 0)
	{
		int			save = errno;

		CloseTransientFile(fd);
		unlink(tmp);
		errno = save;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write a subject key file: %m")));
	}
	CloseTransientFile(fd);
	if (link(tmp, path) != 0 && errno != EEXIST)
	{
		int			save = errno;

		unlink(tmp);
		errno = save;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create a subject key file: %m")));
	}
	unlink(tmp);
	fsync_fname(subject_key_dir, true);
}

/* the subject's data key into key; created on first use when create is true */
static void
subj_key(text *subject, bool create, uint8 *id, uint8 *key)
{
	char	   *path;
	char	   *aad;
	bytea	   *wrapped;

	subj_check_dir();
	subj_id(subject, id);
	if (subj_tombstoned(id, false))
		subj_shredded_error(id);
	path = subj_path(id);
	aad = psprintf("privacy:subject:%s", subj_hex(id));
	if (!subj_read_file(path, &wrapped))
	{
		uint8		fresh[PRIVACY_KEY_BYTES];

		if (!create)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no key exists for this subject"),
					 errdetail("Nothing was ever encrypted for this subject, or its key file is missing from privacy.subject_key_dir."),
					 errhint("After restoring a database elsewhere, restore the subject key directory too.")));
		if (RAND_bytes(fresh, sizeof(fresh)) != 1)
			privacy_openssl_error("generate key material");
		subj_write_file(path, privacy_master_wrap(fresh, sizeof(fresh), aad));
		OPENSSL_cleanse(fresh, sizeof(fresh));
		if (!subj_read_file(path, &wrapped))
			elog(ERROR, "subject key file vanished");
	}
	privacy_master_unwrap(wrapped, aad, key, PRIVACY_KEY_BYTES, "subject key");
}

/* ------------------------------------------------------------------------
 * SQL
 * ------------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(privacy_subject_encrypt);

/* privacy.subject_encrypt(subject text, value text|bytea) -> bytea */
Datum
privacy_subject_encrypt(PG_FUNCTION_ARGS)
{
	text	   *subject = PG_GETARG_TEXT_PP(0);
	bytea	   *value = PG_GETARG_BYTEA_PP(1);
	uint8		id[SHA256_DIGEST_LENGTH];
	uint8		key[PRIVACY_KEY_BYTES];
	bytea	   *out;

	subj_key(subject, true, id, key);
	out = privacy_gcm_encrypt(key, FORMAT_SUBJECT, 0, id, sizeof(id),
							  (const uint8 *) VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	OPENSSL_cleanse(key, sizeof(key));
	PG_RETURN_BYTEA_P(out);
}

static uint8 *
subj_decrypt(FunctionCallInfo fcinfo, int *len)
{
	text	   *subject = PG_GETARG_TEXT_PP(0);
	bytea	   *ct = PG_GETARG_BYTEA_PP(1);
	uint8		id[SHA256_DIGEST_LENGTH];
	uint8		key[PRIVACY_KEY_BYTES];
	uint8	   *volatile plain = NULL;

	privacy_ct_header(ct, FORMAT_SUBJECT, HEADER_LEN + GCM_NONCE + GCM_TAG, "privacy.subject_encrypt");
	subj_key(subject, false, id, key);
	PG_TRY();
	{
		plain = privacy_gcm_decrypt(key, ct, id, sizeof(id), len);
	}
	PG_FINALLY();
	{
		OPENSSL_cleanse(key, sizeof(key));
	}
	PG_END_TRY();
	return plain;
}

PG_FUNCTION_INFO_V1(privacy_subject_decrypt);
/* privacy.subject_decrypt(subject text, ciphertext bytea) -> text, and subject_decrypt_bytea -> bytea */
Datum
privacy_subject_decrypt(PG_FUNCTION_ARGS)
{
	int			len;
	uint8	   *plain = subj_decrypt(fcinfo, &len);

	return privacy_plain_result(fcinfo, plain, len);
}

PG_FUNCTION_INFO_V1(privacy_shred_subject);

/*
 * privacy.shred_subject(subject text) -> boolean: tombstone now, delete the
 * key file at commit.  True when the subject had a key that this destroys.
 * privacy.shred_subject(subject text, audited boolean): the same, with no
 * audit entry of its own when audited is false (cancellation's receipt says
 * whether the key was destroyed).
 */
Datum
privacy_shred_subject(PG_FUNCTION_ARGS)
{
	text	   *subject = PG_GETARG_TEXT_PP(0);
	uint8		id[SHA256_DIGEST_LENGTH];
	char	   *path;
	bool		already;
	bool		had_key;
	struct stat st;
	PendingUnlink *p;

	subj_check_dir();
	subj_id(subject, id);
	path = subj_path(id);
	already = subj_tombstoned(id, false);
	had_key = !already && stat(path, &st) == 0;
	(void) subj_tombstoned(id, true);

	p = MemoryContextAllocZero(TopMemoryContext, sizeof(PendingUnlink));
	strlcpy(p->path, path, MAXPGPATH);
	p->subid = GetCurrentSubTransactionId();
	p->next = pending;
	pending = p;

	/* cancellation records the shred in its own receipt */
	if (PG_NARGS() < 2 || PG_GETARG_BOOL(1))
		privacy_audit_write("shred", psprintf("subject %s", subj_hex(id)),
							had_key ? "{\"key_destroyed\": true}" : "{\"key_destroyed\": false}");
	PG_RETURN_BOOL(had_key);
}

PG_FUNCTION_INFO_V1(privacy_subject_pseudonym);

/* privacy.subject_pseudonym(subject text) -> text: how receipts name a subject */
Datum
privacy_subject_pseudonym(PG_FUNCTION_ARGS)
{
	uint8		id[SHA256_DIGEST_LENGTH];

	subj_id(PG_GETARG_TEXT_PP(0), id);
	PG_RETURN_TEXT_P(cstring_to_text(subj_hex(id)));
}

PG_FUNCTION_INFO_V1(privacy_sweep_subject_keys);

/*
 * privacy.sweep_subject_keys() -> integer: remove key files of shredded
 * subjects (left by a crash between a shred's commit and the deletion, or
 * brought back by restoring the directory from a backup).
 */
Datum
privacy_sweep_subject_keys(PG_FUNCTION_ARGS)
{
	DIR		   *dir;
	struct dirent *de;
	int			removed = 0;

	subj_check_dir();
	dir = AllocateDir(subject_key_dir);
	while ((de = ReadDir(dir, subject_key_dir)) != NULL)
	{
		uint8		id[SHA256_DIGEST_LENGTH];
		int			i;
		bool		ok = strlen(de->d_name) == 2 * SHA256_DIGEST_LENGTH + 4 &&
			strcmp(de->d_name + 2 * SHA256_DIGEST_LENGTH, ".key") == 0;

		for (i = 0; ok && i < SHA256_DIGEST_LENGTH; i++)
		{
			int			hi = subj_hexval(de->d_name[2 * i]);
			int			lo = subj_hexval(de->d_name[2 * i + 1]);

			ok = hi >= 0 && lo >= 0;
			id[i] = (uint8) ((hi << 4) | lo);
		}
		if (ok && subj_tombstoned(id, false) && subj_remove_leftover(id))
			removed++;
	}
	FreeDir(dir);
	if (removed > 0)
		fsync_fname(subject_key_dir, true);
	PG_RETURN_INT32(removed);
}

/*-------------------------------------------------------------------------
 * subjects.c
 *	  Per-subject data keys and crypto-shredding.
 *
 * Each subject's data key lives outside the database's tables, as one file
 * in the directory named by the superuser-only setting
 * privacy.subject_key_dir (by default privacy_keys in the data directory),
 * wrapped (AES-256-GCM) under the master key and named by the subject's
 * keyed pseudonym, HMAC(privacy.subjects, subject).  No pg_dump holds a
 * subject key.  Base backups copy the default directory, and WAL carries
 * every key file created and removed (wal.c), so that standbys and
 * point-in-time recovery have every key their data needs: a key lives in
 * the base backups and archived WAL made while it existed, until they
 * expire, as erased rows do.  privacy.shred_subject() writes a tombstone row
 * (transactional, dumped, replicated) and deletes the key file when its
 * transaction commits; from then on every copy of that subject's
 * ciphertexts is unreadable, except through a backup or archived WAL kept
 * from before the shred.  A file whose subject has a tombstone (left by a
 * crash between commit and deletion) is refused and removed on sight and by
 * privacy.sweep_subject_keys().
 *
 * The same directory keeps the tombstone journal, cancelled.journal: every
 * cancellation's tombstone (privacy.cancelled_subject) is appended to it when
 * its transaction commits.  A restored older backup lacks the tombstone rows
 * of later cancellations; the journal, outside the database's tables, still
 * has them (WAL carries its lines to standbys and recovered clusters), and
 * privacy.replay_cancellations() erases those subjects again.  A trigger
 * on every table with a SUBJECT column, privacy.refuse_cancelled(), refuses
 * new rows for a cancelled subject.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "common/file_perm.h"
#include "storage/fd.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "citus.h"
#include "crypto.h"
#include "journal.h"
#include "kinds.h"
#include "label_parse.h"
#include "keys.h"
#include "privacy.h"
#include "wal.h"

#define WRAPPED_LEN (1 + 12 + PRIVACY_KEY_BYTES + 16)
StaticAssertDecl(WRAPPED_LEN == PRIVACY_WRAPPED_LEN, "the key record carries a key file");

/*
 * The default directory, inside the data directory: base backups copy it
 * and WAL carries every change to it (wal.c), so standbys and recovered
 * clusters have every key their data needs.
 */
#define DEFAULT_KEY_DIR "privacy_keys"

static char *subject_key_dir = NULL;
static bool dir_checked = false;

#define JOURNAL_NAME "cancelled.journal"
/*
 * Databases that share the directory share the journal (the line format is
 * in journal.h); each reads its own lines, by fingerprint.
 */

/*
 * What the transaction does to the subject key directory when it commits:
 * key files to delete (shreds) and tombstone journal lines to append
 * (cancellations).  Nothing happens when it rolls back, so the journal never
 * names a subject whose cancellation did not commit.
 */
typedef struct PendingUnlink
{
	char		path[MAXPGPATH];	/* a key file, or a journal line */
	uint8		id[PRIVACY_SUBJECT_ID_LEN]; /* the key file's subject */
	bool		journal;
	SubTransactionId subid;
	struct PendingUnlink *next;
} PendingUnlink;

static PendingUnlink *pending = NULL;

/*
 * The WAL records of the pending actions, made ready before commit (where an
 * error can still abort) and logged after the commit record (wal.c says why).
 */
static uint8 *commit_ids = NULL;
static uint32 commit_nids = 0;
static char *commit_lines = NULL;
static uint32 commit_lines_len = 0;


static void
subj_free_commit_records(void)
{
	if (commit_ids)
		pfree(commit_ids);
	if (commit_lines)
		pfree(commit_lines);
	commit_ids = NULL;
	commit_lines = NULL;
	commit_nids = 0;
	commit_lines_len = 0;
}

static void
subj_prepare_commit_records(void)
{
	PendingUnlink *p;
	uint32		nids = 0;
	uint32		len = 0;

	subj_free_commit_records();
	for (p = pending; p; p = p->next)
	{
		if (p->journal)
			len += strlen(p->path);
		else
			nids++;
	}
	if (nids > 0)
		commit_ids = MemoryContextAlloc(TopMemoryContext, (Size) nids * PRIVACY_SUBJECT_ID_LEN);
	if (len > 0)
		commit_lines = MemoryContextAlloc(TopMemoryContext, len);
	/* in the order subj_journal_append writes them */
	len = 0;
	for (p = pending; p; p = p->next)
	{
		if (p->journal)
		{
			size_t		l = strlen(p->path);

			memcpy(commit_lines + len, p->path, l);
			len += l;
		}
		else
			memcpy(commit_ids + (Size) commit_nids++ * PRIVACY_SUBJECT_ID_LEN, p->id, PRIVACY_SUBJECT_ID_LEN);
	}
	commit_lines_len = len;
}

/*
 * After the commit record: log the shreds and journal lines, and flush them,
 * before doing them here.  Nothing in here may raise an ERROR (the
 * transaction has committed); XLogInsert and XLogFlush do not, but on PANIC.
 */
static void
subj_log_commit_records(void)
{
	XLogRecPtr	lsn = InvalidXLogRecPtr;

	if (!privacy_preloaded || RecoveryInProgress())
		return;
	if (commit_nids > 0)
		lsn = privacy_wal_key_remove(commit_ids, commit_nids);
	if (commit_lines_len > 0)
		lsn = privacy_wal_journal(commit_lines, commit_lines_len);
	if (!XLogRecPtrIsInvalid(lsn))
		XLogFlush(lsn);
}

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
subj_journal_append(void)
{
	char		path[MAXPGPATH];
	PendingUnlink *p;
	int			fd;
	bool		created;
	struct stat st;

	for (p = pending; p; p = p->next)
		if (p->journal)
			break;
	if (p == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s", subject_key_dir, JOURNAL_NAME);
	created = stat(path, &st) != 0;
	fd = OpenTransientFile(path, O_WRONLY | O_APPEND | O_CREAT | PG_BINARY);
	if (fd < 0)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not open the tombstone journal: %m"),
				 errhint("The tombstones are in privacy.cancelled_subject; SELECT privacy.replay_cancellations() writes them to the journal.")));
		return;
	}
	for (p = pending; p; p = p->next)
	{
		size_t		len = strlen(p->path);

		if (!p->journal)
			continue;
		/* one write per line: O_APPEND keeps concurrent lines whole */
		if (write(fd, p->path, len) != (ssize_t) len)
		{
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not append to the tombstone journal: %m"),
					 errhint("The tombstones are in privacy.cancelled_subject; SELECT privacy.replay_cancellations() writes them to the journal.")));
			break;
		}
	}
	if (pg_fsync(fd) != 0)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not fsync the tombstone journal: %m")));
	CloseTransientFile(fd);
	if (created)
		(void) fsync_fname_ext(subject_key_dir, true, false, WARNING);
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
						 errmsg("cannot PREPARE a transaction that shredded a subject key or cancelled a subject")));
			break;
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			if (pending)
				subj_prepare_commit_records();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (pending)
				subj_log_commit_records();
			subj_free_commit_records();
			subj_journal_append();
			for (p = pending; p; p = p->next)
			{
				if (p->journal)
					continue;
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
			subj_free_commit_records();
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
							   "Directory holding one wrapped data key per subject, and the tombstone journal.",
							   "Relative paths are relative to the data directory; the default, privacy_keys in it, is created on first use. It must be accessible by the server's OS user only.",
							   &subject_key_dir,
							   DEFAULT_KEY_DIR,
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY,
							   NULL,
							   subj_dir_assign,
							   NULL);
	RegisterXactCallback(subj_xact_callback, NULL);
	RegisterSubXactCallback(subj_subxact_callback, NULL);
}

/* the directory that redo writes to: the server's own setting */
const char *
privacy_subject_key_dir_setting(void)
{
	return subject_key_dir ? subject_key_dir : "";
}

/*
 * Where dir is relative to the data directory: 1 for the data directory's
 * privacy_keys (the default), 2 for anywhere else inside it, 0 outside, -1
 * when it cannot be resolved (errno set).
 */
static int
subj_dir_place(const char *dir)
{
	char	   *real = realpath(dir, NULL);
	char	   *data = realpath(DataDir, NULL);
	char	   *own;
	int			place;

	if (real == NULL || data == NULL)
	{
		int			save = errno;

		free(real);
		free(data);
		errno = save;
		return -1;
	}
	own = psprintf("%s/%s", data, DEFAULT_KEY_DIR);
	if (strcmp(real, own) == 0)
		place = 1;
	else if (strcmp(real, data) == 0 ||
			 (strncmp(real, data, strlen(data)) == 0 && real[strlen(data)] == '/'))
		place = 2;
	else
		place = 0;
	pfree(own);
	free(real);
	free(data);
	return place;
}

/* is dir the default, privacy_keys in the data directory (which may not exist yet)? */
static bool
subj_dir_is_default(const char *dir)
{
	return strcmp(dir, DEFAULT_KEY_DIR) == 0 ||
		strcmp(dir, psprintf("%s/%s", DataDir, DEFAULT_KEY_DIR)) == 0;
}

/*
 * What is wrong with the subject key directory, or NULL: it must be a
 * directory owned by the server's OS user, closed to everyone else, either
 * privacy_keys in the data directory or outside it.  *hint and *detail get
 * what to do and why.  lint adds what only privacy.check() reports: a
 * directory that recovery had to create, which lacks the keys from before
 * the base backup.
 */
static const char *
subj_dir_problem(bool lint, const char **hint, const char **detail)
{
	struct stat st;
	int			place;

	*hint = NULL;
	*detail = NULL;
	if (subject_key_dir == NULL || subject_key_dir[0] == '\0')
	{
		*hint = "Name a directory accessible by the server's OS user only (chmod 700) in privacy.subject_key_dir, or RESET it to the default, privacy_keys in the data directory (see doc/keys.md).";
		return "privacy.subject_key_dir is not set";
	}
	if (stat(subject_key_dir, &st) != 0)
	{
		if (errno == ENOENT && subj_dir_is_default(subject_key_dir))
			return NULL;		/* created on first use */
		if (errno == ENOENT && RecoveryInProgress())
		{
			*hint = "Copy the primary's subject key directory to this server, at the path privacy.subject_key_dir names: pg_basebackup copies only the data directory (see doc/keys.md).";
			return "this standby has no subject key directory: it cannot decrypt for subjects whose keys were made before its base backup";
		}
		return psprintf("could not access the directory named by privacy.subject_key_dir: %s",
						strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return "privacy.subject_key_dir does not name a directory";
	if (st.st_uid != geteuid())
		return "the subject key directory is not owned by the database server's OS user";
	place = subj_dir_place(subject_key_dir);
	if (place < 0)
		return psprintf("could not resolve the subject key directory: %s", strerror(errno));

	/*
	 * Inside the data directory, the data directory guards it (PostgreSQL
	 * requires it to be 0700, or 0750 with group access): a copy made by a
	 * base backup may come with other modes.
	 */
	if (place != 1 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		*hint = "Make it accessible by its owner only: chmod 700.";
		return "the subject key directory is accessible by other users than its owner";
	}
	if (place == 2)
	{
		*detail = "PostgreSQL's own directories are not for key files.";
		*hint = "RESET privacy.subject_key_dir to use privacy_keys in the data directory.";
		return "inside the data directory, the subject key directory must be privacy_keys";
	}
	if (lint)
	{
		char	   *marker = psprintf("%s/%s", subject_key_dir, PRIVACY_INCOMPLETE_NAME);

		if (stat(marker, &st) == 0)
		{
			*hint = "Copy the key files of the primary's directory (or of a copy made with the base backup) into it, then remove the file INCOMPLETE from it (see doc/keys.md).";
			return "the subject key directory was missing when recovery wrote a key into it: it lacks the keys made before the base backup";
		}
	}
	return NULL;
}

const char *
privacy_subject_key_dir_problem(const char **hint, const char **detail)
{
	return subj_dir_problem(true, hint, detail);
}

static void
subj_check_dir(void)
{
	const char *problem;
	const char *hint;
	const char *detail;
	struct stat st;

	if (dir_checked && subject_key_dir != NULL && subject_key_dir[0] != '\0')
		return;
	/* the default is made on first use, here or by redo */
	if (subject_key_dir != NULL && subj_dir_is_default(subject_key_dir) &&
		stat(subject_key_dir, &st) != 0 && errno == ENOENT &&
		mkdir(subject_key_dir, S_IRWXU) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create the subject key directory: %m")));
	problem = subj_dir_problem(false, &hint, &detail);
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
/*
 * A subject's id: HMAC(privacy.subjects, ...) of its canonical form in its
 * kind (kinds.c).  The one place where a subject becomes the name of its key
 * file, its tombstone and its pseudonym.
 */
static void
subj_id(text *subject, const char *kind, uint8 *id)
{
	privacy_subject_id(kind, privacy_subject_canonical(kind, text_to_cstring(subject)), id);
}

/* the kind argument argno of the call, when it has one; else the default */
static const char *
subj_kind(FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() > argno && !PG_ARGISNULL(argno))
		return text_to_cstring(PG_GETARG_TEXT_PP(argno));
	return PRIVACY_DEFAULT_KIND;
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
		if (!p->journal && strcmp(p->path, path) == 0)
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

/* write len bytes to a new file tmp and fsync it; false (errno set) on failure */
static bool
subj_write_tmp(const char *tmp, const uint8 *bytes, int len)
{
	int			fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);

	if (fd < 0)
		return false;
	if (write(fd, bytes, len) != len || pg_fsync(fd) != 0)
	{
		int			save = errno;

		CloseTransientFile(fd);
		unlink(tmp);
		errno = save;
		return false;
	}
	CloseTransientFile(fd);
	return true;
}

/*
 * Write a new wrapped key file, and log it (wal.c).  The file is complete
 * and synced under a temporary name before anything is logged; the record
 * is logged and the file linked into place under one lock, so that the
 * order of the records in WAL is the order in which files appeared (redo
 * keeps the first file, as a session that loses the race here keeps the
 * other's); the record is flushed before the key is used, so that no
 * ciphertext leaves this function without its key in WAL.  If another
 * session created the file first, its file is kept and nothing is logged.
 *
 * A crash after the link and before the caller commits leaves a key file,
 * on the primary and wherever the record was redone, that no committed row
 * uses: it is harmless (the next subject_encrypt of that subject uses it).
 */
static void
subj_write_file(const char *path, const uint8 *id, const bytea *wrapped)
{
	char	   *tmp = psprintf("%s.%d.tmp", path, MyProcPid);
	LOCKTAG		tag;
	struct stat st;
	XLogRecPtr	lsn = InvalidXLogRecPtr;
	bool		linked = false;
	int			save = 0;

	if (VARSIZE_ANY_EXHDR(wrapped) != WRAPPED_LEN)
		elog(ERROR, "a wrapped subject key has the wrong length");
	if (!subj_write_tmp(tmp, (const uint8 *) VARDATA_ANY(wrapped), WRAPPED_LEN))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write a subject key file: %m")));

	/*
	 * One lock per subject, for the whole cluster (databases may share the
	 * directory), in a lock space that SQL's advisory locks do not use
	 * (field 4 is 1 or 2 for those).  Released at once, or at abort.
	 */
	SET_LOCKTAG_ADVISORY(tag, InvalidOid,
						 ((uint32) id[0] << 24) | ((uint32) id[1] << 16) | ((uint32) id[2] << 8) | id[3],
						 ((uint32) id[4] << 24) | ((uint32) id[5] << 16) | ((uint32) id[6] << 8) | id[7],
						 3);
	privacy_wal_check();
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	if (stat(path, &st) != 0)
	{
		/*
		 * No checkpoint may begin between the record and the durable file
		 * (as for a commit record): a checkpoint's redo point there, then a
		 * base backup that copies the directory before the link, would have
		 * neither the record nor the file.  Nothing in here raises an error.
		 */
		START_CRIT_SECTION();
		MyProc->delayChkptFlags |= DELAY_CHKPT_START;
		lsn = privacy_wal_key_create(id, (const uint8 *) VARDATA_ANY(wrapped));
		linked = link(tmp, path) == 0;
		save = errno;
		if (linked)
			(void) fsync_fname_ext(subject_key_dir, true, false, LOG);
		MyProc->delayChkptFlags &= ~DELAY_CHKPT_START;
		END_CRIT_SECTION();
	}
	LockRelease(&tag, ExclusiveLock, false);
	unlink(tmp);
	if (!XLogRecPtrIsInvalid(lsn) && !linked && save != EEXIST)
	{
		errno = save;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create a subject key file: %m")));
	}
	if (!linked)
		fsync_fname(subject_key_dir, true);
	if (!XLogRecPtrIsInvalid(lsn))
		XLogFlush(lsn);
}

/*
 * Redo's directory: as it is, or created when missing.  A directory outside
 * the data directory that recovery has to create was not copied with the
 * base backup: it gets the file INCOMPLETE, which privacy.check() reports.
 */
static bool
subj_redo_dir(const char *dir, int elevel)
{
	struct stat st;
	char	   *copy;
	char	   *marker;

	if (dir[0] == '\0')
	{
		ereport(elevel,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("privacy.subject_key_dir is not set: recovery cannot write the subject key directory")));
		return false;
	}
	if (stat(dir, &st) == 0)
		return true;
	copy = pstrdup(dir);
	if (pg_mkdir_p(copy, S_IRWXU) != 0 && errno != EEXIST)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not create the subject key directory during recovery: %m")));
		return false;
	}
	if (subj_dir_place(dir) == 0)
	{
		static const char text[] =
			"privacy: recovery created this subject key directory because it was missing.\n"
			"It lacks the keys made before the base backup: copy them in from the primary\n"
			"(or from a copy of the directory made with the base backup), then remove this file.\n";

		marker = psprintf("%s/%s", dir, PRIVACY_INCOMPLETE_NAME);
		if (!subj_write_tmp(marker, (const uint8 *) text, sizeof(text) - 1))
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not write the file INCOMPLETE in the subject key directory: %m")));
		ereport(WARNING,
				(errmsg("the subject key directory was missing: recovery created it"),
				 errdetail("It lacks the keys made before the base backup."),
				 errhint("Copy them in from the primary, then remove the file INCOMPLETE from it (see doc/keys.md).")));
	}
	fsync_fname_ext(dir, true, false, WARNING);
	return true;
}

/*
 * Redo of a key file's creation: write it unless it exists (redo may run
 * twice; the first record of a subject is the file the primary kept).
 */
bool
privacy_key_file_install(const char *dir, const uint8 *id, const uint8 *wrapped, int elevel)
{
	char	   *path;
	char	   *tmp;

	if (!subj_redo_dir(dir, elevel))
		return false;
	path = psprintf("%s/%s.key", dir, subj_hex(id));
	if (access(path, F_OK) == 0)
		return false;
	tmp = psprintf("%s.redo.tmp", path);
	if (!subj_write_tmp(tmp, wrapped, WRAPPED_LEN))
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not write a subject key file during recovery: %m")));
		return false;
	}
	if (link(tmp, path) != 0 && errno != EEXIST)
	{
		int			save = errno;

		unlink(tmp);
		errno = save;
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not create a subject key file during recovery: %m")));
		return false;
	}
	unlink(tmp);
	fsync_fname_ext(dir, true, false, elevel);
	return true;
}

/* redo of a shred: the key file goes (already gone is fine) */
void
privacy_key_file_remove(const char *dir, const uint8 *id)
{
	char	   *path;

	if (dir[0] == '\0')
		return;
	path = psprintf("%s/%s.key", dir, subj_hex(id));
	if (unlink(path) != 0)
	{
		if (errno != ENOENT)
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not remove a shredded subject key file during recovery: %m"),
					 errhint("Its tombstone refuses the subject; SELECT privacy.sweep_subject_keys() removes the file.")));
		return;
	}
	fsync_fname_ext(dir, true, false, WARNING);
}

/* redo of journal lines: appended as the primary appended them */
void
privacy_journal_write(const char *dir, const char *lines, size_t len)
{
	char		path[MAXPGPATH];
	struct stat st;
	bool		created;
	int			fd;

	if (!subj_redo_dir(dir, WARNING))
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, JOURNAL_NAME);
	created = stat(path, &st) != 0;
	fd = OpenTransientFile(path, O_WRONLY | O_APPEND | O_CREAT | PG_BINARY);
	if (fd < 0 || write(fd, lines, len) != (ssize_t) len || pg_fsync(fd) != 0)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not append to the tombstone journal during recovery: %m"),
				 errhint("The tombstones are in privacy.cancelled_subject; SELECT privacy.replay_cancellations() writes them to the journal.")));
	if (fd >= 0)
		CloseTransientFile(fd);
	if (created)
		fsync_fname_ext(dir, true, false, WARNING);
}

/* the subject's data key into key; created on first use when create is true */
static void
subj_key(text *subject, const char *kind, bool create, uint8 *id, uint8 *key)
{
	char	   *path;
	char	   *aad;
	bytea	   *wrapped;

	subj_check_dir();
	subj_id(subject, kind, id);
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
		/* a standby only reads keys: say so before anything is written */
		privacy_wal_check();
		if (RAND_bytes(fresh, sizeof(fresh)) != 1)
			privacy_openssl_error("generate key material");
		subj_write_file(path, id, privacy_master_wrap(fresh, sizeof(fresh), aad));
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

	privacy_require_coordinator_fn(fcinfo);
	subj_key(subject, subj_kind(fcinfo, 2), true, id, key);
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

	privacy_require_coordinator_fn(fcinfo);
	privacy_ct_header(ct, FORMAT_SUBJECT, HEADER_LEN + GCM_NONCE + GCM_TAG, "privacy.subject_encrypt");
	subj_key(subject, subj_kind(fcinfo, 2), false, id, key);
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

	/* the removal is logged at commit, for standbys and recovery (wal.c) */
	privacy_require_preload();
	subj_check_dir();
	subj_id(subject, subj_kind(fcinfo, PG_NARGS() == 3 ? 2 : 1), id);
	path = subj_path(id);
	already = subj_tombstoned(id, false);
	had_key = !already && stat(path, &st) == 0;
	(void) subj_tombstoned(id, true);

	p = MemoryContextAllocZero(TopMemoryContext, sizeof(PendingUnlink));
	strlcpy(p->path, path, MAXPGPATH);
	memcpy(p->id, id, PRIVACY_SUBJECT_ID_LEN);
	p->subid = GetCurrentSubTransactionId();
	p->next = pending;
	pending = p;

	/* cancellation records the shred in its own receipt */
	if (PG_NARGS() < 3 || PG_GETARG_BOOL(1))
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

	subj_id(PG_GETARG_TEXT_PP(0), subj_kind(fcinfo, 1), id);
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
		bool		ok = strlen(de->d_name) == 2 * SHA256_DIGEST_LENGTH + 4 &&
			strcmp(de->d_name + 2 * SHA256_DIGEST_LENGTH, ".key") == 0 &&
			privacy_hex_id(de->d_name, 2 * SHA256_DIGEST_LENGTH, id);

		if (ok && subj_tombstoned(id, false) && subj_remove_leftover(id))
			removed++;
	}
	FreeDir(dir);
	if (removed > 0)
		fsync_fname(subject_key_dir, true);
	PG_RETURN_INT32(removed);
}

/* ------------------------------------------------------------------------
 * Cancellation tombstones: the journal and the trigger
 * ------------------------------------------------------------------------
 */

/*
 * This database's journal fingerprint: HMAC(privacy.subjects, a constant),
 * cut to 8 bytes, in hex.  A restored copy of the database has the same
 * subjects key, so the same fingerprint.
 */
static void
subj_journal_fp(char *fp)
{
	static const char label[] = "privacy:tombstone-journal";
	uint8		mac[SHA256_DIGEST_LENGTH];
	char	   *hex;

	privacy_hmac(privacy_subjects_key(), (const uint8 *) label, strlen(label), mac);
	hex = subj_hex(mac);
	memcpy(fp, hex, JOURNAL_FP_LEN);
	fp[JOURNAL_FP_LEN] = '\0';
}

PG_FUNCTION_INFO_V1(privacy_journal_tombstone);

/*
 * privacy.journal_tombstone(subject_id text, cancelled_at timestamptz): append
 * the tombstone to the journal when the current transaction commits.
 */
Datum
privacy_journal_tombstone(PG_FUNCTION_ARGS)
{
	text	   *sid;
	uint8		id[SHA256_DIGEST_LENGTH];
	char		fp[JOURNAL_FP_LEN + 1];
	PendingUnlink *p;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("subject_id and cancelled_at must not be NULL")));
	sid = PG_GETARG_TEXT_PP(0);
	if (!privacy_hex_id(VARDATA_ANY(sid), VARSIZE_ANY_EXHDR(sid), id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a subject_id is 64 lowercase hexadecimal digits, privacy.subject_pseudonym(subject)")));
	privacy_require_preload();
	subj_check_dir();
	subj_journal_fp(fp);
	p = MemoryContextAllocZero(TopMemoryContext, sizeof(PendingUnlink));
	(void) privacy_journal_format(p->path, sizeof(p->path), fp, id, PG_GETARG_TIMESTAMPTZ(1));
	p->journal = true;
	p->subid = GetCurrentSubTransactionId();
	p->next = pending;
	pending = p;
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(privacy_tombstone_journal);

/*
 * privacy.tombstone_journal() -> setof (subject_id text, cancelled_at
 * timestamptz): the journal's tombstones, in the order they were written.  A
 * malformed line is skipped with a WARNING that gives its number only.
 */
Datum
privacy_tombstone_journal(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char		path[MAXPGPATH];
	char		line[JOURNAL_LINE_MAX + 1];
	FILE	   *f;
	int			lineno = 0;
	char		fp[JOURNAL_FP_LEN + 1];

	subj_check_dir();
	subj_journal_fp(fp);
	InitMaterializedSRF(fcinfo, 0);
	snprintf(path, sizeof(path), "%s/%s", subject_key_dir, JOURNAL_NAME);
	f = AllocateFile(path, "r");
	if (f == NULL)
	{
		if (errno == ENOENT)
			return (Datum) 0;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read the tombstone journal: %m")));
	}
	while (fgets(line, sizeof(line), f) != NULL)
	{
		size_t		len = strlen(line);
		uint8		id[SHA256_DIGEST_LENGTH];
		int64		at;
		JournalLine kind;
		Datum		values[2];
		bool		nulls[2] = {false, false};

		lineno++;
		if (len == 0 || line[len - 1] != '\n')
		{
			/* too long, or the last line cut short: skip to its end */
			int			c;

			if (len == sizeof(line) - 1)
				while ((c = fgetc(f)) != EOF && c != '\n')
					;
			ereport(WARNING,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("line %d of the tombstone journal is malformed; it was skipped", lineno)));
			continue;
		}
		kind = privacy_journal_parse(line, len - 1, fp, id, &at);
		if (kind == JOURNAL_LINE_OTHER)
			continue;
		if (kind == JOURNAL_LINE_BAD)
		{
			ereport(WARNING,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("line %d of the tombstone journal is malformed; it was skipped", lineno)));
			continue;
		}
		values[0] = CStringGetTextDatum(subj_hex(id));
		values[1] = TimestampTzGetDatum(at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	FreeFile(f);
	return (Datum) 0;
}

/*
 * Each backend keeps the ids of the tombstones, sorted, for as long as
 * privacy.cancelled_subject is unchanged: a statement trigger on it
 * (privacy.key_cache_invalidate, as on the key tables) sends a relcache
 * invalidation at every change, here at once and in other sessions when the
 * change commits.  The trigger's check is then a keyed hash and a binary
 * search; only a hit reads the table.  With more than TOMB_SET_MAX tombstones
 * the set is not kept and every new subject probes the table's primary key.
 */
#define TOMB_SET_MAX 100000

static MemoryContext tomb_cxt = NULL;
static uint8 *tomb_ids = NULL;	/* tomb_n ids of SHA256_DIGEST_LENGTH bytes */
static int	tomb_n = 0;
static bool tomb_valid = false;
static uint64 tomb_gen = 0;		/* invalidations seen */
static bool tomb_too_many = false;
static Oid	tomb_relid = InvalidOid;

void
privacy_subjects_relcache(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == tomb_relid)
	{
		tomb_valid = false;
		tomb_gen++;
	}
}

static int
subj_id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, SHA256_DIGEST_LENGTH);
}

/*
 * Load the set under the latest snapshot, not the statement's: every change
 * committed before this load is in it, and every later one sends an
 * invalidation that this backend has not processed yet, so the set is never
 * left behind (a REPEATABLE READ transaction, or a statement whose snapshot
 * predates a cancellation, still sees the newer tombstones).
 */
static void
subj_tomb_load(void)
{
	Relation	rel;
	Snapshot	snap;
	TableScanDesc scan;
	TupleTableSlot *slot;
	int			n = 0;
	int			size = 1024;
	uint64		gen;

	if (tomb_cxt == NULL)
		tomb_cxt = AllocSetContextCreate(TopMemoryContext, "privacy tombstones", ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(tomb_cxt);
	tomb_ids = MemoryContextAlloc(tomb_cxt, (Size) size * SHA256_DIGEST_LENGTH);
	tomb_n = 0;
	tomb_too_many = false;
	tomb_relid = get_relname_relid("cancelled_subject", get_namespace_oid("privacy", false));
	gen = tomb_gen;

	rel = table_open(tomb_relid, AccessShareLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, snap, 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, 1, &isnull);
		text	   *hex;

		if (n == TOMB_SET_MAX)
		{
			tomb_too_many = true;
			break;
		}
		if (n == size)
		{
			size *= 2;
			tomb_ids = repalloc(tomb_ids, (Size) size * SHA256_DIGEST_LENGTH);
		}
		if (isnull)
			continue;
		hex = DatumGetTextPP(d);
		/* (a row not made by subject_pseudonym can match no subject) */
		if (privacy_hex_id(VARDATA_ANY(hex), VARSIZE_ANY_EXHDR(hex), tomb_ids + (size_t) n * SHA256_DIGEST_LENGTH))
			n++;
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	if (tomb_too_many)
		n = 0;
	qsort(tomb_ids, n, SHA256_DIGEST_LENGTH, subj_id_cmp);
	tomb_n = n;
	/* an invalidation that came while loading makes the next row load again */
	tomb_valid = tomb_gen == gen;
}

/*
 * The tombstone of a pseudonym (hex text), by a probe of the primary key of
 * privacy.cancelled_subject under the latest snapshot, as the set is loaded
 * (no SPI, no executor).  False when there is none; *at gets its time.
 */
static bool
subj_tombstone_lookup(Oid relid, text *id, TimestampTz *at)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Oid			indexoid = RelationGetPrimaryKeyIndex(rel);
	Relation	idx;
	IndexScanDesc scan;
	ScanKeyData key;
	TupleTableSlot *slot;
	Snapshot	snap;
	bool		found;

	if (!OidIsValid(indexoid))
		elog(ERROR, "privacy.cancelled_subject has no primary key");
	idx = index_open(indexoid, AccessShareLock);
	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, TEXTOID,
						   idx->rd_indcollation[0], F_TEXTEQ, PointerGetDatum(id));
	snap = RegisterSnapshot(GetLatestSnapshot());
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, snap, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, 2, &isnull);

		*at = isnull ? 0 : DatumGetTimestampTz(d);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snap);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	return found;
}

PG_FUNCTION_INFO_V1(privacy_refuse_cancelled);

/*
 * What the guard knows of a table for the length of a statement (kept in the
 * trigger's fn_extra): the kind and family of each column of its trigger, or
 * an error when a column is not a SUBJECT column of the table (or of the
 * partitioned table or inheritance parent it has its labels from).
 */
typedef struct GuardColumns
{
	Oid			relid;
	int			n;
	int		   *attnums;
	char	  **kinds;
	PrivacyFamily *families;
	Oid		   *bases;
} GuardColumns;

static GuardColumns *
subj_guard_columns(FunctionCallInfo fcinfo, Relation rel, Trigger *tg)
{
	GuardColumns *g = (GuardColumns *) fcinfo->flinfo->fn_extra;
	MemoryContext old;
	int			i;
	Oid			types[2] = {OIDOID, TEXTOID};

	if (g != NULL && g->relid == RelationGetRelid(rel))
		return g;
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	g = palloc0(sizeof(GuardColumns));
	g->relid = RelationGetRelid(rel);
	g->n = tg->tgnattr > 0 ? tg->tgnattr : tg->tgnargs;
	g->attnums = palloc0(sizeof(int) * Max(g->n, 1));
	for (i = 0; i < g->n; i++)
	{
		g->attnums[i] = tg->tgnattr > 0 ? tg->tgattr[i] : get_attnum(RelationGetRelid(rel), tg->tgargs[i]);
		if (g->attnums[i] <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("privacy.refuse_cancelled() names a column that table \"%s\" does not have",
							RelationGetRelationName(rel))));
	}
	g->kinds = palloc0(sizeof(char *) * Max(g->n, 1));
	g->families = palloc0(sizeof(PrivacyFamily) * Max(g->n, 1));
	g->bases = palloc0(sizeof(Oid) * Max(g->n, 1));
	MemoryContextSwitchTo(old);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (i = 0; i < g->n; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), g->attnums[i] - 1);
		Datum		values[2];

		values[0] = ObjectIdGetDatum(g->relid);
		values[1] = CStringGetTextDatum(NameStr(att->attname));
		if (SPI_execute_with_args("WITH RECURSIVE up(r, d) AS ("
								  "  SELECT $1, 0"
								  "  UNION ALL SELECT i.inhparent, up.d OPERATOR(pg_catalog.+) 1"
								  "    FROM pg_catalog.pg_inherits i JOIN up ON i.inhrelid OPERATOR(pg_catalog.=) up.r"
								  "   WHERE up.d OPERATOR(pg_catalog.<) 64)"
								  " SELECT p.subject_kind FROM up"
								  "  JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) up.r"
								  "   AND a.attname OPERATOR(pg_catalog.=) $2::pg_catalog.name"
								  "  JOIN pg_catalog.pg_seclabel s ON s.objoid OPERATOR(pg_catalog.=) up.r"
								  "   AND s.objsubid OPERATOR(pg_catalog.=) a.attnum"
								  "   AND s.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
								  "   AND s.provider OPERATOR(pg_catalog.=) 'privacy'"
								  " CROSS JOIN LATERAL privacy.parse_label(s.label, false) p"
								  " WHERE p.subject ORDER BY up.d LIMIT 1",
								  2, types, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the labels of the guarded table");
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("privacy.refuse_cancelled() guards only SUBJECT columns, and column \"%s\" of table \"%s\" is not one",
							NameStr(att->attname), RelationGetRelationName(rel)),
					 errdetail("The extension puts the trigger privacy_cancelled_subject on the SUBJECT columns of a table itself.")));
		g->kinds[i] = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt,
										  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		g->families[i] = privacy_subject_family(att->atttypid, &g->bases[i]);
	}
	SPI_finish();
	fcinfo->flinfo->fn_extra = g;
	return g;
}

/*
 * privacy.refuse_cancelled(): a row trigger on INSERT OR UPDATE OF <subject
 * columns> (BEFORE, or AFTER when a SUBJECT column is generated, since a
 * BEFORE trigger sees it NULL).  A row whose subject, in the canonical form
 * of its column's kind, has a cancellation tombstone is refused.  The error
 * names the table and the column, never the value nor when the subject
 * cancelled.
 */
Datum
privacy_refuse_cancelled(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Trigger    *tg;
	TupleDesc	desc;
	HeapTuple	row;
	HeapTuple	result;
	GuardColumns *g;
	int			n = 0;
	int			ncols;
	int			hit;
	TimestampTz at = 0;
	uint8	   *ids;
	int		   *attnums;
	int			i;

	if (!CALLED_AS_TRIGGER(fcinfo) || TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy.refuse_cancelled() must be an INSERT OR UPDATE row trigger")));
	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	result = TRIGGER_FIRED_BEFORE(td->tg_event) ? row : NULL;

	/*
	 * Our own erasures (deletes and overwrites of the relation owner_exec is
	 * writing) never bring a subject back, and must never be refused: a
	 * placeholder (0 for an integer subject) may itself be a cancelled
	 * subject (sql/cancellation.sql).  Not checked.
	 */
	if (RelationGetRelid(td->tg_relation) == privacy_erasing_relid)
		return PointerGetDatum(result);
	tg = td->tg_trigger;
	desc = RelationGetDescr(td->tg_relation);
	ncols = tg->tgnattr > 0 ? tg->tgnattr : tg->tgnargs;

	/* the new subjects: which columns hold one */
	attnums = palloc(sizeof(int) * Max(ncols, 1));
	ids = palloc(SHA256_DIGEST_LENGTH * Max(ncols, 1));
	for (i = 0; i < ncols; i++)
	{
		int			attnum = tg->tgnattr > 0 ? tg->tgattr[i] : get_attnum(RelationGetRelid(td->tg_relation), tg->tgargs[i]);
		Form_pg_attribute att;
		bool		isnull;
		Datum		value;

		if (attnum <= 0)
			continue;
		att = TupleDescAttr(desc, attnum - 1);
		value = heap_getattr(row, attnum, desc, &isnull);
		if (isnull || att->attisdropped)
			continue;
		if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		{
			bool		oldnull;
			Datum		old = heap_getattr(td->tg_trigtuple, attnum, desc, &oldnull);

			/* an unchanged subject is not a new one */
			if (!oldnull && datumIsEqual(old, value, att->attbyval, att->attlen))
				continue;
		}
		attnums[n++] = i;
	}
	if (n == 0)
		return PointerGetDatum(result);

	/*
	 * No tombstone at all, the usual case: nothing to look up, and no key
	 * needed (a database without a master key can still insert rows).
	 */
	if (!tomb_valid)
		subj_tomb_load();
	if (!tomb_too_many && tomb_n == 0)
		return PointerGetDatum(result);
	g = subj_guard_columns(fcinfo, td->tg_relation, tg);

	hit = -1;
	for (i = 0; i < n && hit < 0; i++)
	{
		int			k = attnums[i];
		int			attnum = g->attnums[k];
		Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
		bool		isnull;
		Datum		value = heap_getattr(row, attnum, desc, &isnull);
		Oid			out;
		bool		varlena;
		char	   *canonical;
		uint8	   *id = ids + (size_t) i * SHA256_DIGEST_LENGTH;

		getTypeOutputInfo(att->atttypid, &out, &varlena);
		canonical = privacy_family_canonical(g->families[k], g->bases[k], OidOutputFunctionCall(out, value));
		if (canonical == NULL)
			continue;
		privacy_subject_id(g->kinds[k], canonical, id);
		if (!tomb_too_many &&
			bsearch(id, tomb_ids, tomb_n, SHA256_DIGEST_LENGTH, subj_id_cmp) == NULL)
			continue;
		/* privacy.cancelled_subject is keyed by the pseudonym's hex text */
		if (subj_tombstone_lookup(tomb_relid, cstring_to_text(subj_hex(id)), &at))
			hit = attnum;
	}
	if (hit >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
				 errmsg("the subject in column \"%s\" of table \"%s\" has cancelled their account",
						NameStr(TupleDescAttr(desc, hit - 1)->attname),
						RelationGetRelationName(td->tg_relation)),
				 errdetail("A cancellation tombstone (privacy.cancelled_subject) refuses new rows for this subject."),
				 errhint("After restoring an older backup, SELECT privacy.replay_cancellations() erases cancelled subjects again."),
				 errtablecol(td->tg_relation, hit)));
	return PointerGetDatum(result);
}

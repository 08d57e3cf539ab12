/*-------------------------------------------------------------------------
 * wal.c
 *	  The extension's WAL resource manager: what the subject key directory
 *	  gains and loses travels in WAL, and redo repeats it.
 *
 * The subject key directory (privacy.subject_key_dir, subjects.c) is not a
 * relation, so PostgreSQL's own WAL does not carry it.  Three records do:
 *
 *	KEY_CREATE	a subject's key file was created: its id and the file's 61
 *				bytes, the key wrapped under the master key exactly as the
 *				file holds it (never the plain key).  Logged before the file
 *				appears and flushed before subject_encrypt returns, so that
 *				every ciphertext the database can hold has its key in WAL.
 *	KEY_REMOVE	key files were removed: the ids of the subjects a
 *				transaction shredded, logged and flushed when it commits.
 *	JOURNAL		lines were appended to the tombstone journal, logged and
 *				flushed when the cancelling transaction commits.
 *
 * Redo, on a standby and in crash or point-in-time recovery, writes or
 * removes the same file in the directory that the recovering server's own
 * privacy.subject_key_dir names (postgresql.conf: the startup process sees no
 * per-database setting), and fsyncs file and directory.  Every redo may run
 * twice (recovery restarts from the last restartpoint): a key file that
 * exists is kept, a missing file is not an error, and a journal line written
 * twice is read once (tombstone_journal readers take DISTINCT).
 *
 * Removals and journal lines are logged after the commit record, not before:
 * a record before it would be redone even when the transaction then failed
 * (a crash, a serialization failure at commit), and would delete the key of
 * a subject whose shred never happened.  A crash between the commit and the
 * record leaves the tombstone row (replicated, recovered), which refuses the
 * subject everywhere and removes a leftover key file on sight; the same
 * window existed, and exists, for the primary's own unlink.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xloginsert.h"
#include "access/xlogreader.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"

#include "privacy.h"
#include "wal.h"

static void wal_redo(XLogReaderState *record);
static void wal_desc(StringInfo buf, XLogReaderState *record);
static const char *wal_identify(uint8 info);

static RmgrData wal_rmgr = {
	.rm_name = PRIVACY_RMGR_NAME,
	.rm_redo = wal_redo,
	.rm_desc = wal_desc,
	.rm_identify = wal_identify,
};

/* from _PG_init: only while shared_preload_libraries loads (RegisterCustomRmgr's rule) */
void
privacy_wal_init(void)
{
	if (process_shared_preload_libraries_in_progress)
		RegisterCustomRmgr(PRIVACY_RMGR_ID, &wal_rmgr);
}

/*
 * May this backend log a key?  The records need the resource manager at
 * redo (a record logged by a server that loaded the library some other way
 * would stop recovery), and a standby logs nothing.
 */
void
privacy_wal_check(void)
{
	privacy_require_preload();
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot create a subject key on a standby"),
				 errdetail("A standby only reads the subject keys that the primary creates."),
				 errhint("Encrypt for a new subject on the primary.")));
}

/* in a critical section (subjects.c): the caller has checked privacy_wal_check() */
XLogRecPtr
privacy_wal_key_create(const uint8 *id, const uint8 *wrapped)
{
	XLogBeginInsert();
	XLogRegisterData((char *) id, PRIVACY_SUBJECT_ID_LEN);
	XLogRegisterData((char *) wrapped, PRIVACY_WRAPPED_LEN);
	return XLogInsert(PRIVACY_RMGR_ID, XLOG_PRIVACY_KEY_CREATE);
}

/* at commit: no ERROR may come from here (the caller has the buffers ready) */
XLogRecPtr
privacy_wal_key_remove(const uint8 *ids, uint32 count)
{
	XLogBeginInsert();
	XLogRegisterData((char *) &count, sizeof(count));
	XLogRegisterData((char *) ids, (uint32) count * PRIVACY_SUBJECT_ID_LEN);
	return XLogInsert(PRIVACY_RMGR_ID, XLOG_PRIVACY_KEY_REMOVE);
}

XLogRecPtr
privacy_wal_journal(const char *lines, uint32 len)
{
	XLogBeginInsert();
	XLogRegisterData((char *) lines, len);
	return XLogInsert(PRIVACY_RMGR_ID, XLOG_PRIVACY_JOURNAL);
}

static void
wal_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;
	char	   *data = XLogRecGetData(record);
	Size		len = XLogRecGetDataLen(record);
	const char *dir = privacy_subject_key_dir_setting();

	switch (info)
	{
		case XLOG_PRIVACY_KEY_CREATE:
			if (len != PRIVACY_SUBJECT_ID_LEN + PRIVACY_WRAPPED_LEN)
				elog(PANIC, "privacy redo: malformed key record");
			/* an unwritable directory stops recovery: the key would be lost */
			(void) privacy_key_file_install(dir, (const uint8 *) data,
											(const uint8 *) data + PRIVACY_SUBJECT_ID_LEN, ERROR);
			break;
		case XLOG_PRIVACY_KEY_REMOVE:
			{
				uint32		count;
				uint32		i;

				if (len < sizeof(count))
					elog(PANIC, "privacy redo: malformed key removal record");
				memcpy(&count, data, sizeof(count));
				if (len != sizeof(count) + (Size) count * PRIVACY_SUBJECT_ID_LEN)
					elog(PANIC, "privacy redo: malformed key removal record");
				for (i = 0; i < count; i++)
					privacy_key_file_remove(dir, (const uint8 *) data + sizeof(count) +
											(Size) i * PRIVACY_SUBJECT_ID_LEN);
				break;
			}
		case XLOG_PRIVACY_JOURNAL:
			privacy_journal_write(dir, data, len);
			break;
		default:
			elog(PANIC, "privacy redo: unknown record kind %u", info);
	}
}

static void
wal_hex(StringInfo buf, const uint8 *id)
{
	int			i;

	for (i = 0; i < PRIVACY_SUBJECT_ID_LEN; i++)
		appendStringInfo(buf, "%02x", id[i]);
}

/* the subject's pseudonym (what receipts show), never key material */
static void
wal_desc(StringInfo buf, XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;
	char	   *data = XLogRecGetData(record);
	Size		len = XLogRecGetDataLen(record);

	switch (info)
	{
		case XLOG_PRIVACY_KEY_CREATE:
			if (len >= PRIVACY_SUBJECT_ID_LEN)
			{
				appendStringInfoString(buf, "subject ");
				wal_hex(buf, (const uint8 *) data);
			}
			break;
		case XLOG_PRIVACY_KEY_REMOVE:
			if (len >= sizeof(uint32))
			{
				uint32		count;

				memcpy(&count, data, sizeof(count));
				appendStringInfo(buf, "%u subject key files", count);
			}
			break;
		case XLOG_PRIVACY_JOURNAL:
			appendStringInfo(buf, "%zu bytes", len);
			break;
	}
}

static const char *
wal_identify(uint8 info)
{
	switch (info & ~XLR_INFO_MASK)
	{
		case XLOG_PRIVACY_KEY_CREATE:
			return "KEY_CREATE";
		case XLOG_PRIVACY_KEY_REMOVE:
			return "KEY_REMOVE";
		case XLOG_PRIVACY_JOURNAL:
			return "JOURNAL";
	}
	return NULL;
}

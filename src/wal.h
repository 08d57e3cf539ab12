/*-------------------------------------------------------------------------
 * wal.h
 *	  The extension's WAL records: the subject key directory travels in WAL
 *	  to standbys and through point-in-time recovery (wal.c).
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_WAL_H
#define PRIVACY_WAL_H

#include "access/xlogdefs.h"

/*
 * The custom resource manager id.  RM_EXPERIMENTAL_ID (128) is the id
 * PostgreSQL keeps for development; a production release must reserve its
 * own on https://wiki.postgresql.org/wiki/CustomWALResourceManagers, since
 * two extensions that use the same id on one server cannot both load.
 */
#define PRIVACY_RMGR_ID 128
#define PRIVACY_RMGR_NAME "privacy"

/* record kinds (the high bits of xl_info) */
#define XLOG_PRIVACY_KEY_CREATE 0x00	/* id (32 bytes), wrapped key file */
#define XLOG_PRIVACY_KEY_REMOVE 0x10	/* uint32 count, count ids */
#define XLOG_PRIVACY_JOURNAL 0x20	/* journal lines, as appended */

#define PRIVACY_SUBJECT_ID_LEN 32
/* a subject key file: version byte, nonce, wrapped key, tag */
#define PRIVACY_WRAPPED_LEN (1 + 12 + 32 + 16)

/* in a directory outside the data directory that recovery had to create */
#define PRIVACY_INCOMPLETE_NAME "INCOMPLETE"

extern void privacy_wal_init(void);
extern void privacy_wal_check(void);
extern XLogRecPtr privacy_wal_key_create(const uint8 *id, const uint8 *wrapped);
extern XLogRecPtr privacy_wal_key_remove(const uint8 *ids, uint32 count);
extern XLogRecPtr privacy_wal_journal(const char *lines, uint32 len);

/* subjects.c: the file operations that the primary does and redo repeats */
extern const char *privacy_subject_key_dir_setting(void);
extern bool privacy_key_file_install(const char *dir, const uint8 *id,
									 const uint8 *wrapped, int elevel);
extern void privacy_key_file_remove(const char *dir, const uint8 *id);
extern void privacy_journal_write(const char *dir, const char *lines, size_t len);

#endif							/* PRIVACY_WAL_H */

/*-------------------------------------------------------------------------
 * privacy.h
 *	  Declarations shared by the modules of the privacy extension.
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_H
#define PRIVACY_H

#define PRIVACY_PROVIDER "privacy"
#define PRIVACY_SCHEMA "privacy"

/* true once _PG_init ran from shared_preload_libraries */
extern bool privacy_preloaded;
extern int	privacy_minor_age;
extern int	privacy_guardian_consent;

/* privacy.guardian_consent */
#define PRIVACY_GUARDIAN_CONSENT	0
#define PRIVACY_GUARDIAN_CONTRACT	1
#define PRIVACY_GUARDIAN_ALL		2
extern int	privacy_response_days;

/* Entry-point guards: each raises a clear error with a hint. */
extern void privacy_require_preload(void);
extern Oid	privacy_require_extension(void);

/* the role that owns extension "privacy" here */
extern Oid	privacy_extension_owner(void);

/* run fn(arg) in an SPI connection as the extension's owner */
extern void privacy_as_owner(void (*fn) (void *arg), void *arg);

/*
 * The relation privacy.owner_exec is writing (cancellation, retention,
 * anonymization: deletes and overwrites), or InvalidOid: the tombstone
 * trigger does not check the rows of these writes.
 */
extern Oid	privacy_erasing_relid;

/* a statement prepared once per backend (SPIPlanPtr: include executor/spi.h) */
struct _SPI_plan;
extern struct _SPI_plan *privacy_keep_plan(struct _SPI_plan **slot, const char *sql,
										   int nargs, Oid *types);

/* what is wrong with the subject key directory, or NULL (subjects.c) */
extern const char *privacy_subject_key_dir_problem(const char **hint, const char **detail);

/* module initialisers, called from _PG_init */
extern void privacy_labels_init(void);
extern void privacy_keys_init(void);
extern void privacy_subjects_init(void);

/*
 * Each module's relcache invalidation handler.  The extension registers one
 * callback that calls them all: PostgreSQL has ten relcache callback slots
 * for every library loaded, and Citus takes five of them.
 */
extern void privacy_keys_relcache(Datum arg, Oid relid);
extern void privacy_kinds_relcache(Datum arg, Oid relid);
extern void privacy_rights_relcache(Datum arg, Oid relid);
extern void privacy_subjects_relcache(Datum arg, Oid relid);

#endif							/* PRIVACY_H */

/*-------------------------------------------------------------------------
 * citus.h
 *	  Where this backend stands in a Citus cluster (citus.c).
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_CITUS_H
#define PRIVACY_CITUS_H

/* this node is a Citus worker (its pg_dist_local_group is not 0) */
extern bool privacy_citus_worker(void);

/* Citus opened this backend to run part of a distributed query */
extern bool privacy_citus_task(void);

/* ERROR unless this is the coordinator's own backend; what names the function */
extern void privacy_require_coordinator(const char *what);

/* the same, naming the SQL function fcinfo calls */
extern void privacy_require_coordinator_fn(FunctionCallInfo fcinfo);

/* the coordinator's keys, consents and tombstones are mirrored on this node (privacy.citus_setup) */
extern bool privacy_citus_mirrored(void);

/* ERROR on a worker or in a task unless the mirror is there; what names the function */
extern void privacy_require_mirror(const char *what);

/* the same, naming the SQL function fcinfo calls */
extern void privacy_require_mirror_fn(FunctionCallInfo fcinfo);

/* the relcache handler: pg_dist_local_group changed */
extern void privacy_citus_relcache(Datum arg, Oid relid);

#endif							/* PRIVACY_CITUS_H */

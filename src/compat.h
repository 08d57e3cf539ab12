/*-------------------------------------------------------------------------
 * compat.h
 *	  Version-dependent server API, kept in one place so other majors can follow.
 *
 * PostgreSQL 15 is the tested target.  Every use of an API that changed
 * between majors goes through a macro here.
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_COMPAT_H
#define PRIVACY_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "privacy requires PostgreSQL 15 or later"
#endif

/* MarkGUCPrefixReserved() replaced EmitWarningsOnPlaceholders() in 15. */
#define privacy_reserve_guc_prefix(prefix) MarkGUCPrefixReserved(prefix)

#endif							/* PRIVACY_COMPAT_H */

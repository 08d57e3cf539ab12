/*-------------------------------------------------------------------------
 * audit.h
 *	  Writing entries to the hash-chained audit log from C.
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_AUDIT_H
#define PRIVACY_AUDIT_H

/*
 * Record an entry, written to the log when the transaction commits.
 * detail_json is a JSON object as text; it must hold no personal data.
 */
extern void privacy_audit_write(const char *kind, const char *object,
								const char *detail_json);
/* the same, from code already inside privacy_as_owner */
extern void privacy_audit_write_spi(const char *kind, const char *object,
									const char *detail_json);

#endif							/* PRIVACY_AUDIT_H */

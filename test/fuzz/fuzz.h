/*-------------------------------------------------------------------------
 * test/fuzz/fuzz.h
 *	  What the fuzz targets share (stubs.c): see README.md.
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_FUZZ_H
#define PRIVACY_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* the libFuzzer entry point every target defines */
extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern void fuzz_reset(void);
extern bool fuzz_call(void (*fn) (void *), void *arg);
extern int	fuzz_utf8_len(unsigned char c);
extern bool fuzz_valid_utf8(const uint8 *s, size_t len);
extern int	fuzz_errors;

/* a property that must hold: abort (a crash the fuzzer keeps) when it does not */
#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

#endif							/* PRIVACY_FUZZ_H */

/*-------------------------------------------------------------------------
 * ff1.h
 *	  FF1 (NIST SP 800-38G) over AES, with no server calls.
 *
 * Numerals are values 0..radix-1; the radixes used are 10, 36 and 62, with
 * the alphabet privacy_ff1_alphabet.  Limits the caller checks: 2 <= n <=
 * FF1_MAX_NUMERALS with each half fitting 64 bits (38 numerals in radix 10,
 * 24 in radix 36, 20 in radix 62), a tweak of at most FF1_MAX_TWEAK bytes,
 * and an AES-ECB context (EVP_aes_*_ecb, no padding) keyed for encryption.
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_FF1_H
#define PRIVACY_FF1_H

#include <openssl/evp.h>

#define FF1_MAX_NUMERALS 64
#define FF1_MAX_TWEAK 256

extern const char privacy_ff1_alphabet[];

extern int	privacy_ff1_numeral(unsigned char c, int radix);
extern uint64 privacy_ff1_pow(int radix, int n);
extern bool privacy_ff1_crypt(EVP_CIPHER_CTX *ctx, int radix, const uint8 *tweak, int t,
							  uint8 *x, int n, bool encrypt);
extern bool privacy_ff1_walk(EVP_CIPHER_CTX *ctx, uint64 span, uint64 *x, bool encrypt);

#endif							/* PRIVACY_FF1_H */

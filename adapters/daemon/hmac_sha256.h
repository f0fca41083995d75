/* hmac_sha256.h -- SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104), the
 * keyed hash that makes the trace's pseudonyms (trace.c). Small and
 * self-contained, so the daemon needs no crypto library for it. */
#ifndef CMD_HMAC_SHA256_H_INCLUDED_
#define CMD_HMAC_SHA256_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#define CMD_SHA256_LEN 32

/* out = SHA-256(data). */
void cmd_sha256(const void *data, size_t len, uint8_t out[CMD_SHA256_LEN]);
/* out = HMAC-SHA-256(key, data); a key of any length. */
void cmd_hmac_sha256(const void *key, size_t key_len, const void *data,
                     size_t len, uint8_t out[CMD_SHA256_LEN]);

#endif

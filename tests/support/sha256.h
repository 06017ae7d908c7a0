/* sha256.h - a small SHA-256 (FIPS 180-4) for the tests: the split checksums of
 * EVAL_PROTOCOL.md section 3. Streaming: init, update any number of times, final. */
#ifndef RECSYS_TEST_SHA256_H
#define RECSYS_TEST_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t bytes;       /* message length so far */
    unsigned char block[64];
    size_t fill;          /* bytes waiting in block */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
/* Writes the 32-byte digest. */
void sha256_final(sha256_ctx *c, unsigned char digest[32]);
/* Writes the digest as 64 lower-case hex digits and a NUL. */
void sha256_final_hex(sha256_ctx *c, char hex[65]);

#endif

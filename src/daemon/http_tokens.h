/*
 * http_tokens.h: the bearer tokens of the ingest listener ([http] token_file).
 *
 * The file holds one token per line; blank lines and lines starting with '#' are
 * skipped, surrounding blanks trimmed. Only SHA-256 digests are kept, and a
 * presented token is hashed and compared with every one of them in constant time
 * (CRYPTO_memcmp), so neither a token's length nor how much of it matched shows in
 * the time of an answer. Loop thread only.
 */
#ifndef INGESTD_HTTP_TOKENS_H
#define INGESTD_HTTP_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

struct http_tokens;

/* NULL with err set when the file cannot be read or holds no token. */
struct http_tokens *http_tokens_load(const char *path, char *err, size_t errlen);
void http_tokens_free(struct http_tokens *t); /* NULL-safe */
size_t http_tokens_count(const struct http_tokens *t);
/* True when authorization is "Bearer TOKEN" with one of the tokens. */
bool http_tokens_check(const struct http_tokens *t, const char *authorization);

#endif

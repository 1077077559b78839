/*
 * http_tokens.c: reading token_file and checking a bearer token (see http_tokens.h).
 */
#include "daemon/http_tokens.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "base/util.h"

#define MAX_TOKENS     1024
#define MAX_TOKEN_LINE 4096

struct http_tokens {
    unsigned char (*digest)[SHA256_DIGEST_LENGTH];
    size_t n;
};

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

struct http_tokens *http_tokens_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    struct http_tokens *t;
    char line[MAX_TOKEN_LINE];

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    t = xcalloc(1, sizeof *t);
    t->digest = xcalloc(MAX_TOKENS, sizeof *t->digest);
    while (fgets(line, sizeof line, f) && t->n < MAX_TOKENS) {
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        SHA256((const unsigned char *)s, strlen(s), t->digest[t->n++]);
    }
    explicit_bzero(line, sizeof line);
    fclose(f);
    if (!t->n) {
        snprintf(err, errlen, "%s: no token in it", path);
        http_tokens_free(t);
        return NULL;
    }
    return t;
}

void http_tokens_free(struct http_tokens *t)
{
    if (!t)
        return;
    free(t->digest);
    free(t);
}

size_t http_tokens_count(const struct http_tokens *t)
{
    return t ? t->n : 0;
}

bool http_tokens_check(const struct http_tokens *t, const char *authorization)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    const char *tok;
    int match = 0;

    if (!t || !authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    SHA256((const unsigned char *)tok, strlen(tok), d);
    /* every digest is compared: the time does not say which one matched */
    for (size_t i = 0; i < t->n; i++)
        match |= CRYPTO_memcmp(d, t->digest[i], sizeof d) == 0;
    return match != 0;
}

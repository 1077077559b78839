/*
 * fuzz.h: what the fuzz targets in tests/fuzz/ share: a reader that turns the first bytes of an
 * input into parameters (a dialect, chunk sizes, a mode) and hands out the rest as data, a check
 * macro for invariants, and the entry points of every target.
 *
 * Each tests/fuzz/fuzz_X.c defines `int fuzz_X(const uint8_t *data, size_t size)` and, unless
 * FUZZ_NO_MAIN is defined, the libFuzzer entry LLVMFuzzerTestOneInput calling it. The gcc
 * build links them all with FUZZ_NO_MAIN into tests/fuzz/test_fuzz_regressions, which replays the
 * committed corpora and crash regressions through the same functions (under the project's
 * sanitizers when configured with them). An invariant that does not hold prints what and
 * where, then aborts: libFuzzer saves the input, the replay test fails.
 *
 * Single-threaded; the reader is a plain cursor over the caller's bytes (never copies them).
 */
#ifndef INGESTD_FUZZ_H
#define INGESTD_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A cursor over the input: parameters are taken from the front, bytes from wherever it is. */
struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
    uint8_t v;

    if (in->n == 0)
        return 0;
    v = in->p[0];
    in->p++;
    in->n--;
    return v;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
    uint16_t hi = fuzz_u8(in);

    return (uint16_t)(hi << 8 | fuzz_u8(in));
}

static inline bool fuzz_bool(struct fuzz_in *in)
{
    return fuzz_u8(in) & 1;
}

/* A value in [lo, hi] (hi - lo < 256). */
static inline unsigned fuzz_range(struct fuzz_in *in, unsigned lo, unsigned hi)
{
    return lo + fuzz_u8(in) % (hi - lo + 1);
}

/*
 * A NUL-terminated string of at most max bytes taken from the input: it ends at a '\n' or NUL
 * byte (consumed, also right after max bytes) or after max bytes. out has room for max + 1.
 */
static inline size_t fuzz_str(struct fuzz_in *in, char *out, size_t max)
{
    size_t k = 0;

    while (in->n > 0) {
        uint8_t c = in->p[0];
        if (c == '\n' || c == '\0') {
            fuzz_u8(in);
            break;
        }
        if (k == max)
            break;
        out[k++] = (char)fuzz_u8(in);
    }
    out[k] = '\0';
    return k;
}

/* A copy of the remaining bytes, NUL-terminated (for APIs that take C strings): the fuzzer's
 * buffer is not, and ASan then sees any read past the declared length. Caller frees. */
static inline char *fuzz_cstr(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);

    if (!s)
        abort();
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* An exact-size heap copy, so that a read past the end is caught by ASan. Caller frees. */
static inline uint8_t *fuzz_dup(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);

    if (!d)
        abort();
    if (n)
        memcpy(d, p, n);
    return d;
}

int fuzz_csvstream(const uint8_t *data, size_t size);
int fuzz_jsonstream(const uint8_t *data, size_t size);
int fuzz_event(const uint8_t *data, size_t size);
int fuzz_config(const uint8_t *data, size_t size);
int fuzz_aws_parse(const uint8_t *data, size_t size);
int fuzz_creds(const uint8_t *data, size_t size);
int fuzz_s3_url(const uint8_t *data, size_t size);
int fuzz_sigv4(const uint8_t *data, size_t size);

#ifndef FUZZ_NO_MAIN
#define FUZZ_MAIN(fn)                                                                              \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                                   \
    {                                                                                              \
        return fn(data, size);                                                                     \
    }
#else
#define FUZZ_MAIN(fn)
#endif

#endif

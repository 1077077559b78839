/*
 * test_decompress.c: gzip and zstd streams made here with zlib and libzstd, decoded at
 * several chunk sizes; multi-member gzip, several zstd frames, auto detection with the
 * magic split across chunks, corrupt and truncated input with their offsets, zstd
 * frames asking for a window over zstd_window_max.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "input/decompress.h"
#include "../tap.h"
#include "base/util.h"

static size_t gzip_make(const void *in, size_t n, unsigned char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return r == Z_STREAM_END ? len : 0;
}

static size_t zstd_make(const void *in, size_t n, unsigned char *out, size_t cap)
{
    size_t r = ZSTD_compress(out, cap, in, n, 3);
    return ZSTD_isError(r) ? 0 : r;
}

/* One frame declaring a window of 2^wlog bytes: streamed without a size, so the encoder
 * cannot shrink the window to fit the input. */
static size_t zstd_make_window(const void *in, size_t n, int wlog, unsigned char *out, size_t cap)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_inBuffer ib = {in, n, 0};
    ZSTD_outBuffer ob = {out, cap, 0};
    size_t r;

    ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, wlog);
    r = ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_continue);
    while (!ZSTD_isError(r) && (r = ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end)) > 0 &&
           !ZSTD_isError(r))
        ;
    ZSTD_freeCCtx(c);
    return ZSTD_isError(r) ? 0 : ob.pos;
}

static size_t window_max; /* zstd_window_max for decode(); 0: the default */

struct sink_out {
    struct buf b;
    size_t fail_after; /* fail once this many bytes came out, 0: never */
};

static int collect(void *arg, const void *p, size_t n, struct ierr *e)
{
    struct sink_out *o = arg;
    if (n == 0 || n > DECOMPRESS_OUT_CHUNK)
        return -1;
    buf_append(&o->b, p, n);
    if (o->fail_after && o->b.len >= o->fail_after) {
        memset(e, 0, sizeof(*e));
        e->cls = IERR_TRANSIENT;
        snprintf(e->reason, sizeof(e->reason), "downstream full");
        return -1;
    }
    return 0;
}

/* Decode in chunks of `chunk` bytes; returns the output (owned) or NULL with err set. */
static char *decode(enum compression c, const unsigned char *in, size_t n, size_t chunk,
                    size_t *outlen, struct ierr *err, enum compression *kind)
{
    struct sink_out o = {0};
    struct decompress *d = decompress_new(c, collect, &o);
    int rc = 0;

    if (window_max)
        decompress_set_zstd_window_max(d, window_max);
    buf_init(&o.b);
    memset(err, 0, sizeof(*err));
    for (size_t off = 0; off < n && rc == 0; off += chunk)
        rc = decompress_feed(d, in + off, n - off < chunk ? n - off : chunk, err);
    if (rc == 0)
        rc = decompress_finish(d, err);
    if (kind)
        *kind = decompress_kind(d);
    if (rc == 0 && decompress_bytes_out(d) != o.b.len)
        rc = -1;
    decompress_free(d);
    if (rc < 0) {
        buf_free(&o.b);
        return NULL;
    }
    *outlen = o.b.len;
    return buf_steal(&o.b);
}

static const size_t chunks[] = {1, 2, 3, 4, 5, 7, 64, 1000, 4096, 65536, 1 << 30};

/* Every chunk size must give back `plain` exactly. */
static void expect_roundtrip(enum compression c, const unsigned char *z, size_t zn,
                             const char *plain, size_t pn, enum compression want_kind)
{
    for (size_t i = 0; i < ARRAY_SIZE(chunks); i++) {
        struct ierr e;
        enum compression kind;
        size_t n = 0;
        char *out = decode(c, z, zn, chunks[i], &n, &e, &kind);
        if (!out) {
            TAP_FAIL("chunk %zu: %s", chunks[i], e.reason);
            continue;
        }
        if (n != pn || memcmp(out, plain, pn) != 0)
            TAP_FAIL("chunk %zu: %zu bytes out, want %zu", chunks[i], n, pn);
        EXPECT_EQ_INT(want_kind, kind);
        free(out);
    }
}

/* Every chunk size must fail with `want` in the reason. */
static void expect_error(enum compression c, const unsigned char *z, size_t zn, const char *want)
{
    for (size_t i = 0; i < ARRAY_SIZE(chunks); i++) {
        struct ierr e;
        size_t n;
        char *out = decode(c, z, zn, chunks[i], &n, &e, NULL);
        if (out) {
            TAP_FAIL("chunk %zu: decoded %zu bytes, expected an error", chunks[i], n);
            free(out);
            continue;
        }
        EXPECT_EQ_INT(IERR_PERMANENT, e.cls);
        EXPECT_CONTAINS(want, e.reason);
    }
}

static char *make_plain(size_t n)
{
    char *p = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        p[i] = "id,name\n12345,some text that repeats\n"[i % 38] + (char)((i / 997) % 3);
    p[n] = '\0';
    return p;
}

DEF_TEST(gzip_roundtrip)
{
    size_t pn = 300000;
    char *plain = make_plain(pn);
    unsigned char *z = xmalloc(pn + 1000);
    size_t zn = gzip_make(plain, pn, z, pn + 1000);
    EXPECT_TRUE(zn > 0);
    expect_roundtrip(COMPRESSION_GZIP, z, zn, plain, pn, COMPRESSION_GZIP);
    expect_roundtrip(COMPRESSION_AUTO, z, zn, plain, pn, COMPRESSION_GZIP);
    free(z);
    free(plain);
}

DEF_TEST(highly_compressible_output_fills_many_buffers)
{
    size_t pn = 5 << 20;
    char *plain = xcalloc(1, pn);
    unsigned char *z = xmalloc(pn);
    size_t zn = gzip_make(plain, pn, z, pn);
    EXPECT_TRUE(zn > 0 && zn < 10000);
    expect_roundtrip(COMPRESSION_AUTO, z, zn, plain, pn, COMPRESSION_GZIP);
    zn = zstd_make(plain, pn, z, pn);
    EXPECT_TRUE(zn > 0 && zn < 10000);
    expect_roundtrip(COMPRESSION_AUTO, z, zn, plain, pn, COMPRESSION_ZSTD);
    free(z);
    free(plain);
}

DEF_TEST(gzip_multi_member)
{
    const char *a = "a,b\n1,2\n", *b = "3,4\n", *c = "";
    unsigned char z[512];
    size_t zn = gzip_make(a, strlen(a), z, sizeof(z));
    zn += gzip_make(b, strlen(b), z + zn, sizeof(z) - zn);
    zn += gzip_make(c, 0, z + zn, sizeof(z) - zn);
    expect_roundtrip(COMPRESSION_AUTO, z, zn, "a,b\n1,2\n3,4\n", 12, COMPRESSION_GZIP);
    /* something that is not a member after the first: an error, not ignored */
    memcpy(z + zn, "junk", 4);
    expect_error(COMPRESSION_GZIP, z, zn + 4, "incorrect header check");
}

DEF_TEST(zstd_roundtrip_and_frames)
{
    size_t pn = 300000;
    char *plain = make_plain(pn);
    unsigned char *z = xmalloc(pn + 1000);
    size_t zn = zstd_make(plain, 1000, z, pn + 1000);
    zn += zstd_make(plain + 1000, pn - 1000, z + zn, pn + 1000 - zn);
    expect_roundtrip(COMPRESSION_ZSTD, z, zn, plain, pn, COMPRESSION_ZSTD);
    expect_roundtrip(COMPRESSION_AUTO, z, zn, plain, pn, COMPRESSION_ZSTD);
    free(z);
    free(plain);
}

DEF_TEST(auto_passthrough)
{
    /* near misses of both magics, and inputs shorter than a magic */
    static const char *ins[] = {"a,b\n1,2\n", "\x1f", "\x1fx,y\n", "\x28\xb5\x2f",
                                "\x28\xb5x",  "(b",   "",          "\x28"};
    for (size_t i = 0; i < ARRAY_SIZE(ins); i++)
        expect_roundtrip(COMPRESSION_AUTO, (const unsigned char *)ins[i], strlen(ins[i]), ins[i],
                         strlen(ins[i]), COMPRESSION_NONE);
    expect_roundtrip(COMPRESSION_NONE, (const unsigned char *)"\x1f\x8b", 2, "\x1f\x8b", 2,
                     COMPRESSION_NONE);
}

DEF_TEST(corrupt_and_truncated)
{
    size_t pn = 100000;
    char *plain = make_plain(pn);
    unsigned char *z = xmalloc(pn);
    size_t zn = gzip_make(plain, pn, z, pn);

    expect_error(COMPRESSION_GZIP, z, zn / 2,
                 "gzip: truncated input: the stream ends inside a "
                 "member after");
    expect_error(COMPRESSION_GZIP, z, 1, "gzip: truncated input");
    z[zn - 5] ^= 0x55; /* the CRC-32 in the trailer */
    expect_error(COMPRESSION_AUTO, z, zn, "incorrect data check");
    z[zn - 5] ^= 0x55;
    z[3] = 0xE0; /* reserved flag bits */
    expect_error(COMPRESSION_AUTO, z, zn,
                 "gzip: corrupt input at compressed byte offset 4: unknown header flags set");
    expect_error(COMPRESSION_GZIP, (const unsigned char *)"plain,text\n", 11,
                 "gzip: corrupt input at compressed byte offset 2: incorrect header check");
    expect_error(COMPRESSION_GZIP, (const unsigned char *)"", 0, "gzip: the object is empty");

    zn = zstd_make(plain, pn, z, pn);
    expect_error(COMPRESSION_ZSTD, z, zn - 3, "zstd: truncated input");
    memset(z + 20, 0xAB, 64);
    expect_error(COMPRESSION_AUTO, z, zn, "zstd: corrupt input within the first ");
    expect_error(COMPRESSION_ZSTD, (const unsigned char *)"plain,text\n", 11,
                 "compressed bytes: Unknown frame descriptor");
    expect_error(COMPRESSION_ZSTD, (const unsigned char *)"", 0, "zstd: the object is empty");
    free(z);
    free(plain);
}

DEF_TEST(zstd_window_over_the_cap)
{
    size_t pn = 200000, an, zn;
    char *plain = make_plain(pn);
    unsigned char *z = xmalloc(2 * pn);
    char want[128];

    zn = zstd_make_window(plain, pn, 24, z, 2 * pn);
    EXPECT_TRUE(zn > 0);
    expect_error(COMPRESSION_ZSTD, z, zn,
                 "zstd: the frame at compressed byte offset 0 needs a 16M window, more than "
                 "zstd_window_max = 8M");
    expect_error(COMPRESSION_AUTO, z, zn, "needs a 16M window");
    window_max = 16u << 20;
    expect_roundtrip(COMPRESSION_AUTO, z, zn, plain, pn, COMPRESSION_ZSTD);
    window_max = 1u << 20;
    expect_error(COMPRESSION_AUTO, z, zn, "needs a 16M window, more than zstd_window_max = 1M");

    /* a small frame first: the one refused is named by its own offset */
    window_max = 0;
    an = zstd_make_window(plain, 5000, 20, z, 2 * pn);
    zn = an + zstd_make_window(plain + 5000, pn - 5000, 27, z + an, 2 * pn - an);
    snprintf(want, sizeof(want), "the frame at compressed byte offset %zu needs a 128M window", an);
    expect_error(COMPRESSION_AUTO, z, zn, want);
    free(z);
    free(plain);
}

DEF_TEST(downstream_error_passes_through)
{
    size_t pn = 400000;
    char *plain = make_plain(pn);
    unsigned char *z = xmalloc(pn);
    size_t zn = gzip_make(plain, pn, z, pn);
    struct sink_out o = {.fail_after = 1};
    struct decompress *d = decompress_new(COMPRESSION_AUTO, collect, &o);
    struct ierr e;

    buf_init(&o.b);
    EXPECT_EQ_INT(-1, decompress_feed(d, z, zn, &e));
    EXPECT_EQ_INT(IERR_TRANSIENT, e.cls);
    EXPECT_EQ_STR("downstream full", e.reason);
    EXPECT_EQ_INT(-1, decompress_feed(d, z, 1, &e));
    EXPECT_EQ_INT(-1, decompress_finish(d, &e));
    EXPECT_EQ_STR("downstream full", e.reason);
    EXPECT_EQ_INT(DECOMPRESS_OUT_CHUNK, o.b.len);
    decompress_free(d);
    buf_free(&o.b);
    free(z);
    free(plain);
}

int main(void)
{
    RUN_TEST(gzip_roundtrip);
    RUN_TEST(highly_compressible_output_fills_many_buffers);
    RUN_TEST(gzip_multi_member);
    RUN_TEST(zstd_roundtrip_and_frames);
    RUN_TEST(zstd_window_over_the_cap);
    RUN_TEST(auto_passthrough);
    RUN_TEST(corrupt_and_truncated);
    RUN_TEST(downstream_error_passes_through);
    return tap_done();
}

/*
 * decompress.c: gzip (zlib) and zstd streaming decoders behind one push interface.
 *
 * Auto detection keeps at most four bytes aside until the magic number is
 * decided, then replays them. gzip members are decoded one after another with
 * inflateReset between them, so concatenated members form one stream; whatever
 * follows a member must itself be a gzip member (trailing garbage is an error,
 * not silently ignored as gzip(1) does, since it usually means a damaged upload).
 * The compressed offsets in errors count every byte fed, magic included.
 * No I/O, no logging.
 */
#include "input/decompress.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader: the window a refused frame needs */
#include <zstd.h>
#include <zstd_errors.h>

#include "base/util.h"

struct decompress {
    enum compression kind; /* COMPRESSION_AUTO while undecided */
    decompress_out_fn out;
    void *arg;
    unsigned char magic[4];
    size_t nmagic;

    z_stream z;
    bool z_ready;
    bool in_member; /* a gzip member was started and has not ended */
    ZSTD_DStream *zs;
    size_t zret; /* last ZSTD_decompressStream result: 0 = at a frame end */
    size_t zwin_max;
    /* The first bytes of the frame being decoded, to name the window it asks for. */
    unsigned char zhead[ZSTD_FRAMEHEADERSIZE_MAX];
    size_t zhead_len;
    uint64_t zframe_off; /* compressed offset where that frame starts */

    unsigned char *obuf;
    uint64_t in; /* compressed bytes consumed by the codec */
    uint64_t outn;
    bool any_input;
    bool failed;
    struct ierr err;
};

static const unsigned char gzip_magic[2] = {0x1f, 0x8b};
static const unsigned char zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

static void PRINTF_LIKE(3, 4)
    fail_as(struct decompress *d, enum ierr_class cls, const char *fmt, ...)
{
    va_list ap;

    if (d->failed)
        return;
    d->failed = true;
    memset(&d->err, 0, sizeof(d->err));
    d->err.cls = cls;
    va_start(ap, fmt);
    vsnprintf(d->err.reason, sizeof(d->err.reason), fmt, ap);
    va_end(ap);
}

#define fail(d, ...)       fail_as((d), IERR_PERMANENT, __VA_ARGS__)
#define fail_nomem(d, ...) fail_as((d), IERR_TRANSIENT, __VA_ARGS__)

struct decompress *decompress_new(enum compression c, decompress_out_fn out, void *arg)
{
    struct decompress *d = xcalloc(1, sizeof(*d));

    d->kind = c;
    d->out = out;
    d->arg = arg;
    d->obuf = xmalloc(DECOMPRESS_OUT_CHUNK);
    d->zwin_max = DECOMPRESS_ZSTD_WINDOW_MAX;
    return d;
}

void decompress_set_zstd_window_max(struct decompress *d, size_t bytes)
{
    d->zwin_max = bytes;
}

void decompress_free(struct decompress *d)
{
    if (!d)
        return;
    if (d->z_ready)
        inflateEnd(&d->z);
    ZSTD_freeDStream(d->zs);
    free(d->obuf);
    free(d);
}

enum compression decompress_kind(const struct decompress *d)
{
    return d->kind;
}

uint64_t decompress_bytes_in(const struct decompress *d)
{
    return d->in;
}

uint64_t decompress_bytes_out(const struct decompress *d)
{
    return d->outn;
}

static int emit(struct decompress *d, const void *p, size_t n)
{
    struct ierr e = {0};

    if (n == 0)
        return 0;
    d->outn += n;
    if (d->out(d->arg, p, n, &e) < 0) {
        d->failed = true;
        d->err = e;
        if (d->err.cls == IERR_NONE)
            d->err.cls = IERR_PERMANENT;
        return -1;
    }
    return 0;
}

static void gzip_feed(struct decompress *d, const unsigned char *p, size_t len)
{
    bool full = false;

    if (!d->z_ready) {
        int r = inflateInit2(&d->z, 15 + 16);
        if (r == Z_MEM_ERROR) {
            fail_nomem(d, "gzip: out of memory for the decoder");
            return;
        }
        if (r != Z_OK) {
            fail(d, "gzip: cannot initialise zlib");
            return;
        }
        d->z_ready = true;
        d->in_member = true;
    }
    d->z.next_in = (Bytef *)p;
    d->z.avail_in = (uInt)len;
    while (d->z.avail_in > 0 || full) {
        uInt before = d->z.avail_in;
        int r;

        if (!d->in_member) {
            inflateReset(&d->z);
            d->in_member = true;
        }
        d->z.next_out = d->obuf;
        d->z.avail_out = DECOMPRESS_OUT_CHUNK;
        r = inflate(&d->z, Z_NO_FLUSH);
        d->in += before - d->z.avail_in;
        if (r == Z_MEM_ERROR) {
            fail_nomem(d, "gzip: out of memory at compressed byte offset %llu",
                       (unsigned long long)d->in);
            return;
        }
        if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
            fail(d, "gzip: corrupt input at compressed byte offset %llu: %s",
                 (unsigned long long)d->in, d->z.msg ? d->z.msg : zError(r));
            return;
        }
        full = d->z.avail_out == 0;
        if (emit(d, d->obuf, DECOMPRESS_OUT_CHUNK - d->z.avail_out) < 0)
            return;
        if (r == Z_STREAM_END) {
            d->in_member = false; /* the member's output is all out: nothing pending */
            full = false;
        } else if (r == Z_BUF_ERROR && !full)
            break; /* needs more input */
    }
}

static int zstd_start(struct decompress *d)
{
    int wlog = 0;

    while (((size_t)2 << wlog) <= d->zwin_max)
        wlog++;
    d->zs = ZSTD_createDStream();
    if (!d->zs) {
        fail_nomem(d, "zstd: out of memory for the decoder");
        return -1;
    }
    if (ZSTD_isError(ZSTD_initDStream(d->zs)) ||
        ZSTD_isError(ZSTD_DCtx_setParameter(d->zs, ZSTD_d_windowLogMax, wlog))) {
        fail(d, "zstd: cannot initialise the decoder");
        return -1;
    }
    return 0;
}

/* Keeps the first bytes of each frame (the decoder consumes a header it cannot see
 * whole, so successive calls hand over successive bytes). */
static void zstd_keep_head(struct decompress *d, const ZSTD_inBuffer *in)
{
    size_t room = sizeof(d->zhead) - d->zhead_len, n = in->size - in->pos;

    if (d->zhead_len == 0)
        d->zframe_off = d->in;
    if (n > room)
        n = room;
    memcpy(d->zhead + d->zhead_len, (const unsigned char *)in->src + in->pos, n);
    d->zhead_len += n;
}

static void zstd_error(struct decompress *d, size_t r)
{
    ZSTD_frameHeader fh;
    char need[32], max[32];

    size_text(max, sizeof(max), d->zwin_max);
    if (ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge) {
        if (ZSTD_getFrameHeader(&fh, d->zhead, d->zhead_len) == 0)
            size_text(need, sizeof(need), fh.windowSize);
        else
            snprintf(need, sizeof(need), "larger");
        fail(d,
             "zstd: the frame at compressed byte offset %llu needs a %s window, more than "
             "zstd_window_max = %s",
             (unsigned long long)d->zframe_off, need, max);
    } else if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation) {
        fail_nomem(d, "zstd: out of memory for the decoder's window");
    } else {
        /* the decoder buffers input, so this bounds the position, it is not exact */
        fail(d, "zstd: corrupt input within the first %llu compressed bytes: %s",
             (unsigned long long)d->in, ZSTD_getErrorName(r));
    }
}

static void zstd_feed(struct decompress *d, const unsigned char *p, size_t len)
{
    ZSTD_inBuffer in = {p, len, 0};
    bool full = false;

    if (!d->zs && zstd_start(d) < 0)
        return;
    while (in.pos < in.size || full) {
        ZSTD_outBuffer o = {d->obuf, DECOMPRESS_OUT_CHUNK, 0};
        size_t before = in.pos;
        size_t r;

        if (d->zhead_len < sizeof(d->zhead))
            zstd_keep_head(d, &in);
        r = ZSTD_decompressStream(d->zs, &o, &in);
        d->in += in.pos - before;
        if (ZSTD_isError(r)) {
            zstd_error(d, r);
            return;
        }
        /* a call without progress only hints at the next frame's header size */
        if (in.pos != before || o.pos > 0) {
            d->zret = r;
            if (r == 0)
                d->zhead_len = 0; /* a frame ended: the next bytes start another */
        }
        full = o.pos == o.size;
        if (emit(d, d->obuf, o.pos) < 0)
            return;
    }
}

static void codec_feed(struct decompress *d, const unsigned char *p, size_t len)
{
    if (len == 0 || d->failed)
        return;
    d->any_input = true;
    switch (d->kind) {
    case COMPRESSION_GZIP:
        gzip_feed(d, p, len);
        break;
    case COMPRESSION_ZSTD:
        zstd_feed(d, p, len);
        break;
    default:
        d->in += len;
        emit(d, p, len);
        break;
    }
}

/* Decide from the bytes kept so far; true once decided. */
static bool detect(struct decompress *d, bool at_end)
{
    size_t n = d->nmagic;

    if (n >= 1 && d->magic[0] == gzip_magic[0]) {
        if (n < 2 && !at_end)
            return false;
        d->kind = n >= 2 && d->magic[1] == gzip_magic[1] ? COMPRESSION_GZIP : COMPRESSION_NONE;
        return true;
    }
    if (n >= 1 && d->magic[0] == zstd_magic[0]) {
        if (memcmp(d->magic, zstd_magic, n) != 0) {
            d->kind = COMPRESSION_NONE;
            return true;
        }
        if (n < 4 && !at_end)
            return false;
        d->kind = n == 4 ? COMPRESSION_ZSTD : COMPRESSION_NONE;
        return true;
    }
    if (n == 0 && !at_end)
        return false;
    d->kind = COMPRESSION_NONE;
    return true;
}

int decompress_feed(struct decompress *d, const void *data, size_t len, struct ierr *e)
{
    const unsigned char *p = data;

    while (d->kind == COMPRESSION_AUTO && len > 0 && !d->failed) {
        d->magic[d->nmagic++] = *p++;
        len--;
        if (detect(d, false))
            codec_feed(d, d->magic, d->nmagic);
    }
    if (d->kind != COMPRESSION_AUTO)
        codec_feed(d, p, len);
    if (d->failed) {
        *e = d->err;
        return -1;
    }
    return 0;
}

int decompress_finish(struct decompress *d, struct ierr *e)
{
    if (!d->failed && d->kind == COMPRESSION_AUTO) {
        detect(d, true);
        codec_feed(d, d->magic, d->nmagic);
    }
    if (!d->failed && d->kind == COMPRESSION_GZIP) {
        if (!d->any_input)
            fail(d, "gzip: the object is empty");
        else if (d->in_member)
            fail(d,
                 "gzip: truncated input: the stream ends inside a member after %llu "
                 "compressed bytes",
                 (unsigned long long)d->in);
    }
    if (!d->failed && d->kind == COMPRESSION_ZSTD) {
        if (!d->any_input)
            fail(d, "zstd: the object is empty");
        else if (d->zret != 0)
            fail(d,
                 "zstd: truncated input: the stream ends inside a frame after %llu "
                 "compressed bytes",
                 (unsigned long long)d->in);
    }
    if (d->failed) {
        *e = d->err;
        return -1;
    }
    return 0;
}

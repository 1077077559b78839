/*
 * decompress.h: streaming decompression between the object download and the parser.
 *
 * Fed the object's bytes in chunks of any size; calls `out` with decompressed
 * bytes as they become available, in pieces of at most DECOMPRESS_OUT_CHUNK bytes
 * (the buffer is reused: the bytes are valid only during the call). Memory is
 * constant: one output buffer plus the codec state: gzip's 32 KiB window, or the
 * zstd window a frame asks for, refused past the route's zstd_window_max
 * (DECOMPRESS_ZSTD_WINDOW_MAX unless set): such a frame is an IERR_PERMANENT error
 * naming the key and the window the frame needs.
 *
 * compression = auto looks at the first bytes (which may arrive split across
 * chunks): 1f 8b is gzip, 28 b5 2f fd is zstd, anything else passes through
 * unchanged. gzip accepts multi-member files (concatenated gzip streams, as
 * `cat a.gz b.gz` or pigz produce); zstd accepts several frames and skippable
 * frames. Corrupt or truncated input is an IERR_PERMANENT error naming the
 * compressed byte offset where decoding failed. A codec that cannot get its
 * memory is IERR_TRANSIENT (the load fails, not the process). An error returned
 * by `out` is passed through unchanged and stops the stream.
 *
 * Not thread-safe: a decompressor belongs to one worker.
 */
#ifndef INGESTD_DECOMPRESS_H
#define INGESTD_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/ierr.h"

#define DECOMPRESS_OUT_CHUNK       (128u * 1024)
#define DECOMPRESS_ZSTD_WINDOW_MAX (8u << 20) /* RFC 8878's minimum for decoders */

typedef int (*decompress_out_fn)(void *arg, const void *data, size_t len, struct ierr *e);

struct decompress;

struct decompress *decompress_new(enum compression c, decompress_out_fn out, void *arg);
/* The largest zstd window accepted (zstd_window_max), a power of two from 1 KiB to
 * 2 GiB; call before the first feed. */
void decompress_set_zstd_window_max(struct decompress *d, size_t bytes);
/* 0, or -1 with e set; after -1 the decompressor only fails again. */
int decompress_feed(struct decompress *d, const void *data, size_t len, struct ierr *e);
/* End of input: -1 when the compressed stream is truncated. */
int decompress_finish(struct decompress *d, struct ierr *e);
/* What auto detection chose (COMPRESSION_AUTO until enough bytes were seen). */
enum compression decompress_kind(const struct decompress *d);
uint64_t decompress_bytes_in(const struct decompress *d);
uint64_t decompress_bytes_out(const struct decompress *d);
void decompress_free(struct decompress *d); /* NULL-safe */

#endif

/*
 * linemap.h: a load's row number -> object line map, shared by the database sinks
 * (COPY row numbers in PostgreSQL, LOAD DATA row numbers in MySQL/MariaDB) to name the
 * object line of a row the server rejected. It knows nothing of either server.
 *
 * Rows are added in order; a row whose line follows the previous row's line costs
 * nothing, any other row (multi-line record, skipped rows) a few bytes of varints.
 * Above max_bytes (LINEMAP_MAX) recording stops and later rows map to 0 (unknown), so
 * memory stays bounded whatever the object.
 *
 * A struct linemap belongs to one load and to the thread running it; the caller owns
 * it and releases it with linemap_free. Every function is reentrant.
 */
#ifndef INGESTD_LINEMAP_H
#define INGESTD_LINEMAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

#define LINEMAP_MAX ((size_t)32 << 20)

struct linemap {
    struct buf enc;        /* varint pairs: row delta, zigzag line delta */
    uint64_t rows;         /* rows added */
    uint64_t seg_row;      /* first row of the last segment */
    uint64_t seg_line;     /* its line */
    uint64_t overflow_row; /* first row not recorded, 0 = none */
    size_t max_bytes;      /* LINEMAP_MAX; tests lower it */
};

void linemap_init(struct linemap *m);
void linemap_free(struct linemap *m);
void linemap_add(struct linemap *m, uint64_t line);             /* the next row (rows + 1) */
uint64_t linemap_lookup(const struct linemap *m, uint64_t row); /* 0 = unknown */

#endif

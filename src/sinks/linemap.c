/*
 * linemap.c: see linemap.h. A segment is a run of rows on consecutive lines; only
 * segment starts are stored, as varints, so a plain one-row-per-line object costs a
 * few bytes whatever its size. Lookup decodes from the start: it runs once per
 * rejected row, which is rare next to adding.
 */
#include "sinks/linemap.h"

#include <string.h>

void linemap_init(struct linemap *m)
{
    memset(m, 0, sizeof(*m));
    buf_init(&m->enc);
    m->max_bytes = LINEMAP_MAX;
}

void linemap_free(struct linemap *m)
{
    buf_free(&m->enc);
    memset(m, 0, sizeof(*m));
}

static void put_varint(struct buf *b, uint64_t v)
{
    while (v >= 0x80) {
        buf_putc(b, (char)(v | 0x80));
        v >>= 7;
    }
    buf_putc(b, (char)v);
}

static uint64_t get_varint(const unsigned char **pp)
{
    uint64_t v = 0;
    unsigned shift = 0;
    const unsigned char *p = *pp;
    while (*p & 0x80) {
        v |= (uint64_t)(*p++ & 0x7f) << shift;
        shift += 7;
    }
    v |= (uint64_t)*p++ << shift;
    *pp = p;
    return v;
}

void linemap_add(struct linemap *m, uint64_t line)
{
    uint64_t row = ++m->rows;
    if (m->overflow_row)
        return;
    if (row > 1 && line == m->seg_line + (row - m->seg_row))
        return;
    if (m->enc.len >= m->max_bytes) {
        m->overflow_row = row;
        return;
    }
    /* Segment start: the row delta, then the line's distance from where the previous
     * segment would have put it, zigzag-encoded since a caller may go backwards. */
    uint64_t predicted = row > 1 ? m->seg_line + (row - m->seg_row) : 0;
    int64_t d = (int64_t)(line - predicted);
    put_varint(&m->enc, row - m->seg_row);
    /* All ones for a negative d without shifting a signed value (implementation-defined). */
    put_varint(&m->enc, ((uint64_t)d << 1) ^ (0 - ((uint64_t)d >> 63)));
    m->seg_row = row;
    m->seg_line = line;
}

uint64_t linemap_lookup(const struct linemap *m, uint64_t row)
{
    if (row == 0 || row > m->rows || (m->overflow_row && row >= m->overflow_row))
        return 0;
    const unsigned char *p = (const unsigned char *)m->enc.data;
    const unsigned char *end = p + m->enc.len;
    uint64_t srow = 0, sline = 0;
    while (p < end) {
        uint64_t nrow = srow + get_varint(&p);
        uint64_t z = get_varint(&p);
        if (nrow > row)
            break;
        uint64_t predicted = srow ? sline + (nrow - srow) : 0;
        sline = predicted + (uint64_t)((int64_t)(z >> 1) ^ -(int64_t)(z & 1));
        srow = nrow;
    }
    return srow ? sline + (row - srow) : 0;
}

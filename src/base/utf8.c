/*
 * utf8.c: UTF-8 validation and printable samples.
 *
 * The validator runs on every CSV field, so it skips ASCII eight bytes at a time
 * and only decodes multi-byte sequences byte by byte. It does not normalise,
 * transcode or guess encodings: bytes are valid UTF-8 or they are reported.
 */
#include "base/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid sequence at s[i..n), or 0 when it is invalid or truncated. */
static size_t seq_len(const unsigned char *s, size_t i, size_t n)
{
    unsigned char c = s[i];
    if (c < 0x80)
        return 1;
    if (c < 0xC2) /* continuation byte or overlong 2-byte lead */
        return 0;
    if (c < 0xE0) {
        if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80)
            return 0;
        return 2;
    }
    if (c < 0xF0) {
        if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[i + 1] < 0xA0) /* overlong */
            return 0;
        if (c == 0xED && s[i + 1] >= 0xA0) /* surrogates */
            return 0;
        return 3;
    }
    if (c < 0xF5) {
        if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 ||
            (s[i + 3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[i + 1] < 0x90) /* overlong */
            return 0;
        if (c == 0xF4 && s[i + 1] >= 0x90) /* above U+10FFFF */
            return 0;
        return 4;
    }
    return 0;
}

bool utf8_valid(const char *str, size_t n, size_t *bad)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & UINT64_C(0x8080808080808080)) == 0) {
                i += 8;
                continue;
            }
        }
        size_t l = seq_len(s, i, n);
        if (l == 0) {
            if (bad)
                *bad = i;
            return false;
        }
        i += l;
    }
    return true;
}

size_t utf8_count(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += (s[i] & 0xC0) != 0x80;
    return count;
}

void utf8_sample(char *out, size_t outsz, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t o = 0, i = 0;

    if (outsz == 0)
        return;
    while (i < n) {
        size_t l = seq_len(s, i, n);
        char esc[5];
        const char *piece;
        size_t plen;
        if (l == 0 || (l == 1 && ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7F))) {
            snprintf(esc, sizeof(esc), "\\x%02X", s[i]);
            piece = esc;
            plen = 4;
            l = 1;
        } else {
            piece = (const char *)s + i;
            plen = l;
        }
        if (o + plen + 4 > outsz) { /* keep room for "..." and the NUL */
            /* whole pieces only were copied, each leaving room for this */
            if (o + 4 <= outsz) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(out + o, piece, plen);
        o += plen;
        i += l;
    }
    out[o < outsz ? o : outsz - 1] = '\0';
}

void utf8_escape(struct buf *out, const char *str, size_t n, const char *quote)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < n) {
        size_t l = seq_len(s, i, n), start = i;
        unsigned char c = s[i];

        /* A run of plain characters is copied at once. */
        while (i < n && l == 1 && c >= 0x20 && c != 0x7F && c != '\\' &&
               !(quote && strchr(quote, c))) {
            i++;
            if (i < n) {
                c = s[i];
                l = seq_len(s, i, n);
            }
        }
        if (i > start) {
            buf_append(out, s + start, i - start);
            continue;
        }
        if (l > 1 && !(l == 2 && c == 0xC2 && s[i + 1] < 0xA0)) {
            buf_append(out, s + i, l);
            i += l;
            continue;
        }
        if (l == 0)
            l = 1;
        for (size_t k = 0; k < l; k++, i++) {
            c = s[i];
            if (c == '\n')
                buf_puts(out, "\\n");
            else if (c == '\r')
                buf_puts(out, "\\r");
            else if (c == '\t')
                buf_puts(out, "\\t");
            else if (c == '\\' || (c >= 0x20 && c < 0x7F))
                buf_printf(out, "\\%c", c);
            else
                buf_printf(out, "\\x%02X", c);
        }
    }
}

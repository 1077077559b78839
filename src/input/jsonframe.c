/*
 * jsonframe.c: finding the records of a JSON array (format = json) as bytes arrive.
 *
 * A byte-at-a-time state machine walks the top-level value: it follows object
 * members down to the records array (json_path, or the first array member), skips
 * other members, and inside the array gathers each element's bytes, tracking
 * strings, escapes and a stack of open brackets, until the element is complete;
 * jsonframe_feed() then returns, and the caller takes the element (s->rec). Only bracket structure
 * and the separators between elements are checked here: jansson validates each record. Memory: the
 * element being gathered (bounded by max_record) and the bracket stack (JSONSTREAM_MAX_DEPTH
 * bytes); skipped members cost nothing.
 */
#include <string.h>

#include "input/jsonstream_int.h"

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *path_text(struct jsonstream *s)
{
    return s->rc->json_path ? s->rc->json_path : "";
}

static void start_value(struct jsonstream *s, bool keep)
{
    s->depth = 0;
    s->in_str = s->esc = s->scalar = false;
    s->st = keep ? J_ELEM : J_SKIP;
    s->rec_line = s->line;
    s->rec_off = s->off;
    buf_reset(&s->rec);
}

/* The value ended (its last byte consumed, or the next byte not yet). */
static void end_value(struct jsonstream *s)
{
    if (s->st == J_SKIP) {
        s->st = J_OBJ_NEXT;
        return;
    }
    s->st = J_ARR_NEXT;
    s->rec_done = true; /* jsonframe_feed() returns: the caller takes s->rec */
}

/*
 * Consume the bytes of the value being scanned, at most up to its end. Returns the
 * number consumed; the state changes when the value ends. A scalar ends before the
 * first whitespace, ',', ']' or '}' (not consumed); a string or a container after
 * its closing character.
 */
static size_t scan_value(struct jsonstream *s, const unsigned char *d, size_t n)
{
    bool keep = s->st == J_ELEM, done = false;
    size_t j;

    for (j = 0; j < n && !done; j++) {
        unsigned char c = d[j];

        if (s->in_str) {
            if (s->esc)
                s->esc = false;
            else if (c == '\\')
                s->esc = true;
            else if (c == '"') {
                s->in_str = false;
                done = s->depth == 0;
            }
        } else if (s->depth == 0 && s->scalar) {
            if (is_ws(c) || c == ',' || c == ']' || c == '}') {
                done = true;
                break;
            }
        } else if (c == '"') {
            s->in_str = true;
            s->scalar = s->scalar || s->depth == 0;
        } else if (c == '{' || c == '[') {
            if (s->depth == JSONSTREAM_MAX_DEPTH) {
                s->off += j;
                JSONSTREAM_FAIL_HERE(s, "nesting deeper than %u levels", JSONSTREAM_MAX_DEPTH);
                return j;
            }
            if (!s->stack)
                s->stack = xmalloc(JSONSTREAM_MAX_DEPTH);
            s->stack[s->depth++] = (char)c;
        } else if (c == '}' || c == ']') {
            char open = c == '}' ? '{' : '[';
            if (s->depth == 0 || s->stack[s->depth - 1] != open) {
                s->off += j;
                if (s->depth == 0)
                    JSONSTREAM_FAIL_HERE(s, "unexpected '%c'", c);
                else
                    JSONSTREAM_FAIL_HERE(s, "'%c' does not close '%c'", c, s->stack[s->depth - 1]);
                return j;
            }
            done = --s->depth == 0;
        } else if (s->depth == 0) {
            s->scalar = true;
        }
        if (c == '\n')
            s->line++;
    }
    if (keep && !jsonstream_rec_append(s, d, j))
        return j;
    s->off += j;
    if (done)
        end_value(s);
    return j;
}

/* A member name is complete: decide what its value is for. */
static void key_done(struct jsonstream *s)
{
    struct jsonrow_span k = {s->key.data, s->key.len};
    bool named = false;

    s->st = J_OBJ_COLON;
    if (s->found) {
        s->member = M_SKIP;
        return;
    }
    if (s->path.n == 0) {
        s->member = M_RECORDS_IF_ARRAY;
        return;
    }
    if (s->key.len <= JSONSTREAM_KEY_MAX && jsonstream_member_name(s, &k) == 0)
        named = strcmp(s->scratch.data, s->path.v[s->nav - 1]) == 0;
    if (!named)
        s->member = M_SKIP;
    else
        s->member = s->nav == s->path.n ? M_RECORDS : M_DESCEND;
}

static size_t scan_key(struct jsonstream *s, const unsigned char *d, size_t n)
{
    size_t j;
    bool done = false;

    for (j = 0; j < n && !done; j++) {
        unsigned char c = d[j];
        if (s->esc)
            s->esc = false;
        else if (c == '\\')
            s->esc = true;
        else if (c == '"')
            done = true;
        if (c == '\n')
            s->line++;
    }
    if (s->key.len <= JSONSTREAM_KEY_MAX)
        buf_append(&s->key, d, j);
    s->off += j;
    if (done)
        key_done(s);
    return j;
}

static void close_object(struct jsonstream *s)
{
    if (!s->found) {
        if (s->path.n)
            JSONSTREAM_FAIL_HERE(s, "no array at json_path = %s", path_text(s));
        else
            JSONSTREAM_FAIL_HERE(s, "the top-level object has no array member (set json_path)");
        return;
    }
    s->nav--;
    s->st = s->nav ? J_OBJ_NEXT : J_END;
}

/* One structural byte; false when it is not consumed (a value starts with it). */
static bool structural(struct jsonstream *s, unsigned char c)
{
    switch (s->st) {
    case J_TOP:
        if (c == '[') {
            if (s->path.n)
                JSONSTREAM_FAIL_HERE(s, "json_path = %s, but the top level is an array",
                                     path_text(s));
            s->found = true;
            s->st = J_ARR_FIRST;
        } else if (c == '{') {
            s->nav = 1;
            s->st = J_OBJ_FIRST;
        } else {
            JSONSTREAM_FAIL_HERE(s, "the top level is not an array or an object");
        }
        return true;
    case J_OBJ_FIRST:
    case J_OBJ_KEY:
        if (c == '}' && s->st == J_OBJ_FIRST) {
            close_object(s);
        } else if (c == '"') {
            buf_reset(&s->key);
            buf_putc(&s->key, '"');
            s->esc = false;
            s->st = J_KEY;
        } else {
            JSONSTREAM_FAIL_HERE(s, "expected a member name");
        }
        return true;
    case J_OBJ_COLON:
        if (c != ':')
            JSONSTREAM_FAIL_HERE(s, "expected ':'");
        s->st = J_OBJ_VALUE;
        return true;
    case J_OBJ_VALUE:
        if ((s->member == M_RECORDS || s->member == M_RECORDS_IF_ARRAY) && c == '[') {
            s->found = true;
            s->st = J_ARR_FIRST;
            return true;
        }
        if (s->member == M_DESCEND && c == '{') {
            s->nav++;
            s->st = J_OBJ_FIRST;
            return true;
        }
        if (s->member == M_RECORDS || s->member == M_DESCEND) {
            JSONSTREAM_FAIL_HERE(s, "json_path = %s: the member is not %s", path_text(s),
                                 s->member == M_RECORDS ? "an array" : "an object");
            return true;
        }
        start_value(s, false);
        return false;
    case J_OBJ_NEXT:
        if (c == ',')
            s->st = J_OBJ_KEY;
        else if (c == '}')
            close_object(s);
        else
            JSONSTREAM_FAIL_HERE(s, "expected ',' or '}'");
        return true;
    case J_ARR_FIRST:
    case J_ARR_ELEM:
        if (c == ']' && s->st == J_ARR_FIRST) {
            s->st = s->nav ? J_OBJ_NEXT : J_END;
            return true;
        }
        if (c == ']' || c == ',') {
            JSONSTREAM_FAIL_HERE(s, "expected a record");
            return true;
        }
        start_value(s, true);
        return false;
    case J_ARR_NEXT:
        if (c == ',')
            s->st = J_ARR_ELEM;
        else if (c == ']')
            s->st = s->nav ? J_OBJ_NEXT : J_END;
        else
            JSONSTREAM_FAIL_HERE(s, "expected ',' or ']' after a record");
        return true;
    case J_END:
        JSONSTREAM_FAIL_HERE(s, "data after the end of the JSON value");
        return true;
    default:
        return true;
    }
}

size_t jsonframe_feed(struct jsonstream *s, const unsigned char *d, size_t n)
{
    size_t i = 0;

    while (i < n && !s->failed && !s->rec_done) {
        unsigned char c = d[i];

        if (s->st == J_ELEM || s->st == J_SKIP) {
            i += scan_value(s, d + i, n - i);
            continue;
        }
        if (s->st == J_KEY) {
            i += scan_key(s, d + i, n - i);
            continue;
        }
        if (!is_ws(c) && !structural(s, c))
            continue;
        if (s->failed)
            return i;
        s->off++;
        if (c == '\n')
            s->line++;
        i++;
    }
    return i;
}

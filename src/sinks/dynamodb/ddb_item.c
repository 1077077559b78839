/*
 * ddb_item.c: rows to DynamoDB items (see ddb_item.h).
 *
 * The JSON type is converted by a small recursive-descent parser of its own rather
 * than through jansson: jansson turns numbers into int64/double, which would lose
 * the digits of a DECIMAL(38) and change "1.50" into 1.5, while DynamoDB numbers
 * are decimal strings. Strings are copied as their JSON token (already valid JSON),
 * after checking escapes and surrogate pairs.
 */
#include "sinks/dynamodb/ddb_item.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void ddb_key_schema_free(struct ddb_key_schema *ks)
{
    for (size_t i = 0; i < 2; i++)
        free(ks->name[i]);
    memset(ks, 0, sizeof *ks);
}

/* ---- strings ---- */

static void buf_truncate(struct buf *b, size_t len)
{
    if (b->data && len <= b->len) {
        b->len = len;
        b->data[len] = '\0';
    }
}

void ddb_json_string(struct buf *out, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    buf_reserve(out, n + 2);
    buf_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_append(out, p + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            buf_puts(out, "\\\"");
            break;
        case '\\':
            buf_puts(out, "\\\\");
            break;
        case '\n':
            buf_puts(out, "\\n");
            break;
        case '\r':
            buf_puts(out, "\\r");
            break;
        case '\t':
            buf_puts(out, "\\t");
            break;
        default: {
            char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            buf_puts(out, u);
        }
        }
    }
    buf_append(out, p + run, n - run);
    buf_putc(out, '"');
}

/* ---- numbers ---- */

/* The parts of a decimal number: significant digits without leading/trailing zeros
 * and the exponent of the first of them (scientific notation). */
struct num {
    bool neg;
    const char *int_p, *frac_p;
    size_t int_n, frac_n;
    long exp; /* written exponent, clamped */
};

static int num_parse(const char *p, size_t n, struct num *o, const char **why)
{
    size_t i = 0;

    memset(o, 0, sizeof *o);
    if (i < n && (p[i] == '-' || p[i] == '+'))
        o->neg = p[i++] == '-';
    o->int_p = p + i;
    while (i < n && isdigit((unsigned char)p[i]))
        i++;
    o->int_n = (size_t)(p + i - o->int_p);
    o->frac_p = p + i; /* never NULL, even without a fraction: num_digit reads through it */
    if (i < n && p[i] == '.') {
        o->frac_p = p + ++i;
        while (i < n && isdigit((unsigned char)p[i]))
            i++;
        o->frac_n = (size_t)(p + i - o->frac_p);
    }
    if (o->int_n + o->frac_n == 0) {
        *why = "not a number";
        return -1;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        bool eneg = false;
        size_t digits = 0;
        i++;
        if (i < n && (p[i] == '-' || p[i] == '+'))
            eneg = p[i++] == '-';
        for (; i < n && isdigit((unsigned char)p[i]); i++, digits++)
            if (o->exp < 100000)
                o->exp = o->exp * 10 + (p[i] - '0');
        if (digits == 0) {
            *why = "not a number (exponent without digits)";
            return -1;
        }
        if (eneg)
            o->exp = -o->exp;
    }
    if (i != n) {
        *why = "not a number";
        return -1;
    }
    return 0;
}

/* Digit k of the concatenated integer and fraction digits. */
static char num_digit(const struct num *x, size_t k)
{
    return k < x->int_n ? x->int_p[k] : x->frac_p[k - x->int_n];
}

/* First and one-past-last significant digit; first == last for zero. Adjusted exponent. */
static void num_sig(const struct num *x, size_t *first, size_t *last, long *adj)
{
    size_t total = x->int_n + x->frac_n, f = 0, l = total;

    while (f < total && num_digit(x, f) == '0')
        f++;
    while (l > f && num_digit(x, l - 1) == '0')
        l--;
    *first = f;
    *last = l;
    *adj = (long)x->int_n - (long)f - 1 + x->exp;
}

int ddb_number_check(const char *p, size_t n, size_t *size, const char **why)
{
    struct num x;
    size_t f, l;
    long adj;

    if (num_parse(p, n, &x, why) < 0)
        return -1;
    num_sig(&x, &f, &l, &adj);
    if (l - f > 38) {
        *why = "number has more than 38 significant digits";
        return -1;
    }
    if (l > f && (adj > 125 || adj < -130)) {
        *why = "number out of DynamoDB's range (1E-130 .. 9.9E+125)";
        return -1;
    }
    if (size)
        *size = (l - f + 1) / 2 + 1;
    return 0;
}

/* A number's key: equal for numerically equal numbers ("1.0" and "01" are both 1). */
static void num_key(struct buf *key, const char *p, size_t n)
{
    struct num x;
    const char *why;
    size_t f, l;
    long adj;

    if (num_parse(p, n, &x, &why) < 0) {
        buf_append(key, p, n);
        return;
    }
    num_sig(&x, &f, &l, &adj);
    if (l == f) {
        buf_putc(key, '0');
        return;
    }
    buf_putc(key, x.neg ? '-' : '+');
    for (size_t k = f; k < l; k++)
        buf_putc(key, num_digit(&x, k));
    buf_printf(key, "e%ld", adj);
}

void ddb_key_append(struct buf *key, enum ddb_key_type t, const char *v, size_t n)
{
    struct buf tmp;

    buf_init(&tmp);
    if (t == DDB_KEY_N)
        num_key(&tmp, v, n);
    else
        buf_append(&tmp, v, n);
    buf_printf(key, "%c%zu:", t == DDB_KEY_N ? 'N' : 'S', tmp.len);
    buf_append(key, tmp.data, tmp.len);
    buf_free(&tmp);
}

/* ---- JSON -> attribute values ---- */

struct jp {
    const char *p, *end;
    struct buf *out;
    const char *why;
    int depth;
};

static void skip_ws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hex4(const char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        *v = *v << 4 | (unsigned)d;
    }
    return 0;
}

/*
 * Checks the string token at j->p (on its opening quote); tok and tokn get the token
 * with its quotes, bytes its decoded UTF-8 length; decoded (may be NULL) gets the
 * decoded bytes for comparisons.
 */
static int scan_string(struct jp *j, const char **tok, size_t *tokn, size_t *bytes,
                       struct buf *decoded)
{
    const char *s = j->p++;
    size_t nb = 0;

    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20) {
            j->why = "control character in a JSON string";
            return -1;
        }
        if (c != '\\') {
            if (decoded)
                buf_putc(decoded, (char)c);
            nb++;
            j->p++;
            continue;
        }
        if (j->end - j->p < 2) {
            j->why = "unterminated JSON string";
            return -1;
        }
        char e = j->p[1];
        j->p += 2;
        if (strchr("\"\\/bfnrt", e) && e) {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            if (decoded)
                buf_putc(decoded, to[strchr(from, e) - from]);
            nb++;
            continue;
        }
        unsigned u, lo;
        if (e != 'u' || j->end - j->p < 4 || hex4(j->p, &u) < 0) {
            j->why = "bad escape in a JSON string";
            return -1;
        }
        j->p += 4;
        if (u >= 0xDC00 && u <= 0xDFFF) {
            j->why = "lone surrogate in a JSON string";
            return -1;
        }
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || hex4(j->p + 2, &lo) < 0 ||
                lo < 0xDC00 || lo > 0xDFFF) {
                j->why = "lone surrogate in a JSON string";
                return -1;
            }
            j->p += 6;
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        }
        char enc[4];
        size_t k;
        if (u < 0x80) {
            enc[0] = (char)u;
            k = 1;
        } else if (u < 0x800) {
            enc[0] = (char)(0xC0 | u >> 6);
            enc[1] = (char)(0x80 | (u & 0x3F));
            k = 2;
        } else if (u < 0x10000) {
            enc[0] = (char)(0xE0 | u >> 12);
            enc[1] = (char)(0x80 | (u >> 6 & 0x3F));
            enc[2] = (char)(0x80 | (u & 0x3F));
            k = 3;
        } else {
            enc[0] = (char)(0xF0 | u >> 18);
            enc[1] = (char)(0x80 | (u >> 12 & 0x3F));
            enc[2] = (char)(0x80 | (u >> 6 & 0x3F));
            enc[3] = (char)(0x80 | (u & 0x3F));
            k = 4;
        }
        if (decoded)
            buf_append(decoded, enc, k);
        nb += k;
    }
    if (j->p >= j->end) {
        j->why = "unterminated JSON string";
        return -1;
    }
    j->p++;
    *tok = s;
    *tokn = (size_t)(j->p - s);
    *bytes = nb;
    return 0;
}

static int parse_value(struct jp *j, size_t *size);

static int parse_object(struct jp *j, size_t *size)
{
    struct buf keys; /* decoded keys, each preceded by its length */
    size_t total = 3;
    bool first = true;
    int rc = -1;

    buf_init(&keys);
    j->p++;
    buf_puts(j->out, "{\"M\":{");
    skip_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        buf_puts(j->out, "}}");
        *size = total;
        buf_free(&keys);
        return 0;
    }
    for (;;) {
        const char *tok;
        size_t tokn, nb, vsize, mark;
        skip_ws(j);
        if (j->p >= j->end || *j->p != '"') {
            j->why = "expected a string as JSON object key";
            goto out;
        }
        mark = keys.len;
        buf_append(&keys, "\0\0\0\0\0\0\0\0", sizeof(size_t));
        if (scan_string(j, &tok, &tokn, &nb, &keys) < 0)
            goto out;
        memcpy(keys.data + mark, &nb, sizeof nb);
        for (size_t at = 0; at < mark;) {
            size_t len;
            memcpy(&len, keys.data + at, sizeof len);
            if (len == nb &&
                memcmp(keys.data + at + sizeof len, keys.data + mark + sizeof nb, nb) == 0) {
                j->why = "duplicate key in a JSON object";
                goto out;
            }
            at += sizeof len + len;
        }
        skip_ws(j);
        if (j->p >= j->end || *j->p != ':') {
            j->why = "expected ':' in a JSON object";
            goto out;
        }
        j->p++;
        if (!first)
            buf_putc(j->out, ',');
        first = false;
        buf_append(j->out, tok, tokn);
        buf_putc(j->out, ':');
        if (parse_value(j, &vsize) < 0)
            goto out;
        total += nb + vsize;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            break;
        }
        j->why = "expected ',' or '}' in a JSON object";
        goto out;
    }
    buf_puts(j->out, "}}");
    *size = total;
    rc = 0;
out:
    buf_free(&keys);
    return rc;
}

static int parse_array(struct jp *j, size_t *size)
{
    size_t total = 3, vsize;

    j->p++;
    buf_puts(j->out, "{\"L\":[");
    skip_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        buf_puts(j->out, "]}");
        *size = total;
        return 0;
    }
    for (bool first = true;; first = false) {
        if (!first)
            buf_putc(j->out, ',');
        if (parse_value(j, &vsize) < 0)
            return -1;
        total += vsize + 1;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            break;
        }
        j->why = "expected ',' or ']' in a JSON array";
        return -1;
    }
    buf_puts(j->out, "]}");
    *size = total;
    return 0;
}

static bool literal(struct jp *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return false;
    j->p += n;
    return true;
}

static int parse_number(struct jp *j, size_t *size)
{
    const char *s = j->p;

    /* JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0') {
        j->p++;
    } else if (j->p < j->end && *j->p >= '1' && *j->p <= '9') {
        while (j->p < j->end && isdigit((unsigned char)*j->p))
            j->p++;
    } else {
        j->why = "invalid JSON";
        return -1;
    }
    if (j->p < j->end && *j->p == '.') {
        const char *d = ++j->p;
        while (j->p < j->end && isdigit((unsigned char)*j->p))
            j->p++;
        if (j->p == d) {
            j->why = "invalid JSON number";
            return -1;
        }
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        const char *d = j->p;
        while (j->p < j->end && isdigit((unsigned char)*j->p))
            j->p++;
        if (j->p == d) {
            j->why = "invalid JSON number";
            return -1;
        }
    }
    if (ddb_number_check(s, (size_t)(j->p - s), size, &j->why) < 0)
        return -1;
    buf_puts(j->out, "{\"N\":\"");
    buf_append(j->out, s, (size_t)(j->p - s));
    buf_puts(j->out, "\"}");
    return 0;
}

static int parse_value(struct jp *j, size_t *size)
{
    const char *tok;
    size_t tokn, nb;
    int rc;

    skip_ws(j);
    if (j->p >= j->end) {
        j->why = "unexpected end of JSON";
        return -1;
    }
    switch (*j->p) {
    case '{':
    case '[':
        if (++j->depth > DDB_MAX_DEPTH) {
            j->why = "JSON nested deeper than DynamoDB's 32 levels";
            return -1;
        }
        rc = *j->p == '{' ? parse_object(j, size) : parse_array(j, size);
        j->depth--;
        return rc;
    case '"':
        if (scan_string(j, &tok, &tokn, &nb, NULL) < 0)
            return -1;
        buf_puts(j->out, "{\"S\":");
        buf_append(j->out, tok, tokn);
        buf_putc(j->out, '}');
        *size = nb;
        return 0;
    case 't':
    case 'f':
    case 'n':
        *size = 1;
        if (literal(j, "true"))
            buf_puts(j->out, "{\"BOOL\":true}");
        else if (literal(j, "false"))
            buf_puts(j->out, "{\"BOOL\":false}");
        else if (literal(j, "null"))
            buf_puts(j->out, "{\"NULL\":true}");
        else
            break;
        return 0;
    default:
        return parse_number(j, size);
    }
    j->why = "invalid JSON";
    return -1;
}

int ddb_json_to_attr(const char *p, size_t n, struct buf *out, size_t *size, const char **why)
{
    struct jp j = {p, p + n, out, NULL, 0};
    size_t mark = out->len;

    if (parse_value(&j, size) == 0) {
        skip_ws(&j);
        if (j.p == j.end)
            return 0;
        j.why = "trailing characters after JSON";
    }
    buf_truncate(out, mark);
    *why = j.why;
    return -1;
}

/* ---- layout ---- */

static const char *key_type_name(enum ddb_key_type t)
{
    return t == DDB_KEY_N ? "N" : t == DDB_KEY_B ? "B" : "S";
}

int ddb_layout_init(struct ddb_layout *l, const struct strlist *columns,
                    const struct route_conf *rc, const struct ddb_key_schema *ks, const char *table,
                    struct ierr *e)
{
    memset(l, 0, sizeof *l);
    l->ncols = columns->n;
    l->qnames = xcalloc(l->ncols + 1, sizeof *l->qnames);
    l->name_bytes = xcalloc(l->ncols + 1, sizeof *l->name_bytes);
    l->types = xcalloc(l->ncols + 1, sizeof *l->types);
    l->null_as_null = rc && rc->null_as == NULL_AS_NULL;
    for (size_t c = 0; c < l->ncols; c++) {
        struct buf q;
        buf_init(&q);
        ddb_json_string(&q, columns->v[c], strlen(columns->v[c]));
        l->qnames[c] = buf_steal(&q);
        l->name_bytes[c] = strlen(columns->v[c]);
        l->types[c] = ATTR_S;
        for (size_t t = 0; rc && t < rc->ntypes; t++)
            if (strcmp(rc->types[t].column, columns->v[c]) == 0)
                l->types[c] = rc->types[t].type;
    }
    l->nkeys = ks->n;
    for (size_t k = 0; k < ks->n; k++) {
        size_t c;
        for (c = 0; c < l->ncols && strcmp(columns->v[c], ks->name[k]); c++)
            ;
        if (c == l->ncols) {
            ierr_set(e, IERR_PERMANENT, "the object has no column %s, the %s key of table %s",
                     ks->name[k], k ? "sort" : "partition", table);
            goto fail;
        }
        if (ks->type[k] == DDB_KEY_B) {
            ierr_set(e, IERR_CONFIG,
                     "table %s: key %s is binary (B), which cannot be loaded "
                     "from text",
                     table, ks->name[k]);
            goto fail;
        }
        enum attr_type want = ks->type[k] == DDB_KEY_N ? ATTR_N : ATTR_S;
        bool given = false;
        for (size_t t = 0; rc && t < rc->ntypes; t++)
            given |= strcmp(rc->types[t].column, ks->name[k]) == 0;
        if (given && l->types[c] != want) {
            ierr_set(e, IERR_CONFIG,
                     "route %s: types gives key column %s another type than "
                     "its key in table %s (%s)",
                     rc->name ? rc->name : "?", ks->name[k], table, key_type_name(ks->type[k]));
            goto fail;
        }
        l->types[c] = want;
        l->key_col[k] = (int)c;
        l->key_type[k] = ks->type[k];
    }
    return 0;
fail:
    ddb_layout_free(l);
    return -1;
}

void ddb_layout_free(struct ddb_layout *l)
{
    for (size_t c = 0; l->qnames && c < l->ncols; c++)
        free(l->qnames[c]);
    free(l->qnames);
    free(l->name_bytes);
    free(l->types);
    memset(l, 0, sizeof *l);
}

/* ---- rows ---- */

static void row_error(struct ierr *e, const struct ddb_layout *l, const struct row *row, size_t c,
                      const char *why)
{
    const struct field *f = &row->fields[c];
    /* qnames[c] is the name in quotes: strip them for the message. */
    int namelen = (int)strlen(l->qnames[c]) - 2;

    ierr_set(e, IERR_PERMANENT, "line %llu, column %.*s: %s", (unsigned long long)row->line,
             namelen, l->qnames[c] + 1, why);
    e->line = row->line;
    e->column = (unsigned)c + 1;
    snprintf(e->column_name, sizeof e->column_name, "%.*s", namelen, l->qnames[c] + 1);
    if (f->ptr)
        snprintf(e->sample, sizeof e->sample, "%.*s", (int)(f->len < 200 ? f->len : 200), f->ptr);
}

static int parse_bool_field(const char *p, size_t n, bool *v)
{
    if ((n == 4 && strncasecmp(p, "true", 4) == 0) || (n == 1 && *p == '1'))
        *v = true;
    else if ((n == 5 && strncasecmp(p, "false", 5) == 0) || (n == 1 && *p == '0'))
        *v = false;
    else
        return -1;
    return 0;
}

static int key_index(const struct ddb_layout *l, size_t c)
{
    for (size_t k = 0; k < l->nkeys; k++)
        if ((size_t)l->key_col[k] == c)
            return (int)k;
    return -1;
}

int ddb_item_encode(const struct ddb_layout *l, const struct row *row, struct buf *out,
                    struct buf *key, size_t *size, struct ierr *e)
{
    size_t omark = out->len, kmark = key->len, total = 0, vsize, text = 0;
    const char *why = NULL;
    bool first = true;

    for (size_t c = 0; c < l->ncols; c++)
        text += row->fields[c].ptr ? row->fields[c].len : 0;
    if (text > DDB_MAX_ROW_TEXT) {
        ierr_set(e, IERR_PERMANENT,
                 "line %llu: the row's values hold %zu bytes: too many for DynamoDB's 400 KB "
                 "item limit",
                 (unsigned long long)row->line, text);
        e->line = row->line;
        return -1;
    }
    buf_putc(out, '{');
    for (size_t c = 0; c < l->ncols; c++) {
        const struct field *f = &row->fields[c];
        int k = key_index(l, c);
        if (!f->ptr || (k >= 0 && f->len == 0)) {
            if (k >= 0) {
                row_error(e, l, row, c,
                          f->ptr ? "key attribute is empty" : "key attribute is missing (NULL)");
                goto fail;
            }
            if (!l->null_as_null)
                continue;
        }
        if (!first)
            buf_putc(out, ',');
        first = false;
        buf_puts(out, l->qnames[c]);
        buf_putc(out, ':');
        if (!f->ptr) {
            buf_puts(out, "{\"NULL\":true}");
            vsize = 1;
        } else if (l->types[c] == ATTR_S) {
            buf_puts(out, "{\"S\":");
            ddb_json_string(out, f->ptr, f->len);
            buf_putc(out, '}');
            vsize = f->len;
        } else if (l->types[c] == ATTR_N) {
            const char *p = f->ptr;
            size_t n = f->len;
            if (ddb_number_check(p, n, &vsize, &why) < 0) {
                row_error(e, l, row, c, why);
                goto fail;
            }
            if (*p == '+') { /* DynamoDB takes no explicit plus sign */
                p++;
                n--;
            }
            buf_puts(out, "{\"N\":\"");
            buf_append(out, p, n);
            buf_puts(out, "\"}");
        } else if (l->types[c] == ATTR_BOOL) {
            bool v;
            if (parse_bool_field(f->ptr, f->len, &v) < 0) {
                row_error(e, l, row, c, "not a boolean (true, false, 1 or 0)");
                goto fail;
            }
            buf_puts(out, v ? "{\"BOOL\":true}" : "{\"BOOL\":false}");
            vsize = 1;
        } else if (ddb_json_to_attr(f->ptr, f->len, out, &vsize, &why) < 0) {
            row_error(e, l, row, c, why);
            goto fail;
        }
        total += l->name_bytes[c] + vsize;
    }
    buf_putc(out, '}');
    if (total > DDB_MAX_ITEM_BYTES) {
        ierr_set(e, IERR_PERMANENT,
                 "line %llu: item of %zu bytes is over DynamoDB's 400 KB "
                 "limit",
                 (unsigned long long)row->line, total);
        e->line = row->line;
        goto fail;
    }
    for (size_t k = 0; k < l->nkeys; k++) {
        const struct field *f = &row->fields[l->key_col[k]];
        ddb_key_append(key, l->key_type[k], f->ptr, f->len);
    }
    *size = total;
    return 0;
fail:
    buf_truncate(out, omark);
    buf_truncate(key, kmark);
    return -1;
}

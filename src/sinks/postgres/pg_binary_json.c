/*
 * pg_binary_json.c: json_in and jsonb_in validation -> json_send (the text) and
 * jsonb_send (version byte 1, then the text).
 *
 * The server parses the text again on receive, so the bytes stored are the server's
 * own; what the client must get right is only whether the server accepts the text,
 * or the binary COPY would fail where text COPY fails with a better-placed message.
 * The lexer and the recursive-descent grammar are those of PostgreSQL's jsonapi.c:
 * white space is space, tab, CR and LF; numbers are -?(0|[1-9][0-9]*)(.[0-9]+)?
 * ([eE][+-]?[0-9]+)? with no letter, digit, '_' or byte >= 0x80 after them; strings
 * refuse bytes below 0x20 and escapes other than \" \\ \/ \b \f \n \r \t \uXXXX.
 * json_in stops there. jsonb_in also decodes the escapes: \u0000 and unpaired
 * UTF-16 surrogates are refused, and numbers become numeric (very long ones or huge
 * exponents are left to the server: uncertain). Nesting deeper than PGJSON_MAX_DEPTH
 * is uncertain (the server's limit is its stack depth).
 */
#include <string.h>

#include "sinks/postgres/pg_binary_int.h"

#define PGJSON_MAX_DEPTH    1000
#define PGJSON_MAX_NUMBER   1000  /* bytes of one number token in jsonb */
#define PGJSON_MAX_EXPONENT 10000 /* |exponent| of a number in jsonb */

#define ERR_SYNTAX "invalid input syntax for type json"

enum tok {
    T_ERROR,     /* the lexer refused the text */
    T_UNCERTAIN, /* a jsonb number the client leaves to the server */
    T_END,
    T_OBJECT_START,
    T_OBJECT_END,
    T_ARRAY_START,
    T_ARRAY_END,
    T_COMMA,
    T_COLON,
    T_STRING,
    T_SCALAR, /* number, true, false, null */
};

struct lex {
    const unsigned char *p, *end;
    bool jsonb;
};

static bool alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

static int hex4(const unsigned char *p)
{
    int ch = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        ch = ch * 16 + d;
    }
    return ch;
}

/* json_lex_string(); for jsonb also the checks of its de-escaping pass. */
static enum tok lex_string(struct lex *l)
{
    const unsigned char *s = l->p + 1;
    int hi = -1; /* a pending high surrogate (jsonb) */

    for (;; s++) {
        if (s >= l->end)
            return T_ERROR;
        if (*s == '"')
            break;
        if (*s < 32)
            return T_ERROR;
        if (*s != '\\') {
            if (hi != -1)
                return T_ERROR;
            continue;
        }
        if (++s >= l->end)
            return T_ERROR;
        if (*s == 'u') {
            int ch = l->end - s > 4 ? hex4(s + 1) : -1;
            if (ch < 0)
                return T_ERROR;
            s += 4;
            if (!l->jsonb)
                continue;
            if (ch >= 0xD800 && ch <= 0xDBFF) {
                if (hi != -1)
                    return T_ERROR;
                hi = ch;
                continue;
            }
            if (ch >= 0xDC00 && ch <= 0xDFFF) {
                if (hi == -1)
                    return T_ERROR;
                hi = -1;
                continue;
            }
            if (hi != -1 || ch == 0)
                return T_ERROR;
        } else if (!strchr("\"\\/bfnrt", *s) || *s == '\0' || hi != -1) {
            return T_ERROR; /* not an escape; or, in jsonb, a high surrogate left alone */
        }
    }
    if (hi != -1)
        return T_ERROR;
    l->p = s + 1;
    return T_STRING;
}

static const unsigned char *lex_digits(const unsigned char *s, const unsigned char *end)
{
    while (s < end && *s >= '0' && *s <= '9')
        s++;
    return s;
}

/* json_lex_number(), from the character after an optional '-'. */
static enum tok lex_number(struct lex *l, const unsigned char *s)
{
    const unsigned char *start = l->p, *e;
    long exp = 0;

    if (s < l->end && *s == '0')
        s++;
    else if (s < l->end && *s >= '1' && *s <= '9')
        s = lex_digits(s, l->end);
    else
        return T_ERROR;
    if (s < l->end && *s == '.') {
        e = lex_digits(s + 1, l->end);
        if (e == s + 1)
            return T_ERROR;
        s = e;
    }
    if (s < l->end && (*s == 'e' || *s == 'E')) {
        s++;
        bool neg = s < l->end && *s == '-';
        if (s < l->end && (*s == '+' || *s == '-'))
            s++;
        e = lex_digits(s, l->end);
        if (e == s)
            return T_ERROR;
        for (; s < e && exp <= PGJSON_MAX_EXPONENT; s++)
            exp = exp * 10 + (*s - '0');
        if (neg)
            exp = -exp;
        s = e;
    }
    if (s < l->end && alnum(*s))
        return T_ERROR;
    l->p = s;
    if (l->jsonb &&
        (s - start > PGJSON_MAX_NUMBER || exp > PGJSON_MAX_EXPONENT || exp < -PGJSON_MAX_EXPONENT))
        return T_UNCERTAIN;
    return T_SCALAR;
}

static enum tok lex(struct lex *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r'))
        l->p++;
    if (l->p == l->end)
        return T_END;
    switch (*l->p) {
    case '{':
        l->p++;
        return T_OBJECT_START;
    case '}':
        l->p++;
        return T_OBJECT_END;
    case '[':
        l->p++;
        return T_ARRAY_START;
    case ']':
        l->p++;
        return T_ARRAY_END;
    case ',':
        l->p++;
        return T_COMMA;
    case ':':
        l->p++;
        return T_COLON;
    case '"':
        return lex_string(l);
    case '-':
        return lex_number(l, l->p + 1);
    default:
        break;
    }
    if (*l->p >= '0' && *l->p <= '9')
        return lex_number(l, l->p);
    const unsigned char *w = l->p;
    while (w < l->end && alnum(*w))
        w++;
    size_t n = (size_t)(w - l->p);
    bool ok = (n == 4 && (!memcmp(l->p, "true", 4) || !memcmp(l->p, "null", 4))) ||
              (n == 5 && !memcmp(l->p, "false", 5));
    l->p = w;
    return ok ? T_SCALAR : T_ERROR;
}

/* pg_parse_json(): one value, then the end. */
static enum pgbin_status parse(struct pgbin_val *v, struct lex *l)
{
    char stack[PGJSON_MAX_DEPTH];
    int depth = 0;
    enum tok t = lex(l);
    enum { VALUE, KEY, AFTER } state = VALUE;

    for (;;) {
        if (t == T_ERROR)
            return pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
        if (t == T_UNCERTAIN)
            return pgbin_refuse(v, PGBIN_UNCERTAIN, "jsonb number left to the server");
        if (state == VALUE) {
            if (t == T_OBJECT_START || t == T_ARRAY_START) {
                if (depth == PGJSON_MAX_DEPTH)
                    return pgbin_refuse(v, PGBIN_UNCERTAIN, "json nested too deeply");
                stack[depth++] = t == T_OBJECT_START ? '{' : '[';
                t = lex(l);
                if (t == (stack[depth - 1] == '{' ? T_OBJECT_END : T_ARRAY_END)) {
                    depth--;
                    t = lex(l);
                    state = AFTER;
                } else {
                    state = stack[depth - 1] == '{' ? KEY : VALUE;
                }
                continue;
            }
            if (t != T_STRING && t != T_SCALAR)
                return pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
            t = lex(l);
            state = AFTER;
        } else if (state == KEY) {
            if (t != T_STRING || (t = lex(l)) != T_COLON) {
                if (t == T_ERROR || t == T_UNCERTAIN)
                    continue;
                return pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
            }
            t = lex(l);
            state = VALUE;
        } else if (depth == 0) {
            return t == T_END ? PGBIN_OK : pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
        } else if (t == T_COMMA) {
            t = lex(l);
            state = stack[depth - 1] == '{' ? KEY : VALUE;
        } else if (t == (stack[depth - 1] == '{' ? T_OBJECT_END : T_ARRAY_END)) {
            depth--;
            t = lex(l);
        } else {
            return pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
        }
    }
}

enum pgbin_status pgbin_json(struct pgbin_val *v, bool jsonb)
{
    struct lex l = {(const unsigned char *)v->p, (const unsigned char *)v->p + v->n, jsonb};
    enum pgbin_status st = parse(v, &l);

    if (st != PGBIN_OK)
        return st;
    unsigned char *o = v->out;
    if (jsonb)
        *o++ = 1; /* jsonb binary format version */
    memcpy(o, v->p, v->n);
    v->outlen = v->n + (jsonb ? 1 : 0);
    return PGBIN_OK;
}

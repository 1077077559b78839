/*
 * creds_parse.c: documents the credential providers receive: ISO 8601 expirations,
 * the JSON of the ECS / EC2 metadata credential endpoints, STS's XML, and the
 * refresh schedule. The shared files live in creds_profile.c.
 *
 * The XML reader is deliberately small: STS answers are short, flat documents and we
 * only ever need the text of a few uniquely named leaf elements, so it finds an
 * element by its local name and decodes its character data. It does not validate
 * documents, resolve namespaces or expand DTD entities (a DOCTYPE is skipped).
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/creds_parse.h"
#include "base/util.h"

void creds_fields_free(struct creds_fields *f)
{
    if (f == NULL)
        return;
    free(f->access_key_id);
    if (f->secret_access_key != NULL)
        memset(f->secret_access_key, 0, strlen(f->secret_access_key));
    free(f->secret_access_key);
    free(f->session_token);
    memset(f, 0, sizeof(*f));
}

/* ---- ISO 8601 ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Reads exactly n digits at *p. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int iso8601_parse_ms(const char *s, int64_t *out_ms)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, ms = 0;
    const char *p = s;

    if (s == NULL)
        return -1;
    while (isspace((unsigned char)*p))
        p++;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &sec))
        return -1;
    if (*p == '.' || *p == ',') {
        int scale = 100, nd = 0;
        for (p++; isdigit((unsigned char)*p); p++, nd++) {
            ms += (*p - '0') * scale;
            scale /= 10;
        }
        if (nd == 0)
            return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
        return -1;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return -1;

    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset_s = sign * (oh * 3600 + om * 60);
    }
    while (isspace((unsigned char)*p))
        p++;
    if (*p != '\0')
        return -1;

    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                   sec - offset_s;
    *out_ms = secs * 1000 + ms;
    return 0;
}

/* ---- JSON ---- */

static const char *json_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

int creds_parse_json(const char *body, size_t len, struct creds_fields *out, char *err,
                     size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    const char *ak, *sk, *token, *exp, *code;
    int64_t expiry = 0;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (root == NULL || !json_is_object(root)) {
        snprintf(err, errlen, "credentials document is not a JSON object");
        goto done;
    }
    code = json_str(root, "Code");
    if (code != NULL && strcmp(code, "Success") != 0) {
        const char *msg = json_str(root, "Message");
        snprintf(err, errlen, "credentials endpoint answered Code %.64s%s%.200s", code,
                 msg ? ": " : "", msg ? msg : "");
        goto done;
    }
    ak = json_str(root, "AccessKeyId");
    sk = json_str(root, "SecretAccessKey");
    token = json_str(root, "Token");
    exp = json_str(root, "Expiration");
    if (ak == NULL || sk == NULL) {
        snprintf(err, errlen, "credentials document lacks AccessKeyId or SecretAccessKey");
        goto done;
    }
    if (exp != NULL && iso8601_parse_ms(exp, &expiry) != 0) {
        snprintf(err, errlen, "credentials document has a malformed Expiration \"%.40s\"", exp);
        goto done;
    }
    out->access_key_id = xstrdup(ak);
    out->secret_access_key = xstrdup(sk);
    out->session_token = token ? xstrdup(token) : NULL;
    out->expiry_ms = expiry;
    rc = 0;
done:
    json_decref(root);
    return rc;
}

/* ---- XML ---- */

/* Skips a construct starting at p that is not an element; returns the position after
 * it, p itself when p starts an element or end tag, NULL when unterminated. */
static const char *xml_skip_special(const char *p, const char *end)
{
    static const struct {
        const char *open, *close;
    } sp[] = {{"<!--", "-->"}, {"<![CDATA[", "]]>"}, {"<?", "?>"}, {"<!", ">"}};

    for (size_t i = 0; i < ARRAY_SIZE(sp); i++) {
        size_t ol = strlen(sp[i].open), cl = strlen(sp[i].close);
        if ((size_t)(end - p) < ol || memcmp(p, sp[i].open, ol) != 0)
            continue;
        for (const char *q = p + ol; q + cl <= end; q++)
            if (memcmp(q, sp[i].close, cl) == 0)
                return q + cl;
        return NULL;
    }
    return p;
}

/* A tag starting at p ('<'): its local name, kind and end (after '>'). */
struct xml_tag {
    const char *name;
    size_t name_len;
    bool closing;
    bool self_closing;
    const char *after;
};

static bool xml_read_tag(const char *p, const char *end, struct xml_tag *t)
{
    const char *q = p + 1;
    char quote = 0;

    memset(t, 0, sizeof(*t));
    if (q < end && *q == '/') {
        t->closing = true;
        q++;
    }
    const char *n = q;
    while (q < end && !isspace((unsigned char)*q) && *q != '>' && *q != '/')
        q++;
    if (q == n)
        return false;
    const char *colon = memchr(n, ':', (size_t)(q - n));
    t->name = colon ? colon + 1 : n;
    t->name_len = (size_t)(q - t->name);
    for (; q < end; q++) {
        if (quote) {
            if (*q == quote)
                quote = 0;
        } else if (*q == '"' || *q == '\'') {
            quote = *q;
        } else if (*q == '>') {
            t->self_closing = !t->closing && q[-1] == '/';
            t->after = q + 1;
            return true;
        }
    }
    return false;
}

static bool name_is(const struct xml_tag *t, const char *name)
{
    return t->name_len == strlen(name) && memcmp(t->name, name, t->name_len) == 0;
}

bool xml_find(const char *xml, size_t len, const char *name, const char **content,
              size_t *content_len)
{
    const char *p = xml, *end = xml + len, *start = NULL;
    int depth = 0, match_depth = -1;
    struct xml_tag t;

    while (p < end) {
        p = memchr(p, '<', (size_t)(end - p));
        if (p == NULL)
            return false;
        const char *after = xml_skip_special(p, end);
        if (after == NULL)
            return false;
        if (after != p) {
            p = after;
            continue;
        }
        if (!xml_read_tag(p, end, &t))
            return false;
        if (t.closing) {
            depth--;
            /* match_depth is -1 until the element opens: a stray closing tag at the top
             * level also brings depth to -1 and must not count as the match's end */
            if (match_depth >= 0 && depth == match_depth) {
                if (!name_is(&t, name))
                    return false;
                *content = start;
                *content_len = (size_t)(p - start);
                return true;
            }
            if (depth < 0)
                return false;
        } else if (match_depth < 0 && name_is(&t, name)) {
            if (t.self_closing) {
                *content = t.after;
                *content_len = 0;
                return true;
            }
            match_depth = depth++;
            start = t.after;
        } else if (!t.self_closing) {
            depth++;
        }
        p = t.after;
    }
    return false;
}

/* Appends code point cp as UTF-8; false when cp is not a valid XML character. */
static bool put_utf8(struct buf *b, unsigned long cp)
{
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return false;
    if (cp < 0x80) {
        buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        buf_putc(b, (char)(0xC0 | (cp >> 6)));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        buf_putc(b, (char)(0xE0 | (cp >> 12)));
        buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        buf_putc(b, (char)(0xF0 | (cp >> 18)));
        buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
        buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    }
    return true;
}

/* Decodes the entity at s ('&', n bytes available); returns its length or 0. */
static size_t put_entity(struct buf *b, const char *s, size_t n)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    const char *semi = memchr(s, ';', n < 16 ? n : 16);

    if (semi == NULL)
        return 0;
    size_t elen = (size_t)(semi - s) + 1;
    for (size_t i = 0; i < ARRAY_SIZE(named); i++) {
        if (elen == strlen(named[i].name) && memcmp(s, named[i].name, elen) == 0) {
            buf_putc(b, named[i].c);
            return elen;
        }
    }
    if (elen < 4 || s[1] != '#')
        return 0;
    bool hex = s[2] == 'x' || s[2] == 'X';
    const char *d = s + (hex ? 3 : 2);
    unsigned long cp = 0;
    if (d == semi)
        return 0;
    for (; d < semi; d++) {
        int v;
        if (isdigit((unsigned char)*d))
            v = *d - '0';
        else if (hex && isxdigit((unsigned char)*d))
            v = tolower((unsigned char)*d) - 'a' + 10;
        else
            return 0;
        if (cp > 0x10FFFF)
            return 0;
        cp = cp * (hex ? 16 : 10) + (unsigned long)v;
    }
    return put_utf8(b, cp) ? elen : 0;
}

char *xml_unescape(const char *s, size_t n)
{
    struct buf b;
    size_t i = 0;

    buf_init(&b);
    while (i < n) {
        if (s[i] == '&') {
            size_t used = put_entity(&b, s + i, n - i);
            if (used == 0)
                goto fail;
            i += used;
        } else if (s[i] == '<') {
            static const char cdata[] = "<![CDATA[";
            if (n - i < sizeof(cdata) - 1 || memcmp(s + i, cdata, sizeof(cdata) - 1) != 0)
                goto fail; /* markup inside what should be text */
            size_t j = i + sizeof(cdata) - 1;
            while (j + 3 <= n && memcmp(s + j, "]]>", 3) != 0)
                j++;
            if (j + 3 > n)
                goto fail;
            buf_append(&b, s + i + sizeof(cdata) - 1, j - (i + sizeof(cdata) - 1));
            i = j + 3;
        } else {
            buf_putc(&b, s[i++]);
        }
    }
    return buf_steal(&b);
fail:
    buf_free(&b);
    return NULL;
}

char *xml_text(const char *xml, size_t len, const char *name)
{
    const char *c;
    size_t n;

    if (!xml_find(xml, len, name, &c, &n))
        return NULL;
    while (n > 0 && isspace((unsigned char)*c)) {
        c++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)c[n - 1]))
        n--;
    return xml_unescape(c, n);
}

int sts_parse_credentials(const char *xml, size_t len, struct creds_fields *out, char *err,
                          size_t errlen)
{
    const char *c;
    size_t n;
    char *exp = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!xml_find(xml, len, "Credentials", &c, &n)) {
        snprintf(err, errlen, "STS response holds no Credentials element");
        return -1;
    }
    out->access_key_id = xml_text(c, n, "AccessKeyId");
    out->secret_access_key = xml_text(c, n, "SecretAccessKey");
    out->session_token = xml_text(c, n, "SessionToken");
    exp = xml_text(c, n, "Expiration");
    if (str_empty(out->access_key_id) || str_empty(out->secret_access_key) ||
        str_empty(out->session_token)) {
        snprintf(err, errlen, "STS Credentials lack AccessKeyId, SecretAccessKey or SessionToken");
        goto done;
    }
    if (exp == NULL || iso8601_parse_ms(exp, &out->expiry_ms) != 0) {
        snprintf(err, errlen, "STS Credentials have a missing or malformed Expiration");
        goto done;
    }
    rc = 0;
done:
    free(exp);
    if (rc != 0)
        creds_fields_free(out);
    return rc;
}

/* ---- refresh schedule ---- */

int64_t creds_refresh_at_ms(int64_t now_ms, int64_t obtained_ms, int64_t expiry_ms)
{
    const int64_t ten_min = 600000, five_min = 300000, fetch_time = 1000;
    int64_t target, life = expiry_ms - obtained_ms;
    int64_t usable_until = expiry_ms - CREDS_EXPIRY_MARGIN_MS;

    if (expiry_ms == 0)
        return 0;
    target = life >= ten_min ? expiry_ms - five_min : obtained_ms + life / 2;
    if (target > usable_until - fetch_time)
        target = usable_until - fetch_time;
    if (target < now_ms + 1000) {
        int64_t half_left = (usable_until - now_ms) / 2;
        target = now_ms + (half_left > 1000 ? half_left : 1000);
    }
    return target;
}

bool creds_expired_at(int64_t now_ms, int64_t expiry_ms)
{
    return expiry_ms != 0 && now_ms >= expiry_ms - CREDS_EXPIRY_MARGIN_MS;
}

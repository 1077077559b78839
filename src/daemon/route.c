/*
 * route.c: route matching and table-name templates (see route.h for the rules).
 *
 * Does not decode keys (event.c hands over decoded keys) and does not check the
 * template's syntax beyond what expansion needs: config.c rejects bad templates
 * at load time, and an unknown placeholder met here is still an error, never
 * copied through.
 */
#include "daemon/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/ident.h"
#include "base/utf8.h"
#include "base/util.h"

bool route_matches(const struct route_conf *r, const char *bucket, const char *key)
{
    if (r->bucket && r->bucket[0] && strcmp(r->bucket, bucket) != 0)
        return false;
    if (r->match_prefix && !str_has_prefix(key, r->match_prefix))
        return false;
    if (r->match_suffix && !str_has_suffix(key, r->match_suffix))
        return false;
    if (r->match_regex && r->match_regex[0] && regexec(&r->regex, key, 0, NULL, 0) != 0)
        return false;
    return true;
}

const struct route_conf *route_match(const struct config *cfg, const char *bucket, const char *key)
{
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (route_matches(&cfg->routes[i], bucket, key))
            return &cfg->routes[i];
    return NULL;
}

/* The file name: what follows the last '/'. */
static const char *file_name(const char *key)
{
    const char *slash = strrchr(key, '/');
    return slash ? slash + 1 : key;
}

static void put_basename(struct buf *b, const char *key)
{
    const char *name = file_name(key);
    const char *dot = name[0] ? strchr(name + 1, '.') : NULL;

    buf_append(b, name, dot ? (size_t)(dot - name) : strlen(name));
}

static void put_dirname(struct buf *b, const char *key)
{
    const char *end = strrchr(key, '/'), *start;

    if (!end)
        return;
    start = end;
    while (start > key && start[-1] != '/')
        start--;
    buf_append(b, start, (size_t)(end - start));
}

/* Expand tmpl[0..n) into b; -1 on an unknown or unterminated placeholder. */
static int expand_part(struct buf *b, const char *tmpl, size_t n, const char *bucket,
                       const char *key)
{
    size_t i = 0;

    while (i < n) {
        const char *close;
        size_t len;

        if (tmpl[i] != '{') {
            buf_putc(b, tmpl[i++]);
            continue;
        }
        close = memchr(tmpl + i, '}', n - i);
        if (!close)
            return -1;
        len = (size_t)(close - (tmpl + i + 1));
        if (len == 8 && !strncmp(tmpl + i + 1, "basename", 8))
            put_basename(b, key);
        else if (len == 7 && !strncmp(tmpl + i + 1, "dirname", 7))
            put_dirname(b, key);
        else if (len == 6 && !strncmp(tmpl + i + 1, "bucket", 6))
            buf_puts(b, bucket);
        else if (len == 3 && !strncmp(tmpl + i + 1, "key", 3))
            buf_puts(b, key);
        else
            return -1;
        i = (size_t)(close - tmpl) + 1;
    }
    return 0;
}

int route_expand_table(const struct route_conf *r, const char *bucket, const char *key, char **out,
                       struct ierr *e)
{
    const char *tmpl = r->table ? r->table : "{basename}";
    const char *dot = strchr(tmpl, '.');
    size_t n1 = dot ? (size_t)(dot - tmpl) : strlen(tmpl);
    struct buf b;
    size_t split = 0;
    bool ok;
    char shown_key[200], shown[200];

    buf_init(&b);
    ok = expand_part(&b, tmpl, n1, bucket, key) == 0;
    if (ok && dot) {
        split = b.len;
        buf_putc(&b, '.');
        ok = expand_part(&b, dot + 1, strlen(dot + 1), bucket, key) == 0;
    }
    if (ok && b.len)
        ok = dot ? ident_valid(b.data, split) && ident_valid(b.data + split + 1, b.len - split - 1)
                 : ident_valid(b.data, b.len);
    else
        ok = false;
    if (!ok) {
        utf8_sample(shown_key, sizeof(shown_key), key, strlen(key));
        utf8_sample(shown, sizeof(shown), b.data ? b.data : "", b.len);
        ierr_set(e, IERR_PERMANENT,
                 "key \"%s\": route %s: table template \"%s\" gives \"%s\", not a valid table "
                 "name (letters, digits and _, not starting with a digit, at most %d "
                 "characters; optionally schema.table)",
                 shown_key, r->name ? r->name : "?", tmpl, shown, IDENT_MAX_LEN);
        snprintf(e->sample, sizeof(e->sample), "%s", shown);
        buf_free(&b);
        return -1;
    }
    *out = buf_steal(&b);
    return 0;
}

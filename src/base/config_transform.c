/*
 * config_transform.c: the route keys of a Lua transform (transform, output_columns,
 * transform_memory, transform_timeout) and the loading of the script for the check.
 *
 * The script is read and compiled while the configuration loads (at start, on SIGHUP and
 * for --check-config): a file that cannot be read, does not compile or defines no
 * transform() is a configuration error naming the configuration line and the script's
 * own line, and a reload that meets one keeps the running configuration. The snapshot
 * keeps the script's text, so every worker compiles the very script that was checked,
 * whatever happens to the file afterwards.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config_int.h"

static config_transform_check_fn transform_checker;

#define ROUTE(base)      ((struct route_conf *)(base))
#define SCRIPT_MAX_BYTES (4u << 20)
#define TIMEOUT_MAX_MS   3600000LL

/* "1s", "250ms", "1.5s"; a bare number is seconds. */
int cfg_set_transform_timeout(void *base, const struct cfg_key *k, const struct cfg_value *v,
                              struct buf *why)
{
    const char *s = v->text;
    char *end;
    double num;

    (void)k;
    errno = 0;
    num = strtod(s, &end);
    if (end == s || errno || !(num > 0))
        goto bad;
    if (strcmp(end, "ms") == 0)
        num /= 1000;
    else if (*end != '\0' && strcmp(end, "s") != 0)
        goto bad;
    if (num * 1000 < 1 || num * 1000 > (double)TIMEOUT_MAX_MS)
        goto bad;
    ROUTE(base)->transform.timeout_ms = (int64_t)(num * 1000 + 0.5);
    return 0;
bad:
    cfg_quote_value(why, s);
    buf_puts(why, " is not a duration from 1ms to 3600s (such as 1s, 250ms or 0.5)");
    return -1;
}

void config_set_transform_checker(config_transform_check_fn fn)
{
    transform_checker = fn;
}

void cfg_transform_clear(struct transform_conf *t)
{
    free(t->path);
    free(t->file);
    free(t->source);
    strlist_free(&t->output_columns);
    memset(t, 0, sizeof *t);
}

#ifdef WITH_LUA
/* A relative path is taken from the configuration file's directory. */
static char *resolve(const char *conf_path, const char *path)
{
    const char *slash = strrchr(conf_path, '/');

    if (path[0] == '/' || !slash)
        return xstrdup(path);
    return xasprintf("%.*s/%s", (int)(slash - conf_path), conf_path, path);
}

static char *read_script(const char *file, size_t *len, struct buf *why)
{
    FILE *f = fopen(file, "re");
    struct buf b;
    char chunk[8192];
    size_t n;

    if (!f) {
        buf_printf(why, "%s: %s", file, strerror(errno));
        return NULL;
    }
    buf_init(&b);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= SCRIPT_MAX_BYTES)
        buf_append(&b, chunk, n);
    if (ferror(f) || b.len > SCRIPT_MAX_BYTES) {
        if (ferror(f))
            buf_printf(why, "%s: %s", file, strerror(errno));
        else
            buf_printf(why, "%s: larger than %u bytes", file, SCRIPT_MAX_BYTES);
        fclose(f);
        buf_free(&b);
        return NULL;
    }
    fclose(f);
    *len = b.len;
    return buf_steal(&b);
}
#endif

/* Reads (and, with a checker installed, compiles) the route's script: 0, or -1 with the
 * reason in why. The loader reports it at the transform key's line. */
int cfg_transform_load(const char *conf_path, struct transform_conf *t, struct buf *why)
{
#ifndef WITH_LUA
    (void)conf_path;
    (void)t;
    buf_puts(why, "this build of ingestd has no Lua transforms (it was configured --without-lua)");
    return -1;
#else
    t->file = resolve(conf_path, t->path);
    t->source = read_script(t->file, &t->source_len, why);
    if (t->source && transform_checker) {
        char err[512];

        if (transform_checker(t, err, sizeof err) < 0)
            buf_puts(why, err);
    }
    return why->len ? -1 : 0;
#endif
}

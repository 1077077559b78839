/*
 * fuzz_config.c: config_load_buffer on arbitrary files.
 *
 * Invariants: a snapshot comes back exactly when no error was reported; every error names
 * the file ("fuzz.conf:"); no error about the line of a secret key (password,
 * secret_access_key, session_token) repeats its value; a snapshot's routes point at sinks
 * of the same snapshot, and every csv/tsv route's dialect is one csvstream accepts (the config
 * is where an unusable dialect must be caught, before any object arrives); references count
 * properly (ref + two unrefs frees, under ASan's eye).
 */
#include <ctype.h>

#include "base/config.h"
#include "input/csvstream.h"
#include "fuzz.h"
#include "base/log.h"
#include "sinks/sink.h"

#define NAME "fuzz.conf"

static int no_columns(void *arg, const struct strlist *c, struct ierr *e)
{
    (void)arg, (void)c, (void)e;
    return 0;
}

static int no_batch(void *arg, const struct batch *b, struct ierr *e)
{
    (void)arg, (void)b, (void)e;
    return 0;
}

#define MAX_SECRETS 64

/* The values of secret keys written in the file with their line numbers, at least 12 bytes
 * long (shorter ones may appear in a message by coincidence). */
static void secrets_in(const char *text, struct strlist *out, long *lines)
{
    static const char *const keys[] = {"password", "secret_access_key", "session_token"};
    const char *line = text;
    long lineno = 1;

    while (*line) {
        const char *end = strchr(line, '\n'), *p = line, *eq;
        size_t n = end ? (size_t)(end - line) : strlen(line);

        while (p < line + n && isspace((unsigned char)*p))
            p++;
        eq = memchr(p, '=', (size_t)(line + n - p));
        for (size_t k = 0; eq && k < sizeof(keys) / sizeof(keys[0]); k++) {
            size_t kl = strlen(keys[k]);
            const char *v = eq + 1, *ve = line + n;

            if ((size_t)(eq - p) < kl || strncmp(p, keys[k], kl) != 0)
                continue;
            for (const char *q = p + kl; q < eq; q++)
                if (!isspace((unsigned char)*q))
                    goto next;
            while (v < ve && isspace((unsigned char)*v))
                v++;
            while (ve > v && isspace((unsigned char)ve[-1]))
                ve--;
            if (ve - v >= 12 && out->n < MAX_SECRETS) {
                char *s = strndup(v, (size_t)(ve - v));
                lines[out->n] = lineno;
                strlist_push(out, s);
                free(s);
            }
        next:;
        }
        line += n + (end != NULL);
        lineno++;
    }
}

int fuzz_config(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    struct strlist errors = {0}, secrets = {0};
    long secret_lines[MAX_SECRETS];
    struct config *c;
    static bool quiet;

    if (!quiet) {
        log_force_stderr(true);
        log_set_level(0); /* LOG_EMERG: the parser's warnings are not what is tested */
        config_set_sink_checker(sink_check_conf); /* as the daemon loads it */
        quiet = true;
    }
    c = config_load_buffer(NAME, text, size, &errors);
    secrets_in(text, &secrets, secret_lines);
    FUZZ_CHECK((c == NULL) == (errors.n > 0), "snapshot %p with %zu errors", (void *)c, errors.n);
    for (size_t i = 0; i < errors.n; i++) {
        long line;

        FUZZ_CHECK(!strncmp(errors.v[i], NAME ":", strlen(NAME) + 1), "error %s", errors.v[i]);
        line = strtol(errors.v[i] + strlen(NAME) + 1, NULL, 10);
        /* only the error about the secret's own line: the same bytes may be another key's
         * value elsewhere in the file, which may be quoted */
        for (size_t k = 0; k < secrets.n; k++)
            FUZZ_CHECK(line != secret_lines[k] || !strstr(errors.v[i], secrets.v[k]),
                       "secret shown in: %s", errors.v[i]);
    }
    if (c) {
        struct csvstream_cb cb = {no_columns, no_batch, NULL, NULL};

        for (size_t i = 0; i < c->nroutes; i++) {
            const struct route_conf *r = &c->routes[i];
            struct csvstream *s;
            struct ierr e;

            FUZZ_CHECK(r->name && r->sink, "route %zu without a name or sink", i);
            FUZZ_CHECK(r->sink >= c->sinks && r->sink < c->sinks + c->nsinks,
                       "route %s's sink is not in the snapshot", r->name);
            FUZZ_CHECK(config_find_route(c, r->name) != NULL, "route %s not found", r->name);
            if (r->format != FORMAT_CSV && r->format != FORMAT_TSV)
                continue;
            s = csvstream_new(r, &cb, &e);
            FUZZ_CHECK(s != NULL, "route %s: csvstream refuses the dialect: %s", r->name, e.reason);
            FUZZ_CHECK(csvstream_feed(s, "1\n", 2, &e) == 0 || e.reason[0], "feed failed");
            csvstream_free(s);
        }
        FUZZ_CHECK(config_ref(c) == c, "config_ref");
        config_unref(c);
        config_unref(c);
    }
    strlist_free(&errors);
    strlist_free(&secrets);
    free(text);
    return 0;
}

FUZZ_MAIN(fuzz_config)

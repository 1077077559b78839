/*
 * pgload.c: loads a local CSV file into PostgreSQL through the sink API exactly as a
 * worker does (csvstream -> sink_pg_ops begin/write/reject/commit), for the
 * integration tests and for measuring the sink against `psql \copy`.
 *
 *   pgload --conninfo C --table T [--mode append|upsert|replace] [--key a,b]
 *          --file F [--bucket B] [--object-key K] [--etag E] [--create-table]
 *          [--on-error abort|skip_row] [--max-errors N] [--password-file P]
 *          [--sequencer S] [--sleep-before-commit MS] [--stdin-loads]
 *          [--copy-format auto|binary|text] [--skip-unchanged]
 *   pgload --conninfo C --check            (the sink's check(): connect, SELECT 1)
 *
 * Prints one JSON object per load on stdout: {"result": "loaded" | "already_loaded" |
 * "error", "rows", "rejected", "class", "reason", "line", "column", "column_name",
 * "sample", "ms", "restarted"}. Exit status: 0 loaded, 3 already loaded, 1 error, 2 usage.
 * When the sink asks for the object again (IERR_RESTART: binary COPY fell back to
 * text), the file is streamed a second time, as the worker does, and "restarted" is true.
 * With --stdin-loads the same sink (one connection) runs one load per line read from
 * stdin, the line being the etag; used to test reconnection after a server restart.
 *
 * Column types for --create-table are inferred from the first batch (infer.h), as
 * the worker does.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/config.h"
#include "input/csvstream.h"
#include "input/infer.h"
#include "base/log.h"
#include "sinks/sink.h"
#include "base/util.h"

struct load {
    const struct sink_ops *ops;
    struct sink *sink;
    struct load_object obj;
    struct load_target tgt;
    struct strlist columns; /* copied from the stream */
    bool begun, already;
    uint64_t rows, rejected;
    struct row_reject *pending; /* rejects seen before the first batch */
    size_t npending;
};

static void strlist_copy(struct strlist *dst, const struct strlist *src)
{
    dst->n = src->n;
    dst->v = xcalloc(src->n + 1, sizeof(char *));
    for (size_t i = 0; i < src->n; i++)
        dst->v[i] = xstrdup(src->v[i]);
}

static void strlist_drop(struct strlist *l)
{
    for (size_t i = 0; l->v && i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int do_begin(struct load *l, const struct batch *first, struct ierr *e)
{
    enum column_type *types = NULL;
    int rc;
    if (first && l->tgt.route->create_table) {
        types = xcalloc(l->columns.n + 1, sizeof(*types));
        infer_column_types(l->columns.n, first, types);
    }
    l->tgt.columns = &l->columns;
    l->tgt.column_types = types;
    rc = l->ops->begin(l->sink, &l->obj, &l->tgt, &l->already, e);
    free(types);
    l->tgt.column_types = NULL;
    if (rc)
        return -1;
    l->begun = true;
    for (size_t i = 0; i < l->npending && !l->already; i++)
        if (l->ops->reject(l->sink, &l->pending[i], e))
            return -1;
    return 0;
}

static int on_columns(void *arg, const struct strlist *cols, struct ierr *e)
{
    struct load *l = arg;
    (void)e;
    strlist_copy(&l->columns, cols);
    return 0;
}

/* Stops the stream once the ledger says the object is in: nothing more to do. */
static int on_batch(void *arg, const struct batch *b, struct ierr *e)
{
    struct load *l = arg;
    if (!l->begun && do_begin(l, b, e))
        return -1;
    if (l->already) {
        ierr_set(e, IERR_NONE, "already loaded");
        return -1;
    }
    l->rows += b->nrows;
    return l->ops->write(l->sink, b, e);
}

static int on_reject(void *arg, const struct row_reject *r, struct ierr *e)
{
    struct load *l = arg;
    l->rejected++;
    if (l->begun)
        return l->already ? 0 : l->ops->reject(l->sink, r, e);
    l->pending = xrealloc(l->pending, (l->npending + 1) * sizeof(*l->pending));
    struct row_reject *p = &l->pending[l->npending++];
    *p = *r;
    p->reason = r->reason ? xstrdup(r->reason) : NULL;
    p->raw = r->raw ? xstrdup(r->raw) : NULL;
    return 0;
}

static int stream_file(struct load *l, const char *path, struct ierr *e)
{
    struct csvstream_cb cb = {on_columns, on_batch, on_reject, l};
    struct csvstream *cs = csvstream_new(l->tgt.route, &cb, e);
    FILE *f = NULL;
    char *chunk = xmalloc(1 << 20);
    int rc = -1;

    if (!cs)
        goto out;
    f = fopen(path, "rb");
    if (!f) {
        ierr_set(e, IERR_PERMANENT, "%s: %s", path, strerror(errno));
        goto out;
    }
    size_t n;
    while ((n = fread(chunk, 1, 1 << 20, f)) > 0)
        if (csvstream_feed(cs, chunk, n, e))
            goto out;
    if (csvstream_finish(cs, e))
        goto out;
    if (!l->begun && do_begin(l, NULL, e))
        goto out;
    rc = 0;
out:
    csvstream_free(cs);
    if (f)
        fclose(f);
    free(chunk);
    return rc;
}

static void reset_load(struct load *l);

/* Streams the file and commits; 0 or -1 with e set. */
static int load_pass(struct load *l, const char *path, int sleep_ms, struct ierr *e)
{
    int rc = stream_file(l, path, e);
    if (rc == 0 && !l->already) {
        struct load_stats st = {l->rows, l->obj.size, l->rejected};
        if (sleep_ms)
            usleep((useconds_t)sleep_ms * 1000);
        rc = l->ops->commit(l->sink, &st, &l->already, e);
    }
    return rc;
}

static int run_load(struct load *l, const char *path, int sleep_ms, json_t *out)
{
    struct ierr e = {0};
    struct stat sb;
    uint64_t t0 = now_monotonic_ms();
    int status = 1;

    l->obj.size = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    int rc = load_pass(l, path, sleep_ms, &e);
    if (rc && e.cls == IERR_RESTART) {
        l->ops->abort(l->sink);
        reset_load(l);
        l->tgt.restarted = true;
        memset(&e, 0, sizeof(e));
        rc = load_pass(l, path, sleep_ms, &e);
    }
    json_object_set_new(out, "restarted", json_boolean(l->tgt.restarted));
    if (rc && l->already && !l->rows)
        rc = 0; /* the stream stopped because the ledger already had the object */
    if (rc) {
        l->ops->abort(l->sink);
        json_object_set_new(out, "result", json_string("error"));
        json_object_set_new(out, "class", json_string(ierr_class_name(e.cls)));
        json_object_set_new(out, "reason", json_string(e.reason));
        json_object_set_new(out, "line", json_integer((json_int_t)e.line));
        json_object_set_new(out, "column", json_integer(e.column));
        json_object_set_new(out, "column_name", json_string(e.column_name));
        json_object_set_new(out, "sample", json_string(e.sample));
    } else if (l->already) {
        json_object_set_new(out, "result", json_string("already_loaded"));
        status = 3;
    } else {
        json_object_set_new(out, "result", json_string("loaded"));
        status = 0;
    }
    json_object_set_new(out, "rows", json_integer((json_int_t)l->rows));
    json_object_set_new(out, "rejected", json_integer((json_int_t)l->rejected));
    json_object_set_new(out, "ms", json_integer((json_int_t)(now_monotonic_ms() - t0)));
    return status;
}

static void reset_load(struct load *l)
{
    strlist_drop(&l->columns);
    for (size_t i = 0; i < l->npending; i++) {
        free((char *)l->pending[i].reason);
        free((char *)l->pending[i].raw);
    }
    free(l->pending);
    l->pending = NULL;
    l->npending = 0;
    l->begun = l->already = false;
    l->rows = l->rejected = 0;
}

static void usage(void);

static enum copy_format parse_copy_format(const char *s)
{
    if (!strcmp(s, "binary"))
        return COPY_FORMAT_BINARY;
    if (!strcmp(s, "text"))
        return COPY_FORMAT_TEXT;
    if (strcmp(s, "auto"))
        usage();
    return COPY_FORMAT_AUTO;
}

static void split_csv(struct strlist *l, const char *s)
{
    char *copy = xstrdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        l->v = xrealloc(l->v, (l->n + 2) * sizeof(char *));
        l->v[l->n++] = xstrdup(t);
    }
    free(copy);
}

static void usage(void)
{
    fprintf(stderr, "usage: pgload --conninfo C --table T --file F [--mode append|upsert|"
                    "replace] [--key K] [--bucket B] [--object-key K] [--etag E] [--create-table] "
                    "[--on-error abort|skip_row] [--max-errors N] [--password-file P] "
                    "[--sequencer S] [--sleep-before-commit MS] [--stdin-loads] "
                    "[--copy-format auto|binary|text] [--skip-unchanged]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"conninfo", 1, 0, 'c'},
        {"table", 1, 0, 't'},
        {"mode", 1, 0, 'm'},
        {"key", 1, 0, 'k'},
        {"file", 1, 0, 'f'},
        {"bucket", 1, 0, 'b'},
        {"object-key", 1, 0, 'o'},
        {"etag", 1, 0, 'e'},
        {"create-table", 0, 0, 'C'},
        {"on-error", 1, 0, 'E'},
        {"max-errors", 1, 0, 'M'},
        {"password-file", 1, 0, 'p'},
        {"sleep-before-commit", 1, 0, 's'},
        {"stdin-loads", 0, 0, 'S'},
        {"sequencer", 1, 0, 'q'},
        {"check", 0, 0, 'K'},
        {"copy-format", 1, 0, 'F'},
        {"skip-unchanged", 0, 0, 'u'},
        {0, 0, 0, 0},
    };
    struct sink_conf sc = {.name = "pg", .type = SINK_POSTGRES};
    char *empty_null[] = {""};
    struct route_conf rc = {.name = "pgload",
                            .mode = MODE_APPEND,
                            .format = FORMAT_CSV,
                            .header = true,
                            .delimiter = ',',
                            .quote = '"',
                            .null = {empty_null, 1},
                            .on_error = ON_ERROR_ABORT};
    struct load l = {.obj = {.bucket = "local", .key = NULL, .etag = "e1"}};
    const char *file = NULL;
    int sleep_ms = 0, opt;
    bool stdin_loads = false, check_only = false;

    rc.sink = &sc;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            sc.conninfo = optarg;
            break;
        case 't':
            l.tgt.table = optarg;
            break;
        case 'm':
            if (!strcmp(optarg, "upsert"))
                rc.mode = MODE_UPSERT;
            else if (!strcmp(optarg, "replace"))
                rc.mode = MODE_REPLACE;
            else if (strcmp(optarg, "append"))
                usage();
            break;
        case 'k':
            split_csv(&rc.key, optarg);
            break;
        case 'f':
            file = optarg;
            break;
        case 'b':
            l.obj.bucket = optarg;
            break;
        case 'o':
            l.obj.key = optarg;
            break;
        case 'e':
            l.obj.etag = optarg;
            break;
        case 'C':
            rc.create_table = true;
            break;
        case 'E':
            rc.on_error = !strcmp(optarg, "skip_row") ? ON_ERROR_SKIP_ROW : ON_ERROR_ABORT;
            break;
        case 'M':
            rc.max_errors = atoll(optarg);
            break;
        case 'p':
            sc.password_file = optarg;
            break;
        case 's':
            sleep_ms = atoi(optarg);
            break;
        case 'S':
            stdin_loads = true;
            break;
        case 'q':
            l.obj.sequencer = optarg;
            break;
        case 'K':
            check_only = true;
            break;
        case 'F':
            sc.copy_format = parse_copy_format(optarg);
            break;
        case 'u':
            sc.upsert_unchanged = UPSERT_UNCHANGED_SKIP;
            break;
        default:
            usage();
        }
    }
    if (!sc.conninfo || (!check_only && (!l.tgt.table || !file)))
        usage();
    if (!l.obj.key)
        l.obj.key = file;
    l.tgt.route = &rc;
    log_init();
    log_force_stderr(true);
    log_set_level(LOG_WARNING);

    struct ierr e = {0};
    l.ops = sink_ops_for(SINK_POSTGRES);
    if (check_only) {
        log_set_level(LOG_INFO);
        if (l.ops->check(&sc, NULL, &e) == 0) {
            printf("{\"result\": \"ok\"}\n");
            return 0;
        }
        printf("{\"result\": \"error\", \"class\": \"%s\"}\n", ierr_class_name(e.cls));
        fprintf(stderr, "pgload: %s\n", e.reason);
        return 1;
    }
    if (!l.ops || l.ops->open(&sc, NULL, &l.sink, &e)) {
        printf("{\"result\": \"error\", \"class\": \"%s\", \"reason\": \"open failed\"}\n",
               ierr_class_name(e.cls));
        fprintf(stderr, "pgload: %s\n", e.reason);
        return 1;
    }
    int status = 0;
    char etag[256];
    for (;;) {
        if (stdin_loads) {
            if (!fgets(etag, sizeof(etag), stdin))
                break;
            etag[strcspn(etag, "\r\n")] = '\0';
            l.obj.etag = etag;
        }
        json_t *out = json_object();
        l.tgt.restarted = false;
        status = run_load(&l, file, sleep_ms, out);
        char *text = json_dumps(out, JSON_COMPACT);
        printf("%s\n", text);
        fflush(stdout);
        free(text);
        json_decref(out);
        reset_load(&l);
        if (!stdin_loads)
            break;
    }
    l.ops->close(l.sink);
    strlist_drop(&rc.key);
    return status;
}

/*
 * myload.c: loads a local CSV file into MySQL/MariaDB through the sink API exactly as
 * a worker does (csvstream -> sink_mysql_ops begin/write/reject/commit), for the
 * integration tests and for checking the sink without the daemon.
 *
 *   myload --host H --port P --user U --database D [--password PW | --password-file F]
 *          --table T --file F [--mode append|upsert|replace] [--key a,b] [--bucket B]
 *          [--object-key K] [--etag E] [--create-table] [--on-error abort|skip_row]
 *          [--max-errors N] [--delimiter C] [--no-header --columns a,b] [--sequencer S]
 *          [--sleep-before-commit MS] [--parallel N] [--ssl-mode M] [--ssl-ca F]
 *   myload ... --check                   (the sink's check(): connect, SELECT VERSION())
 *
 * Prints one JSON object per load on stdout: {"result": "loaded" | "already_loaded" |
 * "error", "rows", "rejected", "class", "reason", "line", "column", "column_name",
 * "sample", "ms"}. Exit status: 0 loaded, 3 already loaded, 1 error, 2 usage.
 * --parallel N runs N loads of the same object at once, each on its own connection
 * (one thread each), and prints one line per load: the race the ledger must settle;
 * the exit status is then 0 when exactly one loaded and the others found it loaded.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/config.h"
#include "input/csvstream.h"
#include "input/infer.h"
#include "base/log.h"
#include "sinks/sink.h"
#include "base/util.h"

struct load {
    const struct sink_ops *ops;
    const struct sink_conf *sc;
    struct sink *sink;
    struct load_object obj;
    struct load_target tgt;
    struct strlist columns;
    bool begun, already;
    uint64_t rows, rejected;
    struct row_reject *pending;
    size_t npending;
    const char *file;
    int sleep_ms;
    int status;
    char *json;
};

static void strlist_copy(struct strlist *dst, const struct strlist *src)
{
    dst->n = src->n;
    dst->v = xcalloc(src->n + 1, sizeof(char *));
    for (size_t i = 0; i < src->n; i++)
        dst->v[i] = xstrdup(src->v[i]);
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

static int stream_file(struct load *l, struct ierr *e)
{
    struct csvstream_cb cb = {on_columns, on_batch, on_reject, l};
    struct csvstream *cs = csvstream_new(l->tgt.route, &cb, e);
    FILE *f = NULL;
    char *chunk = xmalloc(1 << 20);
    int rc = -1;

    if (!cs)
        goto out;
    f = fopen(l->file, "rb");
    if (!f) {
        ierr_set(e, IERR_PERMANENT, "%s: %s", l->file, strerror(errno));
        goto out;
    }
    size_t n;
    while ((n = fread(chunk, 1, 1 << 20, f)) > 0)
        if (csvstream_feed(cs, chunk, n, e))
            goto out;
    if (csvstream_finish(cs, e))
        goto out;
    if (!l->begun && l->columns.v && do_begin(l, NULL, e))
        goto out;
    rc = 0;
out:
    csvstream_free(cs);
    if (f)
        fclose(f);
    free(chunk);
    return rc;
}

static void run_load(struct load *l)
{
    struct ierr e = {0};
    struct stat sb;
    uint64_t t0 = now_monotonic_ms();
    json_t *out = json_object();

    l->status = 1;
    l->obj.size = stat(l->file, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    int rc = l->ops->open(l->sc, NULL, &l->sink, &e);
    if (rc == 0)
        rc = stream_file(l, &e);
    if (rc == 0 && l->begun && !l->already) {
        struct load_stats st = {l->rows, l->obj.size, l->rejected};
        if (l->sleep_ms)
            usleep((useconds_t)l->sleep_ms * 1000);
        rc = l->ops->commit(l->sink, &st, &l->already, &e);
    }
    if (rc && l->already)
        rc = 0; /* the stream stopped because the ledger already had the object */
    if (rc) {
        if (l->sink)
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
        l->status = 3;
    } else {
        json_object_set_new(out, "result", json_string("loaded"));
        l->status = 0;
    }
    json_object_set_new(out, "rows", json_integer((json_int_t)l->rows));
    json_object_set_new(out, "rejected", json_integer((json_int_t)l->rejected));
    json_object_set_new(out, "ms", json_integer((json_int_t)(now_monotonic_ms() - t0)));
    l->json = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    l->ops->close(l->sink);
    l->sink = NULL;
    for (size_t i = 0; i < l->npending; i++) {
        free((char *)l->pending[i].reason);
        free((char *)l->pending[i].raw);
    }
    free(l->pending);
    strlist_free(&l->columns);
}

static void *load_thread(void *arg)
{
    run_load(arg);
    return NULL;
}

static void split_list(struct strlist *l, const char *s)
{
    char *copy = xstrdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        strlist_push(l, str_trim(t));
    free(copy);
}

static void usage(void)
{
    fprintf(stderr, "usage: myload --host H --port P --user U --database D [--password PW] "
                    "--table T --file F [--mode M] [--key K] [--etag E] [--create-table] "
                    "[--on-error abort|skip_row] [--max-errors N] [--parallel N] [--check] ...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", 1, 0, 'h'},
        {"port", 1, 0, 'P'},
        {"user", 1, 0, 'u'},
        {"database", 1, 0, 'd'},
        {"password", 1, 0, 'w'},
        {"password-file", 1, 0, 'p'},
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
        {"delimiter", 1, 0, 'D'},
        {"no-header", 0, 0, 'H'},
        {"columns", 1, 0, 'c'},
        {"sequencer", 1, 0, 'q'},
        {"sleep-before-commit", 1, 0, 's'},
        {"parallel", 1, 0, 'n'},
        {"ssl-mode", 1, 0, 'S'},
        {"ssl-ca", 1, 0, 'A'},
        {"check", 0, 0, 'K'},
        {0, 0, 0, 0},
    };
    struct sink_conf sc = {.name = "mysql", .type = SINK_MYSQL, .port = 3306};
    char *empty_null[] = {""};
    struct route_conf rc = {.name = "myload",
                            .mode = MODE_APPEND,
                            .format = FORMAT_CSV,
                            .header = true,
                            .delimiter = ',',
                            .quote = '"',
                            .null = {empty_null, 1},
                            .on_error = ON_ERROR_ABORT};
    struct load proto = {.obj = {.bucket = "local", .key = NULL, .etag = "e1"}};
    int parallel = 1, opt;
    bool check_only = false;

    rc.sink = &sc;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            sc.host = optarg;
            break;
        case 'P':
            sc.port = atoi(optarg);
            break;
        case 'u':
            sc.user = optarg;
            break;
        case 'd':
            sc.database = optarg;
            break;
        case 'w':
            sc.password = optarg;
            break;
        case 'p':
            sc.password_file = optarg;
            break;
        case 't':
            proto.tgt.table = optarg;
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
            split_list(&rc.key, optarg);
            break;
        case 'f':
            proto.file = optarg;
            break;
        case 'b':
            proto.obj.bucket = optarg;
            break;
        case 'o':
            proto.obj.key = optarg;
            break;
        case 'e':
            proto.obj.etag = optarg;
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
        case 'D':
            rc.delimiter = optarg[0];
            break;
        case 'H':
            rc.header = false;
            break;
        case 'c':
            split_list(&rc.columns, optarg);
            break;
        case 'q':
            proto.obj.sequencer = optarg;
            break;
        case 's':
            proto.sleep_ms = atoi(optarg);
            break;
        case 'n':
            parallel = atoi(optarg);
            break;
        case 'S':
            sc.ssl_mode = optarg;
            break;
        case 'A':
            sc.ssl_ca = optarg;
            break;
        case 'K':
            check_only = true;
            break;
        default:
            usage();
        }
    }
    if (!check_only && (!proto.tgt.table || !proto.file))
        usage();
    if (parallel < 1 || parallel > 64)
        usage();
    if (!proto.obj.key)
        proto.obj.key = proto.file;
    proto.tgt.route = &rc;
    proto.sc = &sc;
    proto.ops = sink_ops_for(SINK_MYSQL);
    log_init();
    log_force_stderr(true);
    log_set_level(getenv("MYLOAD_DEBUG") ? LOG_DEBUG : LOG_WARNING);
    if (!proto.ops) {
        fprintf(stderr, "myload: this build has no MySQL sink\n");
        return 2;
    }
    if (check_only) {
        struct ierr e = {0};
        log_set_level(LOG_INFO);
        if (proto.ops->check(&sc, NULL, &e) == 0) {
            printf("{\"result\": \"ok\"}\n");
            return 0;
        }
        printf("{\"result\": \"error\", \"class\": \"%s\"}\n", ierr_class_name(e.cls));
        fprintf(stderr, "myload: %s\n", e.reason);
        return 1;
    }

    struct load *loads = xcalloc((size_t)parallel, sizeof(*loads));
    pthread_t *threads = xcalloc((size_t)parallel, sizeof(*threads));
    for (int i = 0; i < parallel; i++) {
        loads[i] = proto;
        if (parallel > 1)
            pthread_create(&threads[i], NULL, load_thread, &loads[i]);
        else
            run_load(&loads[i]);
    }
    int loaded = 0, already = 0;
    for (int i = 0; i < parallel; i++) {
        if (parallel > 1)
            pthread_join(threads[i], NULL);
        printf("%s\n", loads[i].json);
        free(loads[i].json);
        loaded += loads[i].status == 0;
        already += loads[i].status == 3;
    }
    int status = parallel == 1 ? loads[0].status : (loaded == 1 && already == parallel - 1 ? 0 : 1);
    free(loads);
    free(threads);
    strlist_free(&rc.key);
    strlist_free(&rc.columns);
    return status;
}

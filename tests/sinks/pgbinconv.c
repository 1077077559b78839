/*
 * pgbinconv.c: the differential test driver of the binary COPY converters
 * (pg_binary.h) against a real PostgreSQL, for tests/integration/test_pg_binary.py.
 *
 *   pgbinconv --conninfo C --type TYPE [--set NAME=VALUE]... < values
 *
 * stdin holds one value per line as a JSON string. For each value the driver loads it
 * twice into temporary tables with a column of TYPE (e.g. "numeric(5,2)"), each row
 * in its own savepoint: once as text COPY (the server's own input function decides),
 * once through the converter and COPY (FORMAT binary) when the converter accepts it.
 * Both tables are then read back with the type's send function, so the comparison is
 * of the stored bits. --set runs SET NAME = VALUE first (TimeZone, DateStyle,
 * timezone_abbreviations); the converters see the session as the sink does.
 *
 * Prints one JSON object per value: {"value", "text": "ok" | error message,
 * "conv": "ok" | "invalid" | "uncertain", "why", "bin": "ok" | error message | null,
 * "text_send", "bin_send"} (send results in hex, null when the row is absent).
 * Exit status 0 when every value was processed, 1 on a setup failure, 2 usage.
 */
#include <getopt.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/postgres/pg_binary.h"
#include "sinks/postgres/pg_copybin.h"
#include "sinks/postgres/pg_sql.h"
#include "base/util.h"

struct value {
    char *text;
    size_t len;
    const char *conv;
    const char *why;
    char *text_result, *bin_result;
    char *text_send, *bin_send;
};

static void die(PGconn *c, const char *what)
{
    fprintf(stderr, "pgbinconv: %s: %s", what, PQerrorMessage(c));
    exit(1);
}

static PGresult *run(PGconn *c, const char *sql, ExecStatusType want)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != want)
        die(c, sql);
    return r;
}

/* One COPY in a savepoint: NULL when it loaded, else the server's message. */
static char *copy_one(PGconn *c, const char *sql, const char *data, size_t n)
{
    char *err = NULL;
    PQclear(run(c, "SAVEPOINT v", PGRES_COMMAND_OK));
    PQclear(run(c, sql, PGRES_COPY_IN));
    if (PQputCopyData(c, data, (int)n) != 1 || PQputCopyEnd(c, NULL) != 1)
        die(c, "COPY data");
    PGresult *r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        err = xstrdup(m ? m : "error");
    }
    PQclear(r);
    while ((r = PQgetResult(c)))
        PQclear(r);
    PQclear(run(c, err ? "ROLLBACK TO SAVEPOINT v" : "RELEASE SAVEPOINT v", PGRES_COMMAND_OK));
    return err;
}

static void load_text(PGconn *c, size_t id, struct value *v)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%zu\t", id);
    pg_copy_put_field(&b, v->text, v->len, false);
    buf_putc(&b, '\n');
    v->text_result = copy_one(c, "COPY t_text (id, v) FROM STDIN", b.data, b.len);
    buf_free(&b);
}

static void load_binary(PGconn *c, size_t id, struct value *v, const struct pgbin_type *t,
                        const struct pgbin_session *ss)
{
    unsigned char *out = xmalloc(PGBIN_MAX_OUT(v->len));
    size_t len = 0;
    enum pgbin_status st = pgbin_convert(t, ss, v->text, v->len, out, &len, &v->why);
    v->conv = st == PGBIN_OK ? "ok" : st == PGBIN_INVALID ? "invalid" : "uncertain";
    if (st == PGBIN_OK) {
        struct buf b;
        unsigned char hdr[10];
        buf_init(&b);
        pg_copybin_header(&b);
        hdr[0] = 0, hdr[1] = 2; /* two fields: id int4, v */
        hdr[2] = 0, hdr[3] = 0, hdr[4] = 0, hdr[5] = 4;
        hdr[6] = (unsigned char)(id >> 24), hdr[7] = (unsigned char)(id >> 16);
        hdr[8] = (unsigned char)(id >> 8), hdr[9] = (unsigned char)id;
        buf_append(&b, hdr, sizeof(hdr));
        unsigned char l4[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                               (unsigned char)(len >> 8), (unsigned char)len};
        buf_append(&b, l4, 4);
        buf_append(&b, out, len);
        pg_copybin_trailer(&b);
        v->bin_result = copy_one(c, "COPY t_bin (id, v) FROM STDIN (FORMAT binary)", b.data, b.len);
        if (!v->bin_result)
            v->bin_result = xstrdup("ok");
        buf_free(&b);
    }
    free(out);
}

/* The stored value of each row of table, through the type's send function. */
static void read_back(PGconn *c, const char *table, const char *sendfn, struct value *vals,
                      size_t n, bool bin)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT id, encode(%s(v), 'hex') FROM %s", sendfn, table);
    PGresult *r = run(c, sql, PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(r); i++) {
        size_t id = strtoul(PQgetvalue(r, i, 0), NULL, 10);
        if (id >= n)
            continue;
        char **dst = bin ? &vals[id].bin_send : &vals[id].text_send;
        *dst = xstrdup(PQgetisnull(r, i, 1) ? "NULL" : PQgetvalue(r, i, 1));
    }
    PQclear(r);
}

static struct value *read_values(size_t *n)
{
    struct value *vals = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    *n = 0;
    while ((got = getline(&line, &cap, stdin)) > 0) {
        json_error_t err;
        json_t *j = json_loadb(line, (size_t)got, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (!j || !json_is_string(j)) {
            fprintf(stderr, "pgbinconv: not a JSON string: %s", line);
            exit(2);
        }
        vals = xrealloc(vals, (*n + 1) * sizeof(*vals));
        memset(&vals[*n], 0, sizeof(*vals));
        vals[*n].len = json_string_length(j);
        vals[*n].text = xmalloc(vals[*n].len + 1);
        memcpy(vals[*n].text, json_string_value(j), vals[*n].len + 1);
        (*n)++;
        json_decref(j);
    }
    free(line);
    return vals;
}

static void print_value(const struct value *v)
{
    json_t *o = json_object();
    json_object_set_new(o, "value", json_stringn(v->text, v->len));
    json_object_set_new(o, "text", json_string(v->text_result ? v->text_result : "ok"));
    json_object_set_new(o, "conv", json_string(v->conv));
    json_object_set_new(o, "why", json_string(v->why));
    json_object_set_new(o, "bin", v->bin_result ? json_string(v->bin_result) : json_null());
    json_object_set_new(o, "text_send", v->text_send ? json_string(v->text_send) : json_null());
    json_object_set_new(o, "bin_send", v->bin_send ? json_string(v->bin_send) : json_null());
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    printf("%s\n", s);
    free(s);
    json_decref(o);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"conninfo", 1, 0, 'c'}, {"type", 1, 0, 't'}, {"set", 1, 0, 's'}, {0, 0, 0, 0}};
    const char *conninfo = NULL, *type = NULL;
    struct strlist sets = {0};
    struct buf sql;
    int opt;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'c')
            conninfo = optarg;
        else if (opt == 't')
            type = optarg;
        else if (opt == 's') {
            sets.v = xrealloc(sets.v, (sets.n + 1) * sizeof(char *));
            sets.v[sets.n++] = optarg;
        } else
            return 2;
    }
    if (!conninfo || !type) {
        fprintf(stderr, "usage: pgbinconv --conninfo C --type TYPE [--set NAME=VALUE]...\n");
        return 2;
    }
    const char *keys[] = {"dbname", "client_encoding", NULL};
    const char *vals_kw[] = {conninfo, "UTF8", NULL};
    PGconn *c = PQconnectdbParams(keys, vals_kw, 1);
    if (PQstatus(c) != CONNECTION_OK)
        die(c, "connect");
    buf_init(&sql);
    for (size_t i = 0; i < sets.n; i++) {
        const char *eq = strchr(sets.v[i], '=');
        if (!eq)
            return 2;
        buf_reset(&sql);
        buf_printf(&sql, "SET %.*s = '%s'", (int)(eq - sets.v[i]), sets.v[i], eq + 1);
        PQclear(run(c, sql.data, PGRES_COMMAND_OK));
    }
    PQclear(run(c, "BEGIN", PGRES_COMMAND_OK));
    buf_reset(&sql);
    buf_printf(&sql,
               "CREATE TEMP TABLE t_text (id int, v %s); CREATE TEMP TABLE t_bin (id int, v %s)",
               type, type);
    PQclear(run(c, sql.data, PGRES_COMMAND_OK));
    PGresult *r = run(c,
                      "SELECT a.atttypid::int8, a.atttypmod, t.typsend::text, "
                      "current_setting('timezone_abbreviations') FROM pg_attribute a "
                      "JOIN pg_type t ON t.oid = a.atttypid "
                      "WHERE a.attrelid = 't_bin'::regclass AND a.attname = 'v'",
                      PGRES_TUPLES_OK);
    struct pgbin_type t = {PGBIN_TEXT, atoi(PQgetvalue(r, 0, 1))};
    struct pgbin_session ss;
    char *sendfn = xstrdup(PQgetvalue(r, 0, 2));
    if (pgbin_kind_for_oid((uint32_t)strtoul(PQgetvalue(r, 0, 0), NULL, 10), &t.kind)) {
        fprintf(stderr, "pgbinconv: type %s is not converted\n", type);
        return 1;
    }
    pg_copybin_session(c, PQgetvalue(r, 0, 3), &ss);
    PQclear(r);

    size_t n;
    struct value *vals = read_values(&n);
    for (size_t i = 0; i < n; i++) {
        load_text(c, i, &vals[i]);
        load_binary(c, i, &vals[i], &t, &ss);
    }
    read_back(c, "t_text", sendfn, vals, n, false);
    read_back(c, "t_bin", sendfn, vals, n, true);
    for (size_t i = 0; i < n; i++) {
        print_value(&vals[i]);
        free(vals[i].text);
        free(vals[i].text_result);
        free(vals[i].bin_result);
        free(vals[i].text_send);
        free(vals[i].bin_send);
    }
    PQclear(run(c, "ROLLBACK", PGRES_COMMAND_OK));
    free(vals);
    free(sendfn);
    free(sets.v);
    buf_free(&sql);
    PQfinish(c);
    return 0;
}

/*
 * pg_copybin.c: binary COPY for the PostgreSQL sink (see pg_copybin.h): the choice
 * at begin(), the catalog and session lookups it needs, the stream framing, one row
 * at a time, and the fallback to text COPY.
 *
 * Stream format (COPY's binary file format): the 11-byte signature, a flags word and
 * an extension length (both 0); per row an int16 field count and, per field, an
 * int32 length (-1 = NULL) and the type's send-format bytes; an int16 -1 at the end.
 */
#include "sinks/postgres/pg_copybin.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"
#include "sinks/postgres/pg_binary_int.h"
#include "sinks/postgres/pg_int.h"
#include "base/utf8.h"

static const char signature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0'};

void pg_copybin_clear(struct pg_copybin *b)
{
    for (size_t i = 0; b->type_names && i < b->ncols; i++)
        free(b->type_names[i]);
    free(b->type_names);
    free(b->types);
    memset(b, 0, sizeof(*b));
}

/* Why this connection cannot carry binary COPY as the converters expect, or NULL. */
static const char *server_unsuitable(struct sink *s)
{
    int v = PQserverVersion(s->conn);
    const char *enc = PQparameterStatus(s->conn, "server_encoding");
    const char *idt = PQparameterStatus(s->conn, "integer_datetimes");

    if (v < 150000 || v >= 180000)
        return "the server is not PostgreSQL 15, 16 or 17";
    if (!enc || strcmp(enc, "UTF8"))
        return "server_encoding is not UTF8";
    if (idt && strcmp(idt, "on"))
        return "integer_datetimes is off";
    return NULL;
}

/* The type of every column COPY fills, from the catalog. A column of a type the
 * client does not convert leaves *why set (and b->types incomplete). */
static int lookup_types(struct sink *s, const char *copy_rel, struct pg_copybin *b, char *why,
                        size_t whysz, struct ierr *e)
{
    const char *params[1] = {copy_rel};
    PGresult *r = pg_exec(s,
                          "SELECT a.attname, a.atttypid::int8, a.atttypmod, "
                          "format_type(a.atttypid, a.atttypmod), "
                          "current_setting('timezone_abbreviations') "
                          "FROM pg_attribute a WHERE a.attrelid = $1::regclass "
                          "AND a.attnum > 0 AND NOT a.attisdropped",
                          1, params, PGRES_TUPLES_OK, "column types", e);
    if (!r)
        return -1;
    b->ncols = s->ncols;
    b->types = xcalloc(s->ncols + 1, sizeof(*b->types));
    b->type_names = xcalloc(s->ncols + 1, sizeof(*b->type_names));
    for (int row = 0; row < PQntuples(r); row++) {
        pg_copybin_session(s->conn, PQgetvalue(r, row, 4), &b->ss);
        for (size_t c = 0; c < s->ncols; c++) {
            if (strcmp(s->tcols[c], PQgetvalue(r, row, 0)))
                continue;
            b->types[c].typmod = (int32_t)atoi(PQgetvalue(r, row, 2));
            b->type_names[c] = xstrdup(PQgetvalue(r, row, 3));
            if (pgbin_kind_for_oid((uint32_t)strtoul(PQgetvalue(r, row, 1), NULL, 10),
                                   &b->types[c].kind) < 0 &&
                !*why)
                snprintf(why, whysz, "column \"%s\" has type %s, which is not converted",
                         s->tcols[c], b->type_names[c]);
        }
    }
    for (size_t c = 0; c < s->ncols && !*why; c++)
        if (!b->type_names[c])
            snprintf(why, whysz, "column \"%s\" is not in %s", s->tcols[c], copy_rel);
    PQclear(r);
    return 0;
}

void pg_copybin_session(PGconn *conn, const char *abbrevs, struct pgbin_session *ss)
{
    ss->server_version = PQserverVersion(conn);
    ss->utc = pgbin_timezone_is_utc(PQparameterStatus(conn, "TimeZone"));
    ss->default_abbrevs = abbrevs && !strcmp(abbrevs, "Default");
}

int pg_copybin_prepare(struct sink *s, const struct load_target *t, const char *copy_rel,
                       struct ierr *e)
{
    struct pg_copybin *b = &s->bin;
    char why[300] = "";
    const char *bad;

    pg_copybin_clear(b);
    if (s->copy_format == COPY_FORMAT_TEXT || t->restarted)
        return 0;
    if ((bad = server_unsuitable(s)))
        snprintf(why, sizeof(why), "%s", bad);
    else if (lookup_types(s, copy_rel, b, why, sizeof(why), e))
        return -1;
    if (*why) {
        pg_copybin_clear(b);
        if (s->copy_format == COPY_FORMAT_BINARY) {
            ierr_set(e, IERR_PERMANENT, "sink %s: copy_format = binary: %s", s->name, why);
            return -1;
        }
        log_debug("s3://%s/%s: text COPY into %s: %s", s->bucket, s->key, s->qtable, why);
        return 0;
    }
    b->on = true;
    log_debug("s3://%s/%s: binary COPY into %s", s->bucket, s->key, s->qtable);
    size_t n = strlen(s->copy_sql);
    s->copy_sql = xrealloc(s->copy_sql, n + sizeof(" (FORMAT binary)"));
    memcpy(s->copy_sql + n, " (FORMAT binary)", sizeof(" (FORMAT binary)"));
    return 0;
}

void pg_copybin_header(struct buf *out)
{
    unsigned char zero[8] = {0}; /* flags, header extension length */
    buf_append(out, signature, sizeof(signature));
    buf_append(out, zero, sizeof(zero));
}

void pg_copybin_trailer(struct buf *out)
{
    buf_append(out, "\377\377", 2);
}

/* A value the client does not convert: a restart (auto) or a positioned error. */
static int refuse(struct sink *s, const struct row *row, size_t c, enum pgbin_status st,
                  const char *why, struct ierr *e)
{
    const struct field *f = &row->fields[c];
    const char *type = s->bin.type_names[c];
    char sample[200];

    utf8_sample(sample, sizeof(sample), f->ptr, f->len);
    if (s->copy_format == COPY_FORMAT_BINARY) {
        ierr_set(e, IERR_PERMANENT, "COPY %s: %s for type %s: \"%s\"%s (copy_format = binary)",
                 s->rel, why, type, sample,
                 st == PGBIN_UNCERTAIN ? ", a form the client does not convert" : "");
        e->line = row->line;
        e->column = (unsigned)c + 1;
        snprintf(e->column_name, sizeof(e->column_name), "%s", s->obj_cols[c]);
        snprintf(e->sample, sizeof(e->sample), "%s", sample);
        return -1;
    }
    log_info("s3://%s/%s: line %" PRIu64 ", column %zu (%s): binary COPY cannot carry \"%s\" "
             "as %s (%s): loading the object again with text COPY",
             s->bucket, s->key, row->line, c + 1, s->obj_cols[c], sample, type, why);
    ierr_set(e, IERR_RESTART, "binary COPY: line %" PRIu64 ", column %zu: %s", row->line, c + 1,
             why);
    return -1;
}

int pg_copybin_row(struct sink *s, const struct row *row, struct ierr *e)
{
    const struct pg_copybin *b = &s->bin;
    size_t need = 2 + 12;

    for (size_t c = 0; c < b->ncols; c++)
        need += 4 + (row->fields[c].ptr ? PGBIN_MAX_OUT(row->fields[c].len) : 0);
    if (buf_try_reserve(&s->out, need) < 0) {
        ierr_set(e, IERR_TRANSIENT, "line %" PRIu64 ": out of memory: %zu bytes for the row",
                 row->line, need);
        e->line = row->line;
        return -1;
    }
    unsigned char *start = (unsigned char *)s->out.data + s->out.len;
    unsigned char *o = pgbin_put16(start, (uint16_t)(b->ncols + (s->upsert ? 1 : 0)));
    for (size_t c = 0; c < b->ncols; c++) {
        const struct field *f = &row->fields[c];
        const char *why;
        size_t len;
        if (!f->ptr) {
            o = pgbin_put32(o, UINT32_MAX); /* -1: NULL */
            continue;
        }
        enum pgbin_status st = pgbin_convert(&b->types[c], &b->ss, f->ptr, f->len, o + 4, &len,
                                             &why);
        if (st != PGBIN_OK) {
            s->out.data[s->out.len] = '\0';
            return refuse(s, row, c, st, why, e);
        }
        o = pgbin_put32(o, (uint32_t)len) + len;
    }
    s->rows_sent++;
    if (s->upsert) { /* the staging table's row number */
        o = pgbin_put32(o, 8);
        o = pgbin_put64(o, s->rows_sent);
    }
    s->out.len += (size_t)(o - start);
    s->out.data[s->out.len] = '\0';
    return 0;
}

void pg_copybin_copy_failed(struct sink *s, struct ierr *e)
{
    if (!s->bin.on || s->copy_format != COPY_FORMAT_AUTO || e->cls != IERR_PERMANENT)
        return;
    log_info("s3://%s/%s: binary COPY failed (%s): loading the object again with text COPY",
             s->bucket, s->key, e->reason);
    e->cls = IERR_RESTART;
}

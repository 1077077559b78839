/*
 * pg_sql.c: see pg_sql.h. Text in, text out: nothing here knows a connection.
 *
 * Identifiers are always quoted, so table and column names keep their case and may
 * hold spaces or quotes. COPY uses the text format rather than CSV: it needs only
 * four escapes, and the server parses it slightly faster.
 */
#include "sinks/postgres/pg_sql.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pg_sql_ledger_ddl(struct buf *out, const char *qledger)
{
    buf_printf(out,
               "CREATE TABLE IF NOT EXISTS %s ("
               "bucket text NOT NULL, key text NOT NULL, etag text NOT NULL, "
               "version_id text, sequencer text, route text, rows bigint, bytes bigint, "
               "loaded_at timestamptz NOT NULL DEFAULT now(), "
               "PRIMARY KEY (bucket, key, etag))",
               qledger);
}

void pg_sql_rejects_ddl(struct buf *out, const char *qrejects)
{
    buf_printf(out,
               "CREATE TABLE IF NOT EXISTS %s ("
               "bucket text NOT NULL, key text NOT NULL, etag text NOT NULL, route text, "
               "line bigint, col integer, column_name text, reason text, raw text, "
               "rejected_at timestamptz NOT NULL DEFAULT now())",
               qrejects);
}

static bool state_is(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

enum ierr_class pg_sqlstate_class(const char *s)
{
    if (!s || !*s)
        return IERR_TRANSIENT;
    if (state_is(s, "08") || state_is(s, "53") || state_is(s, "57P") || state_is(s, "58") ||
        !strcmp(s, "40001") || !strcmp(s, "40P01") || !strcmp(s, "55P03") || !strcmp(s, "57014"))
        return IERR_TRANSIENT;
    if (state_is(s, "28") || !strcmp(s, "3D000"))
        return IERR_CONFIG;
    return IERR_PERMANENT;
}

enum ierr_class pg_connect_error_class(const char *msg)
{
    /* libpq gives no SQLSTATE for a failed connection; these need an operator. */
    static const char *const config_errors[] = {
        "password authentication failed",
        "no password supplied",
        "does not exist",
        "no pg_hba.conf entry",
        "invalid connection option",
        "missing \"=\"",
        "invalid URI",
        "invalid integer value",
        "percent-encoded",
        "unterminated quoted string",
    };
    for (size_t i = 0; i < ARRAY_SIZE(config_errors); i++)
        if (strstr(msg, config_errors[i]))
            return IERR_CONFIG;
    return IERR_TRANSIENT;
}

void pg_quote_ident(struct buf *b, const char *name)
{
    buf_putc(b, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            buf_putc(b, '"');
        buf_putc(b, *p);
    }
    buf_putc(b, '"');
}

/* Reads one part at *pp (quoted or bare, up to '.' or the end); NULL when malformed. */
static char *split_part(const char **pp)
{
    const char *p = *pp;
    struct buf part;
    buf_init(&part);
    if (*p == '"') {
        for (p++;; p++) {
            if (!*p)
                goto bad;
            if (*p == '"') {
                if (p[1] != '"')
                    break;
                p++;
            }
            buf_putc(&part, *p);
        }
        p++;
        if (*p && *p != '.')
            goto bad;
    } else {
        while (*p && *p != '.')
            buf_putc(&part, *p++);
    }
    if (part.len == 0)
        goto bad;
    *pp = p;
    return buf_steal(&part);
bad:
    buf_free(&part);
    return NULL;
}

void pg_split_qualified(const char *name, char **schema, char **rel)
{
    const char *p = name;
    char *a = split_part(&p), *b = NULL;
    *schema = NULL;
    if (a && *p == '.') {
        p++;
        b = split_part(&p);
        if (b && !*p) {
            *schema = a;
            *rel = b;
            return;
        }
    } else if (a && !*p) {
        *rel = a;
        return;
    }
    free(a);
    free(b);
    *rel = xstrdup(name);
}

void pg_quote_qualified(struct buf *b, const char *schema, const char *rel)
{
    if (schema) {
        pg_quote_ident(b, schema);
        buf_putc(b, '.');
    }
    pg_quote_ident(b, rel);
}

/* The bytes the text format must escape, with their escape letters. */
static const char copy_escape[256] = {
    ['\\'] = '\\',
    ['\t'] = 't',
    ['\n'] = 'n',
    ['\r'] = 'r',
};

size_t pg_copy_escape_into(char *out, const char *p, size_t n)
{
    /* Most fields need no escape: copy runs between special bytes with memcpy. */
    const unsigned char *u = (const unsigned char *)p;
    char *o = out;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char esc = copy_escape[u[i]];
        if (__builtin_expect(esc != 0, 0)) {
            memcpy(o, p + start, i - start);
            o += i - start;
            *o++ = '\\';
            *o++ = esc;
            start = i + 1;
        }
    }
    memcpy(o, p + start, n - start);
    o += n - start;
    return (size_t)(o - out);
}

void pg_copy_put_field(struct buf *b, const char *p, size_t n, bool is_null)
{
    if (is_null) {
        buf_append(b, "\\N", 2);
        return;
    }
    buf_reserve(b, 2 * n);
    b->len += pg_copy_escape_into(b->data + b->len, p, n);
    b->data[b->len] = '\0';
}

const char *pg_type_name(enum column_type t)
{
    switch (t) {
    case COLUMN_TEXT:
        return "text";
    case COLUMN_BIGINT:
        return "bigint";
    case COLUMN_NUMERIC:
        return "numeric";
    case COLUMN_DOUBLE:
        return "double precision";
    case COLUMN_BOOL:
        return "boolean";
    case COLUMN_DATE:
        return "date";
    case COLUMN_TIMESTAMP:
        return "timestamp";
    case COLUMN_TIMESTAMPTZ:
        return "timestamptz";
    case COLUMN_JSON:
        return "jsonb";
    }
    return "text";
}

static void put_list(struct buf *out, const char *prefix, const char *const *names, size_t n,
                     const char *suffix)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_puts(out, ", ");
        buf_puts(out, prefix);
        pg_quote_ident(out, names[i]);
        buf_puts(out, suffix);
    }
}

void pg_sql_create_table(struct buf *out, const char *table, const char *const *cols,
                         const enum column_type *types, size_t ncols, const char *const *keys,
                         size_t nkeys)
{
    buf_printf(out, "CREATE TABLE %s (", table);
    for (size_t i = 0; i < ncols; i++) {
        if (i)
            buf_puts(out, ", ");
        pg_quote_ident(out, cols[i]);
        buf_printf(out, " %s", pg_type_name(types ? types[i] : COLUMN_TEXT));
    }
    if (nkeys) {
        buf_puts(out, ", PRIMARY KEY (");
        put_list(out, "", keys, nkeys, "");
        buf_putc(out, ')');
    }
    buf_putc(out, ')');
}

void pg_sql_copy(struct buf *out, const char *table, const char *const *cols, size_t ncols,
                 bool with_ord)
{
    buf_printf(out, "COPY %s (", table);
    put_list(out, "", cols, ncols, "");
    if (with_ord)
        buf_puts(out, ", \"" PG_STAGE_ORD "\"");
    buf_puts(out, ") FROM STDIN");
}

void pg_sql_stage(struct buf *out, const char *table, const char *const *cols, size_t ncols)
{
    /* Column types only: no constraints, no defaults (a serial default would burn the
     * target's sequence once per staged row). */
    buf_puts(out, "CREATE TEMP TABLE " PG_STAGE_TABLE " ON COMMIT DROP AS SELECT ");
    put_list(out, "", cols, ncols, "");
    buf_printf(out, ", 0::bigint AS \"" PG_STAGE_ORD "\" FROM %s WITH NO DATA", table);
}

static bool is_key(const char *col, const char *const *keys, size_t nkeys)
{
    for (size_t k = 0; k < nkeys; k++)
        if (!strcmp(col, keys[k]))
            return true;
    return false;
}

/* "UPDATE SET c = FROMc, ..." over the columns that are not keys; false when all are. */
static bool put_updates(struct buf *out, const char *const *cols, size_t ncols,
                        const char *const *keys, size_t nkeys, const char *from)
{
    bool any = false;
    for (size_t i = 0; i < ncols; i++) {
        if (is_key(cols[i], keys, nkeys))
            continue;
        buf_puts(out, any ? ", " : "UPDATE SET ");
        pg_quote_ident(out, cols[i]);
        buf_puts(out, " = ");
        buf_puts(out, from);
        pg_quote_ident(out, cols[i]);
        any = true;
    }
    return any;
}

/* "ROW(PREFIXc, ...)" over the columns that are not keys. */
static void put_row(struct buf *out, const char *prefix, const char *const *cols, size_t ncols,
                    const char *const *keys, size_t nkeys)
{
    bool any = false;
    buf_puts(out, "ROW(");
    for (size_t i = 0; i < ncols; i++) {
        if (is_key(cols[i], keys, nkeys))
            continue;
        buf_puts(out, any ? ", " : "");
        buf_puts(out, prefix);
        pg_quote_ident(out, cols[i]);
        any = true;
    }
    buf_putc(out, ')');
}

/* "NOT record_image_eq(ROW(t.c, ...), ROW(FROMc, ...))" over the columns that are not
 * keys: true when the stored row differs from the new one in any byte of them. The
 * function behind the *= operator compares the values' binary images, so 1.0 differs from
 * 1.00 and json from json spaced otherwise, NULL matches NULL, and types without an
 * equality (json) need none; called as a function because "ROW(...) *= ROW(...)" would
 * be taken apart into a comparison per column. */
static void put_changed(struct buf *out, const char *const *cols, size_t ncols,
                        const char *const *keys, size_t nkeys, const char *from)
{
    buf_puts(out, "NOT pg_catalog.record_image_eq(");
    put_row(out, "t.", cols, ncols, keys, nkeys);
    buf_puts(out, ", ");
    put_row(out, from, cols, ncols, keys, nkeys);
    buf_putc(out, ')');
}

void pg_sql_merge(struct buf *out, const char *table, const char *const *cols, size_t ncols,
                  const char *const *keys, size_t nkeys, bool dedupe, bool skip_unchanged)
{
    buf_printf(out, "INSERT INTO %s%s (", table, skip_unchanged ? " AS t" : "");
    put_list(out, "", cols, ncols, "");
    buf_puts(out, ") SELECT ");
    if (dedupe) {
        buf_puts(out, "DISTINCT ON (");
        put_list(out, "", keys, nkeys, "");
        buf_puts(out, ") ");
    }
    put_list(out, "", cols, ncols, "");
    buf_puts(out, " FROM pg_temp." PG_STAGE_TABLE);
    if (dedupe) {
        buf_puts(out, " ORDER BY ");
        put_list(out, "", keys, nkeys, "");
        buf_puts(out, ", \"" PG_STAGE_ORD "\" DESC");
    }
    buf_puts(out, " ON CONFLICT (");
    put_list(out, "", keys, nkeys, "");
    buf_puts(out, ") DO ");
    if (!put_updates(out, cols, ncols, keys, nkeys, "EXCLUDED.")) {
        buf_puts(out, "NOTHING");
    } else if (skip_unchanged) {
        buf_puts(out, " WHERE ");
        put_changed(out, cols, ncols, keys, nkeys, "EXCLUDED.");
    }
}

void pg_sql_merge_join(struct buf *out, const char *table, const char *const *cols, size_t ncols,
                       const char *const *keys, size_t nkeys, bool skip_unchanged)
{
    buf_printf(out, "MERGE INTO %s AS t USING pg_temp." PG_STAGE_TABLE " AS s ON ", table);
    for (size_t k = 0; k < nkeys; k++) {
        buf_puts(out, k ? " AND t." : "t.");
        pg_quote_ident(out, keys[k]);
        buf_puts(out, " = s.");
        pg_quote_ident(out, keys[k]);
    }
    buf_puts(out, " WHEN MATCHED ");
    if (skip_unchanged && ncols > nkeys) { /* keys are among cols */
        buf_puts(out, "AND ");
        put_changed(out, cols, ncols, keys, nkeys, "s.");
        buf_putc(out, ' ');
    }
    buf_puts(out, "THEN ");
    if (!put_updates(out, cols, ncols, keys, nkeys, "s."))
        buf_puts(out, "DO NOTHING");
    buf_puts(out, " WHEN NOT MATCHED THEN INSERT (");
    put_list(out, "", cols, ncols, "");
    buf_puts(out, ") VALUES (");
    put_list(out, "s.", cols, ncols, "");
    buf_putc(out, ')');
}

/* After "column ": the longest known column name followed by ':' or the end. */
static int match_column(const char *p, const char *const *cols, size_t ncols, size_t *len)
{
    int best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < ncols; i++) {
        size_t n = strlen(cols[i]);
        if (n > best_len && !strncmp(p, cols[i], n) &&
            (p[n] == ':' || p[n] == '\0' || p[n] == '\n')) {
            best = (int)i;
            best_len = n;
        }
    }
    *len = best_len;
    return best;
}

/* Copies a server-quoted "value" (up to the last quote on the line) into out. */
static void copy_quoted(const char *p, char *out, size_t outsz)
{
    const char *end = strchr(p, '\n');
    if (!end)
        end = p + strlen(p);
    if (*p == '"')
        p++;
    if (end > p && end[-1] == '"')
        end--;
    size_t n = (size_t)(end - p);
    if (n >= outsz)
        n = outsz - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Parses one context line that starts right after "COPY rel, line ". */
static int parse_after_line(const char *p, const char *const *cols, size_t ncols,
                            struct pg_copy_context *out)
{
    if (!isdigit((unsigned char)*p))
        return -1;
    out->line = strtoull(p, (char **)&p, 10);
    if (!strncmp(p, ", column ", 9)) {
        size_t n;
        p += 9;
        out->column = match_column(p, cols, ncols, &n);
        if (out->column < 0)
            return 0;
        p += n;
    }
    if (!strncmp(p, ": null input", 12))
        out->null_input = true;
    else if (!strncmp(p, ": \"", 3))
        copy_quoted(p + 2, out->sample, sizeof(out->sample));
    return 0;
}

int pg_parse_copy_context(const char *context, const char *relname, const char *const *cols,
                          size_t ncols, struct pg_copy_context *out)
{
    memset(out, 0, sizeof(*out));
    out->column = -1;
    if (!context)
        return -1;
    /* Triggers and functions add lines of their own; the COPY line may be any of them. */
    for (const char *l = context; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, "COPY ", 5))
            continue;
        const char *p = l + 5;
        size_t rn = strlen(relname);
        if (!strncmp(p, relname, rn) && !strncmp(p + rn, ", line ", 7) &&
            parse_after_line(p + rn + 7, cols, ncols, out) == 0)
            return 0;
        /* A relation name we did not expect: take the first ", line " after it. */
        const char *q = strstr(p, ", line ");
        if (q && parse_after_line(q + 7, cols, ncols, out) == 0)
            return 0;
    }
    return -1;
}

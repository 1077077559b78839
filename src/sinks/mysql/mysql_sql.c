/*
 * mysql_sql.c: see mysql_sql.h. Text in, text out: nothing here knows a connection.
 *
 * Identifiers are always quoted with backticks. Values travel in LOAD DATA's escaped
 * text format (tab-separated, backslash escapes, \N for NULL) rather than CSV: four
 * escapes and no quoting, and the server's fastest path.
 */
#include "sinks/mysql/mysql_sql.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sinks/ident.h"

void my_sql_ledger_ddl(struct buf *out, const char *qledger)
{
    buf_printf(out,
               "CREATE TABLE IF NOT EXISTS %s ("
               "bucket VARCHAR(255) NOT NULL, `key` VARCHAR(1024) NOT NULL, "
               "etag VARCHAR(255) NOT NULL, "
               "object_id BINARY(32) AS (UNHEX(SHA2(CONCAT_WS(CHAR(0), bucket, `key`, etag), "
               "256))) STORED, "
               "version_id VARCHAR(1024) NULL, sequencer VARCHAR(255) NULL, "
               "route VARCHAR(255) NULL, `rows` BIGINT NULL, bytes BIGINT NULL, "
               "loaded_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), "
               "UNIQUE KEY ingestd_ledger_object (object_id), "
               "KEY ingestd_ledger_key (bucket(63), `key`(255))"
               ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
               qledger);
}

void my_sql_rejects_ddl(struct buf *out, const char *qrejects)
{
    buf_printf(out,
               "CREATE TABLE IF NOT EXISTS %s ("
               "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
               "bucket VARCHAR(255) NOT NULL, `key` VARCHAR(1024) NOT NULL, "
               "etag VARCHAR(255) NOT NULL, "
               "route VARCHAR(255) NULL, line BIGINT NULL, col INT NULL, column_name TEXT NULL, "
               "reason TEXT NULL, raw LONGTEXT NULL, "
               "rejected_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), "
               "KEY ingestd_rejects_key (bucket(63), `key`(255))"
               ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
               qrejects);
}

const char my_sql_session[] =
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', time_zone = '+00:00', "
    "autocommit = 1, NAMES utf8mb4";

enum ierr_class my_errno_class(unsigned err)
{
    switch (err) {
    case 1021: /* disk full */
    case 1037: /* out of memory */
    case 1038: /* out of sort memory */
    case 1040: /* too many connections */
    case 1041: /* out of resources */
    case 1053: /* server shutdown in progress */
    case 1077:
    case 1078:
    case 1079: /* shutdown */
    case 1152:
    case 1184: /* aborted connection */
    case 1158:
    case 1159:
    case 1160:
    case 1161: /* network read/write */
    case 1180:
    case 1181: /* error during commit / rollback */
    case 1203: /* max_user_connections */
    case 1205: /* lock wait timeout */
    case 1213: /* deadlock */
    case 1290: /* --read-only (a failover in progress) */
    case 1317: /* query interrupted */
    case 1614: /* XA deadlock */
    case 1637: /* too many concurrent transactions */
    case 1792: /* read-only transaction */
    case 1836: /* read-only mode */
    case 1927: /* connection killed */
    case 1969: /* statement timeout (MariaDB) */
    case 3024: /* max_execution_time (MySQL) */
        return IERR_TRANSIENT;
    case 1044:
    case 1045:
    case 1142:
    case 1143:
    case 1227:
    case 1698: /* access denied */
    case 1049: /* unknown database */
    case 1148: /* LOCAL INFILE disabled on the server */
    case 1251: /* authentication protocol */
    case 1820:
    case 1862: /* password must be changed / expired */
    case 3159: /* TLS required by the account */
    case 3948:
    case 3950: /* LOCAL INFILE disabled (MySQL 8) */
    case 2026: /* TLS */
    case 2059:
    case 2061: /* authentication plugin */
    case 2068: /* LOAD DATA LOCAL refused by the client */
        return IERR_CONFIG;
    default:
        break;
    }
    if (err >= 2000 && err <= 2999)
        return IERR_TRANSIENT;
    if (err >= 5000 && err <= 5999)
        return IERR_TRANSIENT;
    return IERR_PERMANENT;
}

bool my_errno_breaks_connection(unsigned err)
{
    return (err >= 2000 && err <= 2999) || (err >= 5000 && err <= 5999) || err == 1927 ||
           err == 1053 || err == 1152 || err == 1184 || (err >= 1158 && err <= 1161);
}

bool my_conv_bool(const char *p, size_t n, char *out)
{
    if (n == 4 && !strncasecmp(p, "true", 4)) {
        *out = '1';
        return true;
    }
    if (n == 5 && !strncasecmp(p, "false", 5)) {
        *out = '0';
        return true;
    }
    return false;
}

/* n decimal digits at p into *v; false if any is not a digit. */
static bool digits(const char *p, size_t n, int *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        *v = *v * 10 + (p[i] - '0');
    }
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

size_t my_conv_utc(const char *p, size_t n, char *out)
{
    int y, mo, d, h, mi, s = 0, oh = 0, om = 0;
    size_t i = 16, fs = 0, fn = 0;

    if (n < 17 || p[4] != '-' || p[7] != '-' || (p[10] != 'T' && p[10] != ' ' && p[10] != 't') ||
        p[13] != ':')
        return 0;
    if (!digits(p, 4, &y) || !digits(p + 5, 2, &mo) || !digits(p + 8, 2, &d) ||
        !digits(p + 11, 2, &h) || !digits(p + 14, 2, &mi))
        return 0;
    if (i < n && p[i] == ':') {
        if (i + 3 > n || !digits(p + i + 1, 2, &s))
            return 0;
        i += 3;
        if (i < n && p[i] == '.') {
            fs = ++i;
            while (i < n && p[i] >= '0' && p[i] <= '9')
                i++;
            fn = i - fs;
            if (fn == 0 || fn > 9)
                return 0;
        }
    }
    if (i >= n)
        return 0; /* no zone: the server reads it as it is */
    int sign = 0;
    if ((p[i] == 'Z' || p[i] == 'z') && i + 1 == n) {
        sign = 1;
    } else if (p[i] == '+' || p[i] == '-') {
        size_t rest = n - i - 1;
        const char *z = p + i + 1;
        sign = p[i] == '+' ? 1 : -1;
        if (!((rest == 2 && digits(z, 2, &oh)) ||
              (rest == 4 && digits(z, 2, &oh) && digits(z + 2, 2, &om)) ||
              (rest == 5 && z[2] == ':' && digits(z, 2, &oh) && digits(z + 3, 2, &om))))
            return 0;
    } else {
        return 0;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59 || oh > 23 || om > 59)
        return 0;
    int64_t days = days_from_civil(y, mo, d);
    int64_t yy;
    int m2, d2;
    civil_from_days(days, &yy, &m2, &d2);
    if (m2 != mo || d2 != d)
        return 0; /* 2023-02-30: let the server refuse it */
    int64_t t = days * 86400 + h * 3600 + mi * 60 + s - sign * (oh * 3600 + om * 60);
    int64_t dd = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t sec = t - dd * 86400;
    civil_from_days(dd, &yy, &m2, &d2);
    if (yy < 1000 || yy > 9999)
        return 0;
    int len = snprintf(out, MY_CONV_MAX, "%04d-%02d-%02d %02d:%02d:%02d", (int)yy, m2, d2,
                       (int)(sec / 3600), (int)(sec / 60 % 60), (int)(sec % 60));
    if (fn) {
        out[len++] = '.';
        memcpy(out + len, p + fs, fn);
        len += (int)fn;
    }
    out[len] = '\0';
    return (size_t)len;
}

/* The bytes LOAD DATA's escaped format must escape, with their escape letters. */
static const char load_escape[256] = {
    ['\\'] = '\\', ['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r', ['\0'] = '0',
};

size_t my_escape_into(char *out, const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    char *o = out;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char esc = load_escape[u[i]];
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

void my_put_field(struct buf *b, const char *p, size_t n, bool is_null)
{
    if (is_null) {
        buf_append(b, "\\N", 2);
        return;
    }
    buf_reserve(b, 2 * n + 1);
    b->len += my_escape_into(b->data + b->len, p, n);
    b->data[b->len] = '\0';
}

void my_put_literal(struct buf *b, const char *p, size_t n)
{
    if (!p) {
        buf_puts(b, "NULL");
        return;
    }
    buf_reserve(b, 2 * n + 3);
    char *o = b->data + b->len;
    *o++ = '\'';
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        switch (c) {
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\'':
            *o++ = '\\';
            *o++ = '\'';
            break;
        case '\0':
            *o++ = '\\';
            *o++ = '0';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        case '\032':
            *o++ = '\\';
            *o++ = 'Z';
            break;
        default:
            *o++ = c;
        }
    }
    *o++ = '\'';
    b->len = (size_t)(o - b->data);
    *o = '\0';
}

void my_put_str(struct buf *b, const char *s)
{
    my_put_literal(b, s, s ? strlen(s) : 0);
}

void my_quote_ident(struct buf *b, const char *name)
{
    ident_quote(b, name, IDENT_MYSQL);
}

void my_quote_table(struct buf *b, const char *table)
{
    ident_quote_table(b, table, IDENT_MYSQL);
}

static void put_list(struct buf *out, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_puts(out, ", ");
        my_quote_ident(out, names[i]);
    }
}

const char *my_type_name(enum column_type t, bool is_key)
{
    switch (t) {
    case COLUMN_BIGINT:
        return "BIGINT";
    case COLUMN_NUMERIC:
        return "DECIMAL(38,10)";
    case COLUMN_DOUBLE:
        return "DOUBLE";
    case COLUMN_BOOL:
        return "BOOLEAN";
    case COLUMN_DATE:
        return "DATE";
    case COLUMN_TIMESTAMP:
    case COLUMN_TIMESTAMPTZ:
        return "DATETIME(6)";
    case COLUMN_JSON:
        return "JSON";
    case COLUMN_TEXT:
        break;
    }
    return is_key ? "VARCHAR(255)" : "LONGTEXT";
}

void my_sql_create_table(struct buf *out, const char *qtable, const char *const *cols,
                         const enum column_type *types, size_t ncols, const char *const *keys,
                         size_t nkeys)
{
    buf_printf(out, "CREATE TABLE IF NOT EXISTS %s (", qtable);
    for (size_t i = 0; i < ncols; i++) {
        bool is_key = false;
        for (size_t k = 0; k < nkeys; k++)
            is_key |= !strcmp(cols[i], keys[k]);
        if (i)
            buf_puts(out, ", ");
        my_quote_ident(out, cols[i]);
        buf_printf(out, " %s%s", my_type_name(types ? types[i] : COLUMN_TEXT, is_key),
                   is_key ? " NOT NULL" : "");
    }
    if (nkeys) {
        buf_puts(out, ", PRIMARY KEY (");
        put_list(out, keys, nkeys);
        buf_putc(out, ')');
    }
    buf_puts(out, ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
}

void my_sql_load(struct buf *out, const char *qtable, const char *const *cols, size_t ncols,
                 bool with_ord)
{
    /* The file name is a label: the local-infile handler streams whatever it is asked. */
    buf_printf(out,
               "LOAD DATA LOCAL INFILE 'ingestd-stream' INTO TABLE %s "
               "CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' "
               "LINES TERMINATED BY '\\n' (",
               with_ord ? MY_STAGE_TABLE : qtable);
    put_list(out, cols, ncols);
    if (with_ord)
        buf_puts(out, ", `" MY_STAGE_ORD "`");
    buf_putc(out, ')');
}

void my_sql_stage(struct buf *out, const char *qtable, const char *const *cols, size_t ncols)
{
    /* CREATE ... SELECT keeps types and NOT NULL but no keys, defaults or AUTO_INCREMENT,
     * so duplicate keys of one file can all be staged and ordered. */
    buf_puts(out, "CREATE TEMPORARY TABLE " MY_STAGE_TABLE " (`" MY_STAGE_ORD "` BIGINT "
                  "UNSIGNED NOT NULL DEFAULT 0, PRIMARY KEY (`" MY_STAGE_ORD
                  "`)) ENGINE=InnoDB SELECT ");
    put_list(out, cols, ncols);
    buf_printf(out, " FROM %s LIMIT 0", qtable);
}

void my_sql_merge(struct buf *out, const char *qtable, const char *const *cols, size_t ncols,
                  const char *const *keys, size_t nkeys)
{
    buf_printf(out, "INSERT INTO %s (", qtable);
    put_list(out, cols, ncols);
    buf_puts(out, ") SELECT ");
    put_list(out, cols, ncols);
    buf_puts(out, " FROM " MY_STAGE_TABLE " ORDER BY `" MY_STAGE_ORD "`");
    if (!nkeys)
        return;
    buf_puts(out, " ON DUPLICATE KEY UPDATE ");
    bool any = false;
    for (size_t i = 0; i < ncols; i++) {
        bool is_key = false;
        for (size_t k = 0; k < nkeys; k++)
            is_key |= !strcasecmp(cols[i], keys[k]);
        if (is_key)
            continue;
        if (any)
            buf_puts(out, ", ");
        my_quote_ident(out, cols[i]);
        buf_puts(out, " = VALUES(");
        my_quote_ident(out, cols[i]);
        buf_putc(out, ')');
        any = true;
    }
    if (!any) {
        my_quote_ident(out, keys[0]);
        buf_puts(out, " = ");
        my_quote_ident(out, keys[0]);
    }
}

/* The column whose name starts at p and is followed by term; the longest wins. */
static int match_column(const char *p, char term, const char *const *cols, size_t ncols)
{
    int best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < ncols; i++) {
        size_t n = strlen(cols[i]);
        if (n >= best_len && !strncasecmp(p, cols[i], n) && p[n] == term) {
            best = (int)i;
            best_len = n;
        }
    }
    return best;
}

/* After "column ": 'name' or `db`.`table`.`name` (the last part is the column). */
static int parse_column(const char *p, const char *const *cols, size_t ncols)
{
    if (*p == '\'')
        return match_column(p + 1, '\'', cols, ncols);
    if (*p != '`')
        return -1;
    const char *last = p;
    for (const char *q = p; *q == '`';) {
        const char *end = strchr(q + 1, '`');
        if (!end)
            return -1;
        last = q;
        if (end[1] != '.')
            break;
        q = end + 2;
    }
    return match_column(last + 1, '`', cols, ncols);
}

void my_parse_warning(const char *msg, const char *const *cols, size_t ncols,
                      struct my_warning *out)
{
    memset(out, 0, sizeof(*out));
    out->column = -1;
    if (!msg)
        return;
    if (!strncasecmp(msg, "Row ", 4) && isdigit((unsigned char)msg[4]))
        out->row = strtoull(msg + 4, NULL, 10);
    const char *at = NULL;
    for (const char *q = strstr(msg, " at row "); q; q = strstr(q + 1, " at row "))
        at = q;
    if (at && isdigit((unsigned char)at[8]))
        out->row = strtoull(at + 8, NULL, 10);
    for (const char *q = msg; (q = strcasestr(q, "column ")); q += 7) {
        int c = parse_column(q + 7, cols, ncols);
        if (c >= 0) {
            out->column = c;
            break;
        }
    }
    /* The value: "value: 'x'" (1366, 1292) or "entry 'x'" (1062). */
    const char *v = strstr(msg, "value: '");
    size_t skip = 8;
    if (!v) {
        v = strstr(msg, "entry '");
        skip = 7;
    }
    if (v) {
        v += skip;
        const char *end = strstr(v, "' for ");
        if (!end)
            end = strrchr(v, '\'');
        if (end) {
            size_t n = (size_t)(end - v);
            if (n >= sizeof(out->sample))
                n = sizeof(out->sample) - 1;
            memcpy(out->sample, v, n);
            out->sample[n] = '\0';
        }
    }
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : 16; /* non-hex sorts after */
}

int my_sequencer_cmp(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b), n = na > nb ? na : nb;
    for (size_t i = 0; i < n; i++) {
        int x = i < na ? hex_nibble(a[i]) : 0, y = i < nb ? hex_nibble(b[i]) : 0;
        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}

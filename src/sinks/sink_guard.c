/*
 * sink_guard.c: see sink_guard.h.
 */
#include "sinks/sink_guard.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

bool sink_guard_own_table(const char *rel)
{
    static const char *const own[] = {SINK_LEDGER_TABLE, SINK_REJECTS_TABLE, SINK_STAGE_TABLE};
    for (size_t i = 0; i < ARRAY_SIZE(own); i++)
        if (!strcasecmp(rel, own[i]))
            return true;
    return false;
}

bool sink_guard_pg_catalog(const char *schema)
{
    return !strncasecmp(schema, "pg_", 3) || !strcasecmp(schema, "information_schema");
}

bool sink_guard_mysql_catalog(const char *database)
{
    static const char *const sys[] = {"information_schema", "mysql", "performance_schema", "sys"};
    for (size_t i = 0; i < ARRAY_SIZE(sys); i++)
        if (!strcasecmp(database, sys[i]))
            return true;
    return false;
}

int sink_guard_target(const char *schema, const char *rel, const char *shown,
                      bool (*catalog)(const char *), struct ierr *e)
{
    if (schema && catalog(schema)) {
        ierr_set(e, IERR_PERMANENT,
                 "table %s is in the system catalog schema %s: no object loads into it", shown,
                 schema);
        return -1;
    }
    if (sink_guard_own_table(rel)) {
        ierr_set(e, IERR_PERMANENT,
                 "table %s is one of ingestd's own tables (%s, %s, %s): no object loads into it",
                 shown, SINK_LEDGER_TABLE, SINK_REJECTS_TABLE, SINK_STAGE_TABLE);
        return -1;
    }
    return 0;
}

static bool is_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$';
}

/* Length of the quoted staging name at p ("q ingestd_stage q"), 0 when there is none. */
static size_t quoted_stage(const char *p, char q)
{
    size_t n = strlen(SINK_STAGE_TABLE);
    if (p[0] == q && !strncmp(p + 1, SINK_STAGE_TABLE, n) && p[n + 1] == q)
        return n + 2;
    return 0;
}

/* Length of a quoted qualifier and its dot before a quoted staging name at p
 * (`db`.`ingestd_stage`), 0 when there is none. */
static size_t qualified_stage(const char *p, char q)
{
    if (p[0] != q)
        return 0;
    const char *close = strchr(p + 1, q);
    if (!close || close[1] != '.')
        return 0;
    size_t rest = quoted_stage(close + 2, q);
    return rest ? (size_t)(close + 2 - p) + rest : 0;
}

/* Drops a bare "schema." just written before a bare staging name. */
static void drop_bare_qualifier(struct buf *out)
{
    if (out->len < 2 || out->data[out->len - 1] != '.')
        return;
    size_t i = out->len - 1;
    while (i > 0 && is_ident_char(out->data[i - 1]))
        i--;
    if (i < out->len - 1 && (i == 0 || !is_ident_char(out->data[i - 1]))) {
        out->len = i;
        out->data[i] = '\0';
    }
}

void sink_guard_name_target(char *text, size_t size, char quote, const char *target)
{
    size_t bare = strlen(SINK_STAGE_TABLE);
    struct buf out;
    bool changed = false;

    if (!strstr(text, SINK_STAGE_TABLE))
        return;
    buf_init(&out);
    for (const char *p = text; *p;) {
        size_t n = qualified_stage(p, quote);
        if (!n)
            n = quoted_stage(p, quote);
        if (!n && !strncmp(p, SINK_STAGE_TABLE, bare) && !is_ident_char(p[bare]) &&
            (p == text || !is_ident_char(p[-1]))) {
            drop_bare_qualifier(&out);
            n = bare;
        }
        if (n) {
            buf_puts(&out, target);
            p += n;
            changed = true;
        } else {
            buf_putc(&out, *p++);
        }
    }
    if (changed)
        snprintf(text, size, "%s", out.data);
    buf_free(&out);
}

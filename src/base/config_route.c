/*
 * config_route.c: the [route NAME] values that need more than a table lookup
 * (table templates, column types, NULL strings, regular expressions, validation
 * rules). The checks between a route's keys, once its section is complete, are the
 * loader's (config.c).
 *
 * It does not expand templates or match keys: that happens per object, in the
 * pipeline. It only guarantees that what it accepts can be expanded and matched.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config_int.h"

#define ROUTE(base) ((struct route_conf *)(base))

static const char *const placeholders[] = {"basename", "dirname", "bucket", "key", NULL};

/* One side of "schema.table": literals of identifier characters and {placeholder}s. */
static int check_template_part(const char *s, size_t n, struct buf *why)
{
    size_t i = 0;

    if (n == 0) {
        buf_puts(why, "empty schema or table name");
        return -1;
    }
    if (isdigit((unsigned char)s[0])) {
        buf_puts(why, "a schema or table name must not start with a digit");
        return -1;
    }
    while (i < n) {
        if (s[i] == '{') {
            const char *end = memchr(s + i, '}', n - i);
            bool known = false;

            if (!end) {
                buf_puts(why, "'{' without '}'");
                return -1;
            }
            for (int p = 0; placeholders[p]; p++) {
                size_t plen = strlen(placeholders[p]);

                if ((size_t)(end - (s + i + 1)) == plen &&
                    !strncmp(s + i + 1, placeholders[p], plen))
                    known = true;
            }
            if (!known) {
                buf_printf(why,
                           "unknown placeholder {%.*s} (use {basename} {dirname} {bucket} {key})",
                           (int)(end - (s + i + 1)), s + i + 1);
                return -1;
            }
            i = (size_t)(end - s) + 1;
        } else if (isalnum((unsigned char)s[i]) || s[i] == '_') {
            i++;
        } else {
            buf_printf(why, "character '%c' is not allowed (letters, digits, _ and {placeholders})",
                       s[i]);
            return -1;
        }
    }
    return 0;
}

int cfg_set_table(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why)
{
    struct route_conf *r = ROUTE(base);
    const char *s = v->text, *dot = strchr(s, '.');
    int rc;

    (void)k;
    if (*s == '\0') {
        buf_puts(why, "must not be empty");
        return -1;
    }
    if (dot && strchr(dot + 1, '.')) {
        buf_puts(why, "at most one '.' (schema.table)");
        return -1;
    }
    if (dot)
        rc = check_template_part(s, (size_t)(dot - s), why) ||
             check_template_part(dot + 1, strlen(dot + 1), why);
    else
        rc = check_template_part(s, strlen(s), why);
    if (rc)
        return -1;
    free(r->table);
    r->table = xstrdup(s);
    return 0;
}

static int parse_attr_type(const char *s, enum attr_type *out)
{
    static const char *const names[] = {"S", "N", "BOOL", "JSON"};

    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum attr_type)i;
            return 0;
        }
    }
    return -1;
}

static void free_types(struct route_conf *r)
{
    for (size_t i = 0; i < r->ntypes; i++)
        free(r->types[i].column);
    free(r->types);
    r->types = NULL;
    r->ntypes = 0;
}

/* "id:N, price:N, active:BOOL" */
int cfg_set_types(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why)
{
    struct route_conf tmp = {0};
    char *copy = xstrdup(v->text), *p = copy, *item;

    (void)k;
    if (*str_trim(copy) == '\0')
        goto done;
    while ((item = strsep(&p, ",")) != NULL) {
        char *colon = strchr(item, ':'), *col, *type;
        enum attr_type t;

        if (!colon) {
            buf_puts(why, "expected COLUMN:TYPE, got ");
            cfg_quote_value(why, str_trim(item));
            goto fail;
        }
        *colon = '\0';
        col = str_trim(item);
        type = str_trim(colon + 1);
        if (!cfg_is_ident(col)) {
            buf_puts(why, "column ");
            cfg_quote_value(why, col);
            buf_puts(why, " is not a name of letters, digits and _");
            goto fail;
        }
        if (parse_attr_type(type, &t) < 0) {
            buf_printf(why, "column %s: type ", col);
            cfg_quote_value(why, type);
            buf_puts(why, " is not one of S | N | BOOL | JSON");
            goto fail;
        }
        for (size_t i = 0; i < tmp.ntypes; i++) {
            if (strcmp(tmp.types[i].column, col) == 0) {
                buf_printf(why, "column %s is typed twice", col);
                goto fail;
            }
        }
        tmp.types = xrealloc(tmp.types, (tmp.ntypes + 1) * sizeof(*tmp.types));
        tmp.types[tmp.ntypes].column = xstrdup(col);
        tmp.types[tmp.ntypes++].type = t;
    }
done:
    free(copy);
    free_types(ROUTE(base));
    ROUTE(base)->types = tmp.types;
    ROUTE(base)->ntypes = tmp.ntypes;
    return 0;
fail:
    free(copy);
    free_types(&tmp);
    return -1;
}

/*
 * A quoted value is one string (`null = " "`); otherwise a comma-separated list in
 * which an item written "" is the empty string (`null = NA, ""`).
 */
int cfg_set_null(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why)
{
    struct strlist l = {0};
    char *copy, *p, *item;

    (void)k;
    (void)why;
    if (v->quoted) {
        strlist_push(&l, v->text);
    } else if (*v->text) {
        copy = p = xstrdup(v->text);
        while ((item = strsep(&p, ",")) != NULL) {
            size_t n;

            item = str_trim(item);
            n = strlen(item);
            if (n >= 2 && item[0] == '"' && item[n - 1] == '"') {
                item[n - 1] = '\0';
                item++;
            }
            if (!strlist_contains(&l, item))
                strlist_push(&l, item);
        }
        free(copy);
    }
    strlist_free(&ROUTE(base)->null);
    ROUTE(base)->null = l;
    return 0;
}

#define REGEX_MAX_COPIES  100000 /* far above any real pattern; about 10 MB in regcomp */
#define REGEX_MAX_NESTING 64

/* Skips a bracket expression starting at p ('['); returns what follows it. */
static const char *skip_bracket(const char *p)
{
    p++;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++; /* a leading ']' is a member */
    while (*p && *p != ']') {
        if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
            const char *e = p + 2;
            while (*e && !(e[0] == p[1] && e[1] == ']'))
                e++;
            p = *e ? e + 2 : e;
        } else {
            p++;
        }
    }
    return *p ? p + 1 : p;
}

/*
 * How many pattern nodes glibc's regcomp builds, roughly: it copies the operand of '+' once
 * and of {m,n} n times (also when the operand is itself repeated or a group holding
 * repetitions), so "a++++..." or "((a+)+)+..." grow exponentially with the pattern's length
 * and a short typo in a config file could exhaust memory at load or reload. Saturates.
 * *stacked is set when a repetition operator directly follows another ("a*+", "a**"): POSIX
 * leaves that undefined and glibc's epsilon closures then take exponential time.
 */
static size_t regex_copies(const char *p, bool *stacked)
{
    size_t stack[REGEX_MAX_NESTING], depth = 0, cur = 0, last = 0;
    bool after_rep = false;

    *stacked = false;
    while (*p) {
        size_t mult = 0;

        if (*p == '*' || *p == '+' || *p == '?' || *p == '{') {
            if (after_rep)
                *stacked = true;
            after_rep = true;
        } else {
            after_rep = false;
        }
        if (*p == '(') {
            if (depth == REGEX_MAX_NESTING)
                return SIZE_MAX;
            stack[depth++] = cur;
            cur = last = 0;
            p++;
            continue;
        }
        if (*p == ')' && depth > 0) {
            last = cur;
            cur = stack[--depth];
            cur = cur + last < cur ? SIZE_MAX : cur + last;
            p++;
            continue;
        }
        if (*p == '+') {
            mult = 2;
            p++;
        } else if (*p == '{') {
            /* {n}: n copies; {m,}: m and a starred one; {m,n}: n */
            const char *e = strchr(p, '}');
            const char *comma = memchr(p, ',', e ? (size_t)(e - p) : 0);
            unsigned long lo = strtoul(p + 1, NULL, 10), n = lo;

            if (comma && comma[1] == '}')
                n = lo + 1;
            else if (comma)
                n = strtoul(comma + 1, NULL, 10) > lo ? strtoul(comma + 1, NULL, 10) : lo;
            mult = n > REGEX_MAX_COPIES ? REGEX_MAX_COPIES + 1 : (size_t)n;
            p = e ? e + 1 : p + strlen(p);
        } else if (*p == '*' || *p == '?') {
            p++;
            continue;
        } else if (*p == '|') {
            last = 0;
            p++;
            continue;
        } else {
            p = *p == '[' ? skip_bracket(p) : p + (*p == '\\' && p[1] ? 2 : 1);
            last = 1;
            cur = cur == SIZE_MAX ? cur : cur + 1;
            continue;
        }
        /* the operand appears mult times in all: add mult - 1 copies */
        if (last > 0 && mult > 1) {
            size_t add = last > REGEX_MAX_COPIES || mult - 1 > REGEX_MAX_COPIES ? SIZE_MAX
                                                                                : last * (mult - 1);
            cur = add == SIZE_MAX || cur + add < cur ? SIZE_MAX : cur + add;
            last = last > REGEX_MAX_COPIES || mult > REGEX_MAX_COPIES ? SIZE_MAX : last * mult;
        }
        if (cur > REGEX_MAX_COPIES)
            return cur;
    }
    return cur;
}

static int compile(regex_t *re, const char *pattern, struct buf *why)
{
    int rc;
    char msg[256];
    bool stacked;
    size_t copies = regex_copies(pattern, &stacked);

    if (stacked || copies > REGEX_MAX_COPIES) {
        buf_puts(why, "bad regular expression ");
        cfg_quote_value(why, pattern);
        if (stacked)
            buf_puts(why, ": a repetition operator follows another (* + ? or {})");
        else
            buf_printf(why, ": its repetitions expand to more than %d elements", REGEX_MAX_COPIES);
        return -1;
    }
    rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc == 0)
        return 0;
    regerror(rc, re, msg, sizeof(msg));
    buf_puts(why, "bad regular expression ");
    cfg_quote_value(why, pattern);
    buf_printf(why, ": %s", msg);
    return -1;
}

int cfg_set_match_regex(void *base, const struct cfg_key *k, const struct cfg_value *v,
                        struct buf *why)
{
    struct route_conf *r = ROUTE(base);
    regex_t re;

    (void)k;
    if (*v->text && compile(&re, v->text, why) < 0)
        return -1;
    if (r->match_regex) {
        regfree(&r->regex);
        free(r->match_regex);
        r->match_regex = NULL;
    }
    if (*v->text) {
        r->regex = re;
        r->match_regex = xstrdup(v->text);
    }
    return 0;
}

/* delimiter and quote: one byte; `tab` names a tab for delimiter. */
int cfg_set_char(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why)
{
    char *dst = (char *)base + k->off;
    const char *s = v->text;

    if (*s == '\0' && !v->quoted) {
        *dst = '\0';
        return 0;
    }
    if (strcmp(k->name, "delimiter") == 0 && strcmp(s, "tab") == 0) {
        *dst = '\t';
        return 0;
    }
    if (strlen(s) != 1 || s[0] == '\n' || s[0] == '\r') {
        cfg_quote_value(why, s);
        buf_printf(why, " is not one character%s",
                   strcmp(k->name, "delimiter") == 0 ? " or tab" : "");
        return -1;
    }
    *dst = s[0];
    return 0;
}

static int parse_range(const char *s, int64_t lo, int64_t *min, int64_t *max)
{
    const char *dots = strstr(s, "..");
    char left[32];
    size_t n = dots ? (size_t)(dots - s) : 0;

    if (!dots || n >= sizeof(left))
        return -1;
    memcpy(left, s, n);
    left[n] = '\0';
    if (parse_int64(left, lo, INT64_MAX, min) < 0 || parse_int64(dots + 2, lo, INT64_MAX, max) < 0)
        return -1;
    return *min <= *max ? 0 : -1;
}

/* validate.COLUMN = regex:ERE | int:MIN..MAX | len:MIN..MAX | notnull */
int cfg_add_rule(struct route_conf *r, const char *column, const char *text, int line,
                 struct buf *why)
{
    struct rule rule = {.line = line};

    if (!cfg_is_ident(column)) {
        buf_puts(why, "column ");
        cfg_quote_value(why, column);
        buf_puts(why, " is not a name of letters, digits and _");
        return -1;
    }
    if (strcmp(text, "notnull") == 0) {
        rule.kind = RULE_NOTNULL;
    } else if (str_has_prefix(text, "regex:")) {
        rule.kind = RULE_REGEX;
        if (compile(&rule.re, text + 6, why) < 0)
            return -1;
    } else if (str_has_prefix(text, "int:")) {
        rule.kind = RULE_INT;
        if (parse_range(text + 4, INT64_MIN, &rule.min, &rule.max) < 0)
            goto bad_range;
    } else if (str_has_prefix(text, "len:")) {
        rule.kind = RULE_LEN;
        if (parse_range(text + 4, 0, &rule.min, &rule.max) < 0)
            goto bad_range;
    } else {
        cfg_quote_value(why, text);
        buf_puts(why, " is not regex:ERE, int:MIN..MAX, len:MIN..MAX or notnull");
        return -1;
    }
    rule.column = xstrdup(column);
    rule.text = xstrdup(text);
    r->rules = xrealloc(r->rules, (r->nrules + 1) * sizeof(*r->rules));
    r->rules[r->nrules++] = rule;
    return 0;
bad_range:
    cfg_quote_value(why, text);
    buf_puts(why, ": expected MIN..MAX with integers MIN <= MAX");
    return -1;
}

/* update.COLUMN = set | add | append | set_if_absent (mode = update) */
int cfg_add_update(struct route_conf *r, const char *column, const char *text, int line,
                   struct buf *why)
{
    static const char *const names[] = {"set", "add", "append", "set_if_absent"};
    struct col_update u = {.line = line};
    size_t i;

    if (!cfg_is_ident(column)) {
        buf_puts(why, "column ");
        cfg_quote_value(why, column);
        buf_puts(why, " is not a name of letters, digits and _");
        return -1;
    }
    for (i = 0; i < ARRAY_SIZE(names) && strcmp(text, names[i]) != 0; i++)
        ;
    if (i == ARRAY_SIZE(names)) {
        cfg_quote_value(why, text);
        buf_puts(why, " is not set, add, append or set_if_absent");
        return -1;
    }
    for (size_t k = 0; k < r->nupdates; k++) {
        if (strcmp(r->updates[k].column, column) == 0) {
            buf_printf(why, "column %s already has an update action", column);
            return -1;
        }
    }
    u.action = (enum update_action)i;
    u.column = xstrdup(column);
    r->updates = xrealloc(r->updates, (r->nupdates + 1) * sizeof(*r->updates));
    r->updates[r->nupdates++] = u;
    return 0;
}

void cfg_route_clear(struct route_conf *r)
{
    free(r->name);
    free(r->sink_name);
    free(r->bucket);
    free(r->match_prefix);
    free(r->match_suffix);
    if (r->match_regex)
        regfree(&r->regex);
    free(r->match_regex);
    free(r->table);
    free(r->json_path);
    strlist_free(&r->key);
    strlist_free(&r->columns);
    strlist_free(&r->null);
    free_types(r);
    for (size_t i = 0; i < r->nrules; i++) {
        if (r->rules[i].kind == RULE_REGEX)
            regfree(&r->rules[i].re);
        free(r->rules[i].column);
        free(r->rules[i].text);
    }
    free(r->rules);
    for (size_t i = 0; i < r->nupdates; i++)
        free(r->updates[i].column);
    free(r->updates);
    cfg_transform_clear(&r->transform);
    memset(r, 0, sizeof(*r));
}

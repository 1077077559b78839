/*
 * config.c: loads /etc/ingestd.conf into an immutable, refcounted snapshot.
 *
 * inih finds sections, keys and comments; our reader feeds it one whole line at a
 * time and keeps the raw line, because Debian's inih cuts lines at 200 bytes,
 * joins indented lines to the previous value and knows nothing of our quoting.
 * So the reader strips leading whitespace (indentation never continues a value),
 * hands inih only "[s]" or "name=", and the handler takes the section name and the
 * value from the raw line itself (any length; "quoted" values keep `;`, `#` and
 * outer spaces).
 * To learn where every section starts, even an empty one, the reader follows each
 * header with one synthetic line that the handler reads as "section begins here".
 *
 * Every error is collected, with its line, before giving up; secrets never appear
 * in them. What one value may be is in config_keys.c and config_route.c; the checks
 * between keys (a sink's type and required keys, a route's sink and columns) are here,
 * and a sink type's own rules for its values come from the checker main installs
 * (config_set_sink_checker): the configuration knows no database.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/config_int.h"
#include "base/log.h"

static atomic_uint_fast64_t generation_counter;
/* Written once by main before the first load. */
static config_sink_check_fn sink_checker;

struct loader {
    struct cfg_errs errs;
    FILE *fp;
    char *raw; /* getline buffer: the current line */
    size_t rawcap;
    const char *value; /* in raw: what follows '=' on the current key line */
    int lineno;
    bool section_event; /* the next read returns the synthetic line */
    bool synthetic;     /* inih is handling the synthetic line */
    bool header_error;  /* the last header was malformed: skip its section */
    char *header;       /* text between the brackets of the last good header */
    struct config *cfg;
    struct cfg_section *sections;
    size_t nsections;
    long cur; /* index into sections; -1 before the first header */
};

/*
 * The value after '=': `"..."` when the quotes enclose it all (a comment may
 * follow), else the text up to a `;` that follows whitespace, trimmed. The
 * character before the value counts, so `key = ; note` is empty (*by_comment
 * set) but `key=;` is ";".
 */
static char *extract_value(const char *after_eq, bool *quoted, bool *by_comment)
{
    const char *p = after_eq, *end;

    while (*p == ' ' || *p == '\t')
        p++;
    *quoted = false;
    *by_comment = *p == ';' && p > after_eq;
    if (*p == '"') {
        const char *close = strchr(p + 1, '"'), *rest;

        if (close) {
            for (rest = close + 1; *rest == ' ' || *rest == '\t'; rest++)
                ;
            if (*rest == '\0' || (*rest == ';' && rest > close + 1)) {
                *quoted = true;
                return xstrndup(p + 1, (size_t)(close - p - 1));
            }
        }
    }
    for (end = p; *end; end++) {
        if (*end == ';' && (end[-1] == ' ' || end[-1] == '\t'))
            break;
    }
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    return xstrndup(p, (size_t)(end - p));
}

static void line_error(struct loader *ld, const char *reason)
{
    cfg_error(&ld->errs, ld->lineno, NULL, NULL, "%s", reason);
}

/*
 * "[kind name]" with an optional comment after it; never echoes the line. inih
 * keeps at most 49 bytes of a section name, so it gets "[s]" and the header's
 * text stays in ld->header for the handler.
 */
static void prepare_header(struct loader *ld, char *s, char *str, int num)
{
    char *close = strchr(s, ']'), *rest;
    bool ok = close != NULL;

    for (char *p = s + 1; ok && p < close; p++)
        ok = isalnum((unsigned char)*p) || strchr("_.- \t", *p) != NULL;
    free(ld->header);
    ld->header = NULL;
    if (!ok) {
        line_error(ld, "malformed section header: expected [NAME] or [sink NAME]");
        ld->header_error = true;
    } else {
        for (rest = close + 1; *rest == ' ' || *rest == '\t'; rest++)
            ;
        if (*rest != '\0' && *rest != ';' && *rest != '#') {
            line_error(ld, "unexpected text after the section header");
            ld->header_error = true;
        }
        ld->header = xstrndup(s + 1, (size_t)(close - s - 1));
    }
    snprintf(str, (size_t)num, "[s]");
    ld->section_event = true;
}

/* "name = value": inih gets "name=" only, the value stays in ld->value. */
static void prepare_key(struct loader *ld, char *s, char *str, int num)
{
    char *eq = strchr(s, '='), *end;

    if (!eq) {
        line_error(ld, "expected KEY = VALUE");
        return;
    }
    for (end = eq; end > s && (end[-1] == ' ' || end[-1] == '\t'); end--)
        ;
    for (char *p = s; p < end; p++) {
        if (!isalnum((unsigned char)*p) && !strchr("_.-", *p)) {
            line_error(ld, "invalid key name: expected letters, digits, '_', '.' or '-'");
            return;
        }
    }
    if (end == s || end - s + 2 > num) {
        line_error(ld, end == s ? "missing key name" : "key name too long");
        return;
    }
    snprintf(str, (size_t)num, "%.*s=", (int)(end - s), s);
    ld->value = eq + 1;
}

static char *reader(char *str, int num, void *stream)
{
    struct loader *ld = stream;
    ssize_t n;
    char *s;

    if (ld->section_event) {
        ld->section_event = false;
        ld->synthetic = true;
        snprintf(str, (size_t)num, "section=");
        return str;
    }
    ld->synthetic = false;
    ld->header_error = false;
    n = getline(&ld->raw, &ld->rawcap, ld->fp);
    if (n < 0)
        return NULL;
    ld->lineno++;
    str[0] = '\0';
    while (n > 0 && (ld->raw[n - 1] == '\n' || ld->raw[n - 1] == '\r'))
        ld->raw[--n] = '\0';
    s = ld->raw;
    if (ld->lineno == 1 && str_has_prefix(s, "\xEF\xBB\xBF"))
        s += 3;
    if (strlen(ld->raw) != (size_t)n) {
        line_error(ld, "NUL byte in line");
        return str;
    }
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0' || *s == ';' || *s == '#')
        return str;
    if (*s == '[')
        prepare_header(ld, s, str, num);
    else
        prepare_key(ld, s, str, num);
    return str;
}

static struct cfg_section *cur_section(struct loader *ld)
{
    return ld->cur < 0 ? NULL : &ld->sections[ld->cur];
}

static void *section_base(struct loader *ld, const struct cfg_section *s)
{
    if (s->sec == SEC_SINK)
        return &ld->cfg->sinks[s->index];
    if (s->sec == SEC_ROUTE)
        return &ld->cfg->routes[s->index];
    return ld->cfg;
}

static const struct cfg_section *find_section(const struct loader *ld, enum cfg_sec sec,
                                              const char *label)
{
    for (size_t i = 0; i < ld->nsections; i++) {
        const struct cfg_section *s = &ld->sections[i];

        if (!s->skip && s->sec == sec && (!label || strcmp(s->label, label) == 0))
            return s;
    }
    return NULL;
}

/* Checks the header of the section just opened; returns -1 when its keys are to be skipped. */
static int check_header(struct loader *ld, struct cfg_section *s, const char *kind,
                        const char *name)
{
    const struct cfg_section *first;
    int sec = -1;

    for (int i = 0; i < SEC_COUNT; i++) {
        if (strcmp(kind, cfg_sec_names[i]) == 0)
            sec = i;
    }
    if (sec < 0) {
        cfg_error(&ld->errs, s->line, s->label, NULL,
                  "unknown section (expected ingestd, aws, sqs, http, sink NAME or route NAME)");
        return -1;
    }
    s->sec = (enum cfg_sec)sec;
    if (sec != SEC_SINK && sec != SEC_ROUTE && *name) {
        cfg_error(&ld->errs, s->line, s->label, NULL, "[%s] takes no name", kind);
        return -1;
    }
    if ((sec == SEC_SINK || sec == SEC_ROUTE) && !cfg_is_name(name)) {
        cfg_error(&ld->errs, s->line, s->label, NULL,
                  "expected [%s NAME] with a NAME of letters, digits, '_', '.' or '-'", kind);
        return -1;
    }
    first = find_section(ld, s->sec, s->label);
    if (first) {
        cfg_error(&ld->errs, s->line, s->label, NULL, "duplicate section (first on line %d)",
                  first->line);
        return -1;
    }
    return 0;
}

static void open_section(struct loader *ld, const char *header)
{
    char *copy = xstrdup(header), *kind = str_trim(copy), *name = kind;
    struct config *c = ld->cfg;
    struct cfg_section *s;
    struct buf why;

    while (*name && *name != ' ' && *name != '\t')
        name++;
    if (*name)
        *name++ = '\0';
    name = str_trim(name);
    ld->sections = xrealloc(ld->sections, (ld->nsections + 1) * sizeof(*ld->sections));
    ld->cur = (long)ld->nsections++;
    s = cur_section(ld);
    *s = (struct cfg_section){.line = ld->lineno,
                              .skip = true,
                              .key_line = xcalloc(cfg_nkeys, sizeof(int)),
                              .key_bad = xcalloc(cfg_nkeys, sizeof(bool))};
    s->label = *name ? xasprintf("%s %s", kind, name) : xstrdup(kind);
    if (ld->header_error || check_header(ld, s, kind, name) < 0)
        goto done;
    s->skip = false;
    buf_init(&why);
    if (s->sec == SEC_SINK) {
        c->sinks = xrealloc(c->sinks, (c->nsinks + 1) * sizeof(*c->sinks));
        s->index = c->nsinks++;
        c->sinks[s->index] = (struct sink_conf){.name = xstrdup(name), .line = s->line};
    } else if (s->sec == SEC_ROUTE) {
        c->routes = xrealloc(c->routes, (c->nroutes + 1) * sizeof(*c->routes));
        s->index = c->nroutes++;
        c->routes[s->index] = (struct route_conf){.name = xstrdup(name), .line = s->line};
        if (cfg_apply_defaults(SEC_ROUTE, &c->routes[s->index], &why) < 0)
            cfg_error(&ld->errs, s->line, s->label, NULL, "bad built-in default: %s", why.data);
    }
    buf_free(&why);
done:
    free(copy);
}

/* `key = ; note` where an empty value means nothing: say how to write a `;` value. */
static bool refuse_blank(struct loader *ld, struct cfg_section *s, const struct cfg_key *k,
                         const char *name, bool by_comment)
{
    if (!by_comment || cfg_key_blank_ok(k))
        return false;
    s->key_bad[cfg_key_index(k)] = true;
    if (k->set == cfg_set_char)
        cfg_error(&ld->errs, ld->lineno, s->label, name,
                  "empty value: ';' after whitespace starts a comment; to use ';', quote it: "
                  "%s = \";\"",
                  name);
    else
        cfg_error(&ld->errs, ld->lineno, s->label, name,
                  "empty value: ';' after whitespace starts a comment; write the value before "
                  "it, or quote a value that begins with ';' (%s = \";...\")",
                  name);
    return true;
}

static void set_key(struct loader *ld, struct cfg_section *s, const struct cfg_key *k,
                    const char *name)
{
    struct cfg_value v;
    bool by_comment;
    char *text = extract_value(ld->value, &v.quoted, &by_comment);
    struct buf why;
    int rc;

    if (refuse_blank(ld, s, k, name, by_comment)) {
        free(text);
        return;
    }
    buf_init(&why);
    v.text = text;
    if (!v.quoted && *text == '\0' && k->def && !(k->flags & CFG_LATE))
        v.text = k->def;
    if (k->flags & CFG_PREFIX)
        rc = (str_has_prefix(name, "update.") ? cfg_add_update : cfg_add_rule)(
            section_base(ld, s), strchr(name, '.') + 1, v.text, ld->lineno, &why);
    else
        rc = cfg_key_set(section_base(ld, s), k, &v, &why);
    if (rc < 0) {
        s->key_bad[cfg_key_index(k)] = true;
        cfg_error(&ld->errs, ld->lineno, s->label, name, "%s",
                  (k->flags & CFG_SECRET) ? "invalid value" : why.data);
    }
    explicit_bzero(text, strlen(text));
    free(text);
    buf_free(&why);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct loader *ld = user;
    struct cfg_section *s;
    const struct cfg_key *k;
    size_t i;

    (void)value;
    (void)section;
    if (ld->synthetic) {
        open_section(ld, ld->header ? ld->header : "?");
        return 1;
    }
    s = cur_section(ld);
    if (!s) {
        cfg_error(&ld->errs, ld->lineno, NULL, name, "key outside any [section]");
        return 1;
    }
    if (s->skip)
        return 1;
    k = cfg_key_find(s->sec, name);
    if (!k) {
        cfg_error(&ld->errs, ld->lineno, s->label, name, "unknown key");
        return 1;
    }
    i = cfg_key_index(k);
    if (s->key_line[i] && !(k->flags & CFG_REPEAT)) {
        cfg_error(&ld->errs, ld->lineno, s->label, name, "duplicate key (first on line %d)",
                  s->key_line[i]);
        return 1;
    }
    s->key_line[i] = ld->lineno;
    set_key(ld, s, k, name);
    return 1;
}

static const char *first_env(const char *a, const char *b, const char *fallback)
{
    const char *v = getenv(a);

    if (str_empty(v) && b)
        v = getenv(b);
    return str_empty(v) ? fallback : v;
}

static void check_global(struct loader *ld)
{
    struct config *c = ld->cfg;
    const struct cfg_section *aws = find_section(ld, SEC_AWS, NULL);
    const struct cfg_section *sqs = find_section(ld, SEC_SQS, NULL);
    bool akid = c->aws.access_key_id != NULL, secret = c->aws.secret_access_key != NULL;
    bool bad = cfg_key_bad(aws, "access_key_id") || cfg_key_bad(aws, "secret_access_key") ||
               cfg_key_bad(aws, "session_token");

    if (!c->aws.region)
        c->aws.region = xstrdup(first_env("AWS_REGION", "AWS_DEFAULT_REGION", "us-east-1"));
    if (!c->aws.profile)
        c->aws.profile = xstrdup(first_env("AWS_PROFILE", NULL, "default"));
    if (bad)
        akid = secret = true; /* already reported: do not add a second error */
    if (akid && !secret)
        cfg_error(&ld->errs, cfg_key_line(aws, "access_key_id"), "aws", "secret_access_key",
                  "required with access_key_id");
    if (secret && !akid)
        cfg_error(&ld->errs, cfg_key_line(aws, "secret_access_key"), "aws", "access_key_id",
                  "required with secret_access_key");
    if (c->aws.session_token && !(akid && secret))
        cfg_error(&ld->errs, cfg_key_line(aws, "session_token"), "aws", "session_token",
                  "needs access_key_id and secret_access_key");
    if (cfg_key_bad(sqs, "queue_url"))
        return;
    if (!c->sqs.queue_url && sqs)
        cfg_error(&ld->errs,
                  cfg_key_line(sqs, "queue_url") ? cfg_key_line(sqs, "queue_url") : sqs->line,
                  "sqs", "queue_url", "required");
    else if (!c->sqs.queue_url)
        cfg_error(&ld->errs, 0, "sqs", "queue_url", "required (there is no [sqs] section)");
}

void config_set_sink_checker(config_sink_check_fn fn)
{
    sink_checker = fn;
}

/*
 * What the sink's connection settings may say, by the rules of its type: every key set
 * in the section goes to the installed checker (a libpq connection string that parses,
 * a schema or database that is not a catalog, ...), before late defaults fill the keys
 * left empty, so that it sees an empty value as empty. A password file others can read
 * is only warned about: the operator may have reasons, and the daemon must still start.
 */
static void check_sink_connection(struct loader *ld, const struct cfg_section *s,
                                  const struct sink_conf *sk)
{
    struct stat st;

    for (size_t i = 0; sink_checker && i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        struct buf why;

        if (k->sec != SEC_SINK || !(k->sinks & SINK_BIT(sk->type)) || !s->key_line[i] ||
            s->key_bad[i])
            continue;
        buf_init(&why);
        if (sink_checker(sk, k->name, &why) < 0)
            cfg_error(&ld->errs, s->key_line[i], s->label, k->name, "%s",
                      (k->flags & CFG_SECRET) ? "invalid value" : why.data);
        buf_free(&why);
    }
    if (sk->password_file && stat(sk->password_file, &st) == 0 &&
        (st.st_mode & (S_IRGRP | S_IROTH)))
        log_warn("%s:%d: [%s] password_file %s is readable by %s (mode %04o): "
                 "chmod 600 it",
                 ld->errs.file, cfg_key_line(s, "password_file"), s->label, sk->password_file,
                 (st.st_mode & S_IROTH) ? "others" : "its group", (unsigned)(st.st_mode & 07777));
}

static void check_sink(struct loader *ld, const struct cfg_section *s)
{
    static const char *const required[] = {"conninfo", "database", NULL, "queue_url"};
    static const char *const passwords[] = {"password", "password_file", "password_secret"};
    struct sink_conf *sk = section_base(ld, s);
    const char *type, *req;
    int first_pass = 0;

    if (cfg_key_bad(s, "type"))
        return;
    if (!cfg_key_line(s, "type")) {
        cfg_error(&ld->errs, s->line, s->label, "type",
                  "required (postgres | mysql | dynamodb | sqs)");
        return;
    }
    type = cfg_sink_type_names[sk->type];
    check_sink_connection(ld, s, sk);
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        struct cfg_value v = {k->def, false};
        struct buf why;

        if (k->sec != SEC_SINK)
            continue;
        if (!(k->sinks & SINK_BIT(sk->type))) {
            if (s->key_line[i])
                cfg_error(&ld->errs, s->key_line[i], s->label, k->name,
                          "not valid for a sink of type %s", type);
            continue;
        }
        if (!(k->flags & CFG_LATE))
            continue;
        /* Unset is NULL or 0; every late default is a string, the port or a size. */
        if (k->type == CT_INT    ? *(int *)((char *)sk + k->off) != 0
            : k->type == CT_SIZE ? *(int64_t *)((char *)sk + k->off) != 0
                                 : *(char **)((char *)sk + k->off) != NULL)
            continue;
        buf_init(&why);
        if (cfg_key_set(sk, k, &v, &why) < 0)
            cfg_error(&ld->errs, s->line, s->label, k->name, "bad built-in default: %s", why.data);
        buf_free(&why);
    }
    req = required[sk->type];
    if (req && !cfg_key_bad(s, req) && !*(char **)((char *)sk + cfg_key_find(SEC_SINK, req)->off))
        cfg_error(&ld->errs, cfg_key_line(s, req) ? cfg_key_line(s, req) : s->line, s->label, req,
                  "required for a %s sink", type);
    for (size_t i = 0; i < ARRAY_SIZE(passwords); i++) {
        int line = cfg_key_line(s, passwords[i]);

        if (line && (first_pass == 0 || line < first_pass))
            first_pass = line;
    }
    for (size_t i = 0; i < ARRAY_SIZE(passwords); i++) {
        int line = cfg_key_line(s, passwords[i]);

        if (line && line != first_pass)
            cfg_error(&ld->errs, line, s->label, passwords[i],
                      "only one of password, password_file and password_secret may be set");
    }
}

/* Columns named by key/types/validate must exist when the column list is explicit. */
static void check_known_columns(const struct route_conf *r, const struct cfg_section *s,
                                struct cfg_errs *e)
{
    /* key and types name what reaches the sink: the transform's output_columns when given. */
    const struct strlist *out = r->transform.output_columns.n ? &r->transform.output_columns
                                                              : &r->columns;
    const char *out_name = out == &r->columns ? "columns" : "output_columns";

    for (size_t i = 0; i < r->key.n && out->n; i++) {
        if (!strlist_contains(out, r->key.v[i]))
            cfg_error(e, cfg_key_line(s, "key"), s->label, "key", "column %s is not in %s",
                      r->key.v[i], out_name);
    }
    for (size_t i = 0; i < r->ntypes && out->n; i++) {
        if (!strlist_contains(out, r->types[i].column))
            cfg_error(e, cfg_key_line(s, "types"), s->label, "types", "column %s is not in %s",
                      r->types[i].column, out_name);
    }
    for (size_t i = 0; i < r->nrules && r->columns.n; i++) {
        char key[80];

        if (strlist_contains(&r->columns, r->rules[i].column))
            continue;
        snprintf(key, sizeof(key), "validate.%s", r->rules[i].column);
        cfg_error(e, r->rules[i].line, s->label, key, "column %s is not in columns",
                  r->rules[i].column);
    }
}

/* output_columns belongs to a transform; the script is read and compiled now, so that a
 * syntax error is the configuration's error (with both lines) and never a load's. */
static void check_transform(const struct config *c, struct route_conf *r,
                            const struct cfg_section *s, struct cfg_errs *e)
{
    struct buf why;

    if (r->transform.output_columns.n && !r->transform.path)
        cfg_error(e, cfg_key_line(s, "output_columns"), s->label, "output_columns",
                  "applies to routes with a transform only");
    if (!r->transform.path)
        return;
    buf_init(&why);
    if (cfg_transform_load(c->path, &r->transform, &why) < 0)
        cfg_error(e, cfg_key_line(s, "transform"), s->label, "transform", "%s", why.data);
    buf_free(&why);
}

/* `sink = a, b`: each name a [sink] section, none twice, at most ROUTE_MAX_SINKS. */
static void resolve_sinks(const struct config *c, struct route_conf *r, const struct cfg_section *s,
                          struct cfg_errs *e)
{
    int line = cfg_key_line(s, "sink");
    const char *p = r->sink_name;

    r->nsinks = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char name[256];
        const struct sink_conf *sk;

        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 0 || n >= sizeof name) {
            cfg_error(e, line, s->label, "sink", "%s sink name in the list",
                      n ? "an overlong" : "an empty");
            return;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        sk = config_find_sink(c, name);
        if (!sk) {
            cfg_error(e, line, s->label, "sink", "no [sink %s] section", name);
        } else if (r->nsinks == ROUTE_MAX_SINKS) {
            cfg_error(e, line, s->label, "sink", "at most %d sinks", ROUTE_MAX_SINKS);
            return;
        } else {
            for (size_t i = 0; i < r->nsinks; i++) {
                if (r->sinks[i] == sk) {
                    cfg_error(e, line, s->label, "sink", "sink %s named twice", name);
                    return;
                }
            }
            r->sinks[r->nsinks++] = sk;
        }
        if (!end)
            break;
        p = end + 1;
        if (!*p)
            cfg_error(e, line, s->label, "sink", "an empty sink name in the list");
    }
    r->sink = r->nsinks ? r->sinks[0] : NULL;
}

/* mode = update turns rows into DynamoDB UpdateItem operations: DynamoDB sinks only;
 * update.COLUMN belongs to it and never names a key column. */
static void check_update_mode(const struct route_conf *r, const struct cfg_section *s,
                              struct cfg_errs *e)
{
    if (r->mode != MODE_UPDATE) {
        if (r->nupdates)
            cfg_error(e, r->updates[0].line, s->label, "update.COLUMN",
                      "applies to mode = update only");
        return;
    }
    for (size_t i = 0; i < r->nsinks; i++) {
        if (r->sinks[i]->type != SINK_DYNAMODB && r->sinks[i]->type != SINK_SQS) {
            cfg_error(e, cfg_key_line(s, "mode"), s->label, "mode",
                      "update applies to DynamoDB sinks (and SQS sinks beside them, which "
                      "send each row as in append); sink %s is %s",
                      r->sinks[i]->name, cfg_sink_type_names[r->sinks[i]->type]);
            break;
        }
    }
    for (size_t i = 0; i < r->nupdates; i++) {
        char key[160];
        const struct strlist *out = r->transform.output_columns.n ? &r->transform.output_columns
                                                                  : &r->columns;

        snprintf(key, sizeof key, "update.%s", r->updates[i].column);
        if (strlist_contains(&r->key, r->updates[i].column))
            cfg_error(e, r->updates[i].line, s->label, key,
                      "%s is a key column: it names the item and is never updated",
                      r->updates[i].column);
        else if (out->n && !strlist_contains(out, r->updates[i].column))
            cfg_error(e, r->updates[i].line, s->label, key, "column %s is not in %s",
                      r->updates[i].column, out == &r->columns ? "columns" : "output_columns");
    }
}

/* Resolves the route's sinks and checks the rules between its keys. */
static void check_route(struct config *c, struct route_conf *r, const struct cfg_section *s,
                        struct cfg_errs *e)
{
    bool text = r->format == FORMAT_CSV || r->format == FORMAT_TSV;

    if (!r->sink_name)
        cfg_error(e, s->line, s->label, "sink", "required");
    else
        resolve_sinks(c, r, s, e);
    if (r->delimiter == '\0')
        r->delimiter = r->format == FORMAT_TSV ? '\t' : ',';
    if (r->delimiter == r->quote)
        cfg_error(e,
                  cfg_key_line(s, "delimiter") ? cfg_key_line(s, "delimiter")
                                               : cfg_key_line(s, "quote"),
                  s->label, cfg_key_line(s, "delimiter") ? "delimiter" : "quote",
                  "delimiter and quote are the same character");
    check_update_mode(r, s, e);
    for (size_t i = 0; i < r->nsinks; i++) {
        const struct sink_conf *sk = r->sinks[i];

        if (r->mode == MODE_UPSERT && r->key.n == 0 &&
            (sk->type == SINK_POSTGRES || sk->type == SINK_MYSQL)) {
            cfg_error(e, cfg_key_line(s, "mode"), s->label, "key",
                      "required with mode = upsert for a %s sink", cfg_sink_type_names[sk->type]);
            break;
        }
    }
    if (r->on_error == ON_ERROR_SKIP_ROW && r->max_errors == 0 && !cfg_key_bad(s, "max_errors"))
        cfg_error(e,
                  cfg_key_line(s, "max_errors") ? cfg_key_line(s, "max_errors")
                                                : cfg_key_line(s, "on_error"),
                  s->label, "max_errors",
                  "on_error = skip_row needs max_errors >= 1, the bad rows an object may have "
                  "before it is rejected whole (with 0 the first bad row rejects it)");
    if (text && !r->header && r->columns.n == 0)
        cfg_error(e, cfg_key_line(s, "header"), s->label, "columns",
                  "required with header = false");
    if (r->json_path && r->format != FORMAT_JSON)
        cfg_error(e, cfg_key_line(s, "json_path"), s->label, "json_path",
                  "applies to format = json only");
    else if (r->json_path && (r->json_path[0] == '.' || strstr(r->json_path, "..") ||
                              r->json_path[strlen(r->json_path) - 1] == '.'))
        cfg_error(e, cfg_key_line(s, "json_path"), s->label, "json_path",
                  "member names joined by '.', none empty");
    check_known_columns(r, s, e);
    check_transform(c, r, s, e);
}

bool config_listen_is_loopback(const char *addr)
{
    if (!addr)
        return true;
    return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "[::1]:", 6) == 0 ||
           strncmp(addr, "localhost:", 10) == 0;
}

/* The ingest listener: tokens unless it is loopback-only and auth = none; TLS in pairs. */
static void check_http(struct loader *ld)
{
    const struct config *c = ld->cfg;
    const struct cfg_section *h = find_section(ld, SEC_HTTP, NULL);
    int line = h ? h->line : 0;

    /* A request names its route, never its table: the table must not come from a key. */
    for (size_t i = 0; i < c->nroutes; i++)
        if (c->routes[i].http && (!c->routes[i].table || strchr(c->routes[i].table, '{')))
            cfg_error(&ld->errs, c->routes[i].line, c->routes[i].name, "table",
                      "a route with http = true needs a table without {...} placeholders");
    if (!c->http.listen)
        return;
    if (c->http.auth == HTTP_AUTH_NONE && !config_listen_is_loopback(c->http.listen))
        cfg_error(&ld->errs, cfg_key_line(h, "auth"), "http", "auth",
                  "none is only allowed on a loopback listen address");
    if (c->http.auth == HTTP_AUTH_TOKEN && !c->http.token_file)
        cfg_error(&ld->errs, line, "http", "token_file",
                  "required (or auth = none on a loopback listen address)");
    if (!c->http.tls_cert != !c->http.tls_key)
        cfg_error(&ld->errs, line, "http", c->http.tls_cert ? "tls_key" : "tls_cert",
                  "tls_cert and tls_key go together");
}

static void check_all(struct loader *ld)
{
    check_global(ld);
    check_http(ld);
    for (size_t i = 0; i < ld->nsections; i++) {
        if (!ld->sections[i].skip && ld->sections[i].sec == SEC_SINK)
            check_sink(ld, &ld->sections[i]);
    }
    for (size_t i = 0; i < ld->nsections; i++) {
        const struct cfg_section *s = &ld->sections[i];

        if (!s->skip && s->sec == SEC_ROUTE)
            check_route(ld->cfg, section_base(ld, s), s, &ld->errs);
    }
}

static void config_free(struct config *c)
{
    for (size_t i = 0; i < c->nsinks; i++)
        cfg_sink_clear(&c->sinks[i]);
    free(c->sinks);
    for (size_t i = 0; i < c->nroutes; i++)
        cfg_route_clear(&c->routes[i]);
    free(c->routes);
    free(c->path);
    free(c->ingestd.metrics_listen);
    free(c->aws.region);
    free(c->aws.endpoint_url);
    free(c->aws.sqs_endpoint);
    free(c->aws.s3_endpoint);
    free(c->aws.dynamodb_endpoint);
    free(c->aws.secretsmanager_endpoint);
    free(c->aws.sts_endpoint);
    free(c->aws.access_key_id);
    if (c->aws.secret_access_key)
        explicit_bzero(c->aws.secret_access_key, strlen(c->aws.secret_access_key));
    free(c->aws.secret_access_key);
    if (c->aws.session_token)
        explicit_bzero(c->aws.session_token, strlen(c->aws.session_token));
    free(c->aws.session_token);
    free(c->aws.profile);
    free(c->aws.ca_file);
    free(c->sqs.queue_url);
    free(c->sqs.dlq_url);
    free(c->http.listen);
    free(c->http.token_file);
    free(c->http.tls_cert);
    free(c->http.tls_key);
    free(c);
}

void cfg_sink_clear(struct sink_conf *s)
{
    free(s->name);
    free(s->conninfo);
    free(s->schema);
    free(s->host);
    free(s->user);
    free(s->database);
    free(s->ssl_mode);
    free(s->ssl_ca);
    if (s->password)
        explicit_bzero(s->password, strlen(s->password));
    free(s->password);
    free(s->password_file);
    free(s->password_secret);
    free(s->queue_url);
    free(s->ledger_table);
    memset(s, 0, sizeof(*s));
}

static struct config *load_stream(FILE *fp, const char *name, struct strlist *errors)
{
    struct loader ld = {.errs = {.file = name, .list = errors}, .fp = fp, .cur = -1};
    struct config *c = xcalloc(1, sizeof(*c));
    struct buf why;
    int rc;

    ld.cfg = c;
    c->path = xstrdup(name);
    buf_init(&why);
    for (int sec = SEC_INGESTD; sec <= SEC_HTTP; sec++) {
        if (cfg_apply_defaults((enum cfg_sec)sec, c, &why) < 0)
            cfg_error(&ld.errs, 0, cfg_sec_names[sec], NULL, "bad built-in default: %s", why.data);
    }
    buf_free(&why);
    rc = ini_parse_stream(reader, &ld, handler, &ld);
    if (ferror(fp))
        cfg_error(&ld.errs, ld.lineno + 1, NULL, NULL, "read error: %s", strerror(errno));
    else if (rc != 0 && ld.errs.count == 0)
        cfg_error(&ld.errs, 0, NULL, NULL, "syntax error");
    check_all(&ld);
    if (ld.raw)
        explicit_bzero(ld.raw, ld.rawcap);
    free(ld.raw);
    free(ld.header);
    for (size_t i = 0; i < ld.nsections; i++) {
        free(ld.sections[i].label);
        free(ld.sections[i].key_line);
        free(ld.sections[i].key_bad);
    }
    free(ld.sections);
    if (ld.errs.count) {
        config_free(c);
        return NULL;
    }
    atomic_init(&c->refs, 1);
    c->generation = atomic_fetch_add(&generation_counter, 1) + 1;
    if (c->nroutes == 0)
        log_warn("%s: no [route] sections: every event will be deleted as ignored", name);
    return c;
}

struct config *config_load(const char *path, struct strlist *errors)
{
    struct cfg_errs e = {.file = path, .list = errors};
    struct config *c;
    FILE *fp = fopen(path, "re");

    if (!fp) {
        cfg_error(&e, 0, NULL, NULL, "cannot open: %s", strerror(errno));
        return NULL;
    }
    c = load_stream(fp, path, errors);
    fclose(fp);
    return c;
}

struct config *config_load_buffer(const char *name, const char *text, size_t len,
                                  struct strlist *errors)
{
    struct cfg_errs e = {.file = name, .list = errors};
    struct config *c;
    FILE *fp;

    /* fmemopen() refuses an empty buffer; an empty file is still a file. */
    fp = len ? fmemopen((void *)text, len, "r") : fopen("/dev/null", "re");
    if (!fp) {
        cfg_error(&e, 0, NULL, NULL, "cannot read: %s", strerror(errno));
        return NULL;
    }
    c = load_stream(fp, name, errors);
    fclose(fp);
    return c;
}

struct config *config_ref(struct config *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

void config_unref(struct config *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        config_free(c);
}

const struct sink_conf *config_find_sink(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->nsinks; i++) {
        if (strcmp(c->sinks[i].name, name) == 0)
            return &c->sinks[i];
    }
    return NULL;
}

const struct route_conf *config_find_route(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->nroutes; i++) {
        if (strcmp(c->routes[i].name, name) == 0)
            return &c->routes[i];
    }
    return NULL;
}

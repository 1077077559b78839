/*
 * config_int.h: internals shared by the configuration loader and its checks between
 * keys (config.c), the key table and its value parsers (config_keys.c), the route
 * parsers (config_route.c) and what they all use (config_value.c). Calls run one way:
 * config.c -> config_keys.c -> config_route.c -> config_value.c. Nothing outside those
 * files includes it, except the key-table test.
 *
 * The key table is the single description of the file format: every key's section,
 * type, default and destination. The loader applies defaults from it, the parsers
 * write through its offsets, and the documentation test lists it.
 */
#ifndef INGESTD_CONFIG_INT_H
#define INGESTD_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/util.h"

enum cfg_sec { SEC_INGESTD, SEC_AWS, SEC_SQS, SEC_HTTP, SEC_SINK, SEC_ROUTE, SEC_COUNT };

enum cfg_type {
    CT_INT,    /* int in [min, max] */
    CT_I64,    /* int64_t in [min, max] */
    CT_BOOL,   /* bool: true/false/yes/no/on/off/1/0 */
    CT_STR,    /* char *; empty = NULL */
    CT_URL,    /* char *, http:// or https:// URL; empty = NULL */
    CT_ENUM,   /* enum stored as int: index of the value in choices */
    CT_CHOICE, /* char *, one of choices */
    CT_LIST,   /* struct strlist of column names, comma-separated */
    CT_SIZE,   /* int64_t bytes in [min, max]: N, or N with K, M or G (powers of 1024) */
    CT_FN,     /* parsed by key->set */
};

#define CFG_SECRET (1u << 0) /* never echoed in errors or logs */
#define CFG_REPEAT (1u << 1) /* may appear more than once in a section */
#define CFG_PREFIX (1u << 2) /* name up to its '.' is a prefix: validate.COLUMN */
#define CFG_LATE   (1u << 3) /* default depends on other keys: applied after the section */

#define SINK_BIT(t) (1u << (t))
#define SINKS_SQL   (SINK_BIT(SINK_POSTGRES) | SINK_BIT(SINK_MYSQL))
#define SINKS_ALL   (SINKS_SQL | SINK_BIT(SINK_DYNAMODB) | SINK_BIT(SINK_SQS))

struct cfg_key;

/* A value as it appears after `=`: quotes removed when they enclosed it. */
struct cfg_value {
    const char *text;
    bool quoted;
};

/*
 * Parses v into the object at base. Returns 0, or -1 with the reason in why
 * (which may quote the value: the caller drops it for CFG_SECRET keys).
 * An empty unquoted value means "unset". Setters replace what was there before.
 */
typedef int (*cfg_setter)(void *base, const struct cfg_key *k, const struct cfg_value *v,
                          struct buf *why);

struct cfg_key {
    enum cfg_sec sec;
    const char *name;
    enum cfg_type type;
    const char *def;            /* default as written in the file; NULL: none */
    size_t off;                 /* into struct config, sink_conf or route_conf */
    int64_t min, max;           /* CT_INT, CT_I64 */
    const char *const *choices; /* CT_ENUM, CT_CHOICE: NULL-terminated */
    cfg_setter set;             /* CT_FN */
    unsigned flags;             /* CFG_* */
    unsigned sinks;             /* SEC_SINK: SINK_BIT()s of the types the key applies to */
};

extern const struct cfg_key cfg_keys[];
extern const size_t cfg_nkeys;

extern const char *const cfg_sec_names[SEC_COUNT];
extern const char *const cfg_sink_type_names[];

/* The key named `name` in section sec, or NULL. */
const struct cfg_key *cfg_key_find(enum cfg_sec sec, const char *name);
size_t cfg_key_index(const struct cfg_key *k);
int cfg_key_set(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why);
/* Whether an empty value may stand for "not set" when a comment emptied it (`key = ; note`):
 * false where empty means nothing of its own and the `;` was more likely the value. */
bool cfg_key_blank_ok(const struct cfg_key *k);
/* Sets every non-late default of section sec on base; returns -1 if one fails (a bug). */
int cfg_apply_defaults(enum cfg_sec sec, void *base, struct buf *why);

/* Frees what the parsers allocated inside a route or sink (not the struct itself). */
void cfg_route_clear(struct route_conf *r);
void cfg_sink_clear(struct sink_conf *s);

/* Where errors go while one file is loaded: "FILE:LINE: [section] key: reason". */
struct cfg_errs {
    const char *file;
    struct strlist *list; /* may be NULL: errors are only counted */
    size_t count;
};

/* line <= 0: no line; section/key NULL: left out (config_value.c). */
void cfg_error(struct cfg_errs *e, int line, const char *section, const char *key, const char *fmt,
               ...) PRINTF_LIKE(5, 6);

/* One [section] of the file as the loader saw it. */
struct cfg_section {
    enum cfg_sec sec;
    char *label;   /* "route orders": the header without brackets, for errors */
    int line;      /* of the header */
    size_t index;  /* SEC_SINK / SEC_ROUTE: into cfg->sinks / cfg->routes */
    bool skip;     /* the header was wrong: its keys are ignored */
    int *key_line; /* cfg_nkeys entries: line where the key was set, 0 = not set */
    bool *key_bad; /* cfg_nkeys entries: its value was rejected (already reported) */
};

/* The line where key `name` was set in section s; 0 when it was not (config_keys.c). */
int cfg_key_line(const struct cfg_section *s, const char *name);
/* Whether key `name` had a bad value: checks that depend on it stay quiet. */
bool cfg_key_bad(const struct cfg_section *s, const char *name);

/* Small validators shared by the parsers (config_value.c; cfg_quote_value in config.h). */
bool cfg_is_ident(const char *s); /* [A-Za-z0-9_]+, at most 63 bytes */
bool cfg_is_name(const char *s);  /* section names: [A-Za-z0-9_.-]+ */
int cfg_split_list(const char *s, struct strlist *out, struct buf *why);

/* Route parsers (config_route.c). */
int cfg_set_table(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why);
int cfg_set_types(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why);
int cfg_set_null(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why);
int cfg_set_match_regex(void *base, const struct cfg_key *k, const struct cfg_value *v,
                        struct buf *why);
int cfg_add_rule(struct route_conf *r, const char *column, const char *text, int line,
                 struct buf *why);
int cfg_add_update(struct route_conf *r, const char *column, const char *text, int line,
                   struct buf *why);
int cfg_set_char(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why);

/* Transform keys (config_transform.c). */
int cfg_set_transform_timeout(void *base, const struct cfg_key *k, const struct cfg_value *v,
                              struct buf *why);
/* Reads and compiles the route's script (config_set_transform_checker's function): 0, or -1
 * with the reason in why. */
int cfg_transform_load(const char *conf_path, struct transform_conf *t, struct buf *why);
void cfg_transform_clear(struct transform_conf *t);

#endif

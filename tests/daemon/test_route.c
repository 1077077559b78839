/*
 * test_route.c: first-match routing, table templates and identifier quoting.
 */
#include <stdlib.h>
#include <string.h>

#include "sinks/ident.h"
#include "daemon/route.h"
#include "../tap.h"
#include "base/util.h"

static struct route_conf mk(const char *name, const char *bucket, const char *prefix,
                            const char *suffix, const char *re, const char *table)
{
    struct route_conf r;
    memset(&r, 0, sizeof(r));
    r.name = (char *)name;
    r.bucket = (char *)bucket;
    r.match_prefix = (char *)prefix;
    r.match_suffix = (char *)suffix;
    r.match_regex = (char *)re;
    if (re && regcomp(&r.regex, re, REG_EXTENDED | REG_NOSUB) != 0)
        abort();
    r.table = (char *)table;
    return r;
}

DEF_TEST(first_match_wins)
{
    struct route_conf routes[] = {
        mk("only_b2", "b2", NULL, NULL, NULL, "x"),
        mk("orders", NULL, "data/", ".csv", NULL, "x"),
        mk("gz", "", "data/", NULL, "\\.csv\\.(gz|zst)$", "x"),
        mk("dated", NULL, NULL, NULL, "^in/[0-9]{4}/", "x"),
        mk("anything", NULL, NULL, NULL, NULL, "x"),
    };
    struct config cfg;
    /* clang-format off */
    static const struct {
        const char *bucket, *key, *route;
    } cases[] = {
        {"b2", "data/a.csv", "only_b2"},
        {"b1", "data/a.csv", "orders"},
        {"b1", "data/a.CSV", "anything"},     /* suffixes are case-sensitive */
        {"b1", "Data/a.csv", "anything"},
        {"b1", "data/x/a.csv.gz", "gz"},
        {"b1", "data/a.csv.gzip", "anything"},
        {"b1", "in/2024/a.tsv", "dated"},
        {"b1", "x/in/2024/a.tsv", "anything"},
        {"b3", "", "anything"},
    };
    /* clang-format on */

    memset(&cfg, 0, sizeof(cfg));
    cfg.routes = routes;
    cfg.nroutes = ARRAY_SIZE(routes);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const struct route_conf *r = route_match(&cfg, cases[i].bucket, cases[i].key);
        EXPECT_EQ_STR(cases[i].route, r ? r->name : "(none)");
    }
    cfg.nroutes = 4; /* without the catch-all */
    EXPECT_TRUE(route_match(&cfg, "b1", "other/a.csv") == NULL);
    cfg.nroutes = 0;
    EXPECT_TRUE(route_match(&cfg, "b1", "data/a.csv") == NULL);
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++)
        if (routes[i].match_regex)
            regfree(&routes[i].regex);
}

static char *expand(const char *tmpl, const char *bucket, const char *key)
{
    struct route_conf r = mk("t", NULL, NULL, NULL, NULL, tmpl);
    struct ierr e;
    char *out = NULL;
    memset(&e, 0, sizeof(e));
    if (route_expand_table(&r, bucket, key, &out, &e) < 0) {
        if (e.cls != IERR_PERMANENT || out != NULL)
            return xstrdup("bad error");
        return xasprintf("error: %s", e.reason);
    }
    return out;
}

#define EXPECT_EXPAND(tmpl, bucket, key, want)                                                     \
    do {                                                                                           \
        char *got_ = expand(tmpl, bucket, key);                                                    \
        EXPECT_EQ_STR(want, got_);                                                                 \
        free(got_);                                                                                \
    } while (0)

DEF_TEST(templates)
{
    EXPECT_EXPAND("{basename}", "b", "data/2024/orders.csv.gz", "orders");
    EXPECT_EXPAND("{basename}", "b", "orders.csv", "orders");
    EXPECT_EXPAND("{basename}", "b", "orders", "orders");
    EXPECT_EXPAND("{basename}", "b", "data/data.csv", "data");
    EXPECT_EXPAND("{basename}", "b", "customers_20230828.csv", "customers_20230828");
    EXPECT_EXPAND("{basename}", "b", "a.b.csv", "a");
    EXPECT_EXPAND("{basename}", "b", "Orders.CSV", "Orders");
    EXPECT_EXPAND("{dirname}", "b", "data/2024/sales/x.csv", "sales");
    EXPECT_EXPAND("{dirname}_{basename}", "b", "in/orders/x.csv", "orders_x");
    EXPECT_EXPAND("raw_{bucket}", "my_bucket", "x.csv", "raw_my_bucket");
    EXPECT_EXPAND("{key}", "b", "orders", "orders");
    EXPECT_EXPAND("staging.{basename}", "b", "a/b/items.csv", "staging.items");
    EXPECT_EXPAND("{dirname}.{basename}", "b", "sales/items.csv", "sales.items");
    EXPECT_EXPAND("fixed", "b", "whatever/it/is.csv", "fixed");
    EXPECT_EXPAND("_{basename}", "b", "2024.csv", "_2024");
    EXPECT_EXPAND("t_{basename}", "b",
                  "a23456789012345678901234567890123456789012345678901234567890."
                  "csv",
                  "t_a23456789012345678901234567890123456789012345678901234567890");
}

DEF_TEST(invalid_expansions)
{
    const char *tail = ", not a valid table name (letters, digits and _, not starting with a "
                       "digit, at most 63 characters; optionally schema.table)";
    char *want;

#define EXPECT_BAD(tmpl, key, value)                                                               \
    do {                                                                                           \
        want = xasprintf("error: key \"%s\": route t: table template \"%s\" gives \"%s\"%s", key,  \
                         tmpl, value, tail);                                                       \
        EXPECT_EXPAND(tmpl, "b", key, want);                                                       \
        free(want);                                                                                \
    } while (0)

    EXPECT_BAD("{basename}", "data/my-file.csv", "my-file");
    EXPECT_BAD("{basename}", "data/2024.csv", "2024");
    EXPECT_BAD("{basename}", "data/.hidden.csv", ".hidden");
    EXPECT_BAD("{basename}", "data/", "");
    EXPECT_BAD("{basename}", "data/caf\xc3\xa9.csv", "caf\xc3\xa9");
    EXPECT_BAD("{basename}", "data/two words.csv", "two words");
    EXPECT_BAD("{dirname}", "top.csv", "");
    EXPECT_BAD("{key}", "data/x.csv", "data/x.csv");
    EXPECT_BAD("s.{key}", "a.b", "s.a.b");
    want = xasprintf("error: key \"x.csv\": route t: table template \"{bucket}\" gives "
                     "\"my-bucket\"%s",
                     tail);
    EXPECT_EXPAND("{bucket}", "my-bucket", "x.csv", want);
    free(want);
    EXPECT_BAD("{basename}", "a234567890123456789012345678901234567890123456789012345678901234.csv",
               "a234567890123456789012345678901234567890123456789012345678901234");
    EXPECT_BAD("{nope}", "x.csv", "");
    EXPECT_BAD("{basename", "x.csv", "");
#undef EXPECT_BAD
    /* {bucket} with a bucket that is an identifier is fine */
    EXPECT_EXPAND("{bucket}", "bkt", "x.csv", "bkt");
    /* no template at all: {basename} */
    EXPECT_EXPAND(NULL, "b", "dir/t1.csv", "t1");
}

static char *quoted(const char *name, enum ident_dialect d, bool table)
{
    struct buf b;
    buf_init(&b);
    if (table)
        ident_quote_table(&b, name, d);
    else
        ident_quote(&b, name, d);
    return buf_steal(&b);
}

#define EXPECT_QUOTE(name, d, table, want)                                                         \
    do {                                                                                           \
        char *got_ = quoted(name, d, table);                                                       \
        EXPECT_EQ_STR(want, got_);                                                                 \
        free(got_);                                                                                \
    } while (0)

DEF_TEST(identifiers)
{
    EXPECT_TRUE(ident_valid("a", 1));
    EXPECT_TRUE(ident_valid("_", 1));
    EXPECT_TRUE(ident_valid("Orders_2024", 11));
    EXPECT_TRUE(!ident_valid("", 0));
    EXPECT_TRUE(!ident_valid("1a", 2));
    EXPECT_TRUE(!ident_valid("a-b", 3));
    EXPECT_TRUE(!ident_valid("a b", 3));
    EXPECT_TRUE(!ident_valid("\xc3\xa9", 2));
    EXPECT_TRUE(ident_valid_table("s.t"));
    EXPECT_TRUE(!ident_valid_table("s.t.u"));
    EXPECT_TRUE(!ident_valid_table(".t"));
    EXPECT_TRUE(!ident_valid_table("s."));

    EXPECT_QUOTE("plain", IDENT_PG, false, "\"plain\"");
    EXPECT_QUOTE("we\"ird", IDENT_PG, false, "\"we\"\"ird\"");
    EXPECT_QUOTE(" WITHDRAWAL AMT ", IDENT_PG, false, "\" WITHDRAWAL AMT \"");
    EXPECT_QUOTE("a`b\"c", IDENT_MYSQL, false, "`a``b\"c`");
    EXPECT_QUOTE("a.b", IDENT_PG, false, "\"a.b\"");
    EXPECT_QUOTE("s.t", IDENT_PG, true, "\"s\".\"t\"");
    EXPECT_QUOTE("s.t", IDENT_MYSQL, true, "`s`.`t`");
    EXPECT_QUOTE("orders", IDENT_MYSQL, true, "`orders`");
}

int main(void)
{
    RUN_TEST(first_match_wins);
    RUN_TEST(templates);
    RUN_TEST(invalid_expansions);
    RUN_TEST(identifiers);
    return tap_done();
}

/*
 * test_config_keys.c: checks the configuration key table itself, and lists it.
 *
 * Without arguments: TAP tests that every default in the table is accepted by its
 * own parser, names are unique, flags are consistent. With --list: prints one
 * "SECTION KEY" line per key (from config_each_key) for tests/test_config_docs.py,
 * which compares the list with etc/ingestd.conf and man/ingestd.conf.5.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/config_int.h"
#include "base/log.h"
#include "../tap.h"

static void print_key(const char *section, const char *key, void *arg)
{
    (void)arg;
    printf("%s %s\n", section, key);
}

DEF_TEST(names_are_unique_and_well_formed)
{
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];

        for (const char *p = k->name; *p; p++) {
            if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_' &&
                !(k->flags & CFG_PREFIX))
                TAP_FAIL("key %s: bad character '%c'", k->name, *p);
        }
        for (size_t j = i + 1; j < cfg_nkeys; j++) {
            if (cfg_keys[j].sec == k->sec && strcmp(cfg_keys[j].name, k->name) == 0)
                TAP_FAIL("key %s listed twice in [%s]", k->name, cfg_sec_names[k->sec]);
        }
        EXPECT_TRUE(cfg_key_find(k->sec, k->name) == k);
    }
}

/* Parses every default into a scratch object of the key's section. */
DEF_TEST(every_default_is_accepted_by_its_parser)
{
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        struct cfg_value v = {k->def, false};
        struct config c = {0};
        struct sink_conf s = {0};
        struct route_conf r = {0};
        void *base = k->sec == SEC_SINK ? (void *)&s : k->sec == SEC_ROUTE ? (void *)&r : &c;
        struct buf why;

        if (!k->def)
            continue;
        buf_init(&why);
        if (cfg_key_set(base, k, &v, &why) < 0)
            TAP_FAIL("default of [%s] %s (%s) rejected: %s", cfg_sec_names[k->sec], k->name, k->def,
                     why.data);
        buf_free(&why);
        cfg_sink_clear(&s);
        cfg_route_clear(&r);
        /* global defaults are numbers or empty strings: nothing to free (LSan would tell) */
    }
}

DEF_TEST(flags_are_consistent)
{
    static const char *const secrets[] = {"password", "secret_access_key", "session_token"};
    size_t nsecret = 0;

    for (size_t i = 0; i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];

        if (k->flags & CFG_SECRET) {
            bool known = false;

            for (size_t j = 0; j < ARRAY_SIZE(secrets); j++)
                known |= strcmp(secrets[j], k->name) == 0;
            EXPECT_TRUE(known);
            nsecret++;
        }
        if (k->sec == SEC_SINK)
            EXPECT_TRUE(k->sinks != 0 && (k->sinks & ~SINKS_ALL) == 0);
        else
            EXPECT_EQ_INT(0, k->sinks);
        if (k->type == CT_ENUM || k->type == CT_CHOICE)
            EXPECT_TRUE(k->choices != NULL);
        if (k->type == CT_FN && !(k->flags & CFG_PREFIX))
            EXPECT_TRUE(k->set != NULL);
        if (k->type == CT_INT || k->type == CT_I64)
            EXPECT_TRUE(k->min < k->max);
        if (k->flags & CFG_REPEAT)
            EXPECT_TRUE(k->flags & CFG_PREFIX);
    }
    EXPECT_EQ_INT(ARRAY_SIZE(secrets), nsecret);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        config_each_key(print_key, NULL);
        return 0;
    }
    log_force_stderr(true);
    RUN_TEST(names_are_unique_and_well_formed);
    RUN_TEST(every_default_is_accepted_by_its_parser);
    RUN_TEST(flags_are_consistent);
    return tap_done();
}

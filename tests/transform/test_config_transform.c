/*
 * test_config_transform.c: the route keys of a Lua transform: paths relative to the
 * configuration file, sizes and durations, output_columns against key and types, and the
 * script checked at load time (syntax error with both lines, missing file). In a build
 * configured --without-lua, a route with a transform is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "../tap.h"
#ifdef WITH_LUA
#include "transform/transform.h"
#endif
#include "base/util.h"

#define HEAD                                                                                       \
    "[sqs]\nqueue_url = http://127.0.0.1:4566/000000000000/q\n"                                    \
    "[sink p]\ntype = postgres\nconninfo = dbname=x\n"

static char dir[] = "/tmp/ingestd-test-config-transform-XXXXXX";

static void write_file(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");

    fputs(text, f);
    fclose(f);
    free(path);
}

/* Loads HEAD + route as DIR/t.conf; errors joined by '\n' into errs (when not NULL). */
static struct config *load(const char *route, struct buf *errs)
{
    struct strlist e = {0};
    char *path = xasprintf("%s/t.conf", dir);
    char *text = xasprintf("%s%s", HEAD, route);
    struct config *c;

    write_file("t.conf", text);
    c = config_load(path, &e);
    if (errs) {
        buf_reset(errs);
        for (size_t i = 0; i < e.n; i++)
            buf_printf(errs, "%s\n", e.v[i]);
    }
    strlist_free(&e);
    free(path);
    free(text);
    return c;
}

#ifdef WITH_LUA
DEF_TEST(keys_and_defaults)
{
    struct config *c;
    struct buf errs;
    char *file = xasprintf("%s/s.lua", dir);

    buf_init(&errs);
    write_file("s.lua", "function transform(row) return row end\n");
    c = load("[route a]\nsink = p\ntransform = s.lua\noutput_columns = id, v\n"
             "transform_memory = 16M\ntransform_timeout = 250ms\nkey = id\nmode = upsert\n"
             "[route b]\nsink = p\ntransform = s.lua\ntransform_timeout = 0.5\n"
             "[route c]\nsink = p\n",
             &errs);
    EXPECT_TRUE(c != NULL);
    EXPECT_EQ_INT(0, errs.len);
    if (c) {
        const struct transform_conf *a = &c->routes[0].transform, *b = &c->routes[1].transform;

        EXPECT_EQ_STR(file, a->file);
        EXPECT_EQ_INT(39, a->source_len);
        EXPECT_EQ_INT(2, a->output_columns.n);
        EXPECT_EQ_INT(16 << 20, a->memory);
        EXPECT_EQ_INT(250, a->timeout_ms);
        EXPECT_EQ_INT(64 << 20, b->memory);
        EXPECT_EQ_INT(500, b->timeout_ms);
        EXPECT_TRUE(c->routes[2].transform.source == NULL);
        EXPECT_EQ_INT(1000, c->routes[2].transform.timeout_ms);
    }
    config_unref(c);
    buf_free(&errs);
    free(file);
}

DEF_TEST(bad_values_and_columns)
{
    struct buf errs;

    buf_init(&errs);
    write_file("s.lua", "function transform(row) return row end\n");
    EXPECT_TRUE(load("[route a]\nsink = p\ntransform = s.lua\ntransform_memory = 512K\n"
                     "transform_timeout = 2h\n"
                     "[route b]\nsink = p\noutput_columns = x\n"
                     "[route c]\nsink = p\ntransform = s.lua\noutput_columns = id, v\n"
                     "mode = upsert\nkey = other\ntypes = w:N\n"
                     "[route d]\nsink = p\ntransform = s.lua\ntransform_timeout = 0\n",
                     &errs) == NULL);
    EXPECT_CONTAINS("t.conf:9: [route a] transform_memory: \"512K\" is not a size from 1M",
                    errs.data);
    EXPECT_CONTAINS("t.conf:10: [route a] transform_timeout: \"2h\" is not a duration", errs.data);
    EXPECT_CONTAINS("t.conf:13: [route b] output_columns: applies to routes with a transform",
                    errs.data);
    EXPECT_CONTAINS("[route c] key: column other is not in output_columns", errs.data);
    EXPECT_CONTAINS("[route c] types: column w is not in output_columns", errs.data);
    EXPECT_CONTAINS("t.conf:24: [route d] transform_timeout: \"0\" is not a duration", errs.data);
    buf_free(&errs);
}

DEF_TEST(script_checked_at_load)
{
    struct buf errs;

    buf_init(&errs);
    write_file("bad.lua", "function transform(row)\n  return row +\nend\n");
    EXPECT_TRUE(load("[route a]\nsink = p\ntransform = bad.lua\n", &errs) == NULL);
    EXPECT_CONTAINS("t.conf:8: [route a] transform: ", errs.data);
    EXPECT_CONTAINS("/bad.lua:3: unexpected symbol near 'end'", errs.data);
    EXPECT_TRUE(load("[route a]\nsink = p\ntransform = missing.lua\n", &errs) == NULL);
    EXPECT_CONTAINS("missing.lua: No such file or directory", errs.data);
    write_file("none.lua", "local x = 1\n");
    EXPECT_TRUE(load("[route a]\nsink = p\ntransform = none.lua\n", &errs) == NULL);
    EXPECT_CONTAINS("defines no function transform", errs.data);
    write_file("loop.lua", "function transform(r) return r end\nwhile true do end\n");
    EXPECT_TRUE(load("[route a]\nsink = p\ntransform = loop.lua\ntransform_timeout = 50ms\n",
                     &errs) == NULL);
    EXPECT_CONTAINS("loop.lua:2: time limit exceeded", errs.data);
    buf_free(&errs);
}
#else
DEF_TEST(refused_without_lua)
{
    struct buf errs;

    buf_init(&errs);
    write_file("s.lua", "function transform(row) return row end\n");
    EXPECT_TRUE(load("[route a]\nsink = p\ntransform = s.lua\n", &errs) == NULL);
    EXPECT_CONTAINS("t.conf:8: [route a] transform: this build of ingestd has no Lua transforms",
                    errs.data);
    buf_free(&errs);
}
#endif

int main(void)
{
    const char *const files[] = {"t.conf", "s.lua", "bad.lua", "none.lua", "loop.lua"};

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
#ifdef WITH_LUA
    config_set_transform_checker(transform_check_conf); /* as main does */
    RUN_TEST(keys_and_defaults);
    RUN_TEST(bad_values_and_columns);
    RUN_TEST(script_checked_at_load);
#else
    RUN_TEST(refused_without_lua);
#endif
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        char *p = xasprintf("%s/%s", dir, files[i]);

        unlink(p);
        free(p);
    }
    rmdir(dir);
    return tap_done();
}

/*
 * test_fuzz_regressions.c: replays every committed fuzz input through the fuzz targets'
 * own entry points in the ordinary build: every file in tests/fuzz/corpus/TARGET/ (the seed
 * and minimised corpora) and in tests/fuzz/regressions/TARGET/ (inputs that once crashed or
 * broke an invariant, kept so the bug stays fixed).
 *
 * A target's invariants abort the process (FUZZ_CHECK) and the sanitizers of a
 * --enable-sanitizers build stop it, so each file's name is printed before it runs: the last
 * name in the log is the culprit. Files are read from $INGESTD_SRCDIR (set by make check), or
 * the current directory. A target without a corpus fails: an empty replay would prove nothing.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "../tap.h"
#include "base/util.h"

static const char *srcdir(void)
{
    const char *s = getenv("INGESTD_SRCDIR");

    return s && *s ? s : ".";
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs fn over every regular file in dir; returns how many, or -1 when dir is unreadable. */
static long replay_dir(const char *dir, int (*fn)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0;
    long done = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        names = xrealloc(names, (n + 1) * sizeof(*names));
        names[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        char *path = xasprintf("%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        struct buf b;
        char chunk[4096];
        size_t got;

        if (f) {
            buf_init(&b);
            while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
                buf_append(&b, chunk, got);
            fclose(f);
            printf("# %s\n", path);
            fflush(stdout);
            /* an exact-size copy, as libFuzzer passes it, so over-reads are caught */
            uint8_t *data = xmalloc(b.len ? b.len : 1);
            if (b.len)
                memcpy(data, b.data, b.len);
            fn(data, b.len);
            free(data);
            buf_free(&b);
            done++;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return done;
}

static void replay(const char *target, int (*fn)(const uint8_t *, size_t))
{
    char *corpus = xasprintf("%s/tests/fuzz/corpus/%s", srcdir(), target);
    char *regress = xasprintf("%s/tests/fuzz/regressions/%s", srcdir(), target);
    long nc = replay_dir(corpus, fn), nr = replay_dir(regress, fn);

    if (nc <= 0)
        TAP_FAIL("%s: no corpus in %s", target, corpus);
    printf("# %s: %ld corpus inputs, %ld regressions\n", target, nc, nr < 0 ? 0 : nr);
    free(corpus);
    free(regress);
}

DEF_TEST(csvstream)
{
    replay("csvstream", fuzz_csvstream);
}

DEF_TEST(jsonstream)
{
    replay("jsonstream", fuzz_jsonstream);
}

DEF_TEST(event)
{
    replay("event", fuzz_event);
}

DEF_TEST(config)
{
    replay("config", fuzz_config);
}

DEF_TEST(aws_parse)
{
    replay("aws_parse", fuzz_aws_parse);
}

DEF_TEST(creds)
{
    replay("creds", fuzz_creds);
}

DEF_TEST(s3_url)
{
    replay("s3_url", fuzz_s3_url);
}

DEF_TEST(sigv4)
{
    replay("sigv4", fuzz_sigv4);
}

int main(void)
{
    RUN_TEST(csvstream);
    RUN_TEST(jsonstream);
    RUN_TEST(event);
    RUN_TEST(config);
    RUN_TEST(aws_parse);
    RUN_TEST(creds);
    RUN_TEST(s3_url);
    RUN_TEST(sigv4);
    return tap_done();
}

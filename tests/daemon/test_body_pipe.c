/* test_body_pipe.c: the bounded pipe between the loop and a worker, and the bearer tokens. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/util.h"
#include "daemon/body_pipe.h"
#include "daemon/http_tokens.h"
#include "../tap.h"

struct reader {
    struct body_pipe *p;
    uint64_t bytes, sum;
    int rc;
    struct ierr e;
    size_t stop_after; /* the callback stops the stream past this many bytes; 0: never */
};

static int take(const void *data, size_t n, void *arg)
{
    struct reader *r = arg;
    const unsigned char *b = data;

    for (size_t i = 0; i < n; i++)
        r->sum += b[i] * ((r->bytes + i) % 251 + 1);
    r->bytes += n;
    return r->stop_after && r->bytes > r->stop_after;
}

static void *read_all(void *arg)
{
    struct reader *r = arg;
    struct object_source *src = body_pipe_source(r->p);

    memset(&r->e, 0, sizeof r->e);
    r->rc = src->stream(src, take, r, &r->e);
    return NULL;
}

DEF_TEST(streams_more_than_it_holds)
{
    enum { CAP = 64 * 1024, TOTAL = 8 * 1024 * 1024 };
    int wake = eventfd(0, EFD_NONBLOCK);
    atomic_bool cancel = false;
    struct reader r = {0};
    unsigned char chunk[5000];
    uint64_t sum = 0, sent = 0, shorts = 0;
    pthread_t t;

    r.p = body_pipe_new(CAP, wake, &cancel, 5000);
    pthread_create(&t, NULL, read_all, &r);
    while (sent < TOTAL) {
        size_t n = sizeof chunk, took;
        for (size_t i = 0; i < n; i++) {
            chunk[i] = (unsigned char)((sent + i) * 7);
            sum += chunk[i] * ((sent + i) % 251 + 1);
        }
        for (size_t off = 0; off < n; off += took) {
            took = body_pipe_write(r.p, chunk + off, n - off);
            sent += took;
            if (off + took < n) { /* full: wait for the reader's wake-up as the loop does */
                eventfd_t v;
                shorts++;
                while (!body_pipe_has_room(r.p))
                    usleep(100);
                (void)eventfd_read(wake, &v);
            }
        }
    }
    body_pipe_close(r.p);
    pthread_join(t, NULL);
    EXPECT_EQ_INT(0, r.rc);
    EXPECT_TRUE(r.bytes == sent && sent >= TOTAL);
    EXPECT_TRUE(r.sum == sum);
    EXPECT_TRUE(shorts > 0); /* it was full at times: never more than CAP held */
    body_pipe_unref(r.p);
    body_pipe_unref(r.p);
    close(wake);
}

DEF_TEST(abort_stall_cancel_and_stop)
{
    int wake = eventfd(0, EFD_NONBLOCK);
    atomic_bool cancel = false;
    struct reader r = {0};
    pthread_t t;
    uint64_t t0;

    /* the writer gives up: the reader fails permanently with its reason */
    r.p = body_pipe_new(1024, wake, &cancel, 5000);
    body_pipe_write(r.p, "abc", 3);
    body_pipe_abort(r.p, "the body is over max_body");
    read_all(&r);
    EXPECT_EQ_INT(-1, r.rc);
    EXPECT_EQ_INT(IERR_PERMANENT, r.e.cls);
    EXPECT_EQ_STR("the body is over max_body", r.e.reason);
    body_pipe_unref(r.p);
    body_pipe_unref(r.p);

    /* nothing arrives: a transient failure after stall_ms */
    memset(&r, 0, sizeof r);
    r.p = body_pipe_new(1024, wake, &cancel, 300);
    t0 = now_monotonic_ms();
    read_all(&r);
    EXPECT_EQ_INT(-1, r.rc);
    EXPECT_EQ_INT(IERR_TRANSIENT, r.e.cls);
    EXPECT_TRUE(now_monotonic_ms() - t0 >= 290);
    EXPECT_CONTAINS("stalled", r.e.reason);
    body_pipe_unref(r.p);
    body_pipe_unref(r.p);

    /* shutdown cancels a waiting reader */
    memset(&r, 0, sizeof r);
    r.p = body_pipe_new(1024, wake, &cancel, 60000);
    pthread_create(&t, NULL, read_all, &r);
    usleep(50 * 1000);
    atomic_store(&cancel, true);
    pthread_join(t, NULL);
    EXPECT_EQ_INT(IERR_TRANSIENT, r.e.cls);
    EXPECT_CONTAINS("cancelled", r.e.reason);
    body_pipe_unref(r.p);
    body_pipe_unref(r.p);

    /* the reader stops (a bad row): later writes are dropped, never block */
    atomic_store(&cancel, false);
    memset(&r, 0, sizeof r);
    r.stop_after = 10;
    r.p = body_pipe_new(64, wake, &cancel, 5000);
    body_pipe_write(r.p, "0123456789abcdef", 16);
    read_all(&r);
    EXPECT_EQ_INT(-1, r.rc);
    EXPECT_EQ_INT(100, body_pipe_write(r.p, "x", 1) + 99);
    EXPECT_TRUE(body_pipe_has_room(r.p));
    body_pipe_unref(r.p);
    body_pipe_unref(r.p);
    close(wake);
}

DEF_TEST(bearer_tokens)
{
    char path[] = "/tmp/ingestd-tokens-XXXXXX", err[256];
    int fd = mkstemp(path);
    const char text[] = "# tokens\n\n  first-token  \nsecond\r\n#not-a-token\n";
    struct http_tokens *t;

    EXPECT_TRUE(write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1));
    close(fd);
    t = http_tokens_load(path, err, sizeof err);
    EXPECT_TRUE(t != NULL);
    EXPECT_EQ_INT(2, http_tokens_count(t));
    EXPECT_TRUE(http_tokens_check(t, "Bearer first-token"));
    EXPECT_TRUE(http_tokens_check(t, "bearer second"));
    EXPECT_TRUE(!http_tokens_check(t, "Bearer first-toke"));
    EXPECT_TRUE(!http_tokens_check(t, "Bearer first-tokenx"));
    EXPECT_TRUE(!http_tokens_check(t, "Bearer #not-a-token"));
    EXPECT_TRUE(!http_tokens_check(t, "Basic Zmlyc3QtdG9rZW4="));
    EXPECT_TRUE(!http_tokens_check(t, "first-token"));
    EXPECT_TRUE(!http_tokens_check(t, "Bearer "));
    EXPECT_TRUE(!http_tokens_check(t, NULL));
    http_tokens_free(t);

    fd = open(path, O_WRONLY | O_TRUNC);
    EXPECT_TRUE(write(fd, "# none\n\n", 8) == 8);
    close(fd);
    EXPECT_TRUE(http_tokens_load(path, err, sizeof err) == NULL);
    EXPECT_CONTAINS("no token", err);
    unlink(path);
    EXPECT_TRUE(http_tokens_load(path, err, sizeof err) == NULL);
    EXPECT_CONTAINS("No such file", err);
}

int main(void)
{
    RUN_TEST(streams_more_than_it_holds);
    RUN_TEST(abort_stall_cancel_and_stop);
    RUN_TEST(bearer_tokens);
    return tap_done();
}

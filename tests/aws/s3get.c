/*
 * s3get.c: a command-line driver for s3.c, used by tests/integration/test_s3.py.
 *
 *   s3get [options] s3://BUCKET/KEY
 *
 * Fetches the object through s3_get_object() (or s3_head_object() with --head) and writes
 * it to stdout or a file, or only counts it (--count prints "bytes=N sha256=HEX" on stdout).
 * The key is taken byte for byte from the argument (no decoding). Endpoint, region and
 * credentials come from the environment as the SDKs read them: AWS_ENDPOINT_URL_S3,
 * AWS_ENDPOINT_URL, AWS_REGION / AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_CA_BUNDLE.
 *
 * On stderr the last line is "info: ..." (success) or "error: ..." (failure) as key=value
 * pairs for the test to read. Exit status: 0 fetched, 1 S3 error, 2 usage.
 */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "aws/aws_endpoint.h"
#include "base/log.h"
#include "aws/s3.h"
#include "base/util.h"

struct sink_state {
    FILE *out; /* NULL when counting */
    EVP_MD_CTX *md;
    uint64_t bytes;
    uint64_t abort_after; /* 0: never */
};

static int on_data(const void *p, size_t n, void *arg)
{
    struct sink_state *s = arg;

    if (s->abort_after > 0 && s->bytes + n > s->abort_after)
        return 1;
    s->bytes += n;
    if (s->md != NULL && EVP_DigestUpdate(s->md, p, n) != 1)
        return 1;
    if (s->out != NULL && fwrite(p, 1, n, s->out) != n)
        return 1;
    return 0;
}

/* --cancel-after-ms: another thread raises the cancel flag, as the daemon does on shutdown. */
struct canceller {
    atomic_bool flag;
    uint64_t after_ms;
};

static void *cancel_later(void *arg)
{
    struct canceller *cn = arg;
    struct timespec ts = {.tv_sec = (time_t)(cn->after_ms / 1000),
                          .tv_nsec = (long)(cn->after_ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
    atomic_store(&cn->flag, true);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: s3get [--count] [-o FILE] [--head] [--if-match ETAG] [--version-id V]\n"
                    "             [--offset N] [--path-style] [--anonymous] [--repeat N]\n"
                    "             [--low-speed-limit B] [--low-speed-time S] [--max-attempts N]\n"
                    "             [--backoff-ms N] [--abort-after N] [--clock-offset S]\n"
                    "             [--cancel-after-ms N] [-v]\n"
                    "             s3://BUCKET/KEY\n");
}

static void print_info(const struct s3_object_info *info)
{
    fprintf(stderr,
            "info: etag=%s size=%" PRIu64 " size_known=%d bytes=%" PRIu64
            " requests=%u resumes=%u content_type=%s content_encoding=%s version_id=%s"
            " last_modified=%lld\n",
            info->etag, info->size, info->size_known, info->bytes, info->requests, info->resumes,
            info->content_type, info->content_encoding, info->version_id,
            (long long)info->last_modified);
}

static void print_error(const struct aws_error *e, const struct s3_object_info *info)
{
    fprintf(stderr,
            "error: code=%s status=%ld kind=%s retryable=%d throttling=%d bytes=%" PRIu64
            " requests=%u resumes=%u message=%s\n",
            e->code, e->http_status, aws_error_kind_name(e->kind), e->retryable, e->throttling,
            info->bytes, info->requests, info->resumes, e->message);
}

static uint64_t num_arg(const char *s)
{
    int64_t v;

    if (parse_int64(s, 0, INT64_MAX, &v) != 0) {
        fprintf(stderr, "s3get: bad number %s\n", s);
        exit(2);
    }
    return (uint64_t)v;
}

enum {
    OPT_IF_MATCH = 256,
    OPT_VERSION,
    OPT_OFFSET,
    OPT_PATH_STYLE,
    OPT_ANON,
    OPT_REPEAT,
    OPT_LS_LIMIT,
    OPT_LS_TIME,
    OPT_ATTEMPTS,
    OPT_BACKOFF,
    OPT_ABORT,
    OPT_HEAD,
    OPT_CLOCK,
    OPT_CANCEL,
};

static const struct option long_opts[] = {
    {"count", no_argument, NULL, 'c'},
    {"output", required_argument, NULL, 'o'},
    {"verbose", no_argument, NULL, 'v'},
    {"head", no_argument, NULL, OPT_HEAD},
    {"if-match", required_argument, NULL, OPT_IF_MATCH},
    {"version-id", required_argument, NULL, OPT_VERSION},
    {"offset", required_argument, NULL, OPT_OFFSET},
    {"path-style", no_argument, NULL, OPT_PATH_STYLE},
    {"anonymous", no_argument, NULL, OPT_ANON},
    {"repeat", required_argument, NULL, OPT_REPEAT},
    {"low-speed-limit", required_argument, NULL, OPT_LS_LIMIT},
    {"low-speed-time", required_argument, NULL, OPT_LS_TIME},
    {"max-attempts", required_argument, NULL, OPT_ATTEMPTS},
    {"backoff-ms", required_argument, NULL, OPT_BACKOFF},
    {"abort-after", required_argument, NULL, OPT_ABORT},
    {"clock-offset", required_argument, NULL, OPT_CLOCK},
    {"cancel-after-ms", required_argument, NULL, OPT_CANCEL},
    {NULL, 0, NULL, 0},
};

int main(int argc, char **argv)
{
    struct s3_opts o = {0};
    struct s3_get_opts g = {0};
    struct aws_creds creds = {0};
    struct sink_state st = {0};
    struct s3_object_info info = {0};
    struct canceller cn = {.after_ms = 0};
    pthread_t cancel_thread;
    struct aws_error err;
    const char *outpath = NULL;
    bool count = false, head = false, anon = false;
    uint64_t repeat = 1;
    char *endpoint, *bucket, errbuf[256];
    const char *key;
    struct s3_client *c;
    int opt, rc = 0;

    while ((opt = getopt_long(argc, argv, "co:v", long_opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            count = true;
            break;
        case 'o':
            outpath = optarg;
            break;
        case 'v':
            log_set_level(LOG_DEBUG);
            break;
        case OPT_HEAD:
            head = true;
            break;
        case OPT_IF_MATCH:
            g.if_match = optarg;
            break;
        case OPT_VERSION:
            g.version_id = optarg;
            break;
        case OPT_OFFSET:
            g.offset = num_arg(optarg);
            break;
        case OPT_PATH_STYLE:
            o.force_path_style = true;
            break;
        case OPT_ANON:
            anon = true;
            break;
        case OPT_REPEAT:
            repeat = num_arg(optarg);
            break;
        case OPT_LS_LIMIT:
            o.low_speed_limit = (long)num_arg(optarg);
            break;
        case OPT_LS_TIME:
            o.low_speed_time_s = (long)num_arg(optarg);
            break;
        case OPT_ATTEMPTS:
            o.max_attempts = (unsigned)num_arg(optarg);
            break;
        case OPT_BACKOFF:
            o.backoff_base_ms = (unsigned)num_arg(optarg);
            o.backoff_cap_ms = o.backoff_base_ms * 8;
            break;
        case OPT_ABORT:
            st.abort_after = num_arg(optarg);
            break;
        case OPT_CANCEL:
            cn.after_ms = num_arg(optarg);
            break;
        case OPT_CLOCK:
            if (parse_int64(optarg, -86400 * 365, 86400 * 365, &o.clock_offset_s) != 0) {
                fprintf(stderr, "s3get: bad clock offset %s\n", optarg);
                return 2;
            }
            break;
        default:
            usage();
            return 2;
        }
    }
    if (optind != argc - 1 || strncmp(argv[optind], "s3://", 5) != 0 ||
        strchr(argv[optind] + 5, '/') == NULL) {
        usage();
        return 2;
    }
    bucket = xstrdup(argv[optind] + 5);
    *strchr(bucket, '/') = '\0';
    key = argv[optind] + 5 + strlen(bucket) + 1;

    log_init();
    log_force_stderr(true);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    endpoint = aws_endpoint_url(NULL, "s3");
    o.endpoint_url = endpoint;
    o.region = aws_endpoint_region(NULL);
    o.ca_file = getenv("AWS_CA_BUNDLE");
    creds.access_key_id = anon ? NULL : getenv("AWS_ACCESS_KEY_ID");
    creds.secret_access_key = getenv("AWS_SECRET_ACCESS_KEY");
    creds.session_token = getenv("AWS_SESSION_TOKEN");
    if (!anon && (str_empty(creds.access_key_id) || str_empty(creds.secret_access_key))) {
        fprintf(stderr, "s3get: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY not set "
                        "(use --anonymous for unsigned requests)\n");
        return 2;
    }
    c = s3_client_new(&o, errbuf, sizeof(errbuf));
    if (c == NULL) {
        fprintf(stderr, "s3get: %s\n", errbuf);
        return 2;
    }
    if (!count) {
        st.out = outpath != NULL ? fopen(outpath, "wb") : stdout;
        if (st.out == NULL) {
            perror(outpath);
            return 2;
        }
    }
    atomic_init(&cn.flag, false);
    if (cn.after_ms > 0) {
        g.cancel = &cn.flag;
        pthread_create(&cancel_thread, NULL, cancel_later, &cn);
    }
    for (uint64_t i = 0; i < repeat && rc == 0; i++) {
        st.bytes = 0;
        if (count) {
            EVP_MD_CTX_free(st.md);
            st.md = EVP_MD_CTX_new();
            EVP_DigestInit_ex(st.md, EVP_sha256(), NULL);
        }
        if (head)
            rc = s3_head_object(c, anon ? NULL : &creds, bucket, key, &g, &info, &err);
        else
            rc = s3_get_object(c, anon ? NULL : &creds, bucket, key, &g, on_data, &st, &info, &err);
    }
    if (rc == 0 && count && !head) {
        unsigned char md[32];
        char hex[65];
        unsigned int mdlen = 0;
        EVP_DigestFinal_ex(st.md, md, &mdlen);
        hex_encode(md, sizeof(md), hex);
        printf("bytes=%" PRIu64 " sha256=%s\n", st.bytes, hex);
    }
    if (rc == 0)
        print_info(&info);
    else
        print_error(&err, &info);
    if (cn.after_ms > 0)
        pthread_join(cancel_thread, NULL);
    if (st.out != NULL && st.out != stdout)
        fclose(st.out);
    EVP_MD_CTX_free(st.md);
    s3_client_free(c);
    free(endpoint);
    free(bucket);
    curl_global_cleanup();
    return rc == 0 ? 0 : 1;
}

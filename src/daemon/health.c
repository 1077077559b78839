/*
 * health.c: `ingestd health` (see health.h): one GET of /healthz through libcurl.
 *
 * Container engines run the check every few seconds in a fresh process, so it is
 * quiet when healthy and prints exactly one line when not. Proxies from the
 * environment are never used (the listener is local), redirects are not followed,
 * and only as much of the answer is kept as the reason needs.
 */
#include "daemon/health.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

char *health_url(const char *listen)
{
    const char *colon;
    size_t hostlen;

    if (str_empty(listen) || !(colon = strrchr(listen, ':')))
        return NULL;
    hostlen = (size_t)(colon - listen);
    if (hostlen == 7 && strncmp(listen, "0.0.0.0", 7) == 0)
        return xasprintf("http://127.0.0.1%s/healthz", colon);
    if (hostlen == 4 && strncmp(listen, "[::]", 4) == 0)
        return xasprintf("http://[::1]%s/healthz", colon);
    return xasprintf("http://%s/healthz", listen);
}

/* Keeps the first HEALTH_MAX_REASON bytes of the body, drops the rest. */
static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t len = size * n;

    if (b->len < HEALTH_MAX_REASON)
        buf_append(b, p, len < HEALTH_MAX_REASON - b->len ? len : HEALTH_MAX_REASON - b->len);
    return len;
}

/* The first line of the body with control characters replaced, so that the output
 * stays one line whatever the server sent. */
static void first_line(const struct buf *b, char *out, size_t outlen)
{
    size_t i = 0;

    for (; i + 1 < outlen && i < b->len && b->data[i] != '\n' && b->data[i] != '\r'; i++)
        out[i] = (unsigned char)b->data[i] < 0x20 || b->data[i] == 0x7f ? '?' : b->data[i];
    out[i] = '\0';
}

int health_check(const struct config *cfg, char *why, size_t whylen)
{
    char *url = health_url(cfg->ingestd.metrics_listen);
    char errbuf[CURL_ERROR_SIZE] = "", reason[HEALTH_MAX_REASON + 1];
    struct buf body;
    CURL *h = NULL;
    CURLcode rc;
    long status = 0;
    int ret = -1;

    buf_init(&body);
    if (!url) {
        snprintf(why, whylen, "no health endpoint: metrics_listen is not set in [ingestd]");
        return -1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(why, whylen, "%s: cannot initialise libcurl", url);
        free(url);
        return -1;
    }
    if (!(h = curl_easy_init())) {
        snprintf(why, whylen, "%s: cannot initialise libcurl", url);
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTP);
#endif
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)HEALTH_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ingestd-health/" PACKAGE_VERSION);
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        snprintf(why, whylen, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200) {
        ret = 0;
        goto out;
    }
    first_line(&body, reason, sizeof reason);
    snprintf(why, whylen, "%s: HTTP %ld%s%s", url, status, reason[0] ? ": " : "", reason);
out:
    curl_easy_cleanup(h);
    curl_global_cleanup();
    buf_free(&body);
    free(url);
    return ret;
}

int health_run(const struct config *cfg)
{
    char why[1024];

    if (health_check(cfg, why, sizeof why) == 0)
        return 0;
    fprintf(stderr, "ingestd: unhealthy: %s\n", why);
    return 1;
}

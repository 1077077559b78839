/*
 * secret_source.c: see secret_source.h.
 */
#include "aws/secret_source.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "aws/creds.h"
#include "aws/secrets.h"
#include "base/util.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct creds *current;

void secret_source_set_creds(struct creds *c)
{
    struct creds *old;

    if (c)
        creds_ref(c);
    pthread_mutex_lock(&mu);
    old = current;
    current = c;
    pthread_mutex_unlock(&mu);
    creds_unref(old);
}

struct creds *secret_source_get_creds(void)
{
    struct creds *c;

    pthread_mutex_lock(&mu);
    c = current ? creds_ref(current) : NULL;
    pthread_mutex_unlock(&mu);
    return c;
}

int secret_source_resolve(const struct config *cfg, const char *secret_id, char **out,
                          struct ierr *e)
{
    struct creds *c;
    struct aws_error ae;
    char *value, *password;

    pthread_mutex_lock(&mu);
    c = current ? creds_ref(current) : NULL;
    pthread_mutex_unlock(&mu);
    if (!c) {
        ierr_set(e, IERR_TRANSIENT, "password_secret %s: no AWS credentials yet", secret_id);
        return -1;
    }
    memset(&ae, 0, sizeof ae);
    value = secrets_get_blocking(cfg, &c->aws, secret_id, &ae);
    creds_unref(c);
    if (!value) {
        ierr_set(e, ae.retryable ? IERR_TRANSIENT : IERR_CONFIG, "password_secret %s: %s: %s",
                 secret_id, ae.code[0] ? ae.code : "error", ae.message);
        return -1;
    }
    password = secrets_extract_password(value, &ae);
    explicit_bzero(value, strlen(value));
    free(value);
    if (!password) {
        ierr_set(e, IERR_CONFIG, "password_secret %s: %s", secret_id, ae.message);
        return -1;
    }
    *out = password;
    return 0;
}

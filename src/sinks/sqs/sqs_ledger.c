/*
 * sqs_ledger.c: the SQS sink's DynamoDB ledger and claims (see sqs_ledger.h).
 *
 * Ledger items are built by ddb_proto.c, as the DynamoDB sink's are; the claim
 * items, which only this sink uses, are written here. The claim's owner is a
 * random 128-bit value, so that releasing it never deletes a claim another worker
 * took after ours lapsed.
 */
#include "sinks/sqs/sqs_ledger.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "aws/ddb_http.h"
#include "base/log.h"
#include "sinks/sqs/sqs_msg.h"
#include "base/util.h"

#define CALL_ATTEMPTS  5
#define CREATE_WAIT_MS 60000

struct sqs_ledger {
    char *sink_name;
    char *table;
    struct ddb_http *ddb;
    bool ready;
    bool claimed;
    char *claim_id; /* "claim#" + object id, while claimed */
    char owner[33];
};

enum ierr_class sqs_error_class(const struct aws_error *ae)
{
    if (ae->retryable || ae->kind == AWS_ERR_NETWORK || ae->kind == AWS_ERR_CREDENTIALS ||
        strstr(ae->code, "ExpiredToken"))
        return IERR_TRANSIENT;
    if (strstr(ae->code, "AccessDenied") || strstr(ae->code, "NonExistentQueue") ||
        !strcmp(ae->code, "QueueDoesNotExist") ||
        !strcmp(ae->code, "UnrecognizedClientException") ||
        !strcmp(ae->code, "InvalidSignatureException") || !strcmp(ae->code, "InvalidAddress"))
        return IERR_CONFIG;
    return IERR_PERMANENT;
}

void sqs_set_aws_error(struct ierr *e, const struct aws_error *ae, const char *what)
{
    char eb[800];
    ierr_set(e, sqs_error_class(ae), "%s: %s", what, aws_error_str(ae, eb, sizeof eb));
}

struct sqs_ledger *sqs_ledger_new(const struct config *cfg, const char *sink_name,
                                  const char *table, struct ierr *e)
{
    struct ddb_http *h = ddb_http_new(cfg, e);
    struct sqs_ledger *l;

    if (!h)
        return NULL;
    l = xcalloc(1, sizeof(*l));
    l->sink_name = xstrdup(sink_name);
    l->table = xstrdup(table);
    l->ddb = h;
    return l;
}

void sqs_ledger_free(struct sqs_ledger *l)
{
    if (!l)
        return;
    sqs_ledger_release(l);
    ddb_http_free(l->ddb);
    free(l->sink_name);
    free(l->table);
    free(l);
}

void sqs_ledger_set_creds(struct sqs_ledger *l, const struct aws_creds *c)
{
    ddb_http_set_creds(l->ddb, c);
}

const char *sqs_ledger_table(const struct sqs_ledger *l)
{
    return l->table;
}

static struct ddb_call *call(struct sqs_ledger *l, const char *op, struct buf *body)
{
    return ddb_http_call(l->ddb, op, body, CALL_ATTEMPTS);
}

int sqs_ledger_describe(struct sqs_ledger *l, struct ierr *e)
{
    struct ddb_key_schema ks;
    char status[32];
    const char *why;
    struct buf body;
    int rc = -1;

    buf_init(&body);
    ddb_body_table(&body, l->table);
    struct ddb_call *c = call(l, "DescribeTable", &body);
    if (c->err.kind != AWS_OK) {
        if (!strcmp(c->err.code, "ResourceNotFoundException"))
            rc = 1;
        else
            sqs_set_aws_error(e, &c->err, "ledger DescribeTable");
    } else if (ddb_parse_describe(c->resp.data, c->resp.len, &ks, status, &why) < 0) {
        ierr_set(e, IERR_TRANSIENT, "ledger DescribeTable: %s", why);
    } else {
        bool good = ks.n == 1 && !strcmp(ks.name[0], "id") && ks.type[0] == DDB_KEY_S;
        ddb_key_schema_free(&ks);
        if (!good)
            ierr_set(e, IERR_CONFIG,
                     "ledger table %s: its key must be a partition key named id of type S",
                     l->table);
        else
            rc = !strcmp(status, "ACTIVE") || !strcmp(status, "UPDATING") ? 0 : 2;
    }
    ddb_call_free(c);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The table, created when missing and waited for until ACTIVE. */
static int ensure(struct sqs_ledger *l, struct ierr *e)
{
    uint64_t deadline = now_monotonic_ms() + CREATE_WAIT_MS;
    bool created = false;

    while (!l->ready) {
        int rc = sqs_ledger_describe(l, e);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            l->ready = true;
            break;
        }
        if (rc == 1 && !created) {
            struct buf body;
            buf_init(&body);
            ddb_body_create_ledger(&body, l->table);
            struct ddb_call *c = call(l, "CreateTable", &body);
            bool ok = c->err.kind == AWS_OK || !strcmp(c->err.code, "ResourceInUseException");
            if (!ok)
                sqs_set_aws_error(e, &c->err, "creating the ledger table");
            else
                log_notice("sink %s: created the ledger table %s (partition key id, string)",
                           l->sink_name, l->table);
            ddb_call_free(c);
            if (!ok)
                return -1;
            created = true;
            continue;
        }
        if (now_monotonic_ms() > deadline) {
            ierr_set(e, IERR_TRANSIENT, "ledger table %s is not ACTIVE after %d s", l->table,
                     CREATE_WAIT_MS / 1000);
            return -1;
        }
        sleep_ms(500);
    }
    return 0;
}

int sqs_ledger_lookup(struct sqs_ledger *l, const char *id, bool *found, struct ierr *e)
{
    struct buf body;
    const char *why;
    int rc = -1;

    *found = false;
    if (ensure(l, e) < 0)
        return -1;
    buf_init(&body);
    ddb_body_ledger_get(&body, l->table, id);
    struct ddb_call *c = call(l, "GetItem", &body);
    if (c->err.kind != AWS_OK) {
        sqs_set_aws_error(e, &c->err, "ledger GetItem");
        if (!strcmp(c->err.code, "ResourceNotFoundException"))
            l->ready = false;
    } else if (ddb_parse_get(c->resp.data, c->resp.len, found, &why) < 0) {
        ierr_set(e, IERR_TRANSIENT, "ledger GetItem: %s", why);
    } else {
        rc = 0;
    }
    ddb_call_free(c);
    return rc;
}

int sqs_ledger_put(struct sqs_ledger *l, const struct ddb_ledger_rec *rec, struct ierr *e)
{
    struct buf body;
    int rc = -1;

    buf_init(&body);
    ddb_body_ledger_put(&body, l->table, rec);
    struct ddb_call *c = call(l, "PutItem", &body);
    if (c->err.kind == AWS_OK)
        rc = 0;
    else if (!strcmp(c->err.code, "ConditionalCheckFailedException"))
        rc = 1;
    else
        sqs_set_aws_error(e, &c->err, "ledger PutItem");
    ddb_call_free(c);
    return rc;
}

/* {"TableName":T,"<what>":{"id":{"S":"claim#..."}  (the caller closes <what>) */
static void claim_key(struct sqs_ledger *l, struct buf *b, const char *what)
{
    buf_puts(b, "{\"TableName\":");
    sqs_json_string(b, l->table, strlen(l->table));
    buf_printf(b, ",\"%s\":{\"id\":{\"S\":", what);
    sqs_json_string(b, l->claim_id, strlen(l->claim_id));
    buf_putc(b, '}');
}

/* 0 claimed, 1 held by another worker, -1 error. */
static int claim_put(struct sqs_ledger *l, struct ierr *e)
{
    int64_t now = now_realtime_ms(), expires = now + (int64_t)SQS_CLAIM_LEASE_MS;
    struct buf body;
    int rc = -1;

    buf_init(&body);
    claim_key(l, &body, "Item");
    buf_printf(&body,
               ",\"claim_owner\":{\"S\":\"%s\"},\"expires_ms\":{\"N\":\"%lld\"}},"
               "\"ConditionExpression\":\"attribute_not_exists(id) OR expires_ms < :now\","
               "\"ExpressionAttributeValues\":{\":now\":{\"N\":\"%lld\"}}}",
               l->owner, (long long)expires, (long long)now);
    struct ddb_call *c = call(l, "PutItem", &body);
    if (c->err.kind == AWS_OK)
        rc = 0;
    else if (!strcmp(c->err.code, "ConditionalCheckFailedException"))
        rc = 1;
    else
        sqs_set_aws_error(e, &c->err, "ledger claim PutItem");
    ddb_call_free(c);
    return rc;
}

void sqs_ledger_release(struct sqs_ledger *l)
{
    struct buf body;

    if (!l->claimed) {
        free(l->claim_id);
        l->claim_id = NULL;
        return;
    }
    l->claimed = false;
    buf_init(&body);
    claim_key(l, &body, "Key");
    buf_printf(&body,
               "},\"ConditionExpression\":\"claim_owner = :me\","
               "\"ExpressionAttributeValues\":{\":me\":{\"S\":\"%s\"}}}",
               l->owner);
    struct ddb_call *c = ddb_http_call(l->ddb, "DeleteItem", &body, 1);
    if (c->err.kind != AWS_OK) {
        char eb[800];
        log_debug("sink %s: releasing the claim: %s", l->sink_name,
                  aws_error_str(&c->err, eb, sizeof eb));
    }
    ddb_call_free(c);
    free(l->claim_id);
    l->claim_id = NULL;
}

int sqs_ledger_claim(struct sqs_ledger *l, const char *id, bool *found, struct ierr *e)
{
    uint64_t deadline = now_monotonic_ms() + SQS_CLAIM_WAIT_MS;
    unsigned char r[16];

    *found = false;
    sqs_ledger_release(l);
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        uint64_t t = now_monotonic_us() ^ (uint64_t)(uintptr_t)l;
        memcpy(r, &t, sizeof t);
        memcpy(r + 8, &t, sizeof t);
    }
    hex_encode(r, sizeof r, l->owner);
    free(l->claim_id);
    l->claim_id = xasprintf("claim#%s", id);
    for (;;) {
        int rc = claim_put(l, e);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            l->claimed = true;
            return 0;
        }
        sleep_ms(500);
        if (sqs_ledger_lookup(l, id, found, e) < 0)
            return -1;
        if (*found)
            return 0;
        if (now_monotonic_ms() > deadline) {
            ierr_set(e, IERR_TRANSIENT, "%s is being loaded by another worker (claim in %s)", id,
                     l->table);
            return -1;
        }
    }
}

/*
 * ddb_proto.c: DynamoDB request bodies and response parsing (see ddb_proto.h).
 *
 * Bodies are written as text: items arrive already encoded (ddb_item.c) and are
 * spliced in without a second parse. Responses are read with jansson; numbers in
 * DynamoDB JSON are strings, so re-serialising an unprocessed item loses nothing.
 */
#include "sinks/dynamodb/ddb_proto.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void put_str(struct buf *b, const char *s)
{
    ddb_json_string(b, s, strlen(s));
}

void ddb_batch_open(struct buf *b, const char *table)
{
    buf_puts(b, "{\"RequestItems\":{");
    put_str(b, table);
    buf_puts(b, ":[");
}

#define PUT_OPEN  "{\"PutRequest\":{\"Item\":"
#define PUT_CLOSE "}}"

void ddb_batch_put(struct buf *b, const char *item, size_t n, bool first)
{
    buf_reserve(b, n + sizeof(PUT_OPEN) + sizeof(PUT_CLOSE) + 1);
    if (!first)
        buf_putc(b, ',');
    buf_puts(b, PUT_OPEN);
    buf_append(b, item, n);
    buf_puts(b, PUT_CLOSE);
}

void ddb_batch_close(struct buf *b)
{
    buf_puts(b, "]}}");
}

size_t ddb_batch_overhead(const char *table, size_t nitems)
{
    /* Escaping at most sextuples a name's bytes. */
    return 24 + 6 * strlen(table) + nitems * (sizeof(PUT_OPEN) + sizeof(PUT_CLOSE));
}

void ddb_body_table(struct buf *b, const char *table)
{
    buf_puts(b, "{\"TableName\":");
    put_str(b, table);
    buf_putc(b, '}');
}

void ddb_body_create_ledger(struct buf *b, const char *table)
{
    buf_puts(b, "{\"TableName\":");
    put_str(b, table);
    buf_puts(b, ",\"AttributeDefinitions\":[{\"AttributeName\":\"id\",\"AttributeType\":\"S\"}],"
                "\"KeySchema\":[{\"AttributeName\":\"id\",\"KeyType\":\"HASH\"}],"
                "\"BillingMode\":\"PAY_PER_REQUEST\"}");
}

void ddb_ledger_id(struct buf *b, const char *bucket, const char *key, const char *etag)
{
    buf_printf(b, "s3://%s/%s#%s", bucket, key, etag ? etag : "");
}

void ddb_body_ledger_get(struct buf *b, const char *table, const char *id)
{
    buf_puts(b, "{\"TableName\":");
    put_str(b, table);
    buf_puts(b, ",\"Key\":{\"id\":{\"S\":");
    put_str(b, id);
    buf_puts(b, "}},\"ConsistentRead\":true,\"ProjectionExpression\":\"#i\","
                "\"ExpressionAttributeNames\":{\"#i\":\"id\"}}");
}

static void attr_s(struct buf *b, const char *name, const char *v)
{
    if (!v)
        return;
    buf_printf(b, ",\"%s\":{\"S\":", name);
    put_str(b, v);
    buf_putc(b, '}');
}

static void attr_n(struct buf *b, const char *name, uint64_t v)
{
    buf_printf(b, ",\"%s\":{\"N\":\"%" PRIu64 "\"}", name, v);
}

void ddb_body_ledger_put(struct buf *b, const char *table, const struct ddb_ledger_rec *r)
{
    time_t secs = (time_t)(r->loaded_at_ms / 1000);
    char when[40];
    struct tm tm;

    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + strlen(when), sizeof when - strlen(when), ".%03dZ",
             (int)(r->loaded_at_ms % 1000));
    buf_puts(b, "{\"TableName\":");
    put_str(b, table);
    buf_puts(b, ",\"Item\":{\"id\":{\"S\":");
    put_str(b, r->id);
    buf_putc(b, '}');
    attr_s(b, "bucket", r->bucket);
    attr_s(b, "key", r->key);
    attr_s(b, "etag", r->etag);
    attr_s(b, "version_id", r->version_id);
    attr_s(b, "sequencer", r->sequencer);
    attr_s(b, "route", r->route);
    attr_s(b, "target_table", r->target);
    attr_n(b, "rows", r->rows);
    attr_n(b, "rejected", r->rejected);
    attr_n(b, "bytes", r->bytes);
    attr_s(b, "loaded_at", when);
    if (r->rejects && r->rejects[0]) {
        buf_puts(b, ",\"rejects\":{\"L\":[");
        buf_puts(b, r->rejects);
        buf_puts(b, "]}");
    }
    if (r->rejects_dropped)
        attr_n(b, "rejects_not_stored", r->rejects_dropped);
    buf_puts(b, "},\"ConditionExpression\":\"attribute_not_exists(#i)\","
                "\"ExpressionAttributeNames\":{\"#i\":\"id\"}}");
}

/* Length of the longest prefix of p[0..n) that is at most max bytes and ends on a
 * UTF-8 character boundary. */
static size_t utf8_cut(const char *p, size_t n, size_t max)
{
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)p[max] & 0xC0) == 0x80)
        max--;
    return max;
}

void ddb_reject_append(struct buf *list, const struct row_reject *r, const char *column_name,
                       size_t max_raw)
{
    if (list->len)
        buf_putc(list, ',');
    buf_printf(list, "{\"M\":{\"line\":{\"N\":\"%" PRIu64 "\"}", r->line);
    if (r->column)
        buf_printf(list, ",\"column\":{\"N\":\"%u\"}", r->column);
    attr_s(list, "column_name", column_name);
    attr_s(list, "reason", r->reason ? r->reason : "");
    if (r->raw) {
        size_t n = strlen(r->raw);
        buf_puts(list, ",\"raw\":{\"S\":");
        ddb_json_string(list, r->raw, utf8_cut(r->raw, n, max_raw));
        buf_putc(list, '}');
    }
    buf_puts(list, "}}");
}

/* ---- responses ---- */

static json_t *load(const char *body, size_t len, const char **why)
{
    json_t *root = json_loadb(body ? body : "", len, JSON_ALLOW_NUL, NULL);

    if (!root || !json_is_object(root)) {
        json_decref(root);
        *why = "response is not a JSON object";
        return NULL;
    }
    return root;
}

int ddb_parse_get(const char *body, size_t len, bool *found, const char **why)
{
    json_t *root = load(body, len, why);

    if (!root)
        return -1;
    *found = json_is_object(json_object_get(root, "Item"));
    json_decref(root);
    return 0;
}

static int key_type_of(const char *s, enum ddb_key_type *t)
{
    if (!s)
        return -1;
    if (!strcmp(s, "S"))
        *t = DDB_KEY_S;
    else if (!strcmp(s, "N"))
        *t = DDB_KEY_N;
    else if (!strcmp(s, "B"))
        *t = DDB_KEY_B;
    else
        return -1;
    return 0;
}

int ddb_parse_describe(const char *body, size_t len, struct ddb_key_schema *ks, char status[32],
                       const char **why)
{
    json_t *root = load(body, len, why), *table, *schema, *defs, *el;
    size_t i;

    memset(ks, 0, sizeof *ks);
    if (!root)
        return -1;
    table = json_object_get(root, "Table");
    schema = json_object_get(table, "KeySchema");
    defs = json_object_get(table, "AttributeDefinitions");
    snprintf(status, 32, "%s",
             json_string_value(json_object_get(table, "TableStatus"))
                 ? json_string_value(json_object_get(table, "TableStatus"))
                 : "");
    if (!json_is_array(schema) || !json_is_array(defs) || json_array_size(schema) < 1 ||
        json_array_size(schema) > 2) {
        *why = "DescribeTable answer without a key schema";
        goto fail;
    }
    json_array_foreach(schema, i, el)
    {
        const char *name = json_string_value(json_object_get(el, "AttributeName"));
        const char *kt = json_string_value(json_object_get(el, "KeyType"));
        size_t slot = kt && !strcmp(kt, "RANGE") ? 1 : 0;
        size_t j;
        json_t *d;
        bool typed = false;

        if (!name || !kt || ks->name[slot]) {
            *why = "DescribeTable answer with a malformed key schema";
            goto fail;
        }
        ks->name[slot] = xstrdup(name);
        json_array_foreach(defs, j, d)
        {
            if (!typed &&
                !strcmp(name, json_string_value(json_object_get(d, "AttributeName")) ?: "") &&
                key_type_of(json_string_value(json_object_get(d, "AttributeType")),
                            &ks->type[slot]) == 0)
                typed = true;
        }
        if (!typed) {
            *why = "DescribeTable answer without the type of a key attribute";
            goto fail;
        }
    }
    if (!ks->name[0]) {
        *why = "DescribeTable answer without a partition key";
        goto fail;
    }
    ks->n = ks->name[1] ? 2 : 1;
    json_decref(root);
    return 0;
fail:
    ddb_key_schema_free(ks);
    json_decref(root);
    return -1;
}

static void unprocessed_push(struct ddb_unprocessed *u, char *item, struct buf *key)
{
    u->items = xrealloc(u->items, (u->n + 1) * sizeof *u->items);
    u->keys = xrealloc(u->keys, (u->n + 1) * sizeof *u->keys);
    u->key_len = xrealloc(u->key_len, (u->n + 1) * sizeof *u->key_len);
    u->items[u->n] = item;
    u->key_len[u->n] = key->len;
    u->keys[u->n] = buf_steal(key);
    u->n++;
}

int ddb_parse_batch(const char *body, size_t len, const char *table,
                    const struct ddb_key_schema *ks, struct ddb_unprocessed *u, const char **why)
{
    json_t *root = load(body, len, why), *all, *list, *req;
    size_t i;
    int rc = -1;

    memset(u, 0, sizeof *u);
    if (!root)
        return -1;
    all = json_object_get(root, "UnprocessedItems");
    if (!all || json_is_null(all) || (json_is_object(all) && json_object_size(all) == 0)) {
        json_decref(root);
        return 0;
    }
    list = json_object_get(all, table);
    if (!json_is_object(all) || json_object_size(all) != 1 || !json_is_array(list)) {
        *why = "UnprocessedItems names another table";
        goto out;
    }
    json_array_foreach(list, i, req)
    {
        json_t *item = json_object_get(json_object_get(req, "PutRequest"), "Item");
        struct buf key;
        char *text;

        if (!json_is_object(item)) {
            *why = "UnprocessedItems holds something other than a PutRequest";
            goto out;
        }
        buf_init(&key);
        for (size_t k = 0; k < ks->n; k++) {
            const char *tn = ks->type[k] == DDB_KEY_N ? "N" : "S";
            json_t *v = json_object_get(json_object_get(item, ks->name[k]), tn);
            if (!json_is_string(v)) {
                buf_free(&key);
                *why = "unprocessed item without its key";
                goto out;
            }
            ddb_key_append(&key, ks->type[k], json_string_value(v), json_string_length(v));
        }
        text = json_dumps(item, JSON_COMPACT);
        if (!text) {
            buf_free(&key);
            *why = "unprocessed item cannot be serialised";
            goto out;
        }
        unprocessed_push(u, xstrdup(text), &key);
        free(text);
    }
    rc = 0;
out:
    if (rc < 0)
        ddb_unprocessed_free(u);
    json_decref(root);
    return rc;
}

void ddb_unprocessed_free(struct ddb_unprocessed *u)
{
    for (size_t i = 0; i < u->n; i++) {
        free(u->items[i]);
        free(u->keys[i]);
    }
    free(u->items);
    free(u->keys);
    free(u->key_len);
    memset(u, 0, sizeof *u);
}

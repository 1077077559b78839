/*
 * test_ddb_unit.c: the DynamoDB sink's pure parts (item encoding, numbers, JSON to
 * M/L, request bodies, response parsing) and its batch writer against a scripted
 * HTTP server on 127.0.0.1 (grouping, duplicate keys, UnprocessedItems, throttling,
 * 5xx, ValidationException narrowed to the row's line).
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aws/ddb_http.h"
#include "sinks/dynamodb/ddb_item.h"
#include "sinks/dynamodb/ddb_proto.h"
#include "sinks/dynamodb/ddb_writer.h"
#include "../tap.h"

/* ---- helpers ---- */

static struct field fld(const char *s)
{
    struct field f = {s, s ? strlen(s) : 0};
    return f;
}

static struct route_conf *route_with(const char *types_spec, enum null_as na)
{
    struct route_conf *rc = xcalloc(1, sizeof *rc);
    rc->name = xstrdup("r");
    rc->null_as = na;
    /* "col:N,col2:BOOL" */
    char *spec = xstrdup(types_spec ? types_spec : ""), *save = NULL;
    for (char *t = strtok_r(spec, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(t, ':');
        rc->types = xrealloc(rc->types, (rc->ntypes + 1) * sizeof *rc->types);
        rc->types[rc->ntypes].column = xstrndup(t, (size_t)(colon - t));
        rc->types[rc->ntypes].type = !strcmp(colon + 1, "N")      ? ATTR_N
                                     : !strcmp(colon + 1, "BOOL") ? ATTR_BOOL
                                     : !strcmp(colon + 1, "JSON") ? ATTR_JSON
                                                                  : ATTR_S;
        rc->ntypes++;
    }
    free(spec);
    return rc;
}

static void route_free(struct route_conf *rc)
{
    for (size_t i = 0; i < rc->ntypes; i++)
        free(rc->types[i].column);
    free(rc->types);
    free(rc->name);
    free(rc);
}

static void cols_of(struct strlist *l, const char *csv)
{
    char *s = xstrdup(csv), *save = NULL;
    memset(l, 0, sizeof *l);
    for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save))
        strlist_push(l, t);
    free(s);
}

static void ks_one(struct ddb_key_schema *ks, const char *name, enum ddb_key_type t)
{
    memset(ks, 0, sizeof *ks);
    ks->name[0] = xstrdup(name);
    ks->type[0] = t;
    ks->n = 1;
}

/* Encodes one row; returns the item text (static buffer) or NULL with *e. */
static const char *enc(const struct ddb_layout *l, const char *const *vals, uint64_t line,
                       struct buf *key, struct ierr *e)
{
    static char out[4096];
    struct field f[16];
    struct row row = {line, f};
    struct buf b;
    size_t size;

    for (size_t i = 0; i < l->ncols; i++)
        f[i] = fld(vals[i]);
    buf_init(&b);
    buf_reset(key);
    if (ddb_item_encode(l, &row, &b, key, &size, e) < 0) {
        buf_free(&b);
        return NULL;
    }
    snprintf(out, sizeof out, "%s", b.data);
    buf_free(&b);
    return out;
}

static const char *json_attr(const char *in)
{
    static char out[4096];
    struct buf b;
    size_t size;
    const char *why;

    buf_init(&b);
    if (ddb_json_to_attr(in, strlen(in), &b, &size, &why) < 0) {
        buf_free(&b);
        return NULL;
    }
    snprintf(out, sizeof out, "%s", b.data);
    buf_free(&b);
    return out;
}

/* ---- numbers ---- */

DEF_TEST(numbers)
{
    const char *good[] = {
        "0",       "-1.5",   "1e10", ".5",    "5.",
        "+3",      "007",    "1E+5", "0.000", "12345678901234567890123456789012345678",
        "9.9e125", "1e-130", "-0",   "1.50"};
    const char *bad[] = {"",
                         " 1",
                         "1 ",
                         "abc",
                         "NaN",
                         "Infinity",
                         "1e",
                         "--1",
                         "1.2.3",
                         "0x10",
                         "123456789012345678901234567890123456789",
                         "1e126",
                         "1e-131",
                         "-",
                         "."};
    const char *why;
    size_t size;

    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        if (ddb_number_check(good[i], strlen(good[i]), &size, &why) != 0)
            TAP_FAIL("%s should be a number: %s", good[i], why);
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        if (ddb_number_check(bad[i], strlen(bad[i]), NULL, &why) == 0)
            TAP_FAIL("'%s' should not be a number", bad[i]);
    /* 38 digits with trailing zeros beyond: trailing zeros are not significant */
    EXPECT_EQ_INT(0,
                  ddb_number_check("1000000000000000000000000000000000000000000", 43, &size, &why));
    EXPECT_EQ_INT(0, ddb_number_check("12345", 5, &size, &why));
    EXPECT_EQ_INT(4, size); /* (5+1)/2 + 1 */
}

/* ---- JSON -> M/L ---- */

DEF_TEST(json_to_attr)
{
    EXPECT_EQ_STR("{\"M\":{\"a\":{\"N\":\"1.50\"},\"b\":{\"L\":[{\"S\":\"x\"},{\"BOOL\":true},"
                  "{\"NULL\":true},{\"BOOL\":false}]}}}",
                  json_attr(" {\"a\": 1.50, \"b\": [\"x\", true, null, false]} "));
    EXPECT_EQ_STR("{\"L\":[]}", json_attr("[]"));
    EXPECT_EQ_STR("{\"M\":{}}", json_attr("{ }"));
    EXPECT_EQ_STR("{\"S\":\"a\\\"b\\u00e9\"}", json_attr("\"a\\\"b\\u00e9\""));
    EXPECT_EQ_STR("{\"N\":\"-12345678901234567890123456789012345678\"}",
                  json_attr("-12345678901234567890123456789012345678"));
    EXPECT_EQ_STR("{\"NULL\":true}", json_attr("null"));
    EXPECT_EQ_STR("{\"M\":{\"d\":{\"M\":{\"t\":{\"S\":\"2024-01-01T00:00:00.000Z\"}}}}}",
                  json_attr("{\"d\":{\"t\":\"2024-01-01T00:00:00.000Z\"}}"));
    EXPECT_TRUE(json_attr("{\"a\":1,\"a\":2}") == NULL);       /* duplicate key */
    EXPECT_TRUE(json_attr("{\"a\":1,\"\\u0061\":2}") == NULL); /* the same, escaped */
    EXPECT_TRUE(json_attr("[1,]") == NULL);
    EXPECT_TRUE(json_attr("{\"a\":1} x") == NULL);
    EXPECT_TRUE(json_attr("01") == NULL);
    EXPECT_TRUE(json_attr("1e999") == NULL);       /* out of DynamoDB's range */
    EXPECT_TRUE(json_attr("\"\\ud800\"") == NULL); /* lone surrogate */
    EXPECT_TRUE(json_attr("\"a\tb\"") == NULL);    /* raw control character */
    EXPECT_TRUE(json_attr("tru") == NULL);
    EXPECT_TRUE(json_attr("") == NULL);
    EXPECT_TRUE(json_attr("\"\\ud83d\\ude00\"") != NULL); /* surrogate pair */

    char deep[100] = "";
    for (int i = 0; i < 33; i++)
        strcat(deep, "[");
    for (int i = 0; i < 33; i++)
        strcat(deep, "]");
    EXPECT_TRUE(json_attr(deep) == NULL);
    deep[32] = '\0';
    deep[31] = '[';
    char ok[100] = "";
    for (int i = 0; i < 32; i++)
        strcat(ok, "[");
    for (int i = 0; i < 32; i++)
        strcat(ok, "]");
    EXPECT_TRUE(json_attr(ok) != NULL);

    /* sizes: M = 3 + names + values; L = 3 + values + 1 each */
    struct buf b;
    size_t size;
    const char *why;
    buf_init(&b);
    EXPECT_EQ_INT(0, ddb_json_to_attr("{\"ab\":\"xyz\",\"c\":[true]}", 23, &b, &size, &why));
    EXPECT_EQ_INT(3 + 2 + 3 + 1 + (3 + 1 + 1), size);
    buf_free(&b);
}

DEF_TEST(json_string_escapes)
{
    struct buf b;
    buf_init(&b);
    ddb_json_string(&b, "a\"\\\n\t\x01z\xc3\xa9", 9);
    EXPECT_EQ_STR("\"a\\\"\\\\\\n\\t\\u0001z\xc3\xa9\"", b.data);
    buf_free(&b);
}

/* ---- layout and items ---- */

DEF_TEST(layout_errors)
{
    struct strlist cols;
    struct ddb_key_schema ks;
    struct ddb_layout l;
    struct ierr e;
    struct route_conf *rc = route_with("ID:BOOL", NULL_AS_ABSENT);

    cols_of(&cols, "ID,Name");
    ks_one(&ks, "Id", DDB_KEY_S);
    EXPECT_EQ_INT(-1, ddb_layout_init(&l, &cols, NULL, &ks, "t", &e));
    EXPECT_EQ_INT(IERR_PERMANENT, e.cls);
    EXPECT_TRUE(strstr(e.reason, "no column Id") != NULL);
    ddb_key_schema_free(&ks);

    ks_one(&ks, "ID", DDB_KEY_S);
    EXPECT_EQ_INT(-1, ddb_layout_init(&l, &cols, rc, &ks, "t", &e));
    EXPECT_EQ_INT(IERR_CONFIG, e.cls);
    ddb_key_schema_free(&ks);

    ks_one(&ks, "ID", DDB_KEY_B);
    EXPECT_EQ_INT(-1, ddb_layout_init(&l, &cols, NULL, &ks, "t", &e));
    EXPECT_EQ_INT(IERR_CONFIG, e.cls);
    ddb_key_schema_free(&ks);
    strlist_free(&cols);
    route_free(rc);
}

DEF_TEST(every_type)
{
    struct strlist cols;
    struct ddb_key_schema ks;
    struct ddb_layout l;
    struct ierr e;
    struct buf key;
    struct route_conf *rc = route_with("n:N,b:BOOL,j:JSON", NULL_AS_ABSENT);

    buf_init(&key);
    cols_of(&cols, "id,s,n,b,j");
    ks_one(&ks, "id", DDB_KEY_S);
    EXPECT_EQ_INT(0, ddb_layout_init(&l, &cols, rc, &ks, "t", &e));
    const char *v1[] = {"k1", "he said \"hi\"", "-12.50", "TRUE", "{\"x\":[1,\"y\"]}"};
    EXPECT_EQ_STR("{\"id\":{\"S\":\"k1\"},\"s\":{\"S\":\"he said \\\"hi\\\"\"},"
                  "\"n\":{\"N\":\"-12.50\"},\"b\":{\"BOOL\":true},"
                  "\"j\":{\"M\":{\"x\":{\"L\":[{\"N\":\"1\"},{\"S\":\"y\"}]}}}}",
                  enc(&l, v1, 2, &key, &e));
    const char *v2[] = {"k2", "", "+7", "0", "null"};
    EXPECT_EQ_STR("{\"id\":{\"S\":\"k2\"},\"s\":{\"S\":\"\"},\"n\":{\"N\":\"7\"},"
                  "\"b\":{\"BOOL\":false},\"j\":{\"NULL\":true}}",
                  enc(&l, v2, 3, &key, &e));
    /* NULL fields are absent by default */
    const char *v3[] = {"k3", NULL, NULL, NULL, NULL};
    EXPECT_EQ_STR("{\"id\":{\"S\":\"k3\"}}", enc(&l, v3, 4, &key, &e));
    /* bad number: row error with line and column */
    const char *v4[] = {"k4", "x", "12abc", "1", "1"};
    EXPECT_TRUE(enc(&l, v4, 5, &key, &e) == NULL);
    EXPECT_EQ_INT(IERR_PERMANENT, e.cls);
    EXPECT_EQ_INT(5, e.line);
    EXPECT_EQ_INT(3, e.column);
    EXPECT_EQ_STR("n", e.column_name);
    EXPECT_EQ_STR("12abc", e.sample);
    const char *v5[] = {"k5", "x", "1", "yes", "1"};
    EXPECT_TRUE(enc(&l, v5, 6, &key, &e) == NULL);
    EXPECT_EQ_INT(4, e.column);
    const char *v6[] = {"k6", "x", "1", "1", "{bad"};
    EXPECT_TRUE(enc(&l, v6, 7, &key, &e) == NULL);
    EXPECT_EQ_INT(5, e.column);
    /* key missing (NULL) or empty: row error */
    const char *v7[] = {NULL, "x", "1", "1", "1"};
    EXPECT_TRUE(enc(&l, v7, 8, &key, &e) == NULL);
    EXPECT_EQ_INT(8, e.line);
    EXPECT_EQ_INT(1, e.column);
    EXPECT_TRUE(strstr(e.reason, "missing") != NULL);
    const char *v8[] = {"", "x", "1", "1", "1"};
    EXPECT_TRUE(enc(&l, v8, 9, &key, &e) == NULL);
    EXPECT_TRUE(strstr(e.reason, "empty") != NULL);
    ddb_layout_free(&l);

    /* null_as = NULL */
    rc->null_as = NULL_AS_NULL;
    EXPECT_EQ_INT(0, ddb_layout_init(&l, &cols, rc, &ks, "t", &e));
    EXPECT_EQ_STR("{\"id\":{\"S\":\"k3\"},\"s\":{\"NULL\":true},\"n\":{\"NULL\":true},"
                  "\"b\":{\"NULL\":true},\"j\":{\"NULL\":true}}",
                  enc(&l, v3, 4, &key, &e));
    ddb_layout_free(&l);
    ddb_key_schema_free(&ks);
    strlist_free(&cols);
    route_free(rc);
    buf_free(&key);
}

DEF_TEST(number_keys_and_equality)
{
    struct strlist cols;
    struct ddb_key_schema ks;
    struct ddb_layout l;
    struct ierr e;
    struct buf k1, k2;

    buf_init(&k1);
    buf_init(&k2);
    cols_of(&cols, "id,v");
    ks_one(&ks, "id", DDB_KEY_N);
    EXPECT_EQ_INT(0, ddb_layout_init(&l, &cols, NULL, &ks, "t", &e));
    const char *a[] = {"1.0", "x"}, *b[] = {"01", "y"}, *c[] = {"2", "z"}, *d[] = {"k", "z"};
    EXPECT_EQ_STR("{\"id\":{\"N\":\"1.0\"},\"v\":{\"S\":\"x\"}}", enc(&l, a, 2, &k1, &e));
    EXPECT_TRUE(enc(&l, b, 3, &k2, &e) != NULL);
    EXPECT_TRUE(k1.len == k2.len && memcmp(k1.data, k2.data, k1.len) == 0);
    EXPECT_TRUE(enc(&l, c, 4, &k2, &e) != NULL);
    EXPECT_TRUE(k1.len != k2.len || memcmp(k1.data, k2.data, k1.len) != 0);
    EXPECT_TRUE(enc(&l, d, 5, &k2, &e) == NULL); /* an N key must be a number */
    /* the decoded key of an unprocessed item matches */
    struct buf k3;
    buf_init(&k3);
    ddb_key_append(&k3, DDB_KEY_N, "1", 1);
    EXPECT_TRUE(k1.len == k3.len && memcmp(k1.data, k3.data, k1.len) == 0);
    buf_free(&k3);
    ddb_layout_free(&l);
    ddb_key_schema_free(&ks);
    strlist_free(&cols);
    buf_free(&k1);
    buf_free(&k2);
}

DEF_TEST(item_size_limit)
{
    struct strlist cols;
    struct ddb_key_schema ks;
    struct ddb_layout l;
    struct ierr e;
    struct buf key, out;
    size_t size;
    char *big = xmalloc(DDB_MAX_ITEM_BYTES + 1);

    buf_init(&key);
    buf_init(&out);
    memset(big, 'a', DDB_MAX_ITEM_BYTES);
    big[DDB_MAX_ITEM_BYTES] = '\0';
    cols_of(&cols, "id,v");
    ks_one(&ks, "id", DDB_KEY_S);
    EXPECT_EQ_INT(0, ddb_layout_init(&l, &cols, NULL, &ks, "t", &e));
    /* "id" + "k" + "v" + value: 1 + 2 + 1 = 4 bytes besides the value */
    struct field f[2] = {fld("k"), {big, DDB_MAX_ITEM_BYTES - 4}};
    struct row row = {10, f};
    EXPECT_EQ_INT(0, ddb_item_encode(&l, &row, &out, &key, &size, &e));
    EXPECT_EQ_INT(DDB_MAX_ITEM_BYTES, size);
    f[1].len++;
    buf_reset(&out);
    EXPECT_EQ_INT(-1, ddb_item_encode(&l, &row, &out, &key, &size, &e));
    EXPECT_EQ_INT(10, e.line);
    EXPECT_TRUE(strstr(e.reason, "400 KB") != NULL);
    EXPECT_EQ_INT(0, out.len);
    /* more value bytes than any item could hold: refused before encoding (control
     * characters would take six bytes each as JSON escapes) */
    free(big);
    big = xmalloc(DDB_MAX_ROW_TEXT + 1);
    memset(big, 1, DDB_MAX_ROW_TEXT + 1);
    f[1] = (struct field){big, DDB_MAX_ROW_TEXT};
    buf_free(&out);
    EXPECT_EQ_INT(-1, ddb_item_encode(&l, &row, &out, &key, &size, &e));
    EXPECT_EQ_INT(10, e.line);
    EXPECT_CONTAINS("line 10: the row's values hold 1638401 bytes: too many for DynamoDB's 400 KB",
                    e.reason);
    EXPECT_TRUE(out.cap < DDB_MAX_ROW_TEXT);
    ddb_layout_free(&l);
    ddb_key_schema_free(&ks);
    strlist_free(&cols);
    buf_free(&key);
    buf_free(&out);
    free(big);
}

/* ---- request bodies and responses ---- */

DEF_TEST(bodies)
{
    struct buf b;
    buf_init(&b);
    ddb_batch_open(&b, "t");
    ddb_batch_put(&b, "{\"a\":{\"S\":\"1\"}}", 15, true);
    ddb_batch_put(&b, "{\"a\":{\"S\":\"2\"}}", 15, false);
    ddb_batch_close(&b);
    EXPECT_EQ_STR("{\"RequestItems\":{\"t\":[{\"PutRequest\":{\"Item\":{\"a\":{\"S\":\"1\"}}}},"
                  "{\"PutRequest\":{\"Item\":{\"a\":{\"S\":\"2\"}}}}]}}",
                  b.data);
    EXPECT_TRUE(b.len <= 30 + ddb_batch_overhead("t", 2));
    buf_reset(&b);
    ddb_ledger_id(&b, "bk", "a#b/c.csv", "abc-2");
    EXPECT_EQ_STR("s3://bk/a#b/c.csv#abc-2", b.data);

    struct buf rj;
    buf_init(&rj);
    struct row_reject r = {7, 2, "bad", "x\xc3\xa9yz"};
    ddb_reject_append(&rj, &r, "col", 2); /* cut before the two-byte character */
    ddb_reject_append(&rj, &r, NULL, 100);
    struct ddb_ledger_rec rec = {.id = "s3://b/k#e",
                                 .bucket = "b",
                                 .key = "k",
                                 .etag = "e",
                                 .route = "r",
                                 .target = "t",
                                 .rows = 3,
                                 .rejected = 2,
                                 .bytes = 99,
                                 .loaded_at_ms = 1700000000123,
                                 .rejects = rj.data,
                                 .rejects_dropped = 0};
    buf_reset(&b);
    ddb_body_ledger_put(&b, "ingestd_ledger", &rec);
    json_error_t je;
    json_t *root = json_loads(b.data, 0, &je);
    EXPECT_TRUE(root != NULL);
    EXPECT_EQ_STR("attribute_not_exists(#i)",
                  json_string_value(json_object_get(root, "ConditionExpression")));
    json_t *item = json_object_get(root, "Item");
    EXPECT_EQ_STR("3", json_string_value(json_object_get(json_object_get(item, "rows"), "N")));
    EXPECT_EQ_STR("2023-11-14T22:13:20.123Z",
                  json_string_value(json_object_get(json_object_get(item, "loaded_at"), "S")));
    json_t *rl = json_object_get(json_object_get(item, "rejects"), "L");
    EXPECT_EQ_INT(2, json_array_size(rl));
    json_t *m0 = json_object_get(json_array_get(rl, 0), "M");
    EXPECT_EQ_STR("x", json_string_value(json_object_get(json_object_get(m0, "raw"), "S")));
    EXPECT_EQ_STR("col",
                  json_string_value(json_object_get(json_object_get(m0, "column_name"), "S")));
    EXPECT_TRUE(json_object_get(item, "version_id") == NULL);
    json_decref(root);
    buf_free(&rj);
    buf_free(&b);
}

DEF_TEST(responses)
{
    struct ddb_key_schema ks;
    struct ddb_unprocessed u;
    const char *why;
    char status[32];
    bool found = false;

    const char *desc =
        "{\"Table\":{\"TableName\":\"t\",\"TableStatus\":\"ACTIVE\","
        "\"KeySchema\":[{\"AttributeName\":\"s\",\"KeyType\":\"RANGE\"},"
        "{\"AttributeName\":\"p\",\"KeyType\":\"HASH\"}],"
        "\"AttributeDefinitions\":[{\"AttributeName\":\"p\",\"AttributeType\":\"S\"},"
        "{\"AttributeName\":\"s\",\"AttributeType\":\"N\"}]}}";
    EXPECT_EQ_INT(0, ddb_parse_describe(desc, strlen(desc), &ks, status, &why));
    EXPECT_EQ_INT(2, ks.n);
    EXPECT_EQ_STR("p", ks.name[0]);
    EXPECT_EQ_STR("s", ks.name[1]);
    EXPECT_EQ_INT(DDB_KEY_N, ks.type[1]);
    EXPECT_EQ_STR("ACTIVE", status);

    const char *resp =
        "{\"UnprocessedItems\":{\"t\":[{\"PutRequest\":{\"Item\":"
        "{\"p\":{\"S\":\"a\\\"b\"},\"s\":{\"N\":\"1.0\"},\"x\":{\"S\":\"\\u00e9\"}}}}]}}";
    EXPECT_EQ_INT(0, ddb_parse_batch(resp, strlen(resp), "t", &ks, &u, &why));
    EXPECT_EQ_INT(1, u.n);
    struct buf k;
    buf_init(&k);
    ddb_key_append(&k, DDB_KEY_S, "a\"b", 3);
    ddb_key_append(&k, DDB_KEY_N, "1", 1);
    EXPECT_TRUE(u.n == 1 && u.key_len[0] == k.len && memcmp(u.keys[0], k.data, k.len) == 0);
    json_t *it = u.n ? json_loads(u.items[0], 0, NULL) : NULL;
    EXPECT_EQ_STR("1.0", json_string_value(json_object_get(json_object_get(it, "s"), "N")));
    json_decref(it);
    ddb_unprocessed_free(&u);
    buf_free(&k);

    EXPECT_EQ_INT(0, ddb_parse_batch("{\"UnprocessedItems\":{}}", 23, "t", &ks, &u, &why));
    EXPECT_EQ_INT(0, u.n);
    EXPECT_EQ_INT(0, ddb_parse_batch("{}", 2, "t", &ks, &u, &why));
    EXPECT_EQ_INT(-1, ddb_parse_batch("<html>", 6, "t", &ks, &u, &why));
    const char *other = "{\"UnprocessedItems\":{\"u\":[]}}";
    EXPECT_EQ_INT(-1, ddb_parse_batch(other, strlen(other), "t", &ks, &u, &why));
    ddb_key_schema_free(&ks);

    const char *got = "{\"Item\":{\"id\":{\"S\":\"x\"}}}";
    found = false;
    EXPECT_EQ_INT(0, ddb_parse_get(got, strlen(got), &found, &why));
    EXPECT_TRUE(found);
    EXPECT_EQ_INT(0, ddb_parse_get("{}", 2, &found, &why));
    EXPECT_TRUE(!found);
}

/* ---- the writer against a scripted server ---- */

enum script { OK_ALL, UNPROCESSED_FIRST, THROTTLE_TWICE, FAIL_500_ONCE, VALIDATE_BAD };

static struct {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    enum script script;
    int requests;
    int failures_left;
    struct buf bodies; /* every request body, one per line */
    int items_seen;
} srv;

static void respond(int fd, int status, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Type: application/x-amz-json-1.0"
                     "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, strlen(body));
    if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0)
        return;
}

/* The first item of a request, handed back as unprocessed. */
static char *first_unprocessed(const char *req)
{
    json_t *root = json_loads(req, 0, NULL);
    json_t *list = json_object_get(json_object_get(root, "RequestItems"), "t");
    json_t *out = json_pack("{s:{s:[O]}}", "UnprocessedItems", "t", json_array_get(list, 0));
    char *s = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    json_decref(root);
    return s;
}

static int count_items(const char *req)
{
    json_t *root = json_loads(req, 0, NULL);
    int n = (int)json_array_size(json_object_get(json_object_get(root, "RequestItems"), "t"));
    json_decref(root);
    return n;
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(srv.fd, NULL, NULL);
        if (c < 0)
            return NULL;
        struct buf in;
        buf_init(&in);
        char tmp[65536];
        size_t need = SIZE_MAX;
        while (in.len < need) {
            ssize_t n = read(c, tmp, sizeof tmp);
            if (n <= 0)
                break;
            buf_append(&in, tmp, (size_t)n);
            char *end = strstr(in.data, "\r\n\r\n");
            char *cl = strcasestr(in.data, "content-length:");
            if (end && cl)
                need = (size_t)(end + 4 - in.data) + strtoul(cl + 15, NULL, 10);
        }
        const char *body = strstr(in.data ? in.data : "", "\r\n\r\n");
        body = body ? body + 4 : "";
        pthread_mutex_lock(&srv.mu);
        srv.requests++;
        buf_puts(&srv.bodies, body);
        buf_putc(&srv.bodies, '\n');
        int items = count_items(body);
        bool fail = srv.failures_left > 0;
        if (srv.script == THROTTLE_TWICE && fail) {
            srv.failures_left--;
            respond(c, 400,
                    "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ThrottlingException\","
                    "\"message\":\"slow down\"}");
        } else if (srv.script == FAIL_500_ONCE && fail) {
            srv.failures_left--;
            respond(c, 500, "{\"__type\":\"InternalServerError\",\"message\":\"oops\"}");
        } else if (srv.script == UNPROCESSED_FIRST && items > 1) {
            char *r = first_unprocessed(body);
            srv.items_seen += items - 1;
            respond(c, 200, r);
            free(r);
        } else if (srv.script == VALIDATE_BAD && strstr(body, "\"bad\"")) {
            respond(c, 400,
                    "{\"__type\":\"com.amazon.coral.validate#ValidationException\","
                    "\"message\":\"One or more parameter values were invalid\"}");
        } else {
            srv.items_seen += items;
            respond(c, 200, "{\"UnprocessedItems\":{}}");
        }
        pthread_mutex_unlock(&srv.mu);
        buf_free(&in);
        close(c);
    }
}

static void srv_start(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    char url[64];

    srv.fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(srv.fd, (struct sockaddr *)&a, sizeof a);
    listen(srv.fd, 64);
    getsockname(srv.fd, (struct sockaddr *)&a, &len);
    srv.port = ntohs(a.sin_port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", srv.port);
    setenv("AWS_ENDPOINT_URL_DYNAMODB", url, 1);
    pthread_mutex_init(&srv.mu, NULL);
    buf_init(&srv.bodies);
    pthread_create(&srv.thread, NULL, serve, NULL);
}

static void srv_script(enum script s, int failures)
{
    pthread_mutex_lock(&srv.mu);
    srv.script = s;
    srv.failures_left = failures;
    srv.requests = 0;
    srv.items_seen = 0;
    buf_reset(&srv.bodies);
    pthread_mutex_unlock(&srv.mu);
}

struct wfix {
    struct ddb_http *h;
    struct ddb_writer *w;
    struct ddb_key_schema ks;
};

static void wfix_open(struct wfix *f)
{
    struct aws_creds cr = {"AKID", "SECRET", NULL};
    struct ierr e;

    f->h = ddb_http_new(NULL, &e);
    ddb_http_set_creds(f->h, &cr);
    f->w = ddb_writer_new(f->h);
    ddb_writer_set_backoff(f->w, 1, 8);
    ks_one(&f->ks, "id", DDB_KEY_S);
    ddb_writer_begin(f->w, "t", &f->ks);
}

static void wfix_close(struct wfix *f)
{
    ddb_writer_free(f->w);
    ddb_http_free(f->h);
    ddb_key_schema_free(&f->ks);
}

/* Adds an item {"id":{"S":ID},"v":{"S":V}} from line. */
static int add(struct wfix *f, const char *id, const char *v, uint64_t line, struct ierr *e)
{
    struct buf item, key;
    int rc;

    buf_init(&item);
    buf_init(&key);
    buf_printf(&item, "{\"id\":{\"S\":\"%s\"},\"v\":{\"S\":\"%s\"}}", id, v);
    ddb_key_append(&key, DDB_KEY_S, id, strlen(id));
    rc = ddb_writer_add(f->w, item.data, item.len, key.data, key.len, line, e);
    buf_free(&item);
    buf_free(&key);
    return rc;
}

DEF_TEST(writer_groups_and_duplicates)
{
    struct wfix f;
    struct ddb_writer_stats st;
    struct ierr e;
    char id[16];

    wfix_open(&f);
    srv_script(OK_ALL, 0);
    EXPECT_EQ_INT(0, add(&f, "a", "old", 2, &e));
    EXPECT_EQ_INT(0, add(&f, "b", "x", 3, &e));
    EXPECT_EQ_INT(0, add(&f, "a", "new", 4, &e)); /* last row wins */
    EXPECT_EQ_INT(0, ddb_writer_flush(f.w, &e));
    EXPECT_EQ_INT(1, srv.requests);
    EXPECT_EQ_INT(2, srv.items_seen);
    EXPECT_TRUE(strstr(srv.bodies.data, "\"new\"") && !strstr(srv.bodies.data, "\"old\""));
    ddb_writer_get_stats(f.w, &st);
    EXPECT_EQ_INT(3, st.items);
    EXPECT_EQ_INT(1, st.replaced);
    EXPECT_EQ_INT(2, st.written);

    ddb_writer_begin(f.w, "t", &f.ks);
    srv_script(OK_ALL, 0);
    for (int i = 0; i < 60; i++) {
        snprintf(id, sizeof id, "k%d", i);
        EXPECT_EQ_INT(0, add(&f, id, "v", (uint64_t)i + 2, &e));
    }
    EXPECT_EQ_INT(0, ddb_writer_flush(f.w, &e));
    EXPECT_EQ_INT(3, srv.requests); /* 25 + 25 + 10 */
    EXPECT_EQ_INT(60, srv.items_seen);
    ddb_writer_get_stats(f.w, &st);
    EXPECT_EQ_INT(60, st.written);
    wfix_close(&f);
}

DEF_TEST(writer_unprocessed_and_throttling)
{
    struct wfix f;
    struct ddb_writer_stats st;
    struct ierr e;
    char id[16];

    wfix_open(&f);
    srv_script(UNPROCESSED_FIRST, 0);
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "k%d", i);
        EXPECT_EQ_INT(0, add(&f, id, "v", (uint64_t)i + 2, &e));
    }
    EXPECT_EQ_INT(0, ddb_writer_flush(f.w, &e));
    ddb_writer_get_stats(f.w, &st);
    EXPECT_EQ_INT(50, srv.items_seen);
    EXPECT_EQ_INT(50, st.written);
    EXPECT_EQ_INT(2, st.unprocessed);
    EXPECT_EQ_INT(2, st.retries);
    EXPECT_EQ_INT(4, srv.requests);

    ddb_writer_begin(f.w, "t", &f.ks);
    srv_script(THROTTLE_TWICE, 2);
    EXPECT_EQ_INT(0, add(&f, "a", "v", 2, &e));
    EXPECT_EQ_INT(0, ddb_writer_flush(f.w, &e));
    ddb_writer_get_stats(f.w, &st);
    EXPECT_EQ_INT(2, st.retries);
    EXPECT_EQ_INT(1, st.written);
    EXPECT_EQ_INT(3, srv.requests);

    ddb_writer_begin(f.w, "t", &f.ks);
    srv_script(FAIL_500_ONCE, 1);
    EXPECT_EQ_INT(0, add(&f, "a", "v", 2, &e));
    EXPECT_EQ_INT(0, ddb_writer_flush(f.w, &e));
    ddb_writer_get_stats(f.w, &st);
    EXPECT_EQ_INT(1, st.retries);

    /* throttled for good: transient failure after the retry limit */
    ddb_writer_begin(f.w, "t", &f.ks);
    srv_script(THROTTLE_TWICE, 1000);
    EXPECT_EQ_INT(0, add(&f, "a", "v", 9, &e));
    EXPECT_EQ_INT(-1, ddb_writer_flush(f.w, &e));
    EXPECT_EQ_INT(IERR_TRANSIENT, e.cls);
    EXPECT_EQ_INT(DDB_WRITER_MAX_RETRIES + 1, srv.requests);
    wfix_close(&f);
}

DEF_TEST(writer_validation_names_the_line)
{
    struct wfix f;
    struct ierr e;
    char id[16];

    wfix_open(&f);
    srv_script(VALIDATE_BAD, 0);
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "k%d", i);
        EXPECT_EQ_INT(0, add(&f, id, i == 6 ? "bad" : "ok", (uint64_t)i + 2, &e));
    }
    EXPECT_EQ_INT(-1, ddb_writer_flush(f.w, &e));
    EXPECT_EQ_INT(IERR_PERMANENT, e.cls);
    EXPECT_EQ_INT(8, e.line);
    EXPECT_TRUE(strstr(e.reason, "ValidationException") != NULL);
    /* after reset the writer works again */
    ddb_writer_begin(f.w, "t", &f.ks);
    srv_script(OK_ALL, 0);
    EXPECT_EQ_INT(0, add(&f, "z", "ok", 2, &e));
    EXPECT_EQ_INT(0, ddb_writer_flush(f.w, &e));
    wfix_close(&f);
}

DEF_TEST(writer_without_credentials_fails_transient)
{
    struct wfix f;
    struct ierr e;

    wfix_open(&f);
    ddb_http_set_creds(f.h, NULL);
    srv_script(OK_ALL, 0);
    EXPECT_EQ_INT(0, add(&f, "a", "v", 2, &e));
    EXPECT_EQ_INT(-1, ddb_writer_flush(f.w, &e));
    EXPECT_EQ_INT(IERR_TRANSIENT, e.cls);
    EXPECT_EQ_INT(0, srv.requests);
    wfix_close(&f);
}

int main(void)
{
    unsetenv("AWS_ENDPOINT_URL");
    setenv("AWS_REGION", "us-east-1", 1);
    RUN_TEST(numbers);
    RUN_TEST(json_to_attr);
    RUN_TEST(json_string_escapes);
    RUN_TEST(layout_errors);
    RUN_TEST(every_type);
    RUN_TEST(number_keys_and_equality);
    RUN_TEST(item_size_limit);
    RUN_TEST(bodies);
    RUN_TEST(responses);
    srv_start();
    RUN_TEST(writer_groups_and_duplicates);
    RUN_TEST(writer_unprocessed_and_throttling);
    RUN_TEST(writer_validation_names_the_line);
    RUN_TEST(writer_without_credentials_fails_transient);
    shutdown(srv.fd, SHUT_RDWR);
    close(srv.fd);
    pthread_join(srv.thread, NULL);
    buf_free(&srv.bodies);
    return tap_done();
}

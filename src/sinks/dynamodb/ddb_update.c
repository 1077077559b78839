/*
 * ddb_update.c: DynamoDB `mode = update` (see ddb_update.h): rows merged per key into
 * batches, each sent as one TransactWriteItems with its marker item.
 *
 * The rows arrive as the items ddb_item.c encodes, so types, key checks and item
 * sizes are the put mode's; jansson takes the item apart into its key and its values
 * and builds the request. Numbers stay text all the way: `add` merges them with the
 * decimal adder below, never through a double.
 */
#include "sinks/dynamodb/ddb_update.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"

/* ---- exact decimal addition ---- */

#define DEC_MAX 720 /* digits: two aligned numbers of DynamoDB's range fit */

/* value = digits (no leading zeros; n == 0 for zero) times 10^exp */
struct dec {
    bool neg;
    char d[DEC_MAX];
    size_t n;
    long exp;
};

static int dec_parse(const char *p, struct dec *x, const char **why)
{
    size_t len = strlen(p), i = 0, frac = 0;
    long e = 0;
    bool eneg = false, point = false;

    if (ddb_number_check(p, len, NULL, why) < 0)
        return -1;
    memset(x, 0, sizeof *x);
    if (p[i] == '-' || p[i] == '+')
        x->neg = p[i++] == '-';
    for (; i < len && (isdigit((unsigned char)p[i]) || p[i] == '.'); i++) {
        if (p[i] == '.') {
            point = true;
            continue;
        }
        if (x->n == 0 && p[i] == '0') {
            frac += point;
            continue;
        }
        if (x->n == DEC_MAX / 2) {
            *why = "a number of too many digits";
            return -1;
        }
        x->d[x->n++] = p[i];
        frac += point;
    }
    if (i < len) { /* exponent: the check bounded the magnitude */
        i++;
        if (p[i] == '-' || p[i] == '+')
            eneg = p[i++] == '-';
        for (; i < len && e < 100000; i++)
            e = e * 10 + (p[i] - '0');
    }
    x->exp = (eneg ? -e : e) - (long)frac;
    while (x->n && x->d[x->n - 1] == '0') {
        x->n--;
        x->exp++;
    }
    if (x->n == 0)
        x->neg = false;
    return 0;
}

/* x's digits with `shift` zeros after them: x at exponent x->exp - shift. */
static void dec_shift(struct dec *x, long shift)
{
    memset(x->d + x->n, '0', (size_t)shift);
    x->n += (size_t)shift;
    x->exp -= shift;
}

static int mag_cmp(const struct dec *a, const struct dec *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    return memcmp(a->d, b->d, a->n);
}

/* r = a + b (add) or a - b (a >= b), magnitudes of equal exponent. */
static void mag_op(const struct dec *a, const struct dec *b, bool add, struct dec *r)
{
    char tmp[DEC_MAX + 1] = {0};
    size_t n = 0;
    int carry = 0;

    for (size_t i = 0; i < a->n || i < b->n; i++) {
        int x = i < a->n ? a->d[a->n - 1 - i] - '0' : 0;
        int y = i < b->n ? b->d[b->n - 1 - i] - '0' : 0;
        int v = add ? x + y + carry : x - y - carry;

        carry = add ? v / 10 : v < 0;
        tmp[n++] = (char)('0' + (add ? v % 10 : (v + 10) % 10));
    }
    if (carry && add)
        tmp[n++] = '1';
    while (n && tmp[n - 1] == '0')
        n--;
    r->n = n;
    for (size_t i = 0; i < n; i++)
        r->d[i] = tmp[n - 1 - i];
    r->exp = a->exp;
    while (r->n && r->d[r->n - 1] == '0') {
        r->n--;
        r->exp++;
    }
}

static void dec_format(const struct dec *x, struct buf *out)
{
    long point = (long)x->n + x->exp; /* digits before the decimal point */

    if (x->n == 0) {
        buf_putc(out, '0');
        return;
    }
    if (x->neg)
        buf_putc(out, '-');
    if (x->exp >= 0 && point <= 40) {
        buf_append(out, x->d, x->n);
        for (long i = 0; i < x->exp; i++)
            buf_putc(out, '0');
    } else if (x->exp < 0 && point > 0) {
        buf_append(out, x->d, (size_t)point);
        buf_putc(out, '.');
        buf_append(out, x->d + point, x->n - (size_t)point);
    } else if (x->exp < 0 && point > -40) {
        buf_puts(out, "0.");
        for (long i = point; i < 0; i++)
            buf_putc(out, '0');
        buf_append(out, x->d, x->n);
    } else {
        buf_append(out, x->d, x->n);
        buf_printf(out, "E%ld", x->exp);
    }
}

int ddb_decimal_add(const char *a, const char *b, struct buf *out, const char **why)
{
    struct dec *x = xcalloc(3, sizeof *x), *y = x + 1, *r = x + 2;
    size_t mark = out->len;
    int rc = -1;

    if (dec_parse(a, x, why) < 0 || dec_parse(b, y, why) < 0)
        goto out;
    if (x->n && y->n) {
        struct dec *hi = x->exp > y->exp ? x : y, *lo = hi == x ? y : x;
        long shift = hi->exp - lo->exp;

        if ((size_t)shift + hi->n >= DEC_MAX) {
            *why = "the sum has more than 38 significant digits";
            goto out;
        }
        dec_shift(hi, shift);
    }
    if (!x->n) {
        *r = *y;
    } else if (!y->n) {
        *r = *x;
    } else if (x->neg == y->neg) {
        mag_op(x, y, true, r);
        r->neg = x->neg;
    } else if (mag_cmp(x, y) >= 0) {
        mag_op(x, y, false, r);
        r->neg = x->neg;
    } else {
        mag_op(y, x, false, r);
        r->neg = y->neg;
    }
    if (r->n == 0)
        r->neg = false;
    dec_format(r, out);
    if (ddb_number_check(out->data + mark, out->len - mark, NULL, why) < 0) {
        *why = "the sum is not a DynamoDB number (more than 38 significant digits, or out of "
               "range)";
        out->len = mark;
        out->data[mark] = '\0';
        goto out;
    }
    rc = 0;
out:
    free(x);
    return rc;
}

/* ---- batches ---- */

struct entry {
    char *key; /* ddb_item's key bytes */
    size_t keylen;
    json_t *keyattrs; /* object: key attribute -> value */
    json_t *vals;     /* object: attribute -> merged value (append: an L) */
    uint64_t line;    /* of the key's first row in the batch */
    size_t bytes;
};

struct ddb_update {
    struct ddb_http *http;
    const char *table, *ledger, *ledger_id;
    const struct ddb_key_schema *ks;
    const struct route_conf *route;
    struct entry e[DDB_UPDATE_BATCH_ITEMS];
    size_t n;
    size_t bytes;
    uint64_t batch_no;
    struct ddb_update_stats st;
};

struct ddb_update *ddb_update_new(struct ddb_http *h)
{
    struct ddb_update *u = xcalloc(1, sizeof *u);

    u->http = h;
    return u;
}

static void clear_entries(struct ddb_update *u)
{
    for (size_t i = 0; i < u->n; i++) {
        free(u->e[i].key);
        json_decref(u->e[i].keyattrs);
        json_decref(u->e[i].vals);
    }
    memset(u->e, 0, u->n * sizeof u->e[0]);
    u->n = 0;
    u->bytes = 0;
}

void ddb_update_reset(struct ddb_update *u)
{
    if (!u)
        return;
    clear_entries(u);
    u->table = u->ledger = u->ledger_id = NULL;
    u->ks = NULL;
    u->route = NULL;
    u->batch_no = 0;
    memset(&u->st, 0, sizeof u->st);
}

void ddb_update_free(struct ddb_update *u)
{
    if (!u)
        return;
    ddb_update_reset(u);
    free(u);
}

void ddb_update_begin(struct ddb_update *u, const char *table, const struct ddb_key_schema *ks,
                      const struct route_conf *route, const char *ledger_table,
                      const char *ledger_id)
{
    ddb_update_reset(u);
    u->table = table;
    u->ks = ks;
    u->route = route;
    u->ledger = ledger_table;
    u->ledger_id = ledger_id;
}

void ddb_update_get_stats(const struct ddb_update *u, struct ddb_update_stats *st)
{
    *st = u->st;
}

static enum update_action action_of(const struct route_conf *r, const char *col)
{
    for (size_t i = 0; r && i < r->nupdates; i++)
        if (strcmp(r->updates[i].column, col) == 0)
            return r->updates[i].action;
    return UPDATE_SET;
}

static bool is_key(const struct ddb_update *u, const char *name)
{
    for (size_t k = 0; k < u->ks->n; k++)
        if (strcmp(u->ks->name[k], name) == 0)
            return true;
    return false;
}

static void row_error(struct ierr *e, uint64_t line, const char *col, const char *why,
                      const char *sample)
{
    ierr_set(e, IERR_PERMANENT, "line %llu, column %s: %s", (unsigned long long)line, col, why);
    e->line = line;
    snprintf(e->column_name, sizeof e->column_name, "%s", col);
    if (sample)
        snprintf(e->sample, sizeof e->sample, "%s", sample);
}

/* Merges one value of a row into its entry, by the column's action. */
static int merge_value(struct entry *en, const char *col, enum update_action act, json_t *v,
                       uint64_t line, struct ierr *e)
{
    json_t *old = json_object_get(en->vals, col);
    bool null = json_object_get(v, "NULL") != NULL;

    switch (act) {
    case UPDATE_SET:
        json_object_set(en->vals, col, v);
        return 0;
    case UPDATE_SET_IF_ABSENT:
        if (!old)
            json_object_set(en->vals, col, v);
        return 0;
    case UPDATE_APPEND:
        if (null)
            return 0;
        if (!old) {
            old = json_pack("{s:[]}", "L");
            json_object_set_new(en->vals, col, old);
        }
        json_array_append(json_object_get(old, "L"), v);
        return 0;
    case UPDATE_ADD: {
        const char *num = json_string_value(json_object_get(v, "N")), *why = NULL;
        struct buf sum;

        if (null)
            return 0;
        if (!num) {
            row_error(e, line, col, "update add needs a number (types = COLUMN:N)", NULL);
            return -1;
        }
        if (!old) {
            json_object_set(en->vals, col, v);
            return 0;
        }
        buf_init(&sum);
        if (ddb_decimal_add(json_string_value(json_object_get(old, "N")), num, &sum, &why) < 0) {
            row_error(e, line, col, why, num);
            buf_free(&sum);
            return -1;
        }
        json_object_set_new(en->vals, col, json_pack("{s:s}", "N", sum.data));
        buf_free(&sum);
        return 0;
    }
    }
    return 0;
}

static void add_update(const struct ddb_update *u, const struct entry *en, json_t *items)
{
    struct buf set, add;
    json_t *names = json_object(), *values = json_object(), *v;
    const char *col;
    int i = 0;

    buf_init(&set);
    buf_init(&add);
    json_object_foreach(en->vals, col, v)
    {
        char n[16], val[16];

        snprintf(n, sizeof n, "#a%d", i);
        snprintf(val, sizeof val, ":v%d", i);
        i++;
        json_object_set_new(names, n, json_string(col));
        json_object_set(values, val, v);
        switch (action_of(u->route, col)) {
        case UPDATE_ADD:
            buf_printf(&add, "%s%s %s", add.len ? ", " : "", n, val);
            break;
        case UPDATE_SET:
            buf_printf(&set, "%s%s = %s", set.len ? ", " : "", n, val);
            break;
        case UPDATE_SET_IF_ABSENT:
            buf_printf(&set, "%s%s = if_not_exists(%s, %s)", set.len ? ", " : "", n, n, val);
            break;
        case UPDATE_APPEND:
            buf_printf(&set, "%s%s = list_append(if_not_exists(%s, :empty), %s)",
                       set.len ? ", " : "", n, n, val);
            json_object_set_new(values, ":empty", json_pack("{s:[]}", "L"));
            break;
        }
    }
    {
        struct buf expr;

        buf_init(&expr);
        if (set.len)
            buf_printf(&expr, "SET %s", set.data);
        if (add.len)
            buf_printf(&expr, "%sADD %s", set.len ? " " : "", add.data);
        json_array_append_new(items,
                              json_pack("{s:{s:s, s:O, s:s, s:o, s:o}}", "Update", "TableName",
                                        u->table, "Key", en->keyattrs, "UpdateExpression",
                                        expr.data, "ExpressionAttributeNames", names,
                                        "ExpressionAttributeValues", values));
        buf_free(&expr);
    }
    buf_free(&set);
    buf_free(&add);
}

/* The request of the current batch (number u->batch_no); NULL when it has no update. */
static json_t *batch_request(const struct ddb_update *u, size_t *nupdates)
{
    json_t *items = json_array(), *req;
    char marker[64];
    struct buf id;

    *nupdates = 0;
    for (size_t i = 0; i < u->n; i++) {
        if (json_object_size(u->e[i].vals) == 0)
            continue; /* a key without values changes nothing */
        add_update(u, &u->e[i], items);
        (*nupdates)++;
    }
    buf_init(&id);
    buf_printf(&id, "%s#%" PRIu64, u->ledger_id, u->batch_no);
    snprintf(marker, sizeof marker, "%" PRId64,
             now_realtime_ms() / 1000 + (int64_t)DDB_UPDATE_MARKER_TTL_S);
    json_array_append_new(items,
                          json_pack("{s:{s:s, s:{s:{s:s}, s:{s:s}}, s:s}}", "Put", "TableName",
                                    u->ledger, "Item", "id", "S", id.data, "expires_at", "N",
                                    marker, "ConditionExpression", "attribute_not_exists(id)"));
    buf_free(&id);
    req = json_pack("{s:o}", "TransactItems", items);
    if (*nupdates == 0) {
        json_decref(req);
        return NULL;
    }
    return req;
}

enum ddb_txn_outcome ddb_txn_classify(const char *body, size_t len, size_t nupdates, size_t *bad,
                                      char *code, size_t codesz)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *reasons = json_object_get(root, "CancellationReasons");
    enum ddb_txn_outcome out = DDB_TXN_PERMANENT;
    const char *marker;

    *bad = nupdates;
    snprintf(code, codesz, "%s", "unknown");
    marker = json_string_value(json_object_get(json_array_get(reasons, nupdates), "Code"));
    if (marker && strcmp(marker, "ConditionalCheckFailed") == 0) {
        snprintf(code, codesz, "%s", marker);
        out = DDB_TXN_APPLIED_BEFORE;
        goto done;
    }
    /* A refused update decides; a conflict or throttling anywhere is worth a retry. */
    for (size_t i = 0; i < nupdates && i < json_array_size(reasons); i++) {
        const char *c = json_string_value(json_object_get(json_array_get(reasons, i), "Code"));

        if (!c || strcmp(c, "None") == 0)
            continue;
        snprintf(code, codesz, "%s", c);
        if (strcmp(c, "TransactionConflict") == 0 || strcmp(c, "ThrottlingError") == 0 ||
            strcmp(c, "ProvisionedThroughputExceeded") == 0 ||
            strcmp(c, "RequestLimitExceeded") == 0 || strcmp(c, "InternalServerError") == 0) {
            out = DDB_TXN_RETRY;
            continue;
        }
        *bad = i;
        out = DDB_TXN_PERMANENT;
        goto done;
    }
    if (out != DDB_TXN_RETRY && marker && strcmp(marker, "None") != 0) {
        snprintf(code, codesz, "%s", marker);
        if (strcmp(marker, "TransactionConflict") == 0 || strcmp(marker, "ThrottlingError") == 0)
            out = DDB_TXN_RETRY;
    }
done:
    json_decref(root);
    return out;
}

/* The entry (with values) at update index i of the request. */
static const struct entry *nth_update(const struct ddb_update *u, size_t i)
{
    for (size_t k = 0; k < u->n; k++) {
        if (json_object_size(u->e[k].vals) == 0)
            continue;
        if (i-- == 0)
            return &u->e[k];
    }
    return NULL;
}

/* The code of a refusal of a one-update probe, or NULL when the update is fine. */
static const char *probe_refusal(const struct ddb_call *c, char *code, size_t codesz)
{
    size_t bad;

    if (c->err.kind == AWS_OK)
        return NULL; /* cannot happen: the probe's condition never holds */
    if (strcmp(c->err.code, "TransactionCanceledException") != 0) {
        snprintf(code, codesz, "%.63s", c->err.code);
        return c->err.retryable ? NULL : code;
    }
    if (ddb_txn_classify(c->resp.data, c->resp.len, 1, &bad, code, codesz) == DDB_TXN_PERMANENT &&
        bad == 0)
        return code;
    return NULL;
}

/*
 * A refusal of the whole request (moto, and AWS for some errors, answer a plain
 * ValidationException that names no action): each update is sent again alone with a
 * condition check on an id that is never written, so that nothing is ever applied,
 * and the first one refused for itself is the batch's bad row.
 */
static const struct entry *locate_refused(const struct ddb_update *u, json_t *req, size_t nupdates,
                                          char *why, size_t whysz)
{
    json_t *items = json_object_get(req, "TransactItems");
    const struct entry *found = NULL;
    struct buf probe_id;

    buf_init(&probe_id);
    buf_printf(&probe_id, "%s#probe", u->ledger_id);
    for (size_t i = 0; i < nupdates && !found; i++) {
        json_t *one = json_pack("{s:[O,{s:{s:s,s:{s:{s:s}},s:s}}]}", "TransactItems",
                                json_array_get(items, i), "ConditionCheck", "TableName", u->ledger,
                                "Key", "id", "S", probe_id.data, "ConditionExpression",
                                "attribute_exists(id)");
        char *text = json_dumps(one, JSON_COMPACT);
        struct buf body;
        struct ddb_call *c;
        char code[64];

        buf_init(&body);
        buf_puts(&body, text);
        c = ddb_http_call(u->http, "TransactWriteItems", &body, 5);
        if (probe_refusal(c, code, sizeof code)) {
            found = nth_update(u, i);
            snprintf(why, whysz, "line %llu: %s: %s", (unsigned long long)(found ? found->line : 0),
                     code, c->err.message);
        }
        ddb_call_free(c);
        buf_free(&body);
        free(text);
        json_decref(one);
    }
    buf_free(&probe_id);
    return found;
}

static int send_batch(struct ddb_update *u, struct ierr *e)
{
    size_t nupdates = 0;
    json_t *req;
    char *text;
    int rc = -1;

    if (u->n == 0)
        return 0;
    u->batch_no++;
    req = batch_request(u, &nupdates);
    if (!req) {
        clear_entries(u);
        return 0;
    }
    text = json_dumps(req, JSON_COMPACT);
    for (int attempt = 1;; attempt++) {
        struct buf body;
        struct ddb_call *c;
        char eb[800], code[64];
        size_t bad;

        buf_init(&body);
        buf_puts(&body, text);
        c = ddb_http_call(u->http, "TransactWriteItems", &body, 5);
        buf_free(&body);
        if (c->err.kind == AWS_OK) {
            u->st.batches_applied++;
            u->st.updates += nupdates;
            rc = 0;
        } else if (strcmp(c->err.code, "ValidationException") == 0) {
            char why[700];
            const struct entry *en = locate_refused(u, req, nupdates, why, sizeof why);

            ierr_set(e, IERR_PERMANENT, "update of %s refused: %s", u->table,
                     en ? why : aws_error_str(&c->err, eb, sizeof eb));
            if (en)
                e->line = en->line;
        } else if (strcmp(c->err.code, "TransactionCanceledException") != 0) {
            ierr_set(e,
                     c->err.retryable || c->err.kind == AWS_ERR_NETWORK ? IERR_TRANSIENT
                                                                        : IERR_PERMANENT,
                     "TransactWriteItems into %s (batch %" PRIu64 ", lines %llu..): %s", u->table,
                     u->batch_no, (unsigned long long)u->e[0].line,
                     aws_error_str(&c->err, eb, sizeof eb));
        } else {
            switch (
                ddb_txn_classify(c->resp.data, c->resp.len, nupdates, &bad, code, sizeof code)) {
            case DDB_TXN_APPLIED_BEFORE:
                log_info("update batch %" PRIu64 " of %s was applied by an earlier attempt: "
                         "skipped",
                         u->batch_no, u->ledger_id);
                u->st.batches_skipped++;
                rc = 0;
                break;
            case DDB_TXN_RETRY:
                if (attempt < DDB_UPDATE_ATTEMPTS) {
                    struct timespec ts;
                    uint64_t ms = backoff_full_jitter_ms((unsigned)attempt, 50, 5000);

                    ddb_call_free(c);
                    u->st.retries++;
                    log_debug("update batch %" PRIu64 ": %s, sent again in %" PRIu64 " ms",
                              u->batch_no, code, ms);
                    ts.tv_sec = (time_t)(ms / 1000);
                    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
                    nanosleep(&ts, NULL);
                    continue;
                }
                ierr_set(e, IERR_TRANSIENT,
                         "TransactWriteItems into %s: %s after %d attempts (batch %" PRIu64 ")",
                         u->table, code, attempt, u->batch_no);
                break;
            case DDB_TXN_PERMANENT: {
                const struct entry *en = nth_update(u, bad);

                ierr_set(e, IERR_PERMANENT, "update of %s refused (%s): %s", u->table, code,
                         c->err.message);
                if (en)
                    e->line = en->line;
                break;
            }
            }
        }
        ddb_call_free(c);
        break;
    }
    free(text);
    json_decref(req);
    clear_entries(u);
    return rc;
}

int ddb_update_add(struct ddb_update *u, const char *item, size_t n, const char *key, size_t keylen,
                   uint64_t line, struct ierr *e)
{
    struct entry *en = NULL;
    json_t *obj, *v, *before = NULL;
    const char *col;
    int rc = 0;

    for (size_t i = 0; i < u->n; i++) {
        if (u->e[i].keylen == keylen && memcmp(u->e[i].key, key, keylen) == 0) {
            en = &u->e[i];
            break;
        }
    }
    /* The cut depends on the rows only: a 100th key or a full byte budget. */
    if ((!en && u->n == DDB_UPDATE_BATCH_ITEMS) || u->bytes + n > DDB_UPDATE_BATCH_BYTES) {
        if (send_batch(u, e) < 0)
            return -1;
        en = NULL;
    }
    obj = json_loadb(item, n, 0, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        ierr_set(e, IERR_PERMANENT, "line %llu: the row's item did not encode",
                 (unsigned long long)line);
        e->line = line;
        return DDB_UPDATE_ROW_ERROR;
    }
    if (en) {
        before = json_deep_copy(en->vals); /* a row error leaves the entry as it was */
    } else {
        en = &u->e[u->n++];
        en->key = xmalloc(keylen ? keylen : 1);
        memcpy(en->key, key, keylen);
        en->keylen = keylen;
        en->keyattrs = json_object();
        en->vals = json_object();
        en->line = line;
        json_object_foreach(obj, col, v)
        {
            if (is_key(u, col))
                json_object_set(en->keyattrs, col, v);
        }
    }
    json_object_foreach(obj, col, v)
    {
        if (is_key(u, col))
            continue;
        if (merge_value(en, col, action_of(u->route, col), v, line, e) < 0) {
            rc = -1;
            break;
        }
    }
    json_decref(obj);
    if (rc == 0 && en->bytes + n > DDB_MAX_ITEM_BYTES) {
        ierr_set(e, IERR_PERMANENT,
                 "line %llu: the updates of one item in one batch pass DynamoDB's 400 KB "
                 "item limit",
                 (unsigned long long)line);
        e->line = line;
        rc = -1;
    }
    if (rc < 0) {
        if (before) {
            json_decref(en->vals);
            en->vals = before;
        } else {
            free(en->key);
            json_decref(en->keyattrs);
            json_decref(en->vals);
            memset(en, 0, sizeof *en);
            u->n--;
        }
        return DDB_UPDATE_ROW_ERROR;
    }
    json_decref(before);
    en->bytes += n;
    u->bytes += n;
    return 0;
}

int ddb_update_flush(struct ddb_update *u, struct ierr *e)
{
    return send_batch(u, e);
}

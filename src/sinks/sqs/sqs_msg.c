/*
 * sqs_msg.c: message bodies, attributes and SendMessageBatch framing for the SQS sink.
 *
 * Bodies are written by hand rather than through jansson so that numbers and
 * embedded JSON keep the text the object had (jansson would reformat 250.00 as
 * 250.0); JSON fields are still validated with jansson first. Strings are escaped
 * here: the pipeline guarantees valid UTF-8, so only quotes, backslashes and
 * control characters need escapes. Answers are parsed with jansson.
 */
#include "sinks/sqs/sqs_msg.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/sigv4.h"
#include "base/utf8.h"

void sqs_json_string(struct buf *out, const char *p, size_t n)
{
    size_t run = 0;

    buf_reserve(out, n + 2);
    buf_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        char esc[8];

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_append(out, p + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            buf_append(out, esc, 2);
        } else if (c == '\n') {
            buf_puts(out, "\\n");
        } else if (c == '\t') {
            buf_puts(out, "\\t");
        } else if (c == '\r') {
            buf_puts(out, "\\r");
        } else {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            buf_puts(out, esc);
        }
    }
    buf_append(out, p + run, n - run);
    buf_putc(out, '"');
}

void sqs_layout_init(struct sqs_layout *l, const struct strlist *columns,
                     const struct route_conf *rc)
{
    struct buf b;

    memset(l, 0, sizeof(*l));
    l->ncols = columns->n;
    l->qnames = xcalloc(columns->n + 1, sizeof(*l->qnames));
    l->types = xcalloc(columns->n + 1, sizeof(*l->types));
    l->null_as_null = rc && rc->null_as == NULL_AS_NULL;
    buf_init(&b);
    for (size_t i = 0; i < columns->n; i++) {
        buf_reset(&b);
        sqs_json_string(&b, columns->v[i], strlen(columns->v[i]));
        l->qnames[i] = xstrdup(b.data);
        l->types[i] = ATTR_S;
        for (size_t t = 0; rc && t < rc->ntypes; t++)
            if (strcmp(rc->types[t].column, columns->v[i]) == 0)
                l->types[i] = rc->types[t].type;
    }
    buf_free(&b);
}

void sqs_layout_free(struct sqs_layout *l)
{
    for (size_t i = 0; l->qnames && i < l->ncols; i++)
        free(l->qnames[i]);
    free(l->qnames);
    free(l->types);
    memset(l, 0, sizeof(*l));
}

bool sqs_json_number(const char *p, size_t n)
{
    size_t i = 0;

    if (i < n && p[i] == '-')
        i++;
    if (i >= n)
        return false;
    if (p[i] == '0') {
        i++;
    } else if (p[i] >= '1' && p[i] <= '9') {
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
    } else {
        return false;
    }
    if (i < n && p[i] == '.') {
        size_t d = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        size_t d;
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        d = i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    return i == n;
}

static int bool_value(const char *p, size_t n)
{
    if ((n == 4 && strncasecmp(p, "true", 4) == 0) || (n == 1 && p[0] == '1'))
        return 1;
    if ((n == 5 && strncasecmp(p, "false", 5) == 0) || (n == 1 && p[0] == '0'))
        return 0;
    return -1;
}

static bool json_valid(const char *p, size_t n)
{
    json_error_t je;
    json_t *j = json_loadb(p, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);

    json_decref(j);
    return j != NULL;
}

static int row_error(const struct sqs_layout *l, const struct row *row, size_t k, const char *what,
                     struct ierr *e)
{
    const struct field *f = &row->fields[k];
    char name[128];

    /* qnames hold the name quoted: drop the quotes for messages */
    utf8_sample(name, sizeof(name), l->qnames[k] + 1, strlen(l->qnames[k]) - 2);
    ierr_set(e, IERR_PERMANENT, "line %llu: column %s: %s", (unsigned long long)row->line, name,
             what);
    e->line = row->line;
    e->column = (unsigned)k + 1;
    snprintf(e->column_name, sizeof(e->column_name), "%s", name);
    utf8_sample(e->sample, sizeof(e->sample), f->ptr, f->len);
    return -1;
}

int sqs_msg_body(const struct sqs_layout *l, const struct row *row, struct buf *out, struct ierr *e)
{
    size_t start = out->len, text = 0;
    bool first = true;

    for (size_t k = 0; k < l->ncols; k++)
        text += row->fields[k].ptr ? row->fields[k].len : 0;
    if (text > SQS_MSG_MAX_BYTES) {
        ierr_set(e, IERR_PERMANENT,
                 "line %llu: the row's values hold %zu bytes, over the SQS "
                 "limit of %zu",
                 (unsigned long long)row->line, text, SQS_MSG_MAX_BYTES);
        e->line = row->line;
        return -1;
    }
    buf_putc(out, '{');
    for (size_t k = 0; k < l->ncols; k++) {
        const struct field *f = &row->fields[k];
        const char *bad = NULL;
        int b;

        if (!f->ptr && !l->null_as_null)
            continue;
        if (!first)
            buf_putc(out, ',');
        first = false;
        buf_puts(out, l->qnames[k]);
        buf_putc(out, ':');
        if (!f->ptr) {
            buf_puts(out, "null");
            continue;
        }
        switch (l->types[k]) {
        case ATTR_S:
            sqs_json_string(out, f->ptr, f->len);
            break;
        case ATTR_N:
            if (sqs_json_number(f->ptr, f->len))
                buf_append(out, f->ptr, f->len);
            else
                bad = "not a JSON number (types says N)";
            break;
        case ATTR_BOOL:
            b = bool_value(f->ptr, f->len);
            if (b >= 0)
                buf_puts(out, b ? "true" : "false");
            else
                bad = "not true, false, 1 or 0 (types says BOOL)";
            break;
        case ATTR_JSON:
            if (json_valid(f->ptr, f->len))
                buf_append(out, f->ptr, f->len);
            else
                bad = "not valid JSON (types says JSON)";
            break;
        }
        if (bad) {
            out->len = start;
            if (out->data)
                out->data[start] = '\0';
            return row_error(l, row, k, bad, e);
        }
    }
    buf_putc(out, '}');
    return 0;
}

void sqs_msg_ctx_init(struct sqs_msg_ctx *c, const char *bucket, const char *key, const char *etag,
                      bool fifo)
{
    struct buf b;

    memset(c, 0, sizeof(*c));
    c->bucket = bucket;
    c->key = key;
    c->etag = etag ? etag : "";
    c->fifo = fifo;
    buf_init(&b);
    buf_append(&b, bucket, strlen(bucket) + 1);
    buf_append(&b, key, strlen(key));
    sigv4_sha256_hex(b.data, b.len, c->group_id);
    buf_free(&b);
}

void sqs_row_id(const struct sqs_msg_ctx *c, uint64_t line, char out[65])
{
    struct buf b;

    buf_init(&b);
    buf_append(&b, c->bucket, strlen(c->bucket) + 1);
    buf_append(&b, c->key, strlen(c->key) + 1);
    buf_append(&b, c->etag, strlen(c->etag) + 1);
    buf_printf(&b, "%llu", (unsigned long long)line);
    if (c->line_seq)
        buf_printf(&b, "#%u", c->line_seq);
    sigv4_sha256_hex(b.data, b.len, out);
    buf_free(&b);
}

void sqs_msg_next_line(struct sqs_msg_ctx *c, uint64_t line)
{
    if (line == c->line && line != 0) {
        c->line_seq++;
    } else {
        c->line = line;
        c->line_seq = 0;
    }
}

bool sqs_queue_is_fifo(const char *queue_url)
{
    return queue_url && str_has_suffix(queue_url, ".fifo");
}

/* One String or Number attribute; returns the bytes SQS counts for it. */
static size_t attr(struct buf *out, bool first, const char *name, const char *type,
                   const char *value)
{
    if (!first)
        buf_putc(out, ',');
    buf_printf(out, "\"%s\":{\"DataType\":\"%s\",\"StringValue\":", name, type);
    sqs_json_string(out, value, strlen(value));
    buf_putc(out, '}');
    return strlen(name) + strlen(type) + strlen(value);
}

size_t sqs_msg_entry(const struct sqs_msg_ctx *c, const char *body, size_t n, uint64_t line,
                     struct buf *out)
{
    char id[65], num[24];
    size_t size = n;

    sqs_row_id(c, line, id);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)line);
    buf_puts(out, "\"MessageBody\":");
    sqs_json_string(out, body, n);
    buf_puts(out, ",\"MessageAttributes\":{");
    size += attr(out, true, "ingestd_bucket", "String", c->bucket);
    size += attr(out, false, "ingestd_key", "String", c->key);
    if (c->etag[0]) /* SQS refuses empty String attributes */
        size += attr(out, false, "ingestd_etag", "String", c->etag);
    size += attr(out, false, "ingestd_line", "Number", num);
    size += attr(out, false, "ingestd_row_id", "String", id);
    buf_putc(out, '}');
    if (c->fifo)
        buf_printf(out, ",\"MessageGroupId\":\"%s\",\"MessageDeduplicationId\":\"%s\"", c->group_id,
                   id);
    buf_putc(out, '}');
    return size;
}

void sqs_batch_open(struct buf *b, const char *queue_url)
{
    buf_puts(b, "{\"QueueUrl\":");
    sqs_json_string(b, queue_url, strlen(queue_url));
    buf_puts(b, ",\"Entries\":[");
}

void sqs_batch_add(struct buf *b, size_t index, const char *entry, size_t n)
{
    if (b->len && b->data[b->len - 1] != '[')
        buf_putc(b, ',');
    buf_printf(b, "{\"Id\":\"%zu\",", index);
    buf_append(b, entry, n);
}

void sqs_batch_close(struct buf *b)
{
    buf_puts(b, "]}");
}

int sqs_batch_parse(const char *body, size_t len, struct sqs_failed *failed, size_t max,
                    size_t *nfailed, const char **why)
{
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je), *list, *it;
    size_t i;

    *nfailed = 0;
    if (!root || !json_is_object(root)) {
        json_decref(root);
        *why = "SendMessageBatch answer is not a JSON object";
        return -1;
    }
    list = json_object_get(root, "Failed");
    if (list && !json_is_array(list)) {
        json_decref(root);
        *why = "SendMessageBatch answer: Failed is not a list";
        return -1;
    }
    json_array_foreach(list, i, it)
    {
        const char *id = json_string_value(json_object_get(it, "Id"));
        const char *code = json_string_value(json_object_get(it, "Code"));
        const char *msg = json_string_value(json_object_get(it, "Message"));
        char *end;
        unsigned long v;

        if (!id || *nfailed == max)
            continue;
        v = strtoul(id, &end, 10);
        if (*end || end == id)
            continue;
        failed[*nfailed].index = v;
        failed[*nfailed].sender_fault = json_is_true(json_object_get(it, "SenderFault"));
        snprintf(failed[*nfailed].code, sizeof(failed[*nfailed].code), "%s", code ? code : "");
        snprintf(failed[*nfailed].message, sizeof(failed[*nfailed].message), "%s", msg ? msg : "");
        (*nfailed)++;
    }
    json_decref(root);
    return 0;
}

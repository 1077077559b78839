/*
 * http_ingest.h: rows pushed over HTTP ([http] listen): POST and PUT /v1/ingest/ROUTE.
 *
 * A request becomes a job like an S3 object's, with the request body as its object
 * source (body_pipe.h): the route's parsing options, validate.* rules, transform,
 * sink and ledger apply unchanged, and the answer goes out after the commit.
 * Loop thread only.
 */
#ifndef INGESTD_HTTP_INGEST_H
#define INGESTD_HTTP_INGEST_H

#include <stddef.h>

struct app;
struct http_ingest;

/* Starts the listener when [http] listen is set: 0, or -1 (logged). */
int http_ingest_start(struct app *app);
/* After a reload: the listener's address and the tokens. */
void http_ingest_reload(struct app *app);
/* Shutdown: no new requests; bodies still arriving are cut off. */
void http_ingest_stop(struct app *app);
/* shutdown_timeout: running loads are cancelled (rolled back, answered 503). */
void http_ingest_cancel(struct app *app);
/* Loads running for requests. */
size_t http_ingest_running(const struct app *app);
void http_ingest_free(struct app *app); /* NULL-safe */

#endif

/*
 * body_pipe.h: a request body on its way from the loop to a worker, bounded.
 *
 * The loop writes what MHD hands it and never blocks: body_pipe_write() takes what
 * fits and tells the loop to suspend the connection when the pipe is full. The
 * worker reads it as an object source (object_source.h); when it frees room in a
 * pipe whose writer waits, it writes to the wake descriptor so that the loop
 * resumes the connection. A body therefore never sits in memory beyond the pipe's
 * capacity, however large it is. Two owners (the request and the job): each calls
 * body_pipe_unref() once.
 */
#ifndef INGESTD_BODY_PIPE_H
#define INGESTD_BODY_PIPE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "daemon/object_source.h"

struct body_pipe;

/* cap: bytes held at most; wake_fd: an eventfd of the loop's; cancel: the job's flag;
 * stall_ms: how long the reader waits for bytes before failing the load (transient). */
struct body_pipe *body_pipe_new(size_t cap, int wake_fd, atomic_bool *cancel, unsigned stall_ms);
void body_pipe_unref(struct body_pipe *p); /* NULL-safe */
struct object_source *body_pipe_source(struct body_pipe *p);

/* Loop side. write: bytes taken (fewer than n: full, wait for the wake descriptor). */
size_t body_pipe_write(struct body_pipe *p, const void *data, size_t n);
void body_pipe_close(struct body_pipe *p); /* the body is complete */
/* The body will not be complete (client gone, too large): the reader fails with why. */
void body_pipe_abort(struct body_pipe *p, const char *why);
bool body_pipe_has_room(struct body_pipe *p);

#endif

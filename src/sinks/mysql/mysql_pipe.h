/*
 * mysql_pipe.h: a bounded byte pipe between two threads, for LOAD DATA LOCAL INFILE.
 *
 * The sink's write() is pushed rows by the worker thread while libmariadb pulls the
 * file through a read callback on the thread running the LOAD DATA statement. The pipe
 * joins them with a fixed-size ring: the writer blocks while it is full, the reader
 * while it is empty, so memory stays at the ring's size whatever the object.
 *
 * Either side can stop the other: the writer ends the data (finish: the reader gets
 * the rest, then end-of-file) or gives up (abort: the reader gets -1 at once); the
 * reader stops reading (close_read: the statement has ended, a blocked or later
 * writer gets -1). Nothing here knows MySQL. Exactly one writer thread and one reader
 * thread; my_pipe_new/free/reset only while neither uses it.
 */
#ifndef INGESTD_MYSQL_PIPE_H
#define INGESTD_MYSQL_PIPE_H

#include <stddef.h>
#include <sys/types.h>

struct my_pipe;

struct my_pipe *my_pipe_new(size_t capacity);
void my_pipe_free(struct my_pipe *p); /* NULL-safe */
/* Empties the pipe and clears every flag, for the next statement. */
void my_pipe_reset(struct my_pipe *p);

/* Writer: copies all n bytes, blocking while the ring is full; 0, or -1 once the reader
 * has closed (the bytes are then dropped) or the writer aborted. */
int my_pipe_write(struct my_pipe *p, const void *data, size_t n);
/* Writer: while it waits for room, call tick(arg) every ms milliseconds (on the writer's
 * thread, without the pipe's lock), e.g. to notice that the load must stop. Kept across
 * my_pipe_reset. */
void my_pipe_set_writer_tick(struct my_pipe *p, void (*tick)(void *), void *arg, unsigned ms);
/* Writer: no more data. */
void my_pipe_finish(struct my_pipe *p);
/* Writer: stop; the reader's next read returns -1, buffered bytes are dropped. */
void my_pipe_abort(struct my_pipe *p);

/* Reader: up to n bytes, blocking while empty; 0 after finish and the last byte, -1
 * after abort. */
ssize_t my_pipe_read(struct my_pipe *p, void *out, size_t n);
/* Reader: will not read again; wakes a blocked writer. */
void my_pipe_close_read(struct my_pipe *p);

#endif

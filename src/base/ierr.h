/*
 * ierr.h: the pipeline's error: a class that decides what happens to the message, a
 * reason, and the position in the object when one is known.
 *
 * Every part fills one (parsers, the AWS clients, the sinks, the queue side): library
 * codes (CURLcode, SQLSTATE, MySQL error numbers, AWS error codes) are turned into a
 * struct ierr where they are met and never passed further up. Pure; any thread.
 */
#ifndef INGESTD_IERR_H
#define INGESTD_IERR_H

#include <stddef.h>
#include <stdint.h>

enum ierr_class {
    IERR_NONE = 0,
    IERR_TRANSIENT, /* retry later: network, deadlock, DB down, throttling */
    IERR_PERMANENT, /* this object will never load: report to the DLQ */
    IERR_CONFIG,    /* the configuration is wrong (missing table, bad credentials) */
    /* The sink rolled back and asks for the object once more, from its first byte, with
     * load_target.restarted set (PostgreSQL: binary COPY met a value it cannot carry).
     * The pipeline does so once; a sink never asks again on a restarted load. */
    IERR_RESTART,
};

/* An error with its position in the object when known (line/column are 1-based, 0 = unknown). */
struct ierr {
    enum ierr_class cls;
    char reason[512];
    uint64_t line;
    unsigned column;
    char column_name[128];
    char sample[256]; /* the offending value or row, truncated */
};

/* Sets cls and reason and clears the position fields (line, column, column_name, sample);
 * callers fill those afterwards. e may be NULL. */
void ierr_set(struct ierr *e, enum ierr_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *ierr_class_name(enum ierr_class cls); /* "transient", "permanent", "config" */

/*
 * A reason with its position stated once, for a log line: reason as it is when it
 * already names a line ("line N" anywhere: parsers state their own positions), else
 * "line N, column C: reason" from line and column (the name when known, else the
 * number; nothing when line is 0). The reason itself never gets a position added,
 * so reports and reject tables keep it in their own fields.
 */
void ierr_format_position(char *out, size_t outsz, uint64_t line, unsigned column,
                          const char *column_name, const char *reason);
void ierr_describe(const struct ierr *e, char *out, size_t outsz);

#endif

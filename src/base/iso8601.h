/*
 * iso8601.h: ISO-8601 date-times, as S3 events write their eventTime and as
 * create_table's inference recognises timestamps, to Unix milliseconds.
 *
 * Pure; any thread.
 */
#ifndef INGESTD_ISO8601_H
#define INGESTD_ISO8601_H

#include <stdint.h>

/* ISO-8601 "YYYY-MM-DDTHH:MM:SS[.frac][Z|+hh:mm|-hh:mm]" (also ' ' for 'T') to Unix ms.
 * No zone means UTC. 0 ok, -1 when malformed. */
int iso8601_to_ms(const char *s, int64_t *ms);

#endif

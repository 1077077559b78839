/*
 * notify.h: the service manager protocol (sd_notify), in one place.
 *
 * Every call is a no-op when $NOTIFY_SOCKET is unset or the build has no
 * libsystemd; return values are ignored on purpose: a daemon must not stop
 * because its supervisor is not listening. Loop thread only.
 */
#ifndef INGESTD_NOTIFY_H
#define INGESTD_NOTIFY_H

#include <stdint.h>

#include "base/util.h"

void notify_ready(void);
void notify_reloading(void); /* RELOADING=1 + MONOTONIC_USEC */
void notify_stopping(void);
void notify_status(const char *fmt, ...) PRINTF_LIKE(1, 2);
void notify_watchdog(void);
/* Watchdog interval in microseconds from $WATCHDOG_USEC (and $WATCHDOG_PID), 0 when off. */
uint64_t notify_watchdog_usec(void);

#endif

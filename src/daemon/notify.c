/*
 * notify.c: sd_notify(3) messages for Type=notify services. See notify.h.
 */
#include "daemon/notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef WITH_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

static void send_msg(const char *msg)
{
#ifdef WITH_SYSTEMD
    (void)sd_notify(0, msg);
#else
    (void)msg;
#endif
}

void notify_ready(void)
{
    send_msg("READY=1");
}

void notify_reloading(void)
{
    char msg[80];

    /* systemd >= 253 matches RELOADING=1 with this timestamp (Type=notify-reload). */
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)now_monotonic_us());
    send_msg(msg);
}

void notify_stopping(void)
{
    send_msg("STOPPING=1");
}

void notify_status(const char *fmt, ...)
{
    struct buf b;
    va_list ap;

    buf_init(&b);
    buf_puts(&b, "STATUS=");
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    send_msg(b.data);
    buf_free(&b);
}

void notify_watchdog(void)
{
    send_msg("WATCHDOG=1");
}

uint64_t notify_watchdog_usec(void)
{
#ifdef WITH_SYSTEMD
    uint64_t usec = 0;

    if (sd_watchdog_enabled(0, &usec) > 0)
        return usec;
#endif
    return 0;
}

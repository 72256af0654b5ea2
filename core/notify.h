/*
 * notify: telling the service manager what the supervisor is doing, by the
 * datagram protocol of sd_notify(3) on $NOTIFY_SOCKET (READY=1,
 * RELOADING=1, STOPPING=1, STATUS=...). A few lines instead of libsystemd.
 *
 * Only the supervisor calls it: it is the unit's main process, whose
 * messages systemd accepts (NotifyAccess=main). Sending never blocks and
 * never fails the caller: without a service manager it does nothing.
 */
#ifndef APX_NOTIFY_H
#define APX_NOTIFY_H

#include "log.h"

/* Take $NOTIFY_SOCKET from the environment (and out of it, so that the
 * core and the plugins it loads do not inherit it). */
void notify_init(void);

/* Send one message: newline-separated KEY=VALUE lines. */
void notify_send(const char *fmt, ...) APX_PRINTF(1, 2);

/* CLOCK_MONOTONIC in microseconds, for RELOADING=1's MONOTONIC_USEC=. */
unsigned long long notify_monotonic_usec(void);

#endif

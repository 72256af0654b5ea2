/*
 * control: the two channels that tell the outcome of a start or a reload.
 *
 *  - the core's report pipe: the core writes one line when it serves and
 *    one after each reload (CORE_REPORT_FD); the supervisor reads them, so
 *    it can tell systemd and the operator what is serving;
 *  - the control socket (CONTROL_SOCKET): `anthropic-proxy reload` asks the
 *    supervisor for a reload there and waits for the outcome's line.
 *
 * A line is "WORD REVISION<TAB>TEXT\n": WORD is ready, reloaded or failed;
 * REVISION is the configuration revision serving afterwards; TEXT the
 * plugins and their versions, or the reason of a failure. Lines are short
 * (CONTROL_LINE_MAX) so that a pipe write is atomic. No request data ever
 * travels here.
 */
#ifndef APX_CONTROL_H
#define APX_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#define CONTROL_LINE_MAX 2048

/* Core side: write one report line (newlines and tabs in `text` become
 * spaces). Does nothing when the core was not started by a supervisor. */
void control_report(const char *word, uint64_t revision, const char *text);

/* Supervisor side: bind and listen on `path` (a stale socket left by a
 * dead supervisor is replaced; a live one is not). The listening fd, or -1
 * with err filled. */
int control_listen(const char *path, char *err, size_t errlen);

/* May this connection's peer ask for a reload? root or our own user. */
int control_peer_allowed(int fd);

/* Client side: connect to `path`, send `request` ("reload"), and read the
 * answer line into `answer` (without its newline), waiting at most
 * `timeout` seconds. 0, or -1 with err filled. */
int control_ask(const char *path, const char *request, double timeout, char *answer,
                size_t size, char *err, size_t errlen);

#endif

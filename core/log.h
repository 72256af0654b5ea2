/*
 * log: the daemon's one way to say something to the operator.
 *
 * Lines go to stderr (the supervisor's, journald's) as text or one JSON
 * object per line (LOG_FORMAT). Request-scoped lines carry the exchange id.
 * This module must never be handed a request body or the value of an
 * x-api-key or authorization header: callers log names and sizes, not data.
 */
#ifndef APX_LOG_H
#define APX_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };
enum log_format { LOG_FMT_TEXT, LOG_FMT_JSON };

#define APX_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Set by the process at start and on reload. `role` is "supervisor",
 * "core" or a command name; it starts every line. */
void log_setup(const char *role, enum log_level level, enum log_format fmt);
void log_set_level(enum log_level level);
/* Send lines to syslog (daemon facility) instead of stderr: for a
 * supervisor that detached from its terminal, and its core. */
void log_use_syslog(void);
void log_set_format(enum log_format fmt);
enum log_level log_get_level(void);

void log_msg(enum log_level lvl, uint64_t req_id, const char *fmt, ...)
    APX_PRINTF(3, 4);
void log_vmsg(enum log_level lvl, uint64_t req_id, const char *fmt,
              va_list ap) APX_PRINTF(3, 0);

#define log_debug(...) do { if (log_get_level() <= LOG_LVL_DEBUG) \
    log_msg(LOG_LVL_DEBUG, 0, __VA_ARGS__); } while (0)
#define log_info(...)  log_msg(LOG_LVL_INFO, 0, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, 0, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, 0, __VA_ARGS__)
/* Request-scoped: tagged with the exchange id. */
#define log_req(lvl, id, ...) do { if (log_get_level() <= (lvl)) \
    log_msg((lvl), (id), __VA_ARGS__); } while (0)

/* Print "anthropic-proxy: <msg>" to stderr and exit(status). Start-up and
 * supervisor only: the request path never exits. */
void fatal(int status, const char *fmt, ...) APX_PRINTF(2, 3)
    __attribute__((noreturn));

#endif

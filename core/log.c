/*
 * log: formatting and writing of the daemon's log lines.
 *
 * One write(2) per line so that lines from the supervisor and the core never
 * interleave mid-line on the shared stderr.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 2048

static struct {
    const char *role;
    enum log_level level;
    enum log_format format;
    bool syslog;
} log_cfg = { "anthropic-proxy", LOG_LVL_INFO, LOG_FMT_TEXT, false };

static const char *const level_names[] = { "debug", "info", "warning", "error" };

void log_setup(const char *role, enum log_level level, enum log_format fmt)
{
    log_cfg.role = role;
    log_cfg.level = level;
    log_cfg.format = fmt;
}

void log_set_level(enum log_level level) { log_cfg.level = level; }

void log_use_syslog(void)
{
    openlog("anthropic-proxy", LOG_PID, LOG_DAEMON);
    log_cfg.syslog = true;
}
void log_set_format(enum log_format fmt) { log_cfg.format = fmt; }
enum log_level log_get_level(void) { return log_cfg.level; }

static size_t format_time(char *out, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(out + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
    return n;
}

/* Escape `in` as the inside of a JSON string into out[0..size). */
static size_t json_escape(char *out, size_t size, const char *in)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 7 < size; p++) {
        if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*p;
        } else if (*p < 0x20) {
            o += (size_t)snprintf(out + o, size - o, "\\u%04x", *p);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
    return o;
}

void log_vmsg(enum log_level lvl, uint64_t req_id, const char *fmt, va_list ap)
{
    if (lvl < log_cfg.level)
        return;
    char msg[LOG_LINE_MAX], line[LOG_LINE_MAX * 2], ts[40];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (log_cfg.syslog) {
        static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
        if (req_id)
            syslog(prio[lvl], "%s: [req %llu] %s", log_cfg.role, (unsigned long long)req_id, msg);
        else
            syslog(prio[lvl], "%s: %s", log_cfg.role, msg);
        return;
    }
    format_time(ts, sizeof ts);
    int n;
    if (log_cfg.format == LOG_FMT_JSON) {
        char esc[LOG_LINE_MAX * 2 - 256];
        json_escape(esc, sizeof esc, msg);
        if (req_id)
            n = snprintf(line, sizeof line,
                         "{\"time\":\"%s\",\"level\":\"%s\",\"process\":\"%s\","
                         "\"pid\":%ld,\"request\":%llu,\"msg\":\"%s\"}\n",
                         ts, level_names[lvl], log_cfg.role, (long)getpid(),
                         (unsigned long long)req_id, esc);
        else
            n = snprintf(line, sizeof line,
                         "{\"time\":\"%s\",\"level\":\"%s\",\"process\":\"%s\","
                         "\"pid\":%ld,\"msg\":\"%s\"}\n",
                         ts, level_names[lvl], log_cfg.role, (long)getpid(), esc);
    } else if (req_id) {
        n = snprintf(line, sizeof line, "%s %s[%ld] %s: [req %llu] %s\n", ts,
                     log_cfg.role, (long)getpid(), level_names[lvl],
                     (unsigned long long)req_id, msg);
    } else {
        n = snprintf(line, sizeof line, "%s %s[%ld] %s: %s\n", ts,
                     log_cfg.role, (long)getpid(), level_names[lvl], msg);
    }
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w; /* nowhere left to report a failed log write */
}

void log_msg(enum log_level lvl, uint64_t req_id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(lvl, req_id, fmt, ap);
    va_end(ap);
}

void fatal(int status, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "anthropic-proxy: %s\n", msg);
    exit(status);
}

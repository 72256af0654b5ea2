/*
 * crash: the core's fatal-signal handler (see crash.h).
 *
 * Only async-signal-safe work in the handler: copy a name, write(2), then
 * let the default action end the process with the same signal, so the
 * supervisor sees the real cause and a core dump is still possible.
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "counters.h"
#include "crash.h"

_Thread_local const char *crash_plugin;

static struct counter_table *crash_table;
static char alt_stack[64 * 1024]; /* a stack overflow still reaches the handler */

static size_t put(char *buf, size_t o, size_t size, const char *s)
{
    while (*s && o + 1 < size)
        buf[o++] = *s++;
    return o;
}

static void fatal_signal(int sig)
{
    const char *plugin = crash_plugin;
    char line[256];
    size_t o = put(line, 0, sizeof line, "core: fatal signal ");
    char num[4] = { (char)('0' + sig / 10 % 10), (char)('0' + sig % 10), 0, 0 };
    o = put(line, o, sizeof line, sig >= 10 ? num : num + 1);
    if (plugin) {
        o = put(line, o, sizeof line, " in plugin ");
        o = put(line, o, sizeof line, plugin);
        counters_set_crash_note(crash_table, plugin);
    }
    o = put(line, o, sizeof line, "\n");
    ssize_t w = write(STDERR_FILENO, line, o);
    (void)w;
    raise(sig); /* SA_RESETHAND: the default action now */
}

void crash_handlers_install(struct counter_table *t)
{
    static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
    crash_table = t;
    counters_set_crash_note(t, NULL);
    stack_t ss = { .ss_sp = alt_stack, .ss_size = sizeof alt_stack, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fatal_signal;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaction(sigs[i], &sa, NULL);
}

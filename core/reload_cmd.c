/*
 * reload_cmd: `anthropic-proxy reload`, a reload that says how it went.
 *
 * SIGHUP cannot answer; this command asks the running supervisor for a
 * reload on its control socket (CONTROL_SOCKET, found through the same
 * settings the daemon reads), waits until the core has built the new
 * configuration or refused it, and prints the receipt. systemd units on a
 * systemd without Type=notify-reload run it as ExecReload=, so that
 * `systemctl reload` fails when the reload did.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "reload_cmd.h"
#include "settings.h"

#define DEFAULT_TIMEOUT 60.0 /* seconds: a reload loads every plugin and its samples */

static void reload_usage(FILE *out)
{
    fprintf(out,
            "Usage: anthropic-proxy reload [--config FILE] [--socket PATH] [--timeout SECONDS]\n"
            "\n"
            "Ask the running proxy to reload its settings, pipeline, plugins and TLS\n"
            "certificate, wait for the outcome and print it: the configuration revision\n"
            "now serving and its plugins with their versions, or why the reload failed\n"
            "(the previous configuration then keeps serving).\n"
            "\n"
            "  -c, --config FILE      settings file, as for the daemon (to find CONTROL_SOCKET)\n"
            "  -s, --socket PATH      the supervisor's control socket (default: CONTROL_SOCKET)\n"
            "  -w, --timeout SECONDS  how long to wait for the outcome (default 60)\n"
            "\n"
            "Exit status: 0 the new configuration serves, 1 the reload failed or the\n"
            "proxy could not be reached, 2 usage or configuration error.\n");
}

/* Print the answer line "WORD REV<TAB>TEXT"; 0 when the reload took. */
static int print_receipt(const char *line)
{
    unsigned long long rev = 0;
    const char *text = strchr(line, '\t');
    text = text ? text + 1 : "";
    sscanf(line, "%*s %llu", &rev);
    if (strncmp(line, "reloaded ", 9) == 0) {
        printf("anthropic-proxy: reload done: configuration revision %llu serves\n", rev);
        printf("plugins: %s\n", text);
        return 0;
    }
    fprintf(stderr, "anthropic-proxy: reload failed: %s\n", text);
    if (rev)
        fprintf(stderr, "still serving configuration revision %llu\n", rev);
    return 1;
}

int reload_command(int argc, char **argv, char *const *environ_in)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "socket", required_argument, NULL, 's' },
        { "timeout", required_argument, NULL, 'w' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *config = NULL, *sock = NULL;
    double timeout = DEFAULT_TIMEOUT;
    char *end;
    int c;
    while ((c = getopt_long(argc, argv, "c:s:w:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 's': sock = optarg; break;
        case 'w':
            timeout = strtod(optarg, &end);
            if (*end || !(timeout > 0 && timeout <= 3600)) {
                fprintf(stderr, "anthropic-proxy reload: --timeout %s: allowed: seconds "
                                "from 0 to 3600\n", optarg);
                return 2;
            }
            break;
        case 'h': reload_usage(stdout); return 0;
        default: reload_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        reload_usage(stderr);
        return 2;
    }
    struct settings s;
    struct settings_errors errs;
    char *path = NULL;
    if (!sock) {
        if (settings_load(&s, config, NULL, environ_in, &errs) < 0) {
            fputs(errs.text, stderr);
            settings_free(&s);
            return 2;
        }
        path = s.control_socket && *s.control_socket ? strdup(s.control_socket) : NULL;
        settings_free(&s);
        if (!path) {
            fprintf(stderr, "anthropic-proxy reload: CONTROL_SOCKET is empty: the proxy has "
                            "no control socket (send it SIGHUP instead)\n");
            return 2;
        }
        sock = path;
    }
    char answer[CONTROL_LINE_MAX], err[600];
    int rv = control_ask(sock, "reload", timeout, answer, sizeof answer, err, sizeof err);
    free(path);
    if (rv < 0) {
        fprintf(stderr, "anthropic-proxy reload: %s\n", err);
        return 1;
    }
    return print_receipt(answer);
}

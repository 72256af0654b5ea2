/*
 * main: the command line. Decides which of the program's roles this
 * process plays — supervisor (the default), core (internal, started by the
 * supervisor), or a one-shot command (--check-config, scrub, --help,
 * --version) — and hands over. No role's logic lives here.
 */
#include "config.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "developer_cmd.h"
#include "ledger_cmd.h"
#include "log.h"
#include "reload_cmd.h"
#include "scrub_cmd.h"
#include "settings.h"
#include "supervisor.h"
#include "tls.h"

extern char **environ;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: anthropic-proxy [--config FILE] [--pipeline FILE] [--foreground]\n"
            "       anthropic-proxy --check-config [--config FILE] [--pipeline FILE]\n"
            "       anthropic-proxy scrub [--key-file FILE] [--audit] < BODY   (see scrub --help)\n"
            "       anthropic-proxy reload [--config FILE]   (see reload --help)\n"
            "       anthropic-proxy developer add NAME --team TEAM < KEY\n"
            "       anthropic-proxy ledger report|export [--since D] [--until D] [--by K] [--format F]\n"
            "       anthropic-proxy --version | --help\n"
            "\n"
            "A reverse proxy for the Anthropic API: metering, a live dashboard, retries\n"
            "of overloaded answers and secret scrubbing. See anthropic-proxy(8).\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE    settings file (KEY=VALUE lines), re-read on SIGHUP\n"
            "  -p, --pipeline FILE  pipeline file (stages and detectors)\n"
            "  -f, --foreground     stay in the foreground and log to stderr\n"
            "  -t, --check-config   check the configuration, print every problem, exit\n"
            "  -V, --version        print the version and exit\n"
            "  -h, --help           print this help and exit\n"
            "\n"
            "Signals: SIGHUP reloads (`anthropic-proxy reload` does and prints the outcome),\n"
            "SIGTERM/SIGINT drain for SHUTDOWN_TIMEOUT and stop.\n"
            "Exit status: 0 success, 1 run-time failure, 2 configuration error.\n\n");
    settings_print_help(out);
}

/* nginx -t's counterpart: load everything a start would load. */
static int check_config(const char *config_path, const char *pipeline_path)
{
    struct settings s;
    struct settings_errors errs;
    char err[512];
    int problems = 0;
    char summary[1200] = "";
    if (settings_load(&s, config_path, pipeline_path, environ, &errs) < 0) {
        fputs(errs.text, stderr);
        problems += errs.count;
    } else {
        char *config = s.config ? strdup(s.config) : NULL;
        SSL_CTX *ctx = tls_server_ctx(s.tls_cert, s.tls_key, err, sizeof err);
        if (!ctx) {
            fprintf(stderr, "%s\n", err);
            problems++;
        }
        SSL_CTX_free(ctx);
        /* UPSTREAM_CA_FILE: the upstream pool below loads it */
        /* the pipeline and its plugins, loaded as a start would (without
         * the certificate again if it was already found wanting) */
        if (core_check_generation(&s, problems > 0, err, sizeof err, summary,
                                  sizeof summary) < 0) {
            fprintf(stderr, "%s\n", err);
            problems++;
        }
        if (problems == 0)
            printf("anthropic-proxy: configuration OK (settings file: %s; %s)\n",
                   config && *config ? config : "none", summary);
        free(config);
    }
    if (problems)
        fprintf(stderr, "anthropic-proxy: %d problem(s) found\n", problems);
    settings_free(&s);
    return problems ? 2 : 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "pipeline", required_argument, NULL, 'p' },
        { "foreground", no_argument, NULL, 'f' },
        { "check-config", no_argument, NULL, 't' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { "core", no_argument, NULL, 'C' },        /* internal: started by the supervisor */
        { "syslog", no_argument, NULL, 'S' },      /* internal: core of a daemon */
        { "print-settings", required_argument, NULL, 'P' }, /* internal: docs */
        { NULL, 0, NULL, 0 },
    };
    if (argc > 1 && strcmp(argv[1], "scrub") == 0)
        return scrub_command(argc - 1, argv + 1, environ);
    if (argc > 1 && strcmp(argv[1], "reload") == 0)
        return reload_command(argc - 1, argv + 1, environ);
    if (argc > 1 && strcmp(argv[1], "developer") == 0)
        return developer_command(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "ledger") == 0)
        return ledger_command(argc - 1, argv + 1, environ);
    struct supervisor_args args = { 0 };
    bool check = false, core = false, syslog_out = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:p:ftVh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': args.config_path = optarg; break;
        case 'p': args.pipeline_path = optarg; break;
        case 'f': args.foreground = true; break;
        case 't': check = true; break;
        case 'C': core = true; break;
        case 'S': syslog_out = true; break;
        case 'V': printf("anthropic-proxy %s\n", PACKAGE_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        case 'P':
            if (strcmp(optarg, "man") == 0)
                settings_print_man(stdout);
            else if (strcmp(optarg, "env") == 0)
                settings_print_env_example(stdout);
            else
                return 2;
            return 0;
        default:
            fprintf(stderr, "Try 'anthropic-proxy --help'.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "anthropic-proxy: unexpected argument '%s'; try 'anthropic-proxy --help'\n",
                argv[optind]);
        return 2;
    }
    if (check)
        return check_config(args.config_path, args.pipeline_path);
    if (core) {
        if (syslog_out)
            log_use_syslog();
        return core_main(CORE_MAIN_FD, CORE_DASHBOARD_FD, args.config_path,
                         args.pipeline_path, environ);
    }
    return supervisor_main(&args, environ);
}

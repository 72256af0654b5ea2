/*
 * settings: the daemon's configuration, declared once in a table.
 *
 * Defaults < settings file (KEY=VALUE) < process environment. The table in
 * settings.c drives parsing, validation, --help, --check-config and the
 * generated lists in the man page and the example file. This module only
 * reads and checks values; it never opens sockets or starts anything.
 */
#ifndef APX_SETTINGS_H
#define APX_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SETTINGS_PREFIX "ANTHROPIC_PROXY_"

enum scrub_mode { SCRUB_OFF, SCRUB_PSEUDONYMIZE, SCRUB_AUDIT };
enum scrub_unscannable { SCRUB_UNSCANNABLE_FORWARD, SCRUB_UNSCANNABLE_BLOCK };

/* The upstream base URL, taken apart once at validation. */
struct upstream_url {
    bool tls;            /* https (h2 over TLS) or http (h2 prior knowledge) */
    char host[256];      /* for DNS, SNI and certificate verification */
    char port[8];
    char authority[300]; /* :authority sent upstream: host[:port] */
    char prefix[512];    /* path prefix without trailing '/', may be "" */
};

struct settings {
    char *host;
    int64_t port;
    int64_t dashboard_port;
    double shutdown_timeout;
    int64_t log_level;      /* enum log_level */
    int64_t log_format;     /* enum log_format */
    bool log_requests;
    double log_slow_threshold;
    char *upstream_base_url;
    double upstream_connect_timeout;
    double upstream_read_timeout;
    double upstream_write_timeout;
    double upstream_pool_timeout;
    int64_t upstream_max_connections;
    int64_t upstream_max_keepalive_connections;
    char *upstream_ca_file;
    int64_t scrub_mode;     /* enum scrub_mode */
    char *scrub_hmac_key;
    int64_t scrub_max_body_size;
    int64_t scrub_unscannable; /* enum scrub_unscannable */
    char *tls_cert;
    char *tls_key;
    char *config;
    char *pipeline;
    char *plugin_dir;
    char *prices;
    char *developers;
    char *ledger_path;
    int64_t ledger_retention_days;
    int64_t caps_on_error;  /* 0 open, 1 closed */
    int64_t max_request_body;
    double client_header_timeout;
    double client_idle_timeout;
    int64_t max_client_connections;
    char *control_socket;

    /* derived at validation */
    struct upstream_url upstream;
};

/* Where the errors of a load go: each is one line naming the variable, the
 * value and what is allowed. */
struct settings_errors {
    int count;
    char text[4096];
};

/*
 * Fill `s` from the defaults, the settings file and the environment `envp`.
 * `config_path` (from --config) wins over ANTHROPIC_PROXY_CONFIG; when both
 * are NULL the installed default is read if it exists. Returns 0, or -1 with
 * every problem in `errs`. `s` must be released with settings_free in both
 * cases.
 */
int settings_load(struct settings *s, const char *config_path,
                  const char *pipeline_path, char *const *envp,
                  struct settings_errors *errs);
void settings_free(struct settings *s);

/* Settings a reload cannot change: writes the names of those that differ
 * into out (space-separated) and returns how many. */
int settings_restart_only_changes(const struct settings *old,
                                  const struct settings *new_s, char *out,
                                  size_t size);

/* Value of a setting by its short name ("SCRUB_MODE"), formatted as text,
 * for plugins; NULL if unknown. Secrets are returned too: callers decide. */
const char *settings_get_text(const struct settings *s, const char *name,
                              char *buf, size_t size);

/* --help's list, the man page's list (roff) and the example file. */
void settings_print_help(FILE *out);
void settings_print_man(FILE *out);
void settings_print_env_example(FILE *out);

/* The installed default paths, from configure. */
extern const char settings_default_config[];

#endif

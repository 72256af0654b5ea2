/*
 * settings: parsing and validation of every setting, driven by one table.
 *
 * Each row says what a setting is (type, default, allowed values, whether a
 * reload may change it, one line of help). Nothing else in the daemon spells
 * a setting's default or range: add a row here and --help, --check-config,
 * the man page list and the example file follow.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "settings.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef PKGLIBDIR
#define PKGLIBDIR "/usr/lib/anthropic-proxy"
#endif
#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif

/* the settings file read when neither --config nor CONFIG names one */
#define CONFIG_IN_SYSCONFDIR "/anthropic-proxy/anthropic-proxy.env"
#define CONFIG_DEFAULT_PATH "${sysconfdir}" CONFIG_IN_SYSCONFDIR
const char settings_default_config[] = SYSCONFDIR CONFIG_IN_SYSCONFDIR;

enum set_type {
    T_HOST,    /* IP literal or DNS name */
    T_PORT,    /* 1..65535 */
    T_SECONDS, /* decimal seconds within [min, max] */
    T_INT,     /* integer within [min, max] */
    T_BOOL,    /* true/false/1/0/yes/no/on/off */
    T_ENUM,    /* one of `choices`, stored as its index */
    T_HEXKEY,  /* empty or 64 hex digits */
    T_URL,     /* http:// or https:// URL */
    T_PATH,    /* file path; "" allowed when the row's default is "" */
};

struct setting_def {
    const char *name;   /* without SETTINGS_PREFIX */
    enum set_type type;
    size_t offset;
    const char *def;
    double min, max;
    const char *const *choices;
    bool reloadable;
    const char *help;
};

static const char *const log_levels[] = { "debug", "info", "warning", "error", NULL };
static const char *const log_formats[] = { "text", "json", NULL };
static const char *const scrub_modes[] = { "off", "pseudonymize", "audit", NULL };
static const char *const scrub_unscannables[] = { "forward", "block", NULL };
static const char *const caps_on_errors[] = { "open", "closed", NULL };

#define OFF(f) offsetof(struct settings, f)
#define GIB (1024.0 * 1024.0 * 1024.0)

static const struct setting_def defs[] = {
    { "HOST", T_HOST, OFF(host), "0.0.0.0", 0, 0, NULL, false,
      "address both ports are bound to" },
    { "PORT", T_PORT, OFF(port), "8443", 1, 65535, NULL, false,
      "HTTPS port (TLS, HTTP/1.1 and h2): the proxy, /health, /metrics, /dashboard" },
    { "DASHBOARD_PORT", T_PORT, OFF(dashboard_port), "9090", 1, 65535, NULL, false,
      "plain-HTTP port for the dashboard and the metrics stream" },
    { "SHUTDOWN_TIMEOUT", T_SECONDS, OFF(shutdown_timeout), "30.0", 0, 3600, NULL, true,
      "seconds to let active requests finish on SIGTERM before closing them" },
    { "LOG_LEVEL", T_ENUM, OFF(log_level), "info", 0, 0, log_levels, true,
      "least severe level logged" },
    { "LOG_FORMAT", T_ENUM, OFF(log_format), "text", 0, 0, log_formats, true,
      "log lines as text or as one JSON object per line" },
    { "LOG_REQUESTS", T_BOOL, OFF(log_requests), "false", 0, 0, NULL, true,
      "one log line per proxied request (method, path, status, bytes, timings)" },
    { "LOG_SLOW_THRESHOLD", T_SECONDS, OFF(log_slow_threshold), "5.0", 0, 86400, NULL, true,
      "requests slower than this many seconds are logged at warning" },
    { "UPSTREAM_BASE_URL", T_URL, OFF(upstream_base_url), "https://api.anthropic.com", 0, 0,
      NULL, true, "upstream API: https:// (h2 over TLS) or http:// (h2 without TLS)" },
    { "UPSTREAM_CONNECT_TIMEOUT", T_SECONDS, OFF(upstream_connect_timeout), "10.0", 0.001, 3600,
      NULL, true, "seconds to open an upstream connection (TCP and TLS)" },
    { "UPSTREAM_READ_TIMEOUT", T_SECONDS, OFF(upstream_read_timeout), "300.0", 0.001, 86400,
      NULL, true, "longest upstream silence, in seconds, while waiting for or reading a response; "
      "a slow client's back-pressure does not count; a client taking nothing that long, "
      "and 30 s at least, ends it" },
    { "UPSTREAM_WRITE_TIMEOUT", T_SECONDS, OFF(upstream_write_timeout), "30.0", 0.001, 3600,
      NULL, true, "seconds to send a request upstream" },
    { "UPSTREAM_POOL_TIMEOUT", T_SECONDS, OFF(upstream_pool_timeout), "10.0", 0.001, 3600,
      NULL, true, "seconds a request may wait for a free upstream stream (then 503)" },
    { "UPSTREAM_MAX_CONNECTIONS", T_INT, OFF(upstream_max_connections), "20", 1, 10000,
      NULL, true, "most upstream connections open at once" },
    { "UPSTREAM_MAX_KEEPALIVE_CONNECTIONS", T_INT, OFF(upstream_max_keepalive_connections),
      "10", 0, 10000, NULL, true, "most idle upstream connections kept open" },
    { "UPSTREAM_CA_FILE", T_PATH, OFF(upstream_ca_file), "", 0, 0, NULL, true,
      "extra PEM CA certificates trusted for the upstream, besides the system store" },
    { "SCRUB_MODE", T_ENUM, OFF(scrub_mode), "off", 0, 0, scrub_modes, true,
      "secret scrubbing of request bodies" },
    { "SCRUB_HMAC_KEY", T_HEXKEY, OFF(scrub_hmac_key), "", 0, 0, NULL, true,
      "64 hex characters; key for identifier placeholders, required unless SCRUB_MODE=off" },
    { "SCRUB_MAX_BODY_SIZE", T_INT, OFF(scrub_max_body_size), "10485760", 0, 4 * GIB,
      NULL, true, "bodies larger than this many bytes cannot be scanned (see SCRUB_UNSCANNABLE)" },
    { "SCRUB_UNSCANNABLE", T_ENUM, OFF(scrub_unscannable), "forward", 0, 0,
      scrub_unscannables, true, "what to do with a POST body the scrubber cannot scan (over "
      "SCRUB_MAX_BODY_SIZE, not JSON): forward it unchanged, or block it with a 413 or 400" },
    { "TLS_CERT", T_PATH, OFF(tls_cert), "${sysconfdir}/anthropic-proxy/server.crt", 0, 0,
      NULL, true, "PEM certificate (chain) of the HTTPS port" },
    { "TLS_KEY", T_PATH, OFF(tls_key), "${sysconfdir}/anthropic-proxy/server.key", 0, 0,
      NULL, true, "PEM private key of the HTTPS port" },
    { "CONFIG", T_PATH, OFF(config), "", 0, 0, NULL, false,
      "settings file (KEY=VALUE lines), re-read on SIGHUP; --config wins" },
    { "PIPELINE", T_PATH, OFF(pipeline), "${sysconfdir}/anthropic-proxy/pipeline.yaml", 0, 0,
      NULL, true, "pipeline file: stages and detectors to load; --pipeline wins" },
    { "PRICES", T_PATH, OFF(prices), "${sysconfdir}/anthropic-proxy/prices.yaml", 0, 0,
      NULL, true, "price table (USD per model and token kind), re-read on SIGHUP; "
      "see anthropic-proxy-prices(5)" },
    { "DEVELOPERS", T_PATH, OFF(developers), "${sysconfdir}/anthropic-proxy/developers.yaml",
      0, 0, NULL, true, "developers file: who each key's SHA-256 fingerprint belongs to, "
      "teams, spend caps; re-read on SIGHUP; missing: every key is unknown" },
    { "LEDGER_PATH", T_PATH, OFF(ledger_path),
      "${localstatedir}/lib/anthropic-proxy/ledger.sqlite", 0, 0, NULL, true,
      "SQLite ledger, one row per exchange (no content); off: no ledger, and caps "
      "restart from zero with the supervisor" },
    { "LEDGER_RETENTION_DAYS", T_INT, OFF(ledger_retention_days), "400", 0, 36500, NULL, true,
      "ledger rows older than this many days are deleted (0: kept for ever)" },
    { "CAPS_ON_ERROR", T_ENUM, OFF(caps_on_error), "open", 0, 0, caps_on_errors, true,
      "when the ledger cannot be read or written: open serves capped developers as usual, "
      "closed refuses their requests with 429" },
    { "PLUGIN_DIR", T_PATH, OFF(plugin_dir), "${pkglibdir}", 0, 0, NULL, true,
      "directory the pipeline's plugins are loaded from" },
    { "MAX_REQUEST_BODY", T_INT, OFF(max_request_body), "33554432", 1024, 4 * GIB, NULL, true,
      "largest request body accepted, in bytes (larger: 413)" },
    { "CLIENT_HEADER_TIMEOUT", T_SECONDS, OFF(client_header_timeout), "30.0", 0.1, 3600,
      NULL, true, "seconds a client has to finish the TLS handshake and a request head" },
    { "CLIENT_IDLE_TIMEOUT", T_SECONDS, OFF(client_idle_timeout), "120.0", 0.1, 86400,
      NULL, true, "seconds an idle keep-alive client connection is kept open" },
    { "MAX_CLIENT_CONNECTIONS", T_INT, OFF(max_client_connections), "4096", 1, 1000000,
      NULL, true, "most client connections served at once (more get 503 and are closed)" },
    { "CONTROL_SOCKET", T_PATH, OFF(control_socket), "${runstatedir}/anthropic-proxy/control.sock",
      0, 0, NULL, false, "Unix socket where anthropic-proxy reload asks the supervisor for a "
      "reload and waits for its outcome; empty: none" },
};

#define NDEFS (sizeof defs / sizeof defs[0])

static const struct setting_def *find_def(const char *name)
{
    for (size_t i = 0; i < NDEFS; i++)
        if (strcmp(defs[i].name, name) == 0)
            return &defs[i];
    return NULL;
}

static void add_error(struct settings_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_error(struct settings_errors *errs, const char *fmt, ...)
{
    size_t used = strlen(errs->text);
    errs->count++;
    if (used + 2 >= sizeof errs->text)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errs->text + used, sizeof errs->text - used - 1, fmt, ap);
    va_end(ap);
    used = strlen(errs->text);
    errs->text[used] = '\n';
    errs->text[used + 1] = '\0';
}

static void *field(struct settings *s, const struct setting_def *d)
{
    return (char *)s + d->offset;
}

static const void *cfield(const struct settings *s, const struct setting_def *d)
{
    return (const char *)s + d->offset;
}

/* Describe what a row allows, for error messages and --help. */
static void describe_allowed(const struct setting_def *d, char *out, size_t size)
{
    switch (d->type) {
    case T_HOST: snprintf(out, size, "an IP address or a host name"); break;
    case T_PORT: snprintf(out, size, "an integer from 1 to 65535"); break;
    case T_SECONDS: snprintf(out, size, "seconds from %g to %g", d->min, d->max); break;
    case T_INT: snprintf(out, size, "an integer from %.0f to %.0f", d->min, d->max); break;
    case T_BOOL: snprintf(out, size, "true or false"); break;
    case T_HEXKEY: snprintf(out, size, "64 hexadecimal characters"); break;
    case T_URL: snprintf(out, size, "an http:// or https:// URL with a host"); break;
    case T_PATH: snprintf(out, size, "a file path"); break;
    case T_ENUM: {
        size_t n = 0;
        out[0] = '\0';
        for (const char *const *c = d->choices; *c && n < size; c++)
            n += (size_t)snprintf(out + n, size - n, "%s%s", n ? ", " : "one of ", *c);
        break;
    }
    }
}

static bool parse_int(const char *v, int64_t *out)
{
    if (!*v || strlen(v) > 18)
        return false;
    for (const char *p = v; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    *out = strtoll(v, NULL, 10);
    return true;
}

static bool parse_seconds(const char *v, double *out)
{
    char *end;
    if (!*v || !(isdigit((unsigned char)*v) || *v == '.'))
        return false;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || !isfinite(d))
        return false;
    *out = d;
    return true;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = { "true", "1", "yes", "on" };
    static const char *const no[] = { "false", "0", "no", "off" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) { *out = true; return true; }
        if (strcasecmp(v, no[i]) == 0) { *out = false; return true; }
    }
    return false;
}

static bool valid_host(const char *v)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1)
        return true;
    size_t len = strlen(v);
    if (len == 0 || len > 253)
        return false;
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
            return false;
    return true;
}

static bool valid_hexkey(const char *v)
{
    if (!*v)
        return true; /* emptiness is checked against SCRUB_MODE later */
    if (strlen(v) != 64)
        return false;
    for (const char *p = v; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return false;
    return true;
}

/* Split an upstream URL into its parts; false if it is not one we serve. */
static bool parse_upstream_url(const char *v, struct upstream_url *u)
{
    const char *rest;
    memset(u, 0, sizeof *u);
    if (strncmp(v, "https://", 8) == 0) {
        u->tls = true;
        rest = v + 8;
    } else if (strncmp(v, "http://", 7) == 0) {
        rest = v + 7;
    } else {
        return false;
    }
    size_t hostpart = strcspn(rest, "/?#");
    if (rest[hostpart] == '?' || rest[hostpart] == '#' || hostpart == 0 ||
        hostpart >= sizeof u->authority)
        return false;
    memcpy(u->authority, rest, hostpart);
    const char *path = rest + hostpart;
    size_t plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    if (plen >= sizeof u->prefix || strpbrk(path, "?# \t"))
        return false;
    memcpy(u->prefix, path, plen);

    const char *hs = u->authority, *colon;
    size_t hlen;
    if (*hs == '[') { /* [v6]:port */
        const char *close = strchr(hs, ']');
        if (!close)
            return false;
        hs++;
        hlen = (size_t)(close - hs);
        colon = close[1] == ':' ? close + 1 : NULL;
        if (close[1] && !colon)
            return false;
    } else {
        colon = strchr(hs, ':');
        hlen = colon ? (size_t)(colon - hs) : strlen(hs);
    }
    if (hlen == 0 || hlen >= sizeof u->host || strchr(hs, '@'))
        return false;
    memcpy(u->host, hs, hlen);
    if (!valid_host(u->host))
        return false;
    const char *port = colon ? colon + 1 : (u->tls ? "443" : "80");
    int64_t pn;
    if (!parse_int(port, &pn) || pn < 1 || pn > 65535)
        return false;
    snprintf(u->port, sizeof u->port, "%d", (int)pn);
    if (colon && ((u->tls && pn == 443) || (!u->tls && pn == 80)))
        *strrchr(u->authority, ':') = '\0'; /* :authority without the default port */
    return true;
}

/* Parse `v` into the row's field. Returns false if the value is invalid. */
static bool set_value(struct settings *s, const struct setting_def *d, const char *v)
{
    void *f = field(s, d);
    switch (d->type) {
    case T_PORT:
    case T_INT: {
        int64_t n;
        if (!parse_int(v, &n) || n < (int64_t)d->min || n > (int64_t)d->max)
            return false;
        *(int64_t *)f = n;
        return true;
    }
    case T_SECONDS: {
        double x;
        if (!parse_seconds(v, &x) || x < d->min || x > d->max)
            return false;
        *(double *)f = x;
        return true;
    }
    case T_BOOL:
        return parse_bool(v, (bool *)f);
    case T_ENUM:
        for (int i = 0; d->choices[i]; i++)
            if (strcasecmp(d->choices[i], v) == 0) {
                *(int64_t *)f = i;
                return true;
            }
        return false;
    case T_HOST:
    case T_HEXKEY:
    case T_URL:
    case T_PATH: {
        if (d->type == T_HOST && !valid_host(v))
            return false;
        if (d->type == T_HEXKEY && !valid_hexkey(v))
            return false;
        if (d->type == T_URL && !parse_upstream_url(v, &s->upstream))
            return false;
        if (d->type == T_PATH && strlen(v) > 4000)
            return false;
        char *copy = strdup(v);
        if (!copy)
            return false;
        free(*(char **)f);
        *(char **)f = copy;
        return true;
    }
    }
    return false;
}

/* Apply one KEY=VALUE from `origin`; unknown keys are errors. */
static void apply(struct settings *s, const char *origin, const char *key,
                  const char *value, struct settings_errors *errs)
{
    const struct setting_def *d = NULL;
    if (strncmp(key, SETTINGS_PREFIX, strlen(SETTINGS_PREFIX)) == 0)
        d = find_def(key + strlen(SETTINGS_PREFIX));
    if (!d) {
        add_error(errs, "%s: unknown setting %s (see anthropic-proxy --help)", origin, key);
        return;
    }
    if (!set_value(s, d, value)) {
        char allowed[256];
        describe_allowed(d, allowed, sizeof allowed);
        /* a key is a secret: name it, never echo it */
        const char *shown = d->type == T_HEXKEY ? "(hidden)" : value;
        add_error(errs, "%s: %s%s=%s is not valid: allowed: %s", origin, SETTINGS_PREFIX,
                  d->name, shown, allowed);
    }
}

/* Strip surrounding blanks and one pair of matching quotes, in place. */
static char *trim_value(char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
        v[--n] = '\0';
    if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
        v[n - 1] = '\0';
        v++;
    }
    return v;
}

static void load_file(struct settings *s, const char *path, bool must_exist,
                      struct settings_errors *errs)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (must_exist || errno != ENOENT)
            add_error(errs, "%s: cannot read the settings file: %s", path, strerror(errno));
        return;
    }
    char line[8192];
    unsigned lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char origin[4200];
        snprintf(origin, sizeof origin, "%s:%u", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            add_error(errs, "%s: line longer than %zu bytes", origin, sizeof line - 1);
            break;
        }
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0')
            continue;
        if (strncmp(p, "export ", 7) == 0)
            p += 7;
        char *eq = strchr(p, '=');
        if (!eq) {
            add_error(errs, "%s: expected KEY=VALUE", origin);
            continue;
        }
        *eq = '\0';
        char *key = trim_value(p);
        char *nl = strchr(eq + 1, '\n');
        if (nl)
            *nl = '\0';
        apply(s, origin, key, trim_value(eq + 1), errs);
    }
    fclose(f);
}

static void load_env(struct settings *s, char *const *envp, struct settings_errors *errs)
{
    size_t plen = strlen(SETTINGS_PREFIX);
    for (char *const *e = envp; e && *e; e++) {
        if (strncmp(*e, SETTINGS_PREFIX, plen) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq || (size_t)(eq - *e) >= 128)
            continue;
        char key[128];
        memcpy(key, *e, (size_t)(eq - *e));
        key[eq - *e] = '\0';
        if (strcmp(key + plen, "CONFIG") == 0)
            continue; /* already used to find the file */
        apply(s, "environment", key, eq + 1, errs);
    }
}

static const char *env_lookup(char *const *envp, const char *key)
{
    size_t klen = strlen(key);
    for (char *const *e = envp; e && *e; e++)
        if (strncmp(*e, key, klen) == 0 && (*e)[klen] == '=')
            return *e + klen + 1;
    return NULL;
}

/* Rules that involve more than one setting. */
static void cross_check(struct settings *s, struct settings_errors *errs)
{
    if (s->scrub_mode != SCRUB_OFF && strlen(s->scrub_hmac_key) != 64)
        add_error(errs, "%sSCRUB_HMAC_KEY is required when %sSCRUB_MODE=%s: allowed: "
                  "64 hexadecimal characters (make one with: openssl rand -hex 32)",
                  SETTINGS_PREFIX, SETTINGS_PREFIX, scrub_modes[s->scrub_mode]);
    if (s->port == s->dashboard_port)
        add_error(errs, "%sPORT and %sDASHBOARD_PORT are both %lld: allowed: two different ports",
                  SETTINGS_PREFIX, SETTINGS_PREFIX, (long long)s->port);
    if (s->upstream_max_keepalive_connections > s->upstream_max_connections)
        s->upstream_max_keepalive_connections = s->upstream_max_connections;
}

/* Defaults may name the configured directories, so that the docs printed
 * from the table (man page, example file) read the same whatever the
 * build's prefix; loading and --help use the expanded paths. */
static void expand_default(const char *def, char *out, size_t size)
{
    static const struct { const char *var, *value; } dirs[] = {
        { "${sysconfdir}", SYSCONFDIR },
        { "${pkglibdir}", PKGLIBDIR },
        { "${runstatedir}", RUNSTATEDIR },
        { "${localstatedir}", LOCALSTATEDIR },
    };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        size_t n = strlen(dirs[i].var);
        if (strncmp(def, dirs[i].var, n) == 0) {
            snprintf(out, size, "%s%s", dirs[i].value, def + n);
            return;
        }
    }
    snprintf(out, size, "%s", def);
}

int settings_load(struct settings *s, const char *config_path, const char *pipeline_path,
                  char *const *envp, struct settings_errors *errs)
{
    memset(s, 0, sizeof *s);
    memset(errs, 0, sizeof *errs);
    for (size_t i = 0; i < NDEFS; i++) {
        char def[4096];
        expand_default(defs[i].def, def, sizeof def);
        if (!set_value(s, &defs[i], def))
            add_error(errs, "internal: bad default for %s", defs[i].name);
    }

    const char *env_config = env_lookup(envp, SETTINGS_PREFIX "CONFIG");
    const char *file = config_path ? config_path : env_config;
    if (file && *file) {
        load_file(s, file, true, errs);
        set_value(s, find_def("CONFIG"), file);
    } else {
        load_file(s, settings_default_config, false, errs);
        if (access(settings_default_config, R_OK) == 0)
            set_value(s, find_def("CONFIG"), settings_default_config);
    }
    load_env(s, envp, errs);
    if (pipeline_path)
        set_value(s, find_def("PIPELINE"), pipeline_path);
    cross_check(s, errs);
    return errs->count ? -1 : 0;
}

void settings_free(struct settings *s)
{
    for (size_t i = 0; i < NDEFS; i++) {
        enum set_type t = defs[i].type;
        if (t == T_HOST || t == T_HEXKEY || t == T_URL || t == T_PATH) {
            char **p = field(s, &defs[i]);
            free(*p);
            *p = NULL;
        }
    }
}

const char *settings_get_text(const struct settings *s, const char *name, char *buf,
                              size_t size)
{
    const struct setting_def *d = find_def(name);
    if (!d)
        return NULL;
    const void *f = cfield(s, d);
    switch (d->type) {
    case T_PORT:
    case T_INT: snprintf(buf, size, "%lld", (long long)*(const int64_t *)f); break;
    case T_SECONDS: snprintf(buf, size, "%g", *(const double *)f); break;
    case T_BOOL: snprintf(buf, size, "%s", *(const bool *)f ? "true" : "false"); break;
    case T_ENUM: snprintf(buf, size, "%s", d->choices[*(const int64_t *)f]); break;
    default: snprintf(buf, size, "%s", *(char *const *)f ? *(char *const *)f : ""); break;
    }
    return buf;
}

int settings_restart_only_changes(const struct settings *old, const struct settings *new_s,
                                  char *out, size_t size)
{
    int n = 0;
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < NDEFS; i++) {
        if (defs[i].reloadable)
            continue;
        char a[4096], b[4096];
        settings_get_text(old, defs[i].name, a, sizeof a);
        settings_get_text(new_s, defs[i].name, b, sizeof b);
        if (strcmp(a, b) == 0)
            continue;
        n++;
        if (used < size)
            used += (size_t)snprintf(out + used, size - used, "%s%s%s", used ? " " : "",
                                     SETTINGS_PREFIX, defs[i].name);
    }
    return n;
}

/* What an unset setting means, as --help (expand: this build's paths) and
 * the man page show it. CONFIG is empty, but the settings file in
 * sysconfdir is read then, if present. */
static const char *shown_default(const struct setting_def *d, bool expand, char *buf,
                                 size_t size)
{
    bool config = strcmp(d->name, "CONFIG") == 0;
    const char *def = config ? CONFIG_DEFAULT_PATH : d->def;
    char path[4096];
    if (expand) {
        expand_default(def, path, sizeof path);
        def = path;
    }
    snprintf(buf, size, config ? "%s, if it exists" : "%s", *def ? def : "(empty)");
    return buf;
}

void settings_print_help(FILE *out)
{
    fprintf(out, "Settings (environment or settings file, prefix %s):\n", SETTINGS_PREFIX);
    for (size_t i = 0; i < NDEFS; i++) {
        char allowed[256], shown[4200];
        describe_allowed(&defs[i], allowed, sizeof allowed);
        fprintf(out, "  %-36s default %s\n      %s; %s%s\n", defs[i].name,
                shown_default(&defs[i], true, shown, sizeof shown), defs[i].help, allowed,
                defs[i].reloadable ? "" : "; needs a restart");
    }
}

/* Roff-escape a string: backslashes and leading dots. */
static void roff_puts(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

void settings_print_man(FILE *out)
{
    for (size_t i = 0; i < NDEFS; i++) {
        char allowed[256], shown[512];
        describe_allowed(&defs[i], allowed, sizeof allowed);
        fprintf(out, ".TP\n.B %s%s\n%c", SETTINGS_PREFIX, defs[i].name,
                toupper((unsigned char)defs[i].help[0]));
        roff_puts(out, defs[i].help + 1);
        fputs(".\nAllowed: ", out);
        roff_puts(out, allowed);
        fputs(". Default: ", out);
        roff_puts(out, shown_default(&defs[i], false, shown, sizeof shown));
        fprintf(out, ".%s\n", defs[i].reloadable ? " A reload (SIGHUP) applies a change."
                                                 : " A change needs a restart.");
    }
}

void settings_print_env_example(FILE *out)
{
    for (size_t i = 0; i < NDEFS; i++) {
        if (strcmp(defs[i].name, "CONFIG") == 0)
            continue; /* the file does not name itself */
        char allowed[256];
        describe_allowed(&defs[i], allowed, sizeof allowed);
        fprintf(out, "# %s (%s)%s\n#%s%s=%s\n\n", defs[i].help, allowed,
                defs[i].reloadable ? "" : "; needs a restart", SETTINGS_PREFIX, defs[i].name,
                defs[i].def);
    }
}

/*
 * fuzz_settings: arbitrary bytes as the settings file (KEY=VALUE lines)
 * through settings_load, the way --config and SIGHUP read it.
 *
 * The bytes go into a memfd named by its /proc/self/fd path, so the real
 * fopen/fgets path runs without touching the disk. Checked on every input,
 * even under NDEBUG:
 * - the result and the error count agree, and the error text is a
 *   terminated string inside its buffer;
 * - loading the same file twice gives the same answer (no state kept);
 * - an accepted file gives values inside the table's ranges and the cross
 *   checks' rules; every setting reads back as text.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

static const char *const names[] = {
    "HOST", "PORT", "DASHBOARD_PORT", "SHUTDOWN_TIMEOUT", "LOG_LEVEL", "LOG_FORMAT",
    "LOG_REQUESTS", "LOG_SLOW_THRESHOLD", "UPSTREAM_BASE_URL", "UPSTREAM_CONNECT_TIMEOUT",
    "UPSTREAM_READ_TIMEOUT", "UPSTREAM_WRITE_TIMEOUT", "UPSTREAM_POOL_TIMEOUT",
    "UPSTREAM_MAX_CONNECTIONS", "UPSTREAM_MAX_KEEPALIVE_CONNECTIONS", "UPSTREAM_CA_FILE",
    "SCRUB_MODE", "SCRUB_HMAC_KEY", "SCRUB_MAX_BODY_SIZE", "TLS_CERT", "TLS_KEY", "CONFIG",
    "PIPELINE", "PLUGIN_DIR", "MAX_REQUEST_BODY", "CLIENT_HEADER_TIMEOUT",
    "CLIENT_IDLE_TIMEOUT", "MAX_CLIENT_CONNECTIONS",
};

static int memfd = -1;
static char path[64];

static void write_file(const uint8_t *data, size_t size)
{
    if (memfd < 0) {
        memfd = memfd_create("fuzz_settings", 0);
        CHECK(memfd >= 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    }
    CHECK(ftruncate(memfd, 0) == 0);
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(memfd, data + done, size - done, (off_t)done);
        CHECK(n > 0);
        done += (size_t)n;
    }
}

static void check_accepted(const struct settings *s)
{
    char buf[8192];
    CHECK(s->port >= 1 && s->port <= 65535);
    CHECK(s->dashboard_port >= 1 && s->dashboard_port <= 65535);
    CHECK(s->port != s->dashboard_port);
    CHECK(s->upstream_max_keepalive_connections <= s->upstream_max_connections);
    CHECK(s->client_header_timeout >= 0.1 && s->client_idle_timeout >= 0.1);
    CHECK(s->max_client_connections >= 1);
    CHECK(s->scrub_mode == SCRUB_OFF || strlen(s->scrub_hmac_key) == 64);
    CHECK(s->upstream.host[0] && s->upstream.port[0]);
    CHECK(strcmp(s->config, path) == 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *t = settings_get_text(s, names[i], buf, sizeof buf);
        CHECK(t == buf && memchr(buf, '\0', sizeof buf) != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *const envp[] = { NULL };
    struct settings s, again;
    struct settings_errors errs, errs2;

    write_file(data, size);
    int rv = settings_load(&s, path, NULL, envp, &errs);
    CHECK(rv == 0 || rv == -1);
    CHECK((rv == 0) == (errs.count == 0));
    CHECK(memchr(errs.text, '\0', sizeof errs.text) != NULL);
    if (rv == 0)
        check_accepted(&s);

    int rv2 = settings_load(&again, path, NULL, envp, &errs2);
    CHECK(rv2 == rv && errs2.count == errs.count && strcmp(errs2.text, errs.text) == 0);
    settings_free(&again);
    settings_free(&s);
    return 0;
}

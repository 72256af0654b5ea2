/*
 * dashboard stage: GET /dashboard on both ports, the live dashboard page
 * (SPEC section 7). The page is dashboard.html, compiled in (page.h is made
 * from it at build time) so that the stage needs no file at run time and
 * the page nothing from the network: it reads /metrics/stream, which the
 * metrics stage serves.
 */
#include <stdio.h>
#include <stdlib.h>

#include <anthropic-proxy/plugin.h>

static const char page[] =
#include "page.h"
    ;

static void route_dashboard(void *arg, struct apx_exchange *ex)
{
    const struct apx_host *h = arg;
    h->respond(ex, 200, "text/html; charset=utf-8", page, sizeof page - 1);
}

static int dashboard_init(const struct apx_host *host, const struct apx_config *cfg,
                          void **state, struct apx_error *err)
{
    if (host->route_add(host, "GET", "/dashboard", APX_ROUTE_MAIN | APX_ROUTE_DASHBOARD,
                        route_dashboard, (void *)host) < 0) {
        host->error_set(err, "GET /dashboard is already taken");
        return -1;
    }
    *state = NULL;
    return 0;
}

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_STAGE,
    .name = "dashboard",
    .version = "1.0.0",
    .description = "the live dashboard page, GET /dashboard",
    .init = dashboard_init,
};

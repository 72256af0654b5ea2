/* A stage that refuses, in the proxy's own name, every request carrying
 * `x-test-refuse: NNN` with that status (429, 503, 529...): the proxy's own
 * answers are what the gateway-contract test inspects. */
#include <stdlib.h>
#include <anthropic-proxy/plugin.h>

static int refusing_init(const struct apx_host *host, const struct apx_config *cfg, void **state,
                         struct apx_error *err)
{
    (void)cfg;
    (void)err;
    *state = (void *)host;
    return 0;
}

static int on_request(void *state, struct apx_exchange *ex)
{
    const struct apx_host *h = state;
    const char *v = h->ex_header_get(ex, "x-test-refuse");
    if (!v)
        return APX_OK;
    int status = atoi(v);
    h->block(ex, status, status == 429 ? "rate_limit_error"
                         : status == 529 ? "overloaded_error" : "api_error",
             "refused by the test stage");
    return APX_BLOCK;
}

static const struct apx_stage_hooks stage_hooks = {
    .struct_size = sizeof(struct apx_stage_hooks),
    .on_request = on_request,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_STAGE,
    .name = "refusing_stage",
    .version = "1.0.0",
    .description = "refuses requests with x-test-refuse: NNN (tests only)",
    .init = refusing_init,
    .stage = &stage_hooks,
};

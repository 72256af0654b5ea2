/* A stage that transforms response bodies, for 55-response-transform.sh.
 * A response whose request carried `x-test-transform: on` has every "e"
 * turned into "EE" (so its length changes), and the last byte of every
 * piece is held back until the next piece or the end, so a byte crosses
 * pieces and the end flushes it. Any other response passes untouched. */
#include <stdlib.h>
#include <string.h>

#include <anthropic-proxy/plugin.h>

struct held {
    uint8_t byte;
    bool has;
};

static int xf_init(const struct apx_host *host, const struct apx_config *cfg, void **state,
                   struct apx_error *err)
{
    (void)cfg;
    (void)err;
    *state = (void *)host;
    return 0;
}

static int xf_head(void *state, struct apx_exchange *ex)
{
    const struct apx_host *h = state;
    const char *v = h->ex_header_get(ex, "x-test-transform");
    if (!v || strcmp(v, "on") != 0)
        return APX_OK;
    struct held *held = calloc(1, sizeof *held);
    if (!held)
        return APX_ERROR;
    *h->ex_slot(h, ex) = held;
    return h->transform_body(h, ex) == 0 ? APX_OK : APX_ERROR;
}

static int emit_byte(const struct apx_host *h, struct apx_exchange *ex, uint8_t c)
{
    return c == 'e' ? h->transform_emit(ex, "EE", 2) : h->transform_emit(ex, &c, 1);
}

static int xf_transform(void *state, struct apx_exchange *ex, const uint8_t *data, size_t len,
                        bool end)
{
    const struct apx_host *h = state;
    struct held *held = *h->ex_slot(h, ex);
    if (held->has && (len > 0 || end)) {
        if (emit_byte(h, ex, held->byte) < 0)
            return -1;
        held->has = false;
    }
    for (size_t i = 0; i + 1 < len; i++)
        if (emit_byte(h, ex, data[i]) < 0)
            return -1;
    if (len > 0 && !end) {
        held->byte = data[len - 1];
        held->has = true;
    } else if (len > 0 && emit_byte(h, ex, data[len - 1]) < 0) {
        return -1;
    }
    return 0;
}

static void xf_done(void *state, struct apx_exchange *ex, const struct apx_done_info *info)
{
    const struct apx_host *h = state;
    (void)info;
    void **slot = h->ex_slot(h, ex);
    free(*slot);
    *slot = NULL;
}

static const struct apx_stage_hooks stage_hooks = {
    .struct_size = sizeof(struct apx_stage_hooks),
    .on_response_head = xf_head,
    .on_response_transform = xf_transform,
    .on_done = xf_done,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_STAGE,
    .name = "transform_stage",
    .version = "1",
    .description = "test: turns e into EE in responses that ask for it",
    .init = xf_init,
    .stage = &stage_hooks,
};

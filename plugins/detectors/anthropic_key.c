/*
 * anthropic_key: Anthropic API keys, the first detector of the scrubber.
 *
 * "sk-ant-" + a kind and its version (api03, admin01, oat01, ort01, and
 * other kinds in the same shape, with or without a version: sid01, si) +
 * "-" + a base64url body (dots inside allowed, not at the end); real keys
 * are 95 to 108 characters long. The body must be at least 32 characters,
 * so "sk-ant-api03-..." in documentation and other truncated mentions are
 * left alone.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "sk-ant-api03-PtYgjmUhBel31iEl2hpChYgCfrL1spNxnyVmihA_2O76UMFxFkM_R5Kjp1vRt-1fjORS_6ilI8ihN5KXSc7Tvo_hBKqFYAA",
    "ANTHROPIC_API_KEY=sk-ant-admin01-Y_kv5ZJr3J1TWDtkwtDDb-xHKas1VOqg6YYZYn9ZhyiA4uoRgnatmUdjAWtGSU8po-799NksnRH9ucAUsdMlHUvTCQCyEAA",
    "{\"token\": \"sk-ant-oat01-ZDz_TddJ8HyS5SUkCnD8zRA9a9SkpXz9w3QlY7Zkuvqdt7s8Stqcbnr3yBdGBLEPH1qhT61qtc4xatws8phP9nhFyJfm5AA\"}",
    "refresh sk-ant-ort01-di4PzJ59FHz5r1pY4OjE2jBMptUsGr7CmY-uCu3ZR1zTOlUcR64cXQLioDnkHIfxIq2HZt_PlJhx2jIclHkCiHp6bR1IqAA expired",
    "x-api-key: sk-ant-api03-abc123def456ghi789jkl012mno345pqr678stu901vwx234yzAA",
    "session sk-ant-sid01-Qm9vL2v1cGZ4c1h6aE9nTnB5dWJrV0xKcWR0bVdZTmRhTm5aS2tE.",
    NULL,
};

static const char *const must_not_match[] = {
    "keys look like sk-ant-api03-... and are sent as x-api-key",
    "sk-ant-api03-abc",                                     /* truncated */
    "git show 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "request 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    "sha256 9421cc1c93016f1c4261e5351d30b49895d1a0d1f13dce20c4fd32f640d00326",
    "task-ant-api03-PtYgjmUhBel31iEl2hpChYgCfrL1spNxnyVmihA_2O76UMFxFkM",  /* no sk- boundary */
    "<ANTHROPIC_KEY_1>",
    NULL,
};

static const char *const anchors[] = { "sk-ant-", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "ANTHROPIC_KEY",
    .tier = APX_TIER_SECRET,
    .priority = 10,
    .pattern = "(?<![A-Za-z0-9_-])sk-ant-[a-z]{2,12}[0-9]{0,2}-[A-Za-z0-9_.-]{32,1024}"
               "(?<!\\.)(?![A-Za-z0-9_-])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "anthropic_key",
    .version = "1.0.0",
    .description = "Anthropic API, admin and OAuth keys (sk-ant-api03-, -admin01-, -oat01-, -ort01-)",
    .detector = &detector_spec,
};

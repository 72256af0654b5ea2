/*
 * github_token: GitHub tokens.
 *
 * Classic tokens: ghp_ (personal), gho_ (OAuth), ghu_ (user-to-server),
 * ghs_ (server-to-server), ghr_ (refresh) + 36 letters and digits (GitHub
 * may lengthen them: up to 251 are taken). Fine-grained personal tokens:
 * github_pat_ + 22 + "_" + 59. No checksum test: the last six characters
 * of a classic token are a CRC32, but checking it would let through the
 * fake-looking tokens (ghp_xxxx...) people paste into tests and docs.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "GITHUB_TOKEN=ghp_9XyYq6B0Fi7FlaZ7Vt0SXjMpu3uDxYYMfGmz",
    "gho_WkpAePcEJIukB4geqNfngAFTCloiADN5RpVI",
    "x-access-token:ghs_2XQWhX1ssrKrxqVqmCplppjs46LmuezqpGHo@github.com",
    "ghu_PZgPDcgaE40o1C6xc4sohdmM0Lm7exG3lCMq and ghr_XXQ8agOMTNwncxvjcnqcMUP6n0a0uARxlNte",
    "token: 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",
    NULL,
};

static const char *const must_not_match[] = {
    "ghp_xxxxxxxxxxxxxxxx",                           /* too short */
    "tokens start with ghp_ or github_pat_",
    "ghx_9XyYq6B0Fi7FlaZ7Vt0SXjMpu3uDxYYMfGmz",       /* no such kind */
    "commit 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "id 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    "sha256:9421cc1c93016f1c4261e5351d30b49895d1a0d1f13dce20c4fd32f640d00326",
    "github_pat_ncYFJEeAgYzQJjOIfPkzSr",              /* truncated */
    NULL,
};

static const char *const anchors[] = { "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_",
                                       NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "GITHUB_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 40,
    .pattern = "(?<![A-Za-z0-9])"
               "(?:gh[pousr]_[A-Za-z0-9]{36,251}+"
               "|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})"
               "(?![A-Za-z0-9_])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "github_token",
    .version = "1.0.0",
    .description = "GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_ + 36; github_pat_)",
    .detector = &detector_spec,
};

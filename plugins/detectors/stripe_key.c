/*
 * stripe_key: Stripe secret and restricted keys.
 *
 * sk_live_, sk_test_, rk_live_, rk_test_ (and _prod_) + at least 24 letters and digits
 * (up to 99 today; Stripe reserves up to 255 characters in all, so that
 * much is taken). Publishable keys (pk_live_, pk_test_) are public by
 * design and left alone. Test-mode keys are scrubbed too: they open an
 * account's test data.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "STRIPE_SECRET_KEY=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",
    "stripe.api_key = 'sk_test_5gqIO2zVZxqyxKjxvWfColNV9ds0HqtO93L7Q5uUaVcojsNOBAGx5diFoNPcbdaKwtgH'",
    "rk_live_Zq9adP0J5wMPLCM7HUFpk5acdIbzlpkd6XgaNJQ8mjAmHMPGPPA0N",
    "curl -u rk_test_BRY6HqsP795nf4Gakq5p1Vm8: https://api.stripe.com/v1/charges",
    NULL,
};

static const char *const must_not_match[] = {
    "pk_live_I5Qe43W6T8ygpnnhcc826ZWOf0WOOsEgigYWPnsuvBqbwq7sdTWx6uX9MGE2sNVbYAbBHXgwETdIK",
    "use an sk_live_ key only on the server, sk_test_abc in tests",
    "mask_live_I5Qe43W6T8ygpnnhcc826ZWOf0WOOsEgig",
    "commit 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "id 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    "9421cc1c93016f1c4261e5351d30b49895d1a0d1f13dce20c4fd32f640d00326",
    NULL,
};

static const char *const anchors[] = { "sk_live_", "sk_test_", "sk_prod_", "rk_live_", "rk_test_",
                                       "rk_prod_", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "STRIPE_KEY",
    .tier = APX_TIER_SECRET,
    .priority = 60,
    .pattern = "(?<![A-Za-z0-9_])[sr]k_(?:live|test|prod)_[0-9A-Za-z]{24,247}+(?![0-9A-Za-z])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "stripe_key",
    .version = "1.0.0",
    .description = "Stripe secret and restricted keys (sk_live_, sk_test_, rk_live_, rk_test_)",
    .detector = &detector_spec,
};

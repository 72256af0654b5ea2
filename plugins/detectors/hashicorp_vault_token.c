/*
 * hashicorp_vault_token: HashiCorp Vault tokens.
 *
 * Current tokens: hvs. (service), hvb. (batch), hvr. (recovery) + 20 or
 * more base64url characters, standing alone. Real service tokens are about
 * 95 characters long and batch tokens longer; 20 keeps the seed's own
 * example (hvs.ABCDEFghijklmnop123456, 22) and the prefix is specific
 * enough.
 *
 * Legacy tokens (before Vault 1.10): "s." or "b." + 24 characters. On
 * their own they are too ambiguous ("s.getElementsByTagName" is close),
 * so they are taken only where a Vault token is expected: after
 * VAULT_TOKEN= (or :), vault_token, or an X-Vault-Token header, and only
 * the token is replaced (group `secret`).
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "VAULT_TOKEN=hvs.vsoUu19X5IQLJhQbtN2FWXWD5KaPHI2ufKssJ_Sk-WzDNhY7AGbX6lTiDYHP9zyBylxLUTZtFf_VnV7ktOdSJcmeA-",
    "\"client_token\": \"hvb.BHJ2m5qGeRzxWkdgeV6-iYplGODlYx5uVECweGThdgH9hmsOazM4n8PVGXpV9Wv4Esb7yeuCjVr5mXcj5RPD9oUsQChx5s4tI10FtdILQvH-nO69othB9KpGzU3HEEmXL1\"",
    "hvr.uhLsc4Rr4aKxU3f0BJxrxDwzkl_JwAryNzbi0hSQK_lb09rIFxUeuVaT5jpTFPWhLn_5drcFlCxvnNGdcmyHc7E4nS",
    "hvs.ABCDEFghijklmnop123456",
    "export VAULT_TOKEN=\"s.3gTlcrhDFLGWrhhhz4iILo3o\"",
    "curl -H \"X-Vault-Token: s.3gTlcrhDFLGWrhhhz4iILo3o\" https://vault.example.com/v1/secret/data/app",
    NULL,
};

static const char *const must_not_match[] = {
    "hvs.tooShort123",
    "tokens now start with hvs. or hvb. instead of s.",
    "s.3gTlcrhDFLGWrhhhz4iILo3o",                       /* legacy, no context */
    "this.hvs.vsoUu19X5IQLJhQbtN2FWXWD5Ka",              /* a property path */
    "commit 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "id 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    "9421cc1c93016f1c4261e5351d30b49895d1a0d1f13dce20c4fd32f640d00326",
    NULL,
};

static const char *const anchors[] = {
    "hvs.", "hvb.", "hvr.", "VAULT_TOKEN", "vault_token", "X-Vault-Token", "x-vault-token",
    "X-VAULT-TOKEN", NULL,
};

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "HASHICORP_VAULT_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 150,
    .pattern = "(?|(?<![A-Za-z0-9_.-])(?<secret>hv[sbr]\\.[A-Za-z0-9_-]{20,1024}+)"
               "|(?:VAULT_TOKEN|vault_token|X-Vault-Token|x-vault-token|X-VAULT-TOKEN)"
               "[\"']?[ \\t]*[:=][ \\t]*[\"']?(?<secret>[sb]\\.[A-Za-z0-9]{24}))"
               "(?![A-Za-z0-9_-])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "hashicorp_vault_token",
    .version = "1.0.0",
    .description = "HashiCorp Vault tokens (hvs., hvb., hvr.; legacy s. after VAULT_TOKEN)",
    .detector = &detector_spec,
};

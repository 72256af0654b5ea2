/*
 * huggingface_token: Hugging Face user access tokens and the old
 * organization API tokens.
 *
 * hf_ + exactly 34 letters (user access tokens, read, write and
 * fine-grained: their body holds no digits), and api_org_ + 34 letters
 * (organization tokens, retired in 2023 but still found in old notebooks
 * and scripts). The library's own names (hf_hub_download, hf_token,
 * HF_HOME) hold an underscore or are shorter, and longer runs of letters
 * are left alone.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "huggingface-cli login --token hf_FakeHuggingFaceTokenForTestsAbCdEf",
    "HF_TOKEN=hf_NotARealTokenJustSampleAbCdEfGhIjK python train.py",
    "use_auth_token='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'",
    "os.environ['HUGGINGFACEHUB_API_TOKEN'] = 'api_org_FakeOrganizationTokenForTestsAbCdE'",
    NULL,
};

static const char *const must_not_match[] = {
    "from huggingface_hub import hf_hub_download, snapshot_download",
    "hf_FakeHuggingFaceToken",                                  /* too short */
    "hf_FakeHuggingFaceTokenForTestsAbCdEfGh",                  /* 36 letters: a longer run */
    "hf_FakeHuggingFace0123TokenForTestsAb",                    /* digits: not the charset */
    "- (id)hf_requiredCharacteristicTypesForDisplayMetadata;",
    "const api_org_controller = require('./controllers/api');",
    "tokens look like hf_xxxxx; the old ones api_org_",
    NULL,
};

/* "i_org_", not "api_org_": the pre-filter looks at letter pairs, and "ap"
 * is everywhere in code; "i_" is rare. */
static const char *const anchors[] = { "hf_", "i_org_", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "HUGGINGFACE_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 46,
    .pattern = "(?<![A-Za-z0-9_])(?:hf|api_org)_[A-Za-z]{34}+(?![A-Za-z0-9_-])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "huggingface_token",
    .version = "1.0.0",
    .description = "Hugging Face access tokens (hf_ + 34 letters; api_org_ + 34)",
    .detector = &detector_spec,
};

/*
 * openai_key: OpenAI API keys.
 *
 * Three shapes, all after "sk-" at a word start:
 *   - project, service-account, admin and user keys: "sk-proj-",
 *     "sk-svcacct-", "sk-admin-", "sk-None-" + 40 or more base64url
 *     characters;
 *   - legacy keys: "sk-" + exactly 48 letters and digits;
 *   - any "sk-" key that carries the "T3BlbkFJ" marker (base64 of
 *     "OpenAI") somewhere in its body.
 * Anthropic keys ("sk-ant-...") are never taken, "sk-" in prose and short
 * "sk-abc" neither. validate() drops kebab-case names that only look like a
 * key prefix ("sk-admin-dashboard-panel-..."): real key bodies are random
 * and never all lower-case words joined by hyphens.
 */
#include <stddef.h>
#include <string.h>

#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "OPENAI_API_KEY=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",
    "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",
    "admin key: sk-admin-28-ajY75FnCttn6kfaqDeMqG3omjMyXHCabM6JOF8EFd0Nhcy_1kGD2VD_eR",
    "openai.api_key = \"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\"",
    "sk-8Mj7zdnbMjAdTdlzC5T4uUhf7kvmlP7HVDctQUy1xvCkgafr",
    NULL,
};

static const char *const must_not_match[] = {
    "sk-ant-api03-PtYgjmUhBel31iEl2hpChYgCfrL1spNxnyVmihA_2O76UMFxFkM_R5Kjp1vRt-1fjORS_6ilI8ihN5KXSc7Tvo_hBKqFYAA",
    "set the sk- prefix and pass sk-abc as a placeholder",
    "class=\"sk-admin-dashboard-sidebar-navigation-collapsed-state\"",
    "task-8Mj7zdnbMjAdTdlzC5T4uUhf7kvmlP7HVDctQUy1xvCkgafr",
    "sk-8Mj7zdnbMjAdTdlzC5T4uUhf7kvmlP7HVDctQUy1xvCkgafr9",   /* 49: not the legacy length */
    "commit 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "id 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    "9421cc1c93016f1c4261e5351d30b49895d1a0d1f13dce20c4fd32f640d00326",
    NULL,
};

static const char *const anchors[] = { "sk-", NULL };

/* 0 for "sk-<kind>-" followed by lower-case words and hyphens only. */
static int openai_key_validate(void *state, const char *match, size_t len)
{
    static const char *const kinds[] = { "sk-proj-", "sk-svcacct-", "sk-admin-", "sk-None-" };
    (void)state;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t pl = strlen(kinds[k]);
        if (len <= pl || memcmp(match, kinds[k], pl) != 0)
            continue;
        int hyphen = 0;
        for (size_t i = pl; i < len; i++) {
            if (match[i] == '-')
                hyphen = 1;
            else if (match[i] < 'a' || match[i] > 'z')
                return 1;
        }
        return !hyphen;
    }
    return 1;
}

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "OPENAI_KEY",
    .tier = APX_TIER_SECRET,
    .priority = 20,
    .pattern = "(?<![A-Za-z0-9_-])sk-(?!ant-)"
               "(?:(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,250}+"
               "|[A-Za-z0-9]{48}+"
               "|[A-Za-z0-9_-]{0,160}?T3BlbkFJ[A-Za-z0-9_-]{0,160}+)"
               "(?![A-Za-z0-9_-])",
    .validate = openai_key_validate,
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "openai_key",
    .version = "1.0.0",
    .description = "OpenAI API keys (sk-proj-, sk-svcacct-, sk-admin-, legacy sk- + 48)",
    .detector = &detector_spec,
};

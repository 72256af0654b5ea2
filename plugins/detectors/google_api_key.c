/*
 * google_api_key: Google API keys (Maps, Firebase, Gemini, Cloud...).
 *
 * "AIza" + 35 characters of [0-9A-Za-z_-], standing alone. Firebase web
 * configs ship these keys in client code; they are credentials all the
 * same (quota, billing) and are scrubbed.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "apiKey: \"AIzaSKuvinX-zMqf9OgXluCZz8xBfZuXTptFyfe\",",
    "https://maps.googleapis.com/maps/api/geocode/json?key=AIzaPpX6N1NF2XV54wca-7E56w8ZniqT3Ul4ffq&address=x",
    "GEMINI_API_KEY=AIzaSyD_0b9x8c7v6b5n4m3l2k1j0h9g8f7e6d5",
    NULL,
};

static const char *const must_not_match[] = {
    "AIzaSyA1234567890abcdefghijklmnopqrstu",       /* 34 after the prefix */
    "AIzaSyA1234567890abcdefghijklmnopqrstuvw",     /* 36: part of something longer */
    "keys begin with AIza and are 39 characters long",
    "commit 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "id 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    "9421cc1c93016f1c4261e5351d30b49895d1a0d1f13dce20c4fd32f640d00326",
    NULL,
};

static const char *const anchors[] = { "AIza", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "GOOGLE_API_KEY",
    .tier = APX_TIER_SECRET,
    .priority = 50,
    .pattern = "(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "google_api_key",
    .version = "1.0.0",
    .description = "Google API keys (AIza + 35)",
    .detector = &detector_spec,
};

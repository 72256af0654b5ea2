/*
 * jwt: JSON Web Tokens (JWS compact form).
 *
 * Three base64url segments joined by dots, header and payload both
 * starting with "eyJ" (the encoding of '{"'), and a signature of at least
 * 16 characters (HS256 gives 43). Two-part strings, unsigned tokens
 * ("alg": "none", empty signature) and ordinary base64 are left alone.
 * JWTs carry identities and grant access until they expire, and after
 * "Bearer " this detector wins over bearer_token: "Bearer <JWT_1>".
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAiNDgyMSIsICJuYW1lIjogIkFkYSBFeGFtcGxlIiwgImlhdCI6IDE3MTYyMzkwMjJ9.4TZiOJXrUTUiIn9Z1uXZCrYQ8_pG0iscc3hG7DbUaWE",
    "Authorization: Bearer eyJhbGciOiAiUlMyNTYiLCAia2lkIjogImsxIn0.eyJpc3MiOiAiaHR0cHM6Ly9hdXRoLmV4YW1wbGUudGVzdCIsICJhdWQiOiAiYXBpIiwgImV4cCI6IDE5MTYyMzkwMjJ9.oIV-rFC31tf7n3NSE9QIR9-bCq21R5JaT6bKkASkImd0MAbE1EQ8xyTLDPuhHXIboYmno85e9ROvMjPSeUEttg",
    "{\"id_token\":\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.Zm9vYmFyYmF6cXV4cXV1eHh5enp5\"}",
    "token=eyJ0eXAiOiJKV1QifQ.eyJleHAiOjE3MDAwMDAwMDB9.dGhpc2lzbm90YXNpZ25hdHVyZQ;path=/",
    NULL,
};

static const char *const must_not_match[] = {
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0",                 /* two parts */
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTQyIn0.",                 /* unsigned */
    "eyJ0eXBlIjoiYmFzZTY0In0=",                                     /* base64 JSON */
    "the token looks like eyJ....eyJ....sig",
    "data:application/json;base64,eyJhIjoxfQ==.eyJiIjoyfQ==",
    "commit 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "id 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    "9421cc1c93016f1c4261e5351d30b49895d1a0d1f13dce20c4fd32f640d00326",
    NULL,
};

static const char *const anchors[] = { "eyJ", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "JWT",
    .tier = APX_TIER_SECRET,
    .priority = 80,
    .pattern = "(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{2,16384}+\\.eyJ[A-Za-z0-9_-]{2,65535}+"
               "\\.[A-Za-z0-9_-]{16,16384}+(?![A-Za-z0-9_-])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "jwt",
    .version = "1.0.0",
    .description = "JSON Web Tokens (eyJ....eyJ....signature)",
    .detector = &detector_spec,
};

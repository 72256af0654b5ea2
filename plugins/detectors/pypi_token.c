/*
 * pypi_token: PyPI and TestPyPI API tokens.
 *
 * A token is "pypi-" + a macaroon in base64url. Every macaroon PyPI issues
 * starts with the same bytes (version 2, then the location "pypi.org" or
 * "test.pypi.org"), so its base64 starts with "AgE": "AgEIcHlwaS5vcmc" for
 * PyPI, "AgENdGVzdC5weXBpLm9yZw" for TestPyPI. Taken: "pypi-AgE" + 60 or
 * more base64url characters (real tokens are 150 to 250 long; caveats make
 * them longer, up to 4000 are taken). Truncated mentions in documentation
 * ("pypi-AgEIcHlwaS5vcmc...") and the prefix alone are left alone.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "password = pypi-AgEIcHlwaS5vcmcCJGZha2UtdG9rZW4tZm9yLWFudGhyb3BpYy1wcm94eS10ZXN0cwACKltmYWtlIGNhdmVhdDogbm90IGEgcmVhbCBQeVBJIHRva2VuXQAABiAwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg",
    "TWINE_PASSWORD=pypi-AgENdGVzdC5weXBpLm9yZwIkYW5vdGhlci1mYWtlLXRva2VuLW1hZGUtdXAtZm9yLXRlc3RzAAAGIGZlZGNiYTk4NzY1NDMyMTBmZWRjYmE5ODc2NTQzMjEw",
    "{\"token\": \"pypi-AgEIcHlwaS5vcmcCJGZha2UtdG9rZW4tZm9yLWFudGhyb3BpYy1wcm94eS10ZXN0cwACKltmYWtlIGNhdmVhdDogbm90IGEgcmVhbCBQeVBJIHRva2VuXQAABiAwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg\"}",
    "twine upload -u __token__ -p pypi-AgENdGVzdC5weXBpLm9yZwIkYW5vdGhlci1mYWtlLXRva2VuLW1hZGUtdXAtZm9yLXRlc3RzAAAGIGZlZGNiYTk4NzY1NDMyMTBmZWRjYmE5ODc2NTQzMjEw dist/*",
    NULL,
};

static const char *const must_not_match[] = {
    "password = pypi-AgEIcHlwaS5vcmc...YOUR-TOKEN-HERE...",
    "PyPI tokens start with pypi- and are passed with the user name __token__",
    "pypi-AgEIcHlwaS5vcmcCJGZha2UtdG9rZW4tZm9yLWFudGhy",            /* too short */
    "mypypi-AgENdGVzdC5weXBpLm9yZwIkYW5vdGhlci1mYWtlLXRva2VuLW1hZGUtdXAtZm9yLXRlc3RzAAAGIGZlZGNiYTk4NzY1NDMyMTBmZWRjYmE5ODc2NTQzMjEw",                                                     /* a longer run */
    "pypi-AgEIcHlwaS5vcmc+CJGZha2UtdG9rZW4/tZm9yLWFudGhyb3BpYy1wcm94eS10ZXN0cwACKltmYWtl",
    "pip install pypi-simple-index-mirror-client-for-internal-registries",
    NULL,
};

static const char *const anchors[] = { "pypi-AgE", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "PYPI_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 44,
    .pattern = "(?<![A-Za-z0-9_-])pypi-AgE[A-Za-z0-9_-]{60,4000}+(?![A-Za-z0-9_+/=-])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "pypi_token",
    .version = "1.0.0",
    .description = "PyPI and TestPyPI API tokens (pypi-AgE + base64url macaroon)",
    .detector = &detector_spec,
};

/*
 * jenkins_api_token: Jenkins API tokens.
 *
 * Since Jenkins 2.129 a token is "11" + 32 lower-case hex digits: 34
 * characters, a length no common digest has (MD5 32, SHA-1 40, SHA-256
 * 64). The run must stand alone: no letter or digit on either side, so a
 * 34-character stretch of a longer hex string, a SHA or a base64 blob is
 * never taken.
 *
 * Hex blocks wrapped over lines (an Ansible vault, a hex dump) can end
 * with a 34-character line starting with "11"; that line comes right
 * after a line ending in 16 hex digits, so such a run is left alone: the
 * lookbehinds cover LF, CRLF and "\n" escapes, bare or followed by the
 * Read tool's or cat -n's line number, or by an even indentation of 2 to
 * 12 spaces. Without it this detector, which runs before ansible_vault,
 * would take the vault's last line and the vault would be dropped as an
 * overlap.
 */
#include <anthropic-proxy/plugin.h>

#define TOKEN "11[0-9a-f]{32}"
#define SHORT "11[0-9a-f]{30}"
/* the older 32-character form, after a word that names it on its line */
#define NAMED "(?i:jenkins|api[_-]?token)[^\\n\\r]{0,40}?"
/* A line ending in 16 hex digits, a line break, `p`, then the token: three
 * fixed-length branches of a lookbehind placed after the token, so that it
 * only runs on candidates. */
#define HEX16 "[0-9a-fA-F]{16}"
#define AFTER_HEX(p) \
    HEX16 "\\n" p TOKEN "|" HEX16 "\\r\\n" p TOKEN "|" HEX16 "\\\\n" p TOKEN
#define NOT_A_HEX_BLOCK_LINE                                                          \
    "(?<!" AFTER_HEX("") "|" AFTER_HEX("[ 0-9]{6}\\x{2192}") "|" AFTER_HEX("[ 0-9]{6}\\t") \
    "|" AFTER_HEX("[ ]{2}") "|" AFTER_HEX("[ ]{4}") "|" AFTER_HEX("[ ]{6}")             \
    "|" AFTER_HEX("[ ]{8}") "|" AFTER_HEX("[ ]{10}") "|" AFTER_HEX("[ ]{12}") ")"

static const char *const must_match[] = {
    "11656b3e6f0bade65c3b188cc102ddb837",
    "JENKINS_API_TOKEN=119c7ce65426f74bde94fb78c8d5f08b79",
    "curl -u admin:11affd2b49c12a4b0062983475eb46c529 https://jenkins.example.com/job/build/build",
    "user: ci-bot-0a\n116f62e338d74ff1fe4f7f505aef9ebdd2\n",   /* the line before ends in hex */
    "     3\xe2\x86\x92" "token: 116f62e338d74ff1fe4f7f505aef9ebdd2\n",
    "11abcdef0123456789abcdef01234567",                    /* the seed's example, alone */
    "JENKINS_TOKEN=11abcdef0123456789abcdef01234567",
    "the Jenkins API token is 11e0c2a9b8d7f6e5a4b3c2d1e0f9a8b7",
    NULL,
};

static const char *const must_not_match[] = {
    "34f087e51b429fe8110102c995f1abef",                                   /* MD5 */
    "md5 11e0c2a9b8d7f6e5a4b3c2d1e0f9a8b7  package.tar.gz",              /* an MD5 in a line */
    "commit 115b001a3ff416d4a3baf69dad8199bfca8b6f3a",                    /* SHA-1 */
    "11421cc1c93016f1c4261e5351d30b49895d1a0d1f13dce20c4fd32f640d00326", /* SHA-256 */
    "id 11f2b8c1-9d4a-4e7b-b5c6-0a1d2e3f4a5b",                           /* UUID */
    "11656b3e6f0bade65c3b188cc102ddb837ab",                               /* 36 hex */
    "x11656b3e6f0bade65c3b188cc102ddb837",
    "$ANSIBLE_VAULT;1.1;AES256\n"
    "87113c16fdf5924754ec21ef66b01d4921da2e055c90eb6f2aed4c21a9dbf49a067e24bdb7ec8375\n"
    "116f62e338d74ff1fe4f7f505aef9ebdd2\n",
    "          87113c16fdf5924754ec21ef66b01d4921da2e055c90eb6f2aed4c21a9dbf49a067e24bdb7ec8375\n"
    "          116f62e338d74ff1fe4f7f505aef9ebdd2\n",
    NULL,
};

static const char *const anchors[] = { "11", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "JENKINS_API_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 130,
    .pattern = "(?|(?<![0-9A-Za-z])(?<secret>" TOKEN ")(?![0-9A-Za-z])" NOT_A_HEX_BLOCK_LINE
               "|" NAMED "(?<![0-9A-Za-z])(?<secret>" SHORT ")(?![0-9A-Za-z])"
               "|^(?<secret>" SHORT ")$)",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "jenkins_api_token",
    .version = "1.0.0",
    .description = "Jenkins API tokens (11 + 32 hex)",
    .detector = &detector_spec,
};

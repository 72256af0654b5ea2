/*
 * ansible_vault: Ansible Vault encrypted blocks, replaced as one block.
 *
 * The header "$ANSIBLE_VAULT;1.1;AES256" (or 1.2 with a vault id:
 * "$ANSIBLE_VAULT;1.2;AES256;prod") and every hex line after it: whole
 * vaulted files, and inline "!vault |" values in YAML, indented. As with
 * private_key, the lines may carry the Read tool's or cat -n's line-number
 * prefix, a diff marker, CRLF endings, or be "\n" escapes in a string
 * literal; the block is still one match. The first hex line must have 32
 * digits or more (they are 80 wide). The header alone, on its line or in
 * prose, is taken too (the seed's own example): it says a vault was pasted,
 * and its lines may follow in another string. Code that only looks for
 * "$ANSIBLE_VAULT;" without a version is left. A hex line must end its
 * line, so a following line that merely starts with hex letters ("cafe:")
 * is not swallowed.
 */
#include <anthropic-proxy/plugin.h>

#define NL "[ \\t]{0,8}+(?:\\r?\\n|\\\\r\\\\n|\\\\n)"
#define PFX "(?:[ \\t]{0,12}[0-9]{1,9}(?:\\x{2192}|\\t))?[+-]?[ \\t]{0,64}+"
/* A hex line ends (after blanks) at a line break, a "\n" escape, the end,
 * or a closing quote. */
#define EOL "(?=[ \\t]*+(?:[\\r\\n\\\\\"']|$))"
#define ARROW "\xe2\x86\x92"

static const char *const must_match[] = {
    "$ANSIBLE_VAULT;1.1;AES256\n"
    "cca0fce9594dc72aa7a6d0018f99ddceb1be0273dbc46dfcea25bab29539ad5966d513b1d00909c3\n"
    "0065f846d34530325fed10a47b851832b6ec017c1e1777155a0e9d8f27c7d9cf07255bc509cb3aca\n"
    "6378368f7e732d2e433ec56f24b1c71b10\n",
    "db_password: !vault |\n"
    "          $ANSIBLE_VAULT;1.2;AES256;prod\n"
    "          c23db7c6e9b7d180a4742684ee75bb6cc69f67e48eb7c64328c0490c257a632b96292794c9bce485\n"
    "          0bbd0e7cb3593871c15d694c1957f8db03911731a6b2dc782bdeae16d4f6185578715bbd26944ff7\n"
    "db_user: app\n",
    "     1" ARROW "$ANSIBLE_VAULT;1.1;AES256\n"
    "     2" ARROW "70e4b9447a3d54ec6390bf61189639e35aeeb95210ef2a83fdf6a0b29872400c49b5539ac5ba7b4b\n"
    "     3" ARROW "87113c16fdf5924754ec21ef66b01d4921da2e055c90eb6f2aed4c21a9dbf49a067e24bdb7ec8375\n",
    "     1\t$ANSIBLE_VAULT;1.1;AES256\r\n"
    "     2\t0065f846d34530325fed10a47b851832b6ec017c1e1777155a0e9d8f27c7d9cf07255bc509cb3aca\r\n",
    "secret = \"$ANSIBLE_VAULT;1.1;AES256\\n6378368f7e732d2e433ec56f24b1c71b10cca0fce9594dc72a\\n\"",
    "$ANSIBLE_VAULT;1.1;AES256",                          /* the seed's example: the header alone */
    "A vaulted file starts with $ANSIBLE_VAULT;1.1;AES256 on its first line.",
    NULL,
};

static const char *const must_not_match[] = {
    "if data.startswith(b\"$ANSIBLE_VAULT;\"):\n    return True\n",
    "ANSIBLE_VAULT_PASSWORD_FILE=~/.vault_pass",
    "commit 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "id 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    "9421cc1c93016f1c4261e5351d30b49895d1a0d1f13dce20c4fd32f640d00326",
    NULL,
};

static const char *const anchors[] = { "$ANSIBLE_VAULT;", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "ANSIBLE_VAULT",
    .tier = APX_TIER_SECRET,
    .priority = 140,
    .pattern = "\\$ANSIBLE_VAULT;[0-9]\\.[0-9];[A-Z0-9]{3,16}(?:;[A-Za-z0-9_.@-]{1,128})?"
               "(?:" NL PFX "[0-9a-fA-F]{32,}+" EOL
               "(?:" NL PFX "[0-9a-fA-F]{2,}+" EOL ")*)?",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "ansible_vault",
    .version = "1.0.0",
    .description = "Ansible Vault blocks, the header and all the hex lines",
    .detector = &detector_spec,
};

/*
 * private_key: PEM and PGP private keys, replaced as one block.
 *
 * From "-----BEGIN <kind> PRIVATE KEY-----" (RSA, EC, DSA, OPENSSH,
 * ENCRYPTED, none, PGP ... BLOCK, up to three words) through the headers
 * (Proc-Type, DEK-Info, Version, Comment), the base64 lines, a short last
 * line or a PGP checksum, to the END line. The lines may come as Claude
 * Code sends file contents: each with the Read tool's line-number prefix
 * ("     2→") or cat -n's ("     2<TAB>"), a diff marker, indentation
 * (YAML, heredocs), CRLF endings, as "\n" escapes inside a string
 * literal (a service-account JSON file read as text), as one string
 * literal per line joined by '+' or juxtaposition (test fixtures in
 * Java, JavaScript, Python, C), or all on one line.
 * The block is still one match, prefixes included, so the key leaves as
 * one placeholder.
 *
 * At least one base64 line of 16 characters must follow BEGIN: a BEGIN
 * line alone (code that looks for it, documentation, "..." placeholders)
 * is left alone. A block cut short (a Read with a line limit) is still
 * taken up to its last base64 line. Public keys and certificates never
 * match: "PRIVATE KEY" is required.
 */
#include <anthropic-proxy/plugin.h>

/* A line break as the scanned text has it: LF or CRLF after trailing
 * blanks, or a "\n" escape left in a string literal, escaped again once
 * or more when JSON holds JSON ("\\n": a secret stored as a JSON string). */
#define NL "[ \\t]{0,8}+(?:\\r?\\n|(?:\\\\{1,7}r)?\\\\{1,7}n)"
/* What may open a line: a Read or cat -n line number, a diff marker,
 * indentation, a comment or quote marker (#, //, ;, >, *). */
#define PFX "(?:[ \\t]{0,12}[0-9]{1,9}(?:\\x{2192}|\\t))?[+-]?[ \\t]{0,64}+" \
            "(?:(?:#|//|;|>|\\*)[ \\t]{0,8}+)?"
/* Between two lines: a line break and what opens the next line; or, in
 * source code, the end of one string literal and the start of the next
 * ("...\n" +<newline> "...": Java, JavaScript, Python, C). */
#define SEP                                                                          \
    "(?:" NL PFX "|(?:\\\\n)?[\"'`][ \\t]{0,8}+\\+?" NL PFX "\\+?[ \\t]{0,8}+[\"'`])"
/* The end of a line: blanks, then a line break, an escape, a quote or the
 * end of the text. */
#define EOL "(?=[ \\t]*+(?:[\\r\\n\\\\\"'`]|$))"
/* U+2192, the Read tool's separator, in the samples */
#define ARROW "\xe2\x86\x92"
#define KIND "(?:[A-Z0-9]{1,12}[ ]){0,3}PRIVATE[ ]KEY(?:[ ]BLOCK)?"

static const char *const must_match[] = {
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowzHd3OC2pYwL82DeaGdyy8Yck0kF4nP47GiCpj7ZfZzp72dpiifA9SHEA8J\n"
    "MOE9mQfHdlNwl9cyhDujS38BqRV1p0do/43+7tcVtUFQwjqDSQcRkMQbZhvYSmIR\n"
    "9QTYrwA2Ne3pDXhg+rVlaxKQoTLHrEVWFk9VA/ZowuweIj+0GQIPd8x8La6PMHKC\n"
    "FzWVoj4DmV4=\n"
    "-----END RSA PRIVATE KEY-----\n",
    /* the Read tool's shape */
    "     1" ARROW "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "     2" ARROW "b3BlbnNzaC1rZXktdjEAAAAAX590IPWWe9WTIt1iLqAnT+g60Zw/uTAovaHwjTKv82Phe5\n"
    "     3" ARROW "oUawwaGwmD9kE9vbRkQWvS55h9S4Us7bj6ESA6eo+n2p2dEkc26uo0vwQRRGlyPw8LLUhe\n"
    "     4" ARROW "HL9upXWhWveeYT\n"
    "     5" ARROW "-----END OPENSSH PRIVATE KEY-----\n",
    /* cat -n with CRLF */
    "     7\t-----BEGIN EC PRIVATE KEY-----\r\n"
    "     8\tMHcCAQEEI39tq8coH3X+SA5+pYWGVA5sSFBejHf5B4Wq6VGPvvLGUdXB21ooVhMC\r\n"
    "     9\tDB0+ZFnsFOvWyHH/HnajrfEHlAl5NJK2cM4QrwOdXqO5xf+Q9U2eqQDKibs3Oweo\r\n"
    "    10\t-----END EC PRIVATE KEY-----\r\n",
    /* legacy encrypted PEM */
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "Proc-Type: 4,ENCRYPTED\n"
    "DEK-Info: AES-256-CBC,4F1C6A0B9E2D7358C1A4B6E0F2D9C3A7\n"
    "\n"
    "MOE9mQfHdlNwl9cyhDujS38BqRV1p0do/43+7tcVtUFQwjqDSQcRkMQbZhvYSmIR\n"
    "-----END RSA PRIVATE KEY-----",
    /* a service-account JSON file read as text: "\n" escapes */
    "\"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC7\\n"
    "9QTYrwA2Ne3pDXhg+rVlaxKQoTLHrEVWFk9VA/ZowuweIj+0GQIPd8x8La6PMHKC\\n-----END PRIVATE KEY-----\\n\",",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----\n"
    "Version: GnuPG v2\n"
    "\n"
    "lQOYBF3fj5zZdN/+IFNS9k/tqapJMZCv0lNnFCAsWcVNRLYhITMPy7xCFrpGIdZW\n"
    "=Xk3q\n"
    "-----END PGP PRIVATE KEY BLOCK-----",
    /* YAML, indented, a key cut short (no END) */
    "tls:\n  key: |\n    -----BEGIN ENCRYPTED PRIVATE KEY-----\n"
    "    MIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQIZ3+YqL0rTUECAggA\n",
    "DSA_KEY=\"-----BEGIN DSA PRIVATE KEY----- MIIBuwIBAAKBgQDZ3Kb9PzX0d7u1z3m4q2w6Y8nT -----END DSA PRIVATE KEY-----\"",
    /* commented out in a config file */
    "# -----BEGIN RSA PRIVATE KEY-----\n"
    "# MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "# -----END RSA PRIVATE KEY-----\n",
    /* a JSON string inside a JSON string: the line breaks escaped twice */
    "{\\\"private_key\\\": \\\"-----BEGIN PRIVATE KEY-----\\\\n"
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC7\\\\n-----END PRIVATE KEY-----\\\\n\\\"}",
    /* a test fixture, one string literal per line */
    "const KEY =\n  \"-----BEGIN PRIVATE KEY-----\\n\" +\n"
    "  \"MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC7\\n\" +\n"
    "  \"-----END PRIVATE KEY-----\\n\";\n",
    NULL,
};

static const char *const must_not_match[] = {
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
    "-----END PUBLIC KEY-----\n",
    "-----BEGIN CERTIFICATE-----\n"
    "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n"
    "-----END CERTIFICATE-----\n",
    "if line.strip() == \"-----BEGIN RSA PRIVATE KEY-----\":\n    in_key = True\n",
    "-----BEGIN OPENSSH PRIVATE KEY-----\n...\n-----END OPENSSH PRIVATE KEY-----",
    "pem = \"-----BEGIN PRIVATE KEY-----\\n\" + body + \"\\n-----END PRIVATE KEY-----\"",
    "commit 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "id 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    "9421cc1c93016f1c4261e5351d30b49895d1a0d1f13dce20c4fd32f640d00326",
    NULL,
};

static const char *const anchors[] = { "PRIVATE KEY", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "PRIVATE_KEY",
    .tier = APX_TIER_SECRET,
    .priority = 70,
    .pattern = "-----BEGIN[ ]" KIND "-----"
               /* headers and blank lines */
               "(?:" SEP "(?:[A-Za-z][A-Za-z0-9-]{0,30}:[^\\r\\n\\\\\"]{0,256})?){0,8}"
               /* base64 lines (all on the BEGIN line if need be) */
               "(?:(?:" SEP "|[ ]{0,4})[A-Za-z0-9+/=]{16,}+)+"
               /* a short last line, a PGP checksum */
               "(?:" SEP "[A-Za-z0-9+/=]{1,15}+" EOL "){0,2}"
               "(?:(?:" SEP "|[ ]{0,4})-----END[ ]" KIND "-----)?",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "private_key",
    .version = "1.0.0",
    .description = "PEM and PGP private keys, the whole block from BEGIN to END",
    .detector = &detector_spec,
};

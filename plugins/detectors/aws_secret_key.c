/*
 * aws_secret_key: AWS secret access keys, found by the name they stand next
 * to.
 *
 * A secret access key is 40 characters of [A-Za-z0-9/+] with no prefix: on
 * its own it cannot be told from any other base64, so only one standing
 * right after its name is taken: aws_secret_access_key, secret_access_key,
 * aws_secret_key, SecretAccessKey (in any case, '_' or '-' or nothing
 * between the words), followed by '=', ':', ":=", "=>" or blanks and an
 * optional quote, as credentials files, env lines, `aws sts` JSON output,
 * YAML and `aws configure set` write it. Only the 40 characters are
 * replaced (group `secret`). Left alone: the name without a value,
 * references (${AWS_SECRET_ACCESS_KEY}, <your-secret>), a run of 41 or more
 * characters, and a value of only lower-case hex digits (a SHA-1 is not a
 * secret key: a real key of 40 hex digits is a chance of 1 in 2^80).
 */
#include <stddef.h>

#include <anthropic-proxy/plugin.h>

/* A 40-digit lower-case hex run is a digest, not a key. */
static int not_hex(void *state, const char *s, size_t n)
{
    (void)state;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 1;
    return 0;
}

static const char *const must_match[] = {
    "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
    "export AWS_SECRET_ACCESS_KEY=\"Zq3v9Xk2Lm8Np4Rt6Yw1Bc5Df7Gh0Jk+Ps/Ua2Qe\"",
    "\"Credentials\": {\"AccessKeyId\": \"ASIAY34FZKBOKMUTVV7A\", "
    "\"SecretAccessKey\": \"k8Jd2Lq9Wm4Xn7Rb1Tc6Vf3Hg5Yp0Zs/Ae+Ku8Qw\", ...",
    "  aws_secret_access_key: 'Fh4Tg7Yk1Lp9Qm2Wn6Rx3Zc8Vb5Nj0Ds+Ea/Ou4I'",
    "aws configure set aws_secret_key Bq9Wr2Ty5Ui8Op1As4Df7Gh0Jk3Lz6Xc/Vb+Nm5Q",
    "SECRET_ACCESS_KEY => 'Mn8Bv5Cx2Zl9Kj6Hg3Fd0Sa7Qw4Er1Ty+Ui/Op2P'",
    NULL,
};

static const char *const must_not_match[] = {
    "aws_secret_access_key =",
    "AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY}",
    "aws_secret_access_key = <your-secret>",
    "commit_sha = 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "aws_secret_access_key = 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "aws_secret_access_key: Zq3v9Xk2Lm8Np4Rt6Yw1Bc5Df7Gh0Jk+Ps/Ua2QeXY",  /* 42: not a key */
    "Set SecretAccessKey in the console; wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    NULL,
};

/* Every accepted name holds one of these (case variants people write). */
static const char *const anchors[] = {
    "secret_access_key", "SECRET_ACCESS_KEY", "SecretAccessKey", "secretAccessKey",
    "secret-access-key", "secret_key", "SECRET_KEY", "secret-key", "SecretKey", NULL,
};

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "AWS_SECRET_KEY",
    .tier = APX_TIER_SECRET,
    .priority = 35,
    /* name, an optional closing quote (also escaped: \"), the operator
     * or blanks, an optional opening quote, then exactly 40 */
    .pattern = "(?<![A-Za-z0-9])"
               "(?i:(?:aws[_-]?)?secret[_-]?access[_-]?key|aws[_-]?secret[_-]?key)"
               "\\\\?[\"']?(?:[ \\t]{0,8}+(?::=|=>|[:=])[ \\t]{0,8}+|[ \\t]{1,8}+)\\\\?[\"']?"
               "(?<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
    .validate = not_hex,
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "aws_secret_key",
    .version = "1.0.0",
    .description = "AWS secret access keys (40 base64) next to their name",
    .detector = &detector_spec,
};

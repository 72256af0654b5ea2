/*
 * developer_cmd: see developer_cmd.h. The key is read from stdin (so that
 * it stays out of the shell history and the process list), hashed, wiped
 * and never written anywhere.
 */
#include "config.h"

#include <ctype.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "developer_cmd.h"

#define NAME_MAX_LEN 31 /* as the developers file allows */

static void developer_usage(FILE *out)
{
    fprintf(out,
            "Usage: anthropic-proxy developer add NAME --team TEAM < KEY\n"
            "\n"
            "Read an API key or token (the first line of stdin) and print the line to\n"
            "add under 'developers:' in developers.yaml: the developer's name, team and\n"
            "the key's SHA-256 fingerprint. The key itself is printed nowhere.\n"
            "Then reload the proxy (SIGHUP). See anthropic-proxy-developers(5).\n"
            "\n"
            "Example: printf '%%s' \"$KEY\" | anthropic-proxy developer add alice --team core\n");
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN || strncmp(s, "unknown", 7) == 0 || strcmp(s, "other") == 0)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-@", *s))
            return false;
    return true;
}

/* The first line of stdin without its end or surrounding blanks. */
static size_t read_key(char *buf, size_t size)
{
    if (!fgets(buf, (int)size, stdin))
        return 0;
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
                     buf[n - 1] == '\t'))
        buf[--n] = '\0';
    size_t lead = strspn(buf, " \t");
    memmove(buf, buf + lead, n - lead + 1);
    return n - lead;
}

int developer_command(int argc, char **argv)
{
    static const struct option opts[] = {
        { "team", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *team = NULL;
    int c;
    if (argc < 2 || strcmp(argv[1], "add") != 0) {
        developer_usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    argc--;
    argv++;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': team = optarg; break;
        case 'h': developer_usage(stdout); return 0;
        default: developer_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1 || !team) {
        developer_usage(stderr);
        return 2;
    }
    const char *name = argv[optind];
    if (!valid_name(name) || !valid_name(team)) {
        fprintf(stderr, "anthropic-proxy developer: NAME and TEAM must be 1 to %d letters, "
                "digits, '.', '_', '-' or '@' (not 'unknown...' or 'other')\n", NAME_MAX_LEN);
        return 2;
    }
    char key[8192];
    size_t n = read_key(key, sizeof key);
    if (n == 0) {
        fprintf(stderr, "anthropic-proxy developer: no key on stdin\n");
        return 2;
    }
    unsigned char md[32];
    unsigned int mdlen = 0;
    int ok = EVP_Digest(key, n, md, &mdlen, EVP_sha256(), NULL);
    OPENSSL_cleanse(key, sizeof key);
    if (!ok || mdlen != 32) {
        fprintf(stderr, "anthropic-proxy developer: SHA-256 failed\n");
        return 1;
    }
    printf("  - {name: %s, team: %s, sha256: ", name, team);
    for (int i = 0; i < 32; i++)
        printf("%02x", md[i]);
    printf("}\n");
    fprintf(stderr, "add this line under 'developers:' in developers.yaml, then reload "
            "(kill -HUP the proxy)\n");
    return 0;
}

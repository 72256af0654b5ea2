/*
 * azure_storage: Azure storage account keys, Service Bus / Event Hubs /
 * IoT Hub shared access keys, and shared access signatures.
 *
 * Three shapes, and in each only the key or signature is replaced, so the
 * account, namespace and URL around it stay readable:
 *   - AccountKey=<88 base64 characters ending "=="> (a 512-bit key), as
 *     in DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;
 *     EndpointSuffix=core.windows.net, also at the end of a longer name
 *     (StorageAccountKey=): the key's shape is what counts;
 *   - SharedAccessKey=<44 base64 characters ending "="> (a 256-bit key),
 *     as in Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...
 *     (SharedAccessKeyName is the key's name and stays);
 *   - a SAS token's sig=<signature> (base64 of an HMAC-SHA256, usually
 *     URL-encoded: %2B, %2F, %3D) in a query that also has sv=, se= or sp=
 *     (before or after it), in a URL, a connection string's
 *     SharedAccessSignature= or a Service Bus "SharedAccessSignature
 *     sr=...&sig=...&se=..." header.
 * validate() decodes the percent escapes and keeps a value of 43 or 44
 * base64 characters (a signature or a 256-bit key) or 88 (a 512-bit key),
 * so "sig=" of other services and placeholders are left alone.
 */
#include <stdbool.h>
#include <stddef.h>

#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "DefaultEndpointsProtocol=https;AccountName=fakeacct;AccountKey=ZmFrZSBBenVyZSBzdG9yYWdlIGFjY291bnQga2V5IGZvciBhbnRocm9waWMtcHJveHkgdGVzdHMuLi4uLi4uLg==;EndpointSuffix=core.windows.net",
    "AZURE_STORAGE_CONNECTION_STRING=\"AccountName=fakeacct;AccountKey=ZmFrZSBBenVyZSBrZXkgbnVtYmVyIHR3bywgbWFkZSB1cCBmb3IgdGVzdHMgb25seS4uLi4uLi4uLi4uLi4uLg==\"",
    "storage_config: { StorageAccountKey=ZmFrZSBBenVyZSBrZXkgbnVtYmVyIHR3bywgbWFkZSB1cCBmb3IgdGVzdHMgb25seS4uLi4uLi4uLi4uLi4uLg== }",
    "Endpoint=sb://fake-ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=ZmFrZSBTZXJ2aWNlIEJ1cyBrZXkgZm9yIHRlc3RzLi4=",
    "HostName=fake-hub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=ZmFrZSBFdmVudCBIdWJzIGtleSBmb3IgdGVzdHMuLi4=;EntityPath=x",
    "https://fakeacct.blob.core.windows.net/c/b.txt?sv=2022-11-02&ss=b&srt=sco&sp=rl&se=2030-01-01T00:00:00Z&spr=https&sig=%2B%2F%2B%2FIGZha2UgU0FTIHNpZ25hdHVyZSwgMzIgYnl0ZXM%3D",
    "?se=2030-01-01T00%3A00%3A00Z&sp=r&sv=2021-08-06&sr=b&sig=YW5vdGhlciBmYWtlIFNBUyBzaWduYXR1cmUuLi4uLi4%3D",
    "SharedAccessSignature sr=https%3A%2F%2Ffake-ns.servicebus.windows.net%2F&sig=YW5vdGhlciBmYWtlIFNBUyBzaWduYXR1cmUuLi4uLi4%3D&se=1900000000&skn=send",
    "Authorization: SharedAccessSignature sig=YW5vdGhlciBmYWtlIFNBUyBzaWduYXR1cmUuLi4uLi4%3D&se=1900000000&skn=send&sr=sb%3A%2F%2Ffake-ns",
    "BlobEndpoint=https://fakeacct.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&sp=r&sig=YSB0aGlyZCBmYWtlIFNBUyBzaWduYXR1cmUuLi4uLi4=",
    NULL,
};

static const char *const must_not_match[] = {
    "AccountName=fakeacct;AccountKey=<your-account-key>;EndpointSuffix=core.windows.net",
    "AccountKey=ZmFrZSBBenVyZSBzdG9yYWdlIGFjY291bnQga2V5IGZvciBhbnRocm9waWMtcHJveHkgdGVzdHMuLi4u==",  /* too short */
    "AccountKey=ZmFrZSBBenVyZSBzdG9yYWdlIGFjY291bnQga2V5IGZvciBhbnRocm9waWMtcHJveHkgdGVzdHMuLi4uLi4uLg==x",  /* a longer run */
    "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={key}",
    "https://cdn.example.com/img.png?w=200&sig=%2B%2F%2B%2FIGZha2UgU0FTIHNpZ25hdHVyZSwgMzIgYnl0ZXM%3D",  /* no sv=, se= or sp= */
    "https://fakeacct.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&sig=%2B%2Fshort0123456789",
    "SharedAccessKey=ZmFrZSBTZXJ2aWNlIEJ1!yBrZXkgZm9yIHRlc3RzLi4=",  /* not base64 */
    NULL,
};

/* The ends of the key names, and sig= with the character before it: the
 * pre-filter looks at letter pairs, and "tK", "sK", "&s", "?s" and ";s"
 * are rare where "Ac", "Sh" and "si" are common. */
static const char *const anchors[] = { "tKey=", "sKey=", "&sig=", "?sig=", ";sig=",
                                       "Signature sig=", NULL };

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* 1 if the value, its %XX escapes decoded (twice, for %252B), is 43 or 44
 * base64 characters or 88, '=' only as padding at the end. */
static int azure_storage_validate(void *state, const char *v, size_t len)
{
    (void)state;
    size_t n = 0, pad = 0;
    for (size_t i = 0; i < len; n++) {
        char c = v[i++];
        for (int round = 0; c == '%' && round < 2; round++) {
            if (i + 2 > len || hexval(v[i]) < 0 || hexval(v[i + 1]) < 0)
                return 0;
            c = (char)(hexval(v[i]) << 4 | hexval(v[i + 1]));
            i += 2;
        }
        if (c == '=')
            pad++;
        else if (!is_b64(c) || pad)
            return 0;
    }
    return (n == 43 && pad == 0) || (n == 44 && pad <= 1) || (n == 88 && pad == 2);
}

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "AZURE_STORAGE_KEY",
    .tier = APX_TIER_SECRET,
    .priority = 85,
    .pattern = "(?|AccountKey=(?<secret>[A-Za-z0-9+/]{86}+==)"
               "(?![A-Za-z0-9+/=])"
               "|SharedAccessKey=(?<secret>[A-Za-z0-9+/]{43}+=)"
               "(?![A-Za-z0-9+/=])"
               /* sv=, se= or sp= first, then other parameters, then sig= */
               "|(?<![A-Za-z0-9_])(?:sv|se|sp)=[^&\\s\"'<>#]{1,64}+"
               "(?:&(?!sig=)[A-Za-z0-9_-]{1,16}+=[^&\\s\"'<>#]{0,256}+){0,24}+"
               "&sig=(?<secret>[A-Za-z0-9%+/=]{16,256}+)"
               /* sig= first, sv=, se= or sp= after it */
               "|(?:[?&;]|Signature )sig=(?<secret>[A-Za-z0-9%+/=]{16,256}+)"
               "(?=(?:&[A-Za-z0-9_-]{1,16}+=[^&\\s\"'<>#]{0,256}+){0,24}?&(?:sv|se|sp)=))",
    .validate = azure_storage_validate,
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "azure_storage",
    .version = "1.0.0",
    .description = "Azure storage account keys, shared access keys and SAS signatures",
    .detector = &detector_spec,
};

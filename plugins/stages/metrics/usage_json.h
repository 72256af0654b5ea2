/*
 * usage_json: read the members metering needs from one JSON text (an SSE
 * event's data, or a whole answer) in one pass, without building a tree.
 *
 * jansson allocates every value of a message_start to give back four
 * numbers; that was a fifth of the core's CPU per streamed answer. This
 * reader keeps only the members below and skips every other value by its
 * brackets. Members read, the last of a name winning as in a parsed object:
 *   type, model, usage, message.model, message.usage, and in each usage its
 *   token figures, cache_creation.ephemeral_{5m,1h}_input_tokens,
 *   server_tool_use.web_{search,fetch}_requests and inference_geo.
 * On every text jansson accepts, it reads exactly what jansson would (the
 * fuzz target fuzz_usage holds it to that); a text jansson refuses may be
 * refused or read, and never read past its end.
 */
#ifndef APX_USAGE_JSON_H
#define APX_USAGE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum usage_figure {
    UF_INPUT,          /* input_tokens */
    UF_OUTPUT,         /* output_tokens */
    UF_CACHE_READ,     /* cache_read_input_tokens */
    UF_CACHE_CREATION, /* cache_creation_input_tokens */
    UF_CACHE_5M,       /* cache_creation.ephemeral_5m_input_tokens */
    UF_CACHE_1H,       /* cache_creation.ephemeral_1h_input_tokens */
    UF_WEB_SEARCH,     /* server_tool_use.web_search_requests */
    UF_WEB_FETCH,      /* server_tool_use.web_fetch_requests */
    UF_COUNT
};

/* One usage object: which figures it gave as integers, and their values. */
struct usage_obj {
    bool object;               /* the member was an object */
    bool has[UF_COUNT];
    int64_t v[UF_COUNT];
    bool has_geo;
    char geo[16];              /* inference_geo, cut to 15 bytes */
};

/* An object with a model and a usage: the answer itself, or its message. */
struct usage_msg {
    bool object;
    bool has_model;
    char model[128];           /* cut to 127 bytes */
    struct usage_obj usage;
};

struct usage_doc {
    bool type_is_error;        /* "type": "error" */
    struct usage_msg top;      /* the text's own model and usage */
    struct usage_msg message;  /* its "message" member's */
};

/* Read p[0..n): 0 with *d filled, or -1 if it is not a JSON object or
 * array with nothing after it (*d then says nothing). */
int usage_json_read(const char *p, size_t n, struct usage_doc *d);

#endif

/*
 * exchange: one request's life, from the parsed request to the last byte of
 * the response, whichever side it came in on (HTTP/1.1 or h2) and wherever
 * it is answered (a local route or the upstream).
 *
 * The server sides (h1_server.c, h2_server.c) build an exchange and lend it a
 * `front` to answer through; the upstream side (upstream.c) calls back into it
 * as the response arrives. The exchange is where the pipeline's hooks run and
 * where flow control is tied together: upstream credit is returned only as
 * the front hands bytes to the client's socket. It never touches a socket.
 */
#ifndef APX_EXCHANGE_H
#define APX_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <anthropic-proxy/plugin.h>

#include "http.h"

struct core;
struct generation;
struct upstream_stream;
struct exchange;

/* How an exchange answers its client; implemented by each server side.
 * None of these may free the front or call back into the exchange. */
struct front_ops {
    /* Start the response. content_length < 0: unknown (HTTP/1.1 chunks it).
     * `end`: no body follows. Headers exclude content-length. */
    int (*send_head)(void *ctx, int status, const struct header_list *h,
                     int64_t content_length, bool end);
    int (*send_data)(void *ctx, const uint8_t *p, size_t n);
    int (*send_end)(void *ctx);
    /* The response cannot be completed: make the truncation visible
     * (h2: RST_STREAM; HTTP/1.1: close without the final chunk). */
    void (*send_abort)(void *ctx);
    /* Response bytes queued by this exchange and not yet on the socket. */
    size_t (*pending)(void *ctx);
    /* A count that grows while the client takes bytes from its connection
     * (see transport_bytes_acked). */
    uint64_t (*client_progress)(void *ctx);
    /* The exchange is over and about to be freed; forget it. */
    void (*finished)(void *ctx);
};

enum listener_kind { LISTENER_MAIN, LISTENER_DASHBOARD };

enum exchange_state {
    EX_READING,     /* request body still arriving */
    EX_UPSTREAM,    /* waiting for the upstream's response head */
    EX_STREAMING,   /* response head sent, body flowing */
    EX_LOCAL,       /* answered by a local route */
    EX_DONE,
};

/* Why an exchange ended; drives logs and counters. */
enum exchange_outcome {
    OUT_COMPLETE,
    OUT_CLIENT_GONE,
    OUT_UPSTREAM_FAILED,  /* error before the head: proxy-made 5xx */
    OUT_TRUNCATED,        /* error after the head: client saw the cut */
    OUT_REJECTED,         /* proxy-made 4xx */
};

#define EXCHANGE_MAGIC 0x45584348u /* "EXCH" */

/* What a stage's apx_host.block asked for. Allocated only when one does:
 * every exchange carrying it inline would cost each held stream 300 bytes. */
struct exchange_block {
    int status;
    char type[48];
    char message[256];
    size_t nheaders;                    /* apx_host.block_header's, since ABI 1.3 */
    char header[APX_BLOCK_HEADERS][2][96];
};

/* What only a local answer needs: one a stage gave during a hook (sent
 * after it), or a streamed one (its cancel hook, and the list a drain
 * ends them from). Allocated when one happens, so that the exchanges the
 * proxy holds for upstream streams do not carry it. */
struct exchange_local {
    int status;                 /* apx_host.respond during a hook */
    char *content_type;
    uint8_t *body;
    size_t len;
    void (*cancel)(struct exchange *ex, void *arg); /* client gone, or shutdown */
    void *cancel_arg;           /* freed with the exchange */
    struct exchange *prev, *next; /* open streamed answers */
    bool streaming;
};

/* The response transform (ABI 2.0 on_response_transform): which stages
 * transform this response, and the two buffers their output alternates
 * between (a stage's output is the next one's input). Allocated when a
 * stage asks, so that an exchange without one does not carry it. */
struct transform_buf {
    uint8_t *data;
    size_t len, cap;
};

struct exchange_transform {
    uint64_t stages;            /* bit i: stage i transforms (stages_transform_add) */
    struct transform_buf buf[2];
    int current;                /* the buffer the running stage emits into */
    bool emitting;              /* a transform hook is running */
};

/* Where an exchange is with its stage hooks, in one field: stages.c sets
 * it around every hook it calls (and to PENDING when an on_request hook
 * answers APX_PENDING), exchange_resume sets it back to IDLE; the host
 * functions read it to refuse what may not be called at that moment. */
enum exchange_hooks {
    HOOKS_IDLE = 0,   /* no hook is running or awaited */
    HOOKS_RUNNING,    /* a stage hook is on the stack */
    HOOKS_PENDING,    /* an on_request hook said APX_PENDING: resume comes */
};

/* Ordered by size, so that no padding is paid a thousand times over. */
struct exchange {
    uint32_t magic;
    enum listener_kind listener;
    enum exchange_state state;
    enum exchange_outcome outcome;
    uint64_t id;
    struct core *core;
    struct generation *gen;     /* reference held for the exchange's life */
    const struct front_ops *front;
    void *front_ctx;            /* NULL once the client is gone */
    const char *protocol;       /* "HTTP/1.1", "HTTP/1.0" or "h2" */

    char *method;               /* method and target share one allocation */
    char *target;               /* path and query, as sent */
    struct header_list req_headers;
    uint8_t *body;
    size_t body_len, body_cap;

    struct upstream_stream *ustream;
    uint64_t bytes_in;          /* request body bytes received */
    uint64_t bytes_out;         /* response body bytes sent to the client */
    int64_t resp_length;        /* the response's Content-Length, -1 unknown */
    uint64_t uncredited;        /* response bytes not yet credited upstream */
    struct timespec t_start, t_first_byte, t_end;

    /* Stage plumbing. */
    void **slots;               /* one per stage of gen: plugin storage */
    struct exchange_block *block; /* set by apx_host.block, NULL until then */
    uint64_t retry_ms;          /* set by apx_host.retry_after */
    struct event *retry_timer;
    const struct header_list *resp_headers; /* during on_response_head */
    struct exchange_local *local; /* NULL unless answered locally: see above */
    struct exchange_transform *xform; /* NULL unless a stage transforms the body */
    size_t hook_next;           /* the next stage's on_request to run */
    int hook_verdict;           /* what resume said (hook_only) */
    unsigned retries;
    int status;                 /* response status sent to the client */

    bool went_upstream;         /* not answered locally */
    bool upstream_reused;       /* the upstream connection was already open */
    bool head_only;             /* HEAD request: no body in the response */
    bool head_sent;             /* the client has the response head */
    enum exchange_hooks hooks;  /* where it is with its stage hooks */
    bool hook_only;             /* one-shot command: resume only records */
    bool gone_while_pending;    /* the client left during the wait */
    bool responded;             /* a stage answered: no upstream */
};

/* The exchange's local part, made on first use; NULL when out of memory. */
struct exchange_local *exchange_local_part(struct exchange *ex);

/* Create an exchange for a request arriving on `listener`. Holds a
 * reference on the core's current generation. NULL on allocation failure. */
struct exchange *exchange_new(struct core *core, enum listener_kind listener,
                              const struct front_ops *front, void *front_ctx,
                              const char *protocol);

/* Set the request line; copies. -1 on allocation failure. */
int exchange_set_request(struct exchange *ex, const char *method, size_t mlen,
                         const char *target, size_t tlen);

/* Append request body bytes. Returns -1 with *status 413 past
 * MAX_REQUEST_BODY, or 500 when out of memory. */
int exchange_append_body(struct exchange *ex, const void *p, size_t n, int *status);

/* The body's length is known in advance: allocate it once, exactly. */
int exchange_reserve_body(struct exchange *ex, size_t n);

/* The request is complete: route it locally or send it upstream. */
void exchange_request_complete(struct exchange *ex);

/* Answer with an error of the proxy's own, in Anthropic's JSON shape, and end
 * the exchange. */
void exchange_fail(struct exchange *ex, int status, const char *message);

/* Answer locally with a complete response and end the exchange. */
void exchange_respond(struct exchange *ex, int status, const char *content_type,
                      const void *body, size_t len);

/* For streaming local routes: start, send, end. Sending fails (-1) when
 * the client is more than EXCHANGE_LOCAL_BACKLOG bytes behind: a viewer that
 * stopped reading must not make the proxy hold an ever-growing buffer. */
#define EXCHANGE_LOCAL_BACKLOG (1024 * 1024)
int exchange_local_start(struct exchange *ex, int status, const struct header_list *h);
int exchange_local_send(struct exchange *ex, const void *p, size_t n);
void exchange_local_end(struct exchange *ex);
/* Shutdown: end every open local stream (after its cancel hook), since a
 * dashboard left open would otherwise hold the drain to SHUTDOWN_TIMEOUT. */
void exchange_end_local_streams(void);

/* A stage that answered APX_PENDING is done (apx_host.resume): go on with
 * the next stage, act on the verdict, or end the exchange if the client left
 * meanwhile. */
void exchange_resume(struct exchange *ex, int verdict);

/* From the server side: the client went away (connection closed or stream
 * reset). The exchange cancels its upstream stream and frees itself. */
void exchange_client_gone(struct exchange *ex);

/* From the server side: some of this exchange's queued bytes reached the
 * socket; return the matching credit upstream. */
void exchange_front_drained(struct exchange *ex);
/* The front's client_progress, or 0 once the client is gone. */
uint64_t exchange_client_progress(const struct exchange *ex);

/* From the upstream side. */
void exchange_upstream_head(struct exchange *ex, int status, struct header_list *h,
                            int64_t content_length);
void exchange_upstream_data(struct exchange *ex, const uint8_t *p, size_t n);
void exchange_upstream_end(struct exchange *ex);
/* The upstream failed; `status` is what the client gets if nothing was sent
 * yet (502, 503 or 504). */
void exchange_upstream_fail(struct exchange *ex, int status, const char *message);

/* Number of exchanges alive in this process. */
uint64_t exchange_active_count(void);

#endif

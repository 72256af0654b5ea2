/*
 * restore: put the originals back into the tool calls of a response, from
 * the map of placeholders the scrubber made for its request (scrub.h).
 *
 * Only the input of `tool_use` blocks is restored: the client runs those
 * tools on the user's machine, where the secret belongs. Text, thinking,
 * signatures and everything else keep the placeholder, byte for byte: they
 * are shown, stored in transcripts and sent back to the API, and signatures
 * are checked there. A placeholder the map does not know (one the model
 * made up) is left as it is and counted.
 *
 * Like scrub.c, the engine knows nothing of exchanges, settings or the
 * host: it never logs, and counts per map entry so the caller can name
 * detectors, never values.
 */
#ifndef APX_RESTORE_H
#define APX_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scrub.h"

/* Longest placeholder a map takes; the engine's (`<LABEL_N>`,
 * `<LABEL_HMAC:XXXXXXXX>`) are far shorter. It bounds what is held back. */
#define RESTORE_PLACEHOLDER_MAX 128

/* Default bound of one SSE event (its bytes up to the blank line ending it).
 * No event of a Messages stream comes near it; a longer one is passed on as
 * it arrives, unchanged, and the tool blocks then open are no longer
 * restored (their state is lost with it). */
#define RESTORE_SSE_MAX_EVENT ((size_t)1 << 20)

/* Tool blocks tracked at once (the API opens one block at a time); a block
 * past this many passes unrestored and counts in blocks_lost. */
#define RESTORE_SSE_MAX_BLOCKS 64

/* Largest JSON answer restore_json takes (RESTORE_E_TOO_BIG beyond). An
 * answer is bounded by max_tokens: a few MiB at most. */
#define RESTORE_JSON_MAX ((size_t)64 << 20)

/* Errors: every function returns 0 or one of these. */
enum {
    RESTORE_E_NOMEM = -1,    /* out of memory */
    RESTORE_E_TOO_BIG = -2,  /* restore_json: over RESTORE_JSON_MAX */
    RESTORE_E_NOT_JSON = -3, /* restore_json: not a JSON object as expected */
};

/* A growing byte buffer; the caller owns it (zero it to start) and may set
 * len to 0 to reuse it. */
struct restore_buf {
    uint8_t *data;
    size_t len, cap;
};

/* Append n bytes: 0, or RESTORE_E_NOMEM (b unchanged). */
int restore_buf_append(struct restore_buf *b, const void *p, size_t n);
/* Free b's storage and zero it. */
void restore_buf_free(struct restore_buf *b);

/* What a restorer did. */
struct restore_stats {
    uint64_t restored;       /* placeholders replaced by their values */
    uint64_t unknown;        /* placeholder-shaped text the map lacks, left as it was */
    uint64_t events_changed; /* SSE events rebuilt (input_json_delta, incl. synthetic) */
    uint64_t blocks_lost;    /* tool blocks no longer restored (see the bounds above,
                                or their input is not valid JSON text) */
    size_t held_max;         /* most tool input bytes held back at once (SSE) */
};

/* ---- the map ------------------------------------------------------------ */

struct restore_map;

/* Build a map from n entries (scrub_result.map, or entries made otherwise),
 * copying placeholders and values: the map does not borrow them. An entry
 * that cannot be a placeholder (not `<` [A-Z0-9_:]+ `>`, or longer than
 * RESTORE_PLACEHOLDER_MAX) is left out; of two with the same placeholder
 * the first is kept. NULL only when out of memory. */
struct restore_map *restore_map_new(const struct scrub_map_entry *entries, size_t n);
/* Free the map, wiping the values; NULL is accepted. Restorers using it
 * must be freed first. */
void restore_map_free(struct restore_map *m);
/* Entries in the map. */
size_t restore_map_size(const struct restore_map *m);
/* The value of placeholder ph[0..n) into *value, *vlen (owned by the map):
 * 0, or -1 if the map has no such placeholder. */
int restore_map_lookup(const struct restore_map *m, const char *ph, size_t n,
                       const uint8_t **value, size_t *vlen);
/* Most tool input bytes an SSE restorer over this map holds back at once:
 * 6 * L - 1, L the longest placeholder (5 for an empty map). See
 * restore_sse_feed for why. */
size_t restore_map_hold_bound(const struct restore_map *m);
/* Add each entry's restores to per_det[its detector] (entries whose
 * detector is ndet or more are skipped): the counts a log line names. */
void restore_map_count_by_detector(const struct restore_map *m, uint64_t *per_det,
                                   size_t ndet);

/* ---- streaming (text/event-stream) -------------------------------------- */

struct restore_sse;

/* A restorer for one SSE response over map m (borrowed: it must outlive the
 * restorer; restores are counted in it). max_event bounds one event's bytes
 * held while it arrives; 0 means RESTORE_SSE_MAX_EVENT. NULL when out of
 * memory. */
struct restore_sse *restore_sse_new(struct restore_map *m, size_t max_event);

/* Feed the next len bytes of the response body (cut anywhere); append to
 * out what may go to the client now. Every event passes byte for byte once
 * its blank line has arrived (an over-long one as it comes), except an
 * input_json_delta of a tool_use block: its partial_json is restored and
 * the event rebuilt, or passed as it was if nothing in it changed. Of a
 * tool block's input only the bytes that could still begin a known
 * placeholder are held back (with an escape cut between pieces): at most
 * restore_map_hold_bound() bytes, since each of the placeholder's
 * characters but the closing `>` may be written as a 6-byte \u escape, and
 * an escape not yet complete adds at most 5. They go out with the block's
 * next piece, or in an input_json_delta event added just before its
 * content_block_stop. A stream whose lines end in a bare CR (no Messages
 * stream does) passes as it comes from its first such line on, unrestored.
 * Returns 0, or RESTORE_E_NOMEM: out may then end inside an event, and the
 * response cannot go on. */
int restore_sse_feed(struct restore_sse *s, const uint8_t *in, size_t len,
                     struct restore_buf *out);

/* The stream ended (complete or cut): append everything still held, the
 * tool blocks' held input (as added input_json_delta events) first, then the
 * bytes of an unfinished event as they came. Feeding after this is a bug.
 * 0, or RESTORE_E_NOMEM. */
int restore_sse_end(struct restore_sse *s, struct restore_buf *out);

/* What the restorer did so far (owned by it). */
const struct restore_stats *restore_sse_stats(const struct restore_sse *s);

/* Free the restorer (wiping what it held); NULL is accepted. */
void restore_sse_free(struct restore_sse *s);

/* ---- a JSON answer (stream: false) -------------------------------------- */

/* Restore the `input` of each `tool_use` block of `content` in the JSON
 * answer body[0..len), every string of it, member names too (the model may
 * use a placeholder as a key as well as a value; it means the value either
 * way). The answer's other bytes are kept as they are: only the bytes of
 * restored placeholders change. With *changed, out has the new body
 * appended; without, out is as it was and the caller sends body as it is.
 * Counts into st (may be NULL) and the map. Returns 0, or RESTORE_E_NOMEM,
 * RESTORE_E_TOO_BIG (len > RESTORE_JSON_MAX) or RESTORE_E_NOT_JSON (not a
 * JSON object with that shape): out is then as it was, *changed false, and
 * the caller sends body unrestored. */
int restore_json(struct restore_map *m, const uint8_t *body, size_t len,
                 struct restore_buf *out, bool *changed, struct restore_stats *st);

#endif

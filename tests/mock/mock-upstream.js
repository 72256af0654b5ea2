#!/usr/bin/env node
// mock-upstream: a stand-in for api.anthropic.com in anthropic-proxy's tests.
// No npm dependencies; see tests/mock/README.md.
//
//   node mock-upstream.js --cert FILE --key FILE [--host 127.0.0.1] [--port 0]
//                         [--port-file FILE] [--allow-http1] [--plain]
//
// Speaks HTTP/2 over TLS (ALPN h2; --allow-http1 also takes HTTP/1.1, so
// clients can talk to it directly for comparisons; --plain speaks h2c with
// prior knowledge). Answers POST /v1/messages like Anthropic (JSON, or an SSE
// stream when the body says "stream": true) and misbehaves on request through
// x-mock-* request headers, which travel through the proxy untouched:
//
//   x-mock-status: NNN          answer NNN with Anthropic's error JSON (this and
//                               x-mock-fail-first work on every route but /__echo)
//   x-mock-retry-after: S       add retry-after (with x-mock-status or -fail-first)
//   x-mock-retry-after-ms: MS   add retry-after-ms
//   x-mock-should-retry: V      add x-should-retry: V (e.g. false)
//   x-mock-fail-first: N        with x-mock-key: K, the first N requests of K get 529
//   x-mock-key: K               names the request in /__mock/log
//   x-mock-delay-ms: MS         wait before the response head
//   x-mock-event-delay-ms: MS   wait between SSE events (slow stream)
//   x-mock-body-delay-ms: MS    JSON: wait between the head and the body
//   x-mock-events: N            number of text deltas (default 5)
//   x-mock-text: TEXT           the answer's text
//   x-mock-reset-after: N       RST_STREAM(INTERNAL_ERROR) after N SSE events
//                               (JSON: after the head and half of the body);
//                               over HTTP/1.1 the connection is dropped instead
//   x-mock-stream-error-after: N  after N SSE events send Anthropic's
//                               `event: error` (overloaded_error) and end cleanly
//   x-mock-gzip: 1              gzip-encode JSON answers (content-encoding: gzip)
//   x-mock-gzip: auto           encode JSON answers with the best encoding the
//                               request's accept-encoding allows (zstd if this
//                               Node has it, br, gzip, deflate), like the real API
//   x-mock-goaway: 1            send GOAWAY (last-stream-id = this stream, or the
//                               highest one already answered) once this response
//                               is done, refuse the unanswered streams above it
//                               and close the connection when the rest are done
//                               (HTTP/1.1: connection: close)
//   x-mock-refuse-first: N      with x-mock-key: K, the first N requests of K are
//                               refused: RST_STREAM(REFUSED_STREAM) before any
//                               answer (HTTP/1.1: the connection is dropped)
//   x-mock-big-body: BYTES      a padded JSON answer of about BYTES, written
//                               in 16 KiB pieces honouring back-pressure
//   x-mock-seed: S              derive ids and rate-limit reset times from S, so
//                               two answers to the same request are byte-identical
//   x-mock-input-tokens / -output-tokens / -cache-read / -cache-creation
//                               the usage figures reported (defaults: input =
//                               ceil(body bytes / 4), output = number of deltas,
//                               cache figures 0)
//   x-mock-cache-5m / x-mock-cache-1h   add usage.cache_creation
//                               {ephemeral_5m_input_tokens, ephemeral_1h_input_tokens}
//   x-mock-web-search: N        add usage.server_tool_use.web_search_requests
//   x-mock-delta-usage: full    message_delta's usage also repeats the input
//                               and cache figures (as the current API does)
//   x-mock-error-body: BASE64   error answers carry these bytes as their body
//   x-mock-pings: N             N ping events (each after the event delay)
//                               instead of one; /__mock/log's event_times has
//                               [name, epoch ms] of every event written
//   x-mock-unified: U           anthropic-ratelimit-unified-5h-utilization: U
//                               (every answer carries the unified-* headers of
//                               a subscription; U defaults to 0.25)
//   x-mock-script: PATH         scripted tool use: PATH is a JSON array of
//                               assistant turns; a request with a non-empty
//                               `tools` array gets turn N, N = the assistant
//                               messages already in `messages` (README.md)
//
// Other routes: POST /v1/messages/count_tokens, HEAD|GET /api/hello (Claude
// Code's connectivity check), GET /v1/models[/ID], POST /api/event_logging/*;
// anything else is a 404 in Anthropic's error shape.
// ANY /__echo[/...] answers the request as received: method, path, headers
// (in order, pseudo-headers included, names lower-cased) and the body.
// GET /__mock/log lists the requests seen (not the /__mock ones) with their
// outcome: completed, cancelled (the client reset the stream or left),
// reset-by-mock or refused-by-mock; ?bodies=1 adds each body (utf-8, first 1 MiB).
// GET /__mock/stats: connections open/total, requests total/active.
// POST /__mock/reset clears the log and the per-key counters.
'use strict';

const http2 = require('node:http2');
const fs = require('node:fs');
const crypto = require('node:crypto');
const zlib = require('node:zlib');

const USAGE = 'usage: node mock-upstream.js --cert FILE --key FILE [--host 127.0.0.1] [--port 0] '
  + '[--port-file FILE] [--allow-http1] [--plain]';

function parseArgs(argv) {
  const o = { host: '127.0.0.1', port: 0 };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) { console.error(`mock-upstream: ${a} needs a value\n${USAGE}`); process.exit(2); }
      return argv[++i];
    };
    if (a === '--cert') o.cert = next();
    else if (a === '--key') o.key = next();
    else if (a === '--host') o.host = next();
    else if (a === '--port') o.port = Number(next());
    else if (a === '--port-file') o.portFile = next();
    else if (a === '--allow-http1') o.allowHTTP1 = true;
    else if (a === '--plain') o.plain = true;
    else if (a === '--help' || a === '-h') { console.log(USAGE); process.exit(0); }
    else { console.error(`mock-upstream: unknown argument ${a}\n${USAGE}`); process.exit(2); }
  }
  if (!o.plain && (!o.cert || !o.key)) {
    console.error(`mock-upstream: --cert and --key are required (or --plain)\n${USAGE}`);
    process.exit(2);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
    console.error('mock-upstream: bad --port'); process.exit(2);
  }
  return o;
}

const ERROR_TYPES = {
  400: 'invalid_request_error', 401: 'authentication_error', 402: 'billing_error',
  403: 'permission_error', 404: 'not_found_error', 413: 'request_too_large',
  429: 'rate_limit_error', 500: 'api_error', 504: 'timeout_error', 529: 'overloaded_error',
};
const BODY_LOG_LIMIT = 1 << 20;
const LOG_LIMIT = 10000;

let seq = 0;
let log = [];
let attemptsByKey = new Map();
const stats = { connections_open: 0, connections_total: 0, requests_total: 0, requests_active: 0 };
const connIds = new WeakMap();
let connCounter = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function header(req, name) {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
function intHeader(req, name, def) {
  const v = header(req, name);
  if (v === undefined || v === '') return def;
  const n = Number(v);
  return Number.isFinite(n) ? n : def;
}

// Ids are random unless x-mock-seed makes them reproducible.
function makeId(req, prefix, body) {
  const seed = header(req, 'x-mock-seed');
  const src = seed !== undefined ? `${seed}:${body.length}` : crypto.randomBytes(12).toString('hex');
  return prefix + crypto.createHash('sha256').update(src).digest('hex').slice(0, 24);
}

function resetTime(req) {
  // RFC 3339 without fractions, like Anthropic; fixed when seeded.
  const t = header(req, 'x-mock-seed') !== undefined ? Date.UTC(2030, 0, 1) : Date.now() + 60000;
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function baseHeaders(req, body) {
  const reset = resetTime(req);
  return {
    'request-id': makeId(req, 'req_', body),
    'anthropic-ratelimit-requests-limit': '4000',
    'anthropic-ratelimit-requests-remaining': '3999',
    'anthropic-ratelimit-requests-reset': reset,
    'anthropic-ratelimit-tokens-limit': '400000',
    'anthropic-ratelimit-tokens-remaining': '399000',
    'anthropic-ratelimit-tokens-reset': reset,
    'anthropic-ratelimit-input-tokens-limit': '200000',
    'anthropic-ratelimit-input-tokens-remaining': '199000',
    'anthropic-ratelimit-input-tokens-reset': reset,
    'anthropic-ratelimit-output-tokens-limit': '80000',
    'anthropic-ratelimit-output-tokens-remaining': '80000',
    'anthropic-ratelimit-output-tokens-reset': reset,
    ...unifiedHeaders(req),
    'x-mock-request-seq': String(req.mockSeq || 0),
  };
}

// The plan-usage headers the API sends to subscription clients (Claude Code
// shows them); the reset times are epoch seconds.
function unifiedHeaders(req) {
  const reset = String(Math.floor(Date.parse(resetTime(req)) / 1000));
  const u5 = header(req, 'x-mock-unified') ?? '0.25';
  return {
    'anthropic-ratelimit-unified-status': 'allowed',
    'anthropic-ratelimit-unified-5h-status': 'allowed',
    'anthropic-ratelimit-unified-5h-reset': reset,
    'anthropic-ratelimit-unified-5h-utilization': u5,
    'anthropic-ratelimit-unified-7d-status': 'allowed',
    'anthropic-ratelimit-unified-7d-reset': reset,
    'anthropic-ratelimit-unified-7d-utilization': '0.1',
    'anthropic-ratelimit-unified-representative-claim': 'five_hour',
    'anthropic-ratelimit-unified-fallback-percentage': '0.5',
    'anthropic-ratelimit-unified-reset': reset,
  };
}

function retryHeaders(req) {
  const h = {};
  const ra = header(req, 'x-mock-retry-after');
  const ram = header(req, 'x-mock-retry-after-ms');
  const sr = header(req, 'x-mock-should-retry');
  if (ra !== undefined) h['retry-after'] = ra;
  if (ram !== undefined) h['retry-after-ms'] = ram;
  if (sr !== undefined) h['x-should-retry'] = sr;
  return h;
}

function usageFor(req, body, outputTokens) {
  const u = {
    input_tokens: intHeader(req, 'x-mock-input-tokens', Math.ceil(body.length / 4)),
    cache_creation_input_tokens: intHeader(req, 'x-mock-cache-creation', 0),
    cache_read_input_tokens: intHeader(req, 'x-mock-cache-read', 0),
    output_tokens: intHeader(req, 'x-mock-output-tokens', outputTokens),
  };
  const c5 = header(req, 'x-mock-cache-5m');
  const c1 = header(req, 'x-mock-cache-1h');
  if (c5 !== undefined || c1 !== undefined) {
    u.cache_creation = {
      ephemeral_5m_input_tokens: intHeader(req, 'x-mock-cache-5m', 0),
      ephemeral_1h_input_tokens: intHeader(req, 'x-mock-cache-1h', 0),
    };
  }
  if (header(req, 'x-mock-web-search') !== undefined) {
    u.server_tool_use = { web_search_requests: intHeader(req, 'x-mock-web-search', 0) };
  }
  return u;
}

// N pieces of the text (the last ones empty when N > its length).
function splitText(text, n) {
  const parts = [];
  const size = Math.max(1, Math.ceil(text.length / Math.max(1, n)));
  for (let i = 0; i < n; i++) parts.push(text.slice(i * size, (i + 1) * size));
  return parts;
}

function answerText(req) {
  const t = header(req, 'x-mock-text');
  return t !== undefined ? t : 'Hello from the mock upstream.';
}

function alive(res) {
  if (res.destroyed || res.writableEnded) return false;
  const s = res.stream;
  return !(s && (s.destroyed || s.closed));
}

// Write respecting back-pressure; resolves false if the client went away.
function write(res, chunk) {
  return new Promise((resolve) => {
    if (!alive(res)) return resolve(false);
    if (res.write(chunk)) return resolve(true);
    const done = (ok) => { res.off('drain', onDrain); res.off('close', onClose); resolve(ok); };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

function resetStream(entry, req, res) {
  entry.outcome = 'reset-by-mock';
  if (req.stream) {
    if (!req.stream.destroyed) req.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  } else if (res.socket) {
    res.socket.destroy();
  }
}

function answerError(req, res, status, body) {
  const raw = header(req, 'x-mock-error-body');
  const payload = raw !== undefined ? Buffer.from(raw, 'base64') : JSON.stringify({
    type: 'error',
    error: { type: ERROR_TYPES[status] || (status >= 500 ? 'api_error' : 'invalid_request_error'), message: `mock error ${status}` },
  });
  res.writeHead(status, { 'content-type': 'application/json', ...baseHeaders(req, body), ...retryHeaders(req) });
  res.end(payload);
}

function pickEncoding(req) {
  const mode = header(req, 'x-mock-gzip');
  if (mode === '1' || mode === 'gzip') return 'gzip';
  if (mode !== 'auto') return null;
  const accepted = new Set();
  for (const part of String(header(req, 'accept-encoding') || '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (name && !(q && Number(q.slice(2)) === 0)) accepted.add(name);
  }
  const order = [];
  if (typeof zlib.zstdCompressSync === 'function') order.push('zstd');
  order.push('br', 'gzip', 'deflate');
  return order.find((e) => accepted.has(e) || accepted.has('*')) || null;
}

function encode(payload, enc) {
  if (enc === 'gzip') return zlib.gzipSync(payload);
  if (enc === 'br') return zlib.brotliCompressSync(payload);
  if (enc === 'deflate') return zlib.deflateSync(payload);
  if (enc === 'zstd') return zlib.zstdCompressSync(payload);
  return payload;
}

// x-mock-script: the turn of the script this request gets, or null for the
// normal answer. A turn is an array of content blocks, or an object
// {"content": [...], "chunk": N} (N: characters per input_json_delta).
// Only requests offering tools take part, so Claude Code's side requests
// (titles, quota checks: no tools) keep getting the plain answer; the turn
// is the number of assistant messages in the history, so the request that
// carries the tool results of turn 0 gets turn 1.
function scriptTurn(req, parsed) {
  const path = header(req, 'x-mock-script');
  if (path === undefined || path === '') return null;
  if (!Array.isArray(parsed.tools) || parsed.tools.length === 0) return null;
  const script = JSON.parse(fs.readFileSync(path, 'utf8'));
  if (!Array.isArray(script)) throw new Error('x-mock-script: the file is not a JSON array');
  const msgs = Array.isArray(parsed.messages) ? parsed.messages : [];
  const n = msgs.filter((m) => m && m.role === 'assistant').length;
  if (n >= script.length) return null;
  const turn = script[n];
  const blocks = Array.isArray(turn) ? turn : turn && turn.content;
  if (!Array.isArray(blocks) || blocks.length === 0) {
    throw new Error(`x-mock-script: turn ${n} has no content blocks`);
  }
  const chunk = !Array.isArray(turn) && Number.isInteger(turn.chunk) && turn.chunk > 0 ? turn.chunk : 7;
  const content = blocks.map((b, i) => {
    if (!b || (b.type !== 'text' && b.type !== 'tool_use')) {
      throw new Error(`x-mock-script: turn ${n} block ${i} is neither text nor tool_use`);
    }
    if (b.type === 'text') return { type: 'text', text: String(b.text ?? '') };
    // the same turn and block always get the same id: a client's retry sees
    // the same answer, and ids differ across turns
    const id = b.id || 'toolu_01' + crypto.createHash('sha256').update(`${n}:${i}:${b.name}`)
      .digest('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 22);
    return { type: 'tool_use', id, name: String(b.name), input: fillFromHistory(b.input ?? {}, msgs) };
  });
  return { turn: n, chunk, content, toolUse: content.some((b) => b.type === 'tool_use') };
}

// A scripted tool input may copy what the model saw: a string value
// "$LAST_READ" becomes the text of the last tool_result in the request with
// Claude Code's Read line-number prefixes (`N<TAB>` or `     N→`) removed,
// as a model echoing a file back would write it (placeholders included).
function fillFromHistory(input, msgs) {
  const fill = (v) => {
    if (v === '$LAST_READ') return lastToolResult(msgs);
    if (Array.isArray(v)) return v.map(fill);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x)]));
    return v;
  };
  return fill(input);
}

function lastToolResult(msgs) {
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i];
    if (!m || m.role !== 'user' || !Array.isArray(m.content)) continue;
    for (let j = m.content.length - 1; j >= 0; j--) {
      const b = m.content[j];
      if (!b || b.type !== 'tool_result') continue;
      const text = typeof b.content === 'string' ? b.content
        : Array.isArray(b.content) ? b.content.filter((c) => c.type === 'text').map((c) => c.text).join('') : '';
      return text.split('\n').map((l) => l.replace(/^ *[0-9]+(?:\t|\u2192)/, '')).join('\n');
    }
  }
  throw new Error('x-mock-script: $LAST_READ but the request holds no tool_result');
}

// Pieces of at most `size` characters (at least one, maybe empty).
function cut(text, size) {
  const parts = [];
  for (let off = 0; off < text.length; off += size) parts.push(text.slice(off, off + size));
  return parts.length ? parts : [''];
}

// The SSE events of a scripted turn's blocks, as the API sends them: each
// block opened at its index with an empty body, its text or its input JSON
// in small deltas (the input cut every `chunk` characters, so a string value
// spans deltas), closed; a ping after the first block opens and between blocks.
function scriptEvents(s) {
  const events = [];
  let deltas = 0;
  s.content.forEach((b, index) => {
    if (index > 0) events.push(['ping', { type: 'ping' }]);
    if (b.type === 'text') {
      events.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }]);
      if (index === 0) events.push(['ping', { type: 'ping' }]);
      for (const p of cut(b.text, s.chunk)) {
        events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: p } }]);
        deltas++;
      }
    } else {
      events.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } }]);
      if (index === 0) events.push(['ping', { type: 'ping' }]);
      // the API's first input delta is empty
      for (const p of ['', ...cut(JSON.stringify(b.input), s.chunk)]) {
        events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: p } }]);
        deltas++;
      }
    }
    events.push(['content_block_stop', { type: 'content_block_stop', index }]);
  });
  return { events, deltas };
}

async function answerJson(req, res, body, parsed, entry, script) {
  const text = answerText(req);
  const msg = {
    id: makeId(req, 'msg_', body), type: 'message', role: 'assistant',
    model: parsed.model || 'claude-mock',
    content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null,
    usage: usageFor(req, body, splitText(text, intHeader(req, 'x-mock-events', 5)).length),
  };
  if (script) {
    msg.content = script.content;
    msg.stop_reason = script.toolUse ? 'tool_use' : 'end_turn';
    msg.usage = usageFor(req, body, scriptEvents(script).deltas);
  }
  const big = intHeader(req, 'x-mock-big-body', 0);
  if (big > 0) msg.padding = 'x'.repeat(Math.max(0, big - 400));
  let payload = Buffer.from(JSON.stringify(msg));
  const headers = { 'content-type': 'application/json', ...baseHeaders(req, body) };
  const enc = pickEncoding(req);
  if (enc) {
    payload = encode(payload, enc);
    headers['content-encoding'] = enc;
  }
  headers['content-length'] = String(payload.length);
  res.writeHead(200, headers);
  const bodyDelay = intHeader(req, 'x-mock-body-delay-ms', 0);
  if (bodyDelay) await sleep(bodyDelay);
  if (header(req, 'x-mock-reset-after') !== undefined) {
    await write(res, payload.subarray(0, payload.length >> 1));
    await sleep(50);
    return resetStream(entry, req, res);
  }
  for (let off = 0; off < payload.length; off += 16384) {
    if (!(await write(res, payload.subarray(off, off + 16384)))) return;
  }
  if (alive(res)) res.end();
}

function sse(name, data) {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

async function answerStream(req, res, body, parsed, entry, script) {
  const parts = splitText(answerText(req), intHeader(req, 'x-mock-events', 5));
  const scripted = script ? scriptEvents(script) : null;
  const usage = usageFor(req, body, scripted ? scripted.deltas : parts.length);
  const deltaUsage = header(req, 'x-mock-delta-usage') === 'full'
    ? { ...usage } : { output_tokens: usage.output_tokens };
  if (header(req, 'x-mock-delta-usage') !== 'full' && usage.server_tool_use) deltaUsage.server_tool_use = usage.server_tool_use;
  const startUsage = { ...usage, output_tokens: 1 };
  delete startUsage.server_tool_use;
  const id = makeId(req, 'msg_', body);
  const blocks = scripted ? scripted.events : [
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ...Array.from({ length: intHeader(req, 'x-mock-pings', 1) }, () => ['ping', { type: 'ping' }]),
    ...parts.map((p) => ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } }]),
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
  ];
  const stopReason = script && script.toolUse ? 'tool_use' : 'end_turn';
  const events = [
    ['message_start', { type: 'message_start', message: { id, type: 'message', role: 'assistant', model: parsed.model || 'claude-mock', content: [], stop_reason: null, stop_sequence: null, usage: startUsage } }],
    ...blocks,
    ['message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: deltaUsage }],
    ['message_stop', { type: 'message_stop' }],
  ];
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...baseHeaders(req, body) });
  const delay = intHeader(req, 'x-mock-event-delay-ms', 0);
  const resetAfter = intHeader(req, 'x-mock-reset-after', -1);
  const errorAfter = intHeader(req, 'x-mock-stream-error-after', -1);
  entry.event_times = [];
  for (let i = 0; i < events.length; i++) {
    if (i === resetAfter) { await sleep(50); return resetStream(entry, req, res); }
    if (delay && i > 0) await sleep(delay);
    if (i === errorAfter) {
      await write(res, sse('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
      break;
    }
    const [name, data] = events[i];
    entry.event_times.push([name, Date.now()]);
    if (!(await write(res, sse(name, data)))) return;
  }
  if (alive(res)) res.end();
}

// x-mock-fail-first / x-mock-status: true when an error answer was sent.
function failOnRequest(req, res, body) {
  const key = header(req, 'x-mock-key');
  const failFirst = intHeader(req, 'x-mock-fail-first', 0);
  if (key !== undefined && failFirst > 0) {
    const n = (attemptsByKey.get(key) || 0) + 1;
    attemptsByKey.set(key, n);
    if (n <= failFirst) { answerError(req, res, 529, body); return true; }
  }
  const status = intHeader(req, 'x-mock-status', 200);
  if (status !== 200) { answerError(req, res, status, body); return true; }
  return false;
}

async function answerMessages(req, res, body, parsed, entry) {
  if (parsed === undefined) return answerError(req, res, 400, body);
  let script;
  try {
    script = scriptTurn(req, parsed);
  } catch (e) {
    // a broken script is the test's bug: say so loudly, in a 400 the client shows
    console.error(`mock-upstream: ${e.message}`);
    return sendJson(req, res, 400, { type: 'error', error: { type: 'invalid_request_error', message: `mock: ${e.message}` } }, body);
  }
  if (script) entry.script_turn = script.turn;
  return parsed.stream === true ? answerStream(req, res, body, parsed, entry, script)
                                : answerJson(req, res, body, parsed, entry, script);
}

function rawHeaders(req) {
  const out = [];
  const raw = req.rawHeaders || [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i].toLowerCase(), raw[i + 1]]);
  return out;
}

function sendJson(req, res, status, obj, body, extra) {
  const payload = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', ...baseHeaders(req, body), ...(extra || {}) });
  res.end(req.method === 'HEAD' ? undefined : payload);
}

function introspect(req, res, pathOnly, query) {
  const send = (obj) => {
    const payload = JSON.stringify(obj);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) });
    res.end(payload);
  };
  if (pathOnly === '/__mock/log') {
    const bodies = /(^|&)bodies=1(&|$)/.test(query);
    return send(log.map(({ body, ...e }) => (bodies ? { ...e, body: body.toString('utf8') } : e)));
  }
  if (pathOnly === '/__mock/reset' && req.method === 'POST') {
    log = []; attemptsByKey = new Map();
    return send({ ok: true });
  }
  if (pathOnly === '/__mock/stats') return send({ ...stats, seq });
  const payload = JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: `mock: no introspection route ${req.method} ${pathOnly}` } });
  res.writeHead(404, { 'content-type': 'application/json' });
  return res.end(payload);
}

function connId(req) {
  const owner = req.stream ? req.stream.session : req.socket;
  if (!owner) return null;
  let id = connIds.get(owner);
  if (id === undefined) { id = ++connCounter; connIds.set(owner, id); }
  return id;
}

// Requests in progress per h2 session, so that a GOAWAY can refuse the
// streams above its last-stream-id.
const sessionEntries = new WeakMap();
// The highest stream id answered (response head written) per h2 session.
const answeredMax = new WeakMap();

function refuse(req, entry) {
  entry.outcome = 'refused-by-mock';
  if (req.stream && !req.stream.destroyed) req.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
  else if (req.socket) req.socket.destroy();
}

function scheduleGoaway(req, res) {
  if (!req.stream) { res.setHeader('connection', 'close'); return; }
  const stream = req.stream;
  const session = stream.session;
  const id = stream.id;
  let sent = false;
  const go = () => {
    if (sent || !session || session.destroyed || session.closed) return;
    sent = true;
    try {
      // last-stream-id covers every stream already answered: a stream above
      // it is one the server promises it never processed
      const last = Math.max(id, answeredMax.get(session) || 0);
      session.goaway(http2.constants.NGHTTP2_NO_ERROR, last);
      for (const other of sessionEntries.get(session) || []) {
        if (other.req.stream && other.req.stream.id > last && other.entry.status === null &&
            other.entry.outcome === 'pending') {
          refuse(other.req, other.entry);
        }
      }
      session.close(); // ends the connection once its remaining streams are done
    } catch (_) { /* session gone */ }
  };
  // once this stream is closed on both sides, so that its outcome stays clean
  res.once('close', () => setImmediate(go));
}

async function handle(req, res) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks);
  const path = req.url;
  const q = path.indexOf('?');
  const pathOnly = q < 0 ? path : path.slice(0, q);
  const query = q < 0 ? '' : path.slice(q + 1);
  if (pathOnly.startsWith('/__mock/')) return introspect(req, res, pathOnly, query);

  req.mockSeq = ++seq;
  stats.requests_total++;
  stats.requests_active++;
  const isMessages = req.method === 'POST' && pathOnly === '/v1/messages';
  let parsed;
  if (isMessages) {
    try { parsed = JSON.parse(body.toString('utf8') || '{}'); } catch (_) { parsed = undefined; }
    if (parsed === null || typeof parsed !== 'object') parsed = undefined;
  }
  const entry = {
    seq, method: req.method, path, proto: req.stream ? 'h2' : `http/${req.httpVersion}`,
    conn: connId(req), headers: rawHeaders(req), body_len: body.length,
    body_sha256: crypto.createHash('sha256').update(body).digest('hex'),
    key: header(req, 'x-mock-key') ?? null,
    streaming: isMessages ? (parsed ? parsed.stream === true : null) : null,
    status: null, outcome: 'pending',
  };
  Object.defineProperty(entry, 'body', { value: body.subarray(0, BODY_LOG_LIMIT), enumerable: false });
  log.push(entry);
  if (log.length > LOG_LIMIT) log.shift();
  // 'finish': our whole answer was handed over; a close without it (or with
  // a non-zero RST_STREAM code) means the client reset the stream or left.
  let finished = false;
  res.on('finish', () => { finished = true; });
  res.on('close', () => {
    stats.requests_active--;
    const rst = req.stream ? req.stream.rstCode : 0;
    if (rst) entry.rst_code = rst;
    if (entry.outcome === 'pending') entry.outcome = finished && !rst ? 'completed' : 'cancelled';
  });
  const origWriteHead = res.writeHead;
  res.writeHead = function (status, ...rest) {
    entry.status = status;
    if (req.stream) answeredMax.set(req.stream.session, Math.max(answeredMax.get(req.stream.session) || 0, req.stream.id));
    return origWriteHead.call(this, status, ...rest);
  };
  if (req.stream && req.stream.session) {
    const session = req.stream.session;
    if (!sessionEntries.has(session)) sessionEntries.set(session, new Set());
    const mine = { req, entry };
    sessionEntries.get(session).add(mine);
    res.on('close', () => { const set = sessionEntries.get(session); if (set) set.delete(mine); });
  }
  if (header(req, 'x-mock-goaway') === '1') scheduleGoaway(req, res);
  const refuseFirst = intHeader(req, 'x-mock-refuse-first', 0);
  if (refuseFirst > 0) {
    const rkey = `refuse:${header(req, 'x-mock-key') ?? ''}`;
    const n = (attemptsByKey.get(rkey) || 0) + 1;
    attemptsByKey.set(rkey, n);
    if (n <= refuseFirst) return refuse(req, entry);
  }

  const delay = intHeader(req, 'x-mock-delay-ms', 0);
  if (delay) await sleep(delay);
  if (!alive(res)) return;

  if (pathOnly === '/__echo' || pathOnly.startsWith('/__echo/')) {
    return sendJson(req, res, 200, {
      method: req.method, path, headers: rawHeaders(req),
      body_b64: body.toString('base64'), body_sha256: entry.body_sha256,
    }, body);
  }
  if (failOnRequest(req, res, body)) return;
  if (isMessages) return answerMessages(req, res, body, parsed, entry);
  if (req.method === 'POST' && pathOnly === '/v1/messages/count_tokens') {
    return sendJson(req, res, 200, { input_tokens: intHeader(req, 'x-mock-input-tokens', Math.ceil(body.length / 4)) }, body);
  }
  if ((req.method === 'GET' || req.method === 'HEAD') && pathOnly === '/api/hello') {
    return sendJson(req, res, 200, { message: 'hello' }, body);
  }
  if (req.method === 'POST' && pathOnly.startsWith('/api/event_logging/')) {
    return sendJson(req, res, 200, {}, body);
  }
  const model = (id) => ({ type: 'model', id, display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' });
  if (req.method === 'GET' && pathOnly === '/v1/models') {
    return sendJson(req, res, 200, { data: [model('claude-sonnet-4-5')], has_more: false, first_id: 'claude-sonnet-4-5', last_id: 'claude-sonnet-4-5' }, body);
  }
  if (req.method === 'GET' && pathOnly.startsWith('/v1/models/')) {
    return sendJson(req, res, 200, model(decodeURIComponent(pathOnly.slice('/v1/models/'.length))), body);
  }
  return sendJson(req, res, 404, { type: 'error', error: { type: 'not_found_error', message: `mock: no route for ${req.method} ${pathOnly}` } }, body);
}

function main() {
  const o = parseArgs(process.argv);
  const onRequest = (req, res) => {
    handle(req, res).catch((e) => {
      if (!alive(res)) return; // the client went away while we read its body
      console.error('mock-upstream: handler error:', e && e.stack);
      try { if (!res.headersSent) { res.writeHead(500); res.end(); } else res.destroy(); } catch (_) { /* gone */ }
    });
  };
  const server = o.plain
    ? http2.createServer({}, onRequest)
    : http2.createSecureServer({ cert: fs.readFileSync(o.cert), key: fs.readFileSync(o.key), allowHTTP1: !!o.allowHTTP1 }, onRequest);
  server.on('connection', (sock) => {
    stats.connections_open++; stats.connections_total++;
    sock.on('close', () => { stats.connections_open--; });
    sock.on('error', () => {});
  });
  server.on('sessionError', () => {});
  server.on('tlsClientError', () => {});
  server.on('clientError', (err, sock) => { try { sock.destroy(); } catch (_) { /* gone */ } });
  server.on('session', (s) => s.on('error', () => {}));
  server.on('stream', (stream) => stream.on('error', () => {}));
  server.on('error', (e) => { console.error(`mock-upstream: ${e.message}`); process.exit(1); });
  server.listen(o.port, o.host, () => {
    const port = server.address().port;
    if (o.portFile) {
      fs.writeFileSync(`${o.portFile}.tmp`, String(port));
      fs.renameSync(`${o.portFile}.tmp`, o.portFile);
    }
    console.log(`mock-upstream listening on ${port}`);
  });
  const stop = () => { server.close(); setTimeout(() => process.exit(0), 200).unref(); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();

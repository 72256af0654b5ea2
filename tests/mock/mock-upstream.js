#!/usr/bin/env node
// mock-upstream: a stand-in for api.anthropic.com in anthropic-proxy's tests.
//
// Speaks HTTP/2 over TLS (ALPN h2; --allow-http1 also takes HTTP/1.1, so
// clients can talk to it directly for comparisons; --plain speaks h2c).
// Answers POST /v1/messages like Anthropic (JSON, or an SSE stream when the
// body says "stream": true) and misbehaves on request through x-mock-*
// request headers, which travel through the proxy untouched:
//
//   x-mock-status: NNN          answer NNN with Anthropic's error JSON
//   x-mock-retry-after: S       add retry-after (with x-mock-status or -fail-first)
//   x-mock-retry-after-ms: MS   add retry-after-ms
//   x-mock-should-retry: false  add x-should-retry: false
//   x-mock-fail-first: N        with x-mock-key: K, the first N requests of K get 529
//   x-mock-key: K               names the request in /__mock/log
//   x-mock-delay-ms: MS         wait before the response head
//   x-mock-event-delay-ms: MS   wait between SSE events (slow stream)
//   x-mock-body-delay-ms: MS    JSON: wait between the head and the body
//   x-mock-events: N            number of text deltas (default 5)
//   x-mock-text: TEXT           the answer's text
//   x-mock-reset-after: N       RST_STREAM(INTERNAL_ERROR) after N SSE events
//                               (JSON: after the head and half of the body)
//   x-mock-gzip: 1              gzip-encode JSON answers
//   x-mock-goaway: 1            send GOAWAY after this response
//   x-mock-big-body: BYTES      a padded JSON answer of about BYTES, written
//                               in 16 KiB pieces honouring back-pressure
//   x-mock-seed: S              derive ids from S, so that two answers to the
//                               same request are byte-identical
//   x-mock-input-tokens / -output-tokens / -cache-read / -cache-creation
//                               the usage figures reported
//
// ANY /__echo[/...] answers the request as received: method, path, headers
// (in order, pseudo-headers included) and the body in base64.
// GET /__mock/log lists the requests seen (not the /__mock ones) with their
// outcome: completed, cancelled (the client reset the stream or left) or
// reset-by-mock. POST /__mock/reset clears the log and the per-key counters.
'use strict';

const http2 = require('node:http2');
const fs = require('node:fs');
const crypto = require('node:crypto');
const zlib = require('node:zlib');

function parseArgs(argv) {
  const o = { host: '127.0.0.1', port: 0 };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--cert') o.cert = next();
    else if (a === '--key') o.key = next();
    else if (a === '--host') o.host = next();
    else if (a === '--port') o.port = Number(next());
    else if (a === '--port-file') o.portFile = next();
    else if (a === '--allow-http1') o.allowHTTP1 = true;
    else if (a === '--plain') o.plain = true;
    else { console.error(`mock-upstream: unknown argument ${a}`); process.exit(2); }
  }
  if (!o.plain && (!o.cert || !o.key)) {
    console.error('mock-upstream: --cert and --key are required (or --plain)');
    process.exit(2);
  }
  return o;
}

const ERROR_TYPES = {
  400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error',
  404: 'not_found_error', 413: 'request_too_large', 429: 'rate_limit_error',
  500: 'api_error', 529: 'overloaded_error',
};

let seq = 0;
let log = [];
let attemptsByKey = new Map();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function header(req, name) {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
function intHeader(req, name, def) {
  const v = header(req, name);
  if (v === undefined) return def;
  const n = Number(v);
  return Number.isFinite(n) ? n : def;
}

// Ids are random unless x-mock-seed makes them reproducible.
function makeId(req, prefix, body) {
  const seed = header(req, 'x-mock-seed');
  const src = seed !== undefined ? `${seed}:${body.length}` : crypto.randomBytes(12).toString('hex');
  return prefix + crypto.createHash('sha256').update(src).digest('hex').slice(0, 24);
}

function baseHeaders(req, body) {
  return {
    'request-id': makeId(req, 'req_', body),
    'anthropic-ratelimit-requests-limit': '4000',
    'anthropic-ratelimit-requests-remaining': '3999',
    'anthropic-ratelimit-requests-reset': '2026-01-01T00:00:00Z',
    'anthropic-ratelimit-tokens-limit': '400000',
    'anthropic-ratelimit-tokens-remaining': '399000',
    'anthropic-ratelimit-tokens-reset': '2026-01-01T00:00:00Z',
    'x-mock-request-seq': String(seq),
  };
}

function retryHeaders(req) {
  const h = {};
  const ra = header(req, 'x-mock-retry-after');
  const ram = header(req, 'x-mock-retry-after-ms');
  if (ra !== undefined) h['retry-after'] = ra;
  if (ram !== undefined) h['retry-after-ms'] = ram;
  if (header(req, 'x-mock-should-retry') !== undefined) h['x-should-retry'] = header(req, 'x-mock-should-retry');
  return h;
}

function usageFor(req, body, outputTokens) {
  return {
    input_tokens: intHeader(req, 'x-mock-input-tokens', Math.ceil(body.length / 4)),
    cache_creation_input_tokens: intHeader(req, 'x-mock-cache-creation', 0),
    cache_read_input_tokens: intHeader(req, 'x-mock-cache-read', 0),
    output_tokens: intHeader(req, 'x-mock-output-tokens', outputTokens),
  };
}

function splitText(text, n) {
  const parts = [];
  const size = Math.max(1, Math.ceil(text.length / n));
  for (let i = 0; i < n; i++) parts.push(text.slice(i * size, (i + 1) * size));
  return parts;
}

function alive(stream) {
  return !stream.destroyed && !stream.closed && !stream.writableEnded;
}

// Write respecting back-pressure; resolves false if the stream went away.
function write(stream, chunk) {
  return new Promise((resolve) => {
    if (!alive(stream)) return resolve(false);
    if (stream.write(chunk)) return resolve(true);
    const done = (ok) => { stream.off('drain', onDrain); stream.off('close', onClose); resolve(ok); };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    stream.once('drain', onDrain);
    stream.once('close', onClose);
  });
}

function resetStream(entry, req, res) {
  entry.outcome = 'reset-by-mock';
  if (req.stream && req.stream.close) req.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  else res.socket && res.socket.destroy();
}

async function answerError(req, res, status, body) {
  const payload = JSON.stringify({ type: 'error', error: { type: ERROR_TYPES[status] || 'api_error', message: `mock error ${status}` } });
  res.writeHead(status, { 'content-type': 'application/json', ...baseHeaders(req, body), ...retryHeaders(req) });
  res.end(payload);
}

async function answerJson(req, res, body, parsed, entry) {
  const text = header(req, 'x-mock-text') || 'Hello from the mock upstream.';
  const msg = {
    id: makeId(req, 'msg_', body), type: 'message', role: 'assistant',
    model: parsed.model || 'claude-mock',
    content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null,
    usage: usageFor(req, body, splitText(text, intHeader(req, 'x-mock-events', 5)).length),
  };
  const big = intHeader(req, 'x-mock-big-body', 0);
  if (big > 0) msg.padding = 'x'.repeat(big);
  let payload = Buffer.from(JSON.stringify(msg));
  const headers = { 'content-type': 'application/json', ...baseHeaders(req, body) };
  if (header(req, 'x-mock-gzip') === '1') {
    payload = zlib.gzipSync(payload);
    headers['content-encoding'] = 'gzip';
  }
  headers['content-length'] = String(payload.length);
  res.writeHead(200, headers);
  const resetAfter = header(req, 'x-mock-reset-after');
  const bodyDelay = intHeader(req, 'x-mock-body-delay-ms', 0);
  if (bodyDelay) await sleep(bodyDelay);
  if (resetAfter !== undefined) {
    await write(res, payload.subarray(0, payload.length >> 1));
    await sleep(50);
    return resetStream(entry, req, res);
  }
  for (let off = 0; off < payload.length; off += 16384) {
    if (!(await write(res, payload.subarray(off, off + 16384)))) return;
  }
  res.end();
}

async function answerStream(req, res, body, parsed, entry) {
  const text = header(req, 'x-mock-text') || 'Hello from the mock upstream.';
  const parts = splitText(text, intHeader(req, 'x-mock-events', 5));
  const usage = usageFor(req, body, parts.length);
  const id = makeId(req, 'msg_', body);
  const events = [
    ['message_start', { type: 'message_start', message: { id, type: 'message', role: 'assistant', model: parsed.model || 'claude-mock', content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } }],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['ping', { type: 'ping' }],
    ...parts.map((p) => ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } }]),
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.output_tokens } }],
    ['message_stop', { type: 'message_stop' }],
  ];
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...baseHeaders(req, body) });
  const delay = intHeader(req, 'x-mock-event-delay-ms', 0);
  const resetAfter = intHeader(req, 'x-mock-reset-after', -1);
  for (let i = 0; i < events.length; i++) {
    if (i === resetAfter) { await sleep(50); return resetStream(entry, req, res); }
    if (delay && i > 0) await sleep(delay);
    const [name, data] = events[i];
    if (!(await write(res, `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`))) return;
  }
  res.end();
}

async function answerMessages(req, res, body, entry) {
  let parsed = {};
  try { parsed = JSON.parse(body.toString('utf8') || '{}'); } catch (e) {
    return answerError(req, res, 400, body);
  }
  const key = header(req, 'x-mock-key');
  const failFirst = intHeader(req, 'x-mock-fail-first', 0);
  if (key !== undefined && failFirst > 0) {
    const n = (attemptsByKey.get(key) || 0) + 1;
    attemptsByKey.set(key, n);
    if (n <= failFirst) return answerError(req, res, 529, body);
  }
  const status = intHeader(req, 'x-mock-status', 200);
  if (status !== 200) return answerError(req, res, status, body);
  return parsed.stream === true ? answerStream(req, res, body, parsed, entry)
                                : answerJson(req, res, body, parsed, entry);
}

function rawHeaders(req) {
  const out = [];
  const raw = req.rawHeaders || [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i].toLowerCase(), raw[i + 1]]);
  return out;
}

async function handle(req, res) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks);
  const path = req.url;
  if (path === '/__mock/log') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(log));
  }
  if (path === '/__mock/reset') {
    log = []; attemptsByKey = new Map();
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end('{"ok":true}');
  }
  seq++;
  const entry = {
    seq, method: req.method, path, headers: rawHeaders(req), body_len: body.length,
    body_sha256: crypto.createHash('sha256').update(body).digest('hex'),
    key: header(req, 'x-mock-key') ?? null, outcome: 'pending',
  };
  log.push(entry);
  if (log.length > 10000) log.shift();
  // 'finish': our whole answer was handed over; a close without it means
  // the client reset the stream or dropped the connection first.
  res.on('finish', () => { entry.finished = true; });
  res.on('close', () => {
    const rst = req.stream ? req.stream.rstCode : 0;
    if (entry.outcome === 'pending') entry.outcome = entry.finished && !rst ? 'completed' : 'cancelled';
    delete entry.finished;
  });
  const delay = intHeader(req, 'x-mock-delay-ms', 0);
  if (delay) await sleep(delay);
  if (!alive(res.stream || res)) return;
  if (path === '/__echo' || path.startsWith('/__echo/') || path.startsWith('/__echo?')) {
    const payload = JSON.stringify({
      method: req.method, path, headers: rawHeaders(req),
      body_b64: body.toString('base64'),
      body_sha256: entry.body_sha256,
    });
    res.writeHead(200, { 'content-type': 'application/json', ...baseHeaders(req, body) });
    return res.end(payload);
  }
  const pathOnly = path.split('?')[0];
  if (req.method === 'POST' && pathOnly === '/v1/messages') {
    await answerMessages(req, res, body, entry);
  } else if (req.method === 'POST' && pathOnly === '/v1/messages/count_tokens') {
    res.writeHead(200, { 'content-type': 'application/json', ...baseHeaders(req, body) });
    res.end(JSON.stringify({ input_tokens: Math.ceil(body.length / 4) }));
  } else if (req.method === 'GET' && pathOnly === '/v1/models') {
    res.writeHead(200, { 'content-type': 'application/json', ...baseHeaders(req, body) });
    res.end(JSON.stringify({ data: [{ type: 'model', id: 'claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' }], has_more: false, first_id: 'claude-sonnet-4-5', last_id: 'claude-sonnet-4-5' }));
  } else {
    res.writeHead(404, { 'content-type': 'application/json', ...baseHeaders(req, body) });
    res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: `mock: no route for ${req.method} ${pathOnly}` } }));
  }
  if (header(req, 'x-mock-goaway') === '1' && req.stream && req.stream.session) {
    const session = req.stream.session;
    res.on('finish', () => setTimeout(() => { if (!session.destroyed) session.goaway(); }, 10));
  }
}

function main() {
  const o = parseArgs(process.argv);
  const onRequest = (req, res) => {
    handle(req, res).catch((e) => {
      console.error('mock-upstream: handler error:', e && e.message);
      try { if (!res.headersSent) { res.writeHead(500); res.end(); } else res.destroy(); } catch (_) { /* gone */ }
    });
  };
  const server = o.plain
    ? http2.createServer({}, onRequest)
    : http2.createSecureServer({ cert: fs.readFileSync(o.cert), key: fs.readFileSync(o.key), allowHTTP1: !!o.allowHTTP1 }, onRequest);
  server.on('sessionError', () => {});
  server.on('session', (s) => s.on('error', () => {}));
  server.on('stream', (stream) => stream.on('error', () => {}));
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

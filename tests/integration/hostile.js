#!/usr/bin/env node
// hostile.js: misbehaving clients for the hostile-client tests (22-...).
//
//   node hostile.js MODE --port N [--count N] [--wait SECONDS] [--ready FILE]
//
// Each mode does one kind of abuse against 127.0.0.1:PORT (TLS unless said
// otherwise), waits at most --wait seconds for the proxy to react and prints
// one JSON line saying what it saw. With --ready, the file is written once
// the abuse is in place, so the calling test can check that other clients
// are still served meanwhile. Raw h2 frames are written by hand: the point
// is to send what no well-behaved library would.
'use strict';
const net = require('net');
const tls = require('tls');
const fs = require('fs');

const args = { mode: process.argv[2], host: '127.0.0.1', count: 1, wait: 10 };
for (let i = 3; i < process.argv.length; i += 2) {
    const k = process.argv[i].replace(/^--/, '');
    args[k] = process.argv[i + 1];
}
args.port = Number(args.port);
args.count = Number(args.count);
args.wait = Number(args.wait);

const t0 = Date.now();
const elapsed = () => (Date.now() - t0) / 1000;
const ready = () => { if (args.ready) fs.writeFileSync(args.ready, String(elapsed())); };
const done = (result) => { console.log(JSON.stringify(result)); process.exit(0); };

function tlsConnect(alpn) {
    return tls.connect({ host: args.host, port: args.port, servername: 'localhost',
                         rejectUnauthorized: false, ALPNProtocols: [alpn] });
}

// Watch a socket: what it received and when it was closed.
function watch(sock) {
    const w = { data: Buffer.alloc(0), closedAt: null, error: null, connected: false };
    sock.on('data', (d) => { if (w.data.length < 65536) w.data = Buffer.concat([w.data, d]); });
    sock.on('error', (e) => { w.error = e.code || e.message; });
    sock.on('close', () => { w.closedAt = elapsed(); });
    return w;
}

function untilClosed(watches, cb) {
    const iv = setInterval(() => {
        if (watches.every((w) => w.closedAt !== null) || elapsed() > args.wait) {
            clearInterval(iv);
            cb();
        }
    }, 50);
}

const statusOf = (w) => {
    const m = /^HTTP\/1\.1 (\d{3})/.exec(w.data.toString('latin1'));
    return m ? Number(m[1]) : null;
};

// ---- HTTP/1.1 abuse ------------------------------------------------------

// COUNT connections that send half a request head, then nothing.
function stall() {
    const watches = [];
    let open = 0, started = 0;
    const batch = () => {
        while (started < args.count && started - open < 64) {
            started++;
            const s = tlsConnect('http/1.1');
            const w = watch(s);
            watches.push(w);
            s.on('secureConnect', () => {
                w.connected = true;
                open++;
                s.write('POST /v1/messages HTTP/1.1\r\nHost: localhost\r\nContent-Ty');
                if (open === args.count) {
                    ready();
                    untilClosed(watches, report);
                }
            });
            s.on('close', () => { if (!w.connected) { open++; setImmediate(batch); } });
        }
        if (started < args.count)
            setTimeout(batch, 5);
    };
    const report = () => {
        const closed = watches.filter((w) => w.closedAt !== null);
        done({ opened: watches.filter((w) => w.connected).length, closed: closed.length,
               status408: watches.filter((w) => statusOf(w) === 408).length,
               firstClose: Math.min(...closed.map((w) => w.closedAt)),
               lastClose: Math.max(...closed.map((w) => w.closedAt)) });
    };
    batch();
}

// A request head with one header line of --size bytes.
function bigHeader() {
    const s = tlsConnect('http/1.1');
    const w = watch(s);
    s.on('secureConnect', () => {
        s.write('GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: ' +
                'a'.repeat(Number(args.size || 70000)) + '\r\n\r\n');
    });
    untilClosed([w], () => done({ status: statusOf(w), closedAt: w.closedAt }));
}

// A body announced and never finished (--chunked: chunks that never end).
function body() {
    const s = tlsConnect('http/1.1');
    const w = watch(s);
    let sent = 0, iv = null;
    s.on('secureConnect', () => {
        if (args.chunked) {
            s.write('POST /v1/messages HTTP/1.1\r\nHost: localhost\r\n' +
                    'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
            iv = setInterval(() => {
                if (w.closedAt !== null || w.data.length) return clearInterval(iv);
                s.write('400\r\n' + 'x'.repeat(1024) + '\r\n');
                sent += 1024;
            }, 1);
        } else {
            s.write('POST /v1/messages HTTP/1.1\r\nHost: localhost\r\n' +
                    'Content-Type: application/json\r\nContent-Length: 50000\r\n\r\n{"mod');
            ready();
        }
    });
    untilClosed([w], () => { if (iv) clearInterval(iv);
                             done({ status: statusOf(w), closedAt: w.closedAt, sent }); });
}

// A request for a big answer, then no more reading: the client stalls.
function noread() {
    const s = tlsConnect('http/1.1');
    const w = { closedAt: null, error: null, bytes: 0 };
    s.on('error', (e) => { w.error = e.code || e.message; });
    s.on('close', () => { w.closedAt = elapsed(); });
    s.on('secureConnect', () => {
        s.write('POST /v1/messages HTTP/1.1\r\nHost: localhost\r\n' +
                'Content-Type: application/json\r\nx-mock-big-body: 30000000\r\n' +
                'x-mock-key: stalled\r\n' +
                'Content-Length: 2\r\n\r\n{}');
    });
    s.once('data', (d) => { w.bytes = d.length; s.pause(); ready(); });
    untilClosed([w], () => done({ closedAt: w.closedAt, firstBytes: w.bytes, error: w.error }));
}

// ---- below HTTP: plain text on the TLS port, a handshake never finished ---

function plain() {
    const s = net.connect(args.port, args.host);
    const w = watch(s);
    s.on('connect', () => s.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    untilClosed([w], () => done({ closedAt: w.closedAt, bytes: w.data.length,
                                  http: w.data.toString('latin1').startsWith('HTTP/') }));
}

// COUNT TCP connections that send the first bytes of a ClientHello, then nothing.
function handshake() {
    const watches = [];
    let connected = 0;
    for (let i = 0; i < args.count; i++) {
        const s = net.connect(args.port, args.host);
        const w = watch(s);
        watches.push(w);
        s.on('connect', () => {
            w.connected = true;
            s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03]));
            if (++connected === args.count) ready();
        });
    }
    untilClosed(watches, () => {
        const closed = watches.filter((w) => w.closedAt !== null);
        done({ opened: connected, closed: closed.length,
               lastClose: closed.length ? Math.max(...closed.map((w) => w.closedAt)) : null });
    });
}

// COUNT idle HTTP/1.1 connections kept open; how many were refused, and how.
function overload() {
    const watches = [];
    let settled = 0;
    const settle = () => {
        if (++settled !== args.count) return;
        ready();
        setTimeout(() => {
            const refused = watches.filter((w) => statusOf(w) === 503);
            const body = refused.length ? refused[0].data.toString('latin1') : '';
            done({ opened: watches.filter((w) => w.connected).length,
                   status503: refused.length,
                   closedOther: watches.filter((w) => w.closedAt !== null && statusOf(w) !== 503).length,
                   body: body.slice(body.indexOf('\r\n\r\n') + 4) });
        }, 1000 * Number(args.hold || 2));
    };
    let started = 0;
    const batch = () => {
        while (started < args.count && started - settled < 64) {
            started++;
            const s = tlsConnect('http/1.1');
            const w = watch(s);
            watches.push(w);
            let counted = false;
            const once = () => { if (!counted) { counted = true; settle(); setImmediate(batch); } };
            s.on('secureConnect', () => { w.connected = true; setTimeout(once, 200); });
            s.on('close', once);
        }
    };
    batch();
}

// ---- h2 abuse ------------------------------------------------------------

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const T = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, GOAWAY: 7, CONTINUATION: 9 };

function frame(type, flags, stream, payload) {
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h[4] = flags;
    h.writeUInt32BE(stream, 5);
    return Buffer.concat([h, payload]);
}

// HPACK: an integer with an N-bit prefix, and literals without Huffman.
function hint(prefixBits, first, n) {
    const max = (1 << prefixBits) - 1;
    if (n < max) return [first | n];
    const out = [first | max];
    n -= max;
    while (n >= 128) { out.push((n % 128) + 128); n = Math.floor(n / 128); }
    out.push(n);
    return out;
}
function literal(name, value, indexed) {
    const nb = Buffer.from(name), vb = Buffer.from(value);
    return Buffer.concat([Buffer.from([indexed ? 0x40 : 0x00]), Buffer.from(hint(7, 0, nb.length)),
                          nb, Buffer.from(hint(7, 0, vb.length)), vb]);
}
// :method POST, :scheme https, :path /v1/messages, :authority localhost
function requestBlock() {
    return Buffer.concat([Buffer.from([0x83, 0x87]), literal(':path', '/v1/messages'),
                          literal(':authority', 'localhost')]);
}

// Read frames from the server; note any GOAWAY.
function h2watch(sock) {
    const w = watch(sock);
    w.goaway = null;
    w.statuses = [];
    w.resets = 0;
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 9) {
            const len = buf.readUIntBE(0, 3);
            if (buf.length < 9 + len) break;
            if (buf[3] === T.GOAWAY && w.goaway === null) w.goaway = buf.readUInt32BE(9 + 4);
            if (buf[3] === T.HEADERS) w.statuses.push(buf.readUInt32BE(5) & 0x7fffffff);
            if (buf[3] === T.RST_STREAM) w.resets++;
            buf = buf.subarray(9 + len);
        }
    });
    return w;
}

function h2() {
    const s = tlsConnect('h2');
    const w = h2watch(s);
    let sent = 0;
    s.on('secureConnect', () => {
        if (s.alpnProtocol !== 'h2') done({ error: 'no h2 from ALPN' });
        s.write(Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0, Buffer.alloc(0))]));
        const attack = attacks[args.attack];
        if (!attack) done({ error: 'unknown attack ' + args.attack });
        const step = () => {
            if (w.closedAt !== null || elapsed() > args.wait) return;
            const more = attack(s, sent++);
            if (more === false) { ready(); return; }
            if (s.write(more)) setImmediate(step);
            else s.once('drain', step);
        };
        step();
    });
    untilClosed([w], () => done({ attack: args.attack, closedAt: w.closedAt, goaway: w.goaway,
                                  frames: sent, responses: w.statuses.length,
                                  resets: w.resets }));
}

const ACK = 0x1, END_STREAM = 0x1, END_HEADERS = 0x4;
const attacks = {
    // HEADERS then RST_STREAM(CANCEL), stream after stream, in batches.
    'rapid-reset': (s, i) => {
        const parts = [];
        for (let k = 0; k < 100; k++) {
            const id = 1 + 2 * (i * 100 + k);
            if (id > 0x7fffffff) return false;
            parts.push(frame(T.HEADERS, END_HEADERS, id, requestBlock()));
            parts.push(frame(T.RST_STREAM, 0, id, Buffer.from([0, 0, 0, 8])));
        }
        return Buffer.concat(parts);
    },
    // One HEADERS without END_HEADERS, then CONTINUATION frames forever.
    'continuation': (s, i) => {
        if (i === 0) return frame(T.HEADERS, 0, 1, requestBlock());
        const parts = [];
        for (let k = 0; k < 100; k++)
            parts.push(frame(T.CONTINUATION, 0, 1, literal('x-c' + ((i * 100 + k) % 1000), 'v')));
        return Buffer.concat(parts);
    },
    // A 4 KB header in the dynamic table, then header blocks that name it
    // thousands of times: a few bytes on the wire, megabytes decoded.
    'hpack-bomb': (s, i) => {
        if (i >= 50) return false;
        const refs = Buffer.alloc(12000, 0xbe); /* index 62: the newest dynamic entry */
        const block = Buffer.concat([requestBlock(), i === 0 ? literal('x-bomb', 'b'.repeat(4000), true)
                                                             : Buffer.alloc(0), refs]);
        return frame(T.HEADERS, END_HEADERS | END_STREAM, 1 + 2 * i, block);
    },
    // SETTINGS frames, each wanting an ACK, never reading the ACKs.
    'settings-flood': (s, i) => {
        if (i === 0) s.pause();
        const one = frame(T.SETTINGS, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100]));
        return Buffer.concat(Array(1000).fill(one));
    },
    // Header lines of --size bytes each (three of them), in HEADERS and
    // CONTINUATION frames: a plain oversized head, not a flood.
    'big-headers': (s, i) => {
        if (i > 0) return false;
        const v = 'a'.repeat(Number(args.size || 30000));
        const block = Buffer.concat([requestBlock(), literal('x-big-1', v), literal('x-big-2', v),
                                     literal('x-big-3', v)]);
        const parts = [];
        for (let off = 0; off < block.length; off += 16000) {
            const last = off + 16000 >= block.length;
            parts.push(frame(off ? T.CONTINUATION : T.HEADERS,
                             (last ? END_HEADERS : 0) | (off ? 0 : END_STREAM), 1,
                             block.subarray(off, off + 16000)));
        }
        return Buffer.concat(parts);
    },
    // A request whose body never ends: DATA, then silence.
    'body-stall': (s, i) => {
        if (i === 0) return frame(T.HEADERS, END_HEADERS, 1, requestBlock());
        if (i === 1) return frame(T.DATA, 0, 1, Buffer.from('{"model":'));
        return false;
    },
};

const modes = { stall, 'big-header': bigHeader, body, noread, plain, handshake, overload, h2 };
if (!modes[args.mode]) {
    console.error('usage: hostile.js ' + Object.keys(modes).join('|') + ' --port N ...');
    process.exit(2);
}
setTimeout(() => done({ error: 'timed out', elapsed: elapsed() }), (args.wait + 30) * 1000).unref();
modes[args.mode]();

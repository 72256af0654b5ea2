// tool-latency.js CA_FILE BODY_FILE N PORT_A [PORT_B ...] (with HEADERS in the
// environment: one "name: value" a line, sent with every request)
//
// For tests/bench/restore-bench.sh: N streamed requests to each port over
// HTTP/1.1 (one keep-alive connection per port), round-robin, the order
// turned every round, one request at a time. For each it times, from just
// before the request is written, the arrival of:
//   first   the first byte of tool input (non-empty input_json_delta
//           partial_json of a tool_use block)
//   secret  the first byte of tool input after "AWS_ACCESS_KEY_ID=": the
//           placeholder's "<" when nothing is restored, the value's first
//           byte when it is (restore holds a cut placeholder back until the
//           piece that completes it)
//   second  the second non-empty piece of tool input (its gap to "first" is
//           the upstream's inter-piece pause as the client sees it)
//   end     the end of the response
// and checks the tool input, reassembled: prints per port one JSON line
// {port, n, first: [ms...], secret: [...], second: [...], end: [...],
//  values: {AKIAIOSFODNN7EXAMPLE: k, ...}, input: "<last input>"}.
'use strict';
const https = require('https');
const fs = require('fs');

const [ca, bodyFile, nStr, ...ports] = process.argv.slice(2);
const n = parseInt(nStr, 10);
const body = fs.readFileSync(bodyFile);
const headers = { 'content-type': 'application/json', 'content-length': body.length };
for (const l of (process.env.HEADERS || '').split('\n').filter(Boolean)) {
  const i = l.indexOf(':');
  headers[l.slice(0, i).trim()] = l.slice(i + 1).trim();
}
const caPem = fs.readFileSync(ca);
const agents = Object.fromEntries(ports.map((p) => [p, new https.Agent({ keepAlive: true, maxSockets: 1 })]));
const MARK = 'AWS_ACCESS_KEY_ID=';
const VALUES = ['AKIAIOSFODNN7EXAMPLE', 'jane.doe@example.com'];

function one(port) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
    const r = { first: null, secret: null, second: null, end: null, input: '' };
    let buf = '', pieces = 0;
    const req = https.request({ host: '127.0.0.1', port, path: '/v1/messages', method: 'POST', ca: caPem,
      servername: 'localhost', agent: agents[port], headers, timeout: 30000 }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode} from ${port}`));
      res.setEncoding('utf8');
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const line = ev.split('\n').find((x) => x.startsWith('data:'));
          if (!line || !line.includes('input_json_delta')) continue;
          const pj = JSON.parse(line.slice(5)).delta.partial_json;
          if (!pj) continue;
          const t = ms();
          pieces++;
          if (pieces === 1) r.first = t;
          if (pieces === 2) r.second = t;
          r.input += pj;
          const m = r.input.indexOf(MARK);
          if (r.secret === null && m >= 0 && r.input.length > m + MARK.length) r.secret = t;
        }
      });
      res.on('end', () => { r.end = ms(); resolve(r); });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

(async () => {
  const out = Object.fromEntries(ports.map((p) => [p, { port: p, n: 0, first: [], secret: [], second: [],
    end: [], values: Object.fromEntries(VALUES.map((v) => [v, 0])), input: '' }]));
  for (const p of ports) await one(p); // the connections, warm
  for (let k = 0; k < n; k++) {
    const order = k % 2 ? [...ports].reverse() : ports;
    for (const p of order) {
      const r = await one(p), o = out[p];
      o.n++;
      for (const f of ['first', 'secret', 'second', 'end']) o[f].push(r[f]);
      for (const v of VALUES) o.values[v] += r.input.split(v).length - 1;
      o.input = r.input;
    }
  }
  for (const p of ports) console.log(JSON.stringify(out[p]));
  for (const a of Object.values(agents)) a.destroy();
})().catch((e) => { console.error('tool-latency: ' + e.message); process.exit(1); });

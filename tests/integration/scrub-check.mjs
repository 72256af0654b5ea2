// scrub-check.mjs: checks of what the upstream received from the scrubber,
// for the integration tests (Node built-ins only).
//
//   node scrub-check.mjs tool-results LOG SECRETS SPANS FILE...
//       LOG: the mock's /__mock/log?bodies=1. SECRETS: the values, one a
//       line, that must reach the upstream nowhere. SPANS: further spans
//       (one a line) a placeholder may stand for, e.g. a whole connection
//       string holding one of the secrets. FILE: the files Claude Code's Read
//       tool sent. Every Read tool_result in every request must be its
//       file byte for byte once the line-number prefixes are stripped and
//       each placeholder is taken as exactly one secret or span; a
//       placeholder always stands for the same value, a value of one label
//       always gets the same placeholder, and a tool result is the same
//       bytes in every request that carries it (prompt caching).
//
//   node scrub-check.mjs expand TEMPLATE KEYHEX STREAM REQ WANT
//       TEMPLATE holds {{RAW=>LABEL_N}} and {{RAW=>LABEL_HMAC}} marks around
//       the spans the scrubber must replace, and %STREAM%. REQ gets the body
//       to send (marks removed, RAW kept), WANT the body the upstream must
//       receive: each mark replaced by its placeholder (LABEL_HMAC: the
//       first 4 bytes of HMAC-SHA256(key, the decoded value) in hex).
//
//   node scrub-check.mjs same-body LOG KEY WANT
//       The body of the request logged with x-mock-key KEY is WANT's bytes.
import fs from 'node:fs';
import crypto from 'node:crypto';

const die = (msg) => { console.log(`FAIL: ${msg}`); process.exit(1); };
const lines = (f) => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l !== '');
const short = (v) => `${v.slice(0, 6)}...`;
const PLACEHOLDER = /<([A-Z][A-Z0-9_]*?)_(?:[0-9]+|HMAC:[0-9A-F]{8})>/g;
const PLACEHOLDER_SPLIT = /<[A-Z][A-Z0-9_]*?_(?:[0-9]+|HMAC:[0-9A-F]{8})>/;
const reEscape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

// Read's output: `     N→` (older builds) or `N<TAB>` (newer) before every line.
function stripLineNumbers(text) {
  return text.split('\n').map((l, i) => {
    const m = /^ *([0-9]+)(?:\t|\u2192)/.exec(l);
    if (!m) die(`tool result line ${i + 1} has no line-number prefix: ${JSON.stringify(l.slice(0, 40))}`);
    return l.slice(m[0].length);
  }).join('\n');
}

function resultText(block) {
  if (typeof block.content === 'string') return block.content;
  if (Array.isArray(block.content)) {
    return block.content.filter((c) => c.type === 'text').map((c) => c.text).join('');
  }
  return '';
}

// The placeholders of `got` as wildcards that each take exactly one of
// `values`; the captures in order, or null when `want` does not match.
function matchWildcards(got, want, values) {
  const alt = [...values].sort((a, b) => b.length - a.length).map(reEscape).join('|');
  const found = [];
  let src = '^';
  let last = 0;
  for (const m of got.matchAll(PLACEHOLDER)) {
    src += reEscape(got.slice(last, m.index)) + `(${alt})`;
    found.push({ placeholder: m[0], label: m[1] });
    last = m.index + m[0].length;
  }
  src += reEscape(got.slice(last)) + '$';
  const r = new RegExp(src, 's').exec(want);
  if (!r) return { found, captures: null };
  return { found, captures: found.map((f, i) => ({ ...f, value: r[i + 1] })) };
}

// Where `got` (placeholders as loose wildcards) first parts from `want`.
function explain(got, want, values) {
  const parts = got.split(PLACEHOLDER_SPLIT);
  const placeholders = [...got.matchAll(PLACEHOLDER)].map((m) => m[0]);
  const whole = new RegExp(`^${parts.map(reEscape).join('([\\s\\S]*?)')}$`).exec(want);
  if (whole) {
    const caps = placeholders.map((p, i) => [p, whole[i + 1]]).filter(([, v]) => !values.has(v))
      .map(([p, v]) => `${p} = ${JSON.stringify(v)}`);
    return `a placeholder stands for what is not one of the secrets: ${caps.join('; ')}`;
  }
  // the first literal piece that no longer follows: the file differs there
  let end = 0;
  for (let k = 1; k <= parts.length; k++) {
    const src = `^${parts.slice(0, k).map(reEscape).join('[\\s\\S]*?')}${k === parts.length ? '$' : ''}`;
    const r = new RegExp(src).exec(want);
    if (!r) {
      const piece = parts[k - 1];
      return `the text after ${k > 1 ? placeholders[k - 2] : 'the start'} differs from the file: received ` +
        `${JSON.stringify(piece.slice(0, 80))}, file from there ${JSON.stringify(want.slice(end, end + 80))}`;
    }
    end = r[0].length;
  }
  return 'the text differs from the file';
}

function toolResults([logFile, secretsFile, spansFile, ...files]) {
  const log = JSON.parse(fs.readFileSync(logFile, 'utf8'));
  const secrets = lines(secretsFile);
  const values = new Set([...secrets, ...lines(spansFile)]);
  const original = new Map(files.map((f) => [f, fs.readFileSync(f, 'utf8')]));

  // 1. no secret anywhere, raw or as JSON writes it (all of them named)
  const leaked = new Map();
  for (const r of log) {
    if (r.body_len > Buffer.byteLength(r.body)) die(`request ${r.seq} is over the log's 1 MiB: not all of it checked`);
    for (const s of secrets) {
      if (!leaked.has(s) && (r.body.includes(s) || r.body.includes(JSON.stringify(s).slice(1, -1)))) {
        leaked.set(s, r.seq);
      }
    }
  }
  if (leaked.size) {
    die(`the upstream received ${leaked.size} of the ${secrets.length} secrets: ` +
      [...leaked].map(([s, seq]) => `${short(s)} (request ${seq})`).join(', '));
  }

  // 2. every Read result is its file with placeholders for secrets
  const byPlaceholder = new Map();
  const byValue = new Map();
  const resultById = new Map();
  const checked = new Set();
  let requests = 0;
  let results = 0;
  for (const r of log) {
    if (r.method !== 'POST' || !r.path.startsWith('/v1/messages')) continue;
    let body;
    try { body = JSON.parse(r.body); } catch (e) { die(`request ${r.seq}'s body is not JSON: ${e.message}`); }
    const readPath = new Map();
    for (const m of body.messages || []) {
      if (m.role !== 'assistant' || !Array.isArray(m.content)) continue;
      for (const b of m.content) {
        if (b.type === 'tool_use' && b.name === 'Read') readPath.set(b.id, b.input.file_path);
      }
    }
    let here = 0;
    for (const m of body.messages || []) {
      if (m.role !== 'user' || !Array.isArray(m.content)) continue;
      for (const b of m.content) {
        if (b.type !== 'tool_result' || !readPath.has(b.tool_use_id)) continue;
        const file = readPath.get(b.tool_use_id);
        if (!original.has(file)) die(`request ${r.seq} holds a Read result of ${file}, not one of the files`);
        const raw = resultText(b);
        if (b.is_error) die(`Claude Code's Read of ${file} failed: ${raw.slice(0, 200)}`);
        const prev = resultById.get(b.tool_use_id);
        if (prev !== undefined && prev !== raw) {
          die(`the Read result of ${file} changed between requests (prompt caching lost)`);
        }
        resultById.set(b.tool_use_id, raw);
        const got = stripLineNumbers(raw);
        const want = original.get(file);
        const { captures } = matchWildcards(got, want, values);
        if (!captures) die(`request ${r.seq}, ${file}: ${explain(got, want, values)}`);
        for (const c of captures) {
          const v = byPlaceholder.get(c.placeholder);
          if (v !== undefined && v !== c.value) {
            die(`${c.placeholder} stands for two values (${short(v)} and ${short(c.value)})`);
          }
          byPlaceholder.set(c.placeholder, c.value);
          const key = `${c.label}\0${c.value}`;
          const p = byValue.get(key);
          if (p !== undefined && p !== c.placeholder) die(`${short(c.value)} is both ${p} and ${c.placeholder}`);
          byValue.set(key, c.placeholder);
        }
        checked.add(file);
        here++;
        results++;
      }
    }
    if (here) requests++;
  }
  for (const f of files) if (!checked.has(f)) die(`no Read result of ${f} reached the upstream`);
  const labels = [...new Set([...byPlaceholder.keys()].map((p) => p.replace(/_(?:[0-9]+|HMAC:[0-9A-F]{8})>$/, '>')))];
  console.log(`${results} Read results in ${requests} requests match their files; ` +
    `${byPlaceholder.size} placeholders: ${labels.join(' ')}`);
}

function hmacPlaceholder(label, raw, keyHex) {
  const value = JSON.parse(`"${raw}"`);
  const mac = crypto.createHmac('sha256', Buffer.from(keyHex, 'hex')).update(value).digest('hex');
  return `<${label}:${mac.slice(0, 8).toUpperCase()}>`;
}

function expand([template, keyHex, stream, reqFile, wantFile]) {
  const t = fs.readFileSync(template, 'utf8').replaceAll('%STREAM%', stream);
  const mark = /\{\{(.*?)=>([A-Z][A-Z0-9_]*)\}\}/gs;
  let marks = 0;
  const req = t.replace(mark, (_, raw) => { marks++; return raw; });
  const want = t.replace(mark, (_, raw, ph) => (ph.endsWith('_HMAC')
    ? hmacPlaceholder(ph, raw, keyHex) : `<${ph}>`));
  if (req.includes('{{') || req.includes('=>')) die('test bug: a mark in the template is not closed');
  JSON.parse(req);
  JSON.parse(want);
  fs.writeFileSync(reqFile, req);
  fs.writeFileSync(wantFile, want);
  console.log(`${marks} spans to replace in a ${Buffer.byteLength(req)}-byte body`);
}

function sameBody([logFile, key, wantFile]) {
  const log = JSON.parse(fs.readFileSync(logFile, 'utf8'));
  const r = log.filter((e) => e.key === key).pop();
  if (!r) die(`the upstream received no request ${key}`);
  const want = fs.readFileSync(wantFile);
  const sha = crypto.createHash('sha256').update(want).digest('hex');
  if (r.body_sha256 === sha) return;
  const got = Buffer.from(r.body, 'utf8');
  let i = 0;
  while (i < got.length && i < want.length && got[i] === want[i]) i++;
  const at = (b) => JSON.stringify(b.subarray(Math.max(0, i - 40), i + 60).toString('utf8'));
  die(`request ${key}: the upstream's body (${r.body_len} bytes) differs from the expected ` +
    `(${want.length} bytes) at byte ${i}:\n  received ${at(got)}\n  expected ${at(want)}`);
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'tool-results') toolResults(args);
else if (cmd === 'expand') expand(args);
else if (cmd === 'same-body') sameBody(args);
else die(`usage: scrub-check.mjs tool-results|expand|same-body ...`);

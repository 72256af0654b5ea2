// make-body.js SIZE_BYTES [SEED [SECRET_EVERY]] > body.json
//
// A Claude Code-shaped /v1/messages request of about SIZE_BYTES: a long
// system prompt, tool definitions with input schemas, and a conversation of
// code, diffs, shell output and logs (Read-tool line prefixes included),
// with a secret of one of several kinds about every SECRET_EVERY bytes
// (default 30000; 0: none at all). Deterministic for a given seed, so runs
// compare.
'use strict';

const size = parseInt(process.argv[2] || '1000000', 10);
let seed = parseInt(process.argv[3] || '1', 10);
const secretEvery = parseInt(process.argv[4] || '30000', 10);
const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
const pick = (a) => a[Math.floor(rnd() * a.length)];

const words = ('the of and to in is that for it as with was on be by this are from at or an ' +
  'function return const value error request response stream token cache model user file ' +
  'config server client update commit branch merge test build deploy handler buffer parse').split(' ');
const sentence = (n) => Array.from({ length: n }, () => pick(words)).join(' ');

const code = () => [
  `import { ${pick(words)}Client } from '@anthropic-ai/sdk';`,
  `export async function ${pick(words)}${pick(words)}(req, res) {`,
  `  const ${pick(words)} = await fetch(\`https://api.example.com/v1/${pick(words)}\`, {`,
  `    headers: { 'content-type': 'application/json', 'x-request-id': '${(rnd() * 1e16).toString(16)}' },`,
  `  });`,
  `  if (!res.ok) throw new Error(\`${sentence(5)}: \${res.status}\`);`,
  `  return { id: '123e4567-e89b-12d3-a456-426614174000', sha: '3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39' };`,
  `}`,
].join('\n');

const diff = () => [
  `diff --git a/src/${pick(words)}.c b/src/${pick(words)}.c`,
  `index 3f2a9c1..8e7d6c5 100644`,
  `@@ -${Math.floor(rnd() * 900)},7 +${Math.floor(rnd() * 900)},8 @@ static int ${pick(words)}(void)`,
  `-    if (n < 0) return -1;`,
  `+    if (n < 0 || n > MAX_${pick(words).toUpperCase()}) {`,
  `+        log_warn("${sentence(4)}: %d", n);`,
  `+        return -1;`,
  `+    }`,
].join('\n');

const logs = () => Array.from({ length: 6 }, (_, i) =>
  `2026-11-0${1 + (i % 9)}T12:0${i}:00.${100 + i}Z ${pick(['INFO', 'WARN', 'DEBUG'])} [${pick(words)}] ` +
  `${sentence(8)} elapsed=${(rnd() * 100).toFixed(2)}ms`).join('\n');

const readTool = (text) => text.split('\n').map((l, i) => `${String(i + 1).padStart(6)}\u2192${l}`).join('\n');

const secrets = [
  'ANTHROPIC_API_KEY=sk-ant-api03-' + 'Xy7_'.repeat(23) + 'AbCd',
  'aws_access_key_id = AKIAIOSFODNN7EXAMPLE',
  'export GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ012345',
  'DATABASE_URL=postgres://app:s3cr3tPassw0rd@db.internal:5432/prod',
  'contact: jane.doe@example.com',
  'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
];

const tools = Array.from({ length: 18 }, (_, i) => ({
  name: `Tool${i}`,
  description: sentence(60),
  input_schema: { type: 'object', properties: { path: { type: 'string', description: sentence(12) },
    limit: { type: 'number' } }, required: ['path'] },
}));

const body = {
  model: 'claude-sonnet-4-5',
  max_tokens: 32000,
  stream: true,
  system: [{ type: 'text', text: 'You are Claude Code. ' + sentence(800) }],
  tools,
  messages: [],
};

let n = 0, len = 0, lastSecret = 0, nsecret = 0;
while (len < size) {
  const kind = n % 5;
  let text = kind === 0 ? code() : kind === 1 ? diff() : kind === 2 ? logs()
           : kind === 3 ? readTool(code()) : sentence(120);
  if (secretEvery > 0 && len - lastSecret >= secretEvery) {
    text += '\n' + secrets[nsecret++ % secrets.length];
    lastSecret = len;
  }
  if (n % 2 === 0) {
    body.messages.push({ role: 'user', content: [{ type: 'text', text }] });
  } else {
    body.messages.push({ role: 'assistant', content: [
      { type: 'text', text: sentence(30) },
      { type: 'tool_use', id: `toolu_${n}`, name: 'Read', input: { file_path: `/src/${pick(words)}.js` } }] });
    body.messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: `toolu_${n}`, content: text }] });
  }
  len += text.length + 120; /* the block's JSON around the text, roughly */
  if (n % 64 === 0) len = JSON.stringify(body).length;
  n++;
}
process.stdout.write(JSON.stringify(body));

// sdk-check: one request through the official Anthropic TypeScript SDK.
// Usage: node sdk-check.mjs --base-url URL [--stream]
// Prints the answer's text on one line and exits 0; prints the error and
// exits 1 otherwise (2 on bad usage). The key comes from ANTHROPIC_API_KEY
// (default: a fake one); trust for a self-signed certificate comes from
// NODE_EXTRA_CA_CERTS, set by the caller. The SDK's own retries are off so
// that every attempt the tests see was made by the proxy, not by the client.
import Anthropic from '@anthropic-ai/sdk';

const args = process.argv.slice(2);
const at = args.indexOf('--base-url');
const baseURL = at >= 0 ? args[at + 1] : undefined;
const stream = args.includes('--stream');
if (!baseURL || baseURL.startsWith('--') || args.some((a) => a.startsWith('--') && a !== '--base-url' && a !== '--stream')) {
  console.error('usage: node sdk-check.mjs --base-url URL [--stream]');
  process.exit(2);
}

// This SDK warns on stderr that claude-sonnet-4-5 is deprecated; the
// warning says nothing about the proxy, so keep it out of the test logs.
const warn = console.warn;
console.warn = (...a) => {
  if (typeof a[0] === 'string' && /^The model '.*' is deprecated/.test(a[0])) return;
  warn(...a);
};

const client = new Anthropic({
  baseURL,
  apiKey: process.env.ANTHROPIC_API_KEY || 'sk-ant-api03-test',
  maxRetries: 0,
  timeout: 60_000,
});
const params = {
  model: 'claude-sonnet-4-5',
  max_tokens: 64,
  messages: [{ role: 'user', content: 'hello' }],
};

try {
  let text = '';
  if (stream) {
    const s = client.messages.stream(params);
    s.on('text', (t) => { text += t; });
    await s.finalMessage();
  } else {
    const msg = await client.messages.create(params);
    text = msg.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
  }
  console.log(text.replace(/\r?\n/g, ' '));
} catch (e) {
  console.error(`sdk-check: ${e && e.message ? e.message : e}`);
  process.exit(1);
}

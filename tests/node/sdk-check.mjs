// sdk-check: one request through the official Anthropic TypeScript SDK.
// Usage: node sdk-check.mjs --base-url URL [--stream]
// Prints the answer's text on one line; exits 1 with the error otherwise.
// Trust for a self-signed proxy certificate comes from NODE_EXTRA_CA_CERTS.
import Anthropic from '@anthropic-ai/sdk';

const args = process.argv.slice(2);
const baseURL = args[args.indexOf('--base-url') + 1];
const stream = args.includes('--stream');
if (!baseURL || args.indexOf('--base-url') < 0) {
  console.error('usage: node sdk-check.mjs --base-url URL [--stream]');
  process.exit(2);
}

const client = new Anthropic({
  baseURL,
  apiKey: process.env.ANTHROPIC_API_KEY || 'sk-ant-api03-test-not-a-real-key',
  maxRetries: 0,
});
const params = {
  model: 'claude-test-model',
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
  console.log(text);
} catch (e) {
  console.error(`sdk-check: ${e && e.message ? e.message : e}`);
  process.exit(1);
}

// restore-sdk.mjs BASE_URL SCRIPT FILE: the official SDK, non-streaming,
// sends a conversation in which the model read FILE (its text as Claude
// Code's Read gives it, secrets and all) and prints, as JSON, the answer's
// content blocks: the mock's script turn 1, whose tool inputs the proxy
// must have restored.
import fs from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(new URL('../node/package.json', import.meta.url));
const Anthropic = require('@anthropic-ai/sdk').default ?? require('@anthropic-ai/sdk');

const [baseURL, script, file] = process.argv.slice(2);
const text = fs.readFileSync(file, 'utf8');
const numbered = text.split('\n').map((l, i) => `${String(i + 1).padStart(6)}\t${l}`).join('\n');
const client = new Anthropic({ baseURL, apiKey: 'sk-ant-api03-test-not-a-real-key',
  defaultHeaders: { 'x-mock-script': script }, maxRetries: 0 });
const tool = (name) => ({ name, description: name, input_schema: { type: 'object' } });
const msg = await client.messages.create({
  model: 'claude-sonnet-4-5', max_tokens: 1024,
  tools: [tool('Read'), tool('Write'), tool('Edit')],
  messages: [
    { role: 'user', content: 'Copy deploy.env.' },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01sdkread', name: 'Read', input: { file_path: file } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01sdkread', content: numbered }] },
  ],
});
process.stdout.write(JSON.stringify(msg.content));

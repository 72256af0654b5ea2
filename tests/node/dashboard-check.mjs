// dashboard-check: drives the dashboard in headless Chromium (Debian's, through
// playwright-core) against a running proxy and mock. Checks that the page
// loads with no console error and no request leaving 127.0.0.1, that its
// figures change after traffic, that the alert banner shows when the
// upstream answers errors, that it reconnects by itself when the core
// restarts, and that it fits a phone's width. Saves screenshots.
//
//   node dashboard-check.mjs DASHBOARD_URL PROXY_URL CA_FILE SUPERVISOR_PID OUT_DIR
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';

const [dashUrl, proxyUrl, caFile, supervisorPid, outDir] = process.argv.slice(2);
const ca = fs.readFileSync(caFile);
const problems = [];
const say = (m) => console.log('ok: ' + m);
const fail = (m) => { throw new Error(m); };

function post(headers) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ model: 'claude-dash', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
    const req = https.request(proxyUrl + '/v1/messages', {
      method: 'POST', ca, agent: false, timeout: 10000,
      headers: { 'content-type': 'application/json', ...headers },
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.end(body);
  });
}

// Poll fn() in the page until it is truthy; bounded in time. (Not
// waitForFunction: its polling evaluates strings, which the page's CSP forbids.)
async function until(page, what, fn, arg, ms = 8000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await page.evaluate(fn, arg)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  const seen = await page.evaluate(() => ({ state: document.getElementById('state').textContent,
    requests: document.getElementById('requests-total').textContent, connects: document.body.dataset.connects }));
  fail(`${what}: not within ${ms} ms (page shows ${JSON.stringify(seen)}; ${problems.join('; ')})`);
}
const text = (page, id) => page.$eval('#' + id, (e) => e.textContent);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  timeout: 30000,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && u.hostname !== '127.0.0.1') problems.push('request off 127.0.0.1: ' + r.url());
  });

  await page.goto(dashUrl + '/dashboard', { waitUntil: 'load', timeout: 15000 });
  await until(page, 'first snapshot', () => document.getElementById('state').dataset.state === 'live' &&
    document.getElementById('requests-total').textContent !== '–');
  const before = Number((await text(page, 'requests-total')).replace(/,/g, ''));
  say(`page loaded and live, ${before} requests so far`);

  for (let i = 0; i < 6; i++) if ((await post({ 'x-mock-output-tokens': '40' })) !== 200) fail('request failed');
  await until(page, 'request count after traffic',
    (want) => Number(document.getElementById('requests-total').textContent.replace(/,/g, '')) >= want, before + 6);
  await until(page, 'requests/s chart', () => parseFloat(document.getElementById('rps-now').textContent) > 0 ||
    Number(document.getElementById('tokens-output').textContent.replace(/,/g, '')) >= 240);
  const out = await text(page, 'tokens-output');
  if (Number(out.replace(/,/g, '')) < 240) fail('output tokens shown: ' + out);
  if (!(await page.$eval('#alert', (e) => e.hidden))) fail('alert shown with no errors');
  say(`figures changed after 6 requests: ${await text(page, 'requests-total')} requests, ${out} output tokens, no alert`);
  // 240 output tokens of a model the price table does not know, at the
  // fallback's $75 per million: $0.018 at least, and a spend rate
  await until(page, 'spend', () => parseFloat(document.getElementById('spend-total').textContent.slice(1)) >= 0.018 &&
    /^\$/.test(document.getElementById('spend-rate').textContent));
  say(`spend shown: ${await text(page, 'spend-total')} in all, ${await text(page, 'spend-rate')} per hour, cache saved ${await text(page, 'spend-savings')}`);

  // More than 10 requests in flight: the banner says so, and goes away after.
  const slow = [];
  for (let i = 0; i < 11; i++) slow.push(post({ 'x-mock-delay-ms': '4000' }));
  await until(page, 'alert for active requests', () => !document.getElementById('alert').hidden &&
    /requests active/.test(document.getElementById('alert').textContent));
  say('alert banner: ' + await text(page, 'alert'));
  await Promise.all(slow);
  await until(page, 'alert gone once they finished', () => document.getElementById('alert').hidden);

  for (let i = 0; i < 6; i++) await post({ 'x-mock-status': '500' });
  await until(page, 'alert banner', () => /error rate/.test(document.getElementById('alert').textContent));
  say('alert banner: ' + await text(page, 'alert'));
  const codes = await page.$$eval('#statuses tr td:first-child', (tds) => tds.map((t) => t.textContent));
  if (!codes.includes('500') || !codes.includes('200')) fail('status table: ' + codes.join(','));
  say('status table: ' + codes.join(', '));
  fs.mkdirSync(outDir, { recursive: true });
  await page.screenshot({ path: outDir + '/dashboard.png', fullPage: true });
  say('screenshot ' + outDir + '/dashboard.png');

  // Restart: the supervisor starts a new core when this one dies.
  const core = execFileSync('pgrep', ['-P', supervisorPid, '-f', '--', '--core']).toString().trim().split('\n')[0];
  const connects = Number(await page.$eval('body', (b) => b.dataset.connects));
  process.kill(Number(core), 'SIGKILL');
  await until(page, 'reconnect after the core restarted',
    (n) => Number(document.body.dataset.connects) > n && document.getElementById('state').dataset.state === 'live',
    connects, 15000);
  say(`reconnected by itself after the core (pid ${core}) was killed`);

  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) fail(`the page is ${overflow}px wider than a phone's screen`);
  await page.screenshot({ path: outDir + '/dashboard-phone.png', fullPage: true });
  say('fits a 390px phone screen; screenshot ' + outDir + '/dashboard-phone.png');

  // The core restart drops the stream: Chromium logs that as a console error
  // of the EventSource (net::ERR_...), which is expected here, nothing else.
  const real = problems.filter((p) => !/ERR_(INCOMPLETE_CHUNKED_ENCODING|EMPTY_RESPONSE|CONNECTION_(RESET|REFUSED|CLOSED))/.test(p));
  if (real.length) fail(real.join('\n'));
  say(`no console error and no request off 127.0.0.1 (${problems.length} expected disconnect notes)`);
} finally {
  await browser.close();
}

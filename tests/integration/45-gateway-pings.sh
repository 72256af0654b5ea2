#!/bin/sh
# Streams pass event by event (CLAUDE-CODE.md, "Pass-through"): SSE ping
# events reach the client at once. The mock writes six pings 400 ms apart
# and logs when it wrote each event; a client records when each one arrived
# through the proxy (the shipped pipeline: scrubber, metrics, retry). Every
# ping, and every other event, must arrive within LAG_MS of being written,
# in the upstream's order, over HTTP/1.1 and h2.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
start_proxy SCRUB_MODE=pseudonymize SCRUB_HMAC_KEY="$("$OPENSSL" rand -hex 32)"
LAG_MS=${LAG_MS:-250} # a buffered event would wait for the next one, 400 ms

# client URL PROTO KEY: prints [[event, epoch ms of arrival], ...]
cat >"$T/client.js" <<'EOF'
const [url, proto, key, ca] = process.argv.slice(2);
const fs = require('fs');
const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, stream: true,
  messages: [{ role: 'user', content: 'ping me' }] });
const headers = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01',
  'x-mock-key': key, 'x-mock-pings': '6', 'x-mock-event-delay-ms': '400' };
const seen = [];
let buf = '';
const onData = (chunk) => {
  const t = Date.now();
  buf += chunk;
  let i;
  while ((i = buf.indexOf('\n\n')) >= 0) {
    const ev = buf.slice(0, i);
    buf = buf.slice(i + 2);
    const m = /^event: (.*)$/m.exec(ev);
    seen.push([m ? m[1] : '?', t]);
  }
};
const done = () => { console.log(JSON.stringify(seen)); process.exit(0); };
const opts = { ca: fs.readFileSync(ca) };
if (proto === 'h2') {
  const s = require('http2').connect(url, opts);
  const r = s.request({ ':method': 'POST', ':path': '/v1/messages?beta=true', ...headers });
  r.setEncoding('utf8');
  r.on('data', onData);
  r.on('end', () => { s.close(); done(); });
  r.end(body);
} else {
  const u = new URL('/v1/messages?beta=true', url);
  const r = require('https').request(u, { method: 'POST', headers, ...opts }, (res) => {
    res.setEncoding('utf8');
    res.on('data', onData);
    res.on('end', done);
  });
  r.end(body);
}
EOF
for proto in http1 h2; do
    "$NODE" "$T/client.js" "$PURL" "$proto" "pings-$proto" "$T/cert.pem" >"$T/arrived.json"
    mock_log | json "j.find(r => r.key === 'pings-$proto').event_times" >"$T/sent.json"
    # one line per event: name, written (ms since the head), lag
    "$NODE" -e '
        const fs = require("fs");
        const sent = JSON.parse(fs.readFileSync(process.argv[1]));
        const got = JSON.parse(fs.readFileSync(process.argv[2]));
        if (sent.map(e => e[0]).join() !== got.map(e => e[0]).join())
            { console.log("ORDER sent " + sent.map(e => e[0]) + " got " + got.map(e => e[0])); process.exit(0); }
        sent.forEach((e, i) => console.log(e[0], e[1] - sent[0][1], got[i][1] - e[1]));
    ' "$T/sent.json" "$T/arrived.json" >"$T/lags"
    grep -q '^ORDER' "$T/lags" && fail "$proto: $(cat "$T/lags")"
    [ "$(grep -c '^ping ' "$T/lags")" = 6 ] || fail "$proto: $(grep -c '^ping ' "$T/lags") pings, want 6"
    pings=$(awk '$1 == "ping" { printf "%s%d ms", n++ ? ", " : "", $3 }' "$T/lags")
    awk -v max="$LAG_MS" '$3 > max { bad = 1 } END { exit bad }' "$T/lags" ||
        fail "$proto: an event arrived more than $LAG_MS ms after it was written: $(tr '\n' ';' <"$T/lags")"
    ok "$proto: 6 pings, each written 400 ms apart, arrived after $pings; all $(wc -l <"$T/lags") events in order within $LAG_MS ms"
done

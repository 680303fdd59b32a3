// SPDX-License-Identifier: MIT
//
// testserver.mjs - a loopback HTTP(S) server for the http module's integration test. The path
// chooses the behaviour:
//
//   /ok                        200 "ok\n"
//   /status/NNN                that status (100..599)
//   /delay/MS                  200 after MS milliseconds
//   /flaky/KEY/N               503 the first N times (counted per KEY), then 200
//   /retry-after/KEY/S         429 with "Retry-After: S" once per KEY, then 200
//   /retry-after-date/KEY/S    the same with an IMF-fixdate S seconds ahead
//   /reset                     destroys the connection without answering
//   /redirect                  302 to /ok
//   /big/BYTES                 a body of BYTES bytes with Content-Length
//   /big-chunked/BYTES         the same, chunked (no Content-Length)
//   /biglen                    "Content-Length: 2000000000", a few bytes, then silence
//   /trickle                   one byte per second (Content-Length 3600)
//   /echo-headers              JSON {method, path, headers: [[name, value]...], bodyLength}
//   /hits/KEY                  JSON {hits: N}: how many requests carried "?k=KEY"
//
// Every request with a "k" query parameter is counted under that key, whatever its path, so a
// test can prove that a request never arrived. Listens on 127.0.0.1 only.

import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';

const BIG_MAX = 1 << 30;
const ECHO_BODY_MAX = 1 << 20;

function send(res, status, body, headers = {}) {
  const buf = Buffer.from(body);
  res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': buf.length, ...headers });
  res.end(buf);
}

function sendJson(res, status, obj) {
  send(res, status, JSON.stringify(obj) + '\n', { 'Content-Type': 'application/json' });
}

function intArg(s, min, max) {
  if (!/^[0-9]+$/.test(s ?? '')) return null;
  const n = Number(s);
  return n >= min && n <= max ? n : null;
}

// Write `total` bytes of 'x' with backpressure; stops when the client goes away.
function writeBytes(res, total, done) {
  const chunk = Buffer.alloc(64 * 1024, 0x78);
  let left = total;
  const pump = () => {
    while (left > 0 && !res.destroyed) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) done();
  };
  pump();
}

function later(res, ms, fn) {
  const t = setTimeout(fn, ms);
  res.on('close', () => clearTimeout(t));
  return t;
}

function count(counters, key) {
  const n = (counters.get(key) ?? 0) + 1;
  counters.set(key, n);
  return n;
}

const routes = {
  ok: (req, res) => send(res, 200, 'ok\n'),
  status: (req, res, [code]) => {
    const n = intArg(code, 200, 599);
    if (n === null) return send(res, 400, 'bad status\n');
    send(res, n, `status ${n}\n`);
  },
  delay: (req, res, [ms]) => {
    const n = intArg(ms, 0, 600000);
    if (n === null) return send(res, 400, 'bad delay\n');
    later(res, n, () => send(res, 200, 'ok\n'));
  },
  flaky: (req, res, [key, times], counters) => {
    const n = intArg(times, 0, 1000);
    if (!key || n === null) return send(res, 400, 'bad flaky\n');
    if (count(counters, `flaky:${key}`) <= n) return send(res, 503, 'flaky\n');
    send(res, 200, 'ok\n');
  },
  'retry-after': (req, res, [key, secs], counters) => {
    const n = intArg(secs, 0, 86400 * 365);
    if (!key || n === null) return send(res, 400, 'bad retry-after\n');
    if (count(counters, `retry-after:${key}`) === 1)
      return send(res, 429, 'slow down\n', { 'Retry-After': String(n) });
    send(res, 200, 'ok\n');
  },
  'retry-after-date': (req, res, [key, secs], counters) => {
    const n = intArg(secs, 0, 86400 * 365);
    if (!key || n === null) return send(res, 400, 'bad retry-after-date\n');
    if (count(counters, `retry-after-date:${key}`) === 1) {
      // Rounded up to the next whole second so "now + n" is never shortened by truncation.
      const when = new Date((Math.floor(Date.now() / 1000) + n + 1) * 1000);
      return send(res, 503, 'busy\n', { 'Retry-After': when.toUTCString() });
    }
    send(res, 200, 'ok\n');
  },
  reset: (req, res) => req.socket.destroy(),
  redirect: (req, res) => send(res, 302, 'moved\n', { Location: '/ok' }),
  big: (req, res, [bytes]) => {
    const n = intArg(bytes, 0, BIG_MAX);
    if (n === null) return send(res, 400, 'bad size\n');
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n });
    writeBytes(res, n, () => res.end());
  },
  'big-chunked': (req, res, [bytes]) => {
    const n = intArg(bytes, 0, BIG_MAX);
    if (n === null) return send(res, 400, 'bad size\n');
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    writeBytes(res, n, () => res.end());
  },
  biglen: (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': 2000000000 });
    res.write('abc');
    later(res, 30000, () => res.destroy());
  },
  trickle: (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': 3600 });
    let sent = 0;
    const t = setInterval(() => {
      res.write('x');
      if (++sent === 3600) {
        clearInterval(t);
        res.end();
      }
    }, 1000);
    res.on('close', () => clearInterval(t));
  },
  'echo-headers': (req, res, args, counters, body) => {
    const headers = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
    sendJson(res, 200, { method: req.method, path: req.url, headers, bodyLength: body.length });
  },
  hits: (req, res, [key], counters) => sendJson(res, 200, { hits: counters.get(`k:${key}`) ?? 0 }),
};

function handle(req, res, counters) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const [name, ...args] = url.pathname.split('/').slice(1).map(decodeURIComponent);
  const k = url.searchParams.get('k');
  if (k !== null) count(counters, `k:${k}`);
  const route = Object.hasOwn(routes, name) ? routes[name] : null;
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= ECHO_BODY_MAX) chunks.push(c);
  });
  req.on('end', () => {
    if (!route) return send(res, 404, 'no such test path\n');
    route(req, res, args, counters, Buffer.concat(chunks));
  });
}

// Start the server; resolves to {port, scheme, close()}. tls = {cert, key} (PEM file paths)
// serves https instead of http.
export async function startTestServer({ host = '127.0.0.1', port = 0, tls = null } = {}) {
  const counters = new Map();
  const sockets = new Set();
  const handler = (req, res) => handle(req, res, counters);
  const server = tls
    ? https.createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handler)
    : http.createServer(handler);
  server.keepAliveTimeout = 5000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    port: server.address().port,
    scheme: tls ? 'https' : 'http',
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// faultproxy.mjs - an HTTP proxy for tests that injects faults in front of a loopback service
// (Azurite, nginx). Listens on 127.0.0.1 only.
//
//   node faultproxy.mjs --target PORT --port-file FILE [--seed N] [--latency-ms N]
//                       [--bandwidth BYTES_PER_S] [--only-ranged] [--retry-after S]
//                       [--slow-ms N] [--throttle-rps N] [--throttle-mibps N]
//                       [FAULT=PROBABILITY ...]
//
// Faults (each picked per request with its probability, at most one per request):
//   503       answer 503 ServerBusy with Retry-After: S (--retry-after, default 1; the request
//             never reaches the target)
//   500       answer 500 InternalError
//   reset     forward, then destroy the connection halfway through the response body
//   truncate  forward, send the headers and half the body, then close the connection
//   flip      forward, flip one byte of the response body (length and headers unchanged)
//   slow      forward, send the headers at once and then the body in 16 pieces spread over
//             --slow-ms (default 2000): a slow body that still completes
// --latency-ms delays every request; --bandwidth caps each response body's rate;
// --only-ranged applies faults only to GETs with a Range or x-ms-range header (reads), so setup
// calls stay clean.
//
// Throttling (Azure's scalability targets for one blob: up to 500 requests/s, and up to 60 MiB/s
// out of a page blob): --throttle-rps N admits at most N requests per second per blob (URL path)
// and --throttle-mibps N at most N MiB per second of ranged GET bodies per blob, each counted
// over a sliding one-second window. A request above either rate is answered, as the service
// does, 503 with x-ms-error-code ServerBusy and Retry-After: 1, and never reaches the target.
// A ranged GET is charged its range's length when admitted, a GET without a range its bytes as
// they pass.
//
// Replaying older versions (what whoever controls the storage account can do): POST
// /__faultproxy/record starts remembering the body of every ranged GET answered 206 (the bytes
// of the blob as they were then); POST /__faultproxy/replay stops recording and from then on
// answers every ranged GET with those remembered bytes over the current ones (where the two
// overlap; the earliest recording wins), with a Content-MD5 recomputed to match, so the answer
// looks like a genuine older version of the range; POST /__faultproxy/clean stops replaying.
//
// Counters: GET /__faultproxy/stats answers {"requests":N,"bytes":N,"503":N,...,"timeline":[...]}
// as JSON (bytes: response body bytes received from the target, for read amplification in
// benchmarks; sizes, when throttling: served ranged GETs counted by size, "le64k", "le1m",
// "le4m", "gt4m"; timeline, when throttling: per second since the start, {"t":S,"requests":N,"busy":N,"bytes":N,
// "served_bytes":N} where requests counts every request that arrived, busy the ones answered 503 by
// the throttle, served_bytes the ranged bytes admitted).

import { createHash } from 'node:crypto';
import { writeFileSync, renameSync } from 'node:fs';
import http from 'node:http';

const args = process.argv.slice(2);
const opt = { seed: 1, latency: 0, bandwidth: 0, onlyRanged: false, retryAfter: 1, slowMs: 2000,
              rps: 0, mibps: 0, faults: {} };
let target, portFile;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--target') target = Number(args[++i]);
  else if (a === '--port-file') portFile = args[++i];
  else if (a === '--seed') opt.seed = Number(args[++i]);
  else if (a === '--latency-ms') opt.latency = Number(args[++i]);
  else if (a === '--bandwidth') opt.bandwidth = Number(args[++i]);
  else if (a === '--only-ranged') opt.onlyRanged = true;
  else if (a === '--retry-after') opt.retryAfter = Number(args[++i]);
  else if (a === '--slow-ms') opt.slowMs = Number(args[++i]);
  else if (a === '--throttle-rps') opt.rps = Number(args[++i]);
  else if (a === '--throttle-mibps') opt.mibps = Number(args[++i]);
  else if (/^(503|500|reset|truncate|flip|slow)=[0-9.]+$/.test(a)) {
    const [k, v] = a.split('=');
    opt.faults[k] = Number(v);
  } else {
    process.stderr.write(`faultproxy: unknown argument ${a}\n`);
    process.exit(2);
  }
}
if (!target || !portFile) {
  process.stderr.write('usage: faultproxy.mjs --target PORT --port-file FILE [options] [FAULT=P ...]\n');
  process.exit(2);
}

// xorshift32: reproducible fault sequences for a given seed.
let state = opt.seed >>> 0 || 1;
function random() {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state / 4294967296;
}

const stats = { requests: 0, clean: 0, bytes: 0 };
const rangeHeader = (req) => req.headers.range ?? req.headers['x-ms-range'];
function pickFault(req) {
  if (opt.onlyRanged && !(req.method === 'GET' && rangeHeader(req))) return null;
  let x = random();
  for (const [k, p] of Object.entries(opt.faults)) {
    if (x < p) return k;
    x -= p;
  }
  return null;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- throttling and the per-second timeline ----
const MIB = 1024 * 1024;
const started = performance.now();
const timeline = [];
const windows = new Map();
const sizes = {}; // served ranged GETs by size: le64k, le1m, le4m, gt4m

function second() {
  const t = Math.floor((performance.now() - started) / 1000);
  while (timeline.length <= t) timeline.push({ t: timeline.length, requests: 0, busy: 0, bytes: 0, served_bytes: 0 });
  return timeline[t];
}

function rangeLength(req) {
  const m = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader(req) ?? '');
  return m ? Number(m[2]) - Number(m[1]) + 1 : 0;
}

// Admit a request to its blob if the last second's admitted requests (and ranged bytes) leave
// room: a sliding one-second window, so no second ever serves more than the target.
function admit(req) {
  if (!opt.rps && !opt.mibps) return true;
  const key = new URL(req.url, 'http://x').pathname;
  const now = performance.now();
  let w = windows.get(key);
  if (!w) windows.set(key, (w = { log: [], bytes: 0 }));
  while (w.log.length && w.log[0].t <= now - 1000) w.bytes -= w.log.shift().n;
  if ((opt.rps && w.log.length >= opt.rps) || (opt.mibps && w.bytes >= opt.mibps * MIB)) return false;
  const entry = { t: now, n: req.method === 'GET' ? rangeLength(req) : 0 };
  if (entry.n) {
    const k = entry.n <= 65536 ? 'le64k' : entry.n <= MIB ? 'le1m' : entry.n <= 4 * MIB ? 'le4m' : 'gt4m';
    sizes[k] = (sizes[k] || 0) + 1;
  }
  w.log.push(entry);
  w.bytes += entry.n;
  second().served_bytes += entry.n;
  req.window = { w, entry }; // a GET without a range pays as its bytes pass
  return true;
}

function charge(req, n) {
  // (only while the entry is still in the window: pruning subtracts what it holds by then)
  if (opt.mibps && req.method === 'GET' && !rangeLength(req) && req.window &&
      performance.now() - req.window.entry.t < 1000) {
    req.window.entry.n += n;
    req.window.w.bytes += n;
  }
}

// ---- record and replay ----
const replay = { mode: 'off', segments: [] }; // segments: { path, start, body } in arrival order

function rangeStart(req) {
  const m = /^bytes=(\d+)-\d+$/.exec(rangeHeader(req) ?? '');
  return m ? Number(m[1]) : null;
}

function recordable(req) {
  return replay.mode !== 'off' && req.method === 'GET' && rangeStart(req) !== null;
}

// Record a 206 body, or overlay the recorded bytes on it; returns the body to send.
function recordOrReplay(req, up) {
  const path = new URL(req.url, 'http://x').pathname;
  const start = rangeStart(req);
  if (up.status !== 206) return up.body;
  if (replay.mode === 'record') {
    replay.segments.push({ path, start, body: Buffer.from(up.body) });
    return up.body;
  }
  const body = Buffer.from(up.body);
  let replayed = 0;
  for (let i = replay.segments.length - 1; i >= 0; i--) { // earliest last: it wins
    const seg = replay.segments[i];
    const lo = Math.max(start, seg.start);
    const hi = Math.min(start + body.length, seg.start + seg.body.length);
    if (seg.path !== path || lo >= hi) continue;
    seg.body.copy(body, lo - start, lo - seg.start, hi - seg.start);
    replayed++;
  }
  if (replayed) {
    stats.replayed = (stats.replayed || 0) + 1;
    if (!body.equals(up.body)) stats.replayed_changed = (stats.replayed_changed || 0) + 1;
  }
  if (up.headers['content-md5']) up.headers['content-md5'] = createHash('md5').update(body).digest('base64');
  return body;
}

function control(req, res) {
  const what = req.url.slice('/__faultproxy/'.length);
  if (req.method !== 'POST' || !['record', 'replay', 'clean'].includes(what)) return false;
  if (what === 'record') replay.segments = [];
  replay.mode = what === 'clean' ? 'off' : what;
  res.writeHead(204);
  res.end();
  return true;
}

async function sendBody(res, body, fault) {
  let end = body.length;
  if (fault === 'reset' || fault === 'truncate') end = Math.floor(body.length / 2);
  if (fault === 'flip' && body.length > 0) {
    body = Buffer.from(body);
    body[Math.floor(random() * body.length)] ^= 0x5a;
  }
  if (fault === 'slow') {
    // The headers now, then the body in 16 pieces, each after a pause.
    res.flushHeaders();
    const piece = Math.max(1, Math.ceil(end / 16));
    for (let i = 0; i < 16; i++) {
      await sleep(opt.slowMs / 16);
      if (i * piece < end) res.write(body.subarray(i * piece, Math.min(end, (i + 1) * piece)));
    }
    res.end();
    return;
  }
  const step = opt.bandwidth > 0 ? Math.max(1024, Math.floor(opt.bandwidth / 20)) : end;
  for (let off = 0; off < end; off += step) {
    res.write(body.subarray(off, Math.min(end, off + step)));
    if (opt.bandwidth > 0) await sleep((1000 * step) / opt.bandwidth);
  }
  if (fault === 'reset') res.socket?.resetAndDestroy ? res.socket.resetAndDestroy() : res.destroy();
  else if (fault === 'truncate') res.socket?.end(), res.destroy();
  else res.end();
}

function forward(req, reqBody) {
  return new Promise((resolve, reject) => {
    const up = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url,
                              headers: req.headers }, (r) => {
      const chunks = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => resolve({ status: r.statusCode, headers: r.headers, body: Buffer.concat(chunks) }));
      r.on('error', reject);
    });
    up.on('error', reject);
    up.end(reqBody);
  });
}

async function handle(req, res) {
  if (req.url === '/__faultproxy/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(opt.rps || opt.mibps ? { ...stats, sizes, timeline } : stats));
    return;
  }
  if (req.url.startsWith('/__faultproxy/') && control(req, res)) return;
  const chunks = [];
  for await (const c of req) chunks.push(c);
  stats.requests++;
  second().requests++;
  if (!admit(req)) {
    stats['503'] = (stats['503'] || 0) + 1;
    stats.throttled = (stats.throttled || 0) + 1;
    second().busy++;
    res.writeHead(503, { 'x-ms-error-code': 'ServerBusy', 'retry-after': '1', 'content-length': 0 });
    res.end();
    return;
  }
  const fault = pickFault(req);
  stats[fault ?? 'clean'] = (stats[fault ?? 'clean'] || 0) + 1;
  if (opt.latency) await sleep(opt.latency);
  if (fault === '503' || fault === '500') {
    const code = fault === '503' ? 'ServerBusy' : 'InternalError';
    res.writeHead(Number(fault), { 'x-ms-error-code': code, 'retry-after': String(opt.retryAfter), 'content-length': 0 });
    res.end();
    return;
  }
  if (!fault && !opt.bandwidth && !recordable(req)) {
    await stream(req, Buffer.concat(chunks), res);
    return;
  }
  const up = await forward(req, Buffer.concat(chunks));
  stats.bytes += up.body.length;
  second().bytes += up.body.length;
  charge(req, up.body.length);
  const body = recordable(req) ? recordOrReplay(req, up) : up.body;
  res.writeHead(up.status, up.headers);
  await sendBody(res, body, fault);
}

// A clean request without a bandwidth cap: pass the answer through as it arrives, so that a
// large GET (curl of a whole blob in the benchmark) is neither buffered nor delayed.
function stream(req, reqBody, res) {
  return new Promise((resolve, reject) => {
    const up = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url,
                              headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.on('data', (c) => {
        stats.bytes += c.length;
        second().bytes += c.length;
        charge(req, c.length);
      });
      r.on('error', reject);
      r.pipe(res);
      res.on('finish', resolve);
      res.on('close', resolve);
    });
    up.on('error', reject);
    up.end(reqBody);
  });
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    process.stderr.write(`faultproxy: ${e.message}\n`);
    res.destroy();
  });
});
server.listen(0, '127.0.0.1', () => {
  writeFileSync(`${portFile}.tmp`, String(server.address().port));
  renameSync(`${portFile}.tmp`, portFile);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));

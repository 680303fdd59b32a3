// SPDX-License-Identifier: MIT
//
// hostile.mjs - a hostile HTTP server for tests/integration/test-hostile-*.sh: it stands where
// MAA, IMDS, Managed HSM or Blob Storage would be and answers with what an attacker (or a broken
// network) could send. The client must end every exchange with a clean error, in bounded time
// and memory.
//
// The current mode is set by the test, for every later request:
//   GET /__hostile/mode?m=NAME[&method=M] -> 200 "NAME"  (the only paths never hostile, with
//                                  /ok); with method, other methods pass through
//   GET /__hostile/count         -> 200 number of hostile requests answered since the last mode
//   GET /__hostile/upstream?u=URL   forward to URL from now on (a stand-in started later)
//
// With --upstream URL (and --upstream-ca PEM for https) requests are forwarded to the real
// stand-in there and, in the content modes, its answer is tampered with; mode "pass" forwards
// untouched (the positive control that the proxying itself works).
//
// Transport modes (any path):
//   pass            forward unchanged (404 without an upstream)
//   biglen          200, Content-Length 2147483648 (2 GiB), 16 bytes, then silence
//   flood           200, chunked, 64 KiB chunks for as long as the client reads
//   truncated       200, Content-Length 1000, 10 bytes, then the connection closes
//   trickle-once    the first request: 200, Content-Length 3600, one byte a second; later: 400
//   silent-once     the first request gets no answer at all (connection kept open); later: 400
//   hdr-trickle-once the first request: a status line, then a header one byte a second; later: 400
//   huge-header     one 256 KiB header line
//   many-headers    1000 short header lines
//   interim-flood   10000 "100 Continue" interim responses before a final one
//   redirect-loop   302 to the same URL, forever
//   redirect-evil   307 to http://127.0.0.2:1/steal (must not be followed)
//   garbage         bytes that are not HTTP, then close
//   bad-status      "HTTP/1.1 2147483648 OK"
//   folded          an obsolete folded header line
//   nested          200 application/json, 100000 nested arrays
//   nested-obj      200 application/json, 100000 nested objects
//   empty           200 with an empty body
//   not-json        200 application/json "<html>"
// Content modes (need --upstream; other paths pass):
//   maa-alg-none    MAA token re-issued with {"alg":"none"} and no signature
//   maa-hs256       HS256, keyed with the MAA signing key's public key (PEM and DER tried by
//                   clients that confuse them; we use the PEM, the classic attack)
//   maa-jku         signed by the attacker, kid "evil", jku -> this server's /evil-certs
//   maa-jwk         signed by the attacker, the legit kid, attacker key embedded as jwk + x5c
//   maa-x5u         signed by the attacker, the legit kid, x5u -> this server's /evil.pem
//   maa-deep-claims the token's payload is 40000 nested arrays (RS256 by the attacker)
//   hsm-alg-none    release JWS with {"alg":"none"}
//   hsm-hs256       release JWS HS256-keyed with the signer certificate's public key PEM
//   hsm-self-signed release JWS signed by the attacker, x5c = its self-signed certificate
//   hsm-jku         release JWS by the attacker with jku/x5u/jwk pointing at its key, x5c kept
//   hsm-value-nested {"value": 100000 nested arrays}
//   imds-no-token   {"expires_in":"3599","token_type":"Bearer"} (no access_token)
//   imds-bad-expiry access_token with expires_in "99999999999999999999999"
//   imds-nested     the token JSON nested 100000 deep inside access_token's place
//   blob-props-overflow  Content-Length 18446744073709551616 on a HEAD
//   blob-props-noetag    no ETag
//   blob-error-bomb      403 x-ms-error-code of 8 KiB with control bytes, 900 KiB XML body
//   blob-range-flip      a ranged GET's body with one bit flipped (Content-MD5 unchanged)
//   blob-range-shift     a ranged GET answered with another range's Content-Range
//   blob-size-TYPE-N     the blob claims to be a TYPE (PageBlob, BlockBlob, AppendBlob, or Plain:
//                        no x-ms-blob-type, a plain HTTP server) of N
//                        bytes: HEAD says so, and ranged GETs (passed through) carry N as their
//                        Content-Range total, so the claim is consistent

import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';

import { selfSignedCert } from './snp-verify.mjs';

const b64url = (b) => Buffer.from(b).toString('base64url');
const deep = (n, open = '[', close = ']') => open.repeat(n) + close.repeat(n);
const NEST = 100000;

function unjws(tok) {
  const [h, p, s] = String(tok).split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: Buffer.from(p, 'base64url'), sig: s };
}

function signRs256(header, payload, key) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(payload)}`;
  return `${input}.${b64url(crypto.sign('sha256', Buffer.from(input), key))}`;
}

function signHs256(header, payload, secret) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(payload)}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

function algNone(header, payload) {
  return `${b64url(JSON.stringify({ ...header, alg: 'none' }))}.${b64url(payload)}.`;
}

class Attacker {
  constructor() {
    this.key = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    this.certDer = selfSignedCert(this.key, 'evil.example');
    this.jwk = { ...crypto.createPublicKey(this.key).export({ format: 'jwk' }), kid: 'evil' };
  }
}

// The public key PEM of a base64 DER certificate.
function certPubPem(b64der) {
  return new crypto.X509Certificate(Buffer.from(b64der, 'base64')).publicKey.export({ type: 'spki', format: 'pem' });
}

function tamperMaa(mode, tok, ctx) {
  const { header, payload } = unjws(tok);
  const ev = ctx.attacker;
  const self = `http://127.0.0.1:${ctx.port}`;
  switch (mode) {
    case 'maa-alg-none': return algNone(header, payload);
    case 'maa-hs256':
      return signHs256({ alg: 'HS256', kid: header.kid, typ: 'JWT' }, payload, certPubPem(header.x5c[0]));
    case 'maa-jku':
      return signRs256({ alg: 'RS256', kid: 'evil', jku: `${self}/evil-certs`, typ: 'JWT' }, payload, ev.key);
    case 'maa-jwk':
      return signRs256({ alg: 'RS256', kid: header.kid, jwk: ev.jwk, x5c: [ev.certDer.toString('base64')], typ: 'JWT' }, payload, ev.key);
    case 'maa-x5u':
      return signRs256({ alg: 'RS256', kid: header.kid, x5u: `${self}/evil.pem`, typ: 'JWT' }, payload, ev.key);
    case 'maa-deep-claims':
      return signRs256({ alg: 'RS256', kid: header.kid, typ: 'JWT' }, deep(40000), ev.key);
    default: return tok;
  }
}

function tamperHsm(mode, jws, ctx) {
  const { header, payload } = unjws(jws);
  const ev = ctx.attacker;
  const self = `http://127.0.0.1:${ctx.port}`;
  switch (mode) {
    case 'hsm-alg-none': return algNone(header, payload);
    case 'hsm-hs256': return signHs256({ ...header, alg: 'HS256' }, payload, certPubPem(header.x5c[0]));
    case 'hsm-self-signed':
      return signRs256({ alg: 'RS256', x5c: [ev.certDer.toString('base64')] }, payload, ev.key);
    case 'hsm-jku':
      return signRs256({ ...header, jku: `${self}/evil-certs`, x5u: `${self}/evil.pem`, jwk: ev.jwk }, payload, ev.key);
    default: return jws;
  }
}

// Forward req (with its body) to the upstream; resolves {status, headers, body}.
function forward(ctx, req, body) {
  return new Promise((resolve, reject) => {
    const u = new URL(req.url, ctx.upstream);
    const mod = u.protocol === 'https:' ? https : http;
    const headers = { ...req.headers }; // Host kept: the stand-ins name it in iss
    const r = mod.request(u, { method: req.method, headers, ca: ctx.upstreamCa, servername: 'localhost' }, (res) => {
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(body);
  });
}

function readAll(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let n = 0;
    req.on('data', (c) => {
      n += c.length;
      if (n > (4 << 20)) req.destroy();
      else parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

function send(res, status, body, headers = {}) {
  const b = Buffer.from(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': b.length, ...headers });
  res.end(b);
}

// A raw answer on the socket, bypassing node's HTTP writer.
function raw(req, text, close = true) {
  req.socket.write(text);
  if (close) req.socket.end();
}

function once(ctx, req, res, first) {
  if (ctx.count === 1) return first();
  return send(res, 400, '{"error":{"code":"Hostile","message":"second request refused"}}');
}

const transport = {
  biglen: (ctx, req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '2147483648' });
    res.write('{"token":"aaaaa');
    ctx.hold(res);
  },
  flood: (ctx, req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const pump = () => {
      while (res.write(chunk)) if (res.destroyed) return;
    };
    res.on('drain', pump);
    pump();
    ctx.hold(res);
  },
  truncated: (ctx, req, res) => {
    raw(req, 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"token":"');
  },
  'trickle-once': (ctx, req, res) => once(ctx, req, res, () => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 3600 });
    ctx.every(res, 1000, () => res.write('a'));
  }),
  'silent-once': (ctx, req, res) => once(ctx, req, res, () => ctx.hold(res)),
  'hdr-trickle-once': (ctx, req, res) => once(ctx, req, res, () => {
    req.socket.write('HTTP/1.1 200 OK\r\nX-Slow: ');
    ctx.every(res, 1000, () => req.socket.write('a'));
  }),
  'huge-header': (ctx, req, res) => raw(req, `HTTP/1.1 200 OK\r\nX-Huge: ${'h'.repeat(256 * 1024)}\r\nContent-Length: 2\r\n\r\n{}`),
  'many-headers': (ctx, req, res) => {
    let h = 'HTTP/1.1 200 OK\r\n';
    for (let i = 0; i < 1000; i++) h += `X-H${i}: v\r\n`;
    raw(req, `${h}Content-Length: 2\r\n\r\n{}`);
  },
  'interim-flood': (ctx, req, res) => raw(req, `${'HTTP/1.1 100 Continue\r\n\r\n'.repeat(10000)}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}`),
  'redirect-loop': (ctx, req, res) => send(res, 302, '', { Location: req.url }),
  'redirect-evil': (ctx, req, res) => send(res, 307, '', { Location: 'http://127.0.0.2:1/steal' }),
  garbage: (ctx, req, res) => raw(req, Buffer.from('\x00\xff\xfeSSH-2.0-OpenSSH\r\n\r\n\x1b[2J', 'latin1')),
  'bad-status': (ctx, req, res) => raw(req, 'HTTP/1.1 2147483648 OK\r\nContent-Length: 2\r\n\r\n{}'),
  folded: (ctx, req, res) => raw(req, 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 2\r\n\r\n{}'),
  nested: (ctx, req, res) => send(res, 200, deep(NEST)),
  'nested-obj': (ctx, req, res) => send(res, 200, '{"a":'.repeat(NEST) + '1' + '}'.repeat(NEST)),
  empty: (ctx, req, res) => send(res, 200, ''),
  'not-json': (ctx, req, res) => send(res, 200, '<html><body>captive portal</body></html>', { 'Content-Type': 'application/json' }),
};

const blob = {
  'blob-props-overflow': { 'Content-Length': '18446744073709551616', ETag: '"0x1"', 'x-ms-blob-type': 'PageBlob' },
  'blob-props-noetag': { 'Content-Length': '512', 'x-ms-blob-type': 'PageBlob' },
};

const imds = {
  'imds-no-token': '{"expires_in":"3599","token_type":"Bearer"}',
  'imds-bad-expiry': '{"access_token":"eyJ0eXAiOiJKV1QifQ.e30.c2ln","expires_in":"99999999999999999999999","token_type":"Bearer"}',
  'imds-nested': `{"access_token":${deep(NEST)},"expires_in":"3599"}`,
};

async function content(ctx, req, res, mode) {
  const path = new URL(req.url, 'http://x').pathname;
  if (path === '/evil-certs') return send(res, 200, JSON.stringify({ keys: [ctx.attacker.jwk] }));
  if (path === '/evil.pem') return send(res, 200, `-----BEGIN CERTIFICATE-----\n${ctx.attacker.certDer.toString('base64')}\n-----END CERTIFICATE-----\n`);
  if (blob[mode] && req.method === 'HEAD') {
    res.writeHead(200, blob[mode]);
    return res.end();
  }
  const claim = /^blob-size-(PageBlob|BlockBlob|AppendBlob|Plain)-(\d+)$/.exec(mode);
  if (claim && req.method === 'HEAD') {
    const h = { 'Content-Length': claim[2], ETag: '"0x8DCLAIM"', 'Last-Modified': 'Tue, 01 Apr 2025 10:00:00 GMT' };
    if (claim[1] !== 'Plain') h['x-ms-blob-type'] = claim[1];
    res.writeHead(200, h);
    return res.end();
  }
  if (mode === 'blob-error-bomb') {
    const code = `AuthenticationFailed\x1b[31m${'\x07'.repeat(8)}${'E'.repeat(8192)}`;
    const bodyXml = `<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Error><Code>&b;</Code>${'<x>'.repeat(60000)}</Error>`;
    return raw(req, `HTTP/1.1 403 Forbidden\r\nx-ms-error-code: ${code}\r\nContent-Length: ${Buffer.byteLength(bodyXml)}\r\n\r\n${req.method === 'HEAD' ? '' : bodyXml}`);
  }
  if (imds[mode] && path.startsWith('/metadata/identity/')) return send(res, 200, imds[mode]);
  if (mode === 'hsm-value-nested' && path.endsWith('/release')) return send(res, 200, `{"value":${deep(NEST)}}`);
  const body = await readAll(req);
  if (!ctx.upstream) return send(res, 404, '{"error":"no upstream"}');
  if (claim) { // the pinned validators are ours, not the upstream's
    delete req.headers['if-match'];
    delete req.headers['if-unmodified-since'];
  }
  const up = await forward(ctx, req, body);
  let out = up.body;
  if (mode.startsWith('maa-') && path.startsWith('/attest/') && up.status === 200) {
    const j = JSON.parse(out);
    out = Buffer.from(JSON.stringify({ ...j, token: tamperMaa(mode, j.token, ctx) }));
  } else if (mode === 'blob-range-flip' && up.status === 206 && out.length > 0) {
    out = Buffer.from(out);
    out[out.length >> 1] ^= 1; // Content-MD5 left as it was
  } else if (mode === 'blob-range-shift' && up.status === 206) {
    up.headers['content-range'] = String(up.headers['content-range']).replace(/^bytes (\d+)-/, (m, a) => `bytes ${Number(a) + 512}-`);
  } else if (claim && up.status === 206) {
    up.headers['content-range'] = String(up.headers['content-range']).replace(/\/\d+$/, `/${claim[2]}`);
    up.headers.etag = '"0x8DCLAIM"';
    up.headers['last-modified'] = 'Tue, 01 Apr 2025 10:00:00 GMT';
    if (claim[1] === 'Plain') {
      for (const k of Object.keys(up.headers)) if (k.startsWith('x-ms-')) delete up.headers[k];
    } else {
      up.headers['x-ms-blob-type'] = claim[1];
    }
  } else if (mode.startsWith('hsm-') && path.endsWith('/release') && up.status === 200) {
    const j = JSON.parse(out);
    out = Buffer.from(JSON.stringify({ ...j, value: tamperHsm(mode, j.value, ctx) }));
  }
  const headers = { ...up.headers };
  if (req.method === 'HEAD') { // Content-Length describes the resource: keep it
    res.writeHead(up.status, headers);
    return res.end();
  }
  delete headers['content-length'];
  delete headers['transfer-encoding'];
  delete headers.connection;
  delete headers['keep-alive'];
  res.writeHead(up.status, { ...headers, 'Content-Length': out.length });
  res.end(out);
}

export async function startHostile({ host = '127.0.0.1', port = 0, upstream, upstreamCa } = {}) {
  const held = new Set();
  const ctx = {
    mode: 'pass', count: 0, port: 0, upstream, attacker: new Attacker(),
    upstreamCa: upstreamCa ? readFileSync(upstreamCa) : undefined,
    hold: (res) => {
      held.add(res);
      res.on('close', () => held.delete(res));
    },
    every: (res, ms, fn) => {
      const t = setInterval(fn, ms);
      held.add(res);
      res.on('close', () => {
        clearInterval(t);
        held.delete(res);
      });
    },
  };
  const onRequest = (req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/__hostile/mode') {
      ctx.mode = u.searchParams.get('m') ?? 'pass';
      ctx.method = u.searchParams.get('method') ?? undefined;
      ctx.count = 0;
      return send(res, 200, ctx.mode, { 'Content-Type': 'text/plain' });
    }
    if (u.pathname === '/__hostile/upstream') {
      ctx.upstream = u.searchParams.get('u') ?? undefined;
      return send(res, 200, String(ctx.upstream), { 'Content-Type': 'text/plain' });
    }
    if (u.pathname === '/__hostile/count') return send(res, 200, String(ctx.count), { 'Content-Type': 'text/plain' });
    if (u.pathname === '/ok') return send(res, 200, '{}');
    const mode = ctx.method && req.method !== ctx.method ? 'pass' : ctx.mode;
    ctx.count++;
    const t = transport[mode];
    Promise.resolve(t ? t(ctx, req, res) : content(ctx, req, res, mode)).catch((e) => {
      process.stderr.write(`[hostile] ${ctx.mode}: ${e.stack}\n`);
      if (!res.headersSent) send(res, 500, '{"error":"hostile server failed"}');
      else res.destroy();
    });
  };
  const srv = http.createServer({ maxHeaderSize: 64 * 1024 }, onRequest);
  srv.keepAliveTimeout = 1000;
  await new Promise((resolve) => srv.listen(port, host, resolve));
  ctx.port = srv.address().port;
  return {
    port: ctx.port,
    close: () => new Promise((resolve) => {
      for (const r of held) r.destroy();
      srv.closeAllConnections?.();
      srv.close(() => resolve());
    }),
  };
}

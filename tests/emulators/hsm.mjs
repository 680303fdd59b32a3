// SPDX-License-Identifier: MIT
//
// hsm.mjs - a local stand-in for Azure Managed HSM / Key Vault keys with Secure Key Release
// (docs/skr.md), loopback only, https with a certificate from a test CA made at start.
//
//   PUT  /keys/{name}                      import (oct, oct-HSM, RSA, RSA-HSM; "Hsm"/"hsm")
//   POST /keys/{name}/create               generate (oct-HSM 256, RSA-HSM 2048..4096)
//   GET  /keys/{name}[/{version}][/]       KeyBundle (no private parts)
//   POST /keys/{name}[/{version}]/release  {"target": MAA token, "enc", "nonce"}
//        -> 200 {"value": JWS RS256, x5c = [leaf, intermediate] from the test CA}
// Every request needs ?api-version and "Authorization: Bearer <token>"; without a token the
// answer is 401 with the WWW-Authenticate challenge of docs/skr.md, Endpoints and tokens (the SDKs
// start that way). Tokens are JWTs whose aud is the resource (default https://managedhsm.azure.net)
// and which have not expired; their signature is not checked (the IMDS stand-in is the only issuer
// in tests).
//
// Release follows the algorithm of docs/skr.md, The local stand-in: key enabled and exportable; the
// target token must come from one of the policy's authorities (iss, trailing slash ignored), be
// RS256-signed by a key from that authority's /certs (http allowed only to loopback) and be within
// exp/nbf; the policy's conditions (anyOf/allOf; equals, notEquals, exists; the
// {"condition","value"} form; values as strings, booleans case-insensitively) must hold. The key is
// wrapped for the first RSA key of x-ms-runtime.keys usable for encryption: OAEP (SHA-1/256/384 per
// enc) of a fresh AES-256 key, then RFC 5649 AES-KWP of the key material (raw for oct, PKCS#8 DER
// for RSA). Errors are Key Vault's JSON {"error":{"code","message"}}; a failed policy answers 403
// with a message naming each failed condition (the real service's wording is not known).

import crypto from 'node:crypto';
import { writeFileSync } from 'node:fs';
import https from 'node:https';

import { createTestCa } from './testca.mjs';
import { HttpError, readBody } from './httputil.mjs';

const ENCS = { CKM_RSA_AES_KEY_WRAP: 'sha1', RSA_AES_KEY_WRAP_256: 'sha256', RSA_AES_KEY_WRAP_384: 'sha384' };
const DEFAULT_ENC = 'CKM_RSA_AES_KEY_WRAP'; // inferred service default (docs/skr.md, Release)
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

const badParam = (m) => new HttpError(400, 'BadParameter', m);
const forbidden = (m) => new HttpError(403, 'Forbidden', m);

const b64url = (b) => Buffer.from(b).toString('base64url');
const unb64 = (s, what) => {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_+/-]*={0,2}$/.test(s)) throw badParam(`${what} is not base64`);
  return Buffer.from(s.replace(/\+/g, '-').replace(/\//g, '_'), 'base64url');
};
const trimSlash = (s) => String(s).replace(/\/+$/, '').toLowerCase();

function parseJson(buf, what) {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    throw badParam(`${what} is not valid JSON`);
  }
}

function decodeJwt(tok, what) {
  const parts = typeof tok === 'string' ? tok.split('.') : [];
  if (parts.length !== 3) throw badParam(`${what} is not a compact JWT`);
  return { header: parseJson(unb64(parts[0], what), what), payload: parseJson(unb64(parts[1], what), what), parts };
}

// ---- policies ----

function checkPolicyShape(p) {
  if (!p || typeof p !== 'object' || !Array.isArray(p.anyOf) || !p.anyOf.length)
    throw badParam('release_policy: anyOf must be a non-empty array');
  for (const a of p.anyOf)
    if (typeof a?.authority !== 'string' || !(Array.isArray(a.allOf) || Array.isArray(a.anyOf)))
      throw badParam('release_policy: each anyOf entry needs authority and allOf/anyOf');
}

function claimText(v) {
  if (v === undefined || v === null) return undefined;
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function sameValue(have, want) {
  if (/^(true|false)$/i.test(want)) return have.toLowerCase() === want.toLowerCase();
  return have === want;
}

// Returns a list of failure descriptions (empty = satisfied).
function evalCond(cond, claims) {
  if (Array.isArray(cond.anyOf)) {
    const subs = cond.anyOf.map((c) => evalCond(c, claims));
    return subs.some((f) => f.length === 0) ? [] : [`none of: ${subs.flat().join('; ')}`];
  }
  if (Array.isArray(cond.allOf)) return cond.allOf.flatMap((c) => evalCond(c, claims));
  const name = cond.claim;
  if (typeof name !== 'string') return ['condition without claim'];
  const have = claimText(claims[name]);
  let op = 'equals';
  let want = cond.equals;
  if (cond.condition !== undefined) [op, want] = [cond.condition, cond.value];
  else if (cond.notEquals !== undefined) [op, want] = ['notEquals', cond.notEquals];
  else if (cond.exists !== undefined) op = 'exists';
  if (op === 'exists') return have !== undefined ? [] : [`claim ${name} must exist`];
  want = claimText(want);
  if (want === undefined) return [`claim ${name}: no value`];
  const hit = have !== undefined && sameValue(have, want);
  if (op === 'equals' && hit) return [];
  if (op === 'notEquals' && have !== undefined && !hit) return [];
  if (op !== 'equals' && op !== 'notEquals') return [`claim ${name}: operator ${op} not supported`];
  return [`claim ${name} ${op === 'equals' ? 'must equal' : 'must not equal'} '${want}', token has ${have === undefined ? 'no such claim' : `'${have}'`}`];
}

async function fetchSigners(authority) {
  const u = new URL(`${trimSlash(authority)}/certs`);
  const loop = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loop))
    throw forbidden(`authority ${authority}: only https (or http on loopback) is allowed`);
  const res = await fetch(u, { signal: AbortSignal.timeout(10000) });
  if (!res.ok) throw forbidden(`authority ${authority}: /certs answered ${res.status}`);
  return (await res.json()).keys ?? [];
}

function jwkPublicKey(k) {
  if (Array.isArray(k.x5c) && k.x5c.length)
    return new crypto.X509Certificate(Buffer.from(k.x5c[0], 'base64')).publicKey;
  return crypto.createPublicKey({ key: { kty: 'RSA', n: k.n, e: k.e }, format: 'jwk' });
}

async function verifyTarget(target, authority) {
  const t = decodeJwt(target, 'target');
  if (trimSlash(t.payload.iss ?? '') !== trimSlash(authority))
    return { failures: [`authority ${authority} is not the token issuer ${t.payload.iss}`] };
  if (t.header.alg !== 'RS256') throw forbidden(`target: alg ${t.header.alg} is not RS256`);
  const keys = await fetchSigners(authority);
  const k = keys.find((x) => x.kid === t.header.kid);
  if (!k) throw forbidden(`target: no signing key ${t.header.kid} at ${authority}/certs`);
  const ok = crypto.verify('sha256', Buffer.from(`${t.parts[0]}.${t.parts[1]}`), jwkPublicKey(k), unb64(t.parts[2], 'signature'));
  if (!ok) throw forbidden('target: signature does not verify');
  const now = Math.floor(Date.now() / 1000);
  if (typeof t.payload.exp !== 'number' || now > t.payload.exp + 60) throw forbidden('target: token expired');
  if (typeof t.payload.nbf === 'number' && now + 60 < t.payload.nbf) throw forbidden('target: token not yet valid');
  return { claims: t.payload, failures: [] };
}

async function evaluatePolicy(policy, target) {
  const failures = [];
  for (const a of policy.anyOf) {
    const v = await verifyTarget(target, a.authority);
    if (v.failures.length) {
      failures.push(...v.failures);
      continue;
    }
    const f = a.allOf ? a.allOf.flatMap((c) => evalCond(c, v.claims)) : evalCond({ anyOf: a.anyOf }, v.claims);
    if (!f.length) return v.claims;
    failures.push(...f.map((x) => `${a.authority}: ${x}`));
  }
  throw forbidden(`Target environment attestation statement does not satisfy the key release policy: ${failures.join('; ')}`);
}

// ---- keys ----

function newVersion() {
  return crypto.randomBytes(16).toString('hex');
}

function parseImportKey(jwk) {
  if (!jwk || typeof jwk !== 'object') throw badParam('key is required');
  const kty = jwk.kty;
  if (kty === 'oct' || kty === 'oct-HSM') {
    const k = unb64(jwk.k, 'key.k');
    if (![16, 24, 32].includes(k.length)) throw badParam('oct key must be 128, 192 or 256 bits');
    return { kty: 'oct-HSM', raw: k };
  }
  if (kty === 'RSA' || kty === 'RSA-HSM') {
    for (const f of ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'])
      if (typeof jwk[f] !== 'string') throw badParam(`RSA key lacks ${f}`);
    const { n, e, d, p, q, dp, dq, qi } = jwk;
    try {
      const priv = crypto.createPrivateKey({ key: { kty: 'RSA', n, e, d, p, q, dp, dq, qi }, format: 'jwk' });
      return { kty: 'RSA-HSM', priv };
    } catch (err) {
      throw badParam(`RSA key does not parse: ${err.message}`);
    }
  }
  throw badParam(`kty ${kty} is not supported here`);
}

function parseReleasePolicy(rp, exportable) {
  if (!rp) {
    if (exportable) throw badParam('exportable keys need a release_policy');
    return null;
  }
  const data = unb64(rp.data, 'release_policy.data');
  const policy = parseJson(data, 'release_policy.data');
  checkPolicyShape(policy);
  const ct = rp.contentType ?? 'application/json; charset=utf-8';
  return { contentType: ct, data: b64url(data), immutable: rp.immutable === true || /immutable=true/.test(ct), policy };
}

function storeKey(ctx, name, material, body) {
  const attrs = body.attributes ?? {};
  const now = Math.floor(Date.now() / 1000);
  const exportable = attrs.exportable === true;
  const rp = parseReleasePolicy(body.release_policy, exportable);
  const version = newVersion();
  const key = {
    ...material, name, version, kid: `${ctx.base()}/keys/${name}/${version}`,
    key_ops: body.key?.key_ops ?? body.key_ops ?? ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
    attributes: { enabled: attrs.enabled !== false, created: now, updated: now, recoveryLevel: 'Recoverable+Purgeable', exportable },
    releasePolicy: rp, tags: body.tags,
  };
  const lower = name.toLowerCase();
  if (!ctx.keys.has(lower)) ctx.keys.set(lower, []);
  ctx.keys.get(lower).push(key);
  return key;
}

function bundle(key) {
  const k = { kid: key.kid, kty: key.kty, key_ops: key.key_ops };
  if (key.priv) {
    const j = key.priv.export({ format: 'jwk' });
    Object.assign(k, { n: j.n, e: j.e });
  }
  const out = { key: k, attributes: key.attributes };
  if (key.releasePolicy) {
    const { contentType, data, immutable } = key.releasePolicy;
    out.release_policy = { contentType, data, immutable };
  }
  if (key.tags) out.tags = key.tags;
  return out;
}

function findKey(ctx, name, version) {
  const versions = ctx.keys.get(name.toLowerCase());
  const key = versions && (version ? versions.find((k) => k.version === version) : versions.at(-1));
  if (!key) throw new HttpError(404, 'KeyNotFound', `A key with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault.`);
  return key;
}

// ---- release ----

function wrappingKey(claims) {
  const keys = claims['x-ms-runtime']?.keys;
  if (!Array.isArray(keys)) throw badParam('target has no x-ms-runtime.keys');
  const k = keys.find((x) => x?.kty === 'RSA' && ((Array.isArray(x.key_ops) && x.key_ops.includes('encrypt')) || x.use === 'enc'));
  if (!k) throw badParam('target has no RSA key usable for encryption in x-ms-runtime.keys');
  return { kid: k.kid, pub: crypto.createPublicKey({ key: { kty: 'RSA', n: k.n, e: k.e }, format: 'jwk' }) };
}

export function wrapForRelease(pub, enc, material) {
  const kaes = crypto.randomBytes(32);
  const head = crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: ENCS[enc] }, kaes);
  const c = crypto.createCipheriv('id-aes256-wrap-pad', kaes, Buffer.from('A65959A6', 'hex'));
  const tail = Buffer.concat([c.update(material), c.final()]);
  return Buffer.concat([head, tail]);
}

function signJws(ctx, payload) {
  const leaf = ctx.signer;
  const header = {
    alg: 'RS256', kid: ctx.signerKid,
    x5c: leaf.chain.map((d) => d.toString('base64')),
    'x5t#S256': b64url(crypto.createHash('sha256').update(leaf.chain[0]).digest()),
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(crypto.sign('sha256', Buffer.from(input), leaf.key))}`;
}

async function release(ctx, name, version, body, apiVersion) {
  const key = findKey(ctx, name, version);
  if (!key.attributes.enabled) throw forbidden('Operation release is not allowed on a disabled key.');
  if (!key.attributes.exportable || !key.releasePolicy) throw forbidden('Key is not exportable.');
  if (typeof body.target !== 'string') throw badParam('target is required');
  const enc = body.enc ?? DEFAULT_ENC;
  if (!ENCS[enc]) throw badParam(`enc ${enc} is not supported`);
  if (ctx.opts.failRelease > 0) {
    ctx.opts.failRelease--;
    throw new HttpError(503, 'ServiceUnavailable', 'The service is temporarily unavailable (injected).');
  }
  const claims = await evaluatePolicy(key.releasePolicy.policy, body.target);
  const wk = wrappingKey(claims);
  const material = key.raw ?? key.priv.export({ type: 'pkcs8', format: 'der' });
  const keyHsm = { schema_version: '1.0', header: { kid: wk.kid, alg: 'dir', enc }, ciphertext: b64url(wrapForRelease(wk.pub, enc, material)) };
  const request = { 'api-version': apiVersion, enc, kid: key.kid };
  if (body.nonce !== undefined) request.nonce = body.nonce;
  const b = bundle(key);
  b.key.key_hsm = b64url(JSON.stringify(keyHsm));
  return { value: signJws(ctx, { request, response: { key: b } }) };
}

// ---- HTTP ----

function challenge(ctx) {
  return `Bearer authorization="https://login.microsoftonline.com/${TENANT}", resource="${ctx.opts.resource}"`;
}

// The bearer token: a JWT for our resource that has not expired.
function checkBearer(ctx, req) {
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  const fail = (msg) => Object.assign(new HttpError(401, 'Unauthorized', msg), { challenge: challenge(ctx) });
  if (!m) throw fail('AKV10000: Request is missing a Bearer or PoP token.');
  let p;
  try {
    p = decodeJwt(m[1], 'bearer token').payload;
  } catch {
    throw fail('AKV10022: Invalid audience or malformed token.');
  }
  const auds = [].concat(p.aud ?? []).map(trimSlash);
  if (!auds.includes(trimSlash(ctx.opts.resource))) throw fail(`AKV10022: Invalid audience. Expected ${ctx.opts.resource}, found: ${p.aud}.`);
  if (typeof p.exp !== 'number' || p.exp < Date.now() / 1000) throw fail('AKV10032: Invalid issuer or token expired.');
}

async function route(ctx, req, url) {
  const apiVersion = url.searchParams.get('api-version');
  if (!apiVersion) throw badParam('The api-version query parameter is required');
  const p = url.pathname;
  const body = await readBody(req);
  checkBearer(ctx, req);
  const json = () => (body.length ? parseJson(body, 'request body') : {});
  let m;
  if ((m = /^\/keys\/([0-9A-Za-z-]{1,127})(?:\/([0-9a-f]{32})?)?\/release$/.exec(p))) {
    if (req.method !== 'POST') throw new HttpError(405, 'MethodNotAllowed', 'use POST');
    return { status: 200, body: await release(ctx, m[1], m[2], json(), apiVersion) };
  }
  if ((m = /^\/keys\/([0-9A-Za-z-]{1,127})\/create$/.exec(p)) && req.method === 'POST') {
    const b = json();
    let material;
    if (b.kty === 'oct-HSM' || b.kty === 'oct') material = { kty: 'oct-HSM', raw: crypto.randomBytes((b.key_size ?? 256) / 8) };
    else if (b.kty === 'RSA-HSM' || b.kty === 'RSA') material = { kty: 'RSA-HSM', priv: crypto.generateKeyPairSync('rsa', { modulusLength: b.key_size ?? 2048 }).privateKey };
    else throw badParam(`kty ${b.kty} is not supported here`);
    return { status: 200, body: bundle(storeKey(ctx, m[1], material, b)) };
  }
  if ((m = /^\/keys\/([0-9A-Za-z-]{1,127})(?:\/([0-9a-f]{32}))?\/?$/.exec(p))) {
    if (req.method === 'GET') {
      if (ctx.opts.denyGet) throw forbidden('Caller is not authorized to perform action on resource (keys/read).');
      return { status: 200, body: bundle(findKey(ctx, m[1], m[2])) };
    }
    if (req.method === 'PUT' && !m[2]) {
      const b = json();
      if (b.Hsm === false || b.hsm === false) throw badParam('only HSM-protected keys are supported here');
      return { status: 200, body: bundle(storeKey(ctx, m[1], parseImportKey(b.key), b)) };
    }
    throw new HttpError(405, 'MethodNotAllowed', `${req.method} is not allowed here`);
  }
  throw new HttpError(404, 'NotFound', `no route for ${req.method} ${p}`);
}

function send(res, status, obj, headers = {}) {
  const buf = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': buf.length, 'x-ms-request-id': crypto.randomUUID(), ...headers });
  res.end(buf);
}

// Start the stand-in. Options: host ('127.0.0.1'), port (0 = free), resource (the bearer
// audience, default https://managedhsm.azure.net), caOut (file to write the test root CA to),
// names (extra DNS names for the TLS and signing certificates besides localhost/127.0.0.1),
// failRelease (answer the first N release calls with 503), rogueSigner (sign release JWSs
// under another, untrusted CA), signerName (the JWS certificate names this host instead of
// localhost), denyGet (GET /keys answers 403, as for a release-only role). Resolves to {port, base, caPem,
// ca, close()}; base is https://localhost:PORT, the name the certificates carry.
export async function startHsm(opts = {}) {
  const host = opts.host ?? '127.0.0.1';
  const ca = createTestCa('sealmount HSM stand-in');
  const names = ['localhost', '127.0.0.1', ...(opts.names ?? [])];
  const tls = ca.issueLeaf('localhost', names);
  // Negative tests: a signing certificate from a CA nobody trusts, or naming another host.
  const signerCa = opts.rogueSigner ? createTestCa('rogue') : ca;
  const signerNames = opts.signerName ? [opts.signerName] : names.filter((n) => !/^[0-9.]+$/.test(n));
  const signer = signerCa.issueLeaf(signerNames[0], signerNames);
  const ctx = {
    opts: { resource: 'https://managedhsm.azure.net', failRelease: 0, ...opts },
    keys: new Map(), signer,
    signerKid: crypto.createHash('sha256').update(signer.chain[0]).digest('hex'),
    port: 0,
  };
  ctx.base = () => `https://localhost:${ctx.port}`;
  if (opts.caOut) writeFileSync(opts.caOut, ca.rootPem);
  const onRequest = async (req, res) => {
    try {
      const url = new URL(req.url, 'https://x');
      const out = await route(ctx, req, url);
      send(res, out.status, out.body);
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      if (!(e instanceof HttpError)) process.stderr.write(`[hsm] internal error: ${e.stack}\n`);
      if (!res.headersSent && !res.destroyed)
        send(res, status, { error: { code: e.code ?? 'InternalError', message: e.message } },
          e.challenge ? { 'WWW-Authenticate': e.challenge } : {});
    }
  };
  const keyPem = tls.key.export({ type: 'pkcs8', format: 'pem' });
  const certPem = tls.chain.map((d) => `-----BEGIN CERTIFICATE-----\n${d.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`).join('');
  const server = https.createServer({ key: keyPem, cert: certPem }, onRequest);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, resolve);
  });
  ctx.port = server.address().port;
  const close = () => new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
  return { port: ctx.port, base: ctx.base(), caPem: ca.rootPem, ca, close };
}

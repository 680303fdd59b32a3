// SPDX-License-Identifier: MIT
//
// maa.mjs - a local stand-in for Microsoft Azure Attestation (SEV-SNP only), loopback only.
//
//   POST /attest/SevSnpVm?api-version=2020-10-01|2022-08-01|2025-06-01
//        body {"report": b64url(JSON{"SnpReport","VcekCertChain"[,"Endorsements"]}),
//              "runtimeData": {"data","dataType"}, ["initTimeData"], ["nonce"]}
//        -> 200 {"token": JWT}; bad input -> 400 {"error":{"code","message"}}
//   GET  /certs                              -> {"keys":[{"kid","kty":"RSA","x5c":[...]}]}
//   GET  /.well-known/openid-configuration   -> OpenID metadata (snake_case, as the service)
//
// What is checked (docs/maa.md, The local stand-in): the report's ECDSA P-384 signature with the
// VCEK from the request; VCEK <- ASK <- ARK with the ARK among the trust roots (AMD's Milan/Genoa
// ARKs from src/attest/amd_roots.c unless disabled, plus --trust-root files); the VCEK's hwID and
// TCB SPLs against the report; REPORT_DATA == SHA-256(runtimeData) || 0^32; HOST_DATA ==
// SHA-256(initTimeData) when that is sent. Tokens carry the real claim names (docs/maa.md, Claims)
// and are RS256-signed with a key whose self-signed certificate is published at /certs.
//
// Error codes in the error JSON are our choice ("InvalidParameter" for malformed requests,
// "AttestationFailed" for evidence that does not verify): Microsoft's exact codes are unverified.

import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

import {
  EvidenceError, builtinAmdRoots, isTurin, parseReport, pemCerts, selfSignedCert, splitTcb,
  verifyChain, verifyReportSignature,
} from './snp-verify.mjs';
import { HttpError, readBody } from './httputil.mjs';

const API_VERSIONS = new Set(['2020-10-01', '2022-08-01', '2025-06-01']);
const DEFAULT_POLICY = 'version=1.0; authorizationrules{=> permit();}; issuancerules{};';

const bad = (msg) => new HttpError(400, 'InvalidParameter', msg);

const b64url = (b) => Buffer.from(b).toString('base64url');
const hex = (b) => Buffer.from(b).toString('hex');

// Strict base64url (padding optional: Microsoft's Go client pads, the SDKs do not).
function unb64url(s, what) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*={0,2}$/.test(s)) throw bad(`${what} is not base64url`);
  return Buffer.from(s, 'base64url');
}

function parseJsonObject(buf, what) {
  let v;
  try {
    v = JSON.parse(Buffer.isBuffer(buf) ? buf.toString('utf8') : buf);
  } catch {
    throw bad(`${what} is not valid JSON`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad(`${what} is not a JSON object`);
  return v;
}

// {"data": b64url, "dataType": "JSON"|"Binary"}; an empty {"data":"","dataType":""} (what
// Microsoft's Go sidecar sends for initTimeData) counts as absent.
function parseData(v, what) {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || typeof v.data !== 'string') throw bad(`${what}.data is missing`);
  if (v.data === '' && !v.dataType) return null;
  const bytes = unb64url(v.data, `${what}.data`);
  if (v.dataType !== 'JSON' && v.dataType !== 'Binary') throw bad(`${what}.dataType must be JSON or Binary`);
  return { bytes, json: v.dataType === 'JSON' ? parseJsonObject(bytes, what) : null };
}

function parseRequest(body) {
  const req = parseJsonObject(body, 'request body');
  const blob = parseJsonObject(unb64url(req.report, 'report'), 'report');
  if (typeof blob.SnpReport !== 'string' || typeof blob.VcekCertChain !== 'string')
    throw bad('report must hold SnpReport and VcekCertChain');
  const out = {
    report: unb64url(blob.SnpReport, 'SnpReport'),
    chainPem: unb64url(blob.VcekCertChain, 'VcekCertChain').toString('utf8'),
    uvm: [],
    runtime: parseData(req.runtimeData, 'runtimeData'),
    inittime: parseData(req.initTimeData, 'initTimeData'),
    nonce: req.nonce,
  };
  if (blob.Endorsements !== undefined) {
    const e = parseJsonObject(unb64url(blob.Endorsements, 'Endorsements'), 'Endorsements');
    if (e.Uvm !== undefined && !Array.isArray(e.Uvm)) throw bad('Endorsements.Uvm must be an array');
    out.uvm = (e.Uvm ?? []).map((u) => unb64url(u, 'Endorsements.Uvm[]'));
  }
  if (out.nonce !== undefined && typeof out.nonce !== 'string' && typeof out.nonce !== 'number')
    throw bad('nonce must be a string');
  return out;
}

// Evidence checks; returns the parsed report. Throws 400 AttestationFailed on failure.
function verifyEvidence(r, trustRoots) {
  try {
    const rep = parseReport(r.report);
    const certs = pemCerts(r.chainPem);
    const { vcek } = verifyChain(certs, trustRoots, rep);
    verifyReportSignature(rep, vcek);
    // Without runtimeData there is nothing to bind: REPORT_DATA is then only reported.
    const zero = Buffer.alloc(32);
    const want = r.runtime && crypto.createHash('sha256').update(r.runtime.bytes).digest();
    if (want && (!rep.reportData.subarray(0, 32).equals(want) || !rep.reportData.subarray(32).equals(zero)))
      throw new EvidenceError('REPORT_DATA does not equal SHA-256(runtimeData) followed by 32 zero bytes');
    if (r.inittime && !rep.hostData.equals(crypto.createHash('sha256').update(r.inittime.bytes).digest()))
      throw new EvidenceError('HOST_DATA does not equal SHA-256(initTimeData)');
    return rep;
  } catch (e) {
    if (e instanceof EvidenceError) throw new HttpError(400, 'AttestationFailed', e.message);
    throw e;
  }
}

function snpClaims(rep) {
  const tcb = splitTcb(rep.reportedTcb, isTurin(rep));
  const bit = (n) => (rep.policy & (1n << BigInt(n))) !== 0n;
  return {
    'x-ms-sevsnpvm-authorkeydigest': hex(rep.authorKeyDigest),
    'x-ms-sevsnpvm-bootloader-svn': tcb.bootloader,
    'x-ms-sevsnpvm-familyId': hex(rep.familyId),
    'x-ms-sevsnpvm-guestsvn': rep.guestSvn,
    'x-ms-sevsnpvm-hostdata': hex(rep.hostData),
    'x-ms-sevsnpvm-idkeydigest': hex(rep.idKeyDigest),
    'x-ms-sevsnpvm-imageId': hex(rep.imageId),
    'x-ms-sevsnpvm-is-debuggable': bit(19),
    'x-ms-sevsnpvm-launchmeasurement': hex(rep.measurement),
    'x-ms-sevsnpvm-microcode-svn': tcb.microcode,
    'x-ms-sevsnpvm-migration-allowed': bit(18),
    'x-ms-sevsnpvm-reportdata': hex(rep.reportData),
    'x-ms-sevsnpvm-reportid': hex(rep.reportId),
    'x-ms-sevsnpvm-smt-allowed': bit(16),
    'x-ms-sevsnpvm-snpfw-svn': tcb.snp,
    'x-ms-sevsnpvm-tee-svn': tcb.tee,
    'x-ms-sevsnpvm-vmpl': rep.vmpl,
  };
}

class Signer {
  constructor(issuer, keyPem) {
    this.key = keyPem
      ? crypto.createPrivateKey(keyPem)
      : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    this.certDer = selfSignedCert(this.key, issuer);
    // Like the service: the kid is standard base64 of a SHA-256 over the certificate.
    this.kid = crypto.createHash('sha256').update(this.certDer).digest('base64');
  }

  jwk() {
    return { kid: this.kid, kty: 'RSA', x5c: [this.certDer.toString('base64')] };
  }

  sign(issuer, claims) {
    const header = { alg: 'RS256', jku: `${issuer}/certs`, kid: this.kid, typ: 'JWT', x5c: this.jwk().x5c };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return `${input}.${b64url(crypto.sign('sha256', Buffer.from(input), this.key))}`;
  }
}

function makeClaims(opts, issuer, r, rep) {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    exp: now + opts.lifetime,
    iat: now,
    iss: issuer,
    jti: hex(crypto.randomBytes(32)),
    nbf: now,
  };
  if (r.nonce !== undefined) claims.nonce = String(r.nonce);
  claims['x-ms-attestation-type'] = 'sevsnpvm';
  const compliance = opts.complianceStatus ??
    (r.uvm.length && !snpClaims(rep)['x-ms-sevsnpvm-is-debuggable'] ? 'azure-compliant-uvm' : null);
  if (compliance) claims['x-ms-compliance-status'] = compliance;
  claims['x-ms-policy-hash'] = b64url(crypto.createHash('sha256').update(DEFAULT_POLICY).digest());
  if (r.inittime?.json) claims['x-ms-inittime'] = r.inittime.json;
  if (r.runtime?.json) claims['x-ms-runtime'] = r.runtime.json;
  Object.assign(claims, snpClaims(rep));
  claims['x-ms-ver'] = '1.0';
  return claims;
}

function sendJson(res, status, obj, requestId) {
  const buf = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': buf.length, 'x-ms-request-id': requestId });
  res.end(buf);
}

async function handle(ctx, req, res) {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname.toLowerCase();
  if (req.method === 'GET' && p === '/certs') return { status: 200, body: { keys: [ctx.signer.jwk()] } };
  if (req.method === 'GET' && p === '/.well-known/openid-configuration') {
    return {
      status: 200,
      body: {
        claims_supported: ['iss', 'exp', 'iat', 'nbf', 'jti', 'nonce', 'x-ms-ver', 'x-ms-attestation-type', 'x-ms-runtime'],
        id_token_signing_alg_values_supported: ['RS256'],
        issuer: ctx.issuer(),
        jwks_uri: `${ctx.issuer()}/certs`,
        response_types_supported: ['token', 'none'],
        revocation_endpoint: `${ctx.issuer()}/revocations`,
      },
    };
  }
  if (p !== '/attest/sevsnpvm') throw new HttpError(404, 'NotFound', `no route for ${req.method} ${url.pathname}`);
  if (req.method !== 'POST') throw new HttpError(405, 'MethodNotAllowed', 'use POST');
  const v = url.searchParams.get('api-version');
  if (!v) throw new HttpError(400, 'MissingApiVersionParameter', 'The api-version query parameter is required');
  if (!API_VERSIONS.has(v)) throw new HttpError(400, 'InvalidApiVersionParameter', `api-version ${v} is not supported`);
  const r = parseRequest(await readBody(req));
  const rep = verifyEvidence(r, ctx.trustRoots);
  return { status: 200, body: { token: ctx.signer.sign(ctx.issuer(), makeClaims(ctx.opts, ctx.issuer(), r, rep)) } };
}

function loadRoots(opts) {
  const roots = opts.amdRoots === false ? [] : builtinAmdRoots();
  for (const f of opts.trustRoots ?? []) {
    const certs = pemCerts(readFileSync(f, 'utf8'));
    if (!certs.length) throw new Error(`${f}: no certificate`);
    roots.push(...certs);
  }
  return roots;
}

// Start the stand-in. Options: host ('127.0.0.1'), port (0 = free), tls {cert, key} file names,
// trustRoots [PEM files], amdRoots (default true), issuerHost (host name used in iss, e.g.
// 'localhost' to match a TLS certificate; default host), lifetime (s, default 28800),
// complianceStatus (forces x-ms-compliance-status), signingKeyPem, issuer (the whole iss URL, for
// a stand-in reached through a proxy; overrides issuerHost).
// Resolves to {port, scheme, issuer, signer, close()}.
export async function startMaa(opts = {}) {
  const host = opts.host ?? '127.0.0.1';
  const scheme = opts.tls ? 'https' : 'http';
  const ctx = { opts: { ...opts, lifetime: opts.lifetime ?? 28800 }, trustRoots: loadRoots(opts), port: 0 };
  ctx.issuer = () => opts.issuer ?? `${scheme}://${opts.issuerHost ?? host}:${ctx.port}`;
  const onRequest = async (req, res) => {
    const id = crypto.randomUUID();
    try {
      const out = await handle(ctx, req, res);
      sendJson(res, out.status, out.body, id);
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      if (!(e instanceof HttpError)) process.stderr.write(`[maa] internal error: ${e.stack}\n`);
      if (!res.headersSent && !res.destroyed)
        sendJson(res, status, { error: { code: e.code ?? 'InternalError', message: e.message } }, id);
    }
  };
  const server = opts.tls
    ? https.createServer({ cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) }, onRequest)
    : http.createServer(onRequest);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, resolve);
  });
  ctx.port = server.address().port;
  // The certificate names the issuer, so it is made once the port is known.
  ctx.signer = new Signer(ctx.issuer(), opts.signingKeyPem);
  const close = () => new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
  return { port: ctx.port, scheme, issuer: ctx.issuer(), signer: ctx.signer, close };
}

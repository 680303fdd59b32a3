// SPDX-License-Identifier: MIT
//
// imds.mjs - a local stand-in for the Azure Instance Metadata Service (docs/imds.md),
// loopback only, plain http as the real one:
//
//   GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=R[&client_id=C]
//       header "Metadata: true" -> 200 {"access_token", "expires_in", "expires_on", "not_before",
//       "resource", "token_type":"Bearer", "client_id", ...} (numbers as strings, as IMDS sends)
//   GET /metadata/THIM/amd/certification  ("Metadata: true") -> the THIM JSON file given with
//       thimFile, else 404
//
// It also plays Entra ID for AKS workload identity (client credentials with a federated token):
//   POST /{tenant}/oauth2/v2.0/token  (application/x-www-form-urlencoded: client_id,
//        grant_type=client_credentials, scope={resource}/.default,
//        client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer,
//        client_assertion) -> 200 {"token_type":"Bearer","expires_in":N,"access_token"}
//        (expires_in a number there); errors {"error","error_description"} with AADSTS-like text.
// The assertion must be a JWT and, when federatedToken is set, exactly that token.
//
// Tokens are RS256 JWTs signed with a key made at start-up: aud = resource, appid = the
// identity's client id, exp = now + the lifetime for that resource. A client_id that is not one
// of the configured user-assigned identities gets 400 "Identity not found"; without client_id the
// system-assigned identity answers (unless disabled). failFirst makes the first N token requests
// answer 500 "Received invalid token. Please try again." as ACI's managed-identity endpoint does
// (Microsoft's PR #230). Error bodies are {"error","error_description"}; the exact descriptions of
// the real service are unverified.

import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const SYSTEM_ID = '5b1f2c7e-0000-4000-8000-5e5a1face001';

const b64url = (b) => Buffer.from(b).toString('base64url');

function send(res, status, obj) {
  const buf = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': buf.length });
  res.end(buf);
}

const err = (status, error, description) => ({ status, body: { error, error_description: description } });

function lifetimeFor(opts, resource) {
  const norm = (s) => s.replace(/\/+$/, '').toLowerCase();
  for (const [r, s] of Object.entries(opts.lifetimes ?? {})) if (norm(r) === norm(resource)) return s;
  return opts.lifetime ?? 3600;
}

function token(ctx, resource, clientId) {
  const now = Math.floor(Date.now() / 1000);
  const life = lifetimeFor(ctx.opts, resource);
  const claims = {
    aud: resource, iss: `https://sts.windows.net/${TENANT}/`, iat: now, nbf: now, exp: now + life,
    appid: clientId, oid: crypto.createHash('sha256').update(clientId).digest('hex').slice(0, 32),
    tid: TENANT, sub: clientId,
  };
  const header = { alg: 'RS256', typ: 'JWT', kid: ctx.kid };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const access = `${input}.${b64url(crypto.sign('sha256', Buffer.from(input), ctx.key))}`;
  ctx.issued.push({ resource, clientId, exp: claims.exp });
  return {
    access_token: access, refresh_token: '', expires_in: String(life), expires_on: String(claims.exp),
    ext_expires_in: String(life), not_before: String(now), resource, token_type: 'Bearer', client_id: clientId,
  };
}

function workloadIdentity(ctx, m, body) {
  const f = new URLSearchParams(body.toString('utf8'));
  if (f.get('grant_type') !== 'client_credentials') return err(400, 'unsupported_grant_type', 'AADSTS70003: grant_type must be client_credentials');
  if (f.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
    return err(400, 'invalid_request', 'AADSTS700024: client_assertion_type must be jwt-bearer');
  const a = f.get('client_assertion') ?? '';
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(a)) return err(400, 'invalid_client', 'AADSTS50027: client_assertion is not a JWT');
  if (ctx.opts.federatedToken !== undefined && a !== ctx.opts.federatedToken)
    return err(401, 'invalid_client', 'AADSTS700213: No matching federated identity record found for presented assertion');
  const clientId = f.get('client_id');
  if (!(ctx.opts.clientIds ?? []).includes(clientId)) return err(400, 'unauthorized_client', `AADSTS700016: Application with identifier '${clientId}' was not found in the directory '${m[1]}'`);
  const scope = f.get('scope') ?? '';
  if (!scope.endsWith('/.default')) return err(400, 'invalid_scope', 'AADSTS70011: scope must be RESOURCE/.default');
  const t = token(ctx, scope.slice(0, -'/.default'.length), clientId);
  return { status: 200, body: { token_type: 'Bearer', expires_in: Number(t.expires_in), ext_expires_in: Number(t.expires_in), access_token: t.access_token } };
}

function handle(ctx, req, body) {
  const url = new URL(req.url, 'http://x');
  const wid = /^\/([0-9A-Za-z.-]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname);
  if (wid && req.method === 'POST') return workloadIdentity(ctx, wid, body);
  if (req.method !== 'GET') return err(405, 'method_not_allowed', 'Only GET is allowed');
  if (url.pathname === '/ok') return { status: 200, body: { ok: true } };
  if (String(req.headers.metadata).toLowerCase() !== 'true')
    return err(400, 'invalid_request', 'Required metadata header not specified');
  if (url.pathname === '/metadata/THIM/amd/certification') {
    if (!ctx.opts.thimFile) return err(404, 'not_found', 'No THIM certification on this host');
    return { status: 200, raw: readFileSync(ctx.opts.thimFile) };
  }
  if (url.pathname !== '/metadata/identity/oauth2/token') return err(404, 'not_found', `no route for ${url.pathname}`);
  if (!url.searchParams.get('api-version')) return err(400, 'invalid_request', 'Required query variable \'api-version\' is missing');
  const resource = url.searchParams.get('resource');
  if (!resource) return err(400, 'invalid_request', 'Required query variable \'resource\' is missing');
  if (ctx.opts.failFirst > 0) {
    ctx.opts.failFirst--;
    return err(500, 'invalid_request', 'Received invalid token. Please try again.');
  }
  const clientId = url.searchParams.get('client_id');
  if (clientId !== null && !(ctx.opts.clientIds ?? []).includes(clientId))
    return err(400, 'invalid_request', 'Identity not found');
  if (clientId === null && ctx.opts.noSystemIdentity)
    return err(400, 'invalid_request', 'Identity not found');
  return { status: 200, body: token(ctx, resource, clientId ?? SYSTEM_ID) };
}

// Start the stand-in. Options: host ('127.0.0.1'), port (0 = free), lifetime (s, default 3600),
// lifetimes {resource: seconds}, clientIds [user-assigned identities], noSystemIdentity,
// failFirst (N), thimFile, federatedToken (the only assertion accepted). Resolves to {port, issued (list of tokens handed out), close()}.
export async function startImds(opts = {}) {
  const host = opts.host ?? '127.0.0.1';
  const key = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ctx = { opts: { failFirst: 0, ...opts }, key, kid: crypto.randomBytes(8).toString('hex'), issued: [] };
  const server = http.createServer((req, res) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      try {
        const out = handle(ctx, req, Buffer.concat(parts));
        process.stderr.write(`[imds] ${req.method} ${req.url.replace(/\?.*/, '')} -> ${out.status}\n`);
        if (out.raw) {
          res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': out.raw.length });
          res.end(out.raw);
        } else send(res, out.status, out.body);
      } catch (e) {
        process.stderr.write(`[imds] internal error: ${e.stack}\n`);
        send(res, 500, { error: 'server_error', error_description: e.message });
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, resolve);
  });
  const close = () => new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
  return { port: server.address().port, issued: ctx.issued, close };
}

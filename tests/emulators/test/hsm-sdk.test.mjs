// SPDX-License-Identifier: MIT
//
// Drive the Managed HSM stand-in (and the IMDS stand-in for the bearer token) with Microsoft's
// official client @azure/keyvault-keys: importKey, getKey and releaseKey, for oct-HSM and RSA-HSM
// keys and each `enc`. The release JWS is then checked the way a client must (x5c chain to the
// stand-in's CA, host name, RS256) and the key unwrapped (OAEP + RFC 5649) back to what was
// imported - so the stand-in provably speaks the service's protocol, not just our C client's.
//
//   node --test tests/emulators/test/
//
// The target token comes from a minimal attestation authority run here (a /certs endpoint and
// RS256 tokens with MAA's claim names), which keeps this test independent of SNP evidence.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { after, before, test } from 'node:test';

import { KeyClient } from '@azure/keyvault-keys';

import { startHsm } from '../hsm.mjs';
import { startImds } from '../imds.mjs';

const b64url = (b) => Buffer.from(b).toString('base64url');
const HOSTDATA = 'ab'.repeat(32);
const OAEP = { CKM_RSA_AES_KEY_WRAP: 'sha1', RSA_AES_KEY_WRAP_256: 'sha256', RSA_AES_KEY_WRAP_384: 'sha384' };

let hsm, imds, authority, client;
const signer = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const runtime = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

// A tiny attestation authority: GET /certs.
function startAuthority() {
  const jwk = crypto.createPublicKey(signer).export({ format: 'jwk' });
  const server = http.createServer((req, res) => {
    const body = JSON.stringify({ keys: [{ kid: 'k1', kty: 'RSA', n: jwk.n, e: jwk.e }] });
    res.writeHead(req.url === '/certs' ? 200 : 404, { 'Content-Type': 'application/json' });
    res.end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  })));
}

function maaToken(claims) {
  const now = Math.floor(Date.now() / 1000);
  const pub = crypto.createPublicKey(runtime).export({ format: 'jwk' });
  const payload = {
    iss: authority.url, iat: now, nbf: now, exp: now + 600, 'x-ms-attestation-type': 'sevsnpvm',
    'x-ms-compliance-status': 'azure-compliant-uvm', 'x-ms-sevsnpvm-hostdata': HOSTDATA,
    'x-ms-sevsnpvm-is-debuggable': false, 'x-ms-sevsnpvm-vmpl': 0,
    'x-ms-runtime': { keys: [{ e: pub.e, key_ops: ['encrypt'], kid: 'rt', kty: 'RSA', n: pub.n }] },
    ...claims,
  };
  const input = `${b64url(JSON.stringify({ alg: 'RS256', kid: 'k1', typ: 'JWT' }))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(crypto.sign('sha256', Buffer.from(input), signer))}`;
}

function policy() {
  return {
    version: '1.0.0',
    anyOf: [{ authority: `${authority.url}/`, allOf: [
      { claim: 'x-ms-sevsnpvm-hostdata', equals: HOSTDATA },
      { claim: 'x-ms-compliance-status', equals: 'azure-compliant-uvm' },
      { claim: 'x-ms-sevsnpvm-is-debuggable', equals: 'false' },
      { claim: 'x-ms-sevsnpvm-vmpl', equals: '0' },
    ] }],
  };
}

// A credential that asks the IMDS stand-in, as a managed identity would.
const imdsCredential = {
  async getToken(scopes) {
    const resource = [].concat(scopes)[0].replace(/\/\.default$/, '');
    const u = `http://127.0.0.1:${imds.port}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(resource)}`;
    const r = await (await fetch(u, { headers: { Metadata: 'true' } })).json();
    return { token: r.access_token, expiresOnTimestamp: Number(r.expires_on) * 1000 };
  },
};

// Verify the release JWS as our C client does and return its payload.
function verifyJws(jws) {
  const [h, p, s] = jws.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  assert.equal(header.alg, 'RS256');
  const chain = header.x5c.map((c) => new crypto.X509Certificate(Buffer.from(c, 'base64')));
  const root = new crypto.X509Certificate(hsm.caPem);
  assert.ok(chain[0].verify(chain[1].publicKey), 'leaf signed by the intermediate');
  assert.ok(chain[1].verify(root.publicKey), 'intermediate signed by the root');
  assert.equal(chain[0].checkHost('localhost'), 'localhost');
  assert.ok(crypto.verify('sha256', Buffer.from(`${h}.${p}`), chain[0].publicKey, Buffer.from(s, 'base64url')));
  return JSON.parse(Buffer.from(p, 'base64url'));
}

function unwrap(payload) {
  const kh = JSON.parse(Buffer.from(payload.response.key.key.key_hsm, 'base64url'));
  const ct = Buffer.from(kh.ciphertext, 'base64url');
  const kek = crypto.privateDecrypt({ key: runtime, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP[payload.request.enc] }, ct.subarray(0, 256));
  const d = crypto.createDecipheriv(`id-aes${kek.length * 8}-wrap-pad`, kek, Buffer.from('A65959A6', 'hex'));
  return Buffer.concat([d.update(ct.subarray(256)), d.final()]);
}

before(async () => {
  hsm = await startHsm();
  imds = await startImds();
  authority = await startAuthority();
  client = new KeyClient(hsm.base, imdsCredential, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: hsm.caPem },
    retryOptions: { maxRetries: 0 },
  });
});

after(async () => {
  await hsm?.close();
  await imds?.close();
  await authority?.close();
});

test('importKey + getKey + releaseKey of an oct-HSM key, each enc', async () => {
  const raw = crypto.randomBytes(32);
  const imported = await client.importKey('sdk-oct', { kty: 'oct-HSM', k: raw, keyOps: ['encrypt', 'decrypt'] }, {
    exportable: true, hardwareProtected: true,
    releasePolicy: { encodedPolicy: Buffer.from(JSON.stringify(policy())) },
  });
  assert.equal(imported.keyType, 'oct-HSM');
  assert.equal(imported.properties.exportable, true);
  assert.equal(imported.key.k, undefined, 'no private parts returned');
  const got = await client.getKey('sdk-oct');
  assert.equal(got.id, imported.id);
  assert.deepEqual(JSON.parse(Buffer.from(got.properties.releasePolicy.encodedPolicy)), policy());
  for (const enc of Object.keys(OAEP)) {
    const r = await client.releaseKey('sdk-oct', maaToken({}), { algorithm: enc, nonce: 'n-1' });
    const payload = verifyJws(r.value);
    assert.equal(payload.request.enc, enc);
    assert.equal(payload.request.nonce, 'n-1');
    assert.deepEqual(unwrap(payload), raw);
  }
  // A version in the path works too.
  const r = await client.releaseKey('sdk-oct', maaToken({}), { version: got.properties.version, algorithm: 'RSA_AES_KEY_WRAP_256' });
  assert.deepEqual(unwrap(verifyJws(r.value)), raw);
});

test('an RSA-HSM key is released as PKCS#8', async () => {
  const priv = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const j = priv.export({ format: 'jwk' });
  const key = { kty: 'RSA-HSM' };
  for (const f of ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi']) key[f] = Buffer.from(j[f], 'base64url');
  await client.importKey('sdk-rsa', key, { exportable: true, hardwareProtected: true, releasePolicy: { encodedPolicy: Buffer.from(JSON.stringify(policy())) } });
  const r = await client.releaseKey('sdk-rsa', maaToken({}), { algorithm: 'RSA_AES_KEY_WRAP_384' });
  const der = unwrap(verifyJws(r.value));
  const back = crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
  assert.equal(back.d, j.d);
});

test('createKey generates an exportable oct-HSM key that releases as 32 bytes', async () => {
  const created = await client.createKey('sdk-gen', 'oct-HSM', {
    keySize: 256, exportable: true, releasePolicy: { encodedPolicy: Buffer.from(JSON.stringify(policy())) },
  });
  assert.equal(created.keyType, 'oct-HSM');
  const r = await client.releaseKey('sdk-gen', maaToken({}), { algorithm: 'RSA_AES_KEY_WRAP_256' });
  assert.equal(unwrap(verifyJws(r.value)).length, 32);
});

test('policy mismatch, unknown key and missing token are refused like the service', async () => {
  await assert.rejects(client.releaseKey('sdk-oct', maaToken({ 'x-ms-sevsnpvm-hostdata': 'cd'.repeat(32) })),
    (e) => e.statusCode === 403 && e.code === 'Forbidden' && /x-ms-sevsnpvm-hostdata/.test(e.message));
  await assert.rejects(client.releaseKey('sdk-oct', maaToken({ 'x-ms-sevsnpvm-is-debuggable': true })),
    (e) => e.statusCode === 403);
  await assert.rejects(client.getKey('no-such-key'), (e) => e.statusCode === 404 && e.code === 'KeyNotFound');
  // Without a token: 401 with the Key Vault challenge the SDKs start from (docs/skr.md, Endpoints
  // and tokens).
  const res = await new Promise((resolve, reject) => {
    https.get(`${hsm.base}/keys/sdk-oct?api-version=7.4`, { ca: hsm.caPem }, (r) => {
      r.resume();
      r.on('end', () => resolve(r));
    }).on('error', reject);
  });
  assert.equal(res.statusCode, 401);
  assert.match(res.headers['www-authenticate'], /^Bearer authorization="https:\/\/login\.microsoftonline\.com\/[^"]+", resource="https:\/\/managedhsm\.azure\.net"$/);
});

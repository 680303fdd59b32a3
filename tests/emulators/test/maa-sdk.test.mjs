// SPDX-License-Identifier: MIT
//
// Drive the MAA stand-in with Microsoft's official client (@azure/attestation 1.0.0), so the
// stand-in provably speaks the service's protocol, not just our C client's dialect.
//
//   node --test tests/emulators/test/
//
// The SDK (api-version 2020-10-01) has no attestSevSnpVm method: the SevSnpVm call goes through
// the SDK's own generated service client and serializer with an operation spec shaped like its
// attestSgxEnclave one (same pipeline, same Base64Url runtimeData encoding). The token is then
// checked with jsrsasign, the library the SDK itself validates tokens with, against the signers
// the SDK fetched from /certs. Tests that need the real ACI capture (SEALMOUNT_SHARED_TESTDATA, by
// default ../shared/testdata/ms-reference) are named 'ACI capture: ...': test-emulator-sdk.sh
// leaves them out (SEALMOUNT_SDK_CAPTURE=skip) and test-emulator-sdk-capture.sh runs them (SKIP
// without the data).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { AttestationClient } from '@azure/attestation';
import { createSerializer } from '@azure/core-client';

import { startMaa } from '../maa.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHARED = process.env.SEALMOUNT_SHARED_TESTDATA ||
  path.resolve(HERE, '..', '..', '..', '..', 'shared', 'testdata', 'ms-reference');
const HAVE_SHARED = existsSync(path.join(SHARED, 'snp_report.bin'));
const CAPTURE_SKIP = process.env.SEALMOUNT_SDK_CAPTURE === 'skip' ? 'run by test-emulator-sdk-capture.sh'
  : !HAVE_SHARED && 'no ../shared testdata';
const sdkRequire = createRequire(createRequire(import.meta.url).resolve('@azure/attestation'));
const jsrsasign = sdkRequire('jsrsasign');

// Runtime data of Microsoft's attest_test.go: the real capture's REPORT_DATA binds exactly it.
const CAPTURE_RUNTIME = '{\n   "akey" : "avalue"\n}\n';

const RuntimeData = {
  type: {
    name: 'Composite', className: 'RuntimeData',
    modelProperties: {
      data: { serializedName: 'data', type: { name: 'Base64Url' } },
      dataType: { serializedName: 'dataType', type: { name: 'String' } },
    },
  },
};
const AttestSevSnpVmRequest = {
  type: {
    name: 'Composite', className: 'AttestSevSnpVmRequest',
    modelProperties: {
      report: { serializedName: 'report', type: { name: 'String' } },
      runtimeData: { serializedName: 'runtimeData', type: { name: 'Composite', className: 'RuntimeData' } },
      nonce: { serializedName: 'nonce', type: { name: 'String' } },
    },
  },
};
const AttestationResponse = {
  type: {
    name: 'Composite', className: 'AttestationResponse',
    modelProperties: { token: { serializedName: 'token', required: true, type: { name: 'String' } } },
  },
};
const CloudError = {
  type: {
    name: 'Composite', className: 'CloudError',
    modelProperties: { error: { serializedName: 'error', type: { name: 'Composite', className: 'CloudErrorBody' } } },
  },
};
const CloudErrorBody = {
  type: {
    name: 'Composite', className: 'CloudErrorBody',
    modelProperties: {
      code: { serializedName: 'code', type: { name: 'String' } },
      message: { serializedName: 'message', type: { name: 'String' } },
    },
  },
};
const serializer = createSerializer({ RuntimeData, AttestSevSnpVmRequest, AttestationResponse, CloudError, CloudErrorBody }, false);

function sevSnpSpec(apiVersion) {
  return {
    path: '/attest/SevSnpVm',
    httpMethod: 'POST',
    responses: { 200: { bodyMapper: AttestationResponse }, default: { bodyMapper: CloudError } },
    requestBody: { parameterPath: 'request', mapper: { ...AttestSevSnpVmRequest, required: true } },
    queryParameters: [{ parameterPath: 'apiVersion', mapper: { defaultValue: apiVersion, isConstant: true, serializedName: 'api-version', type: { name: 'String' } } }],
    urlParameters: [{ parameterPath: 'instanceUrl', mapper: { serializedName: 'instanceUrl', required: true, type: { name: 'String' } }, skipEncoding: true }],
    headerParameters: [
      { parameterPath: 'accept', mapper: { defaultValue: 'application/json', isConstant: true, serializedName: 'Accept', type: { name: 'String' } } },
      { parameterPath: ['options', 'contentType'], mapper: { defaultValue: 'application/json', isConstant: true, serializedName: 'Content-Type', type: { name: 'String' } } },
    ],
    mediaType: 'json',
    serializer,
  };
}

let maa, client;

before(async () => {
  maa = await startMaa({ host: '127.0.0.1' });
  client = new AttestationClient(maa.issuer, { allowInsecureConnection: true });
});
after(async () => maa?.close());

function captureRequest(mutate = (x) => x) {
  const report = readFileSync(path.join(SHARED, 'snp_report.bin'));
  const chain = readFileSync(path.join(SHARED, 'uvm_host_amd_certificate.pem'), 'utf8');
  const blob = mutate({ report: Buffer.from(report), chain, runtime: Buffer.from(CAPTURE_RUNTIME) });
  const reportJson = JSON.stringify({
    SnpReport: blob.report.toString('base64url'),
    VcekCertChain: Buffer.from(blob.chain).toString('base64url'),
  });
  return {
    report: Buffer.from(reportJson).toString('base64url'),
    runtimeData: { data: new Uint8Array(blob.runtime), dataType: 'JSON' },
    nonce: 'sdk-nonce-1',
  };
}

function attest(request, apiVersion = '2022-08-01') {
  return client._client.sendOperationRequest({ request, options: {} }, sevSnpSpec(apiVersion));
}

test('getOpenIdMetadata returns the issuer and jwks_uri', async () => {
  const meta = await client.getOpenIdMetadata();
  assert.equal(meta.issuer, maa.issuer);
  assert.equal(meta.jwks_uri, `${maa.issuer}/certs`);
  assert.deepEqual(meta.id_token_signing_alg_values_supported, ['RS256']);
});

test('getAttestationSigners returns the signing certificate under its kid', async () => {
  const signers = await client.getAttestationSigners();
  assert.equal(signers.length, 1);
  assert.equal(signers[0].keyId, maa.signer.kid);
  assert.match(signers[0].certificates[0], /^-----BEGIN CERTIFICATE-----/);
  const cert = new crypto.X509Certificate(signers[0].certificates[0]);
  assert.ok(cert.subject.includes(maa.issuer));
});

test('ACI capture: attest SevSnpVm; the token validates with the SDK signers', { skip: CAPTURE_SKIP }, async () => {
  const res = await attest(captureRequest());
  const signers = await client.getAttestationSigners();
  const now = jsrsasign.KJUR.jws.IntDate.get('now');
  const ok = jsrsasign.KJUR.jws.JWS.verifyJWT(res.token, signers[0].certificates[0], {
    alg: ['RS256'], iss: [maa.issuer], verifyAt: now,
  });
  assert.ok(ok, 'token signature/iss/time verify with the SDK signers');
  const [h, p] = res.token.split('.').slice(0, 2).map((x) => JSON.parse(Buffer.from(x, 'base64url')));
  assert.equal(h.kid, signers[0].keyId);
  assert.equal(h.alg, 'RS256');
  assert.equal(p['x-ms-attestation-type'], 'sevsnpvm');
  assert.equal(p['x-ms-ver'], '1.0');
  assert.equal(p.nonce, 'sdk-nonce-1');
  assert.deepEqual(p['x-ms-runtime'], { akey: 'avalue' });
  assert.equal(p['x-ms-sevsnpvm-hostdata'], 'cadd74f71ebb8fbf9782baab649612520f3c416bc5ce9ac768808ddc8d9b031c');
  const rd = crypto.createHash('sha256').update(CAPTURE_RUNTIME).digest('hex') + '0'.repeat(64);
  assert.equal(p['x-ms-sevsnpvm-reportdata'], rd);
  assert.equal(p['x-ms-sevsnpvm-is-debuggable'], false);
  assert.equal(p['x-ms-sevsnpvm-vmpl'], 0);
  assert.equal(p['x-ms-sevsnpvm-guestsvn'], 2);
  assert.equal(p['x-ms-sevsnpvm-microcode-svn'], 0x73);
  assert.equal(p['x-ms-sevsnpvm-snpfw-svn'], 8);
  assert.equal(p['x-ms-sevsnpvm-launchmeasurement'].length, 96);
  assert.equal(p.exp - p.iat, 28800);
});

async function expectRefused(request, code, apiVersion) {
  await assert.rejects(attest(request, apiVersion), (e) => {
    assert.equal(e.statusCode, 400);
    assert.equal(e.code, code);
    return true;
  });
}

test('ACI capture: a flipped byte in the signed part of the report is refused', { skip: CAPTURE_SKIP }, async () => {
  await expectRefused(captureRequest((b) => { b.report[0x90] ^= 1; return b; }), 'AttestationFailed');
});

test('ACI capture: runtime data that REPORT_DATA does not bind is refused', { skip: CAPTURE_SKIP }, async () => {
  await expectRefused(captureRequest((b) => ({ ...b, runtime: Buffer.from('{"akey":"other"}') })), 'AttestationFailed');
});

test('ACI capture: a VCEK chain without a trusted ARK is refused', { skip: CAPTURE_SKIP }, async () => {
  const strict = await startMaa({ host: '127.0.0.1', amdRoots: false });
  const c = new AttestationClient(strict.issuer, { allowInsecureConnection: true });
  try {
    await assert.rejects(
      c._client.sendOperationRequest({ request: captureRequest(), options: {} }, sevSnpSpec('2022-08-01')),
      (e) => e.statusCode === 400 && e.code === 'AttestationFailed' && /ARK/.test(e.message));
  } finally {
    await strict.close();
  }
});

test('malformed requests get MAA-style error JSON and 400', async () => {
  await expectRefused({ report: '!!!', runtimeData: { data: new Uint8Array(1), dataType: 'JSON' } }, 'InvalidParameter');
  const res = await fetch(`${maa.issuer}/attest/SevSnpVm`, { method: 'POST', body: '{}' });
  assert.equal(res.status, 400);
  assert.ok(res.headers.get('x-ms-request-id'));
  const body = await res.json();
  assert.equal(body.error.code, 'MissingApiVersionParameter');
  assert.equal(typeof body.error.message, 'string');
  const res2 = await fetch(`${maa.issuer}/attest/SevSnpVm?api-version=2022-08-01`, { method: 'POST', body: 'not json' });
  assert.equal(res2.status, 400);
  assert.equal((await res2.json()).error.code, 'InvalidParameter');
});

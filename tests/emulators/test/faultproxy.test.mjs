// SPDX-License-Identifier: MIT
//
// The fault proxy's own modes (tests/emulators/faultproxy.mjs), in front of a tiny target:
// `slow` delivers the whole body, unchanged, in several pieces; `503` carries the configured
// Retry-After and never reaches the target; the counters say what was injected; an unknown
// fault is refused.
//
//   node --test tests/emulators/test/

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

const PROXY = new URL('../faultproxy.mjs', import.meta.url).pathname;
const BODY = crypto.randomBytes(100000);
let target, targetHits = 0;
const dir = mkdtempSync(path.join(os.tmpdir(), 'faultproxy-test-'));
const procs = [];

before(async () => {
  target = http.createServer((req, res) => {
    targetHits++;
    res.writeHead(200, { 'content-length': BODY.length });
    res.end(BODY);
  });
  await new Promise((r) => target.listen(0, '127.0.0.1', r));
});

after(() => {
  for (const p of procs) p.kill();
  target.close();
  rmSync(dir, { recursive: true, force: true });
});

async function startProxy(name, ...args) {
  const portFile = path.join(dir, `${name}.port`);
  const p = spawn(process.execPath, [PROXY, '--target', String(target.address().port),
                                     '--port-file', portFile, ...args], { stdio: 'ignore' });
  procs.push(p);
  for (let i = 0; i < 100 && !existsSync(portFile); i++) await new Promise((r) => setTimeout(r, 50));
  return Number(readFileSync(portFile, 'utf8'));
}

// GET path through the proxy: status, headers, body and the number of 'data' events.
function get(port, p) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
                                    body: Buffer.concat(chunks), pieces: chunks.length }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

test('slow: the whole body, unchanged, in pieces', async () => {
  const port = await startProxy('slow', '--slow-ms', '800', 'slow=1');
  const r = await get(port, '/x');
  assert.equal(r.status, 200);
  assert.ok(r.body.equals(BODY), 'body changed');
  assert.ok(r.pieces >= 2, `body came in ${r.pieces} pieces`);
  const stats = JSON.parse((await get(port, '/__faultproxy/stats')).body);
  assert.equal(stats.slow, 1);
});

test('503: the configured Retry-After, the target never asked', async () => {
  const port = await startProxy('busy', '--retry-after', '7', '503=1');
  const before503 = targetHits;
  const r = await get(port, '/x');
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '7');
  assert.equal(r.headers['x-ms-error-code'], 'ServerBusy');
  assert.equal(targetHits, before503);
});

test('an unknown fault is refused', () => {
  const r = spawnSync(process.execPath, [PROXY, '--target', '1', '--port-file',
                                         path.join(dir, 'x.port'), 'stall=1']);
  assert.equal(r.status, 2);
  assert.match(r.stderr.toString(), /unknown argument stall=1/);
});

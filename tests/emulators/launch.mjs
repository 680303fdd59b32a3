#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// launch.mjs - start one local stand-in service on 127.0.0.1 and keep it running.
//
//   node launch.mjs <service> --port-file FILE [--dir DIR] [--no-parent-watch] [options...]
//
// The service listens on a free loopback port. Once it answers an HTTP request, the port number
// is written to FILE (atomically: tests poll for the file). The launcher runs until SIGTERM or
// SIGINT, then stops the service and removes the data directory it created (a --dir given by
// the caller is left alone). If the service dies on its own, the launcher exits with status 1.
// It also stops when the process that started it goes away (checked every second), so a test
// killed with SIGKILL leaves nothing behind; --no-parent-watch turns that off.
//
// Services (add a new stand-in by adding an entry to `services`; each start function resolves
// to {port, probeUrl, stop(), exited?}, where `exited` settles if the service dies by itself):
//   azurite     Azure Blob Storage (Microsoft's Azurite, blob service only). Extra options are
//               passed to azurite-blob (e.g. --cert F --key F for https, --oauth basic).
//   testserver  tests/emulators/testserver.mjs, the http module's test server.
//               Options: --tls-cert F --tls-key F to serve https.
//   maa         tests/emulators/maa.mjs, the Microsoft Azure Attestation stand-in (SEV-SNP).
//               Options: --trust-root PEM (repeatable; added to AMD's built-in ARKs),
//               --no-amd-roots, --tls-cert F --tls-key F, --issuer-host NAME (host in iss),
//               --lifetime SECONDS, --compliance-status VALUE, --signing-key PEM,
//               --issuer URL (the whole iss, e.g. a proxy's address), --runtime-keys-out F
//               (append the modulus of every RSA key in runtimeData, hex: memory scans).
//   imds        tests/emulators/imds.mjs, IMDS managed-identity tokens and THIM. Options:
//               --port N, --lifetime SECONDS | RESOURCE=SECONDS (repeatable), --client-id ID
//               (repeatable), --no-system-identity, --fail-first N, --thim FILE,
//               --federated-token FILE (the only workload identity assertion accepted).
//   hsm         tests/emulators/hsm.mjs, Managed HSM keys and Secure Key Release (https).
//               Options: --ca-out FILE (the test root CA, default DIR/ca.pem), --resource URL,
//               --fail-release N, --name DNS (repeatable), --rogue-signer, --signer-name DNS,
//               --deny-get (GET /keys answers 403, as for a release-only role),
//               --challenge-scope (401 challenges with scope= instead of resource=),
//               --challenge VALUE | --challenge-file F (the 401s' WWW-Authenticate, verbatim).
//               Logs "[hsm] METHOD PATH -> STATUS" per request.
//   hostile     tests/emulators/hostile.mjs, a hostile server for the hostile-input tests (modes
//               set through GET /__hostile/mode?m=NAME). Options: --upstream URL (a stand-in to
//               forward to and tamper with; also settable later through
//               GET /__hostile/upstream?u=URL), --upstream-ca PEM (its CA, for https).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const HOST = '127.0.0.1';
// EMU_START_TIMEOUT (seconds): how long a service may take to answer; the VM tests raise it
// (Node under qemu TCG starts slowly). Same variable as emu_start in functions.sh.
const READY_TIMEOUT_MS = (Number(process.env.EMU_START_TIMEOUT) || 30) * 1000;

function log(...args) {
  process.stderr.write(`[launch] ${args.join(' ')}\n`);
}

function usage(msg) {
  if (msg) log(msg);
  log(`usage: node launch.mjs <${Object.keys(services).join('|')}> --port-file FILE [--dir DIR] [options]`);
  process.exit(2);
}

// Pull "--name value" out of args; returns the value (or undefined) and removes both.
function takeOption(args, name) {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  if (i + 1 >= args.length) usage(`${name} needs a value`);
  return args.splice(i, 2)[1];
}

function takeFlag(args, name) {
  const i = args.indexOf(name);
  if (i >= 0) args.splice(i, 1);
  return i >= 0;
}

// A port that was free a moment ago. Services that cannot listen on port 0 themselves get one
// of these; a lost race shows up as an early exit and the caller tries again.
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Resolves true once url answers with any HTTP status. Test certificates are not checked here:
// this only asks whether the service is up.
function answers(url) {
  return new Promise((resolve) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { timeout: 2000, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

async function waitReady(svc) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let dead = false;
  svc.exited?.then(() => (dead = true), () => (dead = true));
  while (Date.now() < deadline && !dead) {
    if (await answers(svc.probeUrl)) return;
    await sleep(100);
  }
  throw new Error(dead ? 'service exited during startup' : `not answering after ${READY_TIMEOUT_MS} ms`);
}

// ---- services ---------------------------------------------------------------------------

async function startTestserver({ args }) {
  const { startTestServer } = await import('./testserver.mjs');
  const cert = takeOption(args, '--tls-cert');
  const key = takeOption(args, '--tls-key');
  if (args.length) usage(`testserver: unknown options ${args.join(' ')}`);
  if (!cert !== !key) usage('testserver: --tls-cert and --tls-key go together');
  const srv = await startTestServer({ host: HOST, tls: cert ? { cert, key } : null });
  return { port: srv.port, probeUrl: `${srv.scheme}://${HOST}:${srv.port}/ok`, stop: srv.close };
}

async function startMaaService({ args }) {
  const { startMaa } = await import('./maa.mjs');
  const trustRoots = [];
  for (let f; (f = takeOption(args, '--trust-root')) !== undefined; ) trustRoots.push(f);
  const amdRoots = !takeFlag(args, '--no-amd-roots');
  const cert = takeOption(args, '--tls-cert');
  const key = takeOption(args, '--tls-key');
  const issuerHost = takeOption(args, '--issuer-host');
  const lifetime = takeOption(args, '--lifetime');
  const complianceStatus = takeOption(args, '--compliance-status');
  const signingKey = takeOption(args, '--signing-key');
  const issuer = takeOption(args, '--issuer');
  const runtimeKeysOut = takeOption(args, '--runtime-keys-out');
  if (args.length) usage(`maa: unknown options ${args.join(' ')}`);
  if (!cert !== !key) usage('maa: --tls-cert and --tls-key go together');
  if (lifetime !== undefined && !/^[0-9]+$/.test(lifetime)) usage('maa: --lifetime takes seconds');
  const srv = await startMaa({
    host: HOST, tls: cert ? { cert, key } : null, trustRoots, amdRoots, issuerHost,
    lifetime: lifetime === undefined ? undefined : Number(lifetime), complianceStatus,
    signingKeyPem: signingKey ? readFileSync(signingKey) : undefined, issuer, runtimeKeysOut,
  });
  return { port: srv.port, probeUrl: `${srv.scheme}://${HOST}:${srv.port}/certs`, stop: srv.close };
}

async function startImdsService({ args }) {
  const { startImds } = await import('./imds.mjs');
  const opts = { lifetimes: {}, clientIds: [] };
  for (let v; (v = takeOption(args, '--lifetime')) !== undefined; ) {
    const m = /^(?:(.+)=)?([0-9]+)$/.exec(v);
    if (!m) usage('imds: --lifetime takes SECONDS or RESOURCE=SECONDS');
    if (m[1]) opts.lifetimes[m[1]] = Number(m[2]);
    else opts.lifetime = Number(m[2]);
  }
  for (let v; (v = takeOption(args, '--client-id')) !== undefined; ) opts.clientIds.push(v);
  opts.noSystemIdentity = takeFlag(args, '--no-system-identity');
  const fail = takeOption(args, '--fail-first');
  const port = takeOption(args, '--port');
  opts.thimFile = takeOption(args, '--thim');
  const fed = takeOption(args, '--federated-token');
  if (fed !== undefined) opts.federatedToken = readFileSync(fed, 'utf8').trim();
  if (args.length) usage(`imds: unknown options ${args.join(' ')}`);
  if (fail !== undefined && !/^[0-9]+$/.test(fail)) usage('imds: --fail-first takes a count');
  if (port !== undefined && !/^[0-9]+$/.test(port)) usage('imds: --port takes a number');
  opts.failFirst = Number(fail ?? 0);
  opts.port = Number(port ?? 0);
  const srv = await startImds({ host: HOST, ...opts });
  return { port: srv.port, probeUrl: `http://${HOST}:${srv.port}/ok`, stop: srv.close };
}

async function startHsmService({ dir, args }) {
  const { startHsm } = await import('./hsm.mjs');
  const caOut = takeOption(args, '--ca-out') ?? path.join(dir, 'ca.pem');
  const resource = takeOption(args, '--resource');
  const fail = takeOption(args, '--fail-release');
  const names = [];
  for (let v; (v = takeOption(args, '--name')) !== undefined; ) names.push(v);
  const rogueSigner = takeFlag(args, '--rogue-signer');
  const signerName = takeOption(args, '--signer-name');
  const denyGet = takeFlag(args, '--deny-get');
  const challengeScope = takeFlag(args, '--challenge-scope');
  let challenge = takeOption(args, '--challenge');
  const challengeFile = takeOption(args, '--challenge-file');
  if (challengeFile !== undefined) challenge = readFileSync(challengeFile, 'latin1');
  if (args.length) usage(`hsm: unknown options ${args.join(' ')}`);
  if (fail !== undefined && !/^[0-9]+$/.test(fail)) usage('hsm: --fail-release takes a count');
  const srv = await startHsm({
    host: HOST, caOut, names, failRelease: Number(fail ?? 0), rogueSigner, signerName, denyGet,
    challengeScope, ...(challenge !== undefined ? { challenge } : {}),
    ...(resource ? { resource } : {}),
  });
  return { port: srv.port, probeUrl: `https://${HOST}:${srv.port}/`, stop: srv.close };
}

async function startHostileService({ args }) {
  const { startHostile } = await import('./hostile.mjs');
  const upstream = takeOption(args, '--upstream');
  const upstreamCa = takeOption(args, '--upstream-ca');
  if (args.length) usage(`hostile: unknown options ${args.join(' ')}`);
  const srv = await startHostile({ host: HOST, upstream, upstreamCa });
  return { port: srv.port, probeUrl: `http://${HOST}:${srv.port}/ok`, stop: srv.close };
}

function spawnNodeScript(script, args) {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve({ code, sig })));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  return { child, exited, stop };
}

async function startAzurite({ dir, args }) {
  const bin = path.join(HERE, 'node_modules', '.bin', 'azurite-blob');
  if (!existsSync(bin))
    throw new Error(`${bin} missing: run "npm ci" in ${HERE} (scripts/setup.sh does)`);
  const script = realpathSync(bin);
  const tls = args.includes('--cert');
  for (let tries = 1; ; tries++) {
    const port = await freePort();
    // Strict mode (no --loose): unknown headers and parameters fail as they would on Azure.
    const p = spawnNodeScript(script, [
      '--blobHost', HOST, '--blobPort', String(port), '--location', dir,
      '--skipApiVersionCheck', '--disableTelemetry', '--silent', ...args,
    ]);
    const svc = { port, probeUrl: `${tls ? 'https' : 'http'}://${HOST}:${port}/`, stop: p.stop, exited: p.exited };
    try {
      await waitReady(svc);
      return svc;
    } catch (e) {
      await p.stop();
      if (tries >= 3) throw e;
      log(`azurite: ${e.message}; retrying on another port`);
    }
  }
}

const services = {
  azurite: startAzurite,
  testserver: startTestserver,
  maa: startMaaService,
  imds: startImdsService,
  hsm: startHsmService,
  hostile: startHostileService,
};

// ---- main -------------------------------------------------------------------------------

async function main() {
  const args = process.argv.slice(2);
  const name = args.shift();
  if (!name || !Object.hasOwn(services, name)) usage(name ? `unknown service "${name}"` : undefined);
  const portFile = takeOption(args, '--port-file');
  if (!portFile) usage('--port-file is required');
  let dir = takeOption(args, '--dir');
  const noParentWatch = takeFlag(args, '--no-parent-watch');
  const ownDir = !dir;
  dir = dir ?? mkdtempSync(path.join(os.tmpdir(), `sealmount-${name}-`));
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  let svc = null;
  let stopping = false;
  const shutdown = async (code) => {
    if (stopping) return;
    stopping = true;
    try {
      await svc?.stop();
    } finally {
      if (ownDir) rmSync(dir, { recursive: true, force: true });
      process.exit(code);
    }
  };
  process.on('SIGTERM', () => shutdown(0));
  process.on('SIGINT', () => shutdown(0));
  // A test killed outright cannot run its cleanup: do not outlive the process that started us
  // (unless told to, for a launcher started from a subshell that exits at once).
  if (!noParentWatch) {
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) shutdown(0);
    }, 1000).unref();
  }

  try {
    svc = await services[name]({ dir, args });
    if (!svc.exited) await waitReady(svc);
  } catch (e) {
    log(`${name}: failed to start: ${e.message}`);
    return shutdown(1);
  }
  svc.exited?.then((how) => {
    if (stopping) return;
    log(`${name}: exited unexpectedly (${JSON.stringify(how)})`);
    shutdown(1);
  });
  writeFileSync(`${portFile}.tmp`, `${svc.port}\n`);
  renameSync(`${portFile}.tmp`, portFile);
  log(`${name}: listening on ${HOST}:${svc.port}`);
}

main();

// SPDX-License-Identifier: MIT
//
// snp-verify.mjs - SEV-SNP evidence checks for the local MAA stand-in (maa.mjs), plus the tiny
// DER writer it needs to mint its own self-signed signing certificate. Node's crypto only.
//
// Facts: docs/snp.md, Attestation report (report layout and signature), docs/snp.md, Certificates
// (VCEK/ASK/ARK, extensions).

import crypto, { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPORT_SIZE = 0x4a0;
const SIGNED_SIZE = 0x2a0;

export class EvidenceError extends Error {}
const fail = (msg) => {
  throw new EvidenceError(msg);
};

// ---- report -----------------------------------------------------------------------------

const hex = (b) => Buffer.from(b).toString('hex');

export function parseReport(buf) {
  if (buf.length !== REPORT_SIZE) fail(`SnpReport must be ${REPORT_SIZE} bytes, got ${buf.length}`);
  const u32 = (o) => buf.readUInt32LE(o);
  const u64 = (o) => buf.readBigUInt64LE(o);
  const rep = {
    version: u32(0x000),
    guestSvn: u32(0x004),
    policy: u64(0x008),
    familyId: buf.subarray(0x010, 0x020),
    imageId: buf.subarray(0x020, 0x030),
    vmpl: u32(0x030),
    sigAlgo: u32(0x034),
    currentTcb: buf.subarray(0x038, 0x040),
    keyInfo: u32(0x048),
    reportData: buf.subarray(0x050, 0x090),
    measurement: buf.subarray(0x090, 0x0c0),
    hostData: buf.subarray(0x0c0, 0x0e0),
    idKeyDigest: buf.subarray(0x0e0, 0x110),
    authorKeyDigest: buf.subarray(0x110, 0x140),
    reportId: buf.subarray(0x140, 0x160),
    reportedTcb: buf.subarray(0x180, 0x188),
    cpuidFamily: buf[0x188],
    chipId: buf.subarray(0x1a0, 0x1e0),
    raw: buf,
  };
  if (rep.version < 2 || rep.version > 5) fail(`unsupported SNP report version ${rep.version}`);
  if (rep.sigAlgo !== 1) fail(`unsupported SNP signature algorithm ${rep.sigAlgo}`);
  if (((rep.keyInfo >> 2) & 7) !== 0) fail('SNP report is not signed by a VCEK');
  return rep;
}

export function isTurin(rep) {
  if (rep.version >= 3) return rep.cpuidFamily === 0x1a;
  return rep.chipId.subarray(8).every((b) => b === 0) && rep.chipId.subarray(0, 8).some((b) => b);
}

// Milan/Genoa: [0]=BL [1]=TEE [6]=SNP [7]=UCODE; Turin: [0]=FMC [1]=BL [2]=TEE [3]=SNP [7]=UCODE.
export function splitTcb(tcb, turin) {
  return turin
    ? { fmc: tcb[0], bootloader: tcb[1], tee: tcb[2], snp: tcb[3], microcode: tcb[7] }
    : { bootloader: tcb[0], tee: tcb[1], snp: tcb[6], microcode: tcb[7] };
}

// ECDSA P-384 / SHA-384 over bytes [0, 0x2A0); R and S are 72-byte little-endian at 0x2A0/0x2E8.
export function verifyReportSignature(rep, vcek) {
  const le = (o) => Buffer.from(rep.raw.subarray(o, o + 72)).reverse();
  const r = le(0x2a0), s = le(0x2e8);
  if (!r.subarray(0, 24).every((b) => b === 0) || !s.subarray(0, 24).every((b) => b === 0))
    fail('SNP report signature has non-zero high bytes');
  const sig = Buffer.concat([r.subarray(24), s.subarray(24)]);
  const key = vcek.publicKey;
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'secp384r1')
    fail('VCEK key is not EC P-384');
  const ok = crypto.verify('sha384', rep.raw.subarray(0, SIGNED_SIZE), { key, dsaEncoding: 'ieee-p1363' }, sig);
  if (!ok) fail('SNP report signature does not verify with the VCEK');
}

// ---- certificates -----------------------------------------------------------------------

export function pemCerts(text) {
  const blocks = String(text).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((p) => {
    try {
      return new X509Certificate(p);
    } catch {
      fail('VcekCertChain holds a malformed certificate');
    }
  });
}

// The AMD ARKs compiled into sealmount (src/attest/amd_roots.c), pinned by fingerprint so a
// change there is noticed here.
const AMD_ARK_SHA256 = new Set([
  '69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd', // ARK-Milan
  '4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1', // ARK-Genoa
]);

export function builtinAmdRoots() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const src = readFileSync(path.join(here, '..', '..', 'src', 'attest', 'amd_roots.c'), 'utf8');
  // Concatenate every C string literal (whatever the line layout), then pick the PEM blocks.
  const text = [...src.matchAll(/"((?:[^"\\\n]|\\.)*)"/g)].map((m) => m[1].replace(/\\n/g, '\n')).join('');
  const roots = pemCerts(text);
  if (roots.length < 2) throw new Error('amd_roots.c: expected the Milan and Genoa ARKs');
  for (const c of roots) {
    const fp = crypto.createHash('sha256').update(c.raw).digest('hex');
    if (!AMD_ARK_SHA256.has(fp)) throw new Error(`amd_roots.c holds an unexpected ARK ${fp}`);
  }
  return roots;
}

const AMD_OID = [0x2b, 0x06, 0x01, 0x04, 0x01, 0x9c, 0x78, 0x01]; // 1.3.6.1.4.1.3704.1

// extnValue contents of the AMD extension 1.3.6.1.4.1.3704.1.<suffix> (a DER scan: the OID
// TLV, an optional critical BOOLEAN, then the OCTET STRING).
function amdExtension(cert, suffix) {
  const oid = Buffer.from([0x06, AMD_OID.length + suffix.length, ...AMD_OID, ...suffix]);
  const raw = cert.raw;
  const i = raw.indexOf(oid);
  if (i < 0) return null;
  let o = i + oid.length;
  if (raw[o] === 0x01) o += 2 + raw[o + 1];
  if (raw[o] !== 0x04) return null;
  let len = raw[o + 1], hdr = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = raw.readUIntBE(o + 2, n);
    hdr = 2 + n;
  }
  return raw.subarray(o + hdr, o + hdr + len);
}

function amdSpl(cert, n) {
  const v = amdExtension(cert, [0x03, n]);
  if (!v || v[0] !== 0x02 || v[1] < 1 || v[1] > 2) return null;
  return v[1 + v[1]]; // last byte of a small INTEGER
}

// VCEK <- ASK <- trusted ARK, then the VCEK's hwID and TCB against the report.
export function verifyChain(certs, trustRoots, rep, now = new Date()) {
  if (certs.length < 2) fail('VcekCertChain must hold the VCEK and the ASK');
  const [vcek, ...rest] = certs;
  const ask = rest.find((c) => vcek.checkIssued(c) && vcek.verify(c.publicKey));
  if (!ask) fail('VCEK is not signed by an ASK in VcekCertChain');
  const ark = trustRoots.find((c) => ask.checkIssued(c) && ask.verify(c.publicKey) && c.verify(c.publicKey));
  if (!ark) fail('ASK is not signed by a trusted ARK');
  for (const c of [vcek, ask, ark])
    if (now < new Date(c.validFrom) || now > new Date(c.validTo)) fail(`certificate ${c.subject.split('\n').pop()} is not valid now`);
  const hwid = amdExtension(vcek, [0x04]);
  const turin = isTurin(rep);
  const want = turin ? rep.chipId.subarray(0, 8) : rep.chipId;
  if (!hwid || !hwid.equals(want)) fail('VCEK hwID does not match the report chip_id');
  const tcb = splitTcb(rep.reportedTcb, turin);
  const spl = { bootloader: 1, tee: 2, snp: 3, microcode: 8 };
  for (const [name, n] of Object.entries(spl))
    if (amdSpl(vcek, n) !== tcb[name]) fail(`VCEK ${name} SPL does not match the report's REPORTED_TCB`);
  return { vcek, ask, ark };
}

// ---- minimal DER, for the stand-in's self-signed RS256 signing certificate ---------------

function der(tag, body) {
  const n = body.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), body]);
}
const seq = (...p) => der(0x30, Buffer.concat(p));
const set = (...p) => der(0x31, Buffer.concat(p));
function oid(s) {
  const [a, b, ...rest] = s.split('.').map(Number);
  const out = [a * 40 + b];
  for (let v of rest) {
    const enc = [v & 0x7f];
    while ((v >>= 7)) enc.unshift((v & 0x7f) | 0x80);
    out.push(...enc);
  }
  return der(0x06, Buffer.from(out));
}
const utf8 = (s) => der(0x0c, Buffer.from(s, 'utf8'));
const int = (b) => der(0x02, b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
// UTCTime (RFC 5280 4.1.2.5: dates before 2050).
const utctime = (d) => der(0x17, Buffer.from(d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z'));
const bits = (b) => der(0x03, Buffer.concat([Buffer.from([0]), b]));
const explicit = (n, b) => der(0xa0 + n, b);

// A self-signed certificate (sha256WithRSAEncryption) for key, CN = cn, valid +-days.
export function selfSignedCert(privateKey, cn, days = 365) {
  const algo = seq(oid('1.2.840.113549.1.1.11'), der(0x05, Buffer.alloc(0)));
  const name = seq(set(seq(oid('2.5.4.3'), utf8(cn))));
  const now = Date.now();
  const validity = seq(utctime(new Date(now - 86400e3)), utctime(new Date(now + days * 86400e3)));
  const spki = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const serial = crypto.randomBytes(16);
  serial[0] &= 0x7f;
  const basic = seq(oid('2.5.29.19'), der(0x04, seq())); // basicConstraints CA:FALSE
  const tbs = seq(explicit(0, int(Buffer.from([2]))), int(serial), algo, name, validity, name, spki,
    explicit(3, seq(basic)));
  const sig = crypto.sign('sha256', tbs, privateKey);
  return seq(tbs, algo, bits(sig));
}

// SPDX-License-Identifier: MIT
//
// testca.mjs - a throw-away X.509 hierarchy made at start-up, for stand-ins that must present
// certificates a client verifies: root CA -> intermediate CA -> leaf certificates (RSA-2048,
// SHA-256), with subjectAltName DNS/IP entries. Node has no certificate builder, so the DER is
// assembled here (RFC 5280). Test use only: keys live in memory and are never persisted except
// the CA certificate the caller writes for its clients.

import crypto from 'node:crypto';
import net from 'node:net';

function der(tag, body) {
  const len = body.length;
  let hdr;
  if (len < 0x80) hdr = Buffer.from([tag, len]);
  else if (len < 0x100) hdr = Buffer.from([tag, 0x81, len]);
  else if (len < 0x10000) hdr = Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
  else hdr = Buffer.from([tag, 0x83, len >> 16, (len >> 8) & 0xff, len & 0xff]);
  return Buffer.concat([hdr, body]);
}
const seq = (...xs) => der(0x30, Buffer.concat(xs));
const set = (...xs) => der(0x31, Buffer.concat(xs));
const octets = (b) => der(0x04, b);
const bits = (b) => der(0x03, Buffer.concat([Buffer.from([0]), b]));
const bool = (v) => der(0x01, Buffer.from([v ? 0xff : 0]));
const explicit = (n, x) => der(0xa0 + n, x);
const utf8 = (s) => der(0x0c, Buffer.from(s, 'utf8'));

function int(buf) {
  let b = Buffer.from(buf);
  while (b.length > 1 && b[0] === 0 && !(b[1] & 0x80)) b = b.subarray(1);
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return der(0x02, b);
}

function oid(s) {
  const p = s.split('.').map(Number);
  const out = [40 * p[0] + p[1]];
  for (const n of p.slice(2)) {
    const enc = [n & 0x7f];
    for (let v = n >>> 7; v; v >>>= 7) enc.unshift(0x80 | (v & 0x7f));
    out.push(...enc);
  }
  return der(0x06, Buffer.from(out));
}

function time(d) {
  const s = d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  return der(0x17, Buffer.from(s));
}

const SHA256_RSA = seq(oid('1.2.840.113549.1.1.11'), der(0x05, Buffer.alloc(0)));
const name = (cn) => seq(set(seq(oid('2.5.4.3'), utf8(cn))));
const ext = (id, critical, value) =>
  seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));

function keyId(spki) {
  return crypto.createHash('sha1').update(spki).digest();
}

function san(names) {
  const parts = names.map((n) => {
    if (net.isIPv4(n)) return der(0x87, Buffer.from(n.split('.').map(Number)));
    return der(0x82, Buffer.from(n, 'ascii'));
  });
  return seq(...parts);
}

// Issue a certificate. subject: {cn, key (KeyObject), ca (bool), names [DNS/IP]}; issuer:
// {cn, key, spki} or null (self-signed). validity: {notBefore, notAfter} Dates.
function issue(subject, issuer, validity) {
  const spki = crypto.createPublicKey(subject.key).export({ type: 'spki', format: 'der' });
  const iss = issuer ?? { cn: subject.cn, key: subject.key, spki };
  const serial = crypto.randomBytes(16);
  serial[0] &= 0x7f;
  const exts = [
    ext('2.5.29.19', true, subject.ca ? seq(bool(true)) : seq()),
    ext('2.5.29.14', false, octets(keyId(spki))),
    ext('2.5.29.35', false, seq(der(0x80, keyId(iss.spki)))),
  ];
  if (subject.ca) exts.push(ext('2.5.29.15', true, bits(Buffer.from([0x06])))); // keyCertSign|cRLSign
  if (subject.names?.length) exts.push(ext('2.5.29.17', false, san(subject.names)));
  const tbs = seq(explicit(0, int(Buffer.from([2]))), int(serial), SHA256_RSA, name(iss.cn),
    seq(time(validity.notBefore), time(validity.notAfter)), name(subject.cn), spki,
    explicit(3, seq(...exts)));
  const sig = crypto.sign('sha256', tbs, iss.key);
  return { der: seq(tbs, SHA256_RSA, bits(sig)), spki };
}

export function pem(derBuf) {
  const b64 = derBuf.toString('base64').match(/.{1,64}/g).join('\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

const rsa = () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

// Make root -> intermediate, and return {rootPem, issue(cn, names, {days, expired}) -> {key,
// der, chain: [leaf DER, intermediate DER]}}.
export function createTestCa(label = 'sealmount test') {
  const now = Date.now();
  const validity = (days) => ({ notBefore: new Date(now - 3600e3), notAfter: new Date(now + days * 86400e3) });
  const rootKey = rsa();
  const root = issue({ cn: `${label} root CA`, key: rootKey, ca: true }, null, validity(30));
  const midKey = rsa();
  const rootIssuer = { cn: `${label} root CA`, key: rootKey, spki: root.spki };
  const mid = issue({ cn: `${label} intermediate CA`, key: midKey, ca: true }, rootIssuer, validity(30));
  const midIssuer = { cn: `${label} intermediate CA`, key: midKey, spki: mid.spki };
  return {
    rootPem: pem(root.der),
    rootDer: root.der,
    intermediateDer: mid.der,
    issueLeaf(cn, names, opts = {}) {
      const key = rsa();
      const v = opts.expired
        ? { notBefore: new Date(now - 7200e3), notAfter: new Date(now - 3600e3) }
        : validity(opts.days ?? 30);
      const leaf = issue({ cn, key, ca: false, names }, midIssuer, v);
      return { key, der: leaf.der, chain: [leaf.der, mid.der] };
    },
  };
}

// SPDX-License-Identifier: MIT
// Preloaded into every Node.js process the tests start (NODE_OPTIONS=--require, set by
// tests/integration/functions.sh), for Debian 12's Node.js 18:
// - it has no global WebCrypto object, which the Azure SDKs (@azure/core-util:
//   crypto.randomUUID) expect;
// - it resolves "localhost" to ::1 first and, unlike Node.js 20, does not fall back to
//   127.0.0.1, where every stand-in listens.
// On Node.js 20 both are no-ops.
'use strict';
if (typeof globalThis.crypto === 'undefined') {
  globalThis.crypto = require('node:crypto').webcrypto;
}
require('node:dns').setDefaultResultOrder('ipv4first');

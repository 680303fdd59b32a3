// SPDX-License-Identifier: MIT
// httputil.mjs - what the HTTP stand-ins (maa.mjs, hsm.mjs) share: an error carrying the HTTP
// status and service error code, and a capped request-body reader.

export const BODY_MAX = 1 << 20;

export class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// The whole request body as a Buffer; 413 RequestTooLarge past max bytes.
export function readBody(req, max = BODY_MAX) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let n = 0;
    req.on('data', (c) => {
      n += c.length;
      if (n > max) {
        reject(new HttpError(413, 'RequestTooLarge', 'request body too large'));
        req.destroy();
      } else parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// blob-tool.mjs - drive Azurite with the official SDK (@azure/storage-blob), so the blob tests
// prepare and check data with a client that is not ours.
//
//   node blob-tool.mjs PORT upload-page  CONTAINER BLOB FILE   (size padded to 512 with zeros)
//   node blob-tool.mjs PORT upload-block CONTAINER BLOB FILE
//   node blob-tool.mjs PORT download     CONTAINER BLOB FILE
//   node blob-tool.mjs PORT put-page     CONTAINER BLOB OFFSET FILE   (changes the ETag)
//   node blob-tool.mjs PORT make-public  CONTAINER -   (anonymous blob reads, for benchmarks)
//   node blob-tool.mjs PORT sas          CONTAINER BLOB PERMS   (prints a service SAS, 1 hour)
//   node blob-tool.mjs PORT lease-try    CONTAINER BLOB   (a competing writer: try to acquire a
//                      15 s lease; prints "refused" (409) or "acquired" (then releases it))
//   node blob-tool.mjs PORT lease-hold   CONTAINER BLOB SECONDS   (acquire, retrying for up to
//                      90 s; print "held", keep it SECONDS (at most 50), release, print "released")
//
// With BLOB_TOOL_HTTPS=1 the endpoint is https://127.0.0.1:PORT (trust the test CA through
// NODE_EXTRA_CA_CERTS).
//
// Uses Azurite's well-known devstoreaccount1 key over http://127.0.0.1:PORT.

import crypto from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import {
  BlobSASPermissions, BlobServiceClient, StorageSharedKeyCredential, generateBlobSASQueryParameters,
} from '@azure/storage-blob';

const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const PAGE_CHUNK = 4 * 1024 * 1024;

const [port, cmd, container, blob, ...rest] = process.argv.slice(2);
if (!port || !cmd || !container || !blob) {
  process.stderr.write('usage: blob-tool.mjs PORT upload-page|upload-block|download|put-page C B ...\n');
  process.exit(2);
}
const scheme = process.env.BLOB_TOOL_HTTPS === '1' ? 'https' : 'http';
const conn = `DefaultEndpointsProtocol=${scheme};AccountName=devstoreaccount1;AccountKey=${KEY};` +
  `BlobEndpoint=${scheme}://127.0.0.1:${port}/devstoreaccount1;`;
const cc = BlobServiceClient.fromConnectionString(conn).getContainerClient(container);

async function uploadPage(file) {
  const data = readFileSync(file);
  const size = Math.ceil(data.length / 512) * 512;
  const padded = Buffer.alloc(size);
  data.copy(padded);
  await cc.createIfNotExists();
  const pb = cc.getPageBlobClient(blob);
  await pb.create(size);
  for (let off = 0; off < size; off += PAGE_CHUNK) {
    const n = Math.min(PAGE_CHUNK, size - off);
    await pb.uploadPages(padded.subarray(off, off + n), off, n);
  }
}

async function main() {
  switch (cmd) {
    case 'upload-page':
      await uploadPage(rest[0]);
      break;
    case 'upload-block':
      await cc.createIfNotExists();
      await cc.getBlockBlobClient(blob).uploadData(readFileSync(rest[0]));
      break;
    case 'download':
      writeFileSync(rest[0], await cc.getBlobClient(blob).downloadToBuffer());
      break;
    case 'put-page': {
      const data = readFileSync(rest[1]);
      await cc.getPageBlobClient(blob).uploadPages(data, Number(rest[0]), data.length);
      break;
    }
    case 'sas': {
      const cred = new StorageSharedKeyCredential('devstoreaccount1', Buffer.from(KEY, 'base64'));
      const sas = generateBlobSASQueryParameters({
        containerName: container, blobName: blob, permissions: BlobSASPermissions.parse(rest[0]),
        startsOn: new Date(Date.now() - 60e3), expiresOn: new Date(Date.now() + 3600e3),
      }, cred);
      process.stdout.write(`${sas.toString()}\n`);
      break;
    }
    case 'lease-try': {
      const lc = cc.getBlobClient(blob).getBlobLeaseClient(crypto.randomUUID());
      try {
        await lc.acquireLease(15);
      } catch (e) {
        if (e.statusCode !== 409) throw e;
        process.stdout.write('refused\n');
        break;
      }
      await lc.releaseLease();
      process.stdout.write('acquired\n');
      break;
    }
    case 'lease-hold': {
      const lc = cc.getBlobClient(blob).getBlobLeaseClient(crypto.randomUUID());
      for (let i = 0; ; i++) {
        try {
          await lc.acquireLease(60);
          break;
        } catch (e) {
          if (e.statusCode !== 409 || i >= 90) throw e;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
      process.stdout.write('held\n');
      await new Promise((r) => setTimeout(r, 1000 * Math.min(50, Number(rest[0]))));
      await lc.releaseLease();
      process.stdout.write('released\n');
      break;
    }
    case 'make-public':
      await cc.setAccessPolicy('blob');
      break;
    default:
      throw new Error(`unknown command ${cmd}`);
  }
}

main().catch((e) => {
  process.stderr.write(`blob-tool: ${e.message}\n`);
  process.exit(1);
});

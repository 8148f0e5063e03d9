'use strict';
// Decrypts and encrypts RFC 8291 push messages with http_ece, an
// implementation independent of pushwire's, for bench/seal's
// interoperability test. Reads one JSON request on stdin:
//
//   {"decrypt": [{"name", "body", "uaPrivate", "auth"}],
//    "encrypt": [{"name", "plaintext", "uaPublic", "auth", "pad", "rs"}]}
//
// (binary values base64url) and writes
//
//   {"decrypted": [{"name", "plaintext"} or {"name", "error"}],
//    "encrypted": [{"name", "body"}]}
const crypto = require('crypto');
const ece = require('http_ece');

const b64 = (s) => Buffer.from(s, 'base64url');

function main(req) {
  const decrypted = (req.decrypt || []).map((c) => {
    const ua = crypto.createECDH('prime256v1');
    ua.setPrivateKey(b64(c.uaPrivate));
    try {
      const plain = ece.decrypt(b64(c.body), { version: 'aes128gcm', privateKey: ua, authSecret: b64(c.auth) });
      return { name: c.name, plaintext: plain.toString('base64url') };
    } catch (e) {
      return { name: c.name, error: String(e.message || e) };
    }
  });
  const encrypted = (req.encrypt || []).map((c) => {
    const as = crypto.createECDH('prime256v1');
    as.generateKeys(); // a fresh ephemeral key for every message
    const params = { version: 'aes128gcm', privateKey: as, dh: b64(c.uaPublic), authSecret: b64(c.auth) };
    if (c.pad) params.pad = c.pad;
    if (c.rs) params.rs = c.rs;
    const body = ece.encrypt(b64(c.plaintext), params);
    return { name: c.name, body: body.toString('base64url') };
  });
  return { decrypted, encrypted };
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(main(JSON.parse(input))));
});

/**
 * Identity keys and end-to-end encryption of party messages (node:crypto only).
 *
 * - Envelopes are signed with the sender's Ed25519 identity key (RFC 8032) over the envelope
 *   serialized with an empty `signature` field.
 * - Point-to-point payloads are encrypted to the receiver's X25519 key (RFC 7748): a fresh
 *   ephemeral key per message, HKDF-SHA256 (RFC 5869) over the shared secret bound to both public
 *   keys, then ChaCha20-Poly1305 (RFC 8439) with the envelope header as associated data, so a
 *   ciphertext cannot be moved to another session, round, sender or receiver.
 */
import {
  createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync,
  hkdfSync, randomBytes, sign as edSign, verify as edVerify, type KeyObject,
} from 'node:crypto';
import { PartyError } from './errors.ts';

export function rawPublic(k: KeyObject): Uint8Array {
  const jwk = k.export({ format: 'jwk' }) as { x?: string };
  if (!jwk.x) throw new PartyError('ERR_CONFIG', 'not an OKP key');
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

export function publicFromRaw(raw: Uint8Array, crv: 'Ed25519' | 'X25519'): KeyObject {
  if (raw.length !== 32) throw new PartyError('ERR_UNKNOWN_PARTY', `${crv} public key must be 32 bytes`);
  return createPublicKey({ key: { kty: 'OKP', crv, x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

export interface IdentityKeys {
  sign: KeyObject; // Ed25519 private
  signPublic: Uint8Array;
  enc: KeyObject; // X25519 private
  encPublic: Uint8Array;
}

export function generateIdentity(): IdentityKeys {
  const s = generateKeyPairSync('ed25519');
  const e = generateKeyPairSync('x25519');
  return { sign: s.privateKey, signPublic: rawPublic(s.publicKey), enc: e.privateKey, encPublic: rawPublic(e.publicKey) };
}

export function encodeIdentity(k: IdentityKeys): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    v: 1,
    sign: (k.sign.export({ format: 'der', type: 'pkcs8' })).toString('base64'),
    enc: (k.enc.export({ format: 'der', type: 'pkcs8' })).toString('base64'),
  }));
}

export function decodeIdentity(b: Uint8Array): IdentityKeys {
  const j = JSON.parse(new TextDecoder().decode(b)) as { v: number; sign: string; enc: string };
  const sign = createPrivateKey({ key: Buffer.from(j.sign, 'base64'), format: 'der', type: 'pkcs8' });
  const enc = createPrivateKey({ key: Buffer.from(j.enc, 'base64'), format: 'der', type: 'pkcs8' });
  return { sign, signPublic: rawPublic(createPublicKey(sign)), enc, encPublic: rawPublic(createPublicKey(enc)) };
}

export function signEd25519(key: KeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(edSign(null, data, key));
}

export function verifyEd25519Key(key: KeyObject, data: Uint8Array, sig: Uint8Array): boolean {
  try {
    return sig.length === 64 && edVerify(null, data, key, sig);
  } catch {
    return false;
  }
}

const INFO = Buffer.from('cosigner-party-envelope/v1');

function kdf(shared: Buffer, eph: Uint8Array, recipient: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([eph, recipient]), INFO, 32));
}

/** Encrypt to `recipient` (raw X25519 public key). */
export function sealTo(recipient: Uint8Array, plain: Uint8Array, ad: Uint8Array): { ciphertext: Uint8Array; ephemeral: Uint8Array; nonce: Uint8Array } {
  const eph = generateKeyPairSync('x25519');
  const ephPub = rawPublic(eph.publicKey);
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: publicFromRaw(recipient, 'X25519') });
  const key = kdf(shared, ephPub, recipient);
  const nonce = randomBytes(12);
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  c.setAAD(ad, { plaintextLength: plain.length });
  const ct = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  return { ciphertext: new Uint8Array(ct), ephemeral: ephPub, nonce: new Uint8Array(nonce) };
}

/** Decrypt a payload sealed to our X25519 key. */
export function openFrom(own: KeyObject, ownPublic: Uint8Array, ephemeral: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array {
  try {
    if (ciphertext.length < 16 || nonce.length !== 12) throw new Error('short');
    const shared = diffieHellman({ privateKey: own, publicKey: publicFromRaw(ephemeral, 'X25519') });
    const key = kdf(shared, ephemeral, ownPublic);
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    const body = ciphertext.subarray(0, ciphertext.length - 16);
    d.setAAD(ad, { plaintextLength: body.length });
    d.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
    return new Uint8Array(Buffer.concat([d.update(body), d.final()]));
  } catch (e) {
    throw new PartyError('ERR_ENVELOPE', 'envelope does not decrypt', { cause: e });
  }
}

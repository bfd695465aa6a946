/**
 * `npx cosigner mpc demo` for EdDSA: a t-of-n FROST(Ed25519) key by DKG, all parties in this
 * process, then one signature under an HD-derived key by the first `threshold` parties, checked
 * by OpenSSL (node:crypto) and by noble before it is returned.
 */
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { MpcError } from '../errors.ts';
import { runLocal } from '../round.ts';
import { parsePath } from './hd.ts';
import { FrostKeygenParty } from './keygen.ts';
import { FrostSignParty } from './sign.ts';
import { fromHex, toHex, verifyEd25519 } from './suite.ts';

export interface EddsaDemoOptions {
  /** Number of parties n (indices 1..n), or the indices themselves. */
  readonly parties: number | readonly number[];
  /** Parties needed to sign (2 <= t <= n). */
  readonly threshold: number;
  /** Non-hardened HD path; default `44/501/0/0/0`. */
  readonly path?: string;
  /** The message itself, hex (any length, may be empty). */
  readonly messageHex: string;
}

export interface EddsaDemoResult {
  readonly algorithm: 'EDDSA_ED25519';
  /** Master public key, 32-byte hex. */
  readonly publicKey: string;
  readonly chainCode: string;
  readonly path: string;
  readonly derivedPublicKey: string;
  readonly messageHex: string;
  /** RFC 8032 signature R || S, 64-byte hex, under `derivedPublicKey`. */
  readonly signature: string;
  readonly signers: readonly number[];
}

export async function demoEddsa(o: EddsaDemoOptions): Promise<EddsaDemoResult> {
  const parties = typeof o.parties === 'number' ? Array.from({ length: o.parties }, (_, i) => i + 1) : [...o.parties].sort((a, b) => a - b);
  const path = o.path ?? '44/501/0/0/0';
  const indices = parsePath(path);
  const message = fromHex(o.messageHex);
  const keygenSession = new Uint8Array(randomBytes(32));
  const keys = runLocal(parties.map((self) => new FrostKeygenParty({ session: keygenSession, self, parties, threshold: o.threshold })));
  const signers = parties.slice(0, o.threshold);
  const signSession = new Uint8Array(randomBytes(32));
  // As the signer service runs it: one aggregator (the first signer) receives the shares.
  const aggregator = signers[0]!;
  const sigs = runLocal(signers.map((self) => new FrostSignParty({ session: signSession, self, signers, share: keys.get(self)!, message, path: indices, aggregator })));
  const first = sigs.get(aggregator);
  if (!first || [...sigs.values()].filter((s) => s !== null).length !== 1) throw new MpcError('ERR_MPC_SIGNATURE', 'the aggregator alone must output the signature');
  if (!verifyEd25519(first.publicKey, message, first.signature) || !ed25519.verify(first.signature, message, first.publicKey, { zip215: false }))
    throw new MpcError('ERR_MPC_SIGNATURE', 'demo signature does not verify');
  const k = keys.get(parties[0]!)!;
  return {
    algorithm: 'EDDSA_ED25519',
    publicKey: toHex(k.publicKey),
    chainCode: toHex(k.chainCode),
    path,
    derivedPublicKey: toHex(first.publicKey),
    messageHex: toHex(message),
    signature: toHex(first.signature),
    signers,
  };
}

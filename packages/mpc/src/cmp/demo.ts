/**
 * `npx cosigner mpc demo` for ECDSA: a t-of-n CMP key (keygen with auxiliary setup), one
 * presignature and one online signature under an HD-derived key, all parties in this process.
 * The signature is verified (own check and @noble/curves) before it is returned.
 */
import { randomBytes } from 'node:crypto';
import { testPrimes, generateBlumPrime } from '../arith/primes.ts';
import { SECP256K1, SECP256R1 } from '../curve.ts';
import { MpcError } from '../errors.ts';
import { runLocal } from '../round.ts';
import { deriveEcdsa, parsePath } from './hd.ts';
import { cmpKeygen } from './keygen.ts';
import { cmpPresign } from './presign.ts';
import { cmpSign, ecdsaVerify } from './sign.ts';
import { digestScalar } from './presign.ts';

export interface EcdsaDemoOptions {
  readonly algorithm: 'ECDSA_SECP256K1' | 'ECDSA_SECP256R1';
  readonly parties: number;
  readonly threshold: number;
  /** Non-hardened path like "44/60/0/0/0"; none: the master key. */
  readonly path?: string;
  /** The 32-byte digest to sign, hex (not hashed again). */
  readonly messageHex: string;
  /** 'fixture': the repository's public test primes (fast, INSECURE); default: fresh safe primes. */
  readonly primes?: 'generate' | 'fixture';
  readonly progress?: (line: string) => void;
}

export interface EcdsaDemoResult {
  readonly algorithm: string;
  readonly publicKey: string;
  readonly chainCode: string;
  readonly path: string;
  readonly derivedPublicKey: string;
  readonly messageHex: string;
  readonly signature: { readonly r: string; readonly s: string; readonly recoveryId: number };
  readonly der: string;
  readonly signers: readonly number[];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const hex32 = (v: bigint): string => v.toString(16).padStart(64, '0');

export async function demoEcdsa(o: EcdsaDemoOptions): Promise<EcdsaDemoResult> {
  const c = o.algorithm === 'ECDSA_SECP256K1' ? SECP256K1 : o.algorithm === 'ECDSA_SECP256R1' ? SECP256R1 : undefined;
  if (!c) throw new MpcError('ERR_MPC_USAGE', `unknown algorithm ${String(o.algorithm)}`);
  if (!/^[0-9a-fA-F]{64}$/.test(o.messageHex)) throw new MpcError('ERR_MPC_USAGE', '--message-hex must be a 32-byte digest (64 hex digits)');
  const n = o.parties;
  if (!Number.isInteger(n) || n < 2 || n > 32) throw new MpcError('ERR_MPC_USAGE', 'parties must be in 2..32');
  if (!Number.isInteger(o.threshold) || o.threshold < 2 || o.threshold > n) throw new MpcError('ERR_MPC_USAGE', `threshold must be in 2..${n}`);
  const digest = Uint8Array.from(Buffer.from(o.messageHex, 'hex'));
  digestScalar(c, digest);
  const indices = o.path ? parsePath(o.path) : [];
  const parties = Array.from({ length: n }, (_, i) => i + 1);
  const say = o.progress ?? (() => {});
  let primes: bigint[];
  if (o.primes === 'fixture') {
    const fx = testPrimes();
    if (2 * n > fx.length) throw new MpcError('ERR_MPC_USAGE', `fixture primes cover at most ${fx.length / 2} parties`);
    primes = fx.slice(0, 2 * n);
  } else {
    say(`generating ${2 * n} safe 1024-bit primes (OpenSSL, thread pool)...`);
    primes = await Promise.all(Array.from({ length: 2 * n }, () => generateBlumPrime()));
  }
  say('key generation (with Paillier / ring-Pedersen setup and proofs)...');
  const ks = new Uint8Array(randomBytes(32));
  const shares = runLocal(parties.map((i) => cmpKeygen({ curve: c, session: ks, self: i, parties, threshold: o.threshold, primes: [primes[2 * i - 2]!, primes[2 * i - 1]!] })));
  const signers = parties.slice(0, o.threshold);
  say(`presigning among ${signers.join(', ')}...`);
  const ps = new Uint8Array(randomBytes(32));
  const pres = runLocal(signers.map((i) => cmpPresign({ session: ps, share: shares.get(i)!, signers })));
  const s1 = shares.get(1)!;
  const d = deriveEcdsa(c, s1.publicKey, s1.chainCode, indices);
  say('online signing...');
  const ss = new Uint8Array(randomBytes(32));
  const sigs = runLocal(signers.map((i) => cmpSign({ session: ss, share: shares.get(i)!, presignature: pres.get(i)!, digest, tweak: d.tweak, signers })));
  const sig = sigs.get(signers[0]!)!;
  if (!ecdsaVerify(c, d.publicKey, digestScalar(c, digest), sig.r, sig.s) || !c.ecdsa.verify(sig.der, digest, d.publicKey.toBytes(true), { prehash: false, format: 'der' }))
    throw new MpcError('ERR_MPC_SIGNATURE', 'demo signature does not verify');
  return {
    algorithm: o.algorithm,
    publicKey: hex(c.encodePoint(s1.publicKey)),
    chainCode: hex(s1.chainCode),
    path: indices.join('/'),
    derivedPublicKey: hex(c.encodePoint(d.publicKey)),
    messageHex: o.messageHex.toLowerCase(),
    signature: { r: hex32(sig.r), s: hex32(sig.s), recoveryId: sig.recoveryId },
    der: hex(sig.der),
    signers,
  };
}

/** Shared helpers of the CMP tests: keygen with fixture primes, presign and sign in-process. */
import { randomBytes } from 'node:crypto';
import { testPrimes } from '../src/arith/primes.ts';
import type { Curve } from '../src/curve.ts';
import { runLocal, type ProtocolMessage } from '../src/round.ts';
import { cmpKeygen, cmpPresignBatch, cmpSign, cmpRefresh, type CmpKeyShare, type CmpPresignature, type EcdsaSignature } from '../src/cmp/index.ts';

/** Fixture primes (test only): party i of run `run` gets pair (i + run) mod 8. */
export function primesFor(i: number, run = 0): [bigint, bigint] {
  const pr = testPrimes();
  const k = ((i - 1 + run * 3) % (pr.length / 2)) * 2;
  return [pr[k]!, pr[k + 1]!];
}

export const sid = (): Uint8Array => randomBytes(32);

export function keygen(curve: Curve, n: number, threshold: number): Map<number, CmpKeyShare> {
  const parties = Array.from({ length: n }, (_, i) => i + 1);
  const s = sid();
  return runLocal(parties.map((i) => cmpKeygen({ curve, session: s, self: i, parties, threshold, primes: primesFor(i) })));
}

export function refresh(shares: Map<number, CmpKeyShare>, run = 1, tamper?: (m: ProtocolMessage) => ProtocolMessage): Map<number, CmpKeyShare> {
  const s = sid();
  return runLocal([...shares.values()].map((sh) => cmpRefresh({ session: s, share: sh, primes: primesFor(sh.self, run) })), tamper ? { tamper } : {});
}

export function presign(shares: Map<number, CmpKeyShare>, signers: number[], count = 1, tamper?: (m: ProtocolMessage) => ProtocolMessage): Map<number, CmpPresignature[]> {
  const s = sid();
  return runLocal(signers.map((i) => cmpPresignBatch({ session: s, share: shares.get(i)!, signers, count })), tamper ? { tamper } : {});
}

export function sign(
  shares: Map<number, CmpKeyShare>, pres: Map<number, CmpPresignature>, signers: number[], digest: Uint8Array, tweak = 0n,
  tamper?: (m: ProtocolMessage) => ProtocolMessage,
): Map<number, EcdsaSignature> {
  const s = sid();
  return runLocal(signers.map((i) => cmpSign({ session: s, share: shares.get(i)!, presignature: pres.get(i)!, digest, tweak, signers })), tamper ? { tamper } : {});
}

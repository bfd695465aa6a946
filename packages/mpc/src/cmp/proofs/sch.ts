/**
 * Π^sch: Schnorr proof of knowledge of x with X = x·G (CMP Fig. 22), split into commitment and
 * response so the commitment A can go into a hash-committed round (keygen round 1) and the
 * challenge can depend on the joint randomness ρ known only later (CMP Fig. 5/6, round 3).
 */
import type { Curve, Point } from '../../curve.ts';
import { mulPub } from '../messages.ts';
import { safely, type RandomSource, type TranscriptLike } from './common.ts';

export interface SchCommitment {
  /** Secret nonce a. */
  readonly a: bigint;
  /** A = a·G. */
  readonly A: Point;
}

export function schCommit(c: Curve, rand?: RandomSource): SchCommitment {
  const a = c.randomScalar(rand);
  return { a, A: c.G.multiply(a) };
}

function challenge(c: Curve, t: TranscriptLike, X: Point, A: Point): bigint {
  t.append('sch/X', c.encodePoint(X));
  t.append('sch/A', c.encodePoint(A));
  return t.challengeScalar(c.n);
}

/** z = a + e·x mod q. `t` must carry the context (session, prover). */
export function schProve(c: Curve, t: TranscriptLike, X: Point, com: SchCommitment, x: bigint): bigint {
  const e = challenge(c, t, X, com.A);
  return c.mod(com.a + e * x);
}

/** z·G == A + e·X. */
export function schVerify(c: Curve, t: TranscriptLike, X: Point, A: Point, z: bigint): boolean {
  return safely(() => {
    const e = challenge(c, t, X, A);
    return mulPub(c, c.G, z).equals(A.add(mulPub(c, X, e)));
  });
}

/**
 * A cheater's Π^dec prover (test only): the prover equations of cmp/proofs/dec.ts without its
 * witness range check, masks sized to hide whatever |y| it is given. It is what a malicious party
 * would run to back a false claim with y' = u + k·N0 (issue 13); the verifier must refuse it.
 */
import { bitLength, mod, modPow, randomSigned, randomUnit } from '../src/arith/bigint.ts';
import { encWith, put, type PaillierCtx, type PedersenCtx, type TranscriptLike } from '../src/cmp/proofs/common.ts';
import { DEC_CHALLENGE_BITS, DEC_HIDING_BITS, DEC_MASK_BITS, DEC_REPS, type DecProof, type DecTerm, type DecWitness } from '../src/cmp/proofs/dec.ts';

const ped = (P: PedersenCtx, a: bigint, b: bigint): bigint => mod(modPow(P.s, a, P.N, false) * modPow(P.t, b, P.N, false), P.N);

export function forgeDec(t: TranscriptLike, q: bigint, K: PaillierCtx, P: PedersenCtx, terms: readonly DecTerm[], x: bigint, wit: readonly DecWitness[]): DecProof {
  const yBits = Math.max(...wit.map((w) => bitLength(w.y)));
  const bits = Math.max(yBits + DEC_CHALLENGE_BITS + DEC_HIDING_BITS, DEC_MASK_BITS);
  const mu = wit.map(() => randomSigned(yBits + bitLength(P.N)));
  const S = wit.map((w, i) => ped(P, w.y, mu[i]!));
  const eph = Array.from({ length: DEC_REPS }, () => {
    const alpha = terms.map(() => randomSigned(bits));
    const nu = terms.map(() => randomSigned(bits + bitLength(P.N)));
    const r = terms.map(() => randomUnit(K.N));
    return {
      alpha, nu, r,
      T: alpha.map((a, i) => ped(P, a, nu[i]!)),
      A: alpha.map((a, i) => encWith(K, a, r[i]!)),
      gamma: mod(alpha.reduce((acc, a, i) => acc + mod(terms[i]!.a, q) * a, 0n), q),
    };
  });
  // The verifier's transcript, in its order (dec.ts `challenges`).
  put(t, 'dec', { N0: K.N, Nhat: P.N, s: P.s, t: P.t, x: mod(x, q) });
  t.append('dec/m', terms.length);
  t.append('dec/reps', eph.length);
  terms.forEach((term, i) => put(t, `dec/${i}`, { C: term.C, a: mod(term.a, q), S: S[i]! }));
  eph.forEach((r, k) => {
    terms.forEach((_, i) => put(t, `dec/${k}/${i}`, { T: r.T[i]!, A: r.A[i]! }));
    put(t, `dec/${k}`, { gamma: r.gamma });
  });
  const es = eph.map(() => t.challengeScalar(1n << BigInt(DEC_CHALLENGE_BITS)));
  return {
    S,
    rounds: eph.map((r, k) => ({
      T: r.T, A: r.A, gamma: r.gamma,
      z1: r.alpha.map((a, i) => a + es[k]! * wit[i]!.y),
      z2: r.nu.map((n, i) => n + es[k]! * mu[i]!),
      w: r.r.map((ri, i) => mod(ri * modPow(wit[i]!.rho, es[k]!, K.N, false), K.N)),
    })),
  };
}

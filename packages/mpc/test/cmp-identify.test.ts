/**
 * Identification against a cheater that backs its lie with a forged Π^dec (issue 13 item 1): in
 * 3-party presigning party 2 broadcasts a false δ_2 and, in the identification round, proves it
 * with y' = u + k·N_2 (k ≡ (δ_2' − u)·N_2⁻¹ mod q), the ciphertext's plaintext shifted by a
 * multiple of N_2; in signing the same with σ_2. Every honest party must name exactly party 2.
 * (With the Π^dec of before, the forged proof verified and nobody, or everybody, was named.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mod, modInv } from '../src/arith/bigint.ts';
import { SECP256K1 as c } from '../src/curve.ts';
import { BROADCAST, type Party, type ProtocolMessage, type Step } from '../src/round.ts';
import { MpcAbort } from '../src/errors.ts';
import { cmpPresignBatch, cmpSign, type CmpKeyShare, type CmpPresignature } from '../src/cmp/index.ts';
import { TAG, bodyReader, bodyWriter } from '../src/cmp/messages.ts';
import { peerPedersen } from '../src/cmp/keyshare.ts';
import type { PaillierCtx, TranscriptLike } from '../src/cmp/proofs/common.ts';
import { encodeDecProof, type DecTerm } from '../src/cmp/proofs/dec.ts';
import { keygen } from './cmp-helpers.ts';
import { forgeDec } from './cmp-forge.ts';
import { record, replay, scalarBytes, setBytes, type Snapshot } from './cmp-tamper-lib.ts';

const PARTIES = [1, 2, 3];
const LIAR = 2;
const shares = keygen(c, 3, 2);

/** y' = u + k·N with Σ a_i·y_i' ≡ x (mod q), shifting the last term: same ciphertexts, false claim. */
function shifted(terms: readonly DecTerm[], ys: readonly bigint[], N: bigint, x: bigint): bigint[] {
  const last = terms.length - 1;
  const sum = terms.reduce((acc, t, i) => acc + mod(t.a, c.n) * ys[i]!, 0n);
  const k = c.mod((x - sum) * modInv(c.mod(terms[last]!.a * N), c.n));
  const out = [...ys];
  out[last] = ys[last]! + k * N;
  return out;
}

/** Makes `p` rewrite the direct messages of its identification round with `rewrite`. */
function intercept(p: Party<unknown>, rewrite: (m: ProtocolMessage, all: readonly ProtocolMessage[]) => ProtocolMessage): void {
  const orig = p.receive.bind(p);
  p.receive = (m: ProtocolMessage): Step<unknown> => {
    const s = orig(m);
    if (s.kind === 'wait') return s;
    return { ...s, messages: s.messages.map((x) => rewrite(x, s.messages)) } as Step<unknown>;
  };
}

function expectOnlyLiar(out: { errors: Map<number, Error> }): void {
  const honest = PARTIES.filter((i) => i !== LIAR);
  for (const i of honest) {
    const e = out.errors.get(i);
    assert.ok(e instanceof MpcAbort, `party ${i}: ${e ? e.message : 'no abort'}`);
    assert.deepEqual(e.culprits, [LIAR], `party ${i}: ${e.message}`);
    assert.match(e.message, /Π\^dec|identified/);
  }
}

interface PresignInternals {
  self: number;
  share: CmpKeyShare;
  me: PaillierCtx;
  entries: Array<{ delta: bigint }>;
  tr(label: string, prover: number, b: number, verifier: number): TranscriptLike;
  U(e: unknown, j: number, H: bigint): bigint;
}

test('presign: a party lying about δ with a forged Π^dec (y\' = u + kN₀) is the one named', () => {
  const session = randomBytes(32);
  const rec = record(PARTIES.map((i) => cmpPresignBatch({ session, share: shares.get(i)!, signers: PARTIES })) as Party<unknown>[]);
  const snap = rec.snaps.find((s) => s.round === 3) as Snapshot<unknown>;
  const which = (m: ProtocolMessage): boolean => m.from === LIAR && m.to === BROADCAST;
  const body = snap.pending.find(which)!.body;
  const lie = c.mod(BigInt('0x' + Buffer.from(body.subarray(4, 36)).toString('hex')) + 1n);
  const out = replay(snap, which, (m) => ({ ...m, body: setBytes(m.body, 4, scalarBytes(lie)) }), (sender) => {
    const p = sender as unknown as PresignInternals;
    p.entries[0]!.delta = lie;
    let H = 0n;
    intercept(sender, (m) => {
      if (m.to === BROADCAST) {
        const r = bodyReader(m.body, TAG.presign4b);
        r.u16();
        H = r.bigint(1024);
        return m;
      }
      // The direct message with the Π^dec proof: replace it by the forgery.
      const U = p.U(p.entries[0], p.self, H);
      const { m: u, rho } = p.share.paillier.decryptWithNonce(U);
      const terms = [{ C: U, a: 1n }];
      const [y] = shifted(terms, [u], p.me.N, lie);
      assert.ok(y !== u && y! > p.me.N);
      const pf = forgeDec(p.tr('dec', p.self, 0, m.to), c.n, p.me, peerPedersen(p.share, m.to), terms, lie, [{ y: y!, rho }]);
      return { ...m, body: bodyWriter(TAG.presign4d).u16(1).bytes(encodeDecProof(pf)).finish() };
    });
  });
  expectOnlyLiar(out);
});

interface SignInternals {
  self: number;
  share: CmpKeyShare;
  sigmas: Map<number, bigint>;
  tr(label: string, prover: number, verifier: number): TranscriptLike;
  sigmaCipher(j: number, Hh: bigint): DecTerm[];
  /** Present once signing re-randomizes the presignature: the claim Π^dec proves is ρ·σ_j. */
  scaled?(j: number): bigint;
}

test('sign: a party lying about σ with a forged Π^dec (the χ̃ term shifted by kN₀) is the one named', () => {
  const session = randomBytes(32);
  const pres = new Map<number, CmpPresignature[]>();
  const psid = randomBytes(32);
  const pr = record(PARTIES.map((i) => cmpPresignBatch({ session: psid, share: shares.get(i)!, signers: PARTIES })) as Party<unknown>[]);
  for (const [i, v] of pr.outputs) pres.set(i, v as CmpPresignature[]);
  const digest = randomBytes(32);
  const rec = record(PARTIES.map((i) => cmpSign({ session, share: shares.get(i)!, presignature: pres.get(i)![0]!, digest, signers: PARTIES })) as Party<unknown>[]);
  const snap = rec.snaps.find((s) => s.round === 1) as Snapshot<unknown>;
  const which = (m: ProtocolMessage): boolean => m.from === LIAR && m.to === BROADCAST;
  const body = snap.pending.find(which)!.body;
  const lie = c.mod(BigInt('0x' + Buffer.from(body.subarray(2, 34)).toString('hex')) + 1n);
  const out = replay(snap, which, (m) => ({ ...m, body: setBytes(m.body, 2, scalarBytes(lie)) }), (sender) => {
    const p = sender as unknown as SignInternals;
    p.sigmas.set(p.self, lie);
    let Hh = 0n;
    intercept(sender, (m) => {
      if (m.to === BROADCAST) {
        const r = bodyReader(m.body, TAG.sign2b);
        Hh = r.bigint(1024);
        return m;
      }
      const r = bodyReader(m.body, TAG.sign2d);
      const mulStar = r.bytes();
      const terms = p.sigmaCipher(p.self, Hh);
      const wit = terms.map((t) => p.share.paillier.decryptWithNonce(t.C));
      const claim = p.scaled ? p.scaled(p.self) : lie;
      const ys = shifted(terms, wit.map((w) => w.m), p.share.paillier.pub.N, claim);
      const me = { N: p.share.paillier.pub.N, N2: p.share.paillier.pub.N2, p: p.share.paillier.p, q: p.share.paillier.q };
      const pf = forgeDec(p.tr('dec', p.self, m.to), c.n, me, peerPedersen(p.share, m.to), terms, claim, ys.map((y, i) => ({ y, rho: wit[i]!.rho })));
      return { ...m, body: bodyWriter(TAG.sign2d).bytes(mulStar).bytes(encodeDecProof(pf)).finish() };
    });
  });
  expectOnlyLiar(out);
});

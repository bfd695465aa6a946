/**
 * Who CMP blames when things go wrong beyond a single altered message (issue 13): an
 * identification that clears everybody names nobody (item 7); a complaint is re-checked by the
 * other parties from the accused's messages and public data (item 3).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { SECP256K1 as c } from '../src/curve.ts';
import { MpcAbort, MpcError } from '../src/errors.ts';
import { BROADCAST, decodeMessage, encodeMessage, type Party, type ProtocolMessage } from '../src/round.ts';
import { cmpKeygen, cmpPresignBatch, cmpSign, type CmpKeyShare, type CmpPresignature } from '../src/cmp/index.ts';
import { keygen, primesFor } from './cmp-helpers.ts';
import { record, replay, scalarBytes, setBytes, type Snapshot } from './cmp-tamper-lib.ts';

const PARTIES = [1, 2, 3];
const DIGEST = createHash('sha256').update('blame').digest();

let shares: Map<number, CmpKeyShare> | undefined;
const keys = (): Map<number, CmpKeyShare> => (shares ??= keygen(c, 3, 2));

/** Runs parties to the end, delivering every message; a party that throws stops, the others go on. */
function runCollect<Out>(parties: Party<Out>[]): { errors: Map<number, MpcError>; outputs: Map<number, Out> } {
  const errors = new Map<number, MpcError>();
  const outputs = new Map<number, Out>();
  const queue: ProtocolMessage[] = [];
  for (const p of parties) {
    const s = p.start();
    if (s.kind !== 'wait') queue.push(...s.messages);
  }
  while (queue.length > 0) {
    const m = queue.shift()!;
    for (const p of parties) {
      if (p.self === m.from || (m.to !== BROADCAST && m.to !== p.self) || errors.has(p.self)) continue;
      try {
        const s = p.receive(decodeMessage(encodeMessage(m)));
        if (s.kind !== 'wait') queue.push(...s.messages);
        if (s.kind === 'done') outputs.set(p.self, s.output);
      } catch (e) {
        if (!(e instanceof MpcError)) throw e;
        errors.set(p.self, e);
      }
    }
  }
  return { errors, outputs };
}

function presignRun(): { snaps: Snapshot<CmpPresignature[]>[]; outputs: Map<number, CmpPresignature[]> } {
  const s = randomBytes(32);
  return record(PARTIES.map((i) => cmpPresignBatch({ session: s, share: keys().get(i)!, signers: PARTIES })));
}

test('item 7: a cheater whose own δ is wrong is named by the honest parties; its own identification finds nobody and names nobody', () => {
  const run = presignRun();
  const snap = run.snaps.find((s) => s.round === 3)!;
  const which = (m: ProtocolMessage): boolean => m.from === 2 && m.to === BROADCAST;
  const bad = c.mod(12345n);
  const out = replay(snap, which, (m) => ({ ...m, body: setBytes(m.body, 4, scalarBytes(bad)) }), (p) => {
    // The cheater believes what it sent, so it runs identification like everyone else.
    (p as unknown as { entries: Array<{ delta: bigint }> }).entries[0]!.delta = bad;
  });
  for (const i of [1, 3]) {
    const e = out.errors.get(i);
    assert.ok(e instanceof MpcAbort, `party ${i}: ${String(e)}`);
    assert.deepEqual(e.culprits, [2]);
  }
  const own = out.errors.get(2);
  assert.ok(own instanceof MpcError && !(own instanceof MpcAbort), `party 2: ${String(own)}`);
  assert.equal(own.code, 'ERR_MPC_UNIDENTIFIED');
  assert.match(own.message, /nobody is blamed/);
});

test('item 7: signing with a presignature every signer holds in the same corrupted form fails at every party, and nobody is named', () => {
  const run = presignRun();
  // The same corruption at every signer (e.g. a restored store of another run): R replaced by
  // R + G everywhere. Every σ_j matches the ciphertexts, so every proof holds.
  const pres = new Map([...run.outputs].map(([i, ps]) => [i, { ...ps[0]!, R: ps[0]!.R.add(c.G), binding: undefined }]));
  const s = randomBytes(32);
  const parties = PARTIES.map((i) => cmpSign({ session: s, share: keys().get(i)!, presignature: pres.get(i)!, digest: DIGEST, signers: PARTIES }));
  const out = runCollect(parties);
  assert.equal(out.outputs.size, 0);
  assert.equal(out.errors.size, 3, 'every party ends with an error');
  for (const [i, e] of out.errors) {
    assert.ok(!(e instanceof MpcAbort), `party ${i} blamed ${(e as MpcAbort).culprits?.join(',')}`);
    assert.equal(e.code, 'ERR_MPC_UNIDENTIFIED');
  }
});

/** k's messages of a recorded round to `complainer` (its broadcast and its direct message). */
const shown = (snap: Snapshot<unknown>, k: number, complainer: number): ProtocolMessage[] =>
  snap.pending.filter((m) => m.from === k && (m.to === BROADCAST || m.to === complainer));
const flipAt = (m: ProtocolMessage, at: number): ProtocolMessage => {
  const body = m.body.slice();
  body[at] = body[at]! ^ 4;
  return { ...m, body };
};

test('item 3: presigning rounds 1-3, a third party re-checks a complaint: honest messages clear the sender and name the complainer, bad ones name the sender', () => {
  const run = presignRun();
  for (const round of [1, 2, 3]) {
    const snap = run.snaps.find((s) => s.round === round)! as Snapshot<unknown>;
    const verifier = snap.parties.find((p) => p.self === 1)!;
    const msgs = shown(snap, 2, 3);
    assert.equal(msgs.length, 2);
    assert.equal(verifier.checkComplaint!(3, msgs), 3, `round ${round}: a false complaint names the complainer`);
    // The sender's own view agrees, and so does the complainer's.
    assert.equal(snap.parties.find((p) => p.self === 2)!.checkComplaint!(3, msgs), 3);
    const bad = msgs.map((m) => (m.to === 3 ? flipAt(m, Math.floor(m.body.length / 2)) : m));
    assert.equal(verifier.checkComplaint!(3, bad), 2, `round ${round}: a true complaint names the sender`);
    // A complaint that leaves out the direct message is the complainer's own.
    assert.equal(verifier.checkComplaint!(3, msgs.filter((m) => m.to === BROADCAST)), 3);
  }
});

test('item 3: key generation round 3 (share, Π^fac, Π^mod, Π^sch) complaints are re-checked the same way', () => {
  const s = randomBytes(32);
  const rec = record(PARTIES.map((i) => cmpKeygen({ curve: c, session: s, self: i, parties: PARTIES, threshold: 2, primes: primesFor(i) })));
  const snap = rec.snaps.find((x) => x.round === 3)! as Snapshot<unknown>;
  const verifier = snap.parties.find((p) => p.self === 1)!;
  const msgs = shown(snap, 2, 3);
  assert.equal(verifier.checkComplaint!(3, msgs), 3, 'the honest share and proofs: false complaint');
  // A wrong share (the scalar right after version and tag) is a true complaint.
  const bad = msgs.map((m) => (m.to === 3 ? flipAt(m, 33) : m));
  assert.equal(verifier.checkComplaint!(3, bad), 2);
});

test('item 3: signing identification complaints (Π^mul*, Π^dec) are re-checked: the liar\'s proofs fail for everyone, an honest prover\'s pass', () => {
  const run = presignRun();
  const s = randomBytes(32);
  const parties = PARTIES.map((i) => cmpSign({ session: s, share: keys().get(i)!, presignature: { ...run.outputs.get(i)![0]!, binding: undefined }, digest: DIGEST, signers: PARTIES }));
  // Party 2 lies about σ_2 (and keeps the lie), so every party runs identification; its round-2
  // messages are kept back so that every party stays in round 2.
  const round2: ProtocolMessage[] = [];
  const queue: ProtocolMessage[] = [];
  for (const p of parties) {
    const st = p.start();
    if (st.kind !== 'wait') queue.push(...st.messages);
  }
  const liar = parties[1]! as unknown as { sigmas: Map<number, bigint> };
  while (queue.length > 0) {
    let m = queue.shift()!;
    if (m.round === 2) {
      round2.push(m);
      continue;
    }
    if (m.from === 2) {
      const v = c.mod(liar.sigmas.get(2)! + 1n);
      liar.sigmas.set(2, v);
      m = { ...m, body: setBytes(m.body, 2, scalarBytes(v)) };
    }
    for (const p of parties) {
      if (p.self === m.from) continue;
      const st = p.receive(decodeMessage(encodeMessage(m)));
      if (st.kind !== 'wait') queue.push(...st.messages);
    }
  }
  assert.ok(parties.every((p) => p.round === 2));
  const verifier = parties[0]!;
  const of = (k: number, to: number): ProtocolMessage[] => round2.filter((m) => m.from === k && (m.to === BROADCAST || m.to === to));
  assert.equal(verifier.checkComplaint(3, of(2, 3)), 2, 'a true complaint against the liar');
  assert.equal(verifier.checkComplaint(2, of(3, 2)), 2, 'the liar\'s complaint against an honest prover is false');
});

test('item 3: presigning identification (round 4: Π^mul, Π^dec for δ) complaints are re-checked', () => {
  const run = presignRun();
  const snap = run.snaps.find((s) => s.round === 3)!;
  const parties = snap.parties;
  const bad = c.mod(777n);
  (parties[1] as unknown as { entries: Array<{ delta: bigint }> }).entries[0]!.delta = bad;
  const round4: ProtocolMessage[] = [];
  const queue = snap.pending.map((m) => (m.from === 2 && m.to === BROADCAST ? { ...m, body: setBytes(m.body, 4, scalarBytes(bad)) } : m));
  while (queue.length > 0) {
    const m = queue.shift()!;
    if (m.round === 4) {
      round4.push(m);
      continue;
    }
    for (const p of parties) {
      if (p.self === m.from || (m.to !== BROADCAST && m.to !== p.self)) continue;
      const st = p.receive(decodeMessage(encodeMessage(m)));
      if (st.kind !== 'wait') queue.push(...st.messages);
    }
  }
  assert.ok(parties.every((p) => p.round === 4));
  const of = (k: number, to: number): ProtocolMessage[] => round4.filter((m) => m.from === k && (m.to === BROADCAST || m.to === to));
  assert.equal(parties[0]!.checkComplaint!(3, of(2, 3)), 2, 'the δ liar\'s proofs fail for a third party too');
  assert.equal(parties[0]!.checkComplaint!(2, of(3, 2)), 2, 'the liar\'s complaint against an honest prover is false');
});

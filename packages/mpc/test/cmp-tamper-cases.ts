/**
 * The CMP tamper matrix: for each protocol, round and message kind, a list of alterations, each
 * expected to end in an abort naming the sender (or, for header changes, a typed routing error).
 * `cmp-tamper.test.ts` runs a representative subset in the gate; `cmp-tamper.slow.test.ts` all.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SECP256K1 as c } from '../src/curve.ts';
import { BROADCAST, type ProtocolMessage } from '../src/round.ts';
import { Reader } from '../src/codec.ts';
import { MpcAbort } from '../src/errors.ts';
import { cmpKeygen, cmpPresignBatch, cmpSign, cmpRefresh, type CmpKeyShare, type CmpPresignature, type EcdsaSignature } from '../src/cmp/index.ts';
import { primesFor } from './cmp-helpers.ts';
import { flipBit, offsets, record, replay, scalarBytes, setBytes, type Snapshot } from './cmp-tamper-lib.ts';

export interface Case {
  readonly name: string;
  run(): void;
}

type AnySnap = Snapshot<unknown>;

interface Runs {
  name: string;
  a: AnySnap[];
  b: AnySnap[];
}

const PARTIES = [1, 2, 3];
const sid = (): Uint8Array => randomBytes(32);
const DIGEST = Uint8Array.from(Buffer.from('9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', 'hex'));

/** Honest recordings of keygen (2-of-3), refresh, presign and sign, twice each (for cross-session replays). */
export function recordAll(full: boolean): Runs[] {
  const s1 = sid();
  const s2 = sid();
  const kg1 = record(PARTIES.map((i) => cmpKeygen({ curve: c, session: s1, self: i, parties: PARTIES, threshold: 2, primes: primesFor(i) })));
  const kg2 = full ? record(PARTIES.map((i) => cmpKeygen({ curve: c, session: s2, self: i, parties: PARTIES, threshold: 2, primes: primesFor(i) }))) : undefined;
  const shares = kg1.outputs as Map<number, CmpKeyShare>;
  const rs1 = sid();
  const rs2 = sid();
  const rf1 = record(PARTIES.map((i) => cmpRefresh({ session: rs1, share: shares.get(i)!, primes: primesFor(i, 1) })));
  const rf2 = full ? record(PARTIES.map((i) => cmpRefresh({ session: rs2, share: shares.get(i)!, primes: primesFor(i, 1) }))) : undefined;
  const ps1 = sid();
  const ps2 = sid();
  const pr1 = record(PARTIES.map((i) => cmpPresignBatch({ session: ps1, share: shares.get(i)!, signers: PARTIES })));
  const pr2 = record(PARTIES.map((i) => cmpPresignBatch({ session: ps2, share: shares.get(i)!, signers: PARTIES })));
  const pres1 = pr1.outputs as Map<number, CmpPresignature[]>;
  const pres2 = pr2.outputs as Map<number, CmpPresignature[]>;
  const ss1 = sid();
  const ss2 = sid();
  const sg1 = record(PARTIES.map((i) => cmpSign({ session: ss1, share: shares.get(i)!, presignature: pres1.get(i)![0]!, digest: DIGEST, signers: PARTIES })));
  const sg2 = record(PARTIES.map((i) => cmpSign({ session: ss2, share: shares.get(i)!, presignature: pres2.get(i)![0]!, digest: DIGEST, signers: PARTIES })));
  assert.equal((sg1.outputs as Map<number, EcdsaSignature>).size, 3);
  return [
    { name: 'keygen', a: kg1.snaps as AnySnap[], b: (kg2?.snaps ?? []) as AnySnap[] },
    { name: 'refresh', a: rf1.snaps as AnySnap[], b: (rf2?.snaps ?? []) as AnySnap[] },
    { name: 'presign', a: pr1.snaps as AnySnap[], b: pr2.snaps as AnySnap[] },
    { name: 'sign', a: sg1.snaps as AnySnap[], b: sg2.snaps as AnySnap[] },
  ];
}

/** The sender keeps the scalar it (dishonestly) sent, as a real cheater would in the identification step. */
function sync(key: string): ((p: unknown, m: ProtocolMessage) => void) | undefined {
  const read = (b: Uint8Array, at: number): bigint | undefined => {
    if (b.length < at + 32) return undefined;
    const v = BigInt('0x' + Buffer.from(b.subarray(at, at + 32)).toString('hex'));
    return v < c.n ? v : undefined;
  };
  if (key === 'presign/3/b')
    return (p, m) => {
      const v = read(m.body, 4);
      if (v !== undefined) (p as { entries: Array<{ delta: bigint }> }).entries[0]!.delta = v;
    };
  if (key === 'sign/1/b')
    return (p, m) => {
      const v = read(m.body, 2);
      if (v !== undefined) (p as { sigmas: Map<number, bigint>; self: number }).sigmas.set((p as { self: number }).self, v);
    };
  return undefined;
}

function expectAbort(snap: AnySnap, which: (m: ProtocolMessage) => boolean, alter: (m: ProtocolMessage) => ProtocolMessage | null, culprit: number, key = ''): void {
  const receiver = snap.pending.find(which)!.to;
  const out = replay(snap, which, alter, sync(key));
  const honest = [...out.errors].filter(([i]) => i !== culprit);
  assert.ok(honest.length > 0, `no honest party aborted (outputs from ${[...out.outputs.keys()].join(',') || 'none'})`);
  for (const [i, e] of honest) {
    assert.ok(e instanceof MpcAbort, `party ${i}: ${e.code} ${e.message}`);
    assert.deepEqual(e.culprits, [culprit], `party ${i}: ${e.message}`);
  }
  // A party that never saw the altered message (a direct message of the last round) may finish;
  // its output is useless without the party that aborted.
  for (const i of out.outputs.keys()) assert.ok(i === culprit || (receiver !== 0 && i !== receiver), `honest party ${i} produced an output`);
}

function expectRoutingError(snap: AnySnap, which: (m: ProtocolMessage) => boolean, alter: (m: ProtocolMessage) => ProtocolMessage, code: string): void {
  const out = replay(snap, which, alter);
  const errs = [...out.errors.values()];
  assert.ok(errs.length > 0 && errs.every((e) => e.code === code), errs.map((e) => e.code).join(',') || 'no error');
}

/** Offsets of the fixed-width fields (scalars, points) inside a body, by protocol/round/kind. */
const SCALAR_AT: Record<string, (body: Uint8Array) => number> = {
  'sign/1/b': () => 2,
  'presign/3/b': () => 4,
  'keygen/3/d': () => 2,
  'refresh/3/d': () => 2,
  'keygen/3/b': (b) => b.length - 32,
};
const POINT_AT: Record<string, (body: Uint8Array) => number> = {
  'presign/2/b': () => 4,
  'presign/3/b': () => 36,
  'keygen/2/b': () => 2 + 4 + 1,
  'refresh/2/b': () => 2 + 4 + 1,
};
/** Bodies made of [ver, tag, u16 count, bytes, bytes, ...]: fields that can be swapped. */
const SWAP: Record<string, { start: number; kind: 'bytes' | 'bigint' }> = {
  'presign/2/d': { start: 4, kind: 'bytes' },
  'presign/1/b': { start: 4, kind: 'bigint' },
};

function swapFirstTwo(body: Uint8Array, start: number): Uint8Array {
  const r = new Reader(body.subarray(start));
  const a = r.bytes();
  const b = r.bytes();
  const restLen = r.remaining;
  const head = body.subarray(0, start);
  const len = (n: number): number[] => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return Uint8Array.from([...head, ...len(b.length), ...b, ...len(a.length), ...a, ...body.subarray(body.length - restLen)]);
}

/** Every case for the given recordings; `full` = the whole matrix, else a representative subset. */
export function cases(runs: Runs[], full: boolean): Case[] {
  const out: Case[] = [];
  for (const run of runs) {
    run.a.forEach((snap, idx) => {
      const kinds = new Map<string, ProtocolMessage>();
      for (const m of snap.pending) {
        const kind = m.to === BROADCAST ? 'b' : 'd';
        // Sender 2 (and receiver 3 for direct messages) in the gate; in the full matrix every
        // sender, and for direct messages one receiver per sender (the next index, cyclically).
        if (!full && (m.from !== 2 || (kind === 'd' && m.to !== 3))) continue;
        if (full && kind === 'd' && m.to !== (m.from % 3) + 1) continue;
        kinds.set(`${m.from}>${m.to}`, m);
      }
      for (const m of kinds.values()) {
        const kind = m.to === BROADCAST ? 'b' : 'd';
        const key = `${run.name}/${snap.round}/${kind}`;
        const label = `${key} ${m.from}->${m.to === 0 ? '*' : m.to}`;
        const which = (x: ProtocolMessage): boolean => x.from === m.from && x.to === m.to;
        const body = (f: (b: Uint8Array) => Uint8Array) => (x: ProtocolMessage): ProtocolMessage => ({ ...x, body: f(x.body) });
        const add = (name: string, f: () => void): void => void out.push({ name: `${label}: ${name}`, run: f });
        // The gate keeps one bit flip per message kind (rotating over the body) and the cheap
        // structural cases; keygen/refresh rounds are costly (Π^prm/Π^mod/Π^fac), so fewer there.
        const heavy = run.name === 'keygen' || run.name === 'refresh';
        const offs = full ? offsets(m.body.length, 16) : [Math.floor((m.body.length * (snap.round * 37 % 100)) / 100)];
        if (!full && run.name === 'refresh' && snap.round !== 3) continue;
        for (const o of offs) add(`bit flip at ${o}/${m.body.length}`, () => expectAbort(snap, which, body((b) => flipBit(b, o, o % 8)), m.from, key));
        if (full || !heavy) add('truncated', () => expectAbort(snap, which, body((b) => b.subarray(0, b.length - 1)), m.from, key));
        if (full) {
          add('extended', () => expectAbort(snap, which, body((b) => Uint8Array.from([...b, 0])), m.from, key));
          add('empty', () => expectAbort(snap, which, body(() => new Uint8Array(0)), m.from, key));
        }
        const sAt = SCALAR_AT[key];
        if (sAt) {
          const vals: Array<[string, bigint]> = full ? [['0', 0n], ['1', 1n], ['q-1', c.n - 1n], ['q', c.n], ['q+1', c.n + 1n]] : heavy ? [['q', c.n]] : [['q', c.n], ['1', 1n]];
          for (const [n, v] of vals) add(`scalar := ${n}`, () => expectAbort(snap, which, body((b) => setBytes(b, sAt(b), scalarBytes(v))), m.from, key));
        }
        const pAt = POINT_AT[key];
        if (pAt) {
          add('point := identity (33 zero bytes)', () => expectAbort(snap, which, body((b) => setBytes(b, pAt(b), new Uint8Array(33))), m.from, key));
          if (full || !heavy) add('point := G', () => expectAbort(snap, which, body((b) => setBytes(b, pAt(b), c.encodePoint(c.G))), m.from, key));
          if (full) add('point := off curve', () => expectAbort(snap, which, body((b) => setBytes(b, pAt(b), Uint8Array.from([2, ...new Uint8Array(31), 5]))), m.from, key));
        }
        const sw = SWAP[key];
        if (sw) add('swapped fields', () => expectAbort(snap, which, body((b) => swapFirstTwo(b, sw.start)), m.from, key));
        if (key === 'sign/1/b') {
          const other = snap.pending.find((x) => x.from !== m.from && x.to === BROADCAST)!;
          add("another party's share", () => expectAbort(snap, which, body(() => other.body), m.from, key));
        }
        // The same round's message of another session (body replayed under this session's header).
        const twin = run.b[idx]?.pending.find((x) => x.from === m.from && x.to === m.to);
        if (twin) add('body from another session', () => expectAbort(snap, which, body(() => twin.body), m.from, key));
        if (twin && (full || (kind === 'b' && snap.round === 1))) {
          add('header: other session', () => expectRoutingError(snap, which, (x) => ({ ...x, session: twin.session }), 'ERR_MPC_WRONG_SESSION'));
          add('header: unknown sender', () => expectRoutingError(snap, which, (x) => ({ ...x, from: 9 }), 'ERR_MPC_WRONG_SENDER'));
          add('header: round from the future', () => expectRoutingError(snap, which, (x) => ({ ...x, round: x.round + 2 }), 'ERR_MPC_WRONG_ROUND'));
        }
      }
    });
  }
  return out;
}

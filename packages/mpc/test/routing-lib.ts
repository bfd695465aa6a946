/**
 * Routing matrix for the round engine (`RoundParty` in src/round.ts), shared by every protocol:
 * runs a protocol honestly once, delivering one (message, recipient) pair at a time, and keeps a
 * snapshot of every party before each delivery. Then, at chosen points of that schedule, it
 * hands one party a message of the wrong kind, the wrong round, or a duplicate, built from what
 * another party (the injector) really sent in the session, and plays the rest of the session out.
 *
 * What must hold (issue 19, item 1): no honest party is blamed. Concretely, after the injection
 *  - either some party aborts, and every culprit it names is the injector (the session's failure
 *    outcome reaches everybody), or
 *  - no party aborts and every party finishes (no one is left waiting, which in the service ends
 *    in a round timeout naming whoever did not send: an honest party).
 * Messages the engine refuses on arrival must leave the recipient exactly as it was; those runs
 * are not played out (the rest is the honest run, which finished).
 */
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { MpcAbort, MpcError, MpcRoutingError } from '../src/errors.ts';
import { FrostNonce } from '../src/frost/share.ts';
import { BROADCAST, decodeMessage, encodeMessage, type Party, type ProtocolMessage } from '../src/round.ts';

interface Pair {
  readonly m: ProtocolMessage;
  readonly to: number;
}

/** Parties copied by `clone` (as opposed to `engineCopy`). */
const copies = new WeakSet<object>();

/** Copies parties deeply enough to run them on independently (immutable class instances are shared). */
function clone<T>(v: T, top = false): T {
  if (typeof v !== 'object' || v === null) return v;
  if (v instanceof Uint8Array) return v.slice() as T;
  if (Array.isArray(v)) return v.map((x) => clone(x)) as T;
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, clone(x)])) as T;
  if (v instanceof Set) return new Set(v) as T;
  const proto = Object.getPrototypeOf(v) as object | null;
  // FrostNonce is consumed in place (take() wipes it): each run needs its own.
  if (top || proto === Object.prototype || proto === null || v instanceof FrostNonce) {
    const o = Object.create(proto) as Record<string, unknown>;
    for (const k of Object.keys(v)) o[k] = clone((v as Record<string, unknown>)[k]);
    if (top) copies.add(o);
    return o as T;
  }
  return v;
}

interface Snap<Out> {
  readonly parties: Party<Out>[];
  readonly queue: Pair[];
  /** Messages each party has been handed so far (for duplicates). */
  readonly delivered: Map<number, ProtocolMessage[]>;
  /** Parties that have their output already. */
  readonly finished: Set<number>;
}

export interface Recording<Out> {
  readonly snaps: Snap<Out>[];
  /** Every message sent in the honest run. */
  readonly sent: ProtocolMessage[];
  /** Highest round number used. */
  readonly rounds: number;
  readonly outputs: Map<number, Out>;
}

// By code, not class, so the matrix judges the old engine (plain MpcError) the same way.
const ROUTING = new Set(['ERR_MPC_WRONG_SESSION', 'ERR_MPC_WRONG_ROUND', 'ERR_MPC_WRONG_SENDER', 'ERR_MPC_DUPLICATE']);
const isRouting = (e: unknown): e is MpcError => e instanceof MpcError && !(e instanceof MpcAbort) && ROUTING.has(e.code);

const wire = (m: ProtocolMessage): ProtocolMessage => decodeMessage(encodeMessage(m));

function pairsOf<Out>(parties: readonly Party<Out>[], m: ProtocolMessage): Pair[] {
  return (m.to === BROADCAST ? parties.filter((p) => p.self !== m.from).map((p) => p.self) : [m.to]).map((to) => ({ m, to }));
}

/** Honest run, one delivery at a time (FIFO), with a snapshot of everything before each delivery. */
export function recordRun<Out>(parties: Party<Out>[]): Recording<Out> {
  const snaps: Snap<Out>[] = [];
  const sent: ProtocolMessage[] = [];
  const outputs = new Map<number, Out>();
  const delivered = new Map<number, ProtocolMessage[]>(parties.map((p) => [p.self, []]));
  let queue: Pair[] = [];
  for (const p of parties) {
    const s = p.start();
    if (s.kind !== 'wait') {
      sent.push(...s.messages);
      queue.push(...s.messages.flatMap((m) => pairsOf(parties, m)));
    }
    if (s.kind === 'done') outputs.set(p.self, s.output);
  }
  const byIndex = new Map(parties.map((p) => [p.self, p]));
  while (queue.length > 0) {
    // `delivered` keeps the very message objects of `sent` (duplicates are found by identity).
    snaps.push({ parties: parties.map((p) => clone(p, true)), queue: [...queue], delivered: new Map([...delivered].map(([k, v]) => [k, [...v]])), finished: new Set(outputs.keys()) });
    const { m, to } = queue.shift()!;
    delivered.get(to)!.push(m);
    const s = byIndex.get(to)!.receive(wire(m));
    if (s.kind !== 'wait') {
      sent.push(...s.messages);
      queue = queue.concat(s.messages.flatMap((x) => pairsOf(parties, x)));
    }
    if (s.kind === 'done') outputs.set(to, s.output);
  }
  if (outputs.size !== parties.length) throw new Error(`honest run: ${parties.length - outputs.size} parties did not finish`);
  return { snaps, sent, rounds: Math.max(...sent.map((m) => m.round)), outputs };
}

export interface Injection {
  readonly name: string;
  readonly point: number;
  readonly to: number;
  readonly message: ProtocolMessage;
}

/**
 * The injections at one point of the schedule: for every message another party sent that the
 * recipient could receive (broadcast, or addressed to it), that message relabelled to every
 * other (round, kind) in 1..rounds+1 × {broadcast, direct}, and an exact copy of each one
 * already delivered to the recipient (a duplicate). `refusableOnly` leaves out relabellings into
 * a (round, kind) the sender really uses towards the recipient: those are body forgeries, which
 * end in an abort naming the sender, and playing them out costs a protocol run each; and the
 * round after the last.
 */
export function injectionsAt<Out>(rec: Recording<Out>, point: number, o: { recipients?: readonly number[]; refusableOnly?: boolean } = {}): Injection[] {
  const { recipients, refusableOnly = false } = o;
  // Past the last round: a protocol whose `expects` takes such messages queues them harmlessly
  // (it is done before they would be replayed), but each must then be played out to show it.
  const maxRound = refusableOnly ? rec.rounds : rec.rounds + 1;
  const snap = rec.snaps[point]!;
  const out: Injection[] = [];
  // (sender, round, kind) of every real message: a relabelled body landing in such a slot is a
  // forgery by its sender (ends in an abort naming it), not a message the engine can refuse.
  const slot = (from: number, round: number, kind: string, to: number): string => `${from}:${round}:${kind}:${to}`;
  const slots = new Set(rec.sent.flatMap((m) => (m.to === BROADCAST ? snap.parties.map((p) => slot(m.from, m.round, 'broadcast', p.self)) : [slot(m.from, m.round, 'direct', m.to)])));
  for (const p of snap.parties) {
    const i = p.self;
    if ((recipients && !recipients.includes(i)) || snap.finished.has(i)) continue;
    const seen = snap.delivered.get(i)!;
    for (const g of rec.sent) {
      if (g.from === i || (g.to !== BROADCAST && g.to !== i)) continue;
      const gKind = g.to === BROADCAST ? 'broadcast' : 'direct';
      for (let r = 1; r <= maxRound; r++) {
        for (const kind of ['broadcast', 'direct'] as const) {
          const message: ProtocolMessage = { ...g, round: r, to: kind === 'broadcast' ? BROADCAST : i };
          const tag = `${g.from}'s round-${g.round} ${gKind}`;
          if (r === g.round && kind === gKind) {
            if (seen.includes(g)) out.push({ name: `duplicate of ${tag} to ${i} at point ${point}`, point, to: i, message });
          } else {
            if (refusableOnly && slots.has(slot(g.from, r, kind, i))) continue;
            const what = kind === gKind ? 'wrong round' : r === g.round ? 'wrong kind' : 'wrong round and kind';
            out.push({ name: `${what}: ${tag} as round-${r} ${kind} to ${i} at point ${point}`, point, to: i, message });
          }
        }
      }
    }
  }
  return out;
}

export interface Verdict {
  readonly ok: boolean;
  readonly why: string;
  /** The run was played out (the injection was taken in), not refused on arrival. */
  readonly played: boolean;
}

/** Plays one injection out and judges it (see the file comment). */
export function runInjection<Out>(rec: Recording<Out>, inj: Injection): Verdict {
  const snap = rec.snaps[inj.point]!;
  const injector = inj.message.from;
  // The recipient alone first: most injections are refused on arrival and need no other party.
  const original = snap.parties.find((p) => p.self === inj.to)!;
  // A message of another round than the current one can only be refused or queued, never run a
  // round, so a copy of the engine's bookkeeping is enough to try it (CMP states are large).
  let target = inj.message.round !== original.round ? engineCopy(original) : clone(original, true);
  let first: ReturnType<Party<Out>['receive']> | undefined;
  let firstError: unknown;
  try {
    first = target.receive(wire(inj.message));
  } catch (e) {
    if (!isRouting(e)) firstError = e;
    else {
      if (e instanceof MpcRoutingError && e.sender !== injector) return { ok: false, why: `refusal names ${e.sender}, not the sender ${injector}`, played: false };
      if (sameEngine(original, target)) return { ok: true, why: `refused on arrival (${e.code})`, played: false };
      // Refused, yet the state changed: play it out to see whether it matters.
    }
  }
  if (target !== original && !isFullCopy(target)) {
    // Taken in: play it out on a full copy (the engine copy shares the protocol's state).
    target = clone(original, true);
    first = undefined;
    firstError = undefined;
    try {
      first = target.receive(wire(inj.message));
    } catch (e) {
      if (!isRouting(e)) firstError = e;
    }
  }
  const parties = snap.parties.map((p) => (p.self === inj.to ? target : clone(p, true)));
  const byIndex = new Map(parties.map((p) => [p.self, p]));
  let queue: Pair[] = [...snap.queue];
  const done = new Set(snap.finished);
  const take = (to: number, f: () => ReturnType<Party<Out>['receive']>): Verdict | undefined => {
    let s;
    try {
      s = f();
    } catch (e) {
      if (isRouting(e)) return undefined;
      if (e instanceof MpcAbort) {
        const honest = e.culprits.filter((c) => c !== injector);
        return honest.length === 0
          ? { ok: true, why: `party ${to} aborted naming the injector ${injector}`, played: true }
          : { ok: false, why: `party ${to} blamed ${honest.join(', ')} (injector ${injector}): ${e.message}`, played: true };
      }
      if (e instanceof MpcError) return { ok: false, why: `party ${to} failed without naming the injector: ${e.code} ${e.message}`, played: true };
      throw e;
    }
    if (s.kind !== 'wait') queue = queue.concat(s.messages.flatMap((x) => pairsOf(parties, x)));
    if (s.kind === 'done') done.add(to);
    return undefined;
  };
  if (firstError !== undefined) {
    const v = take(inj.to, () => {
      throw firstError;
    });
    if (v) return v;
  } else if (first) {
    const s = first;
    if (s.kind !== 'wait') queue = queue.concat(s.messages.flatMap((x) => pairsOf(parties, x)));
    if (s.kind === 'done') done.add(inj.to);
  }
  // The recipient first, so it reaches its checks before the others spend time on the round.
  while (queue.length > 0) {
    const k = Math.max(0, queue.findIndex((p) => p.to === inj.to));
    const [{ m, to }] = queue.splice(k, 1) as [Pair];
    if (done.has(to)) continue;
    const v = take(to, () => byIndex.get(to)!.receive(wire(m)));
    if (v) return v;
  }
  const stuck = parties.filter((p) => !done.has(p.self)).map((p) => p.self);
  if (stuck.length === 0) return { ok: true, why: 'every party finished', played: true };
  return { ok: false, why: `parties ${stuck.join(', ')} never finished (a round timeout would blame an honest party)`, played: true };
}

const ENGINE = ['round', 'aborted', 'inbox', 'early', 'droppedLog'] as const;

/** A copy with the round engine's own bookkeeping (RoundParty's fields) copied, the rest shared. */
function engineCopy<T extends object>(p: T): T {
  const o = Object.create(Object.getPrototypeOf(p) as object) as Record<string, unknown>;
  for (const k of Object.keys(p)) o[k] = (p as Record<string, unknown>)[k];
  for (const k of ENGINE) o[k] = clone(o[k]);
  return o as T;
}

function isFullCopy(p: object): boolean {
  return copies.has(p);
}

/** The engine's bookkeeping is as before (a refused message may not touch anything else). */
function sameEngine(a: object, b: object): boolean {
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return ENGINE.every((k) => isDeepStrictEqual(ra[k], rb[k]));
}

/** Points of the schedule: every one, or the first delivery of each round plus `extra` spread points. */
export function pointsOf<Out>(rec: Recording<Out>, mode: 'all' | 'representative'): number[] {
  const n = rec.snaps.length;
  if (mode === 'all') return Array.from({ length: n }, (_, k) => k);
  const pts = new Set<number>();
  let last = 0;
  for (let k = 0; k < n; k++) {
    const r = rec.snaps[k]!.queue[0]!.m.round;
    if (r !== last) {
      pts.add(k);
      if (k > 0) pts.add(k - 1);
      last = r;
    }
  }
  pts.add(n - 1);
  return [...pts].sort((a, b) => a - b);
}

/** Records an honest run, plays every injection at the chosen points, and asserts every verdict. */
export function matrix(make: () => Party<unknown>[], points: 'all' | 'representative', refusableOnly: boolean): void {
  const rec = recordRun(make());
  const failures: string[] = [];
  let n = 0;
  for (const point of pointsOf(rec, points)) {
    for (const inj of injectionsAt(rec, point, { refusableOnly })) {
      n++;
      const v = runInjection(rec, inj);
      if (!v.ok) failures.push(`${inj.name}: ${v.why}`);
    }
  }
  assert.ok(n > 0, 'no injections');
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${n} injections failed`);
}

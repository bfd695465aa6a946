/**
 * Tamper-test driver for the CMP state machines: runs a protocol honestly round by round,
 * snapshotting every party (a deep copy) before each round's messages are delivered, then
 * replays any round from its snapshot with one message altered, and reports what happened.
 */
import { MpcError } from '../src/errors.ts';
import { BROADCAST, decodeMessage, encodeMessage, type Party, type ProtocolMessage } from '../src/round.ts';

export interface Snapshot<Out> {
  readonly round: number;
  readonly parties: Party<Out>[];
  readonly pending: ProtocolMessage[];
}

function clone<T>(v: T, top = false): T {
  if (typeof v !== 'object' || v === null) return v;
  if (v instanceof Uint8Array) return v.slice() as T;
  if (Array.isArray(v)) return v.map((x) => clone(x)) as T;
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, clone(x)])) as T;
  if (v instanceof Set) return new Set(v) as T;
  const proto = Object.getPrototypeOf(v) as object | null;
  if (top || proto === Object.prototype || proto === null) {
    const o = Object.create(proto) as Record<string, unknown>;
    for (const k of Object.keys(v)) o[k] = clone((v as Record<string, unknown>)[k]);
    return o as T;
  }
  return v; // immutable class instances (points, Paillier keys, ...) are shared
}

const cloneParties = <Out>(ps: Party<Out>[]): Party<Out>[] => ps.map((p) => clone(p, true));

/** Honest run, delivering round by round; returns the snapshots and the outputs. */
export function record<Out>(parties: Party<Out>[]): { snaps: Snapshot<Out>[]; outputs: Map<number, Out> } {
  const snaps: Snapshot<Out>[] = [];
  const outputs = new Map<number, Out>();
  let pending: ProtocolMessage[] = [];
  for (const p of parties) {
    const s = p.start();
    if (s.kind !== 'wait') pending.push(...s.messages);
  }
  let round = 1;
  while (pending.length > 0) {
    snaps.push({ round, parties: cloneParties(parties), pending: [...pending] });
    const next: ProtocolMessage[] = [];
    for (const m of pending) {
      for (const p of parties) {
        if (p.self === m.from || (m.to !== BROADCAST && m.to !== p.self)) continue;
        const s = p.receive(decodeMessage(encodeMessage(m)));
        if (s.kind !== 'wait') next.push(...s.messages);
        if (s.kind === 'done') outputs.set(p.self, s.output);
      }
    }
    pending = next;
    round++;
  }
  return { snaps, outputs };
}

/** What each party ended with: an error (the party stops), an output, or nothing (waiting). */
export interface Outcome<Out> {
  readonly errors: Map<number, MpcError>;
  readonly outputs: Map<number, Out>;
}

/**
 * Replays from `snap` with the message selected by `which` replaced by `alter(m)` (or dropped if
 * it returns null); delivers the altered message's receivers first so the abort comes early.
 */
export function replay<Out>(
  snap: Snapshot<Out>, which: (m: ProtocolMessage) => boolean, alter: (m: ProtocolMessage) => ProtocolMessage | null,
  syncSender?: (sender: Party<Out>, altered: ProtocolMessage) => void,
): Outcome<Out> {
  const parties = cloneParties(snap.parties);
  const byIndex = new Map(parties.map((p) => [p.self, p]));
  const outputs = new Map<number, Out>();
  type Pair = { m: ProtocolMessage; to: number };
  const pairsOf = (m: ProtocolMessage): Pair[] =>
    (m.to === BROADCAST ? parties.filter((p) => p.self !== m.from).map((p) => p.self) : [m.to]).map((to) => ({ m, to }));
  let target: ProtocolMessage | undefined;
  let altered: ProtocolMessage | null = null;
  const rest: ProtocolMessage[] = [];
  for (const m of snap.pending) {
    if (!target && which(m)) {
      target = m;
      altered = alter(m);
      // A cheating sender that keeps believing what it sent (e.g. a wrong δ_i or σ_i).
      if (altered && syncSender) syncSender(parties.find((p) => p.self === m.from)!, altered);
    } else rest.push(m);
  }
  if (!target) throw new Error('replay: no message selected');
  const victims = new Set(pairsOf(target).map((p) => p.to));
  // The tampered message's receivers get everything else first and the tampered message last,
  // so they reach their check before anyone else spends time on the round.
  const all = rest.flatMap(pairsOf);
  let queue: Pair[] = [...all.filter((p) => victims.has(p.to)), ...(altered ? pairsOf(altered).map((p) => ({ m: altered!, to: p.to })) : []), ...all.filter((p) => !victims.has(p.to))];
  const errors = new Map<number, MpcError>();
  while (queue.length > 0) {
    const { m, to } = queue.shift()!;
    const p = byIndex.get(to);
    if (!p || errors.has(to)) continue;
    try {
      const s = p.receive(decodeMessage(encodeMessage(m)));
      if (s.kind !== 'wait') queue = queue.concat(s.messages.flatMap(pairsOf));
      if (s.kind === 'done') outputs.set(p.self, s.output);
    } catch (e) {
      if (e instanceof MpcError) errors.set(to, e);
      else throw e;
    }
  }
  return { errors, outputs };
}

/** Body mutations. */
export const flipBit = (body: Uint8Array, offset: number, bit = 0): Uint8Array => {
  const b = body.slice();
  b[offset] = b[offset]! ^ (1 << bit);
  return b;
};
export const setBytes = (body: Uint8Array, offset: number, v: Uint8Array): Uint8Array => {
  const b = body.slice();
  b.set(v, offset);
  return b;
};
export const scalarBytes = (v: bigint): Uint8Array => Uint8Array.from(Buffer.from(v.toString(16).padStart(64, '0').slice(-64), 'hex'));
/** Evenly spread offsets over a body (always including the first and last bytes). */
export function offsets(len: number, n: number): number[] {
  const out = new Set<number>([0, 1, len - 1]);
  for (let i = 0; i < n; i++) out.add(Math.floor(((i + 0.5) * len) / n));
  return [...out].filter((o) => o >= 0 && o < len).sort((a, b) => a - b);
}

// Test driver for FROST parties: delivers every message through the wire codec, lets a test
// rewrite messages per recipient (tampering, equivocation), and records each party's outcome
// (output or the error it died with) instead of stopping at the first error.
import { decodeMessage, encodeMessage, BROADCAST, type Party, type ProtocolMessage, type Step } from '../src/round.ts';
import { MpcAbort } from '../src/errors.ts';

export type Outcome<Out> = { ok: true; output: Out } | { ok: false; error: unknown };

/** `rewrite(m, to)` may return a different message for recipient `to`. */
export function drive<Out>(parties: readonly Party<Out>[], rewrite?: (m: ProtocolMessage, to: number) => ProtocolMessage): Map<number, Outcome<Out>> {
  const byIndex = new Map(parties.map((p) => [p.self, p]));
  const out = new Map<number, Outcome<Out>>();
  const queue: ProtocolMessage[] = [];
  const step = (p: Party<Out>, f: () => Step<Out>): void => {
    if (out.has(p.self)) return;
    let s: Step<Out>;
    try {
      s = f();
    } catch (error) {
      out.set(p.self, { ok: false, error });
      return;
    }
    if (s.kind === 'wait') return;
    queue.push(...s.messages);
    if (s.kind === 'done') out.set(p.self, { ok: true, output: s.output });
  };
  for (const p of parties) step(p, () => p.start());
  while (queue.length > 0) {
    const m = queue.shift()!;
    const targets = m.to === BROADCAST ? parties.filter((p) => p.self !== m.from) : [byIndex.get(m.to)!];
    for (const p of targets) {
      const mm = rewrite ? rewrite(m, p.self) : m;
      step(p, () => p.receive(decodeMessage(encodeMessage(mm))));
    }
  }
  return out;
}

export function outputs<Out>(r: Map<number, Outcome<Out>>): Map<number, Out> {
  const m = new Map<number, Out>();
  for (const [k, v] of r) {
    if (!v.ok) throw v.error;
    m.set(k, v.output);
  }
  return m;
}

export function culpritsOf(o: Outcome<unknown> | undefined): readonly number[] {
  if (!o || o.ok) throw new Error('expected the party to abort');
  if (!(o.error instanceof MpcAbort)) throw new Error(`expected MpcAbort, got ${String(o.error)}`, { cause: o.error });
  return o.error.culprits;
}

export function flipBit(b: Uint8Array, byte: number, bit = 0): Uint8Array {
  const c = Uint8Array.from(b);
  const i = byte < 0 ? c.length + byte : byte;
  c[i] = c[i]! ^ (1 << bit);
  return c;
}

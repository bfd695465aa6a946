/**
 * `npx cosigner bench mpc` for EdDSA: per-party compute of FROST(Ed25519) key generation
 * (3-of-3 DKG) and signing (3-of-3, path 44/501/0/0/0, a 32-byte message).
 *
 * All parties run in this process; each party's own calls (message decoding, `start`,
 * `receive`) are timed separately and summed over the rounds, so a sample is ONE party's compute
 * for one run (transport and the other parties' work excluded). Before each party starts
 * signing the HD derivation cache is cleared, so `sign` includes a full 5-level derivation;
 * `signCachedPath` is the same with the derivation cached (a party signing again for a path it
 * has seen).
 */
import { randomBytes } from 'node:crypto';
import { decodeMessage, encodeMessage, BROADCAST, type Party, type ProtocolMessage, type Step } from '../round.ts';
import { MpcError } from '../errors.ts';
import { clearDerivationCache } from './hd.ts';
import { FrostKeygenParty } from './keygen.ts';
import { FrostSignParty } from './sign.ts';
import type { FrostKeyShare } from './share.ts';

export interface Timing {
  readonly medianMs: number;
  readonly p95Ms: number;
}

export interface EddsaBenchResult {
  readonly keygen: Timing;
  readonly sign: Timing;
  readonly signCachedPath: Timing;
  readonly iterations: number;
  readonly parties: number;
  readonly threshold: number;
}

/** Run parties to completion, timing each party's own work; returns outputs and ms per party. */
export function timedRun<Out>(parties: readonly Party<Out>[], beforeStart?: () => void): { outputs: Map<number, Out>; ms: Map<number, number> } {
  const byIndex = new Map(parties.map((p) => [p.self, p]));
  const ms = new Map<number, number>(parties.map((p) => [p.self, 0]));
  const outputs = new Map<number, Out>();
  const queue: Uint8Array[] = [];
  const take = (p: Party<Out>, s: Step<Out>): void => {
    if (s.kind === 'wait') return;
    for (const m of s.messages) queue.push(encodeMessage(m));
    if (s.kind === 'done') outputs.set(p.self, s.output);
  };
  const timed = (p: Party<Out>, f: () => Step<Out>): void => {
    const t0 = performance.now();
    const s = f();
    ms.set(p.self, ms.get(p.self)! + performance.now() - t0);
    take(p, s);
  };
  for (const p of parties) {
    beforeStart?.();
    timed(p, () => p.start());
  }
  while (queue.length > 0) {
    const wire = queue.shift()!;
    const head: ProtocolMessage = decodeMessage(wire);
    const targets = head.to === BROADCAST ? parties.filter((p) => p.self !== head.from) : [byIndex.get(head.to)!];
    for (const p of targets) timed(p, () => p.receive(decodeMessage(wire)));
  }
  if (outputs.size !== parties.length) throw new MpcError('ERR_MPC_USAGE', 'bench: a party did not finish');
  return { outputs, ms };
}

function stats(xs: number[]): Timing {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return { medianMs: round(at(0.5)), p95Ms: round(at(0.95)) };
}

export function benchEddsa(opts: { iterations?: number } = {}): EddsaBenchResult {
  const iterations = Math.max(1, opts.iterations ?? 20);
  const parties = [1, 2, 3];
  const threshold = 3;
  const path = '44/501/0/0/0';
  const message = new Uint8Array(randomBytes(32));
  const keygen = (): ReturnType<typeof timedRun<FrostKeyShare>> => {
    const session = new Uint8Array(randomBytes(32));
    return timedRun(parties.map((self) => new FrostKeygenParty({ session, self, parties, threshold })));
  };
  const sign = (keys: Map<number, FrostKeyShare>, cached: boolean): Map<number, number> => {
    const session = new Uint8Array(randomBytes(32));
    return timedRun(
      parties.map((self) => new FrostSignParty({ session, self, signers: parties, share: keys.get(self)!, message, path })),
      cached ? undefined : clearDerivationCache,
    ).ms;
  };
  // Warm-up: JIT and noble's base-point tables.
  const warm = keygen().outputs;
  sign(warm, false);
  sign(warm, true);
  const kg: number[] = [];
  const sg: number[] = [];
  const sgc: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const { outputs, ms } = keygen();
    kg.push(...ms.values());
    sg.push(...sign(outputs, false).values());
    sgc.push(...sign(outputs, true).values());
  }
  return { keygen: stats(kg), sign: stats(sg), signCachedPath: stats(sgc), iterations, parties: parties.length, threshold };
}

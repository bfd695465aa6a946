/**
 * CMP benchmark, 3-of-3 secp256k1, all parties in one process and one thread. Every figure is
 * per party: ONE party's own compute (its start()/receive() calls, timed separately) summed over
 * the rounds (CPU time by default, see `CLOCK`); keygenWithPrimes adds the wall time one party
 * waits for its two safe primes (OpenSSL, thread pool); medians and p95 over the iterations. `bytesPerParty`: bytes one party sends
 * (encoded ProtocolMessages; a broadcast counts once per recipient).
 *
 * Run: `node packages/mpc/bench/cmp.ts [--iterations N] [--json]` or `npx cosigner bench mpc`.
 */
import { randomBytes } from 'node:crypto';
import { testPrimes, generateBlumPrime } from '../src/arith/primes.ts';
import { backendName } from '../src/arith/native.ts';
import { SECP256K1 } from '../src/curve.ts';
import { BROADCAST, decodeMessage, encodeMessage, type Party, type ProtocolMessage, type Step } from '../src/round.ts';
import { cmpKeygen, cmpPresign, cmpPresignBatch, cmpRefresh, cmpSign, type CmpKeyShare, type CmpPresignature } from '../src/cmp/index.ts';

export interface Timing {
  readonly medianMs: number;
  readonly p95Ms: number;
}

export interface EcdsaBenchResult {
  readonly keygen: Timing;
  readonly keygenWithPrimes: Timing;
  readonly refresh: Timing;
  readonly presign: Timing;
  readonly presignBatch10: Timing;
  readonly online: Timing;
  readonly bytesPerParty: { readonly keygen: number; readonly presign: number; readonly online: number };
  readonly iterations: number;
  readonly backend: string;
  readonly clock: 'cpu' | 'wall';
}

/**
 * The clock: CPU time of this (single-threaded) process by default, so figures stay meaningful on
 * a shared machine; COSIGNER_BENCH_CLOCK=wall uses performance.now().
 */
export const CLOCK: 'cpu' | 'wall' = process.env.COSIGNER_BENCH_CLOCK === 'wall' ? 'wall' : 'cpu';
function now(): number {
  if (CLOCK === 'wall') return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Runs parties to completion; ms and bytes sent per party. */
export function timedRun<Out>(parties: readonly Party<Out>[]): { outputs: Map<number, Out>; ms: Map<number, number>; bytes: Map<number, number> } {
  const byIndex = new Map(parties.map((p) => [p.self, p]));
  const ms = new Map<number, number>(parties.map((p) => [p.self, 0]));
  const bytes = new Map<number, number>(parties.map((p) => [p.self, 0]));
  const outputs = new Map<number, Out>();
  const queue: ProtocolMessage[] = [];
  const call = (p: Party<Out>, f: () => Step<Out>): void => {
    const t = now();
    const s = f();
    ms.set(p.self, ms.get(p.self)! + now() - t);
    if (s.kind === 'wait') return;
    queue.push(...s.messages);
    if (s.kind === 'done') outputs.set(p.self, s.output);
  };
  for (const p of parties) call(p, () => p.start());
  while (queue.length > 0) {
    const m = queue.shift()!;
    const wire = encodeMessage(m);
    const targets = m.to === BROADCAST ? parties.filter((p) => p.self !== m.from) : [byIndex.get(m.to)!];
    bytes.set(m.from, bytes.get(m.from)! + wire.length * targets.length);
    for (const p of targets) call(p, () => p.receive(decodeMessage(wire)));
  }
  return { outputs, ms, bytes };
}

function stats(xs: number[]): Timing {
  const s = [...xs].sort((a, b) => a - b);
  const q = (f: number): number => s[Math.min(s.length - 1, Math.ceil(f * s.length) - 1)]!;
  const r = (v: number): number => Math.round(v * 100) / 100;
  return { medianMs: r(s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2), p95Ms: r(q(0.95)) };
}

const PARTIES = [1, 2, 3];
const sid = (): Uint8Array => new Uint8Array(randomBytes(32));

export async function benchEcdsa(opts: { iterations?: number; progress?: (s: string) => void } = {}): Promise<EcdsaBenchResult> {
  const it = Math.max(1, opts.iterations ?? 3);
  const say = opts.progress ?? (() => {});
  const c = SECP256K1;
  const fx = testPrimes();
  const primesFor = (i: number, k: number): [bigint, bigint] => {
    const j = ((i - 1 + k * 3) % (fx.length / 2)) * 2;
    return [fx[j]!, fx[j + 1]!];
  };
  const per = (m: Map<number, number>): number[] => [...m.values()];

  say('keygen');
  const kg: number[] = [];
  let shares = new Map<number, CmpKeyShare>();
  let kgBytes = 0;
  for (let k = 0; k < it; k++) {
    const s = sid();
    const r = timedRun(PARTIES.map((i) => cmpKeygen({ curve: c, session: s, self: i, parties: PARTIES, threshold: 3, primes: primesFor(i, k) })));
    kg.push(...per(r.ms));
    shares = r.outputs;
    kgBytes = r.bytes.get(1)!;
  }

  say('keygen with prime generation (one party generates its two safe primes)');
  const kgp: number[] = [];
  for (let k = 0; k < 1; k++) {
    const t = performance.now();
    await Promise.all([generateBlumPrime(), generateBlumPrime()]);
    const primeMs = performance.now() - t;
    kgp.push(primeMs + stats(kg).medianMs);
  }

  say('refresh');
  const rf: number[] = [];
  for (let k = 0; k < it; k++) {
    const s = sid();
    const r = timedRun([...shares.values()].map((sh) => cmpRefresh({ session: s, share: sh, primes: primesFor(sh.self, k + 1) })));
    rf.push(...per(r.ms));
    shares = r.outputs;
  }

  say('presign');
  const ps: number[] = [];
  let psBytes = 0;
  const pool: Array<Map<number, CmpPresignature>> = [];
  for (let k = 0; k < Math.max(it, 3); k++) {
    const s = sid();
    const r = timedRun(PARTIES.map((i) => cmpPresign({ session: s, share: shares.get(i)!, signers: PARTIES })));
    ps.push(...per(r.ms));
    psBytes = r.bytes.get(1)!;
    pool.push(r.outputs);
  }

  say('presign batch of 10');
  const pb: number[] = [];
  for (let k = 0; k < Math.max(1, Math.floor(it / 3)); k++) {
    const s = sid();
    const r = timedRun(PARTIES.map((i) => cmpPresignBatch({ session: s, share: shares.get(i)!, signers: PARTIES, count: 10 })));
    pb.push(...per(r.ms).map((v) => v / 10));
    for (let b = 0; b < 10; b++) pool.push(new Map([...r.outputs].map(([i, p]) => [i, p[b]!])));
  }

  say('online signing');
  const on: number[] = [];
  let onBytes = 0;
  // The first signature with a key builds that key's precomputed table (once per key share
  // object, like loading the key); it is not part of the per-signature figure.
  pool.forEach((pre, idx) => {
    const s = sid();
    const digest = new Uint8Array(randomBytes(32));
    const r = timedRun(PARTIES.map((i) => cmpSign({ session: s, share: shares.get(i)!, presignature: pre.get(i)!, digest, tweak: 7n, signers: PARTIES })));
    if (idx > 0) on.push(...per(r.ms));
    onBytes = r.bytes.get(1)!;
  });
  return {
    keygen: stats(kg), keygenWithPrimes: stats(kgp), refresh: stats(rf), presign: stats(ps), presignBatch10: stats(pb), online: stats(on),
    bytesPerParty: { keygen: kgBytes, presign: psBytes, online: onBytes }, iterations: it, backend: backendName(), clock: CLOCK,
  };
}

export function renderTable(name: string, r: EcdsaBenchResult): string {
  const row = (k: string, t: Timing): string => `  ${k.padEnd(18)} ${String(t.medianMs).padStart(10)} ${String(t.p95Ms).padStart(10)}`;
  return [
    `${name} (3-of-3, per party, ms; ${r.iterations} iterations, ${r.backend} backend, ${r.clock} clock)`,
    `  ${'phase'.padEnd(18)} ${'median'.padStart(10)} ${'p95'.padStart(10)}`,
    row('keygen', r.keygen), row('keygenWithPrimes', r.keygenWithPrimes), row('refresh', r.refresh),
    row('presign', r.presign), row('presignBatch10', r.presignBatch10), row('online', r.online),
    `  bytes sent per party: keygen ${r.bytesPerParty.keygen}, presign ${r.bytesPerParty.presign}, online ${r.bytesPerParty.online}`,
  ].join('\n');
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--iterations');
  const r = await benchEcdsa({ iterations: i >= 0 ? Number(args[i + 1]) : undefined, progress: (s) => process.stderr.write(s + '\n') });
  if (args.includes('--json')) process.stdout.write(JSON.stringify({ ECDSA_SECP256K1: r }) + '\n');
  else process.stdout.write(renderTable('ECDSA_SECP256K1', r) + '\n');
}

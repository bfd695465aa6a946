/**
 * Benchmarks of the MPC-CMP arithmetic layer: modPow on both backends, Paillier, and the
 * auxiliary-setup proofs Π^mod, Π^prm, Π^fac (test-fixture primes; never real keys).
 *
 *   node packages/mpc/bench/arith.ts [--json] [--quick]
 *   COSIGNER_BIGNUM=bigint node packages/mpc/bench/arith.ts   # everything on the BigInt backend
 *
 * Prints a table (median and p95 in ms) and, with --json, one JSON document instead.
 */
import { backendName, bigintModPow, generatePedersen, modPow, modPowAsync, native, PaillierSecretKey, randomBelow, testPrimes } from '../src/arith/index.ts';
import { Transcript } from '../src/cmp/proofs/transcript.ts';
import { proveMod, verifyMod } from '../src/cmp/proofs/mod.ts';
import { provePrm, verifyPrm } from '../src/cmp/proofs/prm.ts';
import { proveFac, verifyFac } from '../src/cmp/proofs/fac.ts';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const CURVE_Q = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

interface Row {
  name: string;
  backend: string;
  runs: number;
  median_ms: number;
  p95_ms: number;
}
const rows: Row[] = [];

function bench(name: string, backend: string, runs: number, f: () => unknown): void {
  f(); // warm-up (JIT, Montgomery cache)
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  const q = (x: number) => ts[Math.min(ts.length - 1, Math.ceil(x * ts.length) - 1)]!;
  rows.push({ name, backend, runs, median_ms: round(q(0.5)), p95_ms: round(q(0.95)) });
  if (!json) process.stderr.write(`.`);
}
const round = (x: number) => Math.round(x * 1000) / 1000;

const P = testPrimes();
const sk = PaillierSecretKey.fromPrimes(P[0]!, P[1]!);
const N = sk.pub.N;
const N2 = sk.pub.N2;
const be = backendName();
const k = quick ? 0.3 : 1;
const R = (n: number) => Math.max(3, Math.round(n * k));

const b4 = randomBelow(N2);
const e2 = randomBelow(N);
const b2 = randomBelow(N);
bench('modPow 2048-bit exp, 4096-bit mod', 'bigint', R(10), () => bigintModPow(b4, e2, N2));
bench('modPow 2048-bit exp, 2048-bit mod', 'bigint', R(20), () => bigintModPow(b2, e2, N));
if (native) {
  bench('modPow 2048-bit exp, 4096-bit mod (consttime)', 'openssl', R(30), () => native!.modPow(b4, e2, N2, true));
  bench('modPow 2048-bit exp, 4096-bit mod (vartime)', 'openssl', R(30), () => native!.modPow(b4, e2, N2, false));
  bench('modPow 2048-bit exp, 2048-bit mod (consttime)', 'openssl', R(50), () => native!.modPow(b2, e2, N, true));
  bench('modPow call overhead (exp = 1, 4096-bit)', 'openssl', R(500), () => native!.modPow(b4, 1n, N2, false));
}
if (native) {
  const e2816 = randomBelow(1n << 2816n);
  const tbl = native.fixedBaseNew(b2, N, 2048 + 832);
  bench('modPow 2816-bit exp, 2048-bit mod (ladder)', 'openssl', R(30), () => native!.modPow(b2, e2816, N, true));
  bench('fixed-base pow 2816-bit exp, 2048-bit mod (table)', 'openssl', R(30), () => native!.fixedBasePow(tbl, e2816));
  bench('fixed-base table build (2880-bit exps, 2048-bit mod)', 'openssl', R(5), () => native!.fixedBaseNew(b2, N, 2048 + 832));
}
bench('crtPow 2048-bit exp mod N^2 (owner, CRT)', be, R(30), () => sk.crtN2.pow(b4, e2));
bench('Paillier encrypt (public key)', be, R(20), () => sk.pub.encrypt(123456789n));
const c = sk.pub.encrypt(987654321n).c;
bench('Paillier decrypt (CRT)', be, R(30), () => sk.decrypt(c));
bench('Paillier decryptWithNonce (CRT)', be, R(30), () => sk.decryptWithNonce(c));
bench('Paillier mulConst 256-bit k', be, R(30), () => sk.pub.mulConst(c, CURVE_Q - 5n));

const sess = new Uint8Array(32);
const t = (l: string) => Transcript.bound(l, sess, 1);
const modKey = { N, p: sk.p, q: sk.q };
const modProof = proveMod(modKey, t('mod'));
bench('proveMod (m = 80)', be, R(5), () => proveMod(modKey, t('mod')));
bench('verifyMod (m = 80)', be, R(5), () => {
  if (!verifyMod(N, modProof, t('mod'))) throw new Error('verifyMod failed');
});
const ped = generatePedersen(P[2]!, P[3]!);
const phi = (P[2]! - 1n) * (P[3]! - 1n);
const pub = ped.params.publicOnly();
const prmProof = provePrm(ped.params, ped.lambda, phi, t('prm'));
bench('provePrm (m = 80)', be, R(5), () => provePrm(ped.params, ped.lambda, phi, t('prm')));
bench('verifyPrm (m = 80)', be, R(5), () => {
  if (!verifyPrm(pub, prmProof, t('prm'))) throw new Error('verifyPrm failed');
});
const facProof = proveFac(modKey, pub, t('fac'), CURVE_Q);
bench('proveFac', be, R(10), () => proveFac(modKey, pub, t('fac'), CURVE_Q));
bench('verifyFac (verifier owns N̂: CRT)', be, R(10), () => {
  if (!verifyFac(N, ped.params, facProof, t('fac'), CURVE_Q)) throw new Error('verifyFac failed');
});
bench('verifyFac (public N̂ only)', be, R(10), () => {
  if (!verifyFac(N, pub, facProof, t('fac'), CURVE_Q)) throw new Error('verifyFac failed');
});
bench('Pedersen commit (public N̂, 768/2300-bit exps)', be, R(30), () => pub.commit(randomBelow(1n << 768n), randomBelow(1n << 2300n)));
bench('Pedersen commit (owner, CRT)', be, R(30), () => ped.params.commit(randomBelow(1n << 768n), randomBelow(1n << 2300n)));

// Asynchronous (thread-pool) throughput: 8 independent 2048-bit-exponent, 4096-bit-modulus
// exponentiations, sequential on the main thread vs concurrently off the event loop.
async function benchAsync(name: string, runs: number, f: () => Promise<unknown>): Promise<void> {
  await f();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  const q = (x: number) => ts[Math.min(ts.length - 1, Math.ceil(x * ts.length) - 1)]!;
  rows.push({ name, backend: be, runs, median_ms: round(q(0.5)), p95_ms: round(q(0.95)) });
}
const eight = Array.from({ length: 8 }, () => randomBelow(N2));
await benchAsync('8 x modPow 4096-bit mod, sequential', R(5), async () => eight.map((b) => modPow(b, N, N2)));
await benchAsync('8 x modPowAsync 4096-bit mod, concurrent', R(5), () => Promise.all(eight.map((b) => modPowAsync(b, N, N2))));
await benchAsync('precomputeNonces(8) (Paillier ρ^N)', R(5), () => sk.pub.precomputeNonces(8));

const meta = {
  backend: be,
  native: native ? native.version() : null,
  node: process.version,
  cpus: (await import('node:os')).cpus().length,
  date: new Date().toISOString(),
};
if (json) {
  process.stdout.write(JSON.stringify({ ...meta, rows }, null, 2) + '\n');
} else {
  process.stderr.write('\n');
  console.log(`backend: ${be}${native ? ` (${native.version()})` : ''}, node ${process.version}`);
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(`${'operation'.padEnd(w)}  ${'backend'.padEnd(8)} ${'runs'.padStart(5)} ${'median ms'.padStart(10)} ${'p95 ms'.padStart(10)}`);
  for (const r of rows) {
    console.log(`${r.name.padEnd(w)}  ${r.backend.padEnd(8)} ${String(r.runs).padStart(5)} ${r.median_ms.toFixed(3).padStart(10)} ${r.p95_ms.toFixed(3).padStart(10)}`);
  }
  console.log(JSON.stringify({ ...meta, rows }));
}

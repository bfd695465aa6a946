import { test } from 'node:test';
import { existsSync } from 'node:fs';
import assert from 'node:assert/strict';
import { generateKeyPairSync, publicEncrypt, constants, randomBytes, checkPrimeSync } from 'node:crypto';
import {
  mod,
  modPow,
  modInv,
  gcd,
  jacobi,
  randomBelow,
  randomUnit,
  randomSigned,
  isInRange,
  bitLength,
  crtPow,
  isqrt,
  PaillierPublicKey,
  PaillierSecretKey,
  PedersenParams,
  generatePedersen,
  testPrimes,
  backendName,
  generateBlumPrime,
  PrimePool,
  modPowAsync,
  clearFixedBaseCache,
  fixedBaseTables,
  crtContext,
  ctSumProducts,
  CrtContext,
  nativeIsCurrent,
} from '../src/arith/index.ts';
import { MpcError, MpcParseError } from '../src/errors.ts';
import { Writer } from '../src/codec.ts';

// Run this file twice in the gate: once as is (native if built) and once with
// COSIGNER_BIGNUM=bigint (arith-bigint.test.ts spawns that run).
const backend = backendName();

function rnd(bits: number): bigint {
  return BigInt('0x' + randomBytes(Math.ceil(bits / 8)).toString('hex')) >> BigInt(Math.ceil(bits / 8) * 8 - bits);
}

function refPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b = mod(b, m);
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

const P = testPrimes();
const [p0, q0, p1, q1] = [P[0]!, P[1]!, P[2]!, P[3]!];

test(`[${backend}] modPow matches a reference on random inputs, incl. negative exponents and even moduli`, () => {
  for (const bits of [64, 521, 1024, 2048]) {
    for (let i = 0; i < 6; i++) {
      let m = rnd(bits) | 1n | (1n << BigInt(bits - 1));
      if (i === 5) m &= ~1n; // even modulus goes through BigInt on every backend
      const b = rnd(bits + 7);
      const e = rnd(i === 0 ? 3 : bits);
      assert.equal(modPow(b, e, m), refPow(b, e, m));
      assert.equal(modPow(b, e, m, true), refPow(b, e, m));
      assert.equal(modPow(-b, e, m), refPow(mod(-b, m), e, m));
      if (gcd(b, m) === 1n) {
        assert.equal(modPow(b, -e, m), refPow(modInv(b, m), e, m));
        assert.equal((modPow(b, -e, m) * modPow(b, e, m)) % m, 1n % m);
      }
    }
  }
  assert.equal(modPow(5n, 0n, 7n), 1n);
  assert.equal(modPow(0n, 0n, 7n), 1n);
  assert.equal(modPow(0n, 5n, 7n), 0n);
  assert.equal(modPow(5n, 3n, 1n), 0n);
  assert.throws(() => modPow(6n, -1n, 9n), (e: unknown) => e instanceof MpcError && e.code === 'ERR_MPC_USAGE');
  assert.throws(() => modPow(2n, 2n, 0n), MpcError);
});

test(`[${backend}] 2048-bit exponent mod 4096-bit modulus agrees with the reference`, () => {
  const N2 = p0 * q0 * p0 * q0;
  const b = rnd(4000);
  const e = rnd(2048);
  assert.equal(modPow(b, e, N2), refPow(b, e, N2));
  assert.equal(modPow(b, e, N2, true), refPow(b, e, N2));
});

test('modInv, gcd, jacobi, isqrt, bitLength', () => {
  for (let i = 0; i < 50; i++) {
    const m = rnd(300) | 1n;
    const a = rnd(310);
    if (gcd(a, m) === 1n) assert.equal(mod(a * modInv(a, m), m), 1n);
    else assert.throws(() => modInv(a, m), MpcError);
    assert.equal(mod(modInv(-3n, 1000003n) * -3n, 1000003n), 1n);
  }
  assert.throws(() => modInv(4n, 8n), (e: unknown) => e instanceof MpcError && e.code === 'ERR_MPC_USAGE');
  assert.equal(gcd(-12n, 18n), 6n);
  // Large operands (native fast path for coprime odd moduli, Euclid otherwise).
  const Nb = p0 * q0;
  assert.equal(gcd(p0 * 12345n, Nb), p0);
  assert.equal(gcd(Nb, q0 * 7n), q0);
  assert.equal(gcd(0n, Nb), Nb);
  assert.equal(gcd(Nb, 0n), Nb);
  assert.equal(gcd(Nb * Nb, Nb), Nb);
  assert.equal(gcd(Nb + 2n, Nb), 1n);
  assert.equal(gcd(2n * Nb, 4n * Nb), 2n * Nb);
  for (let i = 0; i < 10; i++) {
    const a = rnd(4096);
    const b = rnd(2048) | 1n;
    let x = a, y = b;
    while (y) [x, y] = [y, x % y];
    assert.equal(gcd(a, b), x);
    assert.equal(gcd(b, a), x);
  }
  assert.throws(() => modInv(p0 * 3n, Nb), MpcError);
  // Jacobi against Euler's criterion modulo a prime, and multiplicativity for composites.
  for (let i = 0; i < 30; i++) {
    const a = rnd(1100);
    const eul = refPow(a, (p0 - 1n) / 2n, p0);
    assert.equal(jacobi(a, p0), eul === 1n ? 1 : eul === 0n ? 0 : -1);
    assert.equal(jacobi(a, p0 * q0), jacobi(a, p0) * jacobi(a, q0));
  }
  assert.equal(jacobi(-1n, p0), -1); // Blum prime
  assert.equal(jacobi(6n, 9n), 0);
  assert.throws(() => jacobi(3n, 8n), MpcError);
  for (const n of [0n, 1n, 15n, 16n, 17n, rnd(2048)]) {
    const r = isqrt(n);
    assert.ok(r * r <= n && (r + 1n) * (r + 1n) > n);
  }
  assert.equal(bitLength(0n), 0);
  assert.equal(bitLength(-255n), 8);
  assert.equal(bitLength(256n), 9);
});

test('sampling stays in range and covers it', () => {
  const seen = new Set<bigint>();
  for (let i = 0; i < 400; i++) {
    const x = randomBelow(7n);
    assert.ok(x >= 0n && x < 7n);
    seen.add(x);
  }
  assert.equal(seen.size, 7);
  for (let i = 0; i < 100; i++) {
    const u = randomUnit(15n);
    assert.equal(gcd(u, 15n), 1n);
    const s = randomSigned(3);
    assert.ok(s >= -8n && s <= 8n && isInRange(s, 3));
  }
  assert.ok(isInRange(-8n, 3) && isInRange(8n, 3) && !isInRange(9n, 3) && !isInRange(-9n, 3));
  assert.equal(randomBelow(1n), 0n);
  assert.throws(() => randomBelow(0n), MpcError);
  // An injected source is used verbatim (rejection on the too-large draw 0xff & 7 = 7 >= 5).
  const draws = [Uint8Array.of(0xff), Uint8Array.of(0x02)];
  assert.equal(randomBelow(5n, () => draws.shift()!), 2n);
});

test(`[${backend}] crtPow equals modPow mod pq and mod p^2 q^2, incl. negative exponents and non-units`, () => {
  const N = p0 * q0;
  const N2 = N * N;
  for (let i = 0; i < 4; i++) {
    const b = rnd(4000);
    const e = rnd(2100);
    assert.equal(crtPow(b, e, p0, q0), modPow(b, e, N));
    assert.equal(crtPow(b, e, p0, q0, true), modPow(b, e, N2));
    if (gcd(b, N) === 1n) {
      assert.equal(crtPow(b, -e, p0, q0), modPow(b, -e, N));
      assert.equal(crtPow(b, -e, p0, q0, true), modPow(b, -e, N2));
      // Public short negative exponents take the invert-after path: same values.
      const short = rnd(300);
      assert.equal(crtPow(b, -short, p0, q0, false, true), modPow(b, -short, N));
      assert.equal(crtPow(b, -short, p0, q0, true, true), modPow(b, -short, N2));
      assert.equal(crtPow(b, -e, p0, q0, true, true), modPow(b, -e, N2));
    }
  }
  assert.equal(crtPow(p0 * 5n, 3n, p0, q0), modPow(p0 * 5n, 3n, N));
  assert.equal(crtPow(p0 * 5n, 3n, p0, q0, true), modPow(p0 * 5n, 3n, N2));
  assert.equal(crtPow(p0, 0n, p0, q0), 1n);
});

test(`[${backend}] CrtContext.powModulus equals ρ^N mod N², incl. non-units and ρ >= N`, () => {
  const N = p0 * q0;
  const N2 = N * N;
  const ctx = crtContext(p0, q0, true);
  for (let i = 0; i < 4; i++) {
    const b = rnd(4000);
    assert.equal(ctx.powModulus(b), modPow(b, N, N2));
  }
  for (const b of [1n, 2n, N - 1n, N + 1n, p0 * 7n, q0 * 3n, p0, N2 - 1n]) assert.equal(ctx.powModulus(b), modPow(b, N, N2));
  assert.throws(() => crtContext(p0, q0, false).powModulus(2n), MpcError);
});

test('independent check: modPow(m, e, N) equals OpenSSL RSA raw encryption (RSA_NO_PADDING)', () => {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
  const jwk = publicKey.export({ format: 'jwk' });
  const N = BigInt('0x' + Buffer.from(jwk.n!, 'base64url').toString('hex'));
  const e = BigInt('0x' + Buffer.from(jwk.e!, 'base64url').toString('hex'));
  for (let i = 0; i < 3; i++) {
    const m = randomBelow(N);
    const mBytes = Buffer.from(m.toString(16).padStart(512, '0'), 'hex');
    const c = publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, mBytes);
    assert.equal(modPow(m, e, N), BigInt('0x' + c.toString('hex')));
  }
});

test(`[${backend}] Paillier: round trip, centring, nonce recovery, homomorphism`, () => {
  const sk = PaillierSecretKey.fromPrimes(p0, q0);
  const pk = sk.pub;
  assert.equal(bitLength(pk.N), 2048);
  const half = (pk.N - 1n) / 2n;
  for (const m of [0n, 1n, -1n, 12345678901234567890n, -(2n ** 700n), half, -half, rnd(256)]) {
    const { c, rho } = pk.encrypt(m);
    assert.ok(pk.validCiphertext(c));
    assert.equal(sk.decrypt(c), m);
    assert.equal(pk.encryptWith(m, rho), c);
    const dn = sk.decryptWithNonce(c);
    assert.equal(dn.m, m);
    assert.equal(dn.rho, rho);
  }
  // half + 1 wraps to the negative side: results are centred in (-N/2, N/2].
  assert.equal(sk.decrypt(pk.encrypt(half + 1n).c), -half);
  const a = rnd(256);
  const b = -rnd(256);
  const ca = pk.encrypt(a).c;
  const cb = pk.encrypt(b).c;
  assert.equal(sk.decrypt(pk.add(ca, cb)), a + b);
  assert.equal(sk.decrypt(pk.mulConst(ca, -7n)), -7n * a);
  assert.equal(sk.decrypt(pk.mulConst(ca, b)), a * b);
  assert.equal(sk.decrypt(pk.add(pk.mulConst(ca, 3n), pk.encrypt(5n).c)), 3n * a + 5n);
  // Nonce of a product is the product of nonces.
  const e1 = pk.encrypt(4n);
  const e2 = pk.encrypt(9n);
  assert.equal(sk.decryptWithNonce(pk.add(e1.c, e2.c)).rho, (e1.rho * e2.rho) % pk.N);
  assert.ok(!pk.validCiphertext(0n) && !pk.validCiphertext(pk.N2) && !pk.validCiphertext(p0) && !pk.validCiphertext(-1n));
  assert.throws(() => sk.decrypt(p0 * 7n), MpcError);
});

test('Paillier: encodings are strict', () => {
  const sk = PaillierSecretKey.fromPrimes(p1, q1);
  const pk = sk.pub;
  assert.equal(PaillierPublicKey.decode(pk.encode()).N, pk.N);
  const sk2 = PaillierSecretKey.decode(sk.encode());
  assert.equal(sk2.pub.N, pk.N);
  assert.equal(sk2.decrypt(pk.encrypt(42n).c), 42n);
  const enc = (N: bigint) => new Writer().u8(1).bigint(N).finish();
  const bad: Array<[string, Uint8Array]> = [
    ['even N', enc(pk.N + 1n)],
    ['short N', enc(pk.N >> 1n)],
    ['long N', enc(pk.N << 1n | 1n)],
    ['trailing', Uint8Array.from([...pk.encode(), 0])],
    ['truncated', pk.encode().subarray(0, 100)],
    ['version', Uint8Array.from([2, ...pk.encode().subarray(1)])],
    ['empty', new Uint8Array(0)],
  ];
  for (const [name, b] of bad) assert.throws(() => PaillierPublicKey.decode(b), MpcParseError, name);
  assert.throws(() => PaillierSecretKey.decode(Uint8Array.from([...sk.encode(), 1])), MpcParseError);
  assert.throws(() => PaillierSecretKey.decode(new Writer().u8(1).bigint(p1).bigint(p1).finish()), MpcParseError);
  assert.throws(() => PaillierSecretKey.fromPrimes(p1, p1), MpcError);
  assert.throws(() => PaillierSecretKey.fromPrimes(p1, q1 + 4n), MpcError); // not prime
  assert.throws(() => PaillierSecretKey.fromPrimes(13n, 17n), MpcError); // 17 ≡ 1 mod 4
});

test(`[${backend}] ring-Pedersen: commitments, CRT owner path, strict decoding`, () => {
  const { params, lambda } = generatePedersen(p1, q1);
  const pub = PedersenParams.decode(params.encode());
  assert.ok(pub.equals(params));
  assert.equal(params.s, modPow(params.t, lambda, params.N));
  for (const [x, r] of [
    [5n, 7n],
    [-rnd(300), rnd(2300)],
    [rnd(300), -rnd(2300)],
  ] as const) {
    const c = pub.commit(x, r);
    assert.equal(c, params.commit(x, r)); // CRT path == public path
    assert.equal(c, (modPow(params.s, x, params.N) * modPow(params.t, r, params.N)) % params.N);
  }
  // Homomorphic: C(x1,r1)·C(x2,r2) = C(x1+x2, r1+r2).
  assert.equal((pub.commit(3n, 4n) * pub.commit(-10n, 6n)) % pub.N, pub.commit(-7n, 10n));
  const enc = (N: bigint, s: bigint, t: bigint) => new Writer().u8(1).bigint(N).bigint(s).bigint(t).finish();
  const { N, s, t } = params;
  const bad: Array<[string, Uint8Array]> = [
    ['even', enc(N + 1n, s, t)],
    ['s=0', enc(N, 0n, t)],
    ['s=1', enc(N, 1n, t)],
    ['t=N-1', enc(N, s, N - 1n)],
    ['s=N', enc(N, N, t)],
    ['s>N', enc(N, N + 2n, t)],
    ['t not unit', enc(N, s, p1)],
    ['s=t', enc(N, t, t)],
    ['trailing', Uint8Array.from([...params.encode(), 0])],
    ['truncated', params.encode().subarray(0, 300)],
  ];
  for (const [name, b] of bad) assert.throws(() => PedersenParams.decode(b), MpcParseError, name);
});

test('prime generation: safe Blum primes via OpenSSL, pool take/add', async () => {
  const p = await generateBlumPrime(192);
  assert.equal(bitLength(p), 192);
  assert.equal(p & 3n, 3n);
  assert.ok(checkPrimeSync(p) && checkPrimeSync((p - 1n) / 2n), 'safe prime');
  const pool = new PrimePool({ bits: 192, target: 2 });
  await pool.fill(2);
  assert.equal(pool.size, 2);
  const a = await pool.take();
  const b = await pool.take();
  assert.notEqual(a, b);
  assert.equal(pool.size, 0);
  const c = await pool.take(); // empty pool generates on demand
  assert.equal(bitLength(c), 192);
  assert.throws(() => pool.add([p + 2n]), MpcError); // 1 mod 4
  assert.throws(() => pool.add([P[0]!]), MpcError); // wrong size
  pool.add([p]);
  assert.equal(await pool.take(), p);
  // Fixture primes: 16 distinct safe 1024-bit Blum primes.
  assert.equal(new Set(P).size, 16);
  for (const x of P.slice(0, 2)) assert.ok(bitLength(x) === 1024 && (x & 3n) === 3n && checkPrimeSync(x) && checkPrimeSync(x >> 1n));
});

test('backend selection: the native addon is used when built, unless COSIGNER_BIGNUM=bigint', () => {
  const built = existsSync(new URL('../native/build/Release/cosigner_bn.node', import.meta.url));
  const forced = process.env.COSIGNER_BIGNUM === 'bigint';
  assert.equal(backend, built && !forced ? 'openssl' : 'bigint');
  for (let i = 0; i < 500; i++) {
    const x = rnd(1 + (i % 300));
    assert.equal(bitLength(x), x === 0n ? 0 : x.toString(2).length);
  }
});

test(`[${backend}] modPowAsync matches modPow, runs concurrently, rejects misuse`, async () => {
  const N = p0 * q0;
  const N2 = N * N;
  const cases = Array.from({ length: 6 }, () => [rnd(4000), rnd(2048)] as const);
  const got = await Promise.all(cases.map(([b, e]) => modPowAsync(b, e, N2)));
  cases.forEach(([b, e], i) => assert.equal(got[i], modPow(b, e, N2)));
  assert.equal(await modPowAsync(7n, -5n, N, false), modPow(7n, -5n, N));
  assert.equal(await modPowAsync(7n, 5n, 1024n), refPow(7n, 5n, 1024n)); // even modulus: BigInt
  await assert.rejects(modPowAsync(6n, -1n, 9n), MpcError);
});

test(`[${backend}] Paillier nonce precomputation feeds encrypt`, async () => {
  const sk = PaillierSecretKey.fromPrimes(p1, q1);
  const pk = sk.pub;
  await pk.precomputeNonces(3);
  assert.equal(pk.pooledNonces, 3);
  const seen = new Set<bigint>();
  for (let i = 0; i < 4; i++) {
    const m = BigInt(i) - 2n;
    const { c, rho } = pk.encrypt(m);
    assert.equal(sk.decrypt(c), m);
    assert.equal(sk.decryptWithNonce(c).rho, rho);
    seen.add(rho);
  }
  assert.equal(seen.size, 4);
  assert.equal(pk.pooledNonces, 0);
  // An injected random source bypasses the pool (deterministic tests stay deterministic).
  await pk.precomputeNonces(1);
  const fixed = () => new Uint8Array(256).fill(0x11);
  assert.equal(pk.encrypt(5n, fixed).rho, pk.encrypt(5n, fixed).rho);
  assert.equal(pk.pooledNonces, 1);
  const n = pk.nonce();
  assert.equal(n.rhoN, modPow(n.rho, pk.N, pk.N2));
});

test('native addon loads in worker threads (per-thread state)', async () => {
  const { Worker } = await import('node:worker_threads');
  const url = new URL('../src/arith/bigint.ts', import.meta.url).href;
  const code = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(url)}).then(async (m) => {
      const a = m.modPow(3n, 1000003n, 1000000007n);
      const b = await m.modPowAsync(3n, 1000003n, 1000000007n);
      parentPort.postMessage(String(a) + ':' + String(b));
    });`;
  const results = await Promise.all(
    [1, 2].map(
      () =>
        new Promise<string>((resolve, reject) => {
          const w = new Worker(code, { eval: true, env: process.env });
          w.once('message', (m: string) => {
            void w.terminate();
            resolve(m);
          });
          w.once('error', reject);
        }),
    ),
  );
  const want = String(refPow(3n, 1000003n, 1000000007n));
  for (const r of results) assert.equal(r, `${want}:${want}`);
});

test(`[${backend}] fixed-base tables (transparent in modPow) agree with the reference`, () => {
  clearFixedBaseCache();
  const N = p0 * q0;
  const g = rnd(2040);
  const tb = 2048 + 832;
  const exps = [rnd(tb), rnd(tb - 1), rnd(2816), rnd(1300), rnd(1296), rnd(2000), (1n << BigInt(tb)) - 1n, rnd(tb + 1) | (1n << BigInt(tb)), rnd(600)];
  for (let round = 0; round < 2; round++) {
    for (const e of exps) {
      assert.equal(modPow(g, e, N), refPow(g, e, N));
      assert.equal(modPow(g, -e, N), refPow(modInv(g, N), e, N));
    }
  }
  // CRT-sized moduli (1024-bit) get tables sized to the modulus.
  const h = rnd(1000);
  for (let i = 0; i < 5; i++) {
    const e = rnd(1024);
    assert.equal(modPow(h, e, p0), refPow(h, e, p0));
  }
  if (backend === 'openssl' && process.env.COSIGNER_FIXED_BASE !== '0') assert.ok(fixedBaseTables() >= 2);
  else assert.equal(fixedBaseTables(), 0);
  // Commitments through the cache stay homomorphic.
  const { params } = generatePedersen(p1, q1);
  const pub = params.publicOnly();
  for (let i = 0; i < 5; i++) {
    const x = randomSigned(768);
    const r = rnd(2816) * (i % 2 ? -1n : 1n);
    assert.equal(pub.commit(x, r), params.commit(x, r));
  }
  clearFixedBaseCache();
  assert.equal(fixedBaseTables(), 0);
});

test(`[${backend}] ctSumProducts (constant-time secret scalar sums) equals the BigInt reference, signs and sizes alike`, () => {
  const ref = (m: bigint, t: readonly bigint[]): bigint => mod(t.reduce((a, v, j) => (j % 2 === 1 ? a : a + v * t[j + 1]!), 0n), m);
  const signed = (bits: number): bigint => (randomBytes(1)[0]! & 1 ? -1n : 1n) * rnd(bits);
  for (let i = 0; i < 300; i++) {
    const m = i % 3 === 0 ? 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n : rnd(2 + (i % 1100)) | 3n;
    // δ-like sums: small products and centred Paillier plaintexts of ~1800 bits, many pairs.
    const terms = Array.from({ length: 2 * (1 + (i % 45)) }, (_, j) => (j % 2 === 0 ? signed(1 + ((i * 13 + j) % 1800)) : signed(1 + (j % 300))));
    if (i % 7 === 0) terms[0] = 0n;
    if (i % 11 === 0) terms[1] = -m; // ≡ 0: the m - 0 = m corner of the sign fold
    if (i % 13 === 0) terms[1] = m * 3n;
    assert.equal(ctSumProducts(m, terms), ref(m, terms), `case ${i}`);
  }
  // The gate builds the addon from this source, so it has the constant-time routine.
  assert.equal(nativeIsCurrent(), backend === 'openssl');
  assert.equal(ctSumProducts(7n, []), 0n);
  assert.throws(() => ctSumProducts(7n, [1n]), MpcError);
});

test(`[${backend}] CRT recombination (constant-time Garner step) matches the direct computation`, () => {
  for (const squared of [false, true]) {
    const ctx = new CrtContext(p0, q0, squared);
    for (let i = 0; i < 50; i++) {
      const x = randomBelow(ctx.M);
      assert.equal(ctx.combine(x % ctx.P, x % ctx.Q), x);
    }
    assert.equal(ctx.combine(0n, 0n), 0n);
    assert.equal(ctx.combine(ctx.P - 1n, ctx.Q - 1n), ctx.M - 1n);
  }
});

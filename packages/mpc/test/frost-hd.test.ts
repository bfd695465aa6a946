// Ed25519 non-hardened HD derivation (src/frost/HD.md): committed vectors, an independent
// re-implementation of the specification, and the group-tweak algebra for every signer subset.
// Regenerate the vectors (only when the construction changes on purpose, which breaks every
// derived address): FROST_HD_REGEN=1 node --test packages/mpc/test/frost-hd.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { deriveEd25519, parsePath, clearDerivationCache } from '../src/frost/hd.ts';
import { MpcError } from '../src/errors.ts';

const FILE = new URL('./vectors/ed25519-hd.json', import.meta.url);
const L = ed25519.Point.Fn.ORDER;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const le = (b: Uint8Array): bigint => BigInt('0x' + (hex(Uint8Array.from(b).reverse()) || '0'));
const leHex = (v: bigint): string => hex(Uint8Array.from(Buffer.from(v.toString(16).padStart(64, '0'), 'hex')).reverse());

// RFC 9591 E.1's group key (its secret is a published test value, so derived secrets can be checked).
const MASTERS = [
  {
    publicKey: '15d21ccd7ee42959562fc8aa63224c8851fb3ec85a3faf66040d380fb9738673',
    secretKey: '7b1c33d3f5291d85de664833beb1ad469f7fb6025a0ec78b3a790c6e13a98304',
    chainCode: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
  },
  // RFC 8032 §7.1 TEST 1 public key.
  { publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', chainCode: 'ff'.repeat(32) },
];
const PATHS = ['m', '0', '1', '44/501/0/0/0', 'm/44/501/0/0/1', '2147483647', '0/1/2/3/4/5/6/7/8/9'];

/** The specification of HD.md, written again from the text (not calling hd.ts). */
function specDerive(publicKey: string, chainCode: string, path: number[]) {
  let A = ed25519.Point.fromBytes(unhex(publicKey));
  let c = unhex(chainCode);
  let t = 0n;
  const steps = [];
  for (const i of path) {
    const data = Buffer.alloc(36);
    Buffer.from(A.toBytes()).copy(data, 0);
    data.writeUInt32BE(i, 32);
    const I = new Uint8Array(createHmac('sha512', c).update(data).digest());
    const ti = le(I.subarray(0, 32)) % L;
    A = A.add(ed25519.Point.BASE.multiply(ti));
    c = I.slice(32);
    t = (t + ti) % L;
    steps.push({ index: i, stepTweak: leHex(ti), publicKey: hex(A.toBytes()), chainCode: hex(c) });
  }
  return { derivedPublicKey: hex(A.toBytes()), derivedChainCode: hex(c), tweak: leHex(t), steps };
}

interface Case {
  publicKey: string;
  chainCode: string;
  path: string;
  derivedPublicKey: string;
  derivedChainCode: string;
  tweak: string;
  steps: { index: number; stepTweak: string; publicKey: string; chainCode: string }[];
  derivedSecretKey?: string;
}

if (process.env.FROST_HD_REGEN === '1') {
  const cases: Case[] = [];
  for (const m of MASTERS)
    for (const path of PATHS) {
      const d = specDerive(m.publicKey, m.chainCode, parsePath(path));
      const c: Case = { publicKey: m.publicKey, chainCode: m.chainCode, path, ...d };
      if (m.secretKey) c.derivedSecretKey = leHex((le(unhex(m.secretKey)) + le(unhex(d.tweak))) % L);
      cases.push(c);
    }
  const doc = {
    construction:
      'Cosigner non-hardened HD derivation for threshold Ed25519 keys, v1 (packages/mpc/src/frost/HD.md): I = HMAC-SHA512(c, A || ser32be(i)); t_i = LE(I[0..32]) mod L; A_child = A + t_i*G; c_child = I[32..64]; tweak = sum of t_i mod L. Scalars are 32-byte little-endian hex.',
    note: 'derivedSecretKey is given only for the first master, whose secret key is the published RFC 9591 Appendix E.1 test value: derivedSecretKey = secretKey + tweak mod L.',
    cases,
  };
  writeFileSync(FILE, JSON.stringify(doc, null, 2) + '\n');
}

const V: { cases: Case[] } = JSON.parse(readFileSync(FILE, 'utf8'));

test('committed HD vectors: hd.ts and the independent spec implementation both reproduce them', () => {
  assert.ok(V.cases.length >= 14);
  for (const c of V.cases) {
    clearDerivationCache();
    const d = deriveEd25519(unhex(c.publicKey), unhex(c.chainCode), c.path);
    assert.equal(hex(d.publicKey), c.derivedPublicKey, c.path);
    assert.equal(hex(d.chainCode), c.derivedChainCode, c.path);
    assert.equal(leHex(d.tweak), c.tweak, c.path);
    // Cached path gives the same answer.
    assert.equal(hex(deriveEd25519(unhex(c.publicKey), unhex(c.chainCode), c.path).publicKey), c.derivedPublicKey);
    const s = specDerive(c.publicKey, c.chainCode, parsePath(c.path));
    assert.deepEqual(s, { derivedPublicKey: c.derivedPublicKey, derivedChainCode: c.derivedChainCode, tweak: c.tweak, steps: c.steps });
    // Step-wise derivation composes: deriving the last index from the parent step gives the child.
    if (c.steps.length >= 2) {
      const parent = c.steps[c.steps.length - 2]!;
      const last = c.steps[c.steps.length - 1]!;
      assert.equal(hex(deriveEd25519(unhex(parent.publicKey), unhex(parent.chainCode), [last.index]).publicKey), last.publicKey);
    }
  }
});

test('derived secret = master secret + tweak (published RFC 9591 test key only): (s + t)·G = derived key', () => {
  for (const c of V.cases.filter((x) => x.derivedSecretKey)) {
    assert.equal(hex(ed25519.Point.BASE.multiply(le(unhex(c.derivedSecretKey!))).toBytes()), c.derivedPublicKey);
  }
});

test('group tweak: for a 2-of-3 and a 3-of-5 sharing, every signer subset interpolates shares s_i + t to s + t', () => {
  // A dedicated algebra test on a throwaway dealer polynomial (no real key involved).
  const rnd = (): bigint => le(crypto.getRandomValues(new Uint8Array(64))) % L;
  const inv = (a: bigint): bigint => ed25519.Point.Fn.inv(((a % L) + L) % L);
  for (const [t, n] of [[2, 3], [3, 5]] as const) {
    const f = Array.from({ length: t }, rnd);
    const share = (x: number): bigint => f.reduceRight((acc, a) => (acc * BigInt(x) + a) % L, 0n);
    const tweak = rnd();
    const ids = Array.from({ length: n }, (_, i) => i + 1);
    const subsets = (k: number, from: number[]): number[][] => (k === 0 ? [[]] : from.flatMap((x, i) => subsets(k - 1, from.slice(i + 1)).map((s) => [x, ...s])));
    for (let k = t; k <= n; k++)
      for (const S of subsets(k, ids)) {
        let sum = 0n;
        for (const i of S) {
          let num = 1n;
          let den = 1n;
          for (const j of S) {
            if (j === i) continue;
            num = (num * BigInt(j)) % L;
            den = (den * ((BigInt(j - i) % L) + L)) % L;
          }
          sum = (sum + ((num * inv(den)) % L) * ((share(i) + tweak) % L)) % L;
        }
        assert.equal(sum, (f[0]! + tweak) % L, `subset ${S}`);
      }
  }
});

test('paths: non-hardened only, strict syntax', () => {
  assert.deepEqual(parsePath(''), []);
  assert.deepEqual(parsePath('m'), []);
  assert.deepEqual(parsePath('m/44/501/0/0/0'), [44, 501, 0, 0, 0]);
  assert.deepEqual(parsePath('44/501/0/0/0'), [44, 501, 0, 0, 0]);
  assert.deepEqual(parsePath('2147483647'), [2147483647]);
  for (const bad of ["44'/501", '44h/0', '2147483648', '01', '-1', '1//2', 'a', '1/', '4294967296', '1.5'])
    assert.throws(() => parsePath(bad), (e: unknown) => e instanceof MpcError && e.code === 'ERR_MPC_USAGE', bad);
});

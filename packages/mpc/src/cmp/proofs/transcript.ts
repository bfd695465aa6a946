/**
 * Fiat-Shamir transcript shared by every CMP zero-knowledge proof (CMP §2.1 / §5: the
 * non-interactive versions replace the verifier's challenge by a hash of the statement, the
 * context and the prover's first message).
 *
 * Construction: one running SHA-512 state, domain separated by a fixed prefix and the
 * transcript's label. Each `append` absorbs an unambiguous frame
 *   u32 len(label) ‖ label ‖ u8 type ‖ u32 len(data) ‖ data
 * (type: 1 bytes, 2 signed bigint as sign byte + minimal magnitude, 3 UTF-8 string, 4 u64), so no
 * two different sequences of appends collide. A challenge hashes a copy of the state with a
 * "challenge" frame and a counter into a 64-byte seed, expands the seed with SHA-512 in counter
 * mode, and samples by rejection (so challenges are exactly uniform in their range); the seed is
 * then absorbed so later challenges depend on earlier ones.
 *
 * Callers must bind the transcript to the session id and the prover's party index (and whatever
 * statement the proof is about) before proving: `Transcript.bound('cmp/mod', session, i)`.
 * Every prove/verify function absorbs its statement and first message into the transcript it is
 * given (the object is mutated); pass `t.fork()` to reuse a common prefix for several proofs.
 */
import { createHash, type Hash } from 'node:crypto';
import { MpcError } from '../../errors.ts';
import { randomBelow, type RandomSource } from '../../arith/bigint.ts';

const DOMAIN = 'cosigner/cmp/transcript/v1';
const enc = new TextEncoder();

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}

function bigintBytes(v: bigint): Uint8Array {
  const neg = v < 0n;
  const mag = neg ? -v : v;
  let hex = mag === 0n ? '' : mag.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  const out = new Uint8Array(1 + hex.length / 2);
  out[0] = neg ? 1 : 0;
  out.set(Buffer.from(hex, 'hex'), 1);
  return out;
}

export type TranscriptData = Uint8Array | bigint | string | number;

export class Transcript {
  private h: Hash;
  private counter: number;

  constructor(label: string, _state?: { h: Hash; counter: number }) {
    if (_state) {
      this.h = _state.h;
      this.counter = _state.counter;
      return;
    }
    this.h = createHash('sha512');
    this.counter = 0;
    this.h.update(enc.encode(DOMAIN));
    this.append('label', label);
  }

  /** A transcript for proof `label`, bound to the session id and the prover's party index. */
  static bound(label: string, session: Uint8Array, party: number): Transcript {
    return new Transcript(label).append('session', session).append('party', party);
  }

  /** Absorb one labelled value (bytes, signed bigint, string, or non-negative safe integer). */
  append(label: string, data: TranscriptData): this {
    let type: number;
    let bytes: Uint8Array;
    if (data instanceof Uint8Array) {
      type = 1;
      bytes = data;
    } else if (typeof data === 'bigint') {
      type = 2;
      bytes = bigintBytes(data);
    } else if (typeof data === 'string') {
      type = 3;
      bytes = enc.encode(data);
    } else {
      if (!Number.isSafeInteger(data) || data < 0) throw new MpcError('ERR_MPC_USAGE', 'Transcript: numbers must be non-negative safe integers');
      type = 4;
      bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigUint64(0, BigInt(data));
    }
    const l = enc.encode(label);
    this.h.update(u32(l.length));
    this.h.update(l);
    this.h.update(Uint8Array.of(type));
    this.h.update(u32(bytes.length));
    this.h.update(bytes);
    return this;
  }

  /** Absorb several values under one label prefix (label/0, label/1, ...). */
  appendAll(label: string, data: readonly TranscriptData[]): this {
    this.append(label + '#', data.length);
    data.forEach((d, i) => this.append(`${label}/${i}`, d));
    return this;
  }

  /** A deterministic byte stream for one challenge; its seed is absorbed into the transcript. */
  private stream(label: string): RandomSource {
    const ctr = this.counter++;
    const seed = this.h
      .copy()
      .update(enc.encode('challenge'))
      .update(u32(ctr))
      .update(u32(label.length))
      .update(enc.encode(label))
      .digest();
    this.append('challenge-seed', new Uint8Array(seed));
    let block = 0;
    let buf = new Uint8Array(0);
    return (k: number) => {
      while (buf.length < k) {
        const next = createHash('sha512').update(seed).update(u32(block++)).digest();
        const merged = new Uint8Array(buf.length + next.length);
        merged.set(buf);
        merged.set(next, buf.length);
        buf = merged;
      }
      const out = buf.slice(0, k);
      buf = buf.slice(k);
      return out;
    };
  }

  /** Uniform in [0, q) (e.g. a curve scalar). */
  challengeScalar(q: bigint): bigint {
    return randomBelow(q, this.stream('scalar'));
  }

  /** Uniform in ±q = [-q, q] (the paper's challenge e ← ±q in Π^enc, Π^aff-g, Π^log*, Π^fac). */
  challengeSigned(q: bigint): bigint {
    return randomBelow(2n * q + 1n, this.stream('signed')) - q;
  }

  /** n uniform bits (Π^prm's e_i ∈ {0,1}). */
  challengeBits(n: number): boolean[] {
    const bytes = this.stream('bits')(Math.ceil(n / 8));
    const out: boolean[] = [];
    for (let i = 0; i < n; i++) out.push(((bytes[i >> 3]! >> (i & 7)) & 1) === 1);
    return out;
  }

  /** Uniform in Z_N = [0, N) (Π^mod's y_i). */
  challengeModN(N: bigint): bigint {
    return randomBelow(N, this.stream('modN'));
  }

  /** Raw challenge bytes (for callers that need a seed). */
  challengeBytes(n: number): Uint8Array {
    return this.stream('bytes')(n);
  }

  /** An independent copy: appends to the fork do not affect this transcript and vice versa. */
  fork(): Transcript {
    return new Transcript('', { h: this.h.copy(), counter: this.counter });
  }
}

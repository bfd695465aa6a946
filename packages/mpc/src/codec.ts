/**
 * The package's compact, versioned byte encoding. Every field is length-checked on read; a reader
 * that is not fully consumed is an error (no trailing bytes), so one message has one encoding.
 *
 * Layout primitives: u8, u16 (BE), u32 (BE), fixed bytes, var bytes (u32 length prefix),
 * bigint as var bytes (unsigned big-endian, minimal: no leading zero byte), scalar as fixed
 * 32 bytes (range-checked by the caller's curve), strings as UTF-8 var bytes.
 */
import { MpcParseError } from './errors.ts';

/** Hard cap on any single variable-length field, so a hostile length cannot exhaust memory. */
export const MAX_FIELD_BYTES = 1 << 20;

export class Writer {
  private chunks: Uint8Array[] = [];
  private size = 0;
  private push(b: Uint8Array): this {
    this.chunks.push(b);
    this.size += b.length;
    return this;
  }
  u8(v: number): this {
    return this.push(Uint8Array.of(v & 0xff));
  }
  u16(v: number): this {
    return this.push(Uint8Array.of((v >>> 8) & 0xff, v & 0xff));
  }
  u32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0);
    return this.push(b);
  }
  fixed(b: Uint8Array): this {
    return this.push(Uint8Array.from(b));
  }
  bytes(b: Uint8Array): this {
    this.u32(b.length);
    return this.push(Uint8Array.from(b));
  }
  string(s: string): this {
    return this.bytes(new TextEncoder().encode(s));
  }
  /** Unsigned bigint, minimal big-endian (0 encodes as zero bytes). */
  bigint(v: bigint): this {
    if (v < 0n) throw new RangeError('Writer.bigint: negative');
    return this.bytes(bigintToBytes(v));
  }
  /** Signed bigint: a sign byte (0 or 1) then the magnitude. ZK responses may be negative. */
  sbigint(v: bigint): this {
    this.u8(v < 0n ? 1 : 0);
    return this.bigint(v < 0n ? -v : v);
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

export class Reader {
  private off = 0;
  private readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  private take(n: number): Uint8Array {
    if (n < 0 || this.off + n > this.buf.length) throw new MpcParseError(`truncated: need ${n} bytes at ${this.off}`);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }
  u8(): number {
    return this.take(1)[0]!;
  }
  u16(): number {
    const b = this.take(2);
    return (b[0]! << 8) | b[1]!;
  }
  u32(): number {
    const b = this.take(4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  }
  fixed(n: number): Uint8Array {
    return Uint8Array.from(this.take(n));
  }
  bytes(max = MAX_FIELD_BYTES): Uint8Array {
    const n = this.u32();
    if (n > max) throw new MpcParseError(`field of ${n} bytes exceeds ${max}`);
    return Uint8Array.from(this.take(n));
  }
  string(max = 4096): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes(max));
    } catch (e) {
      if (e instanceof MpcParseError) throw e;
      throw new MpcParseError('invalid UTF-8', { cause: e });
    }
  }
  bigint(maxBytes = MAX_FIELD_BYTES): bigint {
    const b = this.bytes(maxBytes);
    if (b.length > 0 && b[0] === 0) throw new MpcParseError('non-minimal bigint encoding');
    return bytesToBigint(b);
  }
  sbigint(maxBytes = MAX_FIELD_BYTES): bigint {
    const sign = this.u8();
    if (sign > 1) throw new MpcParseError('bad sign byte');
    const v = this.bigint(maxBytes);
    if (sign === 1 && v === 0n) throw new MpcParseError('negative zero');
    return sign === 1 ? -v : v;
  }
  get remaining(): number {
    return this.buf.length - this.off;
  }
  /** Throws unless every byte was consumed. */
  end(): void {
    if (this.off !== this.buf.length) throw new MpcParseError(`${this.buf.length - this.off} trailing bytes`);
  }
}

export function bigintToBytes(v: bigint): Uint8Array {
  if (v === 0n) return new Uint8Array(0);
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export function bytesToBigint(b: Uint8Array): bigint {
  if (b.length === 0) return 0n;
  return BigInt('0x' + Buffer.from(b).toString('hex'));
}

/** Fixed-width big-endian encoding (for scalars). */
export function bigintToFixed(v: bigint, len: number): Uint8Array {
  const b = bigintToBytes(v);
  if (b.length > len) throw new RangeError('bigintToFixed: value too large');
  const out = new Uint8Array(len);
  out.set(b, len - b.length);
  return out;
}

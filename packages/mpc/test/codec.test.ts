import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, Writer, decodeMessage, encodeMessage, MpcParseError, type ProtocolMessage } from '../src/index.ts';

test('codec round-trips and refuses trailing bytes and non-minimal bigints', () => {
  const w = new Writer().u8(7).u16(513).u32(70000).bigint(0n).bigint(255n).sbigint(-5n).string('hé').bytes(Uint8Array.of(1, 2));
  const buf = w.finish();
  const r = new Reader(buf);
  assert.equal(r.u8(), 7);
  assert.equal(r.u16(), 513);
  assert.equal(r.u32(), 70000);
  assert.equal(r.bigint(), 0n);
  assert.equal(r.bigint(), 255n);
  assert.equal(r.sbigint(), -5n);
  assert.equal(r.string(), 'hé');
  assert.deepEqual(r.bytes(), Uint8Array.of(1, 2));
  r.end();
  assert.throws(() => new Reader(Uint8Array.of(0, 0, 0, 2, 0, 1)).bigint(), MpcParseError);
  const r2 = new Reader(Uint8Array.of(1, 2));
  r2.u8();
  assert.throws(() => r2.end(), MpcParseError);
  assert.throws(() => new Reader(Uint8Array.of(0, 0, 0, 9, 1)).bytes(), MpcParseError);
});

test('protocol messages round-trip and malformed ones are refused', () => {
  const m: ProtocolMessage = { protocol: 'cmp/presign', session: new Uint8Array(32).fill(3), round: 2, from: 1, to: 3, body: Uint8Array.of(9, 9) };
  const bytes = encodeMessage(m);
  assert.deepEqual(decodeMessage(bytes), m);
  const cases: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['bad version', Uint8Array.from([2, ...bytes.subarray(1)])],
    ['bad protocol', Uint8Array.from([1, 99, ...bytes.subarray(2)])],
    ['truncated', bytes.subarray(0, bytes.length - 1)],
    ['trailing', Uint8Array.from([...bytes, 0])],
  ];
  for (const [name, b] of cases) assert.throws(() => decodeMessage(b), MpcParseError, name);
});

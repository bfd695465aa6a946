// Soak (not in the gate): 3-of-5 and 2-of-3 keys, every signer subset, several refreshes, random
// paths and messages; every signature checked by OpenSSL under the derived key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { runLocal } from '../src/round.ts';
import { FrostKeygenParty } from '../src/frost/keygen.ts';
import { FrostRefreshParty } from '../src/frost/refresh.ts';
import { FrostSignParty } from '../src/frost/sign.ts';
import { deriveEd25519 } from '../src/frost/hd.ts';
import { verifyEd25519 } from '../src/frost/suite.ts';
import type { FrostKeyShare } from '../src/frost/share.ts';

const sid = (): Uint8Array => new Uint8Array(randomBytes(32));
const subsets = (k: number, from: number[]): number[][] => (k === 0 ? [[]] : from.flatMap((x, i) => subsets(k - 1, from.slice(i + 1)).map((s) => [x, ...s])));

for (const [t, n] of [[2, 3], [3, 5], [4, 4]] as const) {
  test(`soak ${t}-of-${n}: every subset signs across 3 refreshes`, () => {
    const parties = Array.from({ length: n }, (_, i) => i + 1);
    const s0 = sid();
    let keys: Map<number, FrostKeyShare> = runLocal(parties.map((self) => new FrostKeygenParty({ session: s0, self, parties, threshold: t })));
    const pk = keys.get(1)!.publicKey;
    const cc = keys.get(1)!.chainCode;
    for (let epoch = 0; epoch < 3; epoch++) {
      for (let k = t; k <= n; k++)
        for (const S of subsets(k, parties)) {
          const path = Array.from({ length: randomInt(0, 6) }, () => randomInt(0, 0x80000000));
          const message = new Uint8Array(randomBytes(randomInt(0, 300)));
          const s = sid();
          const out = runLocal(S.map((self) => new FrostSignParty({ session: s, self, signers: S, share: keys.get(self)!, message, path })));
          const want = deriveEd25519(pk, cc, path).publicKey;
          for (const o of out.values()) {
            assert.ok(o);
            assert.deepEqual(o.publicKey, want);
            assert.ok(verifyEd25519(want, message, o.signature));
          }
        }
      const rs = sid();
      const cur = keys;
      keys = runLocal(parties.map((self) => new FrostRefreshParty({ session: rs, self, share: cur.get(self)! })));
      assert.deepEqual(keys.get(2)!.publicKey, pk);
    }
  });
}

/**
 * The routing matrix (routing-lib.ts) for CMP key generation, presigning and online signing
 * (secp256k1, 2-of-3 key, fixture primes). `routing.test.ts` runs a representative set in the
 * gate, `routing.slow.test.ts` every point.
 */
import { randomBytes } from 'node:crypto';
import { SECP256K1 as c } from '../src/curve.ts';
import { runLocal, type Party } from '../src/round.ts';
import { cmpKeygen, cmpPresignBatch, cmpSign, type CmpKeyShare, type CmpPresignature } from '../src/cmp/index.ts';
import { primesFor } from './cmp-helpers.ts';

const sid = (): Uint8Array => new Uint8Array(randomBytes(32));
const PARTIES = [1, 2, 3];
const SIGNERS = [1, 2];
const DIGEST = new Uint8Array(32).fill(7);

let keys: Map<number, CmpKeyShare> | undefined;
let pres: Map<number, CmpPresignature> | undefined;
function shares(): Map<number, CmpKeyShare> {
  if (!keys) {
    const session = sid();
    keys = runLocal(PARTIES.map((self) => cmpKeygen({ curve: c, session, self, parties: PARTIES, threshold: 2, primes: primesFor(self) })));
  }
  return keys;
}
function presignatures(): Map<number, CmpPresignature> {
  if (!pres) {
    const session = sid();
    const out = runLocal(SIGNERS.map((self) => cmpPresignBatch({ session, share: shares().get(self)!, signers: SIGNERS, count: 1 })));
    pres = new Map([...out].map(([k, v]) => [k, v[0]!]));
  }
  return pres;
}

export const cmpProtocols: ReadonlyArray<{ name: string; make: () => Party<unknown>[] }> = [
  {
    name: 'cmp/keygen',
    make: () => {
      const s = sid();
      return PARTIES.map((self) => cmpKeygen({ curve: c, session: s, self, parties: PARTIES, threshold: 2, primes: primesFor(self) }));
    },
  },
  {
    name: 'cmp/presign',
    make: () => {
      const s = sid();
      return SIGNERS.map((self) => cmpPresignBatch({ session: s, share: shares().get(self)!, signers: SIGNERS, count: 1 }));
    },
  },
  {
    name: 'cmp/sign',
    make: () => {
      const s = sid();
      return SIGNERS.map((self) => cmpSign({ session: s, share: shares().get(self)!, presignature: presignatures().get(self)!, digest: DIGEST, tweak: 0n, signers: SIGNERS }));
    },
  },
];

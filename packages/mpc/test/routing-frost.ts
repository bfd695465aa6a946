/**
 * The routing matrix (routing-lib.ts) for FROST key generation, refresh and signing (both
 * round-2 modes). `routing.test.ts` runs a representative set of points in the gate,
 * `routing.slow.test.ts` every point.
 */
import { randomBytes } from 'node:crypto';
import { runLocal, type Party } from '../src/round.ts';
import { FrostKeygenParty } from '../src/frost/keygen.ts';
import { FrostRefreshParty } from '../src/frost/refresh.ts';
import { FrostSignParty } from '../src/frost/sign.ts';
import type { FrostKeyShare } from '../src/frost/share.ts';

const sid = (): Uint8Array => new Uint8Array(randomBytes(32));
const PARTIES = [1, 2, 3];
const MSG = new TextEncoder().encode('routing');

let keys: Map<number, FrostKeyShare> | undefined;
function shares(): Map<number, FrostKeyShare> {
  if (!keys) {
    const session = sid();
    keys = runLocal(PARTIES.map((self) => new FrostKeygenParty({ session, self, parties: PARTIES, threshold: 2 })));
  }
  return keys;
}

export const frostProtocols: ReadonlyArray<{ name: string; make: () => Party<unknown>[] }> = [
  {
    name: 'frost/keygen',
    make: () => {
      const s = sid();
      return PARTIES.map((self) => new FrostKeygenParty({ session: s, self, parties: PARTIES, threshold: 2 }));
    },
  },
  {
    name: 'frost/refresh',
    make: () => {
      const s = sid();
      return PARTIES.map((self) => new FrostRefreshParty({ session: s, self, share: shares().get(self)! }));
    },
  },
  {
    name: 'frost/sign',
    make: () => {
      const s = sid();
      return PARTIES.map((self) => new FrostSignParty({ session: s, self, signers: PARTIES, share: shares().get(self)!, message: MSG, path: '44/501/0/0/0' }));
    },
  },
  {
    name: 'frost/sign (aggregator 1)',
    make: () => {
      const s = sid();
      return PARTIES.map((self) => new FrostSignParty({ session: s, self, signers: PARTIES, share: shares().get(self)!, message: MSG, aggregator: 1 }));
    },
  },
];

/** Plumbing shared by the FROST parties (keygen, refresh, sign). */
import { randomBytes } from 'node:crypto';
import { MpcAbort, MpcError } from '../errors.ts';
import { RoundParty, type ProtocolMessage } from '../round.ts';

/** Injected randomness (tests pin it; production uses the OS CSPRNG). */
export type Rand = (n: number) => Uint8Array;
export const defaultRand: Rand = (n) => new Uint8Array(randomBytes(n));

export abstract class FrostParty<Out> extends RoundParty<Out> {
  /** A message of round `round` (RoundParty.msg tags the current round; replies go to the next). */
  protected out(round: number, to: number, body: Uint8Array): ProtocolMessage {
    return { protocol: this.protocol, session: this.session, round, from: this.self, to, body };
  }

  /**
   * Decode a peer's message body: any failure (wrong length, trailing bytes, scalar out of range,
   * non-canonical or small-order point) is that peer's fault, so it becomes an abort naming it.
   */
  protected parse<T>(from: number, what: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      // Aborts name their own culprits; a key-state mismatch names nobody on purpose.
      if (e instanceof MpcAbort || (e instanceof MpcError && e.code === 'ERR_MPC_KEY_STATE')) throw e;
      const why = e instanceof Error ? e.message : String(e);
      throw new MpcAbort('ERR_MPC_PARSE', [from], `malformed ${what} from ${from}: ${why}`, { cause: e });
    }
  }
}

/** Turn a usage problem in options into the package's typed error. */
export function usage(cond: boolean, message: string): void {
  if (!cond) throw new MpcError('ERR_MPC_USAGE', message);
}

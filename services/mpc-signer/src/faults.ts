/**
 * Fault injection of the signer, for tests only: the one place it reads a
 * `COSIGNER_UNSAFE_TEST_*` setting (its party's own are in @cosigner/party faults.ts). Read once
 * at start, off unless set, announced at warn level when on.
 *
 * - `COSIGNER_UNSAFE_TEST_CRASH=after-outcome`: the signer kills itself (SIGKILL) right after a
 *   request's outcome is durable, before it tidies up (the crash window tidy.test.ts covers).
 */
import { PartyError } from '@cosigner/party';

export interface SignerFaults {
  readonly crashAfterOutcome: boolean;
}

export const NO_SIGNER_FAULTS: SignerFaults = Object.freeze({ crashAfterOutcome: false });

export function signerFaults(env: NodeJS.ProcessEnv = process.env): SignerFaults {
  const crash = env.COSIGNER_UNSAFE_TEST_CRASH ?? '';
  if (crash !== '' && crash !== 'after-outcome') throw new PartyError('ERR_CONFIG', 'COSIGNER_UNSAFE_TEST_CRASH must be after-outcome when set');
  return crash === '' ? NO_SIGNER_FAULTS : { crashAfterOutcome: true };
}

/** Logs, loudly, every fault that is on (nothing when none is). */
export function announceSignerFaults(f: SignerFaults, log: (level: 'warn', msg: string, fields: Record<string, unknown>) => void): void {
  if (f.crashAfterOutcome) log('warn', 'UNSAFE TEST FAULT INJECTION IS ON: the signer kills itself after each outcome; never run it like this outside tests', { COSIGNER_UNSAFE_TEST_CRASH: 'after-outcome' });
}

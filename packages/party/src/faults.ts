/**
 * Fault injection of a party, for tests only: the one place the party package reads the
 * `COSIGNER_UNSAFE_TEST_*` settings. Read once at start (`partyFaults`), off unless set, and
 * announced at warn level when on (`announceFaults`) so that a deployment running with one is
 * obvious in its log. docs/operations.md lists them.
 *
 * - `COSIGNER_UNSAFE_TEST_TAMPER`: session kinds (`KEYGEN,REFRESH,PRESIGN,SIGN`, or `1` for all)
 *   whose outgoing protocol bodies this party corrupts (a cheating party, for blame tests);
 *   `COMMIT` (only when named): the party refuses epoch commits (a party that misses one).
 * - `COSIGNER_UNSAFE_TEST_SLOW_MS`: delay before each outgoing protocol step (kill -9 windows).
 */
import type { ProtocolMessage } from '@cosigner/mpc';
import { PartyError } from './errors.ts';

export interface PartyFaults {
  /** Session kinds whose outgoing bodies are corrupted ('1': every kind). */
  readonly tamper: ReadonlySet<string>;
  /** Milliseconds before each outgoing protocol step is sent. */
  readonly sendDelayMs: number;
}

export const NO_FAULTS: PartyFaults = Object.freeze({ tamper: new Set<string>(), sendDelayMs: 0 });

export function partyFaults(env: NodeJS.ProcessEnv = process.env): PartyFaults {
  const tamper = new Set((env.COSIGNER_UNSAFE_TEST_TAMPER ?? '').split(',').map((x) => x.trim()).filter(Boolean));
  const raw = env.COSIGNER_UNSAFE_TEST_SLOW_MS ?? '';
  const sendDelayMs = raw === '' ? 0 : Number(raw);
  if (!Number.isInteger(sendDelayMs) || sendDelayMs < 0) throw new PartyError('ERR_CONFIG', 'COSIGNER_UNSAFE_TEST_SLOW_MS must be a whole number of milliseconds');
  return tamper.size === 0 && sendDelayMs === 0 ? NO_FAULTS : { tamper, sendDelayMs };
}

export function faultsOn(f: PartyFaults): boolean {
  return f.tamper.size > 0 || f.sendDelayMs > 0;
}

/** Logs, loudly, every fault that is on (nothing when none is). */
export function announceFaults(f: PartyFaults, log: (level: 'warn', msg: string, fields: Record<string, unknown>) => void): void {
  if (!faultsOn(f)) return;
  log('warn', 'UNSAFE TEST FAULT INJECTION IS ON: this party misbehaves on purpose; never run it like this outside tests', {
    ...(f.tamper.size ? { COSIGNER_UNSAFE_TEST_TAMPER: [...f.tamper].join(',') } : {}),
    ...(f.sendDelayMs ? { COSIGNER_UNSAFE_TEST_SLOW_MS: f.sendDelayMs } : {}),
  });
}

/** Whether outgoing messages of a session of `kind` are corrupted. */
export function tampers(f: PartyFaults, kind: string): boolean {
  return f.tamper.has('1') || f.tamper.has(kind);
}

/**
 * The messages with the middle byte of each body flipped (what a tampering party sends): inside the
 * protocol's values (a commitment, a share, a ciphertext), not in the trailing key-state digest of
 * FROST's first signing round, whose mismatch names nobody by design (both sides of a refresh are
 * honest), so it would not exercise identification.
 */
export function corrupt(messages: readonly ProtocolMessage[]): ProtocolMessage[] {
  return messages.map((m) => {
    const body = Uint8Array.from(m.body);
    const i = body.length >> 1;
    if (body.length > 0) body[i] = body[i]! ^ 1;
    return { ...m, body };
  });
}

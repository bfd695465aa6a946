/**
 * Drives one enclave session over the transport: sends each step's messages, feeds incoming
 * messages one at a time, enforces a per-round deadline and an overall deadline, and ends with a
 * result or a typed failure naming culprits (an identifiable abort from the protocol, or the
 * parties whose messages of the current round never came).
 */
import { MpcAbort, MpcError, type ProtocolMessage } from '@cosigner/mpc';
import type { SessionStart } from '@cosigner/proto';
import type { EnclaveSession, EnclaveStep, PartyRef } from './enclave.ts';
import { PartyError } from './errors.ts';
import type { PartyTransport, SessionEvent } from './transport.ts';

export interface RunOptions {
  transport: PartyTransport;
  start: SessionStart;
  session: EnclaveSession;
  parties: PartyRef[];
  roundTimeoutMs: number;
  /** TEST ONLY: wait this long before sending each step (a window to kill a party mid-round). */
  sendDelayMs?: number;
  /** Every message this party sent in the session (a re-sent start asks for them again). */
  sentLog?: ProtocolMessage[];
  /**
   * The first step, already begun (the coordinator computes and seals its own round while the
   * other parties are being asked to join); default `session.start()`.
   */
  first?: Promise<EnclaveStep>;
}

const ROUTING = new Set(['ERR_MPC_WRONG_SESSION', 'ERR_MPC_DUPLICATE', 'ERR_MPC_WRONG_SENDER', 'ERR_MPC_WRONG_ROUND']);

export async function runSession(o: RunOptions): Promise<Uint8Array | undefined> {
  const { transport, start, session, parties } = o;
  const header = { sessionId: start.sessionId, kind: start.kind, keyId: start.keyId };
  const byIndex = new Map(parties.map((p) => [p.index, p.id]));
  const queue: SessionEvent[] = [];
  let wake: (() => void) | undefined;
  const unregister = transport.register(start.sessionId, (e) => {
    queue.push(e);
    const w = wake;
    wake = undefined;
    w?.();
  });
  const seen = new Map<number, Set<string>>(); // round -> senders
  const send = async (s: EnclaveStep): Promise<void> => {
    if (o.sendDelayMs && s.messages.length > 0) await new Promise((r) => setTimeout(r, o.sendDelayMs));
    for (const m of s.messages) {
      o.sentLog?.push(m);
      await transport.send(header, m, parties);
    }
  };
  const toParty = (culprits: readonly number[]) => culprits.map((c) => byIndex.get(c) ?? String(c));
  try {
    let step = await (o.first ?? session.start());
    await send(step);
    if (step.done) return step.result;
    const overall = start.deadlineMs > 0 ? start.deadlineMs : Date.now() + 10 * o.roundTimeoutMs;
    let round = session.round;
    let roundDeadline = Math.min(overall, Date.now() + o.roundTimeoutMs);
    for (;;) {
      if (queue.length === 0) {
        const wait = roundDeadline - Date.now();
        if (wait <= 0) {
          const got = seen.get(session.round) ?? new Set<string>();
          const missing = parties.filter((p) => p.id !== transport.self && !got.has(p.id)).map((p) => p.id);
          throw new PartyError('ERR_SESSION_TIMEOUT', `round ${session.round} deadline passed; missing: ${missing.join(', ') || 'none'}`, { culprits: missing });
        }
        await new Promise<void>((r) => {
          const t = setTimeout(r, wait);
          wake = () => { clearTimeout(t); r(); };
        });
        continue;
      }
      const e = queue.shift()!;
      if (e.kind === 'outcome') {
        if (!e.outcome.ok && e.outcome.partyId !== transport.self) {
          const c = e.outcome.code;
          const code = c === 'ERR_MPC_ABORT' || c === 'ERR_SESSION_TIMEOUT' || c === 'ERR_APPROVAL_INVALID' ? c : 'ERR_SESSION_REFUSED';
          throw new PartyError(code, `${e.outcome.partyId} aborted: ${e.outcome.reason}`, { culprits: e.outcome.culprits });
        }
        continue;
      }
      const m: ProtocolMessage = e.message;
      let s = seen.get(m.round);
      if (!s) seen.set(m.round, (s = new Set()));
      s.add(e.from);
      try {
        step = await session.receive(m);
      } catch (err) {
        if (err instanceof MpcError && ROUTING.has(err.code)) continue;
        if (err instanceof MpcAbort) throw new PartyError('ERR_MPC_ABORT', err.message, { cause: err, culprits: toParty(err.culprits) });
        // A failure whose identification cleared everybody names nobody (never the others).
        if (err instanceof MpcError && err.code === 'ERR_MPC_UNIDENTIFIED') throw new PartyError('ERR_MPC_ABORT', err.message, { cause: err, culprits: [] });
        if (err instanceof MpcError) throw new PartyError('ERR_MPC_ABORT', err.message, { cause: err, culprits: [e.from] });
        throw err;
      }
      await send(step);
      if (step.done) return step.result;
      if (session.round !== round) {
        round = session.round;
        roundDeadline = Math.min(overall, Date.now() + o.roundTimeoutMs);
      }
    }
  } finally {
    unregister();
  }
}

/**
 * Drives one enclave session over the transport: sends each step's messages, feeds incoming
 * messages one at a time, enforces a per-round deadline and an overall deadline, and ends with a
 * result or a typed failure naming culprits (an identifiable abort from the protocol, or the
 * parties whose messages of the current round never came).
 *
 * Echo broadcast (evidence.ts): every message of round r+1 carries the signed digests of the round-r
 * broadcasts its sender received, and a party's final outcome carries those of the last round.
 * Each is checked against what this party received before the message reaches the protocol; an
 * equivocating sender is named with its two signed digests as evidence.
 */
import type { KeyObject } from 'node:crypto';
import { BROADCAST, MpcAbort, MpcError, type ProtocolMessage } from '@cosigner/mpc';
import type { SessionStart } from '@cosigner/proto';
import type { EnclaveSession, EnclaveStep, PartyRef } from './enclave.ts';
import { PartyError } from './errors.ts';
import type { PartyTransport, SessionEvent } from './transport.ts';
import { EchoLedger, decodeEcho, encodeEcho, type EchoFinding, type SignedDigest } from './evidence.ts';

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
  /** Receives, when the session succeeds, the echo of its last round (published with the outcome). */
  onFinalEcho?: (echo: Uint8Array) => void;
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
  const self = parties.find((p) => p.id === transport.self);
  const keys = new Map<number, KeyObject>();
  const ledger = new EchoLedger(self?.index ?? 0, (i) => keys.get(i));
  const send = async (s: EnclaveStep): Promise<void> => {
    if (o.sendDelayMs && s.messages.length > 0) await new Promise((r) => setTimeout(r, o.sendDelayMs));
    for (const m of s.messages) {
      o.sentLog?.push(m);
      const signed = await transport.send(header, m, parties, m.round > 1 ? ledger.echoFor(m.round - 1) : []);
      if (m.to === BROADCAST) ledger.broadcast(signed);
    }
  };
  const toParty = (culprits: readonly number[]) => culprits.map((c) => byIndex.get(c) ?? String(c));
  const blame = (f: EchoFinding | undefined): void => {
    if (f) throw new PartyError('ERR_MPC_ABORT', `echo: ${f.reason}`, { culprits: toParty([f.culprit]), evidence: encodeEcho(f.evidence) });
  };
  const indexOf = new Map(parties.map((p) => [p.id, p.index]));
  // Identity keys of every party, for the echo checks (a party whose key cannot be had is not
  // checked: its own messages could not be received either).
  await Promise.all(parties.map(async (p) => {
    try {
      keys.set(p.index, (await transport.registry.resolve(p.id)).verifyKey);
    } catch {
      // resolved again (and refused) by the transport when its messages arrive
    }
  }));
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
        const from = indexOf.get(e.outcome.partyId);
        if (e.outcome.ok && from !== undefined && e.outcome.partyId !== transport.self && e.outcome.evidence.length > 0) {
          // A party that finished shows the last round's broadcasts as it got them.
          let echo: SignedDigest[];
          try {
            echo = decodeEcho(e.outcome.evidence);
          } catch {
            echo = [];
          }
          blame(ledger.check(from, echo));
        }
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
      // Echo before the protocol sees the message: its own broadcast against what others
      // forwarded, and its echo (of the round before) against what this party received.
      if (m.to === BROADCAST) blame(ledger.broadcast(e.signed));
      if (e.echo.some((x) => x.round !== m.round - 1))
        blame({ culprit: m.from, reason: `party ${m.from}'s round-${m.round} echo is not of round ${m.round - 1}`, evidence: [] });
      blame(ledger.check(m.from, e.echo));
      try {
        step = await session.receive(m);
      } catch (err) {
        if (err instanceof MpcError && ROUTING.has(err.code)) continue;
        if (err instanceof MpcAbort) throw new PartyError('ERR_MPC_ABORT', err.message, { cause: err, culprits: toParty(err.culprits) });
        // A failure whose identification cleared everybody names nobody (never the others).
        if (err instanceof MpcError && (err.code === 'ERR_MPC_UNIDENTIFIED' || err.code === 'ERR_MPC_KEY_STATE')) throw new PartyError('ERR_MPC_ABORT', err.message, { cause: err, culprits: [] });
        if (err instanceof MpcError) throw new PartyError('ERR_MPC_ABORT', err.message, { cause: err, culprits: [e.from] });
        throw err;
      }
      await send(step);
      if (step.done) {
        o.onFinalEcho?.(encodeEcho(ledger.echoFor(ledger.lastRound)));
        return step.result;
      }
      if (session.round !== round) {
        round = session.round;
        roundDeadline = Math.min(overall, Date.now() + o.roundTimeoutMs);
      }
    }
  } finally {
    unregister();
  }
}

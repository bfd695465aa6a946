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
 *
 * Verifiable complaints: a party that aborts naming senders publishes their signed bodies of the
 * round (direct ones too: the body signature is inside the encryption). A party that gets such a
 * failure checks the signatures and has its own protocol run re-check the messages
 * (`EnclaveSession.checkComplaint`) before it blames anyone: a complaint that does not hold, or
 * whose evidence is not signed by the accused, names the complainer instead.
 */
import type { KeyObject } from 'node:crypto';
import { BROADCAST, MpcAbort, MpcError, decodeMessage, isRoutingError, type ProtocolMessage } from '@cosigner/mpc';
import type { SessionStart } from '@cosigner/proto';
import { metrics } from '@cosigner/platform';
import type { EnclaveSession, EnclaveStep, PartyRef } from './enclave.ts';
import { PartyError } from './errors.ts';
import type { PartyTransport, SessionEvent } from './transport.ts';
import { EchoLedger, bodyDigest, decodeEvidence, encodeEvidence, verifySignedDigest, type EchoFinding, type Evidence, type SignedBody } from './evidence.ts';

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

/** Sessions this party ended without a result, by session kind and code (the protocol's own code for an MPC abort). */
const mpcAborts = metrics.counter('cosigner_mpc_aborts_total', 'MPC sessions this party ended without a result, by session kind and error code.', ['kind', 'code']);

/** The most precise stable code of a session failure: the MPC error under a PartyError when there is one. */
function abortCode(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof MpcError) return cause.code;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'ERR_INTERNAL';
}

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
  const ledger = new EchoLedger(self?.index ?? 0, (i) => keys.get(i), start.sessionId);
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
    if (f) throw new PartyError('ERR_MPC_ABORT', `echo: ${f.reason}`, { culprits: toParty([f.culprit]), evidence: f.evidence.length === 2 ? encodeEvidence({ kind: 'equivocation', digests: f.evidence }) : new Uint8Array(0) });
  };
  /** Every body received, by round, sender and kind: what a complaint shows. */
  const received = new Map<string, SignedBody>();
  const bodiesOf = (round: number, culprits: readonly number[]): SignedBody[] =>
    culprits.flatMap((c) => ['b', 'd'].map((k) => received.get(`${round}:${c}:${k}`)).filter((x): x is SignedBody => x !== undefined));
  /**
   * Whom another party's failure blames, once checked: its culprits when its evidence proves them,
   * the complainer when the evidence is forged, mixes rounds or the complaint does not hold, its
   * word as given only when the protocol has no re-check at all or it names nobody, and nobody
   * when the protocol cannot tell (a complaint it cannot re-check is not a verdict on the
   * accused: a cheater would show genuine messages it knows the check cannot judge).
   */
  const judge = async (complainer: number, culprits: readonly number[], ev: Evidence | undefined): Promise<{ culprits: number[]; why: string }> => {
    const asGiven = { culprits: [...culprits], why: '' };
    if (culprits.length === 0) return asGiven;
    if (ev?.kind === 'equivocation') {
      const [a, b] = ev.digests;
      const k = keys.get(culprits[0]!);
      const ok = culprits.length === 1 && a && b && k && a.from === culprits[0] && b.from === a.from && a.round === b.round
        && !Buffer.from(a.digest).equals(Buffer.from(b.digest)) && verifySignedDigest(k, a, start.sessionId) && verifySignedDigest(k, b, start.sessionId);
      return ok ? asGiven : { culprits: [complainer], why: 'its equivocation evidence is not two different bodies signed by the accused' };
    }
    if (!session.checkComplaint) return asGiven;
    // Nothing to check it against: nobody is blamed on the complainer's word alone.
    if (ev?.kind !== 'complaint') return { culprits: [], why: 'it shows no signed message of the accused, so nobody is blamed on its word' };
    const byCulprit = new Map<number, ProtocolMessage[]>();
    // An honest complainer shows the accused's messages of the one round it aborted in.
    let evRound: number | undefined;
    for (const b of ev.bodies) {
      let m: ProtocolMessage;
      try {
        m = decodeMessage(b.wire);
      } catch {
        return { culprits: [complainer], why: 'its evidence does not decode' };
      }
      const k = keys.get(m.from);
      if (!k || !culprits.includes(m.from) || !verifySignedDigest(k, { from: m.from, round: m.round, digest: bodyDigest(b.wire), sig: b.sig }, m.session, m.to)
        || !Buffer.from(m.session).equals(Buffer.from(start.sessionId)) || (m.to !== BROADCAST && m.to !== complainer))
        return { culprits: [complainer], why: 'its evidence is not a message of this session signed by the accused' };
      if (evRound !== undefined && m.round !== evRound) return { culprits: [complainer], why: 'its evidence mixes messages of different rounds' };
      evRound = m.round;
      // A broadcast shown in a complaint must be the one this party got (else: equivocation).
      if (m.to === BROADCAST) {
        const f = ledger.broadcast({ from: m.from, round: m.round, digest: bodyDigest(b.wire), sig: b.sig });
        if (f) return { culprits: [f.culprit], why: f.reason };
      }
      byCulprit.set(m.from, [...(byCulprit.get(m.from) ?? []), m]);
    }
    const found: number[] = [];
    for (const c of culprits) {
      const msgs = byCulprit.get(c);
      if (!msgs) return { culprits: [complainer], why: `it shows no signed message of party ${c}` };
      const who = await session.checkComplaint(complainer, msgs).catch(() => undefined);
      if (who === undefined) return { culprits: [], why: `this party cannot re-check its complaint about party ${c}, so nobody is blamed on its word` };
      if (who === complainer) return { culprits: [complainer], why: `party ${c}'s messages pass every check it claims failed (a false complaint)` };
      found.push(who);
    }
    return { culprits: found, why: '' };
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
        // Only the session's members speak for it: another registered party's outcome (signed by
        // it, so genuinely its own) is not a verdict on a session it is not in (issue 19).
        if (from === undefined) continue;
        let ev: Evidence | undefined;
        try {
          ev = decodeEvidence(e.outcome.evidence);
        } catch {
          ev = undefined;
        }
        // A party that finished shows the last round's broadcasts as it got them.
        if (e.outcome.ok && from !== undefined && e.outcome.partyId !== transport.self && ev?.kind === 'echo') blame(ledger.check(from, ev.digests));
        if (!e.outcome.ok && e.outcome.partyId !== transport.self) {
          const c = e.outcome.code;
          const code = c === 'ERR_MPC_ABORT' || c === 'ERR_SESSION_TIMEOUT' || c === 'ERR_APPROVAL_INVALID' ? c : 'ERR_SESSION_REFUSED';
          if (code === 'ERR_MPC_ABORT' && from !== undefined) {
            const named = e.outcome.culprits.map((id) => indexOf.get(id)).filter((x): x is number => x !== undefined);
            // A complaint naming someone outside the session would otherwise skip the re-check
            // below and be taken as given, framing the session parties it also names.
            if (named.length !== e.outcome.culprits.length)
              throw new PartyError(code, `${e.outcome.partyId}'s complaint refused: it names a party outside the session`, { culprits: toParty([from]) });
            const v = await judge(from, named, ev);
            if (v.why !== '') throw new PartyError(code, `${e.outcome.partyId}'s complaint refused: ${v.why}`, { culprits: toParty(v.culprits) });
            throw new PartyError(code, `${e.outcome.partyId} aborted: ${e.outcome.reason}`, { culprits: toParty(v.culprits), evidence: e.outcome.evidence });
          }
          // A timeout or refusal carries no evidence: naming another party is only the reporter's
          // word (a cheater would name an honest one). This party keeps running to its own
          // deadline, which names whoever it is really missing (the reporter too, if it stops).
          if (e.outcome.culprits.some((id) => id !== e.outcome.partyId)) continue;
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
      received.set(`${m.round}:${m.from}:${m.to === BROADCAST ? 'b' : 'd'}`, { wire: e.wire, sig: e.signed.sig, echo: [] });
      const atRound = session.round;
      try {
        step = await session.receive(m);
      } catch (err) {
        if (err instanceof MpcError && isRoutingError(err)) continue;
        // The accused's signed messages of the round go with the abort, for others to re-check.
        if (err instanceof MpcAbort) {
          const bodies = bodiesOf(Math.max(atRound, session.round), err.culprits);
          throw new PartyError('ERR_MPC_ABORT', err.message, { cause: err, culprits: toParty(err.culprits), evidence: bodies.length > 0 ? encodeEvidence({ kind: 'complaint', bodies }) : new Uint8Array(0) });
        }
        // A failure whose identification cleared everybody names nobody (never the others).
        if (err instanceof MpcError && (err.code === 'ERR_MPC_UNIDENTIFIED' || err.code === 'ERR_MPC_KEY_STATE')) throw new PartyError('ERR_MPC_ABORT', err.message, { cause: err, culprits: [] });
        if (err instanceof MpcError) throw new PartyError('ERR_MPC_ABORT', err.message, { cause: err, culprits: [e.from] });
        throw err;
      }
      await send(step);
      if (step.done) {
        o.onFinalEcho?.(encodeEvidence({ kind: 'echo', digests: ledger.echoFor(ledger.lastRound) }));
        return step.result;
      }
      if (session.round !== round) {
        round = session.round;
        roundDeadline = Math.min(overall, Date.now() + o.roundTimeoutMs);
      }
    }
  } catch (err) {
    mpcAborts.inc({ kind: String(start.kind), code: abortCode(err) });
    throw err;
  } finally {
    unregister();
  }
}

/**
 * Round-based party state machines: the one shape every protocol of this package takes
 * (CMP key generation, refresh, presigning, online signing; FROST DKG, refresh, signing), so a
 * service can drive any of them without knowing which.
 *
 * A party is created with its inputs, yields its first-round messages from `start()`, then takes
 * the messages of the current round one by one through `receive()`. When it has every message of
 * the round it returns the next round's messages, or its output. A message that fails any check
 * throws an `MpcAbort` naming the sender; malformed bytes throw `MpcParseError`. After an abort
 * the party is dead: every further call throws the same error.
 *
 * Party indices are the shares' x-coordinates: 1..n, never 0.
 */
import { MpcError, MpcParseError, MpcRoutingError } from './errors.ts';
import { Reader, Writer } from './codec.ts';

/** Encoding version of `ProtocolMessage`; bumped on any incompatible change. */
export const MESSAGE_VERSION = 1;
/** Session ids are 32 random bytes chosen by whoever starts the session. */
export const SESSION_ID_BYTES = 32;
/** `to` value of a broadcast message. */
export const BROADCAST = 0;

/** Which protocol a message belongs to; part of every message so a message cannot cross over. */
export type ProtocolName =
  | 'cmp/keygen'
  | 'cmp/refresh'
  | 'cmp/presign'
  | 'cmp/sign'
  | 'frost/keygen'
  | 'frost/refresh'
  | 'frost/sign';

const PROTOCOLS: readonly ProtocolName[] = [
  'cmp/keygen',
  'cmp/refresh',
  'cmp/presign',
  'cmp/sign',
  'frost/keygen',
  'frost/refresh',
  'frost/sign',
];

/** One message of one round: broadcast (`to === BROADCAST`) or point-to-point. */
export interface ProtocolMessage {
  readonly protocol: ProtocolName;
  readonly session: Uint8Array;
  readonly round: number;
  readonly from: number;
  readonly to: number;
  /** Protocol-specific body, itself strictly encoded by the protocol's own codec. */
  readonly body: Uint8Array;
}

/** What a party hands back after `start()` or `receive()`. */
export type Step<Out> =
  | { readonly kind: 'wait' }
  | { readonly kind: 'send'; readonly messages: readonly ProtocolMessage[] }
  | { readonly kind: 'done'; readonly output: Out; readonly messages: readonly ProtocolMessage[] };

/** A protocol run as seen by one party. */
export interface Party<Out> {
  readonly protocol: ProtocolName;
  readonly session: Uint8Array;
  /** This party's index. */
  readonly self: number;
  /** Every party of this run, ascending. */
  readonly parties: readonly number[];
  /** The round whose messages the party now expects (1-based; 0 before `start`). */
  readonly round: number;
  /** First-round messages. Call once. */
  start(): Step<Out>;
  /** Deliver one message. Throws `MpcAbort` (naming the sender) or `MpcParseError`. */
  receive(message: ProtocolMessage): Step<Out>;
  /**
   * Verifiable complaints (optional): party `complainer` aborted naming the sender of `messages`
   * (that sender's messages of one round to it, shown with the sender's signature by the
   * transport). Re-runs the checks the complainer ran, with public data only, and says whom they
   * blame: the sender when its messages fail them, the complainer when they pass (a false
   * complaint), undefined when this party cannot tell (e.g. it lacks the round's context).
   */
  checkComplaint?(complainer: number, messages: readonly ProtocolMessage[]): number | undefined;
}

/** Serialize a message (version, protocol, session, round, from, to, body). */
export function encodeMessage(m: ProtocolMessage): Uint8Array {
  return new Writer()
    .u8(MESSAGE_VERSION)
    .u8(PROTOCOLS.indexOf(m.protocol))
    .fixed(m.session)
    .u8(m.round)
    .u8(m.from)
    .u8(m.to)
    .bytes(m.body)
    .finish();
}

/** Parse a message strictly; any deviation is `MpcParseError`. */
export function decodeMessage(bytes: Uint8Array): ProtocolMessage {
  const r = new Reader(bytes);
  const v = r.u8();
  if (v !== MESSAGE_VERSION) throw new MpcParseError(`unknown message version ${v}`);
  const p = PROTOCOLS[r.u8()];
  if (p === undefined) throw new MpcParseError('unknown protocol');
  const session = r.fixed(SESSION_ID_BYTES);
  const round = r.u8();
  const from = r.u8();
  const to = r.u8();
  const body = r.bytes();
  r.end();
  if (round === 0) throw new MpcParseError('round 0');
  if (from === 0) throw new MpcParseError('sender 0');
  return { protocol: p, session, round, from, to, body };
}

/**
 * Shared bookkeeping for round-based parties: checks protocol, session, round, sender and
 * receiver of each incoming message, refuses duplicates, and collects the round's messages.
 * Protocols extend it and implement `onRound(round, messages)`.
 */
export abstract class RoundParty<Out> implements Party<Out> {
  round = 0;
  private aborted: MpcError | undefined;
  private inbox = new Map<string, ProtocolMessage>();
  private early: ProtocolMessage[] = [];

  readonly protocol: ProtocolName;
  readonly session: Uint8Array;
  readonly self: number;
  readonly parties: readonly number[];

  constructor(protocol: ProtocolName, session: Uint8Array, self: number, parties: readonly number[]) {
    this.protocol = protocol;
    this.session = session;
    this.self = self;
    this.parties = [...parties].sort((a, b) => a - b);
    if (session.length !== SESSION_ID_BYTES) throw new MpcError('ERR_MPC_USAGE', 'session id must be 32 bytes');
    if (!parties.includes(self)) throw new MpcError('ERR_MPC_USAGE', 'self not among parties');
    if (new Set(parties).size !== parties.length || parties.some((p) => !Number.isInteger(p) || p < 1 || p > 255))
      throw new MpcError('ERR_MPC_USAGE', 'party indices must be distinct integers in 1..255');
  }

  get others(): number[] {
    return this.parties.filter((p) => p !== this.self);
  }

  /**
   * Which messages round `r` expects: from each other party, a broadcast and/or a direct one.
   * Rounds past the protocol's last (or that this party never reaches) should expect neither,
   * so messages claiming them are refused on arrival.
   */
  protected abstract expects(round: number): { broadcast: boolean; direct: boolean };
  /** First round's outgoing messages. */
  protected abstract onStart(): Step<Out>;
  /** All of round `r`'s messages have arrived (keyed by sender). Return the next step. */
  protected abstract onRound(
    round: number,
    broadcasts: ReadonlyMap<number, ProtocolMessage>,
    directs: ReadonlyMap<number, ProtocolMessage>,
  ): Step<Out>;

  protected msg(to: number, body: Uint8Array): ProtocolMessage {
    return { protocol: this.protocol, session: this.session, round: this.round, from: this.self, to, body };
  }

  start(): Step<Out> {
    if (this.round !== 0) throw new MpcError('ERR_MPC_USAGE', 'start() called twice');
    this.round = 1;
    return this.guard(() => this.onStart());
  }

  receive(m: ProtocolMessage): Step<Out> {
    return this.guard(() => {
      if (m.protocol !== this.protocol) throw new MpcRoutingError('ERR_MPC_WRONG_SESSION', m.from, `message of ${m.protocol} in ${this.protocol}`);
      if (!equalBytes(m.session, this.session)) throw new MpcRoutingError('ERR_MPC_WRONG_SESSION', m.from, 'message from another session');
      if (!this.parties.includes(m.from) || m.from === this.self)
        throw new MpcRoutingError('ERR_MPC_WRONG_SENDER', m.from, `unexpected sender ${m.from}`);
      if (m.to !== BROADCAST && m.to !== this.self) throw new MpcRoutingError('ERR_MPC_WRONG_SENDER', m.from, `message addressed to ${m.to}`);
      if (m.round < this.round) throw new MpcRoutingError('ERR_MPC_WRONG_ROUND', m.from, `stale round ${m.round} from ${m.from}`);
      if (m.round > this.round) {
        // Parties run at different speeds: keep one round ahead, refuse anything further.
        if (m.round !== this.round + 1 || this.round === 0) throw new MpcRoutingError('ERR_MPC_WRONG_ROUND', m.from, `round ${m.round} from ${m.from} too early`);
        // Checked now, not when the round comes: a message the next round cannot take must not
        // sit in the queue until it is replayed, after this round's own output has been made.
        this.checkKind(m);
        if (this.early.some((e) => e.from === m.from && e.round === m.round && (e.to === BROADCAST) === (m.to === BROADCAST)))
          throw new MpcRoutingError('ERR_MPC_DUPLICATE', m.from, `duplicate early message from ${m.from}`);
        this.early.push(m);
        return { kind: 'wait' };
      }
      return this.accept(m);
    });
  }

  /** Messages refused by routing checks while replaying early messages (never the round's output). */
  get dropped(): readonly MpcRoutingError[] {
    return this.droppedLog;
  }

  private droppedLog: MpcRoutingError[] = [];

  private checkKind(m: ProtocolMessage): void {
    const exp = this.expects(m.round);
    const isB = m.to === BROADCAST;
    if ((isB && !exp.broadcast) || (!isB && !exp.direct))
      throw new MpcRoutingError('ERR_MPC_WRONG_ROUND', m.from, `round ${m.round} takes no ${isB ? 'broadcast' : 'direct'} message (from ${m.from})`);
  }

  private accept(m: ProtocolMessage): Step<Out> {
    this.checkKind(m);
    const exp = this.expects(this.round);
    const isB = m.to === BROADCAST;
    const key = `${isB ? 'b' : 'd'}:${m.from}`;
    if (this.inbox.has(key)) throw new MpcRoutingError('ERR_MPC_DUPLICATE', m.from, `duplicate message from ${m.from}`);
    this.inbox.set(key, m);
    const need = this.others.length * ((exp.broadcast ? 1 : 0) + (exp.direct ? 1 : 0));
    if (this.inbox.size < need) return { kind: 'wait' };
    const b = new Map<number, ProtocolMessage>();
    const d = new Map<number, ProtocolMessage>();
    for (const x of this.inbox.values()) (x.to === BROADCAST ? b : d).set(x.from, x);
    this.inbox = new Map();
    const step = this.onRound(this.round, b, d);
    if (step.kind === 'done') return step;
    this.round += 1;
    // Replay messages of the new round that arrived early; the last non-wait step wins. The
    // round's own output (`step`) is never lost: a replayed message that fails a routing check
    // (which the checks on arrival should have made impossible) is dropped alone, and recorded
    // in `dropped` with its sender. A protocol abort during the replay still ends the party.
    const early = this.early.filter((e) => e.round === this.round);
    this.early = this.early.filter((e) => e.round !== this.round);
    let out: Step<Out> = step;
    for (const e of early) {
      let s: Step<Out>;
      try {
        s = this.accept(e);
      } catch (err) {
        if (err instanceof MpcRoutingError) {
          this.droppedLog.push(err);
          continue;
        }
        throw err;
      }
      if (s.kind !== 'wait') out = mergeSteps(out, s);
    }
    return out;
  }

  private guard(f: () => Step<Out>): Step<Out> {
    if (this.aborted) throw this.aborted;
    try {
      return f();
    } catch (e) {
      // Routing errors (wrong session, round or kind, duplicates) do not kill the party: the
      // message is dropped and the party's state is as before the call.
      if (e instanceof MpcRoutingError) throw e;
      if (e instanceof MpcError) this.aborted = e;
      throw e;
    }
  }
}

function mergeSteps<Out>(a: Step<Out>, b: Step<Out>): Step<Out> {
  const am = a.kind === 'wait' ? [] : a.messages;
  if (b.kind === 'done') return { kind: 'done', output: b.output, messages: [...am, ...b.messages] };
  if (b.kind === 'send') return { kind: 'send', messages: [...am, ...b.messages] };
  return a;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/**
 * Runs parties in one process, delivering every message (through encode/decode, so the wire
 * format is always exercised) until all are done. For tests, the demo and benchmarks.
 * `tamper` may rewrite a message in flight (tamper tests).
 */
export function runLocal<Out>(
  parties: readonly Party<Out>[],
  opts: { tamper?: (m: ProtocolMessage) => ProtocolMessage; onBytes?: (from: number, n: number) => void } = {},
): Map<number, Out> {
  const byIndex = new Map(parties.map((p) => [p.self, p]));
  const outputs = new Map<number, Out>();
  const queue: ProtocolMessage[] = [];
  const take = (p: Party<Out>, s: Step<Out>): void => {
    if (s.kind === 'wait') return;
    queue.push(...s.messages);
    if (s.kind === 'done') outputs.set(p.self, s.output);
  };
  for (const p of parties) take(p, p.start());
  while (queue.length > 0) {
    let m = queue.shift()!;
    if (opts.tamper) m = opts.tamper(m);
    const wire = encodeMessage(m);
    opts.onBytes?.(m.from, wire.length * (m.to === BROADCAST ? parties.length - 1 : 1));
    const targets = m.to === BROADCAST ? parties.filter((p) => p.self !== m.from) : [byIndex.get(m.to)].filter((p) => p !== undefined);
    for (const p of targets) take(p, p.receive(decodeMessage(wire)));
  }
  if (outputs.size !== parties.length) throw new MpcError('ERR_MPC_USAGE', `runLocal: ${parties.length - outputs.size} parties did not finish`);
  return outputs;
}

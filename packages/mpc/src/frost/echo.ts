/**
 * Echo broadcast: turns point-to-point delivery of "broadcast" messages into a consistent
 * broadcast (the DKG's assumption of authenticated broadcast, as in Pedersen/FROST DKG, Komlo &
 * Goldberg 2020 §5.1, and the consistency RFC 9591 §5.3 asks of the commitment list).
 *
 * After a broadcast round every party sends, in its next message, one digest per party of the
 * broadcast it received from that party (its own included):
 *   d_l = SHA-256("cosigner/frost/echo/v1" || protocol || session || u8 round || u8 l || body_l).
 * A receiver compares each echoed digest with its own view. Who can be blamed when echo E_j
 * (from j) disagrees with our digest for sender l:
 *  - l = j: j reports a message of its own different from the one it sent us: j is faulty.
 *  - l = self: we know what we sent; j misreports it: j is faulty.
 *  - otherwise either l equivocated (sent j and us different messages) or j lies about what it
 *    received. Digests alone cannot tell which (only signed originals, kept by the transport,
 *    could), so both are named: the set contains at least one faulty party.
 * If some mismatch names a single party with certainty, only those certain culprits are
 * reported; otherwise the union of the pairs. Different honest parties may therefore name
 * different (but always sound) sets, e.g. an honest l whose message j misreports blames only j.
 */
import { MpcAbort } from '../errors.ts';
import { equalBytes, type ProtocolMessage } from '../round.ts';
import { Reader } from '../codec.ts';
import { sha256 } from './suite.ts';

const TAG = new TextEncoder().encode('cosigner/frost/echo/v1');

export function broadcastDigest(m: Pick<ProtocolMessage, 'protocol' | 'session' | 'round' | 'from' | 'body'>): Uint8Array {
  return sha256(TAG, new TextEncoder().encode(m.protocol), m.session, Uint8Array.of(m.round, m.from), m.body);
}

/** Our view of a broadcast round: digest per sender, ascending party order. */
export function viewOf(parties: readonly number[], bodies: ReadonlyMap<number, Uint8Array>, protocol: ProtocolMessage['protocol'], session: Uint8Array, round: number): Uint8Array[] {
  return parties.map((p) => {
    const body = bodies.get(p);
    if (!body) throw new Error(`viewOf: no body from ${p}`);
    return broadcastDigest({ protocol, session, round, from: p, body });
  });
}

/** Read an echo vector (one 32-byte digest per party) from a message body reader. */
export function readEcho(r: Reader, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(r.fixed(32));
  return out;
}

/** Compare every received echo with our view; throw `ERR_MPC_INCONSISTENT_BROADCAST` naming culprits. */
export function checkEchoes(self: number, parties: readonly number[], mine: readonly Uint8Array[], echoes: ReadonlyMap<number, readonly Uint8Array[]>): void {
  const certain = new Set<number>();
  const suspects = new Set<number>();
  const details: string[] = [];
  for (const [j, echo] of echoes) {
    for (let k = 0; k < parties.length; k++) {
      const l = parties[k]!;
      if (equalBytes(echo[k]!, mine[k]!)) continue;
      details.push(`${j} saw a different broadcast from ${l}`);
      if (l === j || l === self) certain.add(j);
      else {
        suspects.add(j);
        suspects.add(l);
      }
    }
  }
  if (details.length === 0) return;
  const culprits = [...(certain.size > 0 ? certain : suspects)].sort((a, b) => a - b);
  throw new MpcAbort('ERR_MPC_INCONSISTENT_BROADCAST', culprits, `echo check failed: ${details.join('; ')}`);
}

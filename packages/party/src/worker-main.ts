/** Worker thread entry: runs presign parties for the main thread (see worker.ts). */
import { parentPort } from 'node:worker_threads';
import { MpcAbort, MpcError, decodeMessage, encodeMessage, type Party, type Step } from '@cosigner/mpc';
import { parseAlgorithm, schemeFor } from './schemes.ts';

const parties = new Map<string, Party<Uint8Array[]>>();
const port = parentPort!;

function out(id: number, p: Party<Uint8Array[]>, s: Step<Uint8Array[]>): void {
  port.postMessage({
    id, ok: true,
    value: { kind: s.kind, messages: s.kind === 'wait' ? [] : s.messages.map((m) => encodeMessage(m)), round: p.round, ...(s.kind === 'done' ? { output: s.output } : {}) },
  });
}

port.on('message', (msg: { id: number; op: string; key: string; algorithm?: string; session?: Uint8Array; self?: number; signers?: number[]; share?: Uint8Array; count?: number; message?: Uint8Array; complainer?: number; messages?: Uint8Array[] }) => {
  const { id, op, key } = msg;
  try {
    if (op === 'drop') {
      parties.delete(key);
      return;
    }
    if (op === 'create') {
      const s = schemeFor(parseAlgorithm(msg.algorithm ?? ''));
      if (!s.presignBatch) throw new MpcError('ERR_MPC_USAGE', `${s.algorithm} has no batched presigning`);
      parties.set(key, s.presignBatch({ session: msg.session!, self: msg.self!, signers: msg.signers!, share: msg.share!, count: msg.count! }));
      port.postMessage({ id, ok: true });
      return;
    }
    const p = parties.get(key);
    if (!p) throw new Error('no such protocol run');
    if (op === 'complaint') {
      const culprit = p.checkComplaint?.(msg.complainer!, (msg.messages ?? []).map((b) => decodeMessage(b)));
      port.postMessage({ id, ok: true, value: { kind: 'wait', messages: [], round: p.round, culprit } });
      return;
    }
    const s = op === 'start' ? p.start() : p.receive(decodeMessage(msg.message!));
    if (s.kind === 'done') parties.delete(key);
    out(id, p, s);
  } catch (e) {
    const err = e as Error & { code?: string };
    port.postMessage({
      id, ok: false,
      error: { message: err.message, ...(e instanceof MpcError ? { code: e.code } : {}), ...(e instanceof MpcAbort ? { culprits: [...e.culprits] } : {}) },
    });
  }
});

/**
 * Heavy protocol runs (CMP presigning: seconds of Paillier arithmetic per round) in a worker
 * thread, so a party's event loop keeps answering signing sessions meanwhile. The worker holds
 * the protocol state (inside this process, i.e. inside the enclave boundary); the main thread
 * sees encoded protocol messages and the final output.
 */
import { Worker } from 'node:worker_threads';
import { MpcAbort, MpcError, type MpcErrorCode, type ProtocolMessage } from '@cosigner/mpc';
import { decodeMessage, encodeMessage } from '@cosigner/mpc';

export interface WorkerStep {
  kind: 'wait' | 'send' | 'done';
  messages: ProtocolMessage[];
  output?: Uint8Array[];
  round: number;
}

interface Reply { id: number; ok: boolean; value?: { kind: WorkerStep['kind']; messages: Uint8Array[]; output?: Uint8Array[]; round: number; culprit?: number }; error?: { code?: string; message: string; culprits?: number[] } }

export class ProtocolWorker {
  #worker: Worker;
  #next = 1;
  #pending = new Map<number, { resolve: (v: Reply) => void }>();

  constructor() {
    this.#worker = new Worker(new URL('./worker-main.ts', import.meta.url));
    this.#worker.unref();
    this.#worker.on('message', (r: Reply) => {
      const p = this.#pending.get(r.id);
      if (p) {
        this.#pending.delete(r.id);
        p.resolve(r);
      }
    });
    this.#worker.on('error', (e) => {
      for (const p of this.#pending.values()) p.resolve({ id: 0, ok: false, error: { message: `worker failed: ${e.message}` } });
      this.#pending.clear();
    });
  }

  private async call(msg: Record<string, unknown>): Promise<WorkerStep | undefined> {
    const id = this.#next++;
    // Referenced only while a call is outstanding: an idle worker never keeps the process alive.
    if (this.#pending.size === 0) this.#worker.ref();
    const r = await new Promise<Reply>((resolve) => {
      this.#pending.set(id, { resolve });
      this.#worker.postMessage({ ...msg, id });
    }).finally(() => {
      if (this.#pending.size === 0) this.#worker.unref();
    });
    if (!r.ok) {
      const e = r.error!;
      if (e.culprits && e.culprits.length > 0) throw new MpcAbort((e.code ?? 'ERR_MPC_PROOF') as MpcErrorCode, e.culprits, e.message);
      if (e.code) throw new MpcError(e.code as MpcErrorCode, e.message);
      throw new Error(e.message);
    }
    if (!r.value) return undefined;
    const extra = typeof r.value.culprit === 'number' ? { culprit: r.value.culprit } : {};
    return { kind: r.value.kind, messages: r.value.messages.map((b) => decodeMessage(b)), round: r.value.round, ...(r.value.output ? { output: r.value.output } : {}), ...extra };
  }

  async createPresign(key: string, o: { algorithm: string; session: Uint8Array; self: number; signers: readonly number[]; share: Uint8Array; count: number }): Promise<void> {
    await this.call({ op: 'create', key, ...o, signers: [...o.signers] });
  }

  /** The protocol run's `checkComplaint` (undefined: it cannot tell, or the run is gone). */
  async checkComplaint(key: string, complainer: number, messages: readonly ProtocolMessage[]): Promise<number | undefined> {
    const r = await this.call({ op: 'complaint', key, complainer, messages: messages.map((m) => encodeMessage(m)) }).catch(() => undefined);
    const culprit = (r as unknown as { culprit?: number } | undefined)?.culprit;
    return typeof culprit === 'number' ? culprit : undefined;
  }

  start(key: string): Promise<WorkerStep> {
    return this.call({ op: 'start', key }) as Promise<WorkerStep>;
  }

  receive(key: string, m: ProtocolMessage): Promise<WorkerStep> {
    return this.call({ op: 'receive', key, message: encodeMessage(m) }) as Promise<WorkerStep>;
  }

  drop(key: string): void {
    this.#worker.postMessage({ op: 'drop', key, id: 0 });
  }

  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }
}

/** `cosigner requests get | watch`: a request's status from request-intake (admin token). */
import { RequestIntakeServiceClient, type RequestState } from '@cosigner/proto';
import { type Command } from '../command.ts';
import { CliError } from '../command.ts';
import { loadCliConfig } from '../config.ts';
import { makeClient, serverStream, unary } from '../grpc.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** RequestState as JSON: statuses as strings, bytes as lower-case hex. */
export function stateDoc(s: RequestState): Record<string, unknown> {
  return {
    requestId: s.requestId, kind: s.kind, workspaceId: s.workspaceId, apiUserId: s.apiUserId, status: s.status,
    reason: s.reason, errorCode: s.errorCode, culprits: s.culprits, createdAtMs: s.createdAtMs, updatedAtMs: s.updatedAtMs,
    expiresAtMs: s.expiresAtMs, traceId: s.traceId, requestHash: hex(s.requestHash), revision: s.revision,
    signatures: s.signatures.map((x) => ({
      index: x.index, keyId: x.keyId, algorithm: x.algorithm, path: x.path, publicKey: hex(x.publicKey), r: hex(x.r), s: hex(x.s),
      recoveryId: x.recoveryId, signature: hex(x.signature), der: hex(x.der),
    })),
  };
}

function line(s: RequestState): string {
  return `${s.requestId}: ${s.status}${s.errorCode ? ` ${s.errorCode}` : ''}${s.reason ? ` (${s.reason})` : ''}${s.signatures.length ? ` [${s.signatures.length} signature(s)]` : ''}`;
}

function idArg(positionals: readonly string[]): string {
  const id = positionals[0];
  if (!id) throw new CliError('ERR_USAGE', 'missing request id', 2);
  return id;
}

export const requestsGet: Command = {
  name: ['requests', 'get'],
  summary: "Show a request's status (from request-intake)",
  usage: 'ID [--json]',
  options: {},
  async run(io) {
    const cfg = loadCliConfig();
    const c = makeClient(RequestIntakeServiceClient, cfg.intakeUrl);
    try {
      const s = await unary<object, RequestState>(c, 'getRequest', { requestId: idArg(io.positionals) }, { token: cfg.adminToken });
      io.result(stateDoc(s), line(s));
    } finally {
      c.close();
    }
  },
};

export const requestsWatch: Command = {
  name: ['requests', 'watch'],
  summary: "Follow a request's status until it is terminal (one line / JSON document per change)",
  usage: 'ID [--json]',
  options: {},
  async run(io) {
    const cfg = loadCliConfig();
    const c = makeClient(RequestIntakeServiceClient, cfg.intakeUrl);
    try {
      const it = serverStream<object, RequestState>(c, 'watchRequest', { requestId: idArg(io.positionals) }, { token: cfg.adminToken });
      const stop = io.interrupted.then(() => 'interrupted' as const);
      for (;;) {
        const next = await Promise.race([it.next(), stop]);
        if (next === 'interrupted' || next.done) break;
        // One JSON document per line with --json (a stream of states), a line each otherwise.
        if (io.json) process.stdout.write(`${JSON.stringify(stateDoc(next.value))}\n`);
        else process.stdout.write(`${line(next.value)}\n`);
      }
      await it.return(undefined);
    } finally {
      c.close();
    }
  },
};

export default [requestsGet, requestsWatch];

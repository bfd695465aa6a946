/**
 * `cosigner audit verify [--checkpoint FILE]` and `cosigner audit checkpoint`: check the audit
 * trail (reads it from NATS_URL) and keep its head elsewhere.
 */
import { readFileSync } from 'node:fs';
import { AuditError, parseCheckpoint, verifyAuditChain, type AuditCheckpoint } from '@cosigner/audit';
import { CliError, str, type Command } from '../command.ts';
import { withNats } from '../nats.ts';

function loadCheckpoint(path: string): AuditCheckpoint {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliError('ERR_USAGE', `cannot read checkpoint file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2, { cause: e });
  }
  try {
    return parseCheckpoint(text);
  } catch (e) {
    throw new CliError(e instanceof AuditError ? e.code : 'ERR_AUDIT_CHECKPOINT', (e as Error).message, 2, { cause: e });
  }
}

const auditVerify: Command = {
  name: ['audit', 'verify'],
  summary: 'Verify the audit trail (chain, tail against the writers\' head, and a kept checkpoint): {"ok", "records", "head", "firstBadSeq"?, "reason"?}',
  usage: '[--checkpoint FILE] [--json]',
  options: { checkpoint: { type: 'string' } },
  async run(io) {
    const file = str(io, 'checkpoint');
    const checkpoint = file !== undefined ? loadCheckpoint(file) : undefined;
    return withNats(async (nc) => {
      const r = await verifyAuditChain(nc, checkpoint ? { checkpoint } : {});
      const doc: Record<string, unknown> = { ok: r.ok, records: r.records, head: r.head ?? null };
      if (r.firstBadSeq !== undefined) doc.firstBadSeq = r.firstBadSeq;
      if (r.reason !== undefined) doc.reason = r.reason;
      io.result(doc, r.ok
        ? `audit chain ok: ${r.records} records${r.head ? `, head ${r.head.seq} ${r.head.hash}` : ''}${checkpoint ? `; checkpoint ${checkpoint.seq} holds` : ''}`
        : `audit chain BROKEN at seq ${r.firstBadSeq}: ${r.reason} (${r.records} good records before it)`);
      return r.ok ? 0 : 1;
    });
  },
};

const auditCheckpoint: Command = {
  name: ['audit', 'checkpoint'],
  summary: 'Print a checkpoint of the verified audit head (keep it outside the co-signer; give it to `audit verify --checkpoint`)',
  usage: '[--json]',
  options: {},
  async run(io) {
    return withNats(async (nc) => {
      const r = await verifyAuditChain(nc);
      if (!r.ok) throw new CliError('ERR_AUDIT_BROKEN', `audit chain broken at seq ${r.firstBadSeq}: ${r.reason}; no checkpoint taken`, 1);
      if (!r.head) throw new CliError('ERR_AUDIT_EMPTY', 'the audit trail is empty: nothing to checkpoint', 1);
      io.result(r.head, JSON.stringify(r.head));
      return 0;
    });
  },
};

export default [auditVerify, auditCheckpoint];

/** `cosigner audit verify`: check the hash chain of the audit stream (reads it from NATS_URL). */
import { verifyAuditChain } from '@cosigner/audit';
import type { Command } from '../command.ts';
import { withNats } from '../nats.ts';

const auditVerify: Command = {
  name: ['audit', 'verify'],
  summary: 'Verify the hash chain of the audit stream: {"ok", "records", "firstBadSeq"?}',
  usage: '[--json]',
  options: {},
  async run(io) {
    return withNats(async (nc) => {
      const r = await verifyAuditChain(nc);
      const doc: Record<string, unknown> = { ok: r.ok, records: r.records };
      if (r.firstBadSeq !== undefined) doc.firstBadSeq = r.firstBadSeq;
      io.result(doc, r.ok ? `audit chain ok: ${r.records} records` : `audit chain BROKEN at seq ${r.firstBadSeq}: ${r.reason} (${r.records} good records before it)`);
      return r.ok ? 0 : 1;
    });
  },
};

export default auditVerify;

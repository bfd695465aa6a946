/** `cosigner audit verify`: check the hash chain of the audit stream (reads it from NATS_URL). */
import { connect } from '@nats-io/transport-node';
import { verifyAuditChain } from '@cosigner/audit';
import { CliError, type Command } from '../command.ts';
import { loadCliConfig } from '../config.ts';

const auditVerify: Command = {
  name: ['audit', 'verify'],
  summary: 'Verify the hash chain of the audit stream: {"ok", "records", "firstBadSeq"?}',
  usage: '[--json]',
  options: {},
  async run(io) {
    const cfg = loadCliConfig();
    let nc;
    try {
      nc = await connect({ servers: cfg.natsUrl, name: 'cosigner-cli' });
    } catch (e) {
      throw new CliError('ERR_UNAVAILABLE', `cannot connect to NATS at ${cfg.natsUrl}`, 1, { cause: e });
    }
    try {
      const r = await verifyAuditChain(nc);
      const doc: Record<string, unknown> = { ok: r.ok, records: r.records };
      if (r.firstBadSeq !== undefined) doc.firstBadSeq = r.firstBadSeq;
      io.result(doc, r.ok ? `audit chain ok: ${r.records} records` : `audit chain BROKEN at seq ${r.firstBadSeq}: ${r.reason} (${r.records} good records before it)`);
      return r.ok ? 0 : 1;
    } finally {
      await nc.close();
    }
  },
};

export default auditVerify;

/**
 * `cosigner chaos`: faults against a whole system started on loopback for the occasion, then the
 * system's promises checked from the outside (see ../chaos.ts). Exit 1 when any is broken.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError, int, type Command } from '../command.ts';
import { runChaos, type ChaosReport } from '../chaos.ts';
import { table } from './users.ts';

function human(r: ChaosReport): string {
  const outcome = Object.entries(r.outcomes).map(([k, v]) => `${k} ${v}`).join(', ');
  const rows = Object.entries(r.byBehaviour).map(([b, o]) => [b, Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ')]);
  return [
    `requests    submitted ${r.requests.submitted}, accepted ${r.requests.accepted}, not accepted ${r.requests.notAccepted}` +
      (Object.keys(r.requests.refusals).length ? ` (workspace answers: ${Object.entries(r.requests.refusals).map(([k, v]) => `${k} ×${v}`).join(', ')})` : ''),
    `outcomes    ${outcome || '-'}${Object.keys(r.failures).length ? ` (failed: ${Object.entries(r.failures).map(([k, v]) => `${k} ×${v}`).join(', ')})` : ''}`,
    table(['HANDLER', 'OUTCOMES'], rows),
    `kills       ${Object.entries(r.kills).map(([k, v]) => `${k} ×${v}`).join(', ') || '-'}`,
    `signatures  ${r.signatures.checked} verified independently (ECDSA ${r.signatures.ecdsa} by noble, EdDSA ${r.signatures.eddsa} by OpenSSL)`,
    `presigs     ${r.presignatures.planned} presignatures planned for ${r.presignatures.entries} entries`,
    `logs        ${r.logs.files} files, ${r.logs.lines} lines scanned for secrets`,
    `duration    ${Math.round(r.durationMs / 1000)} s`,
    r.violations.length === 0 ? 'violations  none' : `violations  ${r.violations.length}:\n${r.violations.map((v) => `  - ${v}`).join('\n')}`,
  ].join('\n');
}

const chaos: Command = {
  name: ['chaos'],
  summary: 'Start a system on loopback, drive transfers while killing services, parties and NATS, then check every promise (exit 1 on a violation)',
  usage: '[--requests N] [--kills K] [--seconds S] [--concurrency C] [--keep] [--json]',
  options: { requests: { type: 'string' }, kills: { type: 'string' }, seconds: { type: 'string' }, concurrency: { type: 'string' }, keep: { type: 'boolean' } },
  async run(io) {
    const requests = int(io, 'requests', 100);
    const kills = int(io, 'kills', 10);
    const seconds = int(io, 'seconds', 900);
    const concurrency = int(io, 'concurrency', 8);
    if (requests < 1 || concurrency < 1) throw new CliError('ERR_USAGE', '--requests and --concurrency must be at least 1', 2);
    if (seconds < 180) throw new CliError('ERR_USAGE', '--seconds must be at least 180 (set-up, requests that expire, checks)', 2);
    const dataDir = mkdtempSync(join(tmpdir(), 'cosigner-chaos-'));
    io.info(`chaos: system data and logs in ${dataDir}`);
    try {
      const r = await runChaos({ requests, kills, seconds, concurrency, dataDir, log: (l) => io.info(l) });
      io.result(r, human(r));
      return r.violations.length === 0 ? 0 : 1;
    } finally {
      if (io.values.keep !== true) rmSync(dataDir, { recursive: true, force: true });
    }
  },
};

export default chaos;

/**
 * `cosigner parties list`: the MPC parties' published identities (KV `cosigner-parties`, read
 * from NATS_URL), each with whether its attestation binds its encryption key to its identity key,
 * and the `COSIGNER_PARTY_PINS` value that pins exactly these identities. An operator checks the
 * identity keys out of band (the cloud co-signers' published fingerprints, an attestation) and
 * then configures the pins on every party instead of trusting first sight.
 */
import { createHash } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { PartyInfo } from '@cosigner/proto';
import { BUCKETS } from '@cosigner/platform';
import { CliError, type Command } from '../command.ts';
import { withNats } from '../nats.ts';

/** Mirrors the parties' own check (packages/party transport.ts `attestationBinds`), read-only here. */
async function binds(info: PartyInfo): Promise<boolean> {
  const { attestationBinds } = await import('@cosigner/party');
  return attestationBinds(info);
}

const partiesList: Command = {
  name: ['parties', 'list'],
  summary: 'The MPC parties\' identity keys and the COSIGNER_PARTY_PINS value that pins them: {"parties": [...], "pins"}',
  usage: '[--json]',
  options: {},
  async run(io) {
    return withNats(async (nc) => {
      let latest: Map<string, PartyInfo>;
      try {
        const kv = await new Kvm(jetstream(nc)).open(BUCKETS.parties.bucket);
        latest = new Map();
        for await (const e of await kv.history()) {
          if (e.operation === 'PUT') latest.set(e.key, PartyInfo.decode(e.value));
          else latest.delete(e.key);
        }
      } catch (e) {
        throw new CliError('ERR_UNAVAILABLE', `cannot read the parties' identities: ${(e as Error).message}`, 1, { cause: e });
      }
      const parties: Record<string, unknown>[] = [];
      for (const info of [...latest.values()].sort((a, b) => a.index - b.index)) {
        const identity = Buffer.from(info.identityPublicKey).toString('hex');
        parties.push({
          partyId: info.partyId,
          index: info.index,
          identityPublicKey: identity,
          fingerprint: createHash('sha256').update(info.identityPublicKey).digest('hex').slice(0, 16),
          encryptionPublicKey: Buffer.from(info.encryptionPublicKey).toString('hex'),
          attestationBinds: await binds(info),
        });
      }
      const pins = parties.map((p) => `${String(p.partyId)}=${String(p.identityPublicKey)}`).join(',');
      const human = parties.length === 0
        ? 'no party has published its identity yet'
        : [...parties.map((p) => `${String(p.partyId).padEnd(10)} #${String(p.index)}  ${String(p.identityPublicKey)}  ${p.attestationBinds ? 'bound' : 'NOT BOUND'}`), '', `COSIGNER_PARTY_PINS=${pins}`].join('\n');
      io.result({ parties, pins }, human);
      return parties.every((p) => p.attestationBinds) ? 0 : 1;
    });
  },
};

export default [partiesList];

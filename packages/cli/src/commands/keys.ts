/** `cosigner keys create|list|pubkey|refresh|backup|restore`: the signer's KeyService. */
import { readFileSync, writeFileSync } from 'node:fs';
import { KeyServiceClient, type BackupKeyResponse, type GetPublicKeyResponse, type KeyInfo, type ListKeysResponse } from '@cosigner/proto';
import { CliError, str, type Command, type CommandIO } from '../command.ts';
import { loadCliConfig } from '../config.ts';
import { makeClient, unary } from '../grpc.ts';

const ALGORITHMS = ['ECDSA_SECP256K1', 'ECDSA_SECP256R1', 'EDDSA_ED25519'];
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

async function call<Res>(method: string, req: unknown): Promise<Res> {
  const cfg = loadCliConfig();
  const client = makeClient(KeyServiceClient, cfg.keysUrl);
  try {
    return await unary<unknown, Res>(client, method, req, { token: cfg.adminToken, deadlineMs: 300_000 });
  } finally {
    client.close();
  }
}

export function keyDoc(k: KeyInfo): Record<string, unknown> {
  return {
    keyId: k.keyId, workspaceId: k.workspaceId, algorithm: k.algorithm, publicKey: hex(k.publicKey), chainCode: hex(k.chainCode),
    threshold: k.threshold, parties: k.parties, epoch: k.epoch, createdAtMs: k.createdAtMs,
  };
}

/** `44/60/0/0/0` or `m/44/60/0/0/0` → indices (non-hardened only). */
export function parsePathArg(s: string): number[] {
  const p = s.trim().replace(/^m\/?/, '');
  if (p === '') return [];
  return p.split('/').map((x) => {
    if (!/^\d{1,10}$/.test(x) || Number(x) >= 0x80000000) throw new CliError('ERR_USAGE', `--path: "${x}" is not a non-hardened index`, 2);
    return Number(x);
  });
}

const create: Command = {
  name: ['keys', 'create'],
  summary: 'Create a key by DKG among the three parties (3-of-3 by default)',
  usage: '--workspace ID --algorithm ECDSA_SECP256K1|ECDSA_SECP256R1|EDDSA_ED25519 [--threshold T] [--key-id ID] [--json]',
  options: { workspace: { type: 'string' }, algorithm: { type: 'string' }, threshold: { type: 'string' }, 'key-id': { type: 'string' } },
  async run(io: CommandIO) {
    const algorithm = str(io, 'algorithm', true).toUpperCase();
    if (!ALGORITHMS.includes(algorithm)) throw new CliError('ERR_USAGE', `--algorithm must be one of ${ALGORITHMS.join(', ')}`, 2);
    const t = str(io, 'threshold');
    const k = await call<KeyInfo>('createKey', { workspaceId: str(io, 'workspace', true), algorithm, threshold: t ? Number(t) : 0, keyId: str(io, 'key-id') ?? '' });
    io.result({ keyId: k.keyId, algorithm: k.algorithm, publicKey: hex(k.publicKey), chainCode: hex(k.chainCode) }, `${k.keyId} ${k.algorithm} ${hex(k.publicKey)}`);
  },
};

const list: Command = {
  name: ['keys', 'list'],
  summary: 'List keys (metadata only)',
  usage: '[--workspace ID] [--json]',
  options: { workspace: { type: 'string' } },
  async run(io) {
    const r = await call<ListKeysResponse>('listKeys', { workspaceId: str(io, 'workspace') ?? '' });
    io.result({ keys: r.keys.map(keyDoc) }, r.keys.map((k) => `${k.keyId}  ${k.workspaceId}  ${k.algorithm}  ${hex(k.publicKey)}`).join('\n') || '(no keys)');
  },
};

const pubkey: Command = {
  name: ['keys', 'pubkey'],
  summary: 'Public key (and Ethereum address for secp256k1) at a derivation path; no MPC',
  usage: '--key ID [--path 44/60/0/0/0] [--json]',
  options: { key: { type: 'string' }, path: { type: 'string' } },
  async run(io) {
    const path = parsePathArg(str(io, 'path') ?? '');
    const r = await call<GetPublicKeyResponse>('getPublicKey', { keyId: str(io, 'key', true), path });
    const doc = { keyId: r.keyId, path: ['m', ...r.path].join('/'), publicKey: hex(r.publicKey), address: r.address };
    io.result(doc, `${doc.publicKey}${doc.address ? `  ${doc.address}` : ''}`);
  },
};

const refresh: Command = {
  name: ['keys', 'refresh'],
  summary: 'Refresh the key shares (same public key, new shares on every party)',
  usage: '--key ID [--json]',
  options: { key: { type: 'string' } },
  async run(io) {
    const k = await call<KeyInfo>('refreshKey', { keyId: str(io, 'key', true) });
    io.result({ keyId: k.keyId, epoch: k.epoch, publicKey: hex(k.publicKey) }, `${k.keyId} refreshed (epoch ${k.epoch})`);
  },
};

const backup: Command = {
  name: ['keys', 'backup'],
  summary: "Back up the customer party's share, encrypted to an offline recovery public key (RSA or X25519 PEM)",
  usage: '--key ID --recovery-public-key FILE [--out FILE] [--json]',
  options: { key: { type: 'string' }, 'recovery-public-key': { type: 'string' }, out: { type: 'string' } },
  async run(io) {
    const keyId = str(io, 'key', true);
    const pem = readFileSync(str(io, 'recovery-public-key', true), 'utf8');
    const r = await call<BackupKeyResponse>('backupKey', { keyId, recoveryPublicKeyPem: pem });
    const out = str(io, 'out') ?? `${keyId}.backup`;
    writeFileSync(out, r.backup, { mode: 0o600 });
    io.result({ keyId, file: out, bytes: r.backup.length }, `backup of ${keyId} written to ${out}`);
  },
};

const restore: Command = {
  name: ['keys', 'restore'],
  summary: "Restore the customer party's share from a backup into this signer",
  usage: '--backup FILE --recovery-private-key FILE [--json]',
  options: { backup: { type: 'string' }, 'recovery-private-key': { type: 'string' } },
  async run(io) {
    const b = readFileSync(str(io, 'backup', true));
    const pem = readFileSync(str(io, 'recovery-private-key', true), 'utf8');
    const k = await call<KeyInfo>('restoreKey', { backup: b, recoveryPrivateKeyPem: pem });
    io.result(keyDoc(k), `restored ${k.keyId}`);
  },
};

export default [create, list, pubkey, refresh, backup, restore];

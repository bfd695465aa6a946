/**
 * Key metadata (never shares) in JetStream KV `cosigner-keys` (key = key id, value = KeyInfo),
 * written by mpc-signer only; and public-key derivation (no MPC) with Ethereum addresses.
 */
import type { KV } from '@nats-io/kv';
import { BUCKETS } from '@cosigner/platform';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { KeyInfo } from '@cosigner/proto';
import { PartyError, parseAlgorithm, pathString, schemeFor } from '@cosigner/party';

export const KEYS_BUCKET = BUCKETS.keys.bucket;

export class KeyStore {
  #kv: KV;
  #cache = new Map<string, { info: KeyInfo; revision: number }>();

  constructor(kv: KV) {
    this.#kv = kv;
  }

  async get(keyId: string, fresh = false): Promise<{ info: KeyInfo; revision: number } | undefined> {
    if (!fresh) {
      const hit = this.#cache.get(keyId);
      if (hit) return hit;
    }
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(keyId)) return undefined;
    const e = await this.#kv.get(keyId);
    if (!e || e.operation !== 'PUT') return undefined;
    const v = { info: KeyInfo.decode(e.value), revision: e.revision };
    this.#cache.set(keyId, v);
    return v;
  }

  async create(info: KeyInfo): Promise<void> {
    const rev = await this.#kv.create(info.keyId, KeyInfo.encode(info).finish());
    this.#cache.set(info.keyId, { info, revision: rev });
  }

  async update(info: KeyInfo, revision: number): Promise<void> {
    const rev = await this.#kv.update(info.keyId, KeyInfo.encode(info).finish(), revision);
    this.#cache.set(info.keyId, { info, revision: rev });
  }

  async list(): Promise<KeyInfo[]> {
    const out: KeyInfo[] = [];
    const it = await this.#kv.keys();
    const ids: string[] = [];
    for await (const k of it) ids.push(k);
    for (const id of ids.sort()) {
      const v = await this.get(id, true);
      if (v) out.push(v.info);
    }
    return out;
  }
}

/** EIP-55 checksummed address of a secp256k1 public key (SEC1, compressed or not). */
export function ethereumAddress(publicKey: Uint8Array): string {
  const uncompressed = secp256k1.Point.fromBytes(publicKey).toBytes(false);
  const addr = Buffer.from(keccak_256(uncompressed.subarray(1)).subarray(12)).toString('hex');
  const h = Buffer.from(keccak_256(new TextEncoder().encode(addr))).toString('hex');
  let out = '0x';
  for (let i = 0; i < 40; i++) out += parseInt(h[i]!, 16) >= 8 ? addr[i]!.toUpperCase() : addr[i]!;
  return out;
}

export function derive(info: KeyInfo, path: readonly number[]): { publicKey: Uint8Array; address: string } {
  for (const i of path) if (!Number.isInteger(i) || i < 0 || i >= 0x80000000) throw new PartyError('ERR_INVALID_ARGUMENT', `path index ${i} is not a non-hardened index`);
  const d = schemeFor(parseAlgorithm(info.algorithm)).derivePublicKey(info.publicKey, info.chainCode, pathString(path));
  return { publicKey: d.publicKey, address: info.algorithm === 'ECDSA_SECP256K1' ? ethereumAddress(d.publicKey) : '' };
}

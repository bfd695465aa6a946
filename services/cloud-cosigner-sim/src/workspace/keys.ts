/**
 * The workspaces' signing keys (ES256), one per workspace, in files under the simulator's data
 * dir (mode 0600, written atomically). They stay out of NATS: the bus is never trusted with
 * private keys, the simulator's included.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes, type webcrypto } from 'node:crypto';
import * as jose from 'jose';
import { WorkspaceError } from './errors.ts';

export const WORKSPACE_SIGNING_ALG = 'ES256';

export interface WorkspaceKey {
  kid: string;
  privateKey: webcrypto.CryptoKey;
  publicJwk: jose.JWK;
}

interface KeyFile {
  kid: string;
  alg: string;
  privateJwk: jose.JWK;
  publicJwk: jose.JWK;
}

export class WorkspaceKeyStore {
  readonly dir: string;
  readonly #cache = new Map<string, WorkspaceKey>();
  constructor(dir: string) {
    this.dir = dir;
  }

  #file(workspaceId: string): string {
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(workspaceId) || workspaceId.startsWith('.')) throw new WorkspaceError('ERR_INVALID_ARGUMENT', 'bad workspace id', 3);
    return join(this.dir, `${workspaceId}.jwk.json`);
  }

  /** Generates and persists a new key for the workspace. */
  async create(workspaceId: string): Promise<WorkspaceKey> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const { privateKey, publicKey } = await jose.generateKeyPair(WORKSPACE_SIGNING_ALG, { extractable: true });
    const pub = await jose.exportJWK(publicKey);
    const kid = await jose.calculateJwkThumbprint(pub);
    const publicJwk: jose.JWK = { ...pub, kid, alg: WORKSPACE_SIGNING_ALG, use: 'sig' };
    const file: KeyFile = { kid, alg: WORKSPACE_SIGNING_ALG, privateJwk: await jose.exportJWK(privateKey), publicJwk };
    const path = this.#file(workspaceId);
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(file), { mode: 0o600 });
    await rename(tmp, path);
    const k: WorkspaceKey = { kid, privateKey: privateKey as webcrypto.CryptoKey, publicJwk };
    this.#cache.set(workspaceId, k);
    return k;
  }

  async get(workspaceId: string): Promise<WorkspaceKey> {
    const hit = this.#cache.get(workspaceId);
    if (hit) return hit;
    let file: KeyFile;
    try {
      file = JSON.parse(await readFile(this.#file(workspaceId), 'utf8')) as KeyFile;
    } catch (e) {
      throw new WorkspaceError('ERR_WORKSPACE_KEY_MISSING', `signing key of workspace ${workspaceId} is missing`, 9, { cause: e });
    }
    const privateKey = (await jose.importJWK(file.privateJwk, file.alg)) as webcrypto.CryptoKey;
    const k: WorkspaceKey = { kid: file.kid, privateKey, publicJwk: file.publicJwk };
    this.#cache.set(workspaceId, k);
    return k;
  }
}

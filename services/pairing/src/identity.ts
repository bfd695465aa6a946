/**
 * The co-signer's identity: an Ed25519 key generated once into the data dir (its public half is
 * registered with each workspace at pairing; the id is derived from it), and the public half of
 * the callback-signing RSA key (COSIGNER_CALLBACK_KEY_FILE), which handlers use to verify requests.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface CosignerIdentity {
  cosignerId: string;
  /** Raw 32-byte Ed25519 public key. */
  identityPublicKey: Buffer;
  identityPrivateKey: KeyObject;
  /** SPKI PEM of the callback-signing RSA key. */
  callbackPublicKeyPem: string;
}

/**
 * `identityKeyFile` (a mounted Ed25519 PKCS#8 secret) wins; else the key is generated once into
 * `<dataDir>/identity.key.pem`. Replicas of the service must share it (mount the same secret):
 * the co-signer id is derived from it.
 */
export async function loadIdentity(dataDir: string, callbackKeyFile: string, identityKeyFile?: string): Promise<CosignerIdentity> {
  let callbackPublicKeyPem: string;
  try {
    const priv = createPrivateKey(await readFile(callbackKeyFile));
    if (priv.asymmetricKeyType !== 'rsa' || (priv.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new Error('callback key must be RSA >= 2048');
    callbackPublicKeyPem = createPublicKey(priv).export({ type: 'spki', format: 'pem' }).toString();
  } catch (e) {
    throw new Error(`COSIGNER_CALLBACK_KEY_FILE: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  let pem: string;
  if (identityKeyFile) {
    try {
      pem = await readFile(identityKeyFile, 'utf8');
    } catch (e) {
      throw new Error(`COSIGNER_IDENTITY_KEY_FILE: cannot read ${identityKeyFile}`, { cause: e });
    }
  } else {
    const file = join(dataDir, 'identity.key.pem');
    try {
      pem = await readFile(file, 'utf8');
    } catch {
      try {
        await mkdir(dataDir, { recursive: true, mode: 0o700 });
        const { privateKey } = generateKeyPairSync('ed25519');
        pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, pem, { mode: 0o600 });
        await rename(tmp, file);
      } catch (e) {
        throw new Error(`cannot create the co-signer identity key in ${dataDir} (set COSIGNER_DATA_DIR to a writable volume or COSIGNER_IDENTITY_KEY_FILE to a mounted key)`, { cause: e });
      }
    }
  }
  const identityPrivateKey = createPrivateKey(pem);
  if (identityPrivateKey.asymmetricKeyType !== 'ed25519') throw new Error('the co-signer identity key must be Ed25519');
  const spki = createPublicKey(identityPrivateKey).export({ type: 'spki', format: 'der' });
  const identityPublicKey = Buffer.from(spki.subarray(spki.length - 32));
  const cosignerId = `cosigner-${createHash('sha256').update(identityPublicKey).digest('hex').slice(0, 16)}`;
  return { cosignerId, identityPublicKey, identityPrivateKey, callbackPublicKeyPem };
}

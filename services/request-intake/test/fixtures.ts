/**
 * Test fixtures shared by the intake and dispatcher suites: a trusted workspace with an ES256
 * key (COSIGNER_TRUST inline JWKS), API users and keys written straight into their KV buckets
 * (that is the contract: pairing and mpc-signer write them), ETH transfer requests built with
 * viem, submission JWTs, and the co-signer's RSA / Ed25519 keys.
 */
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import * as jose from 'jose';
import { keccak256, parseEther, serializeTransaction, type Hex } from 'viem';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  ApiUser, ConfigChangeRequest, KeyInfo, RequestIntakeServiceClient, TransactionSignRequest,
  type Algorithm, type CallbackConfig, type PayloadEntry, type SubmitResponse, type RequestState,
} from '@cosigner/proto';
import { createClient, serverStream, unary } from '@cosigner/platform';
import { INTAKE_AUDIENCE, requestHash } from '@cosigner/trust';

export const WORKSPACE_ID = 'ws1';
export const ISSUER = `cosigner-sim/${WORKSPACE_ID}`;
export const ADMIN_TOKEN = 'admin-token-for-tests';
export const DEST = '0x5dc6a3BB4A6E6f1E4E2D7b8A9c0D1e2f3A4B5c6D';

export interface Workspace {
  privateKey: jose.CryptoKey | KeyObject;
  trustJson: string;
}

export async function makeWorkspace(issuer = ISSUER, workspaceId = WORKSPACE_ID): Promise<Workspace> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  return { privateKey, trustJson: JSON.stringify([{ issuer, workspaceId, jwks: { keys: [jwk] } }]) };
}

export interface CosignerKeys {
  callbackPrivatePem: string;
  callbackPublicPem: string;
  approvalPrivatePem: string;
  approvalPublicPem: string;
}

export function cosignerKeys(): CosignerKeys {
  const cb = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ap = generateKeyPairSync('ed25519');
  return {
    callbackPrivatePem: cb.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    callbackPublicPem: cb.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    approvalPrivatePem: ap.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    approvalPublicPem: ap.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Writes an API user as pairing would; without a callback it is auto-approved unless `autoApprove: false`. */
export async function seedApiUser(nc: NatsConnection, apiUserId: string, o: { workspaceId?: string; state?: ApiUser['state']; callback?: CallbackConfig; autoApprove?: boolean } = {}): Promise<void> {
  const kv = await new Kvm(jetstream(nc)).create('cosigner-api-users', { history: 5 });
  const u: ApiUser = {
    apiUserId, workspaceId: o.workspaceId ?? WORKSPACE_ID, state: o.state ?? 'ACTIVE', pairedAtMs: Date.now(), revision: 0,
    autoApprove: o.autoApprove ?? !o.callback, ...(o.callback ? { callback: o.callback } : {}),
  };
  await kv.put(apiUserId, ApiUser.encode(u).finish());
}

export async function seedKey(nc: NatsConnection, keyId: string, o: { workspaceId?: string; algorithm?: Algorithm } = {}): Promise<void> {
  const kv = await new Kvm(jetstream(nc)).create('cosigner-keys', { history: 1 });
  const k: KeyInfo = {
    keyId, workspaceId: o.workspaceId ?? WORKSPACE_ID, algorithm: o.algorithm ?? 'ECDSA_SECP256K1', publicKey: Buffer.alloc(33, 2), chainCode: Buffer.alloc(32),
    threshold: 3, parties: ['customer', 'cloud-1', 'cloud-2'], createdAtMs: Date.now(), epoch: 0, refreshedAtMs: 0,
  };
  await kv.put(keyId, KeyInfo.encode(k).finish());
}

export interface EthOpts {
  requestId?: string;
  apiUserId?: string;
  workspaceId?: string;
  keyId?: string;
  to?: string;
  amountEth?: string;
  chainId?: number;
  expiresAtMs?: number;
  /** Mutate the built request before encoding (bad-input tests). */
  tweak?: (r: TransactionSignRequest) => void;
}

/** An ETH transfer request as the workspace builds it: EIP-1559 tx, keccak256 digest, business fields. */
export function ethRequest(o: EthOpts = {}): { request: TransactionSignRequest; bytes: Uint8Array; rawTx: Hex; digest: Hex } {
  const to = (o.to ?? DEST) as `0x${string}`;
  const amount = o.amountEth ?? '0.01';
  const chainId = o.chainId ?? 11155111;
  const rawTx = serializeTransaction({ type: 'eip1559', chainId, nonce: 0, to, value: parseEther(amount), gas: 21000n, maxFeePerGas: 30_000_000_000n, maxPriorityFeePerGas: 1_500_000_000n });
  const digest = keccak256(rawTx);
  const requestId = o.requestId ?? randomUUID();
  const request: TransactionSignRequest = {
    requestId,
    workspaceId: o.workspaceId ?? WORKSPACE_ID,
    apiUserId: o.apiUserId ?? 'u1',
    expiresAtMs: o.expiresAtMs ?? Date.now() + 600_000,
    details: {
      txId: requestId, operation: 'TRANSFER', sourceType: 'VAULT', sourceId: '0', destType: 'ONE_TIME_ADDRESS', destId: '', asset: 'ETH',
      amount, requestedAmount: amount, fee: '0.00063', destAddressType: 'ONE_TIME', destAddress: to.toLowerCase(),
      destinations: [{ amountNative: amount, amountUsd: '0', dstAddressType: 'ONE_TIME', dstId: '', dstWalletId: '', dstName: '', dstSubType: '', dstType: 'ONE_TIME_ADDRESS', displayDstAddress: to, action: 'ALLOW' }],
      note: '', externalTxId: '', extraParameters: {}, chainId,
    },
    entries: [{ keyId: o.keyId ?? 'key1', path: [44, 60, 0, 0, 0], algorithm: 'ECDSA_SECP256K1', rawTx: Buffer.from(rawTx.slice(2), 'hex'), payload: Buffer.from(digest.slice(2), 'hex') } satisfies PayloadEntry],
    players: ['customer', 'cloud-1', 'cloud-2'],
  };
  o.tweak?.(request);
  return { request, bytes: TransactionSignRequest.encode(request).finish(), rawTx, digest };
}

export function configChange(o: { requestId?: string; apiUserId?: string; type?: string; expiresAtMs?: number } = {}): { request: ConfigChangeRequest; bytes: Uint8Array } {
  const request: ConfigChangeRequest = {
    requestId: o.requestId ?? randomUUID(), workspaceId: WORKSPACE_ID, apiUserId: o.apiUserId ?? 'u1', expiresAtMs: o.expiresAtMs ?? Date.now() + 600_000,
    type: o.type ?? 'UNMANAGED_WALLET',
    extraInfoJson: JSON.stringify({ subType: 'EXTERNAL', walletName: 'w', walletId: 'wid', asset: 'ETH', address: DEST, tag: '' }),
  };
  return { request, bytes: ConfigChangeRequest.encode(request).finish() };
}

export interface JwtOpts {
  apiUserId?: string;
  nonce?: string;
  iatS?: number;
  lifetimeS?: number;
  issuer?: string;
  reqHash?: string;
  key?: jose.CryptoKey | KeyObject;
}

export async function submissionJwt(ws: Workspace, bytes: Uint8Array, o: JwtOpts = {}): Promise<string> {
  const iat = o.iatS ?? Math.floor(Date.now() / 1000);
  const nonce = o.nonce ?? randomUUID();
  return new jose.SignJWT({ reqHash: o.reqHash ?? requestHash(bytes), nonce })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' })
    .setIssuer(o.issuer ?? ISSUER).setSubject(o.apiUserId ?? 'u1').setAudience(INTAKE_AUDIENCE)
    .setIssuedAt(iat).setExpirationTime(iat + (o.lifetimeS ?? 30)).setJti(nonce)
    .sign(o.key ?? ws.privateKey);
}

export function intakeClient(address: string): RequestIntakeServiceClient {
  return createClient(RequestIntakeServiceClient, address, { token: ADMIN_TOKEN });
}

export async function submitTx(c: RequestIntakeServiceClient, bytes: Uint8Array, authorization: string): Promise<SubmitResponse> {
  return unary(c, 'submitTransaction', { request: Buffer.from(bytes), authorization });
}

export async function submitCc(c: RequestIntakeServiceClient, bytes: Uint8Array, authorization: string): Promise<SubmitResponse> {
  return unary(c, 'submitConfigChange', { request: Buffer.from(bytes), authorization });
}

/** Watches until a state satisfies `until` (default: terminal) or the timeout passes. */
export async function waitFor(c: RequestIntakeServiceClient, requestId: string, until: (s: RequestState) => boolean, timeoutMs = 20_000): Promise<RequestState> {
  const deadline = Date.now() + timeoutMs;
  let last: RequestState | undefined;
  while (Date.now() < deadline) {
    try {
      for await (const s of serverStream(c, 'watchRequest', { requestId }, { deadlineMs: deadline - Date.now() })) {
        last = s;
        if (until(s)) return s;
      }
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_NOT_FOUND' && (e as { code?: string }).code !== 'ERR_DEADLINE_EXCEEDED') throw e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`request ${requestId} did not reach the expected state in ${timeoutMs} ms (last: ${last?.status ?? 'none'} ${last?.reason ?? ''})`);
}

export const isFinal = (s: RequestState): boolean => ['SIGNED', 'REJECTED', 'IGNORED', 'FAILED'].includes(s.status) || (s.status === 'APPROVED');

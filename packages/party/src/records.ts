/**
 * Names of the records in a party's sealed store: the one place that spells them, used by the
 * enclave, the garbage collector and the coordinator's facade (so one record never has two
 * names). Names are dot-separated tokens (sealed.ts); key and request ids go through `token`.
 *
 * | record | holds | written by |
 * |---|---|---|
 * | `identity` | the party's identity keys | enclave |
 * | `pins` | peers' pinned identity keys | transport registry |
 * | `share.<key>.<epoch>` | a key share of one epoch | enclave (keygen, refresh, restore) |
 * | `presig.<key>.<epoch>.<id>` | a presignature and its signing set | enclave (presign) |
 * | `bind.<key>.<id>` | what a presignature signs, and the share sent | enclave (sign) |
 * | `done.<request>` | a request's final event (coordinator) | coordinator |
 * | `sig.<request>.<entry>` | one entry's signature of a multi-entry request (coordinator) | coordinator |
 */
import { token } from './sealed.ts';

export const IDENTITY_RECORD = 'identity';
export const PINS_RECORD = 'pins';

export const sharePrefix = (keyId: string): string => `share.${token(keyId)}.`;
export const shareRecord = (keyId: string, epoch: number): string => `${sharePrefix(keyId)}${epoch}`;

export const presignaturePrefix = (keyId: string, epoch: number): string => `presig.${token(keyId)}.${epoch}.`;
export const presignatureRecord = (keyId: string, epoch: number, id: string): string => `${presignaturePrefix(keyId, epoch)}${id}`;

export const bindingPrefix = (keyId: string): string => `bind.${token(keyId)}.`;
export const bindingRecord = (keyId: string, presignatureId: string): string => `${bindingPrefix(keyId)}${presignatureId}`;

export const outcomeRecord = (requestId: string): string => `done.${token(requestId)}`;
export const entrySignatureRecord = (requestId: string, entry: number): string => `sig.${token(requestId)}.${entry}`;

/** Prefixes the garbage collector walks, and the parsers of the names under them. */
export const OUTCOME_PREFIX = 'done.';
export const SHARE_PREFIX = 'share.';
export const PRESIGNATURE_PREFIX = 'presig.';
export const BINDING_PREFIX = 'bind.';

/** `share.<key>.<epoch>` → key token and epoch. */
export function parseShareRecord(name: string): { key: string; epoch: number } | undefined {
  const m = /^share\.(.+)\.(\d+)$/.exec(name);
  return m ? { key: m[1]!, epoch: Number(m[2]) } : undefined;
}

/** `presig.<key>.<epoch>.<id>` → key token, epoch and id. */
export function parsePresignatureRecord(name: string): { key: string; epoch: number; id: string } | undefined {
  const m = /^presig\.(.+)\.(\d+)\.([0-9a-f]+)$/.exec(name);
  return m ? { key: m[1]!, epoch: Number(m[2]), id: m[3]! } : undefined;
}

/** `bind.<key>.<id>` → key token and presignature id. */
export function parseBindingRecord(name: string): { key: string; id: string } | undefined {
  const m = /^bind\.(.+)\.([0-9a-f]+)$/.exec(name);
  return m ? { key: m[1]!, id: m[2]! } : undefined;
}

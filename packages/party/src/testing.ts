/**
 * `@cosigner/party/testing`: test support only. Service code never imports this entry point
 * (eslint.config.js forbids it in every `src` folder): it reaches behind the enclave boundary.
 */
import type { Enclave } from './enclave.ts';
import { internalsOf } from './internal.ts';
import type { PartyNode } from './node.ts';
import type { SealedStore } from './sealed.ts';

/** TEST ONLY: the enclave of a started node (to call its operations without a coordinator). */
export function enclaveOf(node: PartyNode): Enclave {
  return internalsOf(node).enclave;
}

/** TEST ONLY: the sealed store of a started node (to tamper with records, as an attacker with the disk would). */
export function sealedStoreOf(node: PartyNode): SealedStore {
  return internalsOf(node).store;
}

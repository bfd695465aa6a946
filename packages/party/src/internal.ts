/**
 * The party package's internals, reachable from its own code and from its `testing` entry point
 * only (index.ts does not export this module; package.json exports no path to it). A node's
 * enclave and sealed store are registered here so that tests can drive them directly while no
 * service code can (docs/architecture.md, "The enclave boundary").
 */
import type { Enclave } from './enclave.ts';
import type { SealedStore } from './sealed.ts';

export interface NodeInternals {
  enclave: Enclave;
  store: SealedStore;
}

const internals = new WeakMap<object, NodeInternals>();

export function registerInternals(node: object, i: NodeInternals): void {
  internals.set(node, i);
}

export function internalsOf(node: object): NodeInternals {
  const i = internals.get(node);
  if (!i) throw new Error('not a started PartyNode');
  return i;
}

/** cloud-cosigner-sim: the simulated workspace (and, alongside, the cloud co-signer parties). */
export * from './workspace/index.ts';

/**
 * Test harness: real nats-server processes, free ports, services as child processes.
 * Import from '@cosigner/platform/testing' (never from production code).
 */
export { startNats, natsServerBinary, DEFAULT_NATS_START_TIMEOUT_MS } from './nats.ts';
export type { StartNatsOptions, NatsServerHandle } from './nats.ts';
export { freePort } from './port.ts';
export { spawnNode, DEFAULT_WAIT_OUTPUT_MS } from './process.ts';
export type { SpawnNodeOptions, NodeProcess } from './process.ts';

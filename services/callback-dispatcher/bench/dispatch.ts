/**
 * Dispatch benchmark: intake-to-approved latency and throughput, with the example callback
 * handler answering in 0 ms and in 200 ms, for 1 and 3 dispatcher instances at 16 callbacks in
 * flight each. Every scenario gets its own nats-server, a request-intake process, N dispatcher
 * processes and a handler process; the load comes from this process over gRPC.
 *
 * - 0 ms handler: open loop at `--rate` requests/s (default 200) for `--seconds` (default 10);
 * - 200 ms handler: closed loop with `--clients` outstanding requests (default 128), so the
 *   dispatchers are the bottleneck and throughput shows how they scale.
 *
 * Latency = from just before SubmitTransaction to the `approved` event arriving on NATS.
 * Prints one JSON document (the last stdout line).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { closeClient } from '@cosigner/platform';
import { freePort, spawnNode, startNats, type NodeProcess } from '@cosigner/platform/testing';
import {
  ADMIN_TOKEN, cosignerKeys, ethRequest, intakeClient, makeWorkspace, seedApiUser, seedKey, submissionJwt, submitTx,
} from '../../request-intake/test/fixtures.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const { values: args } = parseArgs({ options: { rate: { type: 'string' }, seconds: { type: 'string' }, clients: { type: 'string' }, scenarios: { type: 'string' } } });
const RATE = Number(args.rate ?? 200);
const SECONDS = Number(args.seconds ?? 10);
const CLIENTS = Number(args.clients ?? 128);
const IN_FLIGHT = 16;
const log = (m: string): void => { process.stderr.write(`${m}\n`); };
/** BENCH_PROFILE_DIR: write CPU profiles of the service processes there. */
const prof = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];

interface Result {
  handlerDelayMs: number;
  dispatchers: number;
  inFlightPerInstance: number;
  load: string;
  submitted: number;
  approved: number;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
  /** SubmitTransaction round trip alone (admission). */
  submitP50Ms: number;
  submitP99Ms: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 100) / 100;
}

async function scenario(handlerDelayMs: number, dispatchers: number): Promise<Result> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-dispatch-'));
  const nats = await startNats({ ignoreEnv: true });
  const procs: NodeProcess[] = [];
  const nc = await connect({ servers: nats.url });
  try {
    const ws = await makeWorkspace();
    const keys = cosignerKeys();
    const hk = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(dir, 'callback.pem'), keys.callbackPrivatePem);
    await writeFile(join(dir, 'callback.pub.pem'), keys.callbackPublicPem);
    await writeFile(join(dir, 'approval.pem'), keys.approvalPrivatePem);
    await writeFile(join(dir, 'handler.pem'), hk.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const handlerPort = await freePort();
    await writeFile(join(dir, 'handler.json'), JSON.stringify({
      port: handlerPort, cosignerPublicKeyFile: join(dir, 'callback.pub.pem'), privateKeyFile: join(dir, 'handler.pem'), rules: {}, delayMs: handlerDelayMs,
    }));
    const env = { NATS_URL: nats.url, OTEL_SDK_DISABLED: 'true', LOG_LEVEL: 'warn' };
    const handler = spawnNode(join(ROOT, 'examples/callback-handler/src/main.ts'), { nodeArgs: prof, args: [join(dir, 'handler.json')] });
    procs.push(handler);
    const intakePort = await freePort();
    const intake = spawnNode(join(ROOT, 'services/request-intake/src/main.ts'), { nodeArgs: prof, env: { ...env, GRPC_PORT: String(intakePort), COSIGNER_ADMIN_TOKEN: ADMIN_TOKEN, COSIGNER_TRUST: ws.trustJson } });
    procs.push(intake);
    await intake.waitForOutput(/RequestIntakeService on/);
    for (let i = 0; i < dispatchers; i++) {
      const d = spawnNode(join(ROOT, 'services/callback-dispatcher/src/main.ts'), {
        nodeArgs: prof,
        env: { ...env, COSIGNER_CALLBACK_KEY_FILE: join(dir, 'callback.pem'), COSIGNER_APPROVAL_KEY_FILE: join(dir, 'approval.pem'), DISPATCHER_IN_FLIGHT: String(IN_FLIGHT), DISPATCHER_INSTANCE_ID: `d${i + 1}`, COSIGNER_CALLBACK_ALLOW: 'loopback', COSIGNER_TRUST: ws.trustJson },
      });
      procs.push(d);
    }
    await Promise.all(procs.slice(2).map((p) => p.waitForOutput(/dispatching callbacks/)));
    await handler.waitForOutput(/listening on/);
    await seedKey(nc, 'key1');
    await seedApiUser(nc, 'u1', { callback: { url: `http://127.0.0.1:${handlerPort}`, mode: 'JWT', publicKeyPem: hk.publicKey.export({ type: 'spki', format: 'pem' }).toString(), certPem: '', updatedAtMs: 0 } });

    const client = intakeClient(`127.0.0.1:${intakePort}`);
    const started = new Map<string, number>();
    const waiters = new Map<string, () => void>();
    const latencies: number[] = [];
    const submitLatencies: number[] = [];
    let measuring = false;
    let approvedCount = 0;
    let failed = 0;
    const sub = nc.subscribe('cosigner.requests.approved.>');
    void (async () => {
      for await (const m of sub) {
        const id = m.subject.slice('cosigner.requests.approved.'.length);
        const t0 = started.get(id);
        if (t0 === undefined) continue;
        started.delete(id);
        if (measuring) {
          latencies.push(performance.now() - t0);
          approvedCount++;
        }
        waiters.get(id)?.();
        waiters.delete(id);
      }
    })();
    const fsub = nc.subscribe('cosigner.requests.failed.>');
    void (async () => { for await (const m of fsub) { const id = m.subject.split('.')[3]!; failed++; waiters.get(id)?.(); waiters.delete(id); } })();

    // Requests and their JWTs are made before the clock starts, so the load generator's own
    // signing does not compete with the services for CPU during the measurement.
    const prepared: Array<{ r: ReturnType<typeof ethRequest>; token: string }> = [];
    const prepare = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const r = ethRequest();
        prepared.push({ r, token: await submissionJwt(ws, r.bytes) });
      }
    };
    const submitOne = async (): Promise<void> => {
      if (prepared.length === 0) await prepare(1);
      const { r, token } = prepared.pop()!;
      const done = new Promise<void>((res) => waiters.set(r.request.requestId, res));
      started.set(r.request.requestId, performance.now());
      try {
        const ts = performance.now();
        await submitTx(client, r.bytes, token);
        if (measuring) submitLatencies.push(performance.now() - ts);
      } catch (e) {
        failed++;
        waiters.delete(r.request.requestId);
        log(`submit failed: ${(e as Error).message}`);
        return;
      }
      await done;
    };

    // Warm-up: connections, JIT, keep-alive sockets.
    await Promise.all(Array.from({ length: 32 }, () => submitOne()));
    await prepare(handlerDelayMs === 0 ? Math.ceil(RATE * SECONDS * 1.05) : Math.ceil(CLIENTS * (SECONDS * 1000 / Math.max(50, handlerDelayMs)) * 1.2));
    let submitted = 0;
    measuring = true;
    const t0 = performance.now();
    const endAt = t0 + SECONDS * 1000;
    let load: string;
    if (handlerDelayMs === 0) {
      load = `open loop ${RATE}/s`;
      const pending: Promise<void>[] = [];
      const interval = 1000 / RATE;
      let next = t0;
      while (performance.now() < endAt) {
        const now = performance.now();
        while (next <= now) {
          pending.push(submitOne());
          submitted++;
          next += interval;
        }
        await new Promise((r) => setTimeout(r, Math.max(0, Math.min(5, next - performance.now()))));
      }
      await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 10_000))]);
    } else {
      load = `closed loop ${CLIENTS} clients`;
      await Promise.all(Array.from({ length: CLIENTS }, async () => {
        while (performance.now() < endAt) {
          submitted++;
          await submitOne();
        }
      }));
    }
    measuring = false;
    const elapsed = (performance.now() - t0) / 1000;
    sub.unsubscribe();
    fsub.unsubscribe();
    closeClient(client);
    const sorted = latencies.sort((a, b) => a - b);
    const sortedSubmit = submitLatencies.sort((a, b) => a - b);
    return {
      handlerDelayMs, dispatchers, inFlightPerInstance: IN_FLIGHT, load, submitted, approved: approvedCount,
      requestsPerSec: Math.round((approvedCount / elapsed) * 10) / 10, p50Ms: pct(sorted, 50), p99Ms: pct(sorted, 99), failed,
      submitP50Ms: pct(sortedSubmit, 50), submitP99Ms: pct(sortedSubmit, 99),
    };
  } finally {
    for (const p of procs) {
      if (prof.length > 0) { p.signal('SIGTERM'); await Promise.race([p.exited, new Promise((r) => setTimeout(r, 5000))]); }
      await p.kill9().catch(() => undefined);
    }
    await nc.close().catch(() => undefined);
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const plan: Array<[number, number]> = (args.scenarios ?? '0x1,0x3,200x1,200x3').split(',').map((s) => {
  const [d, n] = s.split('x').map(Number);
  return [d!, n!];
});
const results: Result[] = [];
for (const [delay, n] of plan) {
  log(`scenario: handler ${delay} ms, ${n} dispatcher(s)`);
  const r = await scenario(delay, n);
  log(`  ${r.requestsPerSec} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms (${r.approved} approved, ${r.failed} failed)`);
  results.push(r);
}
const slow1 = results.find((r) => r.handlerDelayMs === 200 && r.dispatchers === 1);
const slow3 = results.find((r) => r.handlerDelayMs === 200 && r.dispatchers === 3);
const doc = {
  scenarios: results,
  ...(slow1 && slow3 ? { scaling200ms: Math.round((slow3.requestsPerSec / slow1.requestsPerSec) * 100) / 100 } : {}),
};
process.stdout.write(`${JSON.stringify(doc)}\n`);
process.exit(0);

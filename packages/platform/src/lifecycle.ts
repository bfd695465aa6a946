/**
 * The service lifecycle (Temporal `worker.ts`, nats.js drain-before-close): start -> ready ->
 * (signal) -> drain -> stop -> exit. One SIGTERM/SIGINT handler with a grace period; a second
 * signal forces the exit. Every service's `main` is a `runService` call.
 */
import { createLogger, type LogLevel, type Logger } from './log.ts';
import { initTelemetry, type Telemetry, type TelemetryOptions } from './telemetry.ts';
import { createServer, type GrpcServerHandle } from './grpc/server.ts';
import { collectProcessMetrics, startMetricsServer, type MetricsServer } from './metrics.ts';

export const DEFAULT_SHUTDOWN_GRACE_MS = 25_000;
export const EXIT_OK = 0;
export const EXIT_START_FAILED = 1;
export const EXIT_GRACE_EXCEEDED = 2;
export const EXIT_FORCED = 130;
export const EXIT_CRASHED = 70;

export interface ServiceContext {
  name: string;
  logger: Logger;
  telemetry: Telemetry;
  /** Aborted when shutdown begins (long loops in `start` should watch it). */
  signal: AbortSignal;
}

export interface StartedService {
  /** Awaited before the service is marked ready (e.g. first catch-up done). */
  ready?: () => Promise<void> | void;
  /** If given: marked SERVING when ready, NOT_SERVING + drained of in-flight calls first on shutdown, stopped last. */
  grpc?: GrpcServerHandle;
  /** Stop taking new work and wait for in-flight work (consumers' `stop()`). */
  drain?: () => Promise<void>;
  /** Close connections (`drainNats(nc)`, stores). */
  stop?: () => Promise<void>;
}

export interface RunServiceOptions {
  name: string;
  start: (ctx: ServiceContext) => Promise<StartedService>;
  /** Time allowed from the first signal to the end of `stop`. */
  graceMs?: number;
  logger?: Logger;
  logLevel?: LogLevel;
  /** Telemetry options, or an already initialised Telemetry. Default: from the OTEL_* env. */
  telemetry?: Omit<TelemetryOptions, 'serviceName'> | Telemetry;
  signals?: readonly NodeJS.Signals[];
  /** Injected for tests; default `process.exit`. */
  exit?: (code: number) => void;
  /**
   * Log uncaught exceptions / unhandled rejections as JSON and exit EXIT_CRASHED at once, without
   * draining (the state is unknown; unacked work is redelivered). Default: true unless `exit` is injected.
   */
  handleCrashes?: boolean;
  /**
   * For a service that serves no gRPC API (the dispatcher): a port on which to serve only the
   * standard health service, so orchestrators can probe it. Default: env HEALTH_PORT, else none.
   */
  healthPort?: number;
  /**
   * Port of the Prometheus endpoint (`GET /metrics`, the process's registry). Default: env
   * METRICS_PORT (on METRICS_HOST, default 127.0.0.1), else none.
   */
  metricsPort?: number;
}

export interface ServiceRunner {
  /** Resolves once started and marked ready; rejects if start fails. */
  readonly ready: Promise<void>;
  /** Resolves with the exit code once stopped (before `exit` is called). */
  readonly done: Promise<number>;
  /** What a signal does: drain, stop, exit. */
  shutdown(reason?: string): Promise<number>;
}

function isTelemetry(t: unknown): t is Telemetry {
  return typeof t === 'object' && t !== null && 'provider' in t && 'shutdown' in t;
}

export function runService(o: RunServiceOptions): ServiceRunner {
  const log = o.logger ?? createLogger({ service: o.name, ...(o.logLevel ? { level: o.logLevel } : {}) });
  const telemetry = isTelemetry(o.telemetry) ? o.telemetry : initTelemetry({ serviceName: o.name, ...(o.telemetry ?? {}) });
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const graceMs = o.graceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
  const signals = o.signals ?? ['SIGTERM', 'SIGINT'];
  const abort = new AbortController();

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => { resolveDone = r; });
  let started: StartedService | undefined;
  let metricsServer: MetricsServer | undefined;

  const startP = (async () => {
    started = await o.start({ name: o.name, logger: log, telemetry, signal: abort.signal });
    const healthPort = o.healthPort ?? (process.env.HEALTH_PORT ? Number(process.env.HEALTH_PORT) : undefined);
    if (!started.grpc && healthPort !== undefined && Number.isInteger(healthPort)) {
      started = { ...started, grpc: await createServer({ services: [], port: healthPort, host: process.env.GRPC_HOST ?? '0.0.0.0', logger: log }) };
    }
    const metricsPort = o.metricsPort ?? (process.env.METRICS_PORT ? Number(process.env.METRICS_PORT) : undefined);
    if (metricsPort !== undefined && Number.isInteger(metricsPort)) {
      collectProcessMetrics();
      metricsServer = await startMetricsServer({ port: metricsPort, host: process.env.METRICS_HOST ?? '127.0.0.1' });
    }
    if (abort.signal.aborted) return;
    await started.ready?.();
    started.grpc?.setServing();
  })();
  const ready = startP.then(() => {
    if (!abort.signal.aborted) log.info('ready', { ...(started?.grpc ? { grpcPort: started.grpc.port } : {}), ...(metricsServer ? { metricsPort: metricsServer.port } : {}) });
  });
  ready.catch(async (err: unknown) => {
    log.error('start failed', { err });
    await metricsServer?.close().catch(() => undefined);
    await telemetry.shutdown().catch(() => undefined);
    removeHandlers();
    resolveDone(EXIT_START_FAILED);
    exit(EXIT_START_FAILED);
  });

  let shutdownP: Promise<number> | undefined;
  const shutdown = (reason = 'shutdown'): Promise<number> => {
    shutdownP ??= (async () => {
      log.info('draining', { reason, graceMs });
      abort.abort();
      const deadline = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
      const orderly = (async () => {
        // A signal during start: let start finish, then shut down what it built.
        await startP.catch(() => undefined);
        const s = started;
        if (!s) return;
        if (s.grpc) {
          const idle = await s.grpc.drain(graceMs);
          if (!idle) log.warn('in-flight gRPC calls still running at the drain deadline');
        }
        await s.drain?.();
        await s.stop?.();
        await s.grpc?.stop(1000);
        await metricsServer?.close();
      })();
      let code = EXIT_OK;
      try {
        if ((await Promise.race([orderly.then(() => 'ok' as const), deadline])) === 'timeout') {
          log.error('grace period exceeded; exiting', { graceMs });
          code = EXIT_GRACE_EXCEEDED;
        }
      } catch (err) {
        log.error('error during shutdown', { err });
        code = EXIT_GRACE_EXCEEDED;
      }
      await telemetry.shutdown().catch(() => undefined);
      if (code === EXIT_OK) log.info('stopped');
      removeHandlers();
      resolveDone(code);
      exit(code);
      return code;
    })();
    return shutdownP;
  };

  let signalled = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) {
      log.warn('second signal; forcing exit', { signal: sig });
      resolveDone(EXIT_FORCED);
      exit(EXIT_FORCED);
      return;
    }
    signalled = true;
    void shutdown(sig);
  };
  const onCrash = (err: unknown): void => {
    log.error('crashed', { err });
    resolveDone(EXIT_CRASHED);
    exit(EXIT_CRASHED);
  };
  const handleCrashes = o.handleCrashes ?? o.exit === undefined;
  const removeHandlers = (): void => {
    for (const s of signals) process.off(s, onSignal);
    if (handleCrashes) {
      process.off('uncaughtException', onCrash);
      process.off('unhandledRejection', onCrash);
    }
  };
  for (const s of signals) process.on(s, onSignal);
  if (handleCrashes) {
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
  }

  return { ready, done, shutdown };
}

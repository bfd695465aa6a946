/**
 * Prometheus metrics: counters, gauges and histograms with labels in one registry per process,
 * served in the text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/) on METRICS_PORT by `runService`.
 *
 * Services declare their metrics at module level (`counter('cosigner_x_total', 'help', ['kind'])`
 * returns the same instance on every call with that name) and update them on their paths; values
 * that are cheaper to read when scraped (pool depth, consumer lag) are `collect` callbacks. Label
 * values are bounded sets (kinds, outcomes, schemes, error codes, handler origins): never request
 * ids, and never anything secret.
 */
import { createServer, type Server } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export type Labels = Record<string, string>;

type Kind = 'counter' | 'gauge' | 'histogram';

/** Default histogram buckets, in seconds: 1 ms to 60 s (signing and callbacks both fit). */
export const DEFAULT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function fmt(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

abstract class Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  abstract readonly kind: Kind;

  constructor(name: string, help: string, labelNames: readonly string[]) {
    if (!NAME.test(name)) throw new Error(`metric name ${name} is not valid`);
    for (const l of labelNames) if (!LABEL.test(l) || l === 'le') throw new Error(`label ${l} of ${name} is not valid`);
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  /** The series key of `labels`; every declared label must be given, and no other. */
  protected key(labels: Labels = {}): string {
    const given = Object.keys(labels);
    if (given.length !== this.labelNames.length || !this.labelNames.every((l) => l in labels)) {
      throw new Error(`${this.name}: labels ${given.join(',') || '(none)'} do not match ${this.labelNames.join(',') || '(none)'}`);
    }
    return this.labelNames.map((l) => `${l}="${escapeLabel(String(labels[l]))}"`).join(',');
  }

  abstract lines(): string[];

  text(): string {
    return [`# HELP ${this.name} ${this.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${this.name} ${this.kind}`, ...this.lines()].join('\n');
  }
}

const series = (name: string, key: string, v: number): string => `${name}${key ? `{${key}}` : ''} ${fmt(v)}`;

export class Counter extends Metric {
  readonly kind = 'counter';
  readonly #values = new Map<string, number>();

  /** Adds `n` (>= 0) to the series of `labels`. */
  inc(labels?: Labels, n = 1): void {
    if (!(n >= 0)) throw new Error(`${this.name}: a counter only goes up`);
    const k = this.key(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + n);
  }

  /** The current value (tests). */
  get(labels?: Labels): number {
    return this.#values.get(this.key(labels)) ?? 0;
  }

  lines(): string[] {
    return [...this.#values].map(([k, v]) => series(this.name, k, v));
  }
}

export class Gauge extends Metric {
  readonly kind = 'gauge';
  readonly #values = new Map<string, number>();

  set(labels: Labels | undefined, v: number): void {
    this.#values.set(this.key(labels), v);
  }

  inc(labels?: Labels, n = 1): void {
    const k = this.key(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + n);
  }

  dec(labels?: Labels, n = 1): void {
    this.inc(labels, -n);
  }

  get(labels?: Labels): number {
    return this.#values.get(this.key(labels)) ?? 0;
  }

  /** Forgets every series (a collector that re-reads a whole set, e.g. per-key pool depth). */
  reset(): void {
    this.#values.clear();
  }

  lines(): string[] {
    return [...this.#values].map(([k, v]) => series(this.name, k, v));
  }
}

export class Histogram extends Metric {
  readonly kind = 'histogram';
  readonly buckets: readonly number[];
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number }>();

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[] = DEFAULT_BUCKETS) {
    super(name, help, labelNames);
    this.buckets = [...buckets].sort((a, b) => a - b);
  }

  observe(labels: Labels | undefined, v: number): void {
    const k = this.key(labels);
    let s = this.#series.get(k);
    if (!s) this.#series.set(k, (s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) s.counts[i]!++;
    s.sum += v;
    s.count++;
  }

  /** Starts a clock; the returned function observes the seconds elapsed, with labels known only at the end. */
  startTimer(labels: Labels = {}): (more?: Labels) => number {
    const t0 = process.hrtime.bigint();
    return (more = {}) => {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      this.observe({ ...labels, ...more }, s);
      return s;
    };
  }

  /** Observations so far in the series of `labels` (tests). */
  count(labels?: Labels): number {
    return this.#series.get(this.key(labels))?.count ?? 0;
  }

  lines(): string[] {
    const out: string[] = [];
    for (const [k, s] of this.#series) {
      const pre = k ? `${k},` : '';
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket{${pre}le="${fmt(b)}"} ${s.counts[i]}`));
      out.push(`${this.name}_bucket{${pre}le="+Inf"} ${s.count}`);
      out.push(series(`${this.name}_sum`, k, s.sum), series(`${this.name}_count`, k, s.count));
    }
    return out;
  }
}

export type Collector = () => Promise<void> | void;

export class Registry {
  readonly #metrics = new Map<string, Metric>();
  readonly #collectors = new Set<Collector>();

  #get<M extends Metric>(name: string, kind: Kind, make: () => M, labelNames: readonly string[]): M {
    const m = this.#metrics.get(name);
    if (m) {
      if (m.kind !== kind || m.labelNames.join() !== labelNames.join()) throw new Error(`metric ${name} already registered as another ${m.kind}`);
      return m as M;
    }
    const made = make();
    this.#metrics.set(name, made);
    return made;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#get(name, 'counter', () => new Counter(name, help, labelNames), labelNames);
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.#get(name, 'gauge', () => new Gauge(name, help, labelNames), labelNames);
  }

  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets?: readonly number[]): Histogram {
    return this.#get(name, 'histogram', () => new Histogram(name, help, labelNames, buckets), labelNames);
  }

  /** Runs `fn` before every scrape (reads a value where it lives); returns the unregister function. */
  collect(fn: Collector): () => void {
    this.#collectors.add(fn);
    return () => this.#collectors.delete(fn);
  }

  /** The exposition text. A failing collector leaves its metrics as they were and is counted. */
  async text(): Promise<string> {
    await Promise.all([...this.#collectors].map(async (c) => {
      try {
        await c();
      } catch {
        this.counter('cosigner_metrics_collector_errors_total', 'Metric collectors that failed during a scrape.').inc();
      }
    }));
    return `${[...this.#metrics.values()].map((m) => m.text()).join('\n')}\n`;
  }
}

/** The process's registry: what `runService` serves on METRICS_PORT. */
export const metrics = new Registry();

let processMetrics = false;

/**
 * The process's own health, the same for every service: resident memory, heap, start time and
 * the event loop's delay (a loop blocked by CPU work shows here before it shows as latency).
 */
export function collectProcessMetrics(registry: Registry = metrics): void {
  if (registry === metrics) {
    if (processMetrics) return;
    processMetrics = true;
  }
  const rss = registry.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.');
  const heap = registry.gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.');
  const start = registry.gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.');
  const lag = registry.gauge('nodejs_eventloop_delay_seconds', 'Event loop delay over the last scrape interval, by quantile.', ['quantile']);
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  start.set(undefined, Math.round((Date.now() - performance.now()) / 1000));
  registry.collect(() => {
    const m = process.memoryUsage();
    rss.set(undefined, m.rss);
    heap.set(undefined, m.heapUsed);
    for (const q of [0.5, 0.99]) lag.set({ quantile: String(q) }, h.percentile(q * 100) / 1e9);
    lag.set({ quantile: '1' }, h.max / 1e9);
    h.reset();
  });
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `GET /metrics` from `registry` (default: the process's). Port 0 picks a free one. */
export function startMetricsServer(o: { port: number; host?: string; registry?: Registry }): Promise<MetricsServer> {
  const registry = o.registry ?? metrics;
  const srv: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.text().then(
      (body) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject).listen(o.port, o.host ?? '127.0.0.1', () => {
      const addr = srv.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : o.port,
        close: () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }),
      });
    });
  });
}

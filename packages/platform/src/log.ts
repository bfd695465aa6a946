/**
 * Structured JSON-lines logging to stderr with the active trace/span ids and redaction.
 *
 * Redaction is by key name (at any depth, in arrays, in error causes) and by value type: byte
 * arrays and bigints never reach a log line, because in this code base they are almost always key
 * material (shares, nonces, Paillier secrets). Redaction is a safety net, not a licence to log
 * secrets.
 */
import { trace } from '@opentelemetry/api';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';

/** Keys whose values are always redacted (case-insensitive, substring). */
export const SECRET_KEY_PATTERN = /secret|password|passphrase|token|private|share|nonce|seed|mnemonic|sealing|authorization|prime|lambda|phi/i;
export const REDACTED = '[redacted]';
const MAX_DEPTH = 8;

export type LogFields = Record<string, unknown>;

export interface Logger {
  readonly level: LogLevel;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (redacted like any other field). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  service: string;
  level?: LogLevel;
  /** Where lines go; defaults to `process.stderr`. Tests pass a capturing stream. */
  stream?: { write(line: string): unknown };
  fields?: LogFields;
  /** Injected clock for tests. */
  now?: () => Date;
}

/**
 * Returns a copy of `value` safe to log: secret-named keys and binary/bigint values become
 * `[redacted]`, errors become `{name, message, code, stack, cause}` (cause redacted too), cycles
 * become `[circular]`.
 */
export function redact(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (value === null || value === undefined) return value;
  const t = typeof value;
  if (t === 'string' || t === 'number' || t === 'boolean') return value;
  if (t === 'bigint') return REDACTED;
  if (t === 'function' || t === 'symbol') return undefined;
  if (value instanceof Uint8Array || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return REDACTED;
  if (value instanceof Date) return value.toISOString();
  const obj = value as object;
  if (seen.has(obj)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[truncated]';
  seen.add(obj);
  try {
    if (value instanceof Error) {
      const e = value as Error & { code?: unknown; details?: unknown };
      const out: Record<string, unknown> = { name: e.name, message: e.message };
      if (e.code !== undefined) out['code'] = redact(e.code, depth + 1, seen);
      if (e.details !== undefined) out['details'] = redactObject(e.details as object, depth + 1, seen);
      if (e.stack) out['stack'] = e.stack;
      if (e.cause !== undefined) out['cause'] = redact(e.cause, depth + 1, seen);
      if (e instanceof AggregateError) out['errors'] = e.errors.map((x) => redact(x, depth + 1, seen));
      return out;
    }
    if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1, seen));
    if (value instanceof Map) return redactObject(Object.fromEntries([...value.entries()].map(([k, v]) => [String(k), v])), depth, seen);
    if (value instanceof Set) return [...value].map((v) => redact(v, depth + 1, seen));
    return redactObject(obj, depth, seen);
  } finally {
    seen.delete(obj);
  }
}

function redactObject(obj: object, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    out[k] = SECRET_KEY_PATTERN.test(k) ? REDACTED : redact(v, depth + 1, seen);
  }
  return out;
}

// Fields the logger owns; a caller's field of the same name is kept under `field.<name>`.
const RESERVED = new Set(['ts', 'level', 'service', 'msg', 'traceId', 'spanId']);

class JsonLogger implements Logger {
  readonly level: LogLevel;
  readonly #min: number;
  readonly #service: string;
  readonly #stream: { write(line: string): unknown };
  readonly #fields: LogFields;
  readonly #now: () => Date;

  constructor(o: LoggerOptions) {
    this.level = o.level ?? DEFAULT_LOG_LEVEL;
    this.#min = LOG_LEVELS.indexOf(this.level);
    this.#service = o.service;
    this.#stream = o.stream ?? process.stderr;
    this.#fields = o.fields ?? {};
    this.#now = o.now ?? (() => new Date());
  }

  debug(msg: string, fields?: LogFields): void { this.#log('debug', msg, fields); }
  info(msg: string, fields?: LogFields): void { this.#log('info', msg, fields); }
  warn(msg: string, fields?: LogFields): void { this.#log('warn', msg, fields); }
  error(msg: string, fields?: LogFields): void { this.#log('error', msg, fields); }

  child(fields: LogFields): Logger {
    return new JsonLogger({
      service: this.#service, level: this.level, stream: this.#stream, now: this.#now,
      fields: { ...this.#fields, ...fields },
    });
  }

  #log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (LOG_LEVELS.indexOf(level) < this.#min) return;
    const line: Record<string, unknown> = { ts: this.#now().toISOString(), level, service: this.#service, msg };
    const sc = trace.getActiveSpan()?.spanContext();
    if (sc && sc.traceId !== '00000000000000000000000000000000') {
      line['traceId'] = sc.traceId;
      line['spanId'] = sc.spanId;
    }
    const safe = redactObject({ ...this.#fields, ...fields }, 0, new WeakSet());
    for (const [k, v] of Object.entries(safe)) line[RESERVED.has(k) ? `field.${k}` : k] = v;
    let text: string;
    try {
      text = JSON.stringify(line);
    } catch {
      text = JSON.stringify({ ts: line['ts'], level, service: this.#service, msg, logError: 'unserializable fields' });
    }
    this.#stream.write(text + '\n');
  }
}

export function createLogger(o: LoggerOptions): Logger {
  return new JsonLogger(o);
}

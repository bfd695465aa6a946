/**
 * Typed configuration from environment variables, validated once at start (Temporal
 * `worker-options.ts` habit): every problem is collected and thrown together in one ConfigError,
 * and secret values never appear in an error, in `describe()`, in `JSON.stringify` or in
 * `util.inspect` of the loaded config.
 */
import { inspect } from 'node:util';

export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
  /** One line per problem, naming the variable (never a secret's value). */
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A declared config field; build with `str`, `int`, `bool`, `url`, `duration`, `oneOf`, `list`. */
export interface Field<T> {
  readonly kind: string;
  readonly env: string;
  readonly secret: boolean;
  readonly required: boolean;
  readonly default: T | undefined;
  /** Returns the value or throws an Error whose message describes the problem (without the raw value). */
  readonly parse: (raw: string) => T;
  /** Phantom marker for the loaded value's type (including `undefined` for optional fields). */
  readonly _out?: T;
}

interface BaseOpts<T> {
  /** Defaults come from NAMED constants at the call site (`default: DEFAULT_GRPC_PORT`). */
  default?: T;
  required?: boolean;
  /** Secrets are redacted everywhere the config is printed. */
  secret?: boolean;
}
type Out<T, O> = O extends { default: T } ? T : O extends { required: true } ? T : T | undefined;
type FieldOf<T, O> = Field<Out<T, O>>;

function field<T, O extends BaseOpts<T>>(kind: string, env: string, o: O, parse: (raw: string) => T): FieldOf<T, O> {
  return {
    kind,
    env,
    secret: o.secret ?? false,
    required: o.required ?? false,
    default: o.default,
    parse,
  } as unknown as FieldOf<T, O>;
}

export function str<O extends BaseOpts<string> & { minLength?: number; pattern?: RegExp }>(env: string, o: O = {} as O): FieldOf<string, O> {
  return field('string', env, o, (raw) => {
    if (o.minLength !== undefined && raw.length < o.minLength) throw new Error(`must be at least ${o.minLength} characters`);
    if (o.pattern && !o.pattern.test(raw)) throw new Error(`must match ${String(o.pattern)}`);
    return raw;
  });
}

export function int<O extends BaseOpts<number> & { min?: number; max?: number }>(env: string, o: O = {} as O): FieldOf<number, O> {
  return field('int', env, o, (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new Error('must be an integer');
    const n = Number(raw.trim());
    if (!Number.isSafeInteger(n)) throw new Error('must be a safe integer');
    if (o.min !== undefined && n < o.min) throw new Error(`must be >= ${o.min}`);
    if (o.max !== undefined && n > o.max) throw new Error(`must be <= ${o.max}`);
    return n;
  });
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);
export function bool<O extends BaseOpts<boolean>>(env: string, o: O = {} as O): FieldOf<boolean, O> {
  return field('bool', env, o, (raw) => {
    const v = raw.trim().toLowerCase();
    if (TRUE.has(v)) return true;
    if (FALSE.has(v)) return false;
    throw new Error('must be one of true/false/1/0/yes/no/on/off');
  });
}

/** A URL; `protocols` restricts the scheme (e.g. `['nats:', 'tls:']`). The loaded value is the string. */
export function url<O extends BaseOpts<string> & { protocols?: readonly string[] }>(env: string, o: O = {} as O): FieldOf<string, O> {
  return field('url', env, o, (raw) => {
    let u: URL;
    try {
      u = new URL(raw.trim());
    } catch {
      throw new Error('must be an absolute URL');
    }
    if (o.protocols && !o.protocols.includes(u.protocol)) throw new Error(`scheme must be one of ${o.protocols.join(', ')}`);
    return raw.trim();
  });
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** Parses `500ms`, `10s`, `2m`, `1h` or a bare integer (milliseconds). */
export function parseDuration(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m) throw new Error('must be a duration like 500ms, 10s, 2m, 1h');
  const ms = Number(m[1]) * (DURATION_UNITS[m[2] ?? 'ms'] ?? 1);
  if (!Number.isFinite(ms)) throw new Error('duration out of range');
  return Math.round(ms);
}
/** A duration in milliseconds. */
export function duration<O extends BaseOpts<number> & { min?: number; max?: number }>(env: string, o: O = {} as O): FieldOf<number, O> {
  return field('duration', env, o, (raw) => {
    const ms = parseDuration(raw);
    if (o.min !== undefined && ms < o.min) throw new Error(`must be >= ${o.min}ms`);
    if (o.max !== undefined && ms > o.max) throw new Error(`must be <= ${o.max}ms`);
    return ms;
  });
}

export function oneOf<const V extends string, O extends BaseOpts<V>>(env: string, values: readonly V[], o: O = {} as O): FieldOf<V, O> {
  return field('enum', env, o, (raw) => {
    const v = raw.trim();
    if (!(values as readonly string[]).includes(v)) throw new Error(`must be one of ${values.join(', ')}`);
    return v as V;
  });
}

/** A comma-separated list (items trimmed, empty items dropped). */
export function list<O extends BaseOpts<readonly string[]> & { minItems?: number }>(env: string, o: O = {} as O): FieldOf<readonly string[], O> {
  return field('list', env, o, (raw) => {
    const items = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    if (o.minItems !== undefined && items.length < o.minItems) throw new Error(`must list at least ${o.minItems} item(s)`);
    return Object.freeze(items);
  });
}

export type Schema = Record<string, Field<unknown>>;
export type ConfigValues<S extends Schema> = { readonly [K in keyof S]: S[K] extends Field<infer T> ? T : never };
export type LoadedConfig<S extends Schema> = ConfigValues<S> & {
  /** A printable view: `{key: {env, value}}` with secrets shown as `[redacted]`. */
  describe(): Record<string, { env: string; value: unknown }>;
};

const REDACTED = '[redacted]';

/**
 * Reads and validates every field of `schema` from `env` (default `process.env`). An empty string
 * counts as unset. Throws a ConfigError listing every problem at once.
 */
export function loadConfig<S extends Schema>(schema: S, env: Record<string, string | undefined> = process.env): LoadedConfig<S> {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(schema)) {
    const raw = env[f.env];
    if (raw === undefined || raw === '') {
      if (f.default !== undefined) values[key] = f.default;
      else if (f.required) problems.push(`${f.env}: required (${f.kind})`);
      else values[key] = undefined;
      continue;
    }
    try {
      values[key] = f.parse(raw);
    } catch (err) {
      // The parser's message never includes the raw value; add it only for non-secrets.
      const shown = f.secret ? '' : ` (got ${JSON.stringify(raw.length > 80 ? raw.slice(0, 80) + '...' : raw)})`;
      problems.push(`${f.env}: ${(err as Error).message}${shown}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const describe = (): Record<string, { env: string; value: unknown }> => {
    const out: Record<string, { env: string; value: unknown }> = {};
    for (const [key, f] of Object.entries(schema)) {
      const v = values[key];
      out[key] = { env: f.env, value: f.secret && v !== undefined ? REDACTED : v };
    }
    return out;
  };
  const printable = (): Record<string, unknown> =>
    Object.fromEntries(Object.entries(describe()).map(([k, d]) => [k, d.value]));
  Object.defineProperties(values, {
    describe: { value: describe, enumerable: false },
    // Keep secrets out of accidental JSON.stringify(config) / console.log(config).
    toJSON: { value: printable, enumerable: false },
    [inspect.custom]: { value: () => printable(), enumerable: false },
  });
  return Object.freeze(values) as LoadedConfig<S>;
}

/**
 * The CLI's command contract. Conventions every command keeps:
 * - `--json` makes stdout exactly one JSON document and nothing else; progress and logs go to stderr.
 * - Hex is lower case without 0x, except Ethereum addresses and raw transactions (0x, as Ethereum tools).
 * - Statuses are plain strings (RECEIVED, APPROVED, SIGNED, REJECTED, IGNORED, FAILED).
 * - Failure: non-zero exit and a one-line reason on stderr (throw `CliError`).
 */
import type { ParseArgsConfig } from 'node:util';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface CommandIO {
  /** Parsed option values (strings / booleans / string arrays as declared). */
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: readonly string[];
  readonly json: boolean;
  /** Print the command's result: JSON document with --json, else the human rendering. */
  result(doc: unknown, human?: string): void;
  /** Progress / diagnostics to stderr (never stdout). */
  info(line: string): void;
  /** Resolves on SIGINT/SIGTERM, for long-running commands. */
  readonly interrupted: Promise<void>;
}

export interface Command {
  /** Words of the command, e.g. `['mpc', 'demo']`. */
  readonly name: readonly string[];
  readonly summary: string;
  readonly usage: string;
  readonly options: OptionSpec;
  /** Returns the exit code (0 when omitted). */
  run(io: CommandIO): Promise<number | void>;
}

/** A failure to report as one line on stderr with a non-zero exit. */
export class CliError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode = 1, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Helpers for typed option access. */
export function str(io: CommandIO, name: string, required: true): string;
export function str(io: CommandIO, name: string, required?: false): string | undefined;
export function str(io: CommandIO, name: string, required = false): string | undefined {
  const v = io.values[name];
  if (typeof v === 'string') return v;
  if (required) throw new CliError('ERR_USAGE', `missing --${name}`, 2);
  return undefined;
}

export function int(io: CommandIO, name: string, dflt: number): number {
  const v = str(io, name);
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) throw new CliError('ERR_USAGE', `--${name} must be a whole number`, 2);
  return Number(v);
}

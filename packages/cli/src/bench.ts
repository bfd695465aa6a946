/**
 * Runs a benchmark script of a service as a child process (it starts its own nats-server and
 * services), forwarding the named options, and returns the JSON document it prints last on stdout.
 * Its progress goes to stderr, which is inherited.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CliError, str, type CommandIO } from './command.ts';
import { REPO_ROOT } from './config.ts';

export async function runBenchScript<T>(script: string, io: CommandIO, forward: readonly string[]): Promise<T> {
  const args = [join(REPO_ROOT, script)];
  for (const k of forward) {
    const v = str(io, k);
    if (v !== undefined) args.push(`--${k}`, v);
  }
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    out += c;
  });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new CliError('ERR_BENCH', `benchmark failed (exit ${code})`);
  const last = out.trim().split('\n').pop();
  if (!last) throw new CliError('ERR_BENCH', 'benchmark printed no result');
  return JSON.parse(last) as T;
}

/** `cosigner <command>`: the operator's one CLI. */
import { parseArgs } from 'node:util';
import { CliError, type Command, type CommandIO } from './command.ts';
import { commands } from './commands/index.ts';
import { awaitCliConfig } from './config.ts';

/** Commands that start a system, or need none: they do not wait for one's configuration. */
const SELF_CONTAINED = new Set(['up', 'demo', 'chaos', 'mpc demo', 'bench mpc', 'bench sign', 'bench dispatch', 'nats-auth generate']);

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.join(' ').length), 10);
  const lines = commands
    .slice()
    .sort((a, b) => a.name.join(' ').localeCompare(b.name.join(' ')))
    .map((c) => `  ${c.name.join(' ').padEnd(width)}  ${c.summary}`);
  return `Usage: cosigner <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nEvery command takes --help; most take --json (stdout is then exactly one JSON document).\n`;
}

function find(argv: string[]): { cmd: Command; rest: string[] } | undefined {
  let best: { cmd: Command; rest: string[] } | undefined;
  for (const cmd of commands) {
    const n = cmd.name.length;
    if (argv.length >= n && cmd.name.every((w, i) => argv[i] === w) && (!best || n > best.cmd.name.length))
      best = { cmd, rest: argv.slice(n) };
  }
  return best;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(usage());
    return argv.length === 0 ? 2 : 0;
  }
  const found = find(argv);
  if (!found) {
    process.stderr.write(`cosigner: unknown command '${argv.join(' ')}' (see cosigner --help)\n`);
    return 2;
  }
  const { cmd, rest } = found;
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`Usage: cosigner ${cmd.name.join(' ')} ${cmd.usage}\n\n${cmd.summary}\n`);
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...cmd.options, json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`cosigner ${cmd.name.join(' ')}: ${(e as Error).message.split('\n')[0]}\n`);
    return 2;
  }
  const json = parsed.values.json === true;
  let stop!: () => void;
  const interrupted = new Promise<void>((r) => (stop = r));
  const onSignal = (): void => stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const io: CommandIO = {
    values: parsed.values as CommandIO['values'],
    positionals: parsed.positionals,
    json,
    result(doc, human) {
      if (json) process.stdout.write(JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
      else process.stdout.write((human ?? JSON.stringify(doc, null, 2)) + '\n');
    },
    info(line) {
      process.stderr.write(line + '\n');
    },
    interrupted,
  };
  try {
    if (!SELF_CONTAINED.has(cmd.name.join(' '))) await awaitCliConfig((l) => io.info(l));
    const code = await cmd.run(io);
    return code ?? 0;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const code = e instanceof CliError ? e.exitCode : 1;
    const tag = e && typeof e === 'object' && 'code' in e && typeof e.code === 'string' ? ` [${e.code}]` : '';
    process.stderr.write(`cosigner ${cmd.name.join(' ')}: ${msg.split('\n')[0]}${tag}\n`);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

process.exitCode = await main(process.argv.slice(2));

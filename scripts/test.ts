/**
 * The test command: every `<package>/test/**\/*.test.ts` with node's test runner, against real
 * nats-server processes. `--slow` runs the slow suites (`*.slow.test.ts`: soak, chaos, long tamper
 * matrices) instead. Extra arguments filter files by substring.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const args = process.argv.slice(2);
const slow = args.includes('--slow');
const filters = args.filter((a) => !a.startsWith('--'));
/** Files run in parallel; 2 cores here, and many suites start servers of their own. */
const CONCURRENCY = Number(process.env.TEST_CONCURRENCY ?? 2);
const FILE_TIMEOUT_MS = Number(process.env.TEST_TIMEOUT_MS ?? 300_000);

function walk(dir: string, out: string[]): void {
  for (const f of readdirSync(dir)) {
    if (f === 'node_modules' || f.startsWith('.') || f === 'gen') continue;
    const p = join(dir, f);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (f.endsWith('.test.ts') && p.includes(`${'/test'}`)) out.push(p);
  }
}

const files: string[] = [];
for (const top of ['proto', 'packages', 'services', 'examples', 'deploy', 'test-e2e']) {
  try {
    walk(join(root, top), files);
  } catch {
    /* folder absent */
  }
}
const chosen = files
  .filter((f) => f.endsWith('.slow.test.ts') === slow)
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .map((f) => relative(root, f))
  .sort();
if (chosen.length === 0) {
  process.stderr.write('no test files matched\n');
  process.exit(1);
}
process.stderr.write(`running ${chosen.length} test files\n`);
/** The whole run's backstop (the gate takes about 4 min here; CI allows 90). */
const RUN_TIMEOUT_MS = Number(process.env.TEST_RUN_TIMEOUT_MS ?? (slow ? 120 : 40) * 60_000);
// --test-force-exit: a file whose tests are done exits even if a failed test left a handle open
// (a live NATS connection reconnecting forever), instead of hanging the run.
const r = spawnSync(
  process.execPath,
  ['--test', '--test-force-exit', `--test-concurrency=${CONCURRENCY}`, `--test-timeout=${FILE_TIMEOUT_MS}`, '--test-reporter=spec', ...chosen],
  { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' }, timeout: RUN_TIMEOUT_MS, killSignal: 'SIGKILL' },
);
if (r.error || r.signal) process.stderr.write(`test run stopped: ${r.error?.message ?? r.signal} (limit ${RUN_TIMEOUT_MS} ms)\n`);
process.exit(r.status ?? 1);

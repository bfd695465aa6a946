/**
 * Services as real processes in tests: spawn a Node script (TypeScript runs directly on Node 24)
 * with its own env, collect its output, wait for a line, signal it, SIGKILL it.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface SpawnNodeOptions {
  args?: string[];
  /** Added to (and overriding) the parent's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Extra node flags. */
  nodeArgs?: string[];
  /** Echo the child's output to this process's stderr (debugging). */
  echo?: boolean;
}

export interface NodeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first output line (stdout or stderr) matching `re`. */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  signal(sig?: NodeJS.Signals): void;
  /** SIGKILL (a crash) and wait for the exit. */
  kill9(): Promise<void>;
}

const live = new Set<ChildProcess>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  // Never leave orphans behind a failed test run.
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

export const DEFAULT_WAIT_OUTPUT_MS = 20_000;

export function spawnNode(script: string, o: SpawnNodeOptions = {}): NodeProcess {
  hookExit();
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), script, ...(o.args ?? [])], {
    cwd: o.cwd,
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const onData = (chunk: string): void => {
    for (const line of chunk.split('\n')) {
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', (c: string) => { out += c; if (o.echo) process.stderr.write(c); onData(c); });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { err += c; if (o.echo) process.stderr.write(c); onData(c); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    child,
    pid: child.pid ?? -1,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput(re, timeoutMs = DEFAULT_WAIT_OUTPUT_MS) {
      const already = (out + '\n' + err).split('\n').find((l) => re.test(l));
      if (already !== undefined) return Promise.resolve(already);
      return new Promise((resolve, reject) => {
        const w = { re, resolve: (l: string) => { clearTimeout(t); resolve(l); } };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`timeout waiting for ${String(re)}; stderr:\n${err.slice(-2000)}`));
        }, timeoutMs);
        waiters.push(w);
        void exited.then(() => {
          if (waiters.includes(w)) {
            clearTimeout(t);
            waiters.splice(waiters.indexOf(w), 1);
            reject(new Error(`process exited before ${String(re)}; stderr:\n${err.slice(-2000)}`));
          }
        });
      });
    },
    signal(sig = 'SIGTERM') {
      child.kill(sig);
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

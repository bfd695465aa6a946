/**
 * What the deployment checks share: the real tools the platform uses (kubectl's kustomize,
 * docker-compose, nats-server), found on PATH; a check whose tool is absent is skipped, unless the
 * CI flag for it (CI_REQUIRE_KUBECTL=1, CI_REQUIRE_COMPOSE=1) says the tool must be there.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export const DEPLOY = join(fileURLToPath(import.meta.url), '..', '..');
export const ROOT = join(DEPLOY, '..');

export type Obj = Record<string, any>;

/** Path of `name` on PATH (or in the usual sbin folders), or undefined. */
export function which(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name} || ls /usr/sbin/${name} /usr/local/sbin/${name} 2>/dev/null | head -1`], { encoding: 'utf8' });
  const p = r.stdout.trim().split('\n')[0];
  return p ? p : undefined;
}

/**
 * The tool's path, or undefined after marking the test skipped; fails instead when `flag` is `1`
 * in the environment (CI that must run the check).
 */
export function requireTool(t: TestContext, name: string, flag: string): string | undefined {
  const p = which(name);
  if (p) return p;
  if (process.env[flag] === '1') throw new Error(`${name} is not installed but ${flag}=1 requires it (.ci/run installs it)`);
  t.skip(`${name} not installed (set ${flag}=1 to make this a failure)`);
  return undefined;
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], o: { cwd?: string; env?: Record<string, string> } = {}): Run {
  const r = spawnSync(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A scratch copy of `dir` (removed by the returned function). */
export function scratchCopy(dir: string, prefix: string): { path: string; remove: () => void } {
  const base = mkdtempSync(join(tmpdir(), prefix));
  const path = join(base, 'copy');
  cpSync(dir, path, { recursive: true, filter: (src) => !src.includes('/node_modules') && !/\/overlays\/[^/]+\/secrets(\/|$)/.test(src) });
  return { path, remove: () => rmSync(base, { recursive: true, force: true }) };
}

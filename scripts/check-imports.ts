/**
 * The package graph, checked (run by .ci/run and by scripts/test/imports.test.ts). Walks every
 * TypeScript file of the workspaces and reads its import specifiers; fails, naming file and
 * specifier, when:
 *
 * 1. a relative import leaves its package (packages meet only through their package names);
 * 2. production code (`src/`) imports from a `test/` folder;
 * 3. `packages/mpc` imports a package of ours (it is the protocol core: no I/O, no platform);
 * 4. a service's `src/` imports another service (services meet on NATS and gRPC; their tests
 *    may start one another, as real parts of an integration test);
 * 5. an import of a package (ours or npm) is not declared in the importing package's
 *    package.json (`dependencies` for `src/`; `dependencies`, `devDependencies` or the root's
 *    devDependencies for tests, benches and scripts);
 * 6. the modules of a `src/` folder import one another in a cycle (type-only imports included:
 *    a cycle is two modules that cannot be read, or split, apart).
 *
 * Usage: `node scripts/check-imports.ts` (exit 1 with the findings).
 */
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WORKSPACE_GLOBS = ['proto', 'packages', 'services', 'examples', 'deploy', 'test-e2e'];
const SKIP_DIRS = new Set(['node_modules', 'gen', 'build', '.data', '.tools']);

interface Pkg {
  dir: string;
  name: string;
  deps: Set<string>;
  devDeps: Set<string>;
}

function readJson(f: string): Record<string, unknown> {
  return JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
}

function keys(o: unknown): string[] {
  return o && typeof o === 'object' ? Object.keys(o) : [];
}

export function loadPackages(root = ROOT): Pkg[] {
  const out: Pkg[] = [];
  const add = (dir: string) => {
    const f = join(dir, 'package.json');
    if (!existsSync(f)) return;
    const j = readJson(f);
    out.push({ dir, name: String(j.name), deps: new Set(keys(j.dependencies)), devDeps: new Set(keys(j.devDependencies)) });
  };
  for (const w of WORKSPACE_GLOBS) {
    const d = join(root, w);
    if (!existsSync(d)) continue;
    if (existsSync(join(d, 'package.json'))) add(d);
    else for (const e of readdirSync(d)) if (statSync(join(d, e)).isDirectory()) add(join(d, e));
  }
  return out;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    if (SKIP_DIRS.has(e)) continue;
    const p = join(dir, e);
    const s = statSync(p);
    if (s.isDirectory()) walk(p, out);
    else if (e.endsWith('.ts') && !e.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Import specifiers of a file: static imports and re-exports (type-only too), `import()` with a literal. */
export function specifiers(text: string): string[] {
  // Comments out first: a specifier quoted in a comment is not an import.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const out: string[] = [];
  const re = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
  for (let m = re.exec(code); m; m = re.exec(code)) out.push((m[1] ?? m[2])!);
  return out;
}

const BUILTINS = new Set([...builtinModules, ...builtinModules.map((b) => `node:${b}`)]);

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

export interface Finding {
  file: string;
  spec: string;
  rule: string;
}

export function check(root = ROOT): Finding[] {
  const pkgs = loadPackages(root).sort((a, b) => b.dir.length - a.dir.length);
  const rootJson = readJson(join(root, 'package.json'));
  const rootDev = new Set([...keys(rootJson.devDependencies), ...keys(rootJson.dependencies)]);
  const ours = new Set(pkgs.map((p) => p.name));
  const services = new Set(pkgs.filter((p) => relative(root, p.dir).startsWith(`services${sep}`)).map((p) => p.name));
  const findings: Finding[] = [];
  const owner = (f: string) => pkgs.find((p) => f.startsWith(p.dir + sep));
  const graph = new Map<string, string[]>();

  for (const p of pkgs) {
    for (const file of walk(p.dir)) {
      const rel = relative(p.dir, file).split(sep);
      const inSrc = rel[0] === 'src';
      const text = readFileSync(file, 'utf8');
      const edges: string[] = [];
      for (const spec of specifiers(text)) {
        const at = relative(root, file);
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec);
          if (owner(target) !== p) findings.push({ file: at, spec, rule: 'relative import leaves its package' });
          else if (inSrc && relative(p.dir, target).split(sep)[0] === 'test') findings.push({ file: at, spec, rule: 'src imports from test/' });
          if (inSrc && target.endsWith('.ts')) edges.push(target);
          continue;
        }
        if (BUILTINS.has(spec) || BUILTINS.has(spec.split('/')[0]!)) continue;
        const name = packageName(spec);
        if (p.name === '@cosigner/mpc' && ours.has(name)) findings.push({ file: at, spec, rule: 'packages/mpc imports a package of ours' });
        if (inSrc && services.has(p.name) && services.has(name) && name !== p.name) findings.push({ file: at, spec, rule: 'a service imports another service' });
        if (name === p.name) continue;
        const declared = inSrc ? p.deps.has(name) : p.deps.has(name) || p.devDeps.has(name) || rootDev.has(name);
        if (!declared) findings.push({ file: at, spec, rule: `${name} is not declared in ${relative(root, join(p.dir, 'package.json'))}${inSrc ? ' dependencies' : ''}` });
      }
      if (inSrc) graph.set(file, edges);
    }
  }

  // Cycles among src modules (Tarjan's strongly connected components).
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      for (let w = stack.pop()!; ; w = stack.pop()!) {
        on.delete(w);
        scc.push(w);
        if (w === v) break;
      }
      const self = (graph.get(v) ?? []).includes(v);
      if (scc.length > 1 || self) findings.push({ file: relative(root, v), spec: scc.map((f) => relative(root, f)).sort().join(' <-> '), rule: 'import cycle' });
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return findings;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const findings = check();
  for (const f of findings) process.stderr.write(`${f.file}: ${f.rule}: ${f.spec}\n`);
  if (findings.length) {
    process.stderr.write(`check-imports: ${findings.length} problem(s)\n`);
    process.exit(1);
  }
  process.stdout.write('check-imports: the package graph holds\n');
}

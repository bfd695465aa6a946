#!/usr/bin/env node
// Entry of `npx cosigner`. Plain JavaScript that any Node runs: the CLI itself is TypeScript run by
// Node 24's type stripping, so on an older Node this re-executes under the project's Node 24
// (fetched by scripts/setup-node.sh into .tools/node).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const root = join(here, '..', '..', '..');
  const node24 = join(root, '.tools', 'node', 'bin', 'node');
  if (!existsSync(node24)) {
    process.stderr.write(`cosigner: needs Node.js 24 (have ${process.versions.node}); run: bash scripts/setup.sh\n`);
    process.exit(1);
  }
  const env = { ...process.env, PATH: `${dirname(node24)}:${process.env.PATH ?? ''}` };
  const r = spawnSync(node24, [join(here, 'cosigner.js'), ...process.argv.slice(2)], { stdio: 'inherit', env });
  process.exit(r.status ?? 1);
}
await import('../src/main.ts');

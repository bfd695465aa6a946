/** Tamper matrix (representative subset; the whole matrix is cmp-tamper.slow.test.ts). */
import { test } from 'node:test';
import { cases, recordAll } from './cmp-tamper-cases.ts';

const runs = recordAll(false);
for (const c of cases(runs, false)) test(c.name, () => c.run());

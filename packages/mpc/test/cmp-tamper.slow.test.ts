/** The whole CMP tamper matrix: every sender and receiver, many offsets, every special value. */
import { test } from 'node:test';
import { cases, recordAll } from './cmp-tamper-cases.ts';

const runs = recordAll(true);
for (const c of cases(runs, true)) test(c.name, () => c.run());

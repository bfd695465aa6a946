// Issue 19 item 1, exhaustive: every wrong-kind, wrong-round and duplicate message at every point
// of every protocol's schedule, including bodies relabelled into slots their sender really uses
// (those must end in an abort naming only the sender). The gate runs routing.test.ts.
import { test } from 'node:test';
import { matrix } from './routing-lib.ts';
import { frostProtocols } from './routing-frost.ts';
import { cmpProtocols } from './routing-cmp.ts';

for (const p of [...frostProtocols, ...cmpProtocols])
  test(`${p.name}: every injection at every point blames no honest party`, () => matrix(p.make, 'all', false));

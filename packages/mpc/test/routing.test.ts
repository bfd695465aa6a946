// Issue 19 item 1: wrong-kind, wrong-round and duplicate messages at representative points of
// every protocol's schedule (CMP keygen/presign/sign, FROST keygen/refresh/sign); no honest
// party is blamed (routing-lib.ts). Every point and every relabelling: routing.slow.test.ts.
import { test } from 'node:test';
import { matrix } from './routing-lib.ts';
import { frostProtocols } from './routing-frost.ts';
import { cmpProtocols } from './routing-cmp.ts';

for (const p of frostProtocols)
  test(`${p.name}: wrong-kind, wrong-round and duplicate messages blame no honest party (representative points)`, () => matrix(p.make, 'representative', false));
// CMP rounds cost hundreds of milliseconds each: the gate plays only the messages the engine must
// refuse (the slow suite also plays bodies relabelled into a slot their sender really uses).
for (const p of cmpProtocols) {
  const cheap = p.name === 'cmp/sign';
  test(`${p.name}: wrong-kind, wrong-round and duplicate messages blame no honest party (representative points${cheap ? '' : ', refusable messages'})`, () =>
    matrix(p.make, 'representative', !cheap));
}

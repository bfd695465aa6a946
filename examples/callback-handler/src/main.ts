/**
 * Runs the example handler: `node src/main.ts config.json` (see config.example.json). Prints
 * `listening on <url>`.
 */
import { readFileSync } from 'node:fs';
import { startHandler, type HandlerConfig } from './handler.ts';

const file = process.argv[2] ?? process.env.HANDLER_CONFIG;
if (!file) {
  process.stderr.write('usage: node src/main.ts <config.json>\n');
  process.exit(2);
}
const cfg = JSON.parse(readFileSync(file, 'utf8')) as HandlerConfig;
const h = await startHandler(cfg);
process.stdout.write(`listening on ${h.url}\n`);
const stop = (): void => { void h.close().then(() => process.exit(0)); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

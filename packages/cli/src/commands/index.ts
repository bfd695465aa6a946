/** Every command of the CLI. Add one import and one entry per command file. */
import type { Command } from '../command.ts';
import up from './up.ts';

export const commands: Command[] = [up];

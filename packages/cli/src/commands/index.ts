/** Every command of the CLI. Add one import and one entry per command file. */
import type { Command } from '../command.ts';
import up from './up.ts';
import workspace from './workspace.ts';
import pair from './pair.ts';
import users from './users.ts';
import callback from './callback.ts';
import printPublicKey from './print-public-key.ts';
import keys from './keys.ts';
import pool from './pool.ts';
import benchSign from './bench-sign.ts';
import mpcDemo from './mpc-demo.ts';
import benchMpc from './bench-mpc.ts';
import transfer from './transfer.ts';
import configChange from './config-change.ts';
import requests from './requests.ts';
import audit from './audit.ts';
import parties from './parties.ts';
import benchDispatch from './bench-dispatch.ts';
import natsAuth from './nats-auth.ts';
import demo from './demo.ts';
import status from './status.ts';
import chaos from './chaos.ts';

export const commands: Command[] = [up, ...workspace, ...pair, ...users, ...callback, printPublicKey, ...keys, pool, benchSign, mpcDemo, benchMpc, transfer, configChange, ...requests, ...audit, ...parties, benchDispatch, ...natsAuth, demo, status, chaos];

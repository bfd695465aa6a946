/**
 * `cosigner callback set | clear`: an API user's callback handler. JWT mode takes the handler's
 * RSA-2048+ public key (PEM file); TLS pinning mode takes its certificate (PEM file).
 */
import { readFileSync } from 'node:fs';
import type { ApiUser } from '@cosigner/proto';
import { CliError, str, type Command } from '../command.ts';
import { unary } from '../grpc.ts';
import { apiUserDoc, withPairing } from './pair.ts';

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliError('ERR_USAGE', `cannot read ${what} file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2, { cause: e });
  }
}

export const callbackSet: Command = {
  name: ['callback', 'set'],
  summary: "Set an API user's callback handler: base URL plus the handler's public key (JWT mode) or certificate (TLS mode)",
  usage: '--api-user ID --url URL (--public-key FILE | --cert FILE) [--json]',
  options: { 'api-user': { type: 'string' }, url: { type: 'string' }, 'public-key': { type: 'string' }, cert: { type: 'string' } },
  async run(io) {
    const apiUserId = str(io, 'api-user', true);
    const url = str(io, 'url', true);
    const pk = str(io, 'public-key');
    const cert = str(io, 'cert');
    if ((pk === undefined) === (cert === undefined)) throw new CliError('ERR_USAGE', 'give exactly one of --public-key FILE (JWT mode) or --cert FILE (TLS mode)', 2);
    const req = pk !== undefined ? { apiUserId, url, publicKeyPem: readPem(pk, 'public key') } : { apiUserId, url, certPem: readPem(cert!, 'certificate') };
    const u = apiUserDoc(await withPairing((c, token) => unary<object, ApiUser>(c, 'setCallback', req, { token })));
    io.result({ apiUserId: u.apiUserId, callback: u.callback }, `api user ${u.apiUserId}: callback ${u.callback?.mode} ${u.callback?.url}`);
  },
};

export const callbackClear: Command = {
  name: ['callback', 'clear'],
  summary: "Remove an API user's callback handler: its requests then wait for a new one, or with --auto-approve are approved without asking",
  usage: '--api-user ID [--auto-approve] [--json]',
  options: { 'api-user': { type: 'string' }, 'auto-approve': { type: 'boolean' } },
  async run(io) {
    const apiUserId = str(io, 'api-user', true);
    const autoApprove = io.values['auto-approve'] === true;
    const u = apiUserDoc(await withPairing((c, token) => unary<object, ApiUser>(c, 'clearCallback', { apiUserId, autoApprove }, { token })));
    io.result({ apiUserId: u.apiUserId, callback: u.callback, autoApprove: u.autoApprove },
      `api user ${u.apiUserId}: no callback handler; ${u.autoApprove ? 'requests are approved without asking' : 'requests wait for a handler'}`);
  },
};

export default [callbackSet, callbackClear];

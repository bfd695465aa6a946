/** `cosigner workspace config-change`: ask the co-signer's callback handler to approve a configuration change. */
import type { Transaction } from '@cosigner/proto';
import { CliError, str, type Command } from '../command.ts';
import { unary } from '../grpc.ts';
import { originate } from './transfer.ts';

const configChange: Command = {
  name: ['workspace', 'config-change'],
  summary: 'Originate a configuration-change approval request (UNMANAGED_WALLET, EXCHANGE, ...) in the workspace',
  usage: '--api-user ID --type UNMANAGED_WALLET [--extra-info JSON] [--request-id ID] [--wait] [--timeout-s 120] [--json]',
  options: {
    'api-user': { type: 'string' }, type: { type: 'string' }, 'extra-info': { type: 'string' }, 'request-id': { type: 'string' },
    wait: { type: 'boolean' }, 'timeout-s': { type: 'string' },
  },
  async run(io) {
    const apiUserId = str(io, 'api-user', true);
    const type = str(io, 'type', true);
    const extra = str(io, 'extra-info') ?? '{}';
    try {
      JSON.parse(extra);
    } catch {
      throw new CliError('ERR_USAGE', '--extra-info must be a JSON object', 2);
    }
    return originate(io, (c, token) => unary<object, Transaction>(c, 'createConfigChange', {
      apiUserId, type, extraInfoJson: extra, expiresInS: 0, requestId: str(io, 'request-id') ?? '',
    }, { token }));
  },
};

export default configChange;

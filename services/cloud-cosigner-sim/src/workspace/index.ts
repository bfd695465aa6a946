export { startWorkspace, PUBLIC_METHODS, DEFAULT_WORKSPACE_PORT, DEFAULT_WORKSPACE_HOST, DEFAULT_INTAKE_URL, type WorkspaceConfig, type WorkspaceHandle } from './server.ts';
export { Workspaces, ISSUER_PREFIX, type Clock } from './workspaces.ts';
export { Originator, isTerminal, CONFIG_CHANGE_TYPES } from './origination.ts';
export { buildTransfer, assembleSigned, unsignedTransfer, PLAYERS, DEFAULT_CHAIN_ID, DEFAULT_PATH, TRANSFER_GAS, DEFAULT_MAX_FEE_PER_GAS, DEFAULT_MAX_PRIORITY_FEE_PER_GAS } from './tx.ts';
export { signSubmission, signPairingToken, SUBMISSION_LIFETIME_S } from './tokens.ts';
export { WorkspaceError } from './errors.ts';

/** @cosigner/callback-dispatcher: asks each API user's callback handler and publishes the decision. */
export { startDispatcher, DISPATCHER_CONSUMER, DISPATCH_BUCKET, DEFAULT_IN_FLIGHT, type DispatcherConfig, type DispatcherHandle } from './server.ts';
export { RetryLater } from '@cosigner/platform';
export { Dispatcher, DEFAULT_CALLBACK_DEADLINE_MS, DEFAULT_RETRY_INTERVAL_MS, DEFAULT_MAX_RETRIES, type DispatchRecord } from './dispatcher.ts';
export { askOnce, signRequest, prepareCallback, endpoint, AttemptError, CallbackConfigError, CALLBACK_ACTIONS, type CallbackAction, type CallbackReply } from './callback.ts';
export { transactionPayload, configChangePayload, decodeRequest, type CallbackPayload } from './payload.ts';

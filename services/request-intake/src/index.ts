/** @cosigner/request-intake: admission, idempotency, status projection and expiry of requests. */
export { startIntake, DEFAULT_INTAKE_PORT, API_USERS_BUCKET, KEYS_BUCKET, NONCES_BUCKET, type IntakeConfig, type IntakeHandle } from './server.ts';
export { Intake, type SubmitResult } from './intake.ts';
export { INTAKE_ERROR_STATUS, type IntakeErrorCode } from './errors.ts';
export { applyEvent, decodeEvent, isTerminal, subjectOf, msgIdOf, REQUESTS_BUCKET, REQUESTS_STREAM, REQUESTS_SUBJECTS } from './state.ts';
export { project, Sweeper, PROJECTOR_CONSUMER } from './projector.ts';
export { parseTransactionRequest, parseConfigChangeRequest, CONFIG_CHANGE_TYPES } from './validate.ts';

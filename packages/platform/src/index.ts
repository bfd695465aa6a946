/**
 * @cosigner/platform: what every service shares. NATS/JetStream (connect, provision, publish,
 * consume), gRPC (server, auth, health, client, error mapping), OpenTelemetry, config, logs,
 * lifecycle and domain errors. Test harness: '@cosigner/platform/testing'.
 */
export {
  DomainError, RetryLater, COMMON_ERROR_CODES, RETRYABLE_GRPC_STATUSES, isDomainError, isRetryable,
  invalidArgument, unauthenticated, permissionDenied, notFound, alreadyExists, failedPrecondition, unavailable,
} from './errors.ts';
export type { CommonErrorCode, DetailValue, DomainErrorOptions, ErrorTable } from './errors.ts';
/** gRPC status codes, for the error tables packages declare (`ErrorTable`). */
export { status as GrpcStatus } from '@grpc/grpc-js';

export { loadConfig, ConfigError, parseDuration, str, int, bool, url, duration, oneOf, list } from './config.ts';
export type { Field, Schema, ConfigValues, LoadedConfig } from './config.ts';

export { createLogger, redact, LOG_LEVELS, DEFAULT_LOG_LEVEL, SECRET_KEY_PATTERN, REDACTED } from './log.ts';
export type { Logger, LogLevel, LogFields, LoggerOptions } from './log.ts';

export {
  initTelemetry, tracer, withSpan, recordError, activeTraceId, annotateSpan, injectToHeaders, extractFromHeaders,
  injectToMetadata, extractFromMetadata, traceparentOf, contextFromTraceparent, ROOT_CONTEXT, SpanKind, SpanStatusCode, TRACER_NAME,
} from './telemetry.ts';
export type { Telemetry, TelemetryOptions, TelemetryExporter, WithSpanOptions, Span, Context } from './telemetry.ts';

export { natsServerBinary } from './nats/server-binary.ts';
export { connectNats, drainNats, NATS_MAX_RECONNECT_ATTEMPTS, DEFAULT_NATS_URL, DEFAULT_NATS_RECONNECT_WAIT_MS } from './nats/connect.ts';
export type { NatsConnectOptions } from './nats/connect.ts';
export {
  SERVICES, PARTY_SERVICE, PARTY_NAMES, REQUEST_EVENT_KINDS, REQUESTS_SUBJECT_PREFIX, STREAMS, CONSUMERS, BUCKETS, MPC_SUBJECTS, ACCESS,
  AUDIT_SUBJECT, LEGACY_SEALED_VERSIONS_BUCKET, SIM_BUCKETS,
  requestSubject, requestKindFilter, requestMsgId, auditMsgId, sealedVersionsBucket, inboxPrefix, provisionStreams, openBucket,
} from './nats/topology.ts';
export type {
  ServiceName, PartyName, RequestEventKind, StreamKey, ConsumerKey, BucketKey, StreamGrant, BucketGrant, ServiceAccess, ProvisionServiceOptions,
} from './nats/topology.ts';
export { generateNatsAuth, natsPermissions, renderAuthConf, DEFAULT_TLS_HOSTS } from './nats/auth.ts';
export type { NatsPermissions, GenerateNatsAuthOptions, GeneratedNatsAuth } from './nats/auth.ts';
export {
  provision, ensureStream, openStream, ensureConsumer, ensureKv, denyRollups, assertKvStreamIntact,
  DEFAULT_DUPLICATE_WINDOW_MS, DEFAULT_ACK_WAIT_MS, DEFAULT_MAX_DELIVER, DEFAULT_MAX_ACK_PENDING, DEFAULT_REPLICAS,
} from './nats/provision.ts';
export type { StreamSpec, ConsumerSpec, KvSpec, ProvisionSpec, Provisioned } from './nats/provision.ts';
export { publishEvent, DEFAULT_PUBLISH_TIMEOUT_MS, DEFAULT_PUBLISH_ATTEMPTS } from './nats/publish.ts';
export type { PublishEventOptions } from './nats/publish.ts';
export { startConsumer, defaultNakDelay, DEFAULT_CONSUME_CONCURRENCY, DEFAULT_PULL_EXPIRES_MS } from './nats/consume.ts';
export type { ConsumeOptions, ConsumerHandle, HandlerContext } from './nats/consume.ts';
export {
  errorToHeaders, errorFromHeaders, ERROR_CODE_HEADER, ERROR_MESSAGE_HEADER, ERROR_RETRYABLE_HEADER, ERROR_STATUS_HEADER,
} from './nats/errors.ts';

export { toGrpcError, fromGrpcError, ERROR_CODE_METADATA, RETRYABLE_METADATA, DETAILS_METADATA, INTERNAL_MESSAGE } from './grpc/errors.ts';
export { authenticateAdmin, matchToken, serverCredentials, ANONYMOUS } from './grpc/auth.ts';
export type { Principal, ServerAuthConfig, ServerTlsConfig, Authenticator, AuthPolicy, AuthInput } from './grpc/auth.ts';
export { HealthService, HealthDefinition, HealthClient, ServingStatus } from './grpc/health.ts';
export type { HealthCheckRequest, HealthCheckResponse } from './grpc/health.ts';
export {
  createServer, service, wrapUnary, wrapServerStream, CallTracker, DEFAULT_GRPC_HOST, DEFAULT_DRAIN_TIMEOUT_MS,
} from './grpc/server.ts';
export type {
  CallContext, UnaryHandler, ServerStreamHandler, WrapOptions, ServiceDefinitionLike, Handlers, ServiceRegistration,
  CreateServerOptions, GrpcServerHandle,
} from './grpc/server.ts';
export { createClient, closeClient, unary, serverStream, DEFAULT_DEADLINE_MS } from './grpc/client.ts';
export type { ClientOptions, ClientTlsConfig, CallOpts, UnaryMethod, StreamMethod, RequestOf, ResponseOf } from './grpc/client.ts';

export { runService, DEFAULT_SHUTDOWN_GRACE_MS, EXIT_OK, EXIT_START_FAILED, EXIT_GRACE_EXCEEDED, EXIT_FORCED, EXIT_CRASHED } from './lifecycle.ts';
export type { RunServiceOptions, ServiceRunner, ServiceContext, StartedService } from './lifecycle.ts';

export { metrics, startMetricsServer, collectProcessMetrics, Registry, Counter, Gauge, Histogram, DEFAULT_BUCKETS } from './metrics.ts';
export type { Labels, Collector, MetricsServer } from './metrics.ts';

export { platformSchema, adminAuthSchema, natsOptions, serverAuth, connectNatsFromEnv } from './settings.ts';
export type { PlatformSettings, AdminAuthSettings } from './settings.ts';
export { TypedKv, protoCodec, jsonCodec, isCasConflict, type Codec, type Versioned } from './nats/kv.ts';

/**
 * Admission checks on the request bytes, before anything is published: structure, identifiers,
 * expiry, every payload entry (algorithm, derivation path, digest length) and, for ETH
 * transfers, that the digest is keccak256 of the EIP-1559 transaction (EIP-1559 §"Specification":
 * the signed payload is keccak256(0x02 || rlp([...]))) whose destination, amount and chain id are
 * the ones the callback handler will be shown.
 */
import { keccak256, parseEther, parseTransaction, type Hex } from 'viem';
import {
  CancelRequest, ConfigChangeRequest, TransactionSignRequest,
  type PayloadEntry,
} from '@cosigner/proto';
import { intakeError } from './errors.ts';

export const REQUEST_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
const ID_RE = /^[A-Za-z0-9._-]{1,128}$/;
/** BIP32 non-hardened indices are below 2^31 (BIP32 §"Child key derivation"). */
export const HARDENED_OFFSET = 0x8000_0000;
export const MAX_PATH_LENGTH = 10;
export const MAX_ENTRIES = 64;
export const MAX_EDDSA_MESSAGE = 64 * 1024;
/** The NATS server's default max_payload (1 MiB); the real one is read from the server at start. */
export const DEFAULT_NATS_MAX_PAYLOAD = 1024 * 1024;
/**
 * Room kept in every event beyond what the request itself accounts for: ids, hashes, times, the
 * approval proof's fixed fields and signature, the origination proof, protobuf framing.
 */
export const EVENT_OVERHEAD_BYTES = 16 * 1024;
/** The largest callback reply kept in the approval proof (callback-dispatcher MAX_REPLY_BYTES). */
export const MAX_HANDLER_REPLY_BYTES = 64 * 1024;
/** JSON in a request (extra_info_json): at most this many bytes and this nesting depth. */
export const MAX_JSON_BYTES = 64 * 1024;
export const MAX_JSON_DEPTH = 32;
/** Amounts: decimal strings, at most this many integer and fraction digits (18: wei for ETH). */
export const MAX_AMOUNT_INTEGER_DIGITS = 30;
export const MAX_AMOUNT_DECIMALS = 18;

/**
 * The one size budget for a request, derived from the NATS max payload so that every event and
 * record a request produces fits in one message (issue 15 item 3). The largest is the
 * dispatcher's decision record in KV `cosigner-dispatch`: the `approved` event base64-encoded in
 * JSON (x 4/3), and that event carries the request bytes, the digests again (for EdDSA the
 * messages: at most the request's size once more), the handler's reply and fixed fields:
 *   4/3 * (2 * R + reply + overhead) <= maxPayload
 * so R = (3/4 * maxPayload - reply - overhead) / 2 (about 347 KiB for the default 1 MiB).
 * `received`, `approved`, `signed` and `failed` are all smaller than that record.
 */
export function requestBudget(maxPayload: number): number {
  return Math.floor((Math.floor((maxPayload * 3) / 4) - MAX_HANDLER_REPLY_BYTES - EVENT_OVERHEAD_BYTES) / 2);
}

/** The size budget for the default NATS max payload. */
export const MAX_REQUEST_BYTES = requestBudget(DEFAULT_NATS_MAX_PAYLOAD);
/** Expiry may lie at most this far ahead. */
export const MAX_EXPIRY_MS = 7 * 24 * 3600_000;

export const KNOWN_ALGORITHMS = ['ECDSA_SECP256K1', 'ECDSA_SECP256R1', 'EDDSA_ED25519'] as const;

export const CONFIG_CHANGE_TYPES = [
  'UNMANAGED_WALLET', 'EXCHANGE', 'FIAT_ACCOUNT', 'ADD_USER', 'RE_ENROLL_DEVICE', 'ENABLE_ONE_TIME_ADDRESS',
  'CHANGE_QUORUM_THRESHOLD', 'ADD_NETWORK_CONNECTION', 'SET_NETWORK_CONNECTION_ROUTING_POLICY', 'SET_NETWORK_ID_POLICY',
  'UPDATE_APPROVAL_GROUP_MAPPING', 'USERS_GROUP_APPROVAL', 'POLICY_APPROVAL',
] as const;

function decode<T>(bytes: Uint8Array, dec: (b: Uint8Array) => T, maxBytes: number): T {
  if (bytes.length === 0) throw intakeError('ERR_MALFORMED_REQUEST', 'request is empty');
  if (bytes.length > maxBytes) throw intakeError('ERR_REQUEST_TOO_LARGE', `request is ${bytes.length} bytes; at most ${maxBytes} are admitted (derived from the NATS max payload)`, { maxBytes });
  try {
    return dec(bytes);
  } catch (e) {
    // ts-proto throws on an enum number it does not know; for Algorithm that is our typed refusal.
    if (e instanceof Error && /enum Algorithm/.test(e.message)) throw intakeError('ERR_UNKNOWN_ALGORITHM', 'unknown signature algorithm');
    throw intakeError('ERR_MALFORMED_REQUEST', 'request does not decode');
  }
}

function checkCommon(r: { requestId: string; workspaceId: string; apiUserId: string; expiresAtMs: number }, nowMs: number): void {
  if (!REQUEST_ID_RE.test(r.requestId)) throw intakeError('ERR_INVALID_REQUEST_ID', 'request_id must be 1-128 of [A-Za-z0-9_-]');
  if (!ID_RE.test(r.workspaceId)) throw intakeError('ERR_MALFORMED_REQUEST', 'workspace_id is missing or malformed');
  if (!ID_RE.test(r.apiUserId)) throw intakeError('ERR_MALFORMED_REQUEST', 'api_user_id is missing or malformed');
  if (!Number.isSafeInteger(r.expiresAtMs) || r.expiresAtMs <= 0) throw intakeError('ERR_MALFORMED_REQUEST', 'expires_at_ms is required');
  if (r.expiresAtMs <= nowMs) throw intakeError('ERR_REQUEST_EXPIRED', 'the request has already expired');
  if (r.expiresAtMs > nowMs + MAX_EXPIRY_MS) throw intakeError('ERR_MALFORMED_REQUEST', 'expires_at_ms is too far ahead');
}

/** Validates one entry on its own (no key lookup). */
export function checkEntry(e: PayloadEntry, i: number): void {
  if (!ID_RE.test(e.keyId)) throw intakeError('ERR_MALFORMED_REQUEST', `entry ${i}: key_id is missing or malformed`, { entry: i });
  if (!(KNOWN_ALGORITHMS as readonly string[]).includes(e.algorithm)) throw intakeError('ERR_UNKNOWN_ALGORITHM', `entry ${i}: unknown signature algorithm`, { entry: i });
  if (e.path.length > MAX_PATH_LENGTH || e.path.some((p) => !Number.isInteger(p) || p < 0 || p >= HARDENED_OFFSET)) {
    throw intakeError('ERR_INVALID_PATH', `entry ${i}: path must be at most ${MAX_PATH_LENGTH} non-hardened indices`, { entry: i });
  }
  if (e.algorithm === 'EDDSA_ED25519') {
    if (e.payload.length === 0 || e.payload.length > MAX_EDDSA_MESSAGE) throw intakeError('ERR_DIGEST_LENGTH', `entry ${i}: EdDSA message must be 1..${MAX_EDDSA_MESSAGE} bytes`, { entry: i });
  } else if (e.payload.length !== 32) {
    throw intakeError('ERR_DIGEST_LENGTH', `entry ${i}: ECDSA payload must be a 32-byte digest`, { entry: i });
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Whether intake recomputes the digest of this request's entries (ETH transfers). */
export function isEthTransfer(r: TransactionSignRequest): boolean {
  const d = r.details;
  return !!d && d.asset.toUpperCase() === 'ETH' && d.operation.toUpperCase() !== 'RAW';
}

/**
 * ETH entry: the raw transaction must be an EIP-1559 one, its keccak256 the payload, and its
 * destination / value / chain id those of the business fields.
 */
export function checkEthEntry(r: TransactionSignRequest, e: PayloadEntry, i: number): void {
  const d = r.details!;
  if (e.algorithm !== 'ECDSA_SECP256K1') throw intakeError('ERR_ALGORITHM_MISMATCH', `entry ${i}: ETH is signed with ECDSA secp256k1`, { entry: i });
  if (e.rawTx.length === 0 || e.rawTx[0] !== 0x02) throw intakeError('ERR_RAW_TX_INVALID', `entry ${i}: raw_tx must be an EIP-1559 (type 2) transaction`, { entry: i });
  const raw = `0x${hex(e.rawTx)}` as Hex;
  if (keccak256(raw).slice(2) !== hex(e.payload)) throw intakeError('ERR_DIGEST_MISMATCH', `entry ${i}: payload is not keccak256 of raw_tx`, { entry: i });
  let tx: ReturnType<typeof parseTransaction>;
  try {
    tx = parseTransaction(raw);
  } catch {
    throw intakeError('ERR_RAW_TX_INVALID', `entry ${i}: raw_tx does not parse`, { entry: i });
  }
  if (tx.type !== 'eip1559') throw intakeError('ERR_RAW_TX_INVALID', `entry ${i}: raw_tx must be an EIP-1559 transaction`, { entry: i });
  const to = (tx.to ?? '').toLowerCase();
  const dests = [d.destAddress, ...d.destinations.map((x) => x.displayDstAddress)].filter((a) => a !== '');
  if (to === '' || dests.length === 0 || dests.some((a) => a.toLowerCase() !== to)) {
    throw intakeError('ERR_TX_FIELDS_MISMATCH', `entry ${i}: raw_tx destination differs from the request's destination`, { entry: i, field: 'to' });
  }
  let amount: bigint;
  try {
    amount = parseEther(d.amount);
  } catch {
    throw intakeError('ERR_TX_FIELDS_MISMATCH', 'amount is not a decimal ETH amount', { field: 'amount' });
  }
  const amounts = [d.amount, ...d.destinations.map((x) => x.amountNative)].filter((a) => a !== '');
  if ((tx.value ?? 0n) !== amount || amounts.some((a) => { try { return parseEther(a) !== amount; } catch { return true; } })) {
    throw intakeError('ERR_TX_FIELDS_MISMATCH', `entry ${i}: raw_tx value differs from the request's amount`, { entry: i, field: 'amount' });
  }
  if (BigInt(tx.chainId ?? 0) !== BigInt(d.chainId) || d.chainId === 0) {
    throw intakeError('ERR_TX_FIELDS_MISMATCH', `entry ${i}: raw_tx chain id differs from the request's chain id`, { entry: i, field: 'chain_id' });
  }
}

const AMOUNT_RE = new RegExp(`^(0|[1-9][0-9]{0,${MAX_AMOUNT_INTEGER_DIGITS - 1}})(\\.[0-9]{1,${MAX_AMOUNT_DECIMALS}})?$`);

/**
 * An amount as a plain decimal string in whole units: digits, at most one point, no sign, no
 * exponent, no leading zeros, bounded precision. `1e400`, `0x10`, ` 1`, `-1`, `1.`, `NaN` are
 * refused, so what the handler is shown (amount, amountStr) is exactly what was asked.
 */
export function checkAmount(value: string, field: string, required: boolean): void {
  if (value === '' && !required) return;
  if (!AMOUNT_RE.test(value)) {
    throw intakeError('ERR_INVALID_AMOUNT', `${field} must be a decimal string (at most ${MAX_AMOUNT_INTEGER_DIGITS} integer digits and ${MAX_AMOUNT_DECIMALS} decimals, no sign or exponent)`, { field });
  }
}

/**
 * The nesting depth of a JSON text, counted without parsing (so that a hostile depth cannot
 * exhaust the stack of a recursive parser or of JSON.stringify further down the pipeline).
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** Decodes and validates a transaction request (everything that needs no lookup). */
export function parseTransactionRequest(bytes: Uint8Array, nowMs: number, maxBytes = MAX_REQUEST_BYTES): TransactionSignRequest {
  const r = decode(bytes, (b) => TransactionSignRequest.decode(b), maxBytes);
  checkCommon(r, nowMs);
  if (!r.details) throw intakeError('ERR_MALFORMED_REQUEST', 'details are required');
  const d = r.details;
  // Every asset's amounts, not only ETH's: handlers are shown them as numbers and strings.
  checkAmount(d.amount, 'amount', d.operation.toUpperCase() === 'TRANSFER');
  checkAmount(d.requestedAmount, 'requested_amount', false);
  checkAmount(d.fee, 'fee', false);
  d.destinations.forEach((x, i) => {
    checkAmount(x.amountNative, `destinations[${i}].amount_native`, false);
    checkAmount(x.amountUsd, `destinations[${i}].amount_usd`, false);
  });
  if (r.entries.length === 0 || r.entries.length > MAX_ENTRIES) throw intakeError('ERR_MALFORMED_REQUEST', `1..${MAX_ENTRIES} payload entries are required`);
  r.entries.forEach((e, i) => checkEntry(e, i));
  if (isEthTransfer(r)) r.entries.forEach((e, i) => checkEthEntry(r, e, i));
  return r;
}

export function parseConfigChangeRequest(bytes: Uint8Array, nowMs: number, maxBytes = MAX_REQUEST_BYTES): ConfigChangeRequest {
  const r = decode(bytes, (b) => ConfigChangeRequest.decode(b), maxBytes);
  checkCommon(r, nowMs);
  if (!(CONFIG_CHANGE_TYPES as readonly string[]).includes(r.type)) throw intakeError('ERR_MALFORMED_REQUEST', `type must be one of ${CONFIG_CHANGE_TYPES.join(', ')}`);
  if (Buffer.byteLength(r.extraInfoJson) > MAX_JSON_BYTES) throw intakeError('ERR_REQUEST_TOO_LARGE', `extra_info_json is larger than ${MAX_JSON_BYTES} bytes`, { field: 'extra_info_json' });
  if (jsonDepth(r.extraInfoJson) > MAX_JSON_DEPTH) throw intakeError('ERR_JSON_TOO_DEEP', `extra_info_json nests deeper than ${MAX_JSON_DEPTH}`, { field: 'extra_info_json' });
  let extra: unknown;
  try {
    extra = JSON.parse(r.extraInfoJson === '' ? '{}' : r.extraInfoJson);
  } catch {
    throw intakeError('ERR_MALFORMED_REQUEST', 'extra_info_json is not JSON');
  }
  if (!extra || typeof extra !== 'object' || Array.isArray(extra)) throw intakeError('ERR_MALFORMED_REQUEST', 'extra_info_json must be a JSON object');
  return r;
}

export function parseCancelRequest(bytes: Uint8Array): CancelRequest {
  const r = decode(bytes, (b) => CancelRequest.decode(b), MAX_REQUEST_BYTES);
  if (!REQUEST_ID_RE.test(r.requestId)) throw intakeError('ERR_INVALID_REQUEST_ID', 'request_id is malformed');
  if (r.reason.length > 512) throw intakeError('ERR_MALFORMED_REQUEST', 'reason is too long');
  return r;
}

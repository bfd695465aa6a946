/**
 * Validation of an API user's callback handler config (callback-protocol.md): a base URL, and
 * either the handler's RSA public key (JWT mode: RS256 replies, so RSA of at least 2048 bits,
 * RFC 7518 §3.3) or its certificate (TLS mode: pinned, so the URL must be https).
 */
import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import { invalid } from './errors.ts';

export const MIN_RSA_BITS = 2048;
export const MAX_URL_LENGTH = 2048;
export const MAX_PEM_LENGTH = 16_384;

/** Returns the URL normalized (no trailing slash), or throws ERR_CALLBACK_URL. */
export function validateCallbackUrl(raw: string, mode: 'JWT' | 'TLS'): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_URL_LENGTH) throw invalid('ERR_CALLBACK_URL', 'callback url is empty or too long');
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw invalid('ERR_CALLBACK_URL', 'callback url is not a valid URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw invalid('ERR_CALLBACK_URL', 'callback url must be http or https');
  // Credentials in a URL end up in logs, audit records and proxies.
  if (u.username !== '' || u.password !== '') throw invalid('ERR_CALLBACK_URL', 'callback url must not carry credentials');
  if (u.hostname === '') throw invalid('ERR_CALLBACK_URL', 'callback url has no host');
  if (u.search !== '' || u.hash !== '') throw invalid('ERR_CALLBACK_URL', 'callback url is a base URL: no query or fragment');
  if (mode === 'TLS' && u.protocol !== 'https:') throw invalid('ERR_CALLBACK_URL', 'TLS pinning mode needs an https url');
  return u.toString().replace(/\/+$/, '');
}

function checkRsa(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'rsa') throw invalid('ERR_CALLBACK_KEY_NOT_RSA', `${what} is ${key.asymmetricKeyType ?? 'not asymmetric'}, RSA required`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) throw invalid('ERR_CALLBACK_KEY_TOO_SHORT', `${what} is RSA-${bits}; at least ${MIN_RSA_BITS} bits required`);
}

/** The handler's RSA public key (SPKI or PKCS#1 PEM), returned as SPKI PEM. */
export function validateHandlerPublicKey(pem: string): string {
  if (typeof pem !== 'string' || pem.length === 0 || pem.length > MAX_PEM_LENGTH || !pem.includes('-----BEGIN')) {
    throw invalid('ERR_CALLBACK_KEY_MALFORMED', 'public key is not a PEM');
  }
  if (/PRIVATE KEY-----/.test(pem)) throw invalid('ERR_CALLBACK_KEY_MALFORMED', 'that is a private key; give the public key');
  if (/BEGIN CERTIFICATE/.test(pem)) throw invalid('ERR_CALLBACK_KEY_MALFORMED', 'that is a certificate; use --cert for TLS pinning mode');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw invalid('ERR_CALLBACK_KEY_MALFORMED', 'public key PEM does not parse');
  }
  checkRsa(key, 'public key');
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/** The handler's certificate (PEM), returned normalized; RSA keys must be >= 2048 bits. */
export function validateHandlerCert(pem: string, now = new Date()): string {
  if (typeof pem !== 'string' || pem.length === 0 || pem.length > MAX_PEM_LENGTH || !pem.includes('-----BEGIN CERTIFICATE')) {
    throw invalid('ERR_CALLBACK_CERT_MALFORMED', 'certificate is not a PEM certificate');
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    throw invalid('ERR_CALLBACK_CERT_MALFORMED', 'certificate PEM does not parse');
  }
  if (new Date(cert.validTo).getTime() < now.getTime()) throw invalid('ERR_CALLBACK_CERT_EXPIRED', `certificate expired on ${cert.validTo}`);
  const key = cert.publicKey;
  if (key.asymmetricKeyType === 'rsa') checkRsa(key, 'certificate key');
  return cert.toString();
}

/**
 * Chaos against the whole system: start it on loopback (every service its own process), drive a
 * mix of transfers through the workspace's public API (ECDSA and EdDSA keys; handlers that
 * approve, reject, answer RETRY first, or think for seconds), kill -9 and restart random services,
 * parties and nats-server while requests flow, then check the system's promises from the outside:
 *
 * 1. every accepted request reached exactly one terminal state (the lifecycle stream holds at most
 *    one terminal event per request, intake's status agrees, nothing stays open);
 * 2. no payload got two different signatures (every `signed` event of a request carries the same
 *    signatures);
 * 3. no presignature was planned for two payload entries (the signer's plans, watched live);
 * 4. every signature verifies under an independent library (ECDSA: noble secp256k1, low-S, under the
 *    derived key the signer reports for that path; EdDSA: OpenSSL through node:crypto);
 * 5. no secret appears in any service's log (the local secrets' contents, private-key PEM markers).
 *
 * Bounded in time: requests expire (`EXPIRES_IN_S`) so nothing can stay open, and the whole run
 * stops at `seconds`. Outside the CI gate (`npm run test:slow` runs a small version).
 */
import { createPublicKey, generateKeyPairSync, randomBytes, verify as nodeVerify } from 'node:crypto';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import {
  KeyServiceClient,
  PairingServiceClient,
  RequestApproved,
  RequestIntakeServiceClient,
  RequestSigned,
  TransactionSignRequest,
  WorkspaceServiceClient,
  type ApiUser,
  type CosignerInfo,
  type KeyInfo,
  type PairingToken,
  type RequestState,
  type Transaction,
  type Workspace,
  type WorkspaceApiUser,
} from '@cosigner/proto';
import { BUCKETS, STREAMS } from '@cosigner/platform';
import { startHandler, type HandlerRules, type RunningHandler } from '@cosigner/example-callback-handler';
import { makeClient, unary } from './grpc.ts';
import { openNats, withNats } from './nats.ts';
import { startSystem, type RunningSystem } from './system.ts';
import { DEMO_DESTINATION } from './demo.ts';

/** Requests expire after this long, so a request the faults left open still ends (FAILED). */
export const EXPIRES_IN_S = 90;
/** Services a fault may hit (nats-server included). */
export const VICTIMS = ['nats', 'intake', 'dispatcher', 'mpc-signer', 'cloud-1', 'cloud-2', 'pairing', 'workspace-sim'] as const;
const TERMINAL_EVENTS = new Set(['signed', 'rejected', 'ignored', 'failed']);
const TERMINAL_STATUS = new Set(['SIGNED', 'REJECTED', 'IGNORED', 'FAILED']);

export interface ChaosOptions {
  requests: number;
  kills: number;
  /** Upper bound of the whole run, set-up included. */
  seconds: number;
  dataDir: string;
  /** Requests in flight at once. */
  concurrency?: number;
  log: (line: string) => void;
}

export interface ChaosReport {
  /** `refusals`: the workspace's answers that were not a success, by code (a request may retry). */
  requests: { submitted: number; accepted: number; notAccepted: number; refusals: Record<string, number> };
  outcomes: Record<string, number>;
  /** FAILED requests by their stable code (faults make some fail; each still ends exactly once). */
  failures: Record<string, number>;
  byBehaviour: Record<string, Record<string, number>>;
  kills: Record<string, number>;
  signatures: { checked: number; ecdsa: number; eddsa: number };
  presignatures: { planned: number; entries: number };
  logs: { files: number; lines: number };
  violations: string[];
  durationMs: number;
}

type Behaviour = 'approve' | 'reject' | 'retry' | 'slow';
const BEHAVIOURS: { name: Behaviour; weight: number; rules: HandlerRules; delayMs?: number }[] = [
  { name: 'approve', weight: 50, rules: {} },
  // Rejects every request: its destination is never the allow-listed one (an amount limit would let RAW requests through).
  { name: 'reject', weight: 15, rules: { allowedDestinations: ['0x0000000000000000000000000000000000000001'] } },
  { name: 'retry', weight: 20, rules: { retryFirst: true } },
  { name: 'slow', weight: 15, rules: {}, delayMs: 2_000 },
];

function pick<T extends { weight: number }>(xs: readonly T[]): T {
  let r = Math.random() * xs.reduce((a, x) => a + x.weight, 0);
  for (const x of xs) if ((r -= x.weight) < 0) return x;
  return xs[xs.length - 1]!;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Retries `f` while the system is down (a fault in progress), up to `ms`. */
async function patiently<T>(ms: number, f: () => Promise<T>): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() > until) throw e;
      await sleep(500);
    }
  }
}

/** Every secret of the local system whose appearance in a log is a leak. */
function secretsOf(dataDir: string): string[] {
  const dir = join(dataDir, 'secrets');
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)) {
    if (f.endsWith('.pub.pem') || f.endsWith('.crt') || f.endsWith('.pub')) continue;
    let text: string;
    try {
      text = readFileSync(join(dir, f), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const t = line.trim();
      // Long enough to be unmistakable (a PEM body line, a hex key, a token).
      if (t.length >= 24 && !t.startsWith('-----')) out.push(t);
    }
  }
  return out;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const t0 = Date.now();
  const deadline = t0 + o.seconds * 1000;
  const violations: string[] = [];
  const kills: Record<string, number> = {};
  const sys: RunningSystem = await startSystem({
    dataDir: o.dataDir,
    ports: { nats: await freePort(), pairing: await freePort(), intake: await freePort(), keys: await freePort(), workspace: await freePort() },
  });
  process.env.COSIGNER_CONFIG = join(o.dataDir, 'cli.json');
  const cfg = sys.config;
  const token = cfg.adminToken;
  const ws = makeClient(WorkspaceServiceClient, cfg.workspaceUrl);
  const pairing = makeClient(PairingServiceClient, cfg.pairingUrl);
  const keys = makeClient(KeyServiceClient, cfg.keysUrl);
  const intake = makeClient(RequestIntakeServiceClient, cfg.intakeUrl);
  const handlers: RunningHandler[] = [];
  const plans = new Map<string, string>(); // plan key (request.entry) -> presignature id
  const planOwners = new Map<string, Set<string>>(); // presignature id -> plan keys
  let stopWatch = (): void => {};
  try {
    // ---- set-up: one workspace, an API user per handler behaviour, an ECDSA and an EdDSA key.
    const workspace = await unary<object, Workspace>(ws, 'createWorkspace', { name: 'chaos' }, { token });
    const info = await unary<object, CosignerInfo>(pairing, 'getCosignerInfo', {}, { token });
    const users = new Map<Behaviour, string>();
    for (const b of BEHAVIOURS) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const h = await startHandler(
        { port: 0, host: '127.0.0.1', cosignerPublicKeyFile: '', privateKeyFile: '', rules: b.rules, ...(b.delayMs ? { delayMs: b.delayMs } : {}) },
        { cosignerPublicKey: createPublicKey(info.callbackPublicKeyPem), privateKey },
      );
      handlers.push(h);
      const u = await unary<object, WorkspaceApiUser>(ws, 'createApiUser', { workspaceId: workspace.workspaceId, name: `chaos-${b.name}` }, { token });
      const pt = await unary<object, PairingToken>(ws, 'issuePairingToken', { apiUserId: u.apiUserId }, { token });
      const paired = await unary<object, ApiUser>(pairing, 'pair', { token: pt.token }, { token });
      await unary<object, ApiUser>(pairing, 'setCallback', { apiUserId: paired.apiUserId, url: h.url, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }, { token });
      users.set(b.name, paired.apiUserId);
    }
    const keyList: { info: KeyInfo; weight: number }[] = [];
    for (const [algorithm, weight] of [['ECDSA_SECP256K1', 70], ['EDDSA_ED25519', 30]] as const) {
      const k = await unary<object, KeyInfo>(keys, 'createKey', { workspaceId: workspace.workspaceId, algorithm, threshold: 0, keyId: '' }, { token, deadlineMs: 600_000 });
      keyList.push({ info: k, weight });
    }
    o.log(`chaos: set up in ${Math.round((Date.now() - t0) / 1000)} s: workspace ${workspace.workspaceId}, ${users.size} API users, keys ${keyList.map((k) => `${k.info.keyId} (${k.info.algorithm})`).join(', ')}`);

    // ---- watch the signer's plans (which presignature signs which entry) for the whole run.
    const watchNc = await openNats();
    const watch = await (await new Kvm(jetstream(watchNc)).open(BUCKETS.plans.bucket)).watch({ include: 'history' as never });
    stopWatch = () => {
      watch.stop();
      void watchNc.close();
    };
    void (async () => {
      for await (const e of watch) {
        if (e.operation !== 'PUT') continue;
        const presig = e.json<{ presig?: string }>().presig ?? '';
        if (!presig) continue;
        const prev = plans.get(e.key);
        if (prev !== undefined && prev !== presig) violations.push(`plan ${e.key} changed its presignature (${prev} -> ${presig})`);
        plans.set(e.key, presig);
        const owners = planOwners.get(presig) ?? new Set<string>();
        owners.add(e.key);
        planOwners.set(presig, owners);
      }
    })();

    // ---- drive requests while faults hit.
    /** Every request the workspace was asked to create; `acked` when it said it did. */
    const submittedIds = new Map<string, { behaviour: Behaviour; keyId: string; acked: boolean }>();
    let submitted = 0;
    const refusals: Record<string, number> = {};
    let notAccepted = 0;
    const driveUntil = Math.min(deadline - (EXPIRES_IN_S + 30) * 1000, Date.now() + Math.max(30, o.seconds / 2) * 1000);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < o.requests && Date.now() < driveUntil) {
        const i = next++;
        const b = pick(BEHAVIOURS);
        const k = pick(keyList);
        const requestId = `chaos-${i}-${randomBytes(4).toString('hex')}`;
        submitted++;
        const meta = { behaviour: b.name, keyId: k.info.keyId, acked: false };
        submittedIds.set(requestId, meta);
        try {
          await patiently(20_000, () =>
            unary<object, Transaction>(
              ws,
              'createTransfer',
              {
                apiUserId: users.get(b.name), keyId: k.info.keyId, path: [44, 60, 0, 0, i % 5], to: DEMO_DESTINATION, amountWei: (10n ** 16n).toString(),
                chainId: 0, nonce: i, note: `chaos ${b.name}`, externalTxId: '', expiresInS: EXPIRES_IN_S, requestId, algorithm: k.info.algorithm,
              },
              { token, deadlineMs: 10_000 },
            ),
          );
          meta.acked = true;
        } catch (e) {
          // Refused, or its outcome unknown (e.g. ERR_ALREADY_EXISTS after a lost reply): intake decides below.
          const code = (e as { code?: string }).code ?? 'ERR_UNKNOWN';
          refusals[code] = (refusals[code] ?? 0) + 1;
        }
      }
    };
    const faults = async (): Promise<void> => {
      const gap = Math.max(1_000, (driveUntil - Date.now()) / (o.kills + 1));
      for (let n = 0; n < o.kills && Date.now() < driveUntil; n++) {
        await sleep(gap * (0.5 + Math.random()));
        const victim = VICTIMS[Math.floor(Math.random() * VICTIMS.length)]!;
        o.log(`chaos: kill -9 ${victim}`);
        await sys.kill(victim, 'SIGKILL');
        kills[victim] = (kills[victim] ?? 0) + 1;
        await sleep(300 + Math.random() * 1_500);
        try {
          await sys.restart(victim);
        } catch (e) {
          violations.push(`${victim} did not come back after kill -9: ${(e as Error).message}`);
        }
      }
    };
    await Promise.all([faults(), ...Array.from({ length: o.concurrency ?? 8 }, () => worker())]);
    o.log(`chaos: ${submitted} requests submitted; waiting for every one to end`);

    // ---- accepted = known to intake; every accepted request ends (expiry bounds it). One the
    // workspace acknowledged must be known to intake; one whose submission failed may be unknown.
    const accepted = new Map<string, { behaviour: Behaviour; keyId: string }>();
    const states = new Map<string, RequestState>();
    const open = new Set(submittedIds.keys());
    const unknownSince = Date.now();
    while (open.size > 0 && Date.now() < deadline) {
      for (const id of [...open]) {
        try {
          const s = await unary<object, RequestState>(intake, 'getRequest', { requestId: id }, { token, deadlineMs: 10_000 });
          states.set(id, s);
          const m = submittedIds.get(id)!;
          accepted.set(id, { behaviour: m.behaviour, keyId: m.keyId });
          if (TERMINAL_STATUS.has(s.status)) open.delete(id);
        } catch (e) {
          // Not known to intake: a submission the faults stopped, once the workspace's own retry is over.
          const code = (e as { code?: string }).code ?? '';
          if (/NOT_FOUND/.test(code) && !submittedIds.get(id)!.acked && Date.now() - unknownSince > 75_000) {
            open.delete(id);
            notAccepted++;
          }
        }
      }
      if (open.size > 0) await sleep(1_000);
    }
    for (const id of open) {
      const m = submittedIds.get(id)!;
      if (states.has(id)) violations.push(`request ${id} is still ${states.get(id)!.status} at the end of the run`);
      else if (m.acked) violations.push(`request ${id} was acknowledged by the workspace but intake does not know it`);
      else notAccepted++;
    }

    // ---- the lifecycle stream: one terminal event per request, signatures consistent and valid.
    const outcomes: Record<string, number> = {};
    const failures: Record<string, number> = {};
    const byBehaviour: Record<string, Record<string, number>> = {};
    const sigStats = { checked: 0, ecdsa: 0, eddsa: 0 };
    await withNats(async (nc) => {
      const jsm = await jetstreamManager(nc);
      const si = await jsm.streams.info(STREAMS.requests.name);
      const terminal = new Map<string, Set<string>>();
      const signed = new Map<string, string>();
      const approvedReq = new Map<string, TransactionSignRequest>();
      const signedEvents: { id: string; ev: RequestSigned }[] = [];
      for (let seq = si.state.first_seq; seq <= si.state.last_seq; seq++) {
        let m;
        try {
          m = await jsm.streams.getMessage(STREAMS.requests.name, { seq });
        } catch {
          continue;
        }
        if (!m) continue;
        const [, , kind, ...rest] = m.subject.split('.');
        const id = rest.join('.');
        if (!accepted.has(id) || !kind) continue;
        if (TERMINAL_EVENTS.has(kind)) {
          const s = terminal.get(id) ?? new Set<string>();
          s.add(kind);
          terminal.set(id, s);
        }
        if (kind === 'approved') approvedReq.set(id, TransactionSignRequest.decode(RequestApproved.decode(m.data).request));
        if (kind === 'signed') {
          const ev = RequestSigned.decode(m.data);
          const fp = JSON.stringify(ev.signatures.map((x) => [x.index, Buffer.from(x.signature).toString('hex')]));
          const prev = signed.get(id);
          if (prev !== undefined && prev !== fp) violations.push(`request ${id} has two different signatures`);
          signed.set(id, fp);
          signedEvents.push({ id, ev });
        }
      }
      for (const [id, meta] of accepted) {
        const kinds = terminal.get(id) ?? new Set<string>();
        if (kinds.size > 1) violations.push(`request ${id} reached ${kinds.size} terminal states (${[...kinds].join(', ')})`);
        const status = states.get(id)?.status ?? 'UNKNOWN';
        if (status === 'FAILED') {
          const code = states.get(id)?.errorCode || 'ERR_UNKNOWN';
          failures[code] = (failures[code] ?? 0) + 1;
        }
        outcomes[status] = (outcomes[status] ?? 0) + 1;
        (byBehaviour[meta.behaviour] ??= {})[status] = ((byBehaviour[meta.behaviour] ?? {})[status] ?? 0) + 1;
        if (status === 'SIGNED' && !signed.has(id)) violations.push(`request ${id} is SIGNED without a signed event`);
        if (meta.behaviour === 'reject' && status === 'SIGNED') violations.push(`request ${id} was signed although its handler rejects it`);
      }
      for (const { id, ev } of signedEvents) {
        const req = approvedReq.get(id);
        if (!req) {
          violations.push(`request ${id} was signed without an approved event`);
          continue;
        }
        for (const sig of ev.signatures) {
          const entry = req.entries[sig.index];
          if (!entry) {
            violations.push(`request ${id}: a signature for entry ${sig.index}, which the request does not have`);
            continue;
          }
          const want = await unary<object, { publicKey: Uint8Array }>(keys, 'getPublicKey', { keyId: entry.keyId, path: entry.path }, { token }).catch(() => undefined);
          if (want && !Buffer.from(want.publicKey).equals(Buffer.from(sig.publicKey))) violations.push(`request ${id}: entry ${sig.index} signed under another key than its path derives`);
          let ok = false;
          if (sig.algorithm === 'EDDSA_ED25519') {
            const pk = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(sig.publicKey).toString('base64url') }, format: 'jwk' });
            ok = nodeVerify(null, entry.payload, pk, sig.signature);
            sigStats.eddsa++;
          } else {
            ok = secp256k1.verify(sig.signature, entry.payload, sig.publicKey, { prehash: false, lowS: true });
            sigStats.ecdsa++;
          }
          sigStats.checked++;
          if (!ok) violations.push(`request ${id}: the signature of entry ${sig.index} does not verify`);
        }
      }
    });
    stopWatch();
    for (const [presig, owners] of planOwners) if (owners.size > 1) violations.push(`presignature ${presig} planned for ${owners.size} entries (${[...owners].join(', ')})`);

    // ---- no secret in any log.
    const secrets = secretsOf(o.dataDir);
    const logDir = join(o.dataDir, 'logs');
    let files = 0;
    let lines = 0;
    if (existsSync(logDir)) {
      for (const f of readdirSync(logDir)) {
        const text = readFileSync(join(logDir, f), 'utf8');
        files++;
        lines += text.split('\n').length - 1;
        if (/BEGIN [A-Z ]*PRIVATE KEY/.test(text)) violations.push(`${f}: a private key PEM in the log`);
        for (const s of secrets) if (text.includes(s)) violations.push(`${f}: a local secret (${s.slice(0, 4)}…) in the log`);
      }
    }
    return {
      requests: { submitted, accepted: accepted.size, notAccepted, refusals },
      outcomes,
      failures,
      byBehaviour,
      kills,
      signatures: sigStats,
      presignatures: { planned: planOwners.size, entries: plans.size },
      logs: { files, lines },
      violations,
      durationMs: Date.now() - t0,
    };
  } finally {
    stopWatch();
    for (const h of handlers) await h.close();
    for (const c of [ws, pairing, keys, intake]) c.close();
    await sys.stop();
  }
}

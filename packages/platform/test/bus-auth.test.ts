/**
 * The closed bus (topology.ts + auth.ts) against a real nats-server running the generated
 * authorization: every service can do what it does, and nothing else. Each refusal here is a
 * capability an anonymous client or any service had on the open bus.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { headers, nkeys, type NatsConnection } from '@nats-io/nats-core';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectNats, drainNats } from '../src/nats/connect.ts';
import { publishEvent } from '../src/nats/publish.ts';
import {
  ACCESS, BUCKETS, CONSUMERS, MPC_SUBJECTS, SERVICES, STREAMS, openBucket, provisionStreams, requestMsgId, requestSubject, sealedVersionsBucket,
  type RequestEventKind, type ServiceName,
} from '../src/nats/topology.ts';
import { startNats, type NatsServerHandle } from '../src/testing/index.ts';

const enc = new TextEncoder();

/** Resolves with the error that closes a subscription (a permission violation), or 'open'. */
async function subscribeOutcome(nc: NatsConnection, subject: string): Promise<string> {
  const sub = nc.subscribe(subject);
  const closed = sub.closed.then(() => 'closed', (e: unknown) => (e as Error).message);
  const iter = (async () => { try { for await (const _ of sub) { /* none */ } return 'ended'; } catch (e) { return (e as Error).message; } })();
  await nc.flush();
  const r = await Promise.race([iter, closed, new Promise<string>((res) => setTimeout(() => res('open'), 1500))]);
  if (r === 'open') sub.unsubscribe();
  return r;
}

async function publishOutcome(nc: NatsConnection, kind: RequestEventKind, id: string): Promise<string> {
  try {
    await publishEvent(jetstream(nc), requestSubject(kind, id), enc.encode('forged'), { msgId: requestMsgId(kind, id), attempts: 1, timeoutMs: 3000 });
    return 'published';
  } catch (e) {
    return (e as Error).message;
  }
}

for (const tls of [false, true]) {
  describe(`closed bus${tls ? ' with TLS' : ''}`, () => {
    let srv: NatsServerHandle;
    const conns = new Map<ServiceName, NatsConnection>();
    const as = async (s: ServiceName): Promise<NatsConnection> => {
      let nc = conns.get(s);
      if (!nc) conns.set(s, (nc = await connectNats(srv.as(s))));
      return nc;
    };

    before(async () => {
      srv = await startNats({ auth: { tls } });
      // Every service provisions what it declares, in the order `cosigner up` starts them.
      for (const s of ['workspace-sim', 'pairing', 'request-intake', 'callback-dispatcher', 'cloud-1', 'cloud-2', 'mpc-signer'] as const) {
        const nc = await as(s);
        await provisionStreams(nc, s);
        for (const g of ACCESS[s].buckets) {
          const spec = Object.values(BUCKETS).find((x) => x.bucket === g.bucket) ?? (g.bucket.startsWith('cosigner-sealed-versions-') ? sealedVersionsBucket(g.bucket.slice('cosigner-sealed-versions-'.length)) : { bucket: g.bucket });
          await openBucket(nc, s, spec);
        }
      }
    });
    after(async () => {
      for (const nc of conns.values()) await drainNats(nc);
      await srv.stop();
    });

    test('an anonymous client is refused', async () => {
      await assert.rejects(connect({ servers: srv.url, ...(tls ? { tls: { caFile: srv.auth!.caFile! } } : {}) }), /Authorization Violation/);
    });

    test('an nkey the configuration does not name is refused', async () => {
      const f = join(srv.storeDir, 'stranger.nk');
      writeFileSync(f, new TextDecoder().decode(nkeys.createUser().getSeed()));
      await assert.rejects(connectNats({ ...srv.as('cli'), nkeySeedFile: f }), /Authorization Violation/);
    });

    if (tls) {
      test('TLS is required: a plaintext client is refused', async () => {
        const o = srv.as('cli');
        delete o.tls;
        await assert.rejects(connectNats({ ...o, extra: { tls: null } }), /TLS|tls|secure/);
      });
    }

    test('seeds are secrets: mode 0600', () => {
      for (const s of SERVICES) assert.equal(statSync(srv.auth!.services[s]!.seedFile).mode & 0o777, 0o600, s);
    });

    test('each service publishes the lifecycle events it owns and no other', async () => {
      const allowed: Record<string, RequestEventKind[]> = {
        'request-intake': ['received', 'failed'],
        'callback-dispatcher': ['approved', 'rejected', 'ignored', 'failed'],
        'mpc-signer': ['signed', 'failed'],
      };
      for (const s of SERVICES) {
        const nc = await as(s);
        for (const kind of ['received', 'approved', 'signed'] as const) {
          const r = await publishOutcome(nc, kind, `r-${s}-${kind}`);
          if (allowed[s]?.includes(kind)) assert.equal(r, 'published', `${s} ${kind}`);
          else assert.match(r, /Permissions Violation for Publish/, `${s} may not publish ${kind}`);
        }
      }
    });

    test('only the parties read party messages, each only its own', async () => {
      for (const s of SERVICES) {
        const nc = await as(s);
        for (const party of ['customer', 'cloud-1', 'cloud-2']) {
          const own = (party === 'customer' ? 'mpc-signer' : party) === s;
          const r = await subscribeOutcome(nc, MPC_SUBJECTS.inbox(party));
          if (own) assert.equal(r, 'open', `${s} reads its own inbox`);
          else assert.match(r, /Permissions Violation for Subscription/, `${s} may not read ${party}'s messages`);
        }
        assert.match(await subscribeOutcome(nc, 'cosigner.mpc.>'), /Permissions Violation/, `${s}: cosigner.mpc.>`);
        assert.match(await subscribeOutcome(nc, '>'), /Permissions Violation/, `${s}: >`);
        // Another service's replies (KV reads, JetStream API answers) are not its to read.
        assert.match(await subscribeOutcome(nc, '_INBOX.>'), /Permissions Violation/, `${s}: _INBOX.>`);
        const other = s === 'pairing' ? 'mpc-signer' : 'pairing';
        assert.match(await subscribeOutcome(nc, `_INBOX_${other}.>`), /Permissions Violation/, `${s}: ${other}'s inbox`);
      }
    });

    test('only the coordinator starts MPC sessions', async () => {
      for (const s of SERVICES) {
        const nc = await as(s);
        let err = '';
        try {
          await nc.request(MPC_SUBJECTS.start('cloud-1'), enc.encode('x'), { timeout: 1500 });
        } catch (e) {
          err = (e as Error).message;
        }
        if (s === 'mpc-signer') assert.doesNotMatch(err, /Permissions Violation/);
        else assert.match(err, /Permissions Violation for Publish/, s);
      }
    });

    test('each party writes only its own counter bucket and its own identity', async () => {
      const parties = { customer: 'mpc-signer', 'cloud-1': 'cloud-1', 'cloud-2': 'cloud-2' } as const;
      for (const s of SERVICES) {
        const nc = await as(s);
        const kvm = new Kvm(jetstream(nc));
        for (const [party, owner] of Object.entries(parties)) {
          for (const bucket of [sealedVersionsBucket(party).bucket, BUCKETS.parties.bucket]) {
            const key = bucket === BUCKETS.parties.bucket ? party : `${party}.shares`;
            let r = 'written';
            try {
              const kv = await kvm.open(bucket);
              await kv.put(key, '99');
            } catch (e) {
              r = (e as Error).message;
            }
            if (owner === s) assert.equal(r, 'written', `${s} writes ${bucket}/${key}`);
            else assert.match(r, /Permissions Violation/, `${s} may not write ${bucket}/${key}`);
          }
        }
      }
    });

    test('no service deletes or purges a stream, or another service\'s consumer', async () => {
      for (const s of SERVICES) {
        const jsm = await jetstreamManager(await as(s));
        for (const stream of [STREAMS.requests.name, STREAMS.audit.name, `KV_${sealedVersionsBucket('customer').bucket}`]) {
          await assert.rejects(jsm.streams.delete(stream), /Permissions Violation/, `${s} deletes ${stream}`);
          await assert.rejects(jsm.streams.purge(stream), /Permissions Violation/, `${s} purges ${stream}`);
        }
        for (const c of Object.values(CONSUMERS)) {
          await assert.rejects(jsm.consumers.delete(c.stream, c.durable), /Permissions Violation/, `${s} deletes consumer ${c.durable}`);
        }
      }
    });

    test('a service pulls only from its own durable consumer', async () => {
      const nc = await as('callback-dispatcher');
      await assert.rejects(
        nc.request(`$JS.API.CONSUMER.MSG.NEXT.${STREAMS.requests.name}.${CONSUMERS.signer.durable}`, enc.encode('{"batch":1}'), { timeout: 1500 }),
        /Permissions Violation/,
      );
      const jsm = await jetstreamManager(nc);
      // ...and cannot reconfigure another's (e.g. point the signer's consumer elsewhere).
      await assert.rejects(jsm.consumers.update(STREAMS.requests.name, CONSUMERS.signer.durable, { filter_subject: 'cosigner.requests.received.>' }), /Permissions Violation/);
      // A stream it does not own keeps its configuration: no UPDATE (e.g. widen its subjects).
      const info = await jsm.streams.info(STREAMS.requests.name);
      await assert.rejects(jsm.streams.update(STREAMS.requests.name, { ...info.config, subjects: ['cosigner.requests.>', 'cosigner.mpc.>'] }), /Permissions Violation/);
    });

    test('a write to its own key cannot purge the other keys of a shared bucket (Nats-Rollup: all)', async () => {
      // The parties' identities share one bucket; each party may write only its own key. A KV
      // stream accepts roll-up headers, and `Nats-Rollup: all` on a message of one's own subject
      // purges every other subject of the stream: cloud-1 would erase the customer's identity.
      const kv = await new Kvm(jetstream(await as('mpc-signer'))).open(BUCKETS.parties.bucket);
      await kv.put('customer', 'customer-identity');
      const nc = await as('cloud-1');
      const h = headers();
      h.set('Nats-Rollup', 'all');
      let r = 'written';
      try {
        await jetstream(nc).publish(`$KV.${BUCKETS.parties.bucket}.cloud-1`, enc.encode('cloud-1-identity'), { headers: h });
      } catch (e) {
        r = (e as Error).message;
      }
      const e = await kv.get('customer');
      assert.equal(e?.operation, 'PUT', `the customer's identity survives (cloud-1's roll-up: ${r})`);
      assert.equal(e?.string(), 'customer-identity');
    });

    test('a bucket\'s stream created first by another service with extra subjects is refused by every opener', async () => {
      // STREAM.CREATE is granted by stream name; the configuration is the creator's. cloud-1,
      // first on a fresh bus, creates a shared bucket's stream that also captures the customer's
      // inbox (and could capture any service's replies), then reads it by direct get.
      const fresh = await startNats({ auth: { tls } });
      try {
        const bucket = 'cosigner-parties';
        const evil = await connectNats(fresh.as('cloud-1'));
        await (await jetstreamManager(evil)).streams.add({ name: `KV_${bucket}`, subjects: [`$KV.${bucket}.>`, MPC_SUBJECTS.inbox('customer')], allow_direct: true });
        const signer = await connectNats(fresh.as('mpc-signer'));
        await assert.rejects(openBucket(signer, 'mpc-signer', BUCKETS.parties), (e: Error & { code?: string }) => e.code === 'ERR_BUS_TAMPERED');
        await assert.rejects(openBucket(evil, 'cloud-1', BUCKETS.parties), (e: Error & { code?: string }) => e.code === 'ERR_BUS_TAMPERED');
        await drainNats(evil);
        await drainNats(signer);
      } finally {
        await fresh.stop();
      }
    });
  });
}

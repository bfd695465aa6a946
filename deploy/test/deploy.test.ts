/**
 * Offline checks of the deployment files (no Docker engine or cluster here): they parse, every
 * service they start exists in the repository, every workload has probes and resource limits, the
 * dispatcher scales on its own, NATS runs as a 3-node JetStream cluster with R3 streams.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

const deploy = join(fileURLToPath(import.meta.url), '..', '..');
const root = join(deploy, '..');

type Obj = Record<string, any>;

test('docker-compose: every service runs a script of the repo, secrets are declared, NATS has JetStream', () => {
  const c = parse(readFileSync(join(deploy, 'docker-compose.yml'), 'utf8'), { merge: true }) as Obj;
  const services = c.services as Obj;
  for (const name of ['nats', 'jaeger', 'workspace-sim', 'pairing', 'intake', 'dispatcher', 'mpc-signer', 'cloud-1', 'cloud-2'])
    assert.ok(services[name], `compose lacks ${name}`);
  assert.ok((services.nats.command as string[]).includes('-js'));
  for (const [name, s] of Object.entries(services)) {
    if (name === 'nats' || name === 'jaeger') continue;
    const cmd = s.command as string[];
    assert.equal(cmd[0], 'node', name);
    assert.ok(existsSync(join(root, cmd[1]!)), `${name}: ${cmd[1]} missing`);
    assert.equal(s.environment.NATS_URL, 'nats://nats:4222', name);
    for (const sec of (s.secrets ?? []) as string[]) assert.ok(c.secrets[sec], `${name}: secret ${sec} undeclared`);
  }
  assert.match(readFileSync(join(deploy, 'Dockerfile'), 'utf8'), /^FROM node:24/m);
});

test('kubernetes: resources exist, workloads have probes and limits, dispatcher has an HPA, NATS is R3', () => {
  const base = join(deploy, 'k8s', 'base');
  const k = parse(readFileSync(join(base, 'kustomization.yaml'), 'utf8')) as Obj;
  const docs: Obj[] = [];
  for (const r of k.resources as string[]) {
    assert.ok(existsSync(join(base, r)), `missing ${r}`);
    for (const d of parseAllDocuments(readFileSync(join(base, r), 'utf8'))) {
      assert.equal(d.errors.length, 0, `${r}: ${d.errors.join()}`);
      docs.push(d.toJS() as Obj);
    }
  }
  const workloads = docs.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet');
  assert.ok(workloads.length >= 8);
  for (const w of workloads) {
    for (const c of w.spec.template.spec.containers as Obj[]) {
      const id = `${w.kind}/${w.metadata.name}`;
      assert.ok(c.readinessProbe && c.livenessProbe, `${id}: probes`);
      assert.ok(c.resources?.requests?.cpu && c.resources?.limits?.memory, `${id}: resources`);
      if (c.image === 'cosigner') assert.ok(existsSync(join(root, c.command[1])), `${id}: ${c.command[1]} missing`);
      const grpcPort = c.readinessProbe.grpc?.port;
      if (grpcPort) assert.ok((c.ports as Obj[]).some((p) => p.containerPort === grpcPort), `${id}: probe port not exposed`);
    }
    assert.equal(w.spec.selector.matchLabels.app, w.spec.template.metadata.labels.app);
  }
  const hpa = docs.find((d) => d.kind === 'HorizontalPodAutoscaler');
  assert.equal(hpa?.spec.scaleTargetRef.name, 'dispatcher');
  assert.ok(docs.some((d) => d.kind === 'Deployment' && d.metadata.name === 'dispatcher'));
  const nats = docs.find((d) => d.kind === 'StatefulSet' && d.metadata.name === 'nats')!;
  assert.equal(nats.spec.replicas, 3);
  const natsConf = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'nats-config')!.data['nats.conf'] as string;
  assert.equal((natsConf.match(/nats-\d\.nats-headless:6222/g) ?? []).length, 3);
  assert.match(natsConf, /jetstream/);
  const cfg = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'cosigner-config')!;
  assert.equal(cfg.data.NATS_STREAM_REPLICAS, '3');
  const services = new Set(docs.filter((d) => d.kind === 'Service').map((d) => d.metadata.name));
  for (const url of ['INTAKE_URL', 'PAIRING_URL', 'KEYS_URL', 'WORKSPACE_URL']) assert.ok(services.has(String(cfg.data[url]).split(':')[0]), url);
});

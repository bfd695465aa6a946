/**
 * Kubernetes manifests, checked offline with what the platform itself uses: `kubectl kustomize`
 * renders the base and every overlay (exactly as `kubectl apply -k` would), and every rendered
 * object is checked against the Kubernetes OpenAPI schemas (kubernetes-models: the schema of
 * each field, and, through its TypeScript declarations, no field the API does not know, as
 * kubectl's default `--validate=strict` refuses them). Then what the design asks of the
 * deployment: NATS as a 3-node JetStream cluster with TLS, generated authorization, R3 streams and
 * fsync on every write (its configuration parsed by a real nats-server), hardened workloads, the
 * dispatcher's HPA, the sealed volume of the mpc-signer, one Secret per workload holding only what
 * it needs, and NetworkPolicies that allow exactly the design's flows.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { parseTrustConfig } from '@cosigner/trust';
import { parsePartyPins } from '@cosigner/party';
import { NATS_USER, generate, type Workload } from '../init/generate.ts';
import { nkeyUserOf } from './nats-conf.ts';
import { checkNatsConf } from './nats-conf.ts';
import { DEPLOY, ROOT, requireTool, run, scratchCopy, which, type Obj } from './tools.ts';

const OVERLAYS = ['dev', 'production'] as const;
type Target = 'base' | (typeof OVERLAYS)[number];

const kubectl = which('kubectl');
let scratch: { path: string; remove: () => void } | undefined;
const rendered = new Map<Target, Obj[]>();

/** Gives an overlay the inputs an operator provides (dev: generated secrets; production: its files). */
function provideInputs(k8s: string): void {
  const dev = join(k8s, 'overlays', 'dev', 'secrets');
  generate({ out: dev, namespace: 'cosigner' });
  const prod = join(k8s, 'overlays', 'production');
  copyFileSync(join(prod, 'trust.json.example'), join(prod, 'trust.json'));
  copyFileSync(join(prod, 'party-pins.env.example'), join(prod, 'party-pins.env'));
  copyFileSync(join(dev, 'public', 'approval.pub.pem'), join(prod, 'approval.pub.pem'));
  copyFileSync(join(dev, 'public', 'ca.pem'), join(prod, 'ca.pem'));
}

function render(k8s: string, target: Target): Obj[] {
  const dir = target === 'base' ? join(k8s, 'base') : join(k8s, 'overlays', target);
  const r = run(kubectl!, ['kustomize', dir]);
  assert.equal(r.status, 0, `kubectl kustomize ${target}: ${r.stderr}`);
  const docs = parseAllDocuments(r.stdout).map((d) => {
    assert.equal(d.errors.length, 0, `${target}: ${d.errors.join()}`);
    return d.toJS() as Obj;
  });
  return docs.filter((d) => d !== null);
}

before(() => {
  if (!kubectl) return;
  scratch = scratchCopy(join(DEPLOY, 'k8s'), 'cosigner-k8s-');
  provideInputs(scratch.path);
  for (const t of ['base', ...OVERLAYS] as const) rendered.set(t, render(scratch.path, t));
});
after(() => scratch?.remove());

function docsOf(t: TestContextLike, target: Target): Obj[] | undefined {
  if (!requireTool(t as never, 'kubectl', 'CI_REQUIRE_KUBECTL')) return undefined;
  return rendered.get(target)!;
}
type TestContextLike = { skip: (m?: string) => void };

const id = (o: Obj): string => `${o.kind}/${o.metadata?.name}`;
const find = (docs: Obj[], kind: string, name: string): Obj => {
  const o = docs.find((d) => d.kind === kind && d.metadata?.name === name);
  assert.ok(o, `${kind}/${name} missing`);
  return o;
};
const workloads = (docs: Obj[]): Obj[] => docs.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet');

test('kubectl kustomize renders the base and every overlay', (t) => {
  if (!requireTool(t, 'kubectl', 'CI_REQUIRE_KUBECTL')) return;
  for (const target of ['base', ...OVERLAYS] as const) assert.ok(rendered.get(target)!.length > 10, target);
});

test('the production overlay refuses to render without its trust configuration', (t) => {
  if (!requireTool(t, 'kubectl', 'CI_REQUIRE_KUBECTL')) return;
  const prod = join(scratch!.path, 'overlays', 'production');
  const saved = readFileSync(join(prod, 'trust.json'));
  rmSync(join(prod, 'trust.json'));
  try {
    const r = run(kubectl!, ['kustomize', prod]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /trust\.json/);
  } finally {
    writeFileSync(join(prod, 'trust.json'), saved);
  }
});

/** The kubernetes-models class for an object (throws for a kind it does not know). */
async function modelClass(o: Obj): Promise<new (d: Obj) => { validate(): void }> {
  const mod = (await import(`kubernetes-models/${o.apiVersion}`)) as Record<string, unknown>;
  const cls = mod[o.kind];
  assert.equal(typeof cls, 'function', `${o.apiVersion} ${o.kind}: not a Kubernetes kind`);
  return cls as new (d: Obj) => { validate(): void };
}

test('every rendered object validates against the Kubernetes OpenAPI schemas', async (t) => {
  if (!requireTool(t, 'kubectl', 'CI_REQUIRE_KUBECTL')) return;
  for (const target of ['base', ...OVERLAYS] as const) {
    for (const rendered_ of rendered.get(target)!) {
      const o = structuredClone(rendered_);
      // kustomize folds long base64 values over lines; the API server's decoder (Go's
      // encoding/base64) ignores line breaks, the schema's `byte` pattern does not.
      if (o.kind === 'Secret') for (const k of Object.keys(o.data ?? {})) o.data[k] = String(o.data[k]).replace(/\n/g, '');
      const Model = await modelClass(o);
      assert.doesNotThrow(() => new Model(o).validate(), (e: Error) => assert.fail(`${target} ${id(o)}: ${e.message}`));
    }
  }
});

/**
 * Unknown fields: kubectl applies with --validate=strict, which refuses a field the schema does not
 * have (a misspelt `readinessProbe` would otherwise be dropped silently). Each object becomes an
 * object literal typed with its kubernetes-models interface; TypeScript's excess-property check
 * then names any field the API does not define.
 */
function unknownFieldErrors(objs: Obj[]): string[] {
  const imports = new Map<string, Set<string>>();
  const lines: string[] = [];
  objs.forEach((o, i) => {
    const spec = `kubernetes-models/${o.apiVersion}`;
    if (!imports.has(spec)) imports.set(spec, new Set());
    const alias = `I${o.kind}_${imports.size}`;
    imports.get(spec)!.add(`I${o.kind} as ${alias}`);
    lines.push(`export const o${i}: ${alias} = ${JSON.stringify(o)}; // ${id(o)}`);
  });
  const src = [...[...imports].map(([spec, names]) => `import type { ${[...names].join(', ')} } from '${spec}';`), ...lines].join('\n');
  const file = join(DEPLOY, 'test', '__rendered_objects__.ts');
  const options: ts.CompilerOptions = {
    strict: true, noEmit: true, skipLibCheck: true, types: [],
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, src, lang) : getSourceFile(name, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const where = line >= 0 ? src.split('\n')[line]?.split('// ')[1] ?? '' : '';
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}

test('no rendered object carries a field the Kubernetes API does not know (kubectl --validate=strict)', (t) => {
  if (!requireTool(t, 'kubectl', 'CI_REQUIRE_KUBECTL')) return;
  const all = [...rendered.get('dev')!, ...rendered.get('production')!];
  assert.deepEqual(unknownFieldErrors(all), []);
  // The check can fail: a misspelt field is named.
  const bad = structuredClone(find(all, 'Deployment', 'dispatcher'));
  bad.spec.template.spec.containers[0].readinessprobe = { grpc: { port: 50060 } };
  const errors = unknownFieldErrors([bad]);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /Deployment\/dispatcher: .*readinessprobe/);
});

test('workloads: probes, requests and limits, non-root, read-only root filesystem, Pod Security restricted', (t) => {
  for (const target of OVERLAYS) {
    const docs = docsOf(t, target);
    if (!docs) return;
    const ns = find(docs, 'Namespace', 'cosigner');
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    for (const w of workloads(docs)) {
      const where = `${target} ${id(w)}`;
      const pod = w.spec.template.spec as Obj;
      assert.equal(pod.securityContext?.runAsNonRoot, true, `${where}: runAsNonRoot`);
      assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${where}: seccomp`);
      assert.equal(pod.automountServiceAccountToken, false, `${where}: service account token`);
      assert.deepEqual(w.spec.selector.matchLabels, { app: w.metadata.name }, where);
      assert.equal(w.spec.template.metadata.labels.app, w.metadata.name, where);
      for (const c of pod.containers as Obj[]) {
        assert.ok(c.readinessProbe && c.livenessProbe, `${where}: probes`);
        for (const k of ['cpu', 'memory']) {
          assert.ok(c.resources?.requests?.[k], `${where}: requests.${k}`);
          assert.ok(c.resources?.limits?.[k], `${where}: limits.${k}`);
        }
        assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${where}: read-only root`);
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}: privilege escalation`);
        assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${where}: capabilities`);
        const ports = new Set<unknown>((c.ports as Obj[] | undefined ?? []).flatMap((p) => [p.containerPort, p.name]));
        for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe].filter(Boolean) as Obj[]) {
          const port = probe.grpc?.port ?? probe.httpGet?.port;
          assert.ok(ports.has(port), `${where}: probe port ${port} is not a container port`);
        }
        if (String(c.image).includes('cosigner')) {
          assert.ok(existsSync(join(ROOT, c.command[1])), `${where}: ${c.command[1]} missing`);
          const grpcProbe = c.readinessProbe.grpc?.port;
          const env = Object.fromEntries((c.env as Obj[]).filter((e) => 'value' in e).map((e) => [e.name, e.value]));
          const served: number = Number(env.GRPC_PORT ?? find(docs, 'ConfigMap', 'cosigner-config').data.HEALTH_PORT);
          assert.equal(grpcProbe, served, `${where}: the gRPC probe asks a port the service does not serve`);
        }
      }
    }
  }
});

test('NATS: 3-node JetStream cluster, R3 streams, sync_interval always, TLS on clients and routes, generated authorization', (t) => {
  for (const target of OVERLAYS) {
    const docs = docsOf(t, target);
    if (!docs) return;
    const sts = find(docs, 'StatefulSet', 'nats');
    assert.equal(sts.spec.replicas, 3);
    assert.match(sts.spec.template.spec.containers[0].image, /^nats:2\.(1[0-9])/, 'nats-server 2.10+ (sync_interval)');
    const conf = find(docs, 'ConfigMap', 'nats-config').data['nats.conf'] as string;
    assert.equal((conf.match(/nats:\/\/nats-\d\.nats-headless:6222/g) ?? []).length, 3);
    assert.match(conf, /jetstream \{[^}]*sync_interval: always/s);
    assert.match(conf, /^tls \{[^}]*cert_file/m, 'client TLS');
    assert.match(conf, /cluster \{.*tls \{[^}]*verify: true/s, 'route mTLS');
    assert.match(conf, /^include "secrets\/auth\.conf"$/m);
    assert.equal(find(docs, 'ConfigMap', 'cosigner-config').data.NATS_JS_REPLICAS, '3');
    assert.match(find(docs, 'ConfigMap', 'cosigner-config').data.NATS_TLS_CA_FILE, /ca\.pem$/);
    const pdb = find(docs, 'PodDisruptionBudget', 'nats');
    assert.equal(pdb.spec.maxUnavailable, 1);
  }
  const dev = rendered.get('dev')!;
  const natsSecret = dev.find((d) => d.kind === 'Secret' && d.metadata.name.startsWith('nats-secrets'))!;
  assert.deepEqual(Object.keys(natsSecret.data).sort(), ['auth.conf', 'ca.pem', 'server.key', 'server.pem']);
  const cert = new X509Certificate(Buffer.from(natsSecret.data['server.pem'], 'base64'));
  // The names clients (nats, nats.cosigner.svc) and routes (nats-N.nats-headless[...]) dial.
  for (const host of ['nats', 'nats.cosigner.svc', 'nats-0.nats-headless', 'nats-1.nats-headless', 'nats-2.nats-headless', 'nats-2.nats-headless.cosigner.svc.cluster.local'])
    assert.equal(cert.checkHost(host), host, `certificate does not name ${host}`);
  assert.ok(cert.verify(new X509Certificate(Buffer.from(natsSecret.data['ca.pem'], 'base64')).publicKey));
});

test('the NATS cluster configuration is accepted by nats-server', (t) => {
  const docs = docsOf(t, 'base');
  if (!docs) return;
  const conf = find(docs, 'ConfigMap', 'nats-config').data['nats.conf'] as string;
  const dir = join(scratch!.path, 'nats-check');
  mkdirSync(join(dir, 'secrets'), { recursive: true });
  const gen = join(scratch!.path, 'overlays', 'dev', 'secrets', 'nats');
  for (const f of ['server.pem', 'server.key', 'ca.pem', 'auth.conf']) copyFileSync(join(gen, f), join(dir, 'secrets', f));
  const checked = checkNatsConf(conf.replaceAll('/etc/nats/', `${dir}/`).replace('store_dir: /data', `store_dir: ${dir}/data`), dir, { POD_NAME: 'nats-0' });
  assert.equal(checked.status, 0, checked.stderr + checked.stdout);
});

test('the dispatcher scales on its own (HPA); intake and NATS keep capacity through disruptions', (t) => {
  const docs = docsOf(t, 'production');
  if (!docs) return;
  const hpa = find(docs, 'HorizontalPodAutoscaler', 'dispatcher');
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'dispatcher' });
  assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas);
  const d = find(docs, 'Deployment', 'dispatcher');
  assert.equal(d.spec.template.spec.containers[0].resources.requests.cpu !== undefined, true, 'HPA on CPU needs a CPU request');
  find(docs, 'PodDisruptionBudget', 'dispatcher');
  find(docs, 'PodDisruptionBudget', 'intake');
});

test('mpc-signer and each cloud party are StatefulSets whose sealed volume holds COSIGNER_DATA_DIR', (t) => {
  const docs = docsOf(t, 'production');
  if (!docs) return;
  for (const name of ['mpc-signer', 'cloud-1', 'cloud-2']) {
    const s = find(docs, 'StatefulSet', name);
    assert.equal(s.spec.replicas, 1, `${name}: one party, one replica`);
    const claim = (s.spec.volumeClaimTemplates as Obj[]).map((v) => v.metadata.name);
    const c = s.spec.template.spec.containers[0];
    const dataDir = (c.env as Obj[]).find((e) => e.name === 'COSIGNER_DATA_DIR')!.value;
    const mount = (c.volumeMounts as Obj[]).find((m) => m.mountPath === dataDir);
    assert.ok(mount && claim.includes(mount.name), `${name}: ${dataDir} is not on a persistent volume`);
  }
});

/** What each workload's Secret holds: exactly what it needs (DESIGN.md "Who holds which private key"). */
const SECRET_KEYS: Record<string, string[]> = {
  pairing: ['COSIGNER_ADMIN_TOKEN', 'callback.key.pem', 'identity.key.pem', 'nats.nk'],
  intake: ['COSIGNER_ADMIN_TOKEN', 'nats.nk'],
  dispatcher: ['approval.key.pem', 'callback.key.pem', 'nats.nk'],
  'mpc-signer': ['COSIGNER_ADMIN_TOKEN', 'nats.nk', 'sealing.key'],
  'cloud-1': ['nats.nk', 'sealing.key'],
  'cloud-2': ['nats.nk', 'sealing.key'],
  'workspace-sim': ['COSIGNER_ADMIN_TOKEN', 'nats.nk'],
};

/** The Secrets a pod spec reads (volumes, env, envFrom). */
function secretsUsed(pod: Obj): Set<string> {
  const out = new Set<string>();
  for (const v of (pod.volumes ?? []) as Obj[]) if (v.secret) out.add(v.secret.secretName);
  for (const c of pod.containers as Obj[]) {
    for (const e of (c.env ?? []) as Obj[]) if (e.valueFrom?.secretKeyRef) out.add(e.valueFrom.secretKeyRef.name);
    for (const e of (c.envFrom ?? []) as Obj[]) if (e.secretRef) out.add(e.secretRef.name);
  }
  return out;
}

test('a Secret per workload, holding only what that workload needs; each workload reads only its own', (t) => {
  const docs = docsOf(t, 'dev');
  if (!docs) return;
  const prod = rendered.get('production')!;
  // kustomize suffixes generated names with a content hash and rewrites the references.
  const base = (n: string): string => n.replace(/-[a-z0-9]{10}$/, '');
  for (const w of workloads(docs)) {
    const app = w.metadata.name as string;
    const used = [...secretsUsed(w.spec.template.spec)].map(base);
    if (app === 'nats') assert.deepEqual(used, ['nats-secrets']);
    else if (app === 'jaeger') assert.deepEqual(used, []);
    else {
      assert.deepEqual(used, [`${app}-secrets`], `${app} reads ${used.join()}`);
      const secret: Obj = docs.find((d) => d.kind === 'Secret' && base(d.metadata.name) === `${app}-secrets`)!;
      assert.deepEqual(Object.keys(secret.data).sort(), SECRET_KEYS[app], `${app}-secrets`);
      // Every secret file the workload is pointed at is a key of its own Secret.
      const c = w.spec.template.spec.containers[0];
      for (const e of c.env as Obj[]) {
        const m = /^\/run\/cosigner\/secrets\/(.+)$/.exec(String(e.value ?? ''));
        if (m) assert.ok(m[1]! in secret.data, `${app}: ${e.name} names ${m[1]}, absent from its Secret`);
      }
    }
  }
  // Each workload connects as its own NATS user: its seed is the nkey auth.conf gives that
  // service's allow-lists to, and its inbox prefix is the one that user may subscribe to.
  const authConf = Buffer.from(docs.find((d) => d.kind === 'Secret' && base(d.metadata.name) === 'nats-secrets')!.data['auth.conf'], 'base64').toString();
  for (const w of workloads(docs)) {
    const app = w.metadata.name as Workload;
    if (!(app in NATS_USER)) continue;
    const secret: Obj = docs.find((d) => d.kind === 'Secret' && base(d.metadata.name) === `${app}-secrets`)!;
    assert.equal(nkeyUserOf(authConf, Buffer.from(secret.data['nats.nk'], 'base64').toString()), NATS_USER[app], `${app}: NATS user`);
    const env = w.spec.template.spec.containers[0].env as Obj[];
    assert.equal(env.find((e) => e.name === 'NATS_INBOX_PREFIX')?.value, `_INBOX_${NATS_USER[app]}`, `${app}: inbox prefix`);
  }
  // Private keys are where the design puts them and nowhere else.
  const holders = (key: string): string[] => docs.filter((d) => d.kind === 'Secret' && key in d.data).map((d) => base(d.metadata.name)).sort();
  assert.deepEqual(holders('approval.key.pem'), ['dispatcher-secrets']);
  assert.deepEqual(holders('sealing.key'), ['cloud-1-secrets', 'cloud-2-secrets', 'mpc-signer-secrets']);
  assert.deepEqual(holders('identity.key.pem'), ['pairing-secrets']);
  assert.notEqual(find(docs, 'Secret', docs.find((d) => d.kind === 'Secret' && base(d.metadata.name) === 'cloud-1-secrets')!.metadata.name).data['sealing.key'],
    docs.find((d) => d.kind === 'Secret' && base(d.metadata.name) === 'cloud-2-secrets')!.data['sealing.key']);
  // Production ships no secret values: the operator creates these Secrets (deploy/README.md lists them).
  assert.deepEqual(prod.filter((d) => d.kind === 'Secret'), []);
  const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
  for (const w of workloads(prod)) for (const s of secretsUsed(w.spec.template.spec)) assert.ok(readme.includes(s), `README does not document Secret ${s}`);
});

test('dev runs Jaeger and the workspace simulator; production runs neither and takes the trust configuration and pins as input', (t) => {
  const dev = docsOf(t, 'dev');
  if (!dev) return;
  const prod = rendered.get('production')!;
  find(dev, 'Deployment', 'jaeger');
  find(dev, 'Deployment', 'workspace-sim');
  assert.ok(!prod.some((d) => /jaeger|workspace-sim/.test(d.metadata.name)), 'production has no simulator and no Jaeger');
  assert.equal(find(dev, 'ConfigMap', 'cosigner-config').data.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://jaeger:4318');
  assert.ok(find(prod, 'ConfigMap', 'cosigner-config').data.OTEL_EXPORTER_OTLP_ENDPOINT);
  const trust = prod.find((d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith('cosigner-trust'))!;
  assert.equal(trust.data['trust.json'], readFileSync(join(DEPLOY, 'k8s', 'overlays', 'production', 'trust.json.example'), 'utf8'));
  assert.equal(parseTrustConfig(trust.data['trust.json']).entries.length, 1);
  const pins = prod.find((d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith('party-pins'))!;
  assert.deepEqual([...parsePartyPins(pins.data.COSIGNER_PARTY_PINS).keys()].sort(), ['cloud-1', 'cloud-2', 'customer']);
  for (const name of ['mpc-signer', 'cloud-1', 'cloud-2']) {
    const env = find(prod, 'StatefulSet', name).spec.template.spec.containers[0].env as Obj[];
    assert.equal(env.find((e) => e.name === 'COSIGNER_PARTY_PINS')!.valueFrom.configMapKeyRef.name, pins.metadata.name, `${name}: pins`);
  }
  const image = find(prod, 'Deployment', 'dispatcher').spec.template.spec.containers[0].image as string;
  assert.ok(!image.endsWith(':latest') && image.includes(':'), `production image pinned: ${image}`);
});

// ---- NetworkPolicies: evaluate them over the rendered pods ----

interface Pod { app: string; labels: Record<string, string>; ports: number[] }

function podsOf(docs: Obj[]): Pod[] {
  return workloads(docs).map((w) => ({
    app: w.metadata.name,
    labels: w.spec.template.metadata.labels,
    ports: (w.spec.template.spec.containers as Obj[]).flatMap((c) => ((c.ports ?? []) as Obj[]).map((p) => p.containerPort as number)),
  }));
}

function selects(sel: Obj | undefined, labels: Record<string, string>): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries((sel.matchLabels ?? {}) as Record<string, string>)) if (labels[k] !== v) return false;
  for (const e of (sel.matchExpressions ?? []) as Obj[]) {
    const has = e.key in labels;
    if (e.operator === 'In' && !(has && (e.values as string[]).includes(labels[e.key]!))) return false;
    if (e.operator === 'NotIn' && has && (e.values as string[]).includes(labels[e.key]!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** Does a peer list (from/to) admit a pod of our namespace? ipBlocks never match pods. */
function peersAdmit(peers: Obj[] | undefined, pod: Pod, nsLabels: Record<string, string>): boolean {
  if (!peers || peers.length === 0) return true;
  return peers.some((p) => {
    if (p.ipBlock) return false;
    if (p.namespaceSelector && !selects(p.namespaceSelector, nsLabels)) return false;
    return selects(p.podSelector ?? {}, pod.labels);
  });
}

const portsAdmit = (ports: Obj[] | undefined, port: number): boolean => !ports || ports.length === 0 || ports.some((p) => p.port === port && (p.protocol ?? 'TCP') === 'TCP');

/** Every (source app -> destination app:port) the policies allow inside the namespace. */
function allowedFlows(docs: Obj[]): Set<string> {
  const policies = docs.filter((d) => d.kind === 'NetworkPolicy');
  const nsLabels = { 'kubernetes.io/metadata.name': 'cosigner', ...find(docs, 'Namespace', 'cosigner').metadata.labels };
  const pods = podsOf(docs);
  const allowed = (pod: Pod, dir: 'Ingress' | 'Egress', peer: Pod, port: number): boolean => {
    const applying = policies.filter((p) => selects(p.spec.podSelector, pod.labels) && (p.spec.policyTypes as string[]).includes(dir));
    if (applying.length === 0) return true;
    return applying.some((p) => ((dir === 'Ingress' ? p.spec.ingress : p.spec.egress) ?? []).some((r: Obj) =>
      peersAdmit(dir === 'Ingress' ? r.from : r.to, peer, nsLabels) && portsAdmit(r.ports, port)));
  };
  const out = new Set<string>();
  for (const src of pods) for (const dst of pods) for (const port of dst.ports) {
    if (src.app === dst.app && dst.app !== 'nats') continue;
    if (allowed(src, 'Egress', dst, port) && allowed(dst, 'Ingress', src, port)) out.add(`${src.app}->${dst.app}:${port}`);
  }
  return out;
}

test('NetworkPolicies allow exactly the design\'s flows between the workloads', (t) => {
  const dev = docsOf(t, 'dev');
  if (!dev) return;
  const clients = ['pairing', 'intake', 'dispatcher', 'mpc-signer', 'cloud-1', 'cloud-2'];
  const expected = (withSim: boolean): string[] => {
    const c = withSim ? [...clients, 'workspace-sim'] : clients;
    return [
      ...c.map((s) => `${s}->nats:4222`),
      'nats->nats:6222',
      ...(withSim ? ['workspace-sim->intake:50052', 'pairing->workspace-sim:50054', 'intake->workspace-sim:50054', ...c.map((s) => `${s}->jaeger:4318`)] : []),
    ].sort();
  };
  assert.deepEqual([...allowedFlows(dev)].sort(), expected(true));
  assert.deepEqual([...allowedFlows(rendered.get('production')!)].sort(), expected(false));
  // A default deny covers every pod, both ways; and the evaluator can see a hole.
  const deny = find(dev, 'NetworkPolicy', 'default-deny');
  assert.deepEqual(deny.spec, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  const open = dev.filter((d) => !(d.kind === 'NetworkPolicy' && d.metadata.name === 'nats'));
  assert.ok(!allowedFlows(open).has('pairing->nats:4222'));
});

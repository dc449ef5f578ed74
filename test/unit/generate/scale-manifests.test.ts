/**
 * The generated scale-out files (issue 12 §3) against the real validators: the Kubernetes API
 * schemas (npm `kubernetes-models`, offline) for k8s/*.yaml, and Debian's docker-compose
 * (`docker-compose -f stack.yml config -q`, installed by scripts/setup.sh --test) for stack.yml.
 * Names that are not DNS-1123 labels are made into distinct valid ones.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Service } from 'kubernetes-models/v1/Service';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { dnsLabel, kubernetesObjects, scaleOutFiles, stackFile } from '../../../main/generate/scale-manifests.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-scale-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const NAMES = ['dcgan', 'PROBE-Upper', 'probe-upper', 'my_model.v2', 'a'.repeat(80), 'x__y'];

describe('Kubernetes manifests', () => {
  it.each(NAMES)('%s: the Deployment and Service validate against the API schemas', (name) => {
    const files = scaleOutFiles(name, 'v1', { replicas: 3, memoryMb: 1024, startPeriodS: 60, stopGraceS: 12 });
    const deployment = YAML.parse(files['k8s/deployment.yaml'] ?? '') as Record<string, unknown>;
    const service = YAML.parse(files['k8s/service.yaml'] ?? '') as Record<string, unknown>;
    // validate() throws with the failing paths when an object does not fit the schema.
    expect(() => new Deployment(deployment).validate()).not.toThrow();
    expect(() => new Service(service).validate()).not.toThrow();
    const label = dnsLabel(name);
    expect(label).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(label.length).toBeLessThanOrEqual(63);
    expect(deployment).toMatchObject({ metadata: { name: label }, spec: { replicas: 3, strategy: { rollingUpdate: { maxUnavailable: 0 } } } });
    expect(service).toMatchObject({ metadata: { name: label }, spec: { selector: { 'app.kubernetes.io/name': label } } });
  });

  it('probes /ready and /health, sizes resources and grace, runs non-root and read-only', () => {
    const { deployment } = kubernetesObjects('dcgan', 'v7', { memoryMb: 512, startPeriodS: 40, stopGraceS: 9 });
    const pod = (deployment['spec'] as { template: { spec: Record<string, unknown> } }).template.spec;
    const c = (pod['containers'] as Record<string, unknown>[])[0] ?? {};
    expect(c['readinessProbe']).toMatchObject({ httpGet: { path: '/ready', port: 'http' } });
    expect(c['livenessProbe']).toMatchObject({ httpGet: { path: '/health', port: 'http' } });
    expect(c['startupProbe']).toMatchObject({ httpGet: { path: '/ready' }, periodSeconds: 2, failureThreshold: 20 });
    expect(c['resources']).toEqual({ requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } });
    expect(c['securityContext']).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(pod['securityContext']).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(pod['terminationGracePeriodSeconds']).toBe(9);
    expect(c['image']).toBe('frameworm/dcgan:v7');
  });

  it('a schema violation is caught by the validator (the test would see a broken manifest)', () => {
    const { deployment } = kubernetesObjects('dcgan', 'v1');
    const broken = { ...deployment, spec: { ...(deployment['spec'] as object), replicas: 'two' } };
    expect(() => new Deployment(broken as unknown as ConstructorParameters<typeof Deployment>[0]).validate()).toThrow();
  });

  it('names that differ only in case or punctuation get distinct labels', () => {
    const labels = NAMES.map(dnsLabel);
    expect(new Set(labels).size).toBe(NAMES.length);
    expect(dnsLabel('dcgan')).toBe('dcgan');
  });
});

describe('stack.yml', () => {
  it.each(['dcgan', 'PROBE-Upper'])('%s: docker-compose config -q accepts it', (name) => {
    const file = path.join(dir, `${dnsLabel(name)}-stack.yml`);
    fs.writeFileSync(file, scaleOutFiles(name, 'v2', { replicas: 2, hostPort: 8123 })['stack.yml'] ?? '');
    // Throws (non-zero exit, with the reason on stderr) when the file is invalid.
    execFileSync('docker-compose', ['-f', file, 'config', '-q'], { stdio: 'pipe', cwd: dir });
    const doc = YAML.parse(fs.readFileSync(file, 'utf8')) as { services: Record<string, Record<string, unknown>> };
    const svc = doc.services[dnsLabel(name)] ?? {};
    expect(svc['deploy']).toMatchObject({ replicas: 2, update_config: { parallelism: 1, order: 'start-first', failure_action: 'rollback' }, restart_policy: { condition: 'any' } });
    expect(svc).toMatchObject({ read_only: true, cap_drop: ['ALL'], user: '10001:10001', ports: [{ target: 8080, published: 8123 }] });
    expect(svc['security_opt']).toBeUndefined();
  });

  it('an invalid stack file is refused by docker-compose (the validator really checks)', () => {
    const file = path.join(dir, 'bad-stack.yml');
    const doc = stackFile('dcgan', 'v1') as { services: Record<string, Record<string, unknown>> };
    (doc.services['dcgan'] as Record<string, unknown>)['deploy'] = { replicas: 'many' };
    fs.writeFileSync(file, YAML.stringify(doc));
    expect(() => execFileSync('docker-compose', ['-f', file, 'config', '-q'], { stdio: 'pipe', cwd: dir })).toThrow();
  });
});

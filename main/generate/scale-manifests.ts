/**
 * Scale-out files generated next to a version's Dockerfile (issue 12 §3), for users who run the
 * image on a cluster of their own rather than through this control plane:
 *
 *   stack.yml            `docker stack deploy -c stack.yml NAME` on a (multi-node) swarm
 *   k8s/deployment.yaml  a Deployment: readiness / liveness / startup probes, resources,
 *                        non-root read-only security context, rolling update with maxUnavailable 0
 *   k8s/service.yaml     a ClusterIP Service in front of it
 *
 * On a real cluster the routing mesh (swarm ingress) or the Service spreads requests, so each
 * task listens on the image's own port 8080 and updates start the new task first; the control
 * plane's own swarm target (one node without iptables here) uses per-task host ports and
 * stop-first instead (main/docker/swarm-spec.ts). docs/scale-out.md explains both.
 */
import crypto from 'node:crypto';
import YAML from 'yaml';
import { FramewormError } from '../common/errors.js';
import { CONTAINER_PIDS_LIMIT } from '../docker/hardening.js';
import { imageRef } from '../docker/image-names.js';

export interface ScaleOutOptions {
  /** Default 2 (deploy.swarm_replicas). */
  readonly replicas?: number;
  /** Memory limit per replica, MiB; default 2048 (deploy.container_memory_mb). */
  readonly memoryMb?: number;
  /** Port the stack publishes on the swarm's routing mesh; default 8000. */
  readonly hostPort?: number;
  /** Longest a model may take to load before its replica counts as failed, s; default 180. */
  readonly startPeriodS?: number;
  /** Time a stopping replica gets to finish its requests, s; default 30. */
  readonly stopGraceS?: number;
}

/** The generated server's port inside its container and its non-root user. */
const CONTAINER_PORT = 8080;
const USER_ID = 10001;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * A valid DNS-1123 label (Kubernetes object names): lowercase letters, digits and '-', starting
 * and ending alphanumeric, at most 63 characters. A name that is not one already is lowercased,
 * its other characters become '-', and 8 hex of its sha256 are appended, so two names that map
 * to the same text (case variants, '.' vs '_') still get different labels.
 */
export function dnsLabel(name: string): string {
  if (DNS_LABEL.test(name) && name.length <= 63) return name;
  const hash = crypto.createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 8);
  const base = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-+|-+$/g, '').slice(0, 54).replace(/-+$/, '');
  return base ? `${base}-${hash}` : `m-${hash}`;
}

/** A Kubernetes label value for a version (≤ 63, alphanumeric at both ends), hashed when it is not one. */
function labelValue(value: string): string {
  if (value.length <= 63 && LABEL_VALUE.test(value)) return value;
  return `v-${crypto.createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 12)}`;
}

function checkOptions(o: ScaleOutOptions): Required<ScaleOutOptions> {
  const r = { replicas: o.replicas ?? 2, memoryMb: o.memoryMb ?? 2048, hostPort: o.hostPort ?? 8000, startPeriodS: o.startPeriodS ?? 180, stopGraceS: o.stopGraceS ?? 30 };
  if (!Number.isInteger(r.replicas) || r.replicas < 1) throw new FramewormError('E_USAGE', `replicas must be an integer ≥ 1 (got ${r.replicas})`);
  if (!Number.isInteger(r.memoryMb) || r.memoryMb < 64) throw new FramewormError('E_USAGE', `memory must be an integer ≥ 64 MiB (got ${r.memoryMb})`);
  if (!Number.isInteger(r.hostPort) || r.hostPort < 1 || r.hostPort > 65535) throw new FramewormError('E_USAGE', `invalid host port ${r.hostPort} (1-65535)`);
  return r;
}

const HEALTH_TEST = ['CMD', 'python3', '-c', `import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:${CONTAINER_PORT}/ready', timeout=4).status == 200 else 1)`];

/** The stack file (compose format 3.8) of one version. */
export function stackFile(name: string, version: string, options: ScaleOutOptions = {}): object {
  const o = checkOptions(options);
  const service = dnsLabel(name);
  const monitorS = Math.max(10, Math.min(120, Math.ceil(o.startPeriodS / 3)));
  return {
    version: '3.8',
    services: {
      [service]: {
        image: imageRef(name, version),
        ports: [{ target: CONTAINER_PORT, published: o.hostPort, protocol: 'tcp', mode: 'ingress' }],
        environment: { FRAMEWORM_MODEL_NAME: name, FRAMEWORM_MODEL_VERSION: version },
        user: `${USER_ID}:${USER_ID}`,
        read_only: true,
        cap_drop: ['ALL'],
        // security_opt (no-new-privileges) is ignored by `docker stack deploy`: not written.
        volumes: [{ type: 'tmpfs', target: '/tmp', tmpfs: { size: 268_435_456 } }],
        healthcheck: { test: HEALTH_TEST, interval: '5s', timeout: '5s', retries: 3, start_period: `${o.startPeriodS}s` },
        stop_grace_period: `${o.stopGraceS}s`,
        logging: { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } },
        deploy: {
          mode: 'replicated',
          replicas: o.replicas,
          // The routing mesh publishes the port, so a new task can start before the old one stops.
          update_config: { parallelism: 1, delay: '0s', order: 'start-first', failure_action: 'rollback', monitor: `${monitorS}s`, max_failure_ratio: 0 },
          rollback_config: { parallelism: 1, delay: '0s', order: 'start-first', failure_action: 'pause', monitor: `${monitorS}s`, max_failure_ratio: 0 },
          restart_policy: { condition: 'any', delay: '1s', window: '30s' },
          resources: { limits: { memory: `${o.memoryMb}M` }, reservations: { memory: `${Math.min(o.memoryMb, 256)}M` } },
        },
      },
    },
  };
}

/** The Deployment and the Service of one version. */
export function kubernetesObjects(name: string, version: string, options: ScaleOutOptions = {}): { deployment: Record<string, unknown>; service: Record<string, unknown> } {
  const o = checkOptions(options);
  const app = dnsLabel(name);
  const selector = { 'app.kubernetes.io/name': app };
  const labels = { ...selector, 'app.kubernetes.io/version': labelValue(version), 'app.kubernetes.io/managed-by': 'frameworm' };
  const probe = (p: string, periodSeconds: number, failureThreshold: number): object => ({ httpGet: { path: p, port: 'http' }, periodSeconds, timeoutSeconds: 4, failureThreshold });
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: app, labels, annotations: { 'frameworm.io/model': name, 'frameworm.io/version': version } },
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: selector },
      // No replica goes down before its replacement is ready (readiness probe on /ready).
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: o.stopGraceS,
          securityContext: { runAsNonRoot: true, runAsUser: USER_ID, runAsGroup: USER_ID, fsGroup: USER_ID, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'server',
              image: imageRef(name, version),
              imagePullPolicy: 'IfNotPresent',
              ports: [{ name: 'http', containerPort: CONTAINER_PORT, protocol: 'TCP' }],
              // Startup allows the whole load time; after it, liveness restarts a hung server.
              startupProbe: probe('/ready', 2, Math.max(1, Math.ceil(o.startPeriodS / 2))),
              readinessProbe: probe('/ready', 5, 3),
              livenessProbe: probe('/health', 10, 3),
              resources: { requests: { cpu: '250m', memory: `${Math.min(o.memoryMb, 256)}Mi` }, limits: { memory: `${o.memoryMb}Mi` } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, privileged: false, capabilities: { drop: ['ALL'] } },
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
            },
          ],
          volumes: [{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '256Mi' } }],
        },
      },
    },
  };
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: app, labels },
    spec: { type: 'ClusterIP', selector, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] },
  };
  return { deployment, service };
}

/** The texts of stack.yml and k8s/*.yaml, by path relative to the generated folder. */
export function scaleOutFiles(name: string, version: string, options: ScaleOutOptions = {}): Record<string, string> {
  const { deployment, service } = kubernetesObjects(name, version, options);
  const head = (what: string): string => `# Frameworm Deploy: ${name} ${version} (generated). ${what}\n# PIDs are limited by the container runtime's default here (pids_limit ${CONTAINER_PIDS_LIMIT} in docker-compose.yml).\n`;
  return {
    'stack.yml': `${head('docker stack deploy -c stack.yml <stack name>')}${YAML.stringify(stackFile(name, version, options))}`,
    'k8s/deployment.yaml': `${head('kubectl apply -f k8s/')}${YAML.stringify(deployment)}`,
    'k8s/service.yaml': `${head('kubectl apply -f k8s/')}${YAML.stringify(service)}`,
  };
}

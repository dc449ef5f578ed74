/**
 * Helpers the swarm test files share: the daemon's swarm state, this workspace's services and
 * a model's event log.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { DockerClient } from '../../../main/docker/docker-client.js';
import { SWARM_LABEL_WORKSPACE } from '../../../main/docker/swarm-spec.js';

/** A service as the daemon lists it (the parts the tests read). */
export interface ServiceDoc {
  readonly ID: string;
  readonly Spec: Record<string, unknown> & { readonly Name: string; readonly Labels: Record<string, string>; readonly Mode: { readonly Replicated: { readonly Replicas: number } } };
}

/** True when the daemon is a member of a swarm. */
export async function swarmActive(client: DockerClient): Promise<boolean> {
  const info = (await client.docker.info()) as { Swarm?: { LocalNodeState?: string } };
  return info.Swarm?.LocalNodeState === 'active';
}

/** Makes this machine a one-node swarm unless it already is one. */
export async function ensureSwarm(client: DockerClient): Promise<void> {
  if (!(await swarmActive(client))) await client.docker.swarmInit({ ListenAddr: '127.0.0.1:2377', AdvertiseAddr: '127.0.0.1' });
}

/** The swarm services labelled with workspace id `workspaceLabel`. */
export async function workspaceServices(client: DockerClient, workspaceLabel: string): Promise<ServiceDoc[]> {
  return (await client.docker.listServices({ filters: { label: [`${SWARM_LABEL_WORKSPACE}=${workspaceLabel}`] } })) as unknown as ServiceDoc[];
}

/** The JSONL event log of model `name` in workspace `ws`, parsed. */
export function readEventLog(ws: string, name: string): Record<string, unknown>[] {
  const text = fs.readFileSync(path.join(ws, 'experiments/deploy_logs', `${name}.jsonl`), 'utf8');
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * The drift worker thread: feature extraction (including the ONNX image embedder) and the
 * window tests run here, off the request path. The main thread posts sampled (request, answer)
 * copies; this thread keeps each deployment's DriftTracker and posts back every checked window.
 */
import { parentPort } from 'node:worker_threads';
import type { ModelType } from '../../common/types.js';
import { FeatureExtractor } from '../features/feature-extractor.js';
import type { GroupSamples } from '../stats/types.js';
import { DriftTracker, type TrackerSettings } from './drift-tracker.js';
import type { FromDriftWorker, ToDriftWorker } from './drift-protocol.js';

const port = parentPort;
if (!port) throw new Error('drift-worker must run in a worker thread');

const trackers = new Map<string, DriftTracker>();
const settingsOf = new Map<string, TrackerSettings>();
let extractor: Promise<FeatureExtractor> | null = null;
// Samples are handled one at a time, in arrival order.
let chain: Promise<void> = Promise.resolve();

function send(msg: FromDriftWorker): void {
  port?.postMessage(msg);
}

function tracker(name: string): DriftTracker | null {
  const existing = trackers.get(name);
  if (existing) return existing;
  const settings = settingsOf.get(name);
  if (!settings) return null;
  const t = new DriftTracker(settings);
  trackers.set(name, t);
  return t;
}

function parseAnswer(response: unknown): unknown {
  if (response instanceof Uint8Array) return JSON.parse(Buffer.from(response).toString('utf8')) as unknown;
  if (typeof response === 'string') return JSON.parse(response) as unknown;
  return response;
}

async function handleSample(msg: Extract<ToDriftWorker, { op: 'sample' }>): Promise<void> {
  const t = tracker(msg.name);
  if (!t) {
    send({ op: 'ack', name: msg.name });
    return;
  }
  extractor ??= FeatureExtractor.create();
  const fx = await extractor;
  const groups: GroupSamples[] = await fx.fromTraffic(msg.type as ModelType, msg.request, parseAnswer(msg.response), msg.latentDim ? { latentDim: msg.latentDim } : {});
  const out = t.add(groups);
  if (out === 'reference') send({ op: 'reference', name: msg.name, version: msg.version, rows: t.status().reference_rows, source: 'traffic' });
  else if (out) send({ op: 'check', name: msg.name, version: msg.version, result: out.result, status: t.status() });
  else send({ op: 'ack', name: msg.name });
}

port.on('message', (msg: ToDriftWorker) => {
  switch (msg.op) {
    case 'configure': {
      settingsOf.set(msg.name, msg.settings);
      const t = tracker(msg.name);
      t?.updateSettings(msg.settings);
      if (t && msg.reference) t.setReference(msg.reference.groups, msg.reference.source);
      return;
    }
    case 'sample':
      chain = chain
        .then(() => handleSample(msg))
        .catch((err: unknown) => send({ op: 'error', name: msg.name, message: err instanceof Error ? err.message : String(err) }));
      return;
    case 'query': {
      // Answered after the samples already queued, so a status reflects what was offered before it.
      chain = chain.then(() => {
        const t = trackers.get(msg.name) ?? null;
        send({ op: 'reply', id: msg.id, status: t?.status() ?? null, samples: msg.what === 'samples' ? (t?.samples() ?? null) : null, recent: msg.what === 'recent' ? (t?.recent() ?? null) : null });
      });
      return;
    }
    case 'forget':
      trackers.delete(msg.name);
      settingsOf.delete(msg.name);
      return;
  }
});

/**
 * The generated Dockerfile and docker-compose.yml pass the docker lint; bad ones fail it.
 * Also: a missing Docker daemon is a clear E_RUNTIME (no daemon needed for these tests).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DockerClient } from '../../../main/docker/docker-client.js';
import { lintCompose, lintDockerfile } from '../../../main/docker/dockerfile-lint.js';
import { dockerFiles, generateServer } from '../../../main/generate/server-generator.js';
import { baseImageTag } from '../../../main/docker/base-image.js';

const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-dockerlint-'));
afterAll(() => fs.rmSync(ws, { recursive: true, force: true }));

const rules = (f: { rule: string }[]): string[] => [...new Set(f.map((x) => x.rule))].sort();

describe('generated docker files', () => {
  it('are written by generateServer and pass the lint', () => {
    const dir = path.join(ws, 'experiments', 'deploy_exports', 'Faces', 'v2');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ format_version: 1, type: 'dcgan', hyper_parameters: {}, inputs: [], outputs: [] }));
    fs.writeFileSync(path.join(dir, 'model.torchscript.pt'), 'x');
    const gen = generateServer({ workspace: ws, name: 'Faces', version: 'v2', runtime: 'torch', docker: { hostPort: 18123, installDeps: false, baseImage: 'frameworm/base-offline:abc' } });
    for (const f of ['Dockerfile', '.dockerignore', 'docker-compose.yml']) expect(gen.files).toContain(f);
    const dockerfile = fs.readFileSync(path.join(gen.dir, 'Dockerfile'), 'utf8');
    const compose = fs.readFileSync(path.join(gen.dir, 'docker-compose.yml'), 'utf8');
    expect(lintDockerfile(dockerfile)).toEqual([]);
    expect(lintCompose(compose)).toEqual([]);
    expect(compose).toContain('"127.0.0.1:18123:8080"');
    // 'Faces' is not a lowercase reference: its repository carries a hash of the exact name.
    expect(compose).toMatch(/^ {4}image: "frameworm\/faces-[0-9a-f]{8}:v2"$/m);
    expect(compose).toMatch(/^name: "faces-[0-9a-f]{8}"$/m);
    expect(compose).toMatch(/^ {4}pids_limit: 256$/m);
    expect(compose).toContain('INSTALL_DEPS: "0"');
    expect(compose).not.toMatch(/\{\{/);
    // The weights are the last layer; few instructions (vfs makes each one cost seconds).
    const ops = dockerfile.split('\n').filter((l) => /^[A-Z]+\s/.test(l));
    expect(ops[ops.length - 1]).toMatch(/^COPY model\//);
    expect(ops.length).toBeLessThanOrEqual(16);
    expect(dockerfile).toMatch(/--timeout-keep-alive", "75"/);
    expect(dockerFiles('x', 'v1')['docker-compose.yml']).toContain('BASE_IMAGE: "python:3.11-slim-bookworm"');
    expect(() => dockerFiles('x', 'v1', { baseImage: 'bad image; rm -rf' })).toThrow(/invalid base image/);
  });

  it('a bad Dockerfile fails the lint', () => {
    const bad = [
      'FROM python:latest',
      'ADD https://example.com/x.tar.gz /x',
      'RUN apt-get update && apt-get install -y curl',
      'RUN apt-get install -y git',
      'USER root',
      'CMD ["python3", "server.py"]',
    ].join('\n');
    expect(rules(lintDockerfile(bad))).toEqual(['apt-update', 'from-arg', 'healthcheck', 'no-add-url', 'no-latest', 'non-root']);
    expect(rules(lintDockerfile('ARG BASE_IMAGE=python\nFROM ${BASE_IMAGE}\nHEALTHCHECK CMD curl -f http://localhost/health\nCMD ["x"]'))).toEqual(['healthcheck', 'no-latest', 'non-root']);
  });

  it('a bad compose file fails the lint', () => {
    const bad = 'services:\n  m:\n    image: "x:1"\n    ports:\n      - "8000:8080"\n    privileged: true\n';
    expect(rules(lintCompose(bad))).toEqual(['cap-drop', 'healthcheck', 'logging', 'no-new-privileges', 'pids-limit', 'ports-localhost', 'privileged', 'read-only', 'restart']);
  });

  it('the offline base image tag is a hash of its Dockerfile', () => {
    expect(baseImageTag('FROM a\n')).toMatch(/^frameworm\/base-offline:[0-9a-f]{12}$/);
    expect(baseImageTag('FROM a\n')).not.toBe(baseImageTag('FROM b\n'));
  });
});

describe('DockerClient.connect', () => {
  it('says the daemon is not running when the socket is missing', async () => {
    await expect(DockerClient.connect(path.join(ws, 'no-such.sock'))).rejects.toMatchObject({ code: 'E_RUNTIME', message: expect.stringMatching(/Docker daemon not running \(socket .*no-such\.sock missing\)/) });
  });
  it('says so when the socket exists but does not answer', async () => {
    const sock = path.join(ws, 'silent.sock');
    const net = await import('node:net');
    const srv = net.createServer(() => undefined); // accepts, never answers
    await new Promise<void>((r) => srv.listen(sock, r));
    try {
      await expect(DockerClient.connect(sock, 500)).rejects.toMatchObject({ code: 'E_RUNTIME', message: expect.stringMatching(/Docker daemon not running \(socket .*silent\.sock not answering\)/) });
    } finally {
      srv.close();
    }
  });
});

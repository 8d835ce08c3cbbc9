import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StatefulSet, Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../src/config/config.js';

/**
 * No Docker engine or cluster exists where CI runs, so the deployment files are checked statically:
 * parsed, validated against the Kubernetes schemas, and cross-checked against each other and the code.
 */

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions per stage (continuation lines joined, comments dropped). */
function dockerStages(text: string): Array<{ from: string; name: string | null; instructions: Instruction[] }> {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const stages: Array<{ from: string; name: string | null; instructions: Instruction[] }> = [];
  for (const line of lines) {
    const [op, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (op!.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(args)!;
      stages.push({ from: m[1]!, name: m[2] ?? null, instructions: [] });
    } else stages.at(-1)?.instructions.push({ op: op!.toUpperCase(), args });
  }
  return stages;
}

describe('Dockerfile', () => {
  const stages = dockerStages(readFileSync('Dockerfile', 'utf8'));
  const runtime = stages.at(-1)!;
  const all = (op: string) => runtime.instructions.filter((i) => i.op === op);

  it('builds in one stage and runs in a slim one with production dependencies only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(runtime.from).toMatch(/-slim$/);
    const build = stages[0]!;
    expect(build.instructions.some((i) => i.op === 'RUN' && /npm prune --omit=dev/.test(i.args))).toBe(true);
    expect(all('COPY').every((c) => c.args.includes(`--from=${build.name}`))).toBe(true);
    expect(all('RUN')).toEqual([]);
    expect(all('CMD').at(-1)!.args).toBe('["node", "dist/main.js"]');
  });

  it('runs as a non-root user, exposes the configured port and checks /healthz', () => {
    const user = all('USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    const defaultPort = loadConfig({ KATAPULT_API_TOKEN: 'x' }).port;
    expect(all('EXPOSE').map((e) => e.args)).toEqual([String(defaultPort)]);
    expect(all('ENV').some((e) => e.args.includes(`PORT=${defaultPort}`))).toBe(true);
    expect(all('HEALTHCHECK')[0]?.args).toMatch(/\/healthz/);
  });

  it('bakes in no secret', () => {
    const text = readFileSync('Dockerfile', 'utf8');
    for (const stage of stages) {
      for (const i of stage.instructions.filter((x) => x.op === 'ENV' || x.op === 'ARG')) expect(i.args).not.toMatch(/TOKEN|KEY|SECRET|PASSWORD/i);
    }
    expect(text).not.toMatch(/COPY[^\n]*(deploy|\.env\b)/);
    const ignored = readFileSync('.dockerignore', 'utf8').split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['.git', 'node_modules', 'deploy']));
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync('docker-compose.yml', 'utf8'));
  const services = compose.services as Record<string, any>;

  it('wires Redis, the simulator and the service to each other', () => {
    expect(Object.keys(services).sort()).toEqual(['katapult-bff', 'redis', 'simulator']);
    const bff = services['katapult-bff'];
    for (const dep of Object.keys(bff.depends_on)) expect(services).toHaveProperty(dep);
    const upstream = new URL(bff.environment.KATAPULT_API_URL);
    expect(upstream.hostname).toBe('simulator');
    expect(services.simulator.command).toEqual(['node', 'dist/simulator/main.js', upstream.port, 'sim-token', '0.0.0.0']);
    expect(services.simulator.expose).toContain(upstream.port);
    expect(new URL(bff.environment.REDIS_URL).hostname).toBe('redis');
    expect(bff.ports).toEqual([`${bff.environment.PORT}:${bff.environment.PORT}`]);
  });

  it('gives the service its token and keys as mounted secrets that exist and parse', () => {
    const bff = services['katapult-bff'];
    for (const name of bff.secrets) {
      expect(compose.secrets).toHaveProperty(name);
      expect(existsSync(compose.secrets[name].file)).toBe(true);
    }
    const mounted = (name: string) => readFileSync(compose.secrets[name].file, 'utf8');
    const config = loadConfig(
      { ...bff.environment },
      { readFile: (p) => mounted(p.replace('/run/secrets/', '')) },
    );
    expect(config.katapultToken?.reveal()).toBe('sim-token');
    expect(config.consumerKeys.size).toBe(2);
  });
});

describe('Kubernetes manifests', () => {
  const root = 'deploy/kubernetes';
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : []));
  const docs = files(root).flatMap((file) => parseAllDocuments(readFileSync(file, 'utf8')).map((d) => ({ file, obj: d.toJS() as any })));
  const models: Record<string, new (o: any) => { validate(): void }> = {
    Deployment,
    StatefulSet,
    Service,
    ConfigMap,
    Secret,
    HorizontalPodAutoscaler,
    PodDisruptionBudget,
    NetworkPolicy,
  };
  const find = (kind: string, name = 'katapult-bff') => docs.find((d) => d.obj.kind === kind && d.obj.metadata?.name === name)!.obj;

  it.each(docs.filter((d) => d.obj.kind !== 'Kustomization').map((d) => [`${d.file}: ${d.obj.kind} ${d.obj.metadata?.name}`, d.obj]))(
    '%s validates against the Kubernetes schema',
    (_label, obj) => {
      const Model = models[obj.kind];
      expect(Model, `no model for ${obj.kind}`).toBeDefined();
      expect(() => new Model!(obj).validate()).not.toThrow();
    },
  );

  it('has every kustomization resource on disk', () => {
    for (const k of docs.filter((d) => d.obj.kind === 'Kustomization')) {
      for (const r of k.obj.resources) expect(existsSync(join(dirname(k.file), r)), `${k.file}: ${r}`).toBe(true);
    }
  });

  it('probes /readyz and /healthz, mounts the Secret where the config reads it, and matches its selectors', () => {
    const deployment = find('Deployment');
    const pod = deployment.spec.template;
    const container = pod.spec.containers[0];
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.resources.requests).toBeDefined();
    expect(container.resources.limits).toBeDefined();
    const config = find('ConfigMap').data;
    expect(String(container.ports[0].containerPort)).toBe(config.PORT);
    const mount = container.volumeMounts.find((m: any) => m.name === 'secrets').mountPath;
    expect(config.KATAPULT_API_TOKEN_FILE.startsWith(`${mount}/`)).toBe(true);
    expect(config.API_KEYS_FILE.startsWith(`${mount}/`)).toBe(true);
    expect(pod.spec.volumes[0].secret.secretName).toBe(find('Secret').metadata.name);
    const example = find('Secret').stringData;
    expect(Object.keys(example).sort()).toEqual([config.API_KEYS_FILE, config.KATAPULT_API_TOKEN_FILE].map((p: string) => p.slice(mount.length + 1)).sort());
    // Shutdown finishes before the kubelet's grace period runs out.
    expect(pod.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(Number(config.SHUTDOWN_TIMEOUT_MS));

    const labels = pod.metadata.labels;
    for (const selector of [find('Service').spec.selector, find('PodDisruptionBudget').spec.selector.matchLabels, find('NetworkPolicy').spec.podSelector.matchLabels]) {
      expect(labels).toMatchObject(selector);
    }
    expect(find('HorizontalPodAutoscaler').spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata.name });
    expect(find('PodDisruptionBudget').spec.minAvailable).toBeLessThan(find('HorizontalPodAutoscaler').spec.minReplicas);
  });

  it('lets the service reach the bundled Redis, and nothing else reach it', () => {
    const redisPolicy = find('NetworkPolicy', 'katapult-bff-redis');
    expect(redisPolicy.spec.ingress[0].from[0].podSelector.matchLabels).toEqual(find('Deployment').spec.template.metadata.labels);
    const egress = find('NetworkPolicy').spec.egress.flatMap((e: any) => e.ports.map((p: any) => p.port));
    expect(egress).toEqual(expect.arrayContaining([53, 443, 6379]));
    const patch = docs.find((d) => d.file.includes('bundled-redis') && d.obj.kind === 'Kustomization')!.obj.patches[0].patch;
    expect(patch).toContain(`redis://${find('Service', 'katapult-bff-redis').metadata.name}:6379`);
  });
});

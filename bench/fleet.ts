import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/observability/logger.js';
import { createRuntime, type Runtime } from '../src/runtime.js';
import { KatapultSimulator } from '../src/simulator/simulator.js';
import { FakeClock } from '../test/support/clock.js';

/**
 * Upstream traffic against consumer traffic for a fleet: 3 instances, a Zipf-like key mix, simulated
 * time moving 100 ms per consumer request (10,000 requests ≈ 17 minutes, several freshness windows).
 * Run once with a shared Redis and once without, against the same request sequence.
 */
export interface FleetFigures {
  label: string;
  /** Distinct keys in the mix. */
  keys: number;
  consumerRequests: number;
  upstreamRequests: number;
  notModified: number;
  non200: number;
}

const REQUESTS = 10_000;
/** Organization lists need a consumer key. */
const BENCH_KEY = 'bench-key-0123456789abcdef';
const STEP_MS = 100;

/** A small deterministic PRNG, so both runs see the same sequence. */
function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function zipfPaths(paths: string[], n: number, s = 1.1): string[] {
  const weights = paths.map((_, k) => 1 / (k + 1) ** s);
  const total = weights.reduce((a, b) => a + b, 0);
  const random = mulberry32(42);
  return Array.from({ length: n }, () => {
    let r = random() * total;
    for (let k = 0; k < paths.length; k++) if ((r -= weights[k]!) <= 0) return paths[k]!;
    return paths.at(-1)!;
  });
}

export async function fleetScenario(redisUrl: string | null, label: string): Promise<FleetFigures> {
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  const sim = new KatapultSimulator({ now: () => clock.now() });
  const upstream = await sim.listen();
  const runtimes: Runtime[] = [];
  const urls: string[] = [];
  if (redisUrl) {
    const admin = new Redis(redisUrl);
    await admin.flushdb();
    await admin.quit();
  }
  for (let i = 0; i < 3; i++) {
    const config = loadConfig({
      KATAPULT_API_URL: upstream,
      KATAPULT_API_TOKEN: sim.token,
      REDIS_URL: redisUrl ?? undefined,
      LOG_LEVEL: 'silent',
      API_KEYS: `bench:${BENCH_KEY}:*`,
    });
    const rt = createRuntime(config, { clock, logger: createLogger('silent') });
    runtimes.push(rt);
    urls.push(await rt.listen(0, '127.0.0.1'));
  }
  while (runtimes.some((r) => r.redis && r.redis.status !== 'ready')) await new Promise((r) => setTimeout(r, 20));

  const permalinks = sim.packages.filter((p) => p.privacy === 'public').map((p) => `/packages/${p.permalink}`);
  const keys = ['/packages', ...permalinks, '/packages?organization=acme', '/packages?organization=globex'];
  const paths = zipfPaths(keys, REQUESTS);
  let non200 = 0;
  // 10 requests at a time, the clock moving on between batches.
  for (let i = 0; i < paths.length; i += 10) {
    const batch = paths.slice(i, i + 10);
    const statuses = await Promise.all(
      batch.map((p, j) =>
        fetch(`${urls[(i + j) % 3]}${p}`, { headers: p.includes('organization=') ? { 'x-api-key': BENCH_KEY } : {} }).then(async (r) => (await r.arrayBuffer(), r.status)),
      ),
    );
    non200 += statuses.filter((s) => s !== 200).length;
    clock.advance(STEP_MS * batch.length);
  }
  await Promise.all(runtimes.map((r) => r.deps.engine.settle()));
  const figures = {
    label,
    keys: keys.length,
    consumerRequests: paths.length,
    upstreamRequests: sim.count(),
    notModified: sim.log.filter((r) => r.status === 304).length,
    non200,
  };
  await Promise.all(runtimes.map((r) => r.close()));
  await sim.close();
  return figures;
}

/** A Redis for the fleet run: REDIS_URL, else `redis-server` from PATH on a free port; null when neither. */
export async function benchRedis(url = process.env.REDIS_URL): Promise<{ url: string; stop(): void } | null> {
  if (url) return { url, stop() {} };
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  let child: ChildProcess;
  try {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => resolve());
    });
  } catch {
    return null;
  }
  const probe = new Redis(`redis://127.0.0.1:${port}`, { retryStrategy: (n) => (n > 50 ? null : 50) });
  probe.on('error', () => undefined); // refused until the server is up: retried
  await probe.ping();
  await probe.quit();
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill() };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KatapultSimulator, type Fault } from '../src/simulator/simulator.js';
import { freePort, waitForRedis } from './support/ports.js';
import { hasRedisServer } from './support/redis-processes.js';

/**
 * The fault suite: three real service processes sharing a real Redis, in front of the simulator, under a
 * steady bounded load on loopback, while faults are injected one after another. For every phase: no 5xx
 * (every key is warm, so a stale copy exists), no answer slower than the configured timeouts allow, no
 * upstream call beyond the token's budget; and once the faults are over, every instance serves upstream's
 * current data. Last, in a new minute, Redis is paused while a flood of cold lists spends the budget: the
 * instances, unable to count together, each spend only their part, and Katapult refuses nothing. `npm run test:chaos` runs this file alone; `npm test` runs it with the rest.
 */
const KEY = 'chaos-key-0123456789abcdef';
/** The flood's own key, so its requests never touch the load's request bucket. */
const FLOOD_KEY = 'flood-key-0123456789abcdef';
const BUDGET = 1000;
const SETTINGS = {
  CACHE_FRESH_SECONDS: '2',
  CACHE_SWR_SECONDS: '1',
  CACHE_DETAIL_FRESH_SECONDS: '2',
  KATAPULT_TIMEOUT_MS: '800',
  REDIS_TIMEOUT_MS: '200',
  BREAKER_COOLDOWN_SECONDS: '1',
  API_KEYS: `ops:${KEY}:*,flood:${FLOOD_KEY}:*`,
  CONSUMER_RATE_PER_SECOND: '10000',
  CONSUMER_BURST: '10000',
  // Every client here is 127.0.0.1, one anonymous caller: its share of upstream calls is the whole budget,
  // which this suite bounds itself (per-caller shares are test/upstream-budget.test.ts's subject).
  CONSUMER_UPSTREAM_PER_MINUTE: String(BUDGET),
  LOG_LEVEL: 'warn',
  SHUTDOWN_TIMEOUT_MS: '1000',
};
const LEASE_MS = 1500; // the fleet lock's lease: a waiter holding a stale copy answers within it
/**
 * The slowest an answer may be while a stale copy exists: a lease of waiting on another instance's
 * refresh, or one upstream exchange, plus a few Redis commands each cut at REDIS_TIMEOUT_MS, plus
 * scheduling slack for a loaded 2-core machine.
 */
const BOUND_MS = LEASE_MS + Number(SETTINGS.KATAPULT_TIMEOUT_MS) + 4 * Number(SETTINGS.REDIS_TIMEOUT_MS) + 700;

/** What the load asks for: lists, a package, an organization's list, the Katapult-compatible list. */
const REQUESTS: Array<{ path: string; headers?: Record<string, string> }> = [
  { path: '/packages' },
  { path: '/packages/rock-3' },
  { path: '/packages?organization=acme', headers: { 'x-api-key': KEY } },
  { path: '/core/v1/virtual_machine_packages?per_page=5', headers: { authorization: `Bearer ${KEY}` } },
];

interface Outcome {
  phase: string;
  instance: number;
  status: number | 'refused' | 'timeout';
  ms: number;
}

describe.skipIf(!hasRedisServer)('fault suite: 3 instances, real Redis, the simulator, bounded load', () => {
  const sim = new KatapultSimulator({ budgetPerMinute: BUDGET });
  let upstream = '';
  let redisPort = 0;
  let redis: ChildProcess | null = null;
  const instances: Array<{ port: number; child: ChildProcess | null }> = [];

  const startRedis = async () => {
    redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitForRedis(redisPort);
  };
  const startInstance = async (i: number) => {
    const inst = instances[i]!;
    inst.child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, ...SETTINGS, KATAPULT_API_URL: upstream, KATAPULT_API_TOKEN: sim.token, REDIS_URL: `redis://127.0.0.1:${redisPort}/0`, PORT: String(inst.port), HOST: '127.0.0.1' },
      stdio: 'ignore',
    });
    await until(async () => (await fetch(`http://127.0.0.1:${inst.port}/readyz`)).ok && (await readyRedis(inst.port)) === 'up', 15_000);
  };
  const readyRedis = async (port: number) => ((await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { redis: string }).redis;

  beforeAll(async () => {
    upstream = await sim.listen();
    redisPort = await freePort();
    await startRedis();
    for (let i = 0; i < 3; i++) instances.push({ port: await freePort(), child: null });
    await Promise.all(instances.map((_, i) => startInstance(i)));
  }, 60_000);

  afterAll(async () => {
    for (const inst of instances) inst.child?.kill('SIGKILL');
    redis?.kill('SIGCONT');
    redis?.kill('SIGKILL');
    await sim.close();
  });

  it('survives Redis paused and killed, upstream 503, hanging, malformed and 429, an instance killed; then converges', { timeout: 180_000 }, async () => {
    // Warm every key on every instance: from here on a stale copy exists for every request.
    for (const inst of instances) for (const r of REQUESTS) expect((await ask(inst.port, r)).status).toBe(200);

    const outcomes: Outcome[] = [];
    const calls: Record<string, Array<{ status: number }>> = {};
    let phase = 'steady';
    let running = true;
    // Bounded load: 6 workers, each one request at a time, round-robin over instances and requests.
    const load = () =>
      Array.from({ length: 6 }, async (_, w) => {
        for (let n = w; running; n++) {
          const instance = n % instances.length;
          const started = performance.now();
          const r = await ask(instances[instance]!.port, REQUESTS[n % REQUESTS.length]!);
          // Counted in the phase it ended in: a request cut by the instance's death belongs to that phase.
          outcomes.push({ phase, instance, status: r.status, ms: performance.now() - started });
          await sleep(10);
        }
      });
    let workers = load();
    const during = async (name: string, ms: number, inject: () => void | Promise<void>, recover: () => void | Promise<void>) => {
      const before = sim.log.length;
      phase = name;
      await inject();
      await sleep(ms);
      await recover();
      await sleep(1500); // recovery, still under load and counted in this phase
      calls[name] = sim.log.slice(before);
    };
    const upstreamFault = (fault: Fault) => [() => sim.setFault(fault), () => sim.setFault(null)] as const;

    await during('steady', 2000, () => undefined, () => undefined);
    await during('Redis paused (SIGSTOP 3 s)', 3000, () => void redis!.kill('SIGSTOP'), () => void redis!.kill('SIGCONT'));
    await during('Redis killed and restarted', 3000, () => void redis!.kill('SIGKILL'), startRedis);
    await during('upstream 503', 3000, ...upstreamFault({ kind: 'status', status: 503 }));
    await during('upstream hangs', 3000, ...upstreamFault({ kind: 'hang' }));
    await during('upstream malformed JSON', 3000, ...upstreamFault({ kind: 'malformed' }));
    // Last of the upstream faults: Katapult's 429 stops the fleet's calls until the next clock minute.
    await during('upstream 429', 3000, ...upstreamFault({ kind: 'status', status: 429 }));
    await during('instance 2 killed and restarted', 2000, () => void instances[2]!.child!.kill('SIGKILL'), () => startInstance(2));
    running = false;
    await Promise.all(workers);

    // Convergence: a change upstream reaches every instance (after the 429's minute has passed).
    sim.updatePackage('vmpkg_Eh5LYVKScVHpj7sM', { name: 'ROCK-3 (resized)' });
    const started = performance.now();
    await until(async () => {
      const names = await Promise.all(instances.map(async (i) => ((await (await fetch(`http://127.0.0.1:${i.port}/packages/rock-3`)).json()) as { package: { name: string } }).package.name));
      return names.every((n) => n === 'ROCK-3 (resized)');
    }, 75_000);
    const convergedMs = performance.now() - started;

    // In the new minute: Redis paused while a flood of cold lists (20 at a time, a key whose share is the
    // whole budget) spends the budget. Each instance may spend only its part of what was left, so Katapult
    // never has to refuse; the warm keys of the load are served as before (stale once the budget is spent).
    running = true;
    workers = load();
    const flood: string[] = [];
    let flooding = true;
    let floodWorkers: Promise<void>[] = [];
    const startFlood = () => {
      floodWorkers = Array.from({ length: 20 }, async (_, w) => {
        for (let n = w; flooding; n += 20) {
          const res = await fetch(`http://127.0.0.1:${instances[n % instances.length]!.port}/packages?organization=cold-${n}`, { headers: { 'x-api-key': FLOOD_KEY } });
          flood.push(`${res.status} ${((await res.json()) as { error?: { code: string } }).error?.code}`);
        }
      });
    };
    await during(
      'Redis paused (SIGSTOP 5 s) under a flood at the budget',
      5000,
      () => {
        redis!.kill('SIGSTOP');
        startFlood();
      },
      async () => {
        flooding = false;
        await Promise.all(floodWorkers);
        redis!.kill('SIGCONT');
      },
    );
    running = false;
    await Promise.all(workers);

    const phases = Object.keys(calls);
    const rows = phases.map((name) => {
      const of = outcomes.filter((o) => o.phase === name);
      const count = (pred: (o: Outcome) => boolean) => of.filter(pred).length;
      return {
        phase: name,
        requests: of.length,
        ok: count((o) => o.status === 200 || o.status === 304),
        '5xx': count((o) => typeof o.status === 'number' && o.status >= 500),
        'other 4xx': count((o) => typeof o.status === 'number' && o.status >= 400 && o.status < 500),
        'refused (instance down)': count((o) => o.status === 'refused'),
        'client timeouts': count((o) => o.status === 'timeout'),
        'slowest ms': Math.round(Math.max(...of.map((o) => o.ms))),
        'upstream calls': calls[name]!.length,
      };
    });
    console.log(`\nFault suite (answers bounded at ${BOUND_MS} ms; converged ${Math.round(convergedMs)} ms after the change)`);
    console.table(rows);

    for (const row of rows) {
      expect(row.requests, row.phase).toBeGreaterThan(50); // the load was held through every phase
      expect(row['5xx'], row.phase).toBe(0);
      expect(row['other 4xx'], row.phase).toBe(0);
      expect(row['client timeouts'], row.phase).toBe(0);
      expect(row['slowest ms'], row.phase).toBeLessThan(BOUND_MS);
    }
    // Only the killed instance refused connections, and only while it was down.
    const refused = outcomes.filter((o) => o.status === 'refused');
    expect(refused.every((o) => o.instance === 2 && o.phase === 'instance 2 killed and restarted')).toBe(true);
    // Upstream: the faults before the flood stayed within one minute's budget, and the simulator never had
    // to refuse a call for its budget (the only 429s it sent were the injected ones), not even when the
    // flood spent the budget while the instances could not count together.
    const floodPhase = phases.at(-1)!;
    expect(sim.log.length - calls[floodPhase]!.length).toBeLessThan(BUDGET);
    for (const name of phases.filter((p) => p !== 'upstream 429')) expect(calls[name]!.filter((r) => r.status === 429), name).toEqual([]);
    const floodOutcomes = new Set(flood);
    console.log(`flood: ${flood.length} cold lists, ${calls[floodPhase]!.length} upstream calls, answers ${[...floodOutcomes].join(', ')}`);
    expect(calls[floodPhase]!.length).toBeGreaterThan(BUDGET / 2); // the flood did reach its parts of the budget
    // Each cold list: not found upstream, or refused by our own guards (the instance's part of the budget or of the key's share).
    for (const outcome of floodOutcomes) expect(['404 organization_not_found', '503 upstream_rate_limited', '429 upstream_share_exhausted']).toContain(outcome);
  });
});

async function ask(port: number, r: { path: string; headers?: Record<string, string> }): Promise<{ status: Outcome['status'] }> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${r.path}`, { headers: r.headers, signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    return { status: res.status };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    if (cause === 'ECONNREFUSED' || cause === 'ECONNRESET' || cause === 'UND_ERR_SOCKET') return { status: 'refused' };
    if ((err as Error).name === 'TimeoutError') return { status: 'timeout' };
    throw err;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await sleep(100);
  }
}

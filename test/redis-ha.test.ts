import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listKey } from '../src/packages/keys.js';
import { asOps } from './support/keys.js';
import { hasRedisServer, RedisProcesses } from './support/redis-processes.js';
import { redisReady, startStack, type Stack } from './support/stack.js';

/**
 * Redis beyond one node, with real local processes: a master, a replica and a Sentinel; and a
 * three-master Cluster. (They need redis-server and redis-cli on PATH, which `.ci/run` installs; with
 * only REDIS_URL or a container there is nothing to arrange them from, and these tests say so.)
 */
describe.skipIf(!hasRedisServer)('Redis Sentinel', () => {
  const procs = new RedisProcesses();
  let master = 0;
  let replica = 0;
  let sentinel = 0;
  let stack: Stack;

  beforeAll(async () => {
    master = await procs.server();
    replica = await procs.server(['--replicaof', '127.0.0.1', String(master)]);
    sentinel = await procs.sentinel(master, 'kbff');
    stack = await startStack({ env: { REDIS_SENTINELS: `127.0.0.1:${sentinel}`, REDIS_SENTINEL_NAME: 'kbff', REDIS_TIMEOUT_MS: '300' } });
    await redisReady(stack, 10_000);
  });
  afterAll(async () => {
    await stack?.close();
    procs.stop();
  });

  it('finds the master through Sentinel, and follows a failover with no 5xx', { timeout: 30_000 }, async () => {
    const url = stack.urls[0]!;
    expect((await fetch(`${url}/packages`)).status).toBe(200);
    const onMaster = new Redis(master);
    expect(await onMaster.exists(listKey({ kind: 'public' }))).toBe(1);

    const sentinelClient = new Redis(sentinel);
    await sentinelClient.call('SENTINEL', 'FAILOVER', 'kbff');
    const promoted = new Redis(replica);
    for (let i = 0; i < 100 && !(await promoted.info('replication')).includes('role:master'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await promoted.info('replication')).toContain('role:master');

    // Requests keep being answered while the client moves to the new master, and new entries land there.
    const packages = stack.sim.packages.filter((p) => p.privacy === 'public');
    const statuses: number[] = [];
    let landed = false;
    for (const { id, permalink } of packages) {
      statuses.push((await fetch(`${url}/packages/${permalink}`)).status);
      // Kept under its id, however it was asked for.
      if ((landed = (await promoted.exists(`kbff:v1:{pkg:public:id=${id}}`)) === 1)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(landed).toBe(true);
    for (const c of [onMaster, sentinelClient, promoted]) c.disconnect();
  });
});

describe.skipIf(!hasRedisServer)('Redis Cluster', () => {
  const procs = new RedisProcesses();
  let nodes: number[] = [];
  let stack: Stack;

  beforeAll(async () => {
    nodes = await procs.cluster();
  }, 60_000);
  afterEach(() => stack?.close());
  afterAll(() => procs.stop());

  it('shares entries, coordinates refreshes and purges across instances, every script within one slot', async () => {
    stack = await startStack({
      instances: 2,
      env: { REDIS_CLUSTER_NODES: nodes.map((p) => `127.0.0.1:${p}`).join(','), ADMIN_TOKEN: 'cluster-admin-token-123' },
    });
    await redisReady(stack, 10_000);
    const [a, b] = stack.urls;
    stack.sim.setFault({ kind: 'latency', ms: 100 });
    const cold = await Promise.all(Array.from({ length: 40 }, (_, i) => fetch(`${[a, b][i % 2]}/packages?organization=acme`, { headers: asOps })));
    expect(cold.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    expect(stack.sim.count()).toBe(1); // one upstream call for the fleet: lock, fence and entry in one slot
    stack.sim.setFault(null);

    expect((await fetch(`${b}/packages/rock-3`)).headers.get('x-cache')).toBe('MISS');
    expect((await fetch(`${a}/packages/rock-3`)).headers.get('x-cache')).toBe('HIT');
    const purge = await fetch(`${a}/admin/invalidate`, {
      method: 'POST',
      headers: { authorization: 'Bearer cluster-admin-token-123' },
      body: JSON.stringify({ all: true }),
    });
    expect((await purge.json()).purged.sharedEntries).toBeGreaterThanOrEqual(2);
    expect((await fetch(`${a}/packages/rock-3`)).headers.get('x-cache')).toBe('MISS');
  });
});

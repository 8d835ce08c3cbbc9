import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listKey } from '../src/packages/keys.js';
import { generatedPackages, seedPackages } from '../src/simulator/seed.js';
import { FakeClock } from './support/clock.js';
import { asOps } from './support/keys.js';
import { cleanRedisUrl, RedisProxy } from './support/redis.js';
import { nextInvalidation, redisReady, startStack, type Stack } from './support/stack.js';

/** Three instances sharing one real Redis in front of one simulator: the fleet as it runs in production. */
describe('a fleet of three instances', () => {
  let redisUrl: string;
  let admin: Redis;
  let stack: Stack;
  const clock = new FakeClock();
  // 323 packages, 320 of them public: two upstream pages of 200.
  const catalogue = () => [...seedPackages(), ...generatedPackages(300)];

  beforeAll(async () => {
    redisUrl = await cleanRedisUrl();
    admin = new Redis(redisUrl);
  });
  afterAll(() => admin.quit());
  beforeEach(async () => {
    await admin.flushdb();
    clock.advance(60_000);
  });
  afterEach(() => stack.close());

  const start = async (env: Record<string, string> = {}, url = redisUrl) => {
    stack = await startStack({
      instances: 3,
      redisUrl: url,
      clock,
      sim: { packages: catalogue(), budgetPerMinute: 1000 },
      env: { CACHE_FRESH_SECONDS: '60', CACHE_SWR_SECONDS: '30', CACHE_REFRESH_AHEAD_SECONDS: '10', KATAPULT_TIMEOUT_MS: '500', ...env },
    });
    await redisReady(stack);
  };
  const spread = (n: number, path: string, init?: RequestInit) =>
    Promise.all(Array.from({ length: n }, (_, i) => fetch(`${stack.urls[i % 3]}${path}`, init)));

  it('1,000 concurrent cold requests for one key make exactly one upstream request per page', async () => {
    await start();
    stack.sim.setFault({ kind: 'latency', ms: 150 });
    const answers = await spread(1000, '/packages');
    expect(answers.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    const bodies = new Set(await Promise.all(answers.map((r) => r.text())));
    expect(bodies.size).toBe(1);
    expect(JSON.parse([...bodies][0]!).packages).toHaveLength(320); // the 3 private packages are not public
    expect(stack.sim.log.map((r) => r.query)).toEqual([expect.stringContaining('page=1&'), expect.stringContaining('page=2&')]);
  });

  it('keeps serving 200 STALE from every instance through 503, 429 and a hanging upstream, and stops calling after a 429 until the next minute', async () => {
    await start();
    clock.set(Date.UTC(2026, 10, 23, 9, 0, 5));
    for (const url of stack.urls) expect((await fetch(`${url}/packages/rock-3`)).status).toBe(200);
    expect([stack.sim.count('list'), stack.sim.count('get')]).toEqual([2, 1]); // the public list's two pages say rock-3 exists, then one get
    clock.advance(95_000); // past freshness and the stale-while-revalidate window: refreshes happen before answering

    const everyInstance = async () => {
      const answers = await Promise.all(stack.urls.map((u) => fetch(`${u}/packages/rock-3`)));
      for (const a of answers) {
        expect([a.status, a.headers.get('x-cache')]).toEqual([200, 'STALE']);
        expect(a.headers.get('warning')).toContain('Revalidation Failed');
        expect((await a.json()).package.name).toBe('ROCK-3');
      }
    };
    stack.sim.setFault({ kind: 'status', status: 503 });
    await everyInstance();
    clock.advance(3_000); // the failure mark lapses
    stack.sim.setFault({ kind: 'hang' });
    await everyInstance();
    clock.advance(3_000);
    stack.sim.setFault({ kind: 'status', status: 429 });
    await everyInstance();
    const afterLimit = stack.sim.count();
    stack.sim.setFault(null);
    clock.advance(3_000);
    await everyInstance(); // still inside the minute: nobody asks upstream
    await Promise.all(stack.runtimes.map((r) => r.deps.engine.settle()));
    expect(stack.sim.count()).toBe(afterLimit);
    const readyz = await (await fetch(`${stack.urls[2]}/readyz`)).json();
    expect(readyz.upstream.budget.blockedUntil).toBe(Date.UTC(2026, 10, 23, 9, 2, 0));

    clock.set(Date.UTC(2026, 10, 23, 9, 2, 0)); // the next minute boundary
    const fresh = await fetch(`${stack.urls[1]}/packages/rock-3`);
    expect(fresh.headers.get('x-cache')).toBe('REVALIDATED');
    expect(stack.sim.count()).toBe(afterLimit + 1);
  });

  it('a change upstream reaches every instance, and none serves the old body once another has broadcast the new one', async () => {
    await start();
    const paths = stack.urls.map((u) => `${u}/packages/rock-6`);
    const old = await (await fetch(paths[0]!)).json();
    for (const p of paths) expect((await fetch(p)).headers.get('x-cache')).toBe('HIT'); // everyone holds it in L1
    stack.sim.updatePackage('vmpkg_dMeEyd1g8hwIlxR8', { storage_in_gb: 60 });

    clock.advance(52_000); // inside the refresh-ahead window of a 60 s freshness
    // Delivery of the broadcast is asynchronous: every instance says when it has applied it.
    const broadcast = nextInvalidation(stack);
    expect((await (await fetch(paths[0]!)).json()).package.storageGb).toBe(old.package.storageGb);
    await stack.runtimes[0]!.deps.engine.settle(); // instance 0 refreshed, wrote and broadcast
    const key = 'kbff:v1:{pkg:public:id=vmpkg_dMeEyd1g8hwIlxR8}';
    const shared = await admin.hgetall(key);
    expect(JSON.parse(shared.body!).package.storageGb).toBe(60);
    await broadcast;
    for (const p of paths) {
      const res = await fetch(p);
      expect((await res.json()).package.storageGb).toBe(60);
      expect(res.headers.get('etag')).toBe(shared.etag);
    }
    expect(stack.sim.count('get')).toBe(2); // the first fill and one refresh, fleet-wide
  });

  it('leaves Redis alone when the upstream ETag did not change: no body rewrite, no invalidation', async () => {
    await start();
    await fetch(`${stack.urls[0]}/packages`);
    const sub = admin.duplicate();
    const messages: string[] = [];
    await sub.subscribe('kbff:v1:invalidate');
    sub.on('message', (_c: string, m: string) => messages.push(m));
    const before = await admin.hgetall(listKey({ kind: 'public' }));
    clock.advance(95_000);
    expect((await fetch(`${stack.urls[1]}/packages`)).headers.get('x-cache')).toBe('REVALIDATED');
    const after = await admin.hgetall(listKey({ kind: 'public' }));
    expect(after.body).toBe(before.body);
    expect(Number(after.freshUntil)).toBe(Number(before.freshUntil) + 95_000);
    await admin.ping(); // a round trip after the write: any message would have been delivered by now
    // Only the lock's release, which wakes its waiters; nothing that drops an entry from an L1.
    expect(messages.map((m) => JSON.parse(m))).toEqual([{ op: 'settled', key: listKey({ kind: 'public' }) }]);
    await sub.quit();
  });

  it('takes over when the lock holder died: the lock expires and another instance refreshes', async () => {
    // The request's whole wait ends a second after it arrives: the takeover and the walk fit in it.
    await start({ KATAPULT_TIMEOUT_MS: '1000' });
    const key = listKey({ kind: 'sub_domain', value: 'acme' });
    await admin.set(`${key}:lock`, '41', 'PX', 600); // a holder that will never answer
    const res = await fetch(`${stack.urls[0]}/packages?organization=acme`, { headers: asOps });
    expect([res.status, res.headers.get('x-cache')]).toEqual([200, 'MISS']);
    expect(stack.sim.count()).toBe(2); // its two pages, once
    expect(Number(await admin.get(`${key}:fence`))).toBe(1);
  });

  it('survives Redis dying during the coalescing: no 5xx, at most one upstream call per page per instance', async () => {
    const proxy = new RedisProxy(redisUrl);
    await proxy.start();
    try {
      // The instances load on their own once Redis is gone: an upstream timeout well past the 200 ms
      // latency, so a loaded machine's slow scheduling is not taken for an upstream failure.
      await start({ REDIS_TIMEOUT_MS: '100', KATAPULT_TIMEOUT_MS: '2000' }, proxy.url);
      stack.sim.setFault({ kind: 'latency', ms: 200 });
      const answers = spread(300, '/packages?organization=globex', { headers: asOps });
      await new Promise((r) => setTimeout(r, 50));
      await proxy.kill();
      const statuses = (await answers).map((r) => r.status);
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      const pages = stack.sim.log.map((r) => new URLSearchParams(r.query).get('page'));
      expect(pages.filter((p) => p === '1').length).toBeLessThanOrEqual(3);
      expect(pages.filter((p) => p === '2').length).toBeLessThanOrEqual(3);
    } finally {
      await proxy.kill();
    }
  });

  it('keeps to one upstream call per page when Redis stalls for a moment while the others wait', async () => {
    const proxy = new RedisProxy(redisUrl);
    await proxy.start();
    try {
      await start({ REDIS_TIMEOUT_MS: '100', KATAPULT_TIMEOUT_MS: '5000' }, proxy.url);
      stack.sim.setFault({ kind: 'latency', ms: 1000 });
      const answers = spread(30, '/packages');
      // Once the lock is taken, every instance is either loading or polling for the holder's entry.
      while (!(await admin.exists(`${listKey({ kind: 'public' })}:lock`))) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 100));
      proxy.stall();
      await new Promise((r) => setTimeout(r, 250)); // two of a waiter's polls time out: too few to trip its guard
      proxy.stall(false);
      expect((await answers).map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
      expect(stack.sim.log.map((r) => r.query)).toEqual([expect.stringContaining('page=1&'), expect.stringContaining('page=2&')]);
    } finally {
      await proxy.kill();
    }
  });

  describe('admin purge', () => {
    const TOKEN = 'adm1n-t0ken-long-enough';
    const post = (url: string, body: unknown, token = TOKEN) =>
      fetch(`${url}/admin/invalidate`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

    it('purges one organization on every instance, and refuses without the token', async () => {
      await start({ ADMIN_TOKEN: TOKEN });
      for (const u of stack.urls) await fetch(`${u}/packages?organization=acme`, { headers: asOps });
      await fetch(`${stack.urls[0]}/packages`);
      expect(stack.sim.count()).toBe(4); // acme once for the fleet, public once: two pages each
      expect((await post(stack.urls[0]!, { organization: 'acme' }, 'wrong-token-xxxxxxxx')).status).toBe(401);
      // The kinds of item a purge may name are the resources' own, each checked by its ref parser.
      for (const [body, field] of [[{ organisation: 'acme' }, 'organisation'], [{ package: 'vmpkg_a-b' }, 'package'], [{ all: true, package: 'rock-3' }, null]] as const) {
        const refused = await post(stack.urls[0]!, body);
        const where = field ? `body field '${field}'` : 'body';
        expect([refused.status, (await refused.json()).error.message]).toEqual([400, `${where}: name exactly one of all (true), organization or package`]);
      }
      const purged = nextInvalidation(stack);
      const res = await post(stack.urls[0]!, { organization: 'acme' });
      expect(res.status).toBe(200);
      expect((await res.json()).purged.sharedEntries).toBe(1);
      await purged;
      for (const rt of stack.runtimes) expect(rt.deps.store.l1.peek(listKey({ kind: 'sub_domain', value: 'acme' }))).toBeUndefined();
      expect((await fetch(`${stack.urls[2]}/packages?organization=acme`, { headers: asOps })).headers.get('x-cache')).toBe('MISS');
      expect((await fetch(`${stack.urls[2]}/packages`)).headers.get('x-cache')).toBe('HIT'); // other scopes untouched
    });

    it('purges a package by either ref: its one entry, found through the lists held in Redis, on every instance', async () => {
      await start({ ADMIN_TOKEN: TOKEN });
      for (const u of stack.urls) expect((await fetch(`${u}/packages/vmpkg_Eh5LYVKScVHpj7sM`)).status).toBe(200);
      expect(stack.sim.count('get')).toBe(1);
      // Instance 2 holds no list in L1 any more: the purge finds the permalink's id in the lists Redis holds.
      await stack.runtimes[2]!.deps.store.l1.delete(listKey({ kind: 'public' }));
      const purged = nextInvalidation(stack);
      const res = await post(stack.urls[2]!, { package: 'rock-3' });
      expect(await res.json()).toMatchObject({ purged: { sharedEntries: 2 } }); // the public list and the package's entry
      const idKey = 'kbff:v1:{pkg:public:id=vmpkg_Eh5LYVKScVHpj7sM}';
      expect(await admin.exists(idKey)).toBe(0);
      await purged;
      for (const rt of stack.runtimes) expect(rt.deps.store.l1.peek(idKey)).toBeUndefined();
      const again = await fetch(`${stack.urls[1]}/packages/rock-3`);
      expect([again.status, again.headers.get('x-cache')]).toEqual([200, 'MISS']);
      expect(stack.sim.count('get')).toBe(2);
    });

    it('does not exist without ADMIN_TOKEN', async () => {
      await start();
      expect((await post(stack.urls[0]!, { all: true })).status).toBe(404);
    });
  });
});

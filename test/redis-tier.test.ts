import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { listKey } from '../src/packages/keys.js';
import { createRuntime } from '../src/runtime.js';
import { asOps } from './support/keys.js';
import { cleanRedisUrl, RedisProxy } from './support/redis.js';
import { redisReady, startStack, type Stack } from './support/stack.js';

/** Two-tier behaviour on a real Redis, with several instances over real HTTP. */
describe('shared Redis tier', () => {
  let redisUrl: string;
  let admin: Redis;
  beforeAll(async () => {
    redisUrl = await cleanRedisUrl();
    admin = new Redis(redisUrl);
  });
  afterAll(() => admin.quit());
  beforeEach(() => admin.flushdb());

  describe('two instances', () => {
    let stack: Stack;
    beforeEach(async () => {
      stack = await startStack({ instances: 2, redisUrl });
      await redisReady(stack);
    });
    afterEach(() => stack.close());

    it('the second instance serves from L2 without an upstream call, and L2 refills its L1', async () => {
      const [a, b] = stack.urls;
      // As sent: undici's fetch would ask for gzip, whose ETag names its coding.
      const first = await fetch(`${a}/packages?organization=acme`, { headers: { ...asOps, 'accept-encoding': 'identity' } });
      expect(first.headers.get('x-cache')).toBe('MISS');
      const firstBody = await first.text();
      expect(stack.sim.count()).toBe(1);

      const stored = await admin.hgetall(listKey({ kind: 'sub_domain', value: 'acme' }));
      expect(JSON.parse(stored.upstreamEtags!)[0]).toMatch(/^W\/"[0-9a-f]{32}"$/);
      expect(stored.etag).toBe(first.headers.get('etag'));
      expect(await admin.pttl(listKey({ kind: 'sub_domain', value: 'acme' }))).toBeGreaterThan(86_000_000);

      const second = await fetch(`${b}/packages?organization=acme`, { headers: { ...asOps, 'accept-encoding': 'identity' } });
      expect(second.headers.get('x-cache')).toBe('HIT');
      expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
      expect(await second.text()).toBe(firstBody);
      expect(stack.sim.count()).toBe(1);
      expect(stack.runtimes[1]!.deps.store.l1.peek(listKey({ kind: 'sub_domain', value: 'acme' }))).toBeDefined();
    });

    it('ignores an unreadable entry in Redis instead of failing, and replaces it', async () => {
      await admin.hset(listKey({ kind: 'public' }), { kind: 'found', etag: '"x"', body: '{}', storedAt: 'yesterday' });
      const res = await fetch(`${stack.urls[0]}/packages`, { headers: { 'accept-encoding': 'identity' } });
      expect([res.status, res.headers.get('x-cache')]).toEqual([200, 'MISS']);
      expect((await admin.hgetall(listKey({ kind: 'public' }))).etag).toBe(res.headers.get('etag'));
    });

    it('answers from upstream when the key holds something that is not an entry at all', async () => {
      await admin.set(listKey({ kind: 'public' }), 'a string, not a hash');
      const res = await fetch(`${stack.urls[0]}/packages`);
      expect([res.status, res.headers.get('x-cache')]).toEqual([200, 'MISS']);
    });
  });

  it('an instance starting joins the shared cache before it listens: its first answer comes from Redis', async () => {
    const first = await startStack({ instances: 1, redisUrl });
    try {
      await redisReady(first);
      expect((await fetch(`${first.urls[0]}/packages`)).headers.get('x-cache')).toBe('MISS');
      const second = createRuntime(loadConfig({ KATAPULT_API_URL: first.upstreamUrl, KATAPULT_API_TOKEN: first.sim.token, REDIS_URL: redisUrl, LOG_LEVEL: 'silent' }));
      try {
        const url = await second.listen(0, '127.0.0.1');
        const res = await fetch(`${url}/packages`); // at once: no wait for its Redis connection
        expect([res.status, res.headers.get('x-cache')]).toEqual([200, 'HIT']);
        expect(first.sim.count()).toBe(1);
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
    }
  });

  describe('when Redis goes away', () => {
    let proxy: RedisProxy;
    let stack: Stack;
    beforeEach(async () => {
      proxy = new RedisProxy(redisUrl);
      await proxy.start();
      stack = await startStack({ instances: 1, redisUrl: proxy.url, env: { REDIS_TIMEOUT_MS: '100' } });
      await redisReady(stack);
    });
    afterEach(async () => {
      await stack.close();
      await proxy.kill();
    });

    it('keeps serving from L1 and upstream with no 5xx, then picks Redis up again by itself', async () => {
      const url = stack.urls[0]!;
      expect((await fetch(`${url}/packages`)).status).toBe(200);
      await proxy.kill();

      const statuses: number[] = [];
      for (const path of ['/packages', '/packages', '/packages/rock-3', '/packages?organization=acme', '/packages/no-such']) {
        statuses.push((await fetch(`${url}${path}`, { headers: asOps })).status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 404]);

      await proxy.start();
      await redisReady(stack, 10_000);
      await fetch(`${url}/packages/rock-6`);
      expect(await admin.exists(`kbff:v1:{pkg:public:id=vmpkg_dMeEyd1g8hwIlxR8}`)).toBe(1);
    });

    // Without the command timeout this request would wait on Redis until the test's own timeout.
    it('a Redis that hangs costs at most its timeout per request, never an error', { timeout: 5000 }, async () => {
      proxy.hang();
      const res = await fetch(`${stack.urls[0]}/packages/rock-1`);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-cache')).toBe('MISS');
      proxy.hang(false);
    });
  });
});

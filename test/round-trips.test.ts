import { afterEach, describe, expect, it } from 'vitest';
import { ACME_KEY, asOps } from './support/keys.js';
import { cleanRedisUrl, RedisProxy } from './support/redis.js';
import { redisReady, startStack, type Stack } from './support/stack.js';

/** Each Redis answer arrives this much later: a request's time divided by it is its sequential round trips. */
const AWAY_MS = 200;

/**
 * How many times a request waits on Redis before its answer, with the lists' details on (the default):
 * Redis is put `AWAY_MS` away by a loopback proxy, and a request's time, less what it takes with Redis
 * next door, counts its sequential round trips (commands sent together cost one).
 */
describe('Redis round trips before an answer', () => {
  let stack: Stack | null = null;
  let proxy: RedisProxy | null = null;
  afterEach(async () => {
    await stack?.close();
    await proxy?.kill();
    stack = proxy = null;
  });

  it('a cold keyed organization list waits on Redis at most 6 times (target 12), a warm one (L1 miss, Redis hit) at most 3', { timeout: 30_000 }, async () => {
    proxy = new RedisProxy(await cleanRedisUrl());
    await proxy.start();
    stack = await startStack({ instances: 2, redisUrl: proxy.url, env: { CACHE_LIST_DETAILS: 'true', REDIS_TIMEOUT_MS: '3000', KATAPULT_TIMEOUT_MS: '10000' } });
    await redisReady(stack);
    const settle = () => Promise.all(stack!.runtimes.map((r) => r.settle()));
    // Every script loaded and every code path warm on both instances, with another organization.
    for (const url of stack.urls) await (await fetch(`${url}/packages?organization=globex`, { headers: asOps })).arrayBuffer();
    await settle();

    const timed = async (url: string) => {
      const started = performance.now();
      const res = await fetch(`${url}/packages?organization=acme`, { headers: { 'x-api-key': ACME_KEY } });
      await res.arrayBuffer();
      return { ms: performance.now() - started, cache: res.headers.get('x-cache'), detail: res.headers.get('x-packages-detail') };
    };
    proxy.delay(AWAY_MS);
    const cold = await timed(stack.urls[0]!);
    const coldTrips = Math.floor(cold.ms / AWAY_MS);
    proxy.delay(0);
    await settle(); // its details, fetched in the background for acme's key

    proxy.delay(AWAY_MS);
    const warm = await timed(stack.urls[1]!);
    const warmTrips = Math.floor(warm.ms / AWAY_MS);
    console.log(`round trips: cold ${coldTrips} (${Math.round(cold.ms)} ms), warm ${warmTrips} (${Math.round(warm.ms)} ms), Redis ${AWAY_MS} ms away`);
    // The bucket, the entry, the lock (with the entry as it is), the share and the budget, the write (with
    // the lock's release), the details: 6.
    expect([cold.cache, coldTrips <= 6]).toEqual(['MISS', true]);
    // The bucket, the entry, the details.
    expect([warm.cache, warm.detail, warmTrips <= 3]).toEqual(['HIT', '22/22', true]);
    expect(stack.sim.count('list')).toBe(2); // globex and acme, once each for the fleet
  });
});

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheEntry, CacheStore } from '../src/cache/entry.js';
import { MemoryStore } from '../src/cache/memory-store.js';
import { RedisStore } from '../src/cache/redis-store.js';
import { createLogger } from '../src/observability/logger.js';
import { RedisGuard } from '../src/redis/guard.js';
import { FakeClock } from './support/clock.js';
import { cleanRedisUrl } from './support/redis.js';

const silent = createLogger('silent');
const clock = new FakeClock();
let redis: Redis;
beforeAll(async () => {
  redis = new Redis(await cleanRedisUrl());
});
afterAll(() => redis.quit());

/** The one contract every cache tier keeps, run against each (bentocache's driver test suite does the same). */
describe.each([
  ['memory (L1)', () => new MemoryStore(1_000_000, clock)],
  ['Redis (L2)', () => new RedisStore(new RedisGuard(redis, clock, silent), clock, silent)],
] as Array<[string, () => CacheStore]>)('cache store contract: %s', (_name, make) => {
  let store: CacheStore;
  let n = 0;
  const key = () => `kbff:v1:{contract:${++n}:${Math.random()}}`;
  const times = () => ({ storedAt: clock.now(), freshUntil: clock.now() + 60_000, staleUntil: clock.now() + 120_000 });
  beforeAll(() => {
    store = make();
  });

  it('answers undefined for a key it does not hold', async () => {
    expect(await store.get(key())).toBeUndefined();
  });

  it('gives back a found entry as it was stored, page counts and null upstream ETags included', async () => {
    const k = key();
    const entry: CacheEntry = { kind: 'found', body: '{"packages":[]}', etag: '"e1"', upstreamEtags: ['W/"a"', null], pages: [200, 3], ...times() };
    await store.set(k, entry);
    expect(await store.get(k)).toEqual(entry);
  });

  it('gives back a not-found entry with its code', async () => {
    const k = key();
    const entry: CacheEntry = { kind: 'not_found', code: 'package_not_found', etag: '"nf"', ...times() };
    await store.set(k, entry);
    expect(await store.get(k)).toEqual(entry);
  });

  it('replaces an entry with a newer one', async () => {
    const k = key();
    await store.set(k, { kind: 'found', body: 'old', etag: '"1"', upstreamEtags: [], ...times() });
    clock.advance(1000);
    const newer: CacheEntry = { kind: 'found', body: 'new', etag: '"2"', upstreamEtags: ['W/"b"'], ...times() };
    await store.set(k, newer);
    expect(await store.get(k)).toEqual(newer);
  });

  it('finds the servable entries whose keys match a pattern, and only those', async () => {
    const tag = `${++n}x${Math.random().toString(36).slice(2)}`;
    const held: CacheEntry = { kind: 'found', body: 'a', etag: '"m1"', upstreamEtags: [], ...times() };
    await store.set(`kbff:v1:{match:${tag}:one}`, held);
    await store.set(`kbff:v1:{match:${tag}:two}`, { ...held, etag: '"m2"' });
    await store.set(`kbff:v1:{other:${tag}:one}`, { ...held, etag: '"m3"' });
    const found = await store.matching([`kbff:v1:{match:${tag}:*}`]);
    expect(found.map((e) => e.etag).sort()).toEqual(['"m1"', '"m2"']);
  });

  it('keeps nothing that is past its stale window', async () => {
    const k = key();
    await store.set(k, { kind: 'found', body: 'gone', etag: '"g"', upstreamEtags: [], storedAt: clock.now() - 10, freshUntil: clock.now() - 5, staleUntil: clock.now() });
    expect(await store.get(k)).toBeUndefined();
  });
});

describe('Redis (L2) reads', () => {
  it('shares one HGETALL among concurrent reads of a key, while read() always sends its own', async () => {
    const store = new RedisStore(new RedisGuard(redis, clock, silent), clock, silent);
    const k = `kbff:v1:{contract:shared-read:${Math.random()}}`;
    const entry: CacheEntry = { kind: 'found', body: '{"packages":[]}', etag: '"r1"', upstreamEtags: [], storedAt: clock.now(), freshUntil: clock.now() + 60_000, staleUntil: clock.now() + 120_000 };
    await store.set(k, entry);
    const monitor = await redis.monitor();
    const seen: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[1] === k) seen.push(args[0]!.toLowerCase());
    });
    try {
      const answers = await Promise.all(Array.from({ length: 200 }, () => store.get(k)));
      expect(answers.every((a) => a?.etag === '"r1"')).toBe(true);
      await Promise.all([store.read(k), store.read(k)]);
      await redis.ping(); // MONITOR's feed is behind the commands it reports: one more round trip lets it catch up
      await new Promise((r) => setTimeout(r, 50));
      expect(seen).toEqual(['hgetall', 'hgetall', 'hgetall']);
    } finally {
      monitor.disconnect();
    }
  });
});

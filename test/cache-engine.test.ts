import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheEngine, type EngineOptions, type FailurePolicy, type Loaded, type Loader } from '../src/cache/engine.js';
import { MemoryStore } from '../src/cache/memory-store.js';
import { RedisStore } from '../src/cache/redis-store.js';
import { RefreshLock } from '../src/cache/refresh-lock.js';
import { InvalidationListener } from '../src/coordination/invalidation.js';
import { TieredStore } from '../src/cache/tiered-store.js';
import { chargedTo } from '../src/domain/cause.js';
import { createLogger } from '../src/observability/logger.js';
import { RedisGuard } from '../src/redis/guard.js';
import { FakeClock } from './support/clock.js';
import { cleanRedisUrl } from './support/redis.js';

const silent = createLogger('silent');

/** Errors of a pretend upstream: `refused-for-caller`, `refused`, or a failure named by its message. */
class TestFailure extends Error {}
const failures: FailurePolicy = {
  refusal: (err) => (err instanceof TestFailure && err.message === 'refused-for-caller' ? 'caller' : err instanceof TestFailure && err.message === 'refused' ? 'everyone' : null),
  servable: (err) => err instanceof TestFailure,
  markOf: (err) => (err as Error).message,
  fromMark: (code) => new TestFailure(code),
  timeout: () => new TestFailure('timeout'),
};

const TIMES = { freshMs: 60_000, staleMs: 600_000, negativeMs: 10_000, swrMs: 30_000, refreshAheadMs: 6_000, waitMs: 2_000, staleWaitMs: 500 };

/** A loader that records who called it and answers what the test sets next. */
function recordingLoader() {
  const calls: Array<{ previousEtag: string | null; cause: string }> = [];
  let next: () => Promise<Loaded> = async () => ({ kind: 'found', body: `{"n":${calls.length}}`, upstreamEtags: ['W/"u"'] });
  const load: Loader = (previous, cause) => {
    calls.push({ previousEtag: previous?.etag ?? null, cause: cause.priority === 'consumer' ? cause.chargeTo : 'background' });
    return next();
  };
  return { load, calls, answer: (fn: () => Promise<Loaded>) => (next = fn) };
}

function engineWith(clock: FakeClock, more: Partial<EngineOptions> = {}) {
  const store = new TieredStore(new MemoryStore(1_000_000, clock), null, clock);
  return new CacheEngine({ store, clock, logger: silent, lock: null, failures, ...TIMES, ...more });
}

const A = chargedTo('key:a');
const B = chargedTo('key:b');

describe('cache engine, one instance, on the fake clock', () => {
  it('follows the timeline: miss, fresh, refresh-ahead, stale-while-revalidate, refresh before answering', async () => {
    const clock = new FakeClock();
    const engine = engineWith(clock);
    const { load, calls, answer } = recordingLoader();

    expect((await engine.resolve('k', load, A)).status).toBe('MISS');
    clock.advance(50_000);
    expect((await engine.resolve('k', load, A)).status).toBe('HIT');
    expect(calls).toHaveLength(1);

    clock.advance(5_000); // the last 6 s of freshness: answered, and refreshed in the background by nobody's charge
    answer(async () => ({ kind: 'not_modified' }));
    expect((await engine.resolve('k', load, A)).status).toBe('HIT');
    await engine.settle();
    expect(calls.at(-1)).toMatchObject({ cause: 'background', previousEtag: expect.any(String) });

    clock.advance(70_000); // 10 s past the refreshed entry's freshness: inside stale-while-revalidate
    expect((await engine.resolve('k', load, A)).status).toBe('STALE');
    await engine.settle();
    expect(calls.at(-1)!.cause).toBe('background');

    clock.advance(100_000); // past stale-while-revalidate: refreshed before answering, paid for by the caller
    const before = calls.length;
    expect((await engine.resolve('k', load, B)).status).toBe('REVALIDATED');
    expect(calls.slice(before)).toEqual([{ cause: 'key:b', previousEtag: expect.any(String) }]);
  });

  it('serves stale when the refresh fails, marks it, and gives up the entry only at staleUntil', async () => {
    const clock = new FakeClock();
    const engine = engineWith(clock);
    const { load, answer } = recordingLoader();
    const good = await engine.resolve('k', load, A);
    answer(async () => {
      throw new TestFailure('upstream down');
    });
    clock.advance(100_000);
    const stale = await engine.resolve('k', load, A);
    expect([stale.status, stale.entry.etag, stale.refreshError?.message]).toEqual(['STALE', good.entry.etag, 'upstream down']);
    clock.advance(600_000); // past staleUntil: nothing servable is left
    await expect(engine.resolve('k', load, A)).rejects.toThrow('upstream down');
  });

  it('remembers a not-found for its own while, then asks again', async () => {
    const clock = new FakeClock();
    const engine = engineWith(clock);
    const { load, calls, answer } = recordingLoader();
    answer(async () => ({ kind: 'not_found', code: 'package_not_found' }));
    expect((await engine.resolve('k', load, A)).entry).toMatchObject({ kind: 'not_found', code: 'package_not_found' });
    clock.advance(9_000);
    expect((await engine.resolve('k', load, A)).status).toBe('HIT');
    expect(calls).toHaveLength(1);
    clock.advance(2_000);
    await engine.resolve('k', load, A);
    expect(calls).toHaveLength(2);
  });

  it('makes one load for 100 concurrent misses of one key', async () => {
    const clock = new FakeClock();
    const engine = engineWith(clock);
    const { load, calls, answer } = recordingLoader();
    let release!: () => void;
    answer(() => new Promise((resolve) => (release = () => resolve({ kind: 'found', body: 'x', upstreamEtags: [null] }))));
    const answers = Array.from({ length: 100 }, () => engine.resolve('k', load, A));
    await new Promise((r) => setImmediate(r));
    release();
    const served = await Promise.all(answers);
    expect(calls).toHaveLength(1);
    expect(served.filter((s) => s.coalesced)).toHaveLength(99);
  });

  it("retries for a caller who joined a refresh refused for another caller's share", async () => {
    const clock = new FakeClock();
    const engine = engineWith(clock);
    const { load, calls, answer } = recordingLoader();
    let release!: () => void;
    answer(() => new Promise((_, reject) => (release = () => reject(new TestFailure('refused-for-caller')))));
    const a = engine.resolve('k', load, A);
    const b = engine.resolve('k', load, B);
    await new Promise((r) => setImmediate(r));
    answer(async () => ({ kind: 'found', body: 'for b', upstreamEtags: [null] }));
    release();
    await expect(a).rejects.toThrow('refused-for-caller');
    expect((await b).status).toBe('MISS');
    expect(calls.map((c) => c.cause)).toEqual(['key:a', 'key:b']);
  });
});

describe('cache engine, two instances sharing a real Redis', () => {
  let redisUrl: string;
  const clients: Redis[] = [];
  beforeAll(async () => {
    redisUrl = await cleanRedisUrl();
  });
  afterAll(() => Promise.all(clients.map((c) => c.quit())));

  /**
   * An engine with its own L1 and the shared L2 and lock, as one service instance has; with `recheckMs`,
   * its lock waiters are woken by the invalidation listener and look on their own only that rarely.
   */
  const instance = (clock: FakeClock, recheckMs?: number) => {
    const client = new Redis(redisUrl);
    clients.push(client);
    const guard = new RedisGuard(client, clock, silent);
    const l2 = new RedisStore(guard, clock, silent);
    const l1 = new MemoryStore(1_000_000, clock);
    const store = new TieredStore(l1, l2, clock);
    const wakeups = recheckMs ? new InvalidationListener(client, l1, silent) : undefined;
    if (wakeups) listeners.push(wakeups);
    const lock = new RefreshLock(guard, l2, clock, { leaseMs: 1500, failureTtlMs: 2000, recheckMs }, wakeups);
    return new CacheEngine({ store, clock, logger: silent, lock, failures, ...TIMES });
  };
  const listeners: InvalidationListener[] = [];
  afterAll(() => Promise.all(listeners.map((l) => l.close())));

  it("wakes the lock's waiters with the holder's write or failure, without waiting for a look of their own", async () => {
    const clock = new FakeClock(); // it never moves here: only the holder's message can end the waits
    const [one, two] = [instance(clock, 60_000), instance(clock, 60_000)];
    for (const outcome of ['written', 'failed'] as const) {
      const key = `kbff:v1:{engine-wake-${outcome}}`;
      const { load, calls, answer } = recordingLoader();
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      answer(() => released.then(() => (outcome === 'written' ? { kind: 'found', body: 'woken', upstreamEtags: [null] } : Promise.reject(new TestFailure('unavailable')))));
      const holder = one.resolve(key, load, A).catch((err: Error) => err.message);
      while (calls.length === 0) await new Promise((r) => setImmediate(r));
      const waiter = two.resolve(key, load, B).then((s) => s.entry.etag, (err: Error) => err.message);
      await new Promise((r) => setTimeout(r, 50)); // the waiter has found the lock taken
      release();
      const late = new Promise((r) => setTimeout(() => r('still waiting'), 5_000));
      const [held, waited] = await Promise.all([holder, Promise.race([waiter, late])]);
      expect(calls).toHaveLength(1);
      if (outcome === 'written') expect(waited).toBe((held as { entry: { etag: string } }).entry.etag);
      else expect([held, waited]).toEqual(['unavailable', 'unavailable']);
    }
  });

  it('does not load again when, after taking the lock, it finds an entry newer than the one it was started for', async () => {
    const clock = new FakeClock();
    const [one, two] = [instance(clock), instance(clock)];
    const { load, calls } = recordingLoader();
    await one.resolve('kbff:v1:{engine-test}', load, A);
    await two.resolve('kbff:v1:{engine-test}', load, A); // from L2 into its own L1
    expect(calls).toHaveLength(1);

    clock.advance(55_000); // both hold the same entry, inside its refresh-ahead window
    await one.resolve('kbff:v1:{engine-test}', load, A);
    await one.settle(); // instance one refreshed it...
    expect(calls).toHaveLength(2);
    await two.resolve('kbff:v1:{engine-test}', load, A); // ...instance two read its older copy, then takes the lock
    await two.settle();
    expect(calls).toHaveLength(2);
  });

  it('makes one load for concurrent misses on both instances', async () => {
    const clock = new FakeClock();
    const [one, two] = [instance(clock), instance(clock)];
    const { load, calls, answer } = recordingLoader();
    // The load answers only once every request is waiting on it, here or on the other instance's lock.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    answer(() => released.then(() => ({ kind: 'found', body: 'shared', upstreamEtags: [null] })));
    const waiting = Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? one : two).resolve('kbff:v1:{engine-test-2}', load, A)));
    while (calls.length === 0) await new Promise((r) => setImmediate(r));
    release();
    const served = await waiting;
    expect(calls).toHaveLength(1);
    expect(new Set(served.map((s) => s.entry.etag)).size).toBe(1);
  });
});


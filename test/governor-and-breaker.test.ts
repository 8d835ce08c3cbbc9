import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/observability/logger.js';
import { CircuitBreaker } from '../src/upstream/breaker.js';
import { secondsToNextMinute } from '../src/domain/clock.js';
import { UpstreamError } from '../src/upstream/errors.js';
import { BudgetGovernor } from '../src/upstream/governor.js';
import { RedisGuard } from '../src/redis/guard.js';
import { FakeClock } from './support/clock.js';
import { captureLogs } from './support/logs.js';
import { cleanRedisUrl } from './support/redis.js';

const silent = createLogger('silent');
const refused = (p: Promise<unknown>) => p.then(() => 'allowed', (e: UpstreamError) => e.kind);

describe('budget governor', () => {
  let redis: Redis;
  let other: Redis;
  beforeAll(async () => {
    const url = await cleanRedisUrl();
    redis = new Redis(url);
    other = new Redis(url);
  });
  afterAll(async () => {
    await redis.quit();
    await other.quit();
  });

  it('shares one count across instances: background stops at the reserve, consumers at the budget', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 1));
    const a = new BudgetGovernor(new RedisGuard(redis, clock, silent), clock, silent, 20, 10);
    const b = new BudgetGovernor(new RedisGuard(other, clock, silent), clock, silent, 20, 10);
    for (let i = 0; i < 4; i++) await a.take('background');
    for (let i = 0; i < 4; i++) await b.take('background');
    expect(await refused(a.take('background'))).toBe('rate_limited'); // 8 of 10 used: the reserve is left
    expect(await refused(b.take('background'))).toBe('rate_limited');
    await a.take('consumer');
    await b.take('consumer');
    expect(await refused(a.take('consumer'))).toBe('rate_limited');
    expect((await b.state()).used).toBe(10);

    clock.advance(60_000); // a new clock minute: a new budget
    expect(await refused(b.take('background'))).toBe('allowed');
  });

  it('learns the budget and what is left from Katapult\'s headers, which count other users of the token', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 5, 1));
    const g = new BudgetGovernor(null, clock, silent, 20);
    g.observe({ permitted: 200, remaining: 30 }); // someone else spent 170 this minute
    expect(await refused(g.take('background'))).toBe('rate_limited'); // 170 ≥ 80% of 200
    expect(await refused(g.take('consumer'))).toBe('allowed');
    expect(await g.state()).toMatchObject({ permitted: 200, remaining: 30, backgroundLimit: 160 });
  });

  it('after a 429 stops every instance until the next minute boundary', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 10, 42));
    const a = new BudgetGovernor(new RedisGuard(redis, clock, silent), clock, silent, 20);
    const b = new BudgetGovernor(new RedisGuard(other, clock, silent), clock, silent, 20);
    await a.block();
    expect(secondsToNextMinute(clock.now())).toBe(18); // what a consumer's Retry-After says
    expect(await refused(b.take('consumer'))).toBe('rate_limited');
    expect((await b.state()).blockedUntil).toBe(Date.UTC(2026, 0, 1, 0, 11, 0));
    clock.set(Date.UTC(2026, 0, 1, 0, 11, 0));
    expect(await refused(b.take('consumer'))).toBe('allowed');
  });

  it('counts on its own while Redis is away, and says once a minute that it is refusing', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 20, 0));
    const logs = captureLogs();
    const g = new BudgetGovernor(null, clock, logs.logger, 50, 4);
    await g.take('background');
    await g.take('background');
    expect(await refused(g.take('background'))).toBe('rate_limited');
    expect(await refused(g.take('background'))).toBe('rate_limited');
    await g.take('consumer');
    await g.take('consumer');
    expect(await refused(g.take('consumer'))).toBe('rate_limited');
    const lines = logs.parsed().filter((l) => l.msg === 'budget governor: refusing upstream calls');
    expect(lines.map((l) => l.why)).toEqual(['background share of the budget used', 'consumer share of the budget used']);
  });

  it('while Redis is away, spends only its part: the budget left divided by the instances it last counted', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 25, 0));
    const g = new BudgetGovernor(null, clock, silent, 50, 10, () => 3);
    for (let i = 0; i < 3; i++) await g.take('consumer'); // a third of 10
    expect(await refused(g.take('consumer'))).toBe('rate_limited');
    expect(await refused(g.take('background'))).toBe('rate_limited'); // a third of 5, already spent
    expect((await g.state()).instances).toBe(3);
  });
});

describe('circuit breaker', () => {
  it('opens after consecutive failures, lets one probe through after the cooldown, and closes on its success', () => {
    const clock = new FakeClock();
    const changes: string[] = [];
    const b = new CircuitBreaker(clock, 3, 10_000, (s) => changes.push(s));
    b.failure();
    b.failure();
    b.success(); // not consecutive
    b.failure();
    b.failure();
    expect(b.allow()).toBe(true);
    b.failure();
    expect([b.state, b.allow()]).toEqual(['open', false]);
    clock.advance(10_000);
    expect(b.allow()).toBe(true); // the probe
    expect(b.allow()).toBe(false); // only one at a time
    b.failure();
    expect(b.state).toBe('open');
    clock.advance(10_000);
    expect(b.allow()).toBe(true);
    b.success();
    expect([b.state, b.allow()]).toEqual(['closed', true]);
    expect(changes).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
  });
});

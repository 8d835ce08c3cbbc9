import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from './support/clock.js';
import { asOps } from './support/keys.js';
import { cleanRedisUrl, RedisProxy } from './support/redis.js';
import { redisReady, startStack, type Stack } from './support/stack.js';

/** The budget is the fleet's, counted in Redis; when Redis cannot answer, each instance spends only its part. */
describe('the budget while Redis is paused', () => {
  let stack: Stack | null = null;
  let proxy: RedisProxy | null = null;
  afterEach(async () => {
    proxy?.stall(false);
    await stack?.close();
    await proxy?.kill();
    stack = proxy = null;
  });

  it('2 instances, Redis paused under a flood of cold lists: each spends at most its part, upstream answers no 429, and the fleet count resumes', async () => {
    const redisUrl = await cleanRedisUrl();
    proxy = new RedisProxy(redisUrl);
    await proxy.start();
    const clock = new FakeClock(Date.UTC(2026, 10, 23, 10, 20, 5));
    stack = await startStack({
      instances: 2,
      clock,
      redisUrl: proxy.url,
      sim: { budgetPerMinute: 1000 },
      // One consumer may cause the whole budget here: the budget is what is under test.
      env: { CONSUMER_UPSTREAM_PER_MINUTE: '100000', REDIS_TIMEOUT_MS: '50' },
    });
    await redisReady(stack);
    // The first instance counts the second at its next heartbeat; here, at once.
    await Promise.all(stack.runtimes.map((r) => r.fleet.beat()));
    for (const url of stack.urls) expect((await (await fetch(`${url}/readyz`)).json()).upstream.budget.instances).toBe(2);

    proxy.stall(); // Redis answers nothing until it is resumed, as a SIGSTOPped one
    const answers: string[] = [];
    for (let i = 0; i < 1200; i += 50) {
      const batch = Array.from({ length: 50 }, async (_, j) => {
        const res = await fetch(`${stack!.urls[(i + j) % 2]}/packages?organization=cold-${i + j}`, { headers: asOps });
        return `${res.status} ${(await res.json()).error?.code}`;
      });
      answers.push(...(await Promise.all(batch)));
    }
    expect(stack.sim.log.filter((r) => r.status === 429)).toEqual([]);
    // Each instance's part is half of the budget less the reserve (kept as a margin while the instances
    // cannot count together): 400 each; what neither may spend is refused by our own governor.
    const sent = await Promise.all(stack.urls.map(async (u) => sum(await (await fetch(`${u}/metrics`)).text(), 'kbff_upstream_requests_total')));
    for (const n of sent) expect(n).toBeLessThanOrEqual(400);
    expect(sent[0]! + sent[1]!).toBeGreaterThan(700);
    expect(stack.sim.count()).toBe(sent[0]! + sent[1]!);
    expect(new Set(answers)).toEqual(new Set(['404 organization_not_found', '503 upstream_rate_limited']));
    expect(answers.filter((a) => a.startsWith('404'))).toHaveLength(stack.sim.count());

    // Redis back: the guard tries it again after its cooldown, and at the next heartbeat what each
    // instance spent meanwhile joins the fleet's count (commands that timed out but ran late may add to it).
    proxy.stall(false);
    clock.advance(3000);
    await Promise.all(stack.runtimes.map((r) => r.fleet.beat()));
    const admin = new Redis(redisUrl);
    const counted = Number(await admin.get(`kbff:v1:{budget}:count:${Math.floor(clock.now() / 60_000)}`));
    await admin.quit();
    expect(counted).toBeGreaterThanOrEqual(stack.sim.count());
    for (const url of stack.urls) await (await fetch(`${url}/packages?organization=after-${url.slice(-5)}`, { headers: asOps })).arrayBuffer();
    expect(stack.sim.log.filter((r) => r.status === 429)).toEqual([]);
  });
});

/** The sum of a counter's samples in a Prometheus text exposition. */
function sum(metrics: string, name: string): number {
  return [...metrics.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
}

import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from './support/clock.js';
import { ACME_KEY, asOps } from './support/keys.js';
import { captureLogs } from './support/logs.js';
import { cleanRedisUrl } from './support/redis.js';
import { redisReady, startStack, type Stack } from './support/stack.js';
import { manyOrganizations, ORGANIZATIONS, seedPackages } from '../src/simulator/seed.js';

/**
 * Nobody can spend the token's budget: every upstream call is caused by a consumer within its share, or
 * by the service's own refresh. Upstream calls are counted from the simulator's request log.
 */
describe('the token budget under abuse', () => {
  let stack: Stack;
  afterEach(() => stack.close());

  /** Sends `paths` `concurrency` at a time, spread over the instances; resolves to the statuses and bodies. */
  const flood = async (paths: string[], init: RequestInit = {}, concurrency = 50) => {
    const answers: Array<{ status: number; body: { error?: { code: string } }; retryAfter: string | null }> = [];
    for (let i = 0; i < paths.length; i += concurrency) {
      const batch = paths.slice(i, i + concurrency).map(async (p, j) => {
        const res = await fetch(`${stack.urls[(i + j) % stack.urls.length]}${p}`, init);
        return { status: res.status, body: await res.json(), retryAfter: res.headers.get('retry-after') };
      });
      answers.push(...(await Promise.all(batch)));
    }
    return answers;
  };

  it('2,000 anonymous unknown refs cost one list call, all 404, and a legitimate cold get is still served', async () => {
    stack = await startStack({ redisUrl: await cleanRedisUrl() });
    await redisReady(stack);
    const refs = Array.from({ length: 2000 }, (_, i) => (i % 2 ? `/packages/made-up-${i}` : `/packages/vmpkg_MadeUp${i}`));
    const answers = await flood(refs);
    expect(new Set(answers.map((a) => `${a.status} ${a.body.error?.code}`))).toEqual(new Set(['404 package_not_found']));
    expect(stack.sim.count('list')).toBe(1); // the public list, which names every public package
    expect(stack.sim.count('get')).toBe(0);

    const legit = await fetch(`${stack.urls[0]}/packages/rock-3`);
    expect(legit.status).toBe(200);
    expect((await legit.json()).package.name).toBe('ROCK-3');
    expect(stack.sim.count()).toBe(2);
  });

  it('1,000 unknown ids through the Katapult-compatible get, both URL forms, cost one list call per scope the key can name', async () => {
    stack = await startStack({ instances: 2, redisUrl: await cleanRedisUrl() });
    await redisReady(stack);
    // The acme key lists acme by sub-domain and by id: a package is looked for in public, then in both.
    const paths = Array.from({ length: 1000 }, (_, i) =>
      i % 2
        ? `/core/v1/virtual_machine_packages/virtual_machine_package?virtual_machine_package%5Bid%5D=vmpkg_Nope${i}`
        : `/core/v1/virtual_machine_packages/_?virtual_machine_package[id]=vmpkg_Nope${i}`,
    );
    const answers = await flood(paths, { headers: { authorization: `Bearer ${ACME_KEY}` } });
    expect(new Set(answers.map((a) => `${a.status} ${a.body.error?.code}`))).toEqual(new Set(['404 package_not_found']));
    expect(stack.sim.log.map((r) => [r.route, decodeURIComponent(r.query).replace(/&page=.*/, '')]).sort()).toEqual([
      ['list', '?organization[id]=org_Ac7meCoRp0rat10n'],
      ['list', '?organization[sub_domain]=acme'],
      ['list', '?page=1&per_page=200'],
    ]);
  });

  it("holds a greedy key to its share of the budget, fleet-wide, while another consumer's cold list is served", async () => {
    const logs = captureLogs();
    // Shares are per clock minute: the test runs inside one, on the fake clock.
    const clock = new FakeClock(Date.UTC(2026, 10, 23, 10, 30, 5));
    stack = await startStack({ instances: 2, clock, redisUrl: await cleanRedisUrl(), logger: logs.logger, sim: { budgetPerMinute: 1000 } });
    await redisReady(stack);
    await fetch(`${stack.urls[0]}/packages`); // the public list, held for everyone

    // A `*` key asking for 1,500 organizations that do not exist. Its share: a tenth of the token's 1000.
    const orgs = Array.from({ length: 1500 }, (_, i) => `/packages?organization=nope-${i}`);
    const greedy = await flood(orgs, { headers: asOps });
    const upstreamForGreedy = stack.sim.log.filter((r) => r.query.includes('nope-')).length;
    expect(upstreamForGreedy).toBe(100);
    const outcomes = greedy.map((a) => `${a.status} ${a.body.error?.code}`);
    expect(outcomes.filter((o) => o === '404 organization_not_found')).toHaveLength(100);
    expect(outcomes.filter((o) => o === '429 upstream_share_exhausted')).toHaveLength(1400);
    expect(greedy.find((a) => a.status === 429)!.retryAfter).toBe('55'); // the next clock minute

    // Past its share, the greedy key is still served what is cached; every other consumer as before.
    expect((await fetch(`${stack.urls[1]}/packages`, { headers: asOps })).status).toBe(200);
    const other = await fetch(`${stack.urls[1]}/packages?organization=acme`, { headers: { 'x-api-key': ACME_KEY } });
    expect([other.status, other.headers.get('x-cache')]).toEqual([200, 'MISS']);
    // A remembered not-found costs nothing more, fleet-wide.
    expect((await fetch(`${stack.urls[1]}/packages?organization=nope-0`, { headers: { 'x-api-key': ACME_KEY } })).status).toBe(403);
    expect((await fetch(`${stack.urls[1]}/packages?organization=nope-0`, { headers: asOps })).status).toBe(404);

    const metrics = await (await fetch(`${stack.urls[0]}/metrics`)).text();
    const refused = (instance: string) => Number(/kbff_consumer_share_refusals_total\{consumer="ops"\} (\d+)/.exec(instance)?.[1] ?? 0);
    expect(refused(metrics) + refused(await (await fetch(`${stack.urls[1]}/metrics`)).text())).toBe(1400);
    // One line per consumer per minute and instance, not one per refusal.
    expect(logs.parsed().filter((l) => String(l.msg).startsWith('consumer share'))).toHaveLength(2);
  });

  it('charges anonymous callers by client address, through trusted proxies only, and serves them stale past their share', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 23, 10, 0, 5));
    const logs = captureLogs();
    stack = await startStack({
      clock,
      logger: logs.logger,
      env: { CONSUMER_UPSTREAM_PER_MINUTE: '3', TRUST_PROXY_HOPS: '1', CACHE_FRESH_SECONDS: '10', CACHE_SWR_SECONDS: '0' },
    });
    const from = (address: string, path: string) => fetch(`${stack.urls[0]}${path}`, { headers: { 'x-forwarded-for': address } });
    expect((await from('10.0.0.1', '/packages/rock-1')).status).toBe(200); // the list, then the get: 2 calls
    expect((await from('10.0.0.1', '/packages/rock-3')).status).toBe(200); // 3
    const refused = await from('10.0.0.1', '/packages/rock-6');
    expect([refused.status, (await refused.json()).error.code, refused.headers.get('retry-after')]).toEqual([429, 'upstream_share_exhausted', '55']);
    // Only the entry the trusted proxy appended counts: what the caller wrote itself is not believed.
    expect((await from('203.0.113.9, 10.0.0.1', '/packages/rock-6')).status).toBe(429);
    expect((await from('10.0.0.1', '/packages/rock-1')).headers.get('x-cache')).toBe('HIT');
    expect((await from('10.0.0.2', '/packages/rock-6')).status).toBe(200); // its own share
    expect(stack.sim.count()).toBe(4);

    clock.advance(11_000); // past freshness, no stale-while-revalidate: a refresh is needed before answering
    const stale = await from('10.0.0.1', '/packages/rock-1');
    expect([stale.status, stale.headers.get('x-cache')]).toEqual([200, 'STALE']);
    expect(stack.sim.count()).toBe(4);

    clock.set(Date.UTC(2026, 10, 23, 10, 1, 0)); // the next clock minute: a new share
    expect((await from('10.0.0.1', '/packages/rock-6')).status).toBe(200);
    const metrics = await (await fetch(`${stack.urls[0]}/metrics`)).text();
    expect(metrics).toContain('kbff_consumer_share_refusals_total{consumer="anonymous"} 3');
    expect(metrics).toContain('kbff_upstream_refusals_total{reason="consumer_share"} 3');
    expect(metrics).not.toMatch(/10\.0\.0\.|203\.0\.113/);
    expect(logs.parsed().filter((l) => String(l.msg).startsWith('consumer share'))).toHaveLength(1);
  });

  it('3 instances at CACHE_FRESH_SECONDS=10 under steady load for 30 s make about one call per freshness window', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 23, 11, 0, 0));
    // The refresh-ahead window is left to its default: a tenth of the freshness.
    stack = await startStack({ instances: 3, clock, redisUrl: await cleanRedisUrl(), env: { CACHE_FRESH_SECONDS: '10' } });
    await redisReady(stack);
    const seen = new Set<string>();
    for (let ms = 0; ms < 30_000; ms += 200) {
      // One instance after the other: each reads the entry it holds after another may have refreshed it
      // (the race a refresh must recheck for after taking the lock).
      for (const [i, url] of stack.urls.entries()) {
        const a = await fetch(`${url}/packages`);
        expect(a.status).toBe(200);
        seen.add(a.headers.get('x-cache')!);
        await a.arrayBuffer();
        await stack.runtimes[i]!.deps.engine.settle();
      }
      clock.advance(200);
    }
    // The cold fetch, then one refresh each time the entry reaches its last second of freshness: at 9 s, 18 s, 27 s.
    expect(stack.sim.count('list')).toBe(4);
    expect(seen).not.toContain('STALE');
  });

  it("one consumer listing 100 organizations causes at most its share, details included; another consumer's cold lists still complete", async () => {
    // 100 organizations of 10 private packages each: completing their lists would cost 1,000 gets.
    const many = manyOrganizations(100, 10);
    const clock = new FakeClock(Date.UTC(2026, 10, 23, 10, 40, 5));
    stack = await startStack({
      instances: 2,
      clock,
      redisUrl: await cleanRedisUrl(),
      sim: { budgetPerMinute: 1000, organizations: [...ORGANIZATIONS, ...many.organizations], packages: [...seedPackages(), ...many.packages] },
      env: { CACHE_LIST_DETAILS: 'true' },
    });
    await redisReady(stack);
    const greedy = await flood(many.organizations.map((o) => `/packages?organization=${o.sub_domain}`), { headers: asOps });
    // Its lists' details draw on its share too, so some of its later lists find the share spent.
    expect(new Set(greedy.map((a) => `${a.status} ${a.body.error?.code ?? ''}`.trim()))).toEqual(new Set(['200', '429 upstream_share_exhausted']));
    await Promise.all(stack.runtimes.map((r) => r.settle()));
    // Its share is a tenth of the token's 1000: 100 calls, whatever its lists would need besides.
    const forGreedy = stack.sim.count();
    expect(forGreedy).toBeLessThanOrEqual(100);
    const again = await fetch(`${stack.urls[1]}/packages?organization=org-0`, { headers: asOps });
    // Served with what is known (its organization's 20 public packages and its 10 private ones), nothing more fetched.
    const [known, total] = again.headers.get('x-packages-detail')!.split('/').map(Number);
    expect([again.status, total, known! < total!]).toEqual([200, 30, true]);
    await Promise.all(stack.runtimes.map((r) => r.settle()));
    expect(stack.sim.count()).toBe(forGreedy);

    // Another consumer, in the same minute, with its own share: its list is complete when it asks for it.
    const started = performance.now();
    const complete = await fetch(`${stack.urls[0]}/packages?organization=acme&complete=true`, { headers: { 'x-api-key': ACME_KEY } });
    expect(performance.now() - started).toBeLessThan(3000);
    expect(complete.headers.get('x-packages-detail')).toBe('22/22');
    const plain = await fetch(`${stack.urls[1]}/packages?organization=acme`, { headers: { 'x-api-key': ACME_KEY } });
    expect(plain.headers.get('x-packages-detail')).toBe('22/22');
  });

  it('a package is one entry whichever ref asks for it: a permalink after its list costs nothing, and every ref is served through a 429 minute', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 23, 10, 50, 5));
    stack = await startStack({ instances: 2, clock, redisUrl: await cleanRedisUrl(), env: { CACHE_LIST_DETAILS: 'true', CACHE_FRESH_SECONDS: '60', CACHE_SWR_SECONDS: '0' } });
    await redisReady(stack);
    const acme = { headers: { 'x-api-key': ACME_KEY } };
    for (let i = 0; i < 5; i++) {
      await (await fetch(`${stack.urls[0]}/packages?organization=acme`, acme)).arrayBuffer();
      await Promise.all(stack.runtimes.map((r) => r.settle()));
    }
    expect(stack.sim.count()).toBe(23); // acme's list and its 22 details: 20 public, 2 private
    const refs = [
      ['/packages/rock-1', {}],
      ['/packages/vmpkg_dhG25G5SX3HrA5j5', {}],
      ['/packages/acme-dedi-64?organization=acme', acme],
      ['/packages/vmpkg_AcmeGpu64xQ1w2E?organization=acme', acme],
      ['/core/v1/virtual_machine_packages/virtual_machine_package?virtual_machine_package[permalink]=rock-3', {}],
      ['/core/v1/virtual_machine_packages/_?virtual_machine_package[permalink]=acme-tiny-2', { headers: { authorization: `Bearer ${ACME_KEY}` } }],
    ] as const;
    // The public list, on the other instance, is the one call left to make: every get is held by id.
    for (const url of stack.urls) {
      for (const [path, init] of refs) {
        const res = await fetch(`${url}${path}`, init);
        expect([path, res.status]).toEqual([path, 200]);
      }
    }
    expect(stack.sim.log.slice(23).map((r) => `${r.route} ${r.query}`)).toEqual(['list ?page=1&per_page=200']);
    expect((await fetch(`${stack.urls[1]}/packages/rock-1`)).headers.get('x-cache')).toBe('HIT');

    // Everything expired, and Katapult answers 429 for the rest of the minute: held packages are served stale by every ref.
    clock.advance(3_700_000);
    stack.sim.setFault({ kind: 'status', status: 429 });
    for (const url of stack.urls) {
      for (const [path, init] of refs) {
        const res = await fetch(`${url}${path}`, init);
        expect([path, res.status]).toEqual([path, 200]);
        if (path.startsWith('/packages')) expect(res.headers.get('x-cache')).toBe('STALE');
      }
    }
    expect(stack.sim.log.filter((r) => r.status === 429)).toHaveLength(1); // the first refresh; the fleet then waits for the next minute
  });
});

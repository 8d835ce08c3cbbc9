import { afterEach, describe, expect, it } from 'vitest';
import { packagesResource } from '../src/packages/index.js';
import { KatapultSimulator } from '../src/simulator/simulator.js';
import { dataCentersResource, LIST_KEY } from './support/data-centers/index.js';
import { upstreamWithDataCenters } from './support/data-centers/upstream.js';
import { OPS_KEY } from './support/keys.js';
import { cleanRedisUrl } from './support/redis.js';
import { nextInvalidation, redisReady, startStack, type Stack } from './support/stack.js';

const ADMIN = 'adm1n-t0ken-long-enough';

/**
 * A second cached resource (`test/support/data-centers/`), defined through the same contract as packages
 * and added to the runtime's resource list by one line: the cached route, the engine, the fast path,
 * purge, the compatible surface and its not-found all work, and its not-founds cannot trip the circuit
 * that packages share.
 */
describe('a second cached resource', () => {
  let stack: Stack | null = null;
  let upstream: Awaited<ReturnType<typeof upstreamWithDataCenters>> | null = null;
  const sim = new KatapultSimulator();
  afterEach(async () => {
    await stack?.close();
    await upstream?.close();
    stack = upstream = null;
  });

  it('is served through the engine, the fast path, purge and the compatible surface; 20 unknown refs leave the circuit closed and /packages served', async () => {
    upstream = await upstreamWithDataCenters(sim);
    stack = await startStack({
      instances: 2,
      redisUrl: await cleanRedisUrl(),
      resources: [packagesResource, dataCentersResource],
      env: { KATAPULT_API_URL: upstream.url, KATAPULT_API_TOKEN: sim.token, ADMIN_TOKEN: ADMIN },
    });
    await redisReady(stack);
    const [a, b] = stack.urls as [string, string];

    const first = await fetch(`${a}/data-centers`);
    expect([first.status, first.headers.get('x-cache')]).toEqual([200, 'MISS']);
    expect((await first.json()).dataCenters.map((d: { name: string }) => d.name)).toEqual(['London', 'Amsterdam', 'New York']);
    // The other instance: from Redis, then from its fast path, never from upstream again.
    expect((await fetch(`${b}/data-centers`)).headers.get('x-cache')).toBe('HIT');
    const fast = await fetch(`${b}/data-centers`, { headers: { 'if-none-match': first.headers.get('etag')! } });
    expect(fast.status).toBe(304);
    expect((await (await fetch(`${b}/metrics`)).text())).toMatch(/kbff_cache_results_total\{result="l1_hit"\} [1-9]/);
    const byRef = await fetch(`${a}/data-centers/london`);
    expect([byRef.status, (await byRef.json()).dataCenter.id]).toEqual([200, 'dc_London000000001']);
    expect(upstream.calls()).toBe(2);

    // Made-up refs: Katapult's data_center_not_found, in this service's words, remembered; no breaker failure.
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${a}/data-centers/nowhere-${i}`);
      expect([res.status, (await res.json()).error.code]).toEqual([404, 'data_center_not_found']);
    }
    expect((await fetch(`${b}/data-centers/nowhere-0`)).status).toBe(404);
    expect(upstream.calls()).toBe(22); // each once for the fleet
    for (const url of stack.urls) expect((await (await fetch(`${url}/readyz`)).json()).upstream.circuit).toBe('closed');
    expect((await fetch(`${a}/packages`)).status).toBe(200);

    // The compatible surface: Katapult's bodies and its own words for the resource's not-found.
    const compat = await fetch(`${b}/core/v1/data_centers`, { headers: { authorization: `Bearer ${OPS_KEY}` } });
    expect(((await compat.json()).data_centers as unknown[]).length).toBe(3);
    const missing = await fetch(`${b}/core/v1/data_centers/data_center?data_center[permalink]=atlantis`, { headers: { authorization: `Bearer ${OPS_KEY}` } });
    expect([missing.status, await missing.json()]).toEqual([
      404,
      { error: { code: 'data_center_not_found', description: 'No data center was found matching any of the criteria provided in the arguments', detail: {} } },
    ]);

    // Purge: gone from every instance; the next request asks upstream again.
    const applied = nextInvalidation(stack); // the purge reaches the other instance asynchronously
    const purged = await fetch(`${a}/admin/invalidate`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ all: true }) });
    expect(purged.status).toBe(200);
    const calls = upstream.calls();
    await applied;
    expect(stack.runtimes[1]!.deps.engine.peek(LIST_KEY)).toBeUndefined();
    expect((await fetch(`${b}/data-centers`)).headers.get('x-cache')).toBe('MISS');
    expect(upstream.calls()).toBe(calls + 1);
  });
});

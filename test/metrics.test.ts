import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, OPS_KEY } from './support/keys.js';
import { cleanRedisUrl } from './support/redis.js';
import { redisReady, startStack, type Stack } from './support/stack.js';

describe('/metrics', () => {
  let stack: Stack;
  let text = '';
  const value = (line: string) => {
    const found = text.split('\n').find((l) => l.startsWith(line + ' '));
    return found === undefined ? undefined : Number(found.slice(line.length + 1));
  };

  beforeAll(async () => {
    stack = await startStack({ instances: 2, redisUrl: await cleanRedisUrl(), defaultMetrics: true, env: { CACHE_FRESH_SECONDS: '300' } });
    await redisReady(stack);
    const [a, b] = stack.urls;
    await fetch(`${a}/packages`); // miss
    await fetch(`${a}/packages`); // l1 hit (hit path)
    await fetch(`${b}/packages`); // l2 hit on the second instance
    await fetch(`${a}/packages/vmpkg_Eh5LYVKScVHpj7sM`); // miss
    await fetch(`${a}/packages/no-such-package`); // 404, decided by the held list: an l1 hit, no upstream call
    await fetch(`${a}/packages?organization=acme`, { headers: { 'x-api-key': ACME_KEY } });
    await fetch(`${a}/nowhere/at/all`);
    text = await (await fetch(`${a}/metrics`)).text();
  });
  afterAll(() => stack.close());

  it('counts requests by route pattern and status', () => {
    expect(value('kbff_http_requests_total{route="/packages",status="200"}')).toBe(3);
    expect(value('kbff_http_requests_total{route="/packages/:ref",status="200"}')).toBe(1);
    expect(value('kbff_http_requests_total{route="/packages/:ref",status="404"}')).toBe(1);
    expect(value('kbff_http_requests_total{route="other",status="404"}')).toBe(1);
  });

  it('counts cache results by tier and upstream requests by endpoint and outcome', async () => {
    expect(value('kbff_cache_results_total{result="miss"}')).toBe(3);
    expect(value('kbff_cache_results_total{result="l1_hit"}')).toBe(2);
    const other = await (await fetch(`${stack.urls[1]}/metrics`)).text();
    expect(other).toContain('kbff_cache_results_total{result="l2_hit"} 1');
    expect(value('kbff_upstream_requests_total{endpoint="list",outcome="ok"}')).toBe(2);
    expect(value('kbff_upstream_requests_total{endpoint="get",outcome="ok"}')).toBe(1);
    expect(value('kbff_upstream_requests_total{endpoint="get",outcome="package_not_found"}')).toBeUndefined();
    expect(value('kbff_upstream_request_duration_seconds_count{endpoint="get"}')).toBe(1);
    expect(value('kbff_upstream_ratelimit_permitted')).toBe(1000);
    expect(value('kbff_upstream_ratelimit_remaining')).toBe(1000 - stack.sim.count());
  });

  it('reports L1 size, circuit state, Redis errors and process metrics', () => {
    expect(value('kbff_l1_entries')).toBe(3);
    expect(value('kbff_l1_bytes')).toBeGreaterThan(4000);
    expect(value('kbff_upstream_circuit_state')).toBe(0);
    expect(text).toContain('# TYPE kbff_redis_errors_total counter');
    expect(text).toContain('kbff_process_resident_memory_bytes');
  });

  it('keeps labels bounded and secrets out: no ids, URLs, tokens or keys', () => {
    for (const secret of [stack.sim.token, ACME_KEY, OPS_KEY]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/vmpkg_|no-such-package|acme|nowhere/);
  });
});

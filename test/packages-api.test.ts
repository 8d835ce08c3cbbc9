import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/observability/logger.js';
import { createRuntime, type Runtime } from '../src/runtime.js';
import { KatapultSimulator } from '../src/simulator/simulator.js';
import { FakeClock } from './support/clock.js';
import { API_KEYS, asOps } from './support/keys.js';

/** The consumer API in-process (app.request) with a fake clock, upstream = the simulator over HTTP. */
describe('/packages', () => {
  const clock = new FakeClock();
  const sim = new KatapultSimulator({ now: () => clock.now(), budgetPerMinute: 100_000 });
  let rt: Runtime;
  const get = (path: string, headers: Record<string, string> = {}) => rt.app.request(path, { headers });

  let upstream = '';
  beforeAll(async () => {
    upstream = await sim.listen();
  });
  // A new instance per test, a minute later: no cache, budget window, breaker or failure carries over.
  beforeEach(() => {
    clock.advance(60_000);
    sim.resetCounts();
    rt = createRuntime(
      loadConfig({
        KATAPULT_API_URL: upstream,
        KATAPULT_API_TOKEN: sim.token,
        CACHE_FRESH_SECONDS: '60',
        CACHE_SWR_SECONDS: '30',
        CACHE_REFRESH_AHEAD_SECONDS: '10',
        CACHE_STALE_SECONDS: '600',
        CACHE_NEGATIVE_SECONDS: '10',
        CACHE_LIST_DETAILS: 'false', // counted exactly here; the details have their own tests
        CACHE_DETAIL_FRESH_SECONDS: '60',
        API_KEYS,
      }),
      { clock, logger: createLogger('silent') },
    );
  });
  afterEach(async () => {
    sim.setFault(null);
    await rt.close();
  });
  afterAll(() => sim.close());

  /** Background refreshes are awaited by nobody: wait for them, then count upstream calls. */
  const upstreamCalls = async (n: number) => {
    await rt.deps.engine.settle();
    expect(sim.count()).toBe(n);
  };

  it('lists every public package in upstream order, mapped, with nulls for what the list omits', async () => {
    const res = await get('/packages');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const { packages } = await res.json();
    expect(packages).toHaveLength(20);
    expect(packages.map((p: { name: string }) => p.name).slice(0, 3)).toEqual(['ROCK-1', 'ROCK-3', 'ROCK-6']);
    expect(packages[0]).toEqual({
      id: 'vmpkg_dhG25G5SX3HrA5j5', name: 'ROCK-1', permalink: 'rock-1', cpuCores: 1, memoryGb: 1, storageGb: 10,
      ipv4Addresses: 1, monthlyBandwidthGb: null, dedicatedCpus: null, privacy: 'public', group: null, iconUrl: null,
    });
  });

  it('gets one package by id or permalink with every field', async () => {
    const byLink = await (await get('/packages/rock-3')).json();
    const byId = await (await get('/packages/vmpkg_Eh5LYVKScVHpj7sM')).json();
    expect(byLink).toEqual(byId);
    expect(byLink.package).toMatchObject({ monthlyBandwidthGb: 2048, dedicatedCpus: false, group: { id: 'vmpkgrp_P5kCZvAtvXRC3sVl', name: 'Standard vCPU' } });
  });

  it('serves a fresh hit without calling upstream, with Age and the freshness left', async () => {
    const miss = await get('/packages');
    expect(miss.headers.get('x-cache')).toBe('MISS');
    clock.advance(20_000);
    const hit = await get('/packages');
    expect(hit.headers.get('x-cache')).toBe('HIT');
    expect(hit.headers.get('age')).toBe('20');
    expect(hit.headers.get('cache-control')).toBe('public, max-age=40');
    expect(hit.headers.get('etag')).toBe(miss.headers.get('etag'));
    expect(sim.count()).toBe(1);
  });

  it('past the stale-while-revalidate window, refreshes before answering: a 304 upstream means REVALIDATED', async () => {
    await get('/packages');
    clock.advance(91_000);
    const res = await get('/packages');
    expect(res.headers.get('x-cache')).toBe('REVALIDATED');
    expect(res.headers.get('age')).toBe('0');
    expect(sim.log.map((r) => [r.status, r.ifNoneMatch?.startsWith('W/"')])).toEqual([[200, undefined], [304, true]]);
  });

  it('picks up changed upstream data on refresh with a new ETag', async () => {
    const before = await get('/packages/rock-6');
    clock.advance(91_000);
    sim.updatePackage('vmpkg_dMeEyd1g8hwIlxR8', { storage_in_gb: 55 });
    const after = await get('/packages/rock-6');
    expect(after.headers.get('x-cache')).toBe('MISS');
    expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
    expect((await after.json()).package.storageGb).toBe(55);
  });

  it('serves stale at once within the stale-while-revalidate window, while one background refresh runs', async () => {
    const first = await get('/packages');
    clock.advance(61_000);
    const stale = await Promise.all([get('/packages'), get('/packages'), get('/packages')]);
    expect(stale.map((r) => r.headers.get('x-cache'))).toEqual(['STALE', 'STALE', 'STALE']);
    expect(stale[0]!.headers.get('warning')).toBeNull();
    expect(stale[0]!.headers.get('age')).toBe('61');
    await upstreamCalls(2);
    expect(sim.log[1]).toMatchObject({ status: 304, ifNoneMatch: expect.stringMatching(/^W\//) });
    const after = await get('/packages');
    expect([after.headers.get('x-cache'), after.headers.get('age'), after.headers.get('etag')]).toEqual(['HIT', '0', first.headers.get('etag')]);
  });

  it('refreshes a requested entry shortly before it goes stale (refresh-ahead), so it is never served stale', async () => {
    await get('/packages/rock-1'); // the public list (which says rock-1 exists), then the get
    clock.advance(45_000);
    expect((await get('/packages/rock-1')).headers.get('x-cache')).toBe('HIT');
    expect([sim.count('list'), sim.count('get')]).toEqual([1, 1]); // not yet in the last 10 s
    clock.advance(8_000);
    expect((await get('/packages/rock-1')).headers.get('x-cache')).toBe('HIT');
    await upstreamCalls(3);
    expect(sim.count('get')).toBe(2);
    clock.advance(10_000); // past the first entry's freshness: the refreshed one is still fresh
    const later = await get('/packages/rock-1');
    expect([later.headers.get('x-cache'), later.headers.get('age')]).toEqual(['HIT', '10']);
  });

  it('serves stale with a warning when the refresh fails, and keeps the good entry', async () => {
    const good = await (await get('/packages')).text();
    clock.advance(91_000);
    for (const fault of [{ kind: 'status', status: 503 }, { kind: 'status', status: 429 }, { kind: 'malformed' }] as const) {
      sim.setFault(fault);
      const res = await get('/packages');
      expect(res.status).toBe(200);
      expect(res.headers.get('x-cache')).toBe('STALE');
      expect(res.headers.get('warning')).toContain('111');
      expect(res.headers.get('cache-control')).toBe('public, max-age=0');
      expect(await res.text()).toBe(good);
    }
    sim.setFault(null);
    clock.advance(60_000); // the 429 stopped upstream calls until the next minute
    expect((await get('/packages')).headers.get('x-cache')).toBe('REVALIDATED');
  });

  it('past the stale window, an upstream failure is a clear JSON 503/504 with no body of ours', async () => {
    sim.setFault({ kind: 'status', status: 503 });
    const res = await get('/packages/rock-12');
    expect(res.status).toBe(503);
    expect((await res.json()).error.code).toBe('upstream_unavailable');
    sim.setFault({ kind: 'status', status: 429 });
    clock.set(Date.UTC(2026, 10, 22, 13, 0, 10));
    const limited = await get('/packages/rock-12');
    expect(limited.status).toBe(503);
    expect(Number(limited.headers.get('retry-after'))).toBe(50); // clock is at :10 past the minute
    // and the governor now refuses every call until the minute ends: nothing more reaches upstream
    const calls = sim.count();
    expect((await get('/packages/rock-18')).status).toBe(503);
    expect(sim.count()).toBe(calls);
  });

  it('retries a refused or 503 consumer request once, then opens the circuit and stops calling', async () => {
    sim.setFault({ kind: 'status', status: 503 });
    expect((await get('/packages/rock-1')).status).toBe(503);
    expect(sim.count()).toBe(2); // the request and one jittered retry
    await get('/packages/rock-3'); // failures 3 and 4
    await get('/packages/rock-6'); // failure 5: the circuit opens, no retry
    expect(sim.count()).toBe(5);
    const paused = await get('/packages/rock-12');
    expect([paused.status, (await paused.json()).error.message]).toEqual([503, 'Katapult keeps failing; calls are paused for a moment']);
    expect(sim.count()).toBe(5);
    expect((await (await get('/readyz')).json()).upstream.circuit).toBe('open');
    sim.setFault(null);
    clock.advance(10_000); // the cooldown: one probe goes through and closes the circuit
    expect((await get('/packages/rock-12')).status).toBe(200);
    expect((await (await get('/readyz')).json()).upstream.circuit).toBe('closed');
  });

  it('remembers a not-found briefly (negative caching)', async () => {
    // A package the held list still names, gone upstream since: the get answers 404, which is remembered.
    await get('/packages');
    sim.packages = sim.packages.filter((p) => p.permalink !== 'rock-1');
    const first = await get('/packages/rock-1');
    expect(first.status).toBe(404);
    expect((await first.json()).error.code).toBe('package_not_found');
    expect((await get('/packages/rock-1')).status).toBe(404);
    expect(sim.count('get')).toBe(1);
    clock.advance(11_000);
    await get('/packages/rock-1');
    expect(sim.count('get')).toBe(2);
  });

  describe('conditional requests (RFC 9110 §13.1.2)', () => {
    it.each([
      (etag: string) => etag,
      (etag: string) => `W/${etag}`,
      (etag: string) => `"other", ${etag}`,
      () => '*',
    ])('answers 304 for If-None-Match variant %#', async (variant) => {
      const etag = (await get('/packages')).headers.get('etag')!;
      const res = await get('/packages', { 'if-none-match': variant(etag) });
      expect(res.status).toBe(304);
      expect(await res.text()).toBe('');
      expect(res.headers.get('etag')).toBe(etag);
      expect(res.headers.get('x-cache')).toBe('HIT');
    });

    it('answers 200 when no listed tag matches', async () => {
      await get('/packages');
      expect((await get('/packages', { 'if-none-match': '"nope", W/"also-nope"' })).status).toBe(200);
    });

    it('derives the ETag from content: the same body gives the same tag in a new process', async () => {
      const a = await get('/packages/rock-1');
      const other = createRuntime(loadConfig({ KATAPULT_API_URL: upstream, KATAPULT_API_TOKEN: sim.token }), {
        clock,
        logger: createLogger('silent'),
      });
      const b = await other.app.request('/packages/rock-1');
      expect(b.headers.get('etag')).toBe(a.headers.get('etag'));
      await other.close();
    });
  });

  describe('organization scope', () => {
    const names = async (path: string) => ((await (await get(path, asOps)).json()).packages as Array<{ name: string }>).map((p) => p.name);

    it('never serves one organization\'s private packages to another or to a public request', async () => {
      expect(await names('/packages?organization=acme')).toEqual(expect.arrayContaining(['ACME-DEDI-64', 'ACME-TINY-2']));
      expect(await names('/packages?organization=globex')).not.toContain('ACME-TINY-2');
      expect(await names('/packages')).not.toContain('ACME-TINY-2');
      expect(await names('/packages?organization=org_G1obexInd5tr1es')).toContain('GLOBEX-DB-128');
    });

    it('finds a private package only inside its organization', async () => {
      expect((await get('/packages/acme-tiny-2')).status).toBe(404);
      expect((await get('/packages/acme-tiny-2?organization=globex', asOps)).status).toBe(404);
      const own = await get('/packages/acme-tiny-2?organization=acme', asOps);
      expect(own.status).toBe(200);
      expect(own.headers.get('cache-control')).toMatch(/^private, /);
      // and the public miss stays a miss after the org request filled the cache
      expect((await get('/packages/acme-tiny-2')).status).toBe(404);
    });

    it('says organization_not_found for an unknown organization', async () => {
      const res = await get('/packages?organization=no-such-org', asOps);
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe('organization_not_found');
    });
  });

  describe('bad input', () => {
    it.each([
      ['/packages?colour=red', 400, "unknown query parameter 'colour'"],
      ['/packages?organization=', 400, "query parameter 'organization'"],
      ['/packages?organization=a&organization=b', 400, 'more than once'],
      ['/packages?organization=%00%ff', 400, "query parameter 'organization'"],
      ['/packages?organization=' + 'a'.repeat(300), 400, "query parameter 'organization'"],
      ['/packages/..%2f..%2fetc', 400, "path parameter 'ref'"],
      ['/packages/%E0%A4%A', 400, "path parameter 'ref'"],
      ['/packages/rock-1?organization=has%20space', 400, "query parameter 'organization'"],
      ['/packages/a/b', 404, 'no route'],
      ['/%', 404, 'no route'],
    ])('%s → %i naming the problem', async (path, status, message) => {
      const res = await get(path);
      expect(res.status).toBe(status);
      const body = await res.json();
      expect(body.error.message).toContain(message);
      expect(body.error.requestId).toBe(res.headers.get('x-request-id'));
      expect(sim.count()).toBe(0);
    });

    it('answers other methods with 405 and Allow', async () => {
      const res = await rt.app.request('/packages', { method: 'DELETE' });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
    });
  });

  it('echoes a well-formed X-Request-Id and replaces a hostile one', async () => {
    expect((await get('/packages', { 'x-request-id': 'abc-123' })).headers.get('x-request-id')).toBe('abc-123');
    const hostile = await get('/nope', { 'x-request-id': 'x\ty'.repeat(100) });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

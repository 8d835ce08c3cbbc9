import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KatapultSimulator } from '../src/simulator/simulator.js';
import { FakeClock } from './support/clock.js';

/** The simulator must behave as shared/katapult/FACTS.md says the real API does. */
describe('Katapult simulator', () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 10, 0, 30));
  const sim = new KatapultSimulator({ budgetPerMinute: 5, now: () => clock.now() });
  let base = '';
  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { headers: { authorization: `Bearer ${sim.token}`, ...headers } });

  beforeAll(async () => {
    base = await sim.listen();
  });
  afterAll(() => sim.close());

  it('serves the list with the reduced field set, pagination and a weak SHA-256 ETag', async () => {
    clock.advance(60_000);
    const res = await get('/virtual_machine_packages?per_page=2');
    const text = await res.text();
    const body = JSON.parse(text);
    expect(res.headers.get('etag')).toBe(`W/"${createHash('sha256').update(text).digest('hex').slice(0, 32)}"`);
    expect(res.headers.get('cache-control')).toBe('max-age=0, private, must-revalidate');
    expect(body.pagination).toEqual({ current_page: 1, total_pages: 10, total: 20, per_page: 2, large_set: false });
    expect(Object.keys(body.virtual_machine_packages[0])).toEqual([
      'id', 'name', 'permalink', 'cpu_cores', 'ipv4_addresses', 'memory_in_gb', 'storage_in_gb', 'privacy', 'icon',
    ]);
  });

  it('answers both get URL forms, percent-encoded, with the same body and ETag', async () => {
    clock.advance(60_000);
    const a = await get('/virtual_machine_packages/virtual_machine_package?virtual_machine_package%5Bpermalink%5D=rock-3');
    const b = await get('/virtual_machine_packages/_?virtual_machine_package%5Bid%5D=vmpkg_Eh5LYVKScVHpj7sM');
    expect(a.status).toBe(200);
    expect(await a.text()).toBe(await b.text());
    expect(a.headers.get('etag')).toBe(b.headers.get('etag'));
    // The recorded ETag of ROCK-3 (shared/katapult/recorded/get-interactions.json).
    expect(a.headers.get('etag')).toBe('W/"1a22b1e94ba820ef313e1dd914e6c766"');
    const c = await get('/virtual_machine_packages/_');
    expect((await c.json()).error.code).toBe('package_not_found');
  });

  it('answers 304 to a matching If-None-Match', async () => {
    clock.advance(60_000);
    const first = await get('/virtual_machine_packages');
    const again = await get('/virtual_machine_packages', { 'if-none-match': first.headers.get('etag')! });
    expect(again.status).toBe(304);
    expect(again.headers.get('x-ratelimit-remaining')).toBe('3');
  });

  it('wraps every error and spends a fixed clock-minute budget', async () => {
    clock.set(Date.UTC(2026, 0, 1, 11, 0, 0));
    const seen: Array<[number, string | null, string | null]> = [];
    for (let i = 0; i < 6; i++) {
      const r = await get('/virtual_machine_packages');
      seen.push([r.status, r.headers.get('x-ratelimit-permitted'), r.headers.get('x-ratelimit-remaining')]);
      if (r.status === 429) {
        expect(await r.json()).toEqual({
          error: { code: 'rate_limit_reached', description: expect.any(String), detail: { total_permitted: 5 } },
        });
        expect(r.headers.get('retry-after')).toBeNull();
      } else await r.text();
    }
    expect(seen.map((s) => s[2])).toEqual(['4', '3', '2', '1', '0', '0']);
    expect(seen[5]![0]).toBe(429);
    clock.advance(60_000); // next clock minute: the budget is back
    expect((await get('/virtual_machine_packages')).headers.get('x-ratelimit-remaining')).toBe('4');
  });

  it.each([
    ['/virtual_machine_packages?organization%5Bid%5D=a&organization%5Bsub_domain%5D=b', 400, 'invalid_argument'],
    ['/virtual_machine_packages?per_page=201', 400, 'invalid_argument'],
    ['/virtual_machine_packages?page=0', 400, 'invalid_argument'],
    ['/virtual_machine_packages?organization%5Bsub_domain%5D=nope', 404, 'organization_not_found'],
    ['/virtual_machines', 404, 'route_not_found'],
  ])('%s gives %i %s in the wrapped envelope', async (path, status, code) => {
    clock.advance(60_000);
    const r = await get(path);
    expect(r.status).toBe(status);
    expect(r.headers.get('cache-control')).toBe('no-cache');
    expect((await r.json()).error.code).toBe(code);
  });

  it('refuses a missing or wrong token', async () => {
    clock.advance(60_000);
    expect((await (await fetch(`${base}/virtual_machine_packages`)).json()).error.code).toBe('missing_api_token');
    const wrong = await fetch(`${base}/virtual_machine_packages`, { headers: { authorization: 'Bearer nope' } });
    expect([wrong.status, (await wrong.json()).error.code]).toEqual([403, 'invalid_api_token']);
  });

  it('scopes private packages to their organization', async () => {
    clock.advance(60_000);
    const names = async (q: string) =>
      ((await (await get(`/virtual_machine_packages${q}`)).json()).virtual_machine_packages as Array<{ name: string }>).map((p) => p.name);
    expect(await names('')).not.toContain('ACME-TINY-2');
    expect(await names('?organization%5Bsub_domain%5D=acme')).toContain('ACME-TINY-2');
    expect(await names('?organization%5Bsub_domain%5D=acme')).not.toContain('GLOBEX-DB-128');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './support/stack.js';
import { asOps } from './support/keys.js';

describe('GET /packages conveniences', () => {
  let stack: Stack;
  let url = '';
  const names = async (q: string, headers = {}) => {
    const res = await fetch(`${url}/packages?${q}`, { headers });
    expect(res.status).toBe(200);
    return ((await res.json()).packages as Array<{ name: string }>).map((p) => p.name);
  };
  beforeAll(async () => {
    stack = await startStack();
    url = stack.urls[0]!;
    await fetch(`${url}/packages`);
  });
  afterAll(() => stack.close());

  it('filters, sorts and trims the cached list without an upstream call', async () => {
    const before = stack.sim.count();
    expect(await names('min_cpu_cores=48&sort=-memoryGb')).toEqual(['BOULDER-960', 'BOULDER-640', 'ROCK-288', 'ROCK-192', 'ROCK-144']);
    expect(await names('min_memory_gb=100&min_storage_gb=1000&sort=storageGb')).toEqual(['ROCK-144', 'BOULDER-960', 'ROCK-192', 'ROCK-288']);
    expect(await names('privacy=public&sort=name')).toHaveLength(20);
    const trimmed = await (await fetch(`${url}/packages?fields=id,name&min_memory_gb=900`)).json();
    expect(trimmed).toEqual({ packages: [{ id: 'vmpkg_GDVwfn0oSCGPbqsE', name: 'BOULDER-960' }] });
    expect(stack.sim.count()).toBe(before);
  });

  it('matches only what the list carries: Katapult\'s list has no group or dedicated flag', async () => {
    expect(await names('group=Standard%20vCPU')).toEqual([]);
    expect(await names('dedicated=false')).toEqual([]);
    expect(await names('privacy=private&organization=acme', asOps)).toEqual(['ACME-DEDI-64', 'ACME-TINY-2']);
  });

  it('gives each shaped answer its own ETag, and honours If-None-Match on it', async () => {
    const a = await fetch(`${url}/packages?sort=name`);
    const b = await fetch(`${url}/packages?sort=-name`);
    expect(a.headers.get('etag')).not.toBe(b.headers.get('etag'));
    const again = await fetch(`${url}/packages?sort=name`, { headers: { 'if-none-match': a.headers.get('etag')! } });
    expect(again.status).toBe(304);
  });

  it.each([
    ['min_cpu_cores=-1', 'min_cpu_cores'],
    ['min_memory_gb=lots', 'min_memory_gb'],
    ['dedicated=yes', 'dedicated'],
    ['privacy=secret', 'privacy'],
    ['sort=price', 'sort'],
    ['fields=id,secret', 'fields'],
    ['limit=5', 'limit'],
  ])('rejects %s with a 400 naming %s', async (q, param) => {
    const res = await fetch(`${url}/packages?${q}`);
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toContain(`'${param}'`);
  });
});

describe('shaped answers under the L1 byte bound', () => {
  it('keeps 10,000 distinct shapes within their share of CACHE_L1_MAX_BYTES, counted in kbff_l1_bytes, without pushing the list out', async () => {
    const maxBytes = 1_000_000;
    const stack = await startStack({ env: { CACHE_L1_MAX_BYTES: String(maxBytes) } });
    try {
      const rt = stack.runtimes[0]!;
      const fields = ['id', 'name', 'permalink', 'cpuCores', 'memoryGb', 'storageGb', 'ipv4Addresses', 'monthlyBandwidthGb', 'dedicatedCpus', 'privacy', 'group', 'iconUrl'];
      const sorts = ['name', '-memoryGb', 'cpuCores'];
      let asked = 0;
      for (let mask = 1; asked < 10_000; mask++) {
        const chosen = fields.filter((_, i) => mask & (1 << i));
        for (const sort of sorts) {
          if (asked++ >= 10_000) break;
          const res = await rt.app.request(`/packages?fields=${chosen.join(',')}&sort=${sort}`);
          expect(res.status).toBe(200);
          await res.arrayBuffer();
        }
      }
      const { bytes } = rt.deps.store.l1.size;
      expect(bytes).toBeLessThanOrEqual(maxBytes);
      expect(bytes).toBeGreaterThan(maxBytes / 8); // the shapes are kept, up to their share
      const metrics = await (await fetch(`${stack.urls[0]}/metrics`)).text();
      expect(Number(/^kbff_l1_bytes (\d+)/m.exec(metrics)![1])).toBe(bytes);
      expect(stack.sim.count('list')).toBe(1); // the list itself stayed in L1 throughout
    } finally {
      await stack.close();
    }
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from './support/clock.js';
import { ACME_KEY, asOps } from './support/keys.js';
import { cleanRedisUrl } from './support/redis.js';
import { redisReady, startStack, type Stack } from './support/stack.js';

type Pkg = { id: string; name: string; group: { id: string; name: string } | null; monthlyBandwidthGb: number | null; dedicatedCpus: boolean | null };

/** Lists with every field, filled from each package's detail: fetched by the service, within the budget. */
describe('complete lists', () => {
  let stack: Stack;
  afterEach(() => stack.close());

  const start = async (opts: { instances?: number; clock?: FakeClock; env?: Record<string, string>; budget?: number } = {}) => {
    stack = await startStack({
      instances: opts.instances ?? 1,
      clock: opts.clock,
      redisUrl: await cleanRedisUrl(),
      sim: { budgetPerMinute: opts.budget ?? 1000 },
      env: { CACHE_LIST_DETAILS: 'true', ...opts.env },
    });
    await redisReady(stack);
  };
  const settle = () => Promise.all(stack.runtimes.map((r) => r.settle()));
  /** Asks for the list until no background fetch is left to start (each answer may start some). */
  const untilSettled = async (url: string, path = '/packages', init: RequestInit = {}) => {
    for (let i = 0; i < 10; i++) {
      await (await fetch(`${url}${path}`, init)).arrayBuffer();
      await settle();
    }
    return fetch(`${url}${path}`, init);
  };

  it('a cold list becomes complete with no consumer asking for a get, one get per package fleet-wide, the same answer on every instance', async () => {
    await start({ instances: 3 });
    const first = await fetch(`${stack.urls[0]}/packages`);
    expect(first.headers.get('x-packages-detail')).toBe('0/20');
    expect(((await first.json()).packages as Pkg[]).every((p) => p.group === null)).toBe(true);
    await untilSettled(stack.urls[0]!);
    const answers = await Promise.all(stack.urls.map((u) => untilSettled(u)));
    for (const a of answers) expect(a.headers.get('x-packages-detail')).toBe('20/20');
    expect(new Set(answers.map((a) => a.headers.get('etag'))).size).toBe(1);
    const packages = (await answers[0]!.json()).packages as Pkg[];
    expect(packages.find((p) => p.name === 'ROCK-3')).toMatchObject({ group: { name: 'Standard vCPU' }, monthlyBandwidthGb: 2048, dedicatedCpus: false });
    expect(packages.find((p) => p.name === 'BOULDER-20')!.group?.name).toBe('High Memory');
    expect(stack.sim.count('get')).toBe(20);
    expect(stack.sim.count('list')).toBe(1);
    // Complete and fresh: the fast path answers it, with the same headers.
    const fast = await fetch(`${stack.urls[1]}/packages`);
    expect([fast.headers.get('x-cache'), fast.headers.get('x-packages-detail'), fast.headers.get('etag')]).toEqual(['HIT', '20/20', answers[0]!.headers.get('etag')]);
  });

  it('revalidates details rather than refetching them, and a changed detail reaches every instance and changes the ETag', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 23, 12, 0, 1));
    await start({ instances: 2, clock, env: { CACHE_FRESH_SECONDS: '600', CACHE_DETAIL_FRESH_SECONDS: '120' } });
    await untilSettled(stack.urls[0]!);
    const before = await untilSettled(stack.urls[1]!);
    expect(before.headers.get('x-packages-detail')).toBe('20/20');
    stack.sim.updatePackage('vmpkg_Eh5LYVKScVHpj7sM', { monthly_bandwidth_allowance_in_gb: 9999 });
    stack.sim.resetCounts();

    clock.advance(121_000); // details expired, the list still fresh
    await untilSettled(stack.urls[0]!);
    const gets = stack.sim.log.filter((r) => r.route === 'get');
    expect(gets).toHaveLength(20);
    expect(gets.every((r) => r.ifNoneMatch?.startsWith('W/"'))).toBe(true); // every one conditional
    expect(gets.filter((r) => r.status === 304)).toHaveLength(19); // only ROCK-3 changed

    for (const url of stack.urls) {
      const after = await untilSettled(url);
      expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
      expect(((await after.json()).packages as Pkg[]).find((p) => p.id === 'vmpkg_Eh5LYVKScVHpj7sM')!.monthlyBandwidthGb).toBe(9999);
    }
    // A consumer revalidating with the old ETag gets the completed list.
    expect((await fetch(`${stack.urls[1]}/packages`, { headers: { 'if-none-match': before.headers.get('etag')! } })).status).toBe(200);
  });

  it("charges each detail's first fetch to the consumer whose list needs it: past its share the list stays incomplete until another consumer asks", async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 23, 12, 10, 1));
    await start({ clock, env: { CONSUMER_UPSTREAM_PER_MINUTE: '5', TRUST_PROXY_HOPS: '1' } });
    const from = (address: string) => untilSettled(stack.urls[0]!, '/packages', { headers: { 'x-forwarded-for': address } });
    expect((await from('10.0.0.1')).headers.get('x-packages-detail')).toBe('4/20'); // the list, then 4 details: its 5
    expect(stack.sim.count()).toBe(5);
    expect((await from('10.0.0.2')).headers.get('x-packages-detail')).toBe('9/20'); // 5 more, on the second caller's share
    expect(stack.sim.count()).toBe(10);
    const metrics = await (await fetch(`${stack.urls[0]}/metrics`)).text();
    expect(metrics).toMatch(/kbff_upstream_refusals_total\{reason="consumer_share"\} [1-9]/);
  });

  it("keeps held details fresh as the service's own upkeep, within the governor's upkeep share (half the background's)", async () => {
    // A token of 10 calls a minute: background refreshes stop at 8, the details' upkeep at 4.
    const clock = new FakeClock(Date.UTC(2026, 10, 23, 12, 10, 1));
    await start({ clock, budget: 10, env: { CONSUMER_UPSTREAM_PER_MINUTE: '100', CACHE_FRESH_SECONDS: '3600', CACHE_DETAIL_FRESH_SECONDS: '600' } });
    // Consumers pay for the first fetches, 10 calls a minute: three minutes to hold all 20.
    for (let minute = 0; minute < 3; minute++, clock.advance(60_000)) await untilSettled(stack.urls[0]!);
    expect((await untilSettled(stack.urls[0]!)).headers.get('x-packages-detail')).toBe('20/20');
    expect(stack.sim.count()).toBe(21);

    stack.sim.resetCounts();
    clock.advance(600_000); // every detail expired, still served; a new minute
    const stale = await untilSettled(stack.urls[0]!);
    expect(stale.headers.get('x-packages-detail')).toBe('20/20');
    expect(stack.sim.log.map((r) => r.route)).toEqual(['get', 'get', 'get', 'get']);
    expect(stack.sim.log.every((r) => r.ifNoneMatch !== null)).toBe(true); // revalidations
    const metrics = await (await fetch(`${stack.urls[0]}/metrics`)).text();
    expect(metrics).toMatch(/kbff_upstream_refusals_total\{reason="budget"\} [1-9]/);
    expect((await fetch(`${stack.urls[0]}/readyz`).then((r) => r.json())).upstream.budget).toMatchObject({ backgroundLimit: 8, upkeepLimit: 4 });
  });

  it('fetches nothing after a 429', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 23, 12, 20, 1));
    await start({ clock });
    // The first detail fetch meets a 429: set before the list, whose answer starts the fetches.
    stack.sim.setFault({ kind: 'status', status: 429 }, 1, 'get');
    await (await fetch(`${stack.urls[0]}/packages`)).arrayBuffer(); // the list
    await untilSettled(stack.urls[0]!);
    // At most the fetches already on their way (four at a time) when the 429 came back; none after it.
    const calls = stack.sim.log.map((r) => `${r.route} ${r.status}`);
    expect(calls.slice(0, 2)).toEqual(['list 200', 'get 429']);
    expect(calls.length).toBeLessThanOrEqual(5);
    await untilSettled(stack.urls[0]!);
    expect(stack.sim.count()).toBe(calls.length);
    expect((await fetch(`${stack.urls[0]}/readyz`).then((r) => r.json())).upstream.budget.blockedUntil).toBe(Date.UTC(2026, 10, 23, 12, 21, 0));
  });

  it('keeps a private package\'s detail in its own organization\'s list', async () => {
    await start();
    const acme = await untilSettled(stack.urls[0]!, '/packages?organization=acme', { headers: { 'x-api-key': ACME_KEY } });
    expect(acme.headers.get('x-packages-detail')).toBe('22/22');
    const dedi = ((await acme.json()).packages as Pkg[]).find((p) => p.id === 'vmpkg_AcmeGpu64xQ1w2E');
    expect(dedi).toMatchObject({ group: { name: 'Dedicated vCPU' }, dedicatedCpus: true, monthlyBandwidthGb: null });
    for (const [path, init] of [
      ['/packages?organization=globex', { headers: asOps }],
      ['/packages', {}],
    ] as const) {
      const other = await untilSettled(stack.urls[0]!, path, init);
      expect(((await other.json()).packages as Pkg[]).some((p) => p.id.startsWith('vmpkg_Acme'))).toBe(false);
    }
  });

  it('?complete=true answers complete within its bound, charged to the consumer', async () => {
    await start();
    const started = performance.now();
    const res = await fetch(`${stack.urls[0]}/packages?complete=true`);
    expect(performance.now() - started).toBeLessThan(3500);
    expect(res.headers.get('x-packages-detail')).toBe('20/20');
    expect(((await res.json()).packages as Pkg[]).every((p) => p.group !== null)).toBe(true);
  });

  it('filters lists by group, dedicated CPUs and bandwidth, and groups them for a picker', async () => {
    await start();
    await untilSettled(stack.urls[0]!, '/packages?organization=acme', { headers: asOps });
    const get = async (q: string) => (await (await fetch(`${stack.urls[0]}/packages?organization=acme&${q}`, { headers: asOps })).json()) as { packages: Pkg[]; groups: Array<{ id: string | null; name: string | null; packages: Pkg[] }> };
    expect((await get('group=High%20Memory')).packages.map((p) => p.name)).toEqual(['BOULDER-20', 'BOULDER-40', 'BOULDER-80', 'BOULDER-160', 'BOULDER-320', 'BOULDER-640', 'BOULDER-960']);
    expect((await get('group=vmpkgrp_Dd4XcV6bNm8kLj2h')).packages.map((p) => p.name)).toEqual(['ACME-DEDI-64']);
    expect((await get('dedicated=true')).packages.map((p) => p.name)).toEqual(['ACME-DEDI-64']);
    expect((await get('min_bandwidth_gb=20000&fields=name')).packages.length).toBeGreaterThan(0);
    const grouped = await get('group_by=group');
    expect(grouped.groups.map((g) => g.name)).toEqual(['Standard vCPU', 'High Memory', 'Dedicated vCPU']);
    expect(grouped.groups.flatMap((g) => g.packages)).toHaveLength(22);
    // Trimming fields keeps each package in its group.
    const names = await get('group_by=group&fields=name');
    expect(names.groups.map((g) => [g.name, g.packages.length])).toEqual(grouped.groups.map((g) => [g.name, g.packages.length]));
    expect(names.groups[2]!.packages).toEqual([{ name: 'ACME-DEDI-64' }]);
  });

  it('leaves the Katapult-compatible list as Katapult sends it: its reduced field set', async () => {
    await start();
    await untilSettled(stack.urls[0]!);
    const res = await fetch(`${stack.urls[0]}/core/v1/virtual_machine_packages?per_page=200`);
    const items = (await res.json()).virtual_machine_packages as Array<Record<string, unknown>>;
    expect(items).toHaveLength(20);
    for (const item of items) expect(Object.keys(item)).toEqual(['id', 'name', 'permalink', 'cpu_cores', 'ipv4_addresses', 'memory_in_gb', 'storage_in_gb', 'privacy', 'icon']);
  });
});

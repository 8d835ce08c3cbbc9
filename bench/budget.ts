import { Redis } from 'ioredis';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/observability/logger.js';
import { createRuntime, type Runtime } from '../src/runtime.js';
import { manyOrganizations, ORGANIZATIONS, seedPackages } from '../src/simulator/seed.js';
import { KatapultSimulator, type SimulatorOptions } from '../src/simulator/simulator.js';
import { FakeClock } from '../test/support/clock.js';

/**
 * What consumers can make the service spend upstream: each abuse pattern of issue 8 and steady load at
 * several freshness settings, counted from the simulator's request log, beside what a plain pass-through
 * (one upstream call per consumer request) would have spent. Counts, not timings: the service clock is
 * simulated, so the figures are the same on any machine.
 */
export interface BudgetRow {
  pattern: string;
  consumerRequests: number;
  upstreamCalls: number;
  /** What a pass-through proxy would have called upstream for the same requests. */
  passThrough: number;
  note: string;
}

const KEY = 'bench-key-0123456789abcdef';
const ACME = 'bench-acme-0123456789abcdef';

async function fleet(redisUrl: string | null, instances: number, env: Record<string, string>, clock: FakeClock, catalogue: SimulatorOptions = {}) {
  const sim = new KatapultSimulator({ now: () => clock.now(), ...catalogue });
  const upstream = await sim.listen();
  if (redisUrl) {
    const admin = new Redis(redisUrl);
    await admin.flushdb();
    await admin.quit();
  }
  const runtimes: Runtime[] = [];
  const urls: string[] = [];
  for (let i = 0; i < instances; i++) {
    const config = loadConfig({
      KATAPULT_API_URL: upstream,
      KATAPULT_API_TOKEN: sim.token,
      REDIS_URL: redisUrl ?? undefined,
      LOG_LEVEL: 'silent',
      API_KEYS: `greedy:${KEY}:*,acme:${ACME}:acme|org_Ac7meCoRp0rat10n`,
      CACHE_LIST_DETAILS: 'false',
      CONSUMER_BURST: '100000',
      CONSUMER_RATE_PER_SECOND: '100000',
      ...env,
    });
    const rt = createRuntime(config, { clock, logger: createLogger('silent'), defaultMetrics: false });
    runtimes.push(rt);
    urls.push(await rt.listen(0, '127.0.0.1'));
  }
  while (runtimes.some((r) => r.redis && r.redis.status !== 'ready')) await new Promise((r) => setTimeout(r, 20));
  return {
    sim,
    urls,
    settle: () => Promise.all(runtimes.map((r) => r.settle())),
    async close() {
      await Promise.all(runtimes.map((r) => r.close()));
      await sim.close();
    },
  };
}

/** Sends every path, 50 at a time, spread over the instances. */
async function flood(urls: string[], paths: string[], headers: Record<string, string> = {}): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < paths.length; i += 50) {
    const batch = paths.slice(i, i + 50).map((p, j) => fetch(`${urls[(i + j) % urls.length]}${p}`, { headers }).then(async (r) => (await r.arrayBuffer(), r.status)));
    statuses.push(...(await Promise.all(batch)));
  }
  return statuses;
}

const tally = (statuses: number[]) => [...new Map(statuses.map((s) => [s, statuses.filter((x) => x === s).length])).entries()].map(([s, n]) => `${n} × ${s}`).join(', ');

export async function abuseRows(redisUrl: string | null): Promise<BudgetRow[]> {
  const rows: BudgetRow[] = [];

  let f = await fleet(redisUrl, 1, {}, new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 5)));
  const refs = Array.from({ length: 2000 }, (_, i) => `/packages/made-up-${i}`);
  let statuses = await flood(f.urls, refs);
  rows.push({ pattern: 'unknown refs, anonymous (`/packages/made-up-N`)', consumerRequests: refs.length, upstreamCalls: f.sim.count(), passThrough: refs.length, note: tally(statuses) });
  await f.close();

  f = await fleet(redisUrl, 1, {}, new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 5)));
  const ids = Array.from({ length: 1000 }, (_, i) => `/core/v1/virtual_machine_packages/virtual_machine_package?virtual_machine_package%5Bid%5D=vmpkg_Nope${i}`);
  statuses = await flood(f.urls, ids, { authorization: `Bearer ${ACME}` });
  rows.push({ pattern: 'unknown ids, Katapult-compatible get, a key naming one organization two ways', consumerRequests: ids.length, upstreamCalls: f.sim.count(), passThrough: ids.length, note: tally(statuses) });
  await f.close();

  f = await fleet(redisUrl, 3, {}, new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 5)));
  const orgs = Array.from({ length: 1500 }, (_, i) => `/packages?organization=nope-${i}`);
  statuses = await flood(f.urls, orgs, { 'x-api-key': KEY });
  rows.push({ pattern: 'a greedy `*` key: unknown organizations, 3 instances', consumerRequests: orgs.length, upstreamCalls: f.sim.count(), passThrough: orgs.length, note: tally(statuses) });
  await f.close();

  // Amplification: each list a consumer asks for needs every package's detail, which its share pays for.
  const many = manyOrganizations(100, 10);
  f = await fleet(redisUrl, 3, { CACHE_LIST_DETAILS: 'true' }, new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 5)), {
    organizations: [...ORGANIZATIONS, ...many.organizations],
    packages: [...seedPackages(), ...many.packages],
  });
  const lists = many.organizations.map((o) => `/packages?organization=${o.sub_domain}`);
  statuses = await flood(f.urls, lists, { 'x-api-key': KEY });
  await f.settle();
  rows.push({
    pattern: 'amplification: a `*` key lists 100 organizations of 10 private packages each (details on), 3 instances',
    consumerRequests: lists.length,
    upstreamCalls: f.sim.count(),
    passThrough: lists.length,
    note: `${tally(statuses)}; its share is 100 a minute, details included (completing every list would cost ${lists.length} lists + ${many.packages.length + 20} gets)`,
  });
  await f.close();

  // A package by permalink after its list: the list's details are the gets' entries.
  f = await fleet(redisUrl, 3, { CACHE_LIST_DETAILS: 'true' }, new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 5)));
  for (let i = 0; i < 3; i++) {
    await (await fetch(`${f.urls[0]}/packages`)).arrayBuffer();
    await f.settle();
  }
  const permalinks = seedPackages().filter((p) => p.privacy === 'public').map((p) => p.permalink);
  const gets = Array.from({ length: 1000 }, (_, i) => `/packages/${permalinks[i % permalinks.length]}`);
  statuses = await flood(f.urls, gets);
  rows.push({
    pattern: 'the public list, then 1,000 gets by permalink (20 packages), 3 instances',
    consumerRequests: 3 + gets.length,
    upstreamCalls: f.sim.count(),
    passThrough: 3 + gets.length,
    note: `${tally(statuses)}; the list and its 20 details, no call for the gets`,
  });
  await f.close();
  return rows;
}

/** Steady load on one key: each instance asks for `/packages` once a second for `minutes` of service time. */
export async function steadyRows(redisUrl: string | null, minutes = 10): Promise<BudgetRow[]> {
  const rows: BudgetRow[] = [];
  for (const fresh of [10, 60, 300]) {
    for (const instances of [1, 3]) {
      const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
      const f = await fleet(instances > 1 ? redisUrl : null, instances, { CACHE_FRESH_SECONDS: String(fresh) }, clock);
      let requests = 0;
      for (let s = 0; s < minutes * 60; s++) {
        for (const url of f.urls) {
          await (await fetch(`${url}/packages`)).arrayBuffer();
          requests++;
        }
        await f.settle();
        clock.advance(1000);
      }
      rows.push({
        pattern: `steady: CACHE_FRESH_SECONDS=${fresh}, ${instances} instance${instances > 1 ? 's, shared Redis' : ''}`,
        consumerRequests: requests,
        upstreamCalls: f.sim.count(),
        passThrough: requests,
        note: `${(f.sim.count() / minutes).toFixed(1)} calls per minute for the key (60 / ${fresh} = ${(60 / fresh).toFixed(1)})`,
      });
      await f.close();
    }
  }
  return rows;
}

/**
 * What complete lists cost: the public list, and 10 organizations with 20 private packages each, asked
 * for once a minute each, at the default settings (lists fresh 300 s, details 3600 s), over two hours of
 * service clock on 3 instances sharing Redis. The second hour is counted: the cold first fetch is not
 * what it costs to keep them.
 */
export async function detailCostRows(redisUrl: string | null): Promise<Array<{ label: string; lists: number; details: number; perHour: number }>> {
  const organizations = Array.from({ length: 10 }, (_, i) => ({ id: `org_Bench${String(i).padStart(10, '0')}`, sub_domain: `bench-${i}`, name: `Bench ${i}` }));
  const packages = [
    ...seedPackages().filter((p) => p.privacy === 'public'),
    ...organizations.flatMap((o, i) =>
      Array.from({ length: 20 }, (_, j) => ({
        ...seedPackages()[0]!,
        id: `vmpkg_B${String(i).padStart(2, '0')}x${String(j).padStart(11, '0')}`,
        name: `ORG${i}-PKG${j}`,
        permalink: `org${i}-pkg${j}`,
        privacy: 'private' as const,
        organizationId: o.id,
      })),
    ),
  ];
  const rows = [];
  for (const [label, paths] of [
    ['the public list (20 packages)', ['/packages']],
    ['10 organizations of 20 packages each, and the public list', ['/packages', ...organizations.map((o) => `/packages?organization=${o.sub_domain}`)]],
  ] as const) {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
    const f = await fleet(redisUrl, 3, { CACHE_LIST_DETAILS: 'true' }, clock, { packages, organizations });
    let counted = { lists: 0, gets: 0 };
    for (let minute = 0; minute < 120; minute++) {
      if (minute === 60) counted = { lists: f.sim.count('list'), gets: f.sim.count('get') };
      for (const [i, path] of paths.entries()) {
        await (await fetch(`${f.urls[i % f.urls.length]}${path}`, { headers: { 'x-api-key': KEY } })).arrayBuffer();
      }
      await f.settle();
      clock.advance(60_000);
    }
    const lists = f.sim.count('list') - counted.lists;
    const details = f.sim.count('get') - counted.gets;
    rows.push({ label, lists, details, perHour: lists + details });
    await f.close();
  }
  return rows;
}

/** One point of the load curve: a fleet's upstream calls a minute at a rate of consumer requests. */
export interface CurvePoint {
  series: string;
  consumerPerMinute: number;
  upstreamPerMinute: number;
}

/**
 * Upstream calls a minute against consumer requests a minute: the public list and the 20 public packages
 * asked for in a fixed pseudo-random mix, at several rates, for 5 minutes of service clock each at
 * CACHE_FRESH_SECONDS=60, on 1 instance and on 3 sharing Redis; a pass-through would call once per request.
 */
export async function loadCurve(redisUrl: string | null, rates = [6, 60, 600, 3000], minutes = 5): Promise<CurvePoint[]> {
  const paths = ['/packages', ...seedPackages().filter((p) => p.privacy === 'public').map((p) => `/packages/${p.id}`)];
  const points: CurvePoint[] = [];
  for (const instances of redisUrl ? [1, 3] : [1]) {
    for (const rate of rates) {
      const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
      const f = await fleet(instances > 1 ? redisUrl : null, instances, { CACHE_FRESH_SECONDS: '60', CACHE_LIST_DETAILS: 'true' }, clock);
      let owed = 0;
      let sent = 0;
      let seed = 7;
      for (let s = 0; s < minutes * 60; s++) {
        owed += rate / 60;
        for (; owed >= 1; owed--) {
          seed = (seed * 1103515245 + 12345) % 2 ** 31;
          await (await fetch(`${f.urls[sent % f.urls.length]}${paths[seed % paths.length]}`)).arrayBuffer();
          sent++;
        }
        await f.settle();
        clock.advance(1000);
      }
      points.push({ series: `service, ${instances === 1 ? '1 instance' : `${instances} instances, shared Redis`}`, consumerPerMinute: sent / minutes, upstreamPerMinute: f.sim.count() / minutes });
      await f.close();
    }
  }
  for (const rate of rates) points.push({ series: 'plain pass-through', consumerPerMinute: rate, upstreamPerMinute: rate });
  return points;
}

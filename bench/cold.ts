import { generatedPackages, ORGANIZATIONS, seedPackages } from '../src/simulator/seed.js';
import { KatapultSimulator } from '../src/simulator/simulator.js';
import { has, startNginx, startServer, type Server } from './http.js';

/** What a cold key costs in time and upstream calls, with a 50 ms upstream, for the service and nginx. */
const LATENCY_MS = 50;
const KEY = 'bench-acme-0123456789abcdef';

export interface ColdRow {
  label: string;
  upstreamCalls: number;
  /** Wall time of the one cold request, or p50 of the concurrent ones. */
  ms: number;
  p99Ms?: number;
  answers: string;
}

/** The service in a process of its own (pinned like the others, request log on), in front of `sim`, warmed up. */
async function service(sim: KatapultSimulator) {
  const upstream = await sim.listen(0, '127.0.0.1');
  const settings = {
    KATAPULT_API_URL: upstream,
    KATAPULT_API_TOKEN: sim.token,
    API_KEYS: `ops:${KEY}:*`,
    CACHE_LIST_DETAILS: 'false',
    CONSUMER_BURST: '100000',
    CONSUMER_RATE_PER_SECOND: '100000',
  };
  const server = await startServer(['service', 'info', JSON.stringify(settings)]);
  // A process's first request also pays for compiling the code it runs: warm it on another key (an
  // organization the measured requests never ask for), so what is measured is a cold key, not a cold process.
  await (await fetch(`${server.url}/packages?organization=globex`, { headers: { 'x-api-key': KEY } })).arrayBuffer();
  sim.log.length = 0;
  return {
    url: server.url,
    close: async () => {
      server.stop();
      await sim.close();
    },
  };
}

/**
 * The first request for an organization's list of 10 pages: page 1 gives the count, then the other 9 at
 * once. Measured with the upstream 50 ms away and, as the baseline of the service's own work on a list it
 * has never seen, 0 ms away.
 */
export async function coldTenPages(): Promise<ColdRow[]> {
  const acme = ORGANIZATIONS[0]!;
  const own = generatedPackages(100).map((p) => ({ ...p, privacy: 'private' as const, organizationId: acme.id }));
  const packages = [...seedPackages(), ...own];
  const visible = packages.filter((p) => p.privacy === 'public' || p.organizationId === acme.id).length;
  const rows: ColdRow[] = [];
  for (const latency of [LATENCY_MS, 0]) {
    const sim = new KatapultSimulator({ packages, maxPerPage: Math.ceil(visible / 10), budgetPerMinute: 100_000 });
    const svc = await service(sim);
    try {
      if (latency) sim.setFault({ kind: 'latency', ms: latency });
      const started = performance.now();
      const res = await fetch(`${svc.url}/packages?organization=acme`, { headers: { 'x-api-key': KEY } });
      const body = (await res.json()) as { packages: unknown[] };
      const ms = performance.now() - started;
      const pages = new Set(sim.log.map((r) => new URLSearchParams(r.query).get('page'))).size;
      rows.push({
        label: `service: cold organization list, ${visible} packages in ${pages} pages, upstream ${latency} ms away`,
        upstreamCalls: sim.log.length,
        ms,
        answers: `${res.status}, ${body.packages.length} packages`,
      });
    } finally {
      await svc.close();
    }
  }
  return rows;
}

const CONCURRENT = 200;

async function herd(label: string, url: string, headers: Record<string, string>, calls: () => number): Promise<ColdRow> {
  const times: number[] = [];
  const statuses = new Map<number, number>();
  await Promise.all(
    Array.from({ length: CONCURRENT }, async () => {
      const started = performance.now();
      const res = await fetch(url, { headers });
      await res.arrayBuffer();
      times.push(performance.now() - started);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }),
  );
  times.sort((a, b) => a - b);
  return {
    label,
    upstreamCalls: calls(),
    ms: times[Math.floor(times.length / 2)]!,
    p99Ms: times[Math.floor(times.length * 0.99)]!,
    answers: [...statuses].map(([s, n]) => `${n} × ${s}`).join(', '),
  };
}

/** 200 concurrent requests for one cold key, origin 50 ms away: the service, then nginx with proxy_cache_lock. */
export async function herdRows(dir: string, nginxPort: number): Promise<ColdRow[]> {
  const rows: ColdRow[] = [];
  {
    const sim = new KatapultSimulator({ budgetPerMinute: 100_000 });
    const svc = await service(sim);
    try {
      sim.setFault({ kind: 'latency', ms: LATENCY_MS });
      rows.push(await herd(`service: ${CONCURRENT} concurrent GET /packages, cold`, `${svc.url}/packages`, {}, () => sim.log.length));
      rows.push(await herd('service: the same again, warm (new connections, no upstream)', `${svc.url}/packages`, {}, () => sim.log.length - 1));
    } finally {
      await svc.close();
    }
  }
  if (has('nginx')) {
    const sim = new KatapultSimulator({ budgetPerMinute: 100_000 });
    const upstream = await sim.listen(0, '127.0.0.1');
    let nginx: Server | undefined;
    try {
      // Katapult answers `Cache-Control: private`: nginx must be told to cache anyway, and to add the token.
      nginx = await startNginx(dir, nginxPort, upstream, {
        accessLog: true,
        extra: `proxy_ignore_headers Cache-Control; proxy_cache_valid 200 60s; proxy_set_header Authorization "Bearer ${sim.token}";`,
      });
      sim.log.length = 0;
      sim.setFault({ kind: 'latency', ms: LATENCY_MS });
      const list = `${nginx.url}${new URL(upstream).pathname.replace(/\/$/, '')}/virtual_machine_packages?page=1&per_page=200`;
      rows.push(await herd(`nginx proxy_cache_lock: ${CONCURRENT} concurrent GET of the Katapult list, cold`, list, {}, () => sim.log.length));
      rows.push(await herd('nginx: the same again, warm', list, {}, () => sim.log.length - 1));
    } finally {
      nginx?.stop();
      await sim.close();
    }
  }
  return rows;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { abuseRows, detailCostRows, steadyRows, type BudgetRow } from './budget.js';
import { benchRedis, fleetScenario, type FleetFigures } from './fleet.js';

/**
 * `npm run bench`: loopback only, bounded in time. Measures in one run, on the same machine and body:
 * the bare node:http ceiling, a cache hit on GET /packages, and a 304 revalidation. Writes bench/RESULTS.md.
 */
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 6);
const CONNECTIONS = 50;

interface Figures {
  name: string;
  rps: number;
  /** Server CPU time per request, in µs: steadier than req/s on a shared machine. */
  cpuUs: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

/** The server process's CPU time so far, in µs. */
async function cpuOf(child: ChildProcess): Promise<number> {
  return (await statsOf(child)).cpu;
}

/** The server process's CPU time so far (µs) and resident memory (bytes). */
function statsOf(child: ChildProcess): Promise<{ cpu: number; rss: number }> {
  return new Promise((resolve) => {
    const on = (m: unknown) => {
      if (typeof m === 'object' && m !== null && 'cpu' in m) {
        child.off('message', on);
        resolve(m as { cpu: number; rss: number });
      }
    };
    child.on('message', on);
    child.send('cpu');
  });
}

async function startServer(args: string[]): Promise<{ url: string; child: ChildProcess }> {
  // stdout (the service's request log) goes to /dev/null; the URL comes over IPC.
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/server.ts', ...args], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve(String(m)));
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  return { url, child };
}

async function load(name: string, server: { url: string; child: ChildProcess }, path = '', headers: Record<string, string> = {}): Promise<Figures> {
  const url = `${server.url}${path}`;
  // A short warm-up so the JIT and the connection pool settle before we count.
  await autocannon({ url, connections: CONNECTIONS, duration: 2, headers });
  const cpuBefore = await cpuOf(server.child);
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, headers });
  const cpuUs = (await cpuOf(server.child)) - cpuBefore;
  return { name, rps: r.requests.average, cpuUs: cpuUs / r.requests.total, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
let bodyBytes = 0;
const service = await startServer(['service']);
// The same service without request log lines: the difference to `service` is what logging costs.
const quiet = await startServer(['service', 'warn']);
const rounds: Figures[][] = [];
try {
  // Lists are completed with each package's detail: complete them first, so the bare server is given the
  // very bytes the service then answers from its cache.
  for (const server of [service, quiet]) await (await fetch(`${server.url}/packages?complete=true`)).arrayBuffer();
  const first = await fetch(`${service.url}/packages`);
  const body = Buffer.from(await first.arrayBuffer());
  bodyBytes = body.length;
  const etag = first.headers.get('etag')!;
  const file = join(mkdtempSync(join(tmpdir(), 'kbff-bench-')), 'body.json');
  writeFileSync(file, body);
  // The same response headers too (node:http adds Date, Connection and Keep-Alive to both).
  const same = Object.fromEntries([...first.headers].filter(([k]) => !['date', 'connection', 'keep-alive'].includes(k)));
  writeFileSync(`${file}.headers.json`, JSON.stringify(same));
  const bare = await startServer(['bare', file]);
  try {
    // Each round starts the list at a different scenario, so each runs in every position once: a
    // server measured right after another one was loaded runs measurably slower on this machine.
    const scenarios: Array<() => Promise<Figures>> = [
      () => load('bare node:http, same body and headers', bare),
      () => load('GET /packages, cache hit', service, '/packages'),
      () => load('GET /packages, cache hit, request log off', quiet, '/packages'),
      async () => {
        const f = await load('GET /packages, If-None-Match → 304', service, '/packages', { 'if-none-match': etag });
        return { ...f, non2xx: 0 }; // autocannon counts a 304 as non-2xx; here it is the expected answer
      },
    ];
    for (let r = 0; r < ROUNDS; r++) {
      const round: Figures[] = new Array(scenarios.length);
      for (let k = 0; k < scenarios.length; k++) {
        const i = (r + k) % scenarios.length;
        round[i] = await scenarios[i]!();
      }
      rounds.push(round);
    }
  } finally {
    bare.child.kill();
  }
} finally {
  service.child.kill();
  quiet.child.kill();
}
// 10,000 distinct shapes of the list, cycled by every connection, on a fresh service process: what
// shaping costs when nothing repeats, and how far memory grows (shaped answers have a quarter of L1).
const SHAPES = 10_000;
const shapePaths = (() => {
  const fields = ['id', 'name', 'permalink', 'cpuCores', 'memoryGb', 'storageGb', 'ipv4Addresses', 'monthlyBandwidthGb', 'dedicatedCpus', 'privacy', 'group', 'iconUrl'];
  const paths: string[] = [];
  for (let mask = 1; paths.length < SHAPES; mask++) {
    const chosen = fields.filter((_, i) => mask & (1 << i)).join(',');
    for (const sort of ['name', '-memoryGb', 'cpuCores']) if (paths.length < SHAPES) paths.push(`/packages?fields=${chosen}&sort=${sort}`);
  }
  return paths;
})();
const shapes = await startServer(['service']);
let shapeFigures: Figures & { rssBeforeMb: number; rssAfterMb: number };
try {
  await (await fetch(`${shapes.url}/packages?complete=true`)).arrayBuffer();
  const before = await statsOf(shapes.child);
  let next = 0;
  const r = await autocannon({
    url: shapes.url,
    connections: CONNECTIONS,
    duration: DURATION_S,
    requests: [{ setupRequest: (req) => ({ ...req, path: shapePaths[next++ % SHAPES]! }) }],
  });
  const after = await statsOf(shapes.child);
  shapeFigures = {
    name: `GET /packages, ${SHAPES.toLocaleString('en')} distinct shapes cycled`,
    rps: r.requests.average,
    cpuUs: (after.cpu - before.cpu) / r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    rssBeforeMb: before.rss / 2 ** 20,
    rssAfterMb: after.rss / 2 ** 20,
  };
} finally {
  shapes.child.kill();
}
// Each scenario's best round: the one least disturbed by whatever else the machine was doing.
const results = rounds[0]!.map((_, i) => rounds.map((r) => r[i]!).reduce((a, b) => (b.rps > a.rps ? b : a)));
// Upstream traffic of a fleet: the same Zipf-like request sequence with and without a shared Redis.
const fleet: FleetFigures[] = [];
const budget: BudgetRow[] = [];
let details: Awaited<ReturnType<typeof detailCostRows>> = [];
const redis = await benchRedis();
try {
  if (redis) fleet.push(await fleetScenario(redis.url, '3 instances, shared Redis'));
  fleet.push(await fleetScenario(null, '3 instances, no Redis (each on its own)'));
  // What consumers can make the service spend: abuse patterns, then steady load by freshness.
  budget.push(...(await abuseRows(redis?.url ?? null)), ...(await steadyRows(redis?.url ?? null)));
  details = await detailCostRows(redis?.url ?? null);
} finally {
  redis?.stop();
}
const fleetRow = (f: FleetFigures) =>
  `| ${f.label} | ${f.consumerRequests.toLocaleString('en')} | ${f.upstreamRequests} | ${f.notModified} | ${((f.upstreamRequests * 10_000) / f.consumerRequests).toFixed(1)} | ${f.non200} |`;

const base = results[0]!.rps;
const baseCpu = results[0]!.cpuUs;
const row = (f: Figures) =>
  `| ${f.name} | ${Math.round(f.rps).toLocaleString('en')} | ${f.p50} | ${f.p99} | ${(f.rps / base).toFixed(2)} | ${f.cpuUs.toFixed(1)} | ${(baseCpu / f.cpuUs).toFixed(2)} | ${f.errors + f.non2xx} |`;
const md = [
  '# Benchmark results',
  '',
  `Command: \`npm run bench\` (autocannon, ${CONNECTIONS} connections, ${DURATION_S} s per scenario after a 2 s warm-up, best of ${ROUNDS} rounds, each in a rotated order, loopback only).`,
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}. Date: ${new Date().toISOString()}.`,
  `Server and load generator run in separate processes. Body: the ${bodyBytes}-byte \`GET /packages\` answer.`,
  '',
  '| scenario | req/s | p50 ms | p99 ms | req/s ratio to bare | server CPU µs/request | CPU ratio (bare ÷ this) | errors |',
  '|---|---|---|---|---|---|---|---|',
  ...results.map(row),
  row(shapeFigures),
  '',
  `The last row cycles ${SHAPES.toLocaleString('en')} distinct \`fields\`/\`sort\` shapes of the list on a fresh service process (default`,
  `CACHE_L1_MAX_BYTES, 64 MiB, a quarter of it for shaped answers): RSS ${shapeFigures.rssBeforeMb.toFixed(0)} MiB before the run,`,
  `${shapeFigures.rssAfterMb.toFixed(0)} MiB after it.`,
  '',
  'Ratios are against the bare node:http server measured in the same run: the ceiling for this body on this machine.',
  'The CPU columns count the server process\'s own CPU time per answered request (process.cpuUsage): on a',
  'shared machine they move less than req/s, which also depends on the load generator on the other core.',
  'The bare server sends the same body and the same response headers; it writes no log line. The',
  '"request log off" row is the same service at LOG_LEVEL=warn: the gap between it and the cache-hit row',
  'is the cost of the one pino JSON line per request.',
  '',
  '## Upstream requests per consumer request',
  '',
  '10,000 consumer requests over 3 instances, keys drawn from a Zipf-like mix (s = 1.1) over the public list,',
  `every public package and two organization lists (${fleet[0]?.keys} keys), 10 at a time, the service clock moving 100 ms`,
  'per request (about 17 minutes: several 300 s freshness windows). The same sequence runs with and without',
  'a shared Redis. Without this service every consumer request would be at least one upstream request.',
  '',
  '| fleet | consumer requests | upstream requests | of which 304 | upstream per 10,000 | non-200 answers |',
  '|---|---|---|---|---|---|',
  ...fleet.map(fleetRow),
  ...(redis ? [] : ['', 'No Redis was available for the shared run (set REDIS_URL or install redis-server).']),
  '',
  '## What consumers can make it spend upstream',
  '',
  'Each abuse pattern sent 50 at a time, and steady load on one key (every instance asking for `/packages` once a',
  'second for 10 minutes of service clock), counted from the simulator\'s request log, beside a plain pass-through',
  '(one upstream call per consumer request). Default settings: a consumer\'s share is a tenth of the token\'s 1000',
  'calls a minute; the refresh-ahead window is a tenth of the freshness, so a key held under steady load costs',
  'one call every 0.9 × `CACHE_FRESH_SECONDS`, however many instances share Redis. These rows count the lists',
  'themselves (`CACHE_LIST_DETAILS=false`); what completing them with details costs is the next table.',
  '',
  '| pattern | consumer requests | upstream calls | pass-through would call | answers / rate |',
  '|---|---|---|---|---|',
  ...budget.map((b) => `| ${b.pattern} | ${b.consumerRequests.toLocaleString('en')} | ${b.upstreamCalls} | ${b.passThrough.toLocaleString('en')} | ${b.note} |`),
  '',
  '## What complete lists cost',
  '',
  'Each list asked for once a minute on 3 instances sharing Redis, at the default settings (lists fresh 300 s,',
  'details 3600 s, details fetched by the service in the background and revalidated with If-None-Match); the',
  'second of two hours of service clock is counted. The token\'s budget is 1000 calls a minute, 60,000 an hour.',
  '',
  '| lists kept complete | list calls per hour | detail calls per hour | upstream calls per hour | share of the budget |',
  '|---|---|---|---|---|',
  ...details.map((d) => `| ${d.label} | ${d.lists} | ${d.details} | ${d.perHour} | ${((d.perHour / 60_000) * 100).toFixed(2)}% |`),
  '',
].join('\n');
writeFileSync('bench/RESULTS.md', md);
process.stdout.write(md);

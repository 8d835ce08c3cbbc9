import { type ChildProcess } from 'node:child_process';
import { createReadStream, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { freePort } from '../test/support/ports.js';
import { abuseRows, detailCostRows, steadyRows, type BudgetRow } from './budget.js';
import { coldTenPages, herdRows, type ColdRow } from './cold.js';
import { benchRedis, fleetScenario, type FleetFigures } from './fleet.js';
import { ensureTools, groupCpuUs, groupRssBytes, PINNED, scratchDir, startNginx, startServer, startVarnish, wrk } from './http.js';

/**
 * `npm run bench`: loopback only, bounded in time. Measures in one run, on the same machine and body:
 * the bare node:http ceiling, the service's cache hit and 304 with its request log on and off, nginx and
 * Varnish serving the same bytes from their caches; then cold keys, memory under many shapes, and what
 * consumers can make the service spend upstream. Writes bench/RESULTS.md.
 */
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 5);
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

/** A server for the speed table: its process group, its URL, and what to send it. */
interface Contender {
  name: string;
  url: string;
  headers?: Record<string, string>;
  group: ChildProcess;
  /** wrk counts a 304 among its "Non-2xx or 3xx responses"; for the revalidation row it is the expected answer. */
  expect304?: boolean;
}

/** One measured run of wrk against a contender: req/s, latency, and the server's CPU per request. */
function measure(c: Contender): Figures {
  wrk(c.url, 1, CONNECTIONS, c.headers); // warm-up: the JIT and the connections settle
  const cpuBefore = groupCpuUs(c.group);
  const w = wrk(c.url, DURATION_S, CONNECTIONS, c.headers);
  const cpuUs = (groupCpuUs(c.group) - cpuBefore) / w.requests;
  return { name: c.name, rps: w.rps, cpuUs, p50: w.p50Ms, p99: w.p99Ms, errors: w.errors, non2xx: c.expect304 ? 0 : w.non2xx };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const missingTools = ensureTools();
if (missingTools.includes('wrk')) throw new Error('npm run bench needs wrk: apt-get install wrk (as root, the bench installs it itself)');
const work = scratchDir('kbff-bench-');
const logFile = join(work, 'service.log');
let bodyBytes = 0;
let loggedLines = 0;
// The service as production runs it: request log on, written to a file. And the same at LOG_LEVEL=warn.
const service = await startServer(['service'], logFile);
const quiet = await startServer(['service', 'warn']);
const rounds: Figures[][] = [];
const started: Array<{ stop(): void }> = [service, quiet];
try {
  // Lists are completed with each package's detail: complete them first, so the bare server is given the
  // very bytes the service then answers from its cache.
  for (const server of [service, quiet]) await (await fetch(`${server.url}/packages?complete=true`)).arrayBuffer();
  const first = await fetch(`${service.url}/packages`);
  const body = Buffer.from(await first.arrayBuffer());
  bodyBytes = body.length;
  const etag = first.headers.get('etag')!;
  const file = join(work, 'body.json');
  writeFileSync(file, body);
  // The same response headers too (node:http adds Date, Connection and Keep-Alive to both).
  const same = Object.fromEntries([...first.headers].filter(([k]) => !['date', 'connection', 'keep-alive'].includes(k)));
  writeFileSync(`${file}.headers.json`, JSON.stringify(same));
  const bare = await startServer(['bare', file]);
  started.push(bare);
  const contenders: Contender[] = [
    { name: 'bare node:http, same body and headers', url: bare.url, group: bare.child },
    { name: 'service, GET /packages, L1 hit, request log on (to a file)', url: `${service.url}/packages`, group: service.child },
    { name: 'service, GET /packages, L1 hit, request log off', url: `${quiet.url}/packages`, group: quiet.child },
    { name: 'service, GET /packages, If-None-Match → 304, log on', url: `${service.url}/packages`, group: service.child, headers: { 'if-none-match': etag }, expect304: true },
  ];
  // nginx and Varnish cache the bare server's answer (the same body and headers) and serve it from memory.
  if (!missingTools.includes('nginx')) {
    const nginx = await startNginx(join(work, 'nginx'), await freePort(), bare.url, { accessLog: true });
    started.push(nginx);
    contenders.push({ name: 'nginx 1 worker, proxy_cache hit, access_log on (to a file)', url: `${nginx.url}/packages`, group: nginx.child });
  }
  if (!missingTools.includes('varnish')) {
    const varnish = await startVarnish(join(work, 'varnish'), await freePort(), bare.url);
    started.push(varnish);
    contenders.push({ name: 'Varnish, cache hit (log in shared memory)', url: `${varnish.url}/packages`, group: varnish.child });
  }
  // Each round starts the list at a different contender, so each runs in every position once.
  for (let r = 0; r < ROUNDS; r++) {
    const round: Figures[] = new Array(contenders.length);
    for (let k = 0; k < contenders.length; k++) {
      const i = (r + k) % contenders.length;
      round[i] = measure(contenders[i]!);
    }
    rounds.push(round);
  }
} finally {
  for (const s of started) s.stop();
}
// Line by line: a run writes hundreds of MB of them, more than one string may hold.
for await (const line of createInterface({ input: createReadStream(logFile) })) if (line.includes('"msg":"request"')) loggedLines++;
rmSync(work, { recursive: true, force: true });
// 10,000 distinct shapes of the list, cycled by every connection, on a fresh service process: what
// shaping costs when nothing repeats, and how far memory grows (shaped answers have a quarter of L1).
const SHAPES = 10_000;
// Long enough to cycle every shape a few times: RSS reaches its plateau within the first cycles.
const SHAPES_SECONDS = 3 * DURATION_S;
const shapePaths = (() => {
  const fields = ['id', 'name', 'permalink', 'cpuCores', 'memoryGb', 'storageGb', 'ipv4Addresses', 'monthlyBandwidthGb', 'dedicatedCpus', 'privacy', 'group', 'iconUrl'];
  const paths: string[] = [];
  for (let mask = 1; paths.length < SHAPES; mask++) {
    const chosen = fields.filter((_, i) => mask & (1 << i)).join(',');
    for (const sort of ['name', '-memoryGb', 'cpuCores']) if (paths.length < SHAPES) paths.push(`/packages?fields=${chosen}&sort=${sort}`);
  }
  return paths;
})();
/** What README promises: under any number of shapes, peak RSS stays within the L1 bound plus this, above idle. */
const RSS_ALLOWANCE_MIB = 128;
interface ShapeFigures extends Figures {
  l1Mib: number;
  idleMib: number;
  peakMib: number;
  /** kbff_l1_bytes at the end of the run: what the cache held, against its bound. */
  heldMib: number;
}
/** A fresh process at `l1Mib` of L1, cycling every shape; its RSS sampled every 50 ms for the peak. */
async function shapesRun(l1Mib: number): Promise<ShapeFigures> {
  const shapes = await startServer(['service', 'info', JSON.stringify({ CACHE_L1_MAX_BYTES: String(l1Mib * 2 ** 20) })]);
  try {
    await (await fetch(`${shapes.url}/packages?complete=true`)).arrayBuffer();
    const idle = groupRssBytes(shapes.child);
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, groupRssBytes(shapes.child))), 50);
    const cpuBefore = groupCpuUs(shapes.child);
    let next = 0;
    const r = await autocannon({
      url: shapes.url,
      connections: CONNECTIONS,
      duration: SHAPES_SECONDS,
      requests: [{ setupRequest: (req) => ({ ...req, path: shapePaths[next++ % SHAPES]! }) }],
    });
    clearInterval(sampler);
    const cpuUs = (groupCpuUs(shapes.child) - cpuBefore) / r.requests.total;
    const metrics = await (await fetch(`${shapes.url}/metrics`)).text();
    const held = Number(/^kbff_l1_bytes (\d+)/m.exec(metrics)?.[1] ?? NaN);
    return {
      name: `GET /packages, ${SHAPES.toLocaleString('en')} distinct shapes cycled, CACHE_L1_MAX_BYTES ${l1Mib} MiB`,
      rps: r.requests.average,
      cpuUs,
      p50: r.latency.p50,
      p99: r.latency.p99,
      errors: r.errors + r.timeouts,
      non2xx: r.non2xx,
      l1Mib,
      idleMib: idle / 2 ** 20,
      peakMib: Math.max(peak, groupRssBytes(shapes.child)) / 2 ** 20,
      heldMib: held / 2 ** 20,
    };
  } finally {
    shapes.stop();
  }
}
// A small L1 and the default one: the bytes held follow the setting, whatever the number of shapes.
const shapeFigures = [await shapesRun(16), await shapesRun(64)];
// Each contender's median over the rounds, figure by figure; errors are counted over every round.
const results: Figures[] = rounds[0]!.map((f, i) => {
  const mine = rounds.map((r) => r[i]!);
  const of = (pick: (x: Figures) => number) => median(mine.map(pick));
  const all = (pick: (x: Figures) => number) => mine.reduce((n, x) => n + pick(x), 0);
  return { name: f.name, rps: of((x) => x.rps), cpuUs: of((x) => x.cpuUs), p50: of((x) => x.p50), p99: of((x) => x.p99), errors: all((x) => x.errors), non2xx: all((x) => x.non2xx) };
});
const cold = await coldTenPages();
const herdDir = scratchDir('kbff-herd-');
const herd = await herdRows(herdDir, await freePort());
rmSync(herdDir, { recursive: true, force: true });
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
  `| ${f.name} | ${Math.round(f.rps).toLocaleString('en')} | ${f.p50.toFixed(2)} | ${f.p99.toFixed(2)} | ${(f.rps / base).toFixed(2)} | ${f.cpuUs.toFixed(1)} | ${(baseCpu / f.cpuUs).toFixed(2)} | ${f.errors + f.non2xx} |`;
const shapeRow = (f: ShapeFigures) =>
  `| ${f.name} | ${Math.round(f.rps).toLocaleString('en')} | ${f.p50} | ${f.p99} | ${f.cpuUs.toFixed(1)} | ${f.heldMib.toFixed(1)} | ${f.idleMib.toFixed(0)} | ${f.peakMib.toFixed(0)} | ${(f.peakMib - f.idleMib).toFixed(0)} of ${f.l1Mib + RSS_ALLOWANCE_MIB}, ${f.peakMib - f.idleMib <= f.l1Mib + RSS_ALLOWANCE_MIB ? 'met' : '**not met**'} | ${f.errors + f.non2xx} |`;
/** The speed targets the service holds itself to, each met or not in this run. */
function targets(): string[] {
  const [, logged, , notModified] = results;
  const check = (ok: boolean) => (ok ? 'met' : '**not met**');
  return [
    '',
    'Targets, against bare node:http in this run:',
    `- L1 hit with its log line ≥ 0.90 of bare: ${(logged!.rps / base).toFixed(2)}, ${check(logged!.rps / base >= 0.9)}.`,
    `- 304 ≥ 1.00 of bare: ${(notModified!.rps / base).toFixed(2)}, ${check(notModified!.rps / base >= 1)}.`,
    `- p99 under 5 ms at ${CONNECTIONS} connections: hit ${logged!.p99.toFixed(2)} ms, 304 ${notModified!.p99.toFixed(2)} ms, ${check(logged!.p99 < 5 && notModified!.p99 < 5)}.`,
    'Where the rest of a hit\'s CPU goes, symbol by symbol beside bare node:http: `bench/PROFILE.md` (`npm run bench:profile`).',
  ];
}
const coldRow = (c: ColdRow) => `| ${c.label} | ${c.upstreamCalls} | ${c.ms.toFixed(0)} | ${c.p99Ms === undefined ? '' : c.p99Ms.toFixed(0)} | ${c.answers} |`;
const md = [
  '# Benchmark results',
  '',
  `Command: \`npm run bench\`. Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}. Date: ${new Date().toISOString()}. Loopback only.`,
  '',
  '## Cache hits, side by side',
  '',
  PINNED
    ? 'Each server runs pinned to core 0 (`taskset -c 0`, its whole process group); wrk runs pinned to core 1'
    : 'This machine has one core or no taskset: servers and wrk share the CPU, so these ratios are rougher.',
  `(\`wrk -t1 -c${CONNECTIONS} -d${DURATION_S}s\` after a 1 s warm-up). ${ROUNDS} interleaved rounds, each starting at a different`,
  'server so each runs in every position; each figure is the median over the rounds. Every server sends the',
  `same ${bodyBytes}-byte \`GET /packages\` body: the service from its L1, the bare node:http server from memory with the`,
  'service\'s own response headers (the Node ceiling for this answer), nginx and Varnish from their caches in front',
  'of that bare server. The service\'s request log is on and written to a file (in /dev/shm, so that the disk\'s',
  'writeback of a run\'s hundreds of MB of lines does not throttle whichever server is being measured), with its',
  `default batching (LOG_BUFFER_BYTES=65536, LOG_FLUSH_MS=1000): ${loggedLines.toLocaleString('en')} request lines were written in this run.`,
  '',
  '| server | req/s | p50 ms | p99 ms | req/s ratio to bare node | server CPU µs/request | CPU ratio (bare ÷ this) | errors |',
  '|---|---|---|---|---|---|---|---|',
  ...results.map(row),
  ...(missingTools.length ? ['', `Not measured (not installed and not installable here): ${missingTools.join(', ')}.`] : []),
  '',
  ...targets(),
  '',
  'Server CPU is the process group\'s CPU time (/proc) per answered request. The "request log off" row is the',
  'same service at LOG_LEVEL=warn: the gap between it and the row above is what the log line costs. nginx runs',
  'one process (`master_process off`, one worker) with `access_log` to a file (one write per line, its default);',
  'Varnish runs with `thread_pools=1` and malloc storage, logging to its shared-memory log only (no varnishncsa).',
  '',
  '## Cold keys, upstream 50 ms away',
  '',
  'The first request for an organization list of 10 pages (page 1 gives the page count; the other 9 are then',
  'fetched at once, up to `UPSTREAM_CONCURRENCY`), and 200 concurrent requests for one cold key: the service, and',
  'nginx with `proxy_cache_lock on` in front of the simulator (told to ignore Katapult\'s `Cache-Control: private`).',
  'Lists here are not completed with details (`CACHE_LIST_DETAILS=false`), so both fetch the same list. Each',
  'service process first answers another organization\'s list, so the key is cold, not the process. The herd\'s',
  'times include opening 200 connections from one client process: the "warm" rows send the same requests again.',
  'nginx\'s waiters poll its cache lock every 500 ms (a fixed interval in nginx), hence its p50.',
  '',
  '| scenario | upstream calls | ms (one request; p50 of the herd) | p99 ms | answers |',
  '|---|---|---|---|---|',
  ...cold.map(coldRow),
  ...herd.map(coldRow),
  '',
  '## Memory and speed under many shapes',
  '',
  `${SHAPES.toLocaleString('en')} distinct \`fields\`/\`sort\` shapes of the list cycled by autocannon (${CONNECTIONS} connections, ${SHAPES_SECONDS} s; it cycles`,
  'paths, which wrk cannot without a script), each on a fresh service process, at two sizes of CACHE_L1_MAX_BYTES (a',
  'quarter of it for shaped answers). "Held" is `kbff_l1_bytes` at the end: the bytes the cache keeps follow the',
  'setting, not the number of shapes. RSS is sampled every 50 ms; "idle" is after the first list, before the load.',
  `The bound the README states: peak RSS at most CACHE_L1_MAX_BYTES + ${RSS_ALLOWANCE_MIB} MiB above idle (the allowance is the`,
  'garbage of answers being shaped, which V8 collects in its own time).',
  '',
  '| scenario | req/s | p50 ms | p99 ms | server CPU µs/request | held MiB | idle RSS MiB | peak RSS MiB | peak above idle, MiB (bound) | errors |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...shapeFigures.map(shapeRow),
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
  'one call every 0.9 × `CACHE_FRESH_SECONDS`, however many instances share Redis. The amplification and permalink',
  'rows complete lists with their details (the default): a detail\'s first fetch is charged to the consumer whose list',
  'needs it. The other rows count the lists themselves (`CACHE_LIST_DETAILS=false`); what keeping lists complete',
  'costs is the next table.',
  '',
  '| pattern | consumer requests | upstream calls | pass-through would call | answers / rate |',
  '|---|---|---|---|---|',
  ...budget.map((b) => `| ${b.pattern} | ${b.consumerRequests.toLocaleString('en')} | ${b.upstreamCalls} | ${b.passThrough.toLocaleString('en')} | ${b.note} |`),
  '',
  '## What complete lists cost',
  '',
  'Each list asked for once a minute on 3 instances sharing Redis, at the default settings (lists fresh 300 s,',
  'details 3600 s; a detail\'s first fetch charged to the consumer whose list needs it, its upkeep the service\'s',
  'own, revalidated with If-None-Match); the second of two hours of service clock is counted. The token\'s budget',
  'is 1000 calls a minute, 60,000 an hour.',
  '',
  '| lists kept complete | list calls per hour | detail calls per hour | upstream calls per hour | share of the budget |',
  '|---|---|---|---|---|',
  ...details.map((d) => `| ${d.label} | ${d.lists} | ${d.details} | ${d.perHour} | ${((d.perHour / 60_000) * 100).toFixed(2)}% |`),
  '',
].join('\n');
writeFileSync('bench/RESULTS.md', md);
process.stdout.write(md);

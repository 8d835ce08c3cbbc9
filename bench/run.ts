import { type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { freePort } from '../test/support/ports.js';
import { abuseRows, detailCostRows, loadCurve, steadyRows, type BudgetRow, type CurvePoint } from './budget.js';
import { bytesChart, sideBySideChart, upstreamChart } from './charts.js';
import { coldTenPages, herdRows, type ColdRow } from './cold.js';
import { benchRedis, fleetScenario, type FleetFigures } from './fleet.js';
import { loadConfig } from '../src/config/config.js';
import { largeList, qualityRows } from './compression.js';
import { COMPILER, ensureTools, groupCpuUs, groupRssBytes, instructionsPerRequest, PINNED, type InstructionCount, rawGet, scratchDir, startNginx, startServer, startVarnish, wrk } from './http.js';

/**
 * `npm run bench`: loopback only, bounded in time. Measures in one run, on the same machine and body:
 * the bare node:http ceiling, the service's cache hit and 304 with its request log on and off, nginx and
 * Varnish serving the same bytes from their caches; then cold keys, memory under many shapes, and what
 * consumers can make the service spend upstream. Writes bench/RESULTS.md.
 */
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 3);
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

/** A contender's medians over the rounds, with the lowest and highest round beside them. */
interface Summary extends Figures {
  kind: string;
  rpsRange: [number, number];
  cpuRange: [number, number];
}

/** A server for the speed table: its process group, its URL, and what to send it. */
interface Contender {
  name: string;
  /** Its label in the chart. */
  chart: string;
  /** Who serves it: the baseline, the service, or a peer cache (for the chart's colours). */
  kind: 'bare node:http' | 'katapult-bff' | 'nginx' | 'Varnish';
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

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const missingTools = ensureTools();
if (missingTools.includes('wrk')) throw new Error('npm run bench needs wrk: apt-get install wrk (as root, the bench installs it itself)');
const work = scratchDir('kbff-bench-');
const logFile = join(work, 'service.log');
let bodyBytes = 0;
let publicBody: Buffer = Buffer.alloc(0);
let compatBody: Buffer = Buffer.alloc(0);
let brBytes = 0;
let gzipBytes = 0;
/** The service's default brotli quality, as the README states it (the quality table weighs it). */
const BROTLI_QUALITY = loadConfig({}, { requireToken: false }).brotliQuality;
let loggedLines = 0;
/** The answers' sizes in each coding, for the bytes chart. */
const sizes: Array<{ answer: string; coding: string; bytes: number }> = [];
// The service as production runs it: request log on, written to a file. And the same at LOG_LEVEL=warn.
const service = await startServer(['service'], logFile);
const quiet = await startServer(['service', 'warn']);
const rounds: Figures[][] = [];
let kinds: Contender['kind'][] = [];
let labels: string[] = [];
const started: Array<{ stop(): void }> = [service, quiet];
try {
  // Lists are completed with each package's detail: complete them first, so the bare server is given the
  // very bytes the service then answers from its cache.
  for (const server of [service, quiet]) await (await fetch(`${server.url}/packages?complete=true`)).arrayBuffer();
  // As sent to a client that asks for no coding (fetch would ask for gzip and undo it).
  const first = await fetch(`${service.url}/packages`, { headers: { 'accept-encoding': 'identity' } });
  const body = Buffer.from(await first.arrayBuffer());
  bodyBytes = body.length;
  publicBody = body;
  brBytes = (await rawGet(`${service.url}/packages`, { 'accept-encoding': 'br' })).body.length;
  gzipBytes = (await rawGet(`${service.url}/packages`, { 'accept-encoding': 'gzip' })).body.length;
  const etag = first.headers.get('etag')!;
  const file = join(work, 'body.json');
  writeFileSync(file, body);
  // The same response headers too (node:http adds Date, Connection and Keep-Alive to both).
  const transport = ['date', 'connection', 'keep-alive'];
  const same = Object.fromEntries([...first.headers].filter(([k]) => !transport.includes(k)));
  writeFileSync(`${file}.headers.json`, JSON.stringify(same));
  // The br representation as the service sends it, for a bare server sending those very bytes.
  const br = await rawGet(`${service.url}/packages`, { 'accept-encoding': 'br' });
  const brFile = join(work, 'body.br');
  writeFileSync(brFile, br.body);
  writeFileSync(`${brFile}.headers.json`, JSON.stringify(Object.fromEntries(Object.entries(br.headers).filter(([k]) => !transport.includes(k)))));
  const bare = await startServer(['bare', file]);
  const bareBr = await startServer(['bare', brFile]);
  started.push(bare, bareBr);
  const gzip = { 'accept-encoding': 'gzip' };
  const contenders: Contender[] = [
    { name: 'bare node:http, same body and headers', chart: 'bare node:http', kind: 'bare node:http', url: bare.url, group: bare.child },
    { name: 'bare node:http, the same br bytes and headers', chart: 'bare node:http, br bytes', kind: 'bare node:http', url: bareBr.url, group: bareBr.child, headers: { 'accept-encoding': 'br' } },
    { name: 'service, GET /packages, L1 hit, request log on (to a file)', chart: 'service hit, log on', kind: 'katapult-bff', url: `${service.url}/packages`, group: service.child },
    { name: 'service, GET /packages, L1 hit, request log off', chart: 'service hit, log off', kind: 'katapult-bff', url: `${quiet.url}/packages`, group: quiet.child },
    { name: 'service, GET /packages, If-None-Match → 304, log on', chart: 'service 304, log on', kind: 'katapult-bff', url: `${service.url}/packages`, group: service.child, headers: { 'if-none-match': etag }, expect304: true },
    { name: 'service, L1 hit, Accept-Encoding: br (kept compressed), log on', chart: 'service hit, br, log on', kind: 'katapult-bff', url: `${service.url}/packages`, group: service.child, headers: { 'accept-encoding': 'br' } },
    { name: 'service, L1 hit, Accept-Encoding: gzip (kept compressed), log on', chart: 'service hit, gzip, log on', kind: 'katapult-bff', url: `${service.url}/packages`, group: service.child, headers: gzip },
  ];
  // nginx and Varnish cache the bare server's answer (the same body and headers) and serve it from memory;
  // nginx with `gzip on` compresses it again for each request that accepts gzip, Varnish stores it gzipped.
  if (!missingTools.includes('nginx')) {
    const nginx = await startNginx(join(work, 'nginx'), await freePort(), bare.url, { accessLog: true, extra: 'gzip on; gzip_types application/json; gzip_proxied any; gzip_vary on;' });
    started.push(nginx);
    contenders.push({ name: 'nginx 1 worker, proxy_cache hit, access_log on (to a file)', chart: 'nginx hit', kind: 'nginx', url: `${nginx.url}/packages`, group: nginx.child });
    contenders.push({ name: 'nginx, the same, gzip on (compressed per request, level 1)', chart: 'nginx hit, gzip on', kind: 'nginx', url: `${nginx.url}/packages`, group: nginx.child, headers: gzip });
  }
  if (!missingTools.includes('varnish')) {
    const varnish = await startVarnish(join(work, 'varnish'), await freePort(), bare.url);
    const varnishGzip = await startVarnish(join(work, 'varnish-gzip'), await freePort(), bare.url, { gzip: true });
    started.push(varnish, varnishGzip);
    contenders.push({ name: 'Varnish, cache hit (log in shared memory)', chart: 'Varnish hit', kind: 'Varnish', url: `${varnish.url}/packages`, group: varnish.child });
    contenders.push({ name: 'Varnish, cache hit, stored gzipped (do_gzip)', chart: 'Varnish hit, gzip', kind: 'Varnish', url: `${varnishGzip.url}/packages`, group: varnishGzip.child, headers: gzip });
  }
  kinds = contenders.map((c) => c.kind);
  labels = contenders.map((c) => c.chart);
  // Every contender answers with what it should before it is measured: a compressed row that sent
  // identity would measure the wrong thing.
  for (const c of contenders) {
    const res = await rawGet(c.url, c.headers);
    const coding = res.headers['content-encoding'] ?? 'identity';
    const wanted = c.headers?.['accept-encoding'] ?? 'identity';
    if (res.status !== (c.expect304 ? 304 : 200) || (!c.expect304 && coding !== wanted)) throw new Error(`${c.name}: ${res.status} ${coding}`);
  }
  compatBody = (await rawGet(`${service.url}/core/v1/virtual_machine_packages?per_page=200`)).body;
  // Each round starts the list at a different contender, so no contender always runs after the same one.
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

// Instructions per request under Callgrind: a count that no neighbour on the machine can move.
const COUNTS = { warm: 15_000, window: 4_000, windows: 4 };
const instructions: Array<{ name: string } & InstructionCount> = [];
if (!missingTools.includes('valgrind')) {
  // The service's cache is warmed through its router (which also fetches from upstream), as in production.
  const underValgrind = (args: string[], warm: boolean) => async (wrapper: string[], nodeFlags: string[]) => {
    const server = await startServer(args, join(work, 'valgrind-service.log'), nodeFlags, wrapper);
    const [url, service] = server.url.split(' ');
    if (warm) await rawGet(`${service ?? url}/packages?complete=true`);
    return { ...server, url: url! };
  };
  const body = join(work, 'body.json');
  const cases: Array<[string, ReturnType<typeof underValgrind>, string, Record<string, string>]> = [
    ['bare node:http, same body and headers', underValgrind(['bare', body], false), '/', {}],
    ['bare node:http in the service\'s process (its router and upstream client warmed, log on)', underValgrind(['floor', body], true), '/', {}],
    ['service, GET /packages, L1 hit, request log on (to a file)', underValgrind(['service'], true), '/packages', {}],
    ['service, GET /packages, L1 hit, request log off', underValgrind(['service', 'warn'], true), '/packages', {}],
    ['service, L1 hit, Accept-Encoding: br, log on', underValgrind(['service'], true), '/packages', { 'accept-encoding': 'br' }],
  ];
  for (const [name, start, path, headers] of cases) instructions.push({ name, ...(await instructionsPerRequest(start, path, headers, COUNTS, work)) });
}
rmSync(work, { recursive: true, force: true });

// Brotli's quality, weighed on the answers the service compresses: bytes against the one compression's CPU.
const bodies = [
  { answer: 'GET /packages (complete public list)', bytes: publicBody },
  { answer: 'compatible list, per_page=200', bytes: compatBody },
  { answer: 'an organization of 200 packages, complete', bytes: await largeList() },
];
const quality = qualityRows(bodies.map((b) => b.bytes));
for (const [i, b] of bodies.entries()) {
  for (const [coding, label] of [['identity', 'identity'], ['gzip', 'gzip level 6'], ['br', `br quality ${BROTLI_QUALITY}`]] as const) {
    sizes.push({ answer: b.answer, coding, bytes: quality.find((q) => q.coding.startsWith(label))!.figures[i]!.bytes });
  }
}
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
// Each contender's median over the rounds, figure by figure, with its spread; errors are counted over every round.
const results: Summary[] = rounds[0]!.map((f, i) => {
  const mine = rounds.map((r) => r[i]!);
  const of = (pick: (x: Figures) => number) => median(mine.map(pick));
  const range = (pick: (x: Figures) => number): [number, number] => [Math.min(...mine.map(pick)), Math.max(...mine.map(pick))];
  const all = (pick: (x: Figures) => number) => mine.reduce((n, x) => n + pick(x), 0);
  return {
    name: f.name,
    kind: kinds[i]!,
    rps: of((x) => x.rps),
    rpsRange: range((x) => x.rps),
    cpuUs: of((x) => x.cpuUs),
    cpuRange: range((x) => x.cpuUs),
    p50: of((x) => x.p50),
    p99: of((x) => x.p99),
    errors: all((x) => x.errors),
    non2xx: all((x) => x.non2xx),
  };
});
const cold = await coldTenPages();
const herdDir = scratchDir('kbff-herd-');
const herd = await herdRows(herdDir, await freePort());
rmSync(herdDir, { recursive: true, force: true });
// Upstream traffic of a fleet: the same Zipf-like request sequence with and without a shared Redis.
const fleet: FleetFigures[] = [];
const budget: BudgetRow[] = [];
let details: Awaited<ReturnType<typeof detailCostRows>> = [];
let curve: CurvePoint[] = [];
const redis = await benchRedis();
try {
  if (redis) fleet.push(await fleetScenario(redis.url, '3 instances, shared Redis'));
  fleet.push(await fleetScenario(null, '3 instances, no Redis (each on its own)'));
  // What consumers can make the service spend: abuse patterns, then steady load by freshness.
  budget.push(...(await abuseRows(redis?.url ?? null)), ...(await steadyRows(redis?.url ?? null)));
  details = await detailCostRows(redis?.url ?? null);
  curve = await loadCurve(redis?.url ?? null);
} finally {
  redis?.stop();
}
const fleetRow = (f: FleetFigures) =>
  `| ${f.label} | ${f.consumerRequests.toLocaleString('en')} | ${f.upstreamRequests} | ${f.notModified} | ${((f.upstreamRequests * 10_000) / f.consumerRequests).toFixed(1)} | ${f.non200} |`;

const base = results[0]!.rps;
const baseCpu = results[0]!.cpuUs;
const byName = (prefix: string) => results.find((r) => r.name.startsWith(prefix));
const n0 = (x: number) => Math.round(x).toLocaleString('en');
const row = (f: Summary) =>
  `| ${f.name} | ${n0(f.rps)} (${n0(f.rpsRange[0])}–${n0(f.rpsRange[1])}) | ${f.p50.toFixed(2)} | ${f.p99.toFixed(2)} | ${(f.rps / base).toFixed(2)} | ${f.cpuUs.toFixed(1)} (${f.cpuRange[0].toFixed(1)}–${f.cpuRange[1].toFixed(1)}) | ${(f.cpuUs / baseCpu).toFixed(2)} | ${f.errors + f.non2xx} |`;
const bareInstructions = instructions[0];
const instructionRow = (i: { name: string } & InstructionCount) =>
  `| ${i.name} | ${n0(i.perRequest)} | ${bareInstructions ? (i.perRequest / bareInstructions.perRequest).toFixed(2) : ''} | ${i.windows.map(n0).join(', ')} |`;
const shapeRow = (f: ShapeFigures) =>
  `| ${f.name} | ${Math.round(f.rps).toLocaleString('en')} | ${f.p50} | ${f.p99} | ${f.cpuUs.toFixed(1)} | ${f.heldMib.toFixed(1)} | ${f.idleMib.toFixed(0)} | ${f.peakMib.toFixed(0)} | ${(f.peakMib - f.idleMib).toFixed(0)} of ${f.l1Mib + RSS_ALLOWANCE_MIB}, ${f.peakMib - f.idleMib <= f.l1Mib + RSS_ALLOWANCE_MIB ? 'met' : '**not met**'} | ${f.errors + f.non2xx} |`;
/** The speed targets the service holds itself to, each met or not in this run. */
function targets(): string[] {
  const logged = byName('service, GET /packages, L1 hit, request log on')!;
  const notModified = byName('service, GET /packages, If-None-Match')!;
  const brHit = byName('service, L1 hit, Accept-Encoding: br')!;
  const gzipHit = byName('service, L1 hit, Accept-Encoding: gzip')!;
  const nginxGzip = byName('nginx, the same, gzip on');
  const loggedInstr = instructions.find((i) => i.name.startsWith('service, GET /packages'))?.perRequest;
  const check = (ok: boolean) => (ok ? 'met' : '**not met**');
  const hits = results.filter((r) => r.kind === 'katapult-bff');
  return [
    '',
    'Targets, against bare node:http in this run:',
    `- L1 hit with its log line ≥ 0.90 of bare in req/s: ${(logged.rps / base).toFixed(2)}, ${check(logged.rps / base >= 0.9)}.`,
    `- L1 hit with its log line ≤ 1.10 of bare's CPU per request: ${(logged.cpuUs / baseCpu).toFixed(2)}, ${check(logged.cpuUs / baseCpu <= 1.1)}.`,
    ...(loggedInstr && bareInstructions
      ? [`- L1 hit with its log line ≤ 1.10 of bare's instructions per request: ${(loggedInstr / bareInstructions.perRequest).toFixed(2)}, ${check(loggedInstr / bareInstructions.perRequest <= 1.1)}.`]
      : []),
    `- 304 ≥ 1.00 of bare in req/s: ${(notModified.rps / base).toFixed(2)}, ${check(notModified.rps / base >= 1)}.`,
    ...(nginxGzip
      ? [
          `- compressed hit ahead of nginx's compressed hit: gzip ${n0(gzipHit.rps)} against ${n0(nginxGzip.rps)} req/s and ${gzipHit.cpuUs.toFixed(1)} against ${nginxGzip.cpuUs.toFixed(1)} µs, ${check(gzipHit.rps > nginxGzip.rps && gzipHit.cpuUs < nginxGzip.cpuUs)}; br ${n0(brHit.rps)} req/s and ${brHit.cpuUs.toFixed(1)} µs, ${check(brHit.rps > nginxGzip.rps && brHit.cpuUs < nginxGzip.cpuUs)}.`,
        ]
      : []),
    `- p99 under 5 ms at ${CONNECTIONS} connections on every hit row: ${hits.map((h) => h.p99.toFixed(2)).join(', ')} ms, ${check(hits.every((h) => h.p99 < 5))}.`,
    'Where a logged hit\'s instructions go, area by area and function by function beside bare node:http: `bench/PROFILE.md`.',
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
  'server; each figure is the median over the rounds, with the lowest and highest round in brackets. Every server',
  `sends the same ${bodyBytes}-byte \`GET /packages\` body: the service from its L1, the bare node:http server from memory with the`,
  'service\'s own response headers (the Node ceiling for this answer), nginx and Varnish from their caches in front',
  'of that bare server. The compressed rows send `Accept-Encoding`: the service sends the bytes it compressed once',
  `and keeps in L1 (br ${brBytes} bytes at quality ${BROTLI_QUALITY}, gzip ${gzipBytes} bytes), the second bare server sends those br bytes, nginx (\`gzip on\`,`,
  'its default level 1) compresses the cached answer again for every request, and Varnish (`beresp.do_gzip`) stores it',
  'gzipped once. The service\'s request log is on and written to a file (in /dev/shm, so that the disk\'s',
  'writeback of a run\'s hundreds of MB of lines does not throttle whichever server is being measured), with its',
  `default batching (LOG_BUFFER_BYTES=65536, LOG_FLUSH_MS=1000): ${loggedLines.toLocaleString('en')} request lines were written in this run.`,
  '',
  '| server | req/s (spread) | p50 ms | p99 ms | req/s ÷ bare | server CPU µs/request (spread) | CPU ÷ bare | errors |',
  '|---|---|---|---|---|---|---|---|',
  ...results.map(row),
  ...(missingTools.length ? ['', `Not measured (not installed and not installable here): ${missingTools.join(', ')}.`] : []),
  '',
  '![Cache hits side by side](side-by-side.svg)',
  '',
  ...targets(),
  '',
  'Server CPU is the process group\'s CPU time (/proc) per answered request: on these shared machines it holds',
  'still where req/s moves with the neighbours (compare the spreads). The "request log off" row is the same service',
  'at LOG_LEVEL=warn. nginx runs one process (`master_process off`, one worker) with `access_log` to a file (one',
  'write per line, its default); Varnish runs with `thread_pools=1` and malloc storage, logging to its shared-memory',
  'log only (no varnishncsa).',
  '',
  '### Instructions per request',
  '',
  `Counted by Valgrind's Callgrind (the hardware counters of \`perf\` are not available here), which no neighbour`,
  `can move. Each server runs under it once (node \`--single-threaded\`, so V8 compiles and collects garbage on the`,
  `thread that needs it, when it needs it, and \`--predictable-gc-schedule\`, so V8 schedules its collections by the heap rather`,
  `than by the wall clock, which Valgrind slows: without it the same server counted 70,878, 75,394 and 116,758`,
  `instructions a request in three runs, the difference all in scavenges); after ${COUNTS.warm.toLocaleString('en')} requests to warm it up, the count is zeroed, ${COUNTS.window.toLocaleString('en')} requests are sent`,
  `(8 keep-alive connections) and the count is taken, ${COUNTS.windows} times. The figure is the median window's instructions per request;`,
  'all windows are beside it (the first still holds some of V8\'s tier-up). The second row is the bare server again,',
  'inside a process running the service (warmed through its router and upstream client, request log on): what',
  'node:http itself costs there, before the service\'s own code runs.',
  '',
  '| server | instructions per request | ÷ bare | each window |',
  '|---|---|---|---|',
  ...(instructions.length ? instructions.map(instructionRow) : ['| (Valgrind not available) | | | |']),
  '',
  "### Compression: bytes against CPU",
  '',
  'Each coding of three answers the service compresses: bytes, and the median µs of one compression (each',
  'representation is compressed once, when a client first asks for that coding, then kept in L1). nginx with',
  '`gzip on` pays the gzip row on every request. The service\'s brotli quality is the default of',
  '`COMPRESS_BROTLI_QUALITY`; gzip runs at zlib\'s default level.',
  '',
  `| coding | ${bodies.map((b) => `${b.answer}: bytes | µs`).join(' | ')} |`,
  `|---|${bodies.map(() => '---|---').join('|')}|`,
  ...quality.map((q) => `| ${q.coding} | ${q.figures.map((f, i) => `${n0(f.bytes)} (${((f.bytes / bodies[i]!.bytes.length) * 100).toFixed(0)}%) | ${f.us ? f.us.toFixed(0) : ''}`).join(' | ')} |`),
  '',
  '![Bytes per answer by coding](bytes-by-encoding.svg)',
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
  'Upstream calls a minute against consumer requests a minute, at several rates (the public list and its 20',
  'packages in a fixed pseudo-random mix, 5 minutes of service clock each, `CACHE_FRESH_SECONDS=60`):',
  '',
  '| series | consumer requests a minute | upstream calls a minute |',
  '|---|---|---|',
  ...curve.map((p) => `| ${p.series} | ${n0(p.consumerPerMinute)} | ${p.upstreamPerMinute.toFixed(1)} |`),
  '',
  '![Upstream calls a minute against consumer requests a minute](upstream-calls.svg)',
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
if (instructions.length >= 4) writeProfile(instructions);
await sideBySideChart('bench/side-by-side.svg', results.map((r, i) => ({ server: labels[i]!, rpsRatio: r.rps / base, cpuUs: r.cpuUs, kind: r.kind })));
await upstreamChart('bench/upstream-calls.svg', curve);
await bytesChart('bench/bytes-by-encoding.svg', sizes);
process.stdout.write(md);

/** Where Callgrind finds a function: the areas a request's instructions are spent in. */
function areaOf(fn: string): string {
  if (/^JS:RegExp:/.test(fn)) return 'regular expressions (compiled: header checks, the log\'s plain-text check)';
  if (/^JS:.*file:\/\/.*\/src\//.test(fn)) return "the service's JavaScript (compiled)";
  if (/^JS:.*node_modules/.test(fn)) return 'libraries\' JavaScript (compiled)';
  if (/^JS:/.test(fn)) return "node's JavaScript (node:http, streams, timers; compiled)";
  if (/Builtins_|RegExp/.test(fn)) return 'V8 builtins (property access, strings, regexps)';
  if (COMPILER.test(fn)) return "V8's compilers (code still being optimized)";
  if (/Scaveng|Heap|GC|Mark|Sweep|Compact|Visitor|Evacuat|Remembered/.test(fn)) return 'garbage collection';
  if (/llhttp/.test(fn)) return 'HTTP parser (llhttp)';
  if (/sysdeps|libc|\.\/string\/|malloc|^\.\/(?!src)/.test(fn)) return 'libc';
  return 'node and V8 C++ (streams, handles, calls into JavaScript)';
}

/**
 * bench/PROFILE.md's instruction section: a logged hit's instructions beside bare node:http's (alone and
 * in the service's process) and the hit's with its log off, by area and by the functions that grew most,
 * so a missed instruction target names where the instructions go.
 */
function writeProfile(counts: Array<{ name: string } & InstructionCount>): void {
  const [bare, floor, hit, quiet] = counts as [InstructionCount, InstructionCount, InstructionCount & { name: string }, InstructionCount];
  const columns = [bare, floor, hit, quiet];
  const areas = new Map<string, number[]>();
  for (const [i, count] of columns.entries()) {
    for (const [fn, n] of count.byFunction) {
      const a = areas.get(areaOf(fn)) ?? [0, 0, 0, 0];
      a[i]! += n;
      areas.set(areaOf(fn), a);
    }
  }
  const grown = (from: InstructionCount, to: InstructionCount, n: number) =>
    [...new Set([...from.byFunction.keys(), ...to.byFunction.keys()])]
      .map((fn) => ({ fn, from: from.byFunction.get(fn) ?? 0, to: to.byFunction.get(fn) ?? 0 }))
      .sort((a, b) => b.to - b.from - (a.to - a.from))
      .slice(0, n);
  const ownJs = (c: InstructionCount) => [...c.byFunction].reduce((n, [fn, x]) => (areaOf(fn) === "the service's JavaScript (compiled)" ? n + x : n), 0);
  // The line's head (request-log.ts `#headAt`, joined once per millisecond), as much as it adds to the hit.
  const headPerLine = [...hit.byFunction]
    .filter(([fn]) => /#headAt|ArrayPrototypeJoin|ArrayJoinConcatToSequentialString|SmiToString|IntToCString/.test(fn))
    .reduce((n, [fn, x]) => n + x - (quiet.byFunction.get(fn) ?? 0), 0);
  const short = (fn: string) => (fn.length > 110 ? `${fn.slice(0, 107)}...` : fn).replace(/\|/g, '\\|');
  const k = (x: number) => Math.round(x).toLocaleString('en');
  const table = (from: InstructionCount, to: InstructionCount, names: [string, string], n: number) => [
    `| function | ${names[0]} | ${names[1]} | added |`,
    '|---|---|---|---|',
    ...grown(from, to, n).map((g) => `| \`${short(g.fn)}\` | ${k(g.from)} | ${k(g.to)} | ${k(g.to - g.from)} |`),
  ];
  const section = [
    '<!-- cachegrind:start (written by npm run bench) -->',
    '# Where a cache hit\'s instructions go',
    '',
    `Command: \`npm run bench\` (Callgrind, as in bench/RESULTS.md). Date: ${new Date().toISOString()}. Self instructions per request in`,
    'the median window of each server, function by function; compiled JavaScript is named from V8\'s perf map.',
    '',
    `The logged hit costs ${k(hit.perRequest)} instructions against bare node:http's ${k(bare.perRequest)} (${(hit.perRequest / bare.perRequest).toFixed(2)}). Of the`,
    `${k(hit.perRequest - bare.perRequest)} added, ${k(floor.perRequest - bare.perRequest)} are node:http's own work costing more in a process that also runs the service (the`,
    `bare server again, inside it: ${k(floor.perRequest)}), ${k(quiet.perRequest - floor.perRequest)} are the hit path without its log line, and ${k(hit.perRequest - quiet.perRequest)} are the line.`,
    '',
    'What keeps the logged hit above 1.10 of bare, part by part (the tables below name the functions):',
    `- **node:http in a process that runs more than one server** (${k(floor.perRequest - bare.perRequest)}): node's own code, the same for the bare server inside`,
    '  the service\'s process. Its property loads see the shapes of the router\'s requests and the upstream client\'s',
    '  sockets as well, and go megamorphic. No code of the service runs in that row.',
    `- **the hit path** (${k(quiet.perRequest - floor.perRequest)}), of which its own compiled JavaScript is ${k(ownJs(quiet))}: the headers read from \`rawHeaders\`,`,
    '  the key, the L1 lookup with its LRU touch and freshness check, and the prepared answer. The rest is V8 and node',
    '  working for it: the request id, joined from two strings and flattened when node checks it as a header value;',
    '  one clock reading and two `performance.now()`; and node\'s `writeHead`, compiled apart from the handler here',
    '  where bare node:http inlines it.',
    `- **the line** (${k(hit.perRequest - quiet.perRequest)}): joined from its head, the id and its kept tail, flattened and copied as UTF-8 into`,
    `  the batch buffer. Of it, ${k(headPerLine)} make the head, which is made once per millisecond. Under Valgrind a request takes`,
    '  milliseconds, so every line makes its own; at the wrk rows\' rates, dozens of lines share one.',
    '',
    '| where | bare node:http | bare node:http in the service\'s process | service hit, log on | service hit, log off |',
    '|---|---|---|---|---|',
    ...[...areas].sort((a, b) => b[1][2]! - a[1][2]!).map(([area, v]) => `| ${area} | ${v.map(k).join(' | ')} |`),
    `| **total** | ${columns.map((c) => `**${k(c.perRequest)}**`).join(' | ')} |`,
    '',
    '## node:http in the service\'s process: the 15 functions that grew most',
    '',
    'The same server, the same requests: what grows is node\'s and V8\'s code meeting more kinds of objects (the',
    'router\'s requests and responses, the upstream client\'s sockets), so property loads that see one shape in a',
    'process of its own see many (`Builtins_*Megamorphic`), and the compiled code differs.',
    '',
    ...table(bare, floor, ['bare', 'in the service\'s process'], 15),
    '',
    '## The hit path and its log line: the 25 functions that grew most against node:http in the same kind of process',
    '',
    ...table(floor, hit, ['bare, in the service\'s process', 'service hit, log on'], 25),
    '<!-- cachegrind:end -->',
    '',
  ].join('\n');
  const old = existsSync('bench/PROFILE.md') ? readFileSync('bench/PROFILE.md', 'utf8') : '';
  const rest = old.replace(/<!-- cachegrind:start[\s\S]*?<!-- cachegrind:end -->\n*/, '');
  writeFileSync('bench/PROFILE.md', `${section}\n${rest}`);
}

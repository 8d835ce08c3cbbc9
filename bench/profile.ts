import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { has, scratchDir, startServer, wrk } from './http.js';

/**
 * `npm run bench:profile`: where a cache hit's CPU goes, beside the bare node:http server sending the same
 * bytes. Each server runs pinned to core 0 with `--perf-basic-prof` (so `perf` can name JIT-compiled
 * functions) under wrk on core 1; `perf record` samples it for a few seconds; every symbol's samples are
 * turned into µs per request. Writes bench/PROFILE.md. Needs Linux `perf` (Debian: linux-perf).
 */
const SECONDS = 4;
const HZ = 2000;

if (!has('perf')) {
  process.stderr.write('bench:profile needs perf (apt-get install linux-perf)\n');
  process.exit(1);
}
const work = scratchDir('kbff-profile-');

// --perf-basic-prof: perf can then name the functions V8 compiled.
const start = (args: string[], log: string) => startServer(args, log, ['--perf-basic-prof']);

interface Profile {
  name: string;
  rps: number;
  /** µs per request by symbol, and by where the code lives. */
  symbols: Map<string, number>;
  areas: Map<string, number>;
}

function record(name: string, pid: number, url: string): Profile {
  wrk(url, 2, 50); // warm-up
  const data = join(work, `${name.replace(/\W+/g, '-')}-${Date.now()}.data`);
  const perf = spawnSync('sh', ['-c', `perf record -F ${HZ} -g -o ${data} -p ${pid} -- sleep ${SECONDS} >/dev/null 2>&1 & sleep 0.2; taskset -c 1 wrk -t1 -c50 -d${SECONDS}s ${url}; wait`], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(perf.stdout)?.[1]);
  const report = spawnSync('perf', ['report', '-i', data, '--no-children', '--sort', 'dso,sym', '-g', 'none', '-n', '--stdio'], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  const usPerSample = 1e6 / HZ;
  const requests = rps * SECONDS;
  const symbols = new Map<string, number>();
  const areas = new Map<string, number>();
  for (const line of report.stdout.split('\n')) {
    const m = /^\s+[\d.]+%\s+(\d+)\s+(\S+(?: tid \d+)?)\s+\[(.)\]\s+(.*)$/.exec(line);
    if (!m) continue;
    const us = (Number(m[1]) * usPerSample) / requests;
    const dso = m[2]!.replace(/ tid \d+/, '');
    const sym = m[4]!.trim();
    const area =
      m[3] === 'k'
        ? 'kernel (TCP on loopback, syscalls)'
        : sym.startsWith('JS:')
          ? 'JavaScript (JIT-compiled: node:http, the service)'
          : sym.startsWith('Builtins_') || sym.startsWith('RegExp:')
            ? 'V8 builtins (property access, strings, regexps)'
            : /Scaveng|Heap|GC|Mark|Sweep|Compact/.test(sym)
              ? 'garbage collection'
              : dso === 'node'
                ? 'node and V8 C++ (HTTP parser, streams, calls)'
                : 'libc and others';
    areas.set(area, (areas.get(area) ?? 0) + us);
    symbols.set(sym, (symbols.get(sym) ?? 0) + us);
  }
  return { name, rps, symbols, areas };
}

const total = (p: Profile) => [...p.areas.values()].reduce((a, b) => a + b, 0);
const results: Profile[] = [];
const service = await start(['service'], join(work, 'service.log'));
const quiet = await start(['service', 'warn'], '/dev/null');
try {
  for (const s of [service, quiet]) await (await fetch(`${s.url}/packages?complete=true`)).arrayBuffer();
  const first = await fetch(`${service.url}/packages`, { headers: { 'accept-encoding': 'identity' } });
  const body = join(work, 'body.json');
  writeFileSync(body, Buffer.from(await first.arrayBuffer()));
  writeFileSync(`${body}.headers.json`, JSON.stringify(Object.fromEntries([...first.headers].filter(([k]) => !['date', 'connection', 'keep-alive'].includes(k)))));
  const bare = await start(['bare', body], '/dev/null');
  try {
    // Two passes, interleaved; for each server the pass least disturbed by the rest of the machine (the
    // lower CPU per request) is kept.
    const targets: Array<[string, number, string]> = [
      ['bare node:http', bare.child.pid!, bare.url],
      ['service hit, log off', quiet.child.pid!, `${quiet.url}/packages`],
      ['service hit, log on', service.child.pid!, `${service.url}/packages`],
    ];
    const passes = [0, 1].map(() => targets.map(([name, pid, url]) => record(name, pid, url)));
    results.push(...targets.map((_, i) => (total(passes[0]![i]!) <= total(passes[1]![i]!) ? passes[0]![i]! : passes[1]![i]!)));
  } finally {
    bare.stop();
  }
} finally {
  service.stop();
  quiet.stop();
}

const [bare, off, on] = results as [Profile, Profile, Profile];
const areaNames = [...new Set(results.flatMap((r) => [...r.areas.keys()]))].sort((a, b) => (on.areas.get(b) ?? 0) - (on.areas.get(a) ?? 0));
const diff = (a: Profile, b: Profile, n: number) =>
  [...new Set([...a.symbols.keys(), ...b.symbols.keys()])]
    .map((s) => ({ s, d: (b.symbols.get(s) ?? 0) - (a.symbols.get(s) ?? 0) }))
    .sort((x, y) => y.d - x.d)
    .slice(0, n)
    .map(({ s, d }) => `| \`${s.replace(/\|/g, '\\|').slice(0, 90)}\` | ${(a.symbols.get(s) ?? 0).toFixed(2)} | ${(b.symbols.get(s) ?? 0).toFixed(2)} | +${d.toFixed(2)} |`);
const fmt = (x: number) => x.toFixed(1);
/** The gap in one sentence: how much the hit path adds, and how much of it is the service's own code. */
function summary(): string[] {
  const own = [...off.symbols].filter(([s]) => s.includes('/src/')).sort((a, b) => b[1] - a[1]);
  const ownTotal = own.reduce((n, [, us]) => n + us, 0);
  return [
    `With the log off, a hit costs ${fmt(total(off) - total(bare))} µs more than bare node:http. The service's own functions (sampled as`,
    `themselves, not inlined into node:http's) account for ${ownTotal.toFixed(2)} µs of it, the largest ${own[0] ? `\`${own[0][0].slice(0, 60)}\` at ${own[0][1].toFixed(2)} µs` : 'none'};`,
    'the rest is node:http, V8 and the kernel doing a little more per request, spread over many symbols (tables below).',
    `The log line adds ${fmt(total(on) - total(off))} µs in this sample (bench/RESULTS.md measures it again, with wrk, over interleaved rounds).`,
  ];
}
const md = [
  '# Where a cache hit\'s CPU goes',
  '',
  `Command: \`npm run bench:profile\` (perf record at ${HZ} Hz for ${SECONDS} s per server, pinned to core 0, under \`wrk -t1 -c50\` on core 1).`,
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}. Date: ${new Date().toISOString()}.`,
  'Figures are CPU µs per request: samples × sample interval ÷ requests answered while sampling.',
  '',
  `| where | ${results.map((r) => r.name).join(' | ')} |`,
  `|---|${results.map(() => '---').join('|')}|`,
  `| req/s while sampled | ${results.map((r) => Math.round(r.rps).toLocaleString('en')).join(' | ')} |`,
  ...areaNames.map((a) => `| ${a} | ${results.map((r) => fmt(r.areas.get(a) ?? 0)).join(' | ')} |`),
  `| **total** | ${results.map((r) => `**${fmt(total(r))}**`).join(' | ')} |`,
  '',
  ...summary(),
  '',
  '## What the hit path adds to bare node:http (log off), the 20 symbols that grew most',
  '',
  '| symbol | bare µs | service µs | added |',
  '|---|---|---|---|',
  ...diff(bare, off, 20),
  '',
  '## What the request log line adds (log on against log off), the 20 symbols that grew most',
  '',
  '| symbol | log off µs | log on µs | added |',
  '|---|---|---|---|',
  ...diff(off, on, 20),
  '',
].join('\n');
writeFileSync('bench/PROFILE.md', md);
rmSync(work, { recursive: true, force: true });
process.stdout.write(md);

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

/**
 * `npm run bench`: loopback only, bounded in time. Measures in one run, on the same machine and body:
 * the bare node:http ceiling, a cache hit on GET /packages, and a 304 revalidation. Writes bench/RESULTS.md.
 */
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = 50;

interface Figures {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
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

async function load(name: string, url: string, headers: Record<string, string> = {}): Promise<Figures> {
  // A short warm-up so the JIT and the connection pool settle before we count.
  await autocannon({ url, connections: CONNECTIONS, duration: 2, headers });
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, headers });
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}

const results: Figures[] = [];
let bodyBytes = 0;
const service = await startServer(['service']);
try {
  const first = await fetch(`${service.url}/packages`);
  const body = Buffer.from(await first.arrayBuffer());
  bodyBytes = body.length;
  const etag = first.headers.get('etag')!;
  const file = join(mkdtempSync(join(tmpdir(), 'kbff-bench-')), 'body.json');
  writeFileSync(file, body);

  const bare = await startServer(['bare', file]);
  try {
    results.push(await load('bare node:http, same bytes', bare.url));
  } finally {
    bare.child.kill();
  }
  results.push(await load('GET /packages, cache hit', `${service.url}/packages`));
  const notModified = await load('GET /packages, If-None-Match → 304', `${service.url}/packages`, { 'if-none-match': etag });
  results.push(notModified);
  // autocannon counts 304 as non-2xx; here it is the expected answer.
  notModified.non2xx = 0;
} finally {
  service.child.kill();
}

const base = results[0]!.rps;
const row = (f: Figures) =>
  `| ${f.name} | ${Math.round(f.rps).toLocaleString('en')} | ${f.p50} | ${f.p99} | ${(f.rps / base).toFixed(2)} | ${f.errors + f.non2xx} |`;
const md = [
  '# Benchmark results',
  '',
  `Command: \`npm run bench\` (autocannon, ${CONNECTIONS} connections, ${DURATION_S} s per scenario after a 2 s warm-up, loopback only).`,
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}. Date: ${new Date().toISOString()}.`,
  `Server and load generator run in separate processes. Body: the ${bodyBytes}-byte \`GET /packages\` answer.`,
  '',
  '| scenario | req/s | p50 ms | p99 ms | ratio to bare | errors |',
  '|---|---|---|---|---|---|',
  ...results.map(row),
  '',
  'The ratio is against the bare node:http server measured in the same run: the ceiling for this body on this machine.',
  '',
].join('\n');
writeFileSync('bench/RESULTS.md', md);
process.stdout.write(md);

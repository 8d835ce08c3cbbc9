import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Measuring servers as their users meet them: each server runs in a process group of its own, pinned to
 * core 0 (`taskset`), and wrk, an external load generator, runs pinned to core 1. CPU time is read from
 * /proc for the whole process group (nginx's and Varnish's helper processes included).
 */
export const PINNED = cpus().length >= 2 && has('taskset');
export const SERVER_CORE = PINNED ? ['taskset', '-c', '0'] : [];
const LOAD_CORE = PINNED ? ['taskset', '-c', '1'] : [];

/**
 * A directory for the servers' logs and caches, in memory (/dev/shm) where there is one: every server
 * writes its log to a real file there, without the disk's writeback (a run writes hundreds of MB of log
 * lines) throttling whichever server happens to be measured when the kernel flushes.
 */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), prefix));
}

/** The program's path: on PATH, or in /usr/sbin (where Debian puts nginx and varnishd, off a user's PATH). */
export function which(cmd: string): string | null {
  const found = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  if (found.status === 0) return found.stdout.trim();
  return existsSync(`/usr/sbin/${cmd}`) ? `/usr/sbin/${cmd}` : null;
}

export function has(cmd: string): boolean {
  return which(cmd) !== null;
}

/** wrk, nginx, Varnish and Valgrind from Debian's packages, installed when missing and allowed (root with apt-get). */
export function ensureTools(): string[] {
  const wanted: Array<[string, string]> = [
    ['wrk', 'wrk'],
    ['nginx', 'nginx'],
    ['varnishd', 'varnish'],
    ['valgrind', 'valgrind'],
  ];
  const missing = wanted.filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg);
  if (missing.length && process.getuid?.() === 0 && has('apt-get')) {
    process.stderr.write(`bench: installing ${missing.join(', ')} from Debian's packages\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
    spawnSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'ignore', env });
  }
  return wanted.filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg);
}

export interface Server {
  url: string;
  child: ChildProcess;
  stop(): void;
}

/** Starts `argv` pinned to the server core, in its own process group, with stdout to `stdoutFile`. */
export function spawnServer(argv: string[], stdoutFile = '/dev/null', ipc = false): ChildProcess {
  const out = openSync(stdoutFile, 'a');
  const [cmd, ...args] = [...SERVER_CORE, ...argv];
  return spawn(cmd!, args, { detached: true, stdio: ['ignore', out, 'inherit', ...(ipc ? (['ipc'] as const) : [])] });
}

/**
 * bench/server.ts pinned to the server core; stdout (the request log) to `logFile`; the URL comes over IPC.
 * `wrapper` runs it under another program (Valgrind).
 */
export async function startServer(args: string[], logFile = '/dev/null', nodeFlags: string[] = [], wrapper: string[] = []): Promise<Server> {
  const child = spawnServer([...wrapper, process.execPath, ...nodeFlags, '--import', 'tsx', 'bench/server.ts', ...args], logFile, true);
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve(String(m)));
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  return { url, child, stop: () => stopGroup(child) };
}

export function stopGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** The /proc/<pid>/stat fields after the command name, for every process of `child`'s process group. */
function groupStats(child: ChildProcess): string[][] {
  const stats: string[][] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === child.pid) stats.push(f); // pgrp(2)
    } catch {
      // the process ended while we read
    }
  }
  return stats;
}

const sysconf = (name: string) => Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim());

/** CPU time (µs) used so far by every process of `child`'s process group: utime(11) + stime(12), in ticks. */
export function groupCpuUs(child: ChildProcess): number {
  const tick = 1e6 / sysconf('CLK_TCK');
  return groupStats(child).reduce((n, f) => n + (Number(f[11]) + Number(f[12])) * tick, 0);
}

/** Resident memory (bytes) of every process of `child`'s process group: rss(21), in pages. */
export function groupRssBytes(child: ChildProcess): number {
  const page = sysconf('PAGESIZE');
  return groupStats(child).reduce((n, f) => n + Number(f[21]) * page, 0);
}

export async function waitForHttp(url: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      await (await fetch(url)).arrayBuffer();
      return;
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export interface WrkFigures {
  rps: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

/** wrk with one thread and `connections` connections on the load core, for `seconds`. */
export function wrk(url: string, seconds: number, connections: number, headers: Record<string, string> = {}): WrkFigures {
  const argv = [...LOAD_CORE, 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url];
  const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  const ms = (label: string) => {
    const m = new RegExp(`${label}\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return NaN;
    return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
  };
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    p50Ms: ms(' 50%'),
    p99Ms: ms(' 99%'),
    errors: errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
  };
}

/**
 * nginx with one worker (`master_process off`: one process, as the issue's "1 worker"), proxy_cache in
 * front of `origin`, and its access log written to a file (nginx's default: a write per line).
 */
export async function startNginx(dir: string, port: number, origin: string, opts: { accessLog: boolean; extra?: string } = { accessLog: true }): Promise<Server> {
  mkdirSync(join(dir, 'cache'), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  access_log ${opts.accessLog ? `${dir}/access.log` : 'off'};
  keepalive_requests 1000000;
  proxy_cache_path ${dir}/cache keys_zone=kbff:10m;
  upstream origin { server ${new URL(origin).host}; keepalive 16; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache kbff;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 10s;
      ${opts.extra ?? ''}
    }
  }
}
`,
  );
  const child = spawnServer([which('nginx')!, '-p', dir, '-c', conf]);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/nginx-is-up`);
  return { url, child, stop: () => stopGroup(child) };
}

/**
 * Varnish (malloc storage) in front of `origin`, with its default VCL; it logs to shared memory only.
 * With `gzip`, it compresses what the origin sends once, as it stores it (`beresp.do_gzip`), and sends the
 * stored gzip to every client that accepts it.
 */
export async function startVarnish(dir: string, port: number, origin: string, opts: { gzip?: boolean } = {}): Promise<Server> {
  mkdirSync(dir, { recursive: true });
  const { hostname, port: originPort } = new URL(origin);
  const backend = opts.gzip
    ? (() => {
        // Where Varnish's unprivileged user may read it (the scratch directory is its owner's alone).
        const vcl = join(tmpdir(), `kbff-varnish-${port}.vcl`);
        writeFileSync(vcl, `vcl 4.1;
backend origin { .host = "${hostname}"; .port = "${originPort}"; }
sub vcl_backend_response { set beresp.do_gzip = true; }
`);
        return ['-f', vcl];
      })()
    : ['-b', new URL(origin).host];
  const child = spawnServer([which('varnishd')!, '-F', '-n', dir, '-a', `127.0.0.1:${port}`, ...backend, '-s', 'malloc,64m', '-p', 'thread_pools=1']);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/`, 20_000);
  return { url, child, stop: () => stopGroup(child) };
}

/** A GET whose body comes back as sent (fetch would undo a content coding), with its headers. */
export function rawGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers as Record<string, string>, body: Buffer.concat(chunks) }));
    })
      .on('error', reject)
      .end();
  });
}

/**
 * `requests` GETs of `url` over 8 keep-alive connections, from this process (not the measured one), as
 * fast as the server answers.
 */
export async function sendRequests(url: string, requests: number, headers: Record<string, string> = {}): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  let sent = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      httpRequest(url, { headers, agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
        .on('error', reject)
        .end();
    });
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (sent < requests) {
      sent++;
      await one();
    }
  }));
  agent.destroy();
}

/**
 * V8's own schedule for garbage collection, fixed (`--predictable-gc-schedule`: the young generation's
 * size, the heap's growth, no memory reducer or idle-time collection). Left to itself, V8 schedules by
 * what it sees of wall-clock time, which Valgrind slows some fiftyfold, and the same server counted
 * 70,878, 75,394 and 116,758 instructions a request in three runs, the difference all in scavenges; with
 * it, two runs of one server differed by 14.
 */
export const FIXED_GC = ['--predictable-gc-schedule'];

/** Instructions per request over several windows of requests, and by function in the median window. */
export interface InstructionCount {
  /** Each window's instructions per request, in the order counted. */
  windows: number[];
  /** The median window's. */
  perRequest: number;
  /**
   * Self instructions per request of each function in the median window (`file:function` as Callgrind
   * names it; compiled JavaScript by its name in V8's perf map, `JS:*name file:line:column`).
   */
  byFunction: Map<string, number>;
}

/** V8's compilers, as Valgrind names their functions. */
export const COMPILER = /compiler::|Compiler|Turbofan|Maglev/;

/**
 * Instructions a server executes per request, counted by Valgrind's Callgrind (no hardware counters
 * needed) in one run: after `warm` requests, the count is zeroed (`callgrind_control -z`), `window`
 * requests are sent and the count is dumped (`-d`), `windows` times over. Start-up and warm-up are in no
 * window, and the spread of the windows shows what still moves (V8's tier-up, a garbage collection). Node
 * runs with `FIXED_GC` and `--single-threaded`, so V8 compiles and collects on the main thread as requests need it rather
 * than when Valgrind's one-thread-at-a-time scheduling lets a helper thread run, and `--perf-basic-prof`,
 * whose map names the compiled JavaScript that Valgrind sees only as addresses. `start` starts the server
 * with the given wrapper and node flags (and warms its cache).
 */
export async function instructionsPerRequest(
  start: (wrapper: string[], nodeFlags: string[]) => Promise<Server>,
  path: string,
  headers: Record<string, string>,
  counts: { warm: number; window: number; windows: number },
  dir: string,
): Promise<InstructionCount> {
  const out = join(dir, `callgrind.${Date.now()}`);
  const server = await start(['valgrind', '-q', '--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${out}`], ['--single-threaded', '--perf-basic-prof', ...FIXED_GC]);
  const pid = String(server.child.pid);
  const url = `${server.url}${path}`;
  await sendRequests(url, counts.warm, headers);
  for (let i = 0; i < counts.windows; i++) {
    execFileSync('callgrind_control', ['-z', pid], { stdio: 'ignore' });
    await sendRequests(url, counts.window, headers);
    execFileSync('callgrind_control', ['-d', pid], { stdio: 'ignore' });
  }
  const names = jitNames(`/tmp/perf-${pid}.map`);
  server.stop();
  rmSync(`/tmp/perf-${pid}.map`, { force: true });
  const counted = Array.from({ length: counts.windows }, (_, i) => selfCost(`${out}.${i + 1}`, counts.window, names));
  const order = counted.map((c, i) => [c.total, i] as const).sort((a, b) => a[0] - b[0]);
  const median = counted[order[Math.floor((order.length - 1) / 2)]![1]]!;
  return { windows: counted.map((c) => c.total), perRequest: median.total, byFunction: median.byFunction };
}

/** A dump's instructions per request, and each function's own, named. */
function selfCost(file: string, requests: number, name: (address: number) => string | undefined): { total: number; byFunction: Map<string, number> } {
  const annotated = execFileSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  const total = Number(/^\s*([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS/m.exec(annotated)![1]!.replace(/,/g, ''));
  const byFunction = new Map<string, number>();
  for (const m of annotated.matchAll(/^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*)$/gm)) {
    const n = Number(m[1]!.replace(/,/g, ''));
    // The frames under which counting was zeroed (main, the event loop) are shown with the whole window.
    if (m[2] === 'PROGRAM TOTALS' || n > total / 2) continue;
    const address = /^\?\?\?:0x([0-9a-f]+)(?:'\d+)? \[\?\?\?\]$/.exec(m[2]!);
    const fn = address ? (name(parseInt(address[1]!, 16)) ?? 'JS: (code not in the perf map)') : m[2]!.replace(/ \[[^\]]*\]$/, '');
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + n / requests);
  }
  return { total: total / requests, byFunction };
}

/** The function whose compiled code holds an address, from V8's perf map (`start size name` lines in hex). */
function jitNames(map: string): (address: number) => string | undefined {
  const byStart = new Map<number, [number, string]>();
  if (existsSync(map)) {
    for (const line of readFileSync(map, 'utf8').split('\n')) {
      const [start, size, ...rest] = line.split(' ');
      // Code moves and is replaced: the latest entry at an address is the code that ran there last.
      if (start && size && rest.length) byStart.set(parseInt(start, 16), [parseInt(size, 16), `JS:${rest.join(' ').replace(/^(JS|LazyCompile|Function):/, '')}`]);
    }
  }
  const starts = [...byStart.keys()].sort((a, b) => a - b);
  return (address) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= address) lo = mid;
      else hi = mid - 1;
    }
    const start = starts[lo];
    if (start === undefined || start > address) return undefined;
    const [size, fn] = byStart.get(start)!;
    return address < start + size ? fn : undefined;
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { listKey } from '../src/packages/keys.js';
import { loadConfig } from '../src/config/config.js';
import { Secret } from '../src/config/secret.js';
import { MemoryStore } from '../src/cache/memory-store.js';
import { createLogger } from '../src/observability/logger.js';
import { Metrics } from '../src/observability/metrics.js';
import { RequestLog } from '../src/observability/request-log.js';
import { createRuntime } from '../src/runtime.js';
import { generatedPackages, seedPackages } from '../src/simulator/seed.js';
import { KatapultSimulator } from '../src/simulator/simulator.js';
import { FakeClock } from './support/clock.js';
import { ACME_KEY, API_KEYS, OPS_KEY, asOps } from './support/keys.js';
import { captureLogs } from './support/logs.js';
import { freePort } from './support/ports.js';
import { cleanRedisUrl } from './support/redis.js';
import { redisReady, startStack, type Stack } from './support/stack.js';

/** Five defects found under attack, each with the test that failed on the old behaviour. */
describe('hardening', () => {
  let stack: Stack | undefined;
  let child: ChildProcess | undefined;
  afterEach(async () => {
    child?.kill('SIGKILL');
    child = undefined;
    await stack?.close();
    stack = undefined;
  });

  /** `npm start` as a real process; resolves once it logs that it listens, with every stdout line it wrote. */
  const startProcess = async (env: Record<string, string>) => {
    const port = await freePort();
    const lines: string[] = [];
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stderr: string[] = [];
    child.stderr!.on('data', (d) => stderr.push(String(d)));
    const listening = new Promise<void>((resolve, reject) => {
      createInterface({ input: child!.stdout! }).on('line', (l) => {
        lines.push(l);
        if (l.includes('"listening"')) resolve();
      });
      child!.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr.join('')}`)));
    });
    return { url: `http://127.0.0.1:${port}`, lines, stderr, listening };
  };

  it('1. a refresher killed mid-refresh is taken over within a lease: the others answer within 2 s', { timeout: 30_000 }, async () => {
    const redisUrl = await cleanRedisUrl();
    stack = await startStack({ redisUrl, env: { KATAPULT_TIMEOUT_MS: '10000' } });
    await redisReady(stack);
    // The holder: a real process with the production timeouts, whose upstream call never returns.
    const holder = await startProcess({ KATAPULT_API_URL: stack.upstreamUrl, KATAPULT_API_TOKEN: stack.sim.token, REDIS_URL: redisUrl, KATAPULT_TIMEOUT_MS: '10000' });
    await holder.listening;
    // Its Redis connection is up once /readyz says so: only then does it take the fleet lock.
    while ((await (await fetch(`${holder.url}/readyz`)).json()).redis !== 'up') await new Promise((r) => setTimeout(r, 20));
    stack.sim.setFault({ kind: 'hang' }, 1);
    void fetch(`${holder.url}/packages`).catch(() => undefined);
    const admin = new Redis(redisUrl);
    try {
      await stack.sim.received(); // the holder's call reached upstream
      expect(stack.sim.hanging).toBe(1);
      expect(await admin.exists(`${listKey({ kind: 'public' })}:lock`)).toBe(1);
      child!.kill('SIGKILL');
      const started = performance.now();
      const res = await fetch(`${stack.urls[0]}/packages`);
      const tookMs = performance.now() - started;
      expect([res.status, (await res.json()).packages.length]).toEqual([200, 20]);
      expect(tookMs).toBeLessThan(2000);
    } finally {
      await admin.quit();
    }
  });

  it('1. a waiter holding a stale copy answers with it within a lease while another instance refreshes', async () => {
    const clock = new FakeClock();
    const redisUrl = await cleanRedisUrl();
    stack = await startStack({ redisUrl, clock, env: { CACHE_FRESH_SECONDS: '10', CACHE_SWR_SECONDS: '0', KATAPULT_TIMEOUT_MS: '10000' } });
    await redisReady(stack);
    expect((await fetch(`${stack.urls[0]}/packages`)).status).toBe(200);
    clock.advance(11_000); // expired, no stale-while-revalidate: a refresh is due before answering
    const admin = new Redis(redisUrl);
    await admin.set(`${listKey({ kind: 'public' })}:lock`, '99', 'PX', 20_000); // a live holder, busy for long
    await admin.quit();
    const started = clock.now();
    // Fake time runs at twice real time, so the waiter's own looks (every 100 ms of real time) land
    // within 200 ms of fake time after its deadline.
    const res = await clock.passingWhile(fetch(`${stack.urls[0]}/packages`), 10);
    expect([res.status, res.headers.get('x-cache')]).toEqual([200, 'STALE']);
    expect(clock.now() - started).toBeLessThan(2000); // one lease (1.5 s), and a look
    expect(stack.sim.count()).toBe(1);
  });

  it('2. an upstream that echoes the token in every field of its errors and headers: the token is nowhere', async () => {
    const TOKEN = 'kt_Ech0edT0ken_must-not-leak';
    const logs = captureLogs(); // a logger without the scrubbing hook: what reaches a log call must be clean already
    const sim = new KatapultSimulator({ token: TOKEN });
    const upstream = await sim.listen();
    const rt = createRuntime(loadConfig({ KATAPULT_API_URL: upstream, KATAPULT_API_TOKEN: TOKEN, LOG_LEVEL: 'debug', API_KEYS }), { logger: logs.logger });
    const seen: string[] = [];
    try {
      const url = await rt.listen(0, '127.0.0.1');
      for (const status of [401, 403, 500] as const) {
        sim.setFault({ kind: 'echo', status });
        for (const [path, headers] of [
          ['/packages', {}],
          [`/packages?organization=acme`, { 'x-api-key': ACME_KEY }],
          [`/packages?organization=globex`, asOps],
          ['/core/v1/virtual_machine_packages', { authorization: `Bearer ${OPS_KEY}` }],
          ['/core/v1/virtual_machine_packages?organization[sub_domain]=initech', { authorization: `Bearer ${OPS_KEY}` }],
        ] as const) {
          const res = await fetch(`${url}${path}`, { headers });
          expect(res.status).toBeGreaterThanOrEqual(500);
          seen.push(JSON.stringify([...res.headers]), await res.text());
        }
      }
      sim.setFault(null);
      for (const path of ['/metrics', '/readyz']) seen.push(await (await fetch(`${url}${path}`)).text());
    } finally {
      await rt.close();
      await sim.close();
    }
    expect(logs.lines.some((l) => l.includes('refresh failed') && l.includes('upstream 403 unrecognized'))).toBe(true);
    expect(seen.join('\n')).not.toContain(TOKEN);
    expect(logs.lines.join('\n')).not.toContain(TOKEN);

    // And the service's own logger replaces a secret's value in any line, however it got there.
    const written: string[] = [];
    const sink = new Writable({ write: (chunk, _e, done) => (written.push(String(chunk)), done()) });
    const logger = createLogger('info', sink, [new Secret(TOKEN)]);
    logger.info({ err: `upstream said Bearer ${TOKEN}` }, `echo ${TOKEN}`);
    // Request lines written as text, past pino's serializer, too: here a path that carries the token.
    const requestLog = new RequestLog(logger, new Metrics(new MemoryStore(1e6, new FakeClock()), false));
    requestLog.write({ reqId: 'r1', route: 'other', method: 'GET', path: `/packages/${TOKEN}`, status: 404, ms: 0 });
    expect(written.join('')).toContain('"path":"/packages/[redacted]"');
    // The hit path's prepared lines check what varies: a path (also after a clean one), an id from a client.
    const prepared = requestLog.prepare('/packages/:ref', 'GET', 200, 'HIT');
    prepared('r2', '/packages/rock-3', 0, false, Date.now());
    prepared('r3', `/packages/${TOKEN}`, 0, false, Date.now());
    prepared(TOKEN, '/packages/rock-3', 0, true, Date.now());
    const lines = written.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.slice(-3).map((l) => [l.reqId, l.path])).toEqual([['r2', '/packages/rock-3'], ['r3', '/packages/[redacted]'], ['[redacted]', '/packages/rock-3']]);
    expect(written.join('')).not.toContain(TOKEN);
  });

  it('3. a list refreshed with short pages and a partial 304 equals upstream\'s, page by page', async () => {
    const clock = new FakeClock();
    // Upstream caps pages at 10 packages although 200 are asked for: 41 public packages, 5 short pages.
    const sim = new KatapultSimulator({ now: () => clock.now(), maxPerPage: 10, packages: [...seedPackages(), ...generatedPackages(21)] });
    const upstream = await sim.listen();
    const rt = createRuntime(
      loadConfig({ KATAPULT_API_URL: upstream, KATAPULT_API_TOKEN: sim.token, CACHE_FRESH_SECONDS: '60', CACHE_SWR_SECONDS: '0', LOG_LEVEL: 'silent', CACHE_LIST_DETAILS: 'false' }),
      { clock, logger: createLogger('silent') },
    );
    const ids = async () => ((await (await rt.app.request('/packages')).json()) as { packages: Array<{ id: string; storageGb: number }> }).packages;
    try {
      const upstreamPublic = () => sim.packages.filter((p) => p.privacy === 'public');
      expect((await ids()).map((p) => p.id)).toEqual(upstreamPublic().map((p) => p.id));
      expect(sim.count('list')).toBe(5);
      const onPage3 = upstreamPublic()[25]!;
      sim.updatePackage(onPage3.id, { storage_in_gb: 12345 });
      clock.advance(61_000);
      sim.resetCounts();
      const refreshed = await ids();
      // Every page asked with its ETag; only page 3 changed.
      const byPage = sim.log.map((r) => [new URLSearchParams(r.query).get('page'), r.status]).sort();
      expect(byPage).toEqual([['1', 304], ['2', 304], ['3', 200], ['4', 304], ['5', 304]]);
      expect(refreshed.map((p) => p.id)).toEqual(upstreamPublic().map((p) => p.id));
      expect(refreshed.find((p) => p.id === onPage3.id)!.storageGb).toBe(12345);
    } finally {
      await rt.close();
      await sim.close();
    }
  });

  it('4. answers to keyed or authenticated requests are private; public only for the keyless, open answer', async () => {
    stack = await startStack({ env: { AUTH_REQUIRED: 'true' } });
    const [url] = stack.urls;
    for (const path of ['/packages', '/packages/rock-3']) {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${url}${path}`, { headers: asOps }); // a miss, then a hit
        expect(res.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/);
      }
    }
    await stack.close();
    stack = await startStack();
    const keyed = await fetch(`${stack.urls[0]}/packages`, { headers: asOps });
    expect(keyed.headers.get('cache-control')).toMatch(/^private,/);
    const open = await fetch(`${stack.urls[0]}/packages`);
    expect(open.headers.get('cache-control')).toMatch(/^public,/);
  });

  it('5. a Katapult URL with credentials is refused; a Redis URL\'s password is left out of the start-up line', async () => {
    expect(() => loadConfig({ KATAPULT_API_TOKEN: 't', KATAPULT_API_URL: 'https://me:pa55w0rd@api.katapult.io/core/v1' })).toThrowError(
      /^KATAPULT_API_URL: must not carry credentials/,
    );
    try {
      loadConfig({ KATAPULT_API_TOKEN: 't', KATAPULT_API_URL: 'https://me:pa55w0rd@api.katapult.io/core/v1' });
    } catch (err) {
      expect(String(err)).not.toContain('pa55w0rd');
    }
    const sim = new KatapultSimulator();
    const upstream = await sim.listen();
    try {
      const unusedPort = await freePort();
      const svc = await startProcess({ KATAPULT_API_URL: upstream, KATAPULT_API_TOKEN: sim.token, REDIS_URL: `redis://:hunter2-redis-pass@127.0.0.1:${unusedPort}/0` });
      await svc.listening;
      const line = JSON.parse(svc.lines.find((l) => l.includes('"listening"'))!);
      expect(line.redis).toBe(`redis://[redacted]@127.0.0.1:${unusedPort}/0`);
      expect(svc.lines.join('\n')).not.toContain('hunter2-redis-pass');
    } finally {
      await sim.close();
    }
  });
});

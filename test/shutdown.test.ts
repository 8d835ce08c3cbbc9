import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KatapultSimulator } from '../src/simulator/simulator.js';
import { freePort } from './support/ports.js';

/** The real process, as `npm start` runs it, stopped with SIGTERM in the middle of a request. */
describe('graceful shutdown', () => {
  const sim = new KatapultSimulator();
  let upstream = '';
  beforeAll(async () => {
    upstream = await sim.listen();
  });
  afterAll(() => sim.close());

  it('finishes the request in flight, refuses new ones, and exits 0', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, KATAPULT_API_URL: upstream, KATAPULT_API_TOKEN: sim.token, PORT: String(port), HOST: '127.0.0.1', REDIS_URL: '', SHUTDOWN_TIMEOUT_MS: '5000' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    const listening = new Promise<void>((resolve) =>
      createInterface({ input: child.stdout! }).on('line', (l) => {
        lines.push(l);
        if (l.includes('"listening"')) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await listening;
    const base = `http://127.0.0.1:${port}`;

    sim.setFault({ kind: 'latency', ms: 800 });
    const inFlight = fetch(`${base}/packages`);
    await sim.received(); // the request has reached upstream
    child.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect((await res.json()).packages).toHaveLength(20);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
    expect(await exited).toBe(0);
    const logged = lines.map((l) => JSON.parse(l).msg);
    expect(logged).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
  });
});

describe('readiness while draining', () => {
  it('answers 503 on /readyz once shutdown has begun, so a load balancer moves away', async () => {
    const { startStack } = await import('./support/stack.js');
    const stack = await startStack();
    const rt = stack.runtimes[0]!;
    expect((await rt.app.request('/readyz')).status).toBe(200);
    await stack.close();
    const res = await rt.app.request('/readyz');
    expect([res.status, (await res.json()).status]).toEqual([503, 'draining']);
  });
});

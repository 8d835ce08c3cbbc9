import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KatapultSimulator } from '../src/simulator/simulator.js';
import { startMain } from './support/main-process.js';

/** The real process stopped with SIGTERM: in the middle of a request, and with log lines still buffered. */
describe('graceful shutdown', () => {
  const sim = new KatapultSimulator();
  let upstream = '';
  beforeAll(async () => {
    upstream = await sim.listen();
  });
  afterAll(() => sim.close());

  it('finishes the request in flight, refuses new ones, and exits 0', { timeout: 30_000 }, async () => {
    const { child, lines, exited, base } = await startMain(upstream, sim.token, { SHUTDOWN_TIMEOUT_MS: '5000' });

    sim.setFault({ kind: 'latency', ms: 800 });
    const inFlight = fetch(`${base}/packages`);
    await sim.received(); // the request has reached upstream
    child.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    // Its connection is not kept for another request, which would reach a process on its way out.
    expect(res.headers.get('connection')).toBe('close');
    expect((await res.json()).packages).toHaveLength(20);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
    expect(await exited).toBe(0);
    const logged = lines.map((l) => JSON.parse(l).msg);
    expect(logged).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
  });

  it('loses no request line: what is still buffered is written before the process exits', { timeout: 30_000 }, async () => {
    // No timer flush during the test: only the buffer filling up and the shutdown can write lines.
    const { child, lines, exited, base } = await startMain(upstream, sim.token, { LOG_FLUSH_MS: '60000' });
    const ids = Array.from({ length: 600 }, (_, i) => `line-${i}`);
    for (let i = 0; i < ids.length; i += 30) {
      await Promise.all(ids.slice(i, i + 30).map(async (id) => (await fetch(`${base}/packages`, { headers: { 'x-request-id': id } })).arrayBuffer()));
    }
    const loggedBefore = lines.filter((l) => l.includes('"line-')).length;
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // Some lines were still held when the signal came (else this test would prove nothing) ...
    expect(loggedBefore).toBeLessThan(ids.length);
    // ... and every one of them is in the output, once, whole.
    const logged = lines.flatMap((l) => (l.includes('"line-') ? [JSON.parse(l).reqId as string] : []));
    expect(logged.sort()).toEqual([...ids].sort());
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

import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/observability/logger.js';
import { createRuntime, type Runtime } from '../src/runtime.js';
import { KatapultSimulator } from '../src/simulator/simulator.js';
import { API_KEYS, OPS_KEY } from './support/keys.js';

/** Header values a client can send: printable ASCII, quotes, commas and spaces included. */
const headerValue = fc.string({ unit: fc.constantFrom(...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))), maxLength: 200 });
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Hostile input, generated: whatever the path, query, conditional header, request id or credentials, the
 * service answers 4xx or 2xx/304, never a 5xx; echoes none of it into a header (a well-formed request id
 * aside); and afterwards still answers normal requests with the right data (nothing poisoned).
 */
describe('hostile input (property-based)', () => {
  const sim = new KatapultSimulator({ budgetPerMinute: 100_000 });
  let rt: Runtime;
  beforeAll(async () => {
    const upstream = await sim.listen();
    rt = createRuntime(loadConfig({ KATAPULT_API_URL: upstream, KATAPULT_API_TOKEN: sim.token, API_KEYS, CACHE_LIST_DETAILS: 'false', CONSUMER_BURST: '100000', CONSUMER_RATE_PER_SECOND: '100000' }), {
      logger: createLogger('silent'),
      defaultMetrics: false,
    });
  });
  afterAll(async () => {
    await rt.close();
    await sim.close();
  });

  /** Sends one request in-process and checks what must hold for any input. */
  const check = async (path: string, headers: Record<string, string>) => {
    let res: Response;
    try {
      res = await rt.app.request(path, { headers });
    } catch (err) {
      // Only a request the platform itself cannot form (not our answer) may fail here.
      expect(err).toBeInstanceOf(TypeError);
      return;
    }
    expect(res.status, `${path} ${JSON.stringify(headers)}`).toBeLessThan(500);
    // Header values arrive trimmed; a well-formed request id is echoed by design.
    const sent = Object.entries(headers).filter(([name, v]) => v.trim().length >= 6 && !(name === 'x-request-id' && REQUEST_ID.test(v.trim())));
    for (const [name, value] of res.headers) {
      // The request id echoed by design may equal what another header carried: that is not an echo of it.
      if (name === 'x-request-id' && value === headers['x-request-id']?.trim()) continue;
      for (const [, hostile] of sent) expect(value.includes(hostile.trim()), `${name} echoes ${hostile}`).toBe(false);
    }
    if (headers['x-request-id'] !== undefined) {
      const id = res.headers.get('x-request-id')!;
      expect(id === headers['x-request-id'] ? REQUEST_ID.test(id) : true).toBe(true);
    }
    const text = await res.text();
    if (res.status !== 304 && res.headers.get('content-type')?.includes('json')) expect(() => JSON.parse(text)).not.toThrow();
  };

  it('answers any path, query and headers on /packages without a 5xx or an echo', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constant('/packages'), fc.webSegment().map((s) => `/packages/${s}`), fc.webPath()),
        fc.webQueryParameters(),
        fc.record({ 'if-none-match': headerValue, 'x-request-id': headerValue, authorization: headerValue, 'x-api-key': headerValue }, { requiredKeys: [] }),
        async (path, query, headers) => check(query ? `${path}?${query}` : path, headers),
      ),
      { numRuns: 300 },
    );
  });

  it('answers any query on the Katapult-compatible endpoint without a 5xx, in Katapult\'s envelope', async () => {
    const key = fc.oneof(
      fc.constantFrom('organization[id]', 'organization[sub_domain]', 'virtual_machine_package[id]', 'virtual_machine_package[permalink]', 'page', 'per_page'),
      fc.string({ maxLength: 30 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/core/v1/virtual_machine_packages', '/core/v1/virtual_machine_packages/virtual_machine_package', '/core/v1/virtual_machine_packages/_'),
        fc.array(fc.tuple(key, fc.string({ maxLength: 40 })), { maxLength: 4 }),
        async (path, pairs) => {
          const query = new URLSearchParams(pairs).toString();
          const res = await rt.app.request(`${path}?${query}`, { headers: { authorization: `Bearer ${OPS_KEY}` } });
          expect(res.status, `${path}?${query}`).toBeLessThan(500);
          const body = await res.json();
          if (res.status >= 400) expect(body.error).toMatchObject({ code: expect.any(String), description: expect.any(String) });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('still answers normal requests with the right data afterwards: nothing was poisoned', async () => {
    const list = await rt.app.request('/packages');
    expect(list.status).toBe(200);
    const packages = (await list.json()).packages as Array<{ name: string }>;
    expect(packages.map((p) => p.name)).toEqual(sim.packages.filter((p) => p.privacy === 'public').map((p) => p.name));
    const one = await rt.app.request('/packages/rock-3');
    expect([one.status, (await one.json()).package.name]).toEqual([200, 'ROCK-3']);
    const compat = await rt.app.request('/core/v1/virtual_machine_packages?per_page=200');
    expect((await compat.json()).virtual_machine_packages).toHaveLength(20);
  });

  it('serves normal requests while 300 connections send their headers a byte at a time', async () => {
    const url = new URL(await rt.listen(0, '127.0.0.1'));
    const slow: Socket[] = [];
    for (let i = 0; i < 300; i++) {
      const socket = connect(Number(url.port), url.hostname);
      socket.on('error', () => undefined);
      socket.write('GET /packages HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      slow.push(socket);
    }
    const drip = setInterval(() => slow.forEach((s) => s.write('a')), 100);
    try {
      const started = performance.now();
      const answers = await Promise.all(Array.from({ length: 20 }, () => fetch(`${url.origin}/packages/rock-3`)));
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
      expect(performance.now() - started).toBeLessThan(2000);
    } finally {
      clearInterval(drip);
      slow.forEach((s) => s.destroy());
    }
  });
});

import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/observability/logger.js';
import { loadConfig } from '../src/config/config.js';
import { createRuntime, type Runtime } from '../src/runtime.js';
import { KatapultSimulator } from '../src/simulator/simulator.js';
import { captureLogs } from './support/logs.js';

const TOKEN = 'kt_Sup3rS3cretT0ken_do-not-leak';

/** The Katapult token must never reach a response or a log line, on any path, errors included. */
describe('secrets and request logs', () => {
  const sim = new KatapultSimulator({ token: TOKEN });
  const logs = captureLogs();
  let rt: Runtime;
  let url = '';

  beforeAll(async () => {
    const upstream = await sim.listen();
    rt = createRuntime(loadConfig({ KATAPULT_API_URL: upstream, KATAPULT_API_TOKEN: TOKEN, KATAPULT_TIMEOUT_MS: '300', LOG_LEVEL: 'debug', CACHE_LIST_DETAILS: 'false' }), {
      logger: logs.logger,
    });
    url = await rt.listen(0, '127.0.0.1');
  });
  afterAll(async () => {
    await rt.close();
    await sim.close();
  });

  it('never shows the token, whatever happens upstream', async () => {
    const seen: string[] = [];
    const hit = async (path: string, init?: RequestInit) => {
      const res = await fetch(`${url}${path}`, init);
      seen.push(JSON.stringify([...res.headers]), await res.text());
      return res.status;
    };
    expect(await hit('/packages')).toBe(200);
    expect(await hit('/packages/rock-3', { headers: { 'x-request-id': 'trace-1' } })).toBe(200);
    expect(await hit('/packages/no-such')).toBe(404);
    expect(await hit('/packages?bad=1')).toBe(400);
    // Packages the held list names, not fetched yet: each get goes upstream and meets the fault.
    const faults = [{ kind: 'status', status: 503 }, { kind: 'status', status: 429 }, { kind: 'malformed' }, { kind: 'hang' }] as const;
    for (const [i, fault] of faults.entries()) {
      sim.setFault(fault);
      expect(await hit(`/packages/${['rock-6', 'rock-12', 'rock-18', 'rock-24'][i]}`)).toBeGreaterThanOrEqual(500);
    }
    sim.setFault(null);
    // Katapult refusing the token (rotated, revoked) is our problem, reported without the token.
    const wrong = new KatapultSimulator({ token: 'another' });
    const wrongUrl = await wrong.listen();
    const other = createRuntime(loadConfig({ KATAPULT_API_URL: wrongUrl, KATAPULT_API_TOKEN: TOKEN }), { logger: logs.logger });
    const refused = await other.app.request('/packages');
    expect(refused.status).toBe(502);
    seen.push(await refused.text());
    await other.close();
    await wrong.close();

    expect(seen.join('\n')).not.toContain(TOKEN);
    expect(logs.lines.length).toBeGreaterThan(8);
    expect(logs.lines.join('\n')).not.toContain(TOKEN);
  });

  it('writes one JSON line per request with its id, status and cache outcome', async () => {
    logs.lines.length = 0;
    await fetch(`${url}/packages/rock-3`, { headers: { 'x-request-id': 'trace-42' } });
    // A caller that sends the Katapult token as its key is refused, and the token is logged nowhere.
    await fetch(`${url}/packages/rock-3`, { headers: { 'x-request-id': 'trace-43', authorization: `Bearer ${TOKEN}` } });
    const lines = logs.parsed().filter((l) => l.msg === 'request');
    expect(lines).toEqual([
      expect.objectContaining({ reqId: 'trace-42', method: 'GET', path: '/packages/rock-3', status: 200, cache: 'HIT', ms: expect.any(Number) }),
      expect.objectContaining({ reqId: 'trace-43', status: 401 }),
    ]);
    expect(logs.lines.join('\n')).not.toContain(TOKEN);
  });
});

describe('a cache hit\'s line, with the service\'s own scrubbing', () => {
  it('holds no secret that a client sends as its request id', async () => {
    const sim = new KatapultSimulator({ token: TOKEN });
    const written: string[] = [];
    const sink = new Writable({ write: (chunk, _e, done) => (written.push(String(chunk)), done()) });
    const config = loadConfig({ KATAPULT_API_URL: await sim.listen(), KATAPULT_API_TOKEN: TOKEN, CACHE_LIST_DETAILS: 'false' });
    const rt = createRuntime(config, { logger: createLogger('info', sink, [config.katapultToken]) });
    const url = await rt.listen(0, '127.0.0.1');
    try {
      await (await fetch(`${url}/packages/rock-3`)).arrayBuffer();
      for (const id of ['trace-7', TOKEN]) {
        const res = await fetch(`${url}/packages/rock-3`, { headers: { 'x-request-id': id } });
        expect(res.headers.get('x-cache')).toBe('HIT');
      }
    } finally {
      await rt.close();
      await sim.close();
    }
    const hits = written.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.cache === 'HIT');
    expect(hits.map((l) => l.reqId)).toEqual(['trace-7', '[redacted]']);
    expect(written.join('')).not.toContain(TOKEN);
  });
});

describe('single-flight inside one instance', () => {
  it('100 concurrent misses for one key make one upstream request per page', async () => {
    const sim = new KatapultSimulator();
    const upstream = await sim.listen();
    sim.setFault({ kind: 'latency', ms: 50 });
    const rt = createRuntime(loadConfig({ KATAPULT_API_URL: upstream, KATAPULT_API_TOKEN: sim.token, LOG_LEVEL: 'silent' }));
    const answers = await Promise.all(Array.from({ length: 100 }, () => rt.app.request('/packages')));
    expect(answers.every((r) => r.status === 200)).toBe(true);
    expect(new Set(answers.map((r) => r.headers.get('etag'))).size).toBe(1);
    expect(sim.count('list')).toBe(1);
    await rt.close();
    await sim.close();
  });
});

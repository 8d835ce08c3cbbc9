import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/cache/memory-store.js';
import { Metrics } from '../src/observability/metrics.js';
import { RequestLog, type RequestLine } from '../src/observability/request-log.js';
import { FakeClock } from './support/clock.js';
import { captureLogs } from './support/logs.js';

const metrics = () => new Metrics(new MemoryStore(1e6, new FakeClock()), false);

/** Request lines written as text must be exactly what pino itself writes for the same fields. */
describe('request log', () => {
  const lines: RequestLine[] = [
    { reqId: '6f1d7e0c-3a7e-4c7e-9d0a-1f2e3d4c5b6a', route: '/packages/:ref', method: 'GET', path: '/packages/rock-3', status: 200, cache: 'HIT', ms: 0.1 },
    { reqId: 'trace-1', route: '/packages', method: 'GET', path: '/packages?organization=acme', status: 401, consumer: 'billing', ms: 1.5 },
    // Strings that need escaping take pino's own serializer.
    { reqId: 'r', route: 'other', method: 'GET', path: '/"quoted"\\path\n', status: 404, ms: 0 },
  ];

  it.each(lines)('writes %o as pino would', (line) => {
    const fast = captureLogs();
    const slow = captureLogs();
    new RequestLog(fast.logger, metrics()).write(line);
    slow.logger.info(line, 'request');
    const [a, b] = [fast.parsed()[0]!, slow.parsed()[0]!];
    expect({ ...a, time: 0 }).toEqual({ ...b, time: 0 });
    expect(Object.keys(a)).toEqual(Object.keys(b));
  });

  it('writes a prepared line (the hit path\'s) as it writes the whole line, and counts it', async () => {
    const m = metrics();
    const prepared = captureLogs();
    const whole = captureLogs();
    const line = new RequestLog(prepared.logger, m).prepare('/packages/:ref', 'GET', 304, 'HIT');
    // The same path again, short and long durations, and a path that is not plain (pino's serializer).
    const cases: Array<[string, number]> = [['/packages/rock-3', 0.1], ['/packages/rock-3', 0.9], ['/packages/rock-4', 12.3], ['/packages', 1], ['/packages/"odd"\n', 0], ['/packages/"odd"\n', 0]];
    for (const [path, ms] of cases) {
      line('0f1d7e0c-3a7e-4c7e-9d0a-1000000001', path, ms, false, 1_764_000_000_123);
      new RequestLog(whole.logger, metrics()).write({ reqId: '0f1d7e0c-3a7e-4c7e-9d0a-1000000001', route: '/packages/:ref', method: 'GET', path, status: 304, cache: 'HIT', ms });
    }
    expect(prepared.lines.map((l) => l.replace(/"time":\d+/, ''))).toEqual(whole.lines.map((l) => l.replace(/"time":\d+/, '')));
    expect(prepared.parsed().map((l) => [l.path, l.ms])).toEqual(cases);
    // Its time is the caller's clock reading.
    expect(prepared.parsed()[0]!.time).toBe(1_764_000_000_123);
    expect(await m.registry.getSingleMetricAsString('kbff_http_requests_total')).toContain(`route="/packages/:ref",status="304"} ${cases.length}`);
  });

  it('counts every request, and writes nothing below info', async () => {
    const m = metrics();
    const quiet = captureLogs();
    quiet.logger.level = 'warn';
    const log = new RequestLog(quiet.logger, m);
    log.write(lines[0]!);
    expect(quiet.lines).toEqual([]);
    // The level can change while the service runs: the log follows it, for prepared lines too.
    const prepared = log.prepare('/packages/:ref', 'GET', 200, 'HIT');
    quiet.logger.level = 'info';
    prepared('trace-2', '/packages/rock-3', 0.2, true, Date.now());
    quiet.logger.level = 'error';
    prepared('trace-3', '/packages/rock-3', 0.2, true, Date.now());
    expect(quiet.parsed().map((l) => l.reqId)).toEqual(['trace-2']);
    expect(await m.registry.getSingleMetricAsString('kbff_http_requests_total')).toContain('route="/packages/:ref",status="200"} 3');
  });
});

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

  it('counts every request, and writes nothing below info', async () => {
    const m = metrics();
    const quiet = captureLogs();
    quiet.logger.level = 'warn';
    new RequestLog(quiet.logger, m).write(lines[0]!);
    expect(quiet.lines).toEqual([]);
    expect(await m.registry.getSingleMetricAsString('kbff_http_requests_total')).toContain('route="/packages/:ref",status="200"} 1');
  });
});

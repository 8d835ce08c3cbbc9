import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/cache/memory-store.js';
import { Metrics } from '../src/observability/metrics.js';
import { RequestLog, type RequestLine } from '../src/observability/request-log.js';
import { FakeClock } from './support/clock.js';
import { captureLogs } from './support/logs.js';

describe('request log', () => {
  const lines: RequestLine[] = [
    { reqId: '6f1d7e0c-3a7e-4c7e-9d0a-1f2e3d4c5b6a', route: '/packages/:ref', method: 'GET', path: '/packages/rock-3', status: 200, cache: 'HIT', ms: 0.1 },
  ];

  it('writes one JSON line with the fields, and counts it', async () => {
    const metrics = new Metrics(new MemoryStore(1e6, new FakeClock()), false);
    const logs = captureLogs();
    new RequestLog(logs.logger, metrics).write(lines[0]!);
    expect(logs.parsed()).toEqual([expect.objectContaining({ ...lines[0], msg: 'request', level: 30, service: 'katapult-bff' })]);
    expect(await metrics.registry.getSingleMetricAsString('kbff_http_requests_total')).toContain('route="/packages/:ref",status="200"} 1');
  });

  it('counts the request even when info lines are off', async () => {
    const metrics = new Metrics(new MemoryStore(1e6, new FakeClock()), false);
    const quiet = captureLogs();
    quiet.logger.level = 'warn';
    new RequestLog(quiet.logger, metrics).write(lines[0]!);
    expect(quiet.lines).toEqual([]);
    expect(await metrics.registry.getSingleMetricAsString('kbff_http_requests_total')).toContain('route="/packages/:ref",status="200"} 1');
  });
});

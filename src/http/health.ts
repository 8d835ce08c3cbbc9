import { Hono } from 'hono';
import type { Redis } from 'ioredis';
import type { CircuitBreaker } from '../upstream/breaker.js';
import type { BudgetGovernor } from '../upstream/governor.js';
import type { Metrics } from '../observability/metrics.js';
import type { AppEnv } from './context.js';

/**
 * `/metrics`: Prometheus. `/healthz`: the process answers. `/readyz`: ready to serve; "degraded" when a configured Redis is
 * unreachable (the service still answers from L1 and upstream), 503 "draining" once shutdown has begun.
 * None of them touches upstream or needs a key.
 */
export function healthRoutes(deps: {
  redis: Redis | null;
  governor: BudgetGovernor;
  breaker: CircuitBreaker;
  metrics: Metrics;
  lifecycle: { draining: boolean };
}): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/metrics', async (c) => c.body(await deps.metrics.registry.metrics(), 200, { 'content-type': deps.metrics.registry.contentType }));
  routes.get('/healthz', (c) => c.json({ status: 'ok' }, 200, { 'cache-control': 'no-store' }));
  routes.get('/readyz', async (c) => {
    if (deps.lifecycle.draining) return c.json({ status: 'draining' }, 503, { 'cache-control': 'no-store' });
    const redis = !deps.redis ? 'not configured' : deps.redis.status === 'ready' ? 'up' : 'down';
    return c.json(
      {
        status: redis === 'down' ? 'degraded' : 'ready',
        redis,
        upstream: { circuit: deps.breaker.state, budget: await deps.governor.state() },
      },
      200,
      { 'cache-control': 'no-store' },
    );
  });
  return routes;
}

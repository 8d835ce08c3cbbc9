import { Hono } from 'hono';
import type { RedisGuard } from '../redis/guard.js';
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
  redis: RedisGuard | null;
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
    const redis = deps.redis?.state ?? 'not configured';
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

import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../http/context.js';
import { AppError } from '../http/errors.js';
import type { ConsumerLimiter } from './rate-limit.js';

/**
 * Applies each consumer's request limit and states it in the `RateLimit-Policy` / `RateLimit` headers
 * (draft-ietf-httpapi-ratelimit-headers). Anonymous reads of public packages have no bucket: they are
 * answered from the cache, and the upstream budget is the governor's to protect (AUTH_REQUIRED=true makes
 * every caller a consumer).
 */
export function limitConsumers(limiter: ConsumerLimiter): MiddlewareHandler<AppEnv> {
  const policy = `"consumer";q=${limiter.burst};w=${Math.max(1, Math.ceil(limiter.burst / limiter.ratePerSecond))}`;
  return async function limitConsumers(c, next) {
    const consumer = c.get('consumer');
    if (!consumer) return next();
    const decision = await limiter.take(consumer.name);
    const headers = { 'ratelimit-policy': policy, ratelimit: `"consumer";r=${decision.remaining};t=${decision.resetSeconds}` };
    if (!decision.allowed) {
      throw new AppError('rate_limited', 'too many requests for this consumer; slow down', decision.resetSeconds, headers);
    }
    await next();
    for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
  };
}

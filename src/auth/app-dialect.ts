import type { AuthDialect } from './middleware.js';
import type { ConsumerLimiter } from './rate-limit.js';
import { AppError } from '../http/errors.js';

/**
 * Refusals in this service's own error format, and the consumer's request limit in the `RateLimit-Policy`
 * / `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers).
 */
export function appAuthDialect(limiter: ConsumerLimiter): AuthDialect {
  const policy = `"consumer";q=${limiter.burst};w=${Math.max(1, Math.ceil(limiter.burst / limiter.ratePerSecond))}`;
  const limitHeaders = (d: { remaining: number; resetSeconds: number }) => ({ 'ratelimit-policy': policy, ratelimit: `"consumer";r=${d.remaining};t=${d.resetSeconds}` });
  return {
    limiter,
    limitHeaders,
    refuse(refusal) {
      switch (refusal.kind) {
        case 'unknown_key':
          return new AppError('unauthorized', 'unknown API key');
        case 'invalid_session':
          return new AppError('unauthorized', 'the session is not valid; sign in again');
        case 'forged_request':
          return new AppError('forbidden', 'a signed-in request needs X-CSRF: 1 and must come from this site');
        case 'invalid_token':
          return new AppError('unauthorized', 'the bearer token is not valid here', undefined, { 'www-authenticate': 'Bearer error="invalid_token"' });
        case 'key_required':
          return new AppError('unauthorized', refusal.scope.kind === 'public' ? 'an API key is required' : "an API key is required for an organization's packages");
        case 'not_listed':
          return new AppError('forbidden', `this API key may not read organization '${refusal.scope.value}'`);
        case 'over_limit':
          return new AppError('rate_limited', 'too many requests for this consumer; slow down', refusal.decision.resetSeconds, limitHeaders(refusal.decision));
      }
    },
  };
}

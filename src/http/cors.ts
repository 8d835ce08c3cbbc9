import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';

/** Response headers a browser script may read: the caching and tracing ones a frontend acts on. */
export const EXPOSED_HEADERS = ['ETag', 'X-Cache', 'Age', 'X-Request-Id', 'RateLimit', 'RateLimit-Policy', 'Retry-After', 'Warning'];

/**
 * CORS for the browser frontend: only the listed origins (or any, with `*`). Preflights are answered here,
 * before authentication, the cache or upstream are touched. `If-None-Match` is allowed, so a script can
 * revalidate explicitly as well as through the browser's own cache.
 */
export function corsFor(origins: string[]): MiddlewareHandler {
  const any = origins.includes('*');
  return cors({
    origin: (origin) => (any ? '*' : origins.includes(origin) ? origin : null),
    allowMethods: ['GET', 'HEAD', 'OPTIONS'],
    allowHeaders: ['Authorization', 'X-Api-Key', 'If-None-Match', 'X-Request-Id'],
    exposeHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  });
}

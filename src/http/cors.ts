import type { MiddlewareHandler } from 'hono';

/** Response headers a browser script may read: the caching and tracing ones a frontend acts on. */
export const EXPOSED_HEADERS = ['ETag', 'X-Cache', 'Age', 'X-Request-Id', 'X-Packages-Detail', 'RateLimit', 'RateLimit-Policy', 'Retry-After', 'Warning'];
const ALLOWED_HEADERS = 'Authorization,X-Api-Key,If-None-Match,X-Request-Id,X-CSRF';
const ALLOWED_METHODS = 'GET,HEAD,OPTIONS';
const MAX_AGE_SECONDS = '600';

/**
 * CORS for the browser frontend (Fetch standard, "CORS protocol"): only the listed origins, or any with
 * `*`. One function decides the headers of an answer, so the router and the cache-hit path in front of
 * it send the same ones. `If-None-Match` is allowed, so a script can revalidate explicitly as well as
 * through the browser's own cache.
 */
export class CorsPolicy {
  readonly #any: boolean;
  readonly #origins: ReadonlySet<string>;

  constructor(origins: string[]) {
    this.#any = origins.includes('*');
    this.#origins = new Set(origins);
  }

  /**
   * The CORS headers of an answer to a request from `origin` (absent for a non-browser caller). With a
   * list of origins the answer depends on the Origin header, so `Vary: Origin` tells shared caches.
   */
  answerHeaders(origin: string | undefined): Record<string, string> {
    const headers: Record<string, string> = { 'access-control-expose-headers': EXPOSED_HEADERS.join(',') };
    if (this.#any) headers['access-control-allow-origin'] = '*';
    else {
      headers.vary = 'Origin';
      if (origin !== undefined && this.#origins.has(origin)) headers['access-control-allow-origin'] = origin;
    }
    return headers;
  }

  /** Adds the CORS headers of an answer to `headers`, naming `Origin` beside what `Vary` already says. */
  addTo(headers: Record<string, string>, origin: string | undefined): void {
    for (const [name, value] of Object.entries(this.answerHeaders(origin))) {
      headers[name] = name === 'vary' && headers.vary ? `${headers.vary}, ${value}` : value;
    }
  }

  /** Preflights are answered here, before authentication, the cache or upstream are touched. */
  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const headers = this.answerHeaders(c.req.header('origin'));
      if (c.req.method === 'OPTIONS') {
        return c.body(null, 204, {
          ...headers,
          'access-control-allow-methods': ALLOWED_METHODS,
          'access-control-allow-headers': ALLOWED_HEADERS,
          'access-control-max-age': MAX_AGE_SECONDS,
        });
      }
      await next();
      for (const [name, value] of Object.entries(headers)) {
        if (name === 'vary') c.res.headers.append('vary', value);
        else c.res.headers.set(name, value);
      }
    };
  }
}

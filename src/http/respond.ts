import type { CacheEntry, CacheStatus, Served } from '../cache/entry.js';
import type { NotFoundCatalog } from './errors.js';
import { ifNoneMatchMatches } from './etag.js';

export interface Rendered {
  status: 200 | 304;
  headers: Record<string, string>;
  /** Null for a 304. */
  body: string | null;
}

const STALE_WARNING = '111 katapult-bff "Revalidation Failed"';

/**
 * Turns a cache answer into the consumer's response: a strong `ETag`, `Cache-Control` with the freshness
 * left (`private` for an organization's packages, which must not sit in shared caches), `Age`, `X-Cache`,
 * and a 304 when `If-None-Match` already names this representation. A cached "not found" becomes its 404,
 * in the words its resource declared.
 */
export function render(served: Served, opts: { shared: boolean; ifNoneMatch: string | undefined | null; now: number; notFound: NotFoundCatalog }): Rendered {
  const { entry, status } = served;
  if (entry.kind === 'not_found') throw opts.notFound.error(entry.code);

  const headers = cacheHeaders(entry, status, opts.shared, opts.now);
  if (served.refreshError) headers.warning = STALE_WARNING;
  if (ifNoneMatchMatches(opts.ifNoneMatch, entry.etag)) return { status: 304, headers, body: null };
  headers['content-type'] = 'application/json; charset=utf-8';
  return { status: 200, headers, body: entry.body };
}

/**
 * May a shared cache (a CDN, a proxy) store this answer for everyone? Only when it is the same for
 * everyone and no key was needed or given: public packages, asked without a key, while AUTH_REQUIRED is
 * off. Anything else is `private`, so a keyed answer never reaches a caller without the key.
 */
export function isShared(scopeIsPublic: boolean, keyed: boolean, authRequired: boolean): boolean {
  return scopeIsPublic && !keyed && !authRequired;
}

/** The caching headers of an answer from the cache (RFC 9111 §5): the router and the hit path send these. */
export function cacheHeaders(entry: CacheEntry, status: CacheStatus, shared: boolean, now: number): Record<string, string> {
  const maxAge = status === 'STALE' ? 0 : Math.max(0, Math.floor((entry.freshUntil - now) / 1000));
  return {
    etag: entry.etag,
    'cache-control': `${shared ? 'public' : 'private'}, max-age=${maxAge}`,
    age: String(Math.max(0, Math.floor((now - entry.storedAt) / 1000))),
    'x-cache': status,
  };
}

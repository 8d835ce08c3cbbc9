import type { CacheEntry, CacheStatus, Served } from '../cache/entry.js';
import type { Context } from 'hono';
import type { Compressor, Representation } from './compression.js';
import type { NotFoundCatalog } from './errors.js';

/** What every cached answer varies by; CORS with a list of origins adds `Origin`. */
export const VARY = 'Accept-Encoding';

const STALE_WARNING = '111 katapult-bff "Revalidation Failed"';

export interface RenderOptions {
  shared: boolean;
  ifNoneMatch: string | undefined | null;
  acceptEncoding: string | undefined;
  now: number;
  notFound: NotFoundCatalog;
  compressor: Compressor;
}

/**
 * Turns a cache answer into the consumer's response: a strong `ETag` (one per content coding),
 * `Cache-Control` with the freshness left (`private` for an organization's packages, which must not sit
 * in shared caches), `Age`, `X-Cache`, `Vary`, the coding the client accepts, and a 304 when
 * `If-None-Match` already names this representation. A cached "not found" becomes its 404, in the words
 * its resource declared. The hit path answers the same through `Compressor.represent`, from the same parts.
 */
export function render(served: Served, opts: RenderOptions): Representation {
  const { entry, status } = served;
  if (entry.kind === 'not_found') throw opts.notFound.error(entry.code);
  const headers = cacheHeaders(entry, status, opts.shared, opts.now);
  if (served.refreshError) headers.warning = STALE_WARNING;
  return opts.compressor.represent(entry.body, entry.etag, headers, opts.acceptEncoding, opts.ifNoneMatch);
}

/** A representation as Hono's response. */
export function send(c: Context, out: Representation): Response {
  // Node's Buffers are Uint8Arrays; Hono's type asks for one over a plain ArrayBuffer, which zlib's are.
  return out.body === null ? c.body(null, 304, out.headers) : c.body(out.body as Uint8Array<ArrayBuffer> | string, 200, out.headers);
}

/**
 * May a shared cache (a CDN, a proxy) store this answer for everyone? Only when it is the same for
 * everyone and no key was needed or given: public packages, asked without a key, while AUTH_REQUIRED is
 * off. Anything else is `private`, so a keyed answer never reaches a caller without the key.
 */
export function isShared(scopeIsPublic: boolean, keyed: boolean, authRequired: boolean): boolean {
  return scopeIsPublic && !keyed && !authRequired;
}

/**
 * The caching headers of an answer from the cache (RFC 9111 §5): the router and the hit path send these.
 * Every one may be sent in another content coding, so each says `Vary: Accept-Encoding` (CORS adds `Origin`).
 */
export function cacheHeaders(entry: CacheEntry, status: CacheStatus, shared: boolean, now: number): Record<string, string> {
  return {
    etag: entry.etag,
    'cache-control': `${shared ? 'public' : 'private'}, max-age=${status === 'STALE' ? 0 : freshSeconds(entry, now)}`,
    age: String(ageSeconds(entry, now)),
    'x-cache': status,
    vary: VARY,
  };
}

/** `max-age` of a fresh answer: the whole seconds of freshness left. */
export function freshSeconds(entry: CacheEntry, now: number): number {
  return Math.max(0, Math.floor((entry.freshUntil - now) / 1000));
}

/** `Age`: the whole seconds since the entry was stored. */
export function ageSeconds(entry: CacheEntry, now: number): number {
  return Math.max(0, Math.floor((now - entry.storedAt) / 1000));
}

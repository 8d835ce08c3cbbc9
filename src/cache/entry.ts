import { z } from 'zod';

/**
 * One cached answer. Times are ms since the epoch on the injected clock:
 * fresh until `freshUntil` (served without asking upstream), servable stale until `staleUntil`, then gone.
 */
export const cacheEntry = z.object({
  /** 'found': `body` is the representation; 'not_found': a remembered upstream 404 (negative entry). */
  kind: z.enum(['found', 'not_found']),
  /** The consumer representation, serialized JSON; for 'not_found' the error code. */
  body: z.string(),
  /** Strong ETag of `body`, the same on every instance. */
  etag: z.string(),
  /** Katapult's ETags, one per upstream page (a get has one), sent back as `If-None-Match` on refresh. */
  upstreamEtags: z.array(z.string().nullable()),
  /**
   * For a list: how many packages each upstream page held, in order, so a refresh where some pages
   * answer 304 takes exactly those pages' packages from the held body. Absent: walk unconditionally.
   */
  pages: z.array(z.number().int().nonnegative()).optional(),
  storedAt: z.number(),
  freshUntil: z.number(),
  staleUntil: z.number(),
});
export type CacheEntry = z.infer<typeof cacheEntry>;

/** A shared cache tier. `undefined` from `get` is a miss, also when the tier could not answer. */
export interface CacheStore {
  get(key: string): Promise<CacheEntry | undefined>;
  set(key: string, entry: CacheEntry): Promise<void>;
}

/** What `X-Cache` says: served fresh from cache, fetched, served stale, or confirmed current by upstream. */
export type CacheStatus = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED';

export interface Served {
  entry: CacheEntry;
  status: CacheStatus;
  /** The tier that held the entry, for HIT and STALE; null when it came from upstream. */
  tier: 'l1' | 'l2' | null;
  /** Set on a STALE answer when the last refresh of this key failed (stale-if-error). */
  refreshError: Error | null;
  /** True when this caller waited on a refresh that another request (here or on another instance) made. */
  coalesced: boolean;
}


import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * One cached answer. Times are ms since the epoch on the injected clock: fresh until `freshUntil`
 * (served without asking upstream), servable stale until `staleUntil`, then gone.
 */
const times = {
  storedAt: z.number(),
  freshUntil: z.number(),
  staleUntil: z.number(),
};

export const cacheEntry = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('found'),
    /** The consumer representation, serialized JSON. */
    body: z.string(),
    /** Strong ETag of `body`, the same on every instance. */
    etag: z.string(),
    /** The upstream's ETags, one per upstream page (a get has one), sent back as `If-None-Match` on refresh. */
    upstreamEtags: z.array(z.string().nullable()),
    /**
     * For a list: how many items each upstream page held, in order, so a refresh where some pages
     * answer 304 takes exactly those pages' items from the held body. Absent: walk unconditionally.
     */
    pages: z.array(z.number().int().nonnegative()).optional(),
    ...times,
  }),
  z.object({
    /** A remembered "does not exist" (negative entry), with the resource's own not-found code. */
    kind: z.literal('not_found'),
    code: z.string(),
    /** A tag of the code, so a not-found that turns into another is seen as a change. */
    etag: z.string(),
    ...times,
  }),
]);
export type CacheEntry = z.infer<typeof cacheEntry>;
export type FoundEntry = Extract<CacheEntry, { kind: 'found' }>;

/** A shared cache tier. `undefined` from `get` is a miss, also when the tier could not answer. */
export interface CacheStore {
  get(key: string): Promise<CacheEntry | undefined>;
  set(key: string, entry: CacheEntry): Promise<void>;
  /** The servable entries under every key matching one of `patterns` (globs with `*`); an admin's purge reads them. */
  matching(patterns: string[]): Promise<CacheEntry[]>;
}

/** How a shared-tier write ended: stored anew, changed (broadcast), times moved only, lost to a newer holder, or not made. */
export type WriteOutcome = 'written' | 'changed' | 'unchanged' | 'fenced' | 'failed';

/** The shared tier (L2): the contract, and writes fenced by the fleet lock's holder. */
export interface SharedStore extends CacheStore {
  /** Writes `entry` unless a later lock holder (a higher `fence`) wrote the key; a holder's write releases its lock. */
  write(key: string, entry: CacheEntry, fence: number): Promise<WriteOutcome>;
}

/** Where an entry was held: in-process (L1) or Redis (L2). */
export type Tier = 'l1' | 'l2';

/** What `X-Cache` says: served fresh from cache, fetched, served stale, or confirmed current by upstream. */
export type CacheStatus = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED';

export interface Served {
  entry: CacheEntry;
  status: CacheStatus;
  /** The tier that held the entry, for HIT and STALE; null when it came from upstream. */
  tier: Tier | null;
  /** Set on a STALE answer when the last refresh of this key failed (stale-if-error). */
  refreshError: Error | null;
  /** True when this caller waited on a refresh that another request (here or on another instance) made. */
  coalesced: boolean;
}

/** A strong ETag from the representation's bytes: the same content gives the same tag anywhere, any time. */
export function strongEtag(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/**
 * A WeakMap that keeps the last key it was asked about, with its value, at hand: a cache hit asks about
 * one object many times in a row, and each WeakMap lookup costs a hash. The object at hand outlives its
 * place elsewhere until another is asked about.
 */
export class WeakMemo<K extends object, V> {
  readonly #map = new WeakMap<K, V>();
  #lastKey: K | undefined;
  #last: V | undefined;

  get(key: K): V | undefined {
    if (key !== this.#lastKey) {
      this.#lastKey = key;
      this.#last = this.#map.get(key);
    }
    return this.#last;
  }

  set(key: K, value: V): void {
    this.#map.set(key, value);
    this.#lastKey = key;
    this.#last = value;
  }
}

/** `make` applied once per object (an entry, a composition), its result kept for as long as the object lives. */
export function oncePer<K extends object, V>(make: (key: K) => V): (key: K) => V {
  const memo = new WeakMemo<K, V>();
  return (key) => {
    let value = memo.get(key);
    if (value === undefined) memo.set(key, (value = make(key)));
    return value;
  };
}

/**
 * `decode` applied once per entry: L1 keeps one object per entry, so a body is parsed once however often
 * it is served (an entry read from Redis is a new object, parsed once too).
 */
export function decodedOnce<T>(decode: (body: string) => T): (entry: FoundEntry) => T {
  return oncePer((entry: FoundEntry) => decode(entry.body));
}

import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock.js';
import type { CacheEntry } from '../cache/entry.js';
import { listKey, packageKey } from '../cache/keys.js';
import type { Tier, TieredStore } from '../cache/tiered-store.js';
import type { RefreshLock } from '../coordination/refresh-lock.js';
import type { Logger } from '../observability/logger.js';
import { isNotFound, isOwnRefusal, UpstreamError } from '../upstream/errors.js';
import type { Priority } from '../upstream/governor.js';
import { PER_PAGE, type KatapultClient, type OrgScope, type PackageLookup } from '../upstream/katapult-client.js';
import { toPackage, type Package } from './model.js';

/** What `X-Cache` says: served fresh from cache, fetched, served stale, or confirmed current by upstream. */
export type CacheStatus = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED';

export interface Served {
  entry: CacheEntry;
  status: CacheStatus;
  /** The tier that held the entry, for HIT and STALE; null when it came from upstream. */
  tier: Tier | null;
  /** Set on a STALE answer when the last refresh of this key failed (stale-if-error). */
  refreshError: UpstreamError | null;
  /** True when this caller waited on a refresh that another request (here or on another instance) made. */
  coalesced: boolean;
}

export interface PackageServiceOptions {
  store: TieredStore;
  client: KatapultClient;
  clock: Clock;
  logger: Logger;
  /** Fleet-wide refresh lock; null without Redis (per-instance single-flight only). */
  lock: RefreshLock | null;
  freshMs: number;
  staleMs: number;
  negativeMs: number;
  swrMs: number;
  refreshAheadMs: number;
  /** How long a request waits for another instance's refresh before giving up. */
  waitMs: number;
  /** Told about each answer, for metrics. */
  onServed?: (served: Served) => void;
}

/** What a refresh learned: the held entry is still current, or here is a new representation. */
type Fetched = { notModified: true } | { notModified: false; body: string; upstreamEtags: (string | null)[] };
type Fetch = (previous: CacheEntry | undefined, priority: Priority) => Promise<Fetched>;

/**
 * The package cache, on one model of time per entry (fresh → stale → gone):
 * - fresh: served as it is; in its last `refreshAheadMs` a request also starts a background refresh;
 * - stale for up to `swrMs`: served at once while one background refresh runs (stale-while-revalidate);
 * - stale beyond that, until `staleUntil`: refreshed before answering, served stale if that fails
 *   (stale-if-error, RFC 5861);
 * - a 404 is remembered for `negativeMs`.
 * One refresh per key runs at a time in this process, and with Redis one per key in the whole fleet.
 */
export class PackageService {
  readonly #inflight = new Map<string, Promise<Served>>();
  /** The last refresh failure per key, so later stale answers still say the data could not be refreshed. */
  readonly #failures = new LRUCache<string, UpstreamError>({ max: 10_000 });

  constructor(private readonly o: PackageServiceOptions) {}

  /** Every package visible in `scope`, in upstream order. */
  list(scope: OrgScope): Promise<Served> {
    return this.#resolve(listKey(scope), (prev, priority) => this.#fetchList(scope, prev, priority));
  }

  /** One package. Outside an organization scope only public packages are found. */
  get(lookup: PackageLookup, scope: OrgScope): Promise<Served> {
    return this.#resolve(packageKey(lookup, scope), (prev, priority) => this.#fetchPackage(lookup, scope, prev, priority));
  }

  /** Resolves once every refresh running now has finished (background ones included). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#inflight.values()]);
  }

  async #resolve(key: string, fetch: Fetch): Promise<Served> {
    const served = await this.#lookup(key, fetch);
    this.o.onServed?.(served);
    return served;
  }

  async #lookup(key: string, fetch: Fetch): Promise<Served> {
    const found = await this.o.store.get(key);
    const now = this.o.clock.now();
    if (!found) return this.#refresh(key, fetch, undefined, 'consumer');
    const { entry, tier } = found;
    if (now < entry.freshUntil) {
      if (entry.kind === 'found' && now >= entry.freshUntil - this.o.refreshAheadMs) this.#background(key, fetch, entry);
      return { entry, status: 'HIT', tier, refreshError: null, coalesced: false };
    }
    if (entry.kind === 'found' && now < Math.min(entry.freshUntil + this.o.swrMs, entry.staleUntil)) {
      this.#background(key, fetch, entry);
      return { entry, status: 'STALE', tier, refreshError: this.#failures.get(key) ?? null, coalesced: false };
    }
    try {
      return await this.#refresh(key, fetch, entry, 'consumer');
    } catch (err) {
      // stale-if-error: a failed refresh never replaces a good entry (RFC 5861 §4).
      if (!(err instanceof UpstreamError) || entry.kind !== 'found') throw err;
      return { entry, status: 'STALE', tier, refreshError: err, coalesced: false };
    }
  }

  /** Starts a refresh nobody waits for, unless one is already running for the key. */
  #background(key: string, fetch: Fetch, entry: CacheEntry): void {
    if (this.#inflight.has(key)) return;
    this.#refresh(key, fetch, entry, 'background').catch((err: unknown) =>
      this.o.logger.debug({ key, err: (err as Error).message }, 'background refresh failed'),
    );
  }

  /** One refresh per key at a time in this process; late callers share the first one's result. */
  #refresh(key: string, fetch: Fetch, previous: CacheEntry | undefined, priority: Priority): Promise<Served> {
    const running = this.#inflight.get(key);
    if (running) return running.then((s) => ({ ...s, coalesced: true }));
    const started = this.#refreshShared(key, fetch, previous, priority)
      .then(
        (served) => {
          this.#failures.delete(key);
          return served;
        },
        (err: unknown) => {
          if (err instanceof UpstreamError && !isNotFound(err)) {
            this.#failures.set(key, err);
            // The governor and the breaker log their refusals themselves, once; Katapult's failures here.
            if (!isOwnRefusal(err)) this.o.logger.warn({ key, err: err.message, priority }, 'refresh failed');
          }
          throw err;
        },
      )
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, started);
    return started;
  }

  /** With Redis, only the holder of the key's lock calls upstream; the others wait for its entry. */
  async #refreshShared(key: string, fetch: Fetch, previous: CacheEntry | undefined, priority: Priority): Promise<Served> {
    const lock = this.o.lock;
    const deadline = performance.now() + this.o.waitMs;
    for (;;) {
      const acquired = lock ? await lock.acquire(key) : null;
      if (!acquired) return this.#fetchAndStore(key, fetch, previous, priority, 0);
      if (acquired.kind === 'failed') throw new UpstreamError(acquired.error, 'a refresh of this key failed moments ago');
      if (acquired.kind === 'acquired') {
        try {
          // Another instance may have refreshed between our read and our lock.
          const current = await this.o.store.l2?.get(key);
          if (current && current.storedAt > (previous?.storedAt ?? -Infinity) && this.o.clock.now() < current.freshUntil) {
            await this.o.store.l1.set(key, current);
            return this.#fromElsewhere(current, previous);
          }
          return await this.#fetchAndStore(key, fetch, previous, priority, acquired.fence);
        } catch (err) {
          // Katapult itself failed: the others stop waiting and serve stale. A refusal by our own
          // governor or breaker is not marked: it may not apply to the next caller's priority.
          if (err instanceof UpstreamError && !isNotFound(err) && !isOwnRefusal(err)) await lock!.markFailed(key, err.kind);
          throw err;
        } finally {
          await lock!.release(key, acquired.fence);
        }
      }
      const waited = await lock!.waitFor(key, previous?.storedAt ?? -Infinity, deadline);
      if (waited.kind === 'entry') {
        await this.o.store.l1.set(key, waited.entry);
        return this.#fromElsewhere(waited.entry, previous);
      }
      if (waited.kind === 'failed') throw new UpstreamError(waited.error, 'the refresh of this key failed on another instance');
      if (waited.kind === 'timeout') throw new UpstreamError('timeout', 'no refresh result in time');
      // 'released': the holder went away without a result; loop to take over.
    }
  }

  #fromElsewhere(entry: CacheEntry, previous: CacheEntry | undefined): Served {
    const status = previous?.kind === 'found' && previous.etag === entry.etag ? 'REVALIDATED' : 'MISS';
    return { entry, status, tier: null, refreshError: null, coalesced: true };
  }

  async #fetchAndStore(key: string, fetch: Fetch, previous: CacheEntry | undefined, priority: Priority, fence: number): Promise<Served> {
    let fetched: Fetched;
    try {
      fetched = await fetch(previous?.kind === 'found' ? previous : undefined, priority);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const entry = this.#entry('not_found', err.kind, [], this.o.negativeMs, 0);
      await this.o.store.set(key, entry, fence);
      return { entry, status: 'MISS', tier: null, refreshError: null, coalesced: false };
    }
    const entry = fetched.notModified
      ? this.#entry('found', previous!.body, previous!.upstreamEtags, this.o.freshMs, this.o.staleMs)
      : this.#entry('found', fetched.body, fetched.upstreamEtags, this.o.freshMs, this.o.staleMs);
    await this.o.store.set(key, entry, fence);
    const unchanged = previous?.kind === 'found' && previous.etag === entry.etag;
    return { entry, status: unchanged ? 'REVALIDATED' : 'MISS', tier: null, refreshError: null, coalesced: false };
  }

  #entry(kind: CacheEntry['kind'], body: string, upstreamEtags: (string | null)[], freshMs: number, staleMs: number): CacheEntry {
    const now = this.o.clock.now();
    return { kind, body, etag: strongEtag(body), upstreamEtags, storedAt: now, freshUntil: now + freshMs, staleUntil: now + freshMs + staleMs };
  }

  async #fetchList(scope: OrgScope, previous: CacheEntry | undefined, priority: Priority): Promise<Fetched> {
    const conditional = previous && previous.upstreamEtags.every((e) => e !== null) ? previous.upstreamEtags : undefined;
    const res = await this.o.client.listAll(scope, conditional, priority);
    if (res.notModified) return { notModified: true };
    // A page that answered 304 is unchanged: take its packages from the entry we held.
    const held = res.pages.some((p) => p.items === null) ? (JSON.parse(previous!.body) as { packages: Package[] }).packages : [];
    const packages = res.pages.flatMap((page, i) =>
      page.items ? page.items.map(toPackage) : held.slice(i * PER_PAGE, (i + 1) * PER_PAGE),
    );
    return { notModified: false, body: JSON.stringify({ packages }), upstreamEtags: res.pages.map((p) => p.etag) };
  }

  async #fetchPackage(lookup: PackageLookup, scope: OrgScope, previous: CacheEntry | undefined, priority: Priority): Promise<Fetched> {
    const res = await this.o.client.getPackage(lookup, previous?.upstreamEtags[0], priority);
    if (res.notModified) return { notModified: true };
    const pkg = toPackage(res.value);
    if (pkg.privacy !== 'public' && !(await this.#visibleIn(pkg.id, scope))) {
      // Katapult's get takes no organization: the scope check is ours, so private packages stay private.
      throw new UpstreamError('package_not_found', 'package not visible in this scope', 404, 'package_not_found');
    }
    return { notModified: false, body: JSON.stringify({ package: pkg }), upstreamEtags: [res.etag] };
  }

  async #visibleIn(id: string, scope: OrgScope): Promise<boolean> {
    if (scope.kind === 'public') return false;
    const served = await this.list(scope);
    if (served.entry.kind === 'not_found') throw new UpstreamError('organization_not_found', 'organization not found', 404, 'organization_not_found');
    return (JSON.parse(served.entry.body) as { packages: Package[] }).packages.some((p) => p.id === id);
  }
}

/** A strong ETag from the representation's bytes: the same content gives the same tag anywhere, any time. */
export function strongEtag(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

import { createHash } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { CacheEntry } from '../cache/entry.js';
import { listKey, packageKey } from '../cache/keys.js';
import type { Tier, TieredStore } from '../cache/tiered-store.js';
import type { Logger } from '../observability/logger.js';
import { isNotFound, UpstreamError } from '../upstream/errors.js';
import { PER_PAGE, type KatapultClient, type OrgScope, type PackageLookup } from '../upstream/katapult-client.js';
import { toPackage, type Package } from './model.js';

/** What `X-Cache` says: served fresh from cache, fetched, served stale, or confirmed current by upstream. */
export type CacheStatus = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED';

export interface Served {
  entry: CacheEntry;
  status: CacheStatus;
  /** The tier that held the entry, for HIT and STALE. */
  tier: Tier | null;
  /** Set when a stale entry is served because refreshing it failed (stale-if-error). */
  refreshError: UpstreamError | null;
}

export interface PackageServiceOptions {
  store: TieredStore;
  client: KatapultClient;
  clock: Clock;
  logger: Logger;
  freshMs: number;
  staleMs: number;
  negativeMs: number;
}

/** What a refresh learned: the held entry is still current, or here is a new representation. */
type Fetched = { notModified: true } | { notModified: false; body: string; upstreamEtags: (string | null)[] };

/**
 * The package cache: fresh entries are served as they are; an expired entry is refreshed with a
 * conditional request and, if that fails, served stale until `staleUntil`; a 404 is remembered for
 * `negativeMs`. Concurrent requests for one key share one upstream call.
 */
export class PackageService {
  readonly #inflight = new Map<string, Promise<Served>>();

  constructor(private readonly o: PackageServiceOptions) {}

  /** Every package visible in `scope`, in upstream order. */
  list(scope: OrgScope): Promise<Served> {
    return this.#resolve(listKey(scope), (prev) => this.#fetchList(scope, prev));
  }

  /** One package. Outside an organization scope only public packages are found. */
  get(lookup: PackageLookup, scope: OrgScope): Promise<Served> {
    return this.#resolve(packageKey(lookup, scope), (prev) => this.#fetchPackage(lookup, scope, prev));
  }

  async #resolve(key: string, fetch: (previous: CacheEntry | undefined) => Promise<Fetched>): Promise<Served> {
    const found = await this.o.store.get(key);
    const now = this.o.clock.now();
    if (found && now < found.entry.freshUntil) return { entry: found.entry, status: 'HIT', tier: found.tier, refreshError: null };
    if (!found) return this.#refresh(key, fetch, undefined);
    try {
      return await this.#refresh(key, fetch, found.entry);
    } catch (err) {
      // stale-if-error: a failed refresh never replaces a good entry (RFC 5861 §4).
      if (!(err instanceof UpstreamError) || found.entry.kind !== 'found') throw err;
      this.o.logger.warn({ key, err: err.message }, 'refresh failed, serving stale');
      return { entry: found.entry, status: 'STALE', tier: found.tier, refreshError: err };
    }
  }

  /** One upstream call per key at a time in this process; late callers share the first one's result. */
  #refresh(key: string, fetch: (previous: CacheEntry | undefined) => Promise<Fetched>, previous: CacheEntry | undefined): Promise<Served> {
    let running = this.#inflight.get(key);
    if (!running) {
      running = this.#fetchAndStore(key, fetch, previous).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, running);
    }
    return running;
  }

  async #fetchAndStore(key: string, fetch: (previous: CacheEntry | undefined) => Promise<Fetched>, previous: CacheEntry | undefined): Promise<Served> {
    let fetched: Fetched;
    try {
      fetched = await fetch(previous?.kind === 'found' ? previous : undefined);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const entry = this.#entry('not_found', err.kind, [], this.o.negativeMs, 0);
      await this.o.store.set(key, entry);
      return { entry, status: 'MISS', tier: null, refreshError: null };
    }
    if (fetched.notModified) {
      const entry = this.#entry('found', previous!.body, previous!.upstreamEtags, this.o.freshMs, this.o.staleMs);
      await this.o.store.set(key, entry);
      return { entry, status: 'REVALIDATED', tier: null, refreshError: null };
    }
    const entry = this.#entry('found', fetched.body, fetched.upstreamEtags, this.o.freshMs, this.o.staleMs);
    await this.o.store.set(key, entry);
    const unchanged = previous?.kind === 'found' && previous.etag === entry.etag;
    return { entry, status: unchanged ? 'REVALIDATED' : 'MISS', tier: null, refreshError: null };
  }

  #entry(kind: CacheEntry['kind'], body: string, upstreamEtags: (string | null)[], freshMs: number, staleMs: number): CacheEntry {
    const now = this.o.clock.now();
    return { kind, body, etag: strongEtag(body), upstreamEtags, storedAt: now, freshUntil: now + freshMs, staleUntil: now + freshMs + staleMs };
  }

  async #fetchList(scope: OrgScope, previous: CacheEntry | undefined): Promise<Fetched> {
    const conditional = previous && previous.upstreamEtags.every((e) => e !== null) ? previous.upstreamEtags : undefined;
    const res = await this.o.client.listAll(scope, conditional);
    if (res.notModified) return { notModified: true };
    // A page that answered 304 is unchanged: take its packages from the entry we held.
    const held = res.pages.some((p) => p.items === null) ? (JSON.parse(previous!.body) as { packages: Package[] }).packages : [];
    const packages = res.pages.flatMap((page, i) =>
      page.items ? page.items.map(toPackage) : held.slice(i * PER_PAGE, (i + 1) * PER_PAGE),
    );
    return { notModified: false, body: JSON.stringify({ packages }), upstreamEtags: res.pages.map((p) => p.etag) };
  }

  async #fetchPackage(lookup: PackageLookup, scope: OrgScope, previous: CacheEntry | undefined): Promise<Fetched> {
    const res = await this.o.client.getPackage(lookup, previous?.upstreamEtags[0]);
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

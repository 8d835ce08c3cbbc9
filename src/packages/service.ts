import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Clock } from '../domain/clock.js';
import type { CacheEntry, Served } from '../cache/entry.js';
import { listKey, packageKey } from '../cache/keys.js';
import type { TieredStore } from '../cache/tiered-store.js';
import type { RefreshLock } from '../coordination/refresh-lock.js';
import type { Logger } from '../observability/logger.js';
import { isNotFound, isOwnRefusal, UpstreamError } from '../upstream/errors.js';
import { BACKGROUND, type Cause } from '../upstream/cause.js';
import type { KatapultClient } from '../upstream/katapult-client.js';
import type { OrgScope, PackageLookup } from '../domain/scope.js';
import { toPackage, type Package } from './model.js';

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
  /** How long it waits when it holds a servable stale copy, which it answers with after that. */
  staleWaitMs: number;
  /** Told about each answer, for metrics. */
  onServed?: (served: Served) => void;
}

/** What a refresh learned: the held entry is still current, or here is a new representation. */
type Fetched = { notModified: true } | { notModified: false; body: string; upstreamEtags: (string | null)[]; pages?: number[] };
type Fetch = (previous: CacheEntry | undefined, cause: Cause) => Promise<Fetched>;
/** Answers from what is held, before any upstream call for the key: a Served to answer with, or null to go on. */
type Precheck = () => Promise<Served | null>;

/**
 * The package cache, on one model of time per entry (fresh → stale → gone):
 * - fresh: served as it is; in its last `refreshAheadMs` a request also starts a background refresh;
 * - stale for up to `swrMs`: served at once while one background refresh runs (stale-while-revalidate);
 * - stale beyond that, until `staleUntil`: refreshed before answering, served stale if that fails
 *   (stale-if-error, RFC 5861);
 * - a 404 is remembered for `negativeMs`.
 * One refresh per key runs at a time in this process, and with Redis one per key in the whole fleet.
 * A refresh before answering is caused by the consumer asking (`cause`, charged to its share); the
 * background refreshes are the service's own.
 */
export class PackageService {
  readonly #inflight = new Map<string, { promise: Promise<Served>; cause: Cause }>();
  /** The last refresh failure per key, so later stale answers still say the data could not be refreshed. */
  readonly #failures = new LRUCache<string, UpstreamError>({ max: 10_000 });
  /** Each list entry's ids and permalinks (`id=…`, `permalink=…`), decoded once per entry. */
  readonly #members = new WeakMap<CacheEntry, Set<string>>();

  constructor(private readonly o: PackageServiceOptions) {}

  /** Every package visible in `scope`, in upstream order. */
  list(scope: OrgScope, cause: Cause): Promise<Served> {
    return this.#resolve(listKey(scope), this.#listFetch(scope), cause);
  }

  /**
   * One package. The scope's list says which packages exist there (Katapult's list names every package
   * of a scope), so a ref it does not hold is answered 404 without asking upstream, and only a listed
   * ref costs a get. Outside an organization scope only public packages are found.
   */
  get(lookup: PackageLookup, scope: OrgScope, cause: Cause): Promise<Served> {
    const fetch: Fetch = (previous, c) => this.#fetchPackage(lookup, scope, previous, c);
    return this.#resolve(packageKey(lookup, scope), fetch, cause, () => this.#unlisted(lookup, scope, cause));
  }

  /** Resolves once every refresh running now has finished (background ones included). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#inflight.values()].map((r) => r.promise));
  }

  async #resolve(key: string, fetch: Fetch, cause: Cause, precheck?: Precheck): Promise<Served> {
    const served = await this.#lookup(key, fetch, cause, precheck);
    this.o.onServed?.(served);
    return served;
  }

  async #lookup(key: string, fetch: Fetch, cause: Cause, precheck?: Precheck): Promise<Served> {
    const found = await this.o.store.get(key);
    const now = this.o.clock.now();
    const held = found?.entry;
    const tier = found?.tier ?? null;
    if (held && now < held.freshUntil) {
      if (held.kind === 'found' && now >= held.freshUntil - this.o.refreshAheadMs) this.#background(key, fetch, held);
      return { entry: held, status: 'HIT', tier, refreshError: null, coalesced: false };
    }
    if (held?.kind === 'found' && now < Math.min(held.freshUntil + this.o.swrMs, held.staleUntil)) {
      this.#background(key, fetch, held);
      return { entry: held, status: 'STALE', tier, refreshError: this.#failures.get(key) ?? null, coalesced: false };
    }
    try {
      // What is held may answer without upstream (a get whose ref the scope's list does not name).
      const answered = await precheck?.();
      if (answered) return answered;
      return await this.#refresh(key, fetch, held, cause);
    } catch (err) {
      // stale-if-error: a failed refresh never replaces a good entry (RFC 5861 §4).
      if (!(err instanceof UpstreamError) || held?.kind !== 'found') throw err;
      return { entry: held, status: 'STALE', tier, refreshError: err, coalesced: false };
    }
  }

  /** Starts a refresh nobody waits for, unless one is already running for the key. */
  #background(key: string, fetch: Fetch, entry: CacheEntry): void {
    if (this.#inflight.has(key)) return;
    this.#refresh(key, fetch, entry, BACKGROUND).catch((err: unknown) =>
      this.o.logger.debug({ key, err: (err as Error).message }, 'background refresh failed'),
    );
  }

  /** One refresh per key at a time in this process; late callers share the first one's result. */
  #refresh(key: string, fetch: Fetch, previous: CacheEntry | undefined, cause: Cause): Promise<Served> {
    const running = this.#inflight.get(key);
    if (running) {
      return running.promise.then(
        (s) => ({ ...s, coalesced: true }),
        (err: unknown) => {
          // The running refresh was refused for its causer's share, which says nothing of this caller's.
          if (refusedForShare(err) && cause.priority === 'consumer' && !sameCharge(running.cause, cause)) return this.#refresh(key, fetch, previous, cause);
          throw err;
        },
      );
    }
    const promise = this.#refreshShared(key, fetch, previous, cause)
      .then(
        (served) => {
          this.#failures.delete(key);
          return served;
        },
        (err: unknown) => {
          if (err instanceof UpstreamError && !isNotFound(err) && !refusedForShare(err)) {
            this.#failures.set(key, err);
            // The governor and the breaker log their refusals themselves, once; Katapult's failures here.
            if (!isOwnRefusal(err)) this.o.logger.warn({ key, err: err.message, priority: cause.priority }, 'refresh failed');
          }
          throw err;
        },
      )
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, { promise, cause });
    return promise;
  }

  /** With Redis, only the holder of the key's lock calls upstream; the others wait for its entry. */
  async #refreshShared(key: string, fetch: Fetch, previous: CacheEntry | undefined, cause: Cause): Promise<Served> {
    const lock = this.o.lock;
    const servable = previous?.kind === 'found' && this.o.clock.now() < previous.staleUntil ? previous : null;
    const deadline = performance.now() + (servable ? this.o.staleWaitMs : this.o.waitMs);
    for (;;) {
      const acquired = lock ? await lock.acquire(key) : null;
      if (!acquired) return this.#fetchAndStore(key, fetch, previous, cause, 0);
      if (acquired.kind === 'failed') throw new UpstreamError(acquired.error, 'a refresh of this key failed moments ago');
      if (acquired.kind === 'acquired') {
        const stopHeartbeat = lock!.heartbeat(key, acquired.fence);
        try {
          // Another instance may have refreshed between our read and our lock: then no upstream call.
          const current = await this.o.store.l2?.get(key);
          if (current && current.storedAt > (previous?.storedAt ?? -Infinity) && this.o.clock.now() < current.freshUntil) {
            await this.o.store.l1.set(key, current);
            return this.#fromElsewhere(current, previous);
          }
          return await this.#fetchAndStore(key, fetch, previous, cause, acquired.fence);
        } catch (err) {
          // Katapult itself failed: the others stop waiting and serve stale. A refusal by our own
          // governor, breaker or a consumer's share is not marked: it may not apply to the next caller.
          if (err instanceof UpstreamError && !isNotFound(err) && !isOwnRefusal(err)) await lock!.markFailed(key, err.kind);
          throw err;
        } finally {
          stopHeartbeat();
          await lock!.release(key, acquired.fence);
        }
      }
      const waited = await lock!.waitFor(key, previous?.storedAt ?? -Infinity, deadline);
      if (waited.kind === 'entry') {
        await this.o.store.l1.set(key, waited.entry);
        return this.#fromElsewhere(waited.entry, previous);
      }
      if (waited.kind === 'failed') throw new UpstreamError(waited.error, 'the refresh of this key failed on another instance');
      if (waited.kind === 'timeout') {
        // Another instance is still refreshing: answer with what we hold rather than keep the caller waiting.
        if (servable) return { entry: servable, status: 'STALE', tier: null, refreshError: null, coalesced: true };
        throw new UpstreamError('timeout', 'no refresh result in time');
      }
      // 'released': the holder went away without a result; loop to take over.
    }
  }

  #fromElsewhere(entry: CacheEntry, previous: CacheEntry | undefined): Served {
    const status = previous?.kind === 'found' && previous.etag === entry.etag ? 'REVALIDATED' : 'MISS';
    return { entry, status, tier: null, refreshError: null, coalesced: true };
  }

  async #fetchAndStore(key: string, fetch: Fetch, previous: CacheEntry | undefined, cause: Cause, fence: number): Promise<Served> {
    let fetched: Fetched;
    try {
      fetched = await fetch(previous?.kind === 'found' ? previous : undefined, cause);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const entry = this.#entry('not_found', err.kind, { upstreamEtags: [] }, this.o.negativeMs, 0);
      await this.o.store.set(key, entry, fence);
      return { entry, status: 'MISS', tier: null, refreshError: null, coalesced: false };
    }
    const entry = fetched.notModified
      ? this.#entry('found', previous!.body, previous!, this.o.freshMs, this.o.staleMs)
      : this.#entry('found', fetched.body, fetched, this.o.freshMs, this.o.staleMs);
    await this.o.store.set(key, entry, fence);
    const unchanged = previous?.kind === 'found' && previous.etag === entry.etag;
    return { entry, status: unchanged ? 'REVALIDATED' : 'MISS', tier: null, refreshError: null, coalesced: false };
  }

  #entry(kind: CacheEntry['kind'], body: string, upstream: Pick<CacheEntry, 'upstreamEtags' | 'pages'>, freshMs: number, staleMs: number): CacheEntry {
    const now = this.o.clock.now();
    const { upstreamEtags, pages } = upstream;
    return { kind, body, etag: strongEtag(body), upstreamEtags, pages, storedAt: now, freshUntil: now + freshMs, staleUntil: now + freshMs + staleMs };
  }

  #listFetch(scope: OrgScope): Fetch {
    return (previous, cause) => this.#fetchList(scope, previous, cause);
  }

  /** The scope's list, held or fetched (one coalesced call for the scope), with `cause` paying for a fetch. */
  #listOf(scope: OrgScope, cause: Cause): Promise<Served> {
    return this.#lookup(listKey(scope), this.#listFetch(scope), cause);
  }

  /**
   * Null when the scope's list names `lookup` (a get may go upstream); otherwise the answer: the list's
   * own `organization_not_found`, or a `package_not_found` decided by the list, with no upstream call.
   * A list held stale (until `staleUntil`) still answers; when it does not name the ref, it is refreshed
   * in the background (once, however many unknown refs arrive), so a package created upstream since
   * becomes visible. Only a scope whose list is not held at all costs a list fetch, charged to `cause`.
   */
  async #unlisted(lookup: PackageLookup, scope: OrgScope, cause: Cause): Promise<Served | null> {
    const key = listKey(scope);
    const held = await this.o.store.get(key);
    const list = held ? { entry: held.entry, tier: held.tier } : await this.#lookup(key, this.#listFetch(scope), cause);
    if (list.entry.kind === 'not_found') return { entry: list.entry, status: 'HIT', tier: list.tier, refreshError: null, coalesced: false };
    if (this.#membersOf(list.entry).has(`${lookup.by}=${lookup.value}`)) return null;
    if (held && this.o.clock.now() >= list.entry.freshUntil) this.#background(key, this.#listFetch(scope), list.entry);
    const { storedAt, freshUntil } = list.entry;
    const entry: CacheEntry = { kind: 'not_found', body: 'package_not_found', etag: '', upstreamEtags: [], storedAt, freshUntil, staleUntil: freshUntil };
    return { entry, status: 'HIT', tier: list.tier, refreshError: null, coalesced: false };
  }

  #membersOf(list: CacheEntry): Set<string> {
    let members = this.#members.get(list);
    if (!members) {
      members = new Set();
      for (const p of (JSON.parse(list.body) as { packages: Package[] }).packages) {
        members.add(`id=${p.id}`);
        if (p.permalink !== null) members.add(`permalink=${p.permalink}`);
      }
      this.#members.set(list, members);
    }
    return members;
  }

  async #fetchList(scope: OrgScope, previous: CacheEntry | undefined, cause: Cause): Promise<Fetched> {
    // Conditional only when we know what each held page contained: a 304 page is taken from the held body.
    const held = previous?.pages?.length === previous?.upstreamEtags.length ? previous : undefined;
    const conditional = held && held.upstreamEtags.every((e) => e !== null) ? held.upstreamEtags : undefined;
    const res = await this.o.client.listAll(scope, conditional, cause);
    if (res.notModified) return { notModified: true };
    const heldPages = res.pages.some((p) => p.items === null) ? splitPages(held!) : [];
    // Merged page by page by what each page held: upstream may send shorter pages than `per_page` asked for.
    const pages = res.pages.map((page, i) => (page.items ? page.items.map(toPackage) : heldPages[i]!));
    return { notModified: false, body: JSON.stringify({ packages: pages.flat() }), upstreamEtags: res.pages.map((p) => p.etag), pages: pages.map((p) => p.length) };
  }

  async #fetchPackage(lookup: PackageLookup, scope: OrgScope, previous: CacheEntry | undefined, cause: Cause): Promise<Fetched> {
    const res = await this.o.client.getPackage(lookup, previous?.upstreamEtags[0], cause);
    if (res.notModified) return { notModified: true };
    const pkg = toPackage(res.value);
    if (pkg.privacy !== 'public' && !(await this.#visibleIn(pkg.id, scope, cause))) {
      // Katapult's get takes no organization: the scope check is ours, so private packages stay private.
      throw new UpstreamError('package_not_found', 'package not visible in this scope', 404, 'package_not_found');
    }
    return { notModified: false, body: JSON.stringify({ package: pkg }), upstreamEtags: [res.etag] };
  }

  async #visibleIn(id: string, scope: OrgScope, cause: Cause): Promise<boolean> {
    if (scope.kind === 'public') return false;
    const served = await this.#listOf(scope, cause);
    if (served.entry.kind === 'not_found') throw new UpstreamError('organization_not_found', 'organization not found', 404, 'organization_not_found');
    return this.#membersOf(served.entry).has(`id=${id}`);
  }
}

/** A held list's packages, cut back into the upstream pages they came from. */
function splitPages(list: CacheEntry): Package[][] {
  const all = (JSON.parse(list.body) as { packages: Package[] }).packages;
  let at = 0;
  return list.pages!.map((n) => all.slice(at, (at += n)));
}

function refusedForShare(err: unknown): boolean {
  return err instanceof UpstreamError && err.kind === 'share_exhausted';
}

function sameCharge(a: Cause, b: Cause): boolean {
  return a.priority === 'consumer' && b.priority === 'consumer' && a.chargeTo === b.chargeTo;
}

/** A strong ETag from the representation's bytes: the same content gives the same tag anywhere, any time. */
export function strongEtag(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}
